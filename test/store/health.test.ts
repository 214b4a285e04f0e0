import t from 'tap';
import { createLogger } from '../../src/log.js';
import { createMetrics } from '../../src/metrics.js';
import { StoreError } from '../../src/store/errors.js';
import { createStoreHealth } from '../../src/store/health.js';
import { instrumentStore } from '../../src/store/instrumented.js';
import { createMemoryStore } from '../../src/store/memory.js';
import { createLogSink } from '../helpers/log-sink.js';

function harness(probeIntervalMs?: number) {
  const metrics = createMetrics({ processMetrics: false });
  const logs = createLogSink();
  const health = createStoreHealth({ probeIntervalMs }, { metrics, log: createLogger({ level: 'info', destination: logs.stream }) });
  const gauge = async () => (await metrics.storeUp.get()).values[0]?.value;
  return { metrics, logs, health, gauge };
}

t.test('down on an unreachable store, up on the next answer; other errors mean the store answered', async (t) => {
  const { health, gauge, logs } = harness();
  t.equal(health.up(), true);
  t.equal(await gauge(), 1);
  health.record(new StoreError('ERR_STORE_CONFLICT'));
  t.equal(health.up(), true, 'a conflict is an answer');
  health.record(new StoreError('ERR_STORE_UNAVAILABLE', 'connection refused'));
  t.equal(health.up(), false);
  t.equal(await gauge(), 0);
  health.record(new StoreError('ERR_STORE_UNAVAILABLE'));
  health.record(undefined);
  t.equal(health.up(), true);
  t.equal(await gauge(), 1);
  const changes = logs.entries().map((e) => e['msg']);
  t.strictSame(changes, ['token store unreachable: requests it must answer fail closed (503)', 'token store reachable again'], 'one line per change of state');
});

t.test('the instrumented store reports every call', async (t) => {
  const { health, metrics } = harness();
  const driver = createMemoryStore();
  let failing = false;
  const flaky = {
    ...driver,
    getTenant: async (id: string) => {
      if (failing) throw new StoreError('ERR_STORE_UNAVAILABLE');
      return driver.getTenant(id);
    },
  };
  const store = instrumentStore(flaky, metrics, health);
  await store.getTenant('a');
  t.equal(health.up(), true);
  failing = true;
  await t.rejects(store.getTenant('a'), { code: 'ERR_STORE_UNAVAILABLE' });
  t.equal(health.up(), false);
  failing = false;
  await store.getTenant('a');
  t.equal(health.up(), true);
});

t.test('the probe notices a change without any traffic, and stops at close', async (t) => {
  const { health } = harness(5);
  // The probe's timer does not hold the process open (a gateway exits without waiting for it); this test must.
  const hold = setInterval(() => undefined, 1_000);
  t.teardown(() => clearInterval(hold));
  let reachable = false;
  let pings = 0;
  let onPing: (() => void) | undefined;
  const store = {
    async ping() {
      pings++;
      onPing?.();
      if (!reachable) throw new StoreError('ERR_STORE_UNAVAILABLE');
    },
  };
  const pinged = () => new Promise<void>((resolve) => (onPing = resolve));
  health.start(store);
  await pinged();
  await pinged(); // the first probe's outcome is recorded before the second starts
  t.equal(health.up(), false, 'down, found by the probe');
  reachable = true;
  await pinged();
  await pinged();
  t.equal(health.up(), true, 'up again, found by the probe');
  health.close();
  const after = pings;
  await new Promise((r) => setTimeout(r, 50));
  t.equal(pings, after, 'no probe after close');
});
