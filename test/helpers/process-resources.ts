/**
 * A gateway process's resources under a fault: its open file descriptors (`/proc/<pid>/fd`) and
 * its used V8 heap (`m2m_gateway_nodejs_heap_size_used_bytes` on the admin `/metrics`). A fault
 * test takes a baseline, samples the peak while the fault runs, and then waits until both are back
 * near the baseline: fds within a few of it, the heap within a generous bound. The process runs
 * with its inspector on a loopback port so each measurement first asks V8 for a full collection
 * (`HeapProfiler.collectGarbage`): garbage is not mistaken for a leak. Never a fixed sleep: the
 * wait polls until it holds.
 */
import { Agent, request as httpRequest } from 'node:http';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Test } from 'tap';
import { WebSocket } from 'undici';
import { startEchoUpstream, type EchoUpstream } from '../../scripts/echo-upstream.js';
import { serve, type Process } from './processes.js';
import { createTestIssuer, mintToken, writeJwksFile, type MintOptions, type TestIssuer } from './tokens.js';
import { waitFor } from './wait.js';

export interface Resources {
  readonly fds: number;
  readonly heapBytes: number;
}

/** File descriptors a settled process may hold above its baseline (a pooled upstream socket, a log rotation). */
export const FD_SLACK = 8;
/** Heap a settled process may hold above its baseline: garbage not yet collected, warmed caches. */
export const HEAP_SLACK_BYTES = 32 * 1024 * 1024;

export function openFds(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

export async function heapUsed(gateway: Process): Promise<number> {
  const res = await fetch(`${gateway.adminUrl}/metrics`, { signal: AbortSignal.timeout(10_000) });
  const match = /^m2m_gateway_nodejs_heap_size_used_bytes (\d+(?:\.\d+)?(?:e\+\d+)?)$/m.exec(await res.text());
  if (match === null) throw new Error(`${gateway.name}: no heap gauge on /metrics`);
  return Number(match[1]);
}

/** A full garbage collection in the process, through its inspector (started by `serveConfig`). */
export async function collectGarbage(gateway: Process): Promise<void> {
  const url = gateway.inspectorUrl();
  if (url === undefined) throw new Error(`${gateway.name}: started without its inspector`);
  const socket = new WebSocket(url);
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${gateway.name}: no answer from the inspector`)), 20_000);
      socket.addEventListener('open', () => socket.send(JSON.stringify({ id: 1, method: 'HeapProfiler.collectGarbage' })));
      socket.addEventListener('message', (event) => {
        if ((JSON.parse(String(event.data)) as { id?: number }).id !== 1) return;
        clearTimeout(timer);
        resolve();
      });
      socket.addEventListener('error', () => {
        clearTimeout(timer);
        reject(new Error(`${gateway.name}: inspector connection failed`));
      });
    });
  } finally {
    socket.close();
  }
}

/** The process's fds and heap now; `collected` first runs a full garbage collection. */
export async function sample(gateway: Process, options: { collected?: boolean } = {}): Promise<Resources> {
  if (options.collected === true) await collectGarbage(gateway);
  return { fds: openFds(gateway.pid), heapBytes: await heapUsed(gateway) };
}

const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;

/** One line of the measurements, for the test output: `fds 21 → 80 → 22, heap 9.1 → 40.2 → 12.0 MiB`. */
export function describe(before: Resources, peak: Resources, after: Resources): string {
  return `fds ${before.fds} → ${peak.fds} → ${after.fds}, heap ${mib(before.heapBytes)} → ${mib(peak.heapBytes)} → ${mib(after.heapBytes)}`;
}

export interface ResourceWatch {
  readonly baseline: Resources;
  /**
   * Stops sampling and waits until the process is back near the baseline; passes with the
   * measurements (before → peak → after) in its message, fails if they do not settle in time.
   */
  settled(t: Test, label: string): Promise<{ before: Resources; peak: Resources; after: Resources }>;
}

/**
 * Takes the baseline now and samples the peak every `intervalMs` until `settled` is called. Call it
 * after the process served a first request, so lazily made things (pools, caches) are in the baseline.
 */
export async function watchResources(gateway: Process, options: { intervalMs?: number } = {}): Promise<ResourceWatch> {
  const baseline = await sample(gateway, { collected: true });
  let peak = baseline;
  const record = (now: Resources) => {
    peak = { fds: Math.max(peak.fds, now.fds), heapBytes: Math.max(peak.heapBytes, now.heapBytes) };
  };
  let stopped = false;
  let sampling: Promise<void> = Promise.resolve();
  const timer = setInterval(() => {
    sampling = sampling.then(async () => {
      if (stopped || !gateway.alive()) return;
      record(await sample(gateway).catch(() => peak));
    });
  }, options.intervalMs ?? 200);
  return {
    baseline,
    async settled(t, label) {
      stopped = true;
      clearInterval(timer);
      await sampling;
      let after = await sample(gateway);
      record(after);
      await waitFor(
        `${label}: fds within ${FD_SLACK} and heap within ${mib(HEAP_SLACK_BYTES)} of the baseline (${describe(baseline, peak, after)})`,
        async () => {
          after = await sample(gateway, { collected: true });
          return after.fds <= baseline.fds + FD_SLACK && after.heapBytes <= baseline.heapBytes + HEAP_SLACK_BYTES;
        },
        { timeoutMs: 30_000, intervalMs: 200 },
      );
      t.pass(`${label}: resources back near the baseline (${describe(baseline, peak, after)})`);
      return { before: baseline, peak, after };
    },
  };
}

/**
 * Writes `config` (an object in the YAML shape; JSON is YAML) to `dir` and starts
 * `dist/src/main.js serve` on it, on ports 0, with its inspector on a loopback port of its own
 * (for `collectGarbage`). Build first (`npm run build`).
 */
export async function serveConfig(t: Test, name: string, dir: string, config: Record<string, unknown>, env: Record<string, string> = {}): Promise<Process> {
  const path = join(dir, `${name.replace(/[^a-z0-9]+/gi, '-')}.yaml`);
  const withPorts = { ...config, server: { host: '127.0.0.1', port: 0, ...(config['server'] as object | undefined) }, admin: { host: '127.0.0.1', port: 0 } };
  writeFileSync(path, JSON.stringify(withPorts, null, 2));
  return serve(t, name, path, env, { nodeArgs: ['--inspect=127.0.0.1:0'] });
}

/** A gateway process in front of an echo upstream, trusting one test issuer through a JWKS file. */
export interface ProcessScenario {
  readonly gateway: Process;
  readonly upstream: EchoUpstream;
  readonly issuer: TestIssuer;
  /** A temporary directory of the test's own (config, JWKS file, store). */
  readonly dir: string;
  mint(options?: MintOptions): Promise<string>;
  /** Asserts the process is alive: `/healthz` 200 and a request with a valid token 200 through the proxy. */
  stillServes(t: Test, label: string): Promise<void>;
}

/**
 * Routes as `startScenario` has them: `/public` open, `/api` any token; `config` is merged at the
 * top level. Short upstream keep-alive, so pooled sockets opened during a fault close once idle.
 */
export async function startProcessScenario(
  t: Test,
  options: {
    config?: Record<string, unknown>;
    routes?: (upstreamUrl: string) => Record<string, unknown>[];
    env?: Record<string, string>;
    /** The issuer and where the gateway finds its keys (default: a new issuer, its JWKS in a file). */
    issuer?: { issuer: TestIssuer; jwks: Record<string, unknown> };
  } = {},
): Promise<ProcessScenario> {
  const dir = mkdtempSync(join(tmpdir(), 'm2m-faults-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const issuer = options.issuer?.issuer ?? (await createTestIssuer());
  const jwksPath = join(dir, 'jwks.json');
  await writeJwksFile(jwksPath, issuer.jwks);
  const jwks = options.issuer?.jwks ?? { file: jwksPath };
  const upstream = await startEchoUpstream();
  t.teardown(() => upstream.close());
  const u = upstream.url;
  const config = options.config ?? {};
  const gateway = await serveConfig(t, 'gateway', dir, {
    log: { level: 'info' },
    issuers: [{ name: issuer.name, issuer: issuer.issuer, audience: issuer.audience, algorithms: [issuer.alg], jwks }],
    routes: [...(options.routes?.(u) ?? []), { name: 'public', pathPrefix: '/public', upstream: u, auth: 'none' }, { name: 'api', pathPrefix: '/api', upstream: u, auth: {} }],
    ...config,
    upstream: { keepAliveTimeoutMs: 500, ...(config['upstream'] as object | undefined) },
  }, options.env);
  const mint = (mintOptions: MintOptions = {}) => mintToken(issuer, mintOptions);
  const token = await mint({ type: 'tenantAccessToken' });
  return {
    gateway,
    upstream,
    issuer,
    dir,
    mint,
    async stillServes(t, label) {
      t.ok(gateway.alive(), `${label}: the process is alive`);
      const health = await fetch(`${gateway.adminUrl}/healthz`, { signal: AbortSignal.timeout(10_000) });
      t.equal(health.status, 200, `${label}: /healthz 200`);
      const res = await fetch(`${gateway.url}/api/after`, { headers: { 'x-api-key': token }, signal: AbortSignal.timeout(10_000) });
      await res.arrayBuffer();
      t.equal(res.status, 200, `${label}: a valid request still 200`);
    },
  };
}

/** One request of a flood: its path and header lines. */
export interface FloodRequest {
  readonly path: string;
  readonly headers?: Record<string, string>;
}

/**
 * Sends `total` requests made by `make(i)` to the proxy over `concurrency` keep-alive connections
 * and counts the statuses. Bodies are read and dropped.
 */
export async function flood(gateway: Process, total: number, make: (i: number) => FloodRequest, options: { concurrency?: number; from?: number } = {}): Promise<Map<number, number>> {
  const agent = new Agent({ keepAlive: true, maxSockets: options.concurrency ?? 64 });
  const { hostname, port } = new URL(gateway.url);
  const statuses = new Map<number, number>();
  let next = options.from ?? 0;
  const end = next + total;
  const one = (r: FloodRequest) =>
    new Promise<number>((resolve, reject) => {
      const req = httpRequest({ host: hostname, port, path: r.path, headers: { host: 'x', ...r.headers }, agent }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end();
    });
  try {
    await Promise.all(
      Array.from({ length: options.concurrency ?? 64 }, async () => {
        while (next < end) {
          const status = await one(make(next++));
          statuses.set(status, (statuses.get(status) ?? 0) + 1);
        }
      }),
    );
  } finally {
    agent.destroy();
  }
  return statuses;
}

/** The series of the Prometheus text on `/metrics`: every line that is not a comment. */
export async function metricSeries(gateway: Process): Promise<string[]> {
  const res = await fetch(`${gateway.adminUrl}/metrics`, { signal: AbortSignal.timeout(10_000) });
  return (await res.text()).split('\n').filter((line) => line !== '' && !line.startsWith('#'));
}

/** The value of one series (its name with labels, exactly as printed), 0 when absent. */
export function seriesValue(series: readonly string[], name: string): number {
  const line = series.find((l) => l.startsWith(`${name} `));
  return line === undefined ? 0 : Number(line.slice(name.length + 1));
}
