/**
 * Two gateways on one PostgreSQL database (SPEC §2 "Cluster"), configured with `store.driver:
 * postgres`: both migrate at start, a credential created at one is exchanged at the other, and a
 * revocation at one is refused by the other at once (its change event), not after the cache TTL.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { startEchoUpstream } from '../../scripts/echo-upstream.js';
import { exchange } from '../helpers/cli.js';
import { startGateway } from '../helpers/gateway.js';
import { withTestDatabase } from '../helpers/postgres.js';

const database = await withTestDatabase(t);
// One data directory: both gateways need the same secret-hash and key-encryption keys.
const dataDir = mkdtempSync(join(tmpdir(), 'm2m-pg-'));
t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
const upstream = await startEchoUpstream();
t.teardown(() => upstream.close());
const raw = {
  dataDir,
  // Far longer than the test: only the change event can make the second gateway refuse in time.
  liveness: { cacheTtlSeconds: 300 },
  store: { driver: 'postgres', url: database.url },
  tokenService: {
    issuer: 'http://gateway.test',
    audience: 'pg-test',
    algorithm: 'ES256',
    vendor: { clientId: 'test-vendor', secret: 'vendor-secret-for-tests-only-0123456789' },
  },
  directory: { roles: [{ id: 'r-viewer', key: 'viewer', permissions: ['api.read'] }] },
  routes: [{ name: 'api', pathPrefix: '/api', upstream: upstream.url, auth: {} }],
};
const first = await startGateway(raw, { baseDir: dataDir });
t.teardown(() => first.close());
const second = await startGateway(raw, { baseDir: dataDir });
t.teardown(() => second.close());

const post = async (url: string, body: unknown, headers: Record<string, string> = {}) => {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
};

t.test('a credential created at one gateway is exchanged at the other', async (t) => {
  const vendor = await post(`${first.url}/auth/vendor`, { clientId: 'test-vendor', secret: 'vendor-secret-for-tests-only-0123456789' });
  t.equal(vendor.status, 200);
  const created = await post(`${first.url}/identity/resources/tenants/api-tokens/v2`, { roleIds: ['r-viewer'] }, {
    authorization: `Bearer ${String(vendor.json.token)}`,
    'frontegg-tenant-id': 'acme',
  });
  t.equal(created.status, 201, JSON.stringify(created.json));
  const clientId = String(created.json.clientId);
  const secret = String(created.json.secret);
  t.equal((await exchange(second, clientId, secret)).status, 200, 'the second gateway knows it');
  t.equal((await exchange(first, clientId, secret)).status, 200, 'and so does the first');
});

t.test('a revocation at one gateway is refused at the other at once, through the change feed', async (t) => {
  const vendor = await post(`${first.url}/auth/vendor`, { clientId: 'test-vendor', secret: 'vendor-secret-for-tests-only-0123456789' });
  const auth = { authorization: `Bearer ${String(vendor.json.token)}`, 'frontegg-tenant-id': 'acme' };
  const created = await post(`${first.url}/identity/resources/tenants/access-tokens/v1`, { roleIds: ['r-viewer'] }, auth);
  t.equal(created.status, 201, JSON.stringify(created.json));
  const call = async () => (await fetch(`${second.url}/api/orders`, { headers: { 'x-api-key': String(created.json.secret) } })).status;
  t.equal(await call(), 200, 'accepted at the second gateway, whose answer is now cached for 300 s');

  const deleted = await fetch(`${first.url}/identity/resources/tenants/access-tokens/v1/${String(created.json.id)}`, { method: 'DELETE', headers: auth });
  t.ok(deleted.ok, `deleted (${deleted.status})`);
  const revokedAt = performance.now();
  let status = await call();
  while (status === 200 && performance.now() - revokedAt < 5_000) {
    await new Promise((r) => setTimeout(r, 10));
    status = await call();
  }
  t.equal(status, 401, 'refused at the second gateway');
  t.ok(performance.now() - revokedAt < 1_000, `within a second (${Math.round(performance.now() - revokedAt)} ms)`);

  const metrics = await (await fetch(`${second.adminUrl}/metrics`)).text();
  t.match(metrics, /^m2m_gateway_revocation_propagation_seconds_count\{change="accessToken"\} [1-9]/m, 'the propagation lag is measured');
  t.match(metrics, /^m2m_gateway_change_feed_connected 1$/m, 'the feed is connected');
});
