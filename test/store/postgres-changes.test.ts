/**
 * The PostgreSQL change feed: what each write publishes, that only commits are delivered, that
 * schemas sharing a database do not hear each other, and that the listener survives a lost
 * session. Every wait is for an event; a marker write published last proves nothing came before it.
 */
import t, { type Test } from 'tap';
import pg from 'pg';
import { createLogger } from '../../src/log.js';
import { CHANGE_LISTENER_APPLICATION_NAME, createPostgresChangeListener, type PostgresChangeListener } from '../../src/store/postgres-changes.js';
import { changeChannel, createPostgresStore } from '../../src/store/postgres.js';
import type { StoreChange, StoreChangeEvent, TokenStore } from '../../src/store/types.js';
import { createLogSink, leakedSecrets, type LogSink } from '../helpers/log-sink.js';
import { withTestDatabase } from '../helpers/postgres.js';
import { startTcpRelay } from '../helpers/tcp-relay.js';
import { T0, refreshFamily, refreshToken, signingKey, userAccessToken, userApiToken } from '../helpers/store-contract.js';
import { waitFor } from '../helpers/wait.js';

const database = await withTestDatabase(t);

/** The listener connects with a password (trust auth ignores it) that must never reach a log line. */
// The listener's URL always carries a password (the throwaway server's own; a placeholder that
// trust authentication ignores otherwise), so the tests can show that no log line contains it.
const listenerUrl = (() => {
  const url = new URL(database.url);
  if (url.password === '') url.password = 'listener-password-never-logged';
  return url.toString();
})();
const LISTENER_PASSWORD = decodeURIComponent(new URL(listenerUrl).password);

/** Items in arrival order; `next()` waits for the next one. */
interface Inbox<T> {
  push(item: T): void;
  next(): Promise<T>;
  readonly count: number;
}

function inbox<T>(): Inbox<T> {
  const items: T[] = [];
  const waiting: ((item: T) => void)[] = [];
  let count = 0;
  return {
    push(item) {
      count += 1;
      const waiter = waiting.shift();
      if (waiter === undefined) items.push(item);
      else waiter(item);
    },
    next: () => (items.length > 0 ? Promise.resolve(items.shift()!) : new Promise<T>((resolve) => waiting.push(resolve))),
    get count() {
      return count;
    },
  };
}

interface Feed {
  readonly schema: string;
  readonly store: TokenStore;
  readonly listener: PostgresChangeListener;
  readonly changes: Inbox<StoreChangeEvent>;
  readonly resets: Inbox<true>;
  readonly log: LogSink;
}

/**
 * A migrated store on a fresh schema and a started listener for it. `before` runs before the
 * listener starts, so what it publishes is never heard.
 */
async function openFeed(
  t: Test,
  options: {
    before?: (store: TokenStore) => Promise<unknown>;
    reconnectDelayMs?: { min: number; max: number };
    url?: string;
    heartbeat?: { intervalMs: number; timeoutMs: number };
  } = {},
): Promise<Feed> {
  const schema = await database.newSchema();
  const store = createPostgresStore({ connectionString: database.url, schema });
  t.teardown(() => store.close());
  await store.migrate();
  await options.before?.(store);
  const changes = inbox<StoreChangeEvent>();
  const resets = inbox<true>();
  const log = createLogSink();
  const listener = createPostgresChangeListener(
    {
      connectionString: options.url ?? listenerUrl,
      schema,
      reconnectDelayMs: options.reconnectDelayMs ?? { min: 10, max: 200 },
      ...(options.heartbeat === undefined ? {} : { heartbeat: options.heartbeat }),
    },
    {
      log: createLogger({ level: 'debug', destination: log.stream }),
      handlers: { onChange: (event) => changes.push(event), onReset: () => resets.push(true) },
    },
  );
  t.teardown(() => listener.close());
  await listener.start();
  return { schema, store, listener, changes, resets, log };
}

/** A write no case makes otherwise: published last, its event proves nothing else was pending. */
const MARKER: StoreChange = { kind: 'membership', tenantId: 'tenant-marker', userId: 'user-marker' };
const writeMarker = (store: TokenStore) => store.putMembership(MARKER.tenantId, MARKER.userId, [], T0);

/** The next event is `change`, committed just now by the server's clock. */
async function expectChange(t: Test, feed: Feed, change: StoreChange, message: string): Promise<void> {
  const event = await feed.changes.next();
  t.same(event.change, change, message);
  t.ok(Math.abs(event.committedAt - Date.now()) < 5000, `${message}: committedAt is the commit time`);
}

/** Terminates the listener's session from outside, as a failover or an administrator would. */
async function terminateListener(schema: string): Promise<number> {
  const admin = new pg.Client({ connectionString: database.url });
  await admin.connect();
  try {
    const result = await admin.query(
      'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND application_name = $1 AND query = $2',
      [CHANGE_LISTENER_APPLICATION_NAME, `LISTEN ${pg.escapeIdentifier(changeChannel(schema))}`],
    );
    return result.rowCount ?? 0;
  } finally {
    await admin.end();
  }
}

/** client-1 with family-1 holding rt-1. */
const withRefreshFamily = async (store: TokenStore) => {
  await store.insertApiToken(userApiToken());
  await store.startRefreshFamily(refreshFamily(), refreshToken(), 100);
};

const CASES: readonly {
  name: string;
  before: (store: TokenStore) => Promise<unknown>;
  write: (store: TokenStore) => Promise<unknown>;
  change: StoreChange;
}[] = [
  {
    name: 'revokeApiToken publishes the credential',
    before: withRefreshFamily,
    write: (store) => store.revokeApiToken('client-1', T0 + 1),
    change: { kind: 'apiToken', clientId: 'client-1' },
  },
  {
    name: 'updateApiToken publishes the credential',
    before: (store) => store.insertApiToken(userApiToken()),
    write: (store) => store.updateApiToken('client-1', { description: 'rotated by ops' }),
    change: { kind: 'apiToken', clientId: 'client-1' },
  },
  {
    name: 'revokeAccessToken publishes the token',
    before: (store) => store.insertAccessToken(userAccessToken()),
    write: (store) => store.revokeAccessToken('access-1', T0 + 1),
    change: { kind: 'accessToken', id: 'access-1' },
  },
  {
    name: 'revokeRefreshFamily publishes the family',
    before: withRefreshFamily,
    write: (store) => store.revokeRefreshFamily('family-1', T0 + 1),
    change: { kind: 'refreshFamily', familyId: 'family-1' },
  },
  {
    name: 'a reused refresh token publishes its revoked family',
    before: async (store) => {
      await withRefreshFamily(store);
      await store.rotateRefreshToken('rt-1', refreshToken({ hash: 'rt-2', createdAt: T0 + 1 }), 100, T0 + 1);
    },
    write: (store) => store.rotateRefreshToken('rt-1', refreshToken({ hash: 'rt-3', createdAt: T0 + 2 }), 100, T0 + 2),
    change: { kind: 'refreshFamily', familyId: 'family-1' },
  },
  {
    name: 'putMembership publishes the membership',
    before: (store) => store.putTenant('tenant-a', T0),
    write: (store) => store.putMembership('tenant-a', 'user-1', ['admin'], T0 + 1),
    change: { kind: 'membership', tenantId: 'tenant-a', userId: 'user-1' },
  },
  {
    name: 'putMembership replacing roles publishes the membership',
    before: (store) => store.putMembership('tenant-a', 'user-1', ['admin'], T0),
    write: (store) => store.putMembership('tenant-a', 'user-1', ['viewer'], T0 + 1),
    change: { kind: 'membership', tenantId: 'tenant-a', userId: 'user-1' },
  },
  {
    name: 'deleteMembership publishes the membership',
    before: (store) => store.putMembership('tenant-a', 'user-1', ['admin'], T0),
    write: (store) => store.deleteMembership('tenant-a', 'user-1'),
    change: { kind: 'membership', tenantId: 'tenant-a', userId: 'user-1' },
  },
  {
    name: 'deleteTenant publishes the tenant',
    before: async (store) => {
      await store.putMembership('tenant-a', 'user-1', ['admin'], T0);
      await withRefreshFamily(store);
      await store.insertAccessToken(userAccessToken());
    },
    write: (store) => store.deleteTenant('tenant-a', T0 + 1),
    change: { kind: 'tenant', tenantId: 'tenant-a' },
  },
  {
    name: 'insertSigningKey publishes the key set',
    before: async () => undefined,
    write: (store) => store.insertSigningKey(signingKey()),
    change: { kind: 'signingKeys' },
  },
  {
    name: 'updateSigningKey publishes the key set',
    before: (store) => store.insertSigningKey(signingKey()),
    write: (store) => store.updateSigningKey('key-1', { retiredAt: T0 + 1 }),
    change: { kind: 'signingKeys' },
  },
  {
    name: 'deleteSigningKey publishes the key set',
    before: (store) => store.insertSigningKey(signingKey()),
    write: (store) => store.deleteSigningKey('key-1'),
    change: { kind: 'signingKeys' },
  },
];

t.test('each revoking write delivers exactly its change', async (t) => {
  for (const c of CASES) {
    t.test(c.name, async (t) => {
      const feed = await openFeed(t, { before: c.before });
      await c.write(feed.store);
      await writeMarker(feed.store);
      await expectChange(t, feed, c.change, 'the write');
      await expectChange(t, feed, MARKER, 'then the marker, and nothing between');
    });
  }
});

t.test('writes that only add deliver nothing', async (t) => {
  const feed = await openFeed(t);
  await feed.store.putTenant('tenant-a', T0);
  await feed.store.insertApiToken(userApiToken());
  await feed.store.startRefreshFamily(refreshFamily(), refreshToken(), 100);
  await feed.store.insertRefreshToken(refreshToken({ hash: 'rt-2', createdAt: T0 + 1 }), 100);
  t.equal((await feed.store.rotateRefreshToken('rt-1', refreshToken({ hash: 'rt-3', createdAt: T0 + 2 }), 100, T0 + 2)).outcome, 'rotated');
  await feed.store.insertAccessToken(userAccessToken());
  await writeMarker(feed.store);
  await expectChange(t, feed, MARKER, 'the first event is the marker');
});

t.test('writes that change nothing deliver nothing', async (t) => {
  const feed = await openFeed(t, {
    before: async (store) => {
      await withRefreshFamily(store);
      await store.insertAccessToken(userAccessToken());
      await store.revokeApiToken('client-1', T0 + 1);
      await store.revokeAccessToken('access-1', T0 + 1);
    },
  });
  t.equal(await feed.store.revokeApiToken('client-1', T0 + 2), false, 'already revoked');
  t.equal(await feed.store.updateApiToken('client-1', { description: 'too late' }), undefined, 'revoked credentials are not patched');
  t.equal(await feed.store.revokeAccessToken('access-1', T0 + 2), false, 'already revoked');
  t.equal(await feed.store.revokeRefreshFamily('family-1', T0 + 2), false, 'revoked with its credential');
  t.equal(await feed.store.deleteMembership('tenant-a', 'nobody'), false);
  t.equal(await feed.store.deleteTenant('no-such-tenant', T0 + 2), false);
  t.equal(await feed.store.updateSigningKey('no-such-key', { retiredAt: T0 }), undefined);
  t.equal(await feed.store.deleteSigningKey('no-such-key'), false);
  await writeMarker(feed.store);
  await expectChange(t, feed, MARKER, 'the first event is the marker');
});

t.test('nothing is delivered for a write that rolls back', async (t) => {
  const feed = await openFeed(t, { before: (store) => store.insertSigningKey(signingKey()) });
  // Refused by a deferred constraint at COMMIT: the transaction has already published its change.
  const admin = new pg.Client({ connectionString: database.url, options: `-c search_path=${feed.schema}` });
  await admin.connect();
  t.teardown(() => admin.end());
  await admin.query(`CREATE FUNCTION refuse_at_commit() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN RAISE EXCEPTION 'refused at commit' USING ERRCODE = '23514'; END $$`);
  await admin.query(`CREATE CONSTRAINT TRIGGER refuse_at_commit AFTER INSERT OR UPDATE ON memberships
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION refuse_at_commit()`);
  await t.rejects(feed.store.putMembership('tenant-a', 'user-1', ['admin'], T0), { code: 'ERR_STORE_INVALID' });
  await t.rejects(feed.store.insertSigningKey(signingKey()), { code: 'ERR_STORE_CONFLICT' }, 'a duplicate key');
  t.same(await feed.store.rotateRefreshToken('rt-unknown', refreshToken({ hash: 'rt-2' }), 100, T0), { outcome: 'unknown' });
  // The marker here is a signing key: memberships are refused in this schema now.
  await feed.store.insertSigningKey(signingKey({ kid: 'key-marker' }));
  await expectChange(t, feed, { kind: 'signingKeys' }, 'the first event is the marker');
});

t.test('stores on two schemas of one database do not hear each other', async (t) => {
  const a = await openFeed(t, { before: (store) => store.insertAccessToken(userAccessToken()) });
  const b = await openFeed(t, { before: (store) => store.insertAccessToken(userAccessToken()) });
  t.not(changeChannel(a.schema), changeChannel(b.schema));
  await a.store.revokeAccessToken('access-1', T0 + 1);
  await writeMarker(b.store);
  await writeMarker(a.store);
  await expectChange(t, b, MARKER, 'b hears only its own marker');
  await expectChange(t, a, { kind: 'accessToken', id: 'access-1' }, 'a hears its own write');
  await expectChange(t, a, MARKER, 'then its own marker');
});

t.test('a lost session reconnects, resets, and delivers again', async (t) => {
  const feed = await openFeed(t, { before: (store) => store.insertAccessToken(userAccessToken()) });
  t.equal(feed.listener.connected(), true);
  t.equal(await terminateListener(feed.schema), 1, 'the listening session was found and terminated');
  await feed.resets.next();
  t.equal(feed.listener.connected(), true, 'listening again');
  await feed.store.revokeAccessToken('access-1', T0 + 1);
  await expectChange(t, feed, { kind: 'accessToken', id: 'access-1' }, 'a write after the reconnect');

  const messages = feed.log.entries().map((entry) => `${String(entry.level)} ${String(entry.msg)}`);
  t.same(messages, ['info store change feed listening', 'warn store change feed lost; reconnecting', 'info store change feed reconnected; resetting']);
  t.same(leakedSecrets(feed.log.lines(), [LISTENER_PASSWORD]), [], 'no log line carries the password');
});

t.test('a session that goes silent is found by the heartbeat, replaced, and resets', async (t) => {
  const relay = await startTcpRelay(t, new URL(listenerUrl));
  const feed = await openFeed(t, { url: relay.url, heartbeat: { intervalMs: 50, timeoutMs: 250 }, before: (store) => store.insertAccessToken(userAccessToken()) });
  t.equal(relay.silenceAll(), 1, 'the listening session is cut off without a word');
  await feed.resets.next();
  t.equal(feed.listener.connected(), true, 'listening again on a new session');
  await feed.store.revokeAccessToken('access-1', T0 + 1);
  await expectChange(t, feed, { kind: 'accessToken', id: 'access-1' }, 'a write after the reconnect');
  t.ok(
    feed.log.entries().some((entry) => entry.msg === 'store change feed lost; reconnecting' && /no answer within 250 ms/.test(String(entry.err))),
    'the heartbeat found it',
  );
});

t.test('a malformed event is logged and resets', async (t) => {
  const payloads = [
    'not json',
    JSON.stringify({ change: { kind: 'somethingNew' }, committedAt: T0 }),
    JSON.stringify({ change: { kind: 'accessToken' }, committedAt: T0 }),
    JSON.stringify({ change: { kind: 'signingKeys' } }),
  ];
  const feed = await openFeed(t);
  const publisher = new pg.Client({ connectionString: database.url });
  await publisher.connect();
  t.teardown(() => publisher.end());
  for (const payload of payloads) await publisher.query('SELECT pg_notify($1, $2)', [changeChannel(feed.schema), payload]);
  for (let i = 0; i < payloads.length; i += 1) await feed.resets.next();
  await writeMarker(feed.store);
  await expectChange(t, feed, MARKER, 'no malformed event reached onChange');
  t.equal(feed.log.entries().filter((entry) => entry.msg === 'malformed store change event; resetting').length, payloads.length);
  t.equal(feed.listener.connected(), true, 'still listening');
});

t.test('a handler that throws does not stop the feed', async (t) => {
  const schema = await database.newSchema();
  const store = createPostgresStore({ connectionString: database.url, schema });
  t.teardown(() => store.close());
  await store.migrate();
  const changes = inbox<StoreChangeEvent>();
  const listener = createPostgresChangeListener(
    { connectionString: database.url, schema },
    {
      log: createLogger({ level: 'silent' }),
      handlers: {
        onChange(event) {
          changes.push(event);
          throw new Error('cache exploded');
        },
        onReset: () => undefined,
      },
    },
  );
  t.teardown(() => listener.close());
  await listener.start();
  await store.insertSigningKey(signingKey());
  await writeMarker(store);
  t.same((await changes.next()).change, { kind: 'signingKeys' });
  t.same((await changes.next()).change, MARKER);
  t.equal(listener.connected(), true);
});

t.test('start rejects with ERR_STORE_UNAVAILABLE when the first connection fails', async (t) => {
  const unreachable = new URL(database.url);
  unreachable.port = '1';
  const listener = createPostgresChangeListener(
    { connectionString: unreachable.toString() },
    { log: createLogger({ level: 'silent' }), handlers: { onChange: () => undefined, onReset: () => undefined } },
  );
  t.teardown(() => listener.close());
  await t.rejects(listener.start(), { code: 'ERR_STORE_UNAVAILABLE' });
  t.equal(listener.connected(), false);
});

t.test('close is idempotent and stops reconnecting', async (t) => {
  const delay = 500;
  const feed = await openFeed(t, { reconnectDelayMs: { min: delay, max: delay } });
  t.equal(await terminateListener(feed.schema), 1);
  await waitFor('the listener to notice the loss', () => !feed.listener.connected());
  await Promise.all([feed.listener.close(), feed.listener.close()]);
  await feed.listener.close();
  await t.rejects(feed.listener.start(), { code: 'ERR_STORE_CLOSED' }, 'start after close');
  // Proving an absence takes time: longer than any reconnect the closed listener could have scheduled.
  await new Promise((resolve) => setTimeout(resolve, 2 * delay));
  t.equal(feed.resets.count, 0, 'no reconnect after close');
  t.equal(feed.listener.connected(), false);
  t.equal(await terminateListener(feed.schema), 0, 'no listening session left');
});

t.test('channel names', async (t) => {
  const longest = `s${'x'.repeat(62)}`;
  const cases: readonly [string, string | undefined, string][] = [
    ['the default schema has the plain channel', undefined, 'm2m_gateway_changes'],
    ['a schema names its channel', 'tenant_store', 'm2m_gateway_changes_tenant_store'],
  ];
  for (const [name, schema, channel] of cases) t.equal(changeChannel(schema), channel, name);
  t.ok(changeChannel(longest).length <= 63, 'a schema name too long for an identifier is shortened');
  t.not(changeChannel(longest), changeChannel(`${longest.slice(0, -1)}y`), 'to a digest, so two long names still differ');
  t.throws(() => changeChannel('Robert"; DROP'), { code: 'ERR_STORE_INVALID' }, 'a schema that is not a plain identifier is refused');
});

t.test('a store whose schema name is as long as PostgreSQL allows publishes and listens', async (t) => {
  const schema = `s${'x'.repeat(62)}`;
  const admin = new pg.Client({ connectionString: database.url });
  await admin.connect();
  t.teardown(() => admin.end());
  await admin.query(`CREATE SCHEMA ${schema}`);
  const store = createPostgresStore({ connectionString: database.url, schema });
  t.teardown(() => store.close());
  await store.migrate();
  const changes = inbox<StoreChangeEvent>();
  const listener = createPostgresChangeListener(
    { connectionString: database.url, schema },
    { log: createLogger({ level: 'silent' }), handlers: { onChange: (event) => changes.push(event), onReset: () => undefined } },
  );
  t.teardown(() => listener.close());
  await listener.start();
  await store.insertSigningKey(signingKey());
  t.same((await changes.next()).change, { kind: 'signingKeys' });
});
