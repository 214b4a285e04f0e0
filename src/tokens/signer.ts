import { createPrivateKey, randomUUID, sign as cryptoSign, type KeyObject } from 'node:crypto';
import type { Clock } from '../clock.js';
import type { KeyManager, SigningAlgorithm } from './keys.js';

export interface SignOptions {
  /** Lifetime in whole seconds; `null` signs no `exp` (an access token without expiry, SPEC §3). */
  readonly expiresInSeconds: number | null;
}

export interface SignedJwt {
  readonly token: string;
  readonly kid: string;
  /** The `iat` claim: NumericDate, seconds since the epoch. */
  readonly issuedAt: number;
  /** The `exp` claim in seconds, or null when the token has none. */
  readonly expiresAt: number | null;
  readonly jti: string;
}

export interface JwtSigner {
  /**
   * Signs `claims` with the current key. `iat` (injected clock, seconds) and `exp` are always the
   * signer's, whatever `claims` says; `jti` is a random UUID unless `claims` carries a non-empty one.
   */
  sign(claims: Readonly<Record<string, unknown>>, options: SignOptions): Promise<SignedJwt>;
}

/** Signs a payload given as its JSON text. */
type Sign = (payloadJson: string) => Promise<string>;

interface CachedSigner {
  readonly privateKey: KeyObject;
  readonly sign: Sign;
}

/** The JWS signing step per algorithm (RFC 7518 §3.3, §3.4; RFC 8037 §3.1): digest name for `crypto.sign`. */
const DIGEST: Readonly<Record<SigningAlgorithm, string | null>> = { RS256: 'sha256', ES256: 'sha256', EdDSA: null };

/**
 * A compact JWS signer for one key (RFC 7515 §7.1): the protected header is encoded once, the
 * payload is JSON then base64url, and the signature comes from `crypto.sign` in the JOSE form
 * directly (`ieee-p1363`: R‖S for ES256, RFC 7518 §3.4), so no DER-to-JOSE conversion, no
 * regex-based base64url rewrite and no per-call header object. The key is imported once, here,
 * from PKCS#8 (the signer holds its own KeyObject, as fast-jwt did).
 *
 * An RS256 signature is computed on libuv's thread pool (`crypto.sign` with a callback): it takes
 * about a quarter of a millisecond, which the proxy sharing the event loop would wait for (SPEC §7:
 * no event-loop stall while the token endpoint is loaded). ES256 and EdDSA sign in under 50 µs,
 * less than the hop to the pool costs (bench/exchange.ts: 19k against 14k ES256 tokens/s on one
 * core), so they sign on the loop.
 */
function compactSigner(kid: string, alg: SigningAlgorithm, privateKey: KeyObject): Sign {
  const key = createPrivateKey({ key: privateKey.export({ type: 'pkcs8', format: 'pem' }), format: 'pem' });
  // SPEC §3: header alg, typ JWT, kid (in fast-jwt's order, so tokens are byte-for-byte what it produced).
  const head = `${Buffer.from(JSON.stringify({ alg, typ: 'JWT', kid }), 'utf8').toString('base64url')}.`;
  const digest = DIGEST[alg];
  const options = { key, dsaEncoding: 'ieee-p1363' as const };
  const signingInput = (payloadJson: string) => head + Buffer.from(payloadJson, 'utf8').toString('base64url');
  if (alg !== 'RS256') {
    return async (payloadJson) => {
      const input = signingInput(payloadJson);
      return `${input}.${cryptoSign(digest, Buffer.from(input, 'latin1'), options).toString('base64url')}`;
    };
  }
  return (payloadJson) => {
    const input = signingInput(payloadJson);
    return new Promise((resolveToken, reject) => {
      cryptoSign(digest, Buffer.from(input, 'latin1'), options, (err, signature) => {
        if (err !== null) reject(err);
        else resolveToken(`${input}.${signature.toString('base64url')}`);
      });
    });
  };
}

/**
 * The payload JSON, exactly as `JSON.stringify({ ...claims, iat, exp, jti })` writes it (`exp`
 * omitted when null). When `claims` names none of the three, their members are appended to the
 * claims' own JSON instead of copying every claim into a new object first; otherwise the spread
 * decides, so a claim can never appear twice.
 */
function payloadJson(claims: Readonly<Record<string, unknown>>, iat: number, exp: number | null, jti: string): string {
  if (!('iat' in claims) && !('exp' in claims) && !('jti' in claims)) {
    const own = JSON.stringify(claims);
    if (own.length > 2 && own.endsWith('}')) return `${own.slice(0, -1)},"iat":${iat}${exp === null ? '' : `,"exp":${exp}`},"jti":${JSON.stringify(jti)}}`;
  }
  // `exp: undefined` is dropped by JSON.stringify, so a stray `exp` in claims cannot survive `null`.
  return JSON.stringify({ ...claims, iat, exp: exp ?? undefined, jti });
}

/**
 * Signs the token service's JWTs (SPEC §3: header `alg`, `kid`, `typ: JWT`).
 *
 * One signer per key, built on first use and cached by kid: the PKCS#8 export and key import
 * happen once per key, so a signature costs the signature and nothing else (SPEC §7: ≥ 2.4k RS256
 * and ≥ 10k ES256/EdDSA tokens/s/core). The cache follows the key manager: a kid whose key
 * material changed is rebuilt, and a kid no longer published is dropped the next time a signer
 * is built. Signing goes to `crypto.sign` directly rather than through fast-jwt's signer, which
 * spent about a third of an ES256/EdDSA token on its own encoding (payload re-spread, header
 * JSON and base64 per call, DER-to-JOSE, regex base64url); the tokens are the same JWS.
 */
export function createJwtSigner(deps: { keys: KeyManager; clock: Clock }): JwtSigner {
  const { keys, clock } = deps;
  const signers = new Map<string, CachedSigner>();

  function signerFor(kid: string, alg: SigningAlgorithm, privateKey: KeyObject): Sign {
    const cached = signers.get(kid);
    if (cached !== undefined && cached.privateKey === privateKey) return cached.sign;
    const live = new Set(keys.published().map((key) => key.kid));
    for (const known of signers.keys()) if (!live.has(known)) signers.delete(known);
    const sign = compactSigner(kid, alg, privateKey);
    signers.set(kid, Object.freeze({ privateKey, sign }));
    return sign;
  }

  return Object.freeze({
    async sign(claims: Readonly<Record<string, unknown>>, options: SignOptions): Promise<SignedJwt> {
      const { expiresInSeconds } = options;
      if (expiresInSeconds !== null && (!Number.isSafeInteger(expiresInSeconds) || expiresInSeconds <= 0)) {
        throw new RangeError('expiresInSeconds must be a whole number of seconds > 0, or null');
      }
      const key = keys.current();
      const sign = signerFor(key.kid, key.alg, key.privateKey);
      const issuedAt = Math.floor(clock.now() / 1000);
      const expiresAt = expiresInSeconds === null ? null : issuedAt + expiresInSeconds;
      const given = claims.jti;
      const jti = typeof given === 'string' && given !== '' ? given : randomUUID();
      const token = await sign(payloadJson(claims, issuedAt, expiresAt, jti));
      return { token, kid: key.kid, issuedAt, expiresAt, jti };
    },
  });
}
