import type { IncomingHttpHeaders } from 'node:http';
import type { Authenticator } from '../../src/auth/authenticator.js';
import type { Credential, Identity } from '../../src/auth/identity.js';
import type { CompiledConfig, CompiledRoute } from '../../src/config/types.js';
import { GatewayError, type ErrorCode } from '../../src/errors.js';
import { createDecider } from '../../src/proxy/create-decider.js';
import type { Decide, RequestFacts } from '../../src/proxy/decide.js';
import { compiledConfig } from './compiled-config.js';

/**
 * Fixtures for decision-level tests (no sockets): named identities, a fake authenticator that
 * maps token strings to outcomes and records what it was asked, and `RequestFacts` built from raw
 * header lines the way Node builds `req.headers`.
 */

/** A user's client-credentials token (arrives as `Authorization: Bearer`). */
export const USER_API_IDENTITY: Identity = Object.freeze({
  tokenType: 'userApiToken',
  issuer: 'main',
  subject: 'client-1',
  tokenId: 'jti-1',
  userId: 'user-1',
  tenantId: 'tenant-1',
  roles: Object.freeze(['admin', 'reader']),
  permissions: Object.freeze(['fe.secure.*', 'reports.read']),
  expiresAtMs: Date.UTC(2030, 0, 1),
});

/** The identity headers injected for `USER_API_IDENTITY` with the default names (csv lists). */
export const USER_API_IDENTITY_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'x-auth-user-id': 'user-1',
  'x-auth-tenant-id': 'tenant-1',
  'x-auth-roles': 'admin,reader',
  'x-auth-permissions': 'fe.secure.*,reports.read',
  'x-auth-token-type': 'userApiToken',
  'x-auth-token-id': 'jti-1',
  'x-auth-subject': 'client-1',
});

/** A tenant's access token (arrives as `X-API-KEY`). */
export const TENANT_ACCESS_IDENTITY: Identity = Object.freeze({
  tokenType: 'tenantAccessToken',
  issuer: 'main',
  subject: 'access-2',
  tokenId: 'access-2',
  userId: undefined,
  tenantId: 'tenant-2',
  roles: Object.freeze(['reader']),
  permissions: Object.freeze(['reports.read']),
  expiresAtMs: undefined,
});

/** Named token fixtures: the fake authenticator's default table maps them to the identities above. */
export const USER_API_TOKEN = 'user.api.token';
export const TENANT_ACCESS_TOKEN = 'tenant.access.token';
export const REVOKED_TOKEN = 'revoked.token';

export const DEFAULT_OUTCOMES: Readonly<Record<string, FakeOutcome>> = Object.freeze({
  [USER_API_TOKEN]: USER_API_IDENTITY,
  [TENANT_ACCESS_TOKEN]: TENANT_ACCESS_IDENTITY,
  [REVOKED_TOKEN]: 'ERR_AUTH_REVOKED',
});

/** What the fake authenticator answers for a token: an identity, a refusal code, or a bug. */
export type FakeOutcome = Identity | ErrorCode | Error;

export interface FakeAuthenticator extends Authenticator {
  /** Every credential it was asked to authenticate, in order. */
  readonly calls: Credential[];
}

/**
 * An authenticator that looks the token up in `outcomes`; an unknown token is `ERR_AUTH_SIGNATURE`.
 * It does not check that the credential kind fits the token type: that is the real one's job.
 */
export function fakeAuthenticator(outcomes: Readonly<Record<string, FakeOutcome>>): FakeAuthenticator {
  const calls: Credential[] = [];
  return {
    calls,
    async authenticate(credential) {
      calls.push(credential);
      const outcome = Object.hasOwn(outcomes, credential.token) ? outcomes[credential.token] : 'ERR_AUTH_SIGNATURE';
      if (typeof outcome === 'string') throw new GatewayError(outcome);
      if (outcome instanceof Error) throw outcome;
      return outcome!;
    },
    ready: () => true,
    start: async () => undefined,
    close: async () => undefined,
    keySetAges: () => [],
  };
}

/** Headers Node keeps only once (the first line wins), per the `message.headers` docs. */
const FIRST_WINS: ReadonlySet<string> = new Set([
  'age', 'authorization', 'content-length', 'content-type', 'etag', 'expires', 'from', 'host',
  'if-modified-since', 'if-unmodified-since', 'last-modified', 'location', 'max-forwards',
  'proxy-authorization', 'referer', 'retry-after', 'server', 'user-agent',
]);

/** `req.headers` as Node derives it from the raw lines: names lower-cased, repeats joined or dropped. */
export function nodeHeaders(rawHeaders: readonly string[]): IncomingHttpHeaders {
  const headers: Record<string, string | string[]> = {};
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!.toLowerCase();
    const value = rawHeaders[i + 1]!;
    const prior = Object.hasOwn(headers, name) ? headers[name] : undefined;
    if (name === 'set-cookie') headers[name] = [...((prior as string[] | undefined) ?? []), value];
    else if (prior === undefined) Object.defineProperty(headers, name, { value, enumerable: true, writable: true, configurable: true });
    else if (FIRST_WINS.has(name)) continue;
    else headers[name] = `${prior as string}${name === 'cookie' ? '; ' : ', '}${value}`;
  }
  return headers;
}

export interface FactsInput {
  readonly method?: string;
  readonly url?: string;
  /** Header lines as sent, in order: `[name, value]` pairs, names in any case. */
  readonly headers?: readonly (readonly [string, string])[];
  readonly remoteAddress?: string;
  readonly encrypted?: boolean;
  readonly requestId?: string;
  readonly upgrade?: boolean;
}

/** `RequestFacts` for a GET of `/` from 203.0.113.7 over plain HTTP, with `Host: api.example.com` unless given. */
export function requestFacts(input: FactsInput = {}): RequestFacts {
  const lines = input.headers ?? [['Host', 'api.example.com']];
  const rawHeaders = lines.flatMap(([name, value]) => [name, value]);
  return {
    method: input.method ?? 'GET',
    url: input.url ?? '/',
    headers: nodeHeaders(rawHeaders),
    rawHeaders,
    remoteAddress: input.remoteAddress ?? '203.0.113.7',
    encrypted: input.encrypted ?? false,
    requestId: input.requestId ?? 'req-1',
    upgrade: input.upgrade ?? false,
  };
}

/** A decision function over `routes` with a fake authenticator (default: `DEFAULT_OUTCOMES`). */
export function testDecider(options: {
  readonly routes: readonly CompiledRoute[];
  readonly outcomes?: Readonly<Record<string, FakeOutcome>>;
  readonly config?: Partial<CompiledConfig>;
}): { decide: Decide; authenticator: FakeAuthenticator } {
  const authenticator = fakeAuthenticator(options.outcomes ?? DEFAULT_OUTCOMES);
  const decide = createDecider(compiledConfig({ ...options.config, routes: options.routes }), { authenticator });
  return { decide, authenticator };
}
