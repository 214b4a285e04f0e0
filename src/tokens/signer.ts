import { randomUUID, type KeyObject } from 'node:crypto';
import { createSigner } from 'fast-jwt';
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
  sign(claims: Readonly<Record<string, unknown>>, options: SignOptions): SignedJwt;
}

type Sign = (payload: Record<string, unknown>) => string;

interface CachedSigner {
  readonly privateKey: KeyObject;
  readonly sign: Sign;
}

/**
 * Signs the token service's JWTs (SPEC §3: header `alg`, `kid`, `typ: JWT`) with fast-jwt.
 *
 * One fast-jwt signer per key, built on first use and cached by kid: the PKCS#8 export and
 * fast-jwt's key import happen once per key, so a signature costs the signature and nothing else
 * (SPEC §7: ≥ 2.4k RS256 and ≥ 10k ES256/EdDSA tokens/s/core). The cache follows the key
 * manager: a kid whose key material changed is rebuilt, and a kid no longer published is dropped
 * the next time a signer is built.
 */
export function createJwtSigner(deps: { keys: KeyManager; clock: Clock }): JwtSigner {
  const { keys, clock } = deps;
  const signers = new Map<string, CachedSigner>();

  function signerFor(kid: string, alg: SigningAlgorithm, privateKey: KeyObject): Sign {
    const cached = signers.get(kid);
    if (cached !== undefined && cached.privateKey === privateKey) return cached.sign;
    const live = new Set(keys.published().map((key) => key.kid));
    for (const known of signers.keys()) if (!live.has(known)) signers.delete(known);
    const sign = createSigner<Record<string, unknown>>({
      // fast-jwt takes PEM (not a KeyObject) and imports it once, here.
      key: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
      algorithm: alg,
      kid,
      // fast-jwt's default is also JWT; SPEC §3 requires it, so it is not left to a default.
      header: { alg, typ: 'JWT' },
    });
    signers.set(kid, Object.freeze({ privateKey, sign }));
    return sign;
  }

  return Object.freeze({
    sign(claims: Readonly<Record<string, unknown>>, options: SignOptions): SignedJwt {
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
      // `exp: undefined` is dropped by JSON.stringify, so a stray `exp` in claims cannot survive `null`.
      const token = sign({ ...claims, iat: issuedAt, exp: expiresAt ?? undefined, jti });
      return { token, kid: key.kid, issuedAt, expiresAt, jti };
    },
  });
}
