import { performance } from 'node:perf_hooks';
import type { Metrics } from '../metrics.js';
import type { StoreHealth } from './health.js';
import type { TokenStore } from './types.js';

/**
 * The same store, with every call timed into `m2m_gateway_store_duration_seconds` by operation
 * (the `TokenStore` method name: a fixed set) and result, and its outcome told to `health`.
 * Behaviour is the driver's own: results and errors pass through untouched.
 */
export function instrumentStore(store: TokenStore, metrics: Pick<Metrics, 'storeDuration'>, health?: Pick<StoreHealth, 'record'>): TokenStore {
  const wrapped: Record<string, unknown> = {};
  for (const [operation, member] of Object.entries(store)) {
    if (typeof member !== 'function') continue;
    const call = member as (...args: unknown[]) => Promise<unknown>;
    const observe = (started: number, result: 'ok' | 'error') =>
      metrics.storeDuration.observe({ operation, result }, (performance.now() - started) / 1000);
    wrapped[operation] = async (...args: unknown[]) => {
      const started = performance.now();
      try {
        const value = await call.apply(store, args);
        observe(started, 'ok');
        health?.record(undefined);
        return value;
      } catch (err) {
        observe(started, 'error');
        health?.record(err);
        throw err;
      }
    };
  }
  return Object.freeze(wrapped) as unknown as TokenStore;
}
