import type { ServerResponse } from 'node:http';
import { challenge, errorBody, type GatewayError } from '../errors.js';

/**
 * Sends a gateway error in the one shape clients see (SPEC §5 "Errors to clients"): status from
 * the code, `{"errors":[…],"code":"ERR_…"}`, the RFC 6750 challenge on 401/403, and no-store so an
 * error never lands in a shared cache.
 */
export function sendError(res: ServerResponse, err: GatewayError, realm: string): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = errorBody(err);
  const headers: Record<string, string | number> = {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
  };
  const wwwAuthenticate = challenge(err, realm);
  if (wwwAuthenticate !== undefined) headers['www-authenticate'] = wwwAuthenticate;
  if (err.retryAfterSeconds !== undefined) headers['retry-after'] = Math.max(1, Math.ceil(err.retryAfterSeconds));
  res.writeHead(err.statusCode, headers);
  res.end(body);
}

/** The same error as raw HTTP/1.1 bytes, for sockets that never became a ServerResponse (upgrades, parse errors). */
export function rawErrorResponse(err: GatewayError, realm: string): string {
  const body = errorBody(err);
  const lines = [
    `HTTP/1.1 ${err.statusCode} ${STATUS_TEXT[err.statusCode] ?? 'Error'}`,
    'content-type: application/json; charset=utf-8',
    `content-length: ${Buffer.byteLength(body)}`,
    'cache-control: no-store',
    'connection: close',
  ];
  const wwwAuthenticate = challenge(err, realm);
  if (wwwAuthenticate !== undefined) lines.push(`www-authenticate: ${wwwAuthenticate}`);
  if (err.retryAfterSeconds !== undefined) lines.push(`retry-after: ${Math.max(1, Math.ceil(err.retryAfterSeconds))}`);
  return `${lines.join('\r\n')}\r\n\r\n${body}`;
}

const STATUS_TEXT: Readonly<Record<number, string>> = Object.freeze({
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  413: 'Payload Too Large',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
});
