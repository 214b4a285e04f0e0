import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type Database from 'better-sqlite3';

/** How often the checkpoint thread folds the WAL back into the database file. */
export const CHECKPOINT_INTERVAL_MS = 200;
/** SQLite's own automatic checkpoint threshold (pages), restored if the thread fails. */
const AUTOCHECKPOINT_PAGES = 1000;

/**
 * The checkpoint thread's code: its own connection to the same file, a PASSIVE checkpoint (never
 * waits for or blocks the store's readers and writer) every interval and once more when stopped.
 * An error ends the thread, which the store sees as an exit.
 */
const SOURCE = `
// Dynamic imports only: eval'd code runs as CommonJS or as an ES module depending on the process's flags.
import('node:worker_threads').then(async ({ workerData, parentPort }) => {
  const { default: Database } = await import(workerData.driver);
  const db = new Database(workerData.path, { timeout: workerData.busyTimeoutMs });
  db.pragma('synchronous = FULL');
  const checkpoint = () => db.pragma('wal_checkpoint(PASSIVE)');
  const timer = setInterval(checkpoint, workerData.intervalMs);
  parentPort.once('message', () => {
    clearInterval(timer);
    checkpoint();
    db.close();
    parentPort.close();
  });
});
`;

export interface Checkpointer {
  /** Runs a last checkpoint and ends the thread; the store's connection may close after. */
  stop(): Promise<void>;
}

/**
 * WAL checkpoints on a thread of their own. SQLite runs its automatic checkpoint inside the commit
 * that crosses 1000 WAL pages: the pages are copied into the database file and, with
 * `synchronous = FULL`, the file is synced, which is milliseconds of disk I/O inside a synchronous
 * better-sqlite3 call on the event loop the proxy shares. The store's connection gets
 * `wal_autocheckpoint = 0` and this thread checkpoints instead. If the thread cannot run (it
 * failed to open the file, or a checkpoint threw), the connection's automatic checkpoints come
 * back, so the WAL never grows without bound.
 */
export function startCheckpointer(db: Database.Database, path: string, busyTimeoutMs: number, onFailure: (err: unknown) => void): Checkpointer {
  db.pragma('wal_autocheckpoint = 0');
  const worker = new Worker(SOURCE, {
    eval: true,
    workerData: { driver: pathToFileURL(createRequire(import.meta.url).resolve('better-sqlite3')).href, path, intervalMs: CHECKPOINT_INTERVAL_MS, busyTimeoutMs },
  });
  // A store that is never closed must not keep the process alive for its checkpoints.
  worker.unref();
  let stopping = false;
  const exited = new Promise<void>((resolveExit) => {
    worker.once('error', (err) => {
      if (!db.open) return;
      db.pragma(`wal_autocheckpoint = ${AUTOCHECKPOINT_PAGES}`);
      onFailure(err);
    });
    worker.once('exit', (code) => {
      if (!stopping && code !== 0 && db.open) db.pragma(`wal_autocheckpoint = ${AUTOCHECKPOINT_PAGES}`);
      resolveExit();
    });
  });
  return {
    async stop() {
      stopping = true;
      // Held open until the last checkpoint is done: the caller awaits it.
      worker.ref();
      worker.postMessage('stop');
      await exited;
    },
  };
}
