import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * The gateway's Prometheus metrics, on a registry of its own (never prom-client's global one, so
 * two gateways in one process, as in tests, do not collide). Every label value comes from a small
 * fixed set: route names from the config, status classes, methods folded to a known list, reason
 * codes from `ERRORS`. Raw paths, tokens, addresses and ids never become labels.
 */
export interface Metrics {
  readonly registry: Registry;
  readonly requests: Counter<'route' | 'method' | 'status_class'>;
  readonly authDecisions: Counter<'kind' | 'result' | 'reason'>;
  readonly requestDuration: Histogram<'route'>;
  readonly authDuration: Histogram<'kind'>;
  readonly upstreamDuration: Histogram<'route'>;
  readonly cacheEvents: Counter<'cache' | 'event'>;
  readonly jwksFetches: Counter<'issuer' | 'result'>;
  readonly jwksKeySetAge: Gauge<'issuer'>;
  readonly openConnections: Gauge<'listener'>;
  /** Credentials and tokens the token service issued, by kind (see `IssuedKind`). */
  readonly tokensIssued: Counter<'kind'>;
  /** Exchanges and refreshes by grant and result (`ok` or an `ERR_*` code). */
  readonly exchanges: Counter<'grant' | 'result'>;
  /** Token-store calls by operation (a `TokenStore` method name) and result (`ok`, `error`). */
  readonly storeDuration: Histogram<'operation' | 'result'>;
  /** Seconds from a store write's commit to the eviction of the answers it changed, in this process, by change kind. */
  readonly propagationLag: Histogram<'change'>;
  /** Whether the token store answered its last call (1) or is unreachable (0). */
  readonly storeUp: Gauge;
  /** Configuration reloads by result (`success`, `failure`): SIGHUP and changes of the file. */
  readonly configReloads: Counter<'result'>;
  /** Unix time of the last configuration applied: at start, then at each successful reload. */
  readonly configLastReloadSuccess: Gauge;
  /** Where the key-set age gauge reads from at scrape time: seconds since each issuer's set loaded. */
  setKeySetAges(source: () => Iterable<readonly [issuer: string, ageSeconds: number]>): void;
  /**
   * Publishes `m2m_gateway_change_feed_connected` (1 while the store's change feed listens, 0 while
   * it reconnects), read from `connected` at scrape time. Without a feed the metric does not exist.
   */
  registerChangeFeed(connected: () => boolean): void;
}

const LATENCY_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

const KNOWN_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

/** Folds any method a client sends into a bounded label value. */
export function methodLabel(method: string | undefined): string {
  return method !== undefined && KNOWN_METHODS.has(method) ? method : 'OTHER';
}

export function statusClass(status: number): string {
  return status >= 100 && status < 600 ? `${Math.floor(status / 100)}xx` : 'other';
}

/**
 * prom-client's default metrics include three gauges named `*_total` (the sums of the per-type
 * `nodejs_active_*` gauges), which Prometheus reserves for counters: `promtool check metrics`
 * refuses them. The per-type gauges stay; `sum()` of them gives the same totals.
 */
const MISNAMED_DEFAULT_METRICS = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'];

export function createMetrics(options: { processMetrics?: boolean } = {}): Metrics {
  const registry = new Registry();
  if (options.processMetrics !== false) {
    collectDefaultMetrics({ register: registry, prefix: 'm2m_gateway_' });
    for (const name of MISNAMED_DEFAULT_METRICS) registry.removeSingleMetric(`m2m_gateway_${name}`);
  }
  const registers = [registry];
  let keySetAges: () => Iterable<readonly [string, number]> = () => [];
  return Object.freeze({
    setKeySetAges(source: () => Iterable<readonly [string, number]>) {
      keySetAges = source;
    },
    registerChangeFeed(connected: () => boolean) {
      if (registry.getSingleMetric('m2m_gateway_change_feed_connected') !== undefined) return;
      new Gauge({
        name: 'm2m_gateway_change_feed_connected',
        help: 'Whether the store change feed (PostgreSQL LISTEN) is connected: 1, or 0 while caches rely on their TTL.',
        registers,
        collect() {
          this.set(connected() ? 1 : 0);
        },
      });
    },
    registry,
    requests: new Counter({
      name: 'm2m_gateway_requests_total',
      help: 'Proxied requests by route, method and status class.',
      labelNames: ['route', 'method', 'status_class'] as const,
      registers,
    }),
    authDecisions: new Counter({
      name: 'm2m_gateway_auth_decisions_total',
      help: 'Authentication and authorization decisions by credential kind, result and reason code.',
      labelNames: ['kind', 'result', 'reason'] as const,
      registers,
    }),
    requestDuration: new Histogram({
      name: 'm2m_gateway_request_duration_seconds',
      help: 'Time from request to the end of the response, by route.',
      labelNames: ['route'] as const,
      buckets: LATENCY_BUCKETS,
      registers,
    }),
    authDuration: new Histogram({
      name: 'm2m_gateway_auth_duration_seconds',
      help: 'Time spent deciding whether a request may pass, by credential kind.',
      labelNames: ['kind'] as const,
      buckets: LATENCY_BUCKETS,
      registers,
    }),
    upstreamDuration: new Histogram({
      name: 'm2m_gateway_upstream_duration_seconds',
      help: 'Time from sending upstream to the upstream response headers, by route.',
      labelNames: ['route'] as const,
      buckets: LATENCY_BUCKETS,
      registers,
    }),
    cacheEvents: new Counter({
      name: 'm2m_gateway_cache_events_total',
      help: 'Cache hits, misses and evictions per cache.',
      labelNames: ['cache', 'event'] as const,
      registers,
    }),
    jwksFetches: new Counter({
      name: 'm2m_gateway_jwks_fetches_total',
      help: 'JWKS fetches and reloads by issuer and result.',
      labelNames: ['issuer', 'result'] as const,
      registers,
    }),
    jwksKeySetAge: new Gauge({
      name: 'm2m_gateway_jwks_key_set_age_seconds',
      help: 'Age of the key set in use, by issuer.',
      labelNames: ['issuer'] as const,
      registers,
      collect() {
        this.reset();
        for (const [issuer, age] of keySetAges()) this.set({ issuer }, age);
      },
    }),
    openConnections: new Gauge({
      name: 'm2m_gateway_open_connections',
      help: 'Open client connections by listener.',
      labelNames: ['listener'] as const,
      registers,
    }),
    tokensIssued: new Counter({
      name: 'm2m_gateway_tokens_issued_total',
      help: 'Credentials and tokens issued by the token service, by kind.',
      labelNames: ['kind'] as const,
      registers,
    }),
    exchanges: new Counter({
      name: 'm2m_gateway_token_exchanges_total',
      help: 'Client-credentials exchanges and refreshes by grant and result.',
      labelNames: ['grant', 'result'] as const,
      registers,
    }),
    storeDuration: new Histogram({
      name: 'm2m_gateway_store_duration_seconds',
      help: 'Token-store call latency by operation and result.',
      labelNames: ['operation', 'result'] as const,
      buckets: LATENCY_BUCKETS,
      registers,
    }),
    propagationLag: new Histogram({
      name: 'm2m_gateway_revocation_propagation_seconds',
      help: 'Time from a store write commit (database clock) to the eviction of the cached answers it changed, by change kind.',
      labelNames: ['change'] as const,
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    }),
    storeUp: new Gauge({
      name: 'm2m_gateway_store_up',
      help: 'Whether the token store answered its last call: 1, or 0 while it is unreachable.',
      registers,
    }),
    configReloads: new Counter({
      name: 'm2m_gateway_config_reloads_total',
      help: 'Configuration reloads by result: success, or failure (the running configuration was kept).',
      labelNames: ['result'] as const,
      registers,
    }),
    configLastReloadSuccess: new Gauge({
      name: 'm2m_gateway_config_last_reload_success_timestamp_seconds',
      help: 'Unix time the running configuration was applied (at start, then at each successful reload).',
      registers,
    }),
  });
}
