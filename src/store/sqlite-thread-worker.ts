/**
 * The SQLite store's thread (see sqlite-thread.ts): opens the database with `createSqliteStore`
 * and runs each call the main thread posts, answering with its value or its error. The driver's
 * methods run their statements synchronously, so calls run one at a time in the order posted.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { StoreError } from './errors.js';
import { createSqliteStore, type SqliteStoreOptions } from './sqlite.js';
import { TOKEN_STORE_METHODS, toWire, type StoreAnswer, type StoreCall } from './sqlite-thread.js';
import type { TokenStore } from './types.js';

const port = parentPort;
if (port === null) throw new Error('sqlite-thread-worker runs as a worker thread only');

let store: TokenStore | undefined;
/** Why the database could not be opened: the answer to every call then (fail closed, case 51). */
let openError: unknown;
try {
  store = createSqliteStore(workerData as SqliteStoreOptions);
} catch (err) {
  openError = err;
}
const methods: ReadonlySet<string> = new Set(TOKEN_STORE_METHODS);

port.on('message', (message: StoreCall) => {
  const { id, method, args } = message;
  const answer = (result: Promise<unknown>) =>
    result.then(
      (value) => port.postMessage({ id, ok: true, value } satisfies StoreAnswer),
      (err: unknown) => port.postMessage({ id, ok: false, error: toWire(err) } satisfies StoreAnswer),
    );
  if (store === undefined) {
    void answer(method === 'close' ? Promise.resolve() : Promise.reject(openError));
  } else if (!methods.has(method)) {
    void answer(Promise.reject(new StoreError('ERR_STORE_INVALID', `no store method ${String(method)}`)));
  } else {
    const fn = store[method] as (...callArgs: unknown[]) => Promise<unknown>;
    void answer(fn.apply(store, [...args]));
  }
});
