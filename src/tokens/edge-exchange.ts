import { LRUCache } from 'lru-cache';
import type { BasicCredentials } from '../auth/basic.js';
import type { Clock } from '../clock.js';
import type { LivenessTags } from './liveness.js';
import type { SecretHasher } from './secrets.js';
import type { Caller, IssuedTokens } from './types.js';

/** What one exchange at the edge minted, and what it depends on (for eviction). */
export interface EdgeMint {
  readonly tokens: IssuedTokens;
  readonly tags: LivenessTags;
}

export interface EdgeExchange {
  /** The JWT the token endpoint would issue for these credentials: cached, or minted through `deps.mint`. */
  exchange(credentials: BasicCredentials, caller: Caller): Promise<IssuedTokens>;
  /** Forgets the JWTs whose credential, family or membership a write changed. */
  evict(match: (tags: LivenessTags) => boolean): void;
  clear(): void;
}

interface Entry {
  readonly mint: EdgeMint;
  readonly until: number;
}

/**
 * The cache behind exchange at the edge: a client that sends its id and secret on every request
 * costs one secret check and one exchange per JWT lifetime, not one per request.
 *
 * - The key is the server-keyed HMAC of the pair (the `SecretHasher`), never the secret: a heap
 *   dump shows no usable credential. The pair is JSON-encoded first, so no choice of id and
 *   secret can collide with another split of the same characters.
 * - Only successes are kept; a refusal is thrown to every caller waiting on that lookup and is
 *   never cached, so each wrong secret goes through `mint` and its rate limits again.
 * - An entry lives until its JWT expires. Revocation does not wait for that: every request still
 *   runs the JWT's liveness check, and the writes that evict liveness answers evict entries here
 *   too (`evict`, with the same tags). A mint that raced an eviction is used once, not kept.
 * - Concurrent first uses of one pair share one mint.
 */
export function createEdgeExchange(
  options: { readonly maxEntries: number },
  deps: { readonly mint: (credentials: BasicCredentials, caller: Caller) => Promise<EdgeMint>; readonly hasher: SecretHasher; readonly clock: Clock },
): EdgeExchange {
  const { mint, hasher, clock } = deps;
  const entries = new LRUCache<string, Entry>({ max: options.maxEntries });
  const inFlight = new Map<string, Promise<EdgeMint>>();
  let generation = 0;

  async function lookUp(key: string, credentials: BasicCredentials, caller: Caller): Promise<EdgeMint> {
    const at = generation;
    const minted = await mint(credentials, caller);
    if (at === generation) entries.set(key, { mint: minted, until: minted.tokens.expiresAt });
    return minted;
  }

  return Object.freeze({
    async exchange(credentials: BasicCredentials, caller: Caller): Promise<IssuedTokens> {
      const key = hasher.hash(JSON.stringify([credentials.clientId, credentials.secret]));
      const entry = entries.get(key);
      if (entry !== undefined) {
        if (clock.now() < entry.until) return entry.mint.tokens;
        entries.delete(key);
      }
      let pending = inFlight.get(key);
      if (pending === undefined) {
        pending = lookUp(key, credentials, caller).finally(() => inFlight.delete(key));
        inFlight.set(key, pending);
      }
      return (await pending).tokens;
    },
    evict(match: (tags: LivenessTags) => boolean): void {
      generation++;
      inFlight.clear();
      for (const [key, entry] of entries.entries()) if (match(entry.mint.tags)) entries.delete(key);
    },
    clear(): void {
      generation++;
      inFlight.clear();
      entries.clear();
    },
  });
}
