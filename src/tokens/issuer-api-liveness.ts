import { Pool } from 'undici';
import type { Identity } from '../auth/identity.js';
import type { Clock } from '../clock.js';
import { DEFAULTS } from '../config/defaults.js';
import { ConfigError, GatewayError, isGatewayError } from '../errors.js';
import type { Logger } from '../log.js';
import type { OwnerKind } from '../store/types.js';
import { credentialOf, livenessTags, OWNER_OF, type LivenessAnswer, type LivenessLookup } from './liveness.js';

export type { LivenessLookup } from './liveness.js';

export interface IssuerApiLivenessOptions {
  /** The issuer's base URL; the vendor-only routes and `/auth/vendor` are below it. */
  readonly url: string;
  /** The environment's (vendor) credentials, as the issuer's `POST /auth/vendor` expects them. */
  readonly clientId: string;
  readonly secret: string;
  /** Bound on one lookup, vendor authentication included (default `issuers[].liveness.issuerApi.timeoutMs`'s, 5000 ms). */
  readonly timeoutMs?: number;
}

export interface IssuerApiLiveness {
  /**
   * Whether the credential behind `identity` (and, for a client-credentials JWT, its refresh family
   * `sid`) is alive, with what it grants now. Throws `ERR_STORE_UNAVAILABLE` when the issuer gives
   * no usable answer: the caller refuses the request (503), it never lets it through.
   */
  lookUp(identity: Identity, sid: string | undefined): Promise<LivenessLookup>;
  close(): Promise<void>;
}

const MAX_TIMEOUT_MS = 60_000;
/** Both answers are a few hundred bytes; anything much larger is not the issuer we expect. */
const MAX_RESPONSE_BYTES = 64 * 1024;
const MAX_VENDOR_TOKEN = 8192;
/** Frontegg's SDKs renew the vendor token at 80 % of `expiresIn` (reference/frontegg-api.md §4.2). */
const VENDOR_TOKEN_RENEWAL = 0.8;
/** Frontegg's answer for a disabled token kind (SPEC §3): no such token can be alive. */
const KIND_DISABLED = 'Api tokens are disabled';
const NOT_LIVE: LivenessAnswer = Object.freeze({ live: false });

function unavailable(detail: string, cause?: unknown): GatewayError {
  return new GatewayError('ERR_STORE_UNAVAILABLE', detail, { cause });
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isStringList(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((item) => typeof item === 'string');
}

/** The base URL split for one `Pool`: its origin, and the path prefix every route is below. */
function parseBase(url: string): { origin: string; prefix: string } {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ConfigError(['issuer API url: not a URL']);
  }
  const problems: string[] = [];
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') problems.push('issuer API url: must be http or https');
  // The vendor credentials travel in the body; a URL with credentials would put them in logs and configs twice.
  if (parsed.username !== '' || parsed.password !== '') problems.push('issuer API url: must not carry credentials');
  if (parsed.search !== '' || parsed.hash !== '') problems.push('issuer API url: must have no query or fragment');
  if (problems.length > 0) throw new ConfigError(problems);
  return { origin: parsed.origin, prefix: parsed.pathname.replace(/\/+$/, '') };
}

/** The answer of a vendor-only `{id}` or `sessions/{sid}` lookup, or undefined when it has not that shape. */
function liveAnswer(body: unknown, owner: OwnerKind, idField: 'id' | 'clientId', subject: string): LivenessAnswer | undefined {
  if (!isRecord(body) || body[idField] !== subject) return undefined;
  const { tenantId, userId, roles, permissions, expires } = body;
  if (typeof tenantId !== 'string' || tenantId === '' || !isStringList(roles) || !isStringList(permissions)) return undefined;
  if (owner === 'user' ? typeof userId !== 'string' || userId === '' : userId !== undefined) return undefined;
  let expiresAt: number | null = null;
  if (expires !== undefined) {
    expiresAt = typeof expires === 'string' ? Date.parse(expires) : Number.NaN;
    if (!Number.isFinite(expiresAt)) return undefined;
  }
  return Object.freeze({ live: true, tenantId, userId: userId as string | undefined, roles: Object.freeze([...roles]), permissions: Object.freeze([...permissions]), expiresAt });
}

/** Waits for `pending`, but not past `signal`: a vendor authentication shared by lookups may have begun under another's deadline. */
function until<T>(pending: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason as Error);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    pending.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err as Error);
      },
    );
  });
}

/**
 * A liveness source for sidecars that cannot read the issuer's store (SPEC §2 "Sidecar"): it asks
 * the issuer's vendor-only routes — Frontegg's access-token `{id}` lookup, and this gateway's
 * `api-tokens/v1/{clientId}/sessions/{sid}` for client-credentials JWTs — authenticated with the
 * environment's vendor token from `POST /auth/vendor`, cached until shortly before it expires and
 * obtained again once when the issuer answers 401.
 *
 * One keep-alive undici `Pool`, so lookups do not connect per request; it follows no redirect, so
 * the vendor token never reaches another host. 404 and 403 "Api tokens are
 * disabled" are "not alive"; every other outcome (5xx, timeout, refused connection, a body that is
 * not the expected shape) is `ERR_STORE_UNAVAILABLE`, so the caller fails closed. The logs name the
 * issuer's origin and the vendor clientId, never the secret or the vendor token.
 */
export function createIssuerApiLiveness(options: IssuerApiLivenessOptions, deps: { clock: Clock; log: Logger }): IssuerApiLiveness {
  const { origin, prefix } = parseBase(options.url);
  const timeoutMs = options.timeoutMs ?? DEFAULTS.issuerApi.timeoutMs;
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0 || timeoutMs > MAX_TIMEOUT_MS) throw new ConfigError([`issuer API timeoutMs: must be from 1 to ${MAX_TIMEOUT_MS}`]);
  if (options.clientId === '' || options.secret === '') throw new ConfigError(['issuer API credentials: clientId and secret are required']);
  const { clock } = deps;
  const log = deps.log.child({ component: 'issuer-liveness', issuer: origin, clientId: options.clientId });
  const pool = new Pool(origin, {
    connections: 16,
    pipelining: 1,
    connect: { timeout: timeoutMs },
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
    maxResponseSize: MAX_RESPONSE_BYTES,
  });
  const closing = new AbortController();
  let vendor: { token: string; renewAt: number } | undefined;
  let authenticating: Promise<string> | undefined;
  let lastFailure: string | undefined;

  async function call(method: 'GET' | 'POST', path: string, headers: Record<string, string>, body: string | undefined, signal: AbortSignal): Promise<{ status: number; json: unknown }> {
    const response = await pool.request({ method, path: `${prefix}${path}`, headers: { accept: 'application/json', ...headers }, body, signal });
    let json: unknown;
    try {
      json = await response.body.json();
    } catch {
      // An unreadable body counts as no body: a 200 then fails its shape check.
      json = undefined;
    }
    return { status: response.statusCode, json };
  }

  async function authenticate(): Promise<string> {
    const signal = AbortSignal.any([closing.signal, AbortSignal.timeout(timeoutMs)]);
    const body = JSON.stringify({ clientId: options.clientId, secret: options.secret });
    const { status, json } = await call('POST', '/auth/vendor', { 'content-type': 'application/json' }, body, signal);
    if (status !== 200) {
      log.error({ status }, 'vendor authentication refused');
      throw unavailable(`vendor authentication answered ${status}`);
    }
    const token = isRecord(json) ? json.token : undefined;
    const expiresIn = isRecord(json) ? json.expiresIn : undefined;
    if (typeof token !== 'string' || token === '' || token.length > MAX_VENDOR_TOKEN || typeof expiresIn !== 'number' || !Number.isFinite(expiresIn) || expiresIn <= 0) {
      throw unavailable('vendor authentication answer has not the expected shape');
    }
    vendor = { token, renewAt: clock.now() + expiresIn * 1000 * VENDOR_TOKEN_RENEWAL };
    log.debug('vendor token obtained');
    return token;
  }

  /** The cached vendor token, or one authentication shared by every lookup that needs it. */
  function vendorToken(): Promise<string> {
    if (vendor !== undefined && clock.now() < vendor.renewAt) return Promise.resolve(vendor.token);
    authenticating ??= authenticate().finally(() => {
      authenticating = undefined;
    });
    return authenticating;
  }

  async function ask(path: string, owner: OwnerKind, idField: 'id' | 'clientId', subject: string, deadline: AbortSignal): Promise<LivenessAnswer> {
    for (let attempt = 1; ; attempt++) {
      const token = await until(vendorToken(), deadline);
      const { status, json } = await call('GET', path, { authorization: `Bearer ${token}` }, undefined, deadline);
      if (status === 401 && attempt === 1) {
        // The issuer no longer takes this token (restarted with new keys, or it expired early): once more with a new one.
        if (vendor?.token === token) vendor = undefined;
        continue;
      }
      if (status === 200) {
        const answer = liveAnswer(json, owner, idField, subject);
        if (answer === undefined) throw unavailable('issuer answer has not the expected shape');
        return answer;
      }
      if (status === 404) return NOT_LIVE;
      if (status === 403 && isRecord(json) && Array.isArray(json.errors) && json.errors[0] === KIND_DISABLED) return NOT_LIVE;
      throw unavailable(`issuer answered ${status}`);
    }
  }

  async function lookUp(identity: Identity, sid: string | undefined): Promise<LivenessLookup> {
    const tags = livenessTags(identity, sid);
    const owner = OWNER_OF[identity.tokenType];
    const api = credentialOf(identity.tokenType) === 'api';
    // Every client-credentials JWT of the issuer carries its family; one without is not to be trusted.
    if (api && sid === undefined) return { answer: NOT_LIVE, tags };
    const subject = encodeURIComponent(identity.subject);
    const path = api
      ? `/identity/resources/vendor-only/${owner}s/api-tokens/v1/${subject}/sessions/${encodeURIComponent(sid!)}`
      : `/identity/resources/vendor-only/${owner}s/access-tokens/v1/${subject}`;
    const deadline = AbortSignal.any([closing.signal, AbortSignal.timeout(timeoutMs)]);
    try {
      const answer = await ask(path, owner, api ? 'clientId' : 'id', identity.subject, deadline);
      if (lastFailure !== undefined) log.info('issuer answers liveness lookups again');
      lastFailure = undefined;
      return { answer, tags };
    } catch (err) {
      const failure = isGatewayError(err) ? err : unavailable(`issuer unreachable: ${(err as { code?: string }).code ?? (err as Error).name}`, err);
      // Once per kind of failure, not once per request: an outage must not flood the log.
      if (failure.detail !== lastFailure) log.warn({ reason: failure.detail }, 'issuer liveness lookup failed; refusing');
      lastFailure = failure.detail;
      throw failure;
    }
  }

  return Object.freeze({
    lookUp,
    async close() {
      closing.abort();
      await pool.close();
    },
  });
}
