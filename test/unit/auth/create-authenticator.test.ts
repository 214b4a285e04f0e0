import { rm } from 'node:fs/promises';
import t from 'tap';
import { pino } from 'pino';
import { createAuthenticator } from '../../../src/auth/create-authenticator.js';
import { parseJwks } from '../../../src/auth/jwks.js';
import type { KeySource } from '../../../src/auth/key-source.js';
import { tokenFingerprint } from '../../../src/auth/token-hash.js';
import { createManualClock } from '../../../src/clock.js';
import { isGatewayError } from '../../../src/errors.js';
import { createMetrics } from '../../../src/metrics.js';
import { createAuthHarness, tokensInLogs } from '../../helpers/auth-harness.js';
import { compiledConfig } from '../../helpers/compiled-config.js';
import { createLogSink } from '../../helpers/log-sink.js';
import { createTestIssuer, mintToken, namedTokens, writeJwksFile } from '../../helpers/tokens.js';

t.test('ready only when every issuer has a key set', async (t) => {
  const h = await createAuthHarness(t, { issuers: [{}, { issuer: 'https://second.test' }] });
  t.ok(h.authenticator.ready());
  await rm(h.jwksPaths[1]!);
  t.equal(await h.sources[1]!.refresh(), false);
  t.ok(h.authenticator.ready(), 'a failed reload keeps the set: still ready');

  const clock = createManualClock();
  const metrics = createMetrics({ processMetrics: false });
  const missing = h.issuers[1]!.compiled({ kind: 'file', file: '/nonexistent/jwks.json' });
  const present = h.issuers[0]!.compiled({ kind: 'file', file: h.jwksPaths[0]! });
  const partial = createAuthenticator(
    { auth: compiledConfig({ routes: [] }).auth, issuers: [present, missing] },
    { clock, metrics, log: pino({ level: 'silent' }), keySourceOptions: { watch: false, pollIntervalMs: 3_600_000 } },
  );
  t.teardown(() => partial.close());
  await partial.start();
  t.notOk(partial.ready(), 'one issuer without keys: not ready');
  const token = await mintToken(h.issuers[0]!, { nowMs: clock.now() });
  t.equal((await partial.authenticate({ kind: 'bearer', token })).issuer, h.issuers[0]!.name, 'the ready issuer still serves');
  const unknown = await mintToken(h.issuers[0]!, { nowMs: clock.now(), header: { kid: 'nope' } });
  await t.rejects(partial.authenticate({ kind: 'bearer', token: unknown }), { code: 'ERR_AUTH_KID_UNKNOWN' });
});

t.test('no issuer with keys: 503 for a well-formed token, and never remembered', async (t) => {
  const issuer = await createTestIssuer();
  const clock = createManualClock();
  const authenticator = createAuthenticator(
    { auth: compiledConfig({ routes: [] }).auth, issuers: [issuer.compiled({ kind: 'file', file: '/nonexistent/jwks.json' })] },
    { clock, metrics: createMetrics({ processMetrics: false }), log: pino({ level: 'silent' }), keySourceOptions: { watch: false } },
  );
  t.teardown(() => authenticator.close());
  await authenticator.start();
  t.notOk(authenticator.ready());
  const token = await mintToken(issuer, { nowMs: clock.now() });
  await t.rejects(authenticator.authenticate({ kind: 'bearer', token }), { code: 'ERR_AUTH_KEYS_UNAVAILABLE', statusCode: 503 });
  await t.rejects(authenticator.authenticate({ kind: 'bearer', token: 'a.b' }), { code: 'ERR_AUTH_MALFORMED' });
});

t.test('two issuers publishing the same kid: the key that verifies decides, and binds the issuer', async (t) => {
  const a = await createTestIssuer({ name: 'a', kid: 'shared', issuer: 'https://a.test' });
  const b = await createTestIssuer({ name: 'b', kid: 'shared', issuer: 'https://b.test' });
  const h = await createAuthHarness(t, { testIssuers: [a, b] });
  t.equal((await h.authenticate('bearer', await mintToken(a, { nowMs: h.clock.now() }))).issuer, 'a');
  t.equal((await h.authenticate('bearer', await mintToken(b, { nowMs: h.clock.now() }))).issuer, 'b');
  // B's key, A's iss: the signature verifies under B, whose issuer is not A (RFC 8725 §3.8).
  t.equal(await h.outcome('bearer', await mintToken(b, { nowMs: h.clock.now(), claims: { iss: a.issuer } })), 'ERR_AUTH_CLAIMS');
});

t.test('an unexpected failure is ERR_INTERNAL, logged with the fingerprint, and not remembered', async (t) => {
  const issuer = await createTestIssuer();
  const compiled = issuer.compiled({ kind: 'file', file: '/unused' });
  const parsed = parseJwks(JSON.stringify(issuer.jwks), compiled);
  if (!parsed.ok) throw new Error(parsed.reason);
  let refetches = 0;
  const broken: KeySource = {
    issuer: compiled,
    start: async () => undefined,
    close: () => undefined,
    get: (kid) => parsed.keys.get(kid),
    refetch: async () => {
      refetches++;
      throw new TypeError('bug');
    },
    refresh: async () => true,
    ready: () => true,
    loadedAtMs: () => 0,
    onChange: () => () => undefined,
  };
  const logs = createLogSink();
  const clock = createManualClock();
  const authenticator = createAuthenticator(
    { auth: compiledConfig({ routes: [] }).auth, issuers: [compiled] },
    { clock, metrics: createMetrics({ processMetrics: false }), log: pino({ level: 'info' }, logs.stream), keySources: [broken] },
  );
  const token = await mintToken(issuer, { nowMs: clock.now(), header: { kid: 'unknown' } });
  await t.rejects(authenticator.authenticate({ kind: 'bearer', token }), { code: 'ERR_INTERNAL' });
  await t.rejects(authenticator.authenticate({ kind: 'bearer', token }), { code: 'ERR_INTERNAL' });
  t.equal(refetches, 2, 'not served from the negative cache');
  const line = logs.entries().find((e) => e['msg'] === 'token verification failed unexpectedly');
  t.equal(line?.['fingerprint'], tokenFingerprint(token));
  t.same(tokensInLogs(logs, [token]), []);
});

t.test('the size cap is checked before anything else, by length', async (t) => {
  const h = await createAuthHarness(t, { auth: { maxTokenBytes: 1024 } });
  t.equal(await h.outcome('bearer', 'x'.repeat(1025)), 'ERR_AUTH_TOO_LARGE');
  t.equal(await h.outcome('bearer', 'x'.repeat(1024)), 'ERR_AUTH_MALFORMED');
});

t.test('no log line carries a token, whatever the outcome (security case 47)', async (t) => {
  const h = await createAuthHarness(t);
  const tokens = Object.values(await namedTokens(h.issuers[0]!, h.clock.now()));
  for (const token of tokens) {
    for (const kind of ['bearer', 'apiKey'] as const) await h.outcome(kind, token);
  }
  await writeJwksFile(h.jwksPaths[0]!, 'garbage');
  await h.sources[0]!.refresh();
  t.ok(h.logs.lines().length > 0, 'something was logged');
  t.same(tokensInLogs(h.logs, tokens), []);
  const rejected = h.logs.entries().filter((e) => e['msg'] === 'token rejected');
  t.ok(rejected.length > 0 && rejected.every((e) => /^[0-9a-f]{8}$/.test(String(e['fingerprint']))), 'rejections carry a fingerprint');
});

t.test('close stops the sources and empties the caches', async (t) => {
  const h = await createAuthHarness(t);
  const token = await mintToken(h.issuers[0]!, { nowMs: h.clock.now() });
  await h.authenticate('bearer', token);
  await h.authenticator.close();
  t.equal(await h.sources[0]!.refresh(), false, 'a closed source does not load');
  await t.resolves(h.close());
  t.ok(isGatewayError(await h.authenticate('bearer', 'x').catch((e: unknown) => e)));
});
