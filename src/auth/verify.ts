import { isUtf8 } from 'node:buffer';
import { TokenError } from 'fast-jwt';
import type { Clock } from '../clock.js';
import { TOKEN_TYPES, type TokenType } from '../config/schema.js';
import type { CompiledIssuer } from '../config/types.js';
import { GatewayError, type ErrorCode } from '../errors.js';
import { CREDENTIAL_KIND_OF, type Identity } from './identity.js';
import type { PreparedKey } from './jwks.js';

export interface TokenVerifierOptions {
  readonly issuers: readonly CompiledIssuer[];
  readonly clockToleranceSeconds: number;
}

export interface TokenVerifierDeps {
  readonly clock: Clock;
  /**
   * The keys published under `kid` (normally one; several only if two issuers reuse a kid).
   * Throws ERR_AUTH_KID_UNKNOWN or ERR_AUTH_KEYS_UNAVAILABLE.
   */
  readonly resolveKeys: (kid: string) => Promise<readonly PreparedKey[]>;
}

/** base64url without padding (RFC 7515 §2): nothing else may appear in a segment (security case 6). */
const SEGMENT = /^[A-Za-z0-9_-]+$/;
/**
 * Printable ASCII only, with no space at either end: the values become upstream headers, and a
 * header parser drops the whitespace around a value, so " admin" would reach the upstream as
 * "admin" (security case 23; RFC 9110 §5.5).
 */
const IDENTITY_STRING = /^(?! )[\x20-\x7e]{1,1024}(?<! )$/;
const MAX_KID_LENGTH = 256;
const MAX_LIST_ENTRIES = 256;
const TOKEN_TYPE_SET: ReadonlySet<string> = new Set(TOKEN_TYPES);

/**
 * A `GatewayError` without a stack trace. Refusing a token is ordinary control flow, the stack says
 * nothing, and capturing it was the largest cost of refusing a flood of garbage tokens.
 */
export function authError(code: ErrorCode, detail: string): GatewayError {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return new GatewayError(code, detail);
  } finally {
    Error.stackTraceLimit = limit;
  }
}

function reject(code: ErrorCode, detail: string): never {
  throw authError(code, detail);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Own members only: a polluted `Object.prototype` can never supply a claim. */
function own(obj: Record<string, unknown>, name: string): unknown {
  return Object.hasOwn(obj, name) ? obj[name] : undefined;
}

/**
 * True when a top-level member name repeats. `json` must already have passed `JSON.parse`. Names
 * are compared after unescaping, so `"s\u0075b"` and `"sub"` collide. Duplicates are refused
 * rather than resolved: parsers disagree on which one wins (RFC 7515 §4; RFC 8259 §4; security
 * case 22).
 */
export function hasDuplicateMember(json: string): boolean {
  const seen = new Set<string>();
  let depth = 0;
  let expectName = false;
  for (let i = 0; i < json.length; i++) {
    const c = json.charCodeAt(i);
    if (c === 0x22) {
      const start = i;
      let escaped = false;
      for (i++; json.charCodeAt(i) !== 0x22; i++) {
        if (json.charCodeAt(i) === 0x5c) {
          escaped = true;
          i++;
        }
      }
      if (depth === 1 && expectName) {
        // Only a name with an escape needs unescaping; the others are their own text.
        const name = escaped ? (JSON.parse(json.slice(start, i + 1)) as string) : json.slice(start + 1, i);
        if (seen.has(name)) return true;
        seen.add(name);
        expectName = false;
      }
    } else if (c === 0x7b) {
      depth++;
      if (depth === 1) expectName = true;
    } else if (c === 0x5b) {
      depth++;
    } else if (c === 0x7d || c === 0x5d) {
      depth--;
    } else if (c === 0x2c && depth === 1) {
      expectName = true;
    }
  }
  return false;
}

/** base64url → strict UTF-8 → JSON → a plain object with unique members, or ERR_AUTH_MALFORMED. */
function decodeObject(segment: string, what: string): Record<string, unknown> {
  const bytes = Buffer.from(segment, 'base64url');
  // fast-jwt decodes with replacement characters; we refuse invalid UTF-8 instead (RFC 7519 §7.2 step 10).
  if (!isUtf8(bytes)) reject('ERR_AUTH_MALFORMED', `${what} is not UTF-8`);
  const text = bytes.toString('utf8');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    reject('ERR_AUTH_MALFORMED', `${what} is not JSON`);
  }
  if (!isPlainObject(value)) reject('ERR_AUTH_MALFORMED', `${what} is not a JSON object`);
  if (hasDuplicateMember(text)) reject('ERR_AUTH_MALFORMED', `${what} has a duplicate member`);
  return value;
}

/** fast-jwt's failures, translated at this boundary into our codes. */
function translate(err: unknown): GatewayError {
  if (err instanceof GatewayError) return err;
  const code = err instanceof TokenError ? err.code : undefined;
  switch (code) {
    case TokenError.codes.malformed:
    case TokenError.codes.invalidPayload:
    case TokenError.codes.invalidType:
    case TokenError.codes.invalidCritHeader:
      return authError('ERR_AUTH_MALFORMED', `fast-jwt: ${code}`);
    case TokenError.codes.invalidAlgorithm:
      return authError('ERR_AUTH_ALGORITHM', `fast-jwt: ${code}`);
    default:
      // invalidSignature, verifyError (e.g. an ECDSA signature of the wrong length), missingSignature,
      // and anything unforeseen: the signature did not verify, so the token is refused.
      return authError('ERR_AUTH_SIGNATURE', `fast-jwt: ${code ?? 'error'}`);
  }
}

/** RFC 7519 NumericDate. Whole seconds only: our issuers never mint fractions, and case 19 refuses them. */
function numericDate(payload: Record<string, unknown>, name: string, required: boolean): number | undefined {
  if (!Object.hasOwn(payload, name)) {
    if (required) reject('ERR_AUTH_CLAIMS', `${name} missing`);
    return undefined;
  }
  const value = payload[name];
  // Rejects strings, null, floats, negatives, and 1e309 (which JSON.parse turns into Infinity).
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) reject('ERR_AUTH_CLAIMS', `${name} is not a NumericDate`);
  return value;
}

function identityString(payload: Record<string, unknown>, name: string): string {
  const value = own(payload, name);
  if (typeof value !== 'string' || !IDENTITY_STRING.test(value)) reject('ERR_AUTH_CLAIMS', `${name} missing or not printable ASCII`);
  return value;
}

function stringList(payload: Record<string, unknown>, name: string): readonly string[] {
  const value = own(payload, name);
  if (value === undefined) return Object.freeze([]);
  if (!Array.isArray(value) || value.length > MAX_LIST_ENTRIES) reject('ERR_AUTH_CLAIMS', `${name} is not a list`);
  for (const entry of value) {
    if (typeof entry !== 'string' || !IDENTITY_STRING.test(entry)) reject('ERR_AUTH_CLAIMS', `${name} has a bad entry`);
  }
  return Object.freeze([...(value as string[])]);
}

/**
 * Turns a verified payload into an Identity, checking every claim we rely on (security cases
 * 17–23). Pure: the key says which issuer vouched, `nowMs` is the injected clock.
 *
 * Time rules, with T the clock tolerance (security case 19 lists the boundaries):
 * - `exp`: refused when now ≥ exp, with no tolerance. RFC 7519 §4.1.4 says "on or after", and case
 *   19 requires `exp = now` to be refused whatever T is; a gateway clock ahead of the issuer's
 *   only shortens a token's life by the skew.
 * - `nbf`: refused when nbf > now + T (so `nbf = now` passes and `nbf = now + T + 1` does not).
 * - `iat`: required; refused when iat > now + T (jose does the same; fast-jwt does not check it).
 */
export function buildIdentity(payload: Record<string, unknown>, key: PreparedKey, nowMs: number, toleranceSeconds: number): Identity {
  const { issuer } = key;
  // The key must belong to the issuer the token claims, compared exactly: no arrays, no
  // normalisation (RFC 8725 §3.8-3.9; CVE-2025-30144; security cases 17, 20).
  if (own(payload, 'iss') !== issuer.issuer) reject('ERR_AUTH_CLAIMS', 'iss does not match the key issuer');
  const aud = own(payload, 'aud');
  const audiences = typeof aud === 'string' ? [aud] : Array.isArray(aud) && aud.every((a) => typeof a === 'string') ? (aud as string[]) : [];
  if (!audiences.some((a) => issuer.audiences.includes(a))) reject('ERR_AUTH_CLAIMS', 'aud does not contain our audience');

  const type = own(payload, 'type');
  if (typeof type !== 'string' || !TOKEN_TYPE_SET.has(type)) reject('ERR_AUTH_TOKEN_TYPE', 'type is not an M2M token type');
  const tokenType = type as TokenType;
  const bearer = CREDENTIAL_KIND_OF[tokenType] === 'bearer';

  const subject = identityString(payload, 'sub');
  const tenantId = identityString(payload, 'tenantId');
  const jti = identityString(payload, 'jti');

  // SPEC §3: client-credentials JWTs always expire; an access token without expiresInMinutes has no exp.
  const exp = numericDate(payload, 'exp', bearer);
  const nbf = numericDate(payload, 'nbf', false);
  const iat = numericDate(payload, 'iat', true)!;
  const toleranceMs = toleranceSeconds * 1000;
  if (exp !== undefined && nowMs >= exp * 1000) reject('ERR_AUTH_EXPIRED', 'exp reached');
  if (nbf !== undefined && nbf * 1000 > nowMs + toleranceMs) reject('ERR_AUTH_NOT_YET_VALID', 'nbf in the future');
  if (iat * 1000 > nowMs + toleranceMs) reject('ERR_AUTH_NOT_YET_VALID', 'iat in the future');

  let userId: string | undefined;
  if (tokenType === 'userApiToken') {
    userId = identityString(payload, Object.hasOwn(payload, 'userId') ? 'userId' : 'createdByUserId');
  } else if (tokenType === 'userAccessToken') {
    userId = identityString(payload, 'userId');
  }

  // A fresh object literal of own data; frozen because it is cached and shared (SPEC §5).
  return Object.freeze({
    tokenType,
    issuer: issuer.name,
    subject,
    tokenId: bearer ? jti : subject,
    userId,
    tenantId,
    roles: stringList(payload, 'roles'),
    permissions: stringList(payload, 'permissions'),
    expiresAtMs: exp === undefined ? undefined : exp * 1000,
    // Only when usable, so identities of tokens without `sid` keep their exact shape and another
    // issuer's odd `sid` changes nothing; the token service refuses its own JWTs without one.
    ...(typeof own(payload, 'sid') === 'string' && IDENTITY_STRING.test(own(payload, 'sid') as string) ? { sessionId: own(payload, 'sid') as string } : {}),
  });
}

/**
 * The cold path: compact JWS → verified Identity, or a `GatewayError` with the reason. Header
 * checks come first and cost no crypto; the signature is verified (fast-jwt, pinned to the key's
 * algorithm) before any claim is trusted.
 */
export function createTokenVerifier(options: TokenVerifierOptions, deps: TokenVerifierDeps): (token: string) => Promise<{ identity: Identity; key: PreparedKey }> {
  const allowedAlgorithms: ReadonlySet<string> = new Set(options.issuers.flatMap((i) => i.algorithms));
  const { clockToleranceSeconds } = options;

  return async function verifyToken(token: string) {
    const segments = token.split('.');
    if (segments.length !== 3) reject('ERR_AUTH_MALFORMED', 'not three segments');
    const [headerSegment, payloadSegment, signatureSegment] = segments as [string, string, string];
    if (!SEGMENT.test(headerSegment) || !SEGMENT.test(payloadSegment)) reject('ERR_AUTH_MALFORMED', 'bad segment');
    // An empty signature is judged after `alg` (so `alg: none` reports as an algorithm problem).
    if (signatureSegment !== '' && !SEGMENT.test(signatureSegment)) reject('ERR_AUTH_MALFORMED', 'bad segment');
    // Canonical encoding only (RFC 4648 §3.5): otherwise a token stays valid with its last character
    // changed (unused trailing bits), i.e. two different strings carry one signature.
    if (Buffer.from(signatureSegment, 'base64url').toString('base64url') !== signatureSegment) {
      reject('ERR_AUTH_MALFORMED', 'signature not canonical base64url');
    }

    const header = decodeObject(headerSegment, 'header');
    const alg = own(header, 'alg');
    // Never `none`, never HS* (RFC 8725 §3.1-3.2; security cases 8-10): only configured asymmetric algorithms.
    if (typeof alg !== 'string' || !allowedAlgorithms.has(alg)) reject('ERR_AUTH_ALGORITHM', 'alg not allowed');
    const typ = own(header, 'typ');
    if (typeof typ !== 'string' || typ.toLowerCase() !== 'jwt') reject('ERR_AUTH_MALFORMED', 'typ is not JWT'); // RFC 8725 §3.11
    // We understand no extension, so any `crit` must be refused (RFC 7515 §4.1.11; security case 14).
    if (Object.hasOwn(header, 'crit')) reject('ERR_AUTH_MALFORMED', 'crit present');
    const kid = own(header, 'kid');
    if (typeof kid !== 'string' || kid.length === 0 || kid.length > MAX_KID_LENGTH) reject('ERR_AUTH_KID_UNKNOWN', 'kid missing or unusable');
    // jku, x5u, jwk and x5c are never read: keys come from configuration only (RFC 8725 §3.10; case 13).

    const keys = (await deps.resolveKeys(kid)).filter((k) => k.alg === alg);
    if (keys.length === 0) reject('ERR_AUTH_ALGORITHM', 'alg differs from the key alg');
    if (signatureSegment === '') reject('ERR_AUTH_SIGNATURE', 'signature stripped');
    // Format before crypto: fast-jwt would accept the payload with replacement characters.
    const payloadBytes = Buffer.from(payloadSegment, 'base64url');
    if (!isUtf8(payloadBytes)) reject('ERR_AUTH_MALFORMED', 'payload is not UTF-8');

    let failure: GatewayError | undefined;
    for (const key of keys) {
      let payload: unknown;
      try {
        payload = key.verify(token);
      } catch (err) {
        failure = translate(err);
        continue;
      }
      // The identity is built from the very object fast-jwt verified and parsed (security case 22).
      if (!isPlainObject(payload)) reject('ERR_AUTH_MALFORMED', 'payload is not a JSON object'); // case 7
      if (hasDuplicateMember(payloadBytes.toString('utf8'))) reject('ERR_AUTH_MALFORMED', 'payload has a duplicate member');
      return { identity: buildIdentity(payload, key, deps.clock.now(), clockToleranceSeconds), key };
    }
    throw failure!;
  };
}
