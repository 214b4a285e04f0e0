import type { Test } from 'tap';
import { randomUUID } from 'node:crypto';
import { rawHeaderValues } from '../../scripts/echo-upstream.js';
import { leakedSecrets } from './log-sink.js';
import { send, type Scenario } from './scenario.js';
import { waitFor } from './wait.js';

/** The refusals of the credential check, and what the client must see for each (RFC 6750 §3). */
export type AuthRefusal =
  | 'ERR_AUTH_MISSING'
  | 'ERR_AUTH_AMBIGUOUS'
  | 'ERR_AUTH_MALFORMED'
  | 'ERR_AUTH_TOO_LARGE'
  | 'ERR_AUTH_ALGORITHM'
  | 'ERR_AUTH_KID_UNKNOWN'
  | 'ERR_AUTH_SIGNATURE'
  | 'ERR_AUTH_EXPIRED'
  | 'ERR_AUTH_NOT_YET_VALID'
  | 'ERR_AUTH_CLAIMS'
  | 'ERR_AUTH_TOKEN_TYPE'
  | 'ERR_AUTH_REVOKED'
  | 'ERR_AUTH_FORBIDDEN';

const REALM = 'Bearer realm="m2m-gateway"';

/**
 * Written out rather than derived from src/errors.ts, so a change there shows up here: no
 * credential gets the bare challenge (§3.1), an ambiguous one 400 invalid_request, a valid token
 * the route does not admit 403 insufficient_scope, any other refusal 401 invalid_token with one
 * generic message.
 */
function expected(code: AuthRefusal): { status: number; challenge: string; message: string } {
  if (code === 'ERR_AUTH_MISSING') return { status: 401, challenge: REALM, message: 'Authentication required' };
  if (code === 'ERR_AUTH_AMBIGUOUS') return { status: 400, challenge: `${REALM}, error="invalid_request"`, message: 'Exactly one credential header is allowed' };
  if (code === 'ERR_AUTH_FORBIDDEN') return { status: 403, challenge: `${REALM}, error="insufficient_scope"`, message: 'Insufficient scope' };
  return { status: 401, challenge: `${REALM}, error="invalid_token"`, message: 'Invalid token' };
}

export interface ProxyRequest {
  /** Default `/api/x` (any valid token). */
  readonly path?: string;
  readonly method?: string;
  readonly headers?: readonly (readonly [string, string])[];
}

type Gateway = Pick<Scenario, 'gateway' | 'upstream'>;

/** The credential values of a request: what must never appear in a log line. */
function credentialsOf(request: ProxyRequest): string[] {
  const values: string[] = [];
  for (const [name, value] of request.headers ?? []) {
    const lower = name.toLowerCase();
    if (lower !== 'authorization' && lower !== 'x-api-key') continue;
    values.push(value);
    const token = value.replace(/^\S+ +/, '').trim();
    if (token.length >= 16 && token !== value) values.push(token);
  }
  const query = (request.path ?? '').split('?')[1];
  if (query !== undefined) for (const value of new URLSearchParams(query).values()) if (value.length >= 16) values.push(value);
  return values.filter((v) => v.length >= 16);
}

async function accessLine(s: Gateway, requestId: string): Promise<Record<string, unknown>> {
  const find = () => s.gateway.logs.entries().find((e) => e['msg'] === 'access' && e['reqId'] === requestId);
  await waitFor(`the access line of ${requestId}`, () => find() !== undefined);
  return find()!;
}

/**
 * Sends one request through the gateway and asserts the whole refusal (security-cases.md, "401"):
 * the exact status, `WWW-Authenticate` and constant JSON body for `code`; the access line with
 * `code` as its reason; that the upstream received nothing, not even a request's headers; and
 * that no log line holds the request's credential.
 */
export async function expectRefused(t: Test, s: Gateway, name: string, request: ProxyRequest, code: AuthRefusal): Promise<void> {
  const want = expected(code);
  const requestId = `refused-${randomUUID()}`;
  const started = s.upstream.started();
  const received = s.upstream.received.length;
  const res = await send(`${s.gateway.url}${request.path ?? '/api/x'}`, {
    method: request.method,
    headers: [['x-request-id', requestId], ...(request.headers ?? [])],
  });
  t.equal(res.status, want.status, `${name}: ${want.status}`);
  t.equal(res.headers['www-authenticate'], want.challenge, `${name}: challenge`);
  t.equal(res.body, JSON.stringify({ errors: [want.message], code }), `${name}: body ${code}`);
  t.equal(s.upstream.started(), started, `${name}: the upstream saw nothing`);
  t.equal(s.upstream.received.length, received, `${name}: the upstream received nothing`);
  const line = await accessLine(s, requestId);
  t.match(line, { status: want.status, decision: 'deny', reason: code }, `${name}: logged with its reason`);
  t.strictSame(leakedSecrets(s.gateway.logs.lines(), credentialsOf(request)), [], `${name}: no credential in the logs`);
}

/**
 * Sends one request through the gateway and asserts it was forwarded: 200, exactly one request
 * upstream, carrying the identity headers in `identity` and no credential header, and no log line
 * holding the credential. Returns what the upstream received.
 */
export async function expectForwarded(
  t: Test,
  s: Gateway,
  name: string,
  request: ProxyRequest,
  identity: Readonly<Record<string, string>> = {},
): Promise<Scenario['upstream']['received'][number] | undefined> {
  const received = s.upstream.received.length;
  const res = await send(`${s.gateway.url}${request.path ?? '/api/x'}`, { method: request.method, headers: request.headers ?? [] });
  t.equal(res.status, 200, `${name}: 200`);
  t.equal(s.upstream.received.length, received + 1, `${name}: forwarded once`);
  const seen = s.upstream.received.at(-1);
  if (res.status !== 200 || seen === undefined) return undefined;
  for (const [header, value] of Object.entries(identity)) t.strictSame(rawHeaderValues(seen, header), [value], `${name}: ${header}`);
  t.strictSame([...rawHeaderValues(seen, 'authorization'), ...rawHeaderValues(seen, 'x-api-key')], [], `${name}: no credential upstream`);
  t.strictSame(leakedSecrets(s.gateway.logs.lines(), credentialsOf(request)), [], `${name}: no credential in the logs`);
  return seen;
}
