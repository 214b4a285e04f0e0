/**
 * `npm run demo`: the gateway end to end on one machine. Starts an echo upstream and the gateway
 * exactly as `npm start` runs it (`dist/src/main.js serve` with config/gateway.yaml, a child
 * process), then walks through the token service and the proxy: a vendor token, a client-credentials
 * token and an access token for tenant `acme`, the JWT exchange, a call with each credential and one
 * without. Every step prints the curl command that does the same by hand, with the real values.
 *
 *   npm run demo                 # then keeps both running, so the commands work, until Ctrl-C
 *   npm run demo -- --exit       # exits after the walkthrough: 0 when every step passed (or DEMO_EXIT=1)
 *
 * Ports: M2M_PORT (8080) and M2M_ADMIN_PORT (9090) as for `npm start`; the echo upstream listens
 * where M2M_UPSTREAM points (http://127.0.0.1:3000), or on DEMO_UPSTREAM_PORT. 0 picks a free port.
 * Data: a fresh temporary directory, removed on exit; M2M_DATA_DIR names one to use and keep instead.
 */
import { spawn } from 'node:child_process';
import { createWriteStream, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { loadConfig } from '../src/config/load.js';
import type { CompiledConfig } from '../src/config/types.js';
import { ConfigError } from '../src/errors.js';
import { startEchoUpstream, type EchoUpstream } from './echo-upstream.js';
import { waitReady } from './wait-ready.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '..', '..');
const CONFIG = join(root, 'config', 'gateway.yaml');
const MAIN = join(root, 'dist', 'src', 'main.js');
const TENANT = 'acme';
const STEPS = 7;

/** A failure the user can act on: printed as is, without a stack. */
class DemoError extends Error {}

function say(text = ''): void {
  process.stdout.write(`${text}\n`);
}

/** One HTTP request, described once: the demo sends it and prints it as a curl command. */
interface Call {
  readonly method: 'GET' | 'POST';
  readonly path: string;
  readonly headers?: readonly (readonly [string, string])[];
  readonly json?: unknown;
  readonly form?: Readonly<Record<string, string>>;
  /** `client_secret_basic` (RFC 6749 §2.3.1), as curl's `-u id:secret`. */
  readonly basic?: readonly [string, string];
  /** Print the response's status line and headers too (`curl -i`). */
  readonly showHeaders?: boolean;
}

interface Answer {
  readonly status: number;
  readonly headers: Headers;
  readonly text: string;
  readonly json: Record<string, unknown> | undefined;
}

/** POSIX single quotes: any value pastes into a shell unchanged. */
function shellQuote(value: string): string {
  return /^[A-Za-z0-9_./:=@-]+$/.test(value) ? value : `'${value.replaceAll("'", `'\\''`)}'`;
}

function curlOf(base: string, call: Call): string {
  const parts = ['curl', call.showHeaders === true ? '-i' : '-s', shellQuote(`${base}${call.path}`)];
  if (call.basic !== undefined) parts.push('-u', shellQuote(call.basic.join(':')));
  for (const [name, value] of call.headers ?? []) parts.push('-H', shellQuote(`${name}: ${value}`));
  if (call.json !== undefined) parts.push('-H', shellQuote('content-type: application/json'), '-d', shellQuote(JSON.stringify(call.json)));
  for (const [name, value] of Object.entries(call.form ?? {})) parts.push('-d', shellQuote(`${name}=${value}`));
  return parts.join(' ');
}

async function send(base: string, call: Call, signal: AbortSignal): Promise<Answer> {
  const headers = new Headers(call.headers?.map(([name, value]) => [name, value]));
  let body: string | URLSearchParams | undefined;
  if (call.json !== undefined) {
    headers.set('content-type', 'application/json');
    body = JSON.stringify(call.json);
  } else if (call.form !== undefined) {
    body = new URLSearchParams(call.form);
  }
  if (call.basic !== undefined) headers.set('authorization', `Basic ${Buffer.from(call.basic.join(':')).toString('base64')}`);
  const res = await fetch(`${base}${call.path}`, { method: call.method, headers, body, signal });
  const text = await res.text();
  let json: Record<string, unknown> | undefined;
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json };
}

/** A response body for reading: long strings (tokens, secrets) are cut; the curl lines carry them whole. */
function brief(answer: Answer): string {
  if (answer.json === undefined) return answer.text;
  return JSON.stringify(answer.json, (_key, value: unknown) => (typeof value === 'string' && value.length > 40 ? `${value.slice(0, 24)}…` : value));
}

/** What a step expects of its answer, and how the answer is shown. */
interface Expect {
  readonly status: number;
  /** A problem with an answer of the right status, or undefined. */
  readonly check?: (answer: Answer) => string | undefined;
  readonly show?: (answer: Answer) => readonly string[];
}

/**
 * The walkthrough. Each step prints what it does, its curl command and the answer, and checks the
 * answer; the first failed check ends it. Resolves true when every step passed.
 */
async function walkthrough(base: string, config: CompiledConfig, upstream: EchoUpstream, stop: AbortSignal): Promise<boolean> {
  const vendor = config.tokenService!.vendor;
  const tenantHeader = config.identityHeaders.names.tenantId;
  let number = 0;
  const step = async (title: string, call: Call, expect: Expect): Promise<Record<string, unknown>> => {
    number += 1;
    say(`[${number}/${STEPS}] ${title}`);
    say(`  $ ${curlOf(base, call)}`);
    const answer = await send(base, call, stop);
    for (const line of expect.show?.(answer) ?? [`→ ${answer.status} ${brief(answer)}`]) say(`  ${line}`);
    const problem = answer.status === expect.status ? expect.check?.(answer) : `expected status ${expect.status}, got ${answer.status}`;
    if (problem !== undefined) throw new DemoError(`step ${number}: ${problem}`);
    say();
    return answer.json ?? {};
  };
  const echoOf = (answer: Answer) => answer.json as { method?: string; url?: string; headers?: Record<string, string> } | undefined;
  const proxied: Expect = {
    status: 200,
    check: (answer) => (echoOf(answer)?.headers?.[tenantHeader] === TENANT ? undefined : `the upstream did not receive ${tenantHeader}: ${TENANT}`),
    show(answer) {
      const echo = echoOf(answer);
      if (answer.status !== 200 || echo?.headers === undefined) return [`→ ${answer.status} ${brief(answer)}`];
      const identity = Object.entries(echo.headers).filter(([name]) => name.startsWith(config.identityHeaders.prefix));
      return [`→ ${answer.status}; the upstream received ${echo.method} ${echo.url} with the identity headers the gateway added:`, ...identity.map(([name, value]) => `    ${name}: ${value}`)];
    },
  };

  try {
    const login = await step(
      "Log in as the vendor (the environment's management credentials): a vendor token",
      { method: 'POST', path: '/auth/vendor', json: { clientId: vendor.clientId, secret: vendor.secret } },
      { status: 200 },
    );
    const asVendor = [
      ['authorization', `Bearer ${String(login['token'])}`],
      ['frontegg-tenant-id', TENANT],
    ] as const;
    const credentials = await step(
      `Create a client-credentials token (tenant API token) for tenant ${TENANT}, role viewer`,
      { method: 'POST', path: '/identity/resources/tenants/api-tokens/v2', headers: asVendor, json: { description: 'demo', roleIds: ['viewer'] } },
      { status: 201 },
    );
    const accessToken = await step(
      `Create an access token for tenant ${TENANT}, role admin (the token is returned once, in "secret")`,
      { method: 'POST', path: '/identity/resources/tenants/access-tokens/v1', headers: asVendor, json: { description: 'demo', roleIds: ['admin'] } },
      { status: 201 },
    );
    const exchanged = await step(
      'Exchange the client credentials for a JWT (OAuth 2.0 client_credentials grant, client_secret_basic)',
      { method: 'POST', path: '/oauth/token', basic: [String(credentials['clientId']), String(credentials['secret'])], form: { grant_type: 'client_credentials' } },
      { status: 200 },
    );
    await step(
      'Call the API with the JWT in Authorization: Bearer',
      { method: 'GET', path: '/api/hello', headers: [['authorization', `Bearer ${String(exchanged['access_token'])}`]], showHeaders: true },
      proxied,
    );
    await step(
      'Call the API with the access token in X-API-KEY',
      { method: 'GET', path: '/api/hello', headers: [['x-api-key', String(accessToken['secret'])]], showHeaders: true },
      proxied,
    );
    const forwarded = upstream.received.length;
    await step(
      'Call the API without a credential: refused, nothing reaches the upstream',
      { method: 'GET', path: '/api/hello', showHeaders: true },
      {
        status: 401,
        check: () => (upstream.received.length === forwarded ? undefined : 'the request reached the upstream'),
        show: (answer) => [`→ ${answer.status} WWW-Authenticate: ${answer.headers.get('www-authenticate')} ${brief(answer)}`],
      },
    );
    return true;
  } catch (err) {
    if (stop.aborted) say(`  Stopped (${String(stop.reason)}).`);
    else say(`  FAILED ${err instanceof DemoError ? err.message : String(err)}`);
    say();
    return false;
  }
}

/** An integer port from the environment, 0 for any free one. */
function portFrom(env: NodeJS.ProcessEnv, name: string): number | undefined {
  const value = env[name];
  if (value === undefined || value === '') return undefined;
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new DemoError(`${name}=${value} is not a port (0–65535; 0 picks a free one)`);
  return port;
}

function inUse(port: number | string, what: string, variable: string): DemoError {
  return new DemoError(`port ${port} is already in use (${what}). Stop what is using it, or choose another port: ${variable}=<port> npm run demo (0 picks a free one).`);
}

/** The echo upstream where the config forwards `/api`, or on DEMO_UPSTREAM_PORT. */
async function startUpstream(config: CompiledConfig, env: NodeJS.ProcessEnv): Promise<EchoUpstream> {
  const route = config.routes.find((r) => r.name === 'api');
  if (route === undefined) throw new DemoError(`${relative(process.cwd(), CONFIG)} has no route named "api" to send the demo's calls to`);
  const override = portFrom(env, 'DEMO_UPSTREAM_PORT');
  const origin = new URL(route.upstream);
  const host = override === undefined ? origin.hostname.replace(/^\[(.*)\]$/, '$1') : '127.0.0.1';
  const port = override ?? Number(origin.port === '' ? 80 : origin.port);
  try {
    return await startEchoUpstream({ host, port });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') throw inUse(port, 'the echo upstream', 'DEMO_UPSTREAM_PORT');
    throw new DemoError(`the echo upstream cannot listen on ${host}:${port}: ${(err as Error).message}`);
  }
}

interface RunningGateway {
  readonly url: string;
  readonly adminUrl: string;
  /** Settles when the process has exited and its output is read, with its exit code. */
  readonly closed: Promise<number | null>;
  /** The last lines the process wrote to stderr. */
  errors(): string;
  /** SIGTERM (the gateway drains, then exits), then waits for it. */
  stop(): Promise<number | null>;
}

/** Resolves with the abort reason once `signal` aborts. */
function aborted(signal: AbortSignal): Promise<string> {
  return new Promise((resolveAborted) => {
    if (signal.aborted) resolveAborted(String(signal.reason));
    else signal.addEventListener('abort', () => resolveAborted(String(signal.reason)), { once: true });
  });
}

/**
 * `dist/src/main.js serve --config config/gateway.yaml` with `env`, its log lines appended to
 * `logPath`. Resolves once `/readyz` answers 200; rejects with the reason when it exits first.
 * It runs in its own process group, so a Ctrl-C reaches the demo only, which stops it once:
 * when `stop` aborts, at any time.
 */
async function startGateway(config: CompiledConfig, env: NodeJS.ProcessEnv, logPath: string, stop: AbortSignal): Promise<RunningGateway> {
  const log = createWriteStream(logPath, { flags: 'a' });
  const child = spawn(MAIN, ['serve', '--config', CONFIG], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const closed = new Promise<number | null>((resolveClosed) =>
    child.once('close', (code) => {
      log.end();
      resolveClosed(code);
    }),
  );
  const stopChild = () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    return closed;
  };
  void aborted(stop).then(stopChild);
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
    log.write(chunk);
  });
  const errors = () => stderr.trim().split('\n').slice(-10).join('\n');
  const listening = new Promise<{ proxyPort: number; adminPort: number }>((resolveListening) =>
    createInterface({ input: child.stdout! }).on('line', (line) => {
      log.write(`${line}\n`);
      try {
        const entry = JSON.parse(line) as { msg?: string; proxyPort: number; adminPort: number };
        if (entry.msg === 'listening') resolveListening(entry);
      } catch {
        // not a log line
      }
    }),
  );
  const failed = async (): Promise<never> => {
    const code = await closed;
    if (stop.aborted) throw new DemoError(`stopped (${String(stop.reason)}) before the gateway was ready`);
    const taken = /EADDRINUSE: address already in use \S*:(\d+)$/m.exec(stderr)?.[1];
    if (taken !== undefined) {
      const admin = Number(taken) === config.admin.port;
      throw inUse(taken, admin ? "the gateway's admin listener" : "the gateway's proxy listener", admin ? 'M2M_ADMIN_PORT' : 'M2M_PORT');
    }
    throw new DemoError(`the gateway exited with code ${code} before it was ready:\n${errors()}`);
  };
  const started = await Promise.race([listening, closed.then(failed)]);
  const exited = new AbortController();
  void closed.then(() => exited.abort());
  const adminUrl = `http://127.0.0.1:${started.adminPort}`;
  try {
    await waitReady(`${adminUrl}/readyz`, { signal: exited.signal, timeoutMs: 30_000 });
  } catch (err) {
    if (exited.signal.aborted) return failed();
    await stopChild();
    throw err;
  }
  return { url: `http://127.0.0.1:${started.proxyPort}`, adminUrl, closed, errors, stop: stopChild };
}

async function main(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<number> {
  const { values } = parseArgs({ args: [...argv], options: { exit: { type: 'boolean', default: false } } });
  const exitAfter = values.exit === true || env['DEMO_EXIT'] === '1';
  // A signal stops the gateway and the upstream before the demo ends: a gateway left running
  // would hold the ports.
  const stop = new AbortController();
  process.on('SIGINT', () => stop.abort('Ctrl-C'));
  process.on('SIGTERM', () => stop.abort('SIGTERM'));

  let config: CompiledConfig;
  try {
    config = loadConfig(CONFIG, env);
  } catch (err) {
    if (err instanceof ConfigError) throw new DemoError(`${relative(process.cwd(), CONFIG)}:\n  - ${err.problems.join('\n  - ')}`);
    throw err;
  }
  if (config.tokenService === undefined) throw new DemoError(`${relative(process.cwd(), CONFIG)} has no tokenService: the demo needs one to create tokens`);

  const ownDataDir = env['M2M_DATA_DIR'] === undefined || env['M2M_DATA_DIR'] === '';
  const dataDir = ownDataDir ? mkdtempSync(join(tmpdir(), 'm2m-demo-')) : resolve(env['M2M_DATA_DIR']!);
  mkdirSync(dataDir, { recursive: true });
  const cleanUp: (() => Promise<unknown>)[] = [];
  if (ownDataDir) cleanUp.push(async () => rmSync(dataDir, { recursive: true, force: true }));
  try {
    const upstream = await startUpstream(config, env);
    cleanUp.push(() => upstream.close());
    say(`Echo upstream on ${upstream.url}: it answers with the method, path and headers it received.`);

    const logPath = join(dataDir, 'gateway.log');
    say(`Starting the gateway: dist/src/main.js serve --config config/gateway.yaml (data in ${dataDir}${ownDataDir ? ', removed on exit' : ''})`);
    const gateway = await startGateway(config, { ...env, M2M_UPSTREAM: upstream.url, M2M_DATA_DIR: dataDir }, logPath, stop.signal);
    cleanUp.push(() => gateway.stop());
    say(`Gateway ready: proxy ${gateway.url}, admin ${gateway.adminUrl} (/readyz answered 200).`);
    say();
    say('Lines starting with "$" are curl commands you can copy; they work while the demo runs.');
    say();

    const passed = await walkthrough(gateway.url, config, upstream, stop.signal);
    if (exitAfter || stop.signal.aborted) return passed ? 0 : 1;

    say(passed ? 'Every step passed.' : 'A step failed; the gateway and the upstream stay up so you can look.');
    say(`The gateway and the echo upstream keep running. The gateway's log: tail -f ${logPath}`);
    say('Press Ctrl-C to stop both.');
    const end = await Promise.race([
      aborted(stop.signal).then((reason) => ({ reason, expected: true })),
      gateway.closed.then((code) => ({ reason: `the gateway exited with code ${code}:\n${gateway.errors()}`, expected: false })),
    ]);
    say();
    say(`Stopping (${end.reason}).`);
    return passed && end.expected ? 0 : 1;
  } finally {
    for (const step of cleanUp.reverse()) await step();
  }
}

main(process.argv.slice(2), process.env).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`demo: ${err instanceof DemoError ? err.message : ((err as Error).stack ?? String(err))}\n`);
    process.exitCode = 1;
  },
);
