/**
 * Security case 18: a claim we rely on that is missing — or empty — is refused (fast-jwt skips
 * absent claims unless told otherwise; we check each one ourselves). `exp` is required for the
 * client-credentials (Bearer) kinds; an access token may lack it by design (SPEC §3).
 */
import t from 'tap';
import { TOKEN_TYPES } from '../../src/config/schema.js';
import { CREDENTIAL_KIND_OF } from '../../src/auth/identity.js';
import { createAuthHarness } from '../helpers/auth-harness.js';
import { mintToken } from '../helpers/tokens.js';

t.test('missing or empty required claims', async (t) => {
  const h = await createAuthHarness(t);
  const issuer = h.issuers[0]!;
  for (const type of TOKEN_TYPES) {
    const kind = CREDENTIAL_KIND_OF[type];
    const mint = (claims: Record<string, unknown>) => mintToken(issuer, { type, nowMs: h.clock.now(), claims });
    t.equal(await h.outcome(kind, await mint({})), 'OK', `${type}: control`);
    const cases: Array<[string, Record<string, unknown>, string]> = [
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
    if (kind === 'bearer') cases.push(['exp missing', { exp: undefined }, 'ERR_AUTH_CLAIMS']);
    if (type === 'userAccessToken') cases.push(['userId missing', { userId: undefined }, 'ERR_AUTH_CLAIMS']);
    if (type === 'userApiToken') {
      cases.push(['userId and createdByUserId missing', { userId: undefined, createdByUserId: undefined }, 'ERR_AUTH_CLAIMS']);
    }
    for (const [name, claims, code] of cases) t.equal(await h.outcome(kind, await mint(claims)), code, `${type}: ${name}`);
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
