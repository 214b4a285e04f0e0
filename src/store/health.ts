import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import { isStoreUnavailable } from './errors.js';
import type { TokenStore } from './types.js';

/** Whether the token store answers: what readiness reports, from every call and a periodic probe. */
export interface StoreHealth {
  up(): boolean;
  /** Every store call's outcome: ERR_STORE_UNAVAILABLE marks the store down, any answer marks it up. */
  record(outcome: unknown): void;
  /** Probes the store every `probeIntervalMs` until `close`, so an idle gateway notices a change too. */
  start(store: Pick<TokenStore, 'ping'>): void;
  close(): void;
}

/**
 * The store's reachability (SPEC §5 "store unreachable"): down from the first call that could not
 * reach it, up again from the first call that did. Requests are never held back by it: each one
 * still asks the store (bounded by the driver's timeouts) and fails closed on its own; this only
 * tells readiness, the `m2m_gateway_store_up` gauge and the log when the state changes.
 */
export function createStoreHealth(options: { probeIntervalMs?: number }, deps: { metrics: Pick<Metrics, 'storeUp'>; log: Logger }): StoreHealth {
  const interval = options.probeIntervalMs ?? 5_000;
  let up = true;
  let timer: NodeJS.Timeout | undefined;
  deps.metrics.storeUp.set(1);

  function record(outcome: unknown): void {
    const reachable = !isStoreUnavailable(outcome);
    if (reachable === up) return;
    up = reachable;
    deps.metrics.storeUp.set(up ? 1 : 0);
    if (up) deps.log.info('token store reachable again');
    else deps.log.warn({ err: outcome instanceof Error ? outcome.message : String(outcome) }, 'token store unreachable: requests it must answer fail closed (503)');
  }

  return Object.freeze({
    up: () => up,
    record,
    start(store: Pick<TokenStore, 'ping'>): void {
      if (timer !== undefined) return;
      const probe = () => store.ping().then(() => record(undefined), record);
      timer = setInterval(probe, interval);
      timer.unref();
    },
    close(): void {
      clearInterval(timer);
      timer = undefined;
    },
  });
}
