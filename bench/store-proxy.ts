/**
 * Proxy throughput with a cached token, the PostgreSQL store next to the SQLite store in one run.
 * Two gateways run as `npm start` runs them (child processes on loopback, in front of the same
 * fast upstream), each with the token service: one on a fresh SQLite file, one on a fresh
 * PostgreSQL database. Each issues a tenant access token (X-API-KEY) and a tenant API token
 * exchanged for a JWT (Bearer) through its HTTP API; every (store × credential) pair is then
 * loaded in turn, interleaved over rounds, and the report gives medians and postgres/sqlite
 * ratios. Around every measured window the gateway's `/metrics` is read for
 * `m2m_gateway_store_duration_seconds_count`, so the report also shows how many store calls the
 * window made: with the token cached the hot path does none beyond the liveness cache's refreshes.
 *
 * PostgreSQL: `--database-url`, else M2M_BENCH_DATABASE_URL, else
 * postgres://postgres@127.0.0.1:5432/postgres: a server where the bench may create a database
 * `m2m_bench_<random>`, which it drops (WITH (FORCE)) at the end, whatever happened.
 *
 *   npm run bench:stores                                   # 3 rounds of 10 s per pair
 *   npm run bench:stores -- --seconds 3 --rounds 2        # a smoke run
 *   npm run build && node dist/bench/store-proxy.js [--seconds N] [--rounds N] [--connections N] [--database-url URL]
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  benchVendor,
  BenchError,
  createCleanUp,
  databaseServerUrl,
  load,
  progress,
  redacted,
  requestJson,
  runBench,
  sampleOf,
  saveResults,
  scrapeMetrics,
  startGateway,
  summarize,
  tokenServiceConfig,
  vendorHeaders,
  type BenchGateway,
  type Sample,
  startDatabaseBench,
} from './harness.js';

const VENDOR = benchVendor();
const STORES = ['sqlite', 'postgres'] as const;
type StoreDriver = (typeof STORES)[number];
const CREDENTIALS = ['x-api-key', 'bearer'] as const;
type Credential = (typeof CREDENTIALS)[number];

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '10' },
    rounds: { type: 'string', default: '3' },
    connections: { type: 'string', default: '32' },
    'database-url': { type: 'string' },
  },
});
const seconds = Number(values.seconds);
const rounds = Number(values.rounds);
const connections = Number(values.connections);
const serverUrl = databaseServerUrl(values['database-url']);

/**
 * The two credentials, made through the gateway's own API as a client would (README "The token
 * service API"): a tenant access token and a tenant API token, exchanged for a JWT with the
 * client_credentials grant. Answers the request headers that present each.
 */
async function credentialsOn(gateway: BenchGateway): Promise<Record<Credential, Record<string, string>>> {
  const asVendor = await vendorHeaders(gateway, VENDOR);
  const body = JSON.stringify({ description: 'bench', roleIds: ['reader'] });
  const access = await requestJson('POST', `${gateway.url}/identity/resources/tenants/access-tokens/v1`, { headers: asVendor, body }, 201, 'creating a tenant access token');
  const client = await requestJson('POST', `${gateway.url}/identity/resources/tenants/api-tokens/v2`, { headers: asVendor, body }, 201, 'creating a tenant API token');
  const basic = Buffer.from(`${String(client['clientId'])}:${String(client['secret'])}`).toString('base64');
  const exchanged = await requestJson(
    'POST',
    `${gateway.url}/oauth/token`,
    { headers: { authorization: `Basic ${basic}`, 'content-type': 'application/x-www-form-urlencoded' }, body: 'grant_type=client_credentials' },
    200,
    'the client_credentials exchange',
  );
  return { 'x-api-key': { 'x-api-key': String(access['secret']) }, bearer: { authorization: `Bearer ${String(exchanged['access_token'])}` } };
}

/** Store calls so far by operation: `m2m_gateway_store_duration_seconds_count` summed over `result`. */
async function storeCalls(gateway: BenchGateway): Promise<Map<string, number>> {
  const calls = new Map<string, number>();
  for (const x of await scrapeMetrics(gateway, 'm2m_gateway_store_duration_seconds_count')) {
    const operation = x.labels['operation'];
    if (operation !== undefined) calls.set(operation, (calls.get(operation) ?? 0) + x.value);
  }
  return calls;
}

function callsBetween(before: Map<string, number>, after: Map<string, number>): Record<string, number> {
  const delta: Record<string, number> = {};
  for (const [operation, n] of after) {
    const d = n - (before.get(operation) ?? 0);
    if (d > 0) delta[operation] = d;
  }
  return delta;
}

interface StoreSample extends Sample {
  store: StoreDriver;
  credential: Credential;
  requests: number;
  storeCalls: Record<string, number>;
}

async function main(): Promise<void> {
  const cleanUp = createCleanUp();
  const samples: StoreSample[] = [];
  let serverVersion = 'unknown';
  try {
    const { database, work, upstream } = await startDatabaseBench(serverUrl, cleanUp);
    serverVersion = database.serverVersion;

    const stores: Record<StoreDriver, string> = {
      sqlite: `{ driver: sqlite, path: ${JSON.stringify(join(work, 'sqlite', 'm2m.db'))} }`,
      // From the environment, so the URL (and any password in it) is never written to disk.
      postgres: '{ driver: postgres, url: "${M2M_BENCH_STORE_URL}" }',
    };
    const gateways = {} as Record<StoreDriver, BenchGateway>;
    const headers = {} as Record<StoreDriver, Record<Credential, Record<string, string>>>;
    for (const store of STORES) {
      const dir = join(work, store);
      mkdirSync(dir, { recursive: true });
      const gateway = await startGateway(dir, tokenServiceConfig(dir, stores[store], upstream.url, VENDOR), { M2M_BENCH_STORE_URL: database.url });
      cleanUp.push(() => gateway.stop());
      gateways[store] = gateway;
      headers[store] = await credentialsOn(gateway);
    }

    const pairs = CREDENTIALS.flatMap((credential) => STORES.map((store) => ({ store, credential, scenario: `${store} ${credential}` })));
    for (const p of pairs) {
      const url = `${gateways[p.store].url}/api/x`;
      const first = await fetch(url, { headers: headers[p.store][p.credential] });
      await first.body?.cancel();
      if (first.status !== 200) throw new BenchError(`${p.scenario}: the credential was refused (${first.status})`);
      await load(url, { headers: headers[p.store][p.credential] }, 1, connections); // warm-up: JIT, pools, caches
    }
    for (let round = 1; round <= rounds; round += 1) {
      for (const p of pairs) {
        const gateway = gateways[p.store];
        const before = await storeCalls(gateway);
        const r = await load(`${gateway.url}/api/x`, { headers: headers[p.store][p.credential] }, seconds, connections);
        const calls = callsBetween(before, await storeCalls(gateway));
        const total = Object.values(calls).reduce((a, n) => a + n, 0);
        samples.push({ ...sampleOf(p.scenario, round, r), store: p.store, credential: p.credential, requests: r.requests, storeCalls: calls });
        progress(round, p.scenario, r, `  store calls ${total}`);
      }
    }
  } finally {
    await cleanUp.run();
  }

  const rows = CREDENTIALS.flatMap((credential) =>
    STORES.map((store) => {
      const mine = samples.filter((x) => x.store === store && x.credential === credential);
      const calls: Record<string, number> = {};
      for (const x of mine) for (const [operation, n] of Object.entries(x.storeCalls)) calls[operation] = (calls[operation] ?? 0) + n;
      const requests = mine.reduce((a, x) => a + x.requests, 0);
      return { ...summarize(`${store} ${credential}`, samples), store, credential, requests, storeCalls: calls };
    }),
  );
  const sqliteOf = (credential: Credential) => rows.find((x) => x.store === 'sqlite' && x.credential === credential)!;
  const lines = [
    '| credential | store | req/s (median) | p50 ms | p99 ms | × sqlite req/s | requests | store calls (by operation) | failures |',
    '|---|---|---:|---:|---:|---:|---:|---|---:|',
    ...rows.map((x) => {
      const total = Object.values(x.storeCalls).reduce((a, n) => a + n, 0);
      const byOperation = Object.entries(x.storeCalls).map(([operation, n]) => `${operation} ${n}`).join(', ');
      return `| ${x.credential} | ${x.store} | ${x.rps.toFixed(0)} | ${x.p50.toFixed(3)} | ${x.p99.toFixed(3)} | ${(x.rps / sqliteOf(x.credential).rps).toFixed(2)} | ${x.requests} | ${total}${byOperation === '' ? '' : ` (${byOperation})`} | ${x.non2xx} |`;
    }),
  ];
  console.log(`\n${rounds} interleaved rounds × ${seconds} s, ${connections} connections, wrk, Node ${process.version}, PostgreSQL ${serverVersion}`);
  console.log('Requests and store calls are totals over the measured windows of every round.\n');
  console.log(lines.join('\n'));
  saveResults('stores', { rounds, seconds, connections, node: process.version, postgres: { server: redacted(serverUrl), version: serverVersion }, samples, summary: rows });
}

runBench(main);
