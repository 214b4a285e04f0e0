import t from 'tap';
import { createPostgresStore } from '../../src/store/postgres.js';
import { storeContract } from '../helpers/store-contract.js';
import { withTestDatabase } from '../helpers/postgres.js';

const database = await withTestDatabase(t);
if (database === undefined) {
  t.plan(0, 'no PostgreSQL: set M2M_TEST_DATABASE_URL to run the postgres store tests');
} else {
  storeContract(t, 'postgres', async () => {
    const store = createPostgresStore({ connectionString: database.url, schema: await database.newSchema() });
    await store.migrate();
    return store;
  });
}
