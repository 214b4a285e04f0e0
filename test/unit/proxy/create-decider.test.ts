import t from 'tap';
import { tokenFingerprint } from '../../../src/auth/token-hash.js';
import { GatewayError } from '../../../src/errors.js';
import { createDecider } from '../../../src/proxy/create-decider.js';
import type { Decision } from '../../../src/proxy/decide.js';
import { authRequirement, compiledConfig, route } from '../../helpers/compiled-config.js';
import { TENANT_ACCESS_IDENTITY, USER_API_IDENTITY, USER_API_IDENTITY_HEADERS, fakeAuthenticator, requestFacts, type FakeOutcome } from '../../helpers/decide-fixtures.js';

const GOOD = 'good.user.token';
const TENANT = 'good.tenant.token';
const FP = tokenFingerprint(GOOD);

const ROUTES = [
  route({ name: 'public', pathPrefix: '/public', auth: null }),
  route({ name: 'api', pathPrefix: '/api' }),
  route({ name: 'admin', pathPrefix: '/admin', auth: authRequirement({ anyRole: ['owner'] }) }),
  route({ name: 'ws', pathPrefix: '/ws', websocket: { allowedOrigins: new Set(['https://App.example.com']) } }),
];

function setup(outcomes: Record<string, FakeOutcome> = { [GOOD]: USER_API_IDENTITY, [TENANT]: TENANT_ACCESS_IDENTITY }) {
  const authenticator = fakeAuthenticator(outcomes);
  const decide = createDecider(compiledConfig({ routes: ROUTES }), { authenticator });
  return { decide, authenticator };
}

const IDENTITY_HEADERS = USER_API_IDENTITY_HEADERS;
const FORWARDED = { 'x-forwarded-for': '203.0.113.7', 'x-forwarded-proto': 'http', 'x-forwarded-host': 'api.example.com', 'x-request-id': 'req-1' };

function denied(d: Decision) {
  return d.allow ? { allow: true } : { allow: false, code: d.error.code, route: d.route?.name, kind: d.credentialKind, fp: d.tokenFingerprint };
}

t.test('an authenticated request is allowed with sanitized headers and the identity injected', async (t) => {
  const { decide, authenticator } = setup();
  const d = await decide(
    requestFacts({
      url: '/API/items?x=%2e',
      headers: [
        ['Host', 'api.example.com'],
        ['Authorization', `Bearer ${GOOD}`],
        ['X-Auth-Roles', 'owner'],
        ['Accept', 'application/json'],
      ],
    }),
  );
  if (!d.allow) return t.fail(`denied: ${d.error.code}`);
  t.equal(d.route.name, 'api');
  t.equal(d.path, '/API/items?x=%2e', 'the path keeps its case and its query');
  t.equal(d.identity, USER_API_IDENTITY);
  t.equal(d.credentialKind, 'bearer');
  t.equal(d.tokenFingerprint, FP);
  t.strictSame({ ...d.headers }, { accept: 'application/json', ...FORWARDED, ...IDENTITY_HEADERS });
  t.strictSame(authenticator.calls, [{ kind: 'bearer', token: GOOD }]);
});

t.test('a public route is allowed without reading or checking any credential', async (t) => {
  const { decide, authenticator } = setup();
  const d = await decide(requestFacts({ url: '/public/x', headers: [['Host', 'api.example.com'], ['X-API-KEY', 'garbage'], ['Authorization', 'Bearer x'], ['X-Auth-User-Id', 'spoof']] }));
  if (!d.allow) return t.fail(`denied: ${d.error.code}`);
  t.equal(d.identity, undefined);
  t.equal(d.credentialKind, undefined);
  t.equal(d.tokenFingerprint, undefined);
  t.strictSame({ ...d.headers }, FORWARDED, 'sanitized all the same');
  t.equal(authenticator.calls.length, 0);
});

t.test('each refusal is a Deny with its code and what was known when it happened', async (t) => {
  const cases: { name: string; url?: string; method?: string; headers: [string, string][]; upgrade?: boolean; expected: ReturnType<typeof denied>; called: number }[] = [
    { name: 'an invalid target', url: '/public/../api', headers: [['Authorization', `Bearer ${GOOD}`]], expected: { allow: false, code: 'ERR_REQUEST_INVALID', route: undefined, kind: undefined, fp: undefined }, called: 0 },
    { name: 'no route', url: '/nowhere', headers: [['Authorization', `Bearer ${GOOD}`]], expected: { allow: false, code: 'ERR_ROUTE_NOT_FOUND', route: undefined, kind: undefined, fp: undefined }, called: 0 },
    { name: 'no credential', url: '/api', headers: [], expected: { allow: false, code: 'ERR_AUTH_MISSING', route: 'api', kind: undefined, fp: undefined }, called: 0 },
    { name: 'two credentials', url: '/api', headers: [['Authorization', `Bearer ${GOOD}`], ['X-API-KEY', TENANT]], expected: { allow: false, code: 'ERR_AUTH_AMBIGUOUS', route: 'api', kind: undefined, fp: undefined }, called: 0 },
    { name: 'a malformed bearer', url: '/api', headers: [['Authorization', 'Bearer']], expected: { allow: false, code: 'ERR_AUTH_MALFORMED', route: 'api', kind: undefined, fp: undefined }, called: 0 },
    { name: 'an oversized token', url: '/api', headers: [['X-API-KEY', 'a'.repeat(8193)]], expected: { allow: false, code: 'ERR_AUTH_TOO_LARGE', route: 'api', kind: 'apiKey', fp: undefined }, called: 0 },
    { name: 'a token the authenticator refuses', url: '/api', headers: [['Authorization', 'Bearer unknown']], expected: { allow: false, code: 'ERR_AUTH_SIGNATURE', route: 'api', kind: 'bearer', fp: tokenFingerprint('unknown') }, called: 1 },
    { name: 'an unmet route requirement', url: '/admin', headers: [['Authorization', `Bearer ${GOOD}`]], expected: { allow: false, code: 'ERR_AUTH_FORBIDDEN', route: 'admin', kind: 'bearer', fp: FP }, called: 1 },
    { name: 'an upgrade on a route without websocket', url: '/api', headers: [['Upgrade', 'websocket'], ['Authorization', `Bearer ${GOOD}`]], upgrade: true, expected: { allow: false, code: 'ERR_REQUEST_INVALID', route: 'api', kind: undefined, fp: undefined }, called: 0 },
  ];
  for (const c of cases) {
    const { decide, authenticator } = setup();
    const d = await decide(requestFacts({ url: c.url, method: c.method, upgrade: c.upgrade, headers: [['Host', 'api.example.com'], ...c.headers] }));
    t.strictSame(denied(d), c.expected, c.name);
    t.equal(authenticator.calls.length, c.called, `${c.name}: authenticator calls`);
  }
});

t.test('a token exactly at the size cap is passed on to the authenticator', async (t) => {
  const token = 'a'.repeat(8192);
  const { decide, authenticator } = setup({ [token]: TENANT_ACCESS_IDENTITY });
  const d = await decide(requestFacts({ url: '/api', headers: [['X-API-KEY', token]] }));
  t.equal(d.allow, true);
  t.equal(authenticator.calls.length, 1);
});

t.test('identity values the header builder refuses deny the request', async (t) => {
  const { decide } = setup({ [GOOD]: { ...USER_API_IDENTITY, subject: 'a\r\nb' } });
  const d = await decide(requestFacts({ url: '/api', headers: [['Authorization', `Bearer ${GOOD}`]] }));
  t.strictSame(denied(d), { allow: false, code: 'ERR_AUTH_CLAIMS', route: 'api', kind: 'bearer', fp: FP });
});

t.test('an authenticator bug is rethrown, not turned into a refusal', async (t) => {
  const bug = new TypeError('cannot read properties of undefined');
  const { decide } = setup({ [GOOD]: bug });
  await t.rejects(decide(requestFacts({ url: '/api', headers: [['Authorization', `Bearer ${GOOD}`]] })), bug);
});

t.test('an authenticator GatewayError of any code becomes the Deny error itself', async (t) => {
  const { decide } = setup({ [GOOD]: 'ERR_AUTH_KEYS_UNAVAILABLE' });
  const d = await decide(requestFacts({ url: '/api', headers: [['Authorization', `Bearer ${GOOD}`]] }));
  t.equal(d.allow, false);
  if (!d.allow) {
    t.ok(d.error instanceof GatewayError);
    t.equal(d.error.code, 'ERR_AUTH_KEYS_UNAVAILABLE');
    t.equal(d.error.statusCode, 503);
  }
});

t.test('a cached identity yields the same injected values on every request', async (t) => {
  const { decide } = setup();
  const facts = requestFacts({ url: '/api', headers: [['Authorization', `Bearer ${GOOD}`]] });
  const a = await decide(facts);
  const b = await decide(facts);
  if (!a.allow || !b.allow) return t.fail('denied');
  t.not(a.headers, b.headers, 'each request gets its own headers object');
  t.strictSame({ ...a.headers }, { ...b.headers });
});

t.test('a WebSocket upgrade is checked before authentication and keeps its handshake', async (t) => {
  const ws = (headers: [string, string][]) => requestFacts({ url: '/ws/chat', upgrade: true, headers: [['Host', 'api.example.com'], ['Connection', 'Upgrade'], ['Upgrade', 'websocket'], ...headers] });
  const cases: { name: string; headers: [string, string][]; code: string | undefined; called: number }[] = [
    { name: 'an allowed origin in another case', headers: [['Origin', 'https://app.EXAMPLE.com'], ['Authorization', `Bearer ${GOOD}`]], code: undefined, called: 1 },
    { name: 'no origin (not a browser)', headers: [['Authorization', `Bearer ${GOOD}`]], code: undefined, called: 1 },
    { name: 'a cross-site origin', headers: [['Origin', 'https://evil.example'], ['Authorization', `Bearer ${GOOD}`]], code: 'ERR_ORIGIN_FORBIDDEN', called: 0 },
    { name: 'an opaque origin', headers: [['Origin', 'null'], ['Authorization', `Bearer ${GOOD}`]], code: 'ERR_ORIGIN_FORBIDDEN', called: 0 },
    { name: 'no credential', headers: [['Origin', 'https://app.example.com']], code: 'ERR_AUTH_MISSING', called: 0 },
  ];
  for (const c of cases) {
    const { decide, authenticator } = setup();
    const d = await decide(ws(c.headers));
    t.equal(d.allow ? undefined : d.error.code, c.code, c.name);
    t.equal(authenticator.calls.length, c.called, `${c.name}: authenticator calls`);
  }
  const { decide } = setup();
  const h2c = await decide(requestFacts({ url: '/ws', upgrade: true, headers: [['Upgrade', 'h2c'], ['Authorization', `Bearer ${GOOD}`]] }));
  t.equal(h2c.allow ? undefined : h2c.error.code, 'ERR_REQUEST_INVALID', 'an upgrade to another protocol');
  const ok = await decide(ws([['Sec-WebSocket-Key', 'k'], ['Authorization', `Bearer ${GOOD}`]]));
  if (!ok.allow) return t.fail('denied');
  t.strictSame({ ...ok.headers }, { 'sec-websocket-key': 'k', ...FORWARDED, connection: 'upgrade', upgrade: 'websocket', ...IDENTITY_HEADERS });
});

t.test('the route is matched on method and host as well as path', async (t) => {
  const authenticator = fakeAuthenticator({ [GOOD]: USER_API_IDENTITY });
  const decide = createDecider(
    compiledConfig({
      routes: [
        route({ name: 'read', pathPrefix: '/', methods: new Set(['GET']), auth: null }),
        route({ name: 'internal', pathPrefix: '/', host: 'internal.example.com' }),
      ],
    }),
    { authenticator },
  );
  const post = await decide(requestFacts({ method: 'POST', url: '/x' }));
  t.equal(post.allow ? 'allowed' : post.error.code, 'ERR_ROUTE_NOT_FOUND');
  const internal = await decide(requestFacts({ url: '/x', headers: [['Host', 'Internal.Example.com:443']] }));
  t.equal(internal.allow ? 'allowed' : internal.error.code, 'ERR_AUTH_MISSING', 'the host route wins for its host');
});
