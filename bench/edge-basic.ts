/**
 * Exchange at the edge against the two-step flow, side by side in one run: one gateway (as
 * `npm start` runs it, token service on SQLite, in front of the fast upstream) with one tenant API
 * token, loaded in turn with `Authorization: Basic` (id and secret) on every request and with the
 * `Bearer` JWT that token's exchange returned. Medians of interleaved rounds; the report gives the
 * Basic/Bearer ratio (the goal: ≥ 0.90, since the Basic path costs one cached exchange per JWT
 * lifetime, not one per request).
 *
 *   npm run bench:edge                                    # 3 rounds of 10 s per scenario
 *   npm run bench:edge -- --seconds 3 --rounds 2         # a smoke run
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  benchVendor,
  BenchError,
  createCleanUp,
  load,
  progress,
  requestJson,
  runBench,
  sampleOf,
  saveResults,
  startGateway,
  startUpstream,
  summarize,
  tokenServiceConfig,
  vendorHeaders,
  type Sample,
} from './harness.js';

const VENDOR = benchVendor();
const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '10' },
    rounds: { type: 'string', default: '3' },
    connections: { type: 'string', default: '32' },
  },
});
const seconds = Number(values.seconds);
const rounds = Number(values.rounds);
const connections = Number(values.connections);

async function main(): Promise<void> {
  const cleanUp = createCleanUp();
  const samples: Sample[] = [];
  const scenarios: { name: string; headers: Record<string, string> }[] = [];
  let url = '';
  try {
    const work = mkdtempSync(join(tmpdir(), 'm2m-bench-'));
    cleanUp.push(() => rmSync(work, { recursive: true, force: true }));
    const upstream = await startUpstream();
    cleanUp.push(() => upstream.stop());
    const gateway = await startGateway(work, tokenServiceConfig(work, `{ driver: sqlite, path: ${JSON.stringify(join(work, 'm2m.db'))} }`, upstream.url, VENDOR, { basic: true }));
    cleanUp.push(() => gateway.stop());
    url = `${gateway.url}/api/x`;

    const body = JSON.stringify({ description: 'bench', roleIds: ['reader'] });
    const client = await requestJson('POST', `${gateway.url}/identity/resources/tenants/api-tokens/v2`, { headers: await vendorHeaders(gateway, VENDOR), body }, 201, 'creating a tenant API token');
    const basic = `Basic ${Buffer.from(`${String(client['clientId'])}:${String(client['secret'])}`).toString('base64')}`;
    const exchanged = await requestJson(
      'POST',
      `${gateway.url}/oauth/token`,
      { headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' }, body: 'grant_type=client_credentials' },
      200,
      'the client_credentials exchange',
    );
    scenarios.push({ name: 'bearer (cached JWT)', headers: { authorization: `Bearer ${String(exchanged['access_token'])}` } }, { name: 'basic (exchange at the edge)', headers: { authorization: basic } });

    for (const s of scenarios) {
      const first = await fetch(url, { headers: s.headers });
      await first.body?.cancel();
      if (first.status !== 200) throw new BenchError(`${s.name}: the credential was refused (${first.status})`);
      await load(url, { headers: s.headers }, 1, connections); // warm-up: JIT, pools, caches
    }
    for (let round = 1; round <= rounds; round += 1) {
      for (const s of scenarios) {
        const r = await load(url, { headers: s.headers }, seconds, connections);
        samples.push(sampleOf(s.name, round, r));
        progress(round, s.name, r);
      }
    }
  } finally {
    await cleanUp.run();
  }

  const summary = scenarios.map((s) => summarize(s.name, samples));
  const bearer = summary[0]!.rps;
  console.log(`\n${rounds} interleaved rounds × ${seconds} s, ${connections} connections, wrk, Node ${process.version}\n`);
  console.log(
    [
      '| scenario | req/s (median) | p50 ms | p99 ms | × bearer | failures |',
      '|---|---:|---:|---:|---:|---:|',
      ...summary.map((x) => `| ${x.scenario} | ${x.rps.toFixed(0)} | ${x.p50.toFixed(3)} | ${x.p99.toFixed(3)} | ${(x.rps / bearer).toFixed(2)} | ${x.non2xx} |`),
    ].join('\n'),
  );
  saveResults('edge-basic', { rounds, seconds, connections, node: process.version, samples, summary });
}

runBench(main);
