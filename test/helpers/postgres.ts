/**
 * A PostgreSQL for tests. With M2M_TEST_DATABASE_URL (CI: the machine's PostgreSQL), each test
 * file gets a database of its own, created here and dropped at teardown, so tap's parallel files
 * never share tables; each store then gets a schema of its own inside it.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { Test } from 'tap';

export interface TestDatabase {
  /** The URL of this file's database. */
  readonly url: string;
  /** Creates an empty schema in it and answers its name. */
  newSchema(): Promise<string>;
}

/** The file's database; undefined when no PostgreSQL is configured (the caller skips). */
export async function withTestDatabase(t: Test): Promise<TestDatabase | undefined> {
  const serverUrl = process.env.M2M_TEST_DATABASE_URL;
  if (serverUrl === undefined || serverUrl === '') return undefined;
  const name = `m2m_test_${process.pid}_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  const db = new pg.Pool({ connectionString: url.toString(), max: 2 });
  t.teardown(async () => {
    await db.end();
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.end();
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
