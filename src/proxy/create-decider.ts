import type { Authenticator } from '../auth/authenticator.js';
import { decodeBasicCredentials, type BasicCredentials } from '../auth/basic.js';
import type { Credential, CredentialKind, Identity } from '../auth/identity.js';
import { tokenFingerprint as fingerprintOf } from '../auth/token-hash.js';
import type { CompiledConfig, CompiledRoute } from '../config/types.js';
import { GatewayError, isGatewayError } from '../errors.js';
import { authorize } from './authorize.js';
import type { Decide, Decision, Deny, OutgoingHeaders, RequestFacts } from './decide.js';
import { extractCredential } from './extract.js';
import { createIdentityHeaderBuilder } from './identity-headers.js';
import { createRouteMatcher } from './route-match.js';
import { sanitizeHeaders } from './sanitize.js';
import { normalizeTarget } from './target.js';

/** The part of the configuration the decision reads. */
export type DeciderConfig = Pick<CompiledConfig, 'routes' | 'identityHeaders' | 'server' | 'auth'>;

/**
 * Builds the proxy's decision function (SPEC §5; STYLE "the auth decision is one function"):
 * normalise the target → match a route (none: `ERR_ROUTE_NOT_FOUND`) → WebSocket checks for an
 * upgrade → sanitize the headers (always, public routes too) → public route: allow → extract the
 * credential (none: `ERR_AUTH_MISSING`) → authenticate → authorize → inject the identity headers.
 *
 * On a route with `auth.basic`, `Authorization: Basic` client credentials are exchanged at the
 * edge (`deps.exchangeBasic`: the token endpoint's exchange, cached) and the request goes on as if
 * it carried the JWT the exchange issued: the same verification, liveness check, requirements and
 * identity headers. The client's Basic header never reaches the upstream, whatever
 * `forwardCredentials` says; with `auth.basicExchange.forwardJwt` the minted JWT does, as Bearer.
 * Logs and metrics name the kind `basic` and carry the fingerprint of the clientId, never of the secret.
 *
 * The returned function never throws a `GatewayError`: every refusal is a `Deny` carrying the
 * route, credential kind and token fingerprint known so far, for the access log and metrics. Any
 * other exception (a bug in a dependency) is rethrown so the caller answers 500 — a refusal must
 * never be mistaken for a broken authenticator, nor a broken authenticator hidden as a 401.
 *
 * Everything that depends only on the config (route index, header builder, origin sets) is
 * prepared here; a request allocates its headers object and its decision, little else.
 */
export interface DeciderDeps {
  readonly authenticator: Authenticator;
  /**
   * Liveness checks by issuer name (SPEC §3, §5): the token service's own, and those of issuers
   * configured with a liveness source, run after the signature and claims are verified. The result
   * — current roles and permissions — is what is authorized and injected. A `GatewayError` denies
   * (ERR_AUTH_REVOKED → 401); anything else is a broken store and becomes 503, never an allow.
   */
  readonly liveness?: ReadonlyMap<string, (identity: Identity) => Promise<Identity>>;
  /**
   * Exchange at the edge (the token service's `exchangeAtEdge`): the JWT for a client's id and
   * secret, asked from the socket peer (the rate limits' key). Refusals are `GatewayError`s
   * (ERR_TOKEN_INVALID_CLIENT, ERR_TOKEN_RATE_LIMITED); anything else becomes 503.
   */
  readonly exchangeBasic?: (credentials: BasicCredentials, peer: string) => Promise<string>;
}

export function createDecider(config: DeciderConfig, deps: DeciderDeps): Decide {
  const matchRoute = createRouteMatcher(config.routes);
  const identityHeaders = createIdentityHeaderBuilder(config.identityHeaders);
  const { authenticator, liveness, exchangeBasic } = deps;
  const { isTrustedProxy } = config.server;
  const { maxTokenBytes } = config.auth;
  const { forwardJwt } = config.auth.basicExchange;
  const identityNamespace = config.identityHeaders;
  const allowedOrigins = websocketOrigins(config.routes);
  // An Identity is built once per token and cached by the authenticator (identity.ts), so the
  // fingerprint of a cached token is hashed once, not on every request: SHA-256 of a 1 KB JWT is
  // the most expensive step of the cached path after the authenticator's own hash.
  const fingerprints = new WeakMap<Identity, string>();

  return async function decide(facts: RequestFacts): Promise<Decision> {
    let route: CompiledRoute | undefined;
    let credentialKind: CredentialKind | undefined;
    let tokenFingerprint: string | undefined;
    let token: string | undefined;
    try {
      const target = normalizeTarget(facts.url);
      // RFC 9112 §3.2: more than one Host line is a 400. Node keeps the first for routing while
      // another hop may read the last, so the two would authorise different routes (case 42).
      if (hostLines(facts.rawHeaders) > 1) throw new GatewayError('ERR_REQUEST_INVALID', 'more than one Host line');
      route = matchRoute(facts.headers.host, facts.method, target.matchPath);
      if (route === undefined) throw new GatewayError('ERR_ROUTE_NOT_FOUND');

      if (facts.upgrade) checkUpgrade(route, facts, allowedOrigins);

      const headers = sanitizeHeaders(facts.headers, {
        route,
        identity: identityNamespace,
        remoteAddress: facts.remoteAddress,
        encrypted: facts.encrypted,
        isTrustedProxy,
        requestId: facts.requestId,
        upgrade: facts.upgrade,
      });
      if (route.auth === null) return allow(route, target.path, headers, undefined, undefined, undefined);

      const credential = extractCredential(facts.rawHeaders, route.auth.basic);
      if (credential === undefined) throw new GatewayError('ERR_AUTH_MISSING');
      credentialKind = credential.kind;
      // Case 5: refused on its size alone, before any hashing, decoding or crypto.
      if (credential.token.length > maxTokenBytes) throw new GatewayError('ERR_AUTH_TOO_LARGE');

      let presented: Credential = credential;
      let minted: string | undefined;
      if (credential.kind === 'basic') {
        const client = decodeBasicCredentials(credential.token);
        if (client === undefined) throw new GatewayError('ERR_AUTH_MALFORMED', 'Basic credentials are not clientId:secret');
        // The clientId stands in for the token in logs: the secret is never hashed into a log line.
        token = client.clientId;
        tokenFingerprint = fingerprintOf(client.clientId);
        minted = await exchangeAtEdge(exchangeBasic, client, facts.remoteAddress);
        presented = { kind: 'bearer', token: minted };
      } else {
        token = credential.token;
      }

      const verified = await authenticator.authenticate(presented);
      if (tokenFingerprint === undefined) tokenFingerprint = fingerprints.get(verified);
      if (tokenFingerprint === undefined) {
        tokenFingerprint = fingerprintOf(token);
        fingerprints.set(verified, tokenFingerprint);
      }
      const check = liveness?.get(verified.issuer);
      const identity = check === undefined ? verified : await checkLive(check, verified);
      const forbidden = authorize(route.auth, identity);
      if (forbidden !== undefined) throw forbidden;

      // Ours overwrite: sanitize already removed every inbound header of the namespace.
      const injected = identityHeaders(identity);
      for (const name in injected) headers[name] = injected[name]!;
      if (minted !== undefined) {
        delete headers.authorization;
        if (forwardJwt) headers.authorization = `Bearer ${minted}`;
      }
      return allow(route, target.path, headers, identity, credentialKind, tokenFingerprint);
    } catch (err) {
      if (!isGatewayError(err)) throw err;
      if (token !== undefined && tokenFingerprint === undefined) tokenFingerprint = fingerprintOf(token);
      return deny(route, credentialKind, tokenFingerprint, err);
    }
  };
}

function hostLines(rawHeaders: readonly string[]): number {
  let count = 0;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!;
    if (name.length === 4 && name.toLowerCase() === 'host') count++;
  }
  return count;
}

/** A deleted credential is refused at once (SPEC §3); a store that cannot answer fails closed with 503. */
async function checkLive(check: (identity: Identity) => Promise<Identity>, identity: Identity): Promise<Identity> {
  try {
    return await check(identity);
  } catch (err) {
    if (isGatewayError(err)) throw err;
    throw new GatewayError('ERR_STORE_UNAVAILABLE', 'liveness check failed', { cause: err });
  }
}

/** The JWT for Basic client credentials; a failure that is not a refusal is a broken store: 503, never an allow. */
async function exchangeAtEdge(exchange: DeciderDeps['exchangeBasic'], client: BasicCredentials, peer: string): Promise<string> {
  if (exchange === undefined) throw new GatewayError('ERR_INTERNAL', 'route allows Basic without a token service');
  try {
    return await exchange(client, peer);
  } catch (err) {
    if (isGatewayError(err)) throw err;
    throw new GatewayError('ERR_STORE_UNAVAILABLE', 'exchange at the edge failed', { cause: err });
  }
}

/**
 * A WebSocket upgrade is authenticated like any request, and refused before any upstream
 * connection when the route does not take upgrades, the protocol is not `websocket`, or the
 * browser's `Origin` is not allowed (case 46: cross-site WebSocket hijacking; RFC 6455 §10.2).
 * An absent `Origin` is allowed: non-browser clients do not send it, and a browser always does.
 */
function checkUpgrade(route: CompiledRoute, facts: RequestFacts, allowedOrigins: ReadonlyMap<CompiledRoute, ReadonlySet<string>>): void {
  const origins = allowedOrigins.get(route);
  if (origins === undefined) throw new GatewayError('ERR_REQUEST_INVALID', 'route refuses upgrades');
  const upgrade = facts.headers.upgrade;
  if (upgrade === undefined || upgrade.toLowerCase() !== 'websocket') {
    throw new GatewayError('ERR_REQUEST_INVALID', 'upgrade to something other than websocket');
  }
  const origin = facts.headers.origin;
  if (origin !== undefined && !origins.has(origin.toLowerCase())) throw new GatewayError('ERR_ORIGIN_FORBIDDEN');
}

/** Per route, its allowed origins lower-cased (RFC 6454 §6.2: scheme and host are case-insensitive). */
function websocketOrigins(routes: readonly CompiledRoute[]): ReadonlyMap<CompiledRoute, ReadonlySet<string>> {
  const map = new Map<CompiledRoute, ReadonlySet<string>>();
  for (const route of routes) {
    if (route.websocket === undefined) continue;
    map.set(route, new Set([...route.websocket.allowedOrigins].map((o) => o.toLowerCase())));
  }
  return map;
}

function allow(
  route: CompiledRoute,
  path: string,
  headers: OutgoingHeaders,
  identity: Identity | undefined,
  credentialKind: CredentialKind | undefined,
  tokenFingerprint: string | undefined,
): Decision {
  return { allow: true, route, path, headers, identity, credentialKind, tokenFingerprint };
}

function deny(
  route: CompiledRoute | undefined,
  credentialKind: CredentialKind | undefined,
  tokenFingerprint: string | undefined,
  error: GatewayError,
): Deny {
  return { allow: false, route, credentialKind, tokenFingerprint, error };
}
