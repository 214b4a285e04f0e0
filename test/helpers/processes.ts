/**
 * Gateways as separate OS processes: the built `dist/src/main.js serve` with a config file and an
 * environment, on ports 0, for tests that need several processes on one database.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import type { Test } from 'tap';
import { waitReady } from '../../scripts/wait-ready.js';
import { MAIN } from './cli.js';

export const ISSUER_CONFIG = resolve('examples/scale-out/issuer.yaml');
export const ISSUER = 'http://issuer.test';
export const VENDOR = { clientId: 'scale-out-vendor', secret: 'scale-out-vendor-secret-for-tests-0123456789' } as const;
const OUTPUT_TAIL = 64 * 1024;

/** What every process of one deployment shares: the issuer, its keys, its vendor credentials. */
export const SHARED_ENV = {
  M2M_ISSUER: ISSUER,
  M2M_AUDIENCE: 'orders-api',
  M2M_SECRET_KEY: 'scale-out-secret-hash-key-for-tests-0123456789',
  M2M_KEY_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
  M2M_VENDOR_CLIENT_ID: VENDOR.clientId,
  M2M_VENDOR_SECRET: VENDOR.secret,
  M2M_LOG_LEVEL: 'info',
};

export interface Process {
  readonly name: string;
  readonly url: string;
  readonly adminUrl: string;
  /** Its operating-system process id. */
  readonly pid: number;
  /** Whether the process is still running. */
  alive(): boolean;
  /** Sends it a signal (SIGTERM stops it gracefully, SIGHUP reloads its config). */
  kill(signal: NodeJS.Signals): void;
  /** Resolves with its exit code (null when a signal ended it) once it has exited. */
  readonly exited: Promise<number | null>;
  /** The inspector's WebSocket address, when started with `--inspect`. */
  inspectorUrl(): string | undefined;
  /** The last 64 KiB of what it wrote, for failure messages. */
  output(): string;
}

/**
 * `node dist/src/main.js serve --config <config>` on ports 0, ready once `/readyz` answers 200;
 * killed at teardown. `nodeArgs` go to node before the script (e.g. `--inspect=127.0.0.1:0`).
 */
export async function serve(t: Test, name: string, config: string, env: Record<string, string>, options: { nodeArgs?: readonly string[] } = {}): Promise<Process> {
  const dataDir = mkdtempSync(join(tmpdir(), 'm2m-scale-out-'));
  const child = spawn(process.execPath, [...(options.nodeArgs ?? []), MAIN, 'serve', '--config', config], {
    cwd: dataDir,
    env: { ...process.env, ...SHARED_ENV, M2M_PORT: '0', M2M_ADMIN_PORT: '0', M2M_ADMIN_HOST: '127.0.0.1', M2M_DATA_DIR: dataDir, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  });
  const exited = new Promise<number | null>((resolveExit) => child.once('exit', (code) => resolveExit(code)));
  let output = '';
  // Only the tail: a process under load writes an access line per request.
  const append = (text: string) => {
    output += text;
    if (output.length > 2 * OUTPUT_TAIL) output = output.slice(-OUTPUT_TAIL);
  };
  let inspectorUrl: string | undefined;
  child.stderr.on('data', (chunk: Buffer) => {
    const text = chunk.toString();
    inspectorUrl ??= /Debugger listening on (ws:\/\/\S+)/.exec(text)?.[1];
    append(text);
  });
  const listening = new Promise<{ proxyPort: number; adminPort: number }>((resolveListening, reject) => {
    let found = false;
    createInterface({ input: child.stdout }).on('line', (line) => {
      append(`${line}\n`);
      if (found || !line.includes('"listening"')) return;
      try {
        const entry = JSON.parse(line) as { msg?: string; proxyPort: number; adminPort: number };
        if (entry.msg === 'listening') {
          found = true;
          resolveListening(entry);
        }
      } catch {
        // not a log line
      }
    });
    child.once('exit', (code) => reject(new Error(`${name} exited with code ${code} before listening:\n${output}`)));
  });
  const { proxyPort, adminPort } = await listening;
  const adminUrl = `http://127.0.0.1:${adminPort}`;
  await waitReady(`${adminUrl}/readyz`, { timeoutMs: 20_000 });
  return {
    name,
    url: `http://127.0.0.1:${proxyPort}`,
    adminUrl,
    pid: child.pid!,
    alive: () => child.exitCode === null && child.signalCode === null,
    kill: (signal) => void child.kill(signal),
    exited,
    inspectorUrl: () => inspectorUrl,
    output: () => output.slice(-OUTPUT_TAIL),
  };
}

/** A JSON call to an issuer's token API as the vendor. */
export async function vendorCall(issuer: Process, method: string, path: string, options: { headers?: Record<string, string>; body?: unknown } = {}) {
  const login = await fetch(`${issuer.url}/auth/vendor`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(VENDOR) });
  if (login.status !== 200) throw new Error(`vendor login at ${issuer.name}: ${login.status}`);
  const { token } = (await login.json()) as { token: string };
  const res = await fetch(`${issuer.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(options.body === undefined ? {} : { 'content-type': 'application/json' }), ...options.headers },
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
  });
  const text = await res.text();
  return { status: res.status, body: (text === '' ? {} : JSON.parse(text)) as Record<string, unknown> };
}

