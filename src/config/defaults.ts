import { deepFreeze } from '../freeze.js';

/**
 * The value of every optional setting, in the YAML's units. `compileConfig` fills them in;
 * `validateConfig` reads them where a check compares a setting with another that may be left out
 * (ports, timeouts, identity header names). The schema descriptions state the same numbers for
 * editors, so change both together.
 */
export const DEFAULTS = deepFreeze({
  server: {
    host: '0.0.0.0',
    port: 8080,
    headersTimeoutMs: 10_000,
    requestTimeoutMs: 30_000,
    keepAliveTimeoutMs: 5_000,
    maxHeaderBytes: 16_384,
    maxConnections: 10_000,
    maxBodyBytes: 10_485_760,
    shutdownTimeoutMs: 10_000,
  },
  admin: { host: '127.0.0.1', port: 9090 },
  log: { level: 'info' },
  reload: { watch: true },
  auth: {
    realm: 'm2m-gateway',
    maxTokenBytes: 8192,
    clockToleranceSeconds: 30,
    cache: { maxEntries: 10_000, maxTtlSeconds: 300 },
    negativeCache: { maxEntries: 1000, ttlSeconds: 10 },
    basicExchange: { enabled: false, forwardJwt: false },
  },
  jwksUrl: {
    cacheTtlSeconds: 600,
    refreshBeforeSeconds: 60,
    cooldownSeconds: 30,
    maxStaleSeconds: 3600,
    timeoutMs: 5000,
  },
  identityHeaders: {
    prefix: 'x-auth-',
    arrayFormat: 'csv',
    names: {
      userId: 'x-auth-user-id',
      tenantId: 'x-auth-tenant-id',
      roles: 'x-auth-roles',
      permissions: 'x-auth-permissions',
      tokenType: 'x-auth-token-type',
      tokenId: 'x-auth-token-id',
      subject: 'x-auth-subject',
    },
  },
  liveness: { cacheTtlSeconds: 10, maxEntries: 50_000, negativeMaxEntries: 10_000 },
  issuerApi: { timeoutMs: 5000 },
  dataDir: './data',
  store: { driver: 'sqlite', file: 'm2m-gateway.db' },
  tokenService: {
    name: 'local',
    algorithm: 'RS256',
    jwtTtlSeconds: 3600,
    publishKeysAheadSeconds: 0,
    vendorTokenTtlSeconds: 3600,
    refreshTokens: { enabled: true, ttlSeconds: 2_592_000, maxPerCredential: 100 },
    rateLimit: { perClientPerMinute: 60, perPeerPerMinute: 600 },
  },
  upstream: {
    connections: 128,
    connectTimeoutMs: 5000,
    headersTimeoutMs: 30_000,
    bodyTimeoutMs: 30_000,
    keepAliveTimeoutMs: 4000,
  },
} as const);

export type IdentityHeaderKey = keyof typeof DEFAULTS.identityHeaders.names;

export const IDENTITY_HEADER_KEYS = Object.freeze(Object.keys(DEFAULTS.identityHeaders.names)) as readonly IdentityHeaderKey[];
