/**
 * Revocation propagation with three processes on one PostgreSQL database: an issuer (the token
 * service) and two sidecars (proxy only, liveness checked in that database, revocations pushed
 * by LISTEN/NOTIFY), in front of the fast upstream. The bench creates N tenant access tokens at
 * the issuer, uses each once through both sidecars so their liveness answers are cached, then
 * revokes them one at a time (DELETE at the issuer). For each revocation and each sidecar it
 * measures the end-to-end time from the DELETE's response to the first 401 from that sidecar,
 * polling as fast as one keep-alive connection allows, up to a deadline; a token still allowed
 * at the deadline is a miss. The sidecars' liveness TTL is the longest allowed, so only a change
 * event can turn an answer into a 401 within the deadline.
 *
 * After the run each sidecar's `m2m_gateway_revocation_propagation_seconds{change="accessToken"}`
 * (commit on the database clock to eviction in that process) is read from `/metrics`; its p50 and
 * p99 are estimated from the buckets by linear interpolation, as Prometheus' histogram_quantile does.
 *
 * PostgreSQL: `--database-url`, else M2M_BENCH_DATABASE_URL, else
 * postgres://postgres@127.0.0.1:5432/postgres: a server where the bench may create a database
 * `m2m_bench_<random>`, which it drops (WITH (FORCE)) at the end, whatever happened.
 *
 *   npm run bench:propagation                              # 300 revocations
 *   npm run build && node dist/bench/propagation.js [--revocations N] [--database-url URL]
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { Client } from 'undici';
import {
  benchVendor,
  BenchError,
  createCleanUp,
  databaseServerUrl,
  redacted,
  requestJson,
  runBench,
  saveResults,
  scrapeMetrics,
  sidecarConfig,
  startGateway,
  tokenServiceConfig,
  vendorHeaders,
  type BenchGateway,
  type MetricSample,
  startDatabaseBench,
} from './harness.js';

const VENDOR = benchVendor();
const SIDECARS = ['sidecar-a', 'sidecar-b'] as const;
type Sidecar = (typeof SIDECARS)[number];
/** How long a sidecar may keep allowing a revoked token before the revocation counts as a miss. */
const DEADLINE_MS = 5000;
/** The longest liveness TTL the config allows: no answer expires during the run. */
const LIVENESS_TTL_SECONDS = 300;
const HISTOGRAM = 'm2m_gateway_revocation_propagation_seconds';

const { values } = parseArgs({
  options: {
    revocations: { type: 'string', default: '300' },
    'database-url': { type: 'string' },
  },
});
const revocations = Number(values.revocations);
const serverUrl = databaseServerUrl(values['database-url']);

/** One GET of the protected route through a sidecar, on that sidecar's one keep-alive connection. */
async function statusOf(client: Client, secret: string): Promise<number> {
  const res = await client.request({ path: '/api/x', method: 'GET', headers: { 'x-api-key': secret } });
  await res.body.dump();
  return res.statusCode;
}

/** What one sidecar did after one revocation. */
interface Observation {
  /** Milliseconds from the DELETE's response to the first 401; undefined for a miss. */
  ms: number | undefined;
  /** How long the request answered 401 took itself: after the eviction it looks the credential up again. */
  refusalMs: number | undefined;
  polls: number;
  /** Answers other than 200 and 401 seen while polling, by status. */
  unexpected: Record<string, number>;
}

/** Polls until the first 401 or the deadline, `since` being the DELETE's response (performance.now()). */
async function untilRefused(client: Client, secret: string, since: number): Promise<Observation> {
  const unexpected: Record<string, number> = {};
  let polls = 0;
  for (;;) {
    const sent = performance.now();
    const status = await statusOf(client, secret);
    polls += 1;
    const now = performance.now();
    if (status === 401) return { ms: now - since, refusalMs: now - sent, polls, unexpected };
    if (status !== 200) unexpected[status] = (unexpected[status] ?? 0) + 1;
    if (now - since >= DEADLINE_MS) return { ms: undefined, refusalMs: undefined, polls, unexpected };
  }
}

/** Nearest-rank percentile of `xs` (not empty). */
function percentile(xs: readonly number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.max(0, Math.ceil(q * s.length) - 1)]!;
}

interface HistogramSummary {
  count: number;
  /** Estimates from the buckets (seconds), undefined while the histogram is empty. */
  p50: number | undefined;
  p99: number | undefined;
  /** Cumulative, `le` in seconds; the last is +Inf (null in the results file, which is JSON). */
  buckets: { le: number; count: number }[];
}

/**
 * A histogram quantile estimated from cumulative buckets by linear interpolation within the bucket
 * holding the rank (the lowest bucket starting at 0); a rank in the +Inf bucket answers the highest
 * finite bound.
 */
function bucketQuantile(buckets: readonly { le: number; count: number }[], q: number): number | undefined {
  const total = buckets.at(-1)?.count ?? 0;
  if (total === 0) return undefined;
  const rank = q * total;
  let lower = 0;
  let below = 0;
  for (const b of buckets) {
    if (b.count >= rank) {
      if (b.le === Infinity) return lower;
      return b.count === below ? b.le : lower + ((b.le - lower) * (rank - below)) / (b.count - below);
    }
    lower = b.le;
    below = b.count;
  }
  return lower;
}

function histogramOf(samples: readonly MetricSample[], change: string): HistogramSummary {
  const buckets = samples
    .filter((x) => x.name === `${HISTOGRAM}_bucket` && x.labels['change'] === change)
    .map((x) => ({ le: x.labels['le'] === '+Inf' ? Infinity : Number(x.labels['le']), count: x.value }))
    .sort((a, b) => a.le - b.le);
  const count = samples.find((x) => x.name === `${HISTOGRAM}_count` && x.labels['change'] === change)?.value ?? 0;
  return { count, p50: bucketQuantile(buckets, 0.5), p99: bucketQuantile(buckets, 0.99), buckets };
}

async function main(): Promise<void> {
  if (!Number.isInteger(revocations) || revocations < 1) throw new BenchError('--revocations must be a positive integer');
  const cleanUp = createCleanUp();
  const observations: Record<Sidecar, Observation[]> = { 'sidecar-a': [], 'sidecar-b': [] };
  const histograms = {} as Record<Sidecar, { accessToken: HistogramSummary; all: MetricSample[] }>;
  let serverVersion = 'unknown';
  try {
    const { database, work, upstream } = await startDatabaseBench(serverUrl, cleanUp);
    serverVersion = database.serverVersion;

    // The database URL from the environment, so it (and any password in it) is never written to disk.
    const env = { M2M_BENCH_STORE_URL: database.url };
    const start = async (name: string, config: (dir: string) => string): Promise<BenchGateway> => {
      const dir = join(work, name);
      mkdirSync(dir, { recursive: true });
      const gateway = await startGateway(dir, config(dir), env);
      cleanUp.push(() => gateway.stop());
      return gateway;
    };
    const issuer = await start('issuer', (dir) => tokenServiceConfig(dir, '{ driver: postgres, url: "${M2M_BENCH_STORE_URL}" }', upstream.url, VENDOR));
    const sidecars = {} as Record<Sidecar, { gateway: BenchGateway; client: Client }>;
    for (const name of SIDECARS) {
      const gateway = await start(name, () => sidecarConfig(issuer.url, 'M2M_BENCH_STORE_URL', upstream.url, LIVENESS_TTL_SECONDS));
      const client = new Client(gateway.url, { pipelining: 1 });
      cleanUp.push(() => client.close());
      sidecars[name] = { gateway, client };
    }

    const asVendor = await vendorHeaders(issuer, VENDOR);
    const base = `${issuer.url}/identity/resources/tenants/access-tokens/v1`;
    const tokens: { id: string; secret: string }[] = [];
    for (let i = 0; i < revocations; i += 1) {
      const created = await requestJson('POST', base, { headers: asVendor, body: JSON.stringify({ description: `propagation ${i}`, roleIds: ['reader'] }) }, 201, 'creating a tenant access token');
      tokens.push({ id: String(created['id']), secret: String(created['secret']) });
    }
    for (const token of tokens) {
      for (const name of SIDECARS) {
        const status = await statusOf(sidecars[name].client, token.secret);
        if (status !== 200) throw new BenchError(`${name}: a fresh tenant access token was refused (${status})`);
      }
    }
    console.error(`${revocations} tenant access tokens created and cached as live by both sidecars; revoking them one at a time`);

    for (const [i, token] of tokens.entries()) {
      await requestJson('DELETE', `${base}/${encodeURIComponent(token.id)}`, { headers: asVendor }, 204, 'revoking a tenant access token');
      const since = performance.now();
      const seen = await Promise.all(SIDECARS.map((name) => untilRefused(sidecars[name].client, token.secret, since)));
      for (const [k, name] of SIDECARS.entries()) {
        const o = seen[k]!;
        observations[name].push(o);
        if (o.ms === undefined) console.error(`revocation ${i + 1}: ${name} still allowed the token ${DEADLINE_MS} ms after the DELETE (${o.polls} polls, other answers ${JSON.stringify(o.unexpected)})`);
      }
      if ((i + 1) % 50 === 0) console.error(`${i + 1} revocations`);
    }
    for (const name of SIDECARS) {
      const all = await scrapeMetrics(sidecars[name].gateway, HISTOGRAM);
      histograms[name] = { accessToken: histogramOf(all, 'accessToken'), all };
    }
  } finally {
    await cleanUp.run();
  }

  const ms = (x: number | undefined, digits: number) => (x === undefined ? '–' : x.toFixed(digits));
  const rows = SIDECARS.map((name) => {
    const hits = observations[name].flatMap((o) => (o.ms === undefined ? [] : [o.ms]));
    const h = histograms[name].accessToken;
    return {
      sidecar: name,
      revocations: observations[name].length,
      misses: observations[name].length - hits.length,
      e2e: hits.length === 0 ? undefined : { p50: percentile(hits, 0.5), p99: percentile(hits, 0.99), max: Math.max(...hits) },
      polls: observations[name].reduce((a, o) => a + o.polls, 0),
      refusalP50: hits.length === 0 ? undefined : percentile(observations[name].flatMap((o) => (o.refusalMs === undefined ? [] : [o.refusalMs])), 0.5),
      histogram: { count: h.count, p50Ms: h.p50 === undefined ? undefined : h.p50 * 1000, p99Ms: h.p99 === undefined ? undefined : h.p99 * 1000 },
    };
  });
  const lines = [
    '| sidecar | revocations | misses | end-to-end p50 ms | p99 ms | max ms | the 401 request p50 ms | polls per revocation | histogram count | histogram p50 ms (est.) | histogram p99 ms (est.) |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...rows.map((x) => `| ${x.sidecar} | ${x.revocations} | ${x.misses} | ${ms(x.e2e?.p50, 2)} | ${ms(x.e2e?.p99, 2)} | ${ms(x.e2e?.max, 2)} | ${ms(x.refusalP50, 2)} | ${(x.polls / x.revocations).toFixed(2)} | ${x.histogram.count} | ${ms(x.histogram.p50Ms, 2)} | ${ms(x.histogram.p99Ms, 2)} |`),
  ];
  console.log(`\n${revocations} revocations, one at a time; deadline ${DEADLINE_MS} ms; Node ${process.version}, PostgreSQL ${serverVersion}`);
  console.log('End-to-end: from the DELETE response at the issuer to the first 401 from the sidecar (one keep-alive connection, polling back to back),');
  console.log('including that 401 request itself, which looks the credential up in the database again once its answer was evicted.');
  console.log(`Histogram: ${HISTOGRAM}{change="accessToken"} of each sidecar (commit on the database clock, which has millisecond resolution, to eviction); p50/p99 are estimates from its buckets by linear interpolation.\n`);
  console.log(lines.join('\n'));
  saveResults('propagation', {
    revocations,
    deadlineMs: DEADLINE_MS,
    node: process.version,
    postgres: { server: redacted(serverUrl), version: serverVersion },
    summary: rows,
    observations,
    histograms,
  });
}

runBench(main);
