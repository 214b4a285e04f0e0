import type { Logger } from 'pino';
import type { Clock } from '../clock.js';
import type { CompiledConfig } from '../config/types.js';
import { GatewayError, isGatewayError, type ErrorCode } from '../errors.js';
import type { Metrics } from '../metrics.js';
import type { Authenticator } from './authenticator.js';
import { createRejectedCache, createVerifiedCache } from './cache.js';
import { CREDENTIAL_KIND_OF, type Credential, type Identity } from './identity.js';
import type { PreparedKey } from './jwks.js';
import { createKeySource, type KeySource } from './key-source.js';
import { tokenFingerprint, tokenKey } from './token-hash.js';
import { authError, createTokenVerifier } from './verify.js';

export interface AuthenticatorDeps {
  readonly clock: Clock;
  readonly metrics: Metrics;
  readonly log: Logger;
  /** Key sources to use instead of building them from `issuers` (tests); one per issuer. */
  readonly keySources?: readonly KeySource[];
  /** Passed to the sources built from config: file poll interval, URL retry delay, timers on/off. */
  readonly keySourceOptions?: { pollIntervalMs?: number; retryMs?: number; watch?: boolean; autoRefresh?: boolean };
}

export interface GatewayAuthenticator extends Authenticator {
  /** Reloads every key source now (file re-read, URL fetch); e.g. on SIGHUP. */
  refreshKeys(): Promise<void>;
  /**
   * Stops listening to the key sources and drops the caches, leaving the sources running: a
   * config reload hands the sources of unchanged issuers to the authenticator that replaces this one.
   */
  detach(): void;
}

/**
 * Rejections that are not a property of the token alone, so must not be remembered: keys may
 * come back (503), and a token not yet valid becomes valid. A kid unknown now may be published
 * later, which is why the negative cache is cleared whenever a key set changes.
 */
const NOT_REMEMBERED: ReadonlySet<ErrorCode> = new Set(['ERR_AUTH_KEYS_UNAVAILABLE', 'ERR_AUTH_NOT_YET_VALID', 'ERR_INTERNAL']);

/**
 * Builds the authenticator of SPEC §5: size cap, then the verified-token cache (SHA-256 of the
 * whole token), then the negative cache, then one coalesced cold verification per token.
 *
 * Whatever path answers, the token type must match the header it came in
 * (`CREDENTIAL_KIND_OF`; security case 21). Logs carry the token fingerprint, never the token.
 */
export function createAuthenticator(config: Pick<CompiledConfig, 'auth' | 'issuers'>, deps: AuthenticatorDeps): GatewayAuthenticator {
  const { auth, issuers } = config;
  const { clock, metrics } = deps;
  const log = deps.log.child({ component: 'auth' });
  const sources: readonly KeySource[] =
    deps.keySources ?? issuers.map((issuer) => createKeySource(issuer, { clock, metrics, log }, deps.keySourceOptions));
  const verified = createVerifiedCache(auth.cache, { clock, metrics });
  const rejected = createRejectedCache(auth.negativeCache, { clock, metrics });
  const inFlight = new Map<string, Promise<Identity>>();
  /** Bumped when keys are retired, so a verification that raced the retirement is not cached. */
  let keyGeneration = 0;

  const unsubscribes = sources.map((source) =>
    source.onChange(({ issuer, added, removed }) => {
      if (removed.length > 0) {
        keyGeneration++;
        // A token signed by a retired key is refused at once, even if it was cached (cases 11, 50).
        verified.purge(issuer, removed);
      }
      if (added.length > 0 || removed.length > 0) rejected.clear();
      log.info({ issuer, added: added.length, removed: removed.length }, 'key set changed');
    }),
  );

  function detach(): void {
    for (const unsubscribe of unsubscribes) unsubscribe();
    verified.clear();
    rejected.clear();
  }

  function lookup(kid: string): PreparedKey[] {
    const keys: PreparedKey[] = [];
    for (const source of sources) {
      const key = source.get(kid);
      if (key !== undefined) keys.push(key);
    }
    return keys;
  }

  async function resolveKeys(kid: string): Promise<readonly PreparedKey[]> {
    const known = lookup(kid);
    if (known.length > 0) return known;
    // A kid we do not know may be a freshly rotated key: URL sources refetch (cooldown, single flight).
    await Promise.all(sources.map((source) => source.refetch(kid)));
    const fetched = lookup(kid);
    if (fetched.length > 0) return fetched;
    if (!sources.some((source) => source.ready())) throw authError('ERR_AUTH_KEYS_UNAVAILABLE', 'no key set loaded');
    throw authError('ERR_AUTH_KID_UNKNOWN', 'kid not in any key set');
  }

  const verifyToken = createTokenVerifier({ issuers, clockToleranceSeconds: auth.clockToleranceSeconds }, { clock, resolveKeys });

  async function coldPath(key: string, token: string): Promise<Identity> {
    const generation = keyGeneration;
    try {
      const result = await verifyToken(token);
      if (generation === keyGeneration) verified.set(key, result.identity, result.key.kid);
      return result.identity;
    } catch (err) {
      const error = isGatewayError(err) ? err : new GatewayError('ERR_INTERNAL', 'verification failed unexpectedly', { cause: err });
      if (error.code === 'ERR_INTERNAL') log.error({ fingerprint: tokenFingerprint(token), err }, 'token verification failed unexpectedly');
      else if (log.isLevelEnabled('debug')) log.debug({ fingerprint: tokenFingerprint(token), code: error.code, detail: error.detail }, 'token rejected');
      if (!NOT_REMEMBERED.has(error.code)) rejected.set(key, error.code);
      throw error;
    }
  }

  function checkKind(identity: Identity, credential: Credential): Identity {
    if (CREDENTIAL_KIND_OF[identity.tokenType] !== credential.kind) {
      throw authError('ERR_AUTH_TOKEN_TYPE', 'token type does not match the credential header');
    }
    return identity;
  }

  return Object.freeze({
    async authenticate(credential: Credential): Promise<Identity> {
      const { token } = credential;
      // Before any hashing or decoding: the length is all an oversized token costs (security case 5).
      if (token.length > auth.maxTokenBytes) throw authError('ERR_AUTH_TOO_LARGE', 'token over the size cap');
      const key = tokenKey(token);
      const cached = verified.get(key);
      if (cached !== undefined) return checkKind(cached, credential);
      const code = rejected.get(key);
      if (code !== undefined) throw authError(code, 'rejected before (negative cache)');
      // Concurrent first uses of one token share one verification and one result (case 25).
      let pending = inFlight.get(key);
      if (pending === undefined) {
        pending = coldPath(key, token).finally(() => inFlight.delete(key));
        inFlight.set(key, pending);
      }
      return checkKind(await pending, credential);
    },
    ready: () => sources.every((source) => source.ready()),
    async start() {
      await Promise.all(sources.map((source) => source.start()));
    },
    async close() {
      detach();
      for (const source of sources) source.close();
    },
    detach,
    *keySetAges(): Iterable<readonly [string, number]> {
      const now = clock.now();
      for (const source of sources) {
        const loadedAt = source.loadedAtMs();
        if (loadedAt !== undefined) yield [source.issuer.name, (now - loadedAt) / 1000] as const;
      }
    },
    async refreshKeys() {
      await Promise.all(sources.map((source) => source.refresh()));
    },
  });
}
