/**
 * Security case 51, for the JWKS dependency: an issuer whose JWKS URL is down, hanging or
 * answering garbage makes the gateway fail closed — 503 (keys unavailable) or 401, within the
 * fetch timeout — and never accept a token it could not check (Envoy: JWKS fetch failure → 401).
 */
import t from 'tap';
import { pino } from 'pino';
import { createAuthenticator } from '../../src/auth/create-authenticator.js';
import { createManualClock } from '../../src/clock.js';
import { isGatewayError } from '../../src/errors.js';
import { createMetrics } from '../../src/metrics.js';
import { tokensInLogs } from '../helpers/auth-harness.js';
import { compiledConfig } from '../helpers/compiled-config.js';
import { startJwksServer } from '../helpers/jwks-server.js';
import { createLogSink } from '../helpers/log-sink.js';
import { startProcessScenario, watchResources } from '../helpers/process-resources.js';
import { createTestIssuer, mintToken } from '../helpers/tokens.js';
import { waitFor } from '../helpers/wait.js';

const TIMEOUT_MS = 300;

async function setup(t: { teardown(fn: () => unknown): void }) {
  const issuer = await createTestIssuer();
  const server = await startJwksServer({ body: issuer.jwks });
  t.teardown(() => server.close());
  const clock = createManualClock();
  const logs = createLogSink();
  const authenticator = createAuthenticator(
    {
      auth: compiledConfig({ routes: [] }).auth,
      issuers: [
        issuer.compiled({
          kind: 'url',
          url: server.url,
          cacheTtlMs: 60_000,
          refreshBeforeMs: 10_000,
          cooldownMs: 5_000,
          maxStaleMs: 60_000,
          timeoutMs: TIMEOUT_MS,
        }),
      ],
    },
    { clock, metrics: createMetrics({ processMetrics: false }), log: pino({ level: 'debug' }, logs.stream), keySourceOptions: { autoRefresh: false } },
  );
  t.teardown(() => authenticator.close());
  /** The outcome and how long it took (real time: the fetch timeout is real). */
  const timed = async (token: string) => {
    const started = performance.now();
    let code = 'OK';
    try {
      await authenticator.authenticate({ kind: 'bearer', token });
    } catch (err) {
      if (!isGatewayError(err)) throw err;
      code = err.code;
    }
    return { code, ms: performance.now() - started };
  };
  return { issuer, server, clock, logs, authenticator, timed };
}

t.test('an issuer down from the start: 503, fast, until it comes back', async (t) => {
  const s = await setup(t);
  s.server.set({ status: 503, body: 'maintenance' });
  await s.authenticator.start();
  t.notOk(s.authenticator.ready());
  const token = await mintToken(s.issuer, { nowMs: s.clock.now() });
  const first = await s.timed(token);
  t.equal(first.code, 'ERR_AUTH_KEYS_UNAVAILABLE');
  t.ok(first.ms < TIMEOUT_MS, 'inside the cooldown: no fetch is waited for');
  s.clock.advance(5_000);
  t.equal((await s.timed(token)).code, 'ERR_AUTH_KEYS_UNAVAILABLE', 'the retry fails too: still refused');
  s.server.set({ status: 200, body: s.issuer.jwks });
  s.clock.advance(5_000);
  t.equal((await s.timed(token)).code, 'OK', 'accepted once keys load');
  t.same(tokensInLogs(s.logs, [token]), []);
});

t.test('a hanging issuer: refused within the fetch timeout, never accepted', async (t) => {
  const s = await setup(t);
  const release = s.server.hold();
  t.teardown(release);
  await s.authenticator.start();
  t.notOk(s.authenticator.ready(), 'the first fetch timed out');
  s.clock.advance(5_000);
  const token = await mintToken(s.issuer, { nowMs: s.clock.now() });
  const { code, ms } = await s.timed(token);
  t.equal(code, 'ERR_AUTH_KEYS_UNAVAILABLE');
  t.ok(ms < TIMEOUT_MS + 1000, `bounded by the fetch timeout (${Math.round(ms)} ms)`);
});

t.test('an issuer answering garbage after a good start: last good set, then 503 past maxStale', async (t) => {
  const s = await setup(t);
  await s.authenticator.start();
  s.server.set({ body: '{"keys": "garbage"}' });
  s.clock.advance(60_000);
  await s.authenticator.refreshKeys();
  t.equal((await s.timed(await mintToken(s.issuer, { nowMs: s.clock.now() }))).code, 'OK', 'stale but within maxStale');
  s.clock.advance(60_000);
  t.equal((await s.timed(await mintToken(s.issuer, { nowMs: s.clock.now() }))).code, 'ERR_AUTH_KEYS_UNAVAILABLE');
  t.notOk(s.authenticator.ready());
});

t.test('a gateway process whose JWKS URL goes down, slow and garbage: last good set, then 503, recovery each time, resources back', async (t) => {
  const issuer = await createTestIssuer();
  const server = await startJwksServer({ body: issuer.jwks });
  t.teardown(() => server.close());
  // Short lifetimes so each outage outlasts the last good set within seconds.
  const s = await startProcessScenario(t, {
    issuer: { issuer, jwks: { url: server.url, cacheTtlSeconds: 2, refreshBeforeSeconds: 1, cooldownSeconds: 1, maxStaleSeconds: 2, timeoutMs: TIMEOUT_MS } },
  });
  const good = await mintToken(issuer, { type: 'tenantAccessToken' });
  const unknownKid = await mintToken(issuer, { type: 'tenantAccessToken', header: { kid: 'rotated-in' } });
  const answer = async (token: string) => {
    const res = await fetch(`${s.gateway.url}/api/x`, { headers: { 'x-api-key': token }, signal: AbortSignal.timeout(10_000) });
    const body = (await res.json()) as { code?: string };
    return `${res.status}${body.code === undefined ? '' : ` ${body.code}`}`;
  };
  const ready = async () => (await fetch(`${s.gateway.adminUrl}/readyz`, { signal: AbortSignal.timeout(10_000) })).status;
  t.equal(await answer(good), '200', 'accepted while the URL serves its keys');
  const watch = await watchResources(s.gateway);

  const outages: { name: string; response: Parameters<typeof server.set>[0] }[] = [
    { name: 'down (503)', response: { status: 503, body: 'maintenance', delayMs: 0 } },
    { name: `slow (beyond the ${TIMEOUT_MS} ms timeout)`, response: { status: 200, body: issuer.jwks, delayMs: TIMEOUT_MS * 4 } },
    { name: 'garbage JSON', response: { status: 200, body: '{"keys": "garbage"}', delayMs: 0 } },
    { name: 'not JSON', response: { status: 200, body: Buffer.from([0xff, 0xfe, 0x00, 0x7b]), delayMs: 0 } },
  ];
  for (const outage of outages) {
    const requestsBefore = server.requests;
    server.set(outage.response);
    await server.waitForRequests(requestsBefore + 1);
    // The last good set serves until it is maxStale past its expiry; a kid it lacks is refused meanwhile.
    t.match(await answer(unknownKid), /^(401 ERR_AUTH_KID_UNKNOWN|503 ERR_AUTH_KEYS_UNAVAILABLE)$/, `${outage.name}: an unknown kid is refused`);
    await waitFor(`${outage.name}: the stale set to be dropped`, async () => (await answer(good)) === '503 ERR_AUTH_KEYS_UNAVAILABLE', { timeoutMs: 20_000, intervalMs: 100 });
    t.pass(`${outage.name}: 503 ERR_AUTH_KEYS_UNAVAILABLE once the last good set is too old, never an allow`);
    t.equal(await ready(), 503, `${outage.name}: not ready`);
    t.equal(await answer(unknownKid), '503 ERR_AUTH_KEYS_UNAVAILABLE', `${outage.name}: no token is checked without keys`);
    server.set({ status: 200, body: issuer.jwks, delayMs: 0 });
    await waitFor(`${outage.name}: recovery once the URL heals`, async () => (await answer(good)) === '200', { timeoutMs: 20_000, intervalMs: 100 });
    t.pass(`${outage.name}: accepted again once the URL heals`);
    t.equal(await ready(), 200, `${outage.name}: ready again`);
  }
  t.equal(s.upstream.received.filter((r) => r.url === '/api/x').length > 0, true, 'the good token reached the upstream between outages');
  await watch.settled(t, 'JWKS outages');
  await s.stillServes(t, 'after the JWKS outages');
});
