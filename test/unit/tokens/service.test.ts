import { createLocalJWKSet, jwtVerify, type JSONWebKeySet } from 'jose';
import t from 'tap';
import type { Identity } from '../../../src/auth/identity.js';
import { pino } from 'pino';
import type { TokenStore } from '../../../src/store/types.js';
import { createRateLimiter } from '../../../src/tokens/rate-limit.js';
import { createTokenService } from '../../../src/tokens/service.js';
import { leakedSecrets } from '../../helpers/log-sink.js';
import { withTestDatabase } from '../../helpers/postgres.js';
import { AUDIENCE, createTokenHarness, ISSUER, PEER, STORE_KINDS, type StoreKind, type TokenHarness } from '../../helpers/token-service.js';

const T1 = { tenantId: 'tenant-1' };
const U1 = { tenantId: 'tenant-1', userId: 'user-1' };

async function claimsOf(h: TokenHarness, jwt: string) {
  const { payload, protectedHeader } = await jwtVerify(jwt, createLocalJWKSet(h.keys.jwks() as JSONWebKeySet), {
    issuer: ISSUER,
    audience: AUDIENCE,
    currentDate: new Date(h.clock.now()),
  });
  return { payload, protectedHeader };
}

/** The identity the proxy's verifier would build from one of our JWTs. */
function identityOf(payload: Record<string, unknown>): Identity {
  const type = payload.type as Identity['tokenType'];
  const bearer = type === 'userApiToken' || type === 'tenantApiToken';
  return {
    tokenType: type,
    issuer: 'local',
    subject: payload.sub as string,
    tokenId: bearer ? (payload.jti as string) : (payload.sub as string),
    userId: payload.userId as string | undefined,
    tenantId: payload.tenantId as string,
    roles: payload.roles as string[],
    permissions: payload.permissions as string[],
    expiresAtMs: typeof payload.exp === 'number' ? payload.exp * 1000 : undefined,
    ...(typeof payload.sid === 'string' ? { sessionId: payload.sid } : {}),
  };
}

// The PostgreSQL harnesses each get a schema of this file's database.
const database = await withTestDatabase(t);
const harness = (kind: StoreKind, overrides: Parameters<typeof createTokenHarness>[1] = {}) => createTokenHarness(kind, overrides, database);

for (const kind of STORE_KINDS) {
  t.test(`${kind} store`, async (t) => {
    t.test('user api token: created with a membership, exchanged for a JWT with the spec claims', async (t) => {
      const h = await harness(kind);
      t.teardown(h.close);
      const created = await h.service.createUserApiToken(U1, { description: 'ci', metadata: { user: 'svc' }, expiresInMinutes: 60 });
      t.match(created.record, { owner: 'user', tenantId: 'tenant-1', userId: 'user-1', createdByUserId: 'user-1', description: 'ci', metadata: { user: 'svc' }, roleIds: null });
      t.equal(created.record.expiresAt, h.clock.now() + 3_600_000, 'expiresInMinutes → expiresAt');
      t.not(created.record.secretHash, created.secret, 'stored hashed');
      t.same((await h.directory.getMembership('tenant-1', 'user-1'))?.roleIds, ['r-viewer'], 'membership created with default roles (SPEC §4.4)');

      const issued = await h.service.exchange({ clientId: created.record.clientId, secret: created.secret }, { peer: PEER });
      t.equal(issued.expiresInSeconds, 600);
      t.type(issued.refreshToken, 'string');
      const { payload, protectedHeader } = await claimsOf(h, issued.accessToken);
      t.same(protectedHeader, { alg: 'ES256', typ: 'JWT', kid: h.keys.current().kid });
      const iat = Math.floor(h.clock.now() / 1000);
      t.same(payload, {
        iss: ISSUER,
        aud: AUDIENCE,
        sub: created.record.clientId,
        type: 'userApiToken',
        tenantId: 'tenant-1',
        userId: 'user-1',
        createdByUserId: 'user-1',
        metadata: { user: 'svc' },
        roles: ['viewer'],
        permissions: ['reports.read'],
        sid: payload.sid,
        iat,
        exp: iat + 600,
        jti: payload.jti,
      });
      t.equal(issued.expiresAt, (iat + 600) * 1000);

      // A role change applies from the next JWT, and at once through checkLive.
      const live = await h.service.checkLive(identityOf(payload));
      t.same(live.roles, ['viewer']);
      await h.directory.putMembership('tenant-1', 'user-1', ['r-admin']);
      t.same((await h.service.checkLive(identityOf(payload))).roles, ['admin'], 'current roles, cache evicted by the directory write');
      const next = await h.service.refresh({ refreshToken: issued.refreshToken! }, { peer: PEER });
      const refreshed = await claimsOf(h, next.accessToken);
      t.same(refreshed.payload.roles, ['admin']);
      t.equal(refreshed.payload.sid, payload.sid, 'same family');
    });

    t.test('tenant api tokens: roleIds win over permissionIds; create, list, update, delete', async (t) => {
      const h = await harness(kind);
      t.teardown(h.close);
      const cases = [
        { name: 'roleIds win', input: { roleIds: ['r-billing'], permissionIds: ['x'] }, roleIds: ['r-billing'], permissionIds: null, roles: ['billing'], permissions: ['billing.write'] },
        { name: 'permissionIds alone', input: { permissionIds: ['x.read'] }, roleIds: null, permissionIds: ['x.read'], roles: [], permissions: ['x.read'] },
        { name: 'nothing', input: {}, roleIds: null, permissionIds: null, roles: [], permissions: [] },
      ];
      for (const c of cases) {
        const created = await h.service.createTenantApiToken(T1, { ...c.input, createdByUserId: 'admin-7' });
        t.match(created.record, { owner: 'tenant', tenantId: 'tenant-1', userId: null, createdByUserId: 'admin-7', roleIds: c.roleIds, permissionIds: c.permissionIds, expiresAt: null }, c.name);
        const { payload } = await claimsOf(h, (await h.service.exchange({ clientId: created.record.clientId, secret: created.secret }, { peer: PEER })).accessToken);
        t.match(payload, { type: 'tenantApiToken', tenantId: 'tenant-1', createdByUserId: 'admin-7', metadata: {}, roles: c.roles, permissions: c.permissions }, `${c.name}: claims`);
        t.notOk('userId' in payload, `${c.name}: no userId`);
      }
      await t.rejects(h.service.createTenantApiToken(T1, { roleIds: ['nope'] }), { code: 'ERR_DIRECTORY_UNKNOWN_ROLE', problems: ['roleIds[0]: unknown role "nope"'] });

      const list = await h.service.listApiTokens('tenant', T1);
      t.equal(list.length, 3);
      t.ok(list.every((r, i) => i === 0 || r.createdAt <= list[i - 1]!.createdAt), 'newest first');
      t.notOk(JSON.stringify(list).includes('"secret"'), 'no secrets');

      const target = list[0]!;
      const updated = await h.service.updateTenantApiToken(T1, target.clientId, { description: 'new', roleIds: ['r-admin'] });
      t.match(updated, { description: 'new', roleIds: ['r-admin'], permissionIds: null });
      await t.rejects(h.service.updateTenantApiToken({ tenantId: 'tenant-2' }, target.clientId, { description: 'x' }), { code: 'ERR_NOT_FOUND' });
      await t.rejects(h.service.deleteApiToken('tenant', { tenantId: 'tenant-2' }, target.clientId), { code: 'ERR_NOT_FOUND' }, 'another tenant cannot delete it');
      await t.rejects(h.service.deleteApiToken('user', T1, target.clientId), { code: 'ERR_NOT_FOUND' }, 'not through the user routes');
      await h.service.deleteApiToken('tenant', T1, target.clientId);
      t.equal((await h.service.listApiTokens('tenant', T1)).length, 2);
      await t.rejects(h.service.deleteApiToken('tenant', T1, target.clientId), { code: 'ERR_NOT_FOUND' }, 'twice');
    });

    t.test('user tokens are scoped to their user', async (t) => {
      const h = await harness(kind);
      t.teardown(h.close);
      const mine = await h.service.createUserApiToken(U1, {});
      await h.service.createUserApiToken({ tenantId: 'tenant-1', userId: 'user-2' }, {});
      t.same((await h.service.listApiTokens('user', U1)).map((r) => r.clientId), [mine.record.clientId]);
      await t.rejects(h.service.deleteApiToken('user', { tenantId: 'tenant-1', userId: 'user-2' }, mine.record.clientId), { code: 'ERR_NOT_FOUND' });
      t.ok(await h.store.getApiToken(mine.record.clientId).then((r) => r?.revokedAt === null), 'not deleted');
    });

    t.test('access tokens: JWT claims, exp, list, info, active ids, delete', async (t) => {
      const h = await harness(kind);
      t.teardown(h.close);
      const user = await h.service.createUserAccessToken(U1, { description: 'cli', expiresInMinutes: 30 });
      const tenant = await h.service.createTenantAccessToken(T1, { roleIds: ['r-admin'] });
      const iat = Math.floor(h.clock.now() / 1000);
      const u = (await claimsOf(h, user.jwt)).payload;
      t.same(u, { iss: ISSUER, aud: AUDIENCE, sub: user.record.id, type: 'userAccessToken', tenantId: 'tenant-1', userId: 'user-1', roles: ['viewer'], permissions: ['reports.read'], iat, exp: iat + 1800, jti: u.jti });
      t.equal(user.record.expiresAt, (iat + 1800) * 1000, 'record expiry = exp');
      const n = (await claimsOf(h, tenant.jwt)).payload;
      t.notOk('exp' in n, 'no expiresInMinutes → no exp');
      t.match(n, { type: 'tenantAccessToken', roles: ['admin'], permissions: ['fe.secure.*', 'reports.read'] });
      t.notOk(JSON.stringify(await dumpAccessTokens(h.store)).includes(tenant.jwt.split('.')[2]!), 'the JWT is not stored');
      const headerKid = (jwt: string) => (JSON.parse(Buffer.from(jwt.split('.')[0]!, 'base64url').toString()) as { kid: string }).kid;
      t.equal(tenant.record.kid, headerKid(tenant.jwt), 'the record names the key that signed the JWT');
      t.equal((await h.store.getAccessToken(tenant.record.id))?.kid, h.keys.current().kid, 'and the store keeps it');

      t.same((await h.service.listAccessTokens('user', U1)).map((r) => r.id), [user.record.id]);
      t.same((await h.service.listAccessTokens('tenant', T1)).map((r) => r.id), [tenant.record.id]);
      t.same(await h.service.activeAccessTokenIds('tenant'), [tenant.record.id]);
      t.same(await h.service.activeAccessTokenIds('user'), [user.record.id]);
      t.same(await h.service.accessTokenInfo('user', user.record.id), {
        id: user.record.id,
        tenantId: 'tenant-1',
        userId: 'user-1',
        roles: ['viewer'],
        permissions: ['reports.read'],
        expires: new Date(user.record.expiresAt!).toISOString(),
      });
      t.same(await h.service.accessTokenInfo('tenant', tenant.record.id), { id: tenant.record.id, tenantId: 'tenant-1', roles: ['admin'], permissions: ['fe.secure.*', 'reports.read'] });
      t.equal(await h.service.accessTokenInfo('user', tenant.record.id), undefined, 'wrong owner kind');

      t.same((await h.service.checkLive(identityOf(u))).roles, ['viewer']);
      await h.directory.deleteMembership('tenant-1', 'user-1');
      await t.rejects(h.service.checkLive(identityOf(u)), { code: 'ERR_AUTH_REVOKED' }, 'membership gone');
      t.same(await h.service.activeAccessTokenIds('user'), [], 'not active without membership');
      t.equal(await h.service.accessTokenInfo('user', user.record.id), undefined);

      await t.rejects(h.service.deleteAccessToken('tenant', { tenantId: 'tenant-2' }, tenant.record.id), { code: 'ERR_NOT_FOUND' });
      t.same((await h.service.checkLive(identityOf(n))).roles, ['admin'], 'cached');
      await h.service.deleteAccessToken('tenant', T1, tenant.record.id);
      await t.rejects(h.service.checkLive(identityOf(n)), { code: 'ERR_AUTH_REVOKED' }, 'refused at once, although cached');
      t.same(await h.service.activeAccessTokenIds('tenant'), []);

      const short = await h.service.createTenantAccessToken(T1, { expiresInMinutes: 1 });
      const s = (await claimsOf(h, short.jwt)).payload;
      await h.service.checkLive(identityOf(s));
      h.clock.advance(60_000);
      await t.rejects(h.service.checkLive(identityOf(s)), { code: 'ERR_AUTH_REVOKED' }, 'expired, although cached');
    });

    t.test('expiresInMinutes and other inputs are validated', async (t) => {
      const h = await harness(kind);
      t.teardown(h.close);
      for (const expiresInMinutes of [0, -5, 1.5, 10 * 365 * 24 * 60 + 1, '60' as unknown as number]) {
        await t.rejects(h.service.createTenantApiToken(T1, { expiresInMinutes }), { code: 'ERR_VALIDATION' }, `expiresInMinutes ${String(expiresInMinutes)}`);
        await t.rejects(h.service.createUserAccessToken(U1, { expiresInMinutes }), { code: 'ERR_VALIDATION' });
      }
      await t.rejects(h.service.createTenantApiToken(T1, { metadata: [] as unknown as Record<string, unknown> }), { code: 'ERR_VALIDATION' });
      await t.rejects(h.service.createTenantApiToken(T1, { metadata: { big: 'x'.repeat(5000) } }), { code: 'ERR_VALIDATION' });
      await t.rejects(h.service.createUserApiToken({ tenantId: 'tenant-1', userId: 'bad\r\nid' }, {}), { code: 'ERR_VALIDATION' });
      await t.rejects(h.service.createTenantAccessToken(T1, { roleIds: ['r-nope'] }), { code: 'ERR_DIRECTORY_UNKNOWN_ROLE' });
    });

    t.test('disabled kinds can be neither created, listed nor used', async (t) => {
      const h = await harness(kind, { accessTokens: { enabled: false }, apiTokens: { enabled: false } });
      t.teardown(h.close);
      const refusals: Array<[string, () => Promise<unknown>]> = [
        ['create user api token', () => h.service.createUserApiToken(U1, {})],
        ['create tenant api token', () => h.service.createTenantApiToken(T1, {})],
        ['list api tokens', () => h.service.listApiTokens('tenant', T1)],
        ['update api token', () => h.service.updateTenantApiToken(T1, 'x', {})],
        ['exchange', () => h.service.exchange({ clientId: 'x', secret: 'y' }, { peer: PEER })],
        ['refresh', () => h.service.refresh({ refreshToken: 'x' }, { peer: PEER })],
        ['authenticate a client', () => h.service.authenticateClient({ clientId: 'x', secret: 'y' }, { peer: PEER })],
        ['create user access token', () => h.service.createUserAccessToken(U1, {})],
        ['create tenant access token', () => h.service.createTenantAccessToken(T1, {})],
        ['list access tokens', () => h.service.listAccessTokens('user', U1)],
        ['active access token ids', () => h.service.activeAccessTokenIds('tenant')],
        ['access token info', () => h.service.accessTokenInfo('tenant', 'any-id')],
        ['api token info', () => h.service.apiTokenInfo('tenant', 'any-id', 'any-sid')],
      ];
      for (const [name, call] of refusals) await t.rejects(call(), { code: 'ERR_TOKEN_KIND_DISABLED' }, name);
    });

    t.test("authenticateClient: the exchange's credential check, issuing nothing", async (t) => {
      const h = await harness(kind, { rateLimit: { perClientPerMinute: 100, perPeerPerMinute: 1000 } });
      t.teardown(h.close);
      const user = await h.service.createUserApiToken(U1, {});
      const tenant = await h.service.createTenantApiToken(T1, { roleIds: ['r-viewer'] });
      const revoked = await h.service.createTenantApiToken(T1, {});
      await h.service.deleteApiToken('tenant', T1, revoked.record.clientId);
      const expiring = await h.service.createTenantApiToken(T1, { expiresInMinutes: 1 });
      let writes = 0;
      for (const name of ['startRefreshFamily', 'insertRefreshToken', 'rotateRefreshToken'] as const) {
        const original = h.store[name] as (...args: unknown[]) => Promise<unknown>;
        (h.store as Record<string, unknown>)[name] = async (...args: unknown[]) => {
          writes++;
          return original.apply(h.store, args);
        };
      }

      const authenticated = await h.service.authenticateClient({ clientId: tenant.record.clientId, secret: tenant.secret }, { peer: PEER });
      t.strictSame(authenticated, { clientId: tenant.record.clientId }, 'who it is, nothing secret');
      t.ok(Object.isFrozen(authenticated));
      t.equal(writes, 0, 'no family, no refresh token: authentication issues nothing');

      await h.directory.deleteMembership('tenant-1', 'user-1');
      await t.rejects(h.service.exchange({ clientId: user.record.clientId, secret: user.secret }, { peer: PEER }), { code: 'ERR_TOKEN_INVALID_CLIENT' }, 'no exchange without the membership');
      t.strictSame(
        await h.service.authenticateClient({ clientId: user.record.clientId, secret: user.secret }, { peer: PEER }),
        { clientId: user.record.clientId },
        'but the client still authenticates, e.g. to revoke its own tokens',
      );

      h.clock.advance(60_000);
      const refusals: Array<[string, { clientId: string; secret: string }]> = [
        ['unknown client', { clientId: '00000000-0000-4000-8000-000000000000', secret: tenant.secret }],
        ['wrong secret', { clientId: tenant.record.clientId, secret: user.secret }],
        ['empty secret', { clientId: tenant.record.clientId, secret: '' }],
        ['revoked credential', { clientId: revoked.record.clientId, secret: revoked.secret }],
        ['expired credential', { clientId: expiring.record.clientId, secret: expiring.secret }],
      ];
      const answers: unknown[] = [];
      for (const [name, credentials] of refusals) {
        const err = await h.service.authenticateClient(credentials, { peer: PEER }).then(
          () => undefined,
          (e: unknown) => e,
        );
        t.match(err, { code: 'ERR_TOKEN_INVALID_CLIENT', statusCode: 401 }, name);
        const { code, statusCode, message, problems, retryAfterSeconds } = err as Record<string, unknown>;
        answers.push({ code, statusCode, message, problems, retryAfterSeconds });
      }
      for (const answer of answers.slice(1)) t.strictSame(answer, answers[0], 'one answer for every refusal (case 26)');
      t.strictSame(leakedSecrets(h.sink.lines(), [user.secret, tenant.secret, revoked.secret, expiring.secret]), [], 'no secret logged');
    });

    t.test('authenticateClient: one HMAC compare, against the dummy digest for an unknown client (case 34)', async (t) => {
      const h = await harness(kind);
      t.teardown(h.close);
      const created = await h.service.createTenantApiToken(T1, {});
      const compared: Array<string | undefined> = [];
      const hasher = {
        hash: (value: string) => h.hasher.hash(value),
        verify(value: string, expected: string | undefined) {
          compared.push(expected);
          return h.hasher.verify(value, expected);
        },
      };
      const service = createTokenService(h.config, { ...h, hasher, rateLimiter: createRateLimiter(h.config.rateLimit, h), log: pino({ level: 'silent' }) });
      await service.authenticateClient({ clientId: created.record.clientId, secret: created.secret }, { peer: PEER });
      await t.rejects(service.authenticateClient({ clientId: 'nobody', secret: created.secret }, { peer: PEER }), { code: 'ERR_TOKEN_INVALID_CLIENT' });
      t.strictSame(compared, [created.record.secretHash, undefined], 'exactly one verify each; the unknown client is compared against the dummy');
    });

    t.test("authenticateClient: its failures and the exchange's share one lock per (clientId, peer) (case 29)", async (t) => {
      const h = await harness(kind, { rateLimit: { perClientPerMinute: 4, perPeerPerMinute: 1000 } });
      t.teardown(h.close);
      const created = await h.service.createTenantApiToken(T1, {});
      const attacker = { peer: '203.0.113.66' };
      const wrong = { clientId: created.record.clientId, secret: 'wrong' };
      for (let i = 0; i < 2; i++) await t.rejects(h.service.authenticateClient(wrong, attacker), { code: 'ERR_TOKEN_INVALID_CLIENT' });
      for (let i = 0; i < 2; i++) await t.rejects(h.service.exchange(wrong, attacker), { code: 'ERR_TOKEN_INVALID_CLIENT' });
      await t.rejects(h.service.authenticateClient(wrong, attacker), { code: 'ERR_TOKEN_RATE_LIMITED', retryAfterSeconds: 60 }, 'four failures of either kind lock the pair');
      await t.rejects(h.service.exchange({ clientId: created.record.clientId, secret: created.secret }, attacker), { code: 'ERR_TOKEN_RATE_LIMITED' }, 'the exchange from that peer too');
      await h.service.authenticateClient({ clientId: created.record.clientId, secret: created.secret }, { peer: PEER });
      t.pass('the client from its own peer is not locked');
    });

    t.test('tokens minted before a kind was disabled are refused by checkLive', async (t) => {
      const on = await harness(kind);
      t.teardown(on.close);
      const token = await on.service.createTenantAccessToken(T1, {});
      const identity = identityOf((await claimsOf(on, token.jwt)).payload);
      const { createTokenService } = await import('../../../src/tokens/service.js');
      const { createRateLimiter } = await import('../../../src/tokens/rate-limit.js');
      const off = createTokenService(
        { ...on.config, accessTokens: { enabled: false } },
        { ...on, rateLimiter: createRateLimiter(on.config.rateLimit, on), log: on.sink && (await import('pino')).pino({ level: 'silent' }) },
      );
      await t.rejects(off.checkLive(identity), { code: 'ERR_AUTH_REVOKED' });
    });

    t.test('refresh tokens switched off: none issued, none accepted', async (t) => {
      const h = await harness(kind, { refreshTokens: { enabled: false, ttlSeconds: 60, maxPerCredential: 100 } });
      t.teardown(h.close);
      const created = await h.service.createTenantApiToken(T1, {});
      const issued = await h.service.exchange({ clientId: created.record.clientId, secret: created.secret }, { peer: PEER });
      t.equal(issued.refreshToken, undefined);
      await h.service.checkLive(identityOf((await claimsOf(h, issued.accessToken)).payload));
      await t.rejects(h.service.refresh({ refreshToken: 'anything' }, { peer: PEER }), { code: 'ERR_TOKEN_INVALID_GRANT' });
    });

    t.test('a JWT never outlives its credential', async (t) => {
      const h = await harness(kind);
      t.teardown(h.close);
      const created = await h.service.createTenantApiToken(T1, { expiresInMinutes: 2 });
      h.clock.advance(110_000);
      const issued = await h.service.exchange({ clientId: created.record.clientId, secret: created.secret }, { peer: PEER });
      t.ok(issued.expiresAt <= created.record.expiresAt!, 'exp capped at the credential expiry');
      h.clock.advance(10_000);
      await t.rejects(h.service.exchange({ clientId: created.record.clientId, secret: created.secret }, { peer: PEER }), { code: 'ERR_TOKEN_INVALID_CLIENT' }, 'expired credential');
      await t.rejects(h.service.refresh({ refreshToken: issued.refreshToken! }, { peer: PEER }), { code: 'ERR_TOKEN_INVALID_GRANT' }, 'no refresh either');
    });

    t.test('checkLive: foreign issuers pass through; our API-token JWTs need their family', async (t) => {
      const h = await harness(kind);
      t.teardown(h.close);
      const created = await h.service.createTenantApiToken(T1, { roleIds: ['r-viewer'] });
      const issued = await h.service.exchange({ clientId: created.record.clientId, secret: created.secret }, { peer: PEER });
      const identity = identityOf((await claimsOf(h, issued.accessToken)).payload);
      const foreign = { ...identity, issuer: 'frontegg' };
      t.equal(await h.service.checkLive(foreign), foreign);
      const { sessionId, ...withoutSid } = identity;
      t.type(sessionId, 'string');
      await t.rejects(h.service.checkLive(withoutSid), { code: 'ERR_AUTH_REVOKED' }, 'no sid');
      await t.rejects(h.service.checkLive(identity, { sid: 'another-family' }), { code: 'ERR_AUTH_REVOKED' }, 'unknown family');
      await t.rejects(h.service.checkLive({ ...identity, tenantId: 'tenant-2' }), { code: 'ERR_AUTH_REVOKED' }, 'claims disagree with the record');
      const live = await h.service.checkLive({ ...identity, roles: ['forged'] });
      t.same(live.roles, ['viewer'], 'current grants, not the claims');
      t.ok(Object.isFrozen(live));
    });

    t.test('checkLive fails closed when the store fails, and is I/O-free when warm', async (t) => {
      const h = await harness(kind);
      t.teardown(h.close);
      const created = await h.service.createTenantAccessToken(T1, {});
      const identity = identityOf((await claimsOf(h, created.jwt)).payload);
      const original = h.store.getAccessToken;
      let reads = 0;
      h.store.getAccessToken = async (id) => {
        reads++;
        return original.call(h.store, id);
      };
      await h.service.checkLive(identity);
      await h.service.checkLive(identity);
      t.equal(reads, 1, 'the second answer came from the cache');
      h.clock.advance(10_000);
      await h.service.checkLive(identity);
      t.equal(reads, 2, 'after 10 s it is read again');
      h.service.liveness.clear();
      h.store.getAccessToken = async () => {
        throw new Error('store down');
      };
      await t.rejects(h.service.checkLive(identity), { message: 'store down' }, 'never allowed because the lookup failed');
    });

    t.test("apiTokenInfo: the vendor-only view of one family, by checkLive's own rules", async (t) => {
      const h = await harness(kind);
      t.teardown(h.close);
      const tenant = await h.service.createTenantApiToken(T1, { roleIds: ['r-viewer'], expiresInMinutes: 60 });
      const user = await h.service.createUserApiToken(U1, {});
      const exchange = (c: { record: { clientId: string }; secret: string }) => h.service.exchange({ clientId: c.record.clientId, secret: c.secret }, { peer: PEER });
      const sidOf = async (jwt: string) => (await claimsOf(h, jwt)).payload.sid as string;
      const tenantIssued = await exchange(tenant);
      const tenantSid = await sidOf(tenantIssued.accessToken);
      const userSid = await sidOf((await exchange(user)).accessToken);

      t.same(await h.service.apiTokenInfo('tenant', tenant.record.clientId, tenantSid), {
        clientId: tenant.record.clientId,
        tenantId: 'tenant-1',
        roles: ['viewer'],
        permissions: ['reports.read'],
        expires: new Date(tenant.record.expiresAt!).toISOString(),
      });
      t.same(await h.service.apiTokenInfo('user', user.record.clientId, userSid), { clientId: user.record.clientId, tenantId: 'tenant-1', userId: 'user-1', roles: ['viewer'], permissions: ['reports.read'] });
      await h.service.updateTenantApiToken(T1, tenant.record.clientId, { roleIds: ['r-admin'] });
      t.match(await h.service.apiTokenInfo('tenant', tenant.record.clientId, tenantSid), { roles: ['admin'] }, 'the current grants');

      const gone: Array<[string, () => Promise<unknown>]> = [
        ['the wrong owner kind', () => h.service.apiTokenInfo('user', tenant.record.clientId, tenantSid)],
        ['an unknown client', () => h.service.apiTokenInfo('tenant', 'unknown', tenantSid)],
        ['an unknown family', () => h.service.apiTokenInfo('tenant', tenant.record.clientId, 'unknown')],
        ["another client's family", () => h.service.apiTokenInfo('tenant', tenant.record.clientId, userSid)],
      ];
      for (const [name, call] of gone) t.equal(await call(), undefined, name);

      await h.directory.deleteMembership('tenant-1', 'user-1');
      t.equal(await h.service.apiTokenInfo('user', user.record.clientId, userSid), undefined, 'membership gone');
      await h.service.revoke(tenantIssued.refreshToken!);
      t.equal(await h.service.apiTokenInfo('tenant', tenant.record.clientId, tenantSid), undefined, 'family revoked');
      const other = await h.service.createTenantApiToken(T1, {});
      const otherSid = await sidOf((await exchange(other)).accessToken);
      await h.service.deleteApiToken('tenant', T1, other.record.clientId);
      t.equal(await h.service.apiTokenInfo('tenant', other.record.clientId, otherSid), undefined, 'credential deleted');
    });

    t.test('introspection and revocation of JWTs', async (t) => {
      const h = await harness(kind);
      t.teardown(h.close);
      const created = await h.service.createTenantApiToken(T1, { roleIds: ['r-viewer'] });
      const issued = await h.service.exchange({ clientId: created.record.clientId, secret: created.secret }, { peer: PEER });
      const { payload } = await claimsOf(h, issued.accessToken);
      t.same(await h.service.introspect(issued.accessToken), {
        active: true,
        client_id: created.record.clientId,
        sub: created.record.clientId,
        exp: payload.exp,
        iat: payload.iat,
        token_type: 'access_token',
        tenantId: 'tenant-1',
        scope: 'reports.read',
      });
      t.match(await h.service.introspect(issued.refreshToken!), { active: true, client_id: created.record.clientId, token_type: 'refresh_token' });
      const access = await h.service.createTenantAccessToken(T1, {});
      t.match(await h.service.introspect(access.jwt), { active: true, sub: access.record.id });
      for (const garbage of ['', 'garbage', 'a.b.c', issued.accessToken.slice(0, -2) + 'AA', created.secret]) {
        t.same(await h.service.introspect(garbage), { active: false }, `inactive: ${garbage.length} chars`);
      }
      await h.service.revoke(issued.accessToken, 'someone-else');
      t.match(await h.service.introspect(issued.accessToken), { active: true }, "another client's JWT is not revoked");
      await h.service.revoke(issued.accessToken);
      t.same(await h.service.introspect(issued.accessToken), { active: false }, 'revoking a JWT revokes its family');
      t.same(await h.service.introspect(issued.refreshToken!), { active: false }, '… and its refresh token');
      await h.service.revoke('unknown');
      h.clock.advance(3_600_000);
      t.same(await h.service.introspect(access.jwt), { active: true, client_id: access.record.id, sub: access.record.id, iat: Math.floor((h.clock.now() - 3_600_000) / 1000), token_type: 'access_token', tenantId: 'tenant-1' });
    });
  });
}

async function dumpAccessTokens(store: TokenStore) {
  return Promise.all([store.listAccessTokens({ owner: 'tenant', tenantId: 'tenant-1' }), store.listAccessTokens({ owner: 'user', tenantId: 'tenant-1' })]);
}
