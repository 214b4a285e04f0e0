import { resolve } from 'node:path';
import { normalizeTarget } from '../proxy/target.js';
import { createAddressMatcher } from './cidr.js';
import { DEFAULTS, IDENTITY_HEADER_KEYS } from './defaults.js';
import { deepFreeze } from '../freeze.js';
import { parseOrigin } from './origin.js';
import { SIGNING_ALGORITHMS, TOKEN_TYPES, isJwksUrl, type Config, type DirectoryConfig, type IssuerConfig, type RouteConfig, type TokenServiceConfig } from './schema.js';
import type {
  CompiledAuthRequirement,
  CompiledConfig,
  CompiledDirectory,
  CompiledIdentityHeaders,
  CompiledIssuer,
  CompiledIssuerLiveness,
  CompiledRole,
  CompiledRoute,
  CompiledStore,
  CompiledTokenService,
} from './types.js';

const SECOND_MS = 1000;

/**
 * Turns a validated configuration (the YAML shape) into the runtime one: every default filled in,
 * durations in the unit their name says, names and hosts lower-cased, sets built, the trusted-proxy
 * predicate compiled, routes in match order, everything deep-frozen so no request can change it.
 *
 * `baseDir` is the directory of the config file: relative JWKS paths are resolved against it, so a
 * config works from whatever directory the gateway is started in. Expects the output of
 * `validateConfig`; an unchecked value can throw `TypeError`.
 */
export function compileConfig(config: Config, baseDir: string): CompiledConfig {
  const server = config.server ?? {};
  const admin = config.admin ?? {};
  const auth = config.auth ?? {};
  const upstream = config.upstream ?? {};
  // Relative paths are relative to the config file, like the JWKS files: the same file works
  // whatever directory the gateway is started from.
  const dataDir = resolve(baseDir, config.dataDir ?? DEFAULTS.dataDir);
  const tokenService = config.tokenService === undefined ? undefined : compileTokenService(config.tokenService);
  const compiled: CompiledConfig = {
    server: {
      host: server.host ?? DEFAULTS.server.host,
      port: server.port ?? DEFAULTS.server.port,
      isTrustedProxy: createAddressMatcher(server.trustedProxies ?? []),
      headersTimeoutMs: server.headersTimeoutMs ?? DEFAULTS.server.headersTimeoutMs,
      requestTimeoutMs: server.requestTimeoutMs ?? DEFAULTS.server.requestTimeoutMs,
      keepAliveTimeoutMs: server.keepAliveTimeoutMs ?? DEFAULTS.server.keepAliveTimeoutMs,
      maxHeaderBytes: server.maxHeaderBytes ?? DEFAULTS.server.maxHeaderBytes,
      maxConnections: server.maxConnections ?? DEFAULTS.server.maxConnections,
      maxBodyBytes: server.maxBodyBytes ?? DEFAULTS.server.maxBodyBytes,
      shutdownTimeoutMs: server.shutdownTimeoutMs ?? DEFAULTS.server.shutdownTimeoutMs,
    },
    admin: { host: admin.host ?? DEFAULTS.admin.host, port: admin.port ?? DEFAULTS.admin.port },
    log: { level: config.log?.level ?? DEFAULTS.log.level },
    reload: { watch: config.reload?.watch ?? DEFAULTS.reload.watch },
    auth: {
      realm: auth.realm ?? DEFAULTS.auth.realm,
      maxTokenBytes: auth.maxTokenBytes ?? DEFAULTS.auth.maxTokenBytes,
      clockToleranceSeconds: auth.clockToleranceSeconds ?? DEFAULTS.auth.clockToleranceSeconds,
      cache: {
        maxEntries: auth.cache?.maxEntries ?? DEFAULTS.auth.cache.maxEntries,
        maxTtlSeconds: auth.cache?.maxTtlSeconds ?? DEFAULTS.auth.cache.maxTtlSeconds,
      },
      negativeCache: {
        maxEntries: auth.negativeCache?.maxEntries ?? DEFAULTS.auth.negativeCache.maxEntries,
        ttlSeconds: auth.negativeCache?.ttlSeconds ?? DEFAULTS.auth.negativeCache.ttlSeconds,
      },
      basicExchange: { forwardJwt: auth.basicExchange?.forwardJwt ?? DEFAULTS.auth.basicExchange.forwardJwt },
    },
    liveness: {
      cacheTtlMs: (config.liveness?.cacheTtlSeconds ?? DEFAULTS.liveness.cacheTtlSeconds) * SECOND_MS,
      maxEntries: config.liveness?.maxEntries ?? DEFAULTS.liveness.maxEntries,
      negativeMaxEntries: config.liveness?.negativeMaxEntries ?? DEFAULTS.liveness.negativeMaxEntries,
    },
    dataDir,
    store: compileStore(config, baseDir, dataDir),
    tokenService,
    directory: compileDirectory(config.directory),
    issuers: [
      ...(tokenService === undefined ? [] : [ownIssuer(tokenService)]),
      ...(config.issuers ?? []).map((issuer) => compileIssuer(issuer, baseDir)),
    ],
    identityHeaders: compileIdentityHeaders(config.identityHeaders),
    upstream: {
      connections: upstream.connections ?? DEFAULTS.upstream.connections,
      connectTimeoutMs: upstream.connectTimeoutMs ?? DEFAULTS.upstream.connectTimeoutMs,
      headersTimeoutMs: upstream.headersTimeoutMs ?? DEFAULTS.upstream.headersTimeoutMs,
      bodyTimeoutMs: upstream.bodyTimeoutMs ?? DEFAULTS.upstream.bodyTimeoutMs,
      keepAliveTimeoutMs: upstream.keepAliveTimeoutMs ?? DEFAULTS.upstream.keepAliveTimeoutMs,
    },
    routes: sortRoutes(config.routes.map((route) => compileRoute(route, auth.basicExchange?.enabled ?? DEFAULTS.auth.basicExchange.enabled))),
  };
  return deepFreeze(compiled);
}

/** Validation has made sure a postgres store has its URL. */
function compileStore(config: Config, baseDir: string, dataDir: string): CompiledStore {
  const store = config.store;
  const path = store?.path !== undefined ? resolve(baseDir, store.path) : resolve(dataDir, DEFAULTS.store.file);
  const driver = store?.driver ?? DEFAULTS.store.driver;
  return driver === 'postgres' ? { driver, path, url: store?.url ?? '' } : { driver, path };
}

function compileTokenService(ts: TokenServiceConfig): CompiledTokenService {
  const d = DEFAULTS.tokenService;
  return {
    name: d.name,
    issuer: ts.issuer,
    audience: ts.audience,
    algorithm: ts.algorithm ?? d.algorithm,
    jwtTtlSeconds: ts.jwtTtlSeconds ?? d.jwtTtlSeconds,
    publishKeysAheadSeconds: ts.publishKeysAheadSeconds ?? d.publishKeysAheadSeconds,
    vendor: { clientId: ts.vendor.clientId, secret: ts.vendor.secret, tokenTtlSeconds: ts.vendor.tokenTtlSeconds ?? d.vendorTokenTtlSeconds },
    secretKey: ts.secretKey,
    keyEncryptionKey: ts.keyEncryptionKey,
    accessTokens: { enabled: ts.accessTokens?.enabled ?? true },
    apiTokens: { enabled: ts.apiTokens?.enabled ?? true },
    refreshTokens: {
      enabled: ts.refreshTokens?.enabled ?? d.refreshTokens.enabled,
      ttlSeconds: ts.refreshTokens?.ttlSeconds ?? d.refreshTokens.ttlSeconds,
      maxPerCredential: ts.refreshTokens?.maxPerCredential ?? d.refreshTokens.maxPerCredential,
    },
    rateLimit: {
      perClientPerMinute: ts.rateLimit?.perClientPerMinute ?? d.rateLimit.perClientPerMinute,
      perPeerPerMinute: ts.rateLimit?.perPeerPerMinute ?? d.rateLimit.perPeerPerMinute,
    },
  };
}

/** The token service as an issuer the proxy trusts, through its keys in-process. */
function ownIssuer(ts: CompiledTokenService): CompiledIssuer {
  // Every algorithm the service can sign with: while an algorithm change rotates keys, the JWKS
  // holds keys of both, and each key stays pinned to its own `alg` by the verifier.
  return { name: ts.name, issuer: ts.issuer, audiences: [ts.audience], algorithms: [...SIGNING_ALGORITHMS], jwks: { kind: 'own' } };
}

function compileDirectory(directory: DirectoryConfig | undefined): CompiledDirectory {
  const roles = new Map<string, CompiledRole>();
  for (const role of directory?.roles ?? []) roles.set(role.id, { id: role.id, key: role.key, permissions: [...(role.permissions ?? [])] });
  return { roles, defaultRoleIds: [...(directory?.defaultRoleIds ?? [])] };
}

function compileIssuer(issuer: IssuerConfig, baseDir: string): CompiledIssuer {
  const { jwks } = issuer;
  return {
    name: issuer.name,
    issuer: issuer.issuer,
    audiences: typeof issuer.audience === 'string' ? [issuer.audience] : [...issuer.audience],
    algorithms: [...issuer.algorithms],
    jwks: isJwksUrl(jwks)
      ? {
          kind: 'url',
          url: jwks.url,
          cacheTtlMs: (jwks.cacheTtlSeconds ?? DEFAULTS.jwksUrl.cacheTtlSeconds) * SECOND_MS,
          refreshBeforeMs: (jwks.refreshBeforeSeconds ?? DEFAULTS.jwksUrl.refreshBeforeSeconds) * SECOND_MS,
          cooldownMs: (jwks.cooldownSeconds ?? DEFAULTS.jwksUrl.cooldownSeconds) * SECOND_MS,
          maxStaleMs: (jwks.maxStaleSeconds ?? DEFAULTS.jwksUrl.maxStaleSeconds) * SECOND_MS,
          timeoutMs: jwks.timeoutMs ?? DEFAULTS.jwksUrl.timeoutMs,
        }
      : { kind: 'file', file: resolve(baseDir, jwks.file) },
    ...(issuer.liveness === undefined ? {} : { liveness: compileIssuerLiveness(issuer.liveness) }),
  };
}

function compileIssuerLiveness(liveness: NonNullable<IssuerConfig['liveness']>): CompiledIssuerLiveness {
  if ('postgres' in liveness) return { kind: 'postgres', url: liveness.postgres.url };
  const api = liveness.issuerApi;
  return { kind: 'issuerApi', url: api.url.replace(/\/+$/, ''), clientId: api.clientId, secret: api.secret, timeoutMs: api.timeoutMs ?? DEFAULTS.issuerApi.timeoutMs };
}

function compileIdentityHeaders(identity: Config['identityHeaders']): CompiledIdentityHeaders {
  const configured = identity?.names ?? {};
  const names = Object.fromEntries(
    IDENTITY_HEADER_KEYS.map((key) => [key, configured[key]?.toLowerCase() ?? DEFAULTS.identityHeaders.names[key]]),
  ) as Record<(typeof IDENTITY_HEADER_KEYS)[number], string>;
  return {
    prefix: (identity?.prefix ?? DEFAULTS.identityHeaders.prefix).toLowerCase(),
    // The injected names are always stripped from inbound requests, whatever the prefix: a client
    // must never be able to pre-set a header the upstream takes as the gateway's word.
    strip: new Set([...Object.values(names), ...(identity?.strip ?? []).map((name) => name.toLowerCase())]),
    arrayFormat: identity?.arrayFormat ?? DEFAULTS.identityHeaders.arrayFormat,
    names,
  };
}

function compileRoute(route: RouteConfig, basicByDefault: boolean): CompiledRoute {
  return {
    name: route.name,
    pathPrefix: route.pathPrefix,
    host: route.host?.toLowerCase(),
    methods: route.methods === undefined ? undefined : new Set(route.methods.map((m) => m.toUpperCase())),
    upstream: originOf(route.upstream),
    auth: route.auth === 'none' ? null : compileAuth(route.auth, basicByDefault),
    forwardCredentials: route.forwardCredentials ?? false,
    websocket: route.websocket === undefined ? undefined : { allowedOrigins: new Set((route.websocket.allowedOrigins ?? []).map(originOf)) },
  };
}

function compileAuth(auth: Exclude<RouteConfig['auth'], 'none'>, basicByDefault: boolean): CompiledAuthRequirement {
  return {
    tokenTypes: new Set(auth.tokenTypes ?? TOKEN_TYPES),
    issuers: auth.issuers === undefined ? undefined : new Set(auth.issuers),
    anyRole: auth.anyRole === undefined ? undefined : [...auth.anyRole],
    allRoles: auth.allRoles === undefined ? undefined : [...auth.allRoles],
    anyPermission: auth.anyPermission === undefined ? undefined : [...auth.anyPermission],
    allPermissions: auth.allPermissions === undefined ? undefined : [...auth.allPermissions],
    tenants: auth.tenants === undefined ? undefined : new Set(auth.tenants),
    basic: auth.basic ?? basicByDefault,
  };
}

function originOf(text: string): string {
  const result = parseOrigin(text);
  if (!result.ok) throw new TypeError(`Not an origin: ${JSON.stringify(text)} ${result.reason}`);
  return result.origin;
}

/**
 * Match order (SPEC §5): the longest prefix first, compared as the matcher compares them
 * (normalised, without a trailing `/`); at equal length a host-specific route before an any-host
 * one; otherwise config order (the sort is stable).
 */
function sortRoutes(routes: readonly CompiledRoute[]): CompiledRoute[] {
  const length = (route: CompiledRoute) => normalizeTarget(route.pathPrefix).matchPath.replace(/\/$/, '').length;
  return routes
    .map((route) => ({ route, length: length(route), anyHost: route.host === undefined ? 1 : 0 }))
    .sort((a, b) => b.length - a.length || a.anyHost - b.anyHost)
    .map(({ route }) => route);
}
