/** A client's id and secret as sent in `Authorization: Basic`. */
export interface BasicCredentials {
  readonly clientId: string;
  readonly secret: string;
}

/**
 * Decodes the token68 of `Authorization: Basic` into a client's id and secret, or undefined when
 * it is not one: `client_secret_basic` (RFC 6749 §2.3.1) form-URL-encodes id and secret, then joins
 * them by the first colon and base64-encodes the pair (RFC 7617). The token endpoint and the
 * proxy's edge exchange read it the same way, so a credential works in both places or in neither.
 */
export function decodeBasicCredentials(token68: string): BasicCredentials | undefined {
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(token68)) return undefined;
  const decoded = Buffer.from(token68, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon <= 0) return undefined;
  try {
    const clientId = decodeForm(decoded.slice(0, colon));
    const secret = decodeForm(decoded.slice(colon + 1));
    return clientId === '' || secret === '' ? undefined : { clientId, secret };
  } catch {
    return undefined;
  }
}

/** application/x-www-form-urlencoded decoding: `+` is a space (RFC 6749 Appendix B). */
function decodeForm(text: string): string {
  return decodeURIComponent(text.replace(/\+/g, ' '));
}
