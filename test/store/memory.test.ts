import t from 'tap';
import { createMemoryStore } from '../../src/store/memory.js';
import { storeContract } from '../helpers/store-contract.js';

storeContract(t, 'memory', async () => {
  const store = createMemoryStore();
  await store.migrate();
  return store;
});
