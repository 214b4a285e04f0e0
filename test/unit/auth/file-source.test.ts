import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { pino } from 'pino';
import { createFileKeySource, MAX_JWKS_BYTES, type KeySetChange } from '../../../src/auth/key-source.js';
import { createManualClock } from '../../../src/clock.js';
import type { CompiledIssuer, CompiledJwksFile } from '../../../src/config/types.js';
import { createMetrics } from '../../../src/metrics.js';
import { counterValue, createAuthHarness } from '../../helpers/auth-harness.js';
import { createLogSink } from '../../helpers/log-sink.js';
import { createTestIssuer, mintToken, writeJwksFile, type TestIssuer } from '../../helpers/tokens.js';

async function tempDir(t: { teardown(fn: () => unknown): void }) {
  const dir = await mkdtemp(join(tmpdir(), 'm2m-file-source-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** A file source over `file` for `issuer`, outside any authenticator. */
function fileSource(t: { teardown(fn: () => unknown): void }, issuer: TestIssuer, file: string, options: { pollIntervalMs?: number; watch?: boolean } = {}) {
  const clock = createManualClock();
  const metrics = createMetrics({ processMetrics: false });
  const logs = createLogSink();
  const compiled = issuer.compiled({ kind: 'file', file }) as CompiledIssuer & { jwks: CompiledJwksFile };
  const source = createFileKeySource(
    { issuer: compiled, pollIntervalMs: options.pollIntervalMs ?? 3_600_000, watch: options.watch ?? false },
    { clock, metrics, log: pino({ level: 'debug' }, logs.stream) },
  );
  t.teardown(() => source.close());
  const changes: KeySetChange[] = [];
  source.onChange((change) => changes.push(change));
  /**
   * Resolves on the next key-set change (watcher or poll), without sleeping. The source's timer
   * and watcher are unref'd (they must not keep a gateway alive), so the test holds the loop open.
   */
  const nextChange = () => {
    const alive = setInterval(() => undefined, 1000);
    return new Promise<KeySetChange>((resolve) => source.onChange(resolve)).finally(() => clearInterval(alive));
  };
  return { source, clock, metrics, logs, changes, nextChange };
}

t.test('new key material under an old kid purges that kid’s cached tokens', async (t) => {
  const h = await createAuthHarness(t);
  const old = h.issuers[0]!;
  const token = await mintToken(old, { nowMs: h.clock.now() });
  await h.authenticate('bearer', token);
  const replacement = await createTestIssuer({ name: old.name, kid: old.kid });
  await writeJwksFile(h.jwksPaths[0]!, replacement.jwks);
  await h.sources[0]!.refresh();
  t.equal(await h.outcome('bearer', token), 'ERR_AUTH_SIGNATURE');
});

t.test('a missing file at start: not ready (503), then loaded by the poll', async (t) => {
  const dir = await tempDir(t);
  const issuer = await createTestIssuer();
  const file = join(dir, 'jwks.json');
  const s = fileSource(t, issuer, file, { pollIntervalMs: 10 });
  await s.source.start();
  t.notOk(s.source.ready());
  t.equal(s.source.loadedAtMs(), undefined);
  t.equal(await counterValue(s.metrics.jwksFetches, { issuer: issuer.name, result: 'error' }), 1);
  const changed = s.nextChange();
  await writeJwksFile(file, issuer.jwks);
  t.same((await changed).added, [issuer.kid]);
  t.ok(s.source.ready());
  t.equal(s.source.get(issuer.kid)?.kid, issuer.kid);
  t.equal(s.source.loadedAtMs(), s.clock.now());
});

t.test('the directory watcher reloads on an atomic replace', async (t) => {
  const dir = await tempDir(t);
  const issuer = await createTestIssuer();
  const next = await createTestIssuer({ kid: 'kid-next' });
  const file = join(dir, 'jwks.json');
  await writeJwksFile(file, issuer.jwks);
  const s = fileSource(t, issuer, file, { watch: true });
  await s.source.start();
  t.ok(s.source.ready());
  const changed = s.nextChange();
  await writeJwksFile(file, { keys: [issuer.jwk, next.jwk] });
  t.same((await changed).added, ['kid-next']);
});

t.test('concurrent reloads are serialised: one running, at most one queued', async (t) => {
  const dir = await tempDir(t);
  const issuer = await createTestIssuer();
  const file = join(dir, 'jwks.json');
  await writeJwksFile(file, issuer.jwks);
  const s = fileSource(t, issuer, file);
  await s.source.start();
  const results = await Promise.all(Array.from({ length: 20 }, () => (s.source as ReturnType<typeof createFileKeySource>).reload()));
  t.ok(results.every(Boolean));
  t.ok((await counterValue(s.metrics.jwksFetches, { issuer: issuer.name, result: 'ok' })) <= 3, 'start + one running + one queued');
  t.equal(s.changes.length, 1, 'identical content: no change after the first load');
});

t.test('a file over the size cap is refused', async (t) => {
  const dir = await tempDir(t);
  const issuer = await createTestIssuer();
  const file = join(dir, 'jwks.json');
  await writeFile(file, JSON.stringify({ keys: [issuer.jwk], pad: 'x'.repeat(MAX_JWKS_BYTES) }));
  const s = fileSource(t, issuer, file);
  await s.source.start();
  t.notOk(s.source.ready());
  t.equal(await counterValue(s.metrics.jwksFetches, { issuer: issuer.name, result: 'invalid' }), 1);
});

t.test('a hostile kid never makes the file source read the file', async (t) => {
  const dir = await tempDir(t);
  const issuer = await createTestIssuer();
  const file = join(dir, 'jwks.json');
  await writeJwksFile(file, issuer.jwks);
  const s = fileSource(t, issuer, file);
  await s.source.start();
  for (const kid of ['../../../../dev/null', '/proc/self/environ', '__proto__', 'constructor']) {
    await s.source.refetch(kid);
    t.equal(s.source.get(kid), undefined, kid);
  }
  t.equal(await counterValue(s.metrics.jwksFetches, { issuer: issuer.name, result: 'ok' }), 1, 'loaded once, at start');
});

t.test('the authenticator reports key-set ages from the sources', async (t) => {
  const h = await createAuthHarness(t, { issuers: [{}, { issuer: 'https://second.test' }] });
  h.clock.advance(5_000);
  t.same([...h.authenticator.keySetAges()], [
    ['issuer0', 5],
    ['issuer1', 5],
  ]);
});
