/**
 * What every side-by-side benchmark shares: the processes it measures (the fast upstream and the
 * gateway exactly as `npm start` runs it, each a child process on loopback), the load generator
 * (wrk, driven by bench/load.lua), where each runs (CPU pinning) and the statistics. Keeping them
 * in one place keeps the benchmarks comparable.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { accessSync, constants, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { connect, createServer, type AddressInfo } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { waitReady } from '../scripts/wait-ready.js';

const here = dirname(fileURLToPath(import.meta.url));
/** The repository root (this file runs from dist/bench/). */
export const root = resolve(here, '..', '..');

/** One measured load run, as the reports keep it; latencies in milliseconds. */
export interface Sample {
  scenario: string;
  round: number;
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  non2xx: number;
  /** CPU microseconds per request of the process measured, when it was watched. */
  cpuUsPerRequest?: number;
}

/** An executable on PATH or in the sbin directories (nginx and HAProxy live there), or undefined. */
export function findTool(name: string): string | undefined {
  const dirs = [...(process.env['PATH'] ?? '').split(':'), '/usr/local/sbin', '/usr/sbin', '/sbin'];
  for (const dir of dirs) {
    if (dir === '') continue;
    try {
      accessSync(join(dir, name), constants.X_OK);
      return join(dir, name);
    } catch {
      // not here
    }
  }
  return undefined;
}

/**
 * Which CPUs each side runs on. With two or more cores and taskset (util-linux): the load
 * generator and the upstream share core 0, the proxy under test (the gateway or a peer) has core 1
 * alone; the direct run puts wrk on core 1, so the upstream is measured with a core to itself.
 * Anything else runs unpinned. Either way the ratios are what compare, not the absolute numbers.
 */
export interface Pinning {
  readonly load?: string;
  readonly upstream?: string;
  readonly proxy?: string;
  readonly description: string;
}

export function pinning(): Pinning {
  if (availableParallelism() < 2 || findTool('taskset') === undefined) return { description: 'unpinned (fewer than 2 cores or no taskset)' };
  return { load: '0', upstream: '0', proxy: '1', description: 'taskset: wrk and the upstream on core 0, the proxy under test on core 1 (direct: wrk on core 1)' };
}

/** `command args` run on `cpus` through taskset, or as is when `cpus` is undefined. */
export function pinned(cpus: string | undefined, command: string, args: readonly string[]): [string, string[]] {
  return cpus === undefined ? [command, [...args]] : ['taskset', ['-c', cpus, command, ...args]];
}

function startChild(args: string[], env: NodeJS.ProcessEnv = {}, cpus?: string): Promise<{ child: ChildProcess; firstLine: string }> {
  return new Promise((resolvePromise, reject) => {
    const [command, argv] = pinned(cpus, process.execPath, args);
    const child = spawn(command, argv, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
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

/** The fast upstream of bench/upstream.ts in its own process (on `cpus`), and its URL. */
export async function startUpstream(cpus?: string): Promise<{ url: string; pid: number; stop: () => void }> {
  const upstream = await startChild([join(here, 'upstream.js')], {}, cpus);
  return { url: `http://127.0.0.1:${upstream.firstLine.trim()}`, pid: upstream.child.pid!, stop: () => upstream.child.kill('SIGTERM') };
}

/**
 * A Node script of dist/bench (a peer) in its own process on `cpus`, printing its port first; its
 * URL. `options` adds environment variables and Node.js flags (the event-loop probe's).
 */
export async function startNodePeer(script: string, args: string[], cpus?: string, options: { env?: NodeJS.ProcessEnv; nodeOptions?: string[] } = {}): Promise<{ url: string; pid: number; stop: () => void }> {
  const peer = await startChild([...(options.nodeOptions ?? []), join(here, script), ...args], options.env, cpus);
  return { url: `http://127.0.0.1:${peer.firstLine.trim()}`, pid: peer.child.pid!, stop: () => peer.child.kill('SIGTERM') };
}

/**
 * A foreign server (nginx, HAProxy) in the foreground on `cpus`, its output kept in `logPath`.
 * Resolves once `port` accepts connections; rejects when the process exits first.
 */
export async function startServer(command: string, args: string[], port: number, logPath: string, cpus?: string): Promise<{ pid: number; stop: () => Promise<void> }> {
  const [file, argv] = pinned(cpus, command, args);
  const child = spawn(file, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new AbortController();
  const closed = new Promise<void>((resolveClosed) =>
    child.once('exit', (code) => {
      writeFileSync(logPath, output);
      exited.abort(new BenchError(`${command} exited with ${code} before it listened: ${output.trim().slice(0, 500)}`));
      resolveClosed();
    }),
  );
  const stop = () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    return closed;
  };
  try {
    await waitPort(port, exited.signal);
  } catch (err) {
    await stop();
    throw exited.signal.aborted ? exited.signal.reason : err;
  }
  return { pid: child.pid!, stop };
}

/** Polls until `port` on loopback accepts a connection (10 s at most). */
async function waitPort(port: number, signal: AbortSignal): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    signal.throwIfAborted();
    const open = await new Promise<boolean>((resolveOpen) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolveOpen(true);
      });
      socket.once('error', () => resolveOpen(false));
    });
    if (open) return;
    if (Date.now() >= deadline) throw new BenchError(`nothing listened on port ${port} within 10 s`);
    await new Promise((resolveLater) => setTimeout(resolveLater, 50));
  }
}

/** Linux's USER_HZ, the unit of /proc CPU times (`getconf CLK_TCK`). */
const CLOCK_TICKS = 100;

/**
 * CPU seconds (user + system) a process and its descendants have used so far (Linux /proc, clock
 * ticks of 10 ms): read around a load run, divided by its requests, it gives the CPU cost of a
 * request, which a machine shared with other work disturbs far less than the requests per second.
 */
export function cpuSeconds(pid: number): number {
  let ticks = 0;
  for (const task of readdirSync(`/proc/${pid}/task`)) {
    const stat = readFileSync(`/proc/${pid}/task/${task}/stat`, 'utf8');
    // Fields after the parenthesised command: state is field 3, utime 14 and stime 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    ticks += Number(fields[11]) + Number(fields[12]);
    for (const child of readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').split(' ')) {
      if (child.trim() !== '') ticks += cpuSeconds(Number(child)) * CLOCK_TICKS;
    }
  }
  return ticks / CLOCK_TICKS;
}

/** The resident set size of a process, in bytes (Linux /proc). */
export function rssOf(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = /^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1];
  if (kb === undefined) throw new BenchError(`no VmRSS for process ${pid}`);
  return Number(kb) * 1024;
}

export function freePort(): Promise<number> {
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
  readonly pid: number;
  /** The admin listener (/metrics, /readyz). */
  readonly adminUrl: string;
  /** SIGTERM (the gateway drains, then exits), then waits for the exit. */
  stop(): Promise<void>;
}

/**
 * `dist/src/main.js serve` on `config`, with the Node.js flags of its shebang, as the installed bin
 * and `npm start` run it (YAML without `server`, `admin` and `log`: those are
 * loopback on free ports, log level warn), written to `dir`/gateway.yaml with mode 0600 since it
 * may hold keys. `env` is added to the child's environment, for `${NAME}` references in `config`.
 * Resolves once `/readyz` answers 200; rejects when the gateway exits first.
 */
export async function startGateway(dir: string, config: string, env: NodeJS.ProcessEnv = {}, options: { cpus?: string; nodeOptions?: string[]; name?: string } = {}): Promise<BenchGateway> {
  const ports = { proxy: await freePort(), admin: await freePort() };
  const path = join(dir, `${options.name ?? 'gateway'}.yaml`);
  writeFileSync(path, `server: { host: 127.0.0.1, port: ${ports.proxy} }\nadmin: { host: 127.0.0.1, port: ${ports.admin} }\nlog: { level: warn }\n${config}`, { mode: 0o600 });
  const main = join(root, 'dist', 'src', 'main.js');
  const [command, argv] = pinned(options.cpus, process.execPath, [...shebangFlags(main), ...(options.nodeOptions ?? []), main, 'serve', '--config', path]);
  const child = spawn(command, argv, { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'inherit'], cwd: dir });
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
  return { url: `http://127.0.0.1:${ports.proxy}`, pid: child.pid!, adminUrl, stop };
}

/** The Node.js flags on a script's `#!/usr/bin/env -S node …` line: how its bin starts it. */
export function shebangFlags(script: string): string[] {
  const first = readFileSync(script, 'utf8').split('\n', 1)[0]!;
  const match = /^#!\/usr\/bin\/env -S node((?:\s+--\S+)*)\s*$/.exec(first);
  return match === null ? [] : match[1]!.trim().split(/\s+/).filter((flag) => flag !== '');
}

/** What one wrk run measured; latencies in milliseconds. */
export interface LoadResult {
  readonly requests: number;
  readonly rps: number;
  readonly p50: number;
  readonly p99: number;
  /** Socket errors: connect, read, write, timeout. */
  readonly errors: number;
  /** Answers with a status of 400 or more (wrk counts nothing else). */
  readonly non2xx: number;
}

/** The requests of a load run: extra headers, another method with a body, tokens taken in turn. */
export interface LoadRequest {
  readonly headers?: Readonly<Record<string, string>>;
  readonly method?: string;
  readonly body?: string;
  /** A file of tokens, one per line, each sent as `header: prefix + token`, in turn. */
  readonly tokens?: { readonly file: string; readonly header: string; readonly prefix?: string };
}

const WRK_INSTALL = 'apt-get install -y wrk';

/** wrk's path, or a BenchError saying how to install it: every load run needs it. */
export function requireWrk(): string {
  const wrk = findTool('wrk');
  if (wrk === undefined) throw new BenchError(`wrk (the load generator) is not installed: ${WRK_INSTALL}`);
  return wrk;
}

/**
 * Closed-loop load on one URL with wrk (one thread on `cpus`): `connections` keep-alive
 * connections, no pipelining, for `seconds`.
 */
export function load(url: string, request: LoadRequest, seconds: number, connections: number, cpus?: string): Promise<LoadResult> {
  const headerLines = Object.entries(request.headers ?? {}).map(([name, value]) => `${name}: ${value}`);
  const env: NodeJS.ProcessEnv = { ...process.env, BENCH_HEADERS: headerLines.join('\n') };
  if (request.method !== undefined) env['BENCH_METHOD'] = request.method;
  if (request.body !== undefined) env['BENCH_BODY'] = request.body;
  if (request.tokens !== undefined) {
    env['BENCH_TOKENS'] = request.tokens.file;
    env['BENCH_TOKEN_HEADER'] = request.tokens.header;
    env['BENCH_TOKEN_PREFIX'] = request.tokens.prefix ?? '';
  }
  const args = ['-t', '1', '-c', String(connections), '-d', `${seconds}s`, '--timeout', '10s', '-s', join(root, 'bench', 'load.lua'), url];
  const [command, argv] = pinned(cpus, requireWrk(), args);
  return new Promise((resolveLoad, reject) => {
    execFile(command, argv, { env, maxBuffer: 1 << 20 }, (err, stdout, stderr) => {
      const line = stdout.split('\n').find((l) => l.startsWith('BENCH_JSON '));
      if (err !== null || line === undefined) {
        reject(new BenchError(`wrk on ${url} failed: ${err?.message ?? 'no BENCH_JSON line'} ${stderr.trim()} ${stdout.trim()}`.slice(0, 800)));
        return;
      }
      const r = JSON.parse(line.slice('BENCH_JSON '.length)) as Record<string, number>;
      resolveLoad({
        requests: r['requests']!,
        rps: r['requests']! / (r['durationUs']! / 1e6),
        p50: r['p50Us']! / 1000,
        p99: r['p99Us']! / 1000,
        errors: r['connect']! + r['read']! + r['write']! + r['timeout']!,
        non2xx: r['status']!,
      });
    });
  });
}

/** One line per measured run on stderr, so progress shows while the table waits for the end. */
export function progress(round: number, scenario: string, r: LoadResult, extra = ''): void {
  console.error(`round ${round} ${scenario.padEnd(24)} ${r.rps.toFixed(0).padStart(7)} req/s  p50 ${r.p50.toFixed(3)} ms  p99 ${r.p99.toFixed(3)} ms  non2xx ${r.non2xx} errors ${r.errors}${extra}`);
}

export function sampleOf(scenario: string, round: number, r: LoadResult): Sample {
  return { scenario, round, rps: r.rps, p50: r.p50, p99: r.p99, errors: r.errors, non2xx: r.non2xx };
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Medians of a scenario's samples; failures are summed (non-2xx answers and socket errors). */
export function summarize(scenario: string, samples: readonly Sample[]): { scenario: string; rps: number; p50: number; p99: number; non2xx: number; cpuUsPerRequest: number } {
  const mine = samples.filter((x) => x.scenario === scenario);
  return {
    scenario,
    rps: median(mine.map((x) => x.rps)),
    p50: median(mine.map((x) => x.p50)),
    p99: median(mine.map((x) => x.p99)),
    non2xx: mine.reduce((a, x) => a + x.non2xx + x.errors, 0),
    cpuUsPerRequest: median(mine.map((x) => x.cpuUsPerRequest ?? NaN)),
  };
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
 * With `unlimited` the token endpoint's rate limits are out of the way, for loading it.
 * Its keys are generated for this config: one process per config.
 */
export function tokenServiceConfig(dir: string, store: string, upstreamUrl: string, vendor: { clientId: string; secret: string }, options: { basic?: boolean; unlimited?: boolean; algorithm?: string } = {}): string {
  return `
dataDir: ${JSON.stringify(dir)}
store: ${store}
tokenService:
${options.algorithm === undefined ? '' : `  algorithm: ${options.algorithm}\n`}  issuer: ${BENCH_ISSUER.issuer}
  audience: ${BENCH_ISSUER.audience}
  vendor: { clientId: ${vendor.clientId}, secret: ${JSON.stringify(vendor.secret)} }
  secretKey: ${JSON.stringify(randomBytes(32).toString('base64url'))}
  keyEncryptionKey: ${JSON.stringify(randomBytes(32).toString('base64url'))}
${options.unlimited === true ? '  rateLimit: { perClientPerMinute: 1000000, perPeerPerMinute: 1000000 }\n' : ''}${BENCH_DIRECTORY}routes:
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
/** The options that preload the 1 ms event-loop probe (probes/event-loop.ts) into a gateway, writing to `file`. */
export function loopProbe(file: string): { env: NodeJS.ProcessEnv; nodeOptions: string[] } {
  return { env: { M2M_BENCH_LOOP_FILE: file }, nodeOptions: ['--import', join(here, 'probes', 'event-loop.js')] };
}

/** What the probe recorded since the previous call (SIGUSR2 asks it to write `file` and start over). */
export async function loopDelay(pid: number, file: string): Promise<{ maxMs: number; p99Ms: number; p50Ms: number }> {
  const read = () => {
    try {
      return JSON.parse(readFileSync(file, 'utf8')) as { sequence: number; maxMs: number; p99Ms: number; p50Ms: number };
    } catch {
      return undefined;
    }
  };
  const before = read()?.sequence ?? 0;
  process.kill(pid, 'SIGUSR2');
  const deadline = Date.now() + 10_000;
  for (;;) {
    const now = read();
    if (now !== undefined && now.sequence > before) return now;
    if (Date.now() > deadline) throw new BenchError(`the event-loop probe in process ${pid} did not answer`);
    await new Promise((resolveWait) => setTimeout(resolveWait, 20));
  }
}

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
