/**
 * Two gateways on one PostgreSQL database (SPEC §2 "Cluster"), configured with `store.driver:
 * postgres`: both migrate at start, and a credential created at one is exchanged at the other.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { exchange } from '../helpers/cli.js';
import { startGateway } from '../helpers/gateway.js';
import { withTestDatabase } from '../helpers/postgres.js';

const database = await withTestDatabase(t);
// One data directory: both gateways need the same secret-hash and key-encryption keys.
const dataDir = mkdtempSync(join(tmpdir(), 'm2m-pg-'));
t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
const raw = {
  dataDir,
  store: { driver: 'postgres', url: database.url },
  tokenService: {
    issuer: 'http://gateway.test',
    audience: 'pg-test',
    algorithm: 'ES256',
    vendor: { clientId: 'test-vendor', secret: 'vendor-secret-for-tests-only-0123456789' },
  },
  directory: { roles: [{ id: 'r-viewer', key: 'viewer', permissions: ['api.read'] }] },
  routes: [{ name: 'public', pathPrefix: '/public', upstream: 'http://127.0.0.1:9', auth: 'none' }],
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
