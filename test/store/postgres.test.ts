import t from 'tap';
import { createPostgresStore } from '../../src/store/postgres.js';
import { storeContract } from '../helpers/store-contract.js';
import { withTestDatabase } from '../helpers/postgres.js';

const database = await withTestDatabase(t);
storeContract(t, 'postgres', async () => {
  const store = createPostgresStore({ connectionString: database.url, schema: await database.newSchema() });
  await store.migrate();
  return store;
});
