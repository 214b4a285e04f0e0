import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';

// Its own process (tap runs each file apart), importing nothing that needs PostgreSQL.
const loadedPg = () => Object.keys(createRequire(import.meta.url).cache).filter((path) => /[\\/]node_modules[\\/]pg[\\/]/.test(path));

t.test('a gateway on SQLite never loads the PostgreSQL driver', async (t) => {
  await import('../../../src/app.js');
  await import('../../../src/cli/commands.js');
  const { createSqliteStore } = await import('../../../src/store/sqlite.js');
  const dir = mkdtempSync(join(tmpdir(), 'm2m-pg-lazy-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const store = createSqliteStore({ path: join(dir, 'store.db') });
  await store.migrate();
  await store.putTenant('acme', Date.now());
  await store.close();
  t.same(loadedPg(), [], 'no module of pg was loaded');
});

t.test('the PostgreSQL store loads it when it is created', async (t) => {
  const { createPostgresStore } = await import('../../../src/store/postgres.js');
  const store = createPostgresStore({ connectionString: 'postgres://nobody@127.0.0.1:1/none' });
  t.not(loadedPg().length, 0, 'pg is loaded on first use');
  await store.close();
});
