/**
 * Security case 17: a key vouches only for its own issuer. A token validly signed by issuer A's
 * key but claiming B's `iss` or `aud` is refused, as is B's token presented under A's kid
 * (RFC 8725 §3.8). The identity names the issuer whose key verified it, so routes can restrict
 * issuers; tenant restrictions are the authorizer's (route `tenants`), over the verified tenantId.
 * Authenticator level first, then over HTTP through a gateway trusting both issuers.
 */
import t from 'tap';
import { createAuthHarness, tokensInLogs } from '../helpers/auth-harness.js';
import { leakedSecrets } from '../helpers/log-sink.js';
import { expectForwarded, expectRefused, type AuthRefusal } from '../helpers/refusals.js';
import { startScenario } from '../helpers/scenario.js';
import { createTestIssuer, mintToken, type MintOptions, type TestIssuer } from '../helpers/tokens.js';

/** Tokens signed by A's key that speak for B, and B's token under A's kid. */
async function confused(a: TestIssuer, b: TestIssuer, options: MintOptions): Promise<Array<[string, string, AuthRefusal]>> {
  const tokenOf = (issuer: TestIssuer, more: MintOptions) => mintToken(issuer, { ...options, ...more, claims: { ...options.claims, ...more.claims } });
  return [
    ['A’s key, B’s iss', await tokenOf(a, { claims: { iss: b.issuer } }), 'ERR_AUTH_CLAIMS'],
    ['A’s key, B’s aud', await tokenOf(a, { claims: { aud: b.audience } }), 'ERR_AUTH_CLAIMS'],
    ['A’s key, B’s iss and aud', await tokenOf(a, { claims: { iss: b.issuer, aud: b.audience } }), 'ERR_AUTH_CLAIMS'],
    ['A’s key, aud of both', await tokenOf(a, { claims: { aud: [b.audience] } }), 'ERR_AUTH_CLAIMS'],
    ['B’s key under A’s kid', await tokenOf(b, { header: { kid: a.kid }, claims: { iss: a.issuer, aud: a.audience } }), 'ERR_AUTH_SIGNATURE'],
  ];
}

t.test('tokens of one issuer cannot speak for another', async (t) => {
  const a = await createTestIssuer({ name: 'tenant-a', kid: 'kid-a', issuer: 'https://a.issuer.test', audience: 'aud-a' });
  const b = await createTestIssuer({ name: 'tenant-b', kid: 'kid-b', issuer: 'https://b.issuer.test', audience: 'aud-b' });
  const h = await createAuthHarness(t, { testIssuers: [a, b] });
  const now = h.clock.now();
  const tokenOf = (issuer: typeof a, options: Parameters<typeof mintToken>[1] = {}) => mintToken(issuer, { nowMs: now, ...options });

  t.equal((await h.authenticate('bearer', await tokenOf(a))).issuer, 'tenant-a', 'control: A');
  t.equal((await h.authenticate('bearer', await tokenOf(b))).issuer, 'tenant-b', 'control: B');
  const cases = await confused(a, b, { nowMs: now });
  for (const [name, token, code] of cases) t.equal(await h.outcome('bearer', token), code, name);
  t.same(tokensInLogs(h.logs, cases.map((c) => c[1])), []);
});

t.test('over HTTP: 401 invalid_token, and a route of issuer B admits no token of A whatever its tenant', async (t) => {
  const a = await createTestIssuer({ name: 'tenant-a', kid: 'kid-a', issuer: 'https://a.issuer.test', audience: 'aud-a' });
  const b = await createTestIssuer({ name: 'tenant-b', kid: 'kid-b', issuer: 'https://b.issuer.test', audience: 'aud-b' });
  const s = await startScenario({
    moreIssuers: [a, b],
    routes: (u) => [{ name: 'b-only', pathPrefix: '/b', upstream: u, auth: { issuers: ['tenant-b'], tenants: ['tenant-of-b'] } }],
  });
  t.teardown(() => s.close());
  const tokens: string[] = [];
  for (const [type, header] of [['userApiToken', 'Authorization'], ['userAccessToken', 'X-API-KEY']] as const) {
    const line = (token: string): [string, string] => [header, header === 'Authorization' ? `Bearer ${token}` : token];
    await expectForwarded(t, s, `control: A (${header})`, { headers: [line(await mintToken(a, { type }))] }, { 'x-auth-tenant-id': 'tenant-1' });
    const ofB = await mintToken(b, { type, claims: { tenantId: 'tenant-of-b' } });
    await expectForwarded(t, s, `control: B on its route (${header})`, { path: '/b/x', headers: [line(ofB)] }, { 'x-auth-tenant-id': 'tenant-of-b' });
    for (const [name, token, code] of await confused(a, b, { type })) {
      tokens.push(token);
      await expectRefused(t, s, `${name} (${header})`, { headers: [line(token)] }, code);
    }
    const claimingB = await mintToken(a, { type, claims: { tenantId: 'tenant-of-b' } });
    tokens.push(claimingB);
    await expectRefused(t, s, `A’s key, B’s tenant, on B’s route (${header})`, { path: '/b/x', headers: [line(claimingB)] }, 'ERR_AUTH_FORBIDDEN');
  }
  t.strictSame(leakedSecrets(s.gateway.logs.lines(), tokens), [], 'no token in the logs');
});
