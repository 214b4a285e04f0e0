/**
 * Security case 13: `jku`, `x5u`, an embedded `jwk` (CVE-2018-0114) or an `x5c` chain never
 * select a key. A token signed with the attacker's key is refused whatever those headers say,
 * and the gateway makes no outbound connection: the attacker's JWKS server, live on port 0,
 * records zero requests (RFC 8725 §3.10; jwt_tool -X s / -X i). Authenticator level first, then
 * over HTTP through a real gateway.
 */
import t from 'tap';
import { createAuthHarness, tokensInLogs } from '../helpers/auth-harness.js';
import { startJwksServer } from '../helpers/jwks-server.js';
import { leakedSecrets } from '../helpers/log-sink.js';
import { expectForwarded, expectRefused, type AuthRefusal } from '../helpers/refusals.js';
import { startScenario } from '../helpers/scenario.js';
import { createTestIssuer, mintToken, type TestIssuer } from '../helpers/tokens.js';

/** Tokens signed with the attacker's key whose headers point at, or carry, that key. */
async function forgedTokens(issuer: TestIssuer, attacker: TestIssuer, evilUrl: string, nowMs: number): Promise<Array<[string, string, AuthRefusal]>> {
  const x5c = [Buffer.from('not really a certificate').toString('base64')];
  const forge = (header: Record<string, unknown>) => mintToken(attacker, { nowMs, header });
  return [
    ['jku → attacker JWKS, attacker kid', await forge({ jku: evilUrl }), 'ERR_AUTH_KID_UNKNOWN'],
    ['jku → attacker JWKS, our kid', await forge({ jku: evilUrl, kid: issuer.kid }), 'ERR_AUTH_SIGNATURE'],
    ['x5u → attacker URL, attacker kid', await forge({ x5u: evilUrl }), 'ERR_AUTH_KID_UNKNOWN'],
    ['x5u → attacker URL, our kid', await forge({ x5u: evilUrl, kid: issuer.kid }), 'ERR_AUTH_SIGNATURE'],
    ['embedded jwk, attacker kid', await forge({ jwk: attacker.jwk }), 'ERR_AUTH_KID_UNKNOWN'],
    ['embedded jwk, our kid', await forge({ jwk: { ...attacker.jwk, kid: issuer.kid }, kid: issuer.kid }), 'ERR_AUTH_SIGNATURE'],
    ['embedded jwk and no kid', await forge({ jwk: attacker.jwk, kid: undefined }), 'ERR_AUTH_KID_UNKNOWN'],
    ['x5c chain, our kid', await forge({ x5c, kid: issuer.kid }), 'ERR_AUTH_SIGNATURE'],
    ['x5c chain, no kid', await forge({ x5c, kid: undefined }), 'ERR_AUTH_KID_UNKNOWN'],
    ['all of them at once, our kid', await forge({ jku: evilUrl, x5u: evilUrl, jwk: attacker.jwk, x5c, kid: issuer.kid }), 'ERR_AUTH_SIGNATURE'],
  ];
}

t.test('key-carrying headers are inert', async (t) => {
  const h = await createAuthHarness(t);
  const issuer = h.issuers[0]!;
  const attacker = await createTestIssuer({ kid: 'attacker-kid', issuer: issuer.issuer, audience: issuer.audience });
  const evil = await startJwksServer({ body: attacker.jwks });
  t.teardown(() => evil.close());
  const now = h.clock.now();
  const cases = await forgedTokens(issuer, attacker, evil.url, now);
  for (const [name, token, code] of cases) t.equal(await h.outcome('bearer', token), code, name);

  // Our own key's token carrying the same headers: the headers change nothing either way.
  const ours = await mintToken(issuer, { nowMs: now, header: { jku: evil.url, x5u: evil.url, jwk: attacker.jwk } });
  t.equal(await h.outcome('bearer', ours), 'OK', 'our signature verifies; the headers were ignored');

  t.equal(evil.requests, 0, 'the attacker server was never contacted');
  t.same(tokensInLogs(h.logs, [...cases.map((c) => c[1]), ours]), []);
});

t.test('over HTTP: 401 invalid_token, and no connection to the attacker or the upstream', async (t) => {
  const s = await startScenario();
  const attacker = await createTestIssuer({ kid: 'attacker-kid', issuer: s.issuer.issuer, audience: s.issuer.audience });
  const evil = await startJwksServer({ body: attacker.jwks });
  t.teardown(async () => {
    await s.close();
    await evil.close();
  });
  const cases = await forgedTokens(s.issuer, attacker, evil.url, Date.now());
  for (const [name, token, code] of cases) await expectRefused(t, s, `${name} (Bearer)`, { headers: [['Authorization', `Bearer ${token}`]] }, code);
  const access = await mintToken(attacker, { type: 'userAccessToken', header: { jku: evil.url, jwk: attacker.jwk, kid: s.issuer.kid } });
  await expectRefused(t, s, 'an access token with jku and jwk, our kid (X-API-KEY)', { headers: [['X-API-KEY', access]] }, 'ERR_AUTH_SIGNATURE');
  const ours = await s.mint({ header: { jku: evil.url, x5u: evil.url, jwk: attacker.jwk } });
  await expectForwarded(t, s, 'our own token with the same headers: they change nothing', { headers: [['Authorization', `Bearer ${ours}`]] });
  t.equal(evil.requests, 0, 'the attacker server was never contacted');
  t.strictSame(leakedSecrets(s.gateway.logs.lines(), [...cases.map((c) => c[1]), access, ours]), [], 'no token in the logs');
});
