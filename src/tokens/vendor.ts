import { createHash, timingSafeEqual } from 'node:crypto';
import type { PreparedKey } from '../auth/jwks.js';
import type { Clock } from '../clock.js';
import type { CompiledTokenService } from '../config/types.js';
import { GatewayError } from '../errors.js';
import type { RateLimiter } from './rate-limit.js';
import type { JwtSigner } from './signer.js';
import type { Caller } from './types.js';

/** The JWT `type` of the environment's management token (Frontegg's vendor token). */
export const VENDOR_TOKEN_TYPE = 'vendor';

export interface VendorTokens {
  /**
   * `POST /auth/vendor`: the environment's credentials → a vendor JWT. Wrong id or secret are one
   * answer, `ERR_VENDOR_UNAUTHORIZED`, compared in constant time; attempts are rate-limited like
   * the exchange (ERR_TOKEN_RATE_LIMITED with `retryAfterSeconds`).
   */
  issue(credentials: { readonly clientId: string; readonly secret: string }, caller: Caller): Promise<{ token: string; expiresIn: number }>;
  /** Verifies a vendor JWT; anything else (an M2M token, a bad signature, expired) → `ERR_VENDOR_UNAUTHORIZED`. */
  verify(token: string): Promise<void>;
}

export interface VendorTokenDeps {
  readonly signer: JwtSigner;
  readonly clock: Clock;
  /**
   * Brute-force limits of the vendor secret (security case 29): every attempt counts per peer,
   * failures per (presented clientId, peer). The vendor credentials open every management route,
   * so they get at least the exchange's protection.
   */
  readonly rateLimiter: RateLimiter;
  /** The own issuer's prepared keys (the own key source's `get`/`refetch`): no second JWT verifier. */
  readonly keys: {
    get(kid: string): PreparedKey | undefined;
    refetch(kid: string): Promise<void>;
  };
}

/** SHA-256 first, so `timingSafeEqual` always sees equal lengths and the compare leaks no length. */
function sameSecret(a: string, b: string): boolean {
  return timingSafeEqual(createHash('sha256').update(a).digest(), createHash('sha256').update(b).digest());
}

const MAX_VENDOR_TOKEN = 8192;
const SEGMENT = /^[A-Za-z0-9_-]+$/;

function unauthorized(detail: string): GatewayError {
  return new GatewayError('ERR_VENDOR_UNAUTHORIZED', detail);
}

/**
 * Vendor (environment) tokens (SPEC §4.1). Signed by the key manager like every token of the
 * issuer, told apart by `type: "vendor"`; the proxy's verifier refuses that type (it is not an M2M
 * type) and this verifier refuses every other type, so neither kind stands in for the other.
 */
export function createVendorTokens(options: Pick<CompiledTokenService, 'issuer' | 'audience' | 'vendor'>, deps: VendorTokenDeps): VendorTokens {
  const { issuer, audience, vendor } = options;
  const { signer, clock, keys, rateLimiter } = deps;

  return Object.freeze({
    async issue(credentials: { readonly clientId: string; readonly secret: string }, caller: Caller) {
      const key = { clientId: String(credentials.clientId), peer: caller.peer };
      rateLimiter.admit(key);
      // Both compared, always: which of the two was wrong must not show in the timing.
      const idOk = sameSecret(key.clientId, vendor.clientId);
      const secretOk = sameSecret(String(credentials.secret), vendor.secret);
      if (!(idOk && secretOk)) {
        rateLimiter.recordFailure(key);
        throw unauthorized('wrong vendor credentials');
      }
      const signed = await signer.sign(
        { iss: issuer, aud: audience, sub: vendor.clientId, vendorId: vendor.clientId, type: VENDOR_TOKEN_TYPE, scopes: [] },
        { expiresInSeconds: vendor.tokenTtlSeconds },
      );
      return { token: signed.token, expiresIn: vendor.tokenTtlSeconds };
    },

    async verify(token: string) {
      if (token.length === 0 || token.length > MAX_VENDOR_TOKEN) throw unauthorized('token missing or oversized');
      const segments = token.split('.');
      if (segments.length !== 3 || !segments.every((s) => SEGMENT.test(s))) throw unauthorized('not a compact JWS');
      let header: unknown;
      try {
        header = JSON.parse(Buffer.from(segments[0]!, 'base64url').toString('utf8'));
      } catch {
        throw unauthorized('header is not JSON');
      }
      if (typeof header !== 'object' || header === null) throw unauthorized('header is not an object');
      const { kid, alg, crit } = header as Record<string, unknown>;
      if (typeof kid !== 'string' || typeof alg !== 'string' || crit !== undefined) throw unauthorized('header unusable');
      let key = keys.get(kid);
      if (key === undefined) {
        await keys.refetch(kid);
        key = keys.get(kid);
      }
      // The algorithm is pinned to the key (RFC 8725 §3.1): a header naming another is refused.
      if (key === undefined || key.alg !== alg) throw unauthorized('unknown kid or alg');
      let payload: unknown;
      try {
        payload = key.verify(token);
      } catch {
        throw unauthorized('signature');
      }
      if (typeof payload !== 'object' || payload === null) throw unauthorized('payload');
      const claims = payload as Record<string, unknown>;
      if (claims.type !== VENDOR_TOKEN_TYPE) throw unauthorized('not a vendor token');
      if (claims.iss !== issuer) throw unauthorized('iss');
      const aud = claims.aud;
      if (!(aud === audience || (Array.isArray(aud) && aud.includes(audience)))) throw unauthorized('aud');
      // The key's verifier skips time claims (jwks.ts), so exp is checked here with the injected clock.
      if (typeof claims.exp !== 'number' || clock.now() >= claims.exp * 1000) throw unauthorized('expired');
    },
  });
}
