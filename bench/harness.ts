/**
 * What every side-by-side benchmark shares: the processes it measures (the fast upstream and the
 * gateway exactly as `npm start` runs it, each a child process on loopback), the load generator
 * and the statistics. Keeping them in one place keeps the benchmarks comparable.
 */
import autocannon from 'autocannon';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
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
