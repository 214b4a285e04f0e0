import { createServer, type Server } from 'node:http';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';

export interface AdminServerDeps {
  readonly metrics: Metrics;
  readonly log: Logger;
  /** Ready to take traffic: key sets loaded and not shutting down. */
  readonly ready: () => boolean;
}

/**
 * The admin listener, on its own port so it can stay off the public network: `/metrics` in the
 * Prometheus text format, `/healthz` (the process answers), `/readyz` (it should get traffic).
 */
export function createAdminServer(deps: AdminServerDeps): Server {
  const server = createServer({ headersTimeout: 10_000, requestTimeout: 30_000 });
  server.on('request', (req, res) => {
    const path = (req.url ?? '/').split('?', 1)[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'application/json' }).end('{"errors":["Method not allowed"]}');
      return;
    }
    switch (path) {
      case '/metrics':
        deps.metrics.registry.metrics().then(
          (text) => res.writeHead(200, { 'content-type': deps.metrics.registry.contentType, 'cache-control': 'no-store' }).end(text),
          (err: unknown) => {
            deps.log.error({ err }, 'metrics collection failed');
            res.writeHead(500, { 'content-type': 'application/json' }).end('{"errors":["Metrics unavailable"]}');
          },
        );
        return;
      case '/healthz':
        res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end('{"status":"ok"}');
        return;
      case '/readyz': {
        const ready = deps.ready();
        res
          .writeHead(ready ? 200 : 503, { 'content-type': 'application/json', 'cache-control': 'no-store' })
          .end(ready ? '{"status":"ready"}' : '{"status":"not ready"}');
        return;
      }
      default:
        res.writeHead(404, { 'content-type': 'application/json' }).end('{"errors":["Not found"]}');
    }
  });
  return server;
}
