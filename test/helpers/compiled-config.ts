import { TOKEN_TYPES } from '../../src/config/schema.js';
import type {
  CompiledAuthRequirement,
  CompiledConfig,
  CompiledIdentityHeaders,
  CompiledRoute,
} from '../../src/config/types.js';

/**
 * Hand-built `CompiledConfig` objects for unit tests of the runtime stages, with the documented
 * defaults (SPEC §5). Built directly rather than through the compiler so each test states only
 * the fields it is about.
 */

/** Identity headers with the default names and `x-auth-` prefix. */
export function identityHeaders(overrides: Partial<CompiledIdentityHeaders> = {}): CompiledIdentityHeaders {
  const names = overrides.names ?? {
    userId: 'x-auth-user-id',
    tenantId: 'x-auth-tenant-id',
    roles: 'x-auth-roles',
    permissions: 'x-auth-permissions',
    tokenType: 'x-auth-token-type',
    tokenId: 'x-auth-token-id',
    subject: 'x-auth-subject',
  };
  return Object.freeze({
    prefix: 'x-auth-',
    arrayFormat: 'csv',
    ...overrides,
    names,
    strip: overrides.strip ?? new Set(Object.values(names)),
  });
}

/** A credential requirement accepting every token type and issuer, with no role or permission rule. */
export function authRequirement(overrides: Partial<CompiledAuthRequirement> = {}): CompiledAuthRequirement {
  return Object.freeze({
    tokenTypes: new Set(TOKEN_TYPES),
    issuers: undefined,
    anyRole: undefined,
    allRoles: undefined,
    anyPermission: undefined,
    allPermissions: undefined,
    tenants: undefined,
    ...overrides,
  });
}

/** A route requiring a credential (override `auth: null` for a public one). */
export function route(overrides: Partial<CompiledRoute> & Pick<CompiledRoute, 'name' | 'pathPrefix'>): CompiledRoute {
  return Object.freeze({
    host: undefined,
    methods: undefined,
    upstream: 'http://127.0.0.1:9',
    auth: authRequirement(),
    forwardCredentials: false,
    websocket: undefined,
    ...overrides,
  });
}

/** A whole compiled config; `routes` is required since every decision needs some. */
export function compiledConfig(overrides: Partial<CompiledConfig> & Pick<CompiledConfig, 'routes'>): CompiledConfig {
  return Object.freeze({
    server: {
      host: '127.0.0.1',
      port: 0,
      isTrustedProxy: () => false,
      headersTimeoutMs: 10_000,
      requestTimeoutMs: 30_000,
      keepAliveTimeoutMs: 5_000,
      maxHeaderBytes: 16_384,
      maxConnections: 10_000,
      maxBodyBytes: 10_485_760,
      shutdownTimeoutMs: 10_000,
    },
    admin: { host: '127.0.0.1', port: 0 },
    log: { level: 'silent' },
    auth: {
      realm: 'm2m-gateway',
      maxTokenBytes: 8192,
      clockToleranceSeconds: 30,
      cache: { maxEntries: 10_000, maxTtlSeconds: 300 },
      negativeCache: { maxEntries: 1_000, ttlSeconds: 10 },
    },
    issuers: [],
    identityHeaders: identityHeaders(),
    upstream: { connections: 128, connectTimeoutMs: 5_000, headersTimeoutMs: 30_000, bodyTimeoutMs: 30_000, keepAliveTimeoutMs: 4_000 },
    ...overrides,
  });
}
