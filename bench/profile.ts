/**
 * Where the gateway's time goes on one path: the gateway (as `npm start` runs it, with
 * `node --cpu-prof`) in front of the fast upstream, loaded by wrk for `--seconds` on one scenario,
 * then stopped; the V8 CPU profile is summarised as the functions with the most self time (idle
 * left out), then the same time by where it goes: the gateway's own code, Node's HTTP stack,
 * undici, crypto, garbage collection, start-up (the profile covers the whole process). The
 * .cpuprofile stays in bench/results/ for Chrome DevTools or speedscope.
 *
 *   npm run bench:profile -- --scenario cached     # X-API-KEY with one cached token (default)
 *   npm run bench:profile -- --scenario cold       # 20k distinct Bearer tokens, cache 10k
 *   npm run bench:profile -- --scenario pass       # a public route
 *   npm run bench:profile -- --scenario exchange   # POST /oauth/token, client_credentials, SQLite store
 *   npm run bench:profile -- --scenario exchange --algorithm ES256   # the token service's signing algorithm (default RS256)
 *   npm run build && node dist/bench/profile.js [--scenario S] [--seconds 10] [--connections 32] [--top 25]
 */
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createSigner } from 'fast-jwt';
import { BenchError, benchVendor, createCleanUp, load, pinning, progress, requestJson, root, runBench, startGateway, startUpstream, tokenServiceConfig, vendorHeaders, type LoadRequest } from './harness.js';

const { values } = parseArgs({
  options: {
    scenario: { type: 'string', default: 'cached' },
    seconds: { type: 'string', default: '10' },
    connections: { type: 'string', default: '32' },
    top: { type: 'string', default: '25' },
    algorithm: { type: 'string', default: 'RS256' },
  },
});

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** `where` of a call frame: a package for node_modules, the module for node: internals, else the file. */
function where(url: string): string {
  const modules = url.lastIndexOf('/node_modules/');
  if (modules >= 0) {
    const rest = url.slice(modules + '/node_modules/'.length).split('/');
    return rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]!;
  }
  if (url.startsWith('node:')) return url;
  const dist = url.indexOf('/dist/');
  return dist >= 0 ? url.slice(dist + '/dist/'.length) : url === '' ? '(native)' : url;
}

/** Where a call frame's time belongs, coarsely: what a reader of the profile weighs first. */
function category(frame: ProfileNode['callFrame']): string {
  const { url, functionName } = frame;
  if (functionName === '(idle)') return 'idle';
  if (functionName === '(garbage collector)') return 'garbage collector';
  if (url.includes('/node_modules/undici/') || url.includes('deps/undici')) return 'undici (upstream client)';
  if (url.startsWith('wasm://')) return 'llhttp (undici parser, wasm)';
  if (/\/node_modules\/(ajv|@sinclair|yaml)\/|modules\/(cjs|esm)\//.test(url)) return 'start-up (config, module loading)';
  if (url.includes('/node_modules/')) return where(url);
  if (url.includes('/dist/src/')) return 'gateway code (src/)';
  if (url.startsWith('node:internal/crypto')) return 'node:crypto (SHA-256, signature checks)';
  if (url.startsWith('node:')) return 'node: http, net, streams, events, timers';
  return 'native (socket writes, V8 runtime)';
}

/** Self time per function (or, with `byCategory`, per `category`), in percent of the busy samples, largest first. */
function topSelfTime(profile: CpuProfile, top: number, byCategory = false): { name: string; percent: number }[] {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<string, number>();
  let total = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const node = byId.get(profile.samples[i]!);
    if (node === undefined) continue;
    const dt = profile.timeDeltas[i] ?? 0;
    const { functionName, url, lineNumber } = node.callFrame;
    if (functionName === '(idle)') continue;
    const name = byCategory ? category(node.callFrame) : `${functionName || '(anonymous)'} ${where(url)}${url.includes('/node_modules/') || url === '' ? '' : `:${lineNumber + 1}`}`;
    self.set(name, (self.get(name) ?? 0) + dt);
    total += dt;
  }
  return [...self.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([name, t]) => ({ name, percent: (100 * t) / total }));
}

async function main(): Promise<void> {
  const scenario = values.scenario;
  if (!['cached', 'cold', 'pass', 'exchange'].includes(scenario)) throw new BenchError('--scenario must be cached, cold, pass or exchange');
  const pin = pinning();
  const cleanUp = createCleanUp();
  const work = mkdtempSync(join(tmpdir(), 'm2m-bench-'));
  cleanUp.push(() => rmSync(work, { recursive: true, force: true }));
  const profiles = join(work, 'profiles');
  mkdirSync(profiles);

  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  writeFileSync(join(work, 'jwks.json'), JSON.stringify({ keys: [{ ...publicKey.export({ format: 'jwk' }), kid: 'k', alg: 'ES256', use: 'sig' }] }));
  const sign = createSigner({ key: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(), algorithm: 'ES256', kid: 'k' });
  const now = Math.floor(Date.now() / 1000);
  const token = (type: string) => sign({ iss: 'https://issuer.bench.local', aud: 'bench', sub: randomUUID(), jti: randomUUID(), type, tenantId: 't', roles: ['reader'], permissions: ['reports.read'], iat: now, exp: now + 3600 });
  let request: LoadRequest = {};
  let path = '/api/x';
  if (scenario === 'cached') request = { headers: { 'X-API-KEY': token('tenantAccessToken') } };
  if (scenario === 'pass') path = '/public/x';
  if (scenario === 'cold') {
    const file = join(work, 'tokens.txt');
    writeFileSync(file, Array.from({ length: 20_000 }, () => token('tenantApiToken')).join('\n'));
    request = { tokens: { file, header: 'Authorization', prefix: 'Bearer ' } };
  }

  try {
    const upstream = await startUpstream(pin.upstream);
    cleanUp.push(() => upstream.stop());
    const config = `
auth: { cache: { maxEntries: 10000 } }
issuers:
  - { name: bench, issuer: "https://issuer.bench.local", audience: bench, algorithms: [ES256], jwks: { file: ${join(work, 'jwks.json')} } }
routes:
  - { name: public, pathPrefix: /public, upstream: "${upstream.url}", auth: none }
  - { name: api, pathPrefix: /api, upstream: "${upstream.url}", auth: { tokenTypes: [tenantAccessToken, tenantApiToken] } }
`;
    const vendor = benchVendor();
    const store = `{ driver: sqlite, path: ${JSON.stringify(join(work, 'm2m.db'))} }`;
    const gateway = await startGateway(work, scenario === 'exchange' ? tokenServiceConfig(work, store, upstream.url, vendor, { unlimited: true, algorithm: values.algorithm }) : config, {}, {
      cpus: pin.proxy,
      nodeOptions: ['--cpu-prof', '--cpu-prof-dir', profiles],
    });
    cleanUp.push(() => gateway.stop());
    if (scenario === 'exchange') {
      const client = await requestJson('POST', `${gateway.url}/identity/resources/tenants/api-tokens/v2`, { headers: await vendorHeaders(gateway, vendor), body: JSON.stringify({ description: 'bench', roleIds: ['reader'] }) }, 201, 'creating a tenant API token');
      const basic = `Basic ${Buffer.from(`${String(client['clientId'])}:${String(client['secret'])}`).toString('base64')}`;
      request = { method: 'POST', body: 'grant_type=client_credentials', headers: { Authorization: basic, 'Content-Type': 'application/x-www-form-urlencoded' } };
      path = '/oauth/token';
    }
    const r = await load(`${gateway.url}${path}`, request, Number(values.seconds), Number(values.connections), pin.load);
    progress(1, scenario, r);
    await gateway.stop();
    const file = readdirSync(profiles).find((f) => f.endsWith('.cpuprofile'));
    if (file === undefined) throw new BenchError('the gateway wrote no CPU profile');
    const text = readFileSync(join(profiles, file), 'utf8');
    const results = join(root, 'bench', 'results');
    mkdirSync(results, { recursive: true });
    const kept = join(results, `profile-${scenario}-${Date.now()}.cpuprofile`);
    writeFileSync(kept, text);
    console.log(`\n${scenario}: ${r.rps.toFixed(0)} req/s under the profiler; top self time (${kept}):\n`);
    console.log('| self % of busy time | function (file or package) |\n|---:|---|');
    const profile = JSON.parse(text) as CpuProfile;
    for (const { name, percent } of topSelfTime(profile, Number(values.top))) console.log(`| ${percent.toFixed(1)} | \`${name}\` |`);
    console.log('\n| self % of busy time | where |\n|---:|---|');
    for (const { name, percent } of topSelfTime(profile, Number(values.top), true)) console.log(`| ${percent.toFixed(1)} | ${name} |`);
  } finally {
    await cleanUp.run();
  }
}

runBench(main);
