/**
 * The store contract against the SQLite store as the gateway runs it: the same driver on its own
 * thread, every call a message. Its own file with its own time budget: each of the suite's ~100
 * fresh stores starts a thread, and a thread started from the TypeScript sources loads the
 * TypeScript loader again (about 1 s each; compiled, tens of ms).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { createSqliteThreadStore } from '../../src/store/sqlite-thread.js';
import { storeContract } from '../helpers/store-contract.js';

t.setTimeout(900_000);

const dir = mkdtempSync(join(tmpdir(), 'm2m-store-thread-contract-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;
storeContract(t, 'sqlite thread', async () => {
  const store = createSqliteThreadStore({ path: join(dir, `store-${++files}.db`) });
  await store.migrate();
  return store;
});
