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
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createSigner } from 'fast-jwt';
import { load, progress, sampleOf, saveResults, startGateway, startUpstream, summarize, type Sample } from './harness.js';

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

  const upstream = await startUpstream();
  const upstreamUrl = upstream.url;
  const gateway = await startGateway(
    work,
    `
issuers:
  - name: bench
    issuer: ${issuer}
    audience: ${audience}
    algorithms: [RS256]
    jwks: { file: ${join(work, 'jwks.json')} }
routes:
  - { name: public, pathPrefix: /public, upstream: "${upstreamUrl}", auth: none }
  - { name: api, pathPrefix: /api, upstream: "${upstreamUrl}", auth: { tokenTypes: [tenantAccessToken] } }
`,
  );
  const gatewayUrl = gateway.url;

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
    for (const s of scenarios) await load(s.url, s.headers, 1, connections); // warm-up: JIT, pools, caches
    for (let round = 1; round <= rounds; round += 1) {
      for (const s of scenarios) {
        const r = await load(s.url, s.headers, duration, connections);
        samples.push(sampleOf(s.name, round, r));
        progress(round, s.name, r);
      }
    }
  } finally {
    await gateway.stop();
    upstream.stop();
  }

  const summary = scenarios.map((s) => summarize(s.name, samples));
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
  saveResults('proxy', { rounds, duration, connections, node: process.version, samples, summary });
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
