/**
 * The README's "Quick start", run as a newcomer would: its shell blocks, in order, in a fresh copy
 * of the repository (the files git tracks, nothing built). `npm start` and `npm run upstream` run
 * in the background until the gateway is ready; every other line runs in bash, and the proxied,
 * authenticated request must reach the upstream with the identity the README promises.
 *
 * Two substitutions, both said here: the README's fixed ports (8080, 9090, 3000) become free ones,
 * through the environment variables the README names and in the curl commands, so the test runs
 * beside anything else; and `npm install` becomes a symlink to this checkout's node_modules, since
 * a real install needs the network. `npm run test:newcomer` runs the same path with the real
 * `npm install` (M2M_NEWCOMER_NPM_INSTALL=1).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, symlinkSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import t from 'tap';
import { waitFor } from '../helpers/wait.js';

const REPO = resolve('.');
// `npm start` builds the project first: minutes on a loaded machine (`npm install` too, with M2M_NEWCOMER_NPM_INSTALL).
t.setTimeout(900_000);
const REAL_INSTALL = process.env.M2M_NEWCOMER_NPM_INSTALL === '1';

/** The shell blocks of the README's "## Quick start" section, in order. */
function quickStartBlocks(readme: string): string[] {
  const section = /^## Quick start\n([\s\S]*?)(?=^## )/m.exec(readme)?.[1] ?? '';
  return [...section.matchAll(/^```sh\n([\s\S]*?)^```$/gm)].map((m) => m[1]!);
}

/** A command line without its trailing `# comment`. */
const command = (line: string) => line.replace(/\s+#.*$/, '').trim();

function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolvePort(port));
    });
  });
}

t.test("the README's quick start ends in a proxied, authenticated request", async (t) => {
  const blocks = quickStartBlocks(readFileSync(join(REPO, 'README.md'), 'utf8'));
  t.ok(blocks.length >= 3, 'the quick start has its shell blocks');
  const lines = blocks.join('\n').split('\n');
  const background = ['npm start', 'npm run upstream'];
  t.same(
    lines.map(command).filter((line) => line.startsWith('npm ')),
    ['npm install', ...background],
    'npm install, then npm start and npm run upstream, which keep running',
  );

  const [proxy, admin, upstream] = [await freePort(), await freePort(), await freePort()];
  const ports = (text: string) => text.replaceAll('localhost:8080', `localhost:${proxy}`).replaceAll('localhost:9090', `localhost:${admin}`);
  const env: NodeJS.ProcessEnv = { ...process.env, M2M_PORT: String(proxy), M2M_ADMIN_PORT: String(admin), M2M_UPSTREAM: `http://127.0.0.1:${upstream}`, UPSTREAM_PORT: String(upstream) };
  delete env.M2M_CONFIG;
  delete env.M2M_DATA_DIR;

  // A fresh copy: the files git tracks (as they are in the working tree), no dist/, no data/.
  const dir = mkdtempSync(join(tmpdir(), 'm2m-newcomer-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const tracked = execFileSync('git', ['ls-files', '-z'], { cwd: REPO, encoding: 'utf8' }).split('\0').filter((f) => f !== '');
  for (const file of tracked) {
    mkdirSync(dirname(join(dir, file)), { recursive: true });
    cpSync(join(REPO, file), join(dir, file));
  }

  const started = Date.now();
  const children: ChildProcess[] = [];
  t.teardown(() => {
    // Each background command runs in a process group of its own: npm and the node it started.
    for (const child of children) if (child.exitCode === null && child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
  });
  let output = '';
  const run = (line: string) => {
    const child = spawn('bash', ['-c', line], { cwd: dir, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    children.push(child);
    return child;
  };

  if (REAL_INSTALL) execFileSync('npm', ['install', '--no-audit', '--no-fund'], { cwd: dir, env, stdio: 'inherit' });
  else symlinkSync(realpathSync(join(REPO, 'node_modules')), join(dir, 'node_modules'));
  const gateway = run('npm start');
  /** 200 from `url`; an exit of the gateway fails at once instead of waiting out the bound. */
  const answers = async (url: string) => {
    if (gateway.exitCode !== null) throw new Error(`npm start exited with code ${gateway.exitCode}:\n${output}`);
    try {
      const res = await fetch(url);
      await res.body?.cancel();
      return res.status === 200;
    } catch {
      return false;
    }
  };
  try {
    // Generous bounds: `npm start` builds first (tsc), on a machine that may be busy.
    await waitFor('the gateway to be ready', () => answers(`http://127.0.0.1:${admin}/readyz`), { timeoutMs: 240_000, intervalMs: 200 });
    run('npm run upstream');
    await waitFor('the upstream to answer', () => answers(`http://127.0.0.1:${upstream}/`), { timeoutMs: 120_000, intervalMs: 200 });
  } catch (err) {
    t.fail(`${(err as Error).message}\n${output}`);
    return;
  }

  const script = lines.filter((line) => !['npm install', ...background].includes(command(line))).join('\n');
  const result = spawn('bash', ['-euo', 'pipefail', '-c', ports(script)], { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  result.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  result.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const code = await new Promise<number | null>((resolveRun) => result.once('close', resolveRun));
  const seconds = (Date.now() - started) / 1000;
  t.equal(code, 0, `the commands ran\n${stderr}`);

  const [unauthenticated, ...rest] = stdout.trimEnd().split('\n');
  t.equal(unauthenticated, '401', 'the request without a credential');
  const headers = (JSON.parse(rest.join('\n') || 'null') ?? {}) as Record<string, string>;
  t.match(headers, { 'x-auth-tenant-id': 'acme', 'x-auth-roles': 'viewer', 'x-auth-token-type': 'tenantApiToken' }, 'the upstream received the identity the README names');
  t.notOk('authorization' in headers, 'and not the credential');
  // The access line is written once the response has finished, which may be after curl has read it.
  const logged = () =>
    output.split('\n').some((line) => {
      try {
        const entry = JSON.parse(line) as Record<string, unknown>;
        return entry['msg'] === 'access' && entry['path'] === '/api/hello' && entry['status'] === 200;
      } catch {
        return false;
      }
    });
  await waitFor('the access line of the proxied request', logged, { timeoutMs: 10_000 }).catch(() => undefined);
  t.ok(logged(), 'the gateway logged the proxied request as 200');
  // Reported, not asserted: how long the path takes is a measurement, not a property of the code.
  t.comment(`newcomer path (${REAL_INSTALL ? 'npm install' : 'node_modules linked'}, build, start, credential, request): ${seconds.toFixed(1)} s`);
});
