/**
 * What only the SQLite driver has: a file on disk (its permissions, what a dump of it reveals,
 * reopening it), migrations and their version table, and several connections on one file.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import Database from 'better-sqlite3';
import t, { type Test } from 'tap';
import { assertMigrationList, pendingMigrations, type Migration } from '../../src/store/migrations.js';
import { SQLITE_MIGRATIONS } from '../../src/store/sqlite-migrations.js';
import { createSqliteStore, REVOKE_BEYOND_LIVE } from '../../src/store/sqlite.js';
import type { RotateOutcome, TokenStore } from '../../src/store/types.js';
import { refreshFamily, refreshToken, T0, userAccessToken, userApiToken } from '../helpers/store-contract.js';
import type { RaceInput } from '../helpers/sqlite-race-worker.js';

const MINUTE = 60_000;

function tempDir(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'm2m-sqlite-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function openStore(t: Test, path: string, options: { busyTimeoutMs?: number } = {}): Promise<TokenStore> {
  const store = createSqliteStore({ path, ...options });
  t.teardown(() => store.close());
  await store.migrate();
  return store;
}

/** A second, raw connection: what an operator (or an attacker with the file) sees. */
function rawConnection(t: Test, path: string): Database.Database {
  const db = new Database(path, { readonly: true });
  t.teardown(() => db.close());
  return db;
}

const mode = (path: string): number => statSync(path).mode & 0o777;

t.test('files', async (t) => {
  t.test('a new database gets 0600 in new 0700 directories, and so do its -wal and -shm files', async (t) => {
    const dir = tempDir(t);
    const path = join(dir, 'nested', 'deeper', 'store.db');
    const store = await openStore(t, path);
    await store.putTenant('tenant-a', T0);
    t.equal(mode(join(dir, 'nested')), 0o700);
    t.equal(mode(join(dir, 'nested', 'deeper')), 0o700);
    t.equal(mode(path), 0o600);
    for (const suffix of ['-wal', '-shm']) {
      t.ok(existsSync(path + suffix), `${suffix} exists in WAL mode`);
      t.equal(mode(path + suffix), 0o600, `${suffix} is private too`);
    }
  });

  t.test('the database is in WAL mode and the pragma persists in the file', async (t) => {
    const path = join(tempDir(t), 'store.db');
    await openStore(t, path);
    t.equal(rawConnection(t, path).pragma('journal_mode', { simple: true }), 'wal');
  });

  t.test('reopening a file keeps its data, with or without migrate()', async (t) => {
    const path = join(tempDir(t), 'store.db');
    const first = createSqliteStore({ path });
    await first.migrate();
    await first.putMembership('tenant-a', 'user-1', ['admin'], T0);
    await first.insertApiToken(userApiToken());
    await first.close();

    const again = createSqliteStore({ path });
    t.teardown(() => again.close());
    t.same(await again.getMembership('tenant-a', 'user-1'), { tenantId: 'tenant-a', userId: 'user-1', roleIds: ['admin'], createdAt: T0, updatedAt: T0 });
    await again.migrate();
    t.same(await again.getApiToken('client-1'), userApiToken());
  });

  t.test('a file that is not a database fails closed at open', async (t) => {
    const path = join(tempDir(t), 'not-a.db');
    writeFileSync(path, 'this is not SQLite, just text long enough to be read as a header of a database file...........');
    t.throws(() => createSqliteStore({ path }), { code: 'ERR_STORE_UNAVAILABLE' });
  });
});

t.test('migrations', async (t) => {
  t.test('migrate records each version once in schema_migrations and is idempotent', async (t) => {
    const path = join(tempDir(t), 'store.db');
    const store = await openStore(t, path);
    await store.migrate();
    await store.migrate();
    const other = await openStore(t, path);
    await other.migrate();
    t.same(
      rawConnection(t, path).prepare('SELECT version, name FROM schema_migrations ORDER BY version').all(),
      SQLITE_MIGRATIONS.map(({ version, name }) => ({ version, name })),
    );
  });

  t.test('the schema has the tables and an index for every list and filter', async (t) => {
    const path = join(tempDir(t), 'store.db');
    await openStore(t, path);
    const names = (type: string) =>
      rawConnection(t, path)
        .prepare<[string], { name: string }>("SELECT name FROM sqlite_master WHERE type = ? AND name NOT LIKE 'sqlite_%' ORDER BY name")
        .all(type)
        .map((r) => r.name);
    t.same(names('table'), ['access_tokens', 'api_tokens', 'memberships', 'refresh_families', 'refresh_tokens', 'schema_migrations', 'signing_keys', 'tenants']);
    t.same(names('index'), [
      'access_tokens_active',
      'access_tokens_by_tenant',
      'access_tokens_by_user',
      'access_tokens_live_by_kid',
      'api_tokens_by_tenant',
      'api_tokens_by_user',
      'memberships_by_tenant',
      'refresh_families_by_client',
      'refresh_tokens_by_family',
      'refresh_tokens_live_by_expiry',
      'signing_keys_by_created',
      'tenants_by_created',
    ]);
  });

  t.test('the live cap seeks live tokens on a covering index, never walking expired ones or the table', async (t) => {
    const path = join(tempDir(t), 'store.db');
    await openStore(t, path);
    const plan = rawConnection(t, path)
      .prepare<{ client: string; at: number; keep: number }, { detail: string }>(`EXPLAIN QUERY PLAN ${REVOKE_BEYOND_LIVE}`)
      .all({ client: 'client-1', at: T0, keep: 100 })
      .map((r) => r.detail);
    t.ok(
      plan.includes('SEARCH refresh_tokens USING COVERING INDEX refresh_tokens_live_by_expiry (client_id=? AND expires_at>?)'),
      plan.join('\n'),
    );
    t.notOk(plan.some((detail) => detail.startsWith('SCAN')), 'no scan');
  });

  t.test('a file at version 1 migrates to the live-cap index and keeps its tokens under the cap', async (t) => {
    const path = join(tempDir(t), 'store.db');
    const old = new Database(path);
    old.exec(SQLITE_MIGRATIONS[0]!.sql);
    old.exec("CREATE TABLE schema_migrations (version INTEGER NOT NULL PRIMARY KEY, name TEXT NOT NULL) STRICT; INSERT INTO schema_migrations VALUES (1, 'initial')");
    old.close();
    const store = createSqliteStore({ path });
    t.teardown(() => store.close());
    await t.rejects(store.getRefreshToken('rt-1'), { code: 'ERR_STORE_NOT_MIGRATED' });
    await store.migrate();
    await store.insertApiToken(userApiToken());
    await store.startRefreshFamily(refreshFamily(), refreshToken(), 1);
    await store.startRefreshFamily(refreshFamily({ id: 'family-2' }), refreshToken({ hash: 'rt-2', familyId: 'family-2', createdAt: T0 + 1 }), 1);
    t.equal((await store.getRefreshToken('rt-1'))?.revokedAt, T0 + 1);
    t.equal((await store.getRefreshToken('rt-2'))?.revokedAt, null);
  });

  t.test('a file at the initial schema gains the access-token kid; its existing tokens have none', async (t) => {
    const path = join(tempDir(t), 'store.db');
    const db = new Database(path);
    db.exec(SQLITE_MIGRATIONS[0]!.sql);
    db.exec("CREATE TABLE schema_migrations (version INTEGER NOT NULL PRIMARY KEY, name TEXT NOT NULL) STRICT; INSERT INTO schema_migrations VALUES (1, 'initial')");
    db.prepare(
      `INSERT INTO access_tokens (id, owner, tenant_id, user_id, created_by_user_id, description, role_ids, permission_ids, created_at, expires_at, revoked_at)
       VALUES ('before', 'user', 'tenant-a', 'user-1', 'user-1', NULL, NULL, NULL, ?, NULL, NULL)`,
    ).run(T0);
    db.close();
    const store = createSqliteStore({ path });
    t.teardown(() => store.close());
    await t.rejects(store.getAccessToken('before'), { code: 'ERR_STORE_NOT_MIGRATED' }, 'the old schema is not used as it is');
    await store.migrate();
    t.same(await store.getAccessToken('before'), userAccessToken({ id: 'before', kid: null }));
    t.equal(await store.newestLiveAccessTokenWithoutKid(T0 + 1), T0, 'it counts as signed by an unknown key');
    t.equal(await store.hasLiveAccessTokenSignedBy('key-1', T0 + 1), false);
    t.same(
      rawConnection(t, path).prepare('SELECT version, name FROM schema_migrations ORDER BY version').all(),
      SQLITE_MIGRATIONS.map(({ version, name }) => ({ version, name })),
    );
  });

  t.test('a store on an unmigrated file refuses calls until migrate()', async (t) => {
    const path = join(tempDir(t), 'store.db');
    const store = createSqliteStore({ path });
    t.teardown(() => store.close());
    await t.rejects(store.listTenants(), { code: 'ERR_STORE_NOT_MIGRATED' });
    await store.migrate();
    t.same(await store.listTenants(), []);
  });

  t.test('a file migrated by a newer or diverging build is refused', async (t) => {
    const cases = [
      { name: 'a newer version', sql: "INSERT INTO schema_migrations (version, name) VALUES (99, 'from the future')" },
      { name: 'a renamed version', sql: "UPDATE schema_migrations SET name = 'someone else' WHERE version = 1" },
    ];
    for (const { name, sql } of cases) {
      const path = join(tempDir(t), 'store.db');
      const first = createSqliteStore({ path });
      await first.migrate();
      await first.close();
      const db = new Database(path);
      db.exec(sql);
      db.close();
      const store = createSqliteStore({ path });
      t.teardown(() => store.close());
      await t.rejects(store.migrate(), { code: 'ERR_STORE_SCHEMA' }, `${name}: migrate`);
      await t.rejects(store.getTenant('a'), { code: 'ERR_STORE_SCHEMA' }, `${name}: calls`);
    }
  });

  t.test('planning: every applied version must be known; a known one missing below an applied one is still pending', async (t) => {
    const known: Migration[] = [
      { version: 1, name: 'initial', sql: '' },
      { version: 2, name: 'second', sql: '' },
      { version: 3, name: 'third', sql: '' },
    ];
    const applied = (...versions: number[]) => versions.map((v) => ({ version: v, name: known[v - 1]!.name }));
    const cases: { name: string; applied: { version: number; name: string }[]; pending?: number[]; code?: string }[] = [
      { name: 'nothing applied: everything pending', applied: [], pending: [1, 2, 3] },
      { name: 'the first applied: the rest pending, in order', applied: applied(1), pending: [2, 3] },
      { name: 'all applied, in any order: nothing pending', applied: applied(3, 1, 2), pending: [] },
      { name: 'a parallel branch’s version missing below an applied one is pending', applied: applied(1, 3), pending: [2] },
      { name: 'an unknown later version is refused', applied: [...applied(1, 2, 3), { version: 4, name: 'fourth' }], code: 'ERR_STORE_SCHEMA' },
      { name: 'an unknown version inside a gap is refused', applied: [{ version: 1, name: 'initial' }, { version: 2, name: 'other branch' }], code: 'ERR_STORE_SCHEMA' },
      { name: 'a renamed version is refused', applied: [{ version: 1, name: 'other' }], code: 'ERR_STORE_SCHEMA' },
      { name: 'a history without the base schema is refused', applied: applied(2), code: 'ERR_STORE_SCHEMA' },
    ];
    for (const { name, applied, pending, code } of cases) {
      if (code) t.throws(() => pendingMigrations(known, applied), { code }, name);
      else t.same(pendingMigrations(known, applied).map((m) => m.version), pending, name);
    }
  });

  t.test('a migration list: versions increase, gaps allowed', async (t) => {
    const list = (...versions: number[]) => versions.map((version) => ({ version, name: `v${version}`, sql: '' }));
    t.same(assertMigrationList(list(1, 3)).map((m) => m.version), [1, 3], 'a gap left for a parallel branch');
    for (const [name, versions] of [
      ['a repeated version', [1, 1]],
      ['a decreasing version', [2, 1]],
      ['version 0', [0, 1]],
      ['a fractional version', [1, 1.5]],
    ] as const) {
      t.throws(() => assertMigrationList(list(...versions)), /expected a whole number above/, name);
    }
  });
});

t.test('secrets at rest (security case 34): a dump of the file holds digests, never secrets', async (t) => {
  const path = join(tempDir(t), 'store.db');
  const serverKey = randomBytes(32);
  const digest = (value: string) => createHmac('sha256', serverKey).update(value).digest('base64url');
  const newSecret = () => randomBytes(32);
  const clientSecret = newSecret();
  const refreshTokens = [newSecret(), newSecret()];
  const accessJwt = `eyJhbGciOiJSUzI1NiJ9.${randomBytes(48).toString('base64url')}.${randomBytes(64).toString('base64url')}`;
  // Every form a secret could leak in: as sent (base64url), and its hex and raw bytes.
  const forms = (secret: Buffer) => [Buffer.from(secret.toString('base64url')), Buffer.from(secret.toString('hex')), secret];
  const plaintexts = [
    ...forms(clientSecret).map((bytes) => ({ name: 'client secret', bytes })),
    ...refreshTokens.flatMap((secret, i) => forms(secret).map((bytes) => ({ name: `refresh token ${i}`, bytes }))),
    { name: 'access-token JWT', bytes: Buffer.from(accessJwt) },
  ];
  const digests = [digest(clientSecret.toString('base64url')), ...refreshTokens.map((r) => digest(r.toString('base64url')))];

  const store = createSqliteStore({ path });
  await store.migrate();
  await store.insertApiToken(userApiToken({ secretHash: digests[0]! }));
  await store.startRefreshFamily(refreshFamily(), refreshToken({ hash: digests[1]! }), 100);
  await store.rotateRefreshToken(digests[1]!, refreshToken({ hash: digests[2]!, createdAt: T0 + 1 }), 100, T0 + 1);
  // The token service holds the JWT when it records an access token; the record must drop it.
  await store.insertAccessToken({ ...userAccessToken(), jwt: accessJwt } as ReturnType<typeof userAccessToken>);

  const dump = () => Buffer.concat([path, `${path}-wal`].filter(existsSync).map((p) => readFileSync(p)));
  const check = (stage: string) => {
    const bytes = dump();
    for (const { name, bytes: secret } of plaintexts) t.equal(bytes.indexOf(secret), -1, `${stage}: no ${name}`);
    for (const d of digests) t.not(bytes.indexOf(Buffer.from(d)), -1, `${stage}: digest ${d.slice(0, 6)}… is there`);
  };
  check('open, with the WAL');
  await store.close();
  check('closed and checkpointed');
});

t.test('several connections on one file', async (t) => {
  const seed = async (store: TokenStore, hashes: readonly string[]) => {
    await store.insertApiToken(userApiToken());
    for (const hash of hashes) {
      await store.startRefreshFamily(refreshFamily({ id: `family-${hash}` }), refreshToken({ hash, familyId: `family-${hash}` }), 100);
    }
  };

  t.test('two store instances interleaving rotations of one token: exactly one rotated', async (t) => {
    const path = join(tempDir(t), 'store.db');
    const a = await openStore(t, path);
    const b = await openStore(t, path);
    await seed(a, ['rt-1']);
    const now = T0 + MINUTE;
    const outcomes = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        (i % 2 ? a : b).rotateRefreshToken('rt-1', refreshToken({ hash: `next-${i}`, familyId: 'family-rt-1', createdAt: now }), 100, now),
      ),
    );
    t.same(outcomes.map((o) => o.outcome).sort(), [...Array<string>(19).fill('reused'), 'rotated']);
    t.equal((await b.getRefreshFamily('family-rt-1'))?.revokedAt, now, 'the replay revoked the family for both connections');
  });

  t.test('threads racing on their own connections: each token rotates exactly once', async (t) => {
    const path = join(tempDir(t), 'store.db');
    const store = await openStore(t, path);
    // 100 tokens: with maxLive 100 the live count stays at 100 throughout, so the cap revokes none.
    const hashes = Array.from({ length: 100 }, (_, i) => `rt-${i}`);
    await seed(store, hashes);
    const now = T0 + MINUTE;
    // Two worker threads and this thread, each on its own connection. Worker start-up is slow
    // (each loads the TypeScript sources), so few threads and many tokens per race.
    const workers = 2;
    const barrier = new SharedArrayBuffer(8);
    const flags = new Int32Array(barrier);
    const workerUrl = new URL('../helpers/sqlite-race-worker.ts', import.meta.url);
    const results = Array.from({ length: workers }, (_, racer) => {
      const input: RaceInput = { path, racer, hashes, now, barrier };
      const worker = new Worker(workerUrl, { workerData: input });
      return new Promise<RotateOutcome['outcome'][]>((resolve, reject) => {
        worker.once('message', resolve);
        worker.once('error', reject);
        worker.once('exit', (code) => code !== 0 && reject(new Error(`racer ${racer} exited with ${code}`)));
      });
    });
    while (Atomics.load(flags, 0) < workers) await new Promise((resolve) => setTimeout(resolve, 5));
    // Start everyone at once, so the rotations really contend for the write lock.
    Atomics.store(flags, 1, 1);
    Atomics.notify(flags, 1);
    const mine: RotateOutcome['outcome'][] = [];
    for (const hash of hashes) {
      const next = refreshToken({ hash: `${hash}-next-main`, familyId: `family-${hash}`, createdAt: now });
      mine.push((await store.rotateRefreshToken(hash, next, 100, now)).outcome);
    }
    const byRacer = [...(await Promise.all(results)), mine];

    const wrong = hashes.filter((_, i) => {
      const outcomes = byRacer.map((o) => o[i]);
      return outcomes.filter((o) => o === 'rotated').length !== 1 || outcomes.filter((o) => o === 'reused').length !== workers;
    });
    t.same(wrong, [], `each of ${hashes.length} tokens: one rotated, ${workers} reused`);
    t.ok(
      byRacer.every((outcomes) => outcomes.length === hashes.length),
      'every racer answered for every token',
    );
    // Which racer wins is up to the scheduler, so it is not asserted: exactly-once is.
  });
});

t.test('a write lock held beyond the busy timeout fails closed with ERR_STORE_UNAVAILABLE', async (t) => {
  const path = join(tempDir(t), 'store.db');
  const store = await openStore(t, path, { busyTimeoutMs: 50 });
  await store.insertApiToken(userApiToken());
  const holder = new Database(path);
  t.teardown(() => holder.close());
  holder.exec('BEGIN IMMEDIATE');
  await t.rejects(store.revokeApiToken('client-1', T0 + 1), { code: 'ERR_STORE_UNAVAILABLE' });
  t.equal((await store.getApiToken('client-1'))?.revokedAt, null, 'readers still read under WAL');
  holder.exec('ROLLBACK');
  t.equal(await store.revokeApiToken('client-1', T0 + 2), true, 'and the store recovers once the lock is released');
});

t.test('durability: every commit is FULL but refresh-token issuance and rotation, which are NORMAL', async (t) => {
  const path = join(tempDir(t), 'store.db');
  // The file is in WAL mode already: SQLite's build default would open it with NORMAL.
  await (await openStore(t, path)).close();
  const settings: string[] = [];
  const connections = new Set<Database.Database>();
  const exec = Database.prototype.exec;
  Database.prototype.exec = function (this: Database.Database, sql: string) {
    if (sql.startsWith('PRAGMA synchronous')) {
      settings.push(sql.slice('PRAGMA synchronous = '.length));
      connections.add(this);
    }
    return exec.call(this, sql);
  };
  t.teardown(() => {
    Database.prototype.exec = exec;
  });
  const synchronous = () => [...connections].map((db) => db.pragma('synchronous', { simple: true }));
  const FULL = [2];

  const store = await openStore(t, path);
  t.same(settings.splice(0), ['FULL'], 'FULL is set explicitly at open');
  t.same(synchronous(), FULL);
  await store.insertApiToken(userApiToken());
  await store.startRefreshFamily(refreshFamily(), refreshToken(), 100);
  t.same(settings.splice(0), ['NORMAL', 'FULL'], 'an exchange commits NORMAL, then FULL is back');
  const now = T0 + MINUTE;
  await store.rotateRefreshToken('rt-1', refreshToken({ hash: 'rt-2', createdAt: now }), 100, now);
  t.same(settings.splice(0), ['NORMAL', 'FULL'], 'a rotation commits NORMAL');
  t.same(await store.rotateRefreshToken('rt-1', refreshToken({ hash: 'rt-3', createdAt: now }), 100, now + 1), {
    outcome: 'reused',
    familyId: 'family-1',
    clientId: 'client-1',
  });
  t.same(settings.splice(0), ['NORMAL', 'FULL'], 'a replay is found under NORMAL without writing…');
  t.equal((await store.getRefreshFamily('family-1'))?.revokedAt, now + 1, '…and the family is revoked in a FULL transaction');
  t.equal((await store.getRefreshToken('rt-2'))?.revokedAt, now + 1);
  await store.revokeApiToken('client-1', now + 2);
  await store.putMembership('tenant-a', 'user-1', ['admin'], now + 2);
  t.same(settings, [], 'revocations and directory writes never switch away from FULL');
  t.same(synchronous(), FULL);
});
