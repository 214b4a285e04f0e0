import t from 'tap';
import type { CompiledRoute } from '../../../src/config/types.js';
import { ConfigError } from '../../../src/errors.js';
import { createRouteMatcher } from '../../../src/proxy/route-match.js';
import { route } from '../../helpers/compiled-config.js';

const routes: CompiledRoute[] = [
  route({ name: 'root', pathPrefix: '/', auth: null }),
  route({ name: 'api', pathPrefix: '/api' }),
  route({ name: 'api-v2-dir', pathPrefix: '/api/v2/' }),
  route({ name: 'admin', pathPrefix: '/Admin' }),
  route({ name: 'admin-host', pathPrefix: '/admin', host: 'admin.example.com' }),
  route({ name: 'reports-host', pathPrefix: '/reports', host: 'api.example.com' }),
  route({ name: 'write-only', pathPrefix: '/items', methods: new Set(['POST', 'PUT']) }),
  route({ name: 'items', pathPrefix: '/items' }),
  route({ name: 'tilde', pathPrefix: '/%7Euser' }),
];

t.test('the longest per-segment prefix wins, without regard to case', async (t) => {
  const match = createRouteMatcher(routes);
  const cases: { name: string; host?: string; method?: string; path: string; route: string | undefined }[] = [
    { name: 'the root prefix matches everything else', path: '/anything/else', route: 'root' },
    { name: 'a prefix matches itself', path: '/api', route: 'api' },
    { name: 'a prefix matches with a trailing slash', path: '/api/', route: 'api' },
    { name: 'a prefix matches a path below it', path: '/api/x', route: 'api' },
    { name: 'a prefix does not match a longer segment', path: '/apix', route: 'root' },
    { name: 'a prefix ending in a slash matches below it', path: '/api/v2/users', route: 'api-v2-dir' },
    { name: 'a prefix ending in a slash matches its directory', path: '/api/v2/', route: 'api-v2-dir' },
    { name: 'a prefix ending in a slash does not match the bare name', path: '/api/v2', route: 'api' },
    { name: 'a mixed-case configured prefix matches a lower-cased path', path: '/admin/users', route: 'admin' },
    { name: 'a prefix configured with an encoded unreserved character is normalised', path: '/~user/x', route: 'tilde' },
  ];
  for (const c of cases) {
    t.equal(match(c.host, c.method ?? 'GET', c.path)?.name, c.route, c.name);
  }
});

t.test('a host-specific route beats an any-host route of the same length, and only for its host', async (t) => {
  const match = createRouteMatcher(routes);
  const cases: { name: string; host: string | undefined; path: string; route: string | undefined }[] = [
    { name: 'the host route wins for its host', host: 'admin.example.com', path: '/admin', route: 'admin-host' },
    { name: 'the host is compared without case', host: 'ADMIN.Example.COM', path: '/admin/x', route: 'admin-host' },
    { name: 'the host is compared without port', host: 'admin.example.com:8443', path: '/admin', route: 'admin-host' },
    { name: 'a trailing dot in the host is the same name', host: 'admin.example.com.', path: '/admin', route: 'admin-host' },
    { name: 'another host gets the any-host route', host: 'evil', path: '/admin', route: 'admin' },
    { name: 'a suffix of the host is another host', host: 'xadmin.example.com', path: '/admin', route: 'admin' },
    { name: 'no host gets the any-host route', host: undefined, path: '/admin', route: 'admin' },
    { name: 'a host-only prefix does not match without its host', host: 'evil', path: '/reports', route: 'root' },
    { name: 'a host list still holds the any-host routes', host: 'api.example.com', path: '/api/x', route: 'api' },
    { name: 'a longer any-host prefix beats a shorter host prefix', host: 'api.example.com', path: '/api/v2/x', route: 'api-v2-dir' },
  ];
  for (const c of cases) {
    t.equal(match(c.host, 'GET', c.path)?.name, c.route, c.name);
  }
});

t.test('a host-specific route on an IPv6 literal is compared without the port', async (t) => {
  const match = createRouteMatcher([route({ name: 'v6', pathPrefix: '/', host: '[::1]' })]);
  t.equal(match('[::1]:8080', 'GET', '/x')?.name, 'v6');
  t.equal(match('[::2]:8080', 'GET', '/x'), undefined);
});

t.test('a route whose methods exclude the request method falls through to the next candidate', async (t) => {
  const match = createRouteMatcher(routes);
  t.equal(match(undefined, 'POST', '/items/1')?.name, 'write-only', 'an allowed method matches');
  t.equal(match(undefined, 'GET', '/items/1')?.name, 'items', 'another method falls through');
  const only = createRouteMatcher([route({ name: 'post-only', pathPrefix: '/', methods: new Set(['POST']) })]);
  t.equal(only(undefined, 'GET', '/'), undefined, 'no candidate left: no route');
});

t.test('no route matches when nothing covers the path', async (t) => {
  const match = createRouteMatcher([route({ name: 'api', pathPrefix: '/api' })]);
  t.equal(match(undefined, 'GET', '/'), undefined);
  t.equal(match(undefined, 'GET', '/ap'), undefined);
});

t.test('routes of equal prefix keep their configured order', async (t) => {
  const match = createRouteMatcher([route({ name: 'first', pathPrefix: '/a' }), route({ name: 'second', pathPrefix: '/A' })]);
  t.equal(match(undefined, 'GET', '/a')?.name, 'first');
});

t.test('a prefix that no normalised path can equal is a configuration error', async (t) => {
  const bad = ['/public/../admin', '/a//b', '/admin;x', '/a%2Fb', '/a?x=1', '/a\\b'];
  for (const pathPrefix of bad) {
    t.throws(() => createRouteMatcher([route({ name: 'bad', pathPrefix })]), { code: 'ERR_CONFIG_INVALID' }, pathPrefix);
  }
  try {
    createRouteMatcher([route({ name: 'one', pathPrefix: '/a/..' }), route({ name: 'ok', pathPrefix: '/ok' }), route({ name: 'two', pathPrefix: '//' })]);
    t.fail('should have thrown');
  } catch (err) {
    t.ok(err instanceof ConfigError);
    t.match((err as ConfigError).problems, [/^routes\.one\.pathPrefix: /, /^routes\.two\.pathPrefix: /], 'every bad prefix is reported at once');
    t.equal((err as ConfigError).problems.length, 2);
  }
});
