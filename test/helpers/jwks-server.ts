import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface JwksResponse {
  /** An object is sent as JSON; a string or Buffer as-is. */
  readonly body?: object | string | Buffer;
  readonly status?: number;
  readonly headers?: Record<string, string>;
  /** Real delay before answering (timeout tests only; prefer `hold()` elsewhere). */
  readonly delayMs?: number;
}

export interface JwksServer {
  readonly url: string;
  /** How many requests arrived so far (any path). */
  readonly requests: number;
  /** Replaces the response (fields not given keep their current value). */
  set(response: JwksResponse): void;
  /**
   * Holds every response until the returned function is called, so a test can line up concurrent
   * callers behind one in-flight fetch without sleeping.
   */
  hold(): () => void;
  /** Resolves once `n` requests have arrived. */
  waitForRequests(n: number): Promise<void>;
  close(): Promise<void>;
}

/** A JWKS HTTP server on 127.0.0.1, port 0, whose answer tests change at will. */
export async function startJwksServer(initial: JwksResponse = {}): Promise<JwksServer> {
  let current: Required<JwksResponse> = { body: { keys: [] }, status: 200, headers: {}, delayMs: 0, ...initial };
  let requests = 0;
  let held: Promise<void> | undefined;
  let waiters: Array<{ n: number; resolve: () => void }> = [];

  async function answer(_req: IncomingMessage, res: ServerResponse) {
    requests++;
    waiters = waiters.filter((w) => (requests >= w.n ? (w.resolve(), false) : true));
    const response = current;
    if (held !== undefined) await held;
    if (response.delayMs > 0) await new Promise((resolve) => setTimeout(resolve, response.delayMs));
    if (res.destroyed) return;
    const body =
      typeof response.body === 'string' || Buffer.isBuffer(response.body) ? response.body : JSON.stringify(response.body);
    res.writeHead(response.status, { 'content-type': 'application/json', ...response.headers });
    res.end(body);
  }

  const server = createServer((req, res) => void answer(req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}/.well-known/jwks.json`,
    get requests() {
      return requests;
    },
    set(response: JwksResponse) {
      current = { ...current, ...response };
    },
    hold() {
      let release!: () => void;
      held = new Promise<void>((resolve) => (release = resolve));
      return () => {
        held = undefined;
        release();
      };
    },
    waitForRequests(n: number) {
      if (requests >= n) return Promise.resolve();
      return new Promise<void>((resolve) => waiters.push({ n, resolve }));
    },
    close() {
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
