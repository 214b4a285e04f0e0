import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { startEchoUpstream, type EchoUpstream } from '../../scripts/echo-upstream.js';
import type { Clock } from '../../src/clock.js';
import { startGateway, type TestGateway } from './gateway.js';
import { createTestIssuer, mintToken, writeJwksFile, type MintOptions, type TestIssuer, type TestIssuerOptions } from './tokens.js';

/** A running gateway in front of an echo upstream, trusting one test issuer through a JWKS file. */
export interface Scenario {
  readonly gateway: TestGateway;
  readonly upstream: EchoUpstream;
  readonly issuer: TestIssuer;
  readonly jwksPath: string;
  mint(options?: MintOptions): Promise<string>;
  close(): Promise<void>;
}

export interface ScenarioOptions {
  /** Extra routes placed before the defaults (`/public` open, `/api` any token, `/admin` role admin). */
  readonly routes?: (upstreamUrl: string) => Record<string, unknown>[];
  /** Merged into the config object at the top level. */
  readonly config?: Record<string, unknown>;
  /** Do not write the JWKS file (the gateway starts with no keys). */
  readonly withoutKeys?: boolean;
  /** The trusted issuer's key type, kid, `iss` and `aud` (default: RS256). */
  readonly issuer?: TestIssuerOptions;
  /** Merged into the main issuer's config entry (e.g. `audience` as a list). */
  readonly issuerConfig?: Record<string, unknown>;
  /** More trusted issuers, each with its own JWKS file, configured after the main one. */
  readonly moreIssuers?: readonly TestIssuer[];
  /** The gateway's clock (default: the system clock). */
  readonly clock?: Clock;
  /** Start from a config file next to the JWKS file, which the gateway reloads (`gateway.writeConfig`). */
  readonly fromFile?: boolean;
}

export async function startScenario(options: ScenarioOptions = {}): Promise<Scenario> {
  const dir = await mkdtemp(join(tmpdir(), 'm2m-it-'));
  const issuer = await createTestIssuer(options.issuer);
  const jwksPath = join(dir, 'jwks.json');
  if (options.withoutKeys !== true) await writeJwksFile(jwksPath, issuer.jwks);
  const trusted = [{ issuer, path: jwksPath }];
  for (const [i, more] of (options.moreIssuers ?? []).entries()) {
    const path = join(dir, `jwks-${i + 1}.json`);
    await writeJwksFile(path, more.jwks);
    trusted.push({ issuer: more, path });
  }
  const upstream = await startEchoUpstream();
  const u = upstream.url;
  let gateway: TestGateway;
  try {
    gateway = await startGateway(
      {
        issuers: trusted.map(({ issuer: i, path }) => ({
          name: i.name,
          issuer: i.issuer,
          audience: i.audience,
          algorithms: [i.alg],
          jwks: { file: path },
          ...(i === issuer ? options.issuerConfig : {}),
        })),
        routes: [
          ...(options.routes?.(u) ?? []),
          { name: 'public', pathPrefix: '/public', upstream: u, auth: 'none' },
          { name: 'api', pathPrefix: '/api', upstream: u, auth: {} },
          { name: 'admin', pathPrefix: '/admin', upstream: u, auth: { anyRole: ['admin'] } },
        ],
        ...options.config,
      },
      { clock: options.clock, ...(options.fromFile === true ? { configDir: dir } : {}) },
    );
  } catch (err) {
    // A config the gateway refuses must not leave the upstream listening.
    await upstream.close();
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    gateway,
    upstream,
    issuer,
    jwksPath,
    mint: (mintOptions = {}) => mintToken(issuer, mintOptions),
    async close() {
      await gateway.close();
      await upstream.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export interface RawResponse {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
  json<T = Record<string, unknown>>(): T;
}

/**
 * A request with full control of the header lines (repeats, odd casing, underscores), which
 * `fetch` does not give. `headers` is a list of [name, value] lines sent as written.
 */
export function send(
  url: string,
  options: { method?: string; headers?: readonly (readonly [string, string])[]; body?: string | Buffer; agent?: false; localAddress?: string } = {},
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const target = new URL(url);
    const flat: string[] = [];
    const lines = options.headers ?? [];
    // Node adds no Host to a header array; a request without one is a 400 (RFC 9112 §3.2).
    if (!lines.some(([name]) => name.toLowerCase() === 'host')) flat.push('host', target.host);
    for (const [name, value] of lines) flat.push(name, value);
    const req = httpRequest(
      {
        host: target.hostname,
        port: target.port,
        path: `${target.pathname}${target.search}`,
        method: options.method ?? 'GET',
        headers: flat,
        agent: options.agent,
        // Another loopback source (127.0.0.2): a second socket peer, as another client machine would be.
        localAddress: options.localAddress,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const body = Buffer.concat(chunks).toString('utf8');
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body, json: () => JSON.parse(body) });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}
