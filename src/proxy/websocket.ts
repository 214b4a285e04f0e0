import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import httpProxy from 'http-proxy';
import type { CompiledRoute } from '../config/types.js';
import type { OutgoingHeaders } from './decide.js';

export interface WebSocketTunnel {
  /** Tunnels an already authorized upgrade to the route's upstream, with the decided headers. */
  tunnel(req: IncomingMessage, socket: Duplex, head: Buffer, route: CompiledRoute, path: string, headers: OutgoingHeaders): void;
  close(): void;
}

/**
 * WebSocket tunnelling through http-proxy (SPEC §5: upgrades are authenticated like any request
 * first, then tunnelled). Node emits `upgrade` outside the request handlers, so the caller runs the
 * decision before calling `tunnel`; here the request is rewritten to exactly what was decided.
 */
export function createWebSocketTunnel(deps: { onError: (err: Error) => void }): WebSocketTunnel {
  const proxy = httpProxy.createProxyServer({ ws: true, xfwd: false, changeOrigin: true, followRedirects: false });
  // Without a listener an upstream error would be an unhandled 'error' event and crash the
  // process (http-proxy #1468/#1439).
  proxy.on('error', (err, _req, socket) => {
    deps.onError(err);
    if (socket !== undefined && 'destroy' in socket) (socket as Duplex).destroy();
  });
  proxy.on('proxyReqWs', (proxyReq, _req, socket) => {
    proxyReq.on('error', () => socket.destroy());
  });
  proxy.on('open', (proxySocket) => {
    proxySocket.on('error', () => proxySocket.destroy());
  });

  function tunnel(req: IncomingMessage, socket: Duplex, head: Buffer, route: CompiledRoute, path: string, headers: OutgoingHeaders): void {
    req.url = path;
    req.headers = headers as IncomingMessage['headers'];
    proxy.ws(req, socket, head, { target: route.upstream });
  }

  return Object.freeze({ tunnel, close: () => proxy.close() });
}
