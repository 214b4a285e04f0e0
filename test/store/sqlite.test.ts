import t from 'tap';
import { createSqliteStore } from '../../src/store/sqlite.js';
import { storeContract, storeContractOnFiles } from '../helpers/store-contract.js';

storeContract(t, 'sqlite :memory:', async () => {
  const store = createSqliteStore({ path: ':memory:' });
  await store.migrate();
  return store;
});

// A file exercises what :memory: cannot: WAL, the lock taken by IMMEDIATE transactions.
storeContractOnFiles(t, 'sqlite file', (path) => createSqliteStore({ path }));
