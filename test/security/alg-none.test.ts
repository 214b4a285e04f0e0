/**
 * Security case 8: `alg` of none in any spelling, missing, not a string, unknown, or outside the
 * issuer's allow-list or the key's own algorithm → ERR_AUTH_ALGORITHM, before any crypto
 * (RFC 8725 §2.1, §3.1; jwt_tool -X a).
 */
import t from 'tap';
import { createAuthHarness, tokensInLogs } from '../helpers/auth-harness.js';
import { craftToken, createTestIssuer, mintToken, mintUnsecuredToken, signWith, standardClaims } from '../helpers/tokens.js';

t.test('unsecured and mislabelled algorithms are refused', async (t) => {
  const h = await createAuthHarness(t);
  const issuer = h.issuers[0]!;
  const now = h.clock.now();
  const claims = standardClaims(issuer, 'userApiToken', now);
  const good = await mintToken(issuer, { nowMs: now });
  const realSignature = good.split('.')[2]!;
  const header = (alg: unknown) => ({ alg, kid: issuer.kid, typ: 'JWT' });
  const cases: Array<[string, string]> = [
    ['jose UnsecuredJWT (alg none, no kid, empty signature)', mintUnsecuredToken(issuer, { nowMs: now })],
    ...['none', 'None', 'NONE', 'nOnE'].flatMap((alg): Array<[string, string]> => [
      [`alg ${alg}, empty signature`, craftToken(header(alg), claims)],
      [`alg ${alg}, arbitrary signature`, craftToken(header(alg), claims, 'c2lnbmF0dXJl')],
      [`alg ${alg}, a real signature of the issuer`, craftToken(header(alg), claims, realSignature)],
    ]),
    ['alg missing', craftToken({ kid: issuer.kid, typ: 'JWT' }, claims, realSignature)],
    ['alg null', craftToken(header(null), claims, realSignature)],
    ['alg a number', craftToken(header(256), claims, realSignature)],
    ['alg an array', craftToken(header(['RS256']), claims, realSignature)],
    ['alg an object', craftToken(header({ name: 'RS256' }), claims, realSignature)],
    ['alg empty', craftToken(header(''), claims, realSignature)],
    ['alg unknown', craftToken(header('XS256'), claims, realSignature)],
    ['alg in lower case', craftToken(header('rs256'), claims, realSignature)],
    ['alg with a trailing space', craftToken(header('RS256 '), claims, realSignature)],
    ['alg HS256', craftToken(header('HS256'), claims, realSignature)],
  ];
  for (const [name, token] of cases) {
    for (const kind of ['bearer', 'apiKey'] as const) t.equal(await h.outcome(kind, token), 'ERR_AUTH_ALGORITHM', `${name} (${kind})`);
  }
  t.equal(h.verifications(), 0, 'refused before any signature check');
  t.same(tokensInLogs(h.logs, [good]), []);
});

t.test('an allowed algorithm that is not the key’s own is refused (the alg is pinned to the key)', async (t) => {
  const rs = await createTestIssuer({ name: 'main', alg: 'RS256', kid: 'rsa' });
  // The issuer allows several RSA algorithms; the key is published for RS256 only.
  const h = await createAuthHarness(t, { testIssuers: [rs], issuerOverrides: { algorithms: ['RS256', 'RS384', 'PS256'] } });
  const now = h.clock.now();
  const claims = JSON.stringify(standardClaims(rs, 'userApiToken', now));
  // The same RSA private key under another algorithm: what a verifier that trusts the header would accept.
  const signedAs = (alg: 'RS384' | 'PS256') => signWith(rs.privateKey, alg, JSON.stringify({ alg, kid: 'rsa', typ: 'JWT' }), claims);
  t.equal(await h.outcome('bearer', await mintToken(rs, { nowMs: now })), 'OK', 'control: RS256');
  t.equal(await h.outcome('bearer', signedAs('RS384')), 'ERR_AUTH_ALGORITHM', 'RS384 with the RS256 key');
  t.equal(await h.outcome('bearer', signedAs('PS256')), 'ERR_AUTH_ALGORITHM', 'PS256 with the RS256 key');

  const es = await createTestIssuer({ alg: 'ES256', kid: 'rsa' });
  t.equal(await h.outcome('bearer', await mintToken(es, { nowMs: now })), 'ERR_AUTH_ALGORITHM', 'ES256 (not allowed for the issuer)');
});
