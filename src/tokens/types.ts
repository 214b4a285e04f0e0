import type { Identity } from '../auth/identity.js';
import type { AccessTokenRecord, ApiTokenRecord, MembershipRecord, OwnerKind, TenantRecord } from '../store/types.js';

/**
 * The contract between the token service (credentials, exchange, refresh, directory) and the HTTP
 * routes that expose it. Failures are `GatewayError`s with ERR_TOKEN_* / ERR_DIRECTORY_* codes
 * (src/errors.ts); the routes map them to Frontegg's `{"errors":[…]}` or RFC 6749 §5.2 bodies.
 */

/** Who is asking for a management operation: the scope headers of Frontegg's routes. */
export interface Scope {
  readonly tenantId: string;
  /** Present on user routes (`frontegg-user-id`). */
  readonly userId?: string;
}

export interface CreateApiTokenInput {
  readonly description?: string | null;
  readonly metadata?: Readonly<Record<string, unknown>>;
  readonly expiresInMinutes?: number;
  /** Tenant tokens only; roleIds wins over permissionIds (Frontegg). */
  readonly roleIds?: readonly string[];
  readonly permissionIds?: readonly string[];
  /** Tenant tokens: the user who created it, when the caller says (`frontegg-user-id`). */
  readonly createdByUserId?: string;
}

export interface CreateAccessTokenInput {
  readonly description?: string | null;
  readonly expiresInMinutes?: number;
  /** Tenant access tokens only. */
  readonly roleIds?: readonly string[];
  readonly createdByUserId?: string;
}

/** An API token as created: the record plus the secret, shown this once. */
export interface CreatedApiToken {
  readonly record: ApiTokenRecord;
  readonly secret: string;
}

/** An access token as created: the record plus its JWT, shown this once. */
export interface CreatedAccessToken {
  readonly record: AccessTokenRecord;
  readonly jwt: string;
}

/** What an exchange or refresh returns, before the route picks v1, v2 or OAuth field names. */
export interface IssuedTokens {
  readonly accessToken: string;
  /** Absent when refresh tokens are switched off. */
  readonly refreshToken: string | undefined;
  readonly expiresInSeconds: number;
  /** Epoch ms of the JWT's `exp`. */
  readonly expiresAt: number;
}

/** Where an exchange came from: the socket peer (never X-Forwarded-For; security case 39). */
export interface Caller {
  readonly peer: string;
}

/** A client whose credentials were checked (RFC 6749 §2.3.1): who it is, nothing secret. */
export interface AuthenticatedClient {
  readonly clientId: string;
}

/** RFC 7662 introspection answer: `{active:false}` and nothing else for anything not alive. */
export type Introspection = { readonly active: false } | ({ readonly active: true } & Readonly<Record<string, unknown>>);

/** The vendor-only view of an access token that Frontegg's SDKs fetch. */
export interface AccessTokenInfo {
  readonly id: string;
  readonly tenantId: string;
  readonly userId?: string;
  readonly roles: readonly string[];
  readonly permissions: readonly string[];
  readonly expires?: string;
}

/**
 * The vendor-only view of one refresh family (`sid`) of a client-credentials token: this
 * gateway's counterpart of `AccessTokenInfo`, which sidecars ask when they cannot read the store.
 */
export interface ApiTokenInfo extends Omit<AccessTokenInfo, 'id'> {
  readonly clientId: string;
}

export interface TokenService {
  // Client-credentials tokens (SPEC §4.3)
  createUserApiToken(scope: Required<Scope>, input: CreateApiTokenInput): Promise<CreatedApiToken>;
  createTenantApiToken(scope: Scope, input: CreateApiTokenInput): Promise<CreatedApiToken>;
  listApiTokens(owner: OwnerKind, scope: Scope): Promise<ApiTokenRecord[]>;
  updateTenantApiToken(scope: Scope, clientId: string, patch: Pick<CreateApiTokenInput, 'description' | 'metadata' | 'roleIds' | 'permissionIds'>): Promise<ApiTokenRecord>;
  deleteApiToken(owner: OwnerKind, scope: Scope, clientId: string): Promise<void>;

  // Access tokens
  createUserAccessToken(scope: Required<Scope>, input: CreateAccessTokenInput): Promise<CreatedAccessToken>;
  createTenantAccessToken(scope: Scope, input: CreateAccessTokenInput): Promise<CreatedAccessToken>;
  listAccessTokens(owner: OwnerKind, scope: Scope): Promise<AccessTokenRecord[]>;
  deleteAccessToken(owner: OwnerKind, scope: Scope, id: string): Promise<void>;
  activeAccessTokenIds(owner: OwnerKind): Promise<string[]>;
  accessTokenInfo(owner: OwnerKind, id: string): Promise<AccessTokenInfo | undefined>;
  /**
   * Whether a client-credentials JWT (`sub` = clientId, `sid` = family) is alive, by the proxy's
   * own liveness check, with the *current* grants; undefined when not. A disabled kind is
   * ERR_TOKEN_KIND_DISABLED.
   */
  apiTokenInfo(owner: OwnerKind, clientId: string, familyId: string): Promise<ApiTokenInfo | undefined>;

  // Exchange and refresh (SPEC §4.2)
  /**
   * Client authentication for the OAuth routes that need it besides the exchange (RFC 6749 §6
   * refresh, RFC 7009 §2.1 revocation): the exchange's own credential check, with its rate limits,
   * constant-time compare and one ERR_TOKEN_INVALID_CLIENT for unknown, wrong, revoked or expired.
   * The membership is not checked: a client whose user left the tenant may still revoke its tokens.
   */
  authenticateClient(credentials: { readonly clientId: string; readonly secret: string }, caller: Caller): Promise<AuthenticatedClient>;
  exchange(credentials: { readonly clientId: string; readonly secret: string }, caller: Caller): Promise<IssuedTokens>;
  /**
   * Exchange at the edge, for the proxy: the JWT `exchange` would issue for these credentials
   * (same check, rate limits and grants; no refresh token), cached by a keyed hash of the pair
   * until it expires or a write evicts it. Refusals, a disabled kind included, are
   * ERR_TOKEN_INVALID_CLIENT, or ERR_TOKEN_RATE_LIMITED.
   */
  exchangeAtEdge(credentials: { readonly clientId: string; readonly secret: string }, caller: Caller): Promise<IssuedTokens>;
  /** `clientId`, when the caller authenticated as a client (OAuth, `authenticateClient`), must own the refresh token. */
  refresh(input: { readonly refreshToken: string; readonly clientId?: string }, caller: Caller): Promise<IssuedTokens>;
  /**
   * RFC 7009: revokes a refresh token (its family) or a JWT's credential family; unknown → no-op.
   * `clientId` is the client `authenticateClient` accepted: another client's token is left alone.
   */
  revoke(token: string, clientId?: string): Promise<void>;
  introspect(token: string): Promise<Introspection>;

  /**
   * The proxy's liveness check for an identity the verifier accepted (SPEC §3, §5): the access
   * token or the client-credentials credential (and its refresh family) must be alive, the user
   * still a member of the tenant; returns the identity with the *current* roles and permissions.
   * Throws ERR_AUTH_REVOKED otherwise. `claims.sid` defaults to `identity.sessionId` (the `sid` claim).
   */
  checkLive(identity: Identity, claims?: { readonly sid?: string }): Promise<Identity>;
}

export interface Directory {
  putTenant(tenantId: string): Promise<TenantRecord>;
  getTenant(tenantId: string): Promise<TenantRecord | undefined>;
  listTenants(): Promise<TenantRecord[]>;
  deleteTenant(tenantId: string): Promise<boolean>;
  putMembership(tenantId: string, userId: string, roleIds?: readonly string[]): Promise<MembershipRecord>;
  getMembership(tenantId: string, userId: string): Promise<MembershipRecord | undefined>;
  listMemberships(tenantId: string): Promise<MembershipRecord[]>;
  deleteMembership(tenantId: string, userId: string): Promise<boolean>;
  /** Role keys and permissions granted by role ids and/or direct permission ids. */
  grants(roleIds: readonly string[] | null, permissionIds: readonly string[] | null): { roles: string[]; permissions: string[] };
}
