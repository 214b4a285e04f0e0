import type { Logger } from 'pino';
import { parseJwks } from '../auth/jwks.js';
import { createHolder, type KeySource } from '../auth/key-source.js';
import type { Clock } from '../clock.js';
import type { CompiledIssuer } from '../config/types.js';
import { isGatewayError } from '../errors.js';
import type { Metrics } from '../metrics.js';
import { KEY_RELOAD_INTERVAL_SECONDS, type KeyManager } from './keys.js';

export interface OwnKeySourceOptions {
  /**
   * How often the store is re-read for rotations made by other processes (default
   * `KEY_RELOAD_INTERVAL_SECONDS`; retired keys stay published that much longer, src/tokens/keys.ts).
   */
  readonly reloadIntervalMs?: number;
  /** At most one store read per this interval on an unknown kid (default 5 s). */
  readonly cooldownMs?: number;
  /** false: no timer; only `refresh()`/`refetch()` read the store (tests). */
  readonly autoRefresh?: boolean;
}

export interface OwnKeySourceDeps {
  readonly keys: KeyManager;
  readonly clock: Clock;
  readonly metrics: Metrics;
  readonly log: Logger;
}

type Result = 'ok' | 'error' | 'invalid';

/**
 * The proxy's view of this process's own issuer: the key manager's JWKS, with no HTTP round trip.
 * The set goes through the same `parseJwks` as file and URL sources, so the same validation
 * applies (allowed algorithms, RSA size, no private members) and the same prepared fast-jwt
 * verifiers are used; an unchanged key keeps its verifier across reloads.
 *
 * Ready once `keys.init()` has run and `start()` applied the set. `refresh()` re-reads the store
 * (`keys.reload()`: rotations by other processes, retired keys nothing needs) and reports added and
 * removed kids to `onChange`, which purges the verified-token cache of removed keys. `refetch(kid)`
 * first looks in the manager's memory (a key this process just rotated in is trusted at once,
 * which is what makes `publishAheadSeconds: 0` safe in-process), then reads the store at most once
 * per cooldown, one read in flight, so a flood of unknown kids cannot hammer the store
 * (RFC 8725 §3.10; security case 12). A failed store read keeps the keys in memory, minus any
 * whose `removeAfter` has passed; a key held by live access tokens has none, so it stays.
 */
export function createOwnKeySource(issuer: CompiledIssuer, deps: OwnKeySourceDeps, options: OwnKeySourceOptions = {}): KeySource {
  const { keys, clock, metrics } = deps;
  const reloadIntervalMs = options.reloadIntervalMs ?? KEY_RELOAD_INTERVAL_SECONDS * 1000;
  const cooldownMs = options.cooldownMs ?? 5_000;
  const holder = createHolder(issuer, clock);
  const log = deps.log.child({ issuer: issuer.name, jwks: 'own' });
  let closed = false;
  let timer: NodeJS.Timeout | undefined;
  let inFlight: Promise<boolean> | undefined;
  let lastAttemptMs = Number.NEGATIVE_INFINITY;
  let lastFailure: string | undefined;

  function fail(result: Exclude<Result, 'ok'>, reason: string): false {
    metrics.jwksFetches.inc({ issuer: issuer.name, result });
    // Warn once per distinct problem: the timer retries every interval.
    if (reason !== lastFailure) log.warn({ reason, keptLastGoodSet: holder.keys() !== undefined }, 'own signing keys not loaded');
    lastFailure = reason;
    return false;
  }

  function reasonOf(err: unknown): string {
    return isGatewayError(err) ? `${err.code}: ${err.detail ?? err.message}` : `unexpected: ${(err as Error).name}`;
  }

  /** Swaps in the manager's current JWKS; no I/O. */
  function apply(): boolean {
    if (closed) return false;
    let text: string;
    try {
      text = JSON.stringify(keys.jwks());
    } catch (err) {
      return fail('error', reasonOf(err));
    }
    const parsed = parseJwks(text, issuer, holder.keys());
    if (!parsed.ok) return fail('invalid', parsed.reason);
    holder.replace(parsed.keys);
    return true;
  }

  function succeeded(): true {
    metrics.jwksFetches.inc({ issuer: issuer.name, result: 'ok' });
    if (lastFailure !== undefined) log.info('own signing keys loaded again');
    lastFailure = undefined;
    return true;
  }

  async function reloadAndApply(): Promise<boolean> {
    try {
      await keys.reload();
    } catch (err) {
      fail('error', reasonOf(err));
      // Still apply what is in memory: keys whose removeAfter has passed leave the set regardless.
      apply();
      return false;
    }
    return apply() && succeeded();
  }

  /** One store read at a time: concurrent callers share the same promise. */
  function refresh(): Promise<boolean> {
    if (closed) return Promise.resolve(false);
    if (inFlight !== undefined) return inFlight;
    lastAttemptMs = clock.now();
    inFlight = reloadAndApply().finally(() => {
      inFlight = undefined;
    });
    return inFlight;
  }

  function knownToManager(kid: string): boolean {
    try {
      return keys.published().some((key) => key.kid === kid);
    } catch {
      return false;
    }
  }

  return Object.freeze({
    issuer,
    async start() {
      if (apply()) succeeded();
      if (closed || options.autoRefresh === false) return;
      timer = setInterval(() => void refresh(), reloadIntervalMs);
      timer.unref();
    },
    close() {
      closed = true;
      if (timer !== undefined) clearInterval(timer);
    },
    get: (kid: string) => holder.keys()?.get(kid),
    async refetch(kid: string) {
      if (holder.keys()?.has(kid) === true) return;
      if (knownToManager(kid)) {
        // Memory only: this says nothing about the store, so a recorded store failure stands.
        apply();
        return;
      }
      if (inFlight !== undefined) {
        await inFlight;
        return;
      }
      // Any token can name any kid: at most one store read per cooldown, whatever the traffic.
      if (clock.now() - lastAttemptMs < cooldownMs) return;
      await refresh();
    },
    refresh,
    ready: () => holder.keys() !== undefined,
    loadedAtMs: holder.loadedAt,
    onChange: holder.onChange,
  });
}
