/**
 * Security case 51 for the token store: when the SQLite file under a running gateway becomes
 * unreadable (here: overwritten, with its WAL and shared-memory files, so the real driver answers
 * SQLITE_NOTADB), every route that needs the store fails closed, at once, with 503 in its own error
 * shape — Frontegg `{"errors":[…]}` on Frontegg routes and the proxy, RFC 6749
 * `temporarily_unavailable` on /oauth/token — never a 500, never an allow, and no log line carries
 * a secret or a token.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, openSync, closeSync, rmSync, statSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { startEchoUpstream } from '../../scripts/echo-upstream.js';
import { leakedSecrets } from '../helpers/log-sink.js';
import { withTestDatabase } from '../helpers/postgres.js';
import { serveConfig, watchResources } from '../helpers/process-resources.js';
import { VENDOR as PROCESS_VENDOR } from '../helpers/processes.js';
import { startTcpRelay } from '../helpers/tcp-relay.js';
import { basicAuth, createTenantApiToken, postForm, startTokenScenario, VENDOR } from '../helpers/token-scenario.js';
import { waitFor } from '../helpers/wait.js';

/** Garbage over every byte of the database, its WAL and its shared-memory index, as a failed disk would leave them. */
function ruin(path: string): void {
  for (const file of [path, `${path}-wal`, `${path}-shm`]) {
    const size = Math.max(statSync(file).size, 4096);
    const fd = openSync(file, 'r+');
    try {
      writeSync(fd, Buffer.alloc(size, 0x5a), 0, size, 0);
    } finally {
      closeSync(fd);
    }
  }
}

/**
 * How long a request may wait on a store that is down or hangs: the driver's connect and statement
 * timeouts (5 s each) and a margin for a loaded machine.
 */
const STORE_BOUND_MS = 15_000;

const FRONTEGG_503 = { errors: ['Store unavailable'], code: 'ERR_STORE_UNAVAILABLE' };
const OAUTH_503 = { error: 'temporarily_unavailable', error_description: 'Store unavailable' };

t.test('an unreadable SQLite store: exchange, refresh, management and the proxy answer 503 in their shape', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'm2m-outage-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'store.db');
  const s = await startTokenScenario({ store: { driver: 'sqlite', path } });
  t.teardown(() => s.close());
  const url = s.gateway.url;
  const json = { 'content-type': 'application/json' };

  // Everything a client holds before the outage; none of it has been checked at the proxy yet, so no answer is cached.
  const vendor = await s.vendorToken();
  const client = await createTenantApiToken(s);
  const issued = (await (await fetch(`${url}/identity/resources/auth/v1/api-token`, { method: 'POST', headers: json, body: JSON.stringify(client) })).json()) as Record<string, string>;
  const access = await fetch(`${url}/identity/resources/tenants/access-tokens/v1`, {
    method: 'POST',
    headers: { authorization: `Bearer ${vendor}`, 'frontegg-tenant-id': 'tenant-1', ...json },
    body: '{}',
  });
  const apiKey = ((await access.json()) as { secret: string }).secret;
  t.type(issued.refreshToken, 'string', 'the gateway worked before the outage');
  t.equal((await fetch(`${s.gateway.adminUrl}/readyz`)).status, 200, 'ready before the outage');

  ruin(path);

  const cases: { name: string; send: () => Promise<Response>; shape: Record<string, unknown> }[] = [
    { name: 'v1 exchange', send: () => fetch(`${url}/identity/resources/auth/v1/api-token`, { method: 'POST', headers: json, body: JSON.stringify(client) }), shape: FRONTEGG_503 },
    { name: 'v2 exchange', send: () => fetch(`${url}/identity/resources/auth/v2/api-token`, { method: 'POST', headers: json, body: JSON.stringify(client) }), shape: FRONTEGG_503 },
    { name: 'OAuth client_credentials', send: () => postForm(s, '/oauth/token', 'grant_type=client_credentials', { authorization: basicAuth(client.clientId, client.secret) }), shape: OAUTH_503 },
    {
      name: 'v1 refresh',
      send: () => fetch(`${url}/identity/resources/auth/v1/api-token/token/refresh`, { method: 'POST', headers: json, body: JSON.stringify({ refreshToken: issued.refreshToken }) }),
      shape: FRONTEGG_503,
    },
    {
      name: 'OAuth refresh_token',
      send: () => postForm(s, '/oauth/token', new URLSearchParams({ grant_type: 'refresh_token', refresh_token: issued.refreshToken! }).toString(), { authorization: basicAuth(client.clientId, client.secret) }),
      shape: OAUTH_503,
    },
    {
      name: 'OAuth revoke',
      send: () => postForm(s, '/oauth/revoke', new URLSearchParams({ token: issued.refreshToken! }).toString(), { authorization: basicAuth(client.clientId, client.secret) }),
      shape: OAUTH_503,
    },
    {
      name: 'management: create a tenant API token',
      send: () => fetch(`${url}/identity/resources/tenants/api-tokens/v2`, { method: 'POST', headers: { authorization: `Bearer ${vendor}`, 'frontegg-tenant-id': 'tenant-1', ...json }, body: '{}' }),
      shape: FRONTEGG_503,
    },
    {
      name: 'management: create a user API token',
      send: () =>
        fetch(`${url}/identity/resources/users/api-tokens/v1`, {
          method: 'POST',
          headers: { authorization: `Bearer ${vendor}`, 'frontegg-tenant-id': 'tenant-1', 'frontegg-user-id': 'user-1', ...json },
          body: '{}',
        }),
      shape: FRONTEGG_503,
    },
    { name: 'proxy: client-credentials JWT (liveness check)', send: () => fetch(`${url}/api/x`, { headers: { authorization: `Bearer ${issued.accessToken!}` } }), shape: FRONTEGG_503 },
    { name: 'proxy: access token (liveness check)', send: () => fetch(`${url}/api/x`, { headers: { 'x-api-key': apiKey } }), shape: FRONTEGG_503 },
  ];
  for (const c of cases) {
    const started = performance.now();
    const res = await c.send();
    t.equal(res.status, 503, `${c.name}: 503`);
    t.strictSame(await res.json(), c.shape, `${c.name}: the route's error shape, nothing internal`);
    t.equal(res.headers.get('cache-control'), 'no-store', `${c.name}: no-store`);
    t.equal(res.headers.get('www-authenticate'), null, `${c.name}: an outage is not an authentication failure`);
    t.ok(performance.now() - started < 2000, `${c.name}: answered at once, not after a timeout`);
  }
  t.equal(s.upstream.received.length, 0, 'nothing reached the upstream: fail closed');
  t.equal((await fetch(`${s.gateway.adminUrl}/readyz`)).status, 503, 'readiness reports the unreachable store');
  const metrics = await (await fetch(`${s.gateway.adminUrl}/metrics`)).text();
  t.match(metrics, /^m2m_gateway_store_up 0$/m, 'and so does the store gauge');
  t.notMatch(metrics, /m2m_gateway_change_feed_connected/, 'a SQLite store has no change feed to report');

  const lines = s.gateway.logs.lines();
  t.notOk(lines.some((line) => /"status":500/.test(line)), 'no 500 anywhere');
  t.ok(
    s.gateway.logs.entries().some((e) => e['code'] === 'ERR_STORE_UNAVAILABLE'),
    'the failure is logged by its code',
  );
  t.strictSame(leakedSecrets(lines, [client.secret, issued.refreshToken!, issued.accessToken!, apiKey, vendor, VENDOR.secret]), [], 'no secret or token in any log line');
});

t.test('a gateway process whose PostgreSQL store goes down, then hangs: 503 within bounds, cached answers serve, no acknowledged write lost, recovery', async (t) => {
  const db = await withTestDatabase(t);
  const relay = await startTcpRelay(t, new URL(db.url));
  const dir = mkdtempSync(join(tmpdir(), 'm2m-outage-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const upstream = await startEchoUpstream();
  t.teardown(() => upstream.close());
  const gateway = await serveConfig(t, 'issuer', dir, {
    log: { level: 'info' },
    store: { driver: 'postgres', url: relay.url },
    // Answers checked before the outage stay cached through it.
    liveness: { cacheTtlSeconds: 300 },
    tokenService: { issuer: 'http://issuer.test', audience: 'orders-api', vendor: PROCESS_VENDOR, secretKey: randomBytes(32).toString('base64url'), keyEncryptionKey: randomBytes(32).toString('base64url') },
    routes: [{ name: 'api', pathPrefix: '/api', upstream: upstream.url, auth: {} }],
    upstream: { keepAliveTimeoutMs: 500 },
  });
  const login = await fetch(`${gateway.url}/auth/vendor`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(PROCESS_VENDOR) });
  const { token: vendor } = (await login.json()) as { token: string };
  const scope = { authorization: `Bearer ${vendor}`, 'frontegg-tenant-id': 'tenant-1', 'content-type': 'application/json' };
  const create = async (): Promise<{ status: number; id?: string; secret?: string; code?: string; ms: number }> => {
    const started = performance.now();
    const res = await fetch(`${gateway.url}/identity/resources/tenants/access-tokens/v1`, { method: 'POST', headers: scope, body: '{}', signal: AbortSignal.timeout(60_000) });
    const body = (await res.json()) as { id?: string; secret?: string; code?: string };
    return { status: res.status, ...body, ms: performance.now() - started };
  };
  const call = async (apiKey: string) => {
    const started = performance.now();
    const res = await fetch(`${gateway.url}/api/x`, { headers: { 'x-api-key': apiKey }, signal: AbortSignal.timeout(60_000) });
    const body = (await res.json()) as { code?: string };
    return { answer: `${res.status}${res.status === 200 ? '' : ` ${body.code}`}`, ms: performance.now() - started };
  };
  const ready = async () => (await fetch(`${gateway.adminUrl}/readyz`, { signal: AbortSignal.timeout(10_000) })).status;

  const cached = await create();
  t.equal((await call(cached.secret!)).answer, '200', 'a token checked before the outage');
  const acknowledged = [cached.id!];
  const watch = await watchResources(gateway);

  const feedConnected = async () => /^m2m_gateway_change_feed_connected 1$/m.test(await (await fetch(`${gateway.adminUrl}/metrics`)).text());

  for (const mode of ['refuse', 'blackhole'] as const) {
    // A reconnected change feed drops every cached answer (it may have missed a revocation): check again after it.
    await waitFor(`${mode}: the change feed to be connected`, feedConnected, { timeoutMs: 30_000, intervalMs: 200 });
    t.equal((await call(cached.secret!)).answer, '200', `${mode}: the cached token, checked again before the outage`);
    const unchecked = await create();
    t.equal(unchecked.status, 201, `${mode}: a token created before the outage, never checked`);
    acknowledged.push(unchecked.id!);
    relay.setMode(mode);
    const refused = await call(unchecked.secret!);
    t.equal(refused.answer, '503 ERR_STORE_UNAVAILABLE', `${mode}: an unchecked token fails closed`);
    t.ok(refused.ms < STORE_BOUND_MS, `${mode}: within ${STORE_BOUND_MS} ms (${Math.round(refused.ms)} ms)`);
    t.equal((await call(cached.secret!)).answer, '200', `${mode}: the cached answer keeps serving`);
    const during = await Promise.all(Array.from({ length: 5 }, create));
    t.strictSame(new Set(during.map((c) => `${c.status} ${c.code}`)), new Set(['503 ERR_STORE_UNAVAILABLE']), `${mode}: writes are refused, not acknowledged`);
    t.ok(during.every((c) => c.ms < STORE_BOUND_MS), `${mode}: each refused within ${STORE_BOUND_MS} ms (slowest ${Math.round(Math.max(...during.map((c) => c.ms)))} ms)`);
    await waitFor(`${mode}: readiness to report the store`, async () => (await ready()) === 503, { timeoutMs: 30_000, intervalMs: 200 });
    t.ok(gateway.alive(), `${mode}: the process is alive`);

    relay.setMode('pass');
    await waitFor(`${mode}: recovery`, async () => (await call(unchecked.secret!)).answer === '200', { timeoutMs: 30_000, intervalMs: 200 });
    t.pass(`${mode}: the unchecked token is accepted once the store is back`);
    await waitFor(`${mode}: ready again`, async () => (await ready()) === 200, { timeoutMs: 30_000, intervalMs: 200 });
    const after = await create();
    t.equal(after.status, 201, `${mode}: writes work again`);
    acknowledged.push(after.id!);
  }
  const list = await fetch(`${gateway.url}/identity/resources/tenants/access-tokens/v1`, { headers: scope });
  const stored = new Set(((await list.json()) as { id: string }[]).map((r) => r.id));
  t.strictSame(acknowledged.filter((id) => !stored.has(id)), [], `all ${acknowledged.length} acknowledged creations are stored`);
  await watch.settled(t, 'store outages');
  const health = await fetch(`${gateway.adminUrl}/healthz`);
  t.equal(health.status, 200, 'after the store outages: /healthz 200');
  t.equal((await call(cached.secret!)).answer, '200', 'after the store outages: a valid request 200');
});
