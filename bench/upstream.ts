/**
 * The fastest honest upstream: a fixed small JSON answer, keep-alive. Runs in its own process so
 * the load generator and the gateway do not share its event loop. Prints its port on stdout.
 * `GET /_bench/connections` answers how many connections it has accepted so far, so a benchmark
 * can show that a proxy reuses its upstream connections instead of opening one per request.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

const body = Buffer.from('{"ok":true}');
let connections = 0;
const server = createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    const answer = req.url === '/_bench/connections' ? Buffer.from(JSON.stringify({ connections })) : body;
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': answer.length });
    res.end(answer);
  });
});
server.on('connection', () => {
  connections += 1;
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${(server.address() as AddressInfo).port}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
