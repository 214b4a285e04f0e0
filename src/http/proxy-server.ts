import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { CompiledConfig } from '../config/types.js';
import { GatewayError, isGatewayError } from '../errors.js';
import type { Logger } from '../log.js';
import { methodLabel, statusClass, type Metrics } from '../metrics.js';
import type { Decide, Decision, RequestFacts } from '../proxy/decide.js';
import type { Forwarder } from '../proxy/forward.js';
import type { WebSocketTunnel } from '../proxy/websocket.js';
import { rawErrorResponse, sendError } from './respond.js';
import type { TokenApi } from './token-api.js';

/**
 * The configuration-dependent half of request handling: the decision and the upstream pools of
 * one configuration generation. A request takes the current one when it starts and keeps it to
 * its end, so a reload never changes the rules under a request already under way.
 */
export interface RequestPipeline {
  readonly decide: Decide;
  readonly forwarder: Pick<Forwarder, 'forward'>;
  /** Called once per `pipeline()` call, when that request is done with it. */
  release(): void;
}

export interface ProxyServerDeps {
  /** The pipeline for a request starting now. */
  readonly pipeline: () => RequestPipeline;
  readonly tunnel: WebSocketTunnel;
  readonly metrics: Metrics;
  readonly log: Logger;
  /** Monotonic milliseconds, for durations. */
  readonly now: () => number;
  /** A new request id. */
  readonly newId: () => string;
  /** True once shutdown began: answers carry `Connection: close` so keep-alive clients move on. */
  readonly draining: () => boolean;
  /** The token service's routes (SPEC §4), answered by the gateway itself before any proxy route. */
  readonly tokenApi?: TokenApi;
}

/** nginx's code for "client closed the request before the response was complete". */
const CLIENT_CLOSED = 499;

/** Header lines allowed per request, as Envoy's and Apache's defaults (security case 44). */
const MAX_HEADER_LINES = 100;

/** A client-supplied request id is kept only when it cannot smuggle anything into logs or headers. */
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * The data-plane listener. Each request runs the decision (route → sanitize → extract →
 * authenticate → authorize → inject), then is forwarded or answered with the error, and is
 * recorded exactly once — metrics and one access-log line — when its response ends or breaks.
 */
export function createProxyServer(config: CompiledConfig, deps: ProxyServerDeps): Server {
  const { server: s, auth } = config;
  const server = createServer({
    headersTimeout: s.headersTimeoutMs,
    requestTimeout: s.requestTimeoutMs,
    keepAliveTimeout: s.keepAliveTimeoutMs,
    maxHeaderSize: s.maxHeaderBytes,
    // Node enforces headersTimeout/requestTimeout only when it sweeps connections (every 30 s by
    // default), which would let a slowloris client hold a socket far past the configured bound.
    connectionsCheckingInterval: Math.min(1000, Math.ceil(s.headersTimeoutMs / 2)),
    // Node's strict parser refuses the smuggling payloads of security case 41; never relax it.
    insecureHTTPParser: false,
    requireHostHeader: true,
  });
  server.maxConnections = s.maxConnections;
  // Node silently drops header lines past maxHeadersCount, which could hide a second credential
  // line from the extractor; so Node keeps them all (the byte cap still bounds them) and the
  // count is refused here instead.
  server.maxHeadersCount = 0;

  const connections = deps.metrics.openConnections.labels({ listener: 'proxy' });
  // The log level is fixed for the process (a reload never changes it), so this is decided once.
  const accessLog = deps.log.isLevelEnabled('info');
  server.on('connection', (socket: Socket) => {
    connections.inc();
    socket.once('close', () => connections.dec());
  });

  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    // A response already under way (the upstream answered while the body was still arriving)
    // cannot take a second status line: cutting the connection is the only honest signal, as in
    // Node's default handler. A reset peer has nothing left to answer.
    const inFlight = (socket as { _httpMessage?: ServerResponse })._httpMessage;
    if (err.code === 'ECONNRESET' || !socket.writable || inFlight?.headersSent === true) {
      socket.destroy();
      return;
    }
    // Malformed framing (smuggling attempts, bad chunking, oversized headers) never reaches a
    // handler: answer once and close the connection, so nothing after it is parsed.
    const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
    const reason = status === 431 ? 'Request Header Fields Too Large' : status === 408 ? 'Request Timeout' : 'Bad Request';
    deps.metrics.requests.inc({ route: 'none', method: 'OTHER', status_class: '4xx' });
    socket.end(`HTTP/1.1 ${status} ${reason}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`);
    deps.log.info({ status, reason: err.code ?? 'HPE_INVALID' }, 'rejected malformed request');
  });

  function facts(req: IncomingMessage, requestId: string, upgrade: boolean): RequestFacts {
    const socket = req.socket;
    return {
      method: req.method ?? 'GET',
      url: req.url ?? '/',
      headers: req.headers,
      rawHeaders: req.rawHeaders,
      remoteAddress: socket.remoteAddress ?? '',
      encrypted: (socket as { encrypted?: boolean }).encrypted === true,
      requestId,
      upgrade,
    };
  }

  function requestIdOf(req: IncomingMessage): string {
    const id = req.headers['x-request-id'];
    return typeof id === 'string' && REQUEST_ID.test(id) ? id : deps.newId();
  }

  async function decideSafely(decide: Decide, f: RequestFacts): Promise<Decision | GatewayError> {
    if (f.rawHeaders.length > 2 * MAX_HEADER_LINES) return new GatewayError('ERR_REQUEST_HEADERS_TOO_LARGE');
    try {
      return await decide(f);
    } catch (err) {
      deps.log.error({ err }, 'decision failed');
      return isGatewayError(err) ? err : new GatewayError('ERR_INTERNAL', 'decision threw', { cause: err });
    }
  }

  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    void handle(req, res);
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = deps.now();
    const requestId = requestIdOf(req);
    res.setHeader('x-request-id', requestId);
    if (deps.draining()) res.setHeader('connection', 'close');
    if (deps.tokenApi?.claims(req.url ?? '/') === true) {
      if (req.rawHeaders.length > 2 * MAX_HEADER_LINES) {
        sendError(res, new GatewayError('ERR_REQUEST_HEADERS_TOO_LARGE'), auth.realm);
      } else {
        await deps.tokenApi.handle(req, res);
      }
      recordTokenApi(req, res, started, requestId);
      return;
    }
    const pipeline = deps.pipeline();
    try {
      await proxy(req, res, pipeline, started, requestId);
    } finally {
      pipeline.release();
    }
  }

  async function proxy(req: IncomingMessage, res: ServerResponse, pipeline: RequestPipeline, started: number, requestId: string): Promise<void> {
    const f = facts(req, requestId, false);
    const outcome = await decideSafely(pipeline.decide, f);
    const authMs = deps.now() - started;
    const decision = outcome instanceof GatewayError ? undefined : outcome;
    let status: number;
    let upstreamMs: number | undefined;
    let error: GatewayError | undefined;
    if (decision === undefined || !decision.allow) {
      error = decision === undefined ? (outcome as GatewayError) : decision.error;
      // A request refused for its size is not worth reading further; nor is its connection.
      if (error.statusCode === 431) res.setHeader('connection', 'close');
      sendError(res, error, auth.realm);
      status = error.statusCode;
    } else {
      const result = await pipeline.forwarder.forward(req, res, decision.route, decision.path, decision.headers);
      upstreamMs = result.upstreamMs;
      error = result.error;
      if (error !== undefined && !res.headersSent) sendError(res, error, auth.realm);
      status = res.writableFinished || error !== undefined ? result.status : CLIENT_CLOSED;
      if (error !== undefined && error.code !== 'ERR_UPSTREAM_TIMEOUT' && req.destroyed) status = CLIENT_CLOSED;
    }
    record(req, decision, error, status, started, authMs, upstreamMs, f.requestId, f.remoteAddress);
  }

  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    // An upgrade bypasses the request handlers (Node docs), so it gets the same decision here,
    // and its socket gets an error listener before anything can fail (security case 46).
    socket.on('error', () => socket.destroy());
    void handleUpgrade(req, socket, head);
  });

  async function handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const started = deps.now();
    const requestId = requestIdOf(req);
    const f = facts(req, requestId, true);
    // The tunnel connects to the decided route's upstream directly: the pipeline is needed for the decision only.
    const pipeline = deps.pipeline();
    let outcome: Decision | GatewayError;
    try {
      outcome = await decideSafely(pipeline.decide, f);
    } finally {
      pipeline.release();
    }
    const authMs = deps.now() - started;
    const decision = outcome instanceof GatewayError ? undefined : outcome;
    if (decision === undefined || !decision.allow) {
      const error = decision === undefined ? (outcome as GatewayError) : decision.error;
      if (socket.writable) socket.end(rawErrorResponse(error, auth.realm));
      else socket.destroy();
      record(req, decision, error, error.statusCode, started, authMs, undefined, requestId, f.remoteAddress);
      return;
    }
    if (socket.destroyed) {
      record(req, decision, undefined, CLIENT_CLOSED, started, authMs, undefined, requestId, f.remoteAddress);
      return;
    }
    deps.tunnel.tunnel(req, socket, head, decision.route, decision.path, decision.headers);
    record(req, decision, undefined, 101, started, authMs, undefined, requestId, f.remoteAddress);
  }

  /** The token API's access line: no credential, no query, no body is ever logged (case 27). */
  function recordTokenApi(req: IncomingMessage, res: ServerResponse, started: number, requestId: string): void {
    const totalMs = deps.now() - started;
    const status = res.statusCode;
    deps.metrics.requests.inc({ route: 'token-api', method: methodLabel(req.method), status_class: statusClass(status) });
    deps.metrics.requestDuration.observe({ route: 'token-api' }, totalMs / 1000);
    const path = (req.url ?? '').split('?', 1)[0] ?? '';
    deps.log.info(
      { reqId: requestId, route: 'token-api', method: req.method, path: path.length > 512 ? `${path.slice(0, 512)}…` : path, status, peer: req.socket.remoteAddress, durationMs: round(totalMs) },
      'access',
    );
  }

  function record(
    req: IncomingMessage,
    decision: Decision | undefined,
    error: GatewayError | undefined,
    status: number,
    started: number,
    authMs: number,
    upstreamMs: number | undefined,
    requestId: string,
    peer: string,
  ): void {
    const totalMs = deps.now() - started;
    const route = decision?.route?.name ?? 'none';
    const method = methodLabel(req.method);
    const kind = decision?.credentialKind ?? 'none';
    const denied = decision === undefined || !decision.allow;
    const reason = denied ? (error?.code ?? 'ERR_INTERNAL') : decision.route.auth === null ? 'PUBLIC' : 'OK';
    const m = deps.metrics;
    m.requests.inc({ route, method, status_class: statusClass(status) });
    m.requestDuration.observe({ route }, totalMs / 1000);
    m.authDecisions.inc({ kind, result: denied ? 'deny' : 'allow', reason });
    m.authDuration.observe({ kind }, authMs / 1000);
    if (upstreamMs !== undefined) m.upstreamDuration.observe({ route }, upstreamMs / 1000);
    // The line's object is built only when it is written: at `warn` the access log costs nothing.
    if (!accessLog) return;
    const path = (req.url ?? '').split('?', 1)[0];
    deps.log.info(
      {
        reqId: requestId,
        route,
        method: req.method,
        // The query string is never logged: it is where careless clients put tokens (RFC 6750 §2.3).
        path: path !== undefined && path.length > 512 ? `${path.slice(0, 512)}…` : path,
        status,
        decision: denied ? 'deny' : 'allow',
        reason,
        credential: kind,
        tokenFp: decision?.tokenFingerprint,
        tokenType: decision?.allow === true ? decision.identity?.tokenType : undefined,
        peer,
        durationMs: round(totalMs),
        authMs: round(authMs),
        upstreamMs: upstreamMs === undefined ? undefined : round(upstreamMs),
        upstreamError: error !== undefined && !denied ? error.detail : undefined,
      },
      'access',
    );
  }

  return server;
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}
