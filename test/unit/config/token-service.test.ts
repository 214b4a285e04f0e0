import { resolve } from 'node:path';
import t from 'tap';
import { compileConfig } from '../../../src/config/compile.js';
import { validateConfig } from '../../../src/config/validate.js';
import { isGatewayError } from '../../../src/errors.js';

const ROUTES = [{ name: 'api', pathPrefix: '/api', upstream: 'http://127.0.0.1:3000', auth: {} }];
const TOKEN_SERVICE = {
  issuer: 'https://gateway.example',
  audience: 'env-client-id',
  vendor: { clientId: 'vendor', secret: 'v'.repeat(32) },
};

function problemsOf(raw: unknown): string[] {
  try {
    validateConfig(raw);
    return [];
  } catch (err) {
    return isGatewayError(err) ? [...(err.problems ?? [])] : [String(err)];
  }
}

t.test('a token service alone is enough: its issuer is trusted in-process, with the defaults', async (t) => {
  const config = compileConfig(validateConfig({ tokenService: TOKEN_SERVICE, routes: ROUTES }), '/etc/m2m');
  t.strictSame(config.issuers.map((i) => ({ ...i })), [
    { name: 'local', issuer: 'https://gateway.example', audiences: ['env-client-id'], algorithms: ['RS256', 'ES256', 'EdDSA'], jwks: { kind: 'own' } },
  ]);
  const ts = config.tokenService!;
  t.equal(ts.algorithm, 'RS256');
  t.equal(ts.jwtTtlSeconds, 3600);
  t.equal(ts.vendor.tokenTtlSeconds, 3600);
  t.strictSame({ ...ts.refreshTokens }, { enabled: true, ttlSeconds: 2_592_000, maxPerCredential: 100 });
  t.strictSame({ ...ts.rateLimit }, { perClientPerMinute: 60, perPeerPerMinute: 600 });
  t.equal(ts.accessTokens.enabled, true);
  t.equal(ts.apiTokens.enabled, true);
  t.equal(config.dataDir, resolve('/etc/m2m', 'data'), 'relative to the config file');
  t.strictSame({ ...config.store }, { driver: 'sqlite', path: resolve('/etc/m2m', 'data', 'm2m-gateway.db') });
});

t.test('the directory compiles roles by id with their permissions', async (t) => {
  const config = compileConfig(
    validateConfig({
      tokenService: TOKEN_SERVICE,
      routes: ROUTES,
      directory: { roles: [{ id: 'r1', key: 'admin', permissions: ['reports.*'] }, { id: 'r2', key: 'viewer' }], defaultRoleIds: ['r2'] },
    }),
    '/etc/m2m',
  );
  t.strictSame({ ...config.directory.roles.get('r1') }, { id: 'r1', key: 'admin', permissions: ['reports.*'] });
  t.strictSame([...config.directory.roles.get('r2')!.permissions], []);
  t.strictSame([...config.directory.defaultRoleIds], ['r2']);
});

t.test('token service and directory mistakes are each reported with their path', async (t) => {
  const cases: { name: string; raw: Record<string, unknown>; line: RegExp }[] = [
    { name: 'nothing to trust', raw: { routes: ROUTES }, line: /^issuers: configure at least one issuer, or the tokenService$/ },
    { name: 'a short vendor secret', raw: { routes: ROUTES, tokenService: { ...TOKEN_SERVICE, vendor: { clientId: 'v', secret: 'short' } } }, line: /^tokenService\.vendor\.secret: / },
    { name: 'an HS algorithm', raw: { routes: ROUTES, tokenService: { ...TOKEN_SERVICE, algorithm: 'HS256' } }, line: /^tokenService\.algorithm: / },
    {
      name: 'an external issuer named like the local one',
      raw: { routes: ROUTES, tokenService: TOKEN_SERVICE, issuers: [{ name: 'local', issuer: 'https://x', audience: 'a', algorithms: ['RS256'], jwks: { file: 'j.json' } }] },
      line: /^issuers\[0\]\.name: "local" is the name of the tokenService issuer/,
    },
    {
      name: 'an external issuer with the same iss',
      raw: { routes: ROUTES, tokenService: TOKEN_SERVICE, issuers: [{ name: 'ext', issuer: 'https://gateway.example', audience: 'a', algorithms: ['RS256'], jwks: { file: 'j.json' } }] },
      line: /^issuers\[0\]\.issuer: is the tokenService issuer too/,
    },
    { name: 'an unknown default role', raw: { routes: ROUTES, tokenService: TOKEN_SERVICE, directory: { roles: [{ id: 'r1', key: 'a' }], defaultRoleIds: ['nope'] } }, line: /^directory\.defaultRoleIds\[0\]: no role has the id "nope"$/ },
    { name: 'a duplicate role id', raw: { routes: ROUTES, tokenService: TOKEN_SERVICE, directory: { roles: [{ id: 'r1', key: 'a' }, { id: 'r1', key: 'b' }] } }, line: /^directory\.roles\[1\]\.id: "r1" is already/ },
    { name: 'an unknown key', raw: { routes: ROUTES, tokenService: { ...TOKEN_SERVICE, allowStale: true } }, line: /^tokenService\.allowStale: / },
  ];
  for (const c of cases) {
    const problems = problemsOf(c.raw);
    t.ok(problems.some((p) => c.line.test(p)), `${c.name}: ${JSON.stringify(problems)}`);
  }
});

t.test('a route may name the local issuer', async (t) => {
  const raw = { tokenService: TOKEN_SERVICE, routes: [{ ...ROUTES[0], auth: { issuers: ['local'] } }] };
  t.strictSame(problemsOf(raw), []);
});

t.test('exchange at the edge is off by default, on per route or by the global default, and needs the token service', async (t) => {
  const routes = [
    { name: 'default', pathPrefix: '/a', upstream: 'http://127.0.0.1:3000', auth: {} },
    { name: 'on', pathPrefix: '/b', upstream: 'http://127.0.0.1:3000', auth: { basic: true } },
    { name: 'off', pathPrefix: '/c', upstream: 'http://127.0.0.1:3000', auth: { basic: false } },
  ];
  const basicOf = (config: ReturnType<typeof compileConfig>) => Object.fromEntries(config.routes.map((r) => [r.name, r.auth?.basic]));
  const off = compileConfig(validateConfig({ tokenService: TOKEN_SERVICE, routes }), '/');
  t.strictSame(basicOf(off), { default: false, on: true, off: false }, 'off unless the route says so');
  t.equal(off.auth.basicExchange.forwardJwt, false, 'the minted JWT is not forwarded by default');
  const on = compileConfig(validateConfig({ tokenService: TOKEN_SERVICE, auth: { basicExchange: { enabled: true, forwardJwt: true } }, routes }), '/');
  t.strictSame(basicOf(on), { default: true, on: true, off: false }, 'the global default, unless the route says otherwise');
  t.equal(on.auth.basicExchange.forwardJwt, true);

  const problems = problemsOf({ issuers: [{ name: 'i', issuer: 'https://i.test', audience: 'api', algorithms: ['ES256'], jwks: { file: 'k.json' } }], auth: { basicExchange: { enabled: true } }, routes });
  t.match(problems, [/^auth\.basicExchange\.enabled: needs the tokenService/, /^routes\[1\]\.auth\.basic: needs the tokenService/]);
  t.equal(problems.length, 2);
});
