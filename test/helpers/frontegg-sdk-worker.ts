/**
 * The worker body of test/helpers/frontegg-sdk-app.ts: an HTTP app on 127.0.0.1, port 0, whose
 * routes sit behind the SDK's `withAuthentication` the way an Express app mounts it:
 * - `GET /whoami`: `withAuthentication()`, answers 200 with `req.frontegg.user` as JSON;
 * - `GET /admin`: `withAuthentication({ roles: ['admin'] })`, the same answer.
 * Refusals are the SDK's own status and text. It records every outbound connection the thread
 * opens (the host looked up, or the address connected to), so a test can prove that nothing left
 * the loopback interface.
 */
import { subscribe } from 'node:diagnostics_channel';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { parentPort } from 'node:worker_threads';

/** Worker → parent: the app's port once it listens, then the answer to each `connections` question. */
export type SdkAppMessage = { readonly port: number } | { readonly connections: readonly string[] };

/** Express's `req.header(name)` and `res.status(code).send(body)`: all `withAuthentication` uses. */
interface ExpressLikeRequest extends IncomingMessage {
  header(name: string): string | undefined;
  frontegg?: { user: Record<string, unknown> };
}
interface ExpressLikeResponse extends ServerResponse {
  status(code: number): ExpressLikeResponse;
  send(body: string): ExpressLikeResponse;
}
type Middleware = (req: ExpressLikeRequest, res: ExpressLikeResponse, next: (err?: unknown) => void) => Promise<unknown>;

const parent = parentPort!;
const connections: string[] = [];
// Every TCP client socket this thread opens, whatever library opens it.
subscribe('net.client.socket', (message) => {
  const socket = (message as { socket: Socket }).socket;
  socket.once('lookup', (_err: unknown, _address: unknown, _family: unknown, host: string) => connections.push(host));
  socket.once('connect', () => connections.push(socket.remoteAddress ?? '?'));
});

// Loaded only now, after the channel is watched; the worker's environment configures it.
const sdk = (await import('@frontegg/client')) as unknown as { withAuthentication(options?: { roles?: string[] }): Middleware };
const routes: Record<string, Middleware> = {
  '/whoami': sdk.withAuthentication(),
  '/admin': sdk.withAuthentication({ roles: ['admin'] }),
};

const server = createServer((incoming, outgoing) => {
  const middleware = routes[incoming.url ?? ''];
  if (middleware === undefined || incoming.method !== 'GET') {
    outgoing.writeHead(404).end();
    return;
  }
  const req = Object.assign(incoming, {
    header(name: string) {
      const value = incoming.headers[name.toLowerCase()];
      return Array.isArray(value) ? value.join(', ') : value;
    },
  }) as ExpressLikeRequest;
  const res = Object.assign(outgoing, {
    status(code: number) {
      outgoing.statusCode = code;
      return res;
    },
    send(body: string) {
      outgoing.end(body);
      return res;
    },
  }) as ExpressLikeResponse;
  middleware(req, res, (err) => {
    // With an error the SDK has answered already (Express would hand `err` to its error handler).
    if (err !== undefined) return;
    outgoing.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(req.frontegg?.user ?? null));
  }).catch(() => {
    if (!outgoing.headersSent) outgoing.writeHead(500).end('middleware threw');
  });
});
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
parent.on('message', () => parent.postMessage({ connections: [...connections] } satisfies SdkAppMessage));
parent.postMessage({ port: (server.address() as AddressInfo).port } satisfies SdkAppMessage);
