/**
 * What only a shared database shows: several processes (here, several pools) on one schema.
 */
import t, { type Test } from 'tap';
import pg from 'pg';
import { createPostgresStore } from '../../src/store/postgres.js';
import { isLiveRefreshToken } from '../../src/store/records.js';
import type { TokenStore } from '../../src/store/types.js';
import { withTestDatabase } from '../helpers/postgres.js';
import { startTcpRelay } from '../helpers/tcp-relay.js';
import { T0, refreshFamily, refreshToken, userApiToken } from '../helpers/store-contract.js';

const database = await withTestDatabase(t);
const { url } = database;

/** Two stores on one fresh schema: two gateway processes sharing a database. */
const twoProcesses = async (t: Test): Promise<[TokenStore, TokenStore]> => {
  const schema = await database.newSchema();
  const stores: [TokenStore, TokenStore] = [
    createPostgresStore({ connectionString: url, schema, poolSize: 10 }),
    createPostgresStore({ connectionString: url, schema, poolSize: 10 }),
  ];
  t.teardown(() => Promise.all(stores.map((s) => s.close())));
  return stores;
};

t.test('two processes migrating at once apply each version once', async (t) => {
  const [a, b] = await twoProcesses(t);
  await Promise.all([a.migrate(), b.migrate(), a.migrate(), b.migrate()]);
  await a.putTenant('tenant-a', T0);
  t.same(await b.getTenant('tenant-a'), { id: 'tenant-a', createdAt: T0 });
});

t.test('50 concurrent rotations of one token from two processes: exactly one rotated', async (t) => {
  const [a, b] = await twoProcesses(t);
  await a.migrate();
  await a.insertApiToken(userApiToken());
  await a.startRefreshFamily(refreshFamily(), refreshToken(), 100);
  const outcomes = await Promise.all(
    Array.from({ length: 50 }, (_, i) =>
      (i % 2 === 0 ? a : b).rotateRefreshToken('rt-1', refreshToken({ hash: `rt-next-${i}`, createdAt: T0 + 1 }), 100, T0 + 1),
    ),
  );
  const counts = outcomes.reduce<Record<string, number>>((acc, o) => ({ ...acc, [o.outcome]: (acc[o.outcome] ?? 0) + 1 }), {});
  t.same(counts, { rotated: 1, reused: 49 });
  t.not((await a.getRefreshFamily('family-1'))?.revokedAt, null, 'the replays revoked the family');
});

t.test('concurrent issuance from two processes never leaves more than maxLive live tokens', async (t) => {
  const [a, b] = await twoProcesses(t);
  await a.migrate();
  await a.insertApiToken(userApiToken());
  await a.startRefreshFamily(refreshFamily(), null, 5);
  const hashes = Array.from({ length: 40 }, (_, i) => `rt-${i}`);
  await Promise.all(hashes.map((hash, i) => (i % 2 === 0 ? a : b).insertRefreshToken(refreshToken({ hash, createdAt: T0 + i }), 5)));
  const tokens = await Promise.all(hashes.map((hash) => a.getRefreshToken(hash)));
  const live = tokens.filter((token) => token !== undefined && isLiveRefreshToken(token, T0 + 40));
  t.equal(live.length, 5);
});

t.test('a schema that was never migrated is refused with ERR_STORE_NOT_MIGRATED', async (t) => {
  const store = createPostgresStore({ connectionString: url, schema: await database.newSchema() });
  t.teardown(() => store.close());
  await t.rejects(store.getTenant('tenant-a'), { code: 'ERR_STORE_NOT_MIGRATED' });
});

t.test('an unreachable database fails closed with ERR_STORE_UNAVAILABLE', async (t) => {
  const unreachable = new URL(url);
  unreachable.port = '1';
  const store = createPostgresStore({ connectionString: unreachable.toString(), connectTimeoutMs: 1000 });
  t.teardown(() => store.close());
  await t.rejects(store.migrate(), { code: 'ERR_STORE_UNAVAILABLE' });
  await t.rejects(store.getTenant('tenant-a'), { code: 'ERR_STORE_UNAVAILABLE' });
});

t.test('a statement beyond the statement timeout fails closed with ERR_STORE_UNAVAILABLE', async (t) => {
  const schema = await database.newSchema();
  const store = createPostgresStore({ connectionString: url, schema, statementTimeoutMs: 200 });
  t.teardown(() => store.close());
  await store.migrate();
  await store.insertApiToken(userApiToken());
  await store.startRefreshFamily(refreshFamily(), refreshToken(), 100);
  // Another process holds the credential's lock: the rotation waits, then gives up.
  const other = new pg.Client({ connectionString: url, options: `-c search_path=${schema}` });
  await other.connect();
  t.teardown(() => other.end());
  await other.query('BEGIN');
  await other.query("SELECT 1 FROM api_tokens WHERE client_id = 'client-1' FOR NO KEY UPDATE");
  await t.rejects(store.rotateRefreshToken('rt-1', refreshToken({ hash: 'rt-2', createdAt: T0 + 1 }), 100, T0 + 1), {
    code: 'ERR_STORE_UNAVAILABLE',
  });
  await other.query('ROLLBACK');
  t.same(await store.getRefreshToken('rt-1'), refreshToken(), 'the presented token stays unused');
});

t.test('a database that stops answering fails each call closed after the statement timeout, and the store recovers', async (t) => {
  const schema = await database.newSchema();
  const relay = await startTcpRelay(t, new URL(database.url));
  const store = createPostgresStore({ connectionString: relay.url, schema, statementTimeoutMs: 500, connectTimeoutMs: 500 });
  t.teardown(() => store.close());
  await store.migrate();
  await store.ping();
  relay.setMode('blackhole');
  // Pooled connections go silent and new ones never answer: no server-side timeout can fire.
  const outcomes = await Promise.all(
    Array.from({ length: 3 }, () =>
      store.ping().then(
        () => 'answered',
        (err: unknown) => (err as { code?: string }).code,
      ),
    ),
  );
  t.strictSame(outcomes, ['ERR_STORE_UNAVAILABLE', 'ERR_STORE_UNAVAILABLE', 'ERR_STORE_UNAVAILABLE'], 'every call fails closed instead of waiting forever');
  relay.setMode('pass');
  await store.ping();
  t.pass('answers again once the database does');
});
