import t from 'tap';
import { pino } from 'pino';
import { createAuthenticator } from '../../../src/auth/create-authenticator.js';
import { createUrlKeySource, type KeySetChange } from '../../../src/auth/key-source.js';
import { createManualClock } from '../../../src/clock.js';
import type { CompiledIssuer, CompiledJwksUrl } from '../../../src/config/types.js';
import { isGatewayError } from '../../../src/errors.js';
import { createMetrics } from '../../../src/metrics.js';
import { counterValue, tokensInLogs } from '../../helpers/auth-harness.js';
import { compiledConfig } from '../../helpers/compiled-config.js';
import { startJwksServer } from '../../helpers/jwks-server.js';
import { createLogSink } from '../../helpers/log-sink.js';
import { createTestIssuer, mintToken, type TestIssuer } from '../../helpers/tokens.js';

type Teardown = { teardown(fn: () => unknown): void };

const TIMINGS = { cacheTtlMs: 600_000, refreshBeforeMs: 60_000, cooldownMs: 30_000, maxStaleMs: 3_600_000, timeoutMs: 2_000 };

async function urlSetup(t: Teardown, issuer: TestIssuer, timings: Partial<Omit<CompiledJwksUrl, 'kind' | 'url'>> = {}, maxBodyBytes?: number) {
  const server = await startJwksServer({ body: issuer.jwks });
  t.teardown(() => server.close());
  const clock = createManualClock();
  const metrics = createMetrics({ processMetrics: false });
  const logs = createLogSink();
  const compiled = issuer.compiled({ kind: 'url', url: server.url, ...TIMINGS, ...timings }) as CompiledIssuer & { jwks: CompiledJwksUrl };
  // autoRefresh off: the test drives every fetch; nothing depends on a timer firing.
  const source = createUrlKeySource({ issuer: compiled, autoRefresh: false, maxBodyBytes }, { clock, metrics, log: pino({ level: 'debug' }, logs.stream) });
  t.teardown(() => source.close());
  const changes: KeySetChange[] = [];
  source.onChange((change) => changes.push(change));
  const fetches = (result: string) => counterValue(metrics.jwksFetches, { issuer: issuer.name, result });
  return { server, clock, metrics, logs, source, changes, fetches, compiled };
}

async function authSetup(t: Teardown, issuer: TestIssuer, timings: Partial<Omit<CompiledJwksUrl, 'kind' | 'url'>> = {}) {
  const server = await startJwksServer({ body: issuer.jwks });
  t.teardown(() => server.close());
  const clock = createManualClock();
  const metrics = createMetrics({ processMetrics: false });
  const logs = createLogSink();
  const config = {
    auth: compiledConfig({ routes: [] }).auth,
    issuers: [issuer.compiled({ kind: 'url', url: server.url, ...TIMINGS, ...timings })],
  };
  const authenticator = createAuthenticator(config, {
    clock,
    metrics,
    log: pino({ level: 'debug' }, logs.stream),
    keySourceOptions: { autoRefresh: false },
  });
  t.teardown(() => authenticator.close());
  const outcome = async (token: string) => {
    try {
      await authenticator.authenticate({ kind: 'bearer', token });
      return 'OK';
    } catch (err) {
      if (isGatewayError(err)) return err.code;
      throw err;
    }
  };
  return { server, clock, metrics, logs, authenticator, outcome };
}

t.test('start fetches the set once; the source is ready and serves its keys', async (t) => {
  const issuer = await createTestIssuer();
  const s = await urlSetup(t, issuer);
  t.notOk(s.source.ready(), 'not ready before start');
  await s.source.start();
  t.ok(s.source.ready());
  t.equal(s.server.requests, 1);
  t.equal(s.source.get(issuer.kid)?.alg, issuer.alg);
  t.equal(s.source.get('other'), undefined);
  t.equal(s.source.loadedAtMs(), s.clock.now());
  t.equal(await s.fetches('ok'), 1);
  t.same(s.changes, [{ issuer: issuer.name, added: [issuer.kid], removed: [] }]);
});

t.test('not ready until the first good set; then ready', async (t) => {
  const issuer = await createTestIssuer();
  const s = await urlSetup(t, issuer);
  s.server.set({ body: 'not json' });
  await s.source.start();
  t.notOk(s.source.ready());
  t.equal(await s.fetches('invalid'), 1);
  s.server.set({ status: 503, body: 'down' });
  t.equal(await s.source.refresh(), false);
  t.notOk(s.source.ready());
  t.equal(await s.fetches('error'), 1);
  s.server.set({ status: 200, body: issuer.jwks });
  t.equal(await s.source.refresh(), true);
  t.ok(s.source.ready());
});

t.test('the authenticator answers 503 until a key set is loaded', async (t) => {
  const issuer = await createTestIssuer();
  const a = await authSetup(t, issuer);
  a.server.set({ status: 500 });
  await a.authenticator.start();
  t.notOk(a.authenticator.ready());
  const token = await mintToken(issuer, { nowMs: a.clock.now() });
  t.equal(await a.outcome(token), 'ERR_AUTH_KEYS_UNAVAILABLE');
  a.server.set({ status: 200 });
  a.clock.advance(TIMINGS.cooldownMs);
  t.equal(await a.outcome(token), 'OK', 'the unknown-kid refetch loaded the set (503s are never cached)');
  t.ok(a.authenticator.ready());
  t.same(tokensInLogs(a.logs, [token]), []);
});

t.test('refresh swaps in a rotated set and reports what changed', async (t) => {
  const issuer = await createTestIssuer();
  const next = await createTestIssuer({ kid: 'kid-next' });
  const s = await urlSetup(t, issuer);
  await s.source.start();
  s.server.set({ body: next.jwks });
  s.clock.advance(1000);
  t.equal(await s.source.refresh(), true);
  t.equal(s.source.get(issuer.kid), undefined);
  t.ok(s.source.get('kid-next'));
  t.equal(s.source.loadedAtMs(), s.clock.now());
  t.same(s.changes.at(-1), { issuer: issuer.name, added: ['kid-next'], removed: [issuer.kid] });
});

t.test('a garbage or invalid body keeps the last good set', async (t) => {
  const issuer = await createTestIssuer();
  const s = await urlSetup(t, issuer);
  await s.source.start();
  const bodies: Array<string | object | Buffer> = [
    'garbage',
    Buffer.from([0x7b, 0xff, 0x7d]),
    { keys: [] },
    { keys: [{ ...issuer.jwk, use: 'enc' }] },
    { keys: [issuer.jwk, issuer.jwk] },
    { keys: [{ kty: 'oct', k: 'c2VjcmV0', kid: 'hs' }] },
  ];
  for (const body of bodies) {
    s.server.set({ body });
    t.equal(await s.source.refresh(), false);
    t.ok(s.source.get(issuer.kid), 'last good set still served');
  }
  t.equal(await s.fetches('invalid'), bodies.length);
  t.notOk(s.logs.lines().some((l) => l.includes(String(issuer.jwk.n))), 'no key material logged');
});

t.test('a body over the size cap is refused', async (t) => {
  const issuer = await createTestIssuer();
  const s = await urlSetup(t, issuer, {}, 2048);
  s.server.set({ body: { keys: [issuer.jwk], pad: 'x'.repeat(4096) } });
  await s.source.start();
  t.notOk(s.source.ready());
  t.equal(await s.fetches('invalid'), 1);
});

t.test('redirects are not followed', async (t) => {
  const issuer = await createTestIssuer();
  const s = await urlSetup(t, issuer);
  const elsewhere = await startJwksServer({ body: issuer.jwks });
  t.teardown(() => elsewhere.close());
  s.server.set({ status: 302, headers: { location: elsewhere.url }, body: '' });
  await s.source.start();
  t.notOk(s.source.ready());
  t.equal(elsewhere.requests, 0);
  t.equal(await s.fetches('error'), 1);
});

t.test('a fetch that exceeds the timeout fails', async (t) => {
  const issuer = await createTestIssuer();
  const s = await urlSetup(t, issuer, { timeoutMs: 100 });
  s.server.set({ delayMs: 2000 });
  await s.source.start();
  t.notOk(s.source.ready());
  t.equal(await s.fetches('error'), 1);
});

t.test('a failing issuer: the set is served stale for maxStale past expiry, then dropped (503)', async (t) => {
  const issuer = await createTestIssuer();
  const a = await authSetup(t, issuer, { cacheTtlMs: 60_000, maxStaleMs: 120_000 });
  await a.authenticator.start();
  a.server.set({ status: 500 });
  // Fresh tokens each time, so each one reaches the key lookup rather than the verified cache.
  const fresh = () => mintToken(issuer, { nowMs: a.clock.now() });
  a.clock.advance(60_000);
  await a.authenticator.refreshKeys();
  t.ok(a.authenticator.ready(), 'expired but within maxStale: still ready');
  t.equal(await a.outcome(await fresh()), 'OK');
  a.clock.advance(119_999);
  t.equal(await a.outcome(await fresh()), 'OK', 'one ms before the cap: still served');
  a.clock.advance(1);
  t.notOk(a.authenticator.ready(), 'past maxStale: dropped');
  t.equal(await a.outcome(await fresh()), 'ERR_AUTH_KEYS_UNAVAILABLE');
  t.same([...a.authenticator.keySetAges()], [], 'no age without a set');
  a.server.set({ status: 200 });
  await a.authenticator.refreshKeys();
  t.ok(a.authenticator.ready(), 'recovers on the next good fetch');
});

t.test('Cache-Control max-age shortens the TTL but never lengthens it', async (t) => {
  const issuer = await createTestIssuer();
  const short = await urlSetup(t, issuer, { cacheTtlMs: 600_000, maxStaleMs: 1000 });
  short.server.set({ headers: { 'cache-control': 'public, max-age=10' } });
  await short.source.start();
  short.clock.advance(10_999);
  t.ok(short.source.ready());
  short.clock.advance(1);
  t.notOk(short.source.ready(), 'expired at max-age, dropped after maxStale');

  const long = await urlSetup(t, issuer, { cacheTtlMs: 5000, maxStaleMs: 1000 });
  long.server.set({ headers: { 'cache-control': 'max-age=100000' } });
  await long.source.start();
  long.clock.advance(5999);
  t.ok(long.source.ready());
  long.clock.advance(1);
  t.notOk(long.source.ready(), 'cacheTtlMs still bounds it');
});

t.test('an unknown kid refetches: single flight, then a cooldown', async (t) => {
  const issuer = await createTestIssuer();
  const a = await authSetup(t, issuer);
  await a.authenticator.start();
  t.equal(a.server.requests, 1);

  // Inside the cooldown that started with the first fetch: no fetch at all.
  const unknown = await mintToken(issuer, { nowMs: a.clock.now(), header: { kid: 'unknown-1' } });
  t.equal(await a.outcome(unknown), 'ERR_AUTH_KID_UNKNOWN');
  t.equal(a.server.requests, 1, 'cooldown: no fetch');

  a.clock.advance(TIMINGS.cooldownMs);
  const release = a.server.hold();
  const tokens = await Promise.all(
    Array.from({ length: 50 }, (_, i) => mintToken(issuer, { nowMs: a.clock.now(), header: { kid: `unknown-${i + 2}` } })),
  );
  const pending = Promise.all(tokens.map((token) => a.outcome(token)));
  await a.server.waitForRequests(2);
  release();
  const outcomes = await pending;
  t.ok(outcomes.every((o) => o === 'ERR_AUTH_KID_UNKNOWN'));
  t.equal(a.server.requests, 2, '50 concurrent unknown kids: exactly one fetch');

  t.equal(await a.outcome(await mintToken(issuer, { nowMs: a.clock.now(), header: { kid: 'unknown-99' } })), 'ERR_AUTH_KID_UNKNOWN');
  t.equal(a.server.requests, 2, 'then the cooldown holds');
});

t.test('a key rotated in at the issuer is found by the unknown-kid refetch', async (t) => {
  const issuer = await createTestIssuer();
  const next = await createTestIssuer({ kid: 'kid-next' });
  const a = await authSetup(t, issuer);
  await a.authenticator.start();
  a.server.set({ body: { keys: [issuer.jwk, next.jwk] } });
  a.clock.advance(TIMINGS.cooldownMs);
  t.equal(await a.outcome(await mintToken(next, { nowMs: a.clock.now() })), 'OK');
  t.equal(a.server.requests, 2);
});

t.test('close aborts an in-flight fetch and stops the source', async (t) => {
  const issuer = await createTestIssuer();
  const s = await urlSetup(t, issuer);
  const release = s.server.hold();
  const started = s.source.start();
  await s.server.waitForRequests(1);
  s.source.close();
  await started;
  release();
  t.notOk(s.source.ready());
  t.equal(await s.source.refresh(), false, 'no fetch after close');
  t.equal(s.server.requests, 1);
});

t.test('with timers on, the source refreshes by itself before the set expires', async (t) => {
  const issuer = await createTestIssuer();
  const server = await startJwksServer({ body: issuer.jwks });
  t.teardown(() => server.close());
  // cacheTtl 1 s, refreshBefore 60 s: the refresh delay is floored (here to 1 s), never a busy loop.
  const compiled = issuer.compiled({ kind: 'url', url: server.url, ...TIMINGS, cacheTtlMs: 1000 }) as CompiledIssuer & { jwks: CompiledJwksUrl };
  const source = createUrlKeySource(
    { issuer: compiled },
    { clock: createManualClock(), metrics: createMetrics({ processMetrics: false }), log: pino({ level: 'silent' }) },
  );
  t.teardown(() => source.close());
  await source.start();
  // The refresh timer is unref'd (it must not keep a gateway alive); hold the loop open while waiting.
  const alive = setInterval(() => undefined, 1000);
  await server.waitForRequests(2);
  clearInterval(alive);
  t.equal(server.requests, 2);
});
