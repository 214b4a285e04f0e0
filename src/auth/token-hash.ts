import { createHash } from 'node:crypto';

/**
 * One SHA-256 over the whole token gives both the cache key (so two tokens that differ in any
 * byte never share an entry; GHSA-rp9m-7r4c-75qg) and the fingerprint logs may carry in place of
 * the token (first 8 hex digits).
 */
export function hashToken(token: string): { readonly key: string; readonly fingerprint: string } {
  const digest = createHash('sha256').update(token).digest();
  return { key: digest.toString('base64url'), fingerprint: digest.toString('hex', 0, 4) };
}
