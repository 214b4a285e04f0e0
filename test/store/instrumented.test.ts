import t from 'tap';
import { createMetrics } from '../../src/metrics.js';
import { instrumentStore } from '../../src/store/instrumented.js';
import { createMemoryStore } from '../../src/store/memory.js';
import { storeContract } from '../helpers/store-contract.js';

// The instrumented store is the store the gateway runs on: it must keep the whole contract.
storeContract(t, 'instrumented memory', async () => {
  const store = instrumentStore(createMemoryStore(), createMetrics({ processMetrics: false }));
  await store.migrate();
  return store;
});

t.test('every call is timed by operation and result; errors pass through unchanged', async (t) => {
  const metrics = createMetrics({ processMetrics: false });
  const store = instrumentStore(createMemoryStore(), metrics);
  await store.migrate();
  await store.putTenant('acme', 1);
  t.same(await store.getTenant('acme'), { id: 'acme', createdAt: 1 });
  await store.close();
  await t.rejects(store.getTenant('acme'), { code: 'ERR_STORE_CLOSED' });

  const counts = new Map(
    (await metrics.storeDuration.get()).values
      .filter((v) => v.metricName === 'm2m_gateway_store_duration_seconds_count')
      .map((v) => [`${v.labels.operation}/${v.labels.result}`, v.value]),
  );
  t.equal(counts.get('migrate/ok'), 1);
  t.equal(counts.get('putTenant/ok'), 1);
  t.equal(counts.get('getTenant/ok'), 1);
  t.equal(counts.get('getTenant/error'), 1);
});
