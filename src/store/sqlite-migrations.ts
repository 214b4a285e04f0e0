/**
 * The SQLite schema, as migrations. PostgreSQL has its own list with the same versions and names.
 *
 * Tables are STRICT so a wrong type is an error instead of a silently coerced value. Times are
 * INTEGER epoch milliseconds, arrays and objects JSON text, absent values NULL. Credentials are
 * never deleted, only revoked, so the audit trail and the refusal of their JWTs survive; tenants,
 * memberships and signing keys are deleted.
 *
 * Every list and filter of the TokenStore has an index; rowid breaks ties between equal
 * `created_at` (newest insert first), which is why no table is WITHOUT ROWID.
 */
import { assertMigrationList, type Migration } from './migrations.js';

const initial = `
CREATE TABLE tenants (
  id TEXT NOT NULL PRIMARY KEY,
  created_at INTEGER NOT NULL
) STRICT;
CREATE INDEX tenants_by_created ON tenants (created_at);

CREATE TABLE memberships (
  tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  user_id TEXT NOT NULL,
  role_ids TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  PRIMARY KEY (tenant_id, user_id)
) STRICT;
CREATE INDEX memberships_by_tenant ON memberships (tenant_id, created_at);

CREATE TABLE api_tokens (
  client_id TEXT NOT NULL PRIMARY KEY,
  owner TEXT NOT NULL CHECK (owner IN ('user', 'tenant')),
  tenant_id TEXT NOT NULL,
  user_id TEXT,
  created_by_user_id TEXT,
  description TEXT,
  metadata TEXT NOT NULL,
  role_ids TEXT,
  permission_ids TEXT,
  secret_hash TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  expires_at INTEGER,
  revoked_at INTEGER
) STRICT;
CREATE INDEX api_tokens_by_tenant ON api_tokens (tenant_id, owner, created_at);
CREATE INDEX api_tokens_by_user ON api_tokens (tenant_id, owner, user_id, created_at);

CREATE TABLE access_tokens (
  id TEXT NOT NULL PRIMARY KEY,
  owner TEXT NOT NULL CHECK (owner IN ('user', 'tenant')),
  tenant_id TEXT NOT NULL,
  user_id TEXT,
  created_by_user_id TEXT,
  description TEXT,
  role_ids TEXT,
  permission_ids TEXT,
  created_at INTEGER NOT NULL,
  expires_at INTEGER,
  revoked_at INTEGER
) STRICT;
CREATE INDEX access_tokens_by_tenant ON access_tokens (tenant_id, owner, created_at);
CREATE INDEX access_tokens_by_user ON access_tokens (tenant_id, owner, user_id, created_at);
-- The proxy's liveness list: covering, and only over tokens that can still be active.
CREATE INDEX access_tokens_active ON access_tokens (owner, created_at, expires_at, id) WHERE revoked_at IS NULL;

CREATE TABLE refresh_families (
  id TEXT NOT NULL PRIMARY KEY,
  client_id TEXT NOT NULL REFERENCES api_tokens (client_id),
  created_at INTEGER NOT NULL,
  revoked_at INTEGER
) STRICT;
CREATE INDEX refresh_families_by_client ON refresh_families (client_id);

CREATE TABLE refresh_tokens (
  hash TEXT NOT NULL PRIMARY KEY,
  family_id TEXT NOT NULL REFERENCES refresh_families (id),
  client_id TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  used_at INTEGER,
  revoked_at INTEGER
) STRICT;
CREATE INDEX refresh_tokens_by_family ON refresh_tokens (family_id);
-- The maxLive cap: only unused, unrevoked tokens can be live.
CREATE INDEX refresh_tokens_live ON refresh_tokens (client_id, created_at) WHERE used_at IS NULL AND revoked_at IS NULL;

CREATE TABLE signing_keys (
  kid TEXT NOT NULL PRIMARY KEY,
  alg TEXT NOT NULL,
  public_jwk TEXT NOT NULL,
  private_key_envelope TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  activates_at INTEGER NOT NULL,
  retired_at INTEGER,
  remove_after INTEGER
) STRICT;
CREATE INDEX signing_keys_by_created ON signing_keys (created_at);
`;

/**
 * The live cap (at most `maxLive` live refresh tokens per credential) runs on every exchange and
 * refresh. `refresh_tokens_live` served it by client, but it walked every unused token the client
 * ever had, expired ones included (they never leave that index), and read each table row for
 * `expires_at`. This index seeks the client's tokens unexpired at the new token's creation and
 * answers from the index alone (the NULL columns are there only to make it covering), so the cap
 * costs the live tokens — at most `maxLive` + 1 — sorted by age, however many have expired.
 */
const liveCapIndex = `
DROP INDEX refresh_tokens_live;
CREATE INDEX refresh_tokens_live_by_expiry ON refresh_tokens (client_id, expires_at, created_at, used_at, revoked_at)
  WHERE used_at IS NULL AND revoked_at IS NULL;
`;

/**
 * Which key signed each access token, so a retired key stays published exactly while a live access
 * token needs it. Existing rows get NULL: they were signed before the store kept the kid. The
 * index serves both key-lifetime questions (live tokens of one kid; the newest live one without a
 * kid) over live rows only.
 */
const accessTokenKid = `
ALTER TABLE access_tokens ADD COLUMN kid TEXT;
CREATE INDEX access_tokens_live_by_kid ON access_tokens (kid, created_at, expires_at) WHERE revoked_at IS NULL;
`;

/** Ordered; applied one transaction each and recorded in `schema_migrations`. */
export const SQLITE_MIGRATIONS: readonly Migration[] = assertMigrationList([
  { version: 1, name: 'initial', sql: initial },
  { version: 2, name: 'refresh-token live cap index', sql: liveCapIndex },
  { version: 3, name: 'access-token kid', sql: accessTokenKid },
]);
