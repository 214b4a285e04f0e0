/**
 * The PostgreSQL store's change feed (SPEC §5: every replica evicts at once): one dedicated
 * connection LISTENs on the store's channel and hands each committed change to the handlers.
 *
 * NOTIFY is not queued for an absent listener: whatever was published while the connection was
 * down is lost. So the listener reconnects by itself, and after every reconnect tells the handlers
 * to reset (`onReset`): anything cached from the store may be stale.
 */
import type pg from 'pg';
import { pgDriver } from './pg.js';
import { systemClock, type Clock } from '../clock.js';
import type { Logger } from '../log.js';
import { StoreError } from './errors.js';
import { changeChannel } from './postgres.js';
import type { StoreChange, StoreChangeEvent, StoreChangeHandlers } from './types.js';

export interface PostgresChangeListenerOptions {
  /** The store's database, as given to createPostgresStore. */
  readonly connectionString: string;
  /** The store's schema: each schema has a channel of its own. */
  readonly schema?: string;
  /** Backoff between reconnect attempts: doubles from `min` up to `max`, with jitter; 100 to 5000. */
  readonly reconnectDelayMs?: { readonly min: number; readonly max: number };
  /** How often the session is checked with a query, and how long that query may take; 15000 and 5000. */
  readonly heartbeat?: { readonly intervalMs: number; readonly timeoutMs: number };
}

export interface PostgresChangeListenerDeps {
  readonly log: Logger;
  readonly handlers: StoreChangeHandlers;
  readonly clock?: Clock;
}

export interface PostgresChangeListener {
  /**
   * Connects and LISTENs; resolves once listening, rejects with ERR_STORE_UNAVAILABLE if that first
   * attempt fails (the caller decides whether to run without the feed). Later losses never throw:
   * the listener reconnects by itself.
   */
  start(): Promise<void>;
  /** Stops listening and reconnecting; idempotent. */
  close(): Promise<void>;
  /** Whether the feed is listening now. */
  connected(): boolean;
}

/** How the listener's session shows in pg_stat_activity. */
export const CHANGE_LISTENER_APPLICATION_NAME = 'm2m-gateway change listener';

const DEFAULT_RECONNECT_DELAY_MS = { min: 100, max: 5000 } as const;
/** An attempt to reach an unresponsive server gives up, so the next one can be made. */
const CONNECT_TIMEOUT_MS = 5000;
/**
 * A listening session only ever reads: without TCP keepalive, a peer gone silent (a network
 * partition, a failover without a reset) would leave it waiting forever for events that never come.
 */
const KEEPALIVE_DELAY_MS = 10_000;
/**
 * TCP keepalive takes minutes to give up on a silent peer, and every event published meanwhile is
 * lost: a query every interval that must answer in time finds a dead session within seconds.
 */
const DEFAULT_HEARTBEAT = { intervalMs: 15_000, timeoutMs: 5_000 } as const;

/** The ids each kind carries: an event is accepted only with exactly these, as strings. */
const CHANGE_FIELDS: Readonly<Record<StoreChange['kind'], readonly string[]>> = {
  apiToken: ['clientId'],
  accessToken: ['id'],
  refreshFamily: ['familyId'],
  membership: ['tenantId', 'userId'],
  tenant: ['tenantId'],
  signingKeys: [],
};

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/** A payload as published by the store (`publish` in postgres.ts), or undefined. */
function parseChangeEvent(payload: string | undefined): StoreChangeEvent | undefined {
  let value: unknown;
  try {
    value = JSON.parse(payload ?? '');
  } catch {
    return undefined;
  }
  if (!isObject(value) || !Number.isSafeInteger(value.committedAt) || !isObject(value.change)) return undefined;
  const { kind } = value.change;
  if (typeof kind !== 'string' || !Object.hasOwn(CHANGE_FIELDS, kind)) return undefined;
  const change: Record<string, string> = { kind };
  for (const field of CHANGE_FIELDS[kind as StoreChange['kind']]) {
    const id = value.change[field];
    if (typeof id !== 'string') return undefined;
    change[field] = id;
  }
  return Object.freeze({ change: Object.freeze(change) as StoreChange, committedAt: value.committedAt as number });
}

/** Where the listener connects, for logs: never the password (nor the user name). */
function describeTarget(connectionString: string): { host?: string; database?: string } {
  try {
    const url = new URL(connectionString);
    return { host: url.host, database: url.pathname.slice(1) };
  } catch {
    return {};
  }
}

const messageOf = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/**
 * Creates the change listener of one store (same database and schema). It uses a connection of
 * its own, outside the store's pool: a LISTENing session must stay open, and a pooled one would
 * be handed to queries.
 */
export function createPostgresChangeListener(options: PostgresChangeListenerOptions, deps: PostgresChangeListenerDeps): PostgresChangeListener {
  const channel = changeChannel(options.schema);
  const { min, max } = options.reconnectDelayMs ?? DEFAULT_RECONNECT_DELAY_MS;
  if (!Number.isFinite(min) || !Number.isFinite(max) || min <= 0 || max < min) {
    throw new StoreError('ERR_STORE_INVALID', 'reconnectDelayMs needs 0 < min <= max');
  }
  const { handlers } = deps;
  const clock = deps.clock ?? systemClock;
  const log = deps.log.child({ component: 'store-changes', channel, ...describeTarget(options.connectionString) });

  let client: pg.Client | undefined;
  let closed = false;
  let starting: Promise<void> | undefined;
  let closing: Promise<void> | undefined;
  /** A reconnect attempt in progress, which close() waits for. */
  let reconnecting: Promise<void> | undefined;
  let timer: NodeJS.Timeout | undefined;
  let failedAttempts = 0;
  let lostAt = 0;
  const heartbeat = options.heartbeat ?? DEFAULT_HEARTBEAT;
  let heartbeatTimer: NodeJS.Timeout | undefined;

  /** Checks the current session: a query that fails or does not answer in time means it is lost. */
  const beat = (): void => {
    const current = client;
    if (current === undefined) return;
    let deadline: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      deadline = setTimeout(() => reject(new Error(`no answer within ${heartbeat.timeoutMs} ms`)), heartbeat.timeoutMs);
    });
    Promise.race([current.query('SELECT 1'), late]).then(
      () => clearTimeout(deadline),
      (err: Error) => {
        clearTimeout(deadline);
        lost(current, err);
      },
    );
  };

  /** A handler's failure is the cache's problem, not the feed's: logged, and the feed goes on. */
  const call = (what: string, fn: () => void): void => {
    try {
      fn();
    } catch (err) {
      log.error({ err: messageOf(err) }, `store change ${what} handler failed`);
    }
  };

  const onNotification = (message: pg.Notification): void => {
    if (message.channel !== channel) return;
    const event = parseChangeEvent(message.payload);
    if (event === undefined) {
      // Something changed, but not in a form this build knows: forget everything.
      log.warn({ bytes: message.payload?.length ?? 0 }, 'malformed store change event; resetting');
      call('reset', () => handlers.onReset());
      return;
    }
    call('change', () => handlers.onChange(event));
  };

  /** A session that LISTENs on the channel; a failed one is discarded. */
  const connect = async (): Promise<pg.Client> => {
    const candidate = new (pgDriver().Client)({
      connectionString: options.connectionString,
      application_name: CHANGE_LISTENER_APPLICATION_NAME,
      connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
      keepAlive: true,
      keepAliveInitialDelayMillis: KEEPALIVE_DELAY_MS,
    });
    // Without listeners, a terminated backend would be an unhandled 'error' event.
    candidate.on('error', (err) => lost(candidate, err));
    candidate.on('end', () => lost(candidate, undefined));
    candidate.on('notification', onNotification);
    try {
      await candidate.connect();
      await candidate.query(`LISTEN ${pgDriver().escapeIdentifier(channel)}`);
      return candidate;
    } catch (err) {
      // Not awaited: ending a session that never opened may not resolve.
      candidate.end().catch(() => undefined);
      throw err;
    }
  };

  /** The current session failed or ended: drop it and retry, unless closing. */
  const lost = (which: pg.Client, err: Error | undefined): void => {
    if (which !== client) return;
    client = undefined;
    which.end().catch(() => undefined);
    if (closed) return;
    lostAt = clock.now();
    log.warn({ err: err === undefined ? 'connection ended' : messageOf(err) }, 'store change feed lost; reconnecting');
    scheduleReconnect();
  };

  const scheduleReconnect = (): void => {
    const ceiling = Math.min(max, min * 2 ** failedAttempts);
    // Equal jitter: at least half the ceiling, so processes cut off together spread out.
    const delay = ceiling / 2 + Math.random() * (ceiling / 2);
    timer = setTimeout(() => {
      timer = undefined;
      reconnecting = reconnect().finally(() => {
        reconnecting = undefined;
      });
    }, delay);
  };

  const reconnect = async (): Promise<void> => {
    let next: pg.Client;
    try {
      next = await connect();
    } catch (err) {
      if (closed) return;
      failedAttempts += 1;
      log.warn({ err: messageOf(err), attempt: failedAttempts }, 'store change feed reconnect failed');
      scheduleReconnect();
      return;
    }
    if (closed) {
      await next.end().catch(() => undefined);
      return;
    }
    client = next;
    failedAttempts = 0;
    log.info({ downMs: clock.now() - lostAt }, 'store change feed reconnected; resetting');
    // Whatever was published while the feed was down is lost.
    call('reset', () => handlers.onReset());
  };

  const first = async (): Promise<void> => {
    if (closed) throw new StoreError('ERR_STORE_CLOSED');
    let next: pg.Client;
    try {
      next = await connect();
    } catch (err) {
      log.warn({ err: messageOf(err) }, 'store change feed could not connect');
      throw new StoreError('ERR_STORE_UNAVAILABLE', messageOf(err), { cause: err });
    }
    if (closed) {
      await next.end().catch(() => undefined);
      throw new StoreError('ERR_STORE_CLOSED');
    }
    client = next;
    heartbeatTimer = setInterval(beat, heartbeat.intervalMs);
    heartbeatTimer.unref();
    log.info('store change feed listening');
  };

  return Object.freeze({
    start() {
      if (closed) return Promise.reject(new StoreError('ERR_STORE_CLOSED'));
      starting ??= first();
      return starting;
    },
    close() {
      closing ??= (async () => {
        closed = true;
        clearTimeout(timer);
        timer = undefined;
        clearInterval(heartbeatTimer);
        const current = client;
        client = undefined;
        await Promise.all([current?.end().catch(() => undefined), reconnecting, starting?.catch(() => undefined)]);
      })();
      return closing;
    },
    connected: () => client !== undefined,
  });
}
