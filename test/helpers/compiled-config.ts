import { compileConfig } from '../../src/config/compile.js';
import { TOKEN_TYPES } from '../../src/config/schema.js';
import { validateConfig } from '../../src/config/validate.js';
import type {
  CompiledAuthRequirement,
  CompiledConfig,
  CompiledIdentityHeaders,
  CompiledRoute,
} from '../../src/config/types.js';

/**
 * `CompiledConfig` pieces for unit tests of the runtime stages. The defaults come from the real
 * compiler (one minimal config compiled once), so tests state only the fields they are about and
 * never restate the documented defaults.
 */
const BASE: CompiledConfig = compileConfig(
  validateConfig({
    issuers: [{ name: 'main', issuer: 'https://issuer.test', audience: 'm2m-gateway-test', algorithms: ['RS256'], jwks: { file: 'jwks.json' } }],
    routes: [{ name: 'default', pathPrefix: '/', upstream: 'http://127.0.0.1:9', auth: 'none' }],
  }),
  process.cwd(),
);

/** Identity headers with the default names and `x-auth-` prefix. */
export function identityHeaders(overrides: Partial<CompiledIdentityHeaders> = {}): CompiledIdentityHeaders {
  const names = overrides.names ?? BASE.identityHeaders.names;
  return Object.freeze({
    ...BASE.identityHeaders,
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
    basic: false,
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
  return Object.freeze({ ...BASE, log: { level: 'silent' }, issuers: [], ...overrides });
}
