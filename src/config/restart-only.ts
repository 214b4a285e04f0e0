import { deepFreeze } from '../freeze.js';
import type { CompiledConfig } from './types.js';

/**
 * The settings a reload cannot change, by their path in the YAML: the listeners (bound sockets and
 * the options Node fixes when it creates a server), the realm both listeners answer with, the
 * store and data directory (open connections, keys), the token service (its key manager, signer
 * and caches are built once), the liveness caches' sizes, the log level (child loggers keep the
 * level they were made with) and the reload switch itself. Everything else reloads: routes,
 * upstreams, trusted issuers, identity headers, roles, auth caches and limits, trusted proxies,
 * body limit, shutdown timeout.
 */
const RESTART_ONLY: readonly (readonly [path: string, value: (config: CompiledConfig) => unknown])[] = [
  ['server.host', (c) => c.server.host],
  ['server.port', (c) => c.server.port],
  ['server.headersTimeoutMs', (c) => c.server.headersTimeoutMs],
  ['server.requestTimeoutMs', (c) => c.server.requestTimeoutMs],
  ['server.keepAliveTimeoutMs', (c) => c.server.keepAliveTimeoutMs],
  ['server.maxHeaderBytes', (c) => c.server.maxHeaderBytes],
  ['server.maxConnections', (c) => c.server.maxConnections],
  ['admin.host', (c) => c.admin.host],
  ['admin.port', (c) => c.admin.port],
  ['auth.realm', (c) => c.auth.realm],
  ['log.level', (c) => c.log.level],
  ['reload.watch', (c) => c.reload.watch],
  ['liveness.cacheTtlSeconds', (c) => c.liveness.cacheTtlMs],
  ['liveness.maxEntries', (c) => c.liveness.maxEntries],
  ['liveness.negativeMaxEntries', (c) => c.liveness.negativeMaxEntries],
  ['dataDir', (c) => c.dataDir],
  ['store.driver', (c) => c.store.driver],
  ['store.path', (c) => c.store.path],
  ['store.url', (c) => (c.store.driver === 'postgres' ? c.store.url : undefined)],
];

/** The paths of the restart-only settings that differ between the running config and `next` (never their values: some are secrets). */
export function restartOnlyChanges(running: CompiledConfig, next: CompiledConfig): string[] {
  const changed = RESTART_ONLY.filter(([, value]) => value(running) !== value(next)).map(([path]) => path);
  const before = running.tokenService;
  const after = next.tokenService;
  if (before === undefined || after === undefined) {
    if (before !== after) changed.push('tokenService');
  } else {
    const keys = new Set([...Object.keys(before), ...Object.keys(after)] as (keyof typeof before)[]);
    for (const key of keys) if (!sameValue(before[key], after[key])) changed.push(`tokenService.${key}`);
  }
  return changed;
}

/**
 * `next` with every restart-only setting taken from the running config, so the generation built
 * from it describes what actually runs: the same listeners, store and token service (and so the
 * same own issuer at the head of `issuers`).
 */
export function keepRestartOnly(running: CompiledConfig, next: CompiledConfig): CompiledConfig {
  const { server } = running;
  return deepFreeze({
    ...next,
    server: {
      ...next.server,
      host: server.host,
      port: server.port,
      headersTimeoutMs: server.headersTimeoutMs,
      requestTimeoutMs: server.requestTimeoutMs,
      keepAliveTimeoutMs: server.keepAliveTimeoutMs,
      maxHeaderBytes: server.maxHeaderBytes,
      maxConnections: server.maxConnections,
    },
    admin: running.admin,
    log: running.log,
    auth: { ...next.auth, realm: running.auth.realm },
    reload: running.reload,
    liveness: running.liveness,
    dataDir: running.dataDir,
    store: running.store,
    tokenService: running.tokenService,
    issuers: [...running.issuers.filter((issuer) => issuer.jwks.kind === 'own'), ...next.issuers.filter((issuer) => issuer.jwks.kind !== 'own')],
  });
}

/** Deep equality of compiled values (plain data, arrays, sets): what decides whether a part is rebuilt. */
export function sameValue(a: unknown, b: unknown): boolean {
  return JSON.stringify(a, setsAsArrays) === JSON.stringify(b, setsAsArrays);
}

function setsAsArrays(_key: string, value: unknown): unknown {
  if (value instanceof Set) return [...(value as Set<unknown>)];
  if (value instanceof Map) return [...(value as Map<unknown, unknown>)];
  return value;
}
