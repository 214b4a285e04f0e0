/**
 * What every side-by-side benchmark shares: the processes it measures (the fast upstream and the
 * gateway exactly as `npm start` runs it, each a child process on loopback), the load generator
 * and the statistics. Keeping them in one place keeps the benchmarks comparable.
 */
import autocannon from 'autocannon';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer, type AddressInfo } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { waitReady } from '../scripts/wait-ready.js';

const here = dirname(fileURLToPath(import.meta.url));
/** The repository root (this file runs from dist/bench/). */
export const root = resolve(here, '..', '..');

/** One measured load run, as the reports keep it. */
export interface Sample {
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

/** The fast upstream of bench/upstream.ts in its own process, and its URL. */
export async function startUpstream(): Promise<{ url: string; stop: () => void }> {
  const upstream = await startChild([join(here, 'upstream.js')]);
  return { url: `http://127.0.0.1:${upstream.firstLine.trim()}`, stop: () => upstream.child.kill('SIGTERM') };
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

export interface BenchGateway {
  /** The proxy listener. */
  readonly url: string;
  /** The admin listener (/metrics, /readyz). */
  readonly adminUrl: string;
  /** SIGTERM (the gateway drains, then exits), then waits for the exit. */
  stop(): Promise<void>;
}

/**
 * `node dist/src/main.js serve` on `config` (YAML without `server`, `admin` and `log`: those are
 * loopback on free ports, log level warn), written to `dir`/gateway.yaml with mode 0600 since it
 * may hold keys. `env` is added to the child's environment, for `${NAME}` references in `config`.
 * Resolves once `/readyz` answers 200; rejects when the gateway exits first.
 */
export async function startGateway(dir: string, config: string, env: NodeJS.ProcessEnv = {}): Promise<BenchGateway> {
  const ports = { proxy: await freePort(), admin: await freePort() };
  const path = join(dir, 'gateway.yaml');
  writeFileSync(path, `server: { host: 127.0.0.1, port: ${ports.proxy} }\nadmin: { host: 127.0.0.1, port: ${ports.admin} }\nlog: { level: warn }\n${config}`, { mode: 0o600 });
  const child = spawn(process.execPath, [join(root, 'dist', 'src', 'main.js'), 'serve', '--config', path], { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'inherit'] });
  const exited = new AbortController();
  const closed = new Promise<void>((resolveClosed) =>
    child.once('exit', (code) => {
      exited.abort(new Error(`the gateway on ${path} exited with ${code} before it was ready`));
      resolveClosed();
    }),
  );
  const stop = () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    return closed;
  };
  const adminUrl = `http://127.0.0.1:${ports.admin}`;
  try {
    await waitReady(`${adminUrl}/readyz`, { signal: exited.signal, timeoutMs: 30_000 });
  } catch (err) {
    await stop();
    throw exited.signal.aborted ? exited.signal.reason : err;
  }
  return { url: `http://127.0.0.1:${ports.proxy}`, adminUrl, stop };
}

/** Closed-loop load on one URL: `connections` keep-alive connections, no pipelining. */
export function load(url: string, headers: Record<string, string>, seconds: number, connections: number): Promise<autocannon.Result> {
  return autocannon({ url, headers, connections, duration: seconds, pipelining: 1 });
}

/** One line per measured run on stderr, so progress shows while the table waits for the end. */
export function progress(round: number, scenario: string, r: autocannon.Result, extra = ''): void {
  console.error(`round ${round} ${scenario.padEnd(18)} ${r.requests.average.toFixed(0).padStart(7)} req/s  p50 ${r.latency.p50} ms  p99 ${r.latency.p99} ms  non2xx ${r.non2xx} errors ${r.errors}${extra}`);
}

export function sampleOf(scenario: string, round: number, r: autocannon.Result): Sample {
  return { scenario, round, rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, errors: r.errors, non2xx: r.non2xx };
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Medians of a scenario's samples; failures are summed (non-2xx answers and socket errors). */
export function summarize(scenario: string, samples: readonly Sample[]): { scenario: string; rps: number; p50: number; p99: number; non2xx: number } {
  const mine = samples.filter((x) => x.scenario === scenario);
  return { scenario, rps: median(mine.map((x) => x.rps)), p50: median(mine.map((x) => x.p50)), p99: median(mine.map((x) => x.p99)), non2xx: mine.reduce((a, x) => a + x.non2xx + x.errors, 0) };
}

/** The raw run as JSON in bench/results/ (not committed), named `<name>-<epoch ms>.json`; answers the path. */
export function saveResults(name: string, data: unknown): string {
  const results = join(root, 'bench', 'results');
  mkdirSync(results, { recursive: true });
  const path = join(results, `${name}-${Date.now()}.json`);
  writeFileSync(path, JSON.stringify(data, null, 2));
  return path;
}

/** A failure the user can act on: printed as is, without a stack. */
export class BenchError extends Error {}

/** Runs a bench's `main`, printing a BenchError's message alone and anything else with its stack. */
export function runBench(main: () => Promise<void>): void {
  main().catch((err: unknown) => {
    console.error(err instanceof BenchError ? `bench: ${err.message}` : err);
    process.exitCode = 1;
  });
}

/**
 * Clean-up steps run once, last added first, each whatever the others did; Ctrl-C (or SIGTERM) runs
 * them too before exiting, so gateways stop and throwaway databases are dropped.
 */
export function createCleanUp(): { push: (step: () => unknown) => void; run: () => Promise<void> } {
  const steps: (() => unknown)[] = [];
  let done: Promise<void> | undefined;
  const run = () =>
    (done ??= (async () => {
      for (const step of steps.reverse()) {
        try {
          await step();
        } catch (err) {
          console.error(`clean-up: ${(err as Error).message}`);
        }
      }
    })());
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      console.error(`${signal}: stopping`);
      void run().then(() => process.exit(130));
    });
  }
  return { push: (step) => void steps.push(step), run };
}

/** The PostgreSQL server of the benches: `--database-url`, else M2M_BENCH_DATABASE_URL, else the local default. */
export function databaseServerUrl(option: string | undefined): string {
  return option ?? (process.env['M2M_BENCH_DATABASE_URL'] || 'postgres://postgres@127.0.0.1:5432/postgres');
}

/** The URL without its password, for messages and the results files. */
export function redacted(url: string): string {
  try {
    const u = new URL(url);
    if (u.password !== '') u.password = '***';
    return u.toString();
  } catch {
    return '(an unparsable URL)';
  }
}

export interface BenchDatabase {
  /** The database's URL: pass it to gateways through the environment, never in a config file. */
  readonly url: string;
  readonly name: string;
  readonly serverVersion: string;
  /** Drops the database with its open sessions. */
  drop(): Promise<void>;
}

/** A throwaway database `m2m_bench_<random>` on the server at `serverUrl`. */
export async function createDatabase(serverUrl: string): Promise<BenchDatabase> {
  const admin = new pg.Client({ connectionString: serverUrl, connectionTimeoutMillis: 5000 });
  // A server going away mid-run surfaces at the next query; without a listener it would crash the bench.
  admin.on('error', () => undefined);
  try {
    await admin.connect();
  } catch (err) {
    await admin.end().catch(() => undefined);
    throw new BenchError(
      `PostgreSQL at ${redacted(serverUrl)} is unreachable (${(err as Error).message}). Start one, or name a server where the bench may create and drop a database: --database-url URL or M2M_BENCH_DATABASE_URL.`,
    );
  }
  const name = `m2m_bench_${randomBytes(6).toString('hex')}`;
  const { rows } = await admin.query<{ server_version: string }>('SHOW server_version');
  await admin.query(`CREATE DATABASE ${name}`);
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    name,
    serverVersion: rows[0]?.server_version ?? 'unknown',
    async drop() {
      try {
        await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await admin.end().catch(() => undefined);
      }
    },
  };
}

/** The issuer, audience and roles of every bench gateway with the token service, and of the gateways that trust it. */
export const BENCH_ISSUER = { issuer: 'http://gateway.bench.local', audience: 'bench', tenant: 'tenant-bench' } as const;
const BENCH_DIRECTORY = 'directory:\n  roles: [{ id: reader, key: reader, permissions: [reports.read] }]\n';

/** Vendor credentials made up for one bench run. */
export function benchVendor(): { clientId: string; secret: string } {
  return { clientId: 'bench-vendor', secret: randomBytes(24).toString('base64url') };
}

/**
 * A gateway with the token service on `store` (a YAML flow mapping), routing /api to the upstream
 * for tenant tokens (and, with `basic`, for their Basic client credentials, exchanged at the edge).
 * Its keys are generated for this config: one process per config.
 */
export function tokenServiceConfig(dir: string, store: string, upstreamUrl: string, vendor: { clientId: string; secret: string }, options: { basic?: boolean } = {}): string {
  return `
dataDir: ${JSON.stringify(dir)}
store: ${store}
tokenService:
  issuer: ${BENCH_ISSUER.issuer}
  audience: ${BENCH_ISSUER.audience}
  vendor: { clientId: ${vendor.clientId}, secret: ${JSON.stringify(vendor.secret)} }
  secretKey: ${JSON.stringify(randomBytes(32).toString('base64url'))}
  keyEncryptionKey: ${JSON.stringify(randomBytes(32).toString('base64url'))}
${BENCH_DIRECTORY}routes:
  - { name: api, pathPrefix: /api, upstream: "${upstreamUrl}", auth: { tokenTypes: [tenantAccessToken, tenantApiToken]${options.basic === true ? ', basic: true' : ''} } }
`;
}

/**
 * A sidecar (proxy only) trusting that token service by its JWKS URL at `issuerUrl` and checking
 * liveness in its PostgreSQL, whose URL it reads from the environment variable `databaseUrlVariable`.
 */
export function sidecarConfig(issuerUrl: string, databaseUrlVariable: string, upstreamUrl: string, livenessTtlSeconds: number): string {
  return `
liveness: { cacheTtlSeconds: ${livenessTtlSeconds} }
issuers:
  - name: bench
    issuer: ${BENCH_ISSUER.issuer}
    audience: ${BENCH_ISSUER.audience}
    algorithms: [RS256]
    jwks: { url: "${issuerUrl}/.well-known/jwks.json" }
    liveness: { postgres: { url: "\${${databaseUrlVariable}}" } }
${BENCH_DIRECTORY}routes:
  - { name: api, pathPrefix: /api, upstream: "${upstreamUrl}", auth: { tokenTypes: [tenantAccessToken] } }
`;
}

/** A JSON request that must answer `expected`; answers the parsed body (undefined when empty). */
export async function requestJson(method: string, url: string, init: { headers?: Record<string, string>; body?: string }, expected: number, what: string): Promise<Record<string, unknown>> {
  const res = await fetch(url, { method, headers: init.headers, body: init.body });
  const text = await res.text();
  if (res.status !== expected) throw new BenchError(`${what}: expected ${expected}, got ${res.status} ${text.slice(0, 200)}`);
  return text === '' ? {} : (JSON.parse(text) as Record<string, unknown>);
}

/**
 * Signs the vendor in at a token-service gateway (README "The token service API") and answers the
 * headers of vendor calls scoped to the bench tenant.
 */
export async function vendorHeaders(gateway: BenchGateway, vendor: { clientId: string; secret: string }): Promise<Record<string, string>> {
  const json = { 'content-type': 'application/json' };
  const login = await requestJson('POST', `${gateway.url}/auth/vendor`, { headers: json, body: JSON.stringify(vendor) }, 200, 'POST /auth/vendor');
  return { ...json, authorization: `Bearer ${String(login['token'])}`, 'frontegg-tenant-id': BENCH_ISSUER.tenant };
}

/** One sample line of a Prometheus text exposition. */
export interface MetricSample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

/** A gateway's `/metrics`, the samples whose name starts with `prefix`. */
export async function scrapeMetrics(gateway: BenchGateway, prefix: string): Promise<MetricSample[]> {
  const res = await fetch(`${gateway.adminUrl}/metrics`);
  const text = await res.text();
  const samples: MetricSample[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith(prefix)) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{([^}]*)\})? (\S+)$/.exec(line);
    if (m === null) continue;
    const labels: Record<string, string> = {};
    for (const [, key, value] of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[key!] = value!;
    samples.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return samples;
}

/**
 * What every PostgreSQL bench starts from: a throwaway database on `serverUrl`, a work directory
 * and the upstream, each undone by `cleanUp`.
 */
export async function startDatabaseBench(
  serverUrl: string,
  cleanUp: ReturnType<typeof createCleanUp>,
): Promise<{ database: BenchDatabase; work: string; upstream: { url: string; stop: () => void } }> {
  const database = await createDatabase(serverUrl);
  cleanUp.push(() => database.drop());
  console.error(`PostgreSQL ${database.serverVersion} at ${redacted(serverUrl)}: database ${database.name}, dropped at the end`);
  const work = mkdtempSync(join(tmpdir(), 'm2m-bench-'));
  cleanUp.push(() => rmSync(work, { recursive: true, force: true }));
  const upstream = await startUpstream();
  cleanUp.push(() => upstream.stop());
  return { database, work, upstream };
}
