/**
 * Security case 18: a claim we rely on that is missing — or empty — is refused (fast-jwt skips
 * absent claims unless told otherwise; we check each one ourselves). `exp` is required for the
 * client-credentials (Bearer) kinds; an access token may lack it by design (SPEC §3).
 * Authenticator level first, then over HTTP through a real gateway. (Refresh tokens are opaque
 * strings looked up in the store, not JWTs, so they carry no claims to omit.)
 */
import t from 'tap';
import { TOKEN_TYPES } from '../../src/config/schema.js';
import { CREDENTIAL_KIND_OF } from '../../src/auth/identity.js';
import type { TokenType } from '../../src/config/schema.js';
import { createAuthHarness } from '../helpers/auth-harness.js';
import { leakedSecrets } from '../helpers/log-sink.js';
import { expectForwarded, expectRefused, type AuthRefusal } from '../helpers/refusals.js';
import { startScenario } from '../helpers/scenario.js';
import { mintToken } from '../helpers/tokens.js';

/** The claim changes that must refuse a token of `type`, with the code. */
function missing(type: TokenType): Array<[string, Record<string, unknown>, AuthRefusal]> {
  const cases: Array<[string, Record<string, unknown>, AuthRefusal]> = [
    ['iss missing', { iss: undefined }, 'ERR_AUTH_CLAIMS'],
    ['aud missing', { aud: undefined }, 'ERR_AUTH_CLAIMS'],
    ['sub missing', { sub: undefined }, 'ERR_AUTH_CLAIMS'],
    ['jti missing', { jti: undefined }, 'ERR_AUTH_CLAIMS'],
    ['tenantId missing', { tenantId: undefined }, 'ERR_AUTH_CLAIMS'],
    ['iat missing', { iat: undefined }, 'ERR_AUTH_CLAIMS'],
    ['type missing', { type: undefined }, 'ERR_AUTH_TOKEN_TYPE'],
    ['iss empty', { iss: '' }, 'ERR_AUTH_CLAIMS'],
    ['aud empty', { aud: '' }, 'ERR_AUTH_CLAIMS'],
    ['sub empty', { sub: '' }, 'ERR_AUTH_CLAIMS'],
    ['jti empty', { jti: '' }, 'ERR_AUTH_CLAIMS'],
    ['tenantId empty', { tenantId: '' }, 'ERR_AUTH_CLAIMS'],
    ['sub null', { sub: null }, 'ERR_AUTH_CLAIMS'],
  ];
  if (CREDENTIAL_KIND_OF[type] === 'bearer') cases.push(['exp missing', { exp: undefined }, 'ERR_AUTH_CLAIMS']);
  if (type === 'userAccessToken') cases.push(['userId missing', { userId: undefined }, 'ERR_AUTH_CLAIMS']);
  if (type === 'userApiToken') cases.push(['userId and createdByUserId missing', { userId: undefined, createdByUserId: undefined }, 'ERR_AUTH_CLAIMS']);
  return cases;
}

t.test('missing or empty required claims', async (t) => {
  const h = await createAuthHarness(t);
  const issuer = h.issuers[0]!;
  for (const type of TOKEN_TYPES) {
    const kind = CREDENTIAL_KIND_OF[type];
    const mint = (claims: Record<string, unknown>) => mintToken(issuer, { type, nowMs: h.clock.now(), claims });
    t.equal(await h.outcome(kind, await mint({})), 'OK', `${type}: control`);
    for (const [name, claims, code] of missing(type)) t.equal(await h.outcome(kind, await mint(claims)), code, `${type}: ${name}`);
  }
});

t.test('an access token without exp is accepted and never expires; a Bearer one is not', async (t) => {
  const h = await createAuthHarness(t);
  const issuer = h.issuers[0]!;
  for (const type of ['userAccessToken', 'tenantAccessToken'] as const) {
    const token = await mintToken(issuer, { type, nowMs: h.clock.now(), ttlSeconds: null });
    t.equal((await h.authenticate('apiKey', token)).expiresAtMs, undefined, type);
  }
  for (const type of ['userApiToken', 'tenantApiToken'] as const) {
    t.equal(await h.outcome('bearer', await mintToken(issuer, { type, nowMs: h.clock.now(), ttlSeconds: null })), 'ERR_AUTH_CLAIMS', type);
  }
});

t.test('over HTTP: 401 invalid_token for every missing claim, each type in its own header', async (t) => {
  const s = await startScenario();
  t.teardown(() => s.close());
  const tokens: string[] = [];
  const line = (type: TokenType, token: string): [string, string] =>
    CREDENTIAL_KIND_OF[type] === 'bearer' ? ['Authorization', `Bearer ${token}`] : ['X-API-KEY', token];
  for (const type of TOKEN_TYPES) {
    await expectForwarded(t, s, `${type}: control`, { headers: [line(type, await s.mint({ type }))] }, { 'x-auth-token-type': type });
    for (const [name, claims, code] of missing(type)) {
      const token = await s.mint({ type, claims });
      tokens.push(token);
      await expectRefused(t, s, `${type}: ${name}`, { headers: [line(type, token)] }, code);
    }
  }
  for (const type of ['userApiToken', 'tenantApiToken'] as const) {
    await expectRefused(t, s, `${type} without exp`, { headers: [line(type, await s.mint({ type, ttlSeconds: null }))] }, 'ERR_AUTH_CLAIMS');
  }
  for (const type of ['userAccessToken', 'tenantAccessToken'] as const) {
    await expectForwarded(t, s, `${type} without exp, by design`, { headers: [line(type, await s.mint({ type, ttlSeconds: null }))] }, { 'x-auth-token-type': type });
  }
  t.strictSame(leakedSecrets(s.gateway.logs.lines(), tokens), [], 'no token in the logs');
});
