/** Target normalisation and route matching (src/proxy/target.ts, src/proxy/route-match.ts) on arbitrary targets and route tables. */
import fc from 'fast-check';
import t from 'tap';
import type { CompiledRoute } from '../../src/config/types.js';
import { ConfigError, isGatewayError } from '../../src/errors.js';
import { createRouteMatcher } from '../../src/proxy/route-match.js';
import { normalizeTarget, type NormalizedTarget } from '../../src/proxy/target.js';
import { route } from '../helpers/compiled-config.js';
import { assertProperty, stringOf } from '../helpers/fuzz.js';

/** Targets built from the pieces of every path trick (case 42): mostly segment by segment, sometimes anything. */
const PIECES = ['.', '..', '%2e', '%2E', '%2f', '%2F', '%5c', '\\', ';', ';x=1', '%3b', '%25', '%00', '%61', '%41', '%7e', '%c3%a9', 'é', '#', '@', ':', '%20', ' ', 'admin', 'ADMIN', 'Admin', 'public', 'api', 'users', 'x'];
const pathSegment = fc.array(fc.constantFrom(...PIECES), { minLength: 0, maxLength: 3 }).map((p) => p.join(''));
const target = fc.oneof(
  { weight: 4, arbitrary: fc.tuple(fc.array(pathSegment, { minLength: 1, maxLength: 5 }), fc.option(stringOf(['/', '..', '=', '&', '#', ' '], 4), { nil: undefined })).map(([segments, query]) => `/${segments.join('/')}${query === undefined ? '' : `?${query}`}`) },
  { weight: 1, arbitrary: stringOf(['/', ...PIECES, '?', 'http://evil'], 16) },
);

function normalizeOrRefuse(url: string): NormalizedTarget | 'refused' {
  try {
    return normalizeTarget(url);
  } catch (err) {
    if (isGatewayError(err) && err.code === 'ERR_REQUEST_INVALID' && err.statusCode === 400) return 'refused';
    throw err;
  }
}

const ROUTES: CompiledRoute[] = [
  route({ name: 'public', pathPrefix: '/public', auth: null }),
  route({ name: 'admin', pathPrefix: '/admin' }),
  route({ name: 'admin-users', pathPrefix: '/admin/users/' }),
  route({ name: 'api', pathPrefix: '/api' }),
  route({ name: 'root', pathPrefix: '/', auth: null }),
];

/**
 * The route of a path read the way a lenient upstream would: every escape decoded, `;` parameters
 * cut, `\` as `/`, dot segments resolved, empty segments merged, case folded. Independent of the
 * gateway's code, so a normalisation the gateway missed shows up as a disagreement.
 */
function routeAsUpstreamReads(path: string): string | undefined {
  let decoded = path;
  try {
    decoded = decodeURIComponent(path);
  } catch {
    // served as is
  }
  const segments: string[] = [];
  for (const raw of decoded.replaceAll('\\', '/').split('/')) {
    const segment = raw.split(';', 1)[0]!.toLowerCase();
    if (segment === '' || segment === '.') continue;
    if (segment === '..') segments.pop();
    else segments.push(segment);
  }
  const resolved = `/${segments.join('/')}${decoded.endsWith('/') && segments.length > 0 ? '/' : ''}`;
  const hits = ROUTES.filter((r) => (r.pathPrefix.endsWith('/') ? resolved.startsWith(r.pathPrefix) : resolved === r.pathPrefix || resolved.startsWith(`${r.pathPrefix}/`)));
  return hits.sort((a, b) => b.pathPrefix.length - a.pathPrefix.length)[0]?.name;
}

t.test('a target is refused with 400, or its normal form is a fixed point that matches the same route', async () => {
  const matchRoute = createRouteMatcher(ROUTES);
  assertProperty(
    fc.property(target, (url) => {
      const first = normalizeOrRefuse(url);
      if (first === 'refused') return true;
      const again = normalizeOrRefuse(first.path);
      if (again === 'refused') return false;
      return (
        again.path === first.path &&
        again.matchPath === first.matchPath &&
        again.query === first.query &&
        matchRoute(undefined, 'GET', first.matchPath) === matchRoute(undefined, 'GET', again.matchPath)
      );
    }),
  );
});

t.test('the route the gateway matches is the route an upstream reads from the path it receives', async () => {
  const matchRoute = createRouteMatcher(ROUTES);
  assertProperty(
    fc.property(target, (url) => {
      const n = normalizeOrRefuse(url);
      if (n === 'refused') return true;
      const pathOnly = n.query === '' ? n.path : n.path.slice(0, n.path.length - n.query.length - 1);
      return matchRoute(undefined, 'GET', n.matchPath)?.name === routeAsUpstreamReads(pathOnly);
    }),
  );
});

t.test('a normalised path holds no construct servers disagree on', async () => {
  assertProperty(
    fc.property(target, (url) => {
      const n = normalizeOrRefuse(url);
      if (n === 'refused') return true;
      const pathOnly = n.query === '' ? n.path : n.path.slice(0, n.path.length - n.query.length - 1);
      return (
        pathOnly.startsWith('/') &&
        !/\/\.{1,2}(\/|$)|\/\/|[;\\#\s\0]|%(2f|5c|3b|25|[01][0-9a-f]|7f)/i.test(pathOnly) &&
        !/%[0-9A-F]?[a-f]/.test(pathOnly) &&
        /^[\x21-\x7e]*$/.test(n.path)
      );
    }),
  );
});

/** Route tables of prefixes, hosts and methods, against a brute-force reading of SPEC §5 "Routes". */
const segment = fc.constantFrom('a', 'b', 'api', 'admin', 'x-y');
const prefix = fc.tuple(fc.array(segment, { maxLength: 3 }), fc.boolean()).map(([s, open]) => `/${s.join('/')}${open && s.length > 0 ? '/' : ''}`);
const host = fc.constantFrom('h1.test', 'h2.test');
const methods = fc.option(fc.subarray(['GET', 'POST', 'DELETE'], { minLength: 1 }), { nil: undefined });
const table = fc.array(fc.record({ prefix, host: fc.option(host, { nil: undefined }), methods }), { minLength: 1, maxLength: 8 }).map((rows) =>
  rows.map((r, i) => route({ name: `r${i}`, pathPrefix: r.prefix, host: r.host, methods: r.methods === undefined ? undefined : new Set(r.methods) })),
);
const requestPath = fc.tuple(fc.array(fc.constantFrom('a', 'b', 'api', 'admin', 'ADMIN', 'x-y', 'ab', '%61'), { maxLength: 4 }), fc.boolean()).map(([s, slash]) => `/${s.join('/')}${slash && s.length > 0 ? '/' : ''}`);
const requestHost = fc.option(fc.constantFrom('h1.test', 'H1.TEST:8080', 'h2.test.', 'h3.test', '[::1]:80'), { nil: undefined });

function expectedRoute(routes: readonly CompiledRoute[], hostHeader: string | undefined, method: string, matchPath: string): CompiledRoute | undefined {
  const requestHostName = hostHeader?.toLowerCase().replace(/:\d+$/, '').replace(/\.$/, '');
  const hits = routes.filter((r) => {
    const p = r.pathPrefix.toLowerCase();
    const segmentOk = p.endsWith('/') ? matchPath.startsWith(p) : matchPath === p || matchPath.startsWith(`${p}/`);
    return segmentOk && (r.host === undefined || r.host === requestHostName) && (r.methods === undefined || r.methods.has(method));
  });
  // Longest prefix; at equal length a host-specific route; then config order.
  return hits.sort((a, b) => b.pathPrefix.length - a.pathPrefix.length || (a.host === undefined ? 1 : 0) - (b.host === undefined ? 1 : 0))[0];
}

t.test('the matcher picks the longest segment-wise prefix, host-specific first, then config order, skipping excluded methods', async () => {
  assertProperty(
    fc.property(table, requestHost, fc.constantFrom('GET', 'POST', 'PUT'), requestPath, (routes, hostHeader, method, path) => {
      const matchRoute = createRouteMatcher(routes);
      const { matchPath } = normalizeTarget(path);
      return matchRoute(hostHeader, method, matchPath)?.name === expectedRoute(routes, hostHeader, method, matchPath)?.name;
    }),
  );
});

t.test('a route table is accepted or refused with ConfigError, never anything else', async () => {
  assertProperty(
    fc.property(fc.array(target, { minLength: 1, maxLength: 4 }), (prefixes) => {
      try {
        createRouteMatcher(prefixes.map((p, i) => route({ name: `r${i}`, pathPrefix: p })));
        return prefixes.every((p) => normalizeOrRefuse(p) !== 'refused' && !p.includes('?'));
      } catch (err) {
        return err instanceof ConfigError && err.problems.length > 0;
      }
    }),
  );
});
