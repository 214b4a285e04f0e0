import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { startEchoUpstream } from '../../scripts/echo-upstream.js';
import { withTestListeners, type TestGateway } from '../helpers/gateway.js';
import { serve } from '../helpers/processes.js';
import { startScenario, type Scenario } from '../helpers/scenario.js';
import { createTenantApiToken, startTokenScenario } from '../helpers/token-scenario.js';
import { createTestIssuer, mintToken, writeJwksFile } from '../helpers/tokens.js';
import { waitFor } from '../helpers/wait.js';

/** Reloads counted so far with `result`. */
async function reloads(gateway: TestGateway, result: 'success' | 'failure'): Promise<number> {
  const { values } = await gateway.app.metrics.configReloads.get();
  return values.find((v) => v.labels.result === result)?.value ?? 0;
}

async function status(url: string, token?: string): Promise<number> {
  const res = await fetch(url, token === undefined ? {} : { headers: { authorization: `Bearer ${token}` } });
  await res.arrayBuffer();
  return res.status;
}

/** The scenario's config with `routes` in front of its own. */
function withRoutes(s: Scenario, routes: Record<string, unknown>[]): Record<string, unknown> {
  return { ...s.gateway.raw, routes: [...routes, ...(s.gateway.raw['routes'] as Record<string, unknown>[])] };
}

async function fileScenario(t: Test, config: Record<string, unknown> = {}): Promise<Scenario> {
  const s = await startScenario({ fromFile: true, config: { reload: { watch: false }, ...config } });
  t.teardown(() => s.close());
  return s;
}

t.test('SIGHUP makes a running gateway process serve the changed routes', async (t) => {
  const upstream = await startEchoUpstream();
  const dir = await mkdtemp(join(tmpdir(), 'm2m-sighup-'));
  t.teardown(async () => {
    await upstream.close();
    await rm(dir, { recursive: true, force: true });
  });
  const path = join(dir, 'gateway.yaml');
  const issuer = await createTestIssuer();
  await writeJwksFile(join(dir, 'jwks.json'), issuer.jwks);
  const issuers = [{ name: issuer.name, issuer: issuer.issuer, audience: issuer.audience, algorithms: [issuer.alg], jwks: { file: 'jwks.json' } }];
  const config = (prefix: string) =>
    JSON.stringify(withTestListeners({ reload: { watch: false }, issuers, routes: [{ name: 'open', pathPrefix: prefix, upstream: upstream.url, auth: 'none' }] }));
  await writeFile(path, config('/before'));
  const gateway = await serve(t, 'gateway', path, {});
  t.equal(await status(`${gateway.url}/before/x`), 200);

  await writeFile(path, config('/after'));
  t.equal(await status(`${gateway.url}/after/x`), 404, 'with watching off, a changed file waits for the signal');
  gateway.kill('SIGHUP');
  await waitFor('the reload log line', () => gateway.output().includes('"msg":"configuration reloaded"'));

  t.equal(await status(`${gateway.url}/after/x`), 200, 'the new route serves');
  t.equal(await status(`${gateway.url}/before/x`), 404, 'the old route is gone');
  t.ok(gateway.alive(), 'SIGHUP does not stop the process');
  t.match(gateway.output(), /"trigger":"SIGHUP"/);
});

t.test('a rewritten config file is reloaded without a signal, also when an editor replaces it by rename', async (t) => {
  const s = await startScenario({ fromFile: true });
  t.teardown(() => s.close());
  t.equal(await status(`${s.gateway.url}/v2/x`), 404);

  await s.gateway.writeConfig(withRoutes(s, [{ name: 'v2', pathPrefix: '/v2', upstream: s.upstream.url, auth: 'none' }]));
  await waitFor('the reload of the rewritten file', async () => (await reloads(s.gateway, 'success')) >= 1);
  t.equal(await status(`${s.gateway.url}/v2/x`), 200, 'rewritten in place');

  await s.gateway.writeConfig(withRoutes(s, [{ name: 'v3', pathPrefix: '/v3', upstream: s.upstream.url, auth: 'none' }]), { replace: true });
  await waitFor('the reload of the replaced file', async () => (await reloads(s.gateway, 'success')) >= 2);
  t.equal(await status(`${s.gateway.url}/v3/x`), 200, 'replaced by rename');
  t.equal(await status(`${s.gateway.url}/v2/x`), 404);
  t.equal(await reloads(s.gateway, 'failure'), 0);
  const reloaded = s.gateway.logs.entries().filter((e) => e['msg'] === 'configuration reloaded');
  t.ok(reloaded.every((e) => e['trigger'] === 'file' && /^[0-9a-f]{16}$/.test(String(e['fingerprint']))), 'each reload names its trigger and the file fingerprint');
  t.not(reloaded[0]?.['fingerprint'], reloaded.at(-1)?.['fingerprint']);
});

t.test('a bad file is refused with its problems logged by path, and the running config keeps serving', async (t) => {
  const s = await fileScenario(t);
  const token = await s.mint();
  const cases: { name: string; file: Record<string, unknown> | string; path: RegExp }[] = [
    { name: 'a YAML syntax error', file: 'routes: [\n  { name: x\n', path: /^line \d+, column \d+: / },
    { name: 'a schema error', file: { ...s.gateway.raw, routes: [{ name: 'x', pathPrefix: '/x', upstream: 'ftp://nowhere', auth: 'none' }] }, path: /^routes\[0\]\.upstream: / },
    {
      name: 'the none algorithm',
      file: { ...s.gateway.raw, issuers: [{ name: 'main', issuer: s.issuer.issuer, audience: s.issuer.audience, algorithms: ['none'], jwks: { file: s.jwksPath } }] },
      path: /^issuers\[0\]\.algorithms\[0\]: /,
    },
    { name: 'an unreadable file', file: '', path: /configuration is empty/ },
  ];
  for (const [i, c] of cases.entries()) {
    await s.gateway.writeConfig(c.file);
    t.equal(await s.gateway.app.reload(), false, `${c.name}: refused`);
    t.equal(await reloads(s.gateway, 'failure'), i + 1, `${c.name}: counted`);
    const problems = s.gateway.logs.entries().filter((e) => e['msg'] === 'configuration problem' && e['level'] === 'error');
    t.match(String(problems.at(-1)?.['problem']), c.path, `${c.name}: logged with its path`);
    t.equal(await status(`${s.gateway.url}/api/x`, token), 200, `${c.name}: the running config still serves`);
  }
  t.equal(s.gateway.logs.entries().filter((e) => e['msg'] === 'configuration reload refused; the running configuration is kept').length, cases.length);

  await s.gateway.writeConfig(withRoutes(s, [{ name: 'fixed', pathPrefix: '/fixed', upstream: s.upstream.url, auth: 'none' }]));
  t.equal(await s.gateway.app.reload(), true, 'a good file afterwards is applied');
  t.equal(await status(`${s.gateway.url}/fixed/x`), 200);
  t.equal(await reloads(s.gateway, 'success'), 1);
});

t.test('a request under way finishes on the config it started with; the old upstream pool closes after it', async (t) => {
  // Both ends keep idle connections far longer than the test: only the reload can close them.
  const old = await startEchoUpstream({ keepAliveTimeoutMs: 0 });
  const next = await startEchoUpstream();
  t.teardown(() => Promise.all([old.close(), next.close()]));
  const s = await startScenario({
    fromFile: true,
    config: { reload: { watch: false }, upstream: { keepAliveTimeoutMs: 600_000 } },
    routes: () => [{ name: 'slow', pathPrefix: '/slow', upstream: old.url, auth: 'none' }],
  });
  t.teardown(() => s.close());
  let answer!: () => void;
  const held = new Promise<void>((resolve) => (answer = resolve));
  old.handle((_req, res) => void held.then(() => res.end('from the old upstream')));

  const slow = fetch(`${s.gateway.url}/slow/1`);
  await waitFor('the request to reach the old upstream', () => old.started() === 1);
  const routes = (s.gateway.raw['routes'] as Record<string, unknown>[]).map((route) => (route['name'] === 'slow' ? { ...route, upstream: next.url } : route));
  await s.gateway.writeConfig({ ...s.gateway.raw, routes });
  t.equal(await s.gateway.app.reload(), true);

  t.equal(await status(`${s.gateway.url}/slow/2`), 200, 'a new request');
  t.equal(next.received.length, 1, 'goes to the new upstream');
  t.equal(old.openConnections(), 1, 'the old pool stays open for the request under way');
  answer();
  const res = await slow;
  t.equal(res.status, 200);
  t.equal(await res.text(), 'from the old upstream', 'the old request completes on its upstream');
  await waitFor('the old pool to close once its last request ended', () => old.openConnections() === 0);
});

t.test('restart-only settings keep their running values with a warning naming each; the rest reloads', async (t) => {
  const s = await fileScenario(t);
  const changed = {
    ...withTestListeners(withRoutes(s, [{ name: 'new', pathPrefix: '/new', upstream: s.upstream.url, auth: 'none' }])),
    server: { host: '127.0.0.1', port: 1 },
    admin: { host: '127.0.0.1', port: 2 },
    store: { driver: 'memory' },
  };
  await s.gateway.writeConfig(JSON.stringify(changed));
  t.equal(await s.gateway.app.reload(), true);

  const warned = s.gateway.logs.entries().filter((e) => e['level'] === 'warn' && /only after a restart/.test(String(e['msg'])));
  t.strictSame(warned.map((e) => e['path']).sort(), ['admin.port', 'server.port', 'store.driver']);
  t.equal(await status(`${s.gateway.url}/new/x`), 200, 'served on the port it started on, with the new route');
  t.equal(await status(`${s.gateway.adminUrl}/healthz`), 200, 'the admin listener too');
});

t.test('upstream settings, trusted issuers, identity header names and roles each take effect on reload', async (t) => {
  t.test('a new issuer is trusted, a removed one refused, and one without keys refuses the reload', async (t) => {
    const s = await fileScenario(t);
    const second = await createTestIssuer({ name: 'second', issuer: 'https://second.test', kid: 'second-key' });
    const secondJwks = join(s.jwksPath, '..', 'second.json');
    await writeJwksFile(secondJwks, second.jwks);
    const first = await s.mint();
    const other = await mintToken(second);
    const main = (s.gateway.raw['issuers'] as Record<string, unknown>[])[0]!;
    const secondIssuer = { name: second.name, issuer: second.issuer, audience: second.audience, algorithms: [second.alg], jwks: { file: secondJwks } };
    t.equal(await status(`${s.gateway.url}/api/x`, other), 401);

    await s.gateway.writeConfig({ ...s.gateway.raw, issuers: [main, secondIssuer] });
    t.equal(await s.gateway.app.reload(), true);
    t.equal(await status(`${s.gateway.url}/api/x`, other), 200, 'the added issuer is trusted');
    t.equal(await status(`${s.gateway.url}/api/x`, first), 200, 'the kept one still is');

    await s.gateway.writeConfig({ ...s.gateway.raw, issuers: [secondIssuer, { ...main, name: 'missing', jwks: { file: join(s.jwksPath, '..', 'absent.json') } }] });
    t.equal(await s.gateway.app.reload(), false, 'an issuer whose keys cannot load refuses the reload');
    t.match(s.gateway.logs.entries().filter((e) => e['msg'] === 'configuration problem').map((e) => e['problem']), [/^issuers\[1\]\.jwks: /]);
    t.equal(await status(`${s.gateway.url}/api/x`, first), 200, 'and the running issuers stay');
    t.ok(s.gateway.app.ready(), 'ready throughout');

    await s.gateway.writeConfig({ ...s.gateway.raw, issuers: [secondIssuer] });
    t.equal(await s.gateway.app.reload(), true);
    t.equal(await status(`${s.gateway.url}/api/x`, first), 401, 'the removed issuer is refused, though its token was cached');
    t.equal(await status(`${s.gateway.url}/api/x`, other), 200);
  });

  t.test('identity header names', async (t) => {
    const s = await fileScenario(t);
    const token = await s.mint();
    await s.gateway.writeConfig({ ...s.gateway.raw, identityHeaders: { names: { userId: 'x-caller' } } });
    t.equal(await s.gateway.app.reload(), true);
    t.equal(await status(`${s.gateway.url}/api/x`, token), 200);
    const seen = s.upstream.received.at(-1)!.headers;
    t.equal(seen['x-caller'], 'user-1', 'the new name carries the user id');
    t.equal(seen['x-auth-user-id'], undefined, 'the old one is gone');
  });

  t.test('upstream pool settings', async (t) => {
    const s = await fileScenario(t);
    s.upstream.handle((_req, res) => void setTimeout(() => res.end('late'), 3000).unref());
    await s.gateway.writeConfig({ ...s.gateway.raw, upstream: { headersTimeoutMs: 100 } });
    t.equal(await s.gateway.app.reload(), true);
    t.equal(await status(`${s.gateway.url}/public/x`), 504, 'the new headers timeout applies');
  });

  t.test('role definitions', async (t) => {
    const s = await startTokenScenario({ fromFile: true, routes: (u) => [{ name: 'admin', pathPrefix: '/admin', upstream: u, auth: { anyRole: ['admin'] } }] });
    t.teardown(() => s.close());
    const { clientId, secret } = await createTenantApiToken(s);
    const res = await fetch(`${s.gateway.url}/identity/resources/auth/v2/api-token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ clientId, secret }),
    });
    const jwt = ((await res.json()) as { access_token: string }).access_token;
    t.equal(await status(`${s.gateway.url}/admin/x`, jwt), 403, 'r-viewer grants viewer');

    await s.gateway.writeConfig({ ...s.gateway.raw, directory: { roles: [{ id: 'r-viewer', key: 'admin', permissions: ['read'] }], defaultRoleIds: ['r-viewer'] } });
    t.equal(await s.gateway.app.reload(), true);
    t.equal(await status(`${s.gateway.url}/admin/x`, jwt), 200, 'the same token now grants what r-viewer says');
    t.equal(s.upstream.received.at(-1)!.headers['x-auth-roles'], 'admin');
    t.notOk(s.gateway.logs.entries().some((e) => e['level'] === 'warn' && /only after a restart/.test(String(e['msg']))), 'no restart-only setting changed');
  });
});
