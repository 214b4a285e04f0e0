import { LRUCache } from 'lru-cache';
import type { Identity } from '../auth/identity.js';
import type { Clock } from '../clock.js';
import type { TokenType } from '../config/schema.js';
import type { Metrics } from '../metrics.js';
import { GatewayError } from '../errors.js';
import type { OwnerKind, StoreChange, StoreChangeEvent } from '../store/types.js';

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

/**
 * Where answers come from on a miss: the token store (the issuer itself, or a sidecar on the same
 * PostgreSQL) or the issuer's vendor-only routes (a sidecar without database access). It throws
 * when it cannot answer, and the caller fails closed (503).
 */
export type LivenessSource = (identity: Identity, sid: string | undefined) => Promise<LivenessLookup>;

export interface LivenessCacheOptions {
  /** How long an answer is reused: the staleness bound when a change is not pushed (default 10 s). */
  readonly ttlMs?: number;
  /** Live answers kept (default 50,000). */
  readonly maxEntries?: number;
  /** Dead answers kept, in a cache of their own so garbage cannot push live answers out (default 10,000; 0: none kept). */
  readonly negativeMaxEntries?: number;
}

export interface LivenessChecker {
  /**
   * The identity with the *current* roles and permissions of its credential, or ERR_AUTH_REVOKED
   * when the credential, its refresh family or its user's membership is gone. `sid` defaults to the
   * identity's `sid` claim. Warm answers cost no I/O; a source failure propagates (fail closed).
   */
  check(identity: Identity, sid?: string): Promise<Identity>;
  /** Forgets the answers a write of this process changed. */
  evict(match: (tags: LivenessTags) => boolean): void;
  /** Forgets the answers a committed write (of any process) changed. */
  apply(event: StoreChangeEvent): void;
  /** Forgets every answer: changes may have been missed. */
  clear(): void;
}

interface Entry {
  readonly answer: LivenessAnswer;
  readonly tags: LivenessTags;
  readonly until: number;
}

/** Which cached answers a committed change makes stale; undefined when it concerns none. */
export function changeMatcher(change: StoreChange): ((tags: LivenessTags) => boolean) | undefined {
  switch (change.kind) {
    case 'apiToken':
      return (tags) => tags.subject === change.clientId;
    case 'accessToken':
      return (tags) => tags.subject === change.id;
    case 'refreshFamily':
      return (tags) => tags.familyId === change.familyId;
    case 'membership':
      return (tags) => tags.tenantId === change.tenantId && tags.userId === change.userId;
    case 'tenant':
      return (tags) => tags.tenantId === change.tenantId;
    case 'signingKeys':
      return undefined;
  }
}

/**
 * The proxy's liveness check (SPEC §3 "Deleted / revoked", §5): answers are reused for `ttlMs`,
 * and a write evicts exactly the answers it changes — at once for writes of this process, and on
 * the store's change event for writes of other processes (the TTL bounds staleness when an event
 * is missed). A lookup that raced an eviction is not cached (the generation counter), so an
 * eviction cannot be undone by an answer read just before it. Live and dead answers are kept in
 * separately bounded caches (`cache` label `liveness` and `liveness_negative`).
 */
export function createLivenessChecker(options: LivenessCacheOptions, deps: { source: LivenessSource; clock: Clock; metrics?: Metrics | undefined }): LivenessChecker {
  const ttlMs = options.ttlMs ?? 10_000;
  const negativeMax = options.negativeMaxEntries ?? 10_000;
  const live = new LRUCache<string, Entry>({ max: options.maxEntries ?? 50_000 });
  const dead = negativeMax === 0 ? undefined : new LRUCache<string, Entry>({ max: negativeMax });
  const { clock, metrics, source } = deps;
  let generation = 0;
  const inFlight = new Map<string, Promise<LivenessAnswer>>();
  const event = (cache: 'liveness' | 'liveness_negative', name: 'hit' | 'miss' | 'eviction') => metrics?.cacheEvents.inc({ cache, event: name });

  function cached(key: string): LivenessAnswer | undefined {
    const now = clock.now();
    const positive = live.get(key);
    if (positive !== undefined) {
      const answer = positive.answer;
      if (now < positive.until && !(answer.live && answer.expiresAt !== null && now >= answer.expiresAt)) {
        event('liveness', 'hit');
        return answer;
      }
      live.delete(key);
    }
    const negative = dead?.get(key);
    if (negative !== undefined && now < negative.until) {
      event('liveness_negative', 'hit');
      return negative.answer;
    }
    event('liveness', 'miss');
    return undefined;
  }

  function evict(match: (tags: LivenessTags) => boolean): void {
    generation++;
    // A check after this write must not join a lookup that started before it.
    inFlight.clear();
    for (const [cache, entries] of [['liveness', live], ['liveness_negative', dead]] as const) {
      if (entries === undefined) continue;
      for (const [key, entry] of entries.entries()) {
        if (match(entry.tags)) {
          entries.delete(key);
          event(cache, 'eviction');
        }
      }
    }
  }

  async function lookUp(key: string, identity: Identity, sid: string | undefined): Promise<LivenessAnswer> {
    const at = generation;
    const { answer, tags } = await source(identity, sid);
    if (at === generation) {
      const entry = { answer, tags, until: clock.now() + ttlMs };
      if (answer.live) live.set(key, entry);
      else dead?.set(key, entry);
    }
    return answer;
  }

  /**
   * The identity last built for each verified identity, with the answer it was built from. The
   * authenticator caches one identity object per token, so a warm check returns the very same
   * object until the answer changes, and what the proxy remembers per identity object (its
   * identity headers) is not rebuilt on every request.
   */
  const built = new WeakMap<Identity, { readonly answer: LivenessAnswer; readonly identity: Identity }>();

  return Object.freeze({
    async check(identity: Identity, sid: string | undefined = identity.sessionId): Promise<Identity> {
      const key = `${identity.tokenType}\u0000${identity.subject}\u0000${sid ?? ''}`;
      let answer = cached(key);
      if (answer === undefined) {
        // Concurrent misses of one key share one lookup: an expiring answer costs one store read, not one per connection.
        let pending = inFlight.get(key);
        if (pending === undefined) {
          pending = lookUp(key, identity, sid).finally(() => inFlight.delete(key));
          inFlight.set(key, pending);
        }
        answer = await pending;
      }
      // The claims must agree with the record they name (they always do for tokens the issuer signed).
      if (!answer.live || answer.tenantId !== identity.tenantId || answer.userId !== identity.userId) {
        throw new GatewayError('ERR_AUTH_REVOKED', 'credential, family or membership gone');
      }
      const last = built.get(identity);
      if (last !== undefined && last.answer === answer) return last.identity;
      const current: Identity = Object.freeze({ ...identity, roles: answer.roles, permissions: answer.permissions });
      built.set(identity, { answer, identity: current });
      return current;
    },
    evict,
    apply({ change }: StoreChangeEvent): void {
      const match = changeMatcher(change);
      if (match !== undefined) evict(match);
    },
    clear(): void {
      generation++;
      inFlight.clear();
      live.clear();
      dead?.clear();
    },
  });
}
