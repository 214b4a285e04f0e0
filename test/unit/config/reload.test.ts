import { mkdir, mkdtemp, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { createManualClock } from '../../../src/clock.js';
import { createConfigReloader, type ConfigReloader } from '../../../src/config/reload.js';
import type { CompiledConfig } from '../../../src/config/types.js';
import { createLogger } from '../../../src/log.js';
import { createMetrics } from '../../../src/metrics.js';
import { createLogSink } from '../../helpers/log-sink.js';
import { waitFor } from '../../helpers/wait.js';

const config = (prefix: string) => JSON.stringify({ routes: [{ name: 'r', pathPrefix: prefix, upstream: 'http://127.0.0.1:9', auth: 'none' }], issuers: [{ name: 'main', issuer: 'https://issuer.test', audience: 'a', algorithms: ['RS256'], jwks: { file: 'jwks.json' } }] });

interface Harness {
  readonly reloader: ConfigReloader;
  /** The route prefix of every config applied, in order. */
  readonly applied: string[];
  /** Holds every apply until `release()`. */
  hold(): void;
  release(): void;
}

async function harness(t: Test, path: string, options: { watch?: boolean } = {}): Promise<Harness> {
  let gate: Promise<void> | undefined;
  let open = () => undefined as void;
  const applied: string[] = [];
  const reloader = createConfigReloader(
    // Polled rarely, so a test of the watcher sees the watcher's work.
    { path, env: {}, watch: options.watch ?? false, debounceMs: 10, pollIntervalMs: 600_000 },
    {
      async apply(next: CompiledConfig) {
        applied.push(next.routes[0]!.pathPrefix);
        await gate;
      },
      log: createLogger({ level: 'info', destination: createLogSink().stream }),
      metrics: createMetrics({ processMetrics: false }),
      clock: createManualClock(),
    },
  );
  t.teardown(() => reloader.close());
  await reloader.start();
  return {
    reloader,
    applied,
    hold() {
      gate = new Promise<void>((resolve) => (open = resolve));
    },
    release() {
      open();
      gate = undefined;
    },
  };
}

async function configDir(t: Test): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'm2m-reload-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

t.test('triggers during a reload coalesce into one more reload after it, never two at once', async (t) => {
  const path = join(await configDir(t), 'gateway.yaml');
  await writeFile(path, config('/one'));
  const h = await harness(t, path);
  h.hold();
  const first = h.reloader.reload('SIGHUP');
  await waitFor('the first apply to start', () => h.applied.length === 1);
  await writeFile(path, config('/two'));
  const queued = [h.reloader.reload('file'), h.reloader.reload('SIGHUP'), h.reloader.reload('file')];
  t.equal(queued[0], queued[1], 'one queued reload for every trigger meanwhile');
  t.equal(queued[1], queued[2]);
  t.equal(h.applied.length, 1, 'nothing runs beside the reload under way');
  h.release();
  t.equal(await first, true);
  t.equal(await queued[0], true);
  t.strictSame(h.applied, ['/one', '/two'], 'the queued reload read the file as it was after the triggers');
});

t.test('a file trigger with unchanged text is not a reload; SIGHUP always is', async (t) => {
  const path = join(await configDir(t), 'gateway.yaml');
  await writeFile(path, config('/same'));
  const h = await harness(t, path);
  t.equal(await h.reloader.reload('file'), false);
  t.equal(await h.reloader.reload('SIGHUP'), true);
  t.strictSame(h.applied, ['/same']);
});

t.test('a Kubernetes ConfigMap update (the ..data symlink swapped) is seen by the watcher', async (t) => {
  const dir = await configDir(t);
  await mkdir(join(dir, '..v1'));
  await writeFile(join(dir, '..v1', 'gateway.yaml'), config('/v1'));
  await symlink('..v1', join(dir, '..data'));
  await symlink(join('..data', 'gateway.yaml'), join(dir, 'gateway.yaml'));
  const h = await harness(t, join(dir, 'gateway.yaml'), { watch: true });

  // What the kubelet does: a new timestamped directory, a temporary link to it, renamed over `..data`.
  await mkdir(join(dir, '..v2'));
  await writeFile(join(dir, '..v2', 'gateway.yaml'), config('/v2'));
  await symlink('..v2', join(dir, '..data_tmp'));
  await rename(join(dir, '..data_tmp'), join(dir, '..data'));
  await waitFor('the swapped config to be applied', () => h.applied.includes('/v2'));
  t.strictSame(h.applied, ['/v2']);
});
