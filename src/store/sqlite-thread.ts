/**
 * The embedded store as the gateway runs it: the SQLite store (sqlite.ts) on a thread of its own,
 * so that the event loop never waits for the disk.
 *
 * better-sqlite3 is synchronous. On the event loop, each commit's WAL write was the loop's, and
 * every thousandth WAL page the commit that crossed the line also ran SQLite's automatic
 * checkpoint: copy the WAL into the database file and fsync both, 5–11 ms on a virtual disk,
 * during which no request moved (measured: 20,000 exchanges' commits, p50 65 µs, 167 over 5 ms).
 * Here the connection, its transactions and its checkpoints belong to one worker thread; the
 * loop posts each call and awaits the answer (README "Performance", event-loop delay).
 *
 * What does not change: one connection runs the calls one at a time, in the order they were made,
 * so the store keeps every guarantee of sqlite.ts (IMMEDIATE transactions, durability per commit).
 * A call is answered only after its transaction committed. Errors come back as the same
 * `StoreError` codes. If the thread dies, every pending and later call fails with
 * ERR_STORE_UNAVAILABLE: fail closed, never an answer the store did not give.
 */
import { Worker } from 'node:worker_threads';
import { GatewayError, type ErrorCode } from '../errors.js';
import { deepFreeze } from '../freeze.js';
import { StoreError, type StoreErrorCode } from './errors.js';
import type { SqliteStoreOptions } from './sqlite.js';
import type { TokenStore } from './types.js';

/** Every method of `TokenStore`; the type below fails to compile if one is missing. */
export const TOKEN_STORE_METHODS = [
  'migrate',
  'close',
  'ping',
  'putTenant',
  'getTenant',
  'listTenants',
  'deleteTenant',
  'putMembership',
  'getMembership',
  'listMemberships',
  'deleteMembership',
  'insertApiToken',
  'getApiToken',
  'listApiTokens',
  'updateApiToken',
  'revokeApiToken',
  'insertAccessToken',
  'getAccessToken',
  'listAccessTokens',
  'revokeAccessToken',
  'listActiveAccessTokenIds',
  'hasLiveAccessTokenSignedBy',
  'newestLiveAccessTokenWithoutKid',
  'startRefreshFamily',
  'getRefreshFamily',
  'insertRefreshToken',
  'rotateRefreshToken',
  'getRefreshToken',
  'revokeRefreshFamily',
  'insertSigningKey',
  'listSigningKeys',
  'updateSigningKey',
  'deleteSigningKey',
] as const satisfies readonly (keyof TokenStore)[];
export type TokenStoreMethod = (typeof TOKEN_STORE_METHODS)[number];
const everyMethodListed: Exclude<keyof TokenStore, TokenStoreMethod> extends never ? true : never = true;
void everyMethodListed;

/** One call, main thread → store thread. */
export interface StoreCall {
  readonly id: number;
  readonly method: TokenStoreMethod;
  readonly args: readonly unknown[];
}

/** An error as it crosses the thread boundary: our errors by code, anything else by name and message. */
export type WireError =
  | { readonly kind: 'gateway'; readonly code: ErrorCode; readonly detail: string | undefined; readonly cause: unknown }
  | { readonly kind: 'other'; readonly name: string; readonly message: string; readonly stack: string | undefined };

/** One answer, store thread → main thread. */
export type StoreAnswer = { readonly id: number; readonly ok: true; readonly value: unknown } | { readonly id: number; readonly ok: false; readonly error: WireError };

export function toWire(err: unknown): WireError {
  if (err instanceof GatewayError) {
    // The cause (a driver error) crosses as a plain Error: name, message and stack survive cloning.
    const cause = err.cause instanceof Error ? err.cause : undefined;
    return { kind: 'gateway', code: err.code, detail: err.detail, cause };
  }
  const error = err instanceof Error ? err : new Error(String(err));
  return { kind: 'other', name: error.name, message: error.message, stack: error.stack };
}

function fromWire(wire: WireError): Error {
  if (wire.kind === 'gateway') {
    const options = wire.cause === undefined ? undefined : { cause: wire.cause };
    return wire.code.startsWith('ERR_STORE_') ? new StoreError(wire.code as StoreErrorCode, wire.detail, options) : new GatewayError(wire.code, wire.detail, options);
  }
  const error = new Error(wire.message);
  error.name = wire.name;
  if (wire.stack !== undefined) error.stack = wire.stack;
  return error;
}

/**
 * The worker's module, beside this one: `.js` in the build, `.ts` where the sources run directly
 * (the tests), so that the thread runs the same code as its caller.
 */
const workerUrl = new URL(`./sqlite-thread-worker${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url);

/**
 * Opens the SQLite store on its own thread. Returns at once; a database that cannot be opened
 * fails the first call (normally `migrate`) with the error `createSqliteStore` would have thrown.
 */
export function createSqliteThreadStore(options: SqliteStoreOptions): TokenStore {
  const worker = new Worker(workerUrl, { workerData: options });
  const pending = new Map<number, { resolve: (value: unknown) => void; reject: (err: Error) => void }>();
  let nextId = 1;
  /** Set once the thread cannot answer any more: every later call fails with it. */
  let broken: Error | undefined;
  let closing: Promise<void> | undefined;

  // The thread keeps the process alive only while a call waits for it, as a socket would: an idle
  // store never holds a finished command-line run open, and a pending call is never cut short.
  worker.unref();

  const failAll = (err: Error) => {
    broken ??= err;
    for (const call of pending.values()) call.reject(err);
    pending.clear();
    worker.unref();
  };

  worker.on('message', (answer: StoreAnswer) => {
    const call = pending.get(answer.id);
    if (call === undefined) return;
    pending.delete(answer.id);
    if (pending.size === 0) worker.unref();
    if (answer.ok) call.resolve(deepFreeze(answer.value));
    else call.reject(fromWire(answer.error));
  });
  worker.on('error', (err) => failAll(new StoreError('ERR_STORE_UNAVAILABLE', 'the SQLite thread failed', { cause: err })));
  worker.on('exit', () => failAll(new StoreError('ERR_STORE_UNAVAILABLE', 'the SQLite thread has stopped')));

  /** Posts one call and waits for its answer. */
  function send(method: TokenStoreMethod, args: readonly unknown[]): Promise<unknown> {
    const id = nextId++;
    return new Promise((resolve, reject) => {
      // Arguments that cannot be cloned (a function, a symbol) throw here, before anything is sent.
      worker.postMessage({ id, method, args } satisfies StoreCall);
      pending.set(id, { resolve, reject });
      if (pending.size === 1) worker.ref();
    });
  }

  function call(method: TokenStoreMethod, args: readonly unknown[]): Promise<unknown> {
    if (closing !== undefined) return Promise.reject(new StoreError('ERR_STORE_CLOSED'));
    if (broken !== undefined) return Promise.reject(broken);
    return send(method, args);
  }

  const store: Record<string, unknown> = {};
  for (const method of TOKEN_STORE_METHODS) store[method] = (...args: unknown[]) => call(method, args);
  // Closing waits for every call made before it (the thread answers in order), closes the
  // database, then stops the thread; a failure to close is the caller's to see, as on the driver.
  store['close'] = () =>
    (closing ??= (async () => {
      if (broken !== undefined) return;
      try {
        await send('close', []);
      } finally {
        await worker.terminate();
      }
    })());
  return Object.freeze(store) as unknown as TokenStore;
}
