/**
 * The embedded TokenStore (SPEC §2 "Standalone"): one SQLite file through better-sqlite3.
 *
 * better-sqlite3 is synchronous, so each method runs its statements without yielding and is
 * atomic within the process. Several processes on one file rely on SQLite's file locks: every
 * read-then-write method runs in a `BEGIN IMMEDIATE` transaction, which takes the write lock
 * before the read, so two processes cannot both see a refresh token unused and both rotate it.
 * A call waiting for that lock blocks its thread for up to the busy timeout; beyond it the call
 * fails with ERR_STORE_UNAVAILABLE (fail closed, security case 51). The gateway runs this driver
 * on a thread of its own (sqlite-thread.ts), so that thread, not the event loop, is the one that
 * waits for locks, commits and checkpoints.
 */
import { closeSync, fchmodSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { StoreError } from './errors.js';
import { assertSchemaCurrent, pendingMigrations, type AppliedMigration } from './migrations.js';
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
  type SigningKeyPatch,
  type SigningKeyRow,
} from './records.js';
import { SQLITE_MIGRATIONS } from './sqlite-migrations.js';
import type { ApiTokenPatch, RefreshFamilyRecord, RefreshTokenRecord, RotateOutcome, TenantRecord, TokenStore } from './types.js';

export interface SqliteStoreOptions {
  /** A file path, or `:memory:` for a private in-process database. */
  readonly path: string;
  /** How long a call waits for another connection's write lock before failing closed; 5000. */
  readonly busyTimeoutMs?: number;
}

const DEFAULT_BUSY_TIMEOUT_MS = 5000;

const TENANT = 'id, created_at';
const MEMBERSHIP = 'tenant_id, user_id, role_ids, created_at, updated_at';
const API_TOKEN =
  'client_id, owner, tenant_id, user_id, created_by_user_id, description, metadata, role_ids, permission_ids, secret_hash, created_at, expires_at, revoked_at';
const ACCESS_TOKEN =
  'id, owner, tenant_id, user_id, created_by_user_id, description, role_ids, permission_ids, created_at, expires_at, revoked_at, kid';
const REFRESH_FAMILY = 'id, client_id, created_at, revoked_at';
const REFRESH_TOKEN = 'hash, family_id, client_id, created_at, expires_at, used_at, revoked_at';
const SIGNING_KEY = 'kid, alg, public_jwk, private_key_envelope, created_at, activates_at, retired_at, remove_after';

const params = (columns: string): string =>
  columns
    .split(', ')
    .map((c) => `@${c}`)
    .join(', ');

/** Ties on created_at go to the newest insert, as the memory driver's insertion order does. */
const NEWEST_FIRST = 'ORDER BY created_at DESC, rowid DESC';

/**
 * The live cap: revokes a client's live refresh tokens beyond the newest `@keep`. Live = unused,
 * unrevoked, unexpired at the new token's creation (records.isLiveRefreshToken); it runs on the
 * covering index `refresh_tokens_live_by_expiry` (migration 2).
 */
export const REVOKE_BEYOND_LIVE = `UPDATE refresh_tokens SET revoked_at = @at WHERE rowid IN (
  SELECT rowid FROM refresh_tokens
  WHERE client_id = @client AND used_at IS NULL AND revoked_at IS NULL AND expires_at > @at
  ${NEWEST_FIRST} LIMIT -1 OFFSET @keep)`;

interface TenantRow {
  id: string;
  created_at: number;
}

const tenantFromRow = (row: TenantRow): TenantRecord => Object.freeze({ id: row.id, createdAt: row.created_at });

/**
 * The file holds secret digests and encrypted keys: it gets 0600 in a 0700 directory. We create
 * it ourselves because SQLite would create it with the process umask (usually 0644); SQLite gives
 * the -wal and -shm files the database file's mode, so they follow. An existing file is opened as
 * it is: its mode is the operator's decision.
 */
function createPrivateFile(path: string): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  let fd: number;
  try {
    fd = openSync(path, 'wx', 0o600);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return;
    throw err;
  }
  try {
    // The umask may have removed bits we need; set the mode exactly.
    fchmodSync(fd, 0o600);
  } finally {
    closeSync(fd);
  }
}

/**
 * Durability under WAL. A commit with `synchronous = FULL` syncs the WAL before it is acknowledged,
 * and every earlier frame with it (the WAL is one sequential log); `NORMAL` leaves the sync to the
 * next checkpoint, so a power loss can take the last commits back (never corrupt the file: WAL
 * recovery keeps a prefix of whole transactions).
 *
 * FULL is the connection's setting, set explicitly: SQLite's build default (FULL on a new file,
 * NORMAL once the file is in WAL mode) would make durability depend on whether the process
 * created the file. Revocations (credential, family, tenant, replayed refresh token), credential
 * creation, memberships and signing keys are durable once acknowledged: a revoked credential never
 * comes back alive and a secret shown once exists.
 *
 * Refresh-token issuance (an exchange's family and first token) and rotation commit with NORMAL
 * (`relaxed`), switched per transaction. What a power loss can take is the last few milliseconds of
 * issued refresh tokens and families: their holders are refused (an unknown refresh token, a JWT
 * whose family is unknown fails the liveness check) and exchange again. Nothing refused comes back:
 * the next FULL commit makes every earlier frame durable, and a rotation that finds a replay revokes
 * the family in a FULL transaction of its own. Measured with bench/exchange.ts (SQLite store, same
 * run): FULL on the exchange costs one WAL fsync per token.
 */
const SYNC_DURABLE = 'PRAGMA synchronous = FULL';
const SYNC_RELAXED = 'PRAGMA synchronous = NORMAL';

function openDatabase(path: string, busyTimeoutMs: number): Database.Database {
  if (path !== ':memory:') createPrivateFile(path);
  const db = new Database(path, { timeout: busyTimeoutMs });
  try {
    // WAL: readers (the proxy's liveness checks) never wait for the writer.
    db.pragma('journal_mode = WAL');
    db.exec(SYNC_DURABLE);
    db.pragma('foreign_keys = ON');
  } catch (err) {
    db.close();
    throw err;
  }
  return db;
}

/** Foreign errors become StoreErrors here, at the driver boundary, and nowhere else. */
function translate(err: unknown): unknown {
  if (err instanceof StoreError || !(err instanceof Database.SqliteError)) return err;
  const code = err.code;
  if (code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || code === 'SQLITE_CONSTRAINT_UNIQUE') {
    return new StoreError('ERR_STORE_CONFLICT', err.message, { cause: err });
  }
  if (code === 'SQLITE_CONSTRAINT_FOREIGNKEY') return new StoreError('ERR_STORE_REFERENCE', err.message, { cause: err });
  if (code.startsWith('SQLITE_CONSTRAINT')) return new StoreError('ERR_STORE_INVALID', err.message, { cause: err });
  return new StoreError('ERR_STORE_UNAVAILABLE', code, { cause: err });
}

function hasMigrationTable(db: Database.Database): boolean {
  return db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'").get() !== undefined;
}

function appliedMigrations(db: Database.Database): AppliedMigration[] {
  if (!hasMigrationTable(db)) return [];
  return db.prepare<[], AppliedMigration>('SELECT version, name FROM schema_migrations ORDER BY version').all();
}

/**
 * Applies pending migrations one transaction each. The plan is made again inside each
 * IMMEDIATE transaction, so processes migrating one file at the same time apply each version once.
 */
function applyMigrations(db: Database.Database): void {
  db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER NOT NULL PRIMARY KEY, name TEXT NOT NULL) STRICT');
  const record = db.prepare<[number, string]>('INSERT INTO schema_migrations (version, name) VALUES (?, ?)');
  const applyNext = db.transaction((): boolean => {
    const next = pendingMigrations(SQLITE_MIGRATIONS, appliedMigrations(db))[0];
    if (next === undefined) return false;
    db.exec(next.sql);
    record.run(next.version, next.name);
    return true;
  });
  while (applyNext.immediate()) {
    // One migration per transaction until none is pending.
  }
}

/** Every statement and transaction of one store instance, prepared once the schema is current. */
function prepare(db: Database.Database) {
  const s = {
    putTenant: db.prepare<[string, number], TenantRow>(
      `INSERT INTO tenants (id, created_at) VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET created_at = tenants.created_at RETURNING ${TENANT}`,
    ),
    ensureTenant: db.prepare<[string, number]>('INSERT INTO tenants (id, created_at) VALUES (?, ?) ON CONFLICT (id) DO NOTHING'),
    getTenant: db.prepare<[string], TenantRow>(`SELECT ${TENANT} FROM tenants WHERE id = ?`),
    listTenants: db.prepare<[], TenantRow>(`SELECT ${TENANT} FROM tenants ${NEWEST_FIRST}`),
    deleteTenant: db.prepare<[string]>('DELETE FROM tenants WHERE id = ?'),
    deleteMembershipsOfTenant: db.prepare<[string]>('DELETE FROM memberships WHERE tenant_id = ?'),
    revokeRefreshTokensOfTenant: db.prepare<{ now: number; tenant: string }>(
      `UPDATE refresh_tokens SET revoked_at = @now WHERE revoked_at IS NULL AND family_id IN (
         SELECT f.id FROM refresh_families f JOIN api_tokens a ON a.client_id = f.client_id WHERE a.tenant_id = @tenant)`,
    ),
    revokeFamiliesOfTenant: db.prepare<{ now: number; tenant: string }>(
      `UPDATE refresh_families SET revoked_at = @now WHERE revoked_at IS NULL AND client_id IN (
         SELECT client_id FROM api_tokens WHERE tenant_id = @tenant)`,
    ),
    revokeApiTokensOfTenant: db.prepare<{ now: number; tenant: string }>(
      'UPDATE api_tokens SET revoked_at = @now WHERE tenant_id = @tenant AND revoked_at IS NULL',
    ),
    revokeAccessTokensOfTenant: db.prepare<{ now: number; tenant: string }>(
      'UPDATE access_tokens SET revoked_at = @now WHERE tenant_id = @tenant AND revoked_at IS NULL',
    ),

    upsertMembership: db.prepare<MembershipRow, MembershipRow>(
      `INSERT INTO memberships (${MEMBERSHIP}) VALUES (${params(MEMBERSHIP)})
       ON CONFLICT (tenant_id, user_id) DO UPDATE SET role_ids = excluded.role_ids, updated_at = excluded.updated_at
       RETURNING ${MEMBERSHIP}`,
    ),
    getMembership: db.prepare<[string, string], MembershipRow>(`SELECT ${MEMBERSHIP} FROM memberships WHERE tenant_id = ? AND user_id = ?`),
    listMemberships: db.prepare<[string], MembershipRow>(`SELECT ${MEMBERSHIP} FROM memberships WHERE tenant_id = ? ${NEWEST_FIRST}`),
    deleteMembership: db.prepare<[string, string]>('DELETE FROM memberships WHERE tenant_id = ? AND user_id = ?'),

    insertApiToken: db.prepare<ApiTokenRow>(`INSERT INTO api_tokens (${API_TOKEN}) VALUES (${params(API_TOKEN)})`),
    getApiToken: db.prepare<[string], ApiTokenRow>(`SELECT ${API_TOKEN} FROM api_tokens WHERE client_id = ?`),
    listApiTokens: db.prepare<{ owner: string; tenant: string }, ApiTokenRow>(
      `SELECT ${API_TOKEN} FROM api_tokens WHERE tenant_id = @tenant AND owner = @owner AND revoked_at IS NULL ${NEWEST_FIRST}`,
    ),
    listApiTokensOfUser: db.prepare<{ owner: string; tenant: string; user: string }, ApiTokenRow>(
      `SELECT ${API_TOKEN} FROM api_tokens
       WHERE tenant_id = @tenant AND owner = @owner AND user_id = @user AND revoked_at IS NULL ${NEWEST_FIRST}`,
    ),
    updateApiToken: db.prepare<ApiTokenRow>(
      `UPDATE api_tokens SET description = @description, metadata = @metadata, role_ids = @role_ids, permission_ids = @permission_ids
       WHERE client_id = @client_id`,
    ),
    revokeApiToken: db.prepare<[number, string]>('UPDATE api_tokens SET revoked_at = ? WHERE client_id = ? AND revoked_at IS NULL'),

    insertAccessToken: db.prepare<AccessTokenRow>(`INSERT INTO access_tokens (${ACCESS_TOKEN}) VALUES (${params(ACCESS_TOKEN)})`),
    getAccessToken: db.prepare<[string], AccessTokenRow>(`SELECT ${ACCESS_TOKEN} FROM access_tokens WHERE id = ?`),
    listAccessTokens: db.prepare<{ owner: string; tenant: string }, AccessTokenRow>(
      `SELECT ${ACCESS_TOKEN} FROM access_tokens WHERE tenant_id = @tenant AND owner = @owner AND revoked_at IS NULL ${NEWEST_FIRST}`,
    ),
    listAccessTokensOfUser: db.prepare<{ owner: string; tenant: string; user: string }, AccessTokenRow>(
      `SELECT ${ACCESS_TOKEN} FROM access_tokens
       WHERE tenant_id = @tenant AND owner = @owner AND user_id = @user AND revoked_at IS NULL ${NEWEST_FIRST}`,
    ),
    revokeAccessToken: db.prepare<[number, string]>('UPDATE access_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL'),
    listActiveAccessTokenIds: db
      .prepare<[string, number], string>(
        `SELECT id FROM access_tokens WHERE owner = ? AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?) ${NEWEST_FIRST}`,
      )
      .pluck(),
    // Live = neither revoked nor expired (records.isActiveAccessToken); both use access_tokens_live_by_kid.
    hasLiveAccessTokenSignedBy: db
      .prepare<[string, number], number>(
        'SELECT EXISTS (SELECT 1 FROM access_tokens WHERE kid = ? AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?))',
      )
      .pluck(),
    newestLiveAccessTokenWithoutKid: db
      .prepare<[number], number | null>(
        'SELECT MAX(created_at) FROM access_tokens WHERE kid IS NULL AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?)',
      )
      .pluck(),

    insertFamily: db.prepare<RefreshFamilyRow>(`INSERT INTO refresh_families (${REFRESH_FAMILY}) VALUES (${params(REFRESH_FAMILY)})`),
    getFamily: db.prepare<[string], RefreshFamilyRow>(`SELECT ${REFRESH_FAMILY} FROM refresh_families WHERE id = ?`),
    revokeFamily: db.prepare<[number, string]>('UPDATE refresh_families SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL'),
    revokeTokensOfFamily: db.prepare<[number, string]>('UPDATE refresh_tokens SET revoked_at = ? WHERE family_id = ? AND revoked_at IS NULL'),
    revokeFamiliesOfClient: db.prepare<[number, string]>(
      'UPDATE refresh_families SET revoked_at = ? WHERE client_id = ? AND revoked_at IS NULL',
    ),
    revokeTokensOfClient: db.prepare<[number, string]>(
      'UPDATE refresh_tokens SET revoked_at = ? WHERE revoked_at IS NULL AND family_id IN (SELECT id FROM refresh_families WHERE client_id = ?)',
    ),
    insertRefreshToken: db.prepare<RefreshTokenRow>(`INSERT INTO refresh_tokens (${REFRESH_TOKEN}) VALUES (${params(REFRESH_TOKEN)})`),
    // Reads a table's pages, not just the connection: a damaged file fails it.
    ping: db.prepare('SELECT 1 FROM tenants LIMIT 1'),
    getRefreshToken: db.prepare<[string], RefreshTokenRow>(`SELECT ${REFRESH_TOKEN} FROM refresh_tokens WHERE hash = ?`),
    markUsed: db.prepare<[number, string]>('UPDATE refresh_tokens SET used_at = ? WHERE hash = ? AND used_at IS NULL'),
    revokeBeyondLive: db.prepare<{ client: string; at: number; keep: number }>(REVOKE_BEYOND_LIVE),

    insertSigningKey: db.prepare<SigningKeyRow>(`INSERT INTO signing_keys (${SIGNING_KEY}) VALUES (${params(SIGNING_KEY)})`),
    getSigningKey: db.prepare<[string], SigningKeyRow>(`SELECT ${SIGNING_KEY} FROM signing_keys WHERE kid = ?`),
    listSigningKeys: db.prepare<[], SigningKeyRow>(`SELECT ${SIGNING_KEY} FROM signing_keys ${NEWEST_FIRST}`),
    updateSigningKey: db.prepare<SigningKeyRow>('UPDATE signing_keys SET retired_at = @retired_at, remove_after = @remove_after WHERE kid = @kid'),
    deleteSigningKey: db.prepare<[string]>('DELETE FROM signing_keys WHERE kid = ?'),
  };

  /** Revokes a family and every token in it (also tokens added after an earlier revocation). */
  const revokeFamily = (id: string, now: number): boolean => {
    s.revokeTokensOfFamily.run(now, id);
    return s.revokeFamily.run(now, id).changes === 1;
  };

  const revokeFamiliesOfClient = (clientId: string, now: number): void => {
    s.revokeTokensOfClient.run(now, clientId);
    s.revokeFamiliesOfClient.run(now, clientId);
  };

  /** Stores a token of a family known to exist, and applies the live cap. */
  const storeRefreshToken = (record: RefreshTokenRecord, family: RefreshFamilyRecord | undefined, maxLive: number): void => {
    assertMaxLive(maxLive);
    assertRefreshTokenFamily(record, family);
    s.insertRefreshToken.run(refreshTokenToRow(record));
    s.revokeBeyondLive.run({ client: record.clientId, at: record.createdAt, keep: maxLive });
  };

  const insertRefreshToken = (record: RefreshTokenRecord, maxLive: number): void => {
    const family = s.getFamily.get(record.familyId);
    storeRefreshToken(record, family && refreshFamilyFromRow(family), maxLive);
  };

  // Everything that touches several rows, or reads before it writes, is one transaction; the
  // store runs them with .immediate() so the write lock is held from the first read.
  const tx = {
    deleteTenant: db.transaction((id: string, now: number): boolean => {
      if (s.getTenant.get(id) === undefined) return false;
      const scope = { now, tenant: id };
      // Tokens before families: the token update finds families through the client ids.
      s.revokeRefreshTokensOfTenant.run(scope);
      s.revokeFamiliesOfTenant.run(scope);
      s.revokeApiTokensOfTenant.run(scope);
      s.revokeAccessTokensOfTenant.run(scope);
      s.deleteMembershipsOfTenant.run(id);
      s.deleteTenant.run(id);
      return true;
    }),
    putMembership: db.transaction((tenantId: string, userId: string, roleIds: readonly string[], now: number) => {
      s.ensureTenant.run(tenantId, now);
      const row = s.upsertMembership.get(membershipToRow({ tenantId, userId, roleIds, createdAt: now, updatedAt: now }));
      return membershipFromRow(row!);
    }),
    updateApiToken: db.transaction((clientId: string, patch: ApiTokenPatch) => {
      const row = s.getApiToken.get(clientId);
      if (row === undefined || row.revoked_at !== null) return undefined;
      const updated = patchApiToken(apiTokenFromRow(row), patch);
      s.updateApiToken.run(apiTokenToRow(updated));
      return updated;
    }),
    revokeApiToken: db.transaction((clientId: string, now: number): boolean => {
      if (s.revokeApiToken.run(now, clientId).changes === 0) return false;
      revokeFamiliesOfClient(clientId, now);
      return true;
    }),
    startRefreshFamily: db.transaction((family: RefreshFamilyRecord, firstToken: RefreshTokenRecord | null, maxLive: number): void => {
      s.insertFamily.run(refreshFamilyToRow(family));
      if (firstToken !== null) storeRefreshToken(firstToken, family, maxLive);
    }),
    insertRefreshToken: db.transaction(insertRefreshToken),
    rotateRefreshToken: db.transaction((hash: string, next: RefreshTokenRecord, maxLive: number, now: number): RotateOutcome => {
      const row = s.getRefreshToken.get(hash);
      if (row === undefined) return { outcome: 'unknown' };
      const token = refreshTokenFromRow(row);
      const familyRow = s.getFamily.get(token.familyId);
      const check = checkRotation(token, familyRow && refreshFamilyFromRow(familyRow), now);
      // A replay: the caller revokes the family, durably (see SYNC_RELAXED). Use is final, so
      // every later transaction finds the same replay.
      if (check === 'reused') return { outcome: 'reused', familyId: token.familyId, clientId: token.clientId };
      if (check !== 'rotate') return { outcome: check };
      assertSuccessor(token, next);
      s.markUsed.run(now, hash);
      insertRefreshToken(next, maxLive);
      return { outcome: 'rotated', previous: refreshTokenFromRow({ ...row, used_at: now }) };
    }),
    revokeRefreshFamily: db.transaction(revokeFamily),
    updateSigningKey: db.transaction((kid: string, patch: SigningKeyPatch) => {
      const row = s.getSigningKey.get(kid);
      if (row === undefined) return undefined;
      const updated = patchSigningKey(signingKeyFromRow(row), patch);
      s.updateSigningKey.run(signingKeyToRow(updated));
      return updated;
    }),
  };
  return { ...s, tx };
}

type Prepared = ReturnType<typeof prepare>;

/**
 * Opens (creating if needed) a SQLite token store. Call `migrate()` before anything else; a store
 * whose file is already at this build's schema also works without it.
 */
export function createSqliteStore(options: SqliteStoreOptions): TokenStore {
  let db: Database.Database;
  try {
    db = openDatabase(options.path, options.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS);
  } catch (err) {
    // Not a database, unreadable, no permission: the store cannot start (fail closed, case 51).
    const translated = translate(err);
    throw translated instanceof StoreError ? translated : new StoreError('ERR_STORE_UNAVAILABLE', 'cannot open the database', { cause: err });
  }
  let prepared: Prepared | undefined;
  let closed = false;

  const ready = (): Prepared => {
    if (closed) throw new StoreError('ERR_STORE_CLOSED');
    if (prepared === undefined) {
      assertSchemaCurrent(SQLITE_MIGRATIONS, appliedMigrations(db));
      prepared = prepare(db);
    }
    return prepared;
  };

  /** Runs one call against the prepared statements, translating driver errors. */
  const run = <T>(fn: (s: Prepared) => T): T => {
    try {
      return fn(ready());
    } catch (err) {
      throw translate(err);
    }
  };

  /**
   * Runs one transaction committed with `synchronous = NORMAL`: refresh-token issuance and
   * rotation only (see SYNC_RELAXED). The pragma takes effect when compiled, so it is executed
   * each time rather than prepared.
   */
  const relaxed = <T>(fn: (s: Prepared) => T): T =>
    run((s) => {
      db.exec(SYNC_RELAXED);
      try {
        return fn(s);
      } finally {
        db.exec(SYNC_DURABLE);
      }
    });

  const store: TokenStore = {
    async migrate() {
      if (closed) throw new StoreError('ERR_STORE_CLOSED');
      try {
        applyMigrations(db);
      } catch (err) {
        throw translate(err);
      }
      ready();
    },
    async close() {
      if (closed) return;
      closed = true;
      db.close();
    },
    async ping() {
      run((s) => s.ping.get());
    },

    async putTenant(id, now) {
      // An upsert with RETURNING always yields the row.
      return run((s) => tenantFromRow(s.putTenant.get(id, now)!));
    },
    async getTenant(id) {
      return run((s) => {
        const row = s.getTenant.get(id);
        return row && tenantFromRow(row);
      });
    },
    async listTenants() {
      return run((s) => s.listTenants.all().map(tenantFromRow));
    },
    async deleteTenant(id, now) {
      return run((s) => s.tx.deleteTenant.immediate(id, now));
    },
    async putMembership(tenantId, userId, roleIds, now) {
      return run((s) => s.tx.putMembership.immediate(tenantId, userId, roleIds, now));
    },
    async getMembership(tenantId, userId) {
      return run((s) => {
        const row = s.getMembership.get(tenantId, userId);
        return row && membershipFromRow(row);
      });
    },
    async listMemberships(tenantId) {
      return run((s) => s.listMemberships.all(tenantId).map(membershipFromRow));
    },
    async deleteMembership(tenantId, userId) {
      return run((s) => s.deleteMembership.run(tenantId, userId).changes === 1);
    },

    async insertApiToken(record) {
      run((s) => s.insertApiToken.run(apiTokenToRow(record)));
    },
    async getApiToken(clientId) {
      return run((s) => {
        const row = s.getApiToken.get(clientId);
        return row && apiTokenFromRow(row);
      });
    },
    async listApiTokens(filter) {
      return run((s) => {
        const rows =
          filter.userId === undefined
            ? s.listApiTokens.all({ owner: filter.owner, tenant: filter.tenantId })
            : s.listApiTokensOfUser.all({ owner: filter.owner, tenant: filter.tenantId, user: filter.userId });
        return rows.map(apiTokenFromRow);
      });
    },
    async updateApiToken(clientId, patch) {
      return run((s) => s.tx.updateApiToken.immediate(clientId, patch));
    },
    async revokeApiToken(clientId, now) {
      return run((s) => s.tx.revokeApiToken.immediate(clientId, now));
    },

    async insertAccessToken(record) {
      run((s) => s.insertAccessToken.run(accessTokenToRow(record)));
    },
    async getAccessToken(id) {
      return run((s) => {
        const row = s.getAccessToken.get(id);
        return row && accessTokenFromRow(row);
      });
    },
    async listAccessTokens(filter) {
      return run((s) => {
        const rows =
          filter.userId === undefined
            ? s.listAccessTokens.all({ owner: filter.owner, tenant: filter.tenantId })
            : s.listAccessTokensOfUser.all({ owner: filter.owner, tenant: filter.tenantId, user: filter.userId });
        return rows.map(accessTokenFromRow);
      });
    },
    async revokeAccessToken(id, now) {
      return run((s) => s.revokeAccessToken.run(now, id).changes === 1);
    },
    async listActiveAccessTokenIds(owner, now) {
      return run((s) => s.listActiveAccessTokenIds.all(owner, now));
    },
    async hasLiveAccessTokenSignedBy(kid, now) {
      return run((s) => s.hasLiveAccessTokenSignedBy.get(kid, now) === 1);
    },
    async newestLiveAccessTokenWithoutKid(now) {
      return run((s) => s.newestLiveAccessTokenWithoutKid.get(now) ?? null);
    },

    async startRefreshFamily(family, firstToken, maxLive) {
      relaxed((s) => s.tx.startRefreshFamily.immediate(family, firstToken, maxLive));
    },
    async getRefreshFamily(id) {
      return run((s) => {
        const row = s.getFamily.get(id);
        return row && refreshFamilyFromRow(row);
      });
    },
    async insertRefreshToken(record, maxLive) {
      run((s) => s.tx.insertRefreshToken.immediate(record, maxLive));
    },
    async rotateRefreshToken(hash, next, maxLive, now) {
      const outcome = relaxed((s) => s.tx.rotateRefreshToken.immediate(hash, next, maxLive, now));
      // RFC 9700 §4.14.2: a replay revokes the whole family; a revocation is durable (FULL).
      if (outcome.outcome === 'reused') run((s) => s.tx.revokeRefreshFamily.immediate(outcome.familyId, now));
      return outcome;
    },
    async getRefreshToken(hash) {
      return run((s) => {
        const row = s.getRefreshToken.get(hash);
        return row && refreshTokenFromRow(row);
      });
    },
    async revokeRefreshFamily(id, now) {
      return run((s) => s.tx.revokeRefreshFamily.immediate(id, now));
    },

    async insertSigningKey(record) {
      run((s) => s.insertSigningKey.run(signingKeyToRow(record)));
    },
    async listSigningKeys() {
      return run((s) => s.listSigningKeys.all().map(signingKeyFromRow));
    },
    async updateSigningKey(kid, patch) {
      return run((s) => s.tx.updateSigningKey.immediate(kid, patch));
    },
    async deleteSigningKey(kid) {
      return run((s) => s.deleteSigningKey.run(kid).changes === 1);
    },
  };
  return Object.freeze(store);
}
