/**
 * Security case 51 for the token store: when the SQLite file under a running gateway becomes
 * unreadable (here: overwritten, with its WAL and shared-memory files, so the real driver answers
 * SQLITE_NOTADB), every route that needs the store fails closed, at once, with 503 in its own error
 * shape — Frontegg `{"errors":[…]}` on Frontegg routes and the proxy, RFC 6749
 * `temporarily_unavailable` on /oauth/token — never a 500, never an allow, and no log line carries
 * a secret or a token.
 */
import { mkdtempSync, openSync, closeSync, rmSync, statSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { leakedSecrets } from '../helpers/log-sink.js';
import { basicAuth, createTenantApiToken, postForm, startTokenScenario, VENDOR } from '../helpers/token-scenario.js';

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
