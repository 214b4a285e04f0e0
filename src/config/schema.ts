import { Type, type Static, type ObjectOptions, type TProperties } from '@sinclair/typebox';

/**
 * The YAML configuration, as a JSON Schema built with TypeBox: the TypeScript types are derived
 * from it, `config/schema.json` is generated from it for editors, and the validator runs it with
 * every error reported. Every object is closed (`additionalProperties: false`) so a misspelt key
 * is an error, not a silently ignored setting.
 */
const Closed = <T extends TProperties>(properties: T, options: ObjectOptions = {}) =>
  Type.Object(properties, { additionalProperties: false, ...options });

const Port = (description: string) => Type.Integer({ minimum: 0, maximum: 65535, description });
const Millis = (description: string, max = 3_600_000) =>
  Type.Integer({ minimum: 1, maximum: max, description });
const Seconds = (description: string, max = 86_400) => Type.Integer({ minimum: 1, maximum: max, description });
const NonEmpty = (options = {}) => Type.String({ minLength: 1, ...options });
/** An HTTP header name (RFC 9110 token), lower-case so it can be compared without folding. */
const HeaderName = (description?: string) =>
  Type.String({ pattern: '^[a-z0-9!#$%&\'*+.^_`|~-]+$', minLength: 1, maxLength: 128, ...(description === undefined ? {} : { description }) });

/**
 * Asymmetric algorithms only: `none` and the HS* family can never be configured, so a public key
 * can never be used as an HMAC secret (CVE-2023-48223 and its relatives; RFC 8725 §3.1).
 */
export const ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'] as const;
export type Algorithm = (typeof ALGORITHMS)[number];
const AlgorithmSchema = Type.Union(ALGORITHMS.map((a) => Type.Literal(a)));

/** The four M2M token kinds of the Frontegg model (SPEC §3). */
export const TOKEN_TYPES = ['userApiToken', 'tenantApiToken', 'userAccessToken', 'tenantAccessToken'] as const;
export type TokenType = (typeof TOKEN_TYPES)[number];
const TokenTypeSchema = Type.Union(TOKEN_TYPES.map((t) => Type.Literal(t)));

const HTTP_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;

const JwksFile = Closed(
  {
    file: NonEmpty({ description: 'Path of a JWKS JSON file; reloaded when it changes.' }),
  },
  { title: 'JWKS from a file' },
);

const JwksUrl = Closed(
  {
    url: Type.String({ pattern: '^https?://', description: 'URL of the issuer JWKS.' }),
    cacheTtlSeconds: Type.Optional(Seconds('How long a fetched key set is fresh (default 600).')),
    refreshBeforeSeconds: Type.Optional(Seconds('Refresh this long before the set goes stale (default 60).')),
    cooldownSeconds: Type.Optional(Seconds('Least time between refetches caused by an unknown kid (default 30).', 3600)),
    maxStaleSeconds: Type.Optional(Seconds('How long the last good set is served while the URL fails (default 3600).')),
    timeoutMs: Type.Optional(Millis('Fetch timeout (default 5000).', 60_000)),
  },
  { title: 'JWKS from a URL' },
);

const IssuerLiveness = Type.Union(
  [
    Closed(
      {
        postgres: Closed({
          url: NonEmpty({ description: "The issuer's PostgreSQL (postgres://user:password@host:5432/db); use ${ENV} for the password. Revocations arrive by LISTEN/NOTIFY." }),
        }),
      },
      { title: 'Liveness in the shared PostgreSQL' },
    ),
    Closed(
      {
        issuerApi: Closed({
          url: NonEmpty({ description: "The issuer gateway's base URL (http:// or https://); its vendor-only routes answer." }),
          clientId: NonEmpty({ description: "The issuer's environment client id (tokenService.vendor.clientId)." }),
          secret: Type.String({ minLength: 32, description: "The issuer's environment secret; use ${ENV}." }),
          timeoutMs: Type.Optional(Millis('Time allowed for one answer; then 503 (default 5000).', 60_000)),
        }),
      },
      { title: 'Liveness through the issuer API' },
    ),
  ],
  {
    description:
      "For tokens of another m2m-gateway's token service: where this gateway checks that a token's credential is still alive and reads its current roles (SPEC §5 sidecar). Without it, a valid signature is enough.",
  },
);

const Issuer = Closed({
  name: Type.String({ pattern: '^[A-Za-z0-9_.-]{1,64}$', description: 'Name used in logs and metrics.' }),
  issuer: NonEmpty({ description: 'Exact `iss` value the tokens must carry.' }),
  audience: Type.Union([NonEmpty(), Type.Array(NonEmpty(), { minItems: 1 })], {
    description: 'Audience the tokens must carry in `aud`.',
  }),
  algorithms: Type.Array(AlgorithmSchema, { minItems: 1, uniqueItems: true, description: "Algorithms accepted from this issuer; a token's `alg` must also be its key's." }),
  jwks: Type.Union([JwksFile, JwksUrl], { description: "Where the issuer's public keys come from: a file or a URL." }),
  liveness: Type.Optional(IssuerLiveness),
});

const AuthRequirement = Closed(
  {
    tokenTypes: Type.Optional(Type.Array(TokenTypeSchema, { minItems: 1, uniqueItems: true, description: 'Token kinds accepted on this route (default: all four).' })),
    issuers: Type.Optional(Type.Array(NonEmpty(), { minItems: 1, uniqueItems: true, description: 'Names of trusted issuers accepted on this route (default: all).' })),
    anyRole: Type.Optional(Type.Array(NonEmpty(), { minItems: 1, description: 'Role keys: the token must carry at least one.' })),
    allRoles: Type.Optional(Type.Array(NonEmpty(), { minItems: 1, description: 'Role keys: the token must carry every one.' })),
    anyPermission: Type.Optional(Type.Array(NonEmpty(), { minItems: 1, description: 'A trailing `*` matches by prefix.' })),
    allPermissions: Type.Optional(Type.Array(NonEmpty(), { minItems: 1, description: 'A trailing `*` matches by prefix.' })),
    tenants: Type.Optional(Type.Array(NonEmpty(), { minItems: 1, description: 'Tenant ids whose tokens are accepted (default: any).' })),
    basic: Type.Optional(
      Type.Boolean({
        description:
          'Accept `Authorization: Basic base64(clientId:secret)` of a token-service API token and exchange it at the gateway (default: auth.basicExchange.enabled). Needs the tokenService.',
      }),
    ),
  },
  { title: 'Credential required' },
);

const Route = Closed({
  name: Type.String({ pattern: '^[A-Za-z0-9_.-]{1,64}$', description: 'Route name: the `route` label in metrics and logs.' }),
  pathPrefix: Type.String({ pattern: '^/', maxLength: 1024, description: 'Longest matching prefix wins; matched per path segment.' }),
  host: Type.Optional(NonEmpty({ description: 'Match only this Host (without port).' })),
  methods: Type.Optional(Type.Array(Type.Union(HTTP_METHODS.map((m) => Type.Literal(m))), { minItems: 1, uniqueItems: true, description: 'Match only these methods (default: any).' })),
  upstream: Type.String({ pattern: '^https?://', description: 'Origin of the upstream service (scheme, host, port).' }),
  auth: Type.Union([Type.Literal('none'), AuthRequirement], { description: '`none` for a public route.' }),
  forwardCredentials: Type.Optional(Type.Boolean({ description: 'Pass Authorization / X-API-KEY upstream (default false).' })),
  websocket: Type.Optional(
    Closed(
      {
        allowedOrigins: Type.Optional(Type.Array(NonEmpty(), { description: 'Origins allowed to open a WebSocket; absent Origin is always allowed.' })),
      },
      { description: 'Present: WebSocket upgrades are allowed on the route, after the same checks as any request.' },
    ),
  ),
});

/** Algorithms the token service signs with (SPEC §3 "Signing"). */
export const SIGNING_ALGORITHMS = ['RS256', 'ES256', 'EdDSA'] as const;

const Store = Closed({
  driver: Type.Optional(
    Type.Union([Type.Literal('sqlite'), Type.Literal('postgres'), Type.Literal('memory')], {
      description: 'sqlite (default), postgres (several gateways on one database) or memory (nothing survives a restart).',
    }),
  ),
  path: Type.Optional(NonEmpty({ description: 'SQLite file (default m2m-gateway.db in dataDir).' })),
  url: Type.Optional(NonEmpty({ description: 'PostgreSQL URL for driver postgres (postgres://user:password@host:5432/db); use ${ENV} for the password.' })),
});

const TokenService = Closed(
  {
    issuer: NonEmpty({ description: 'The `iss` of issued tokens: the public base URL of the gateway.' }),
    audience: NonEmpty({ description: 'The `aud` of issued tokens (Frontegg: the environment client id).' }),
    algorithm: Type.Optional(Type.Union(SIGNING_ALGORITHMS.map((a) => Type.Literal(a)), { description: 'Signing algorithm (default RS256).' })),
    jwtTtlSeconds: Type.Optional(Seconds('Lifetime of each JWT issued by an exchange or refresh (default 3600).')),
    publishKeysAheadSeconds: Type.Optional(Type.Integer({ minimum: 0, maximum: 86_400, description: 'A rotated-in key is published this long before it signs (default 0).' })),
    vendor: Closed(
      {
        clientId: NonEmpty({ description: 'Environment client id for POST /auth/vendor.' }),
        secret: Type.String({ minLength: 32, description: 'Environment secret (at least 32 characters); use ${ENV}.' }),
        tokenTtlSeconds: Type.Optional(Seconds('Lifetime of vendor tokens (default 3600).')),
      },
      { description: 'Environment (vendor) credentials: they authenticate the management routes.' },
    ),
    secretKey: Type.Optional(Type.String({ minLength: 32, description: 'Server key for the keyed hashes of secrets and refresh tokens (default: generated into dataDir).' })),
    keyEncryptionKey: Type.Optional(Type.String({ minLength: 1, description: '32 bytes, base64 or hex, sealing the private signing keys (default: generated into dataDir).' })),
    accessTokens: Type.Optional(Closed({ enabled: Type.Optional(Type.Boolean({ description: 'Issue and accept access tokens (X-API-KEY); false answers 403 `Api tokens are disabled` (default true).' })) })),
    apiTokens: Type.Optional(Closed({ enabled: Type.Optional(Type.Boolean({ description: 'Issue, exchange and accept client-credentials tokens; false answers 403 `Api tokens are disabled` (default true).' })) })),
    refreshTokens: Type.Optional(
      Closed({
        enabled: Type.Optional(Type.Boolean({ description: 'Return refresh tokens from exchanges (Frontegg compatibility; default true).' })),
        ttlSeconds: Type.Optional(Seconds('Refresh-token lifetime (default 2592000, 30 days).', 31_536_000)),
        maxPerCredential: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, description: 'Live refresh tokens per credential; the oldest goes first (default 100).' })),
      }),
    ),
    rateLimit: Type.Optional(
      Closed(
        {
          perClientPerMinute: Type.Optional(
            Type.Integer({ minimum: 1, maximum: 1_000_000, description: 'Failed secret checks per clientId and peer address per minute; then that pair waits for the next window (default 60).' }),
          ),
          perPeerPerMinute: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000, description: 'Secret checks per peer address per minute (default 600).' })),
        },
        {
          description:
            'Brute-force limits of client secrets (exchange, OAuth refresh and revocation) and, on counters of their own, of the vendor secret (POST /auth/vendor). Counted in each process: N replicas behind a load balancer allow up to N times as many.',
        },
      ),
    ),
  },
  { description: 'The built-in issuer: Frontegg-compatible credentials, exchange and refresh. The proxy trusts it in-process.' },
);

const Directory = Closed({
  roles: Type.Optional(
    Type.Array(
      Closed({
        id: NonEmpty({ description: 'The id that roleIds, --role and memberships name.' }),
        key: NonEmpty({ description: 'The role key carried in tokens.' }),
        permissions: Type.Optional(Type.Array(NonEmpty(), { description: 'A trailing `*` grants by prefix.' })),
      }),
      { description: 'The roles tokens can carry: tenant tokens by roleIds, user tokens through the membership.' },
    ),
  ),
  defaultRoleIds: Type.Optional(Type.Array(NonEmpty(), { description: 'Roles of a membership created implicitly by a user token.' })),
});

export const ConfigSchema = Closed(
  {
    server: Type.Optional(
      Closed({
        host: Type.Optional(NonEmpty({ description: 'Address the proxy listens on (default 0.0.0.0).' })),
        port: Type.Optional(Port('Port of the proxy listener; 0 picks a free one (default 8080).')),
        trustedProxies: Type.Optional(Type.Array(NonEmpty(), { description: 'Peer addresses or CIDRs whose X-Forwarded-* are appended to.' })),
        headersTimeoutMs: Type.Optional(Millis('Time allowed to receive the request headers (default 10000).', 120_000)),
        requestTimeoutMs: Type.Optional(Millis('Time allowed to receive the whole request (default 30000).')),
        keepAliveTimeoutMs: Type.Optional(Millis('Idle keep-alive time of client connections (default 5000).', 600_000)),
        maxHeaderBytes: Type.Optional(Type.Integer({ minimum: 1024, maximum: 65_536, description: 'Header block cap; larger gets 431 (default 16384).' })),
        maxConnections: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000, description: 'Open client connections at most; more are refused (default 10000).' })),
        maxBodyBytes: Type.Optional(Type.Integer({ minimum: 0, maximum: 1_073_741_824, description: 'Request bodies larger than this get 413 (default 10485760).' })),
        shutdownTimeoutMs: Type.Optional(Millis('How long in-flight requests may drain on SIGTERM (default 10000).', 600_000)),
      }),
    ),
    admin: Type.Optional(
      Closed(
        {
          host: Type.Optional(NonEmpty({ description: 'Address of the admin listener (default 127.0.0.1: not exposed to the network).' })),
          port: Type.Optional(Port('Port of the admin listener; 0 picks a free one (default 9090).')),
        },
        { description: 'The admin listener: /metrics, /healthz, /readyz.' },
      ),
    ),
    log: Type.Optional(
      Closed({ level: Type.Optional(Type.Union(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l)))) }),
    ),
    reload: Type.Optional(
      Closed(
        {
          watch: Type.Optional(
            Type.Boolean({ description: 'Reload when the config file changes (watched, and checked every 5 s); SIGHUP reloads either way (default true).' }),
          ),
        },
        { description: 'Live reload of this file: routes, upstreams, issuers, identity headers and roles change without a restart.' },
      ),
    ),
    auth: Type.Optional(
      Closed({
        realm: Type.Optional(Type.String({ pattern: '^[\\x20-\\x21\\x23-\\x5b\\x5d-\\x7e]{1,64}$', description: 'Realm of WWW-Authenticate.' })),
        maxTokenBytes: Type.Optional(Type.Integer({ minimum: 256, maximum: 65_536, description: 'Tokens larger than this are refused before decoding (default 8192).' })),
        clockToleranceSeconds: Type.Optional(Type.Integer({ minimum: 0, maximum: 60, description: 'Skew allowed on exp, nbf and iat (default 30).' })),
        cache: Type.Optional(
          Closed({
            maxEntries: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000_000, description: 'Verified tokens kept (default 10000).' })),
            maxTtlSeconds: Type.Optional(Seconds('Upper bound on how long a verified token is cached; never past exp (default 300).')),
          }),
        ),
        negativeCache: Type.Optional(
          Closed({
            maxEntries: Type.Optional(Type.Integer({ minimum: 0, maximum: 1_000_000, description: '0 disables it (default 1000).' })),
            ttlSeconds: Type.Optional(Seconds('How long a rejected token is remembered (default 10).', 300)),
          }),
        ),
        basicExchange: Type.Optional(
          Closed(
            {
              enabled: Type.Optional(Type.Boolean({ description: 'Routes that do not set auth.basic accept Basic client credentials (default false).' })),
              forwardJwt: Type.Optional(
                Type.Boolean({ description: 'Send the upstream the JWT the gateway minted for the client, as `Authorization: Bearer` (default false: no Authorization at all).' }),
              ),
            },
            {
              description:
                'Exchange at the edge: clients of the tokenService may send their clientId and secret as `Authorization: Basic` to the proxy, which checks them as the token endpoint does and treats the request as if it carried the JWT an exchange would issue.',
            },
          ),
        ),
      }),
    ),
    liveness: Type.Optional(
      Closed(
        {
          cacheTtlSeconds: Type.Optional(Seconds('How long an answer is reused when no change event arrives: the bound on staleness (default 10).', 300)),
          maxEntries: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000_000, description: 'Live answers kept (default 50000).' })),
          negativeMaxEntries: Type.Optional(Type.Integer({ minimum: 0, maximum: 1_000_000, description: 'Refused answers kept, in a cache of their own; 0 disables it (default 10000).' })),
        },
        { description: "Caches of the credential liveness checks (the token service's own tokens, and issuers with `liveness`)." },
      ),
    ),
    dataDir: Type.Optional(NonEmpty({ description: 'Where the SQLite file and generated keys live (default ./data).' })),
    store: Type.Optional(Store),
    tokenService: Type.Optional(TokenService),
    directory: Type.Optional(Directory),
    issuers: Type.Optional(Type.Array(Issuer, { minItems: 1, description: 'External issuers to trust, besides the token service.' })),
    identityHeaders: Type.Optional(
      Closed({
        prefix: Type.Optional(Type.String({ pattern: '^[a-z0-9-]{2,32}$', description: 'Inbound headers with this prefix are always dropped (default x-auth-).' })),
        strip: Type.Optional(Type.Array(HeaderName(), { description: 'More inbound header names to drop.' })),
        arrayFormat: Type.Optional(Type.Union([Type.Literal('csv'), Type.Literal('json')], { description: 'How roles and permissions are written: comma-joined or a JSON array (default csv).' })),
        names: Type.Optional(
          Closed({
            userId: Type.Optional(HeaderName('Header carrying the user a user token acts for (default x-auth-user-id).')),
            tenantId: Type.Optional(HeaderName('Header carrying the tenant (default x-auth-tenant-id).')),
            roles: Type.Optional(HeaderName('Header carrying the role keys (default x-auth-roles).')),
            permissions: Type.Optional(HeaderName('Header carrying the permissions (default x-auth-permissions).')),
            tokenType: Type.Optional(HeaderName('Header carrying the token kind (default x-auth-token-type).')),
            tokenId: Type.Optional(HeaderName("Header carrying the access token's id or the JWT's jti (default x-auth-token-id).")),
            subject: Type.Optional(HeaderName('Header carrying the sub claim (default x-auth-subject).')),
          }),
        ),
      }),
    ),
    upstream: Type.Optional(
      Closed({
        connections: Type.Optional(Type.Integer({ minimum: 1, maximum: 4096, description: 'Connections per upstream (default 128).' })),
        connectTimeoutMs: Type.Optional(Millis('Time allowed to connect to the upstream; then 504 (default 5000).', 120_000)),
        headersTimeoutMs: Type.Optional(Millis('Time to the upstream response headers; then 504 (default 30000).')),
        bodyTimeoutMs: Type.Optional(Millis('Idle time allowed between body chunks (default 30000).')),
        keepAliveTimeoutMs: Type.Optional(Millis('Idle time before a pooled connection closes (default 4000).', 600_000)),
      }),
    ),
    routes: Type.Array(Route, { minItems: 1, description: 'Where requests go and what each needs; a request no route matches gets 404.' }),
  },
  { $id: 'https://m2m-gateway.dev/schema/config.json', title: 'm2m-gateway configuration' },
);

export type Config = Static<typeof ConfigSchema>;
export type RouteConfig = Static<typeof Route>;
export type IssuerConfig = Static<typeof Issuer>;
export type AuthRequirementConfig = Static<typeof AuthRequirement>;
export type JwksConfig = IssuerConfig['jwks'];
export type TokenServiceConfig = Static<typeof TokenService>;
export type DirectoryConfig = Static<typeof Directory>;
export type SigningAlgorithm = (typeof SIGNING_ALGORITHMS)[number];

export function isJwksUrl(jwks: JwksConfig): jwks is Static<typeof JwksUrl> {
  return 'url' in jwks;
}

