/**
 * Security case 13: `jku`, `x5u`, an embedded `jwk` (CVE-2018-0114) or an `x5c` chain never
 * select a key. A token signed with the attacker's key is refused whatever those headers say,
 * and the gateway makes no outbound connection: the attacker's JWKS server, live on port 0,
 * records zero requests (RFC 8725 §3.10; jwt_tool -X s / -X i).
 */
import t from 'tap';
import { createAuthHarness, tokensInLogs } from '../helpers/auth-harness.js';
import { startJwksServer } from '../helpers/jwks-server.js';
import { createTestIssuer, mintToken } from '../helpers/tokens.js';

t.test('key-carrying headers are inert', async (t) => {
  const h = await createAuthHarness(t);
  const issuer = h.issuers[0]!;
  const attacker = await createTestIssuer({ kid: 'attacker-kid', issuer: issuer.issuer, audience: issuer.audience });
  const evil = await startJwksServer({ body: attacker.jwks });
  t.teardown(() => evil.close());
  const now = h.clock.now();
  const x5c = [Buffer.from('not really a certificate').toString('base64')];
  const forge = (header: Record<string, unknown>) => mintToken(attacker, { nowMs: now, header });

  const cases: Array<[string, string, string]> = [
    ['jku → attacker JWKS, attacker kid', await forge({ jku: evil.url }), 'ERR_AUTH_KID_UNKNOWN'],
    ['jku → attacker JWKS, our kid', await forge({ jku: evil.url, kid: issuer.kid }), 'ERR_AUTH_SIGNATURE'],
    ['x5u → attacker URL, attacker kid', await forge({ x5u: evil.url }), 'ERR_AUTH_KID_UNKNOWN'],
    ['x5u → attacker URL, our kid', await forge({ x5u: evil.url, kid: issuer.kid }), 'ERR_AUTH_SIGNATURE'],
    ['embedded jwk, attacker kid', await forge({ jwk: attacker.jwk }), 'ERR_AUTH_KID_UNKNOWN'],
    ['embedded jwk, our kid', await forge({ jwk: { ...attacker.jwk, kid: issuer.kid }, kid: issuer.kid }), 'ERR_AUTH_SIGNATURE'],
    ['embedded jwk and no kid', await forge({ jwk: attacker.jwk, kid: undefined }), 'ERR_AUTH_KID_UNKNOWN'],
    ['x5c chain, our kid', await forge({ x5c, kid: issuer.kid }), 'ERR_AUTH_SIGNATURE'],
    ['x5c chain, no kid', await forge({ x5c, kid: undefined }), 'ERR_AUTH_KID_UNKNOWN'],
    ['all of them at once, our kid', await forge({ jku: evil.url, x5u: evil.url, jwk: attacker.jwk, x5c, kid: issuer.kid }), 'ERR_AUTH_SIGNATURE'],
  ];
  for (const [name, token, code] of cases) t.equal(await h.outcome('bearer', token), code, name);

  // Our own key's token carrying the same headers: the headers change nothing either way.
  const ours = await mintToken(issuer, { nowMs: now, header: { jku: evil.url, x5u: evil.url, jwk: attacker.jwk } });
  t.equal(await h.outcome('bearer', ours), 'OK', 'our signature verifies; the headers were ignored');

  t.equal(evil.requests, 0, 'the attacker server was never contacted');
  t.same(tokensInLogs(h.logs, [...cases.map((c) => c[1]), ours]), []);
});
