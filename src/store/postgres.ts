/**
 * The shared TokenStore (SPEC §2 "Cluster"): PostgreSQL through a `pg` pool, for several gateway
 * processes on one database.
 *
 * Every read-then-write method is one transaction. Refresh-token writes of one credential are
 * serialised by a row lock on its `api_tokens` row (`FOR NO KEY UPDATE`, which does not block the
 * foreign-key checks of new families), taken before any refresh-token row: two processes cannot
 * both see a refresh token unused and both rotate it, and two concurrent issuances cannot both
 * count the live tokens without seeing each other's, so the live cap holds across processes.
 * A call that cannot reach the database, waits beyond the statement timeout, or gets no answer
 * at all within a second more, fails with ERR_STORE_UNAVAILABLE (fail closed, security case 51).
 *
 * Every write that can revoke something or change a cached answer publishes a StoreChange with
 * NOTIFY in its own transaction (SPEC §5: every replica evicts at once); postgres-changes.ts
 * listens for them.
 */
import { createHash } from 'node:crypto';
import type pg from 'pg';
import { pgDriver } from './pg.js';
import { StoreError } from './errors.js';
import { assertSchemaCurrent, pendingMigrations, type AppliedMigration } from './migrations.js';
import { POSTGRES_MIGRATIONS } from './postgres-migrations.js';
import {
  accessTokenFromRow,
  accessTokenToRow,
  apiTokenFromRow,
  apiTokenToRow,
  assertMaxLive,
  assertRefreshTokenFamily,
  assertSuccessor,
  checkRotation,
  membershipFromRow,
  membershipToRow,
  patchApiToken,
  patchSigningKey,
  refreshFamilyFromRow,
  refreshFamilyToRow,
  refreshTokenFromRow,
  refreshTokenToRow,
  signingKeyFromRow,
  signingKeyToRow,
  type AccessTokenRow,
  type ApiTokenRow,
  type MembershipRow,
  type RefreshFamilyRow,
  type RefreshTokenRow,
  type SigningKeyRow,
} from './records.js';
import type { OwnerKind, RefreshFamilyRecord, RefreshTokenRecord, RotateOutcome, StoreChange, TenantRecord, TokenStore } from './types.js';

export interface PostgresStoreOptions {
  /** A libpq-style URL: `postgres://user:password@host:5432/database`. */
  readonly connectionString: string;
  /** Connections kept by this process; 10. */
  readonly poolSize?: number;
  /** How long one statement (lock waits included) may run before the call fails closed; 5000. */
  readonly statementTimeoutMs?: number;
  /** How long a call waits for a connection before failing closed; 5000. */
  readonly connectTimeoutMs?: number;
  /** The schema holding the tables; the connection's default search path when absent. */
  readonly schema?: string;
}

const DEFAULTS = { poolSize: 10, statementTimeoutMs: 5000, connectTimeoutMs: 5000 } as const;
/** How much longer than the statement timeout a call waits for an answer that never comes. */
const QUERY_TIMEOUT_MARGIN_MS = 1000;

/** Any constant shared by every build: processes migrating one database take turns on it. */
const MIGRATION_LOCK = 0x6d326d67;

const TENANT = 'id, created_at';
const MEMBERSHIP = 'tenant_id, user_id, role_ids, created_at, updated_at';
const API_TOKEN =
  'client_id, owner, tenant_id, user_id, created_by_user_id, description, metadata, role_ids, permission_ids, secret_hash, created_at, expires_at, revoked_at';
const ACCESS_TOKEN =
  'id, owner, tenant_id, user_id, created_by_user_id, description, role_ids, permission_ids, created_at, expires_at, revoked_at, kid';
const REFRESH_FAMILY = 'id, client_id, created_at, revoked_at';
const REFRESH_TOKEN = 'hash, family_id, client_id, created_at, expires_at, used_at, revoked_at';
const SIGNING_KEY = 'kid, alg, public_jwk, private_key_envelope, created_at, activates_at, retired_at, remove_after';

/** Ties on created_at go to the newest insert, as the memory driver's insertion order does. */
const NEWEST_FIRST = 'ORDER BY created_at DESC, seq DESC';

/**
 * BIGINT times come back as numbers (epoch milliseconds are safe integers); JSON and JSONB come
 * back as text, parsed by the shared record helpers like SQLite's JSON text. Per pool, so the
 * process-wide pg parsers stay untouched.
 */
const INT8_OID = 20;
const JSON_OIDS = new Set([114, 3802]);
const typeParsers = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') => {
    if (oid === INT8_OID) return (value: string) => Number(value);
    if (JSON_OIDS.has(oid)) return (value: string) => value;
    return pgDriver().types.getTypeParser(oid, format);
  }) as typeof pg.types.getTypeParser,
};

interface Db {
  query<R extends pg.QueryResultRow>(text: string, values?: unknown[]): Promise<pg.QueryResult<R>>;
}

/** `INSERT INTO table (columns) VALUES ($1, …)` with the row's values in column order. */
function insertInto(table: string, columns: string): (db: Db, row: object) => Promise<unknown> {
  const names = columns.split(', ');
  const text = `INSERT INTO ${table} (${columns}) VALUES (${names.map((_, i) => `$${i + 1}`).join(', ')})`;
  return (db, row) => db.query(text, names.map((n) => (row as Record<string, unknown>)[n]));
}

const insertApiToken = insertInto('api_tokens', API_TOKEN);
const insertAccessToken = insertInto('access_tokens', ACCESS_TOKEN);
const insertFamily = insertInto('refresh_families', REFRESH_FAMILY);
const insertToken = insertInto('refresh_tokens', REFRESH_TOKEN);
const insertSigningKey = insertInto('signing_keys', SIGNING_KEY);

async function first<R extends pg.QueryResultRow>(db: Db, text: string, values: unknown[]): Promise<R | undefined> {
  return (await db.query<R>(text, values)).rows[0];
}

async function all<R extends pg.QueryResultRow>(db: Db, text: string, values: unknown[]): Promise<R[]> {
  return (await db.query<R>(text, values)).rows;
}

async function changed(db: Db, text: string, values: unknown[]): Promise<number> {
  return (await db.query(text, values)).rowCount ?? 0;
}

interface TenantRow {
  id: string;
  created_at: number;
}

const tenantFromRow = (row: TenantRow): TenantRecord => Object.freeze({ id: row.id, createdAt: row.created_at });

/** Foreign errors become StoreErrors here, at the driver boundary, and nowhere else. */
function translate(err: unknown): StoreError {
  if (err instanceof StoreError) return err;
  if (err instanceof pgDriver().DatabaseError) {
    const code = err.code ?? '';
    if (code === '23505') return new StoreError('ERR_STORE_CONFLICT', err.message, { cause: err });
    if (code === '23503') return new StoreError('ERR_STORE_REFERENCE', err.message, { cause: err });
    // Integrity constraints and data exceptions: a value the schema refuses.
    if (code.startsWith('23') || code.startsWith('22')) return new StoreError('ERR_STORE_INVALID', err.message, { cause: err });
    return new StoreError('ERR_STORE_UNAVAILABLE', code, { cause: err });
  }
  // Refused connections, timeouts, a terminated connection: the store is not there.
  return new StoreError('ERR_STORE_UNAVAILABLE', err instanceof Error ? err.message : undefined, { cause: err });
}

/** Runs `fn` in one transaction on one pooled connection; rolls back on any failure. */
async function transaction<T>(pool: pg.Pool, fn: (db: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    await client.query('BEGIN');
    const result = await fn(client);
    await client.query('COMMIT');
    return result;
  } catch (err) {
    await client.query('ROLLBACK').catch((rollbackError: unknown) => {
      // The connection is in an unknown state: the pool must not hand it out again.
      broken = rollbackError instanceof Error ? rollbackError : new Error('rollback failed');
    });
    throw err;
  } finally {
    client.release(broken);
  }
}

async function appliedMigrations(db: Db): Promise<AppliedMigration[]> {
  const table = await first<{ present: boolean }>(db, "SELECT to_regclass('schema_migrations') IS NOT NULL AS present", []);
  if (table?.present !== true) return [];
  return all<AppliedMigration>(db, 'SELECT version, name FROM schema_migrations ORDER BY version', []);
}

/**
 * Applies pending migrations one transaction each. Each transaction first takes a transaction-level
 * advisory lock and plans again under it, so processes migrating one database at the same time
 * apply each version once, in order.
 */
async function applyMigrations(pool: pg.Pool): Promise<void> {
  for (;;) {
    const applied = await transaction(pool, async (db) => {
      // Building an index on a large table, or waiting for another process's migration, may take
      // longer than a request's statement timeout; migrations run at start, never per request.
      await db.query('SET LOCAL statement_timeout = 0');
      await db.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
      await db.query('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER NOT NULL PRIMARY KEY, name TEXT NOT NULL)');
      const next = pendingMigrations(POSTGRES_MIGRATIONS, await appliedMigrations(db))[0];
      if (next === undefined) return false;
      await db.query(next.sql);
      await db.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [next.version, next.name]);
      return true;
    });
    if (!applied) return;
  }
}

/**
 * Serialises every refresh-token write of one credential across processes (see the module
 * comment). Taken first in each such transaction, so locks are always taken in the same order.
 */
async function lockCredential(db: Db, clientId: string): Promise<void> {
  await db.query('SELECT 1 FROM api_tokens WHERE client_id = $1 FOR NO KEY UPDATE', [clientId]);
}

async function getFamily(db: Db, id: string): Promise<RefreshFamilyRecord | undefined> {
  const row = await first<RefreshFamilyRow>(db, `SELECT ${REFRESH_FAMILY} FROM refresh_families WHERE id = $1`, [id]);
  return row && refreshFamilyFromRow(row);
}

/**
 * The live cap: revokes a client's live refresh tokens beyond the newest `keep`. Live = unused,
 * unrevoked, unexpired at the new token's creation (records.isLiveRefreshToken).
 */
const REVOKE_BEYOND_LIVE = `UPDATE refresh_tokens SET revoked_at = $2 WHERE hash IN (
  SELECT hash FROM refresh_tokens
  WHERE client_id = $1 AND used_at IS NULL AND revoked_at IS NULL AND expires_at > $2
  ${NEWEST_FIRST} OFFSET $3)`;

/** Stores a token of `family` and applies the live cap; the credential's lock is held. */
async function storeRefreshToken(db: Db, record: RefreshTokenRecord, family: RefreshFamilyRecord | undefined, maxLive: number): Promise<void> {
  assertMaxLive(maxLive);
  assertRefreshTokenFamily(record, family);
  await insertToken(db, refreshTokenToRow(record));
  await db.query(REVOKE_BEYOND_LIVE, [record.clientId, record.createdAt, maxLive]);
}

/** Revokes a family and every token in it (also tokens added after an earlier revocation). */
async function revokeFamily(db: Db, id: string, now: number): Promise<boolean> {
  await db.query('UPDATE refresh_tokens SET revoked_at = $1 WHERE family_id = $2 AND revoked_at IS NULL', [now, id]);
  return (await changed(db, 'UPDATE refresh_families SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL', [now, id])) === 1;
}

async function revokeFamiliesOfClient(db: Db, clientId: string, now: number): Promise<void> {
  await db.query(
    'UPDATE refresh_tokens SET revoked_at = $1 WHERE revoked_at IS NULL AND family_id IN (SELECT id FROM refresh_families WHERE client_id = $2)',
    [now, clientId],
  );
  await db.query('UPDATE refresh_families SET revoked_at = $1 WHERE client_id = $2 AND revoked_at IS NULL', [now, clientId]);
}

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

function assertSchemaName(schema: string): void {
  if (!SCHEMA_NAME.test(schema)) throw new StoreError('ERR_STORE_INVALID', 'schema must be a lower-case SQL identifier');
}

const CHANGE_CHANNEL = 'm2m_gateway_changes';
/** Channel names are identifiers: at most NAMEDATALEN - 1 bytes. */
const MAX_CHANNEL_LENGTH = 63;

/**
 * The NOTIFY channel of a store's change events, for the writer and the listener alike. NOTIFY
 * reaches every session on the database, so a store in a schema of its own gets a channel of its
 * own; a schema name too long to fit is replaced by a digest of it.
 */
export function changeChannel(schema?: string): string {
  if (schema === undefined) return CHANGE_CHANNEL;
  assertSchemaName(schema);
  const named = `${CHANGE_CHANNEL}_${schema}`;
  if (named.length <= MAX_CHANNEL_LENGTH) return named;
  const digest = createHash('sha256').update(schema).digest('hex');
  return `${CHANGE_CHANNEL}_${digest.slice(0, MAX_CHANNEL_LENGTH - CHANGE_CHANNEL.length - 1)}`;
}

/**
 * Publishes `change` in the caller's transaction: PostgreSQL delivers it when that transaction
 * commits, never when it rolls back. Payload: `{"change": …, "committedAt": epoch ms}` on the
 * server's clock, read here, the last statement before COMMIT. Ids come from validated input or
 * from our own generators (at most 256 characters each), far below NOTIFY's 8000-byte limit.
 */
async function publish(db: Db, channel: string, change: StoreChange): Promise<void> {
  await db.query(
    "SELECT pg_notify($1, json_build_object('change', $2::json, 'committedAt', (extract(epoch FROM clock_timestamp()) * 1000)::bigint)::text)",
    [channel, JSON.stringify(change)],
  );
}

/**
 * Opens a PostgreSQL token store (a pool; connections are made on first use). Call `migrate()`
 * before anything else; a database already at this build's schema also works without it.
 */
export function createPostgresStore(options: PostgresStoreOptions): TokenStore {
  const { poolSize, statementTimeoutMs, connectTimeoutMs } = { ...DEFAULTS, ...options };
  const channel = changeChannel(options.schema);
  const poolConfig: pg.PoolConfig = {
    connectionString: options.connectionString,
    connectionTimeoutMillis: connectTimeoutMs,
    statement_timeout: statementTimeoutMs,
    types: typeParsers,
    ...(options.schema === undefined ? {} : { options: `-c search_path=${options.schema}` }),
  };
  // The statement timeout is the server's: a database that stops answering (a partition, a hung
  // host) would leave a call waiting forever. This client-side bound fails it closed a little
  // later, and the pool discards the connection it was on.
  const pool = new (pgDriver().Pool)({ ...poolConfig, max: poolSize, query_timeout: statementTimeoutMs + QUERY_TIMEOUT_MARGIN_MS });
  // An idle connection dropped by the server: the pool discards it and the next call reconnects.
  pool.on('error', () => undefined);

  let current = false;
  let closed = false;

  const ready = async (): Promise<void> => {
    if (closed) throw new StoreError('ERR_STORE_CLOSED');
    if (!current) {
      assertSchemaCurrent(POSTGRES_MIGRATIONS, await appliedMigrations(pool));
      current = true;
    }
  };

  /** One call outside a transaction, translating driver errors. */
  const run = async <T>(fn: (db: Db) => Promise<T>): Promise<T> => {
    try {
      await ready();
      return await fn(pool);
    } catch (err) {
      throw translate(err);
    }
  };

  /** One call in a transaction, translating driver errors. */
  const tx = async <T>(fn: (db: Db) => Promise<T>): Promise<T> => {
    try {
      await ready();
      return await transaction(pool, fn);
    } catch (err) {
      throw translate(err);
    }
  };

  const notify = (db: Db, change: StoreChange) => publish(db, channel, change);

  const listByOwner = <R extends pg.QueryResultRow>(
    table: string,
    columns: string,
    filter: { readonly owner: OwnerKind; readonly tenantId: string; readonly userId?: string },
  ) =>
    run((db) =>
      filter.userId === undefined
        ? all<R>(db, `SELECT ${columns} FROM ${table} WHERE tenant_id = $1 AND owner = $2 AND revoked_at IS NULL ${NEWEST_FIRST}`, [
            filter.tenantId,
            filter.owner,
          ])
        : all<R>(
            db,
            `SELECT ${columns} FROM ${table} WHERE tenant_id = $1 AND owner = $2 AND user_id = $3 AND revoked_at IS NULL ${NEWEST_FIRST}`,
            [filter.tenantId, filter.owner, filter.userId],
          ),
    );

  const store: TokenStore = {
    async migrate() {
      if (closed) throw new StoreError('ERR_STORE_CLOSED');
      // Migrations may wait on another process's migration or build an index for longer than any
      // request may take: their own connection, without the client-side bound.
      const migrator = new (pgDriver().Pool)({ ...poolConfig, max: 1 });
      migrator.on('error', () => undefined);
      try {
        await applyMigrations(migrator);
      } catch (err) {
        throw translate(err);
      } finally {
        await migrator.end();
      }
      await run(async () => undefined);
    },
    async close() {
      if (closed) return;
      closed = true;
      await pool.end();
    },
    async ping() {
      await run(async (db) => {
        await db.query('SELECT 1 FROM tenants LIMIT 1');
      });
    },

    async putTenant(id, now) {
      return run(async (db) => {
        const row = await first<TenantRow>(
          db,
          `INSERT INTO tenants (id, created_at) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET created_at = tenants.created_at RETURNING ${TENANT}`,
          [id, now],
        );
        // An upsert with RETURNING always yields the row.
        return tenantFromRow(row!);
      });
    },
    async getTenant(id) {
      return run(async (db) => {
        const row = await first<TenantRow>(db, `SELECT ${TENANT} FROM tenants WHERE id = $1`, [id]);
        return row && tenantFromRow(row);
      });
    },
    async listTenants() {
      return run(async (db) => (await all<TenantRow>(db, `SELECT ${TENANT} FROM tenants ${NEWEST_FIRST}`, [])).map(tenantFromRow));
    },
    async deleteTenant(id, now) {
      return tx(async (db) => {
        if ((await first(db, 'SELECT 1 FROM tenants WHERE id = $1 FOR UPDATE', [id])) === undefined) return false;
        // Credentials first: their rows are the locks refresh-token writers take first too.
        await db.query('UPDATE api_tokens SET revoked_at = $1 WHERE tenant_id = $2 AND revoked_at IS NULL', [now, id]);
        await db.query(
          `UPDATE refresh_tokens SET revoked_at = $1 WHERE revoked_at IS NULL AND family_id IN (
             SELECT f.id FROM refresh_families f JOIN api_tokens a ON a.client_id = f.client_id WHERE a.tenant_id = $2)`,
          [now, id],
        );
        await db.query(
          `UPDATE refresh_families SET revoked_at = $1 WHERE revoked_at IS NULL AND client_id IN (
             SELECT client_id FROM api_tokens WHERE tenant_id = $2)`,
          [now, id],
        );
        await db.query('UPDATE access_tokens SET revoked_at = $1 WHERE tenant_id = $2 AND revoked_at IS NULL', [now, id]);
        await db.query('DELETE FROM memberships WHERE tenant_id = $1', [id]);
        await db.query('DELETE FROM tenants WHERE id = $1', [id]);
        await notify(db, { kind: 'tenant', tenantId: id });
        return true;
      });
    },
    async putMembership(tenantId, userId, roleIds, now) {
      return tx(async (db) => {
        const values = membershipToRow({ tenantId, userId, roleIds, createdAt: now, updatedAt: now });
        await db.query('INSERT INTO tenants (id, created_at) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING', [tenantId, now]);
        const row = await first<MembershipRow>(
          db,
          `INSERT INTO memberships (${MEMBERSHIP}) VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (tenant_id, user_id) DO UPDATE SET role_ids = excluded.role_ids, updated_at = excluded.updated_at
           RETURNING ${MEMBERSHIP}`,
          [values.tenant_id, values.user_id, values.role_ids, values.created_at, values.updated_at],
        );
        await notify(db, { kind: 'membership', tenantId, userId });
        return membershipFromRow(row!);
      });
    },
    async getMembership(tenantId, userId) {
      return run(async (db) => {
        const row = await first<MembershipRow>(db, `SELECT ${MEMBERSHIP} FROM memberships WHERE tenant_id = $1 AND user_id = $2`, [
          tenantId,
          userId,
        ]);
        return row && membershipFromRow(row);
      });
    },
    async listMemberships(tenantId) {
      return run(async (db) =>
        (await all<MembershipRow>(db, `SELECT ${MEMBERSHIP} FROM memberships WHERE tenant_id = $1 ${NEWEST_FIRST}`, [tenantId])).map(
          membershipFromRow,
        ),
      );
    },
    async deleteMembership(tenantId, userId) {
      return tx(async (db) => {
        if ((await changed(db, 'DELETE FROM memberships WHERE tenant_id = $1 AND user_id = $2', [tenantId, userId])) === 0) return false;
        await notify(db, { kind: 'membership', tenantId, userId });
        return true;
      });
    },

    async insertApiToken(record) {
      await run((db) => insertApiToken(db, apiTokenToRow(record)));
    },
    async getApiToken(clientId) {
      return run(async (db) => {
        const row = await first<ApiTokenRow>(db, `SELECT ${API_TOKEN} FROM api_tokens WHERE client_id = $1`, [clientId]);
        return row && apiTokenFromRow(row);
      });
    },
    async listApiTokens(filter) {
      return (await listByOwner<ApiTokenRow>('api_tokens', API_TOKEN, filter)).map(apiTokenFromRow);
    },
    async updateApiToken(clientId, patch) {
      return tx(async (db) => {
        const row = await first<ApiTokenRow>(db, `SELECT ${API_TOKEN} FROM api_tokens WHERE client_id = $1 FOR NO KEY UPDATE`, [clientId]);
        if (row === undefined || row.revoked_at !== null) return undefined;
        const updated = patchApiToken(apiTokenFromRow(row), patch);
        const r = apiTokenToRow(updated);
        await db.query('UPDATE api_tokens SET description = $1, metadata = $2, role_ids = $3, permission_ids = $4 WHERE client_id = $5', [
          r.description,
          r.metadata,
          r.role_ids,
          r.permission_ids,
          r.client_id,
        ]);
        await notify(db, { kind: 'apiToken', clientId });
        return updated;
      });
    },
    async revokeApiToken(clientId, now) {
      return tx(async (db) => {
        if ((await changed(db, 'UPDATE api_tokens SET revoked_at = $1 WHERE client_id = $2 AND revoked_at IS NULL', [now, clientId])) === 0) {
          return false;
        }
        await revokeFamiliesOfClient(db, clientId, now);
        await notify(db, { kind: 'apiToken', clientId });
        return true;
      });
    },

    async insertAccessToken(record) {
      await run((db) => insertAccessToken(db, accessTokenToRow(record)));
    },
    async getAccessToken(id) {
      return run(async (db) => {
        const row = await first<AccessTokenRow>(db, `SELECT ${ACCESS_TOKEN} FROM access_tokens WHERE id = $1`, [id]);
        return row && accessTokenFromRow(row);
      });
    },
    async listAccessTokens(filter) {
      return (await listByOwner<AccessTokenRow>('access_tokens', ACCESS_TOKEN, filter)).map(accessTokenFromRow);
    },
    async revokeAccessToken(id, now) {
      return tx(async (db) => {
        if ((await changed(db, 'UPDATE access_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL', [now, id])) === 0) return false;
        await notify(db, { kind: 'accessToken', id });
        return true;
      });
    },
    // Live = neither revoked nor expired (records.isActiveAccessToken).
    async listActiveAccessTokenIds(owner, now) {
      return run(async (db) =>
        (
          await all<{ id: string }>(
            db,
            `SELECT id FROM access_tokens WHERE owner = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $2) ${NEWEST_FIRST}`,
            [owner, now],
          )
        ).map((row) => row.id),
      );
    },
    async hasLiveAccessTokenSignedBy(kid, now) {
      return run(async (db) => {
        const row = await first<{ live: boolean }>(
          db,
          'SELECT EXISTS (SELECT 1 FROM access_tokens WHERE kid = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $2)) AS live',
          [kid, now],
        );
        return row?.live === true;
      });
    },
    async newestLiveAccessTokenWithoutKid(now) {
      return run(async (db) => {
        const row = await first<{ newest: number | null }>(
          db,
          'SELECT MAX(created_at) AS newest FROM access_tokens WHERE kid IS NULL AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $1)',
          [now],
        );
        return row?.newest ?? null;
      });
    },

    async startRefreshFamily(family, firstToken, maxLive) {
      await tx(async (db) => {
        await lockCredential(db, family.clientId);
        await insertFamily(db, refreshFamilyToRow(family));
        if (firstToken !== null) await storeRefreshToken(db, firstToken, family, maxLive);
      });
    },
    async getRefreshFamily(id) {
      return run((db) => getFamily(db, id));
    },
    async insertRefreshToken(record, maxLive) {
      await tx(async (db) => {
        await lockCredential(db, record.clientId);
        await storeRefreshToken(db, record, await getFamily(db, record.familyId), maxLive);
      });
    },
    async rotateRefreshToken(hash, next, maxLive, now) {
      return tx(async (db): Promise<RotateOutcome> => {
        const owner = await first<{ client_id: string }>(db, 'SELECT client_id FROM refresh_tokens WHERE hash = $1', [hash]);
        if (owner === undefined) return { outcome: 'unknown' };
        await lockCredential(db, owner.client_id);
        // Read again under the lock: a concurrent rotation has committed or not started.
        const row = await first<RefreshTokenRow>(db, `SELECT ${REFRESH_TOKEN} FROM refresh_tokens WHERE hash = $1 FOR UPDATE`, [hash]);
        const token = refreshTokenFromRow(row!);
        const check = checkRotation(token, await getFamily(db, token.familyId), now);
        if (check === 'reused') {
          // RFC 9700 §4.14.2: a replay revokes the whole family, in the same transaction.
          await revokeFamily(db, token.familyId, now);
          await notify(db, { kind: 'refreshFamily', familyId: token.familyId });
          return { outcome: 'reused', familyId: token.familyId, clientId: token.clientId };
        }
        if (check !== 'rotate') return { outcome: check };
        assertSuccessor(token, next);
        await db.query('UPDATE refresh_tokens SET used_at = $1 WHERE hash = $2', [now, hash]);
        await storeRefreshToken(db, next, await getFamily(db, next.familyId), maxLive);
        return { outcome: 'rotated', previous: refreshTokenFromRow({ ...row!, used_at: now }) };
      });
    },
    async getRefreshToken(hash) {
      return run(async (db) => {
        const row = await first<RefreshTokenRow>(db, `SELECT ${REFRESH_TOKEN} FROM refresh_tokens WHERE hash = $1`, [hash]);
        return row && refreshTokenFromRow(row);
      });
    },
    async revokeRefreshFamily(id, now) {
      return tx(async (db) => {
        const family = await getFamily(db, id);
        if (family === undefined) return false;
        await lockCredential(db, family.clientId);
        if (!(await revokeFamily(db, id, now))) return false;
        await notify(db, { kind: 'refreshFamily', familyId: id });
        return true;
      });
    },

    async insertSigningKey(record) {
      await tx(async (db) => {
        await insertSigningKey(db, signingKeyToRow(record));
        await notify(db, { kind: 'signingKeys' });
      });
    },
    async listSigningKeys() {
      return run(async (db) => (await all<SigningKeyRow>(db, `SELECT ${SIGNING_KEY} FROM signing_keys ${NEWEST_FIRST}`, [])).map(signingKeyFromRow));
    },
    async updateSigningKey(kid, patch) {
      return tx(async (db) => {
        const row = await first<SigningKeyRow>(db, `SELECT ${SIGNING_KEY} FROM signing_keys WHERE kid = $1 FOR UPDATE`, [kid]);
        if (row === undefined) return undefined;
        const updated = patchSigningKey(signingKeyFromRow(row), patch);
        await db.query('UPDATE signing_keys SET retired_at = $1, remove_after = $2 WHERE kid = $3', [updated.retiredAt, updated.removeAfter, kid]);
        await notify(db, { kind: 'signingKeys' });
        return updated;
      });
    },
    async deleteSigningKey(kid) {
      return tx(async (db) => {
        if ((await changed(db, 'DELETE FROM signing_keys WHERE kid = $1', [kid])) === 0) return false;
        await notify(db, { kind: 'signingKeys' });
        return true;
      });
    },
  };
  return Object.freeze(store);
}
