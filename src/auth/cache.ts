import { LRUCache } from 'lru-cache';
import type { Clock } from '../clock.js';
import type { ErrorCode } from '../errors.js';
import type { Metrics } from '../metrics.js';
import type { Identity } from './identity.js';

/**
 * Verified tokens, keyed by SHA-256 of the whole token (`tokenKey`), so two tokens that differ in
 * any byte never share an entry (GHSA-rp9m-7r4c-75qg; security case 25).
 */
export interface VerifiedCache {
  /** The identity, or undefined. Never returns an entry at or past its `exp`, by the injected clock. */
  get(key: string): Identity | undefined;
  /** Remembers an identity verified by `kid` of `issuer`, until min(maxTtl, exp). */
  set(key: string, identity: Identity, kid: string): void;
  /** Forgets every entry verified by one of these kids of this issuer (a key was retired; case 50). */
  purge(issuer: string, kids: readonly string[]): void;
  clear(): void;
  readonly size: number;
}

/** Rejected tokens and why: a garbage flood fills this one, never the verified cache. */
export interface RejectedCache {
  get(key: string): ErrorCode | undefined;
  set(key: string, code: ErrorCode): void;
  clear(): void;
  readonly size: number;
}

interface VerifiedEntry {
  readonly identity: Identity;
  readonly kid: string;
  /** Clock time the entry stops being served: min(now + maxTtl, exp). */
  readonly untilMs: number;
}

interface RejectedEntry {
  readonly code: ErrorCode;
  readonly untilMs: number;
}

/**
 * lru-cache with our rules (SPEC §5): bounded by entries, no `updateAgeOnGet`, no `allowStale`.
 * lru-cache's own TTL (real time) only reclaims memory; whether an entry may be served is decided
 * on every hit against the injected clock, so a manual clock in tests and the system clock in
 * production follow one rule.
 */
function createLru<V extends { untilMs: number }>(name: 'verified' | 'rejected', max: number, clock: Clock, metrics: Metrics) {
  const events = (event: 'hit' | 'miss' | 'eviction') => metrics.cacheEvents.inc({ cache: name, event });
  const lru = new LRUCache<string, V>({
    max,
    ttlAutopurge: false,
    updateAgeOnGet: false,
    allowStale: false,
    dispose: (_value, _key, reason) => {
      if (reason === 'evict') events('eviction');
    },
  });
  return {
    lru,
    get(key: string): V | undefined {
      const entry = lru.get(key);
      if (entry !== undefined && clock.now() < entry.untilMs) {
        events('hit');
        return entry;
      }
      if (entry !== undefined) lru.delete(key);
      events('miss');
      return undefined;
    },
    set(key: string, value: V): void {
      const ttl = value.untilMs - clock.now();
      if (ttl > 0) lru.set(key, value, { ttl: Math.ceil(ttl) });
    },
  };
}

/** The positive cache of verified identities. */
export function createVerifiedCache(
  options: { readonly maxEntries: number; readonly maxTtlSeconds: number },
  deps: { readonly clock: Clock; readonly metrics: Metrics },
): VerifiedCache {
  const cache = createLru<VerifiedEntry>('verified', options.maxEntries, deps.clock, deps.metrics);
  const maxTtlMs = options.maxTtlSeconds * 1000;
  return Object.freeze({
    get: (key: string) => cache.get(key)?.identity,
    set(key: string, identity: Identity, kid: string) {
      const cap = deps.clock.now() + maxTtlMs;
      cache.set(key, { identity, kid, untilMs: identity.expiresAtMs === undefined ? cap : Math.min(cap, identity.expiresAtMs) });
    },
    purge(issuer: string, kids: readonly string[]) {
      const retired = new Set(kids);
      for (const [key, entry] of cache.lru.entries()) {
        if (entry.identity.issuer === issuer && retired.has(entry.kid)) cache.lru.delete(key);
      }
    },
    clear: () => cache.lru.clear(),
    get size() {
      return cache.lru.size;
    },
  });
}

/** The negative cache; `maxEntries: 0` turns it off. */
export function createRejectedCache(
  options: { readonly maxEntries: number; readonly ttlSeconds: number },
  deps: { readonly clock: Clock; readonly metrics: Metrics },
): RejectedCache {
  if (options.maxEntries === 0) {
    return Object.freeze({ get: () => undefined, set: () => undefined, clear: () => undefined, size: 0 });
  }
  const cache = createLru<RejectedEntry>('rejected', options.maxEntries, deps.clock, deps.metrics);
  const ttlMs = options.ttlSeconds * 1000;
  return Object.freeze({
    get: (key: string) => cache.get(key)?.code,
    set: (key: string, code: ErrorCode) => cache.set(key, { code, untilMs: deps.clock.now() + ttlMs }),
    clear: () => cache.lru.clear(),
    get size() {
      return cache.lru.size;
    },
  });
}
