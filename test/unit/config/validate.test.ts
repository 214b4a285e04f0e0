import t, { type Test } from 'tap';
import { validateConfig } from '../../../src/config/validate.js';
import { configProblems, configWith, minimalConfig, problemPaths, type RawConfig } from '../../fixtures/config/configs.js';

type Case = readonly [name: string, config: RawConfig, expected: ReadonlyArray<readonly [path: string, message: RegExp]>];

/** Each case must yield exactly the expected lines: these paths, in this order, with matching messages. */
function checkCases(t: Test, cases: readonly Case[]): void {
  for (const [name, config, expected] of cases) {
    t.test(name, async (t) => {
      const problems = configProblems(() => validateConfig(config));
      t.same(problemPaths(problems), expected.map(([path]) => path), 'paths');
      t.match(
        problems.map((line) => line.slice(line.indexOf(': ') + 2)),
        expected.map(([, message]) => message),
        'messages',
      );
    });
  }
}

const route = (fields: Record<string, unknown>) => ({ name: 'r', pathPrefix: '/r', upstream: 'http://127.0.0.1:3000', auth: 'none', ...fields });
const issuer = (fields: Record<string, unknown>) => ({ name: 'i', issuer: 'https://i.test', audience: 'api', algorithms: ['ES256'], jwks: { file: 'k.json' }, ...fields });

t.test('a valid config is returned as it is', async (t) => {
  const config = minimalConfig();
  t.equal(validateConfig(config), config);
});

t.test('unknown keys are refused at every depth, with a suggestion for typos', async (t) => {
  checkCases(t, [
    ['at the root', configWith({ servre: {} }), [['servre', /^unknown key \(did you mean "server"\?\)$/]]],
    ['in server', configWith({ 'server.prot': 8080 }), [['server.prot', /^unknown key \(did you mean "port"\?\)$/]]],
    ['two levels down', configWith({ 'auth.cache.maxEntires': 5 }), [['auth.cache.maxEntires', /^unknown key \(did you mean "maxEntries"\?\)$/]]],
    ['in a list item', configWith({ 'routes.0.timeout': 5 }), [['routes[0].timeout', /^unknown key$/]]],
    ['in a route requirement', configWith({ 'routes.0.auth': { anyrole: ['a'] } }), [['routes[0].auth.anyrole', /^unknown key \(did you mean "anyRole"\?\)$/]]],
    ['in the chosen JWKS kind', configWith({ 'issuers.0.jwks': { file: 'k.json', cacheTtlSeconds: 5 } }), [['issuers[0].jwks.cacheTtlSeconds', /^unknown key$/]]],
    ['in identity header names', configWith({ 'identityHeaders.names': { email: 'x-auth-email' } }), [['identityHeaders.names.email', /^unknown key$/]]],
    ['in websocket', configWith({ 'routes.0.websocket': { origins: [] } }), [['routes[0].websocket.origins', /^unknown key$/]]],
    ['a shortened name', configWith({ 'auth.clockTolerance': 5 }), [['auth.clockTolerance', /did you mean "clockToleranceSeconds"/]]],
    ['a key that is not an identifier is quoted', configWith({ 'server.bad key': 1 }), [['server["bad key"]', /^unknown key$/]]],
    ['__proto__ is an ordinary unknown key', JSON.parse('{"__proto__": {"x": 1}, "issuers": [], "routes": []}'), [
      ['__proto__', /^unknown key$/],
      ['issuers', /^must NOT have fewer than 1 items$/],
      ['routes', /^must NOT have fewer than 1 items$/],
    ]],
  ]);
});

t.test('schema errors read as one line per problem', async (t) => {
  checkCases(t, [
    ['a missing section', configWith({ routes: undefined }), [['routes', /^is required$/]]],
    ['a missing key in a list item', configWith({ 'routes.0.upstream': undefined }), [['routes[0].upstream', /^is required$/]]],
    ['a wrong type shows the value', configWith({ 'server.port': 'eighty' }), [['server.port', /^must be an integer \(got "eighty"\)$/]]],
    ['a fraction is not an integer', configWith({ 'server.port': 80.5 }), [['server.port', /^must be an integer \(got 80.5\)$/]]],
    ['a bound shows the value', configWith({ 'server.port': 70000 }), [['server.port', /^must be <= 65535 \(got 70000\)$/]]],
    ['an empty list', configWith({ 'routes.0.auth': { anyRole: [] } }), [['routes[0].auth.anyRole', /^must NOT have fewer than 1 items$/]]],
    ['a pattern shows the value', configWith({ 'routes.0.name': 'has space' }), [['routes[0].name', /^must match pattern .* \(got "has space"\)$/]]],
    ['a list of literals names them all', configWith({ 'log.level': 'verbose' }), [['log.level', /^must be one of "fatal", "error", "warn", "info", "debug", "trace", "silent" \(got "verbose"\)$/]]],
    ['a literal inside a list', configWith({ 'routes.0.methods': ['GET', 'FETCH'] }), [['routes[0].methods[1]', /^must be one of "GET", .* \(got "FETCH"\)$/]]],
    ['a long value is cut short', configWith({ 'routes.0.name': 'x'.repeat(200) }), [['routes[0].name', /\(got "x{60}…"\)$/]]],
  ]);
});

t.test('unions report the branch the value was meant for, not every branch', async (t) => {
  checkCases(t, [
    ['auth as an unknown word', configWith({ 'routes.0.auth': 'public' }), [['routes[0].auth', /^must be "none" or an object \(got "public"\)$/]]],
    ['auth as a number', configWith({ 'routes.0.auth': 5 }), [['routes[0].auth', /^must be "none" or an object \(got 5\)$/]]],
    ['auth as an object with a bad field', configWith({ 'routes.0.auth': { tokenTypes: ['apiToken'] } }), [['routes[0].auth.tokenTypes[0]', /^must be one of "userApiToken", "tenantApiToken", "userAccessToken", "tenantAccessToken" \(got "apiToken"\)$/]]],
    ['jwks with neither file nor url', configWith({ 'issuers.0.jwks': {} }), [['issuers[0].jwks', /^must have exactly one of the keys "file", "url" \(got an empty object\)$/]]],
    ['jwks with both file and url', configWith({ 'issuers.0.jwks': { file: 'a', url: 'https://a' } }), [['issuers[0].jwks', /^must have exactly one of the keys "file", "url" \(got keys "file", "url"\)$/]]],
    ['jwks as a string', configWith({ 'issuers.0.jwks': 'k.json' }), [['issuers[0].jwks', /^must be an object \(got "k.json"\)$/]]],
    ['a url jwks with a bad setting', configWith({ 'issuers.0.jwks': { url: 'https://a/jwks', cacheTtlSeconds: 0 } }), [['issuers[0].jwks.cacheTtlSeconds', /^must be >= 1 \(got 0\)$/]]],
    ['audience as a number', configWith({ 'issuers.0.audience': 5 }), [['issuers[0].audience', /^must be a string or a list \(got 5\)$/]]],
    ['audience as an empty list', configWith({ 'issuers.0.audience': [] }), [['issuers[0].audience', /^must NOT have fewer than 1 items$/]]],
    ['audience as an empty string', configWith({ 'issuers.0.audience': '' }), [['issuers[0].audience', /^must NOT have fewer than 1 characters$/]]],
  ]);
});

t.test('every problem is listed at once', async (t) => {
  const config = configWith({
    'server.prot': 1,
    'server.trustedProxies': ['10.0.0.0/8', 'not-an-ip'],
    'issuers.0.algorithms': ['HS256'],
    'routes.0.upstream': 'http://127.0.0.1:3000/api',
    'routes.1': route({ name: 'api', auth: { issuers: ['nobody'] } }),
  });
  const problems = configProblems(() => validateConfig(config));
  t.same(problemPaths(problems), [
    'issuers[0].algorithms[0]',
    'routes[0].upstream',
    'routes[1].name',
    'routes[1].auth.issuers[0]',
    'server.prot',
    'server.trustedProxies[1]',
  ]);
  t.equal(problems.length, 6, 'one line per problem, in document order');
});

t.test('five distinct problems yield five lines', async (t) => {
  const config = configWith({
    'log.level': 'loud',
    'auth.clockToleranceSeconds': 61,
    'issuers.0.jwks': {},
    'routes.0.auth': { allRoles: [] },
    'routes.0.host': 'api.example.com:443',
  });
  t.equal(configProblems(() => validateConfig(config)).length, 5);
});

t.test('names are unique and references resolve', async (t) => {
  checkCases(t, [
    ['two routes with one name', configWith({ 'routes.1': route({ name: 'api' }) }), [['routes[1].name', /^"api" is already the name of routes\[0\]$/]]],
    ['two issuers with one name', configWith({ 'issuers.1': issuer({ name: 'demo' }) }), [['issuers[1].name', /^"demo" is already the name of issuers\[0\]$/]]],
    ['two issuers with one iss value', configWith({ 'issuers.1': issuer({ issuer: 'https://issuer.test' }) }), [['issuers[1].issuer', /^"https:\/\/issuer.test" is already the issuer of issuers\[0\]$/]]],
    ['a route naming an unknown issuer', configWith({ 'routes.0.auth': { issuers: ['demo', 'other'] } }), [['routes[0].auth.issuers[1]', /^no issuer is named "other" \(configured: "demo"\)$/]]],
  ]);
});

t.test('two routes cannot claim the same prefix on the same host', async (t) => {
  checkCases(t, [
    ['the same prefix', configWith({ 'routes.1': route({ pathPrefix: '/api' }) }), [['routes[1].pathPrefix', /^routes\[0\] already has this pathPrefix$/]]],
    ['prefixes differing in case', configWith({ 'routes.1': route({ pathPrefix: '/API' }) }), [['routes[1].pathPrefix', /already has this pathPrefix/]]],
    ['prefixes differing by a trailing slash', configWith({ 'routes.1': route({ pathPrefix: '/api/' }) }), [['routes[1].pathPrefix', /already has this pathPrefix/]]],
    ['an encoded unreserved character is the same character', configWith({ 'routes.1': route({ pathPrefix: '/%61pi' }) }), [['routes[1].pathPrefix', /already has this pathPrefix/]]],
    [
      'the same host in another case',
      configWith({ 'routes.0.host': 'api.example.com', 'routes.1': route({ pathPrefix: '/api', host: 'API.example.com' }) }),
      [['routes[1].pathPrefix', /^routes\[0\] already has this pathPrefix and host$/]],
    ],
  ]);

  t.test('different hosts, or a host and no host, may share a prefix', async (t) => {
    const config = configWith({
      'routes.1': route({ pathPrefix: '/api', host: 'a.example.com' }),
      'routes.2': route({ name: 'r2', pathPrefix: '/api', host: 'b.example.com' }),
    });
    t.equal(validateConfig(config), config);
  });
});

t.test('route hosts and prefixes must be matchable', async (t) => {
  const hosts: ReadonlyArray<readonly [string, string]> = [
    ['a port', 'api.example.com:8443'],
    ['a scheme', 'https://api.example.com'],
    ['a path', 'api.example.com/x'],
    ['a wildcard', '*.example.com'],
    ['an unbracketed IPv6 address', '::1'],
  ];
  checkCases(
    t,
    hosts.map(([what, host]) => [`a host with ${what}`, configWith({ 'routes.0.host': host }), [['routes[0].host', /^must be a host name or IP address, without scheme, port or path/]]]),
  );
  const prefixes: ReadonlyArray<readonly [string, string, RegExp]> = [
    ['a dot segment', '/api/../admin', /dot segment/],
    ['an empty segment', '//api', /empty path segment/],
    ['a query', '/api?x=1', /must be a path without a query/],
    ['a semicolon', '/api;v=1', /character not allowed/],
    ['an encoded slash', '/api%2Fv1', /encoded character not allowed/],
    ['no leading slash', 'api', /must be a normalised path starting with "\/"/],
  ];
  checkCases(
    t,
    prefixes.map(([what, prefix, message]) => [`a prefix with ${what}`, configWith({ 'routes.0.pathPrefix': prefix }), [['routes[0].pathPrefix', message]]]),
  );

  t.test('host names, IPv4 and bracketed IPv6 literals are accepted', async (t) => {
    for (const host of ['api.example.com', 'API.Example.COM.', 'localhost', 'my_service', '10.0.0.1', '[::1]']) {
      t.doesNotThrow(() => validateConfig(configWith({ 'routes.0.host': host })), host);
    }
  });
});

t.test('an upstream is an http(s) origin and nothing more', async (t) => {
  const bad: ReadonlyArray<readonly [string, string, RegExp]> = [
    ['a path', 'http://orders:8080/api', /^must be an origin only/],
    ['a query', 'http://orders:8080?x=1', /^must be an origin only/],
    ['an empty query', 'http://orders:8080/?', /^must be an origin only/],
    ['a fragment', 'http://orders:8080#x', /^must be an origin only/],
    ['userinfo', 'http://user:secret@orders:8080', /^must not contain credentials/],
    ['another scheme', 'ftp://orders', /^must use http or https/],
    ['no URL at all', 'orders:8080', /^must use http or https|^is not a valid URL/],
    ['an invalid port', 'http://orders:99999', /^is not a valid URL/],
  ];
  checkCases(
    t,
    bad.map(([what, upstream, message]) => [`an upstream with ${what}`, configWith({ 'routes.0.upstream': upstream }), [['routes[0].upstream', message]]]),
  );

  t.test('origins with or without port and trailing slash are accepted', async (t) => {
    for (const upstream of ['http://orders', 'http://orders/', 'https://orders.internal:8443', 'http://[::1]:3000', 'http://Orders.Internal:80']) {
      t.doesNotThrow(() => validateConfig(configWith({ 'routes.0.upstream': upstream })), upstream);
    }
  });

  t.test('websocket origins follow the same rule', async (t) => {
    const problems = configProblems(() => validateConfig(configWith({ 'routes.0.websocket': { allowedOrigins: ['https://app.example.com', 'https://app.example.com/path'] } })));
    t.same(problemPaths(problems), ['routes[0].websocket.allowedOrigins[1]']);
  });
});

t.test('identity headers are distinct and never a reserved header', async (t) => {
  const reserved = [
    'connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'proxy-authorization',
    'proxy-authenticate', 'host', 'authorization', 'x-api-key', 'forwarded', 'x-request-id', 'content-length',
    'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'x-forwarded-anything',
  ];
  checkCases(t, [
    ...reserved.map((name): Case => [`${name} as an injected name`, configWith({ 'identityHeaders.names': { userId: name } }), [['identityHeaders.names.userId', /is a reserved header .* cannot carry identity$/]]]),
    ...reserved.map((name): Case => [`${name} as a stripped name`, configWith({ 'identityHeaders.strip': ['x-user', name] }), [['identityHeaders.strip[1]', /is a reserved header .* cannot be stripped as an identity header$/]]]),
    ['a configured name used twice', configWith({ 'identityHeaders.names': { userId: 'x-id', tenantId: 'x-id' } }), [['identityHeaders.names.tenantId', /^"x-id" is already the header for userId$/]]],
    ['a configured name equal to a later default', configWith({ 'identityHeaders.names': { userId: 'x-auth-roles' } }), [['identityHeaders.names.userId', /^"x-auth-roles" is also the default header for roles; give roles a name too$/]]],
    ['a configured name equal to an earlier default', configWith({ 'identityHeaders.names': { roles: 'x-auth-user-id' } }), [['identityHeaders.names.roles', /^"x-auth-user-id" is already the header for userId$/]]],
    ['a prefix that covers reserved headers', configWith({ 'identityHeaders.prefix': 'x-' }), [['identityHeaders.prefix', /^"x-" would also drop reserved headers \(x-api-key, x-request-id, x-forwarded-\*\)$/]]],
    ['a prefix inside x-forwarded-', configWith({ 'identityHeaders.prefix': 'x-forwarded-user-' }), [['identityHeaders.prefix', /x-forwarded-\*/]]],
    ['a prefix that is a reserved name', configWith({ 'identityHeaders.prefix': 'host' }), [['identityHeaders.prefix', /\(host\)/]]],
  ]);

  t.test('swapping two default names is fine', async (t) => {
    const config = configWith({ 'identityHeaders.names': { userId: 'x-auth-subject', subject: 'x-auth-user-id' } });
    t.equal(validateConfig(config), config);
  });
});

t.test('trusted proxies are addresses or CIDR blocks', async (t) => {
  const bad = ['proxy.internal', '10.0.0.0/33', '::/129', '10.0.0.0/', '10.0.0.0/8/8', '10.0.0.0/-1', '010.0.0.1', 'fe80::1%eth0', '[::1]', '10.0.0.0/ 8', ''];
  checkCases(
    t,
    bad.map((entry): Case => [`${JSON.stringify(entry)} is refused`, configWith({ 'server.trustedProxies': ['127.0.0.1', entry] }), [['server.trustedProxies[1]', /^must be an IPv4 or IPv6 address or CIDR block/]]]),
  );

  t.test('IPv4, IPv6, mapped IPv6 and CIDR blocks of both are accepted', async (t) => {
    const config = configWith({ 'server.trustedProxies': ['127.0.0.1', '10.0.0.0/8', '0.0.0.0/0', '::1', 'fd00::/8', '::ffff:10.0.0.1', '::/0'] });
    t.equal(validateConfig(config), config);
  });
});

t.test('settings that contradict each other are refused', async (t) => {
  checkCases(t, [
    ['the proxy and admin on one port', configWith({ 'server.port': 9000, 'admin.port': 9000 }), [['admin.port', /^the proxy and the admin listener cannot share port 9000$/]]],
    ['the proxy on the default admin port', configWith({ 'server.port': 9090 }), [['server.port', /cannot share port 9090/]]],
    ['headers timeout over the request timeout', configWith({ 'server.headersTimeoutMs': 40_000 }), [['server.headersTimeoutMs', /^headersTimeoutMs \(40000\) must not exceed requestTimeoutMs \(30000\)$/]]],
    ['request timeout under the default headers timeout', configWith({ 'server.requestTimeoutMs': 5000 }), [['server.requestTimeoutMs', /must not exceed requestTimeoutMs \(5000\)/]]],
    ['a JWKS refreshed before it is even fetched', configWith({ 'issuers.0.jwks': { url: 'https://i.test/jwks', cacheTtlSeconds: 60 } }), [['issuers[0].jwks.cacheTtlSeconds', /^refreshBeforeSeconds \(60\) must be less than cacheTtlSeconds \(60\)/]]],
    ['a JWKS URL with credentials', configWith({ 'issuers.0.jwks': { url: 'https://user:pw@i.test/jwks' } }), [['issuers[0].jwks.url', /^must not contain credentials/]]],
    ['a JWKS URL that does not parse', configWith({ 'issuers.0.jwks': { url: 'https://' } }), [['issuers[0].jwks.url', /^is not a valid URL/]]],
  ]);

  t.test('two listeners on port 0 do not collide', async (t) => {
    const config = configWith({ 'server.port': 0, 'admin.port': 0 });
    t.equal(validateConfig(config), config);
  });
});

t.test('numbers must be finite', async (t) => {
  checkCases(t, [
    ['an infinite port', configWith({ 'server.port': Infinity }), [['server.port', /^must be a finite number \(got Infinity\)$/]]],
    ['a NaN cache size', configWith({ 'auth.cache.maxEntries': NaN }), [['auth.cache.maxEntries', /^must be a finite number \(got NaN\)$/]]],
    ['a negative infinity', configWith({ 'upstream.connections': -Infinity }), [['upstream.connections', /^must be a finite number \(got -Infinity\)$/]]],
  ]);
});

t.test('the postgres store needs its URL, and only it takes one', async (t) => {
  const url = 'postgres://gateway:secret@db.internal:5432/m2m';
  t.test('a postgres store with a URL is valid', async (t) => {
    const config = configWith({ store: { driver: 'postgres', url } });
    t.equal(validateConfig(config), config);
  });
  checkCases(t, [
    ['postgres without a URL', configWith({ store: { driver: 'postgres' } }), [['store', /^store\.url is required when store\.driver is postgres/]]],
    ['a URL that is not a PostgreSQL one', configWith({ store: { driver: 'postgres', url: 'mysql://db/m2m' } }), [['store.url', /^must be a postgres:\/\/ or postgresql:\/\/ URL$/]]],
    ['a URL for the sqlite store', configWith({ store: { driver: 'sqlite', url } }), [['store.url', /^is used only by store\.driver postgres$/]]],
  ]);
});

t.test('an issuer liveness source is one complete, well-formed source', async (t) => {
  const secret = 's'.repeat(32);
  const withLiveness = (liveness: unknown) => configWith({ issuers: [issuer({ liveness })] });
  t.doesNotThrow(() => validateConfig(withLiveness({ postgres: { url: 'postgresql://gw@db/m2m' } })));
  t.doesNotThrow(() => validateConfig(withLiveness({ issuerApi: { url: 'https://issuer.internal', clientId: 'env', secret } })));
  checkCases(t, [
    ['postgres needs a postgres URL', withLiveness({ postgres: { url: 'mysql://db' } }), [['issuers[0].liveness.postgres.url', /postgres:\/\//]]],
    ['the issuer API needs an http(s) URL', withLiveness({ issuerApi: { url: 'ftp://issuer', clientId: 'env', secret } }), [['issuers[0].liveness.issuerApi.url', /http or https/]]],
    ['the environment secret is at least 32 characters', withLiveness({ issuerApi: { url: 'http://issuer', clientId: 'env', secret: 'short' } }), [['issuers[0].liveness.issuerApi.secret', /32/]]],
    ['one source, not both', withLiveness({ postgres: { url: 'postgres://db' }, issuerApi: { url: 'http://issuer', clientId: 'env', secret } }), [['issuers[0].liveness', /./]]],
  ]);
});
