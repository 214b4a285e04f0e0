import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import t, { type Test } from 'tap';

/** The built demo, exactly what `npm run demo` runs (`npm test` builds first). */
const DEMO = resolve('dist/scripts/demo.js');

/** Runs the demo to its end (`--exit`) on free ports (0) in a throwaway data directory, unless `env` says otherwise. */
function runDemo(t: Test, env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; stdout: string; stderr: string; dataDir: string }> {
  const dataDir = mkdtempSync(join(tmpdir(), 'm2m-demo-test-'));
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  const child = spawn(process.execPath, [DEMO, '--exit'], {
    env: { ...process.env, M2M_PORT: '0', M2M_ADMIN_PORT: '0', DEMO_UPSTREAM_PORT: '0', M2M_DATA_DIR: dataDir, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  return new Promise((resolveRun) => child.once('close', (code) => resolveRun({ code, stdout, stderr, dataDir })));
}

/** A listener holding a port, as another program would. */
async function occupy(t: Test, host: string): Promise<number> {
  const server: Server = createServer();
  await new Promise<void>((r) => server.listen(0, host, r));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  return (server.address() as AddressInfo).port;
}

t.test('the walkthrough passes, printing a curl command per step, the identity the upstream received and the 401', async (t) => {
  const { code, stdout, stderr, dataDir } = await runDemo(t);
  t.equal(code, 0, stderr);

  const curls = stdout.split('\n').filter((line) => line.trimStart().startsWith('$ curl '));
  t.equal(curls.length, 7, 'one curl command per step');
  const gateway = /^ {2}\$ curl -s (http:\/\/127\.0\.0\.1:\d+)\/auth\/vendor /m.exec(stdout)?.[1];
  t.ok(gateway, 'the vendor login, against the running gateway');
  t.match(stdout, /\$ curl -s \S+\/auth\/vendor -H 'content-type: application\/json' -d '\{"clientId":"demo-vendor","secret":"[^"]+"\}'/);
  t.match(stdout, /\$ curl -s \S+\/identity\/resources\/tenants\/api-tokens\/v2 -H 'authorization: Bearer [\w.-]+' -H 'frontegg-tenant-id: acme' .*"roleIds":\["viewer"\]/);
  t.match(stdout, /\$ curl -s \S+\/identity\/resources\/tenants\/access-tokens\/v1 -H 'authorization: Bearer [\w.-]+' -H 'frontegg-tenant-id: acme' /);
  t.match(stdout, /\$ curl -s \S+\/oauth\/token -u [\w-]+:[\w-]+ -d grant_type=client_credentials/);
  t.match(stdout, /\$ curl -i \S+\/api\/hello -H 'authorization: Bearer [\w.-]+'\n/);
  t.match(stdout, /\$ curl -i \S+\/api\/hello -H 'x-api-key: [\w.-]+'\n/);
  t.match(stdout, /\$ curl -i \S+\/api\/hello\n/);

  const forwarded = stdout.split('→ 200; the upstream received GET /api/hello').slice(1);
  t.equal(forwarded.length, 2, 'both credentials reached the upstream');
  t.match(forwarded[0], /x-auth-tenant-id: acme\n\s+x-auth-roles: viewer\n[\s\S]*x-auth-token-type: tenantApiToken/);
  t.match(forwarded[1], /x-auth-tenant-id: acme\n\s+x-auth-roles: admin\n[\s\S]*x-auth-token-type: tenantAccessToken/);
  t.match(stdout, /→ 401 WWW-Authenticate: Bearer realm="m2m-gateway" \{"errors":\["[^"]+"\],"code":"ERR_AUTH_MISSING"\}/);
  t.notMatch(stdout, /FAILED/);

  t.ok(existsSync(join(dataDir, 'm2m-gateway.db')), 'the store is in M2M_DATA_DIR');
  const log = readFileSync(join(dataDir, 'gateway.log'), 'utf8');
  t.match(log, /"msg":"listening"/, 'the gateway log is kept with the data');
  const secrets = [...stdout.matchAll(/(?:Bearer |x-api-key: |-u [\w-]+:)([\w.-]{20,})/g)].map((m) => m[1]!);
  t.equal(secrets.length, 5, 'vendor token ×2, client secret, JWT, access token');
  for (const secret of secrets) t.notOk(log.includes(secret), 'no credential the demo used is in the gateway log');
});

t.test('a port in use fails with a message naming the variable that moves it', async (t) => {
  const cases = [
    { name: "the gateway's proxy listener", variable: 'M2M_PORT', host: '0.0.0.0' },
    { name: "the gateway's admin listener", variable: 'M2M_ADMIN_PORT', host: '127.0.0.1' },
    { name: 'the echo upstream', variable: 'DEMO_UPSTREAM_PORT', host: '127.0.0.1' },
  ];
  // Side by side: each case holds its own port, and each run ends on its own.
  await Promise.all(
    cases.map(async ({ name, variable, host }) => {
      const port = await occupy(t, host);
      const { code, stderr } = await runDemo(t, { [variable]: String(port) });
      t.equal(code, 1, `${name}: exit code 1`);
      t.match(stderr, `port ${port} is already in use (${name})`, `${name}: says which port and what needs it`);
      t.match(stderr, `${variable}=<port> npm run demo`, `${name}: names ${variable}`);
    }),
  );
});
