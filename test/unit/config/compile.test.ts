import t from 'tap';
import { compileConfig } from '../../../src/config/compile.js';
import type { CompiledConfig } from '../../../src/config/types.js';
import { validateConfig } from '../../../src/config/validate.js';
import { configWith, minimalConfig, type RawConfig } from '../../fixtures/config/configs.js';

const compile = (raw: RawConfig, baseDir = '/etc/m2m'): CompiledConfig => compileConfig(validateConfig(raw), baseDir);

const ALL_TOKEN_TYPES = ['userApiToken', 'tenantApiToken', 'userAccessToken', 'tenantAccessToken'];

t.test('every default is filled in', async (t) => {
  const config = compile(minimalConfig());
  const { isTrustedProxy, ...server } = config.server;
  t.same(server, {
    host: '0.0.0.0',
    port: 8080,
    headersTimeoutMs: 10_000,
    requestTimeoutMs: 30_000,
    keepAliveTimeoutMs: 5000,
    maxHeaderBytes: 16_384,
    maxConnections: 10_000,
    maxBodyBytes: 10_485_760,
    shutdownTimeoutMs: 10_000,
  });
  t.equal(isTrustedProxy('127.0.0.1'), false, 'no proxy is trusted by default');
  t.same(config.admin, { host: '127.0.0.1', port: 9090 });
  t.same(config.log, { level: 'info' });
  t.same(config.auth, {
    realm: 'm2m-gateway',
    maxTokenBytes: 8192,
    clockToleranceSeconds: 30,
    cache: { maxEntries: 10_000, maxTtlSeconds: 300 },
    negativeCache: { maxEntries: 1000, ttlSeconds: 10 },
    basicExchange: { forwardJwt: false },
  });
  t.same(config.upstream, { connections: 128, connectTimeoutMs: 5000, headersTimeoutMs: 30_000, bodyTimeoutMs: 30_000, keepAliveTimeoutMs: 4000 });
  const names = {
    userId: 'x-auth-user-id',
    tenantId: 'x-auth-tenant-id',
    roles: 'x-auth-roles',
    permissions: 'x-auth-permissions',
    tokenType: 'x-auth-token-type',
    tokenId: 'x-auth-token-id',
    subject: 'x-auth-subject',
  };
  t.same(config.identityHeaders, { prefix: 'x-auth-', strip: new Set(Object.values(names)), arrayFormat: 'csv', names });
  t.same(config.issuers, [
    { name: 'demo', issuer: 'https://issuer.test', audiences: ['api'], algorithms: ['RS256'], jwks: { kind: 'file', file: '/etc/m2m/jwks.json' } },
  ]);
  t.same(config.routes, [
    {
      name: 'api',
      pathPrefix: '/api',
      host: undefined,
      methods: undefined,
      upstream: 'http://127.0.0.1:3000',
      auth: {
        tokenTypes: new Set(ALL_TOKEN_TYPES),
        issuers: undefined,
        anyRole: undefined,
        allRoles: undefined,
        anyPermission: undefined,
        allPermissions: undefined,
        tenants: undefined,
        basic: false,
      },
      forwardCredentials: false,
      websocket: undefined,
    },
  ]);
});

t.test('a JWKS URL gets its defaults, in milliseconds', async (t) => {
  const config = compile(configWith({ 'issuers.0.jwks': { url: 'https://issuer.test/jwks' } }));
  t.same(config.issuers[0]!.jwks, {
    kind: 'url',
    url: 'https://issuer.test/jwks',
    cacheTtlMs: 600_000,
    refreshBeforeMs: 60_000,
    cooldownMs: 30_000,
    maxStaleMs: 3_600_000,
    timeoutMs: 5000,
  });
});

t.test('configured values replace the defaults, seconds become milliseconds', async (t) => {
  const config = compile(
    configWith({
      server: { host: '127.0.0.1', port: 0, headersTimeoutMs: 2000, requestTimeoutMs: 3000, keepAliveTimeoutMs: 4000, maxHeaderBytes: 8192, maxConnections: 5, maxBodyBytes: 1024, shutdownTimeoutMs: 6000 },
      admin: { host: '0.0.0.0', port: 0 },
      log: { level: 'debug' },
      auth: { realm: 'api', maxTokenBytes: 4096, clockToleranceSeconds: 0, cache: { maxEntries: 1, maxTtlSeconds: 2 }, negativeCache: { maxEntries: 0, ttlSeconds: 3 } },
      upstream: { connections: 1, connectTimeoutMs: 2, headersTimeoutMs: 3, bodyTimeoutMs: 4, keepAliveTimeoutMs: 5 },
      'issuers.0.audience': ['a', 'b'],
      'issuers.0.jwks': { url: 'https://issuer.test/jwks', cacheTtlSeconds: 120, refreshBeforeSeconds: 10, cooldownSeconds: 5, maxStaleSeconds: 7, timeoutMs: 900 },
    }),
  );
  const { isTrustedProxy: _, ...server } = config.server;
  t.same(server, { host: '127.0.0.1', port: 0, headersTimeoutMs: 2000, requestTimeoutMs: 3000, keepAliveTimeoutMs: 4000, maxHeaderBytes: 8192, maxConnections: 5, maxBodyBytes: 1024, shutdownTimeoutMs: 6000 });
  t.same(config.admin, { host: '0.0.0.0', port: 0 });
  t.same(config.log, { level: 'debug' });
  t.same(config.auth, { realm: 'api', maxTokenBytes: 4096, clockToleranceSeconds: 0, cache: { maxEntries: 1, maxTtlSeconds: 2 }, negativeCache: { maxEntries: 0, ttlSeconds: 3 }, basicExchange: { forwardJwt: false } });
  t.same(config.upstream, { connections: 1, connectTimeoutMs: 2, headersTimeoutMs: 3, bodyTimeoutMs: 4, keepAliveTimeoutMs: 5 });
  t.same(config.issuers[0]!.audiences, ['a', 'b']);
  t.same(config.issuers[0]!.jwks, { kind: 'url', url: 'https://issuer.test/jwks', cacheTtlMs: 120_000, refreshBeforeMs: 10_000, cooldownMs: 5000, maxStaleMs: 7000, timeoutMs: 900 });
});

t.test('JWKS files are resolved against the config directory', async (t) => {
  const cases: ReadonlyArray<readonly [file: string, baseDir: string, expected: string]> = [
    ['jwks.json', '/etc/m2m', '/etc/m2m/jwks.json'],
    ['keys/jwks.json', '/etc/m2m', '/etc/m2m/keys/jwks.json'],
    ['../shared/jwks.json', '/etc/m2m', '/etc/shared/jwks.json'],
    ['/var/run/jwks.json', '/etc/m2m', '/var/run/jwks.json'],
  ];
  for (const [file, baseDir, expected] of cases) {
    t.same(compile(configWith({ 'issuers.0.jwks': { file } }), baseDir).issuers[0]!.jwks, { kind: 'file', file: expected }, file);
  }
});

t.test('identity headers: configured names are injected and stripped, with the extra strip names', async (t) => {
  const config = compile(
    configWith({ identityHeaders: { prefix: 'x-gw-', strip: ['x-user', 'x-tenant'], arrayFormat: 'json', names: { userId: 'x-gw-user', roles: 'x-roles' } } }),
  );
  t.equal(config.identityHeaders.prefix, 'x-gw-');
  t.equal(config.identityHeaders.arrayFormat, 'json');
  t.equal(config.identityHeaders.names.userId, 'x-gw-user');
  t.equal(config.identityHeaders.names.roles, 'x-roles');
  t.equal(config.identityHeaders.names.tenantId, 'x-auth-tenant-id', 'names left out keep their default');
  t.same(
    [...config.identityHeaders.strip].sort(),
    ['x-auth-permissions', 'x-auth-subject', 'x-auth-tenant-id', 'x-auth-token-id', 'x-auth-token-type', 'x-gw-user', 'x-roles', 'x-tenant', 'x-user'],
  );
});

t.test('routes are normalised for matching', async (t) => {
  const config = compile(
    configWith({
      'routes.0': {
        name: 'api',
        pathPrefix: '/API/v1/',
        host: 'Api.Example.COM',
        methods: ['GET', 'POST'],
        upstream: 'https://Orders.Internal:443/',
        forwardCredentials: true,
        websocket: { allowedOrigins: ['https://App.Example.com:443', 'http://localhost:3000'] },
        auth: { tokenTypes: ['tenantApiToken'], issuers: ['demo'], anyRole: ['a'], allRoles: ['b'], anyPermission: ['c.*'], allPermissions: ['d'], tenants: ['t1', 't2'] },
      },
      'routes.1': { name: 'public', pathPrefix: '/public', upstream: 'http://127.0.0.1:3000', auth: 'none', websocket: {} },
    }),
  );
  const [api, open] = config.routes;
  t.equal(api!.pathPrefix, '/API/v1/', 'the prefix is kept as configured');
  t.equal(api!.host, 'api.example.com');
  t.same(api!.methods, new Set(['GET', 'POST']));
  t.equal(api!.upstream, 'https://orders.internal', 'the upstream is a normalised origin');
  t.equal(api!.forwardCredentials, true);
  t.same(api!.websocket, { allowedOrigins: new Set(['https://app.example.com', 'http://localhost:3000']) });
  t.same(api!.auth, {
    tokenTypes: new Set(['tenantApiToken']),
    issuers: new Set(['demo']),
    anyRole: ['a'],
    allRoles: ['b'],
    anyPermission: ['c.*'],
    allPermissions: ['d'],
    tenants: new Set(['t1', 't2']),
    basic: false,
  });
  t.equal(open!.auth, null, 'auth: none compiles to null');
  t.same(open!.websocket, { allowedOrigins: new Set() }, 'an empty websocket section allows upgrades from any origin-less client');
});

t.test('routes are sorted longest prefix first, host-specific first at equal length', async (t) => {
  const route = (name: string, pathPrefix: string, host?: string) => ({ name, pathPrefix, upstream: 'http://127.0.0.1:3000', auth: 'none', ...(host === undefined ? {} : { host }) });
  const config = compile(
    configWith({
      routes: [
        route('root', '/'),
        route('api', '/api'),
        route('api-host', '/api', 'api.example.com'),
        route('api-v1', '/api/v1/'),
        route('apix', '/apix'),
        route('api-other-host', '/api', 'other.example.com'),
        route('root-host', '/', 'api.example.com'),
      ],
    }),
  );
  t.same(
    config.routes.map((r) => r.name),
    ['api-v1', 'apix', 'api-host', 'api-other-host', 'api', 'root-host', 'root'],
  );
});

t.test('isTrustedProxy matches addresses, CIDR blocks and IPv4-mapped IPv6 peers', async (t) => {
  const config = compile(configWith({ 'server.trustedProxies': ['10.0.0.0/8', '192.168.1.7', 'fd00::/8', '::1', '2001:db8::/126'] }));
  const cases: ReadonlyArray<readonly [address: string, trusted: boolean]> = [
    ['10.1.2.3', true],
    ['10.255.255.255', true],
    ['11.0.0.1', false],
    ['192.168.1.7', true],
    ['192.168.1.8', false],
    ['::ffff:10.1.2.3', true],
    ['::ffff:192.168.1.7', true],
    ['::ffff:192.168.1.8', false],
    ['::ffff:a01:203', true],
    ['fd12:3456::1', true],
    ['fe80::1', false],
    ['::1', true],
    ['0:0:0:0:0:0:0:1', true],
    ['2001:db8::3', true],
    ['2001:db8::4', false],
    ['127.0.0.1', false],
    ['', false],
    ['not an address', false],
    ['10.1.2.3:5000', false],
  ];
  for (const [address, trusted] of cases) t.equal(config.server.isTrustedProxy(address), trusted, `${JSON.stringify(address)} → ${trusted}`);
});

t.test('an IPv4-mapped entry matches the plain IPv4 peer too', async (t) => {
  const config = compile(configWith({ 'server.trustedProxies': ['::ffff:10.0.0.0/104'] }));
  t.equal(config.server.isTrustedProxy('10.9.9.9'), true);
  t.equal(config.server.isTrustedProxy('::ffff:10.9.9.9'), true);
  t.equal(config.server.isTrustedProxy('11.9.9.9'), false);
});

t.test('the compiled config is deeply frozen', async (t) => {
  const config = compile(
    configWith({ 'routes.0.methods': ['GET'], 'routes.0.auth': { issuers: ['demo'], anyRole: ['a'] }, 'routes.0.websocket': { allowedOrigins: ['https://a.test'] } }),
  );
  const route = config.routes[0]!;
  const objects: ReadonlyArray<readonly [string, object]> = [
    ['the config', config],
    ['server', config.server],
    ['isTrustedProxy', config.server.isTrustedProxy],
    ['auth.cache', config.auth.cache],
    ['issuers', config.issuers],
    ['an issuer', config.issuers[0]!],
    ['audiences', config.issuers[0]!.audiences],
    ['jwks', config.issuers[0]!.jwks],
    ['identity names', config.identityHeaders.names],
    ['routes', config.routes],
    ['a route', route],
    ['a route requirement', route.auth!],
    ['anyRole', route.auth!.anyRole!],
  ];
  for (const [name, value] of objects) t.ok(Object.isFrozen(value), `${name} is frozen`);

  t.throws(() => {
    (config.server as { port: number }).port = 1;
  }, TypeError);
  t.throws(() => (config.routes as CompiledConfig['routes'][number][]).push(route), TypeError);
  const sets: ReadonlyArray<readonly [string, ReadonlySet<string>]> = [
    ['identityHeaders.strip', config.identityHeaders.strip],
    ['route.methods', route.methods!],
    ['route.auth.tokenTypes', route.auth!.tokenTypes],
    ['route.auth.issuers', route.auth!.issuers!],
    ['websocket.allowedOrigins', route.websocket!.allowedOrigins],
  ];
  for (const [name, set] of sets) {
    const mutable = set as Set<string>;
    t.throws(() => mutable.add('x'), TypeError, `${name}.add throws`);
    t.throws(() => mutable.delete([...set][0]!), TypeError, `${name}.delete throws`);
    t.throws(() => mutable.clear(), TypeError, `${name}.clear throws`);
    t.notOk(set.has('x'), `${name} is unchanged`);
    t.ok(set.size > 0, `${name} still reads`);
  }
});

t.test('compiling leaves the input untouched', async (t) => {
  const raw = minimalConfig();
  const copy = structuredClone(raw);
  compile(raw);
  t.same(raw, copy);
  t.notOk(Object.isFrozen(raw));
});

t.test('a postgres store keeps its URL; the SQLite file stays where it would be', async (t) => {
  const url = 'postgres://gateway:secret@db.internal:5432/m2m';
  t.same(compile(configWith({ store: { driver: 'postgres', url } })).store, { driver: 'postgres', path: '/etc/m2m/data/m2m-gateway.db', url });
  t.notOk('url' in compile(minimalConfig()).store, 'sqlite has no URL');
});

t.test('liveness caches get their defaults; an issuer checked through PostgreSQL or the issuer API gets its source', async (t) => {
  t.same(compile(minimalConfig()).liveness, { cacheTtlMs: 10_000, maxEntries: 50_000, negativeMaxEntries: 10_000 });
  t.same(compile(configWith({ liveness: { cacheTtlSeconds: 2, negativeMaxEntries: 0 } })).liveness, { cacheTtlMs: 2_000, maxEntries: 50_000, negativeMaxEntries: 0 });
  t.equal(compile(minimalConfig()).issuers[0]!.liveness, undefined, 'no liveness source unless configured');
  t.same(compile(configWith({ 'issuers.0.liveness': { postgres: { url: 'postgres://gw@db:5432/m2m' } } })).issuers[0]!.liveness, { kind: 'postgres', url: 'postgres://gw@db:5432/m2m' });
  const secret = 's'.repeat(32);
  t.same(compile(configWith({ 'issuers.0.liveness': { issuerApi: { url: 'http://issuer:8080/', clientId: 'env', secret } } })).issuers[0]!.liveness, {
    kind: 'issuerApi',
    url: 'http://issuer:8080',
    clientId: 'env',
    secret,
    timeoutMs: 5000,
  });
});
