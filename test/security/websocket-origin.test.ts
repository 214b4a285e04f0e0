/**
 * Case 46 (decision part): a WebSocket upgrade with no credential, an invalid token, a token only
 * in the query string, or a cross-site `Origin` is refused (401/403) before any upstream
 * connection; a valid upgrade carries the identity headers (RFC 6455 §10.2, cross-site WebSocket
 * hijacking; Node's `upgrade` event bypasses request handlers, http-proxy #1468/#1439).
 */
import t from 'tap';
import { route } from '../helpers/compiled-config.js';
import { REVOKED_TOKEN, USER_API_TOKEN, requestFacts, testDecider } from '../helpers/decide-fixtures.js';

const routes = [
  route({ name: 'ws', pathPrefix: '/ws', websocket: { allowedOrigins: new Set(['https://app.example.com']) } }),
  route({ name: 'api', pathPrefix: '/api' }),
];

function upgrade(url: string, extra: [string, string][]) {
  return requestFacts({
    url,
    upgrade: true,
    headers: [['Host', 'api.example.com'], ['Connection', 'Upgrade'], ['Upgrade', 'websocket'], ['Sec-WebSocket-Key', 'dGhlIHNhbXBsZSBub25jZQ=='], ['Sec-WebSocket-Version', '13'], ...extra],
  });
}

t.test('an upgrade that is not fully allowed is refused before any upstream connection', async (t) => {
  const cases: { name: string; url: string; headers: [string, string][]; code: string; status: number; called: number }[] = [
    { name: 'no credential', url: '/ws', headers: [['Origin', 'https://app.example.com']], code: 'ERR_AUTH_MISSING', status: 401, called: 0 },
    { name: 'an invalid token', url: '/ws', headers: [['Authorization', 'Bearer not.a.known.token']], code: 'ERR_AUTH_SIGNATURE', status: 401, called: 1 },
    { name: 'a revoked token', url: '/ws', headers: [['Authorization', `Bearer ${REVOKED_TOKEN}`]], code: 'ERR_AUTH_REVOKED', status: 401, called: 1 },
    { name: 'a token only in the query string', url: `/ws?access_token=${USER_API_TOKEN}`, headers: [], code: 'ERR_AUTH_MISSING', status: 401, called: 0 },
    { name: 'a cross-site Origin with a valid token', url: '/ws', headers: [['Origin', 'https://evil.example'], ['Authorization', `Bearer ${USER_API_TOKEN}`]], code: 'ERR_ORIGIN_FORBIDDEN', status: 403, called: 0 },
    { name: 'an allowed origin on another port', url: '/ws', headers: [['Origin', 'https://app.example.com:8443'], ['Authorization', `Bearer ${USER_API_TOKEN}`]], code: 'ERR_ORIGIN_FORBIDDEN', status: 403, called: 0 },
    { name: 'the allowed host over http', url: '/ws', headers: [['Origin', 'http://app.example.com'], ['Authorization', `Bearer ${USER_API_TOKEN}`]], code: 'ERR_ORIGIN_FORBIDDEN', status: 403, called: 0 },
    { name: 'an opaque origin', url: '/ws', headers: [['Origin', 'null'], ['Authorization', `Bearer ${USER_API_TOKEN}`]], code: 'ERR_ORIGIN_FORBIDDEN', status: 403, called: 0 },
    { name: 'a route without WebSocket', url: '/api', headers: [['Authorization', `Bearer ${USER_API_TOKEN}`]], code: 'ERR_REQUEST_INVALID', status: 400, called: 0 },
  ];
  for (const c of cases) {
    const { decide, authenticator } = testDecider({ routes });
    const d = await decide(upgrade(c.url, c.headers));
    if (d.allow) {
      t.fail(`${c.name}: allowed`);
      continue;
    }
    t.equal(d.error.code, c.code, c.name);
    t.equal(d.error.statusCode, c.status, `${c.name}: status`);
    t.equal(authenticator.calls.length, c.called, `${c.name}: authenticator calls`);
  }
});

t.test('a valid upgrade carries the handshake and the identity headers, and no spoofed ones', async (t) => {
  const { decide } = testDecider({ routes });
  const d = await decide(upgrade('/ws/chat', [['Origin', 'https://app.example.com'], ['X-Auth-Tenant-Id', 'other'], ['Authorization', `Bearer ${USER_API_TOKEN}`]]));
  if (!d.allow) return t.fail(d.error.code);
  t.strictSame({ ...d.headers }, {
    origin: 'https://app.example.com',
    'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
    'sec-websocket-version': '13',
    'x-forwarded-for': '203.0.113.7',
    'x-forwarded-proto': 'http',
    'x-forwarded-host': 'api.example.com',
    'x-request-id': 'req-1',
    connection: 'upgrade',
    upgrade: 'websocket',
    'x-auth-user-id': 'user-1',
    'x-auth-tenant-id': 'tenant-1',
    'x-auth-roles': 'admin,reader',
    'x-auth-permissions': 'fe.secure.*,reports.read',
    'x-auth-token-type': 'userApiToken',
    'x-auth-token-id': 'jti-1',
    'x-auth-subject': 'client-1',
  });
});
