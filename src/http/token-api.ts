import type { IncomingMessage, ServerResponse } from 'node:http';
import { decodeBasicCredentials } from '../auth/basic.js';
import type { CompiledTokenService } from '../config/types.js';
import { errorBody, GatewayError, isGatewayError, type ErrorCode } from '../errors.js';
import type { Logger } from '../log.js';
import type { AccessTokenRecord, ApiTokenRecord, MembershipRecord, TenantRecord } from '../store/types.js';
import type { KeyManager } from '../tokens/keys.js';
import type { Directory, IssuedTokens, Scope, TokenService } from '../tokens/types.js';
import type { VendorTokens } from '../tokens/vendor.js';
import { parseForm, parseJsonObject, readBody, type FieldSpec } from './body.js';

export interface TokenApiDeps {
  readonly tokenService: TokenService;
  readonly directory: Directory;
  readonly vendorTokens: VendorTokens;
  readonly keys: Pick<KeyManager, 'jwks' | 'publicKeyPem'>;
  readonly log: Logger;
}

export interface TokenApi {
  /** Whether the path belongs to the token API (then it answers, whatever the method). */
  claims(url: string): boolean;
  /** Answers the request; never throws. */
  handle(req: IncomingMessage, res: ServerResponse): Promise<void>;
}

/** Path prefixes the token service owns; the proxy never forwards them when it is on. */
const PREFIXES = ['/auth/vendor', '/identity/', '/oauth/', '/.well-known/', '/m2m/'];
/** Ids in paths and scope headers: what our ids and Frontegg's UUIDs look like, nothing that can smuggle. */
const ID = /^[A-Za-z0-9._:@-]{1,128}$/;

type Shape = 'frontegg' | 'oauth';
type Params = Record<string, string>;
type Handler = (req: IncomingMessage, params: Params) => Promise<Reply>;

interface Reply {
  readonly status: number;
  readonly body?: unknown;
  /** Extra headers (e.g. a cacheable JWKS); the default is no-store. */
  readonly headers?: Readonly<Record<string, string>>;
}

interface Route {
  readonly method: string;
  readonly segments: readonly string[];
  readonly shape: Shape;
  readonly handler: Handler;
}

/** RFC 6749 §5.2 error names, by code. */
const OAUTH_ERROR: Partial<Record<ErrorCode, string>> = {
  ERR_TOKEN_INVALID_CLIENT: 'invalid_client',
  ERR_TOKEN_INVALID_GRANT: 'invalid_grant',
  ERR_TOKEN_INVALID_REQUEST: 'invalid_request',
  ERR_TOKEN_UNSUPPORTED_GRANT: 'unsupported_grant_type',
  ERR_TOKEN_INVALID_SCOPE: 'invalid_scope',
  ERR_VALIDATION: 'invalid_request',
  ERR_REQUEST_TOO_LARGE: 'invalid_request',
  ERR_REQUEST_INVALID: 'invalid_request',
  ERR_TOKEN_RATE_LIMITED: 'invalid_request',
  ERR_TOKEN_KIND_DISABLED: 'unauthorized_client',
  ERR_VENDOR_UNAUTHORIZED: 'invalid_client',
};

const USER_TOKEN_FIELDS: FieldSpec = { description: 'nullableString', metadata: 'object', expiresInMinutes: 'positiveInteger' };
const TENANT_TOKEN_FIELDS: FieldSpec = { ...USER_TOKEN_FIELDS, roleIds: 'stringArray', permissionIds: 'stringArray' };
const TENANT_TOKEN_PATCH: FieldSpec = { description: 'nullableString', metadata: 'object', roleIds: 'stringArray', permissionIds: 'stringArray' };
const USER_ACCESS_FIELDS: FieldSpec = { description: 'nullableString', expiresInMinutes: 'positiveInteger' };
const TENANT_ACCESS_FIELDS: FieldSpec = { ...USER_ACCESS_FIELDS, roleIds: 'stringArray' };
const CREDENTIAL_FIELDS: FieldSpec = { clientId: 'string', secret: 'string' };
const REFRESH_FIELDS: FieldSpec = { refreshToken: 'string' };
const MEMBERSHIP_FIELDS: FieldSpec = { roleIds: 'stringArray' };

/**
 * The token service's HTTP API (SPEC §4): Frontegg's routes with their field names, status codes
 * and `{"errors":[…]}` bodies; the OAuth routes with RFC 6749/7009/7662/8414 shapes; the
 * directory routes of our own. Thin: every decision is the token service's or the directory's.
 * Every response is `no-store` (RFC 6749 §5.1) unless it is public key material.
 */
export function createTokenApi(options: Pick<CompiledTokenService, 'issuer' | 'refreshTokens'> & { readonly realm: string }, deps: TokenApiDeps): TokenApi {
  const { tokenService: service, directory, vendorTokens, keys } = deps;
  const log = deps.log.child({ component: 'token-api' });
  const routes: Route[] = [];
  const add = (method: string, path: string, shape: Shape, handler: Handler) => routes.push({ method, segments: path.split('/'), shape, handler });

  /** Management routes need a vendor token (SPEC §4: `Authorization: Bearer` or `x-access-token`). */
  const vendor = (handler: Handler): Handler => async (req, params) => {
    await vendorTokens.verify(vendorTokenOf(req));
    return handler(req, params);
  };

  // §4.1 Environment authentication.
  add('POST', '/auth/vendor', 'frontegg', async (req) => {
    const body = await json(req, CREDENTIAL_FIELDS, ['clientId', 'secret']);
    return { status: 200, body: await vendorTokens.issue({ clientId: body.clientId as string, secret: body.secret as string }, callerOf(req)) };
  });

  // §4.2 Exchange and refresh, Frontegg v1 (camelCase) and v2 (snake_case).
  for (const version of ['v1', 'v2'] as const) {
    const shape = version === 'v1' ? camelTokens : snakeTokens;
    add('POST', `/identity/resources/auth/${version}/api-token`, 'frontegg', async (req) => {
      const body = await json(req, CREDENTIAL_FIELDS, ['clientId', 'secret']);
      const issued = await service.exchange({ clientId: body.clientId as string, secret: body.secret as string }, callerOf(req));
      return { status: 200, body: shape(issued) };
    });
    add('POST', `/identity/resources/auth/${version}/api-token/token/refresh`, 'frontegg', async (req) => {
      const body = await json(req, REFRESH_FIELDS, ['refreshToken']);
      return { status: 200, body: shape(await service.refresh({ refreshToken: body.refreshToken as string }, callerOf(req))) };
    });
  }

  // OAuth 2.0 (RFC 6749 §4.4, §6; RFC 7009; RFC 7662).
  add('POST', '/oauth/token', 'oauth', async (req) => {
    const { params, client } = await oauthRequest(req);
    const grant = params.get('grant_type');
    if (grant === undefined) throw oauthError('ERR_TOKEN_INVALID_REQUEST', 'grant_type is required');
    if (grant !== 'client_credentials' && grant !== 'refresh_token') throw oauthError('ERR_TOKEN_UNSUPPORTED_GRANT');
    // We grant no scopes: any requested scope is beyond the client's allowance (case 30, 33).
    if (params.has('scope')) throw oauthError('ERR_TOKEN_INVALID_SCOPE');
    const credentials = clientCredentials(client);
    let issued: IssuedTokens;
    if (grant === 'client_credentials') {
      issued = await withClientChallenge(client, service.exchange(credentials, callerOf(req)));
    } else {
      // RFC 6749 §6: a confidential client authenticates to refresh, and every client here has a
      // secret. The refresh token alone is enough only on Frontegg's own refresh routes.
      const { clientId } = await withClientChallenge(client, service.authenticateClient(credentials, callerOf(req)));
      const refreshToken = params.get('refresh_token');
      if (refreshToken === undefined) throw oauthError('ERR_TOKEN_INVALID_REQUEST', 'refresh_token is required');
      issued = await service.refresh({ refreshToken, clientId }, callerOf(req));
    }
    const body: Record<string, unknown> = { access_token: issued.accessToken, token_type: 'Bearer', expires_in: issued.expiresInSeconds };
    // Deliberate deviation from RFC 6749 §4.4.3 (SPEC §3): Frontegg clients expect a refresh token;
    // `tokenService.refreshTokens.enabled: false` turns it off.
    if (issued.refreshToken !== undefined) body.refresh_token = issued.refreshToken;
    return { status: 200, body };
  });
  add('POST', '/oauth/revoke', 'oauth', async (req) => {
    const { params, client } = await oauthRequest(req);
    // RFC 7009 §2.1: the client authenticates, with its secret; case 35: an unauthenticated call
    // is 401, and a revoked credential cannot revoke either.
    const { clientId } = await withClientChallenge(client, service.authenticateClient(clientCredentials(client), callerOf(req)));
    const token = params.get('token');
    if (token === undefined) throw oauthError('ERR_TOKEN_INVALID_REQUEST', 'token is required');
    // §2.2: unknown and invalid tokens are answered 200 like revoked ones.
    await service.revoke(token, clientId);
    return { status: 200 };
  });
  add('POST', '/oauth/introspect', 'oauth', async (req) => {
    // RFC 7662 §2.1: the endpoint is protected; here by the vendor token.
    try {
      await vendorTokens.verify(vendorTokenOf(req));
    } catch {
      throw oauthError('ERR_TOKEN_INVALID_CLIENT', 'vendor token required', { challenge: 'Bearer' });
    }
    const { params } = await oauthRequest(req, false);
    const token = params.get('token');
    if (token === undefined) throw oauthError('ERR_TOKEN_INVALID_REQUEST', 'token is required');
    return { status: 200, body: await service.introspect(token) };
  });

  // Keys and discovery (RFC 7517, RFC 8414).
  const publicKeys = { 'cache-control': 'public, max-age=60' };
  add('GET', '/.well-known/jwks.json', 'frontegg', async () => ({ status: 200, body: keys.jwks(), headers: publicKeys }));
  const metadata = () => ({
    issuer: options.issuer,
    token_endpoint: `${options.issuer}/oauth/token`,
    jwks_uri: `${options.issuer}/.well-known/jwks.json`,
    revocation_endpoint: `${options.issuer}/oauth/revoke`,
    introspection_endpoint: `${options.issuer}/oauth/introspect`,
    // RFC 8414 §2 requires the member; there is no authorization endpoint, so no response type.
    response_types_supported: [],
    grant_types_supported: options.refreshTokens.enabled ? ['client_credentials', 'refresh_token'] : ['client_credentials'],
    token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
    revocation_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
    introspection_endpoint_auth_methods_supported: ['bearer'],
  });
  add('GET', '/.well-known/openid-configuration', 'frontegg', async () => ({ status: 200, body: metadata(), headers: publicKeys }));
  add('GET', '/.well-known/oauth-authorization-server', 'frontegg', async () => ({ status: 200, body: metadata(), headers: publicKeys }));
  add('GET', '/identity/resources/configurations/v1', 'frontegg', vendor(async () => ({ status: 200, body: { publicKey: keys.publicKeyPem() } })));

  // §4.3 Client-credentials tokens.
  const userApi = '/identity/resources/users/api-tokens/v1';
  add('POST', userApi, 'frontegg', vendor(async (req) => {
    const scope = userScope(req);
    const body = await json(req, USER_TOKEN_FIELDS);
    const created = await service.createUserApiToken(scope, body);
    return { status: 201, body: { ...userApiTokenView(created.record), secret: created.secret } };
  }));
  add('GET', userApi, 'frontegg', vendor(async (req) => ({ status: 200, body: (await service.listApiTokens('user', userScope(req))).map(userApiTokenView) })));
  add('DELETE', `${userApi}/:id`, 'frontegg', vendor(async (req, p) => {
    await service.deleteApiToken('user', userScope(req), p.id!);
    return { status: 204 };
  }));
  add('POST', '/identity/resources/tenants/api-tokens/v2', 'frontegg', vendor(async (req) => {
    const scope = tenantScope(req);
    const body = await json(req, TENANT_TOKEN_FIELDS);
    const created = await service.createTenantApiToken(scope, { ...body, createdByUserId: scope.userId });
    return { status: 201, body: { ...tenantApiTokenView(created.record), secret: created.secret } };
  }));
  const tenantApi = '/identity/resources/tenants/api-tokens/v1';
  add('GET', tenantApi, 'frontegg', vendor(async (req) => ({ status: 200, body: (await service.listApiTokens('tenant', tenantScope(req))).map(tenantApiTokenView) })));
  add('PATCH', `${tenantApi}/:id`, 'frontegg', vendor(async (req, p) => {
    const scope = tenantScope(req);
    const body = await json(req, TENANT_TOKEN_PATCH);
    return { status: 200, body: tenantApiTokenView(await service.updateTenantApiToken(scope, p.id!, body)) };
  }));
  add('DELETE', `${tenantApi}/:id`, 'frontegg', vendor(async (req, p) => {
    await service.deleteApiToken('tenant', tenantScope(req), p.id!);
    return { status: 204 };
  }));

  // This gateway's extension of Frontegg's vendor-only lookups: one refresh family (`sid`) of a
  // client-credentials token, asked by sidecars that cannot read the store.
  for (const owner of ['user', 'tenant'] as const) {
    add('GET', `/identity/resources/vendor-only/${owner}s/api-tokens/v1/:clientId/sessions/:sid`, 'frontegg', vendor(async (_req, p) => {
      const info = await service.apiTokenInfo(owner, p.clientId!, p.sid!);
      if (info === undefined) throw new GatewayError('ERR_NOT_FOUND');
      return { status: 200, body: info };
    }));
  }

  // §4.3 Access tokens: the JWT is returned once, in `secret`.
  for (const owner of ['user', 'tenant'] as const) {
    const base = `/identity/resources/${owner}s/access-tokens/v1`;
    const scopeOf = owner === 'user' ? userScope : tenantScope;
    add('POST', base, 'frontegg', vendor(async (req) => {
      const scope = scopeOf(req);
      const body = await json(req, owner === 'user' ? USER_ACCESS_FIELDS : TENANT_ACCESS_FIELDS);
      const created =
        owner === 'user'
          ? await service.createUserAccessToken(scope as Required<Scope>, body)
          : await service.createTenantAccessToken(scope, { ...body, createdByUserId: scope.userId });
      return { status: 201, body: { ...accessTokenView(created.record), secret: created.jwt } };
    }));
    add('GET', base, 'frontegg', vendor(async (req) => ({ status: 200, body: (await service.listAccessTokens(owner, scopeOf(req))).map(accessTokenView) })));
    add('DELETE', `${base}/:id`, 'frontegg', vendor(async (req, p) => {
      await service.deleteAccessToken(owner, scopeOf(req), p.id!);
      return { status: 204 };
    }));
    const vendorOnly = `/identity/resources/vendor-only/${owner}s/access-tokens/v1`;
    add('GET', `${vendorOnly}/active`, 'frontegg', vendor(async () => ({ status: 200, body: await service.activeAccessTokenIds(owner) })));
    add('GET', `${vendorOnly}/:id`, 'frontegg', vendor(async (_req, p) => {
      const info = await service.accessTokenInfo(owner, p.id!);
      if (info === undefined) throw new GatewayError('ERR_NOT_FOUND');
      return { status: 200, body: info };
    }));
  }

  // §4.4 Directory.
  const tenants = '/m2m/v1/tenants';
  add('GET', tenants, 'frontegg', vendor(async () => ({ status: 200, body: (await directory.listTenants()).map(tenantView) })));
  add('PUT', `${tenants}/:tenantId`, 'frontegg', vendor(async (req, p) => {
    await json(req, {});
    return { status: 200, body: tenantView(await directory.putTenant(p.tenantId!)) };
  }));
  add('GET', `${tenants}/:tenantId`, 'frontegg', vendor(async (_req, p) => ({ status: 200, body: tenantView(found(await directory.getTenant(p.tenantId!))) })));
  add('DELETE', `${tenants}/:tenantId`, 'frontegg', vendor(async (_req, p) => {
    found((await directory.deleteTenant(p.tenantId!)) || undefined);
    return { status: 204 };
  }));
  add('GET', `${tenants}/:tenantId/users`, 'frontegg', vendor(async (_req, p) => ({ status: 200, body: (await directory.listMemberships(p.tenantId!)).map(membershipView) })));
  add('PUT', `${tenants}/:tenantId/users/:userId`, 'frontegg', vendor(async (req, p) => {
    const body = await json(req, MEMBERSHIP_FIELDS);
    return { status: 200, body: membershipView(await directory.putMembership(p.tenantId!, p.userId!, body.roleIds as string[] | undefined)) };
  }));
  add('GET', `${tenants}/:tenantId/users/:userId`, 'frontegg', vendor(async (_req, p) => ({ status: 200, body: membershipView(found(await directory.getMembership(p.tenantId!, p.userId!))) })));
  add('DELETE', `${tenants}/:tenantId/users/:userId`, 'frontegg', vendor(async (_req, p) => {
    found((await directory.deleteMembership(p.tenantId!, p.userId!)) || undefined);
    return { status: 204 };
  }));

  function match(method: string, path: string): { route: Route; params: Params } | { route: undefined; shape: Shape } {
    const parts = path.split('/');
    let pathMatched = false;
    for (const route of routes) {
      if (route.segments.length !== parts.length) continue;
      const params: Params = {};
      let ok = true;
      for (let i = 0; i < parts.length; i++) {
        const want = route.segments[i]!;
        const got = parts[i]!;
        if (want.startsWith(':')) {
          if (!ID.test(got)) ok = false;
          else params[want.slice(1)] = got;
        } else if (want !== got) ok = false;
        if (!ok) break;
      }
      if (!ok) continue;
      pathMatched = true;
      if (route.method === method) return { route, params };
    }
    return { route: undefined, shape: pathMatched && path.startsWith('/oauth/') ? 'oauth' : 'frontegg' };
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const [path = '/', query] = splitUrl(req.url ?? '/');
    const found = match(req.method ?? 'GET', path);
    const shape = found.route?.shape ?? (path.startsWith('/oauth/') ? 'oauth' : 'frontegg');
    try {
      if (found.route === undefined) throw new GatewayError('ERR_NOT_FOUND', 'no token API route');
      // Credentials never travel in a URL (RFC 6749 §2.3.1; RFC 6750 §2.3; case 27): a query on a
      // POST route is refused before the body is read, and the query is never logged.
      if (found.route.method === 'POST' && query !== undefined) {
        throw shape === 'oauth'
          ? oauthError('ERR_TOKEN_INVALID_REQUEST', 'parameters in the query string')
          : new GatewayError('ERR_VALIDATION', 'query string on a POST', { problems: ['parameters must be in the body, not the query string'] });
      }
      const reply = await found.route.handler(req, found.params);
      send(res, reply.status, reply.body, reply.headers);
    } catch (err) {
      const error = isGatewayError(err) ? err : new GatewayError('ERR_INTERNAL', 'token API handler threw', { cause: err });
      if (error.statusCode >= 500) log.error({ err: error.cause ?? error, code: error.code, detail: error.detail }, 'token API failure');
      else log.debug({ code: error.code, detail: error.detail }, 'token API refusal');
      if (error.statusCode === 413) res.setHeader('connection', 'close');
      if (shape === 'oauth') sendOauthError(res, error, options.realm);
      else sendFronteggError(res, error);
    }
  }

  return Object.freeze({ claims: isTokenApiPath, handle });
}

/** Whether a request target belongs to the token API (then it answers, whatever the method). */
export function isTokenApiPath(url: string): boolean {
  const path = splitUrl(url)[0] ?? '';
  return PREFIXES.some((prefix) => path === prefix || path.startsWith(prefix));
}

function splitUrl(url: string): [string, string | undefined] {
  const at = url.indexOf('?');
  return at === -1 ? [url, undefined] : [url.slice(0, at), url.slice(at + 1)];
}

async function json(req: IncomingMessage, spec: FieldSpec, required: readonly string[] = []): Promise<Record<string, unknown>> {
  return parseJsonObject(req, await readBody(req), spec, required);
}

function callerOf(req: IncomingMessage): { peer: string } {
  // The socket peer, never X-Forwarded-For (case 39): rate limits key on who is really connected.
  return { peer: req.socket.remoteAddress ?? '' };
}

function found<T>(value: T | undefined): T {
  if (value === undefined) throw new GatewayError('ERR_NOT_FOUND');
  return value;
}

/** The vendor token from `Authorization: Bearer` or `x-access-token` (Frontegg's SDKs send the latter). */
function vendorTokenOf(req: IncomingMessage): string {
  const authorization = req.headers.authorization;
  const accessToken = req.headers['x-access-token'];
  let bearer: string | undefined;
  if (authorization !== undefined) {
    const m = /^Bearer +([^ ]+)$/i.exec(authorization);
    if (m === null) throw new GatewayError('ERR_VENDOR_UNAUTHORIZED', 'authorization is not Bearer');
    bearer = m[1];
  }
  if (bearer !== undefined && accessToken !== undefined && bearer !== accessToken) throw new GatewayError('ERR_VENDOR_UNAUTHORIZED', 'two different tokens');
  const token = bearer ?? (typeof accessToken === 'string' ? accessToken : undefined);
  if (token === undefined) throw new GatewayError('ERR_VENDOR_UNAUTHORIZED', 'no vendor token');
  return token;
}

function scopeHeader(req: IncomingMessage, name: string): string {
  const value = req.headers[name];
  if (typeof value !== 'string' || !ID.test(value)) {
    throw new GatewayError('ERR_VALIDATION', `${name} header missing or malformed`, { problems: [`${name} header is required (1-128 characters of A-Z a-z 0-9 . _ : @ -)`] });
  }
  return value;
}

function tenantScope(req: IncomingMessage): Scope {
  const tenantId = scopeHeader(req, 'frontegg-tenant-id');
  return req.headers['frontegg-user-id'] === undefined ? { tenantId } : { tenantId, userId: scopeHeader(req, 'frontegg-user-id') };
}

function userScope(req: IncomingMessage): Required<Scope> {
  return { tenantId: scopeHeader(req, 'frontegg-tenant-id'), userId: scopeHeader(req, 'frontegg-user-id') };
}

interface ClientAuth {
  readonly clientId: string;
  readonly secret: string | undefined;
  readonly basic: boolean;
}

/**
 * Reads an OAuth request: form body only (RFC 6749 §3.2), and the client's credentials from
 * exactly one place — `client_secret_basic` or `client_secret_post` (§2.3.1: "MUST NOT use more
 * than one authentication method in each request"; case 28).
 */
async function oauthRequest(req: IncomingMessage, withClient = true): Promise<{ params: Map<string, string>; client: ClientAuth | undefined }> {
  const params = parseForm(req, await readBody(req));
  if (!withClient) return { params, client: undefined };
  const basic = parseBasic(req.headers.authorization);
  if (basic !== undefined) {
    if (params.has('client_secret') || params.has('client_id')) throw oauthError('ERR_TOKEN_INVALID_REQUEST', 'client credentials in both Basic and the body');
    return { params, client: basic };
  }
  const clientId = params.get('client_id');
  if (clientId === undefined) {
    if (params.has('client_secret')) throw oauthError('ERR_TOKEN_INVALID_REQUEST', 'client_secret without client_id');
    return { params, client: undefined };
  }
  return { params, client: { clientId, secret: params.get('client_secret'), basic: false } };
}

/**
 * `client_secret_basic` (RFC 6749 §2.3.1): id and secret are each form-URL-encoded, then joined by
 * the first colon and base64-encoded (RFC 7617). Anything else in `Authorization` is not a client.
 */
function parseBasic(header: string | undefined): ClientAuth | undefined {
  if (header === undefined) return undefined;
  if (!/^Basic /i.test(header)) throw oauthError('ERR_TOKEN_INVALID_CLIENT', 'Authorization is not Basic', { challenge: 'Basic' });
  const m = /^Basic +(\S+)$/i.exec(header.trim());
  const client = m === null ? undefined : decodeBasicCredentials(m[1]!);
  if (client === undefined) throw oauthError('ERR_TOKEN_INVALID_CLIENT', 'unusable Basic credentials', { challenge: 'Basic' });
  return { ...client, basic: true };
}

/** The client's id and secret, or 401 invalid_client when it sent none or no secret (RFC 6749 §2.3.1). */
function clientCredentials(client: ClientAuth | undefined): { clientId: string; secret: string } {
  // Basic always carries a secret (parseBasic), so this client used no Authorization header: no challenge.
  if (client?.secret === undefined) throw oauthError('ERR_TOKEN_INVALID_CLIENT', 'client authentication is required');
  return { clientId: client.clientId, secret: client.secret };
}

/** A client who used Basic gets `WWW-Authenticate: Basic` on invalid_client (RFC 6749 §5.2; case 26). */
async function withClientChallenge<T>(client: ClientAuth | undefined, pending: Promise<T>): Promise<T> {
  try {
    return await pending;
  } catch (err) {
    if (isGatewayError(err) && err.code === 'ERR_TOKEN_INVALID_CLIENT' && client?.basic === true) {
      throw oauthError('ERR_TOKEN_INVALID_CLIENT', err.detail, { challenge: 'Basic' });
    }
    throw err;
  }
}

const CHALLENGES = new WeakMap<GatewayError, 'Basic' | 'Bearer'>();

function oauthError(code: ErrorCode, detail?: string, options?: { challenge?: 'Basic' | 'Bearer' }): GatewayError {
  const error = new GatewayError(code, detail);
  if (options?.challenge !== undefined) CHALLENGES.set(error, options.challenge);
  return error;
}

const NO_STORE = { 'cache-control': 'no-store', pragma: 'no-cache' };

function send(res: ServerResponse, status: number, body: unknown, headers: Readonly<Record<string, string>> = {}): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  // RFC 6749 §5.1: responses with tokens or secrets are not cached; every token API answer is
  // treated so, except public key material (which passes its own cache-control).
  const all: Record<string, string | number> = { ...NO_STORE, ...headers };
  if (headers['cache-control'] !== undefined) delete all.pragma;
  if (body === undefined) {
    res.writeHead(status, { ...all, 'content-length': 0 });
    res.end();
    return;
  }
  const text = JSON.stringify(body);
  res.writeHead(status, { ...all, 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function retryAfter(err: GatewayError): Record<string, string> {
  return err.retryAfterSeconds === undefined ? {} : { 'retry-after': String(Math.max(1, Math.ceil(err.retryAfterSeconds))) };
}

function sendFronteggError(res: ServerResponse, err: GatewayError): void {
  send(res, err.statusCode, JSON.parse(errorBody(err)), retryAfter(err));
}

function sendOauthError(res: ServerResponse, err: GatewayError, realm: string): void {
  const error = OAUTH_ERROR[err.code] ?? (err.statusCode >= 500 ? (err.statusCode === 503 ? 'temporarily_unavailable' : 'server_error') : 'invalid_request');
  const headers: Record<string, string> = retryAfter(err);
  let status = err.statusCode;
  if (err.code === 'ERR_TOKEN_KIND_DISABLED') status = 400;
  const challenge = CHALLENGES.get(err);
  if (challenge !== undefined) headers['www-authenticate'] = `${challenge} realm="${realm}"`;
  const body: Record<string, string> = { error };
  // Our constant message, never input (errors.ts); problems name the parameter.
  body.error_description = err.problems?.join('; ') ?? err.message;
  send(res, status, body, headers);
}

const iso = (ms: number | null): string | undefined => (ms === null ? undefined : new Date(ms).toISOString());

function camelTokens(t: IssuedTokens) {
  return { accessToken: t.accessToken, refreshToken: t.refreshToken, expiresIn: t.expiresInSeconds, expires: new Date(t.expiresAt).toISOString() };
}

function snakeTokens(t: IssuedTokens) {
  return { access_token: t.accessToken, refresh_token: t.refreshToken, expires_in: t.expiresInSeconds, expires: new Date(t.expiresAt).toISOString() };
}

function userApiTokenView(r: ApiTokenRecord) {
  return { clientId: r.clientId, description: r.description, metadata: r.metadata, createdAt: iso(r.createdAt), expires: iso(r.expiresAt) };
}

function tenantApiTokenView(r: ApiTokenRecord) {
  return {
    clientId: r.clientId,
    description: r.description,
    tenantId: r.tenantId,
    createdByUserId: r.createdByUserId,
    metadata: r.metadata,
    createdAt: iso(r.createdAt),
    roleIds: r.roleIds ?? undefined,
    permissionIds: r.permissionIds ?? undefined,
    expires: iso(r.expiresAt),
  };
}

function accessTokenView(r: AccessTokenRecord) {
  return {
    id: r.id,
    description: r.description,
    tenantId: r.tenantId,
    userId: r.userId ?? undefined,
    createdByUserId: r.createdByUserId,
    roleIds: r.roleIds ?? undefined,
    createdAt: iso(r.createdAt),
    expires: iso(r.expiresAt),
  };
}

function tenantView(r: TenantRecord) {
  return { tenantId: r.id, createdAt: iso(r.createdAt) };
}

function membershipView(r: MembershipRecord) {
  return { tenantId: r.tenantId, userId: r.userId, roleIds: r.roleIds, createdAt: iso(r.createdAt), updatedAt: iso(r.updatedAt) };
}

