/**
 * Case 42: path and authority tricks. The authorization decision uses the path the upstream will
 * receive, or the request is refused with 400; no request is ever sent to a host other than the
 * route's configured upstream (Envoy CVE-2026-73511; fastify-reply-from `buildURL`).
 */
import t from 'tap';
import { authRequirement, route } from '../helpers/compiled-config.js';
import { USER_API_TOKEN, requestFacts, testDecider } from '../helpers/decide-fixtures.js';
import { rawHeaderValues, startEchoUpstream } from '../../scripts/echo-upstream.js';
import { createRouteMatcher } from '../../src/proxy/route-match.js';
import { normalizeTarget } from '../../src/proxy/target.js';
import { leakedSecrets } from '../helpers/log-sink.js';
import { rawExchange } from '../helpers/raw-http.js';
import { parseResponses, type ParsedResponse } from '../helpers/raw-response.js';
import { startScenario } from '../helpers/scenario.js';

const ADMIN_UPSTREAM = 'http://127.0.0.1:7001';
const PUBLIC_UPSTREAM = 'http://127.0.0.1:7002';
const routes = [
  route({ name: 'public', pathPrefix: '/public', auth: null, upstream: PUBLIC_UPSTREAM }),
  // The fixture user holds `admin` and `reader`, never `owner`: /admin is never allowed here.
  route({ name: 'admin', pathPrefix: '/admin', auth: authRequirement({ anyRole: ['owner'] }), upstream: ADMIN_UPSTREAM }),
  route({ name: 'internal', pathPrefix: '/', host: 'internal.example.com', auth: authRequirement({ anyRole: ['owner'] }), upstream: ADMIN_UPSTREAM }),
  route({ name: 'root', pathPrefix: '/', auth: null, upstream: PUBLIC_UPSTREAM }),
];

/** Targets another hop could read as a different path or host: refused with 400 before any route. */
const AMBIGUOUS_TARGETS = [
  '/public/../admin',
  '/public/./../admin',
  '/public/%2e%2e/admin',
  '/public/%2E%2E/admin',
  '/public/.%2e/admin',
  '/public%2F..%2Fadmin',
  '/public/..%2fadmin',
  '/public/..%5Cadmin',
  '/public\\..\\admin',
  '/public/%252e%252e/admin',
  '//admin',
  '//evil.example/admin',
  '/public//admin',
  '/admin;x=1',
  '/admin;/public',
  '/admin%3B.css',
  '/admin%00',
  '/admin#/../public',
  'http://evil/',
  'http://evil/public',
  'http://user@evil/admin',
  'evil:443',
  '*',
];

t.test('a target the upstream could resolve to another path is refused with 400', async (t) => {
  const targets = AMBIGUOUS_TARGETS;
  for (const url of targets) {
    const { decide, authenticator } = testDecider({ routes });
    const d = await decide(requestFacts({ url, headers: [['Host', 'api.example.com'], ['Authorization', `Bearer ${USER_API_TOKEN}`]] }));
    if (d.allow) {
      t.fail(`${url}: allowed to ${d.route.upstream}${d.path}`);
      continue;
    }
    t.equal(d.error.code, 'ERR_REQUEST_INVALID', url);
    t.equal(d.error.statusCode, 400, `${url}: 400`);
    t.equal(authenticator.calls.length, 0, `${url}: decided before any authentication`);
  }
});

t.test('every spelling of /admin is matched to the admin route', async (t) => {
  const targets = ['/ADMIN', '/Admin/users', '/%61dmin', '/%41DMIN/x', '/admin/', '/admin?x=/public'];
  for (const url of targets) {
    const { decide } = testDecider({ routes });
    const d = await decide(requestFacts({ url, headers: [['Host', 'api.example.com'], ['Authorization', `Bearer ${USER_API_TOKEN}`]] }));
    t.strictSame(d.allow ? { allow: true } : { route: d.route?.name, code: d.error.code }, { route: 'admin', code: 'ERR_AUTH_FORBIDDEN' }, url);
  }
});

t.test('what the upstream receives is the path the decision matched', async (t) => {
  const cases: { url: string; path: string }[] = [
    { url: '/public/%61bc', path: '/public/abc' },
    { url: '/public/a%2db', path: '/public/a-b' },
    { url: '/public/caf%c3%a9', path: '/public/caf%C3%A9' },
    { url: '/public/x?next=/admin/../x', path: '/public/x?next=/admin/../x' },
  ];
  for (const c of cases) {
    const { decide } = testDecider({ routes });
    const d = await decide(requestFacts({ url: c.url }));
    t.strictSame(d.allow ? { route: d.route.name, upstream: d.route.upstream, path: d.path } : d.error.code, { route: 'public', upstream: PUBLIC_UPSTREAM, path: c.path }, c.url);
  }
});

t.test('the Host header picks among configured routes but never the destination', async (t) => {
  const { decide } = testDecider({ routes });
  const evil = await decide(requestFacts({ url: '/anything', headers: [['Host', 'evil']] }));
  t.strictSame(evil.allow ? { route: evil.route.name, upstream: evil.route.upstream } : evil.error.code, { route: 'root', upstream: PUBLIC_UPSTREAM }, 'Host: evil goes to the configured upstream');
  const internal = await decide(requestFacts({ url: '/anything', headers: [['Host', 'INTERNAL.example.com:80']] }));
  t.equal(internal.allow ? 'allowed' : internal.error.code, 'ERR_AUTH_MISSING', 'a host-specific route keeps its requirement in any case and port');
  const at = await decide(requestFacts({ url: '/@evil.example/x', headers: [['Host', 'user@evil.example']] }));
  t.strictSame(at.allow ? { route: at.route.name, upstream: at.route.upstream, path: at.path, xfh: at.headers['x-forwarded-host'] } : at.error.code, {
    route: 'root',
    upstream: PUBLIC_UPSTREAM,
    path: '/@evil.example/x',
    xfh: undefined,
  }, 'an @ in the target or Host is only a path character or a dropped Host');
  const twice = await decide(requestFacts({ url: '/anything', headers: [['Host', 'api.example.com'], ['host', 'internal.example.com']] }));
  t.equal(twice.allow ? 'allowed' : twice.error.code, 'ERR_REQUEST_INVALID', 'two Host lines are refused, whichever a hop would read (RFC 9112 §3.2)');
});

// HTTP level: request lines written raw, since every HTTP client would normalise these targets.

/** One request with the target and Host exactly as given; the connection is closed after it. */
async function rawGet(port: number, target: string, headers: string[] = ['Host: api.example.com']): Promise<ParsedResponse | undefined> {
  const { text } = await rawExchange(port, `GET ${target} HTTP/1.1\r\n${[...headers, 'Connection: close'].join('\r\n')}\r\n\r\n`);
  return parseResponses(text)[0];
}

t.test('over HTTP: a target the upstream could read as another path is refused with 400 before the upstream', async (t) => {
  const s = await startScenario();
  t.teardown(() => s.close());
  const targets = [
    '/public/../admin',
    '/public/%2e%2e/admin',
    '/public/%2E%2E/admin/x',
    '/public%2F..%2Fadmin',
    '/public/..%2fadmin',
    '//admin',
    '//evil.example/public/x',
    '/admin;x=1',
    '/public/x;/../../admin',
    'http://evil/',
    'http://evil/public/x',
    'http://user@evil/public/x',
  ];
  for (const target of targets) {
    const res = await rawGet(s.gateway.port, target, ['Host: evil']);
    t.equal(res?.status, 400, `${target}: 400`);
    t.equal(res?.code(), 'ERR_REQUEST_INVALID', `${target}: code`);
    t.equal(res?.header('www-authenticate'), undefined, `${target}: no challenge`);
  }
  t.equal(s.upstream.started(), 0, 'no refused target reached the upstream');
});

t.test('over HTTP: /ADMIN is the protected /admin route', async (t) => {
  const s = await startScenario();
  t.teardown(() => s.close());
  const viewer = await s.mint({ type: 'tenantAccessToken', claims: { roles: ['viewer'] } });
  const missing = await rawGet(s.gateway.port, '/ADMIN');
  t.equal(missing?.status, 401);
  t.equal(missing?.header('www-authenticate'), 'Bearer realm="m2m-gateway"');
  t.equal(missing?.code(), 'ERR_AUTH_MISSING');
  for (const target of ['/ADMIN', '/Admin/users', '/%61dmin/x']) {
    const forbidden = await rawGet(s.gateway.port, target, ['Host: api.example.com', `X-API-KEY: ${viewer}`]);
    t.equal(forbidden?.status, 403, `${target}: the admin route's requirement applies`);
    t.equal(forbidden?.header('www-authenticate'), 'Bearer realm="m2m-gateway", error="insufficient_scope"', `${target}: challenge`);
    t.equal(forbidden?.code(), 'ERR_AUTH_FORBIDDEN', `${target}: code`);
  }
  t.equal(s.upstream.started(), 0, 'nothing reached the upstream');
  t.strictSame(leakedSecrets(s.gateway.logs.lines(), [viewer]), [], 'no token in the logs');
});

t.test('over HTTP: Host and @ tricks never change where the request goes', async (t) => {
  const s = await startScenario();
  t.teardown(() => s.close());
  const upstreamHost = new URL(s.upstream.url).host;
  const cases: { name: string; target: string; host: string; url: string; forwardedHost: string[] }[] = [
    { name: 'Host: evil', target: '/public/x', host: 'evil', url: '/public/x', forwardedHost: ['evil'] },
    { name: 'Host: evil with a port', target: '/public/x', host: 'evil.example:8443', url: '/public/x', forwardedHost: ['evil.example:8443'] },
    { name: 'userinfo in Host', target: '/public/x', host: 'user@evil.example', url: '/public/x', forwardedHost: [] },
    { name: '@ in the target', target: '/public/@evil.example/x', host: 'api.example.com', url: '/public/@evil.example/x', forwardedHost: ['api.example.com'] },
  ];
  for (const c of cases) {
    const res = await rawGet(s.gateway.port, c.target, [`Host: ${c.host}`]);
    t.equal(res?.status, 200, c.name);
    const seen = s.upstream.received.at(-1)!;
    t.equal(seen.url, c.url, `${c.name}: the path as matched`);
    t.strictSame(rawHeaderValues(seen, 'host'), [upstreamHost], `${c.name}: sent to the configured upstream, with its own authority`);
    t.strictSame(rawHeaderValues(seen, 'x-forwarded-host'), c.forwardedHost, `${c.name}: X-Forwarded-Host only when well-formed`);
  }
  t.equal(s.upstream.received.length, cases.length, 'every request went to the one configured upstream');
});

/**
 * The route a path belongs to, read as an upstream would: dot segments resolved by the WHATWG URL
 * parser, percent-escapes decoded, case folded, `;` parameters cut. An independent reading, not
 * the gateway's, so a normalisation the gateway missed shows up as a disagreement.
 */
function routeAsUpstreamReads(url: string, prefixes: readonly (readonly [string, string])[]): string | undefined {
  let path = new URL(url, 'http://upstream.invalid').pathname;
  try {
    path = decodeURIComponent(path);
  } catch {
    // left encoded: a server that cannot decode it serves it as is
  }
  path = new URL(path.split(';', 1)[0]!.replaceAll('\\', '/'), 'http://upstream.invalid').pathname.toLowerCase();
  return prefixes.find(([prefix]) => path === prefix || path.startsWith(`${prefix}/`))?.[1];
}

t.test('over HTTP: every target is refused, or reaches the upstream on a path whose route is the one authorised', async (t) => {
  const s = await startScenario();
  t.teardown(() => s.close());
  const matchRoute = createRouteMatcher(s.gateway.config.routes);
  const prefixes = s.gateway.config.routes.map((r) => [r.pathPrefix.toLowerCase(), r.name] as const);
  const admin = await s.mint({ type: 'tenantAccessToken', claims: { roles: ['admin'] } });
  const viewer = await s.mint({ type: 'tenantAccessToken', claims: { roles: ['viewer'] } });
  const callers: { name: string; header: string[]; roles: string[] }[] = [
    { name: 'no credential', header: [], roles: [] },
    { name: 'viewer', header: [`X-API-KEY: ${viewer}`], roles: ['viewer'] },
    { name: 'admin', header: [`X-API-KEY: ${admin}`], roles: ['admin'] },
  ];
  const targets = [
    ...AMBIGUOUS_TARGETS,
    '/public/%2e/x',
    '/public/%c0%ae%c0%ae/admin',
    '/public/..;/admin',
    '/public;/../admin',
    '/public/x;/../../admin',
    '/ADMIN',
    '/Admin/users',
    '/%61dmin',
    '/%41DMIN/x',
    '/admin/',
    '/adminx',
    '/admin.json',
    '/admin?x=/public',
    '/public/admin',
    '/public/x?next=/../admin',
    '/public/@evil.example/x',
    'http://evil/admin',
    'http://evil/public/x',
    'http://user@evil/public/x',
  ];
  let forwarded = 0;
  for (const target of targets) {
    for (const caller of callers) {
      const name = `${target} (${caller.name})`;
      const before = s.upstream.received.length;
      const res = await rawGet(s.gateway.port, target, ['Host: api.example.com', ...caller.header]);
      const seen = s.upstream.received.slice(before);
      if (res?.status !== 200) {
        t.ok(res !== undefined && [400, 401, 403, 404].includes(res.status), `${name}: refused (${res?.status})`);
        t.strictSame(seen, [], `${name}: refused before the upstream`);
        continue;
      }
      forwarded++;
      t.equal(seen.length, 1, `${name}: exactly one request upstream`);
      const url = seen[0]!.url;
      t.equal(url, normalizeTarget(target).path, `${name}: the upstream got exactly the path the decision was made on`);
      const logged = s.gateway.logs.entries().find((e) => e['msg'] === 'access' && e['reqId'] === res.header('x-request-id'));
      const authorised = s.gateway.config.routes.find((r) => r.name === logged?.['route']);
      t.ok(authorised !== undefined, `${name}: the access line names the route`);
      t.equal(matchRoute('api.example.com', 'GET', normalizeTarget(url).matchPath)?.name, authorised?.name, `${name}: ${url} matches the authorised route again`);
      t.equal(routeAsUpstreamReads(url, prefixes), authorised?.name, `${name}: ${url} is the authorised route as an upstream reads it`);
      const required = authorised?.auth?.anyRole;
      t.ok(required === undefined || caller.roles.some((r) => required.includes(r)), `${name}: the caller holds what ${authorised?.name} requires`);
    }
  }
  t.ok(forwarded > 0, 'some targets were forwarded, so the checks above ran');
  t.strictSame(leakedSecrets(s.gateway.logs.lines(), [admin, viewer]), [], 'no token in the logs');
});

t.test('over HTTP: no request reaches a host other than the configured upstream', async (t) => {
  const s = await startScenario();
  t.teardown(() => s.close());
  // A live listener the attacker names: any request or connection to it is the failure.
  const evil = await startEchoUpstream();
  t.teardown(() => evil.close());
  const at = `127.0.0.1:${evil.port}`;
  const requests = [
    `GET http://${at}/ HTTP/1.1\r\nHost: ${at}\r\n\r\n`,
    `GET http://${at}/public/x HTTP/1.1\r\nHost: api.example.com\r\n\r\n`,
    `GET http://user@${at}/public/x HTTP/1.1\r\nHost: ${at}\r\n\r\n`,
    `GET //${at}/public/x HTTP/1.1\r\nHost: ${at}\r\n\r\n`,
    `GET /public/x HTTP/1.1\r\nHost: ${at}\r\n\r\n`,
    `GET /public/x HTTP/1.1\r\nHost: user@${at}\r\n\r\n`,
    `GET /public/@${at}/x HTTP/1.1\r\nHost: ${at}\r\n\r\n`,
    `GET /public/x HTTP/1.1\r\nHost: api.example.com\r\nX-Forwarded-Host: ${at}\r\nForwarded: host=${at}\r\n\r\n`,
    `CONNECT ${at} HTTP/1.1\r\nHost: ${at}\r\n\r\n`,
    `OPTIONS * HTTP/1.1\r\nHost: ${at}\r\n\r\n`,
  ];
  const upstreamHost = new URL(s.upstream.url).host;
  for (const bytes of requests) {
    const before = s.upstream.received.length;
    const { text } = await rawExchange(s.gateway.port, bytes.replace('\r\n\r\n', '\r\nConnection: close\r\n\r\n'));
    const [res] = parseResponses(text);
    const line = bytes.split('\r\n', 1)[0]!;
    t.ok(res === undefined || res.status === 200 || res.status === 400, `${line}: forwarded to the configured upstream, refused, or cut (${res?.status})`);
    for (const seen of s.upstream.received.slice(before)) {
      t.strictSame(rawHeaderValues(seen, 'host'), [upstreamHost], `${line}: the upstream's own authority`);
      t.ok(seen.url.startsWith('/public/'), `${line}: a path on the configured upstream (${seen.url})`);
    }
  }
  t.equal(evil.connections(), 0, 'nothing ever connected to the named host');
});

t.test('over HTTP: two Host lines are refused with 400 before any route is chosen', async (t) => {
  const s = await startScenario({
    routes: (u) => [{ name: 'internal', pathPrefix: '/public', host: 'internal.example.com', upstream: u, auth: { anyRole: ['admin'] } }],
  });
  t.teardown(() => s.close());
  // RFC 9112 §3.2: Node routes on the first Host, another hop may use the last.
  for (const hosts of [['api.example.com', 'internal.example.com'], ['internal.example.com', 'api.example.com'], ['api.example.com', 'api.example.com']]) {
    const res = await rawGet(s.gateway.port, '/public/x', hosts.map((h) => `Host: ${h}`));
    t.equal(res?.status, 400, `${hosts.join(' + ')}: 400`);
    t.equal(res?.code(), 'ERR_REQUEST_INVALID', `${hosts.join(' + ')}: code`);
  }
  t.equal(s.upstream.started(), 0, 'nothing reached the upstream');
  t.equal((await rawGet(s.gateway.port, '/public/x', ['Host: internal.example.com']))?.status, 401, 'one Host line still picks its route');
});
