import { hash } from 'node:crypto';

/**
 * SHA-256 over the whole token, two ways. The cache key (base64url) makes two tokens that differ
 * in any byte two entries (GHSA-rp9m-7r4c-75qg); the fingerprint (first 8 hex digits) is what logs
 * carry in place of the token. One-shot `crypto.hash`: no Hash object per request.
 */
export function tokenKey(token: string): string {
  return hash('sha256', token, 'base64url');
}

export function tokenFingerprint(token: string): string {
  return hash('sha256', token, 'hex').slice(0, 8);
}
