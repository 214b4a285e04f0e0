/**
 * Side-by-side proxy benchmark (SPEC §7): direct to the upstream, the gateway on a public route
 * (pass-through) and the gateway with a cached valid token, interleaved over rounds in one run,
 * reporting medians and ratios. Every process is local: upstream and gateway run as child
 * processes on loopback; autocannon drives the load from this process.
 *
 *   npm run bench                  # 3 rounds of 10 s per scenario
 *   npm run bench -- --quick       # 3 rounds of 2 s, a smoke run
 *   npm run bench -- --rounds 5 --duration 15 --connections 64
 */
import autocannon from 'autocannon';
import { spawn, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createServer, type AddressInfo } from 'node:net';
import { createSigner } from 'fast-jwt';
import { waitReady } from '../scripts/wait-ready.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '..', '..');

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    rounds: { type: 'string', default: '3' },
    duration: { type: 'string' },
    connections: { type: 'string', default: '32' },
  },
});
const rounds = Number(values.rounds);
const duration = Number(values.duration ?? (values.quick ? 2 : 10));
const connections = Number(values.connections);

interface Sample {
  scenario: string;
  round: number;
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  non2xx: number;
}

function startChild(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ child: ChildProcess; firstLine: string }> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
    let buffered = '';
    const onData = (chunk: Buffer) => {
      buffered += chunk.toString();
      const nl = buffered.indexOf('\n');
      if (nl >= 0) {
        child.stdout?.off('data', onData);
        child.stdout?.resume();
        resolvePromise({ child, firstLine: buffered.slice(0, nl) });
      }
    };
    child.stdout?.on('data', onData);
    child.once('exit', (code) => reject(new Error(`${args.join(' ')} exited with ${code}`)));
  });
}

function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolvePort(port));
    });
  });
}

function load(url: string, headers: Record<string, string>, seconds: number): Promise<autocannon.Result> {
  return autocannon({ url, headers, connections, duration: seconds, pipelining: 1 });
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

async function main(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'm2m-bench-'));
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = { ...publicKey.export({ format: 'jwk' }), kid: 'bench-rs256', alg: 'RS256', use: 'sig' };
  writeFileSync(join(work, 'jwks.json'), JSON.stringify({ keys: [jwk] }));
  const issuer = 'https://issuer.bench.local';
  const audience = 'bench';
  const sign = createSigner({ key: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(), algorithm: 'RS256', kid: 'bench-rs256', header: { alg: 'RS256', typ: 'JWT' } });
  const now = Math.floor(Date.now() / 1000);
  const token = sign({
    iss: issuer,
    aud: audience,
    sub: randomUUID(),
    jti: randomUUID(),
    type: 'tenantAccessToken',
    tenantId: 'tenant-bench',
    roles: ['reader'],
    permissions: ['reports.read'],
    iat: now,
    exp: now + 3600,
  });

  const ports = { proxy: await freePort(), admin: await freePort() };
  const upstream = await startChild([join(here, 'upstream.js')]);
  const upstreamUrl = `http://127.0.0.1:${upstream.firstLine.trim()}`;
  const config = `
server: { host: 127.0.0.1, port: ${ports.proxy} }
admin: { host: 127.0.0.1, port: ${ports.admin} }
log: { level: warn }
issuers:
  - name: bench
    issuer: ${issuer}
    audience: ${audience}
    algorithms: [RS256]
    jwks: { file: ${join(work, 'jwks.json')} }
routes:
  - { name: public, pathPrefix: /public, upstream: "${upstreamUrl}", auth: none }
  - { name: api, pathPrefix: /api, upstream: "${upstreamUrl}", auth: { tokenTypes: [tenantAccessToken] } }
`;
  writeFileSync(join(work, 'gateway.yaml'), config);
  const gateway = spawn(process.execPath, [join(root, 'dist', 'src', 'main.js'), 'serve', '--config', join(work, 'gateway.yaml')], { stdio: ['ignore', 'ignore', 'inherit'] });
  const gatewayUrl = `http://127.0.0.1:${ports.proxy}`;
  await waitReady(`http://127.0.0.1:${ports.admin}/readyz`);

  const scenarios: { name: string; url: string; headers: Record<string, string> }[] = [
    { name: 'direct', url: `${upstreamUrl}/public/x`, headers: {} },
    { name: 'pass-through', url: `${gatewayUrl}/public/x`, headers: {} },
    // The same bytes as the cached-token request on a public route: separates what the token's
    // size costs (parsing, load generator) from what authenticating it costs.
    { name: 'pass-through+token', url: `${gatewayUrl}/public/x`, headers: { 'x-api-key': token } },
    { name: 'cached-token', url: `${gatewayUrl}/api/x`, headers: { 'x-api-key': token } },
  ];
  const samples: Sample[] = [];
  try {
    for (const s of scenarios) await load(s.url, s.headers, 1); // warm-up: JIT, pools, caches
    for (let round = 1; round <= rounds; round += 1) {
      for (const s of scenarios) {
        const r = await load(s.url, s.headers, duration);
        samples.push({ scenario: s.name, round, rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, errors: r.errors, non2xx: r.non2xx });
        console.error(`round ${round} ${s.name.padEnd(18)} ${r.requests.average.toFixed(0).padStart(7)} req/s  p50 ${r.latency.p50} ms  p99 ${r.latency.p99} ms  non2xx ${r.non2xx} errors ${r.errors}`);
      }
    }
  } finally {
    gateway.kill('SIGTERM');
    upstream.child.kill('SIGTERM');
  }

  const summary = scenarios.map((s) => {
    const mine = samples.filter((x) => x.scenario === s.name);
    return { scenario: s.name, rps: median(mine.map((x) => x.rps)), p50: median(mine.map((x) => x.p50)), p99: median(mine.map((x) => x.p99)), non2xx: mine.reduce((a, x) => a + x.non2xx + x.errors, 0) };
  });
  const by = (name: string) => summary.find((x) => x.scenario === name)!;
  const pass = by('pass-through').rps;
  const direct = by('direct').rps;
  const lines = [
    `| scenario | req/s (median) | p50 ms | p99 ms | × direct | × pass-through | failures |`,
    `|---|---:|---:|---:|---:|---:|---:|`,
    ...summary.map((x) => `| ${x.scenario} | ${x.rps.toFixed(0)} | ${x.p50} | ${x.p99} | ${(x.rps / direct).toFixed(2)} | ${(x.rps / pass).toFixed(2)} | ${x.non2xx} |`),
  ];
  console.log(`\n${rounds} interleaved rounds × ${duration} s, ${connections} connections, autocannon, Node ${process.version}\n`);
  console.log(lines.join('\n'));
  const results = join(root, 'bench', 'results');
  mkdirSync(results, { recursive: true });
  writeFileSync(join(results, `proxy-${Date.now()}.json`), JSON.stringify({ rounds, duration, connections, node: process.version, samples, summary }, null, 2));
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
