/** Either the normalised origin (`https://api.example.com:8443`) or why the text is not one. */
export type OriginResult = { readonly ok: true; readonly origin: string } | { readonly ok: false; readonly reason: string };

/**
 * Reads an `http(s)://host[:port]` origin. Upstreams are origins only: a path would be silently
 * joined with (or replace) the request path, and userinfo would be sent as credentials and end up
 * in logs. The result is WHATWG-normalised (lower-case host, default port dropped), which is also
 * the spelling browsers use in the `Origin` header.
 */
export function parseOrigin(text: string): OriginResult {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return { ok: false, reason: 'is not a valid URL' };
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return { ok: false, reason: 'must use http or https' };
  if (url.username !== '' || url.password !== '') return { ok: false, reason: 'must not contain credentials' };
  if (url.pathname !== '/' || text.includes('?') || text.includes('#')) {
    return { ok: false, reason: 'must be an origin only (scheme, host and optional port), without path, query or fragment' };
  }
  return { ok: true, origin: url.origin };
}
