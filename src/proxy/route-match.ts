import type { CompiledRoute } from '../config/types.js';
import { ConfigError, isGatewayError } from '../errors.js';
import { normalizeTarget } from './target.js';

/** Finds the route for a request, or undefined when none applies (the caller answers 404). */
export type RouteMatcher = (host: string | undefined, method: string, matchPath: string) => CompiledRoute | undefined;

interface Candidate {
  readonly route: CompiledRoute;
  /** The prefix normalised like a request path (see `normalizeTarget`) and lower-cased. */
  readonly prefix: string;
  /** A prefix ending in `/` matches everything below it; otherwise the next char must be `/`. */
  readonly open: boolean;
  /** Lower-case host without port, or undefined for any host. */
  readonly host: string | undefined;
}

const SLASH = 0x2f;

/**
 * Builds the route matcher once per config. The longest prefix wins, compared per path segment
 * and without regard to case (`matchPath` is already lower-cased by `normalizeTarget`); at equal
 * length a host-specific route beats an any-host route; a route whose `methods` exclude the
 * request's method is skipped so the next candidate can match (SPEC §5 "Routes").
 *
 * Everything the per-request path needs is prepared here: prefixes normalised and lower-cased,
 * and for each configured host one list holding its own routes merged with the any-host routes
 * in match order. A request then costs one `Map` lookup and a scan with `startsWith`.
 *
 * Throws `ConfigError` when a prefix could never equal a normalised request path (a dot segment,
 * `;`, an encoded `/`...): such a route would silently never match.
 */
export function createRouteMatcher(routes: readonly CompiledRoute[]): RouteMatcher {
  const problems: string[] = [];
  const candidates: Candidate[] = [];
  for (const route of routes) {
    const prefix = normalizePrefix(route, problems);
    if (prefix === undefined) continue;
    candidates.push({
      route,
      prefix,
      open: prefix.charCodeAt(prefix.length - 1) === SLASH,
      host: route.host === undefined ? undefined : normalizeHost(route.host),
    });
  }
  if (problems.length > 0) throw new ConfigError(problems);

  // Array.prototype.sort is stable, so routes equal in length and host keep their config order.
  candidates.sort((a, b) => b.prefix.length - a.prefix.length || rankHost(a) - rankHost(b));

  const anyHost = Object.freeze(candidates.filter((c) => c.host === undefined));
  const byHost = new Map<string, readonly Candidate[]>();
  for (const c of candidates) {
    if (c.host !== undefined && !byHost.has(c.host)) {
      byHost.set(c.host, Object.freeze(candidates.filter((d) => d.host === undefined || d.host === c.host)));
    }
  }

  return function matchRoute(host, method, matchPath) {
    // Only parse the Host header when some route depends on it.
    const list = byHost.size === 0 || host === undefined ? anyHost : (byHost.get(normalizeHost(host)) ?? anyHost);
    for (let i = 0; i < list.length; i++) {
      const c = list[i]!;
      if (!matchPath.startsWith(c.prefix)) continue;
      // Per segment: `/api` matches `/api` and `/api/x` but not `/apix`.
      if (!c.open && matchPath.length !== c.prefix.length && matchPath.charCodeAt(c.prefix.length) !== SLASH) continue;
      if (c.route.methods !== undefined && !c.route.methods.has(method)) continue;
      return c.route;
    }
    return undefined;
  };
}

function rankHost(c: Candidate): number {
  return c.host === undefined ? 1 : 0;
}

function normalizePrefix(route: CompiledRoute, problems: string[]): string | undefined {
  try {
    const target = normalizeTarget(route.pathPrefix);
    if (target.query === '' && !route.pathPrefix.includes('?')) return target.matchPath;
  } catch (err) {
    if (!isGatewayError(err)) throw err;
  }
  problems.push(`routes.${route.name}.pathPrefix: not a normalised path (no dot segments, "//", ";", "?", encoded "/" or "\\")`);
  return undefined;
}

/**
 * Host header → comparable form: lower-case, port removed (also after an IPv6 literal), one
 * trailing dot removed (`api.example.com.` is the same DNS name).
 */
function normalizeHost(host: string): string {
  let end = host.length;
  if (host.charCodeAt(0) === 0x5b /* [ */) {
    const close = host.indexOf(']');
    if (close !== -1) end = close + 1;
  } else {
    const colon = host.indexOf(':');
    if (colon !== -1) end = colon;
  }
  if (end > 0 && host.charCodeAt(end - 1) === 0x2e) end--;
  return (end === host.length ? host : host.slice(0, end)).toLowerCase();
}
