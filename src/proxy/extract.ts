import type { Credential } from '../auth/identity.js';
import { GatewayError } from '../errors.js';

/** RFC 6750 §2.1 `b64token` (the RFC 9110 §11.2 `token68`): `1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`. */
const TOKEN68 = /^[A-Za-z0-9\-._~+/]+=*$/;
const BEARER = 'bearer';
const BASIC = 'basic';
const SP = 0x20;

/**
 * Finds the one credential of a request in its raw header lines (SPEC §5 "Extract"), or returns
 * undefined when there is none (the caller answers 401 with the bare challenge, RFC 6750 §3.1).
 *
 * Reads `rawHeaders`, not `headers`: Node keeps only the first `Authorization` and joins repeated
 * `X-API-KEY` lines with ", ", so only the raw lines show a second credential (case 2). Throws:
 * - `ERR_AUTH_AMBIGUOUS` (400) when both headers are present, or either appears twice — which one
 *   would the upstream or another hop believe? (case 2, RFC 6750 §2: one method per request);
 * - `ERR_AUTH_MALFORMED` (401) for an empty `X-API-KEY`, or an `Authorization` value that starts
 *   like `Bearer` but is not `Bearer 1*SP token68` (`Bearer-x`, a tab separator, no token; case 4).
 *
 * `bearer` is matched without regard to case and followed by one or more spaces (RFC 6750 §2.1
 * says `1*SP`; RFC 9110 §11.1 makes the scheme case-insensitive). With `allowBasic` (a route that
 * exchanges client credentials at the edge) `Basic 1*SP token68` is a credential of kind `basic`,
 * parsed by the same rules; anywhere else `Basic`, like `Digest`, is no credential for us. The
 * query string is never read: `?access_token=` leaks through logs and Referer (case 3; RFC 9700
 * §4.3.2, RFC 6750 §5.3).
 */
export function extractCredential(rawHeaders: readonly string[], allowBasic = false): Credential | undefined {
  let authorization: string | undefined;
  let apiKey: string | undefined;
  let count = 0;
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!;
    // Length first: most header names are rejected without folding case.
    if (name.length === 13 && name.toLowerCase() === 'authorization') {
      authorization = rawHeaders[i + 1]!;
      count++;
    } else if (name.length === 9 && name.toLowerCase() === 'x-api-key') {
      apiKey = rawHeaders[i + 1]!;
      count++;
    }
  }
  if (count === 0) return undefined;
  if (count > 1) throw new GatewayError('ERR_AUTH_AMBIGUOUS', 'more than one credential header');

  if (apiKey !== undefined) {
    const token = trimOws(apiKey);
    if (token === '') throw new GatewayError('ERR_AUTH_MALFORMED', 'empty X-API-KEY');
    return { kind: 'apiKey', token };
  }
  const value = trimOws(authorization!);
  if (startsWithScheme(value, BEARER)) return { kind: 'bearer', token: schemeToken(value, BEARER) };
  if (allowBasic && startsWithScheme(value, BASIC)) return { kind: 'basic', token: schemeToken(value, BASIC) };
  return undefined;
}

/**
 * The token68 after `scheme 1*SP`. A value that starts like the scheme without being one —
 * `Bearer`, `Bearer-x`, `Bearer\tx`, no token — is an invalid credential, never a fall-through.
 */
function schemeToken(value: string, scheme: string): string {
  let start = scheme.length;
  while (value.charCodeAt(start) === SP) start++;
  if (start === scheme.length) throw new GatewayError('ERR_AUTH_MALFORMED', `${scheme} scheme not followed by a space`);
  const token = value.slice(start);
  if (!TOKEN68.test(token)) throw new GatewayError('ERR_AUTH_MALFORMED', `${scheme} credential is not token68`);
  return token;
}

/** Case-insensitive `scheme` (lower-case) at the start, without allocating: for a letter, `c | 0x20` is its lower case. */
function startsWithScheme(value: string, scheme: string): boolean {
  if (value.length < scheme.length) return false;
  for (let i = 0; i < scheme.length; i++) {
    if ((value.charCodeAt(i) | 0x20) !== scheme.charCodeAt(i)) return false;
  }
  return true;
}

/** RFC 9110 §5.5: optional whitespace (SP / HTAB) around a field value is not part of it. */
function trimOws(value: string): string {
  let start = 0;
  let end = value.length;
  while (start < end && isOws(value.charCodeAt(start))) start++;
  while (end > start && isOws(value.charCodeAt(end - 1))) end--;
  return start === 0 && end === value.length ? value : value.slice(start, end);
}

function isOws(c: number): boolean {
  return c === 0x20 || c === 0x09;
}
