/**
 * The TokenStore contract suite: one set of behaviours every driver must show, run by each
 * driver's test file. Each case gets a fresh, migrated store from `makeStore`.
 *
 * Not named *.test.ts on purpose: tap would run it on its own, without a driver.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Test } from 'tap';
import type {
  AccessTokenRecord,
  ApiTokenRecord,
  RefreshFamilyRecord,
  RefreshTokenRecord,
  RotateOutcome,
  SigningKeyRecord,
  TokenStore,
} from '../../src/store/types.js';

export const T0 = Date.UTC(2026, 0, 1);
const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;

// Named fixtures: a user API token of user-1 on tenant-a, and what hangs off it.

export const userApiToken = (o: Partial<ApiTokenRecord> = {}): ApiTokenRecord => ({
  clientId: 'client-1',
  owner: 'user',
  tenantId: 'tenant-a',
  userId: 'user-1',
  createdByUserId: 'user-1',
  description: 'deploys from CI',
  metadata: { team: 'infra', labels: { env: 'prod' }, tags: ['a', 'b'] },
  roleIds: null,
  permissionIds: null,
  secretHash: 'secret-digest-1',
  createdAt: T0,
  expiresAt: null,
  revokedAt: null,
  ...o,
});

export const tenantApiToken = (o: Partial<ApiTokenRecord> = {}): ApiTokenRecord =>
  userApiToken({ clientId: 'client-t', owner: 'tenant', userId: null, roleIds: ['admin'], permissionIds: null, ...o });

export const userAccessToken = (o: Partial<AccessTokenRecord> = {}): AccessTokenRecord => ({
  id: 'access-1',
  owner: 'user',
  tenantId: 'tenant-a',
  userId: 'user-1',
  createdByUserId: 'user-1',
  description: null,
  roleIds: null,
  permissionIds: null,
  createdAt: T0,
  expiresAt: null,
  revokedAt: null,
  kid: 'key-1',
  ...o,
});

export const tenantAccessToken = (o: Partial<AccessTokenRecord> = {}): AccessTokenRecord =>
  userAccessToken({ id: 'access-t', owner: 'tenant', userId: null, roleIds: ['viewer'], permissionIds: ['reports.read'], ...o });

export const refreshFamily = (o: Partial<RefreshFamilyRecord> = {}): RefreshFamilyRecord => ({
  id: 'family-1',
  clientId: 'client-1',
  createdAt: T0,
  revokedAt: null,
  ...o,
});

export const refreshToken = (o: Partial<RefreshTokenRecord> = {}): RefreshTokenRecord => ({
  hash: 'rt-1',
  familyId: 'family-1',
  clientId: 'client-1',
  createdAt: T0,
  expiresAt: T0 + 30 * DAY,
  usedAt: null,
  revokedAt: null,
  ...o,
});

export const signingKey = (o: Partial<SigningKeyRecord> = {}): SigningKeyRecord => ({
  kid: 'key-1',
  alg: 'RS256',
  publicJwk: { kty: 'RSA', n: 'sXchD', e: 'AQAB', kid: o.kid ?? 'key-1', alg: 'RS256', use: 'sig' },
  privateKeyEnvelope: 'envelope-1',
  createdAt: T0,
  activatesAt: T0 + MINUTE,
  retiredAt: null,
  removeAfter: null,
  ...o,
});

/** client-1 with family-1 holding rt-1: the starting point of every refresh case. */
async function withRefreshToken(store: TokenStore, token: Partial<RefreshTokenRecord> = {}): Promise<void> {
  await store.insertApiToken(userApiToken());
  await store.startRefreshFamily(refreshFamily(), refreshToken(token), 100);
}

const isDeepFrozen = (value: unknown): boolean =>
  value === null || typeof value !== 'object' || (Object.isFrozen(value) && Object.values(value).every(isDeepFrozen));

const tally = (outcomes: readonly RotateOutcome[]): Record<string, number> => {
  const counts: Record<string, number> = {};
  for (const o of outcomes) counts[o.outcome] = (counts[o.outcome] ?? 0) + 1;
  return counts;
};

/**
 * Runs the contract against a driver on database files: each store gets a fresh file in a
 * temporary directory of its own (removed at the end), and is migrated before use.
 */
export function storeContractOnFiles(t: Test, name: string, openFile: (path: string) => TokenStore) {
  const dir = mkdtempSync(join(tmpdir(), 'm2m-store-contract-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  let files = 0;
  return storeContract(t, name, async () => {
    const store = openFile(join(dir, `store-${++files}.db`));
    await store.migrate();
    return store;
  });
}

/** Runs the contract against one driver. `makeStore` must return a fresh, migrated store. */
export function storeContract(t: Test, name: string, makeStore: () => Promise<TokenStore>) {
  const open = async (t: Test): Promise<TokenStore> => {
    const store = await makeStore();
    t.teardown(() => store.close());
    return store;
  };

  return t.test(`TokenStore contract: ${name}`, async (t) => {
    t.test('directory', async (t) => {
      t.test('putTenant creates a tenant once and keeps its first createdAt', async (t) => {
        const store = await open(t);
        t.same(await store.putTenant('tenant-a', T0), { id: 'tenant-a', createdAt: T0 });
        t.same(await store.putTenant('tenant-a', T0 + MINUTE), { id: 'tenant-a', createdAt: T0 }, 'idempotent');
        t.same(await store.getTenant('tenant-a'), { id: 'tenant-a', createdAt: T0 });
        t.equal(await store.getTenant('nobody'), undefined);
      });

      t.test('listTenants is newest first, equal times newest insert first', async (t) => {
        const store = await open(t);
        t.same(await store.listTenants(), []);
        await store.putTenant('old', T0);
        await store.putTenant('new', T0 + 2);
        await store.putTenant('tie-1', T0 + 1);
        await store.putTenant('tie-2', T0 + 1);
        t.same(
          (await store.listTenants()).map((r) => r.id),
          ['new', 'tie-2', 'tie-1', 'old'],
        );
      });

      t.test('putMembership creates the tenant when needed and replaces roles keeping createdAt', async (t) => {
        const store = await open(t);
        t.same(await store.putMembership('tenant-a', 'user-1', ['admin'], T0), {
          tenantId: 'tenant-a',
          userId: 'user-1',
          roleIds: ['admin'],
          createdAt: T0,
          updatedAt: T0,
        });
        t.same(await store.getTenant('tenant-a'), { id: 'tenant-a', createdAt: T0 }, 'tenant created');
        t.same(await store.putMembership('tenant-a', 'user-1', ['viewer', 'billing'], T0 + MINUTE), {
          tenantId: 'tenant-a',
          userId: 'user-1',
          roleIds: ['viewer', 'billing'],
          createdAt: T0,
          updatedAt: T0 + MINUTE,
        });
        t.same((await store.getMembership('tenant-a', 'user-1'))?.roleIds, ['viewer', 'billing']);
        t.same(await store.putMembership('tenant-a', 'user-2', [], T0 + 2 * MINUTE), {
          tenantId: 'tenant-a',
          userId: 'user-2',
          roleIds: [],
          createdAt: T0 + 2 * MINUTE,
          updatedAt: T0 + 2 * MINUTE,
        }, 'no roles is a valid membership');
        t.same(await store.getTenant('tenant-a'), { id: 'tenant-a', createdAt: T0 }, 'existing tenant untouched');
      });

      t.test('memberships are listed per tenant, newest first, and deleted once', async (t) => {
        const store = await open(t);
        await store.putMembership('tenant-a', 'user-1', ['admin'], T0);
        await store.putMembership('tenant-a', 'user-2', ['viewer'], T0 + 1);
        await store.putMembership('tenant-b', 'user-1', ['viewer'], T0 + 2);
        await store.putMembership('tenant-a', 'user-1', ['viewer'], T0 + 3);
        t.same(
          (await store.listMemberships('tenant-a')).map((m) => m.userId),
          ['user-2', 'user-1'],
          'by createdAt: a replace does not make a membership newer',
        );
        t.same(await store.listMemberships('nobody'), []);
        t.equal(await store.getMembership('tenant-a', 'user-3'), undefined);
        t.equal(await store.deleteMembership('tenant-a', 'user-1'), true);
        t.equal(await store.deleteMembership('tenant-a', 'user-1'), false, 'already gone');
        t.equal(await store.deleteMembership('nobody', 'user-1'), false, 'unknown tenant');
        t.equal(await store.getMembership('tenant-a', 'user-1'), undefined);
        t.ok(await store.getMembership('tenant-b', 'user-1'), 'the same user on another tenant stays');
        t.ok(await store.getTenant('tenant-a'), 'deleting a membership keeps the tenant');
      });

      t.test('deleteTenant of an unknown tenant answers false and changes nothing', async (t) => {
        const store = await open(t);
        await store.insertApiToken(userApiToken({ tenantId: 'ghost' }));
        t.equal(await store.deleteTenant('ghost', T0 + MINUTE), false);
        t.equal((await store.getApiToken('client-1'))?.revokedAt, null);
      });

      t.test('deleteTenant removes memberships and revokes every credential on the tenant, and only there', async (t) => {
        const store = await open(t);
        const now = T0 + DAY;
        await store.putMembership('tenant-a', 'user-1', ['admin'], T0);
        await store.putMembership('tenant-b', 'user-1', ['admin'], T0);
        await store.insertApiToken(userApiToken({ clientId: 'a-user' }));
        await store.insertApiToken(tenantApiToken({ clientId: 'a-tenant' }));
        await store.insertApiToken(tenantApiToken({ clientId: 'a-revoked', revokedAt: T0 + 1 }));
        await store.insertApiToken(userApiToken({ clientId: 'b-user', tenantId: 'tenant-b' }));
        await store.insertAccessToken(userAccessToken({ id: 'a-access' }));
        await store.insertAccessToken(tenantAccessToken({ id: 'a-access-t' }));
        await store.insertAccessToken(userAccessToken({ id: 'b-access', tenantId: 'tenant-b' }));
        for (const clientId of ['a-user', 'a-tenant', 'a-revoked', 'b-user']) {
          const familyId = `${clientId}-family`;
          await store.startRefreshFamily(refreshFamily({ id: familyId, clientId }), refreshToken({ hash: `${clientId}-rt`, familyId, clientId }), 100);
        }

        t.equal(await store.deleteTenant('tenant-a', now), true);
        t.equal(await store.getTenant('tenant-a'), undefined);
        t.same(await store.listMemberships('tenant-a'), []);
        t.equal(await store.getMembership('tenant-a', 'user-1'), undefined);
        for (const clientId of ['a-user', 'a-tenant']) {
          t.equal((await store.getApiToken(clientId))?.revokedAt, now, `${clientId} revoked`);
        }
        t.equal((await store.getApiToken('a-revoked'))?.revokedAt, T0 + 1, 'an earlier revocation keeps its time');
        for (const clientId of ['a-user', 'a-tenant', 'a-revoked']) {
          t.equal((await store.getRefreshFamily(`${clientId}-family`))?.revokedAt, now, `${clientId}'s family revoked`);
          t.equal((await store.getRefreshToken(`${clientId}-rt`))?.revokedAt, now, `${clientId}'s refresh token revoked`);
        }
        t.equal((await store.getAccessToken('a-access'))?.revokedAt, now);
        t.equal((await store.getAccessToken('a-access-t'))?.revokedAt, now);
        t.same(await store.listApiTokens({ owner: 'user', tenantId: 'tenant-a' }), []);
        t.same(await store.listAccessTokens({ owner: 'tenant', tenantId: 'tenant-a' }), []);

        t.ok(await store.getTenant('tenant-b'), 'other tenant stays');
        t.ok(await store.getMembership('tenant-b', 'user-1'));
        t.equal((await store.getApiToken('b-user'))?.revokedAt, null);
        t.equal((await store.getRefreshFamily('b-user-family'))?.revokedAt, null);
        t.equal((await store.getRefreshToken('b-user-rt'))?.revokedAt, null);
        t.equal((await store.getAccessToken('b-access'))?.revokedAt, null);

        t.equal(await store.deleteTenant('tenant-a', now + 1), false, 'a second delete finds nothing');
        t.same(await store.putTenant('tenant-a', now + 2), { id: 'tenant-a', createdAt: now + 2 }, 'the id can be used again');
        t.same(await store.listMemberships('tenant-a'), [], 'with no memberships');
        t.equal((await store.getApiToken('a-user'))?.revokedAt, now, 'and its old credentials stay revoked');
      });
    });

    t.test('client-credentials tokens', async (t) => {
      t.test('an inserted token reads back equal, user and tenant kinds alike', async (t) => {
        const store = await open(t);
        for (const record of [userApiToken(), tenantApiToken({ permissionIds: ['a.read'], roleIds: null, expiresAt: T0 + DAY })]) {
          await store.insertApiToken(record);
          t.same(await store.getApiToken(record.clientId), record, record.owner);
        }
        t.equal(await store.getApiToken('nobody'), undefined);
      });

      t.test('metadata is kept as JSON keeps it', async (t) => {
        const store = await open(t);
        await store.insertApiToken(userApiToken({ metadata: { nested: { list: [1, 'two', null, { deep: true }] }, dropped: undefined } }));
        t.strictSame((await store.getApiToken('client-1'))?.metadata, { nested: { list: [1, 'two', null, { deep: true }] } });
      });

      t.test('listApiTokens filters by owner kind, tenant and user, skips revoked, keeps expired, newest first', async (t) => {
        const store = await open(t);
        const records = [
          userApiToken({ clientId: 'u1-old', createdAt: T0 }),
          userApiToken({ clientId: 'u1-new', createdAt: T0 + 2 }),
          userApiToken({ clientId: 'u1-expired', createdAt: T0 + 1, expiresAt: T0 + 1 }),
          userApiToken({ clientId: 'u1-revoked', createdAt: T0 + 3, revokedAt: T0 + 3 }),
          userApiToken({ clientId: 'u2', userId: 'user-2', createdAt: T0 + 1 }),
          userApiToken({ clientId: 'other-tenant', tenantId: 'tenant-b' }),
          tenantApiToken({ clientId: 't1', createdAt: T0 + 5 }),
        ];
        for (const r of records) await store.insertApiToken(r);
        const ids = async (filter: Parameters<TokenStore['listApiTokens']>[0]) => (await store.listApiTokens(filter)).map((r) => r.clientId);
        t.same(await ids({ owner: 'user', tenantId: 'tenant-a' }), ['u1-new', 'u2', 'u1-expired', 'u1-old']);
        t.same(await ids({ owner: 'user', tenantId: 'tenant-a', userId: 'user-1' }), ['u1-new', 'u1-expired', 'u1-old']);
        t.same(await ids({ owner: 'tenant', tenantId: 'tenant-a' }), ['t1']);
        t.same(await ids({ owner: 'tenant', tenantId: 'tenant-a', userId: 'user-1' }), [], 'tenant tokens have no user');
        t.same(await ids({ owner: 'user', tenantId: 'nobody' }), []);
        t.same((await store.listApiTokens({ owner: 'tenant', tenantId: 'tenant-a' }))[0], records[6], 'whole records');
      });

      const patches: { name: string; patch: Parameters<TokenStore['updateApiToken']>[1]; expect: Partial<ApiTokenRecord> }[] = [
        { name: 'an empty patch changes nothing', patch: {}, expect: {} },
        { name: 'undefined members mean unchanged', patch: { description: undefined, metadata: undefined }, expect: {} },
        { name: 'description is replaced', patch: { description: 'nightly' }, expect: { description: 'nightly' } },
        { name: 'null clears the description', patch: { description: null }, expect: { description: null } },
        { name: 'metadata is replaced whole', patch: { metadata: { only: 1 } }, expect: { metadata: { only: 1 } } },
        {
          name: 'roles give way to permissions',
          patch: { roleIds: null, permissionIds: ['x.read'] },
          expect: { roleIds: null, permissionIds: ['x.read'] },
        },
      ];
      for (const { name, patch, expect } of patches) {
        t.test(`updateApiToken: ${name}, and nothing else moves`, async (t) => {
          const store = await open(t);
          const original = tenantApiToken();
          await store.insertApiToken(original);
          const expected = { ...original, ...expect };
          t.same(await store.updateApiToken(original.clientId, patch), expected);
          t.same(await store.getApiToken(original.clientId), expected);
        });
      }

      t.test('updateApiToken answers undefined for an unknown or revoked token', async (t) => {
        const store = await open(t);
        await store.insertApiToken(userApiToken({ revokedAt: T0 }));
        t.equal(await store.updateApiToken('nobody', { description: 'x' }), undefined);
        t.equal(await store.updateApiToken('client-1', { description: 'x' }), undefined);
        t.equal((await store.getApiToken('client-1'))?.description, 'deploys from CI', 'a revoked token is not edited');
      });

      t.test("revokeApiToken revokes once, with its refresh families and their tokens, and no one else's", async (t) => {
        const store = await open(t);
        await store.insertApiToken(userApiToken());
        await store.insertApiToken(userApiToken({ clientId: 'client-2' }));
        await store.startRefreshFamily(refreshFamily({ id: 'f1' }), refreshToken({ hash: 'rt-f1', familyId: 'f1' }), 100);
        await store.startRefreshFamily(refreshFamily({ id: 'f2' }), refreshToken({ hash: 'rt-f2', familyId: 'f2' }), 100);
        await store.startRefreshFamily(
          refreshFamily({ id: 'other', clientId: 'client-2' }),
          refreshToken({ hash: 'rt-other', familyId: 'other', clientId: 'client-2' }),
          100,
        );

        const now = T0 + MINUTE;
        t.equal(await store.revokeApiToken('client-1', now), true);
        t.equal(await store.revokeApiToken('client-1', now + 1), false, 'already revoked');
        t.equal(await store.revokeApiToken('nobody', now), false, 'unknown');
        t.equal((await store.getApiToken('client-1'))?.revokedAt, now, 'the first revocation time stays');
        for (const id of ['f1', 'f2']) t.equal((await store.getRefreshFamily(id))?.revokedAt, now, `family ${id}`);
        for (const hash of ['rt-f1', 'rt-f2']) t.equal((await store.getRefreshToken(hash))?.revokedAt, now, `token ${hash}`);
        t.equal((await store.getRefreshFamily('other'))?.revokedAt, null);
        t.equal((await store.getRefreshToken('rt-other'))?.revokedAt, null);
        t.equal((await store.getApiToken('client-2'))?.revokedAt, null);
      });
    });

    t.test('access tokens', async (t) => {
      t.test('an inserted access token reads back equal, user and tenant kinds alike', async (t) => {
        const store = await open(t);
        for (const record of [userAccessToken({ description: 'laptop', expiresAt: T0 + DAY }), tenantAccessToken()]) {
          await store.insertAccessToken(record);
          t.same(await store.getAccessToken(record.id), record, record.owner);
        }
        t.equal(await store.getAccessToken('nobody'), undefined);
      });

      t.test('listAccessTokens filters by owner kind, tenant and user, skips revoked, newest first', async (t) => {
        const store = await open(t);
        for (const r of [
          userAccessToken({ id: 'u1-old', createdAt: T0 }),
          userAccessToken({ id: 'u1-new', createdAt: T0 + 2, expiresAt: T0 + 2 }),
          userAccessToken({ id: 'u1-revoked', createdAt: T0 + 3, revokedAt: T0 + 4 }),
          userAccessToken({ id: 'u2', userId: 'user-2', createdAt: T0 + 1 }),
          userAccessToken({ id: 'other-tenant', tenantId: 'tenant-b' }),
          tenantAccessToken({ id: 't1' }),
        ]) {
          await store.insertAccessToken(r);
        }
        const ids = async (filter: Parameters<TokenStore['listAccessTokens']>[0]) => (await store.listAccessTokens(filter)).map((r) => r.id);
        t.same(await ids({ owner: 'user', tenantId: 'tenant-a' }), ['u1-new', 'u2', 'u1-old']);
        t.same(await ids({ owner: 'user', tenantId: 'tenant-a', userId: 'user-2' }), ['u2']);
        t.same(await ids({ owner: 'tenant', tenantId: 'tenant-a' }), ['t1']);
        t.same(await ids({ owner: 'tenant', tenantId: 'tenant-b' }), []);
      });

      t.test('revokeAccessToken revokes once and answers false for unknown ids', async (t) => {
        const store = await open(t);
        await store.insertAccessToken(userAccessToken());
        t.equal(await store.revokeAccessToken('access-1', T0 + 5), true);
        t.equal(await store.revokeAccessToken('access-1', T0 + 6), false);
        t.equal(await store.revokeAccessToken('nobody', T0 + 6), false);
        t.equal((await store.getAccessToken('access-1'))?.revokedAt, T0 + 5);
      });

      t.test('listActiveAccessTokenIds skips revoked tokens and tokens expired at now, per owner kind', async (t) => {
        const store = await open(t);
        const now = T0 + DAY;
        for (const r of [
          userAccessToken({ id: 'no-expiry', createdAt: T0 }),
          userAccessToken({ id: 'expires-after-now', createdAt: T0 + 1, expiresAt: now + 1 }),
          userAccessToken({ id: 'expires-at-now', createdAt: T0 + 2, expiresAt: now }),
          userAccessToken({ id: 'expired', createdAt: T0 + 3, expiresAt: now - 1 }),
          userAccessToken({ id: 'revoked', createdAt: T0 + 4, revokedAt: T0 + 5 }),
          userAccessToken({ id: 'other-tenant', tenantId: 'tenant-b', createdAt: T0 + 6 }),
          tenantAccessToken({ id: 'tenant-kind', createdAt: T0 + 7 }),
        ]) {
          await store.insertAccessToken(r);
        }
        t.same(await store.listActiveAccessTokenIds('user', now), ['other-tenant', 'expires-after-now', 'no-expiry']);
        t.same(await store.listActiveAccessTokenIds('tenant', now), ['tenant-kind']);
        await store.revokeAccessToken('no-expiry', now);
        t.same(await store.listActiveAccessTokenIds('user', now), ['other-tenant', 'expires-after-now'], 'revocation applies at once');
        t.same(await store.listActiveAccessTokenIds('user', now + 1), ['other-tenant'], 'expiry is exclusive');
      });

      t.test('the signing kid reads back; a record from before kids were kept has null', async (t) => {
        const store = await open(t);
        for (const record of [userAccessToken({ id: 'signed', kid: 'key-2' }), userAccessToken({ id: 'legacy', kid: null })]) {
          await store.insertAccessToken(record);
          t.same(await store.getAccessToken(record.id), record, record.id);
        }
        for (const [name, kid] of [
          ['an empty kid', ''],
          ['a kid that is no string', 7],
          ['a missing kid', undefined],
        ] as const) {
          await t.rejects(store.insertAccessToken({ ...userAccessToken({ id: 'bad' }), kid } as unknown as AccessTokenRecord), { code: 'ERR_STORE_INVALID' }, name);
        }
        t.equal(await store.getAccessToken('bad'), undefined, 'nothing written');
      });

      t.test('hasLiveAccessTokenSignedBy: a token of that kid neither revoked nor expired at now', async (t) => {
        const now = T0 + DAY;
        const cases: { name: string; tokens: Partial<AccessTokenRecord>[]; live: boolean }[] = [
          { name: 'no token of that kid', tokens: [{ kid: 'other' }, { kid: null }], live: false },
          { name: 'one without expiry', tokens: [{}], live: true },
          { name: 'one expiring after now', tokens: [{ expiresAt: now + 1 }], live: true },
          { name: 'one expiring at now (exclusive)', tokens: [{ expiresAt: now }], live: false },
          { name: 'one expired', tokens: [{ expiresAt: now - 1 }], live: false },
          { name: 'one revoked', tokens: [{ revokedAt: T0 + 1 }], live: false },
          { name: 'one revoked, another live', tokens: [{ revokedAt: T0 + 1 }, { expiresAt: now + DAY }], live: true },
          { name: 'one revoked after now (revocation is not timed)', tokens: [{ revokedAt: now + 1 }], live: false },
        ];
        for (const { name, tokens, live } of cases) {
          const store = await open(t);
          for (const [i, o] of tokens.entries()) await store.insertAccessToken(userAccessToken({ id: `a-${i}`, createdAt: T0 + i, ...o }));
          t.equal(await store.hasLiveAccessTokenSignedBy('key-1', now), live, name);
        }
      });

      t.test('hasLiveAccessTokenSignedBy follows revocation: the last live token of a kid releases it', async (t) => {
        const store = await open(t);
        await store.putTenant('tenant-b', T0);
        await store.insertAccessToken(userAccessToken({ id: 'first' }));
        await store.insertAccessToken(tenantAccessToken({ id: 'second', tenantId: 'tenant-b' }));
        await store.revokeAccessToken('first', T0 + 1);
        t.equal(await store.hasLiveAccessTokenSignedBy('key-1', T0 + 2), true, 'another live token still uses the key');
        t.equal(await store.deleteTenant('tenant-b', T0 + 3), true);
        t.equal(await store.hasLiveAccessTokenSignedBy('key-1', T0 + 4), false, 'a deleted tenant’s tokens are revoked too');
      });

      t.test('newestLiveAccessTokenWithoutKid: the newest createdAt among live tokens without a kid', async (t) => {
        const store = await open(t);
        const now = T0 + DAY;
        t.equal(await store.newestLiveAccessTokenWithoutKid(now), null, 'none at all');
        for (const r of [
          userAccessToken({ id: 'legacy-old', kid: null, createdAt: T0 }),
          userAccessToken({ id: 'legacy-new', kid: null, createdAt: T0 + 10, expiresAt: now + 1 }),
          userAccessToken({ id: 'legacy-expired', kid: null, createdAt: T0 + 20, expiresAt: now }),
          userAccessToken({ id: 'legacy-revoked', kid: null, createdAt: T0 + 30, revokedAt: T0 + 31 }),
          tenantAccessToken({ id: 'signed', createdAt: T0 + 40 }),
        ]) {
          await store.insertAccessToken(r);
        }
        t.equal(await store.newestLiveAccessTokenWithoutKid(now), T0 + 10, 'expired, revoked and signed ones do not count');
        t.equal(await store.newestLiveAccessTokenWithoutKid(now + 1), T0, 'expiry is exclusive');
        await store.revokeAccessToken('legacy-old', now + 2);
        t.equal(await store.newestLiveAccessTokenWithoutKid(now + 2), null, 'the last one revoked');
      });
    });

    t.test('refresh tokens', async (t) => {
      t.test('families and tokens read back equal', async (t) => {
        const store = await open(t);
        await withRefreshToken(store);
        t.same(await store.getRefreshFamily('family-1'), refreshFamily());
        t.same(await store.getRefreshToken('rt-1'), refreshToken());
        t.equal(await store.getRefreshFamily('nobody'), undefined);
        t.equal(await store.getRefreshToken('nobody'), undefined);
      });

      t.test('a family starts with its first token, or with none when refresh tokens are off', async (t) => {
        const store = await open(t);
        await store.insertApiToken(userApiToken());
        await store.startRefreshFamily(refreshFamily({ id: 'no-token' }), null, 100);
        t.same(await store.getRefreshFamily('no-token'), refreshFamily({ id: 'no-token' }));
        await store.startRefreshFamily(refreshFamily({ id: 'family-old' }), refreshToken({ hash: 'rt-old', familyId: 'family-old' }), 1);
        await store.startRefreshFamily(refreshFamily(), refreshToken({ createdAt: T0 + 1 }), 1);
        t.same(await store.getRefreshToken('rt-1'), refreshToken({ createdAt: T0 + 1 }));
        t.equal((await store.getRefreshToken('rt-old'))?.revokedAt, T0 + 1, 'the first token is under the live cap of its credential');
      });

      t.test('revokeRefreshFamily revokes the family and all its tokens once', async (t) => {
        const store = await open(t);
        await withRefreshToken(store);
        await store.insertRefreshToken(refreshToken({ hash: 'rt-used', usedAt: T0 }), 100);
        await store.startRefreshFamily(refreshFamily({ id: 'family-2' }), refreshToken({ hash: 'rt-2', familyId: 'family-2' }), 100);
        t.equal(await store.revokeRefreshFamily('family-1', T0 + 9), true);
        t.equal(await store.revokeRefreshFamily('family-1', T0 + 10), false);
        t.equal(await store.revokeRefreshFamily('nobody', T0 + 10), false);
        t.equal((await store.getRefreshFamily('family-1'))?.revokedAt, T0 + 9);
        t.equal((await store.getRefreshToken('rt-1'))?.revokedAt, T0 + 9);
        t.equal((await store.getRefreshToken('rt-used'))?.revokedAt, T0 + 9, 'used tokens too');
        t.equal((await store.getRefreshToken('rt-2'))?.revokedAt, null, 'other families stay');
      });

      t.test('the live cap: the 101st token revokes the oldest live one, and 100 stay live', async (t) => {
        const store = await open(t);
        await store.insertApiToken(userApiToken());
        await store.startRefreshFamily(refreshFamily(), null, 100);
        for (let i = 0; i < 101; i++) {
          await store.insertRefreshToken(refreshToken({ hash: `rt-${i}`, createdAt: T0 + i }), 100);
        }
        t.equal((await store.getRefreshToken('rt-0'))?.revokedAt, T0 + 100, 'revoked at the newcomer’s createdAt');
        let live = 0;
        for (let i = 1; i < 101; i++) if ((await store.getRefreshToken(`rt-${i}`))?.revokedAt === null) live++;
        t.equal(live, 100);
      });

      t.test('the live cap counts only unused, unrevoked, unexpired tokens of the same client', async (t) => {
        const store = await open(t);
        const at = T0 + DAY;
        await store.insertApiToken(userApiToken());
        await store.insertApiToken(userApiToken({ clientId: 'client-2' }));
        await store.startRefreshFamily(refreshFamily(), null, 100);
        await store.startRefreshFamily(refreshFamily({ id: 'family-2' }), null, 100);
        await store.startRefreshFamily(refreshFamily({ id: 'family-other', clientId: 'client-2' }), null, 100);
        const noise = [
          refreshToken({ hash: 'used', createdAt: T0, usedAt: T0 + 1 }),
          refreshToken({ hash: 'revoked', createdAt: T0, revokedAt: T0 + 1 }),
          refreshToken({ hash: 'expired', createdAt: T0, expiresAt: T0 + 2 }),
          refreshToken({ hash: 'other-client', familyId: 'family-other', clientId: 'client-2', createdAt: T0 }),
        ];
        for (const r of noise) await store.insertRefreshToken(r, 100);
        await store.insertRefreshToken(refreshToken({ hash: 'live-old', createdAt: T0 + 2 }), 2);
        await store.insertRefreshToken(refreshToken({ hash: 'live-mid', familyId: 'family-2', createdAt: T0 + 3 }), 2);
        t.equal((await store.getRefreshToken('live-old'))?.revokedAt, null, 'two live (the expired one no longer counts): within the cap');
        await store.insertRefreshToken(refreshToken({ hash: 'live-new', createdAt: at }), 2);
        t.equal((await store.getRefreshToken('live-old'))?.revokedAt, at, 'oldest live goes, across families');
        t.equal((await store.getRefreshToken('live-mid'))?.revokedAt, null);
        t.equal((await store.getRefreshToken('live-new'))?.revokedAt, null);
        for (const r of noise) t.same(await store.getRefreshToken(r.hash), r, `${r.hash} untouched`);
      });

      t.test('rotation succeeds once and returns the presented token, now used', async (t) => {
        const store = await open(t);
        await withRefreshToken(store);
        const now = T0 + MINUTE;
        const next = refreshToken({ hash: 'rt-2', createdAt: now, expiresAt: now + 30 * DAY });
        t.same(await store.rotateRefreshToken('rt-1', next, 100, now), { outcome: 'rotated', previous: refreshToken({ usedAt: now }) });
        t.same(await store.getRefreshToken('rt-1'), refreshToken({ usedAt: now }));
        t.same(await store.getRefreshToken('rt-2'), next);
        t.same(await store.rotateRefreshToken('rt-2', refreshToken({ hash: 'rt-3', createdAt: now + 1 }), 100, now + 1), {
          outcome: 'rotated',
          previous: { ...next, usedAt: now + 1 },
        }, 'the successor rotates in turn');
      });

      t.test('a second use answers reused and revokes the whole family, its newest token included', async (t) => {
        const store = await open(t);
        await withRefreshToken(store);
        await store.startRefreshFamily(refreshFamily({ id: 'family-2' }), refreshToken({ hash: 'rt-other-family', familyId: 'family-2' }), 100);
        await store.rotateRefreshToken('rt-1', refreshToken({ hash: 'rt-2', createdAt: T0 + 1 }), 100, T0 + 1);
        await store.rotateRefreshToken('rt-2', refreshToken({ hash: 'rt-3', createdAt: T0 + 2 }), 100, T0 + 2);

        const now = T0 + 3;
        t.same(await store.rotateRefreshToken('rt-1', refreshToken({ hash: 'rt-x', createdAt: now }), 100, now), {
          outcome: 'reused',
          familyId: 'family-1',
          clientId: 'client-1',
        });
        t.equal(await store.getRefreshToken('rt-x'), undefined, 'no successor for a replay');
        t.equal((await store.getRefreshFamily('family-1'))?.revokedAt, now);
        for (const hash of ['rt-1', 'rt-2', 'rt-3']) t.equal((await store.getRefreshToken(hash))?.revokedAt, now, `${hash} revoked`);
        t.same(await store.rotateRefreshToken('rt-3', refreshToken({ hash: 'rt-y', createdAt: now + 1 }), 100, now + 1), {
          outcome: 'revoked',
        }, 'the legitimate holder of the newest token is refused too');
        t.same(
          await store.rotateRefreshToken('rt-1', refreshToken({ hash: 'rt-z', createdAt: now + 2 }), 100, now + 2),
          { outcome: 'reused', familyId: 'family-1', clientId: 'client-1' },
          'a replay stays a replay',
        );
        t.equal((await store.getRefreshFamily('family-1'))?.revokedAt, now, 'the first revocation time stays');
        t.equal((await store.getRefreshToken('rt-other-family'))?.revokedAt, null, 'other families of the client stay');
      });

      const refusals: {
        name: string;
        setup: (store: TokenStore) => Promise<void>;
        expect: RotateOutcome;
        afterwards: Partial<RefreshTokenRecord> | undefined;
      }[] = [
        {
          name: 'an unknown hash is unknown',
          setup: async () => {},
          expect: { outcome: 'unknown' },
          afterwards: undefined,
        },
        {
          name: 'a token whose expiry is now is expired, and stays unused',
          setup: (store) => withRefreshToken(store, { expiresAt: T0 + MINUTE }),
          expect: { outcome: 'expired' },
          afterwards: { expiresAt: T0 + MINUTE },
        },
        {
          name: 'a token pushed out by the live cap is revoked',
          setup: async (store) => {
            await withRefreshToken(store);
            await store.insertRefreshToken(refreshToken({ hash: 'rt-newer', createdAt: T0 + 1 }), 1);
          },
          expect: { outcome: 'revoked' },
          afterwards: { revokedAt: T0 + 1 },
        },
        {
          name: 'a token of a revoked family is revoked',
          setup: async (store) => {
            await withRefreshToken(store);
            await store.revokeRefreshFamily('family-1', T0 + 1);
          },
          expect: { outcome: 'revoked' },
          afterwards: { revokedAt: T0 + 1 },
        },
        {
          name: 'a token of a revoked client is revoked',
          setup: async (store) => {
            await withRefreshToken(store);
            await store.revokeApiToken('client-1', T0 + 1);
          },
          expect: { outcome: 'revoked' },
          afterwards: { revokedAt: T0 + 1 },
        },
        {
          name: 'a used token is reused even once expired: reuse is checked first',
          setup: (store) => withRefreshToken(store, { usedAt: T0, expiresAt: T0 + 1 }),
          expect: { outcome: 'reused', familyId: 'family-1', clientId: 'client-1' },
          afterwards: { usedAt: T0, expiresAt: T0 + 1, revokedAt: T0 + MINUTE },
        },
      ];
      for (const { name, setup, expect, afterwards } of refusals) {
        t.test(`rotation: ${name}, and no successor is stored`, async (t) => {
          const store = await open(t);
          await setup(store);
          const now = T0 + MINUTE;
          t.same(await store.rotateRefreshToken('rt-1', refreshToken({ hash: 'rt-next', createdAt: now }), 100, now), expect);
          t.equal(await store.getRefreshToken('rt-next'), undefined);
          t.same(await store.getRefreshToken('rt-1'), afterwards && refreshToken(afterwards));
        });
      }

      t.test('rotation applies the live cap to the successor', async (t) => {
        const store = await open(t);
        await withRefreshToken(store, { createdAt: T0 + 2 });
        await store.insertRefreshToken(refreshToken({ hash: 'rt-oldest', createdAt: T0 }), 3);
        await store.insertRefreshToken(refreshToken({ hash: 'rt-older', createdAt: T0 + 1 }), 3);
        const now = T0 + MINUTE;
        await store.rotateRefreshToken('rt-1', refreshToken({ hash: 'rt-2', createdAt: now }), 3, now);
        t.equal((await store.getRefreshToken('rt-oldest'))?.revokedAt, null, 'the used token no longer counts: 3 live');
        await store.rotateRefreshToken('rt-2', refreshToken({ hash: 'rt-3', createdAt: now + 1 }), 2, now + 1);
        t.equal((await store.getRefreshToken('rt-oldest'))?.revokedAt, now + 1, 'maxLive 2: the oldest goes');
        t.equal((await store.getRefreshToken('rt-older'))?.revokedAt, null);
        t.equal((await store.getRefreshToken('rt-3'))?.revokedAt, null);
      });

      t.test('50 concurrent rotations of one token: exactly one rotated, the rest reused', async (t) => {
        const store = await open(t);
        await withRefreshToken(store);
        const now = T0 + MINUTE;
        const outcomes = await Promise.all(
          Array.from({ length: 50 }, (_, i) => store.rotateRefreshToken('rt-1', refreshToken({ hash: `rt-next-${i}`, createdAt: now }), 100, now)),
        );
        t.same(tally(outcomes), { rotated: 1, reused: 49 });
        const successors = [];
        for (let i = 0; i < 50; i++) {
          const r = await store.getRefreshToken(`rt-next-${i}`);
          if (r) successors.push(r);
        }
        t.equal(successors.length, 1, 'one successor stored');
        t.equal(successors[0]?.revokedAt, now, 'and revoked with its family, since the token was replayed');
        t.equal((await store.getRefreshFamily('family-1'))?.revokedAt, now);
      });
    });

    t.test('signing keys', async (t) => {
      t.test('keys are inserted, listed newest first, updated and deleted', async (t) => {
        const store = await open(t);
        t.same(await store.listSigningKeys(), []);
        const old = signingKey({ kid: 'old', createdAt: T0 });
        const current = signingKey({ kid: 'current', alg: 'ES256', createdAt: T0 + DAY });
        await store.insertSigningKey(old);
        await store.insertSigningKey(current);
        t.same(await store.listSigningKeys(), [current, old]);

        const retired = await store.updateSigningKey('old', { retiredAt: T0 + DAY, removeAfter: T0 + 2 * DAY });
        t.same(retired, { ...old, retiredAt: T0 + DAY, removeAfter: T0 + 2 * DAY });
        t.same(await store.updateSigningKey('old', { removeAfter: T0 + 3 * DAY }), { ...old, retiredAt: T0 + DAY, removeAfter: T0 + 3 * DAY }, 'undefined is unchanged');
        t.same(await store.updateSigningKey('old', { retiredAt: null, removeAfter: null }), old, 'null clears');
        t.equal(await store.updateSigningKey('nobody', { retiredAt: T0 }), undefined);

        t.equal(await store.deleteSigningKey('old'), true);
        t.equal(await store.deleteSigningKey('old'), false);
        t.same(await store.listSigningKeys(), [current]);
      });
    });

    t.test('refusals', async (t) => {
      const cases: {
        name: string;
        act: (store: TokenStore) => Promise<unknown>;
        code: string;
        unchanged?: (store: TokenStore, t: Test) => Promise<unknown>;
      }[] = [
        {
          name: 'a second api token with the same clientId conflicts',
          act: async (store) => {
            await store.insertApiToken(userApiToken());
            await store.insertApiToken(tenantApiToken({ clientId: 'client-1' }));
          },
          code: 'ERR_STORE_CONFLICT',
          unchanged: async (store, t) => t.same(await store.getApiToken('client-1'), userApiToken()),
        },
        {
          name: 'a second access token with the same id conflicts',
          act: async (store) => {
            await store.insertAccessToken(userAccessToken());
            await store.insertAccessToken(userAccessToken({ description: 'again' }));
          },
          code: 'ERR_STORE_CONFLICT',
          unchanged: async (store, t) => t.same(await store.getAccessToken('access-1'), userAccessToken()),
        },
        {
          name: 'a second refresh family with the same id conflicts',
          act: async (store) => {
            await withRefreshToken(store);
            await store.startRefreshFamily(refreshFamily({ createdAt: T0 + 1 }), null, 100);
          },
          code: 'ERR_STORE_CONFLICT',
        },
        {
          name: 'a refresh family of an unknown client is refused',
          act: (store) => store.startRefreshFamily(refreshFamily(), null, 100),
          code: 'ERR_STORE_REFERENCE',
          unchanged: async (store, t) => t.equal(await store.getRefreshFamily('family-1'), undefined),
        },
        ...[
          { name: 'whose hash exists', token: refreshToken({ familyId: 'family-2' }), code: 'ERR_STORE_CONFLICT' },
          { name: 'of another family', token: refreshToken({ hash: 'rt-2' }), code: 'ERR_STORE_REFERENCE' },
          { name: 'of another client', token: refreshToken({ hash: 'rt-2', familyId: 'family-2', clientId: 'client-2' }), code: 'ERR_STORE_REFERENCE' },
          { name: 'under maxLive 0', token: refreshToken({ hash: 'rt-2', familyId: 'family-2' }), code: 'ERR_STORE_INVALID', maxLive: 0 },
        ].map(({ name, token, code, maxLive }) => ({
          name: `a new family whose first token is refused (${name}) is not started either`,
          act: async (store: TokenStore) => {
            await withRefreshToken(store);
            await store.insertApiToken(userApiToken({ clientId: 'client-2' }));
            await store.startRefreshFamily(refreshFamily({ id: 'family-2' }), token, maxLive ?? 100);
          },
          code,
          unchanged: async (store: TokenStore, t: Test) => {
            t.equal(await store.getRefreshFamily('family-2'), undefined, 'no family');
            t.same(await store.getRefreshToken('rt-1'), refreshToken(), 'the existing token is untouched');
            t.equal(await store.getRefreshToken('rt-2'), undefined, 'no token');
          },
        })),
        {
          name: 'a second refresh token with the same hash conflicts',
          act: async (store) => {
            await withRefreshToken(store);
            await store.insertRefreshToken(refreshToken({ createdAt: T0 + 1 }), 100);
          },
          code: 'ERR_STORE_CONFLICT',
          unchanged: async (store, t) => t.same(await store.getRefreshToken('rt-1'), refreshToken()),
        },
        {
          name: 'a refresh token of an unknown family is refused',
          act: async (store) => {
            await store.insertApiToken(userApiToken());
            await store.insertRefreshToken(refreshToken(), 100);
          },
          code: 'ERR_STORE_REFERENCE',
          unchanged: async (store, t) => t.equal(await store.getRefreshToken('rt-1'), undefined),
        },
        {
          name: "a refresh token in another client's family is refused",
          act: async (store) => {
            await withRefreshToken(store);
            await store.insertApiToken(userApiToken({ clientId: 'client-2' }));
            await store.insertRefreshToken(refreshToken({ hash: 'rt-2', clientId: 'client-2' }), 100);
          },
          code: 'ERR_STORE_REFERENCE',
          unchanged: async (store, t) => t.equal(await store.getRefreshToken('rt-2'), undefined),
        },
        ...[0, -1, 1.5, Number.NaN].map((maxLive) => ({
          name: `maxLive ${maxLive} is refused`,
          act: async (store: TokenStore) => {
            await withRefreshToken(store);
            await store.insertRefreshToken(refreshToken({ hash: 'rt-2' }), maxLive);
          },
          code: 'ERR_STORE_INVALID',
          unchanged: async (store: TokenStore, t: Test) => t.equal(await store.getRefreshToken('rt-2'), undefined),
        })),
        {
          name: 'a successor in another family is refused and the presented token stays unused',
          act: async (store) => {
            await withRefreshToken(store);
            await store.startRefreshFamily(refreshFamily({ id: 'family-2' }), null, 100);
            await store.rotateRefreshToken('rt-1', refreshToken({ hash: 'rt-2', familyId: 'family-2' }), 100, T0 + 1);
          },
          code: 'ERR_STORE_INVALID',
          unchanged: async (store, t) => {
            t.same(await store.getRefreshToken('rt-1'), refreshToken());
            t.equal(await store.getRefreshToken('rt-2'), undefined);
          },
        },
        {
          name: 'a successor whose hash exists is refused and the presented token stays unused',
          act: async (store) => {
            await withRefreshToken(store);
            await store.insertRefreshToken(refreshToken({ hash: 'rt-2' }), 100);
            await store.rotateRefreshToken('rt-1', refreshToken({ hash: 'rt-2', createdAt: T0 + 1 }), 100, T0 + 1);
          },
          code: 'ERR_STORE_CONFLICT',
          unchanged: async (store, t) => {
            t.same(await store.getRefreshToken('rt-1'), refreshToken());
            t.same(await store.getRefreshToken('rt-2'), refreshToken({ hash: 'rt-2' }));
          },
        },
        {
          name: 'a successor with a bad maxLive is refused and the presented token stays unused',
          act: async (store) => {
            await withRefreshToken(store);
            await store.rotateRefreshToken('rt-1', refreshToken({ hash: 'rt-2', createdAt: T0 + 1 }), 0, T0 + 1);
          },
          code: 'ERR_STORE_INVALID',
          unchanged: async (store, t) => t.same(await store.getRefreshToken('rt-1'), refreshToken()),
        },
        {
          name: 'a second signing key with the same kid conflicts',
          act: async (store) => {
            await store.insertSigningKey(signingKey());
            await store.insertSigningKey(signingKey({ alg: 'ES256' }));
          },
          code: 'ERR_STORE_CONFLICT',
          unchanged: async (store, t) => t.same(await store.listSigningKeys(), [signingKey()]),
        },
        {
          name: 'metadata that JSON cannot hold is refused',
          act: (store) => store.insertApiToken(userApiToken({ metadata: { big: 1n } })),
          code: 'ERR_STORE_INVALID',
          unchanged: async (store, t) => t.equal(await store.getApiToken('client-1'), undefined),
        },
        {
          name: 'a public JWK that is not an object is refused',
          act: (store) => store.insertSigningKey(signingKey({ publicJwk: ['not', 'an', 'object'] as unknown as Record<string, unknown> })),
          code: 'ERR_STORE_INVALID',
          unchanged: async (store, t) => t.same(await store.listSigningKeys(), []),
        },
        {
          name: 'a patch with metadata JSON cannot hold is refused',
          act: async (store) => {
            await store.insertApiToken(userApiToken());
            await store.updateApiToken('client-1', { metadata: { big: 1n } });
          },
          code: 'ERR_STORE_INVALID',
          unchanged: async (store, t) => t.same(await store.getApiToken('client-1'), userApiToken()),
        },
      ];
      for (const { name, act, code, unchanged } of cases) {
        t.test(`${name}: ${code}`, async (t) => {
          const store = await open(t);
          await t.rejects(act(store), { code });
          await unchanged?.(store, t);
        });
      }
    });

    t.test('records', async (t) => {
      const kinds: {
        name: string;
        insert: (store: TokenStore) => Promise<unknown>;
        read: (store: TokenStore) => Promise<unknown>;
        /** Reading consumes it (a rotation): only the first read can be checked. */
        once?: true;
      }[] = [
        { name: 'tenant', insert: (s) => s.putTenant('tenant-a', T0), read: async (s) => (await s.listTenants())[0] },
        {
          name: 'membership',
          insert: (s) => s.putMembership('tenant-a', 'user-1', ['admin'], T0),
          read: (s) => s.getMembership('tenant-a', 'user-1'),
        },
        { name: 'api token', insert: (s) => s.insertApiToken(userApiToken()), read: (s) => s.getApiToken('client-1') },
        {
          name: 'listed api token',
          insert: (s) => s.insertApiToken(tenantApiToken()),
          read: async (s) => (await s.listApiTokens({ owner: 'tenant', tenantId: 'tenant-a' }))[0],
        },
        { name: 'access token', insert: (s) => s.insertAccessToken(tenantAccessToken()), read: (s) => s.getAccessToken('access-t') },
        { name: 'refresh family', insert: (s) => withRefreshToken(s), read: (s) => s.getRefreshFamily('family-1') },
        { name: 'refresh token', insert: (s) => withRefreshToken(s), read: (s) => s.getRefreshToken('rt-1') },
        {
          name: 'rotated refresh token',
          insert: (s) => withRefreshToken(s),
          read: async (s) => {
            const r = await s.rotateRefreshToken('rt-1', refreshToken({ hash: 'rt-2', createdAt: T0 + 1 }), 100, T0 + 1);
            return r.outcome === 'rotated' ? r.previous : undefined;
          },
          once: true,
        },
        { name: 'signing key', insert: (s) => s.insertSigningKey(signingKey()), read: async (s) => (await s.listSigningKeys())[0] },
      ];
      for (const { name, insert, read, once } of kinds) {
        t.test(`a returned ${name} is deeply frozen and a fresh object on every read`, async (t) => {
          const store = await open(t);
          await insert(store);
          const first = await read(store);
          t.ok(first, 'found');
          t.ok(isDeepFrozen(first), 'deeply frozen');
          const again = await read(store);
          if (!once) {
            t.not(again, first, 'not the same object');
            t.same(again, first);
          }
        });
      }

      t.test("the caller's objects are copied on the way in", async (t) => {
        const store = await open(t);
        const metadata = { team: 'infra', labels: { env: 'prod' } };
        const roleIds = ['admin'];
        const record = { ...userApiToken({ metadata, roleIds }) } as { -readonly [K in keyof ApiTokenRecord]: ApiTokenRecord[K] };
        await store.insertApiToken(record);
        const membershipRoles = ['viewer'];
        await store.putMembership('tenant-a', 'user-1', membershipRoles, T0);
        const jwk = { kty: 'OKP', crv: 'Ed25519', x: 'abc' };
        await store.insertSigningKey(signingKey({ publicJwk: jwk }));

        metadata.labels.env = 'dev';
        roleIds.push('root');
        record.description = 'changed';
        membershipRoles.push('root');
        jwk.x = 'evil';
        t.ok(!Object.isFrozen(metadata), "the caller's object is not frozen by the store");
        t.same(await store.getApiToken('client-1'), userApiToken({ metadata: { team: 'infra', labels: { env: 'prod' } }, roleIds: ['admin'] }));
        t.same((await store.getMembership('tenant-a', 'user-1'))?.roleIds, ['viewer']);
        t.same((await store.listSigningKeys())[0]?.publicJwk, { kty: 'OKP', crv: 'Ed25519', x: 'abc' });
      });

      t.test('properties outside the record type are not stored', async (t) => {
        const store = await open(t);
        await store.insertAccessToken({ ...userAccessToken(), jwt: 'eyJ.never.stored' } as AccessTokenRecord);
        t.same(await store.getAccessToken('access-1'), userAccessToken());
        t.notOk('jwt' in ((await store.getAccessToken('access-1')) ?? {}));
      });
    });

    t.test('lifecycle', async (t) => {
      t.test('migrate is idempotent on a migrated store and keeps the data', async (t) => {
        const store = await open(t);
        await store.putTenant('tenant-a', T0);
        await store.migrate();
        await store.migrate();
        t.same(await store.listTenants(), [{ id: 'tenant-a', createdAt: T0 }]);
      });

      t.test('a closed store refuses every call with ERR_STORE_CLOSED; closing twice is fine', async (t) => {
        const store = await makeStore();
        await t.resolves(store.ping(), 'an open store answers a ping');
        await store.close();
        await store.close();
        const calls: [string, () => Promise<unknown>][] = [
          ['migrate', () => store.migrate()],
          ['ping', () => store.ping()],
          ['putTenant', () => store.putTenant('a', T0)],
          ['getTenant', () => store.getTenant('a')],
          ['listTenants', () => store.listTenants()],
          ['deleteTenant', () => store.deleteTenant('a', T0)],
          ['putMembership', () => store.putMembership('a', 'u', [], T0)],
          ['getMembership', () => store.getMembership('a', 'u')],
          ['listMemberships', () => store.listMemberships('a')],
          ['deleteMembership', () => store.deleteMembership('a', 'u')],
          ['insertApiToken', () => store.insertApiToken(userApiToken())],
          ['getApiToken', () => store.getApiToken('c')],
          ['listApiTokens', () => store.listApiTokens({ owner: 'user', tenantId: 'a' })],
          ['updateApiToken', () => store.updateApiToken('c', {})],
          ['revokeApiToken', () => store.revokeApiToken('c', T0)],
          ['insertAccessToken', () => store.insertAccessToken(userAccessToken())],
          ['getAccessToken', () => store.getAccessToken('a')],
          ['listAccessTokens', () => store.listAccessTokens({ owner: 'user', tenantId: 'a' })],
          ['revokeAccessToken', () => store.revokeAccessToken('a', T0)],
          ['listActiveAccessTokenIds', () => store.listActiveAccessTokenIds('user', T0)],
          ['startRefreshFamily', () => store.startRefreshFamily(refreshFamily(), refreshToken(), 100)],
          ['hasLiveAccessTokenSignedBy', () => store.hasLiveAccessTokenSignedBy('k', T0)],
          ['newestLiveAccessTokenWithoutKid', () => store.newestLiveAccessTokenWithoutKid(T0)],
          ['getRefreshFamily', () => store.getRefreshFamily('f')],
          ['insertRefreshToken', () => store.insertRefreshToken(refreshToken(), 100)],
          ['rotateRefreshToken', () => store.rotateRefreshToken('h', refreshToken(), 100, T0)],
          ['getRefreshToken', () => store.getRefreshToken('h')],
          ['revokeRefreshFamily', () => store.revokeRefreshFamily('f', T0)],
          ['insertSigningKey', () => store.insertSigningKey(signingKey())],
          ['listSigningKeys', () => store.listSigningKeys()],
          ['updateSigningKey', () => store.updateSigningKey('k', {})],
          ['deleteSigningKey', () => store.deleteSigningKey('k')],
        ];
        for (const [method, call] of calls) await t.rejects(call(), { code: 'ERR_STORE_CLOSED' }, method);
      });
    });
  });
}
