import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import { send, startScenario } from '../helpers/scenario.js';

const fingerprint = (token: string) => createHash('sha256').update(token).digest('hex').slice(0, 8);

t.test('a public route forwards the request as sent, with forwarding headers set by the gateway', async (t) => {
  const s = await startScenario();
  t.teardown(() => s.close());
  const res = await send(`${s.gateway.url}/public/items?page=2&sort=asc`, {
    headers: [
      ['x-request-id', 'req-123'],
      ['x-custom', 'kept'],
    ],
  });
  t.equal(res.status, 200);
  t.equal(res.headers['x-request-id'], 'req-123');
  t.equal(s.upstream.received.length, 1);
  const seen = s.upstream.received[0]!;
  t.equal(seen.url, '/public/items?page=2&sort=asc');
  t.equal(seen.headers['x-custom'], 'kept');
  t.equal(seen.headers['x-forwarded-for'], '127.0.0.1');
  t.equal(seen.headers['x-forwarded-proto'], 'http');
  t.equal(seen.headers['x-forwarded-host'], `127.0.0.1:${s.gateway.port}`);
  t.equal(seen.headers['x-request-id'], 'req-123');
  t.equal(seen.headers['host'], new URL(s.upstream.url).host, 'the upstream sees its own authority');
});

t.test('a malformed request id is replaced, and the new one is returned to the client', async (t) => {
  const s = await startScenario();
  t.teardown(() => s.close());
  const res = await send(`${s.gateway.url}/public/x`, { headers: [['x-request-id', 'bad id\twith spaces']] });
  const id = res.headers['x-request-id'];
  t.type(id, 'string');
  t.not(id, 'bad id\twith spaces');
  t.equal(s.upstream.received[0]!.headers['x-request-id'], id);
});

t.test('request and response bodies stream through unchanged', async (t) => {
  const s = await startScenario();
  t.teardown(() => s.close());
  const body = 'x'.repeat(1024 * 1024 + 7);
  const res = await send(`${s.gateway.url}/public/upload`, { method: 'POST', body, headers: [['content-type', 'text/plain']] });
  t.equal(res.status, 200);
  t.equal(s.upstream.received[0]!.body.length, body.length);
  t.equal(res.json<{ body: string }>().body.length, body.length, 'the echoed response came back whole');
});

t.test('a valid access token in X-API-KEY reaches the upstream as identity headers, without the token', async (t) => {
  const s = await startScenario();
  t.teardown(() => s.close());
  const token = await s.mint({ type: 'userAccessToken', claims: { sub: 'access-7', userId: 'user-7', tenantId: 'tenant-7', roles: ['admin', 'viewer'], permissions: ['reports.read', 'fe.secure.*'] } });
  const res = await send(`${s.gateway.url}/api/orders`, { headers: [['x-api-key', token]] });
  t.equal(res.status, 200);
  const seen = s.upstream.received[0]!.headers;
  t.equal(seen['x-auth-user-id'], 'user-7');
  t.equal(seen['x-auth-tenant-id'], 'tenant-7');
  t.equal(seen['x-auth-roles'], 'admin,viewer');
  t.equal(seen['x-auth-permissions'], 'reports.read,fe.secure.*');
  t.equal(seen['x-auth-token-type'], 'userAccessToken');
  t.equal(seen['x-auth-token-id'], 'access-7');
  t.equal(seen['x-auth-subject'], 'access-7');
  t.notOk('x-api-key' in seen, 'the credential is not forwarded');
});

t.test('a client-credentials JWT in Authorization: Bearer is accepted, the scheme in any case', async (t) => {
  const s = await startScenario();
  t.teardown(() => s.close());
  const token = await s.mint({ type: 'tenantApiToken', claims: { jti: 'jti-42', sub: 'client-9', tenantId: 'tenant-9' } });
  for (const scheme of ['Bearer', 'bearer', 'BEARER']) {
    const res = await send(`${s.gateway.url}/api/x`, { headers: [['authorization', `${scheme} ${token}`]] });
    t.equal(res.status, 200, scheme);
  }
  const seen = s.upstream.received[0]!.headers;
  t.notOk('x-auth-user-id' in seen, 'a tenant token has no user');
  t.equal(seen['x-auth-tenant-id'], 'tenant-9');
  t.equal(seen['x-auth-token-id'], 'jti-42');
  t.equal(seen['x-auth-subject'], 'client-9');
  t.notOk('authorization' in seen);
});

t.test('rejections carry the RFC 6750 challenge and a JSON code, and the upstream sees nothing', async (t) => {
  const s = await startScenario();
  t.teardown(() => s.close());
  const good = await s.mint({ type: 'userAccessToken' });
  const viewer = await s.mint({ type: 'userAccessToken', claims: { roles: ['viewer'] } });
  const expired = await s.mint({ type: 'userAccessToken', nowMs: Date.now() - 7_200_000, ttlSeconds: 3600 });
  const realm = 'Bearer realm="m2m-gateway"';
  const cases: { name: string; path: string; headers: [string, string][]; status: number; code: string; challenge?: string }[] = [
    { name: 'no credential', path: '/api/x', headers: [], status: 401, code: 'ERR_AUTH_MISSING', challenge: realm },
    { name: 'a tampered signature', path: '/api/x', headers: [['x-api-key', `${good.slice(0, -4)}AAAA`]], status: 401, code: 'ERR_AUTH_SIGNATURE', challenge: `${realm}, error="invalid_token"` },
    { name: 'an expired token', path: '/api/x', headers: [['x-api-key', expired]], status: 401, code: 'ERR_AUTH_EXPIRED', challenge: `${realm}, error="invalid_token"` },
    { name: 'an access token sent as Bearer', path: '/api/x', headers: [['authorization', `Bearer ${good}`]], status: 401, code: 'ERR_AUTH_TOKEN_TYPE', challenge: `${realm}, error="invalid_token"` },
    { name: 'a missing role', path: '/admin/x', headers: [['x-api-key', viewer]], status: 403, code: 'ERR_AUTH_FORBIDDEN', challenge: `${realm}, error="insufficient_scope"` },
    { name: 'both credential headers', path: '/api/x', headers: [['x-api-key', good], ['authorization', `Bearer ${good}`]], status: 400, code: 'ERR_AUTH_AMBIGUOUS' },
    { name: 'no route', path: '/nowhere', headers: [], status: 404, code: 'ERR_ROUTE_NOT_FOUND' },
  ];
  for (const c of cases) {
    const res = await send(`${s.gateway.url}${c.path}`, { headers: c.headers });
    t.equal(res.status, c.status, c.name);
    t.equal(res.json().code, c.code, c.name);
    t.strictSame(res.json().errors, [res.json<{ errors: string[] }>().errors[0]], `${c.name}: one generic message`);
    t.equal(res.headers['content-type'], 'application/json; charset=utf-8');
    t.equal(res.headers['cache-control'], 'no-store');
    if (c.challenge !== undefined) t.equal(res.headers['www-authenticate'], c.challenge, c.name);
  }
  t.equal(s.upstream.received.length, 0, 'no rejected request reached the upstream');
});

t.test('keep-alive connections to the upstream are reused: no per-request connect', async (t) => {
  const s = await startScenario();
  t.teardown(() => s.close());
  const token = await s.mint({ type: 'tenantAccessToken' });
  for (let i = 0; i < 50; i += 1) {
    const res = await send(`${s.gateway.url}/api/x`, { headers: [['x-api-key', token]] });
    t.equal(res.status, 200);
  }
  t.equal(s.upstream.received.length, 50);
  t.ok(s.upstream.connections() <= 2, `50 sequential requests used ${s.upstream.connections()} upstream connection(s)`);
});

t.test('upstream redirects are returned to the client, never followed', async (t) => {
  const s = await startScenario();
  t.teardown(() => s.close());
  s.upstream.handle((_req, res) => {
    res.writeHead(302, { location: 'http://evil.example/steal' }).end();
  });
  const token = await s.mint({ type: 'tenantAccessToken' });
  const res = await send(`${s.gateway.url}/api/x`, { headers: [['x-api-key', token]] });
  t.equal(res.status, 302);
  t.equal(res.headers['location'], 'http://evil.example/steal');
  t.equal(s.upstream.received.length, 1);
});

t.test('upstream failures map to 502 and 504 without internal details, and the gateway stays up', async (t) => {
  // An upstream that hangs (never answers) and one that resets the connection.
  const hang = createServer(() => undefined);
  const reset = createServer((req) => req.socket.destroy());
  await Promise.all([new Promise<void>((r) => hang.listen(0, '127.0.0.1', r)), new Promise<void>((r) => reset.listen(0, '127.0.0.1', r))]);
  const closed = createServer();
  await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
  const closedPort = (closed.address() as AddressInfo).port;
  await new Promise<void>((r) => closed.close(() => r()));
  const s = await startScenario({
    routes: () => [
      { name: 'hang', pathPrefix: '/hang', upstream: `http://127.0.0.1:${(hang.address() as AddressInfo).port}`, auth: 'none' },
      { name: 'reset', pathPrefix: '/reset', upstream: `http://127.0.0.1:${(reset.address() as AddressInfo).port}`, auth: 'none' },
      { name: 'down', pathPrefix: '/down', upstream: `http://127.0.0.1:${closedPort}`, auth: 'none' },
    ],
    config: { upstream: { headersTimeoutMs: 300 } },
  });
  t.teardown(async () => {
    await s.close();
    hang.closeAllConnections();
    await new Promise<void>((r) => hang.close(() => r()));
    await new Promise<void>((r) => reset.close(() => r()));
  });
  const cases = [
    { path: '/hang/x', status: 504, code: 'ERR_UPSTREAM_TIMEOUT' },
    { path: '/reset/x', status: 502, code: 'ERR_UPSTREAM_UNAVAILABLE' },
    { path: '/down/x', status: 502, code: 'ERR_UPSTREAM_UNAVAILABLE' },
  ];
  for (const c of cases) {
    const res = await send(`${s.gateway.url}${c.path}`);
    t.equal(res.status, c.status, c.path);
    t.equal(res.json().code, c.code, c.path);
    t.notMatch(res.body, /ECONN|UND_ERR|at /, 'no internal detail in the body');
  }
  const after = await send(`${s.gateway.url}/public/x`);
  t.equal(after.status, 200, 'still serving');
});

t.test('the access log has one line per request with a fingerprint, and never a token', async (t) => {
  const s = await startScenario();
  t.teardown(() => s.close());
  const token = await s.mint({ type: 'userApiToken' });
  const bad = `${token.slice(0, -6)}AAAAAA`;
  await send(`${s.gateway.url}/api/x?access_token=${token}`, { headers: [['authorization', `Bearer ${token}`], ['x-request-id', 'log-1']] });
  await send(`${s.gateway.url}/api/x`, { headers: [['authorization', `Bearer ${bad}`], ['x-request-id', 'log-2']] });
  const access = s.gateway.logs.entries().filter((e) => e['msg'] === 'access');
  t.equal(access.length, 2);
  const [ok, denied] = access as [Record<string, unknown>, Record<string, unknown>];
  t.match(ok, { reqId: 'log-1', route: 'api', method: 'GET', path: '/api/x', status: 200, decision: 'allow', reason: 'OK', credential: 'bearer', tokenFp: fingerprint(token) });
  t.match(denied, { reqId: 'log-2', status: 401, decision: 'deny', reason: 'ERR_AUTH_SIGNATURE', tokenFp: fingerprint(bad) });
  t.type(ok['durationMs'], 'number');
  for (const line of s.gateway.logs.lines()) {
    t.notOk(line.includes(token) || line.includes(bad), 'no log line contains a token');
    t.notOk(line.includes(token.split('.')[1]!), 'no log line contains a token payload');
  }
});

t.test('the admin listener serves metrics, health and readiness', async (t) => {
  const s = await startScenario();
  t.teardown(() => s.close());
  const token = await s.mint({ type: 'tenantAccessToken' });
  await send(`${s.gateway.url}/api/x`, { headers: [['x-api-key', token]] });
  await send(`${s.gateway.url}/api/x`, { headers: [['x-api-key', token]] });
  await send(`${s.gateway.url}/api/x`);
  const metrics = await send(`${s.gateway.adminUrl}/metrics`);
  t.equal(metrics.status, 200);
  t.match(metrics.headers['content-type'], /^text\/plain/);
  t.match(metrics.body, /m2m_gateway_requests_total\{route="api",method="GET",status_class="2xx"\} 2/);
  t.match(metrics.body, /m2m_gateway_requests_total\{route="api",method="GET",status_class="4xx"\} 1/);
  t.match(metrics.body, /m2m_gateway_auth_decisions_total\{kind="apiKey",result="allow",reason="OK"\} 2/);
  t.match(metrics.body, /m2m_gateway_auth_decisions_total\{kind="none",result="deny",reason="ERR_AUTH_MISSING"\} 1/);
  t.match(metrics.body, /m2m_gateway_cache_events_total\{cache="verified",event="hit"\} 1/);
  t.match(metrics.body, /m2m_gateway_jwks_key_set_age_seconds\{issuer="main"\} \d/);
  t.match(metrics.body, /m2m_gateway_request_duration_seconds_bucket\{le="0.001",route="api"\}/);
  t.notMatch(metrics.body, new RegExp(token.slice(0, 20)), 'no token in metrics');
  t.equal((await send(`${s.gateway.adminUrl}/healthz`)).status, 200);
  t.equal((await send(`${s.gateway.adminUrl}/readyz`)).status, 200);
  t.equal((await send(`${s.gateway.adminUrl}/nope`)).status, 404);
});

t.test('without a key set the gateway is not ready and protected routes answer 503', async (t) => {
  const s = await startScenario({ withoutKeys: true });
  t.teardown(() => s.close());
  t.equal((await send(`${s.gateway.adminUrl}/readyz`)).status, 503);
  t.equal((await send(`${s.gateway.adminUrl}/healthz`)).status, 200, 'alive all the same');
  const token = await s.mint({ type: 'tenantAccessToken' });
  const res = await send(`${s.gateway.url}/api/x`, { headers: [['x-api-key', token]] });
  t.equal(res.status, 503);
  t.equal(res.json().code, 'ERR_AUTH_KEYS_UNAVAILABLE');
  t.equal((await send(`${s.gateway.url}/public/x`)).status, 200, 'public routes still pass');
  t.equal(s.upstream.received.length, 1);
});

t.test('shutdown lets an in-flight request finish, then refuses new connections', async (t) => {
  const s = await startScenario();
  let release: () => void = () => undefined;
  s.upstream.handle((_req, res) => {
    release = () => res.writeHead(200, { 'content-type': 'text/plain' }).end('late but whole');
  });
  const inFlight = send(`${s.gateway.url}/public/slow`);
  while (s.upstream.received.length === 0) await new Promise((r) => setImmediate(r));
  const closing = s.gateway.close();
  t.equal((await send(`${s.gateway.adminUrl}/readyz`).catch(() => ({ status: 0 }))).status, 503, 'not ready while draining');
  release();
  const res = await inFlight;
  t.equal(res.status, 200);
  t.equal(res.body, 'late but whole');
  await closing;
  await t.rejects(send(`${s.gateway.url}/public/x`), 'no longer accepting');
  await s.upstream.close();
});
