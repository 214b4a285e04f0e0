import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { createSqliteStore } from '../../src/store/sqlite.js';
import { storeContract } from '../helpers/store-contract.js';

storeContract(t, 'sqlite :memory:', async () => {
  const store = createSqliteStore({ path: ':memory:' });
  await store.migrate();
  return store;
});

// A file exercises what :memory: cannot: WAL, the lock taken by IMMEDIATE transactions.
const dir = mkdtempSync(join(tmpdir(), 'm2m-store-contract-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;
storeContract(t, 'sqlite file', async () => {
  const store = createSqliteStore({ path: join(dir, `store-${++files}.db`) });
  await store.migrate();
  return store;
});
