import { createHash, createPublicKey, type JsonWebKey, type KeyObject } from 'node:crypto';
import { createVerifier } from 'fast-jwt';
import type { Algorithm } from '../config/schema.js';
import type { CompiledIssuer } from '../config/types.js';

/**
 * One verification key of one issuer, ready for the hot path: imported, checked, and with its
 * fast-jwt verifier built once (SPEC §5 "verifiers built once per key").
 */
export interface PreparedKey {
  readonly kid: string;
  /** The only algorithm this key verifies (RFC 8725 §3.1: the algorithm is pinned to the key). */
  readonly alg: Algorithm;
  /** The configured issuer the key belongs to: its `iss` is the only one the key may vouch for (RFC 8725 §3.8). */
  readonly issuer: CompiledIssuer;
  /** RFC 7638 JWK thumbprint (SHA-256, base64url): identifies the same key material across reloads. */
  readonly thumbprint: string;
  /**
   * Checks the signature with fast-jwt (time claims skipped: we check them with the injected
   * clock) and returns the parsed payload. Throws fast-jwt's `TokenError`.
   */
  readonly verify: (token: string) => unknown;
}

/** A key set: kid → key. Always a `Map`, so `__proto__` or `constructor` kids cannot reach a prototype. */
export type KeySet = ReadonlyMap<string, PreparedKey>;

export type JwksParseResult =
  | { readonly ok: true; readonly keys: KeySet }
  | { readonly ok: false; readonly reason: string };

/** A JWKS is published by people; a set larger than this is a mistake or an attack. */
export const MAX_KEYS_PER_SET = 100;
const MAX_KID_LENGTH = 256;
const MIN_RSA_BITS = 2048; // RFC 7518 §3.3; security case 49

/** Members that only a private or symmetric JWK carries (RFC 7518 §6.2.2, §6.3.2, §6.4). */
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'] as const;

const RSA_ALGORITHMS: ReadonlySet<Algorithm> = new Set(['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512']);
/** JWA curve → the one ECDSA algorithm it may be used with (RFC 7518 §3.4). */
const EC_ALGORITHM_OF_CURVE: ReadonlyMap<string, Algorithm> = new Map([
  ['P-256', 'ES256'],
  ['P-384', 'ES384'],
  ['P-521', 'ES512'],
]);

class InvalidKey extends Error {}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function own(obj: Record<string, unknown>, name: string): unknown {
  return Object.hasOwn(obj, name) ? obj[name] : undefined;
}

function requireString(jwk: Record<string, unknown>, name: string): string {
  const value = own(jwk, name);
  if (typeof value !== 'string' || value.length === 0) throw new InvalidKey(`"${name}" must be a non-empty string`);
  return value;
}

/**
 * The algorithm a key may verify: the declared `alg` when it fits the key type, otherwise the one
 * the key type implies. A key whose `alg` does not fit its type is refused rather than guessed
 * around (security case 50: "mismatched alg").
 */
function algorithmOf(jwk: Record<string, unknown>, kty: string, issuer: CompiledIssuer): Algorithm {
  const declared = own(jwk, 'alg');
  if (declared !== undefined && typeof declared !== 'string') throw new InvalidKey('"alg" must be a string');
  let alg: Algorithm;
  if (kty === 'RSA') {
    if (declared !== undefined) {
      if (!RSA_ALGORITHMS.has(declared as Algorithm)) throw new InvalidKey('"alg" does not fit an RSA key');
      alg = declared as Algorithm;
    } else {
      // RSA keys serve six algorithms; only an issuer that allows exactly one lets us infer it.
      const candidates = issuer.algorithms.filter((a) => RSA_ALGORITHMS.has(a));
      if (candidates.length !== 1) throw new InvalidKey('RSA key without "alg" and no single RS/PS algorithm allowed');
      alg = candidates[0]!;
    }
  } else if (kty === 'EC') {
    const implied = EC_ALGORITHM_OF_CURVE.get(requireString(jwk, 'crv'));
    if (implied === undefined) throw new InvalidKey('unsupported EC curve');
    if (declared !== undefined && declared !== implied) throw new InvalidKey('"alg" does not fit the EC curve');
    alg = implied;
  } else {
    if (requireString(jwk, 'crv') !== 'Ed25519') throw new InvalidKey('unsupported OKP curve');
    if (declared !== undefined && declared !== 'EdDSA') throw new InvalidKey('"alg" does not fit an Ed25519 key');
    alg = 'EdDSA';
  }
  if (!issuer.algorithms.includes(alg)) throw new InvalidKey(`algorithm ${alg} is not allowed for this issuer`);
  return alg;
}

/** Only the public members, so nothing else in the untrusted JWK reaches the importer. */
function publicMembers(jwk: Record<string, unknown>, kty: string): JsonWebKey {
  if (kty === 'RSA') return { kty, n: requireString(jwk, 'n'), e: requireString(jwk, 'e') };
  if (kty === 'EC') return { kty, crv: requireString(jwk, 'crv'), x: requireString(jwk, 'x'), y: requireString(jwk, 'y') };
  return { kty, crv: requireString(jwk, 'crv'), x: requireString(jwk, 'x') };
}

/**
 * RFC 7638 §3: SHA-256 over the required members in lexicographic order, from the canonical export.
 * Public or private key alike; the token service names its signing keys by it.
 */
export function thumbprintOf(key: KeyObject): string {
  const jwk = key.export({ format: 'jwk' });
  const members =
    jwk.kty === 'RSA'
      ? { e: jwk.e, kty: jwk.kty, n: jwk.n }
      : jwk.kty === 'EC'
        ? { crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y }
        : { crv: jwk.crv, kty: jwk.kty, x: jwk.x };
  return createHash('sha256').update(JSON.stringify(members)).digest('base64url');
}

function prepareKey(value: unknown, issuer: CompiledIssuer, previous: KeySet | undefined): PreparedKey {
  if (!isPlainObject(value)) throw new InvalidKey('not a JSON object');
  const kty = own(value, 'kty');
  // `oct` (a shared secret) in a public key set means the set is wrong; RSA/EC/OKP only.
  if (kty !== 'RSA' && kty !== 'EC' && kty !== 'OKP') throw new InvalidKey('"kty" must be RSA, EC or OKP');
  for (const member of PRIVATE_MEMBERS) {
    if (Object.hasOwn(value, member)) throw new InvalidKey(`private key material ("${member}")`);
  }
  const use = own(value, 'use');
  if (use !== undefined && use !== 'sig') throw new InvalidKey('"use" must be "sig"');
  const keyOps = own(value, 'key_ops');
  if (keyOps !== undefined && (!Array.isArray(keyOps) || !keyOps.includes('verify'))) {
    throw new InvalidKey('"key_ops" does not allow "verify"'); // RFC 7517 §4.3
  }
  const kid = requireString(value, 'kid');
  if (kid.length > MAX_KID_LENGTH) throw new InvalidKey('"kid" is too long');
  const alg = algorithmOf(value, kty, issuer);

  let key: KeyObject;
  try {
    key = createPublicKey({ key: publicMembers(value, kty), format: 'jwk' });
  } catch (err) {
    if (err instanceof InvalidKey) throw err;
    throw new InvalidKey('key material does not import');
  }
  if (kty === 'RSA' && (key.asymmetricKeyDetails?.modulusLength ?? 0) < MIN_RSA_BITS) {
    throw new InvalidKey(`RSA modulus shorter than ${MIN_RSA_BITS} bits`);
  }

  const thumbprint = thumbprintOf(key);
  const before = previous?.get(kid);
  // Reuse the verifier of an identical key: a reload that changes nothing costs nothing.
  if (before !== undefined && before.thumbprint === thumbprint && before.alg === alg && before.issuer === issuer) return before;

  const pem = key.export({ type: 'spki', format: 'pem' }).toString();
  const verify = createVerifier({
    key: pem,
    algorithms: [alg],
    // Time is checked by verify.ts against the injected clock; fast-jwt's own checks use Date.now().
    ignoreExpiration: true,
    ignoreNotBefore: true,
    // Our own cache sits in front (keyed by SHA-256 of the whole token); never a second one.
    cache: false,
  });
  return Object.freeze({ kid, alg, issuer, thumbprint, verify: (token: string): unknown => verify(token) });
}

/**
 * Parses an untrusted JWKS document into prepared keys for one issuer.
 *
 * All or nothing: one bad key (private members, `oct`, `use: enc`, a mismatched or disallowed
 * `alg`, a short RSA modulus, a duplicate `kid`) rejects the whole set, so the source keeps its
 * last good set instead of half-applying a broken publish (security case 50). The reason names
 * the key by index only: key material and kids never reach a log.
 *
 * `previous` lets a reload keep the verifiers of keys whose thumbprint did not change.
 */
export function parseJwks(text: string, issuer: CompiledIssuer, previous?: KeySet): JwksParseResult {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return { ok: false, reason: 'not JSON' };
  }
  if (!isPlainObject(doc)) return { ok: false, reason: 'not a JSON object' };
  const list = own(doc, 'keys');
  if (!Array.isArray(list)) return { ok: false, reason: '"keys" must be an array' };
  // An empty set would refuse every token; treat it as a broken publish and keep the last good set.
  if (list.length === 0) return { ok: false, reason: '"keys" is empty' };
  if (list.length > MAX_KEYS_PER_SET) return { ok: false, reason: `more than ${MAX_KEYS_PER_SET} keys` };
  const keys = new Map<string, PreparedKey>();
  for (const [index, value] of list.entries()) {
    let prepared: PreparedKey;
    try {
      prepared = prepareKey(value, issuer, previous);
    } catch (err) {
      if (err instanceof InvalidKey) return { ok: false, reason: `keys[${index}]: ${err.message}` };
      throw err;
    }
    // Two keys under one kid make the choice of key ambiguous (RFC 7517 §4.5).
    if (keys.has(prepared.kid)) return { ok: false, reason: `keys[${index}]: duplicate "kid"` };
    keys.set(prepared.kid, prepared);
  }
  return { ok: true, keys };
}

/**
 * Which kids a new set adds and removes. A kid whose key changed (other material or `alg`) counts
 * as both; an unchanged key is the very same object, since `parseJwks` reuses it.
 */
export function diffKeySets(before: KeySet | undefined, after: KeySet | undefined): { added: string[]; removed: string[] } {
  const added: string[] = [];
  const removed: string[] = [];
  for (const [kid, key] of before ?? []) {
    if (after?.get(kid) !== key) removed.push(kid);
  }
  for (const [kid, key] of after ?? []) {
    if (before?.get(kid) !== key) added.push(kid);
  }
  return { added, removed };
}
