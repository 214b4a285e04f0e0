import type { Algorithm, SigningAlgorithm, TokenType } from './schema.js';

/**
 * The runtime configuration: every default filled in, every value checked and normalised, every
 * object frozen. Built once by `compileConfig`; nothing downstream re-reads the YAML shape.
 */
export interface CompiledConfig {
  readonly server: {
    readonly host: string;
    readonly port: number;
    /** Predicate over a socket peer address (IPv4, IPv6, or IPv4-mapped IPv6). */
    readonly isTrustedProxy: (address: string) => boolean;
    readonly headersTimeoutMs: number;
    readonly requestTimeoutMs: number;
    readonly keepAliveTimeoutMs: number;
    readonly maxHeaderBytes: number;
    readonly maxConnections: number;
    /** Request bodies larger than this get 413. */
    readonly maxBodyBytes: number;
    readonly shutdownTimeoutMs: number;
  };
  readonly admin: { readonly host: string; readonly port: number };
  readonly log: { readonly level: string };
  /** Whether a change of the config file reloads it (SIGHUP always does). */
  readonly reload: { readonly watch: boolean };
  readonly auth: {
    readonly realm: string;
    readonly maxTokenBytes: number;
    readonly clockToleranceSeconds: number;
    readonly cache: { readonly maxEntries: number; readonly maxTtlSeconds: number };
    readonly negativeCache: { readonly maxEntries: number; readonly ttlSeconds: number };
    /** Exchange at the edge: whether the minted JWT is forwarded upstream (routes opt in with `auth.basic`). */
    readonly basicExchange: { readonly forwardJwt: boolean };
  };
  readonly liveness: { readonly cacheTtlMs: number; readonly maxEntries: number; readonly negativeMaxEntries: number };
  /** Absolute directory of the SQLite file and generated keys. */
  readonly dataDir: string;
  readonly store: CompiledStore;
  /** The built-in issuer; undefined when the gateway only trusts external issuers. */
  readonly tokenService: CompiledTokenService | undefined;
  readonly directory: CompiledDirectory;
  /** External issuers, plus the token service's own issuer (jwks kind `own`) when enabled. */
  readonly issuers: readonly CompiledIssuer[];
  readonly identityHeaders: CompiledIdentityHeaders;
  readonly upstream: CompiledUpstreamDefaults;
  /** Sorted for matching: longest prefix first, host-specific before any-host. */
  readonly routes: readonly CompiledRoute[];
}

export interface CompiledIssuer {
  readonly name: string;
  readonly issuer: string;
  readonly audiences: readonly string[];
  readonly algorithms: readonly Algorithm[];
  readonly jwks: CompiledJwksFile | CompiledJwksUrl | CompiledJwksOwn;
  /** Where the liveness of this issuer's tokens is checked (another m2m-gateway's token service); undefined: not checked. */
  readonly liveness?: CompiledIssuerLiveness;
}

export type CompiledIssuerLiveness =
  | { readonly kind: 'postgres'; readonly url: string }
  | { readonly kind: 'issuerApi'; readonly url: string; readonly clientId: string; readonly secret: string; readonly timeoutMs: number };

/** The token service's own keys, read in-process (no HTTP round trip). */
export interface CompiledJwksOwn {
  readonly kind: 'own';
}

export interface CompiledJwksFile {
  readonly kind: 'file';
  /** Absolute path. */
  readonly file: string;
}

export interface CompiledJwksUrl {
  readonly kind: 'url';
  readonly url: string;
  readonly cacheTtlMs: number;
  readonly refreshBeforeMs: number;
  readonly cooldownMs: number;
  readonly maxStaleMs: number;
  readonly timeoutMs: number;
}

export interface CompiledIdentityHeaders {
  /** Lower-case prefix; every inbound header starting with it is dropped. */
  readonly prefix: string;
  /** Lower-case names always dropped from inbound requests (the injected names and `strip`). */
  readonly strip: ReadonlySet<string>;
  readonly arrayFormat: 'csv' | 'json';
  readonly names: {
    readonly userId: string;
    readonly tenantId: string;
    readonly roles: string;
    readonly permissions: string;
    readonly tokenType: string;
    readonly tokenId: string;
    readonly subject: string;
  };
}

export interface CompiledUpstreamDefaults {
  readonly connections: number;
  readonly connectTimeoutMs: number;
  readonly headersTimeoutMs: number;
  readonly bodyTimeoutMs: number;
  readonly keepAliveTimeoutMs: number;
}

export interface CompiledAuthRequirement {
  /** Token types accepted on the route (default: all four). */
  readonly tokenTypes: ReadonlySet<TokenType>;
  /** Issuer names accepted (undefined: every configured issuer). */
  readonly issuers: ReadonlySet<string> | undefined;
  readonly anyRole: readonly string[] | undefined;
  readonly allRoles: readonly string[] | undefined;
  readonly anyPermission: readonly string[] | undefined;
  readonly allPermissions: readonly string[] | undefined;
  readonly tenants: ReadonlySet<string> | undefined;
  /** `Authorization: Basic` client credentials are exchanged at the edge on this route. */
  readonly basic: boolean;
}

export interface CompiledRoute {
  readonly name: string;
  /** As configured; matched per path segment and without regard to case. */
  readonly pathPrefix: string;
  /** Lower-case host without port, or undefined for any host. */
  readonly host: string | undefined;
  /** Upper-case methods, or undefined for any method. */
  readonly methods: ReadonlySet<string> | undefined;
  /** Origin only, e.g. `http://127.0.0.1:3000`. */
  readonly upstream: string;
  /** `null` for a public route. */
  readonly auth: CompiledAuthRequirement | null;
  readonly forwardCredentials: boolean;
  /** undefined when the route refuses WebSocket upgrades. */
  readonly websocket: { readonly allowedOrigins: ReadonlySet<string> } | undefined;
}

export interface CompiledTokenService {
  /** The issuer name of the local issuer in `issuers` (logs, metrics, route.auth.issuers). */
  readonly name: string;
  readonly issuer: string;
  readonly audience: string;
  readonly algorithm: SigningAlgorithm;
  readonly jwtTtlSeconds: number;
  readonly publishKeysAheadSeconds: number;
  readonly vendor: { readonly clientId: string; readonly secret: string; readonly tokenTtlSeconds: number };
  /** From config/env, or undefined: generated into dataDir on first start. */
  readonly secretKey: string | undefined;
  readonly keyEncryptionKey: string | undefined;
  readonly accessTokens: { readonly enabled: boolean };
  readonly apiTokens: { readonly enabled: boolean };
  readonly refreshTokens: { readonly enabled: boolean; readonly ttlSeconds: number; readonly maxPerCredential: number };
  readonly rateLimit: { readonly perClientPerMinute: number; readonly perPeerPerMinute: number };
}

export interface CompiledRole {
  readonly id: string;
  readonly key: string;
  readonly permissions: readonly string[];
}

export interface CompiledDirectory {
  /** By role id. */
  readonly roles: ReadonlyMap<string, CompiledRole>;
  readonly defaultRoleIds: readonly string[];
}

/** Where the token store lives; `path` is absolute. */
export type CompiledStore =
  | { readonly driver: 'sqlite' | 'memory'; readonly path: string }
  | { readonly driver: 'postgres'; readonly path: string; /** The connection URL, `${ENV}` already substituted. */ readonly url: string };
