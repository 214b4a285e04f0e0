/**
 * The `/metrics` exposition is valid Prometheus text and the README documents it exactly. A real
 * gateway (token service on a PostgreSQL store, so the change feed and revocation propagation
 * exist; a JWKS-URL issuer; public, bearer, Basic and role-guarded routes; loaded from a file it
 * reloads) gets traffic of every kind, so every metric family has samples; then
 *   - `promtool check metrics` (Debian/Ubuntu: `apt-get install prometheus`) must accept the
 *     scrape without a lint problem, and
 *   - the README's "### Metrics" table must name every metric with its labels, and nothing else.
 * Without promtool the first check is skipped, unless M2M_REQUIRE_PROMTOOL=1 (CI) makes it fail.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { startEchoUpstream } from '../../scripts/echo-upstream.js';
import { startGateway } from '../helpers/gateway.js';
import { startJwksServer } from '../helpers/jwks-server.js';
import { withTestDatabase } from '../helpers/postgres.js';
import { basicAuth, TEST_ROLES, tokenServiceSection, VENDOR } from '../helpers/token-scenario.js';
import { createTestIssuer, mintToken, tamperSignature } from '../helpers/tokens.js';
import { waitFor } from '../helpers/wait.js';

const database = await withTestDatabase(t);
const dataDir = mkdtempSync(join(tmpdir(), 'm2m-metrics-'));
t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
const upstream = await startEchoUpstream();
t.teardown(() => upstream.close());
const partner = await createTestIssuer({ name: 'partner' });
const jwks = await startJwksServer({ body: partner.jwks });
t.teardown(() => jwks.close());

const u = upstream.url;
const gateway = await startGateway(
  {
    dataDir,
    store: { driver: 'postgres', url: database.url },
    tokenService: tokenServiceSection(),
    directory: { roles: TEST_ROLES },
    issuers: [{ name: partner.name, issuer: partner.issuer, audience: partner.audience, algorithms: [partner.alg], jwks: { url: jwks.url } }],
    routes: [
      { name: 'public', pathPrefix: '/public', upstream: u, auth: 'none' },
      { name: 'api', pathPrefix: '/api', upstream: u, auth: {} },
      { name: 'edge', pathPrefix: '/edge', upstream: u, auth: { basic: true } },
      { name: 'admin', pathPrefix: '/admin', upstream: u, auth: { anyRole: ['admin'] } },
    ],
  },
  { configDir: dataDir, processMetrics: true },
);
t.teardown(() => gateway.close());

const base = gateway.url;
const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(`${base}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
const get = async (path: string, headers: Record<string, string> = {}) => (await fetch(`${base}${path}`, { headers })).status;

t.test('traffic of every kind', async (t) => {
  t.equal(await get('/public/x'), 200, 'a public route');
  const vendor = ((await (await post('/auth/vendor', VENDOR)).json()) as { token: string }).token;
  const scope = { authorization: `Bearer ${vendor}`, 'frontegg-tenant-id': 'acme' };
  const created = await post('/identity/resources/tenants/api-tokens/v2', { roleIds: ['r-viewer'] }, scope);
  t.equal(created.status, 201);
  const { clientId, secret } = (await created.json()) as { clientId: string; secret: string };
  const client = { clientId, secret };
  const access = await post('/identity/resources/tenants/access-tokens/v1', {}, scope);
  t.equal(access.status, 201);
  const accessJwt = ((await access.json()) as { secret: string }).secret;

  const exchanged = await post('/identity/resources/auth/v1/api-token', client);
  const tokens = (await exchanged.json()) as { accessToken: string; refreshToken: string };
  t.equal(exchanged.status, 200, 'an exchange');
  t.equal((await post('/identity/resources/auth/v1/api-token', { ...client, secret: `${client.secret}x` })).status, 401, 'a refused exchange');
  t.equal((await post('/identity/resources/auth/v1/api-token/token/refresh', { refreshToken: tokens.refreshToken })).status, 200, 'a refresh');

  const bearer = { authorization: `Bearer ${tokens.accessToken}` };
  t.equal(await get('/api/x', bearer), 200, 'an exchanged JWT as Bearer');
  t.equal(await get('/api/x', bearer), 200, 'again, from the caches');
  t.equal(await get('/api/x', { 'x-api-key': accessJwt }), 200, 'an access token in X-API-KEY');
  t.equal(await get('/api/x', { authorization: `Bearer ${await mintToken(partner, { type: 'tenantApiToken' })}` }), 200, 'a JWKS-URL issuer');
  t.equal(await get('/api/x', { authorization: `Bearer ${tamperSignature(tokens.accessToken)}` }), 401, 'a forged Bearer');
  t.equal(await get('/api/x', { 'x-api-key': tamperSignature(accessJwt) }), 401, 'a forged access token');
  t.equal(await get('/api/x'), 401, 'no credential');
  t.equal(await get('/admin/x', bearer), 403, 'a role the token lacks');
  t.equal(await get('/edge/x', { authorization: basicAuth(client.clientId, client.secret) }), 200, 'Basic client credentials');
  t.equal(await get('/edge/x', { authorization: basicAuth(client.clientId, `${client.secret}x`) }), 401, 'a wrong Basic secret');
  t.equal(await get('/nowhere'), 404, 'no route');
  t.equal(await gateway.app.reload(), true, 'a configuration reload');

  const deleted = await fetch(`${base}/identity/resources/tenants/api-tokens/v1/${client.clientId}`, { method: 'DELETE', headers: scope });
  t.equal(deleted.status, 204, 'a revocation');
  t.equal(await get('/api/x', bearer), 401, 'refused once revoked');
  await waitFor('the revocation to come back through the change feed', async () =>
    (await scrape()).includes('m2m_gateway_revocation_propagation_seconds_count{change="apiToken"}'),
  );
});

async function scrape(): Promise<string> {
  return (await fetch(`${gateway.adminUrl}/metrics`)).text();
}

t.test("every family of the gateway's own metrics has samples", async (t) => {
  const text = await scrape();
  // The Node.js process metrics depend on the runtime's state (a GC run, a pending request), not on traffic.
  const families = [...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => m[1]!).filter((name) => !/^m2m_gateway_(?:process|nodejs)_/.test(name));
  t.equal(families.length, 17);
  const empty = families.filter((name) => !new RegExp(`^${name}(?:_bucket|_sum|_count)?(?:\\{| )`, 'm').test(text));
  t.same(empty, [], 'a family without a sample is not checked by promtool: drive traffic that fills it');
});

const promtoolMissing = spawnSync('promtool', ['--version']).error !== undefined;
const installPromtool = 'promtool is not installed: `apt-get install prometheus` (Debian/Ubuntu), or a Prometheus release tarball';
const skipPromtool = promtoolMissing && process.env.M2M_REQUIRE_PROMTOOL !== '1' ? installPromtool : false;

t.test('promtool check metrics accepts the scrape', { skip: skipPromtool }, async (t) => {
  if (promtoolMissing) {
    t.fail(`${installPromtool}; M2M_REQUIRE_PROMTOOL=1 requires it`);
    return;
  }
  const text = await scrape();
  const check = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  t.equal(check.status, 0, `promtool exit code\n${check.stdout}${check.stderr}`);
  t.equal(`${check.stdout}${check.stderr}`.trim(), '', 'no lint problem printed');
});

/** The README's "### Metrics" table: metric name (or a `prefix_*` wildcard) → label names. */
function readmeMetrics(readme: string): Map<string, string[]> {
  const section = /^### Metrics\n([\s\S]*?)(?=^#{1,3} )/m.exec(readme)?.[1] ?? '';
  const rows = new Map<string, string[]>();
  for (const line of section.split('\n')) {
    const cells = /^\| (.+?) \| (.+) \|$/.exec(line);
    if (cells === null || cells[1] === 'Metric' || cells[1]!.startsWith('---')) continue;
    // Labels are the backticked names before any parenthesised values and before a `:` remark.
    const labels = cells[2]!.replace(/\([^)]*\)/g, '').split(':')[0]!;
    const labelNames = [...labels.matchAll(/`([a-z_]+)`/g)].map((m) => m[1]!);
    for (const name of cells[1]!.matchAll(/`([a-z0-9_*]+)`/g)) rows.set(name[1]!, labelNames);
  }
  return rows;
}

t.test('the README lists every metric with its labels, and no other', async (t) => {
  const documented = readmeMetrics(readFileSync(new URL('../../README.md', import.meta.url), 'utf8'));
  t.ok(documented.size > 10, 'the table was found');
  const wildcards = [...documented.keys()].filter((name) => name.endsWith('*')).map((name) => name.slice(0, -1));
  const live = new Map<string, string[]>();
  for (const metric of gateway.app.metrics.registry.getMetricsAsArray()) {
    const labelNames = (metric as unknown as { labelNames: readonly string[] }).labelNames;
    live.set(metric.name, [...labelNames]);
  }
  for (const [name, labels] of live) {
    if (wildcards.some((prefix) => name.startsWith(prefix))) continue;
    t.ok(documented.has(name), `${name} is in the README's metrics table`);
    if (documented.has(name)) t.same(documented.get(name), labels, `${name}: the README names its labels, in order`);
  }
  for (const name of documented.keys()) {
    if (name.endsWith('*')) t.ok([...live.keys()].some((each) => each.startsWith(name.slice(0, -1))), `${name} matches a live metric`);
    else t.ok(live.has(name), `${name}, in the README, exists`);
  }
});
