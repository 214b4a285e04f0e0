/**
 * Hop-by-hop headers (RFC 9110 §7.6.1; RFC 9112 §9.6 for `proxy-connection`): they describe one
 * connection and never cross a proxy, in either direction. The one list the request sanitizer,
 * the response filter and the config validator share.
 */
export const HOP_BY_HOP_HEADERS: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'proxy-authorization',
  'proxy-authenticate',
]);
