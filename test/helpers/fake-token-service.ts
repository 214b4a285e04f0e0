import { randomBytes, randomUUID } from 'node:crypto';
import type { Identity } from '../../src/auth/identity.js';
import type { Clock } from '../../src/clock.js';
import type { CompiledTokenService } from '../../src/config/types.js';
import { GatewayError } from '../../src/errors.js';
import type { AccessTokenRecord, ApiTokenRecord, MembershipRecord, OwnerKind, TenantRecord } from '../../src/store/types.js';
import type { JwtSigner } from '../../src/tokens/signer.js';
import type { Caller, Directory, IssuedTokens, Scope, TokenService } from '../../src/tokens/types.js';

/** What the fake saw, for assertions on what the routes passed through. */
export interface FakeCalls {
  readonly exchanges: { clientId: string; peer: string }[];
  readonly refreshes: { refreshToken: string; clientId: string | undefined }[];
  readonly revokes: { token: string; clientId: string | undefined }[];
}

export interface FakeTokenService {
  readonly tokenService: TokenService;
  readonly directory: Directory;
  readonly calls: FakeCalls;
  readonly apiTokens: Map<string, ApiTokenRecord & { secret: string }>;
  readonly accessTokens: Map<string, AccessTokenRecord>;
  /** The next exchange fails with this error (rate limit, store failure). */
  failNext(err: unknown): void;
}

/**
 * A small in-memory stand-in for the token service (src/tokens/service.ts), exactly to the
 * `TokenService` / `Directory` interface, for testing the routes and the proxy's liveness hook
 * without the real one. JWTs are signed by the real signer, so the proxy verifies them for real.
 */
export function createFakeTokenService(options: { ts: CompiledTokenService; signer: JwtSigner; clock: Clock }): FakeTokenService {
  const { ts, signer, clock } = options;
  const apiTokens = new Map<string, ApiTokenRecord & { secret: string }>();
  const accessTokens = new Map<string, AccessTokenRecord>();
  const refreshTokens = new Map<string, string>();
  const tenants = new Map<string, TenantRecord>();
  const memberships = new Map<string, MembershipRecord>();
  const calls: FakeCalls = { exchanges: [], refreshes: [], revokes: [] };
  let failure: unknown;

  const base = () => ({ iss: ts.issuer, aud: ts.audience });
  const expiry = (minutes: number | undefined) => (minutes === undefined ? null : clock.now() + minutes * 60_000);

  async function issue(record: ApiTokenRecord): Promise<IssuedTokens> {
    const signed = await signer.sign(
      {
        ...base(),
        sub: record.clientId,
        type: record.owner === 'user' ? 'userApiToken' : 'tenantApiToken',
        tenantId: record.tenantId,
        ...(record.userId === null ? {} : { userId: record.userId }),
        createdByUserId: record.createdByUserId,
        roles: record.roleIds ?? [],
        permissions: [],
        metadata: record.metadata,
      },
      { expiresInSeconds: ts.jwtTtlSeconds },
    );
    const refreshToken = randomBytes(16).toString('base64url');
    refreshTokens.set(refreshToken, record.clientId);
    return { accessToken: signed.token, refreshToken, expiresInSeconds: ts.jwtTtlSeconds, expiresAt: signed.expiresAt! * 1000 };
  }

  function createApi(owner: OwnerKind, scope: Scope, input: Parameters<TokenService['createTenantApiToken']>[1]) {
    const clientId = randomUUID();
    const secret = randomBytes(32).toString('base64url');
    const record = {
      clientId,
      owner,
      tenantId: scope.tenantId,
      userId: owner === 'user' ? scope.userId! : null,
      createdByUserId: owner === 'user' ? scope.userId! : (input.createdByUserId ?? null),
      description: input.description ?? null,
      metadata: input.metadata ?? {},
      roleIds: owner === 'tenant' ? (input.roleIds ?? null) : null,
      permissionIds: owner === 'tenant' && input.roleIds === undefined ? (input.permissionIds ?? null) : null,
      secretHash: 'fake',
      createdAt: clock.now(),
      expiresAt: expiry(input.expiresInMinutes),
      revokedAt: null,
    };
    apiTokens.set(clientId, { ...record, secret });
    return { record, secret };
  }

  async function createAccess(owner: OwnerKind, scope: Scope, input: Parameters<TokenService['createTenantAccessToken']>[1]) {
    const id = randomUUID();
    const signed = await signer.sign(
      {
        ...base(),
        sub: id,
        type: owner === 'user' ? 'userAccessToken' : 'tenantAccessToken',
        tenantId: scope.tenantId,
        ...(owner === 'user' ? { userId: scope.userId } : {}),
        roles: input.roleIds ?? [],
        permissions: [],
      },
      { expiresInSeconds: input.expiresInMinutes === undefined ? null : input.expiresInMinutes * 60 },
    );
    const record: AccessTokenRecord = {
      id,
      owner,
      tenantId: scope.tenantId,
      userId: owner === 'user' ? scope.userId! : null,
      createdByUserId: input.createdByUserId ?? null,
      description: input.description ?? null,
      roleIds: input.roleIds ?? null,
      permissionIds: null,
      createdAt: clock.now(),
      expiresAt: expiry(input.expiresInMinutes),
      revokedAt: null,
      kid: signed.kid,
    };
    accessTokens.set(id, record);
    return { record, jwt: signed.token };
  }

  function owned<T extends { owner: OwnerKind; tenantId: string; userId: string | null }>(record: T | undefined, owner: OwnerKind, scope: Scope): T {
    if (record === undefined || record.owner !== owner || record.tenantId !== scope.tenantId || (owner === 'user' && record.userId !== scope.userId)) {
      throw new GatewayError('ERR_NOT_FOUND');
    }
    return record;
  }

  const strip = ({ secret: _secret, ...record }: ApiTokenRecord & { secret: string }): ApiTokenRecord => record;

  const tokenService: TokenService = {
    async createUserApiToken(scope, input) {
      return createApi('user', scope, input);
    },
    async createTenantApiToken(scope, input) {
      return createApi('tenant', scope, input);
    },
    async listApiTokens(owner, scope) {
      return [...apiTokens.values()].filter((r) => r.owner === owner && r.tenantId === scope.tenantId).map(strip);
    },
    async updateTenantApiToken(scope, clientId, patch) {
      const record = owned(apiTokens.get(clientId), 'tenant', scope);
      const updated = { ...record, ...patch };
      apiTokens.set(clientId, updated);
      return strip(updated);
    },
    async deleteApiToken(owner, scope, clientId) {
      owned(apiTokens.get(clientId), owner, scope);
      apiTokens.delete(clientId);
    },
    async createUserAccessToken(scope, input) {
      return createAccess('user', scope, input);
    },
    async createTenantAccessToken(scope, input) {
      return createAccess('tenant', scope, input);
    },
    async listAccessTokens(owner, scope) {
      return [...accessTokens.values()].filter((r) => r.owner === owner && r.tenantId === scope.tenantId);
    },
    async deleteAccessToken(owner, scope, id) {
      owned(accessTokens.get(id), owner, scope);
      accessTokens.delete(id);
    },
    async activeAccessTokenIds(owner) {
      return [...accessTokens.values()].filter((r) => r.owner === owner).map((r) => r.id);
    },
    async accessTokenInfo(owner, id) {
      const r = accessTokens.get(id);
      if (r === undefined || r.owner !== owner) return undefined;
      return { id: r.id, tenantId: r.tenantId, ...(r.userId === null ? {} : { userId: r.userId }), roles: r.roleIds ?? [], permissions: [] };
    },
    async apiTokenInfo(owner, clientId) {
      // The fake keeps no refresh families: any session of a live token is live.
      const r = apiTokens.get(clientId);
      if (r === undefined || r.owner !== owner) return undefined;
      return { clientId: r.clientId, tenantId: r.tenantId, ...(r.userId === null ? {} : { userId: r.userId }), roles: r.roleIds ?? [], permissions: [] };
    },
    async authenticateClient(credentials) {
      const record = apiTokens.get(credentials.clientId);
      if (record === undefined || record.secret !== credentials.secret) throw new GatewayError('ERR_TOKEN_INVALID_CLIENT');
      return { clientId: record.clientId };
    },
    async exchange(credentials, caller: Caller) {
      calls.exchanges.push({ clientId: credentials.clientId, peer: caller.peer });
      if (failure !== undefined) {
        const err = failure;
        failure = undefined;
        throw err;
      }
      const record = apiTokens.get(credentials.clientId);
      if (record === undefined || record.secret !== credentials.secret) throw new GatewayError('ERR_TOKEN_INVALID_CLIENT');
      return issue(strip(record));
    },
    async exchangeAtEdge(credentials, caller: Caller) {
      return tokenService.exchange(credentials, caller);
    },
    async refresh(input) {
      calls.refreshes.push({ refreshToken: input.refreshToken, clientId: input.clientId });
      const clientId = refreshTokens.get(input.refreshToken);
      refreshTokens.delete(input.refreshToken);
      const record = clientId === undefined ? undefined : apiTokens.get(clientId);
      if (record === undefined || (input.clientId !== undefined && input.clientId !== clientId)) throw new GatewayError('ERR_TOKEN_INVALID_GRANT');
      return issue(strip(record));
    },
    async revoke(token, clientId) {
      calls.revokes.push({ token, clientId });
      if (refreshTokens.get(token) === clientId) refreshTokens.delete(token);
    },
    async introspect(token) {
      const clientId = refreshTokens.get(token);
      return clientId === undefined ? { active: false } : { active: true, client_id: clientId };
    },
    async checkLive(identity: Identity) {
      const alive = identity.tokenType.endsWith('AccessToken') ? accessTokens.has(identity.subject) : apiTokens.has(identity.subject);
      if (!alive) throw new GatewayError('ERR_AUTH_REVOKED', 'credential deleted');
      return identity;
    },
  };

  const key = (tenantId: string, userId: string) => `${tenantId}\u0000${userId}`;
  const directory: Directory = {
    async putTenant(tenantId) {
      const record = tenants.get(tenantId) ?? { id: tenantId, createdAt: clock.now() };
      tenants.set(tenantId, record);
      return record;
    },
    getTenant: async (tenantId) => tenants.get(tenantId),
    listTenants: async () => [...tenants.values()],
    deleteTenant: async (tenantId) => tenants.delete(tenantId),
    async putMembership(tenantId, userId, roleIds) {
      const now = clock.now();
      const record = { tenantId, userId, roleIds: [...(roleIds ?? [])], createdAt: memberships.get(key(tenantId, userId))?.createdAt ?? now, updatedAt: now };
      memberships.set(key(tenantId, userId), record);
      return record;
    },
    getMembership: async (tenantId, userId) => memberships.get(key(tenantId, userId)),
    listMemberships: async (tenantId) => [...memberships.values()].filter((m) => m.tenantId === tenantId),
    deleteMembership: async (tenantId, userId) => memberships.delete(key(tenantId, userId)),
    grants: () => ({ roles: [], permissions: [] }),
  };

  return {
    tokenService,
    directory,
    calls,
    apiTokens,
    accessTokens,
    failNext(err: unknown) {
      failure = err;
    },
  };
}
