import type { Logger } from 'pino';
import type { Identity } from '../auth/identity.js';
import { parseJwks, type KeySet, type PreparedKey } from '../auth/jwks.js';
import { tokenFingerprint } from '../auth/token-hash.js';
import { createTokenVerifier } from '../auth/verify.js';
import type { Clock } from '../clock.js';
import { SIGNING_ALGORITHMS, type TokenType } from '../config/schema.js';
import type { CompiledIssuer, CompiledTokenService } from '../config/types.js';
import { GatewayError, isGatewayError, type ErrorCode } from '../errors.js';
import type { Metrics } from '../metrics.js';
import type { AccessTokenRecord, ApiTokenRecord, MembershipRecord, OwnerKind, RefreshTokenRecord, TokenStore } from '../store/types.js';
import { checkId, type ObservableDirectory } from './directory.js';
import type { KeyManager } from './keys.js';
import { createEdgeExchange } from './edge-exchange.js';
import { changeMatcher, createLivenessChecker, credentialOf, type LivenessCacheOptions, type LivenessChecker } from './liveness.js';
import { createStoreLiveness, isAlive } from './store-liveness.js';
import type { RateLimiter } from './rate-limit.js';
import { generateId, generateSecret, type SecretHasher } from './secrets.js';
import type { JwtSigner } from './signer.js';
import type {
  AccessTokenInfo,
  ApiTokenInfo,
  AuthenticatedClient,
  Caller,
  CreateAccessTokenInput,
  CreateApiTokenInput,
  CreatedAccessToken,
  CreatedApiToken,
  Introspection,
  IssuedTokens,
  Scope,
  TokenService,
} from './types.js';

export interface TokenServiceDeps {
  readonly store: TokenStore;
  readonly signer: JwtSigner;
  /** Its published keys verify our own JWTs for introspection and revocation (one verifier: `parseJwks` + `createTokenVerifier`). */
  readonly keys: KeyManager;
  /** From `createDirectory`: its writes evict the liveness answers they change. */
  readonly directory: ObservableDirectory;
  readonly hasher: SecretHasher;
  readonly rateLimiter: RateLimiter;
  readonly clock: Clock;
  readonly log: Logger;
  readonly metrics?: Metrics;
  /** The liveness caches (default TTL 10 s: the bound on staleness for writes of other processes whose change events are missed). */
  readonly liveness?: LivenessCacheOptions;
  /** JWTs minted by exchange at the edge kept at once (default 10,000). */
  readonly edgeMaxEntries?: number;
}

/** The token service plus its liveness caches, for the composition root and tests. */
export interface GatewayTokenService extends TokenService {
  /** The caches behind `checkLive`: the composition root feeds them the store's change events. */
  readonly liveness: LivenessChecker;
}

/** 10 years: longer is a typo. Its signing key stays published while it lives (`kid` on its record). */
export const MAX_EXPIRES_IN_MINUTES = 10 * 365 * 24 * 60;
const MAX_DESCRIPTION = 1024;
const MAX_METADATA_BYTES = 4096;
const MAX_GRANTS = 256;

const API_TYPE: Readonly<Record<OwnerKind, TokenType>> = { user: 'userApiToken', tenant: 'tenantApiToken' };
const ACCESS_TYPE: Readonly<Record<OwnerKind, TokenType>> = { user: 'userAccessToken', tenant: 'tenantAccessToken' };

function invalid(field: string, problem: string): GatewayError {
  return new GatewayError('ERR_VALIDATION', `${field} ${problem}`, { problems: [`${field} ${problem}`] });
}

function checkExpiresInMinutes(value: unknown): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1 || value > MAX_EXPIRES_IN_MINUTES) {
    throw invalid('expiresInMinutes', `must be a whole number of minutes from 1 to ${MAX_EXPIRES_IN_MINUTES}`);
  }
  return value;
}

function checkDescription(value: unknown): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string' || value.length > MAX_DESCRIPTION) throw invalid('description', `must be a string of at most ${MAX_DESCRIPTION} characters`);
  return value;
}

function checkMetadata(value: unknown): Readonly<Record<string, unknown>> {
  if (value === undefined) return {};
  // It becomes a JWT claim: a plain JSON object of bounded size, nothing a parser could read two ways.
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalid('metadata', 'must be a JSON object');
  let json: string;
  try {
    json = JSON.stringify(value);
  } catch {
    throw invalid('metadata', 'must be a JSON object');
  }
  if (Buffer.byteLength(json) > MAX_METADATA_BYTES) throw invalid('metadata', `must be at most ${MAX_METADATA_BYTES} bytes of JSON`);
  return JSON.parse(json) as Record<string, unknown>;
}

function checkIdList(value: unknown, field: string): string[] | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value) || value.length > MAX_GRANTS) throw invalid(field, `must be a list of at most ${MAX_GRANTS} ids`);
  value.forEach((id, index) => checkId(id, `${field}[${index}]`));
  return [...new Set(value as string[])].sort();
}

/**
 * Frontegg: give roleIds or permissionIds, and roleIds wins. A non-empty roleIds wins; an empty one
 * yields to permissionIds when those are given. Undefined when neither is given.
 */
function chooseGrants(roleIds: string[] | undefined, permissionIds: string[] | undefined): { roleIds: string[] | null; permissionIds: string[] | null } | undefined {
  if (roleIds !== undefined && (roleIds.length > 0 || permissionIds === undefined)) return { roleIds, permissionIds: null };
  if (permissionIds !== undefined) return { roleIds: null, permissionIds };
  return undefined;
}

function refused(code: ErrorCode, detail: string): GatewayError {
  return new GatewayError(code, detail);
}

/** What the vendor-only lookups answer about a live credential besides its id: owner, current grants, expiry. */
function vendorView(record: { readonly tenantId: string; readonly userId: string | null; readonly expiresAt: number | null }, grants: { roles: string[]; permissions: string[] }): Omit<AccessTokenInfo, 'id'> {
  return {
    tenantId: record.tenantId,
    ...(record.userId === null ? {} : { userId: record.userId }),
    roles: grants.roles,
    permissions: grants.permissions,
    ...(record.expiresAt === null ? {} : { expires: new Date(record.expiresAt).toISOString() }),
  };
}

/**
 * The token service of SPEC §3–§4: client-credentials tokens, access tokens, exchange, refresh
 * (single-use, rotated, families), RFC 7009 revocation, RFC 7662 introspection, and the proxy's
 * liveness check.
 *
 * Secrets and refresh tokens exist only as keyed hashes (case 34) and are never logged: logs carry
 * ids and `tokenFingerprint`s. Every refusal of a credential is one constant error per
 * endpoint (ERR_TOKEN_INVALID_CLIENT, ERR_TOKEN_INVALID_GRANT), so an answer tells nothing about
 * why (case 26).
 */
export function createTokenService(config: CompiledTokenService, deps: TokenServiceDeps): GatewayTokenService {
  const { store, signer, keys, directory, hasher, rateLimiter, clock } = deps;
  const log = deps.log.child({ component: 'tokens' });
  const { apiGrants, accessGrants, liveApiToken, source } = createStoreLiveness(
    { apiTokens: config.apiTokens.enabled, accessTokens: config.accessTokens.enabled },
    { store, directory, now: () => clock.now() },
  );
  const checker = createLivenessChecker(deps.liveness ?? {}, { source, clock, metrics: deps.metrics });
  const edge = createEdgeExchange({ maxEntries: deps.edgeMaxEntries ?? 10_000 }, { mint: mintAtEdge, hasher, clock });
  // Every write that evicts liveness answers evicts the edge exchange's JWTs with the same tags.
  const liveness: LivenessChecker = Object.freeze({
    check: (identity: Identity, sid?: string) => checker.check(identity, sid),
    evict(match: Parameters<LivenessChecker['evict']>[0]): void {
      checker.evict(match);
      edge.evict(match);
    },
    apply(event: Parameters<LivenessChecker['apply']>[0]): void {
      checker.apply(event);
      const match = changeMatcher(event.change);
      if (match !== undefined) edge.evict(match);
    },
    clear(): void {
      checker.clear();
      edge.clear();
    },
  });
  const refreshTtlMs = config.refreshTokens.ttlSeconds * 1000;
  const maxRefresh = config.refreshTokens.maxPerCredential;

  directory.onChange((change) => {
    if (change.kind === 'roles') liveness.clear();
    else if (change.kind === 'tenant') liveness.evict((tags) => tags.tenantId === change.tenantId);
    else liveness.evict((tags) => tags.tenantId === change.tenantId && tags.userId === change.userId);
  });

  // Our own issuer as the verifier sees it; every signing algorithm is allowed because keys of a
  // previously configured algorithm stay published until their tokens expire.
  const ownIssuer: CompiledIssuer = Object.freeze({
    name: config.name,
    issuer: config.issuer,
    audiences: [config.audience],
    algorithms: [...SIGNING_ALGORITHMS],
    jwks: { kind: 'own' as const },
  });
  let keySet: { text: string; keys: KeySet } | undefined;
  async function resolveKeys(kid: string): Promise<readonly PreparedKey[]> {
    const text = JSON.stringify(keys.jwks());
    if (keySet?.text !== text) {
      const parsed = parseJwks(text, ownIssuer, keySet?.keys);
      if (!parsed.ok) throw refused('ERR_AUTH_KEYS_UNAVAILABLE', parsed.reason);
      keySet = { text, keys: parsed.keys };
    }
    const key = keySet.keys.get(kid);
    if (key === undefined) throw refused('ERR_AUTH_KID_UNKNOWN', 'kid not published');
    return [key];
  }
  const verifyJwt = createTokenVerifier({ issuers: [ownIssuer], clockToleranceSeconds: 0 }, { clock, resolveKeys });

  /** The identity of one of our JWTs plus its `iat`, or undefined for anything else. */
  async function verifyOwn(token: string): Promise<{ identity: Identity; iat: number } | undefined> {
    if (token.split('.').length !== 3) return undefined;
    try {
      const { identity } = await verifyJwt(token);
      // Verified above, so the payload segment is the one that was signed.
      const payload = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8')) as { iat: number };
      return { identity, iat: payload.iat };
    } catch {
      return undefined;
    }
  }

  function requireEnabled(kind: 'accessTokens' | 'apiTokens'): void {
    if (!config[kind].enabled) throw refused('ERR_TOKEN_KIND_DISABLED', `${kind} are disabled`);
  }

  function scopeOf(scope: Scope, needUser: boolean): { tenantId: string; userId: string | undefined } {
    const tenantId = checkId(scope.tenantId, 'tenantId');
    const userId = scope.userId === undefined ? undefined : checkId(scope.userId, 'userId');
    if (needUser && userId === undefined) throw invalid('userId', 'is required');
    return { tenantId, userId };
  }

  /** SPEC §4.4: a user token for a user without a membership creates it with the default roles. */
  async function ensureMembership(tenantId: string, userId: string): Promise<MembershipRecord> {
    return (await directory.getMembership(tenantId, userId)) ?? directory.putMembership(tenantId, userId);
  }

  function expiryOf(minutes: number | undefined, now: number): number | null {
    return minutes === undefined ? null : now + minutes * 60_000;
  }

  function inScope(record: { owner: OwnerKind; tenantId: string; userId: string | null; revokedAt: number | null } | undefined, owner: OwnerKind, scope: Scope): boolean {
    if (record === undefined || record.revokedAt !== null || record.owner !== owner || record.tenantId !== scope.tenantId) return false;
    // A user route always names its user; a token of another user of the tenant is not found (never deleted).
    return owner === 'tenant' || scope.userId === undefined || record.userId === scope.userId;
  }

  // ---- client-credentials tokens -------------------------------------------------------------

  async function createApiToken(owner: OwnerKind, scope: Scope, input: CreateApiTokenInput): Promise<CreatedApiToken> {
    requireEnabled('apiTokens');
    const { tenantId, userId } = scopeOf(scope, owner === 'user');
    const description = checkDescription(input.description);
    const metadata = checkMetadata(input.metadata);
    const minutes = checkExpiresInMinutes(input.expiresInMinutes);
    let grants: { roleIds: string[] | null; permissionIds: string[] | null } = { roleIds: null, permissionIds: null };
    if (owner === 'tenant') {
      const roleIds = checkIdList(input.roleIds, 'roleIds');
      grants = chooseGrants(roleIds === undefined ? undefined : directory.checkRoleIds(roleIds), checkIdList(input.permissionIds, 'permissionIds')) ?? grants;
    } else {
      await ensureMembership(tenantId, userId!);
    }
    const createdBy = owner === 'user' ? userId! : input.createdByUserId === undefined ? null : checkId(input.createdByUserId, 'createdByUserId');
    const now = clock.now();
    const secret = generateSecret();
    const record: ApiTokenRecord = {
      clientId: generateId(),
      owner,
      tenantId,
      userId: owner === 'user' ? userId! : null,
      createdByUserId: createdBy,
      description,
      metadata,
      ...grants,
      secretHash: hasher.hash(secret),
      createdAt: now,
      expiresAt: expiryOf(minutes, now),
      revokedAt: null,
    };
    await store.insertApiToken(record);
    log.info({ clientId: record.clientId, owner, tenantId }, 'api token created');
    return { record, secret };
  }

  async function deleteApiToken(owner: OwnerKind, scope: Scope, clientId: string): Promise<void> {
    const record = await store.getApiToken(clientId);
    if (!inScope(record, owner, scope)) throw refused('ERR_NOT_FOUND', 'no such api token in scope');
    await store.revokeApiToken(clientId, clock.now());
    // Its families were revoked with it; its outstanding JWTs are refused from now on (SPEC §3).
    liveness.evict((tags) => tags.subject === clientId);
    log.info({ clientId, owner, tenantId: scope.tenantId }, 'api token deleted');
  }

  async function updateTenantApiToken(
    scope: Scope,
    clientId: string,
    patch: Pick<CreateApiTokenInput, 'description' | 'metadata' | 'roleIds' | 'permissionIds'>,
  ): Promise<ApiTokenRecord> {
    requireEnabled('apiTokens');
    const record = await store.getApiToken(clientId);
    if (!inScope(record, 'tenant', scope)) throw refused('ERR_NOT_FOUND', 'no such api token in scope');
    const roleIds = checkIdList(patch.roleIds, 'roleIds');
    const grants = chooseGrants(roleIds === undefined ? undefined : directory.checkRoleIds(roleIds), checkIdList(patch.permissionIds, 'permissionIds'));
    const updated = await store.updateApiToken(clientId, {
      ...(patch.description === undefined ? {} : { description: checkDescription(patch.description) }),
      ...(patch.metadata === undefined ? {} : { metadata: checkMetadata(patch.metadata) }),
      ...grants,
    });
    if (updated === undefined) throw refused('ERR_NOT_FOUND', 'api token vanished');
    // New grants apply to the JWTs already issued, at the next request (checkLive answers current grants).
    liveness.evict((tags) => tags.subject === clientId);
    return updated;
  }

  // ---- access tokens -------------------------------------------------------------------------

  async function createAccessToken(owner: OwnerKind, scope: Scope, input: CreateAccessTokenInput): Promise<CreatedAccessToken> {
    requireEnabled('accessTokens');
    const { tenantId, userId } = scopeOf(scope, owner === 'user');
    const description = checkDescription(input.description);
    const minutes = checkExpiresInMinutes(input.expiresInMinutes);
    let roleIds: string[] | null = null;
    let granted: { roles: string[]; permissions: string[] };
    if (owner === 'tenant') {
      const given = checkIdList(input.roleIds, 'roleIds');
      roleIds = given === undefined ? [] : directory.checkRoleIds(given);
      granted = directory.grants(roleIds, null);
    } else {
      granted = directory.grants((await ensureMembership(tenantId, userId!)).roleIds, null);
    }
    const id = generateId();
    const signed = await signer.sign(
      {
        iss: config.issuer,
        aud: config.audience,
        sub: id,
        type: ACCESS_TYPE[owner],
        tenantId,
        ...(owner === 'user' ? { userId } : {}),
        roles: granted.roles,
        permissions: granted.permissions,
      },
      { expiresInSeconds: minutes === undefined ? null : minutes * 60 },
    );
    const record: AccessTokenRecord = {
      id,
      owner,
      tenantId,
      userId: owner === 'user' ? userId! : null,
      createdByUserId: owner === 'user' ? userId! : input.createdByUserId === undefined ? null : checkId(input.createdByUserId, 'createdByUserId'),
      description,
      roleIds,
      permissionIds: null,
      // The record's expiry is the JWT's `exp` exactly, so the two can never disagree.
      createdAt: clock.now(),
      expiresAt: signed.expiresAt === null ? null : signed.expiresAt * 1000,
      revokedAt: null,
      // Keeps the key published while this token is live (KeyManager, SPEC §3 "Signing").
      kid: signed.kid,
    };
    // The store keeps the id and grants, never the JWT (SPEC §4.4).
    await store.insertAccessToken(record);
    log.info({ id, owner, tenantId, token: tokenFingerprint(signed.token) }, 'access token created');
    return { record, jwt: signed.token };
  }

  async function deleteAccessToken(owner: OwnerKind, scope: Scope, id: string): Promise<void> {
    const record = await store.getAccessToken(id);
    if (!inScope(record, owner, scope)) throw refused('ERR_NOT_FOUND', 'no such access token in scope');
    await store.revokeAccessToken(id, clock.now());
    liveness.evict((tags) => tags.subject === id);
    log.info({ id, owner, tenantId: scope.tenantId }, 'access token deleted');
  }

  // ---- exchange and refresh ------------------------------------------------------------------

  async function issue(record: ApiTokenRecord, grants: { roles: string[]; permissions: string[] }, familyId: string, now: number, refreshToken: string | undefined): Promise<IssuedTokens> {
    // A JWT never outlives its credential (the liveness check would refuse it anyway; verifiers without it would not).
    const left = record.expiresAt === null ? Infinity : Math.floor((record.expiresAt - now) / 1000);
    const signed = await signer.sign(
      {
        iss: config.issuer,
        aud: config.audience,
        sub: record.clientId,
        type: API_TYPE[record.owner],
        tenantId: record.tenantId,
        ...(record.owner === 'user' ? { userId: record.userId } : {}),
        createdByUserId: record.createdByUserId,
        metadata: record.metadata,
        roles: grants.roles,
        permissions: grants.permissions,
        sid: familyId,
      },
      { expiresInSeconds: Math.max(1, Math.min(config.jwtTtlSeconds, left)) },
    );
    const expiresAt = signed.expiresAt!;
    return { accessToken: signed.token, refreshToken, expiresInSeconds: expiresAt - signed.issuedAt, expiresAt: expiresAt * 1000 };
  }

  function nextRefresh(familyId: string, clientId: string, now: number): { token: string; record: RefreshTokenRecord } {
    const token = generateSecret();
    return {
      token,
      record: { hash: hasher.hash(token), familyId, clientId, createdAt: now, expiresAt: now + refreshTtlMs, usedAt: null, revokedAt: null },
    };
  }

  /**
   * The one check of a client's credentials, for the exchange and for every OAuth route where the
   * client authenticates (RFC 6749 §2.3.1, §6; RFC 7009 §2.1): rate-limited per peer and per
   * (clientId, peer) failures (case 29); always one HMAC and one constant-time compare, against a
   * dummy for an unknown client (cases 26, 34); unknown, wrong, revoked and expired are one error.
   */
  async function authenticate(credentials: { readonly clientId: string; readonly secret: string }, caller: Caller): Promise<ApiTokenRecord> {
    requireEnabled('apiTokens');
    const key = { clientId: String(credentials.clientId), peer: caller.peer };
    rateLimiter.admit(key);
    const record = await store.getApiToken(key.clientId);
    const secretOk = hasher.verify(String(credentials.secret), record?.secretHash);
    if (record === undefined || !secretOk || !isAlive(record, clock.now())) {
      rateLimiter.recordFailure(key);
      log.info({ clientId: record === undefined ? undefined : record.clientId, reason: record === undefined ? 'unknown' : secretOk ? 'not alive' : 'secret' }, 'client authentication refused');
      throw refused('ERR_TOKEN_INVALID_CLIENT', 'unknown, wrong, revoked or expired client');
    }
    return record;
  }

  /** A new refresh family for a client that passed `authenticate`, and its first JWT (and refresh token, when asked and enabled). */
  async function startFamily(record: ApiTokenRecord, withRefresh: boolean): Promise<{ tokens: IssuedTokens; familyId: string }> {
    const now = clock.now();
    const grants = await apiGrants(record);
    // SPEC §4.4: removing the user from the tenant stops the user's tokens.
    if (grants === undefined) throw refused('ERR_TOKEN_INVALID_CLIENT', 'no membership');
    const familyId = generateId();
    // A deliberate deviation from RFC 6749 §4.4.3 for Frontegg compatibility (SPEC §3), switchable off.
    const next = withRefresh && config.refreshTokens.enabled ? nextRefresh(familyId, record.clientId, now) : undefined;
    // One transaction (one commit) for the family and its first token.
    await store.startRefreshFamily({ id: familyId, clientId: record.clientId, createdAt: now, revokedAt: null }, next?.record ?? null, maxRefresh);
    log.info({ clientId: record.clientId, familyId, ...(withRefresh ? {} : { edge: true }) }, 'exchange');
    return { tokens: await issue(record, grants, familyId, now, next?.token), familyId };
  }

  async function exchange(credentials: { readonly clientId: string; readonly secret: string }, caller: Caller): Promise<IssuedTokens> {
    return (await startFamily(await authenticate(credentials, caller), true)).tokens;
  }

  /**
   * The exchange of the token endpoint, for the proxy: the same check, limits and grants, and a
   * JWT of a family of its own, but no refresh token (no one would hold it, and it would push the
   * client's own refresh tokens out of the per-credential cap).
   */
  async function mintAtEdge(credentials: { readonly clientId: string; readonly secret: string }, caller: Caller) {
    const record = await authenticate(credentials, caller);
    const { tokens, familyId } = await startFamily(record, false);
    return { tokens, tags: { subject: record.clientId, familyId, tenantId: record.tenantId, userId: record.userId ?? undefined } };
  }

  async function exchangeAtEdge(credentials: { readonly clientId: string; readonly secret: string }, caller: Caller): Promise<IssuedTokens> {
    try {
      return await edge.exchange(credentials, caller);
    } catch (err) {
      // SPEC §3: a disabled kind is 401 at the proxy, the same answer as a wrong secret.
      if (isGatewayError(err) && err.code === 'ERR_TOKEN_KIND_DISABLED') throw refused('ERR_TOKEN_INVALID_CLIENT', 'api tokens are disabled');
      throw err;
    }
  }

  async function refresh(input: { readonly refreshToken: string; readonly clientId?: string }, caller: Caller): Promise<IssuedTokens> {
    requireEnabled('apiTokens');
    const grantError = (detail: string) => refused('ERR_TOKEN_INVALID_GRANT', detail);
    if (!config.refreshTokens.enabled) throw grantError('refresh tokens are disabled');
    const presented = String(input.refreshToken);
    const fingerprint = tokenFingerprint(presented);
    const hash = hasher.hash(presented);
    const current = await store.getRefreshToken(hash);
    if (current === undefined) throw grantError('unknown refresh token');
    // Case 31 (RFC 6749 §6, §10.4): another client's token is refused and left untouched.
    if (input.clientId !== undefined && input.clientId !== current.clientId) {
      log.warn({ token: fingerprint, peer: caller.peer }, 'refresh token presented by another client');
      throw grantError('client mismatch');
    }
    const now = clock.now();
    const record = await store.getApiToken(current.clientId);
    // Checked before rotating, so a token of a suspended membership works again once it is restored.
    const grants = record !== undefined && isAlive(record, now) ? await apiGrants(record) : undefined;
    if (record === undefined || grants === undefined) throw grantError('credential or membership gone');
    const next = nextRefresh(current.familyId, current.clientId, now);
    const result = await store.rotateRefreshToken(hash, next.record, maxRefresh, now);
    if (result.outcome === 'reused') {
      // RFC 9700 §4.14.2: a second use means theft; the store revoked the whole family, and its JWTs die now.
      liveness.evict((tags) => tags.familyId === result.familyId);
      log.warn({ clientId: result.clientId, familyId: result.familyId, token: fingerprint }, 'refresh token reuse: family revoked');
      throw grantError('reused');
    }
    if (result.outcome !== 'rotated') throw grantError(result.outcome);
    return issue(record, grants, current.familyId, now, next.token);
  }

  // ---- revocation, introspection -------------------------------------------------------------

  async function revokeFamily(familyId: string): Promise<void> {
    await store.revokeRefreshFamily(familyId, clock.now());
    liveness.evict((tags) => tags.familyId === familyId);
  }

  async function revoke(token: string, clientId?: string): Promise<void> {
    const presented = String(token);
    const found = await store.getRefreshToken(hasher.hash(presented));
    if (found !== undefined) {
      // RFC 7009 §2.1: another client's token is not revoked, and the answer is the same 200.
      if (clientId === undefined || clientId === found.clientId) await revokeFamily(found.familyId);
      return;
    }
    const own = await verifyOwn(presented);
    const sid = own?.identity.sessionId;
    if (own === undefined || sid === undefined || credentialOf(own.identity.tokenType) !== 'api') return;
    if (clientId !== undefined && clientId !== own.identity.subject) return;
    const family = await store.getRefreshFamily(sid);
    if (family !== undefined && family.clientId === own.identity.subject) await revokeFamily(sid);
  }

  async function introspect(token: string): Promise<Introspection> {
    const inactive: Introspection = Object.freeze({ active: false });
    const presented = String(token);
    const now = clock.now();
    const found = await store.getRefreshToken(hasher.hash(presented));
    if (found !== undefined) {
      if (!config.refreshTokens.enabled || found.usedAt !== null || found.revokedAt !== null || found.expiresAt <= now) return inactive;
      const family = await store.getRefreshFamily(found.familyId);
      const record = await store.getApiToken(found.clientId);
      if (family?.revokedAt !== null || record === undefined || !isAlive(record, now) || !config.apiTokens.enabled) return inactive;
      if ((await apiGrants(record)) === undefined) return inactive;
      return {
        active: true,
        client_id: found.clientId,
        sub: found.clientId,
        exp: Math.floor(found.expiresAt / 1000),
        iat: Math.floor(found.createdAt / 1000),
        token_type: 'refresh_token',
      };
    }
    const own = await verifyOwn(presented);
    if (own === undefined) return inactive;
    let identity: Identity;
    try {
      identity = await checkLive(own.identity);
    } catch (err) {
      if (err instanceof GatewayError && err.code === 'ERR_AUTH_REVOKED') return inactive;
      throw err;
    }
    return {
      active: true,
      client_id: identity.subject,
      sub: identity.subject,
      ...(identity.expiresAtMs === undefined ? {} : { exp: identity.expiresAtMs / 1000 }),
      iat: own.iat,
      token_type: 'access_token',
      tenantId: identity.tenantId,
      ...(identity.permissions.length === 0 ? {} : { scope: identity.permissions.join(' ') }),
    };
  }

  // ---- liveness ------------------------------------------------------------------------------

  async function checkLive(identity: Identity, claims?: { readonly sid?: string }): Promise<Identity> {
    // Only our own tokens have records; another issuer's identity is that issuer's business.
    if (identity.issuer !== config.name) return identity;
    return liveness.check(identity, claims?.sid ?? identity.sessionId);
  }

  return Object.freeze({
    createUserApiToken: (scope: Required<Scope>, input: CreateApiTokenInput) => createApiToken('user', scope, input),
    createTenantApiToken: (scope: Scope, input: CreateApiTokenInput) => createApiToken('tenant', scope, input),
    async listApiTokens(owner: OwnerKind, scope: Scope): Promise<ApiTokenRecord[]> {
      requireEnabled('apiTokens');
      return store.listApiTokens({ owner, tenantId: scope.tenantId, ...(owner === 'user' && scope.userId !== undefined ? { userId: scope.userId } : {}) });
    },
    updateTenantApiToken,
    deleteApiToken,
    createUserAccessToken: (scope: Required<Scope>, input: CreateAccessTokenInput) => createAccessToken('user', scope, input),
    createTenantAccessToken: (scope: Scope, input: CreateAccessTokenInput) => createAccessToken('tenant', scope, input),
    async listAccessTokens(owner: OwnerKind, scope: Scope): Promise<AccessTokenRecord[]> {
      requireEnabled('accessTokens');
      return store.listAccessTokens({ owner, tenantId: scope.tenantId, ...(owner === 'user' && scope.userId !== undefined ? { userId: scope.userId } : {}) });
    },
    deleteAccessToken,
    async activeAccessTokenIds(owner: OwnerKind): Promise<string[]> {
      // A disabled kind cannot be used (SPEC §3). Frontegg answers both vendor-only lookups with
      // 403 "Api tokens are disabled", and its Node SDK refuses the token on exactly that answer;
      // on any other failure of the `{id}` lookup the SDK has no status to send.
      requireEnabled('accessTokens');
      const now = clock.now();
      const ids = await store.listActiveAccessTokenIds(owner, now);
      if (owner === 'tenant') return ids;
      // A user's token stops with the membership (SPEC §4.4), so it is not active either.
      const active: string[] = [];
      for (const id of ids) if ((await accessGrants(await store.getAccessToken(id), owner, now)) !== undefined) active.push(id);
      return active;
    },
    async accessTokenInfo(owner: OwnerKind, id: string): Promise<AccessTokenInfo | undefined> {
      requireEnabled('accessTokens');
      const record = await store.getAccessToken(id);
      const grants = await accessGrants(record, owner, clock.now());
      if (record === undefined || grants === undefined) return undefined;
      return { id: record.id, ...vendorView(record, grants) };
    },
    async apiTokenInfo(owner: OwnerKind, clientId: string, familyId: string): Promise<ApiTokenInfo | undefined> {
      // Refused like the access-token lookups while the kind is off, so a sidecar refuses the token too.
      requireEnabled('apiTokens');
      const live = await liveApiToken(owner, clientId, familyId, clock.now());
      if (live === undefined) return undefined;
      return { clientId: live.record.clientId, ...vendorView(live.record, live.grants) };
    },
    async authenticateClient(credentials: { readonly clientId: string; readonly secret: string }, caller: Caller): Promise<AuthenticatedClient> {
      const record = await authenticate(credentials, caller);
      return Object.freeze({ clientId: record.clientId });
    },
    exchange,
    exchangeAtEdge,
    refresh,
    revoke,
    introspect,
    checkLive,
    liveness,
  });
}
