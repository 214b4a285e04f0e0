/**
 * Case 42: path and authority tricks. The authorization decision uses the path the upstream will
 * receive, or the request is refused with 400; no request is ever sent to a host other than the
 * route's configured upstream (Envoy CVE-2026-73511; fastify-reply-from `buildURL`).
 */
import t from 'tap';
import { authRequirement, route } from '../helpers/compiled-config.js';
import { USER_API_TOKEN, requestFacts, testDecider } from '../helpers/decide-fixtures.js';
import { rawHeaderValues } from '../../scripts/echo-upstream.js';
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

t.test('a target the upstream could resolve to another path is refused with 400', async (t) => {
  const targets = [
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
