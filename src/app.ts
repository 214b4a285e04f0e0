import { randomUUID } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { createAuthenticator } from './auth/create-authenticator.js';
import type { Clock } from './clock.js';
import type { CompiledConfig } from './config/types.js';
import { createAdminServer } from './http/admin-server.js';
import { createProxyServer } from './http/proxy-server.js';
import type { Logger } from './log.js';
import { createMetrics, type Metrics } from './metrics.js';
import { createDecider } from './proxy/create-decider.js';
import { createForwarder } from './proxy/forward.js';
import { createWebSocketTunnel } from './proxy/websocket.js';

export interface AppDeps {
  readonly log: Logger;
  readonly clock: Clock;
  /** Process metrics (event loop, memory, fds) are on by default; tests with many apps turn them off. */
  readonly processMetrics?: boolean;
  readonly newId?: () => string;
}

export interface App {
  /** Loads key sets and listens; resolves with the bound addresses. */
  start(): Promise<{ readonly proxy: AddressInfo; readonly admin: AddressInfo }>;
  /** True when the gateway should receive traffic. */
  ready(): boolean;
  /**
   * Graceful stop (SPEC §6): readiness turns false, listeners stop accepting, in-flight requests
   * get up to `server.shutdownTimeoutMs` to finish, then remaining connections are cut.
   */
  close(): Promise<void>;
  readonly metrics: Metrics;
}

/** The composition root: builds every dependency once and wires the servers. */
export function createApp(config: CompiledConfig, deps: AppDeps): App {
  const { log, clock } = deps;
  const metrics = createMetrics({ processMetrics: deps.processMetrics });
  const authenticator = createAuthenticator(config, { clock, metrics, log });
  metrics.setKeySetAges(() => authenticator.keySetAges());
  const decide = createDecider(config, { authenticator });
  const now = () => performance.now();
  const forwarder = createForwarder(config.upstream, { maxBodyBytes: config.server.maxBodyBytes }, { now });
  const tunnel = createWebSocketTunnel({ onError: (err) => log.warn({ err: err.message }, 'websocket tunnel error') });
  let draining = false;
  let listening = false;

  const proxyServer = createProxyServer(config, {
    decide,
    forwarder,
    tunnel,
    metrics,
    log,
    now,
    newId: deps.newId ?? randomUUID,
    draining: () => draining,
  });
  const ready = () => listening && !draining && authenticator.ready();
  const adminServer = createAdminServer({ metrics, log, ready });

  async function start() {
    await authenticator.start();
    const proxy = await listen(proxyServer, config.server.port, config.server.host);
    const admin = await listen(adminServer, config.admin.port, config.admin.host);
    listening = true;
    log.info({ proxyAddress: proxy.address, proxyPort: proxy.port, adminAddress: admin.address, adminPort: admin.port, ready: ready() }, 'listening');
    return { proxy, admin };
  }

  async function close() {
    if (draining) return;
    draining = true;
    log.info({ timeoutMs: config.server.shutdownTimeoutMs }, 'draining');
    const drained = new Promise<void>((resolve) => proxyServer.close(() => resolve()));
    proxyServer.closeIdleConnections();
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), config.server.shutdownTimeoutMs);
    });
    if ((await Promise.race([drained, deadline])) === 'timeout') {
      log.warn('drain deadline reached; closing remaining connections');
      proxyServer.closeAllConnections();
      await drained;
    }
    clearTimeout(timer);
    tunnel.close();
    await forwarder.close();
    await authenticator.close();
    await new Promise<void>((resolve) => {
      adminServer.close(() => resolve());
      adminServer.closeAllConnections();
    });
    log.info('stopped');
  }

  return Object.freeze({ start, ready, close, metrics });
}

function listen(server: Server, port: number, host: string): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve(server.address() as AddressInfo);
    });
  });
}
