import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultTokenServices, type TokenServiceFactory } from '../../src/app.js';
import type { Clock } from '../../src/clock.js';
import type { KeyManager } from '../../src/tokens/keys.js';
import { startEchoUpstream, type EchoUpstream } from '../../scripts/echo-upstream.js';
import { createFakeTokenService, type FakeTokenService } from './fake-token-service.js';
import { startGateway, type TestGateway } from './gateway.js';

export const TS_ISSUER = 'http://gateway.test';
export const TS_AUDIENCE = 'env-client-id';
export const VENDOR = { clientId: 'test-vendor', secret: 'vendor-secret-for-tests-only-0123456789' } as const;

/** A gateway running the token service (memory store unless told, port 0) in front of an echo upstream. */
export interface TokenScenario {
  readonly gateway: TestGateway;
  readonly upstream: EchoUpstream;
  /** The fake service, when the scenario runs on it (`fake: true`). */
  readonly fake: FakeTokenService | undefined;
  /** The gateway's signing keys, to rotate and reload them as an operator or another process would. */
  readonly keys: KeyManager;
  /** A fresh vendor token from `POST /auth/vendor`. */
  vendorToken(): Promise<string>;
  close(): Promise<void>;
}

export interface TokenScenarioOptions {
  /** The `store` section (default: memory). */
  readonly store?: Record<string, unknown>;
  /** Merged into `tokenService`. */
  readonly tokenService?: Record<string, unknown>;
  readonly clock?: Clock;
  /** Run on the small fake of test/helpers/fake-token-service.ts instead of the real service. */
  readonly fake?: boolean;
  /** The `auth` section. */
  readonly auth?: Record<string, unknown>;
  /** Routes besides `public` and `api`, given the upstream's URL. */
  readonly routes?: (upstreamUrl: string) => Record<string, unknown>[];
  /** The captured log level (default info); `trace` to check that even debug lines carry no secret. */
  readonly logLevel?: 'info' | 'debug' | 'trace';
  /** Start from a config file in a directory of its own, which the gateway reloads (`gateway.writeConfig`). */
  readonly fromFile?: boolean;
}

/** The roles of the test token service: `admin` holds every permission, `viewer` only `read`. */
export const TEST_ROLES = [{ id: 'r-admin', key: 'admin', permissions: ['*'] }, { id: 'r-viewer', key: 'viewer', permissions: ['read'] }];

/** The `tokenService` section of a test config, in the YAML shape. */
export function tokenServiceSection(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    issuer: TS_ISSUER,
    audience: TS_AUDIENCE,
    vendor: VENDOR,
    // Given, so nothing is written to a data directory.
    keyEncryptionKey: randomBytes(32).toString('base64url'),
    secretKey: randomBytes(32).toString('base64url'),
    ...overrides,
  };
}

export async function startTokenScenario(options: TokenScenarioOptions = {}): Promise<TokenScenario> {
  const upstream = await startEchoUpstream();
  const u = upstream.url;
  const configDir = options.fromFile === true ? await mkdtemp(join(tmpdir(), 'm2m-ts-')) : undefined;
  let fake: FakeTokenService | undefined;
  let keys: KeyManager | undefined;
  const factory: TokenServiceFactory = async (context) => {
    keys = context.keys;
    if (options.fake !== true) return defaultTokenServices(context);
    fake = createFakeTokenService({ ts: context.tokenService, signer: context.signer, clock: context.clock });
    return { tokenService: fake.tokenService, directory: fake.directory };
  };
  const gateway = await startGateway(
    {
      store: options.store ?? { driver: 'memory' },
      tokenService: tokenServiceSection(options.tokenService),
      directory: { roles: TEST_ROLES, defaultRoleIds: ['r-viewer'] },
      ...(options.auth === undefined ? {} : { auth: options.auth }),
      routes: [
        { name: 'public', pathPrefix: '/public', upstream: u, auth: 'none' },
        { name: 'api', pathPrefix: '/api', upstream: u, auth: {} },
        ...(options.routes?.(u) ?? []),
      ],
    },
    { clock: options.clock, tokenServices: factory, logLevel: options.logLevel, ...(configDir === undefined ? {} : { configDir }) },
  );
  return {
    gateway,
    upstream,
    get fake() {
      return fake;
    },
    keys: keys!,
    async vendorToken() {
      const res = await fetch(`${gateway.url}/auth/vendor`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(VENDOR),
      });
      if (res.status !== 200) throw new Error(`vendor auth failed: ${res.status}`);
      return ((await res.json()) as { token: string }).token;
    },
    async close() {
      await gateway.close();
      await upstream.close();
      if (configDir !== undefined) await rm(configDir, { recursive: true, force: true });
    },
  };
}

/** A tenant API token created through the management route (vendor-authenticated): its id and secret. */
export async function createTenantApiToken(s: TokenScenario, tenantId = 'tenant-1'): Promise<{ clientId: string; secret: string }> {
  const vendor = await s.vendorToken();
  const res = await fetch(`${s.gateway.url}/identity/resources/tenants/api-tokens/v2`, {
    method: 'POST',
    headers: { authorization: `Bearer ${vendor}`, 'frontegg-tenant-id': tenantId, 'content-type': 'application/json' },
    body: JSON.stringify({ roleIds: ['r-viewer'] }),
  });
  if (res.status !== 201) throw new Error(`create failed: ${res.status} ${await res.text()}`);
  const { clientId, secret } = (await res.json()) as { clientId: string; secret: string };
  return { clientId, secret };
}

/** `client_secret_basic` (RFC 6749 §2.3.1): id and secret form-encoded, then base64. */
export function basicAuth(clientId: string, secret: string): string {
  return `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(secret)}`).toString('base64')}`;
}

/** A form-encoded POST to one of the OAuth routes. */
export function postForm(s: TokenScenario, path: string, body: string, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${s.gateway.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, body });
}

/** An OAuth refusal as the security cases check it (RFC 6749 §5.2): status, challenge, `error`, caching. */
export interface OauthAnswer {
  readonly status: number;
  readonly challenge: string | null;
  readonly error: unknown;
  readonly cacheControl: string | null;
  /** The whole body, to compare two answers byte for byte. */
  readonly text: string;
}

export async function oauthAnswer(res: Response | Promise<Response>): Promise<OauthAnswer> {
  const r = await res;
  const text = await r.text();
  let error: unknown;
  try {
    error = (JSON.parse(text) as { error?: unknown }).error;
  } catch {
    error = undefined;
  }
  return { status: r.status, challenge: r.headers.get('www-authenticate'), error, cacheControl: r.headers.get('cache-control'), text };
}

/** The token API's realm, as the gateway's `WWW-Authenticate` challenges name it. */
export const REALM = 'realm="m2m-gateway"';
