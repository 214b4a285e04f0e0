import { EventEmitter } from 'node:events';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { pipeline, Transform, type TransformCallback } from 'node:stream';
import { Pool } from 'undici';
import type { CompiledRoute, CompiledUpstreamDefaults } from '../config/types.js';
import { GatewayError } from '../errors.js';
import type { OutgoingHeaders } from './decide.js';
import { HOP_BY_HOP_HEADERS } from './hop-by-hop.js';

/** What became of one forwarded request, for the access log and metrics. */
export interface ForwardResult {
  /** Status sent to the client (the upstream's, or the one the gateway answered with). */
  readonly status: number;
  /** Milliseconds from dispatch to the upstream response headers; undefined if none came. */
  readonly upstreamMs: number | undefined;
  /** The gateway error when the upstream failed before answering. */
  readonly error: GatewayError | undefined;
}

export interface Forwarder {
  forward(req: IncomingMessage, res: ServerResponse, route: CompiledRoute, path: string, headers: OutgoingHeaders): Promise<ForwardResult>;
  /** Closes the pools of every origin not in `origins` (a reload dropped them); requests under way on them finish first. */
  retain(origins: ReadonlySet<string>): Promise<void>;
  close(): Promise<void>;
}


/**
 * Forwards requests through one undici `Pool` per upstream origin: keep-alive connections reused
 * across requests (no per-request connect), bounded in number, bodies streamed both ways, and
 * redirects never followed (undici's Pool has no redirect handling), so a `Location` from the
 * upstream goes back to the client untouched and credentials never travel to another host.
 */
export function createForwarder(defaults: CompiledUpstreamDefaults, limits: { maxBodyBytes: number }, deps: { now: () => number }): Forwarder {
  const pools = new Map<string, Pool>();

  function poolFor(origin: string): Pool {
    let pool = pools.get(origin);
    if (pool === undefined) {
      pool = new Pool(origin, {
        connections: defaults.connections,
        pipelining: 1,
        connect: { timeout: defaults.connectTimeoutMs },
        headersTimeout: defaults.headersTimeoutMs,
        bodyTimeout: defaults.bodyTimeoutMs,
        keepAliveTimeout: defaults.keepAliveTimeoutMs,
      });
      pools.set(origin, pool);
    }
    return pool;
  }

  function forward(
    req: IncomingMessage,
    res: ServerResponse,
    route: CompiledRoute,
    path: string,
    headers: OutgoingHeaders,
  ): Promise<ForwardResult> {
    const started = deps.now();
    // The connection closed while the decision ran (the client left, or the listener cut it for
    // malformed framing after the headers): its `close` has fired, so the abort below would never
    // run, and nobody is left to answer. The upstream never sees the request.
    if (req.destroyed || res.destroyed) return Promise.resolve({ status: 0, upstreamMs: undefined, error: undefined });
    const declared = req.headers['content-length'];
    if (declared !== undefined && Number(declared) > limits.maxBodyBytes) {
      // Refused before any upstream request; the unread body is not worth draining.
      res.setHeader('connection', 'close');
      return Promise.resolve({ status: 413, upstreamMs: undefined, error: new GatewayError('ERR_REQUEST_TOO_LARGE') });
    }
    let upstreamMs: number | undefined;
    let status = 0;
    // A client that goes away mid-request or mid-response must not leave the upstream request
    // running (http-proxy #898/#1455: leaked sockets under client aborts). undici aborts on an
    // EventEmitter's 'abort' as on an AbortSignal's; an AbortController per request cost more
    // than any other single step of a cached-token request (its signal is an EventTarget that
    // Node tracks for garbage collection).
    const abort = new EventEmitter();
    const onClose = () => {
      if (!res.writableFinished) abort.emit('abort');
    };
    res.once('close', onClose);
    // With Content-Length the parser already enforces the declared size (checked above); a chunked
    // body has no declared size, so it is counted as it streams and cut at the limit.
    const body =
      declared !== undefined ? (declared === '0' ? null : req) : req.headers['transfer-encoding'] !== undefined ? limitBody(req, limits.maxBodyBytes) : null;
    return new Promise<ForwardResult>((resolve) => {
      poolFor(route.upstream).stream(
        {
          path,
          method: req.method as 'GET',
          headers,
          body,
          signal: abort,
          opaque: res,
        },
        ({ statusCode, headers: upstreamHeaders, opaque }) => {
          upstreamMs = deps.now() - started;
          status = statusCode;
          opaque.writeHead(statusCode, responseHeaders(upstreamHeaders));
          return opaque;
        },
        (err) => {
          res.off('close', onClose);
          if (err === null) {
            resolve({ status, upstreamMs, error: undefined });
            return;
          }
          if (res.headersSent) {
            // The status line is gone; the only honest signal left is a truncated response.
            res.destroy();
            resolve({ status, upstreamMs, error: upstreamError(err) });
            return;
          }
          const error = upstreamError(err);
          if (error.code === 'ERR_REQUEST_TOO_LARGE') res.setHeader('connection', 'close');
          resolve({ status: error.statusCode, upstreamMs, error });
        },
      );
    });
  }

  async function retain(origins: ReadonlySet<string>): Promise<void> {
    const dropped = [...pools].filter(([origin]) => !origins.has(origin));
    for (const [origin] of dropped) pools.delete(origin);
    // undici's close lets the requests already dispatched on the pool complete.
    await Promise.all(dropped.map(([, pool]) => pool.close()));
  }

  async function close(): Promise<void> {
    await retain(new Set());
  }

  return Object.freeze({ forward, retain, close });
}

function responseHeaders(headers: IncomingHttpHeaders): IncomingHttpHeaders {
  const named = headers['connection'];
  const extra = typeof named === 'string' ? named.toLowerCase().split(',').map((n) => n.trim()) : [];
  const out: IncomingHttpHeaders = {};
  for (const name of Object.keys(headers)) {
    // `content-length` stays: the body is streamed unchanged, so the upstream's length is still true.
    if (HOP_BY_HOP_HEADERS.has(name) || extra.includes(name)) continue;
    out[name] = headers[name];
  }
  return out;
}

/**
 * The one catalog from low-level upstream failures to what the client is told: timeouts → 504,
 * everything else that kept the upstream from answering → 502. Details stay in the log.
 */
export function upstreamError(err: unknown): GatewayError {
  if (err instanceof GatewayError) return err;
  const cause = (err as { cause?: unknown } | null)?.cause;
  if (cause instanceof GatewayError) return cause;
  const code = (err as { code?: unknown } | null)?.code;
  switch (code) {
    case 'UND_ERR_HEADERS_TIMEOUT':
    case 'UND_ERR_CONNECT_TIMEOUT':
    case 'UND_ERR_BODY_TIMEOUT':
    case 'ETIMEDOUT':
      return new GatewayError('ERR_UPSTREAM_TIMEOUT', String(code), { cause: err });
    default:
      return new GatewayError('ERR_UPSTREAM_UNAVAILABLE', typeof code === 'string' ? code : 'upstream error', { cause: err });
  }
}

/**
 * The request body counted as it streams, failing once it passes `max` bytes. `pipeline` (not
 * `pipe`) so a client abort destroys the counted stream too and undici aborts the upstream request.
 */
function limitBody(req: IncomingMessage, max: number): Transform {
  let seen = 0;
  const counted = new Transform({
    transform(chunk: Buffer, _encoding, callback: TransformCallback) {
      seen += chunk.length;
      if (seen > max) callback(new GatewayError('ERR_REQUEST_TOO_LARGE'));
      else callback(null, chunk);
    },
  });
  pipeline(req, counted, () => undefined);
  return counted;
}
