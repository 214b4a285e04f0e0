import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Test } from 'tap';
import { runCredentialCommand } from '../../src/cli/commands.js';
import { startEchoUpstream, type EchoUpstream } from '../../scripts/echo-upstream.js';
import type { TestGateway } from './gateway.js';
import { send } from './scenario.js';

/** The built entry point, exactly what `npm start` and the container run (`npm test` builds first). */
export const MAIN = resolve('dist/src/main.js');

export interface Run {
  readonly args: readonly string[];
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * A throwaway data directory, an echo upstream and one config for the CLI (as a file: JSON is
 * YAML) and the gateway it manages (started by the test in its own process): the same data
 * directory, so the same SQLite store, key-encryption key and secret-hash key. Every command's
 * output is kept in `transcript`, to prove where secrets appear.
 */
export async function createCliHarness(t: Test) {
  const dataDir = mkdtempSync(join(tmpdir(), 'm2m-cli-'));
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  const upstream: EchoUpstream = await startEchoUpstream();
  t.teardown(() => upstream.close());
  const raw = {
    dataDir,
    tokenService: {
      issuer: 'http://gateway.test',
      audience: 'cli-test',
      algorithm: 'ES256',
      vendor: { clientId: 'test-vendor', secret: 'vendor-secret-for-tests-only-0123456789' },
    },
    directory: {
      roles: [
        { id: 'r-admin', key: 'admin', permissions: ['api.*'] },
        { id: 'r-viewer', key: 'viewer', permissions: ['api.read'] },
      ],
      defaultRoleIds: ['r-viewer'],
    },
    routes: [{ name: 'api', pathPrefix: '/api', upstream: upstream.url, auth: {} }],
  };
  const config = join(dataDir, 'gateway.yaml');
  writeFileSync(config, JSON.stringify(raw));
  const transcript: Run[] = [];

  /** The bin in a child process, on this config (M2M_CONFIG). */
  function cli(...args: string[]): Run {
    const r = spawnSync(process.execPath, [MAIN, ...args], { env: { ...process.env, M2M_CONFIG: config }, encoding: 'utf8' });
    const run = { args, code: r.status, stdout: r.stdout, stderr: r.stderr };
    transcript.push(run);
    return run;
  }

  /**
   * The same command in this process (runCredentialCommand, what main.ts dispatches to), with its
   * output captured: for the tables of refusals, which would take a process start each.
   */
  async function inProcess(...args: string[]): Promise<Run> {
    let stdout = '';
    let stderr = '';
    const io = { env: { M2M_CONFIG: config }, stdout: { write: (text: string) => (stdout += text) }, stderr: { write: (text: string) => (stderr += text) } };
    const code = await runCredentialCommand(args, io);
    const run = { args, code, stdout, stderr };
    transcript.push(run);
    return run;
  }

  /** Runs the bin with --json and parses stdout, which must be one JSON document and nothing else. */
  function cliJson<T = Record<string, unknown>>(t: Test, ...args: string[]): T {
    const run = cli(...args, '--json');
    t.equal(run.code, 0, `${args.join(' ')}: exit 0 (${run.stderr})`);
    return JSON.parse(run.stdout) as T;
  }

  /** `cliJson`, in this process. */
  async function inJson<T = Record<string, unknown>>(t: Test, ...args: string[]): Promise<T> {
    const run = await inProcess(...args, '--json');
    t.equal(run.code, 0, `${args.join(' ')}: exit 0 (${run.stderr})`);
    return JSON.parse(run.stdout) as T;
  }

  async function callApi(gateway: TestGateway, header: readonly [string, string]): Promise<{ status: number; roles?: string }> {
    const before = upstream.received.length;
    const res = await send(`${gateway.url}/api/hello`, { headers: [header], agent: false });
    const seen = upstream.received[before];
    return { status: res.status, roles: res.status === 200 ? (seen?.headers['x-auth-roles'] as string | undefined) : undefined };
  }

  return { dataDir, raw, config, upstream, transcript, cli, inProcess, cliJson, inJson, callApi };
}

export function occurrences(text: string, needle: string): number {
  return text.split(needle).length - 1;
}

function basic(clientId: string, secret: string): string {
  return `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(secret)}`).toString('base64')}`;
}

// One connection per request (agent: false): the CLI runs between requests, longer than keep-alive.
export async function exchange(gateway: TestGateway, clientId: string, secret: string): Promise<{ status: number; accessToken?: string }> {
  const res = await send(`${gateway.url}/oauth/token`, {
    method: 'POST',
    headers: [
      ['authorization', basic(clientId, secret)],
      ['content-type', 'application/x-www-form-urlencoded'],
    ],
    body: 'grant_type=client_credentials',
    agent: false,
  });
  return { status: res.status, accessToken: res.json<{ access_token?: string }>().access_token };
}

export const kidOf = (jwt: string): string => (JSON.parse(Buffer.from(jwt.split('.')[0]!, 'base64url').toString('utf8')) as { kid: string }).kid;

export async function jwksKids(gateway: TestGateway): Promise<string[]> {
  const res = await send(`${gateway.url}/.well-known/jwks.json`, { agent: false });
  return res
    .json<{ keys: Array<{ kid: string }> }>()
    .keys.map((k) => k.kid)
    .sort();
}
