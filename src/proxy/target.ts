import { GatewayError } from '../errors.js';

/** The request target, normalised once so that the route decision and the upstream see one path. */
export interface NormalizedTarget {
  /** Normalised path plus `?query` when there is one: exactly what the upstream receives. */
  readonly path: string;
  /** Normalised path, lower-cased: what routes are matched against (never the query). */
  readonly matchPath: string;
  /** The query without its `?`, forwarded as received; empty when absent. */
  readonly query: string;
}

/**
 * Longest raw path accepted. Longer targets are refused rather than truncated or passed through:
 * legitimate API paths are short, and a bound keeps the per-request scan cheap.
 */
export const MAX_PATH_LENGTH = 8192;

const SLASH = 0x2f;
const PERCENT = 0x25;
const DOT = 0x2e;
const HEX_UPPER = '0123456789ABCDEF';

/**
 * Normalises an origin-form request target (RFC 9112 §3.2.1), or throws
 * `GatewayError('ERR_REQUEST_INVALID')`.
 *
 * The route decision and the upstream must read the same path (security case 42; Envoy's
 * path-confusion CVE class; fastify-reply-from `buildURL`). Only the RFC 3986 §6.2.2 equivalences
 * that every server agrees on are applied — percent-encoded unreserved characters decoded (§6.2.2.2),
 * the hex of the remaining escapes upper-cased (§6.2.2.1). Every construct that servers disagree
 * on is refused with 400 instead of being "fixed": RFC 9112 §3.2 warns that an auto-corrected
 * request-line may have been crafted to bypass security filters along the chain.
 */
export function normalizeTarget(url: string): NormalizedTarget {
  // Absolute-form (`http://evil/`), authority-form (`evil:443`) and asterisk-form (`*`) would let
  // the client name the host, or mean nothing to a path-routed proxy (case 42, RFC 9112 §3.2.2-4).
  if (url.charCodeAt(0) !== SLASH) throw invalid('request target is not origin-form');

  const q = url.indexOf('?');
  const rawPath = q === -1 ? url : url.slice(0, q);
  const query = q === -1 ? '' : url.slice(q + 1);
  if (rawPath.length > MAX_PATH_LENGTH) throw invalid('path too long');

  // The normalised path is built only when an escape changes something; the common path without
  // `%` is validated in place and returned as is.
  let out = '';
  let copiedUpTo = 0;
  let segmentLength = 0;
  let segmentDots = 0;

  for (let i = 1; i <= rawPath.length; i++) {
    const c = i < rawPath.length ? rawPath.charCodeAt(i) : SLASH;
    if (c === SLASH) {
      // `//admin` is an empty segment: a URL resolver treats a leading `//` as a network-path
      // reference to host `admin`, and servers that merge slashes see `/admin` (case 42). A
      // trailing `/` (`/api/`) is an empty last segment and is allowed.
      if (segmentLength === 0 && i < rawPath.length) throw invalid('empty path segment');
      // `.` and `..` (also spelled `%2e`) are resolved by the upstream (RFC 3986 §5.2.4) after we
      // matched: `/public/../admin` would be authorised as /public and served as /admin (case 42).
      if (segmentDots === segmentLength && (segmentLength === 1 || segmentLength === 2)) {
        throw invalid('dot segment');
      }
      segmentLength = 0;
      segmentDots = 0;
      continue;
    }
    segmentLength++;
    if (c === DOT) {
      segmentDots++;
      continue;
    }
    if (c !== PERCENT) {
      if (!isRawPathChar(c)) throw invalid('character not allowed in path');
      continue;
    }
    const hi = hexValue(rawPath.charCodeAt(i + 1));
    const lo = hexValue(rawPath.charCodeAt(i + 2));
    if (hi < 0 || lo < 0) throw invalid('malformed percent-encoding');
    const octet = (hi << 4) | lo;
    if (isUnreserved(octet)) {
      // RFC 3986 §6.2.2.2: `%61dmin` is `admin` to every server, so it must be to the matcher too.
      out += rawPath.slice(copiedUpTo, i) + String.fromCharCode(octet);
      if (octet === DOT) segmentDots++;
    } else if (isForbiddenEscape(octet)) {
      throw invalid('encoded character not allowed in path');
    } else if (isLowerHex(rawPath.charCodeAt(i + 1)) || isLowerHex(rawPath.charCodeAt(i + 2))) {
      // RFC 3986 §6.2.2.1: one spelling per escape, so prefixes compare byte for byte.
      out += rawPath.slice(copiedUpTo, i) + '%' + HEX_UPPER.charAt(hi) + HEX_UPPER.charAt(lo);
    } else {
      i += 2; // already canonical: nothing to rewrite
      continue;
    }
    copiedUpTo = i + 3;
    i += 2;
  }

  for (let i = 0; i < query.length; i++) {
    if (!isRawQueryChar(query.charCodeAt(i))) throw invalid('character not allowed in query');
  }

  const path = copiedUpTo === 0 ? rawPath : out + rawPath.slice(copiedUpTo);
  return {
    path: query === '' ? path : path + '?' + query,
    // Matching is case-insensitive so that `/ADMIN` cannot dodge an `/admin` rule on an upstream
    // whose routing ignores case (case 42).
    matchPath: path.toLowerCase(),
    query,
  };
}

function invalid(detail: string): GatewayError {
  return new GatewayError('ERR_REQUEST_INVALID', detail);
}

/**
 * RFC 3986 `pchar` minus `;` and `%` (handled apart). Refused, with their reason:
 * - `;` starts matrix parameters that Tomcat-style upstreams strip: `/admin;x=1` is served as
 *   `/admin` but would not match an `/admin` rule (case 42; CVE-2020-1957 and kin);
 * - `\` is a path separator to Windows servers and to WHATWG URL parsing (`/public\..\admin`);
 * - controls, NUL, space and DEL split or truncate the request line (RFC 9112 §3.2);
 * - `#` starts a fragment that some upstreams cut off after we matched (`/admin#/../public`);
 * - non-ASCII and the remaining delimiters are not allowed raw in a path (RFC 3986 §3.3).
 */
function isRawPathChar(c: number): boolean {
  return (
    (c >= 0x61 && c <= 0x7a) || // a-z
    (c >= 0x41 && c <= 0x5a) || // A-Z
    (c >= 0x30 && c <= 0x3a) || // 0-9 and `:`
    c === 0x2d || c === 0x5f || c === 0x7e || // - _ ~ (`.` handled by the caller)
    c === 0x21 || c === 0x24 || // ! $
    (c >= 0x26 && c <= 0x2c) || // & ' ( ) * + ,
    c === 0x3d || c === 0x40 // = @
  );
}

/**
 * The query is forwarded as received and never used for matching, so only what would break the
 * request line towards the upstream is refused: controls, space, DEL, non-ASCII, and `#`.
 */
function isRawQueryChar(c: number): boolean {
  return c > 0x20 && c < 0x7f && c !== 0x23;
}

/** RFC 3986 §2.3 unreserved: ALPHA / DIGIT / "-" / "." / "_" / "~". */
function isUnreserved(c: number): boolean {
  return (
    (c >= 0x61 && c <= 0x7a) ||
    (c >= 0x41 && c <= 0x5a) ||
    (c >= 0x30 && c <= 0x39) ||
    c === 0x2d || c === 0x2e || c === 0x5f || c === 0x7e
  );
}

/**
 * Escapes that upstreams decode into something structural, so they cannot be left encoded:
 * - `%2F` and `%5C`: decoded to a separator by many servers (`/public%2F..%2Fadmin`, case 42;
 *   CVE-2007-0450 class);
 * - `%3B`: decoded before matrix-parameter stripping by some frameworks (same bypass as `;`);
 * - `%25`: a second decoding turns `%252e%252e` into `..` (double-decoding, CVE-2001-0333 class);
 * - `%00`-`%1F` and `%7F`: NUL truncation and header/log injection on the upstream.
 */
function isForbiddenEscape(octet: number): boolean {
  return octet < 0x20 || octet === 0x7f || octet === 0x2f || octet === 0x5c || octet === 0x3b || octet === 0x25;
}

function isLowerHex(c: number): boolean {
  return c >= 0x61 && c <= 0x66;
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  return -1; // also NaN past the end of the string
}
