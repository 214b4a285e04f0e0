/**
 * A process that opens the SQLite thread store, makes calls (one refused before it is sent) and
 * never closes it: it must still exit once nothing waits, since the store's thread holds the
 * process only while a call does (sqlite-thread.test.ts).
 */
import { createSqliteThreadStore } from '../../src/store/sqlite-thread.js';

const store = createSqliteThreadStore({ path: ':memory:' });
await store.migrate();
await store.getApiToken((() => 'client') as unknown as string).catch(() => undefined);
await store.ping();
process.stdout.write('answered\n');
