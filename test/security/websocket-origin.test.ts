/**
 * Case 46: a WebSocket upgrade with no credential, an invalid token, a token only in the query
 * string, or a cross-site `Origin` is refused (401/403) before any upstream connection; a valid
 * upgrade is tunnelled with the identity headers and without the credential; a client that
 * resets before or after the 101 does not take the gateway down (RFC 6455 §10.2, cross-site
 * WebSocket hijacking; Node's `upgrade` event bypasses request handlers, http-proxy #1468/#1439).
 */
import { connect, type Socket } from 'node:net';
import t from 'tap';
import { rawHeaderValues } from '../../scripts/echo-upstream.js';
import { route } from '../helpers/compiled-config.js';
import { REVOKED_TOKEN, USER_API_IDENTITY_HEADERS, USER_API_TOKEN, requestFacts, testDecider } from '../helpers/decide-fixtures.js';
import { leakedSecrets } from '../helpers/log-sink.js';
import { rawExchange } from '../helpers/raw-http.js';
import { parseResponses } from '../helpers/raw-response.js';
import { startScenario } from '../helpers/scenario.js';

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
    ...USER_API_IDENTITY_HEADERS,
  });
});

// HTTP level: what a refused upgrade answers, and that the upstream was not even connected to;
// what a tunnelled one carries; resets around the 101.

t.test('over HTTP: a refused upgrade gets the full error answer and opens no upstream connection', async (t) => {
  const s = await startScenario({
    routes: (u) => [{ name: 'ws', pathPrefix: '/ws', upstream: u, auth: {}, websocket: { allowedOrigins: ['https://app.example'] } }],
  });
  t.teardown(() => s.close());
  const token = await s.mint({ type: 'tenantAccessToken' });
  const realm = 'Bearer realm="m2m-gateway"';
  const cases: { name: string; target: string; headers: string[]; status: number; code: string; challenge: string | undefined }[] = [
    { name: 'no credential', target: '/ws/chat', headers: [], status: 401, code: 'ERR_AUTH_MISSING', challenge: realm },
    { name: 'an invalid token', target: '/ws/chat', headers: [`X-API-KEY: ${token.slice(0, -4)}AAAA`], status: 401, code: 'ERR_AUTH_SIGNATURE', challenge: `${realm}, error="invalid_token"` },
    { name: 'a token only in the query string', target: `/ws/chat?access_token=${token}`, headers: [], status: 401, code: 'ERR_AUTH_MISSING', challenge: realm },
    { name: 'a cross-site origin', target: '/ws/chat', headers: [`X-API-KEY: ${token}`, 'Origin: https://evil.example'], status: 403, code: 'ERR_ORIGIN_FORBIDDEN', challenge: undefined },
    { name: 'a route without WebSocket', target: '/api/x', headers: [`X-API-KEY: ${token}`], status: 400, code: 'ERR_REQUEST_INVALID', challenge: undefined },
  ];
  for (const c of cases) {
    const head = [`GET ${c.target} HTTP/1.1`, 'Host: x', 'Connection: Upgrade', 'Upgrade: websocket', 'Sec-WebSocket-Version: 13', 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==', ...c.headers];
    const { text, closed } = await rawExchange(s.gateway.port, `${head.join('\r\n')}\r\n\r\n`);
    const [res] = parseResponses(text);
    t.equal(res?.status, c.status, `${c.name}: status`);
    t.equal(res?.header('www-authenticate'), c.challenge, `${c.name}: challenge`);
    t.equal(res?.code(), c.code, `${c.name}: code`);
    t.ok(closed, `${c.name}: connection closed`);
  }
  t.equal(s.upstream.connections(), 0, 'the upstream was never connected to');
  t.strictSame(leakedSecrets(s.gateway.logs.lines(), [token]), [], 'no token in the logs, the query-string one included');
});

/** Sends a raw upgrade request and resolves with the first response head and the open socket. */
function openUpgrade(port: number, path: string, headers: [string, string][]): Promise<{ head: string; socket: Socket }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => {
      const lines = [`GET ${path} HTTP/1.1`, `host: 127.0.0.1:${port}`, 'connection: Upgrade', 'upgrade: websocket', 'sec-websocket-version: 13', 'sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ=='];
      for (const [n, v] of headers) lines.push(`${n}: ${v}`);
      socket.write(`${lines.join('\r\n')}\r\n\r\n`);
    });
    let data = '';
    socket.on('data', function onData(chunk: Buffer) {
      data += chunk.toString('latin1');
      if (data.includes('\r\n\r\n')) {
        socket.off('data', onData);
        resolve({ head: data, socket });
      }
    });
    socket.on('error', reject);
    socket.on('close', () => resolve({ head: data, socket }));
  });
}

const wsRoutes = (u: string) => [
  { name: 'ws', pathPrefix: '/ws', upstream: u, auth: {}, websocket: { allowedOrigins: ['https://app.example'] } },
  { name: 'ws-public', pathPrefix: '/live', upstream: u, auth: 'none', websocket: {} },
];

t.test('over HTTP: an allowed upgrade is tunnelled with the identity headers, without the credential or the spoof', async (t) => {
  const s = await startScenario({ routes: wsRoutes });
  t.teardown(() => s.close());
  const token = await s.mint({ type: 'tenantAccessToken', claims: { tenantId: 'tenant-ws' } });
  const { head, socket } = await openUpgrade(s.gateway.port, '/ws/chat', [
    ['x-api-key', token],
    ['x-auth-tenant-id', 'spoofed'],
    ['X_Auth_Tenant_Id', 'spoofed'],
    ['origin', 'https://app.example'],
  ]);
  t.match(head, /^HTTP\/1\.1 101 /);
  t.equal(s.upstream.upgrades.length, 1);
  const seen = s.upstream.upgrades[0]!;
  t.equal(seen.url, '/ws/chat');
  t.strictSame(rawHeaderValues(seen, 'x-auth-tenant-id'), ['tenant-ws'], 'the identity is injected, the spoofs stripped');
  t.strictSame(rawHeaderValues(seen, 'x_auth_tenant_id'), []);
  t.equal(seen.headers['upgrade'], 'websocket');
  t.strictSame(rawHeaderValues(seen, 'x-api-key'), [], 'the credential is not forwarded');
  const echoed = new Promise<string>((resolve) => socket.once('data', (c: Buffer) => resolve(c.toString())));
  socket.write('ping');
  t.equal(await echoed, 'ping', 'bytes flow both ways');
  socket.destroy();
  t.strictSame(leakedSecrets(s.gateway.logs.lines(), [token]), [], 'no token in the logs');
});

t.test('over HTTP: a client that resets before or after the 101 does not take the gateway down', async (t) => {
  const s = await startScenario({ routes: wsRoutes });
  t.teardown(() => s.close());
  for (let i = 0; i < 20; i += 1) {
    const early = connect(s.gateway.port, '127.0.0.1');
    early.on('error', () => undefined);
    early.write('GET /live/x HTTP/1.1\r\nhost: x\r\nconnection: Upgrade\r\nupgrade: websocket\r\n\r\n');
    early.destroy();
    const { socket } = await openUpgrade(s.gateway.port, '/live/x', []);
    socket.resetAndDestroy();
  }
  const { head, socket } = await openUpgrade(s.gateway.port, '/live/x', []);
  t.match(head, /^HTTP\/1\.1 101 /, 'still tunnelling');
  socket.destroy();
  const token = await s.mint({ type: 'tenantAccessToken' });
  const res = await fetch(`${s.gateway.url}/ws/x`, { headers: { 'x-api-key': token } });
  t.equal(res.status, 200, 'and still serving plain requests');
  t.notOk(s.gateway.logs.lines().some((l) => /"level":"(error|fatal)"/.test(l)), 'no error logged: nothing escaped a handler');
  t.strictSame(leakedSecrets(s.gateway.logs.lines(), [token]), [], 'no token in the logs');
});
