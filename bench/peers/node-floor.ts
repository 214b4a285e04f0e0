/**
 * The floor of a Node reverse proxy, for the side-by-side benchmark: `node:http` in front, an
 * undici keep-alive pool behind, and nothing else — no routing, no header sanitizing, no checks,
 * no metrics, no logs, no request id, no timeouts. It shows what Node's HTTP stack and undici cost
 * per request on their own, so the gateway's distance to nginx can be split into what Node costs
 * and what the gateway adds. Not a usable proxy. Prints its port on stdout.
 *
 *   node dist/bench/peers/node-floor.js <upstream URL>
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { Pool } from 'undici';

const upstream = process.argv[2];
if (upstream === undefined) {
  console.error('usage: node-floor.js <upstream URL>');
  process.exit(2);
}
const pool = new Pool(upstream, { connections: 128, pipelining: 1 });

const server = createServer((req, res) => {
  pool.stream(
    { path: req.url ?? '/', method: req.method as 'GET', headers: req.headers, body: req.method === 'GET' || req.method === 'HEAD' ? null : req },
    ({ statusCode, headers }) => {
      delete headers['connection'];
      delete headers['keep-alive'];
      res.writeHead(statusCode, headers as Record<string, string>);
      return res as unknown as Writable;
    },
    (err) => {
      if (err !== null && !res.headersSent) {
        res.statusCode = 502;
        res.end();
      }
    },
  );
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${(server.address() as AddressInfo).port}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
