import { readFile, stat } from 'node:fs/promises';
import type { Logger } from 'pino';
import { request } from 'undici';
import type { Clock } from '../clock.js';
import type { CompiledIssuer, CompiledJwksFile, CompiledJwksUrl } from '../config/types.js';
import type { Metrics } from '../metrics.js';
import { fileSignature, watchDirectoryOf } from '../watch-directory.js';
import { diffKeySets, parseJwks, type KeySet, type PreparedKey } from './jwks.js';

/** What changed when a source swapped its key set; `removed` also lists kids whose key changed. */
export interface KeySetChange {
  readonly issuer: string;
  readonly added: readonly string[];
  readonly removed: readonly string[];
}

/**
 * Where one issuer's keys come from. `get` is the hot path: a `Map` lookup in the current set,
 * never I/O, whatever the kid (RFC 8725 §3.10; security case 12).
 */
export interface KeySource {
  readonly issuer: CompiledIssuer;
  /** First load; resolves once it was attempted, good or bad (a bad start keeps retrying). */
  start(): Promise<void>;
  close(): void;
  get(kid: string): PreparedKey | undefined;
  /** Asks for a fresh set because a token named an unknown kid (URL: cooldown, single flight; file: no-op). */
  refetch(kid: string): Promise<void>;
  /** Loads the set now. Resolves true when a good set was applied. */
  refresh(): Promise<boolean>;
  /** True while the source has a usable key set. */
  ready(): boolean;
  /** Clock time the current set was loaded at, undefined without a set. */
  loadedAtMs(): number | undefined;
  /** Calls `listener` after every change of the set; returns the unsubscribe function. */
  onChange(listener: (change: KeySetChange) => void): () => void;
}

export interface FileKeySource extends KeySource {
  /** Re-reads the file; the watcher and the poll call this same method. Same function as `refresh`. */
  reload(): Promise<boolean>;
}

export interface KeySourceDeps {
  readonly clock: Clock;
  readonly metrics: Metrics;
  readonly log: Logger;
}

/** JWKS documents are a few KiB; anything this large is not one (and must not fill memory). */
export const MAX_JWKS_BYTES = 1024 * 1024;

type Result = 'ok' | 'error' | 'invalid';

/** The current set, its load time, and the change listeners: shared by every source (file, URL, own keys). */
export function createHolder(issuer: CompiledIssuer, clock: Clock) {
  let keys: KeySet | undefined;
  let loadedAt: number | undefined;
  const listeners = new Set<(change: KeySetChange) => void>();
  return {
    keys: () => keys,
    loadedAt: () => loadedAt,
    onChange(listener: (change: KeySetChange) => void): () => void {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    replace(next: KeySet | undefined) {
      const { added, removed } = diffKeySets(keys, next);
      keys = next;
      loadedAt = next === undefined ? undefined : clock.now();
      if (added.length === 0 && removed.length === 0) return;
      const change = Object.freeze({ issuer: issuer.name, added, removed });
      for (const listener of listeners) listener(change);
    },
  };
}

/** Strict UTF-8 (a JWKS is JSON, RFC 8259 §8.1); `undefined` for anything else. */
function decodeUtf8(bytes: Uint8Array): string | undefined {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return undefined;
  }
}

/**
 * A JWKS read from a file and reloaded when it changes (SPEC §5), for keys distributed by a
 * ConfigMap or a secrets agent. `fs.watch` on the directory catches atomic renames (how
 * Kubernetes updates mounted files); a cheap periodic `stat` is the fallback for file systems
 * where watching is unreliable. A bad reload keeps the last good set (security case 50); a bad
 * start leaves the source not ready (503) and the poll keeps retrying.
 */
export function createFileKeySource(
  options: { issuer: CompiledIssuer & { jwks: CompiledJwksFile }; pollIntervalMs?: number; watch?: boolean },
  deps: KeySourceDeps,
): FileKeySource {
  const { issuer } = options;
  const file = issuer.jwks.file;
  const pollIntervalMs = options.pollIntervalMs ?? 5000;
  const holder = createHolder(issuer, deps.clock);
  const log = deps.log.child({ issuer: issuer.name, jwks: 'file' });
  let stopWatching = (): void => undefined;
  let poller: NodeJS.Timeout | undefined;
  let closed = false;
  let running: Promise<boolean> | undefined;
  let queued: Promise<boolean> | undefined;
  let lastSignature: string | undefined;
  let lastFailure: string | undefined;


  function fail(result: Result, reason: string): false {
    deps.metrics.jwksFetches.inc({ issuer: issuer.name, result });
    // Warn once per distinct problem; the poll retries a missing file every interval.
    if (reason !== lastFailure) log.warn({ reason, keptLastGoodSet: holder.keys() !== undefined }, 'JWKS file not loaded');
    lastFailure = reason;
    return false;
  }

  async function load(): Promise<boolean> {
    if (closed) return false;
    // Remember what we read, so the poll reloads only when the file changes again.
    lastSignature = await fileSignature(file);
    let bytes: Buffer;
    try {
      if ((await stat(file)).size > MAX_JWKS_BYTES) return fail('invalid', 'file too large');
      bytes = await readFile(file);
    } catch (err) {
      return fail('error', `cannot read: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
    }
    const text = bytes.length > MAX_JWKS_BYTES ? undefined : decodeUtf8(bytes);
    if (text === undefined) return fail('invalid', 'not UTF-8 text or too large');
    const parsed = parseJwks(text, issuer, holder.keys());
    if (!parsed.ok) return fail('invalid', parsed.reason);
    if (closed) return false;
    holder.replace(parsed.keys);
    deps.metrics.jwksFetches.inc({ issuer: issuer.name, result: 'ok' });
    if (lastFailure !== undefined) log.info('JWKS file loaded again');
    lastFailure = undefined;
    log.debug({ keys: parsed.keys.size }, 'JWKS file loaded');
    return true;
  }

  /** Serialises loads; a change seen during a load queues exactly one more (so it is never missed). */
  function reload(): Promise<boolean> {
    if (queued !== undefined) return queued;
    if (running !== undefined) {
      queued = running.then(() => {
        queued = undefined;
        return run();
      });
      return queued;
    }
    return run();
  }

  function run(): Promise<boolean> {
    running = load().finally(() => {
      running = undefined;
    });
    return running;
  }

  async function poll(): Promise<void> {
    const now = await fileSignature(file);
    if (now !== lastSignature || holder.keys() === undefined) await reload();
  }

  function startWatching(): void {
    if (options.watch === false) return;
    stopWatching = watchDirectoryOf(file, 'JWKS', log, () => void reload());
  }

  return Object.freeze({
    issuer,
    async start() {
      await reload();
      if (closed) return;
      startWatching();
      poller = setInterval(() => void poll(), pollIntervalMs);
      poller.unref();
    },
    close() {
      closed = true;
      stopWatching();
      if (poller !== undefined) clearInterval(poller);
    },
    get: (kid: string) => holder.keys()?.get(kid),
    // A kid in a token must never make us touch the file system (security case 12).
    refetch: async (_kid: string) => undefined,
    refresh: reload,
    reload,
    ready: () => holder.keys() !== undefined,
    loadedAtMs: holder.loadedAt,
    onChange: holder.onChange,
  });
}

/** `max-age` of a Cache-Control header, in ms; used only to shorten the configured TTL. */
function maxAgeMs(header: string | string[] | undefined): number | undefined {
  const value = Array.isArray(header) ? header.join(',') : header;
  const match = value === undefined ? null : /(?:^|,)\s*max-age\s*=\s*"?(\d{1,10})"?\s*(?:,|$)/i.exec(value);
  return match === null ? undefined : Number(match[1]) * 1000;
}

/** Drops a response body we will not read; the no-op listener keeps undici's abort error from going unhandled. */
function discard(body: { on(event: 'error', listener: () => void): unknown; destroy(): unknown }): void {
  body.on('error', () => undefined);
  body.destroy();
}

class FetchFailure extends Error {
  constructor(
    readonly result: Exclude<Result, 'ok'>,
    reason: string,
  ) {
    super(reason);
  }
}

/**
 * A JWKS fetched from the issuer's URL with undici (SPEC §5): cached for `cacheTtlMs` (shortened,
 * never lengthened, by `Cache-Control: max-age`), refreshed `refreshBeforeMs` before that,
 * refetched on an unknown kid at most once per `cooldownMs` with one request in flight, and served
 * stale for at most `maxStaleMs` past expiry while the issuer fails, then dropped (503) rather
 * than trusted forever. Freshness is judged by the injected clock; `refresh()` lets tests drive
 * fetches instead of waiting for timers.
 */
export function createUrlKeySource(
  options: {
    issuer: CompiledIssuer & { jwks: CompiledJwksUrl };
    /** Delay before retrying after a failed fetch (default min(cooldown, 10 s)). */
    retryMs?: number;
    maxBodyBytes?: number;
    /** false: no timers at all; only `refresh()`/`refetch()` fetch. */
    autoRefresh?: boolean;
  },
  deps: KeySourceDeps,
): KeySource {
  const { issuer } = options;
  const { url, cacheTtlMs, refreshBeforeMs, cooldownMs, maxStaleMs, timeoutMs } = issuer.jwks;
  const retryMs = options.retryMs ?? Math.min(cooldownMs, 10_000);
  const maxBodyBytes = options.maxBodyBytes ?? MAX_JWKS_BYTES;
  const holder = createHolder(issuer, deps.clock);
  // The URL may carry credentials; logs name the issuer only.
  const log = deps.log.child({ issuer: issuer.name, jwks: 'url' });
  const closing = new AbortController();
  let expiresAtMs = 0;
  let lastAttemptMs = Number.NEGATIVE_INFINITY;
  let inFlight: Promise<boolean> | undefined;
  let timer: NodeJS.Timeout | undefined;
  let lastFailure: string | undefined;

  /** The set, unless it is more than `maxStaleMs` past expiry: then it is dropped, fail closed. */
  function keys(): KeySet | undefined {
    const current = holder.keys();
    if (current !== undefined && deps.clock.now() >= expiresAtMs + maxStaleMs) {
      log.error('JWKS stale beyond maxStale; dropping the key set');
      holder.replace(undefined);
      return undefined;
    }
    return current;
  }

  async function download(): Promise<{ text: string; maxAge: number | undefined }> {
    const signal = AbortSignal.any([closing.signal, AbortSignal.timeout(timeoutMs)]);
    let response;
    try {
      response = await request(url, {
        method: 'GET',
        headers: { accept: 'application/jwk-set+json, application/json' },
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
        signal,
      });
    } catch (err) {
      throw new FetchFailure('error', `request failed: ${(err as { code?: string }).code ?? (err as Error).name}`);
    }
    const { statusCode, headers, body } = response;
    if (statusCode !== 200) {
      discard(body);
      throw new FetchFailure('error', `status ${statusCode}`);
    }
    if (Number(headers['content-length']) > maxBodyBytes) {
      discard(body);
      throw new FetchFailure('invalid', 'body too large');
    }
    const chunks: Buffer[] = [];
    let size = 0;
    try {
      for await (const chunk of body) {
        size += (chunk as Buffer).length;
        if (size > maxBodyBytes) {
          discard(body);
          throw new FetchFailure('invalid', 'body too large');
        }
        chunks.push(chunk as Buffer);
      }
    } catch (err) {
      if (err instanceof FetchFailure) throw err;
      throw new FetchFailure('error', `body failed: ${(err as { code?: string }).code ?? (err as Error).name}`);
    }
    const text = decodeUtf8(Buffer.concat(chunks));
    if (text === undefined) throw new FetchFailure('invalid', 'body is not UTF-8');
    return { text, maxAge: maxAgeMs(headers['cache-control']) };
  }

  async function fetchOnce(): Promise<boolean> {
    try {
      const { text, maxAge } = await download();
      const parsed = parseJwks(text, issuer, keys());
      if (!parsed.ok) throw new FetchFailure('invalid', parsed.reason);
      if (closing.signal.aborted) return false;
      const ttl = maxAge === undefined ? cacheTtlMs : Math.min(maxAge, cacheTtlMs);
      expiresAtMs = deps.clock.now() + ttl;
      holder.replace(parsed.keys);
      deps.metrics.jwksFetches.inc({ issuer: issuer.name, result: 'ok' });
      if (lastFailure !== undefined) log.info('JWKS fetched again');
      lastFailure = undefined;
      schedule(Math.max(ttl - refreshBeforeMs, Math.min(cooldownMs, cacheTtlMs), 1000));
      return true;
    } catch (err) {
      const failure = err instanceof FetchFailure ? err : new FetchFailure('error', 'unexpected failure');
      if (!(err instanceof FetchFailure)) log.error({ err }, 'JWKS fetch failed unexpectedly');
      deps.metrics.jwksFetches.inc({ issuer: issuer.name, result: failure.result });
      const serving = keys() !== undefined;
      if (failure.message !== lastFailure) log.warn({ reason: failure.message, servingLastGoodSet: serving }, 'JWKS fetch failed');
      lastFailure = failure.message;
      schedule(retryMs);
      return false;
    }
  }

  function schedule(delayMs: number): void {
    if (options.autoRefresh === false || closing.signal.aborted) return;
    if (timer !== undefined) clearTimeout(timer);
    timer = setTimeout(() => void refresh(), delayMs);
    timer.unref();
  }

  /** One fetch at a time: concurrent callers share the same promise. */
  function refresh(): Promise<boolean> {
    if (closing.signal.aborted) return Promise.resolve(false);
    if (inFlight !== undefined) return inFlight;
    lastAttemptMs = deps.clock.now();
    inFlight = fetchOnce().finally(() => {
      inFlight = undefined;
    });
    return inFlight;
  }

  return Object.freeze({
    issuer,
    async start() {
      await refresh();
    },
    close() {
      closing.abort();
      if (timer !== undefined) clearTimeout(timer);
    },
    get: (kid: string) => keys()?.get(kid),
    async refetch(kid: string) {
      if (keys()?.has(kid) === true) return;
      if (inFlight !== undefined) {
        await inFlight;
        return;
      }
      // An attacker can name any kid: at most one fetch per cooldown, whatever the traffic.
      if (deps.clock.now() - lastAttemptMs < cooldownMs) return;
      await refresh();
    },
    refresh,
    ready: () => keys() !== undefined,
    loadedAtMs: () => (keys() === undefined ? undefined : holder.loadedAt()),
    onChange: holder.onChange,
  });
}

/** The source an issuer's config asks for. */
export function createKeySource(
  issuer: CompiledIssuer,
  deps: KeySourceDeps,
  options: { pollIntervalMs?: number; retryMs?: number; watch?: boolean; autoRefresh?: boolean } = {},
): KeySource {
  if (issuer.jwks.kind === 'file') {
    const fileIssuer = issuer as CompiledIssuer & { jwks: CompiledJwksFile };
    return createFileKeySource({ issuer: fileIssuer, pollIntervalMs: options.pollIntervalMs, watch: options.watch }, deps);
  }
  if (issuer.jwks.kind === 'own') {
    // The token service's keys live in its key manager; the composition root builds that source.
    throw new Error(`issuer ${issuer.name}: an in-process key source must be supplied by the caller`);
  }
  const urlIssuer = issuer as CompiledIssuer & { jwks: CompiledJwksUrl };
  return createUrlKeySource({ issuer: urlIssuer, retryMs: options.retryMs, autoRefresh: options.autoRefresh }, deps);
}
