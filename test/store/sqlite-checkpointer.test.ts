import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import t, { type Test } from 'tap';
import { startCheckpointer } from '../../src/store/sqlite-checkpointer.js';
import { waitFor } from '../helpers/wait.js';

function openWal(t: Test): { db: Database.Database; path: string } {
  const dir = mkdtempSync(join(tmpdir(), 'm2m-checkpoint-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'store.db');
  const db = new Database(path);
  t.teardown(() => {
    if (db.open) db.close();
  });
  db.pragma('journal_mode = WAL');
  db.exec('CREATE TABLE rows (id INTEGER PRIMARY KEY, body TEXT NOT NULL)');
  return { db, path };
}

const autocheckpoint = (db: Database.Database) => db.pragma('wal_autocheckpoint', { simple: true }) as number;

t.test('the WAL is folded into the database file by the thread, never inside a commit', async (t) => {
  const { db, path } = openWal(t);
  const failures: unknown[] = [];
  const checkpointer = startCheckpointer(db, path, 5000, (err) => failures.push(err));
  t.equal(autocheckpoint(db), 0, "the store's connection no longer checkpoints in its commits");

  const before = statSync(path).size;
  const insert = db.prepare('INSERT INTO rows (body) VALUES (?)');
  // Each commit appends at least one page to the WAL: well past SQLite's 1000-page threshold.
  for (let i = 0; i < 3000; i++) insert.run('x'.repeat(200));
  // With automatic checkpoints off, only the thread can grow the database file.
  await waitFor('the checkpoint thread copied the WAL into the database file', () => statSync(path).size > before);

  // Committed right before the stop: only the stop's own checkpoint can be sure to take them.
  for (let i = 0; i < 100; i++) insert.run('y'.repeat(200));
  await checkpointer.stop();
  const [status] = db.pragma('wal_checkpoint(PASSIVE)') as { busy: number; log: number; checkpointed: number }[];
  t.equal(status!.log, status!.checkpointed, 'stop ran a last checkpoint: nothing of the WAL is left to copy');
  t.equal(db.prepare('SELECT COUNT(*) FROM rows').pluck().get() as number, 3100, 'every committed row is there');
  t.same(failures, []);
});

t.test('a thread that cannot run gives the checkpoints back to the connection', async (t) => {
  const { db } = openWal(t);
  const failures: unknown[] = [];
  // A directory is no database: the thread fails to open it.
  const checkpointer = startCheckpointer(db, tmpdir(), 5000, (err) => failures.push(err));
  await waitFor('the failure is reported', () => failures.length === 1);
  t.equal(autocheckpoint(db), 1000, "SQLite's automatic checkpoints are back, so the WAL cannot grow without bound");
  await checkpointer.stop();
});
