/**
 * The token store: everything the token service and the proxy's liveness checks persist. Every
 * method is async so that SQLite (synchronous underneath), PostgreSQL and the in-memory driver
 * share one contract, proven by one contract test suite run against each driver.
 *
 * Times are epoch milliseconds and always passed in by the caller (the injected clock), never
 * read by a driver. Secrets and refresh tokens exist here only as keyed hashes; an access token's
 * JWT is never stored — only its id and what it grants.
 */

export type OwnerKind = 'user' | 'tenant';

export interface TenantRecord {
  readonly id: string;
  readonly createdAt: number;
}

export interface MembershipRecord {
  readonly tenantId: string;
  readonly userId: string;
  readonly roleIds: readonly string[];
  readonly createdAt: number;
  readonly updatedAt: number;
}

/** A client-credentials token ("API token"): clientId + secret, exchanged for JWTs. */
export interface ApiTokenRecord {
  readonly clientId: string;
  readonly owner: OwnerKind;
  readonly tenantId: string;
  /** The user a user token belongs to; null for tenant tokens. */
  readonly userId: string | null;
  readonly createdByUserId: string | null;
  readonly description: string | null;
  readonly metadata: Readonly<Record<string, unknown>>;
  /** Tenant tokens: what they were granted. Null for user tokens (the membership decides). */
  readonly roleIds: readonly string[] | null;
  readonly permissionIds: readonly string[] | null;
  /** HMAC-SHA-256 of the secret under the server key, base64url. */
  readonly secretHash: string;
  readonly createdAt: number;
  readonly expiresAt: number | null;
  readonly revokedAt: number | null;
}

export interface ApiTokenPatch {
  readonly description?: string | null;
  readonly metadata?: Readonly<Record<string, unknown>>;
  readonly roleIds?: readonly string[] | null;
  readonly permissionIds?: readonly string[] | null;
}

/** An access token: a long-lived JWT presented in X-API-KEY; the store keeps its id and grants. */
export interface AccessTokenRecord {
  /** The JWT's `sub`. */
  readonly id: string;
  readonly owner: OwnerKind;
  readonly tenantId: string;
  readonly userId: string | null;
  readonly createdByUserId: string | null;
  readonly description: string | null;
  readonly roleIds: readonly string[] | null;
  readonly permissionIds: readonly string[] | null;
  readonly createdAt: number;
  readonly expiresAt: number | null;
  readonly revokedAt: number | null;
  /**
   * The kid of the key that signed the JWT: that key stays published while the token is live.
   * Null for records from before the store kept it (any key existing then may have signed it).
   */
  readonly kid: string | null;
}

/**
 * A refresh-token family: one exchange starts one, each refresh continues it. Issued JWTs carry
 * the family id (`sid`), so revoking a family refuses its JWTs too (RFC 9700 §4.14.2).
 */
export interface RefreshFamilyRecord {
  readonly id: string;
  readonly clientId: string;
  readonly createdAt: number;
  readonly revokedAt: number | null;
}

export interface RefreshTokenRecord {
  /** HMAC-SHA-256 of the refresh token under the server key, base64url. */
  readonly hash: string;
  readonly familyId: string;
  readonly clientId: string;
  readonly createdAt: number;
  readonly expiresAt: number;
  /** Set when it was exchanged for its successor: a second use is reuse. */
  readonly usedAt: number | null;
  readonly revokedAt: number | null;
}

export type RotateOutcome =
  | { readonly outcome: 'rotated'; readonly previous: RefreshTokenRecord }
  /** The token had been used already: its whole family is now revoked. */
  | { readonly outcome: 'reused'; readonly familyId: string; readonly clientId: string }
  | { readonly outcome: 'unknown' | 'expired' | 'revoked' };

export interface SigningKeyRecord {
  readonly kid: string;
  readonly alg: string;
  /** The public JWK as published (kid, alg, use: sig). */
  readonly publicJwk: Readonly<Record<string, unknown>>;
  /** The private key, encrypted (AES-256-GCM envelope, base64url); never plaintext. */
  readonly privateKeyEnvelope: string;
  readonly createdAt: number;
  /** From this time the key signs (it is published before that). */
  readonly activatesAt: number;
  /** From this time the key no longer signs; null while it is current. */
  readonly retiredAt: number | null;
  /** From this time the key is no longer published (every token it signed has expired). */
  readonly removeAfter: number | null;
}

export interface TokenStore {
  /** Brings the schema to the latest version; idempotent. */
  migrate(): Promise<void>;
  close(): Promise<void>;
  /** Resolves when the store answers a read (readiness probes); fails like any call when it cannot. */
  ping(): Promise<void>;

  // Directory (SPEC §4.4)
  putTenant(id: string, now: number): Promise<TenantRecord>;
  getTenant(id: string): Promise<TenantRecord | undefined>;
  listTenants(): Promise<TenantRecord[]>;
  /** Deletes the tenant, its memberships, and revokes every credential on it. False if unknown. */
  deleteTenant(id: string, now: number): Promise<boolean>;
  /** Creates or replaces a membership (creating the tenant if needed). */
  putMembership(tenantId: string, userId: string, roleIds: readonly string[], now: number): Promise<MembershipRecord>;
  getMembership(tenantId: string, userId: string): Promise<MembershipRecord | undefined>;
  listMemberships(tenantId: string): Promise<MembershipRecord[]>;
  deleteMembership(tenantId: string, userId: string): Promise<boolean>;

  // Client-credentials tokens
  insertApiToken(record: ApiTokenRecord): Promise<void>;
  getApiToken(clientId: string): Promise<ApiTokenRecord | undefined>;
  /** Not revoked, newest first; `userId` narrows user tokens to one user. */
  listApiTokens(filter: { readonly owner: OwnerKind; readonly tenantId: string; readonly userId?: string }): Promise<ApiTokenRecord[]>;
  updateApiToken(clientId: string, patch: ApiTokenPatch): Promise<ApiTokenRecord | undefined>;
  /** Marks it revoked and revokes its refresh families. False if unknown or already revoked. */
  revokeApiToken(clientId: string, now: number): Promise<boolean>;

  // Access tokens
  insertAccessToken(record: AccessTokenRecord): Promise<void>;
  getAccessToken(id: string): Promise<AccessTokenRecord | undefined>;
  listAccessTokens(filter: { readonly owner: OwnerKind; readonly tenantId: string; readonly userId?: string }): Promise<AccessTokenRecord[]>;
  revokeAccessToken(id: string, now: number): Promise<boolean>;
  /** Ids of access tokens of that owner kind neither revoked nor expired at `now`. */
  listActiveAccessTokenIds(owner: OwnerKind, now: number): Promise<string[]>;
  /** Whether an access token recorded as signed by `kid` is neither revoked nor expired at `now`. */
  hasLiveAccessTokenSignedBy(kid: string, now: number): Promise<boolean>;
  /** The `createdAt` of the newest access token without a kid neither revoked nor expired at `now`; null if none. */
  newestLiveAccessTokenWithoutKid(now: number): Promise<number | null>;

  // Refresh tokens (single-use, rotated; at most `maxLive` live per credential)
  /**
   * Starts a refresh family (one exchange) and stores its first token, one transaction: if the
   * token is refused, no family remains. `firstToken` null starts a family without one (refresh
   * tokens switched off: the family still carries the JWTs' `sid`). The token is capped as
   * `insertRefreshToken` caps it.
   */
  startRefreshFamily(family: RefreshFamilyRecord, firstToken: RefreshTokenRecord | null, maxLive: number): Promise<void>;
  getRefreshFamily(id: string): Promise<RefreshFamilyRecord | undefined>;
  /**
   * Stores a new refresh token in an existing family; in the same transaction, revokes the oldest
   * live tokens of the same credential beyond `maxLive` (Frontegg: the 101st invalidates the oldest).
   */
  insertRefreshToken(record: RefreshTokenRecord, maxLive: number): Promise<void>;
  /**
   * Atomically exchanges `hash` for `next` (same family): succeeds once. A second use of a used
   * token revokes the whole family and answers `reused`. Concurrent calls with one hash: exactly
   * one `rotated`.
   */
  rotateRefreshToken(hash: string, next: RefreshTokenRecord, maxLive: number, now: number): Promise<RotateOutcome>;
  getRefreshToken(hash: string): Promise<RefreshTokenRecord | undefined>;
  revokeRefreshFamily(id: string, now: number): Promise<boolean>;

  // Signing keys
  insertSigningKey(record: SigningKeyRecord): Promise<void>;
  listSigningKeys(): Promise<SigningKeyRecord[]>;
  updateSigningKey(kid: string, patch: { readonly retiredAt?: number | null; readonly removeAfter?: number | null }): Promise<SigningKeyRecord | undefined>;
  deleteSigningKey(kid: string): Promise<boolean>;
}

/**
 * A committed write that can revoke something or change what a cached answer says (SPEC §5: every
 * replica evicts at once). Published by the PostgreSQL store in the writing transaction, so it is
 * delivered only when the write commits, to every process listening on the same database.
 */
export type StoreChange =
  /** A client-credentials token was revoked or patched (its refresh families go with it). */
  | { readonly kind: 'apiToken'; readonly clientId: string }
  /** An access token was revoked. */
  | { readonly kind: 'accessToken'; readonly id: string }
  /** A refresh family was revoked (RFC 7009 revocation, or reuse of a refresh token). */
  | { readonly kind: 'refreshFamily'; readonly familyId: string }
  /** A user's membership was removed or its roles changed. */
  | { readonly kind: 'membership'; readonly tenantId: string; readonly userId: string }
  /** A tenant was deleted, with its memberships and credentials. */
  | { readonly kind: 'tenant'; readonly tenantId: string }
  /** A signing key was added, retired or removed. */
  | { readonly kind: 'signingKeys' };

export interface StoreChangeEvent {
  readonly change: StoreChange;
  /** Epoch ms on the database server's clock when the writing transaction published it. */
  readonly committedAt: number;
}

/** Receives the store's change events; `onReset` after a gap in which events may have been missed. */
export interface StoreChangeHandlers {
  onChange(event: StoreChangeEvent): void;
  /** The listener (re)connected after a loss: everything cached from the store may be stale. */
  onReset(): void;
}
