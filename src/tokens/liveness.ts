import { LRUCache } from 'lru-cache';
import type { Identity } from '../auth/identity.js';
import type { Clock } from '../clock.js';
import type { TokenType } from '../config/schema.js';
import type { Metrics } from '../metrics.js';
import type { OwnerKind } from '../store/types.js';

/**
 * One liveness answer of the token service (SPEC §3 "Deleted / revoked"): whether a credential
 * (and its refresh family, and its user's membership) is alive, and what it grants *now*. What it
 * depends on is kept with it, so a write evicts exactly the answers it changes.
 */
export type LivenessAnswer =
  | {
      readonly live: true;
      readonly tenantId: string;
      readonly userId: string | undefined;
      readonly roles: readonly string[];
      readonly permissions: readonly string[];
      /** Epoch ms when the credential expires, or null: a cached answer never outlives it. */
      readonly expiresAt: number | null;
    }
  | { readonly live: false };

/** What an answer depends on: the subject (clientId or access-token id), the family, the membership. */
export interface LivenessTags {
  readonly subject: string;
  readonly familyId: string | undefined;
  readonly tenantId: string | undefined;
  readonly userId: string | undefined;
}

/** A liveness answer with what it depends on: what every liveness source (the store, the issuer's API) returns. */
export interface LivenessLookup {
  readonly answer: LivenessAnswer;
  readonly tags: LivenessTags;
}

/** Who owns the credential a token type stands for. */
export const OWNER_OF: Readonly<Record<TokenType, OwnerKind>> = Object.freeze({
  userApiToken: 'user',
  tenantApiToken: 'tenant',
  userAccessToken: 'user',
  tenantAccessToken: 'tenant',
});

/** Which credential a token type stands for: a client-credentials token ("api") or an access token. */
export function credentialOf(type: TokenType): 'api' | 'access' {
  return type === 'userApiToken' || type === 'tenantApiToken' ? 'api' : 'access';
}

/** What the liveness answer for `identity` (and its refresh family `sid`) depends on. */
export function livenessTags(identity: Identity, sid: string | undefined): LivenessTags {
  return { subject: identity.subject, familyId: sid, tenantId: identity.tenantId, userId: identity.userId };
}

interface Entry {
  readonly answer: LivenessAnswer;
  readonly tags: LivenessTags;
  readonly until: number;
}

export interface LivenessCache {
  get(key: string): LivenessAnswer | undefined;
  /** The generation to pass to `set`: read before the store lookup the answer comes from. */
  generation(): number;
  /** Caches `answer` unless a write happened since `generation` was read (its answer may be stale). */
  set(key: string, answer: LivenessAnswer, tags: LivenessTags, generation: number): void;
  evict(match: (tags: LivenessTags) => boolean): void;
  clear(): void;
}

/**
 * The proxy's per-request liveness check must be I/O-free when warm, and a write must take effect
 * at once: answers live `ttlMs` (10 s, the staleness bound for writes made by *other* processes
 * sharing the store) and every write of this process evicts the answers it touches. A lookup that
 * raced a write is not cached (the generation counter), so an eviction cannot be undone by an
 * answer read just before it.
 */
export function createLivenessCache(options: { ttlMs?: number; max?: number }, deps: { clock: Clock; metrics?: Metrics | undefined }): LivenessCache {
  const ttlMs = options.ttlMs ?? 10_000;
  const entries = new LRUCache<string, Entry>({ max: options.max ?? 50_000 });
  const { clock, metrics } = deps;
  let generation = 0;
  const event = (name: 'hit' | 'miss' | 'eviction') => metrics?.cacheEvents.inc({ cache: 'liveness', event: name });

  return Object.freeze({
    get(key: string): LivenessAnswer | undefined {
      const entry = entries.get(key);
      const now = clock.now();
      if (entry === undefined || now >= entry.until || (entry.answer.live && entry.answer.expiresAt !== null && now >= entry.answer.expiresAt)) {
        event('miss');
        return undefined;
      }
      event('hit');
      return entry.answer;
    },
    generation: () => generation,
    set(key: string, answer: LivenessAnswer, tags: LivenessTags, at: number): void {
      if (at !== generation) return;
      entries.set(key, { answer, tags, until: clock.now() + ttlMs });
    },
    evict(match: (tags: LivenessTags) => boolean): void {
      generation++;
      for (const [key, entry] of entries.entries()) {
        if (match(entry.tags)) {
          entries.delete(key);
          event('eviction');
        }
      }
    },
    clear(): void {
      generation++;
      entries.clear();
    },
  });
}
