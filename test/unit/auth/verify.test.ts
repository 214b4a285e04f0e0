import t from 'tap';
import { parseJwks } from '../../../src/auth/jwks.js';
import { buildIdentity, hasDuplicateMember } from '../../../src/auth/verify.js';
import type { Algorithm } from '../../../src/config/schema.js';
import { isGatewayError } from '../../../src/errors.js';
import { createAuthHarness, tokensInLogs } from '../../helpers/auth-harness.js';
import { createTestIssuer, mintToken, namedTokens, standardClaims } from '../../helpers/tokens.js';

t.test('the named fixtures give their documented outcome in each header', async (t) => {
  const h = await createAuthHarness(t);
  const tokens = await namedTokens(h.issuers[0]!, h.clock.now());
  const expected: Record<keyof typeof tokens, [bearer: string, apiKey: string]> = {
    GoodToken: ['OK', 'ERR_AUTH_TOKEN_TYPE'],
    GoodTenantApiToken: ['OK', 'ERR_AUTH_TOKEN_TYPE'],
    GoodUserAccessToken: ['ERR_AUTH_TOKEN_TYPE', 'OK'],
    GoodTenantAccessToken: ['ERR_AUTH_TOKEN_TYPE', 'OK'],
    ExpiredToken: ['ERR_AUTH_EXPIRED', 'ERR_AUTH_EXPIRED'],
    NotYetValidToken: ['ERR_AUTH_NOT_YET_VALID', 'ERR_AUTH_NOT_YET_VALID'],
    NonExistKidToken: ['ERR_AUTH_KID_UNKNOWN', 'ERR_AUTH_KID_UNKNOWN'],
    NoKidToken: ['ERR_AUTH_KID_UNKNOWN', 'ERR_AUTH_KID_UNKNOWN'],
    WrongIssuerToken: ['ERR_AUTH_CLAIMS', 'ERR_AUTH_CLAIMS'],
    WrongAudienceToken: ['ERR_AUTH_CLAIMS', 'ERR_AUTH_CLAIMS'],
  };
  for (const [name, [bearer, apiKey]] of Object.entries(expected)) {
    const token = tokens[name as keyof typeof tokens];
    t.equal(await h.outcome('bearer', token), bearer, `${name} as Bearer`);
    t.equal(await h.outcome('apiKey', token), apiKey, `${name} as X-API-KEY`);
  }
  t.same(tokensInLogs(h.logs, Object.values(tokens)), [], 'no token in the logs');
});

t.test('every supported algorithm verifies a good token', async (t) => {
  const algs: Algorithm[] = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'];
  const h = await createAuthHarness(t, { issuers: algs.map((alg) => ({ alg, kid: `kid-${alg}`, name: `iss-${alg}` })) });
  for (const issuer of h.issuers) {
    const token = await mintToken(issuer, { nowMs: h.clock.now() });
    const identity = await h.authenticate('bearer', token);
    t.equal(identity.issuer, issuer.name, `${issuer.alg}: verified by its issuer`);
  }
});

t.test('the identity is built from the verified claims, frozen, own data only', async (t) => {
  const h = await createAuthHarness(t);
  const issuer = h.issuers[0]!;
  const now = h.clock.now();
  const cases = [
    {
      type: 'userApiToken',
      claims: { jti: 'jti-1' },
      expected: { subject: 'client-1', tokenId: 'jti-1', userId: 'user-1', kind: 'bearer' },
    },
    {
      type: 'userApiToken',
      claims: { jti: 'jti-2', userId: undefined, createdByUserId: 'owner-7' },
      expected: { subject: 'client-1', tokenId: 'jti-2', userId: 'owner-7', kind: 'bearer' },
    },
    { type: 'tenantApiToken', claims: { jti: 'jti-3' }, expected: { subject: 'client-2', tokenId: 'jti-3', userId: undefined, kind: 'bearer' } },
    { type: 'userAccessToken', claims: {}, expected: { subject: 'access-1', tokenId: 'access-1', userId: 'user-1', kind: 'apiKey' } },
    { type: 'tenantAccessToken', claims: {}, expected: { subject: 'access-2', tokenId: 'access-2', userId: undefined, kind: 'apiKey' } },
  ] as const;
  for (const { type, claims, expected } of cases) {
    const token = await mintToken(issuer, { type, nowMs: now, claims });
    const identity = await h.authenticate(expected.kind, token);
    t.ok(Object.isFrozen(identity), `${type}: frozen`);
    t.ok(Object.isFrozen(identity.roles) && Object.isFrozen(identity.permissions), `${type}: lists frozen`);
    t.equal(Object.getPrototypeOf(identity), Object.prototype);
    t.match(identity, {
      tokenType: type,
      issuer: issuer.name,
      subject: expected.subject,
      tokenId: expected.tokenId,
      userId: expected.userId,
      tenantId: 'tenant-1',
      roles: ['admin'],
      permissions: ['reports.read'],
      expiresAtMs: (Math.floor(now / 1000) + 3600) * 1000,
    }, type);
  }
});

t.test('absent roles and permissions are empty lists; an access token without exp never expires', async (t) => {
  const h = await createAuthHarness(t);
  const token = await mintToken(h.issuers[0]!, {
    type: 'tenantAccessToken',
    nowMs: h.clock.now(),
    ttlSeconds: null,
    claims: { roles: undefined, permissions: undefined },
  });
  const identity = await h.authenticate('apiKey', token);
  t.same(identity.roles, []);
  t.same(identity.permissions, []);
  t.equal(identity.expiresAtMs, undefined);
});

t.test('buildIdentity applies the claim rules to a payload directly', async (t) => {
  const issuer = await createTestIssuer({ alg: 'ES256', kid: 'k' });
  const compiled = issuer.compiled({ kind: 'file', file: '/dev/null' });
  const parsed = parseJwks(JSON.stringify(issuer.jwks), compiled);
  if (!parsed.ok) throw new Error(parsed.reason);
  const key = parsed.keys.get('k')!;
  const now = Date.UTC(2026, 0, 1);
  const base = standardClaims(issuer, 'userApiToken', now);
  const code = (payload: Record<string, unknown>) => {
    try {
      buildIdentity(payload, key, now, 30);
      return 'OK';
    } catch (err) {
      return isGatewayError(err) ? err.code : 'THROWN';
    }
  };
  const cases: Array<[string, Record<string, unknown>, string]> = [
    ['the standard claims', base, 'OK'],
    ['aud as an array containing ours', { ...base, aud: ['x', issuer.audience] }, 'OK'],
    ['aud as an array with a non-string', { ...base, aud: [issuer.audience, 1] }, 'ERR_AUTH_CLAIMS'],
    ['aud as an empty array', { ...base, aud: [] }, 'ERR_AUTH_CLAIMS'],
    ['type userToken (interactive login)', { ...base, type: 'userToken' }, 'ERR_AUTH_TOKEN_TYPE'],
    ['type vendor', { ...base, type: 'vendor' }, 'ERR_AUTH_TOKEN_TYPE'],
    ['type __proto__', { ...base, type: '__proto__' }, 'ERR_AUTH_TOKEN_TYPE'],
    ['type as an array', { ...base, type: ['userApiToken'] }, 'ERR_AUTH_TOKEN_TYPE'],
    ['tenantId empty', { ...base, tenantId: '' }, 'ERR_AUTH_CLAIMS'],
    ['jti a number', { ...base, jti: 7 }, 'ERR_AUTH_CLAIMS'],
    ['userId null on a user token', { ...base, userId: null }, 'ERR_AUTH_CLAIMS'],
    ['neither userId nor createdByUserId on a user token', { ...base, userId: undefined, createdByUserId: undefined }, 'ERR_AUTH_CLAIMS'],
    ['roles with an empty entry', { ...base, roles: [''] }, 'ERR_AUTH_CLAIMS'],
    ['257 permissions', { ...base, permissions: Array.from({ length: 257 }, (_, i) => `p${i}`) }, 'ERR_AUTH_CLAIMS'],
    ['256 permissions', { ...base, permissions: Array.from({ length: 256 }, (_, i) => `p${i}`) }, 'OK'],
    ['iat a float', { ...base, iat: (base.iat as number) + 0.5 }, 'ERR_AUTH_CLAIMS'],
    ['nbf a string', { ...base, nbf: String(base.iat) }, 'ERR_AUTH_CLAIMS'],
  ];
  for (const [name, payload, expected] of cases) {
    const clean = Object.fromEntries(Object.entries(payload).filter(([, v]) => v !== undefined));
    t.equal(code(clean), expected, name);
  }
});

t.test('hasDuplicateMember finds repeated top-level names, escaped or not', async (t) => {
  const cases: Array<[string, boolean]> = [
    ['{"a":1,"b":2}', false],
    ['{"a":1,"a":2}', true],
    ['{"sub":"alice","s\\u0075b":"admin"}', true],
    ['{"a":{"a":1,"b":{"a":2}},"b":[{"a":1},{"a":2}]}', false],
    ['{"a":"a","b":"a"}', false],
    ['{"a":"x\\"a\\":1","b":1}', false],
    ['{"a":"{\\"b\\":1,","b":2}', false],
    [' { "a" : 1 , "a" : 2 } ', true],
    // An escaped name and a plain one compare by their unescaped text, whichever comes first.
    ['{"s\\u0075b":"admin","sub":"alice"}', true],
    ['{"\\"":1,"\\u0022":2}', true],
    ['{"a\\\\":1,"a":2}', false],
    ['{}', false],
  ];
  for (const [json, expected] of cases) {
    JSON.parse(json);
    t.equal(hasDuplicateMember(json), expected, json);
  }
});
