/**
 * SIGTERM under load (SPEC §6 graceful stop), against the built gateway process: every request
 * accepted before the signal completes with its real response, readiness turns false at once, the
 * listener stops accepting, and the process exits 0. On the token service, every credential whose
 * creation was acknowledged (2xx) before the stop is in the SQLite store when a new process opens
 * the same file: no acknowledged write is lost.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { startEchoUpstream } from '../../scripts/echo-upstream.js';
import { serveConfig, startProcessScenario } from '../helpers/process-resources.js';
import { VENDOR, type Process } from '../helpers/processes.js';
import { waitFor } from '../helpers/wait.js';

const IN_FLIGHT = 200;

/** One GET on a connection of its own: the status and body, or the error code if the connection failed. */
function get(url: string): Promise<{ status: number; body: string } | { error: string }> {
  return new Promise((resolve) => {
    const req = request(url, { agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', (err: NodeJS.ErrnoException) => resolve({ error: err.code ?? err.message }));
    });
    req.on('error', (err: NodeJS.ErrnoException) => resolve({ error: err.code ?? err.message }));
    req.end();
  });
}

async function readyStatus(gateway: Process): Promise<number> {
  const res = await fetch(`${gateway.adminUrl}/readyz`, { signal: AbortSignal.timeout(5000) });
  await res.arrayBuffer();
  return res.status;
}

t.test(`SIGTERM with ${IN_FLIGHT} proxied requests in flight: each completes with its real response, then exit 0`, async (t) => {
  const s = await startProcessScenario(t, { config: { server: { shutdownTimeoutMs: 60_000 }, upstream: { connections: IN_FLIGHT } } });
  await s.stillServes(t, 'before');
  // The upstream holds every answer until released, so all requests are in flight at the signal.
  const held: (() => void)[] = [];
  s.upstream.handle((req, res) => {
    held.push(() => res.writeHead(200, { 'content-type': 'text/plain' }).end(`answer for ${req.url}`));
  });
  const startedBefore = s.upstream.started();
  const results = Array.from({ length: IN_FLIGHT }, (_, i) => get(`${s.gateway.url}/public/slow-${i}`));
  await waitFor(`all ${IN_FLIGHT} requests to reach the upstream`, () => s.upstream.started() === startedBefore + IN_FLIGHT, { timeoutMs: 30_000 });

  s.gateway.kill('SIGTERM');
  await waitFor('readiness to turn false while draining', async () => (await readyStatus(s.gateway)) === 503, { timeoutMs: 10_000 });
  t.pass('readiness is false while the requests drain');
  const late = await get(`${s.gateway.url}/public/late`);
  t.ok('error' in late, `a connection after the signal is not accepted (${'error' in late ? late.error : late.status})`);
  t.ok(s.gateway.alive(), 'the process waits for its in-flight requests');

  for (const release of held) release();
  const answers = await Promise.all(results);
  const wrong = answers.map((a, i) => ({ a, i })).filter(({ a, i }) => !('status' in a) || a.status !== 200 || a.body !== `answer for /public/slow-${i}`);
  t.strictSame(wrong, [], `all ${IN_FLIGHT} accepted requests got their real response`);
  t.equal(await s.gateway.exited, 0, 'exit code 0');
});

const CREATIONS = 300;
const CONCURRENCY = 20;

t.test(`SIGTERM during ${CREATIONS} credential creations on SQLite: every acknowledged one is in the store after a restart`, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'm2m-sigterm-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const upstream = await startEchoUpstream();
  t.teardown(() => upstream.close());
  const config = {
    log: { level: 'info' },
    server: { shutdownTimeoutMs: 60_000 },
    store: { driver: 'sqlite', path: join(dir, 'store.db') },
    tokenService: {
      issuer: 'http://issuer.test',
      audience: 'orders-api',
      vendor: VENDOR,
      secretKey: randomBytes(32).toString('base64url'),
      keyEncryptionKey: randomBytes(32).toString('base64url'),
    },
    routes: [{ name: 'api', pathPrefix: '/api', upstream: upstream.url, auth: {} }],
  };
  const first = await serveConfig(t, 'issuer', dir, config);
  const vendorToken = async (gateway: Process) => {
    const res = await fetch(`${gateway.url}/auth/vendor`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(VENDOR) });
    t.equal(res.status, 200, `vendor sign-in at ${gateway.name}`);
    return ((await res.json()) as { token: string }).token;
  };
  const token = await vendorToken(first);
  const headers = { authorization: `Bearer ${token}`, 'frontegg-tenant-id': 'tenant-1', 'content-type': 'application/json' };

  const acknowledged: string[] = [];
  const refused: string[] = [];
  let next = 0;
  let signalled = false;
  const worker = async () => {
    while (next < CREATIONS) {
      const i = next++;
      try {
        const res = await fetch(`${first.url}/identity/resources/tenants/access-tokens/v1`, { method: 'POST', headers, body: JSON.stringify({ description: `creation ${i}` }), signal: AbortSignal.timeout(30_000) });
        const body = (await res.json()) as { id?: string };
        if (res.status === 201 && typeof body.id === 'string') acknowledged.push(body.id);
        else refused.push(`${res.status}`);
      } catch (err) {
        // After the signal the listener is closed: the connection is refused or cut, nothing acknowledged.
        refused.push((err as { cause?: { code?: string } }).cause?.code ?? (err as Error).name);
      }
      if (!signalled && acknowledged.length >= CREATIONS / 4) {
        signalled = true;
        first.kill('SIGTERM');
      }
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  t.equal(await first.exited, 0, 'the first process exited 0');
  t.ok(acknowledged.length >= CREATIONS / 4, `${acknowledged.length} creations acknowledged before the stop`);
  t.ok(refused.length > 0, `${refused.length} refused once stopping (${[...new Set(refused)].join(', ')})`);
  t.notOk(refused.some((r) => /^5\d\d$/.test(r)), 'no 5xx: a request is either completed or never accepted');

  const second = await serveConfig(t, 'issuer-restarted', dir, config);
  const list = await fetch(`${second.url}/identity/resources/tenants/access-tokens/v1`, { headers: { ...headers, authorization: `Bearer ${await vendorToken(second)}` } });
  t.equal(list.status, 200, 'listed after the restart');
  const stored = new Set(((await list.json()) as { id: string }[]).map((r) => r.id));
  t.strictSame(
    acknowledged.filter((id) => !stored.has(id)),
    [],
    `all ${acknowledged.length} acknowledged creations are in the store`,
  );
  t.equal(stored.size, acknowledged.length, 'and nothing else: no creation was stored without its answer reaching the client');
});
