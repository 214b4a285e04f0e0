import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, posix, resolve } from 'node:path';
import { validate } from 'dockerfile-utils';
import t from 'tap';
import { startEchoUpstream } from '../../scripts/echo-upstream.js';
import { waitReady } from '../../scripts/wait-ready.js';
import { DOCKERFILE, readDockerfile } from '../helpers/dockerfile.js';

/**
 * No container engine runs here, so the image is checked in two halves: what the Dockerfile says
 * (its stages and the final stage's run-time instructions), and the exact command a container of
 * it runs — ENTRYPOINT + CMD with the image's WORKDIR and ENV, its paths mapped onto this
 * checkout — started as a real process, probed with the image's own HEALTHCHECK command.
 */
const root = resolve('.');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { bin: Record<string, string> };
const { stages, runtime } = readDockerfile();
const final = stages.at(-1)!;

t.test('the Dockerfile has no problem the linter knows, warnings included', async (t) => {
  t.same(
    validate(readFileSync(DOCKERFILE, 'utf8')).map((d) => `line ${d.range.start.line + 1}: ${d.message}`),
    [],
  );
});

t.test('every stage starts from one Node.js LTS slim image, pinned by tag: the native modules built in one run in the other', async (t) => {
  t.ok(stages.length >= 2, 'multi-stage');
  for (const stage of stages) t.match(stage.image, /^node:(22|24)(\.\d+){0,2}-[a-z]+-slim$/, `${stage.name ?? 'final'}: ${stage.image}`);
  t.equal(new Set(stages.map((s) => s.image)).size, 1, 'the same image everywhere');
});

t.test('the runtime gets production dependencies whose native binding loaded at build time', async (t) => {
  const copies = final.instructions.filter((i) => i.getKeyword() === 'COPY').map((i) => i.getArgumentsContent() ?? '');
  const fromFlags = final.instructions.filter((i) => i.getKeyword() === 'COPY').map((i) => /--from=(\S+)/.exec(i.getTextContent())?.[1]);
  for (const name of fromFlags.filter((f) => f !== undefined)) t.ok(stages.slice(0, -1).some((s) => s.name === name), `COPY --from=${name} names an earlier stage`);
  const modulesCopy = final.instructions.find((i) => i.getKeyword() === 'COPY' && /\bnode_modules\b/.test(i.getArgumentsContent() ?? ''));
  const source = stages.find((s) => s.name === /--from=(\S+)/.exec(modulesCopy?.getTextContent() ?? '')?.[1]);
  t.ok(source, `node_modules come from a build stage (${copies.join('; ')})`);
  const runs = (source?.instructions ?? []).filter((i) => i.getKeyword() === 'RUN').map((i) => i.getArgumentsContent() ?? '').join('\n');
  t.match(runs, /npm (prune|ci|install)\b[^\n&]*--omit=dev/, 'dev dependencies are dropped');
  t.match(runs, /require\('better-sqlite3'\)/, 'the build fails when the better-sqlite3 binding does not load');
  t.notMatch(runtime.runs.join('\n'), /\bnpm\b/, 'the runtime stage installs nothing');
});

t.test('the runtime runs as a numeric non-root user, with the config and data directories as volumes, both ports exposed and a health check', async (t) => {
  t.match(runtime.user, /^[1-9]\d*(:\d+)?$/);
  const config = runtime.cmd[runtime.cmd.indexOf('--config') + 1];
  t.ok(config !== undefined && posix.isAbsolute(config), `CMD names its config by absolute path (${config})`);
  t.same([...runtime.volumes].sort(), [posix.dirname(config!), runtime.env['M2M_DATA_DIR']].sort(), 'VOLUME: the config directory and M2M_DATA_DIR');
  t.same(runtime.expose, [8080, 9090], 'the proxy and admin ports of config/gateway.yaml');
  t.same(Object.keys(runtime.healthcheck.flags).sort(), ['interval', 'retries', 'start-period', 'timeout']);
  t.equal(runtime.env['NODE_ENV'], 'production');
});

t.test('the entrypoint is the package bin, linked onto PATH and runnable by its shebang', async (t) => {
  const [command] = runtime.entrypoint;
  t.same(runtime.entrypoint, ['m2m-gateway']);
  t.equal(pkg.bin[command!], 'dist/src/main.js');
  t.ok(
    runtime.runs.some((run) => run.includes(`ln -s ${posix.join(runtime.workdir, pkg.bin[command!]!)} /usr/local/bin/${command}`)),
    'linked as npm install --global would',
  );
  t.ok(stages.some((s) => s.instructions.some((i) => i.getKeyword() === 'RUN' && /chmod 0?755 dist\/src\/main\.js/.test(i.getArgumentsContent() ?? ''))), 'made executable');
  // env -S: the image's coreutils (Debian) split the Node.js flags off the interpreter's name.
  t.match(readFileSync(join(root, pkg.bin[command!]!), 'utf8'), /^#!\/usr\/bin\/env (-S )?node( --[a-z-]+(=\S+)?)*\n/);
});

/** A port no one listens on right now, for a process that must be told its port in advance (as `docker run -e` would). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

function exitOf(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((r) => child.once('exit', (code, signal) => r({ code, signal })));
}

t.test("the image's start command serves the demo config, passes its HEALTHCHECK and exits 0 on SIGTERM", async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'm2m-image-data-'));
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  const upstream = await startEchoUpstream();
  t.teardown(() => upstream.close());

  // The image's paths on this checkout: the data volume is a fresh directory, everything else
  // under WORKDIR is the repository (its config/ is what the image copies; its dist/ is the build).
  const dataVolume = runtime.env['M2M_DATA_DIR']!;
  const onHost = (value: string) =>
    value === dataVolume || value.startsWith(`${dataVolume}/`) ? dataDir + value.slice(dataVolume.length)
    : value === runtime.workdir || value.startsWith(`${runtime.workdir}/`) ? root + value.slice(runtime.workdir.length)
    : value;
  const [proxyPort, adminPort] = [await freePort(), await freePort()];
  // The container's environment: the image's ENV and what `docker run -e` adds, nothing of this test's.
  const env = {
    PATH: process.env['PATH'] ?? '',
    ...Object.fromEntries(Object.entries(runtime.env).map(([k, v]) => [k, onHost(v)])),
    M2M_PORT: String(proxyPort),
    M2M_ADMIN_PORT: String(adminPort),
    M2M_UPSTREAM: upstream.url,
  };
  const [bin, ...entrypointArgs] = runtime.entrypoint;
  const args = [...entrypointArgs, ...runtime.cmd].map(onHost);
  t.equal(args.at(-1), join(root, 'config/gateway.yaml'), 'the default config is the repository demo config');

  // Executed through its shebang, as the image's ENTRYPOINT executes it.
  const child = spawn(join(root, pkg.bin[bin!]!), args, { cwd: onHost(runtime.workdir), env, stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let output = '';
  child.stdout.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr.on('data', (c: Buffer) => (output += c.toString()));
  const exited = new AbortController();
  child.once('exit', () => exited.abort());

  const admin = `http://127.0.0.1:${adminPort}`;
  const proxy = `http://127.0.0.1:${proxyPort}`;
  await waitReady(`${admin}/readyz`, { timeoutMs: 20_000, signal: exited.signal }).catch((err: unknown) => {
    throw new Error(`not ready: ${String(err)}\n${output}`);
  });
  t.equal((await fetch(`${admin}/healthz`)).status, 200);
  // The shebang's flags reached Node.js: the RSS bar of README "Performance" depends on them.
  const shebang = readFileSync(join(root, pkg.bin[bin!]!), 'utf8').split('\n', 1)[0]!;
  const commandLine = readFileSync(`/proc/${child.pid}/cmdline`, 'utf8').split('\0');
  t.ok(shebang.includes('--heap-growing-percent=50') && commandLine.includes('--heap-growing-percent=50'), 'Node.js runs with the shebang’s --heap-growing-percent=50');

  // One authenticated request through the proxy, with the demo's vendor credentials.
  const login = await fetch(`${proxy}/auth/vendor`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ clientId: 'demo-vendor', secret: 'demo-only-vendor-secret-change-me-0123456789' }),
  });
  t.equal(login.status, 200);
  const { token } = (await login.json()) as { token: string };
  const created = await fetch(`${proxy}/identity/resources/tenants/access-tokens/v1`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'frontegg-tenant-id': 'acme', 'content-type': 'application/json' },
    body: JSON.stringify({ description: 'image test', roleIds: ['viewer'] }),
  });
  t.equal(created.status, 201);
  const { secret } = (await created.json()) as { secret: string };
  const res = await fetch(`${proxy}/api/hello`, { headers: { 'x-api-key': secret } });
  await res.body?.cancel();
  t.equal(res.status, 200);
  t.equal(upstream.received.at(-1)?.headers['x-auth-tenant-id'], 'acme', 'forwarded with the identity headers');
  t.ok(existsSync(join(dataDir, 'm2m-gateway.db')), 'the store is in the data volume');

  const [healthBin, ...healthArgs] = runtime.healthcheck.command;
  t.equal(healthBin, 'node');
  const healthcheck = () => exitOf(spawn(process.execPath, healthArgs, { cwd: onHost(runtime.workdir), env, stdio: 'ignore' }));
  t.same(await healthcheck(), { code: 0, signal: null }, 'HEALTHCHECK passes while the gateway serves');

  child.kill('SIGTERM');
  const exit = await exitOf(child);
  t.same(exit, { code: 0, signal: null }, 'exits 0 on SIGTERM');
  if (exit.code !== 0) t.comment(output);
  t.same(await healthcheck(), { code: 1, signal: null }, 'HEALTHCHECK fails once the gateway is gone');
});

t.test('the build context is an allow-list that holds what the Dockerfile copies', async (t) => {
  const ignore = readFileSync(join(root, '.dockerignore'), 'utf8');
  t.match(ignore, /^\*$/m, 'an allow-list: everything is left out unless named');
  const sources = stages
    .flatMap((s) => s.instructions)
    .filter((i) => i.getKeyword() === 'COPY' && !/--from=/.test(i.getTextContent()))
    .flatMap((i) => (i.getArgumentsContent() ?? '').split(/\s+/).slice(0, -1));
  for (const source of sources) {
    t.ok(existsSync(join(root, source)), `${source} exists`);
    t.match(ignore, new RegExp(`^!${source.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/?$`, 'm'), `${source} is in the build context`);
  }
  t.ok(existsSync(join(dirname(DOCKERFILE), '.dockerignore')));
});
