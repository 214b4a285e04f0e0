/**
 * What the SQLite store's own thread adds to the driver (the contract suite in sqlite.test.ts
 * covers the answers): the event loop goes on while a call waits for the database, calls are
 * answered in order and none is lost at close, and a database that cannot be opened fails every
 * call closed.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import t, { type Test } from 'tap';
import { createSqliteStore } from '../../src/store/sqlite.js';
import { createSqliteThreadStore } from '../../src/store/sqlite-thread.js';
import { refreshToken, T0, tenantApiToken } from '../helpers/store-contract.js';

function tempDir(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'm2m-sqlite-thread-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

t.test('a call waiting for the write lock leaves the event loop free', async (t) => {
  const path = join(tempDir(t), 'store.db');
  const store = createSqliteThreadStore({ path, busyTimeoutMs: 30_000 });
  t.teardown(() => store.close());
  await store.migrate();

  // Another connection holds the write lock, and only a timer on this event loop releases it. On
  // the event loop, the insert would wait out the busy timeout with the timer unable to fire,
  // then fail; on the store's thread, the timer fires and the insert goes through.
  const other = new Database(path);
  t.teardown(() => other.close());
  other.exec('BEGIN IMMEDIATE');
  let released = false;
  const timer = setTimeout(() => {
    released = true;
    other.exec('COMMIT');
  }, 100);
  t.teardown(() => clearTimeout(timer));

  await store.insertApiToken(tenantApiToken({ clientId: 'waited' }));
  t.ok(released, 'the lock was released by this event loop while the call waited');
  t.equal((await store.getApiToken('waited'))?.clientId, 'waited');
});

t.test('calls are answered in the order made, and close answers every call made before it', async (t) => {
  const path = join(tempDir(t), 'store.db');
  const store = createSqliteThreadStore({ path });
  await store.migrate();
  const order: number[] = [];
  const calls = Array.from({ length: 200 }, (_, i) => store.insertApiToken(tenantApiToken({ clientId: `client-${i}`, createdAt: T0 + i })).then(() => order.push(i)));
  await store.close();
  await Promise.all(calls);
  t.same(order, Array.from({ length: 200 }, (_, i) => i));
  await t.rejects(store.getApiToken('client-0'), { code: 'ERR_STORE_CLOSED' }, 'a call after close is refused');

  const again = createSqliteStore({ path });
  t.teardown(() => again.close());
  await again.migrate();
  t.equal((await again.listApiTokens({ owner: 'tenant', tenantId: tenantApiToken().tenantId })).length, 200, 'all 200 acknowledged inserts are in the file');
});

t.test('answers are frozen records and errors keep their store code', async (t) => {
  const store = createSqliteThreadStore({ path: ':memory:' });
  t.teardown(() => store.close());
  await store.migrate();
  await store.insertApiToken(tenantApiToken({ clientId: 'one' }));
  const record = await store.getApiToken('one');
  t.ok(Object.isFrozen(record) && Object.isFrozen(record?.metadata), 'a record from the thread is deep-frozen like the driver’s');
  await t.rejects(store.insertApiToken(tenantApiToken({ clientId: 'one' })), { name: 'StoreError', code: 'ERR_STORE_CONFLICT' });
  await t.rejects(store.insertRefreshToken(refreshToken(), 0), { name: 'StoreError', code: 'ERR_STORE_INVALID' }, 'a driver assertion crosses as its code');
});

t.test('a call whose arguments cannot be sent to the thread is refused, and the store goes on', async (t) => {
  const store = createSqliteThreadStore({ path: ':memory:' });
  await store.migrate();
  const notCloneable = (() => 'client') as unknown as string;
  await t.rejects(store.getApiToken(notCloneable), { name: 'DataCloneError' });
  await store.ping();
  await store.close();
});

t.test('an idle store never keeps the process alive, even after a call that could not be sent', async (t) => {
  // Run with this process's loader flags, so the helper runs from the sources as the tests do.
  const child = spawn(process.execPath, [...process.execArgv, fileURLToPath(new URL('../helpers/sqlite-thread-idle.ts', import.meta.url))], { stdio: ['ignore', 'pipe', 'inherit'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const killer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  const [code, signal] = (await once(child, 'exit')) as [number | null, NodeJS.Signals | null];
  clearTimeout(killer);
  t.equal(output, 'answered\n');
  t.same({ code, signal }, { code: 0, signal: null }, 'the process exited by itself, the store left open');
});

t.test('a file that is not a database fails every call with ERR_STORE_UNAVAILABLE, and close still resolves', async (t) => {
  const path = join(tempDir(t), 'not-a-database.db');
  writeFileSync(path, 'this is not an SQLite file, and never was one. '.repeat(200));
  const store = createSqliteThreadStore({ path });
  await t.rejects(store.migrate(), { name: 'StoreError', code: 'ERR_STORE_UNAVAILABLE' });
  await t.rejects(store.ping(), { code: 'ERR_STORE_UNAVAILABLE' });
  await store.close();
});
