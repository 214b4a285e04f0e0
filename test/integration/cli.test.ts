import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import t from 'tap';
import { startEchoUpstream } from '../../scripts/echo-upstream.js';
import { send } from '../helpers/scenario.js';

/** The built entry point, exactly what `npm start` and the container run (`npm test` builds first). */
const MAIN = resolve('dist/src/main.js');

function cli(args: string[], env: NodeJS.ProcessEnv = {}) {
  const r = spawnSync(process.execPath, [MAIN, ...args], { env: { ...process.env, ...env }, encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

t.test('check-config accepts the shipped config and reports every problem of a broken one', async (t) => {
  const ok = cli(['check-config', 'config/gateway.yaml']);
  t.equal(ok.code, 0, ok.stderr);
  t.match(ok.stdout, /config\/gateway\.yaml: OK/);

  const dir = mkdtempSync(join(tmpdir(), 'm2m-cli-'));
  const bad = join(dir, 'bad.yaml');
  writeFileSync(bad, 'server:\n  prot: 1\nissuers: []\nroutes:\n  - name: r\n    pathPrefix: nope\n    upstream: ftp://x\n    auth: none\n');
  const r = cli(['check-config', bad]);
  t.equal(r.code, 1);
  t.match(r.stderr, /server\.prot/);
  t.match(r.stderr, /issuers/);
  t.match(r.stderr, /routes\[0\]\.pathPrefix/);
  t.match(r.stderr, /routes\[0\]\.upstream/);
});

t.test('an unknown command is a usage error; --help and schema print to stdout', async (t) => {
  t.equal(cli(['frobnicate']).code, 2);
  const badOption = cli(['serve', '--frob']);
  t.equal(badOption.code, 2, 'an unknown option is a usage error too');
  t.match(badOption.stderr, /Unknown option '--frob'[\s\S]*Usage: m2m-gateway/);
  const help = cli(['--help']);
  t.equal(help.code, 0);
  t.match(help.stdout, /check-config/);
  t.match(help.stdout, /tokens create --kind api\|access/, 'the credential commands are in the usage');
  t.match(help.stdout, /publishKeysAheadSeconds/, 'and how rotation behaves');
  const schema = cli(['schema']);
  t.equal(schema.code, 0);
  t.equal(JSON.parse(schema.stdout).title, 'm2m-gateway configuration');
});

t.test('serve runs the demo config; SIGTERM drains an in-flight request and exits 0', async (t) => {
  const upstream = await startEchoUpstream();
  t.teardown(() => upstream.close());
  const child = spawn(process.execPath, [MAIN, 'serve', '--config', 'config/gateway.yaml'], {
    // A throwaway data directory: the test must not leave a store and keys in the checkout.
    env: { ...process.env, M2M_PORT: '0', M2M_ADMIN_PORT: '0', M2M_UPSTREAM: upstream.url, M2M_DATA_DIR: mkdtempSync(join(tmpdir(), 'm2m-cli-data-')) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  const lines = createInterface({ input: child.stdout! });
  const logs: Record<string, unknown>[] = [];
  const listening = new Promise<Record<string, unknown>>((r) =>
    lines.on('line', (line) => {
      const entry = JSON.parse(line) as Record<string, unknown>;
      logs.push(entry);
      if (entry['msg'] === 'listening') r(entry);
    }),
  );
  const { proxyPort, adminPort } = (await listening) as { proxyPort: number; adminPort: number };
  const gateway = `http://127.0.0.1:${proxyPort}`;
  t.equal((await send(`http://127.0.0.1:${adminPort}/readyz`)).status, 200, 'ready with the demo key set');
  t.equal((await send(`${gateway}/public/hello`)).status, 200);
  const denied = await send(`${gateway}/api/hello`);
  t.equal(denied.status, 401);
  t.equal(denied.headers['www-authenticate'], 'Bearer realm="m2m-gateway"');

  let release: () => void = () => undefined;
  upstream.handle((_req, res) => {
    release = () => res.writeHead(200, { 'content-type': 'text/plain' }).end('drained');
  });
  const before = upstream.received.length;
  const inFlight = send(`${gateway}/public/slow`);
  while (upstream.received.length === before) await new Promise((r) => setImmediate(r));
  child.kill('SIGTERM');
  while (!logs.some((e) => e['msg'] === 'draining')) await new Promise((r) => setImmediate(r));
  release();
  const res = await inFlight;
  t.equal(res.status, 200);
  t.equal(res.body, 'drained');
  t.equal(await exited, 0, 'exit code 0 after draining');
  t.ok(logs.some((e) => e['msg'] === 'stopped'));
});
