/**
 * The floor of a Node reverse proxy, for the side-by-side benchmark: `node:http` in front, an
 * undici keep-alive pool behind, and nothing else — no routing, no header sanitizing, no checks,
 * no metrics, no logs, no request id, no timeouts. It shows what Node's HTTP stack and undici cost
 * per request on their own, so the gateway's distance to nginx can be split into what Node costs
 * and what the gateway adds. Not a usable proxy. Prints its port on stdout.
 *
 * Given a P-256 public key (PEM), it also checks one ES256 signature per request, the one thing
 * every cold token costs whatever verifies it: `Authorization: Bearer <compact JWS>`, the signature
 * over `header.payload` checked with one `crypto.verify` call, or 401. No JWT library, no header,
 * claim or format checks, no cache. Its cost against the plain floor is the floor of the cold-token bar.
 *
 *   node dist/bench/peers/node-floor.js <upstream URL> [<ES256 public key PEM file>]
 */
import { createPublicKey, verify, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { Pool } from 'undici';

const [upstream, keyFile] = process.argv.slice(2);
if (upstream === undefined) {
  console.error('usage: node-floor.js <upstream URL> [<ES256 public key PEM file>]');
  process.exit(2);
}
const pool = new Pool(upstream, { connections: 128, pipelining: 1 });
const key = keyFile === undefined ? undefined : createPublicKey(readFileSync(keyFile));

/** True when the request's Bearer JWS carries a valid ES256 signature by `key`. */
function signed(req: IncomingMessage, key: KeyObject): boolean {
  const authorization = req.headers.authorization ?? '';
  const dot = authorization.lastIndexOf('.');
  if (!authorization.startsWith('Bearer ') || dot < 0) return false;
  const signature = Buffer.from(authorization.slice(dot + 1), 'base64url');
  return verify('sha256', Buffer.from(authorization.slice('Bearer '.length, dot)), { key, dsaEncoding: 'ieee-p1363' }, signature);
}

const server = createServer((req, res) => {
  if (key !== undefined && !signed(req, key)) {
    res.statusCode = 401;
    res.end();
    return;
  }
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
