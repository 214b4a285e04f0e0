/**
 * Security case 17: a key vouches only for its own issuer. A token validly signed by issuer A's
 * key but claiming B's `iss` or `aud` is refused, as is B's token presented under A's kid
 * (RFC 8725 §3.8). The identity names the issuer whose key verified it, so routes can restrict
 * issuers; tenant restrictions are the authorizer's (route `tenants`), over the verified tenantId.
 */
import t from 'tap';
import { createAuthHarness, tokensInLogs } from '../helpers/auth-harness.js';
import { createTestIssuer, mintToken } from '../helpers/tokens.js';

t.test('tokens of one issuer cannot speak for another', async (t) => {
  const a = await createTestIssuer({ name: 'tenant-a', kid: 'kid-a', issuer: 'https://a.issuer.test', audience: 'aud-a' });
  const b = await createTestIssuer({ name: 'tenant-b', kid: 'kid-b', issuer: 'https://b.issuer.test', audience: 'aud-b' });
  const h = await createAuthHarness(t, { testIssuers: [a, b] });
  const now = h.clock.now();
  const tokenOf = (issuer: typeof a, options: Parameters<typeof mintToken>[1] = {}) => mintToken(issuer, { nowMs: now, ...options });

  t.equal((await h.authenticate('bearer', await tokenOf(a))).issuer, 'tenant-a', 'control: A');
  t.equal((await h.authenticate('bearer', await tokenOf(b))).issuer, 'tenant-b', 'control: B');
  const cases: Array<[string, string, string]> = [
    ['A’s key, B’s iss', await tokenOf(a, { claims: { iss: b.issuer } }), 'ERR_AUTH_CLAIMS'],
    ['A’s key, B’s aud', await tokenOf(a, { claims: { aud: b.audience } }), 'ERR_AUTH_CLAIMS'],
    ['A’s key, B’s iss and aud', await tokenOf(a, { claims: { iss: b.issuer, aud: b.audience } }), 'ERR_AUTH_CLAIMS'],
    ['A’s key, aud of both', await tokenOf(a, { claims: { aud: [b.audience] } }), 'ERR_AUTH_CLAIMS'],
    ['B’s key under A’s kid', await tokenOf(b, { header: { kid: 'kid-a' }, claims: { iss: a.issuer, aud: a.audience } }), 'ERR_AUTH_SIGNATURE'],
  ];
  for (const [name, token, code] of cases) t.equal(await h.outcome('bearer', token), code, name);
  t.same(tokensInLogs(h.logs, cases.map((c) => c[1])), []);
});
