/**
 * The store contract against the SQLite store as the gateway runs it: the same driver on its own
 * thread, every call a message. Its own file with its own time budget: each of the suite's ~100
 * fresh stores starts a thread, and a thread started from the TypeScript sources loads the
 * TypeScript loader again (about 1 s each; compiled, tens of ms).
 */
import t from 'tap';
import { createSqliteThreadStore } from '../../src/store/sqlite-thread.js';
import { storeContractOnFiles } from '../helpers/store-contract.js';

t.setTimeout(900_000);

storeContractOnFiles(t, 'sqlite thread', (path) => createSqliteThreadStore({ path }));
