import type { IncomingHttpHeaders } from 'node:http';
import type { CompiledIdentityHeaders, CompiledRoute } from '../config/types.js';
import type { OutgoingHeaders } from './decide.js';
import { HOP_BY_HOP_HEADERS } from './hop-by-hop.js';

/** What `sanitizeHeaders` needs to know besides the headers. */
export interface SanitizeContext {
  readonly route: CompiledRoute;
  readonly identity: CompiledIdentityHeaders;
  /** The socket peer: the only address the gateway knows to be true. */
  readonly remoteAddress: string;
  /** True when the client connection is TLS. */
  readonly encrypted: boolean;
  readonly isTrustedProxy: (address: string) => boolean;
  /** Replaces any inbound `x-request-id`. */
  readonly requestId: string;
  /** True for a WebSocket upgrade that the decision accepted. */
  readonly upgrade: boolean;
}

/**
 * Hop-by-hop headers (RFC 9110 §7.6.1, RFC 9112 §9.6 and §7.1, RFC 9113 §8.2.2 for
 * `http2-settings`): they describe the client connection and never cross a proxy (case 37).
 * `expect` is answered by Node's server itself (`100-continue`); forwarding it would ask the
 * upstream for a second interim response, and undici refuses the header outright (case 38).
 */
const HOP_BY_HOP: ReadonlySet<string> = new Set([...HOP_BY_HOP_HEADERS, 'http2-settings', 'expect']);

/**
 * Headers that make an upstream serve another path or method than the one authorised: Symfony
 * and IIS rewrite the path from `X-Original-URL`/`X-Rewrite-URL` (CVE-2018-14773), and
 * method-override middleware turns an authorised GET into a DELETE. The route decision was made
 * on the request line, so these never reach the upstream (case 42, same class).
 */
const ROUTING_OVERRIDES: ReadonlySet<string> = new Set([
  'x-original-url',
  'x-rewrite-url',
  'x-http-method-override',
  'x-http-method',
  'x-method-override',
]);

/** Credential headers: kept from the upstream unless the route opts in (case 40, Envoy `forward: false`). */
const CREDENTIALS: ReadonlySet<string> = new Set(['authorization', 'x-api-key']);

/** Peer-describing headers that only a trusted proxy may set (case 39); `x-forwarded-*` by prefix. */
const FORWARDED: ReadonlySet<string> = new Set(['forwarded', 'x-real-ip']);

/** `host[:port]` as a reg-name or an IPv6 literal; anything else is not repeated as X-Forwarded-Host. */
const HOST_HEADER = /^(?:[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*\.?|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?$/;
const MAX_HOST_LENGTH = 255 + 6;

/**
 * Turns the client's headers into the headers sent upstream (SPEC §5 "Sanitize, always"; run for
 * public routes too). Reads each inbound header once; returns a fresh object built from own keys
 * only: `constructor` or `toString` are plain data there, and `__proto__` is dropped, so no header
 * name can reach or replace a prototype.
 *
 * Dropped: hop-by-hop headers and every header the client's `Connection` names (case 37); `host`
 * (the forwarder sets the upstream's); the identity namespace — prefix or `strip`, compared
 * lower-case with `_` folded to `-` so `X_Auth_User_Id` cannot reach a CGI/WSGI upstream as
 * `HTTP_X_AUTH_USER_ID` (case 36; gunicorn #2799); `forwarded`, `x-real-ip` and `x-forwarded-*`
 * unless the peer is a trusted proxy (case 39); routing overrides; `authorization` and `x-api-key`
 * unless `route.forwardCredentials` (case 40); the client's `x-request-id`; `sec-websocket-*`
 * outside an upgrade. The same folding applies to every drop rule, so no underscore spelling of a
 * managed header gets through.
 *
 * Set afterwards, so that nothing the client says in `Connection` can remove them:
 * `x-forwarded-for` (peer, or `<incoming>, <peer>` from a trusted proxy), `x-forwarded-proto`
 * (from the socket's TLS; a trusted proxy's `http`/`https` is kept), `x-forwarded-host` (a trusted
 * proxy's well-formed value, else the Host header when well-formed, else none), `x-request-id`,
 * and for an upgrade `connection: upgrade` with `upgrade: websocket`.
 */
export function sanitizeHeaders(headers: IncomingHttpHeaders, ctx: SanitizeContext): OutgoingHeaders {
  // A plain object: V8 keeps it in fast mode, where a null-prototype object starts as a hash
  // table and costs several times more to fill and iterate. `__proto__` is the only name a plain
  // object does not store as data (its setter would re-parent the object), so it is dropped below.
  const out: OutgoingHeaders = {};
  const trusted = ctx.isTrustedProxy(ctx.remoteAddress);
  const { prefix, strip } = ctx.identity;
  const forwardCredentials = ctx.route.forwardCredentials;
  const named = connectionOptions(headers.connection);

  let host: string | undefined;
  let incomingFor: string | undefined;
  let incomingProto: string | undefined;
  let incomingForwardedHost: string | undefined;
  let upgrade: string | undefined;

  for (const key of Object.keys(headers)) {
    const value = headers[key];
    if (value === undefined) continue;
    const lower = key.toLowerCase();
    if (lower === '__proto__') continue;
    const name = lower.includes('_') ? lower.replaceAll('_', '-') : lower;

    if (HOP_BY_HOP.has(name)) {
      if (name === 'upgrade' && lower === name) upgrade = firstValue(value);
      continue;
    }
    if (name === 'host') {
      if (lower === name) host = firstValue(value);
      continue;
    }
    if (name.startsWith(prefix) || strip.has(name)) continue;
    if (named !== undefined && named.includes(name)) continue;
    if (ROUTING_OVERRIDES.has(name) || name === 'x-request-id') continue;
    if (CREDENTIALS.has(name) && !(forwardCredentials && lower === name)) continue;
    if (name.startsWith('sec-websocket-') && !(ctx.upgrade && lower === name)) continue;
    if (FORWARDED.has(name) || name.startsWith('x-forwarded-')) {
      // Behind a trusted proxy the chain is kept and extended; from anyone else it is forged.
      if (!trusted || lower !== name) continue;
      if (name === 'x-forwarded-for') {
        incomingFor = joinValues(value);
        continue;
      }
      if (name === 'x-forwarded-proto') {
        incomingProto = firstValue(value);
        continue;
      }
      if (name === 'x-forwarded-host') {
        incomingForwardedHost = firstValue(value);
        continue;
      }
    }
    out[lower] = value;
  }

  out['x-forwarded-for'] = incomingFor === undefined || incomingFor === '' ? ctx.remoteAddress : `${incomingFor}, ${ctx.remoteAddress}`;
  out['x-forwarded-proto'] = incomingProto !== undefined && isProto(incomingProto) ? incomingProto.toLowerCase() : ctx.encrypted ? 'https' : 'http';
  if (incomingForwardedHost !== undefined && isHost(incomingForwardedHost)) out['x-forwarded-host'] = incomingForwardedHost;
  else if (host !== undefined && isHost(host)) out['x-forwarded-host'] = host;
  out['x-request-id'] = ctx.requestId;
  if (ctx.upgrade) {
    out.connection = 'upgrade';
    if (upgrade !== undefined && upgrade.toLowerCase() === 'websocket') out.upgrade = upgrade;
  }
  return out;
}

/**
 * The header names listed in `Connection` (RFC 9110 §7.6.1), lower-cased and `_`-folded, or
 * undefined when it lists nothing beyond the usual `keep-alive`/`close` (the common case costs
 * no allocation).
 */
function connectionOptions(value: string | string[] | undefined): string[] | undefined {
  if (value === undefined) return undefined;
  const joined = joinValues(value).toLowerCase();
  if (joined === 'keep-alive' || joined === 'close' || joined === 'upgrade') return undefined;
  const names: string[] = [];
  for (const part of joined.split(',')) {
    const name = part.trim().replaceAll('_', '-');
    if (name !== '') names.push(name);
  }
  return names;
}

function firstValue(value: string | string[]): string {
  return typeof value === 'string' ? value : (value[0] ?? '');
}

function joinValues(value: string | string[]): string {
  return typeof value === 'string' ? value : value.join(', ');
}

function isProto(value: string): boolean {
  const v = value.toLowerCase();
  return v === 'http' || v === 'https';
}

function isHost(value: string): boolean {
  return value.length <= MAX_HOST_LENGTH && HOST_HEADER.test(value);
}
