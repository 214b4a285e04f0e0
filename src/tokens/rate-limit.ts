import { LRUCache } from 'lru-cache';
import type { Clock } from '../clock.js';
import { GatewayError } from '../errors.js';

/**
 * Brute-force limits of every secret check: the client credentials of the token endpoint and the
 * OAuth routes, and the vendor credentials of `POST /auth/vendor` (SPEC §4.1, §4.2; security case
 * 29; RFC 6749 §2.3.1; OWASP API2:2023).
 *
 * The rule, in fixed one-minute windows:
 * - **per peer** (the socket address, never X-Forwarded-For: case 39), every attempt counts; the
 *   `perPeerPerMinute + 1`-th attempt in a window is refused until the window ends;
 * - **per client and peer**, *failures* count (unknown client, wrong secret, revoked, expired);
 *   after `perClientPerMinute` failures for one clientId from one peer, that pair is refused until
 *   the window ends.
 *
 * Why these keys: an attacker who knows a clientId and fails on purpose locks out only its own
 * (clientId, peer) pair, never the legitimate client elsewhere, so no one can keep a client
 * locked by failing. A window starts at its first event and always ends 60 s later: refused
 * attempts are not counted, so hammering during a lock does not extend it, and a success neither
 * counts as a failure nor resets or extends anything. Guessing stays hopeless anyway: secrets are
 * 256 random bits; the limit bounds the work an attacker can make us do.
 *
 * Memory is bounded (lru-cache): under a flood of distinct keys the least recently used windows go
 * first, which can only forget counts, never lock anyone.
 */
export interface RateLimiter {
  /** Admits an authentication attempt (and counts it for the peer) or throws ERR_TOKEN_RATE_LIMITED with `retryAfterSeconds`. */
  admit(key: RateLimitKey): void;
  /** Counts a failed attempt against the (clientId, peer) pair. */
  recordFailure(key: RateLimitKey): void;
}

export interface RateLimitKey {
  readonly clientId: string;
  readonly peer: string;
}

export interface RateLimiterOptions {
  readonly perClientPerMinute: number;
  readonly perPeerPerMinute: number;
  /** Windows kept per kind; default 100 000. */
  readonly maxEntries?: number;
}

const WINDOW_MS = 60_000;

interface Window {
  readonly startedAt: number;
  count: number;
}

/** Builds the limiter; the clock is the injected one, so windows can be tested without sleeping. */
export function createRateLimiter(options: RateLimiterOptions, deps: { clock: Clock }): RateLimiter {
  const { perClientPerMinute, perPeerPerMinute } = options;
  for (const [name, value] of Object.entries({ perClientPerMinute, perPeerPerMinute })) {
    if (!Number.isSafeInteger(value) || value < 1) throw new RangeError(`${name} must be a positive integer`);
  }
  const max = options.maxEntries ?? 100_000;
  const peers = new LRUCache<string, Window>({ max });
  const failures = new LRUCache<string, Window>({ max });
  const { clock } = deps;

  /** The live window of `key`, or undefined once it has ended. */
  function current(cache: LRUCache<string, Window>, key: string, now: number): Window | undefined {
    const window = cache.get(key);
    if (window === undefined || now - window.startedAt >= WINDOW_MS) return undefined;
    return window;
  }

  function count(cache: LRUCache<string, Window>, key: string, now: number): void {
    const window = current(cache, key, now);
    if (window === undefined) cache.set(key, { startedAt: now, count: 1 });
    else window.count++;
  }

  function refuse(window: Window, now: number): never {
    const retryAfterSeconds = Math.max(1, Math.ceil((window.startedAt + WINDOW_MS - now) / 1000));
    throw new GatewayError('ERR_TOKEN_RATE_LIMITED', 'authentication attempts over the limit', { retryAfterSeconds });
  }

  // A NUL cannot occur in a header-derived clientId or in an address, so the pair key is unambiguous.
  const pairKey = (key: RateLimitKey): string => `${key.clientId}\u0000${key.peer}`;

  return Object.freeze({
    admit(key: RateLimitKey): void {
      const now = clock.now();
      const peer = current(peers, key.peer, now);
      if (peer !== undefined && peer.count >= perPeerPerMinute) refuse(peer, now);
      const failed = current(failures, pairKey(key), now);
      if (failed !== undefined && failed.count >= perClientPerMinute) refuse(failed, now);
      count(peers, key.peer, now);
    },
    recordFailure(key: RateLimitKey): void {
      count(failures, pairKey(key), clock.now());
    },
  });
}
