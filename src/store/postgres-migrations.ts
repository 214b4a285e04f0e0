/**
 * The PostgreSQL schema, as migrations: the same versions and names as the SQLite list.
 *
 * Times are BIGINT epoch milliseconds. Id lists are JSONB arrays (order is kept); objects
 * (metadata, public JWKs) are JSON, which keeps the text exactly as written, so a record reads
 * back byte-identical through the shared record helpers (JSONB would reorder members). Credentials
 * are never deleted, only revoked; tenants, memberships and signing keys are deleted.
 *
 * `seq`, an identity column, breaks ties between equal `created_at` (newest insert first), as
 * SQLite's rowid does.
 */
import { assertMigrationList, type Migration } from './migrations.js';

const initial = `
CREATE TABLE tenants (
  id TEXT NOT NULL PRIMARY KEY,
  created_at BIGINT NOT NULL,
  seq BIGINT GENERATED ALWAYS AS IDENTITY
);
CREATE INDEX tenants_by_created ON tenants (created_at, seq);

CREATE TABLE memberships (
  tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  user_id TEXT NOT NULL,
  role_ids JSONB NOT NULL,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL,
  seq BIGINT GENERATED ALWAYS AS IDENTITY,
  PRIMARY KEY (tenant_id, user_id)
);
CREATE INDEX memberships_by_tenant ON memberships (tenant_id, created_at, seq);

CREATE TABLE api_tokens (
  client_id TEXT NOT NULL PRIMARY KEY,
  owner TEXT NOT NULL CHECK (owner IN ('user', 'tenant')),
  tenant_id TEXT NOT NULL,
  user_id TEXT,
  created_by_user_id TEXT,
  description TEXT,
  metadata JSON NOT NULL,
  role_ids JSONB,
  permission_ids JSONB,
  secret_hash TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  expires_at BIGINT,
  revoked_at BIGINT,
  seq BIGINT GENERATED ALWAYS AS IDENTITY
);
CREATE INDEX api_tokens_by_tenant ON api_tokens (tenant_id, owner, created_at, seq);
CREATE INDEX api_tokens_by_user ON api_tokens (tenant_id, owner, user_id, created_at, seq);

CREATE TABLE access_tokens (
  id TEXT NOT NULL PRIMARY KEY,
  owner TEXT NOT NULL CHECK (owner IN ('user', 'tenant')),
  tenant_id TEXT NOT NULL,
  user_id TEXT,
  created_by_user_id TEXT,
  description TEXT,
  role_ids JSONB,
  permission_ids JSONB,
  created_at BIGINT NOT NULL,
  expires_at BIGINT,
  revoked_at BIGINT,
  seq BIGINT GENERATED ALWAYS AS IDENTITY
);
CREATE INDEX access_tokens_by_tenant ON access_tokens (tenant_id, owner, created_at, seq);
CREATE INDEX access_tokens_by_user ON access_tokens (tenant_id, owner, user_id, created_at, seq);
-- The proxy's liveness list: only over tokens that can still be active.
CREATE INDEX access_tokens_active ON access_tokens (owner, created_at, seq) INCLUDE (expires_at, id) WHERE revoked_at IS NULL;

CREATE TABLE refresh_families (
  id TEXT NOT NULL PRIMARY KEY,
  client_id TEXT NOT NULL REFERENCES api_tokens (client_id),
  created_at BIGINT NOT NULL,
  revoked_at BIGINT
);
CREATE INDEX refresh_families_by_client ON refresh_families (client_id);

CREATE TABLE refresh_tokens (
  hash TEXT NOT NULL PRIMARY KEY,
  family_id TEXT NOT NULL REFERENCES refresh_families (id),
  client_id TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL,
  used_at BIGINT,
  revoked_at BIGINT,
  seq BIGINT GENERATED ALWAYS AS IDENTITY
);
CREATE INDEX refresh_tokens_by_family ON refresh_tokens (family_id);
-- The maxLive cap: only unused, unrevoked tokens can be live.
CREATE INDEX refresh_tokens_live ON refresh_tokens (client_id, created_at) WHERE used_at IS NULL AND revoked_at IS NULL;

CREATE TABLE signing_keys (
  kid TEXT NOT NULL PRIMARY KEY,
  alg TEXT NOT NULL,
  public_jwk JSON NOT NULL,
  private_key_envelope TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  activates_at BIGINT NOT NULL,
  retired_at BIGINT,
  remove_after BIGINT,
  seq BIGINT GENERATED ALWAYS AS IDENTITY
);
CREATE INDEX signing_keys_by_created ON signing_keys (created_at, seq);
`;

/**
 * The live cap seeks a client's tokens unexpired at the new token's creation, over live rows only,
 * so it costs the live tokens (at most `maxLive` + 1) however many have expired.
 */
const liveCapIndex = `
DROP INDEX refresh_tokens_live;
CREATE INDEX refresh_tokens_live_by_expiry ON refresh_tokens (client_id, expires_at) INCLUDE (created_at, seq)
  WHERE used_at IS NULL AND revoked_at IS NULL;
`;

/**
 * Which key signed each access token, so a retired key stays published exactly while a live access
 * token needs it. Existing rows get NULL: they were signed before the store kept the kid.
 */
const accessTokenKid = `
ALTER TABLE access_tokens ADD COLUMN kid TEXT;
CREATE INDEX access_tokens_live_by_kid ON access_tokens (kid, created_at, expires_at) WHERE revoked_at IS NULL;
`;

/** Ordered; applied one transaction each, under an advisory lock, and recorded in `schema_migrations`. */
export const POSTGRES_MIGRATIONS: readonly Migration[] = assertMigrationList([
  { version: 1, name: 'initial', sql: initial },
  { version: 2, name: 'refresh-token live cap index', sql: liveCapIndex },
  { version: 3, name: 'access-token kid', sql: accessTokenKid },
]);
