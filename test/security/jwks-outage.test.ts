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
import { createTestIssuer, mintToken } from '../helpers/tokens.js';

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
