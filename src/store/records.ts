/**
 * What the store drivers share besides the contract: record copying and the decisions that must
 * not drift between drivers (refresh rotation, liveness, patches). SQLite expresses the same
 * predicates in SQL; the contract suite proves both agree.
 */
import { deepFreeze } from '../freeze.js';
import { StoreError } from './errors.js';
import type {
  AccessTokenRecord,
  ApiTokenPatch,
  ApiTokenRecord,
  MembershipRecord,
  RefreshFamilyRecord,
  RefreshTokenRecord,
  SigningKeyRecord,
  TenantRecord,
} from './types.js';


/**
 * Serialises an object column. Both drivers go through JSON, so the memory driver keeps exactly
 * what SQLite and PostgreSQL would (no Dates, no undefined members, no shared references).
 */
export function objectToJson(value: Readonly<Record<string, unknown>>, field: string): string {
  let text: string | undefined;
  try {
    text = value !== null && typeof value === 'object' && !Array.isArray(value) ? JSON.stringify(value) : undefined;
  } catch (err) {
    throw new StoreError('ERR_STORE_INVALID', `${field} is not JSON-serialisable`, { cause: err });
  }
  if (text === undefined) throw new StoreError('ERR_STORE_INVALID', `${field} must be a JSON object`);
  return text;
}

/** Serialises an array-of-ids column. */
export function idsToJson(ids: readonly string[], field: string): string {
  if (!Array.isArray(ids) || !ids.every((id) => typeof id === 'string')) {
    throw new StoreError('ERR_STORE_INVALID', `${field} must be an array of strings`);
  }
  return JSON.stringify(ids);
}

const nullableIdsToJson = (ids: readonly string[] | null, field: string): string | null =>
  ids === null ? null : idsToJson(ids, field);

const parseObject = (text: string): Record<string, unknown> => JSON.parse(text) as Record<string, unknown>;
const parseIds = (text: string): string[] => JSON.parse(text) as string[];
const parseNullableIds = (text: string | null): string[] | null => (text === null ? null : parseIds(text));

// Records as table rows: snake_case columns, JSON text for arrays and objects, NULL for absent
// values, times as integer milliseconds. `*ToRow` validates and serialises; `*FromRow` parses and
// returns a fresh, deeply frozen record.

export interface MembershipRow {
  tenant_id: string;
  user_id: string;
  role_ids: string;
  created_at: number;
  updated_at: number;
}

export interface ApiTokenRow {
  client_id: string;
  owner: string;
  tenant_id: string;
  user_id: string | null;
  created_by_user_id: string | null;
  description: string | null;
  metadata: string;
  role_ids: string | null;
  permission_ids: string | null;
  secret_hash: string;
  created_at: number;
  expires_at: number | null;
  revoked_at: number | null;
}

export interface AccessTokenRow {
  id: string;
  owner: string;
  tenant_id: string;
  user_id: string | null;
  created_by_user_id: string | null;
  description: string | null;
  role_ids: string | null;
  permission_ids: string | null;
  created_at: number;
  expires_at: number | null;
  revoked_at: number | null;
  kid: string | null;
}

export interface RefreshFamilyRow {
  id: string;
  client_id: string;
  created_at: number;
  revoked_at: number | null;
}

export interface RefreshTokenRow {
  hash: string;
  family_id: string;
  client_id: string;
  created_at: number;
  expires_at: number;
  used_at: number | null;
  revoked_at: number | null;
}

export interface SigningKeyRow {
  kid: string;
  alg: string;
  public_jwk: string;
  private_key_envelope: string;
  created_at: number;
  activates_at: number;
  retired_at: number | null;
  remove_after: number | null;
}

export const membershipToRow = (r: MembershipRecord): MembershipRow => ({
  tenant_id: r.tenantId,
  user_id: r.userId,
  role_ids: idsToJson(r.roleIds, 'roleIds'),
  created_at: r.createdAt,
  updated_at: r.updatedAt,
});

export const membershipFromRow = (row: MembershipRow): MembershipRecord =>
  deepFreeze({
    tenantId: row.tenant_id,
    userId: row.user_id,
    roleIds: parseIds(row.role_ids),
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  });

export const apiTokenToRow = (r: ApiTokenRecord): ApiTokenRow => ({
  client_id: r.clientId,
  owner: r.owner,
  tenant_id: r.tenantId,
  user_id: r.userId,
  created_by_user_id: r.createdByUserId,
  description: r.description,
  metadata: objectToJson(r.metadata, 'metadata'),
  role_ids: nullableIdsToJson(r.roleIds, 'roleIds'),
  permission_ids: nullableIdsToJson(r.permissionIds, 'permissionIds'),
  secret_hash: r.secretHash,
  created_at: r.createdAt,
  expires_at: r.expiresAt,
  revoked_at: r.revokedAt,
});

export const apiTokenFromRow = (row: ApiTokenRow): ApiTokenRecord =>
  deepFreeze({
    clientId: row.client_id,
    owner: row.owner as ApiTokenRecord['owner'],
    tenantId: row.tenant_id,
    userId: row.user_id,
    createdByUserId: row.created_by_user_id,
    description: row.description,
    metadata: parseObject(row.metadata),
    roleIds: parseNullableIds(row.role_ids),
    permissionIds: parseNullableIds(row.permission_ids),
    secretHash: row.secret_hash,
    createdAt: row.created_at,
    expiresAt: row.expires_at,
    revokedAt: row.revoked_at,
  });

/** A kid names a key: a non-empty string, or null when the record predates kids. */
function checkKid(kid: string | null): string | null {
  if (kid === null || (typeof kid === 'string' && kid.length > 0)) return kid;
  throw new StoreError('ERR_STORE_INVALID', 'kid must be a non-empty string or null');
}

export const accessTokenToRow = (r: AccessTokenRecord): AccessTokenRow => ({
  id: r.id,
  owner: r.owner,
  tenant_id: r.tenantId,
  user_id: r.userId,
  created_by_user_id: r.createdByUserId,
  description: r.description,
  role_ids: nullableIdsToJson(r.roleIds, 'roleIds'),
  permission_ids: nullableIdsToJson(r.permissionIds, 'permissionIds'),
  created_at: r.createdAt,
  expires_at: r.expiresAt,
  revoked_at: r.revokedAt,
  kid: checkKid(r.kid),
});

export const accessTokenFromRow = (row: AccessTokenRow): AccessTokenRecord =>
  deepFreeze({
    id: row.id,
    owner: row.owner as AccessTokenRecord['owner'],
    tenantId: row.tenant_id,
    userId: row.user_id,
    createdByUserId: row.created_by_user_id,
    description: row.description,
    roleIds: parseNullableIds(row.role_ids),
    permissionIds: parseNullableIds(row.permission_ids),
    createdAt: row.created_at,
    expiresAt: row.expires_at,
    revokedAt: row.revoked_at,
    kid: row.kid,
  });

export const refreshFamilyToRow = (r: RefreshFamilyRecord): RefreshFamilyRow => ({
  id: r.id,
  client_id: r.clientId,
  created_at: r.createdAt,
  revoked_at: r.revokedAt,
});

export const refreshFamilyFromRow = (row: RefreshFamilyRow): RefreshFamilyRecord =>
  Object.freeze({ id: row.id, clientId: row.client_id, createdAt: row.created_at, revokedAt: row.revoked_at });

export const refreshTokenToRow = (r: RefreshTokenRecord): RefreshTokenRow => ({
  hash: r.hash,
  family_id: r.familyId,
  client_id: r.clientId,
  created_at: r.createdAt,
  expires_at: r.expiresAt,
  used_at: r.usedAt,
  revoked_at: r.revokedAt,
});

export const refreshTokenFromRow = (row: RefreshTokenRow): RefreshTokenRecord =>
  Object.freeze({
    hash: row.hash,
    familyId: row.family_id,
    clientId: row.client_id,
    createdAt: row.created_at,
    expiresAt: row.expires_at,
    usedAt: row.used_at,
    revokedAt: row.revoked_at,
  });

export const signingKeyToRow = (r: SigningKeyRecord): SigningKeyRow => ({
  kid: r.kid,
  alg: r.alg,
  public_jwk: objectToJson(r.publicJwk, 'publicJwk'),
  private_key_envelope: r.privateKeyEnvelope,
  created_at: r.createdAt,
  activates_at: r.activatesAt,
  retired_at: r.retiredAt,
  remove_after: r.removeAfter,
});

export const signingKeyFromRow = (row: SigningKeyRow): SigningKeyRecord =>
  deepFreeze({
    kid: row.kid,
    alg: row.alg,
    publicJwk: parseObject(row.public_jwk),
    privateKeyEnvelope: row.private_key_envelope,
    createdAt: row.created_at,
    activatesAt: row.activates_at,
    retiredAt: row.retired_at,
    removeAfter: row.remove_after,
  });

// Fresh frozen copies, made through the row form: the memory driver keeps exactly what a
// database would (JSON-normalised values, unknown extra properties dropped, nothing shared).

/**
 * A read of a stored record: a new frozen top-level object sharing the stored record's members.
 * Only for what the store holds, which went through one of the `copy*` functions above on the way
 * in and so is deeply frozen already: nothing reachable from the result can be mutated, and no
 * JSON round trip or deep freeze is paid per read.
 */
export const freshCopy = <T extends object>(stored: T): T => Object.freeze({ ...stored });

export const copyTenant = (r: TenantRecord): TenantRecord => Object.freeze({ id: r.id, createdAt: r.createdAt });
export const copyMembership = (r: MembershipRecord): MembershipRecord => membershipFromRow(membershipToRow(r));
export const copyApiToken = (r: ApiTokenRecord): ApiTokenRecord => apiTokenFromRow(apiTokenToRow(r));
export const copyAccessToken = (r: AccessTokenRecord): AccessTokenRecord => accessTokenFromRow(accessTokenToRow(r));
// Flat records of scalars: picking the known members into a frozen object is what the row form
// would give, without the intermediate row (these are written on every exchange and refresh).
export const copyRefreshFamily = (r: RefreshFamilyRecord): RefreshFamilyRecord =>
  Object.freeze({ id: r.id, clientId: r.clientId, createdAt: r.createdAt, revokedAt: r.revokedAt });
export const copyRefreshToken = (r: RefreshTokenRecord): RefreshTokenRecord =>
  Object.freeze({
    hash: r.hash,
    familyId: r.familyId,
    clientId: r.clientId,
    createdAt: r.createdAt,
    expiresAt: r.expiresAt,
    usedAt: r.usedAt,
    revokedAt: r.revokedAt,
  });
export const copySigningKey = (r: SigningKeyRecord): SigningKeyRecord => signingKeyFromRow(signingKeyToRow(r));

// Decisions.

/** Applies a patch; an `undefined` member means "unchanged", `null` clears. */
export function patchApiToken(r: ApiTokenRecord, patch: ApiTokenPatch): ApiTokenRecord {
  return copyApiToken({
    ...r,
    description: patch.description !== undefined ? patch.description : r.description,
    metadata: patch.metadata !== undefined ? patch.metadata : r.metadata,
    roleIds: patch.roleIds !== undefined ? patch.roleIds : r.roleIds,
    permissionIds: patch.permissionIds !== undefined ? patch.permissionIds : r.permissionIds,
  });
}

/** The second parameter of TokenStore#updateSigningKey. */
export type SigningKeyPatch = { readonly retiredAt?: number | null; readonly removeAfter?: number | null };

export function patchSigningKey(r: SigningKeyRecord, patch: SigningKeyPatch): SigningKeyRecord {
  return copySigningKey({
    ...r,
    retiredAt: patch.retiredAt !== undefined ? patch.retiredAt : r.retiredAt,
    removeAfter: patch.removeAfter !== undefined ? patch.removeAfter : r.removeAfter,
  });
}

/** An access token counts as active until the millisecond of its expiry (exclusive). */
export const isActiveAccessToken = (r: AccessTokenRecord, now: number): boolean =>
  r.revokedAt === null && (r.expiresAt === null || r.expiresAt > now);

/**
 * A refresh token is live (counts towards `maxLive`) while it can still be exchanged:
 * not used, not revoked and not expired at `at`.
 */
export const isLiveRefreshToken = (r: RefreshTokenRecord, at: number): boolean =>
  r.usedAt === null && r.revokedAt === null && r.expiresAt > at;

/** `maxLive` is a count of tokens: a positive integer. */
export function assertMaxLive(maxLive: number): void {
  if (!Number.isSafeInteger(maxLive) || maxLive < 1) {
    throw new StoreError('ERR_STORE_INVALID', 'maxLive must be a positive integer');
  }
}

/** A refresh token belongs to `family`, an existing family of the same credential. */
export function assertRefreshTokenFamily(r: RefreshTokenRecord, family: RefreshFamilyRecord | undefined): void {
  if (family === undefined || family.id !== r.familyId) throw new StoreError('ERR_STORE_REFERENCE', `refresh family ${r.familyId} is unknown`);
  if (family.clientId !== r.clientId) {
    throw new StoreError('ERR_STORE_REFERENCE', `refresh family ${r.familyId} belongs to another client`);
  }
}

/** What to do with a presented refresh token; `rotate` is the only one that writes a successor. */
export type RotationCheck = 'reused' | 'revoked' | 'expired' | 'rotate';

/**
 * What presenting an existing refresh token means. Use is checked first: a used token presented
 * again is evidence of theft whatever else holds (RFC 9700 §4.14.2; fosite answers reuse before
 * expiry too), and it keeps every late racer of one rotation answering `reused`, not `revoked`
 * by the family revocation the first racer caused. A token without a family fails closed.
 */
export function checkRotation(token: RefreshTokenRecord, family: RefreshFamilyRecord | undefined, now: number): RotationCheck {
  if (token.usedAt !== null) return 'reused';
  if (token.revokedAt !== null || family === undefined || family.revokedAt !== null) return 'revoked';
  if (token.expiresAt <= now) return 'expired';
  return 'rotate';
}

/** The successor continues the presented token's family and credential. */
export function assertSuccessor(current: RefreshTokenRecord, next: RefreshTokenRecord): void {
  if (next.familyId !== current.familyId || next.clientId !== current.clientId) {
    throw new StoreError('ERR_STORE_INVALID', 'the next refresh token must continue the same family and client');
  }
}
