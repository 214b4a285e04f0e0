import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Socket } from 'node:net';

/** One request as the upstream saw it. */
export interface Received {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  readonly rawHeaders: readonly string[];
  readonly body: string;
}

export interface EchoUpstream {
  readonly url: string;
  readonly port: number;
  /** Every request received, in order. */
  readonly received: Received[];
  /** Every WebSocket upgrade received, in order (answered 101, then echoes bytes back). */
  readonly upgrades: Received[];
  /** Sockets ever accepted (keep-alive reuse shows as fewer connections than requests). */
  connections(): number;
  /** Sockets open right now: pooled keep-alive connections plus those serving a request. */
  openConnections(): number;
  /** Requests whose headers arrived, complete or not (`received` holds only completed ones). */
  started(): number;
  /**
   * Replace how the upstream answers (default: 200 with the received request as JSON). With
   * `beforeBody`, `fn` runs as soon as the headers arrive (its `body` is empty), so the answer can
   * start while the client is still sending; the request is still recorded once its body ends.
   */
  handle(fn: ((req: IncomingMessage, res: ServerResponse, body: string) => void) | undefined, options?: { beforeBody?: boolean }): void;
  close(): Promise<void>;
}

/** Where the echo upstream listens: loopback and a port the system picks, unless told otherwise. */
export interface EchoUpstreamOptions {
  readonly host?: string;
  readonly port?: number;
  /** How long an idle keep-alive connection stays open (Node's default 5000; 0: until the client closes it). */
  readonly keepAliveTimeoutMs?: number;
}

/**
 * An upstream that records exactly what it received and echoes it back as JSON. Tests assert on
 * `received` to prove what did — and did not — reach the service behind the gateway; the demo
 * (`npm run demo`) shows the echo to a newcomer. Rejects when the address cannot be bound (a
 * port in use is `EADDRINUSE`).
 */
export async function startEchoUpstream(options: EchoUpstreamOptions = {}): Promise<EchoUpstream> {
  const received: Received[] = [];
  let custom: ((req: IncomingMessage, res: ServerResponse, body: string) => void) | undefined;
  let beforeBody = false;
  let connectionCount = 0;
  let startedCount = 0;
  const sockets = new Set<Socket>();
  const server = createServer((req, res) => {
    startedCount += 1;
    if (custom !== undefined && beforeBody) custom(req, res, '');
    const answered = beforeBody;
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('error', () => undefined);
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const entry: Received = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, rawHeaders: req.rawHeaders, body };
      received.push(entry);
      if (answered) return;
      if (custom !== undefined) {
        custom(req, res, body);
        return;
      }
      const payload = JSON.stringify(entry);
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) });
      res.end(payload);
    });
  });
  const upgrades: Received[] = [];
  server.on('upgrade', (req: IncomingMessage, socket: Socket) => {
    upgrades.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, rawHeaders: req.rawHeaders, body: '' });
    socket.on('error', () => socket.destroy());
    socket.write('HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\n\r\n');
    socket.pipe(socket);
  });
  if (options.keepAliveTimeoutMs !== undefined) server.keepAliveTimeout = options.keepAliveTimeoutMs;
  server.on('connection', (socket: Socket) => {
    connectionCount += 1;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    port,
    received,
    upgrades,
    connections: () => connectionCount,
    openConnections: () => sockets.size,
    started: () => startedCount,
    handle(fn, options = {}) {
      custom = fn;
      beforeBody = fn !== undefined && options.beforeBody === true;
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * The values of every header line named `name` (any case) exactly as the upstream read them, in
 * order: `headers` joins or drops repeats, the raw lines show how many were really sent.
 */
export function rawHeaderValues(entry: Received, name: string): string[] {
  const wanted = name.toLowerCase();
  const values: string[] = [];
  for (let i = 0; i + 1 < entry.rawHeaders.length; i += 2) {
    if (entry.rawHeaders[i]!.toLowerCase() === wanted) values.push(entry.rawHeaders[i + 1]!);
  }
  return values;
}
