/**
 * Security case 8: `alg` of none in any spelling, missing, not a string, unknown, or outside the
 * issuer's allow-list or the key's own algorithm → ERR_AUTH_ALGORITHM, before any crypto
 * (RFC 8725 §2.1, §3.1; jwt_tool -X a). Authenticator level first, then over HTTP.
 */
import t from 'tap';
import { createAuthHarness, tokensInLogs } from '../helpers/auth-harness.js';
import { leakedSecrets } from '../helpers/log-sink.js';
import { expectForwarded, expectRefused } from '../helpers/refusals.js';
import { startScenario } from '../helpers/scenario.js';
import { craftToken, createTestIssuer, mintToken, mintUnsecuredToken, signWith, standardClaims, type TestIssuer } from '../helpers/tokens.js';

/** Unsecured and mislabelled `alg` values, each over the issuer's own claims (and often its real signature). */
function algorithmCases(issuer: TestIssuer, nowMs: number, realSignature: string): Array<[string, string]> {
  const claims = standardClaims(issuer, 'userApiToken', nowMs);
  const header = (alg: unknown) => ({ alg, kid: issuer.kid, typ: 'JWT' });
  return [
    ['jose UnsecuredJWT (alg none, no kid, empty signature)', mintUnsecuredToken(issuer, { nowMs })],
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
}

t.test('unsecured and mislabelled algorithms are refused', async (t) => {
  const h = await createAuthHarness(t);
  const issuer = h.issuers[0]!;
  const good = await mintToken(issuer, { nowMs: h.clock.now() });
  for (const [name, token] of algorithmCases(issuer, h.clock.now(), good.split('.')[2]!)) {
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

t.test('over HTTP: 401 invalid_token for every refused alg, in either header', async (t) => {
  const s = await startScenario();
  t.teardown(() => s.close());
  const issuer = s.issuer;
  const good = await s.mint({ type: 'userApiToken' });
  await expectForwarded(t, s, 'control: RS256', { headers: [['Authorization', `Bearer ${good}`]] });
  const cases = algorithmCases(issuer, Date.now(), good.split('.')[2]!);
  const claims = JSON.stringify(standardClaims(issuer, 'userApiToken', Date.now()));
  for (const alg of ['RS384', 'PS256'] as const) {
    cases.push([`${alg} with the RS256 key`, signWith(issuer.privateKey, alg, JSON.stringify({ alg, kid: issuer.kid, typ: 'JWT' }), claims)]);
  }
  const es = await createTestIssuer({ alg: 'ES256', kid: issuer.kid });
  cases.push(['ES256 (not allowed for the issuer)', await mintToken(es)]);
  for (const [name, token] of cases) {
    await expectRefused(t, s, `${name} (Bearer)`, { headers: [['Authorization', `Bearer ${token}`]] }, 'ERR_AUTH_ALGORITHM');
    await expectRefused(t, s, `${name} (X-API-KEY)`, { headers: [['X-API-KEY', token]] }, 'ERR_AUTH_ALGORITHM');
  }
  t.strictSame(leakedSecrets(s.gateway.logs.lines(), [good]), [], 'the real signature is not in the logs');
});
