import { isIPv6 } from 'node:net';
import { Ajv, type ErrorObject } from 'ajv';
import { ConfigError, isGatewayError } from '../errors.js';
import { normalizeTarget } from '../proxy/target.js';
import { HOP_BY_HOP_HEADERS } from '../proxy/hop-by-hop.js';
import { parseAddressRule } from './cidr.js';
import { DEFAULTS, IDENTITY_HEADER_KEYS, type IdentityHeaderKey } from './defaults.js';
import { parseOrigin } from './origin.js';
import { describeValue, formatPath, formatProblems, inDocumentOrder, type ConfigProblem, type PathSegment } from './problems.js';
import { ALGORITHMS, ConfigSchema, type Config } from './schema.js';

/**
 * Checks a parsed YAML document against the configuration contract and returns it typed, or
 * throws `ConfigError` listing every problem at once, each with its path (`routes[2].auth.anyRole:
 * must NOT have fewer than 1 items`): a user fixing a config should not discover the mistakes one
 * start at a time (SPEC §6; oauth2-proxy does the same).
 */
export function validateConfig(raw: unknown): Config {
  const problems = collectConfigProblems(raw);
  if (problems.length > 0) throw new ConfigError(formatProblems(problems));
  return raw as Config;
}

/**
 * Every problem of a parsed document, in document order: the JSON Schema errors made readable,
 * and the checks a schema cannot express (unique names, references between sections, origins,
 * CIDRs, reserved headers). Where a semantic check explains a value better than the schema does (an `HS256` in
 * `algorithms`, an upstream with a path, `.inf`), its line replaces the schema's for that path.
 */
export function collectConfigProblems(raw: unknown): ConfigProblem[] {
  const findings = semanticProblems(raw);
  const explained = new Set(findings.filter((f) => f.replacesSchema).map((f) => formatPath(f.path)));
  const schema = schemaProblems(raw).filter((p) => !explained.has(formatPath(p.path)));
  return inDocumentOrder([...schema, ...findings.map(({ path, message }) => ({ path, message }))], raw);
}

// ---------------------------------------------------------------------------------------------
// JSON Schema errors → one readable line per problem

interface SchemaLike {
  readonly const?: unknown;
  readonly type?: string;
  readonly required?: readonly string[];
  readonly properties?: Record<string, unknown>;
}

/** How an `anyOf` failure is reported: through the errors of the one branch the value was meant for, or one summary line. */
interface UnionChoice {
  readonly error: ErrorObject;
  readonly branch: number | undefined;
  readonly summary: string;
}

/**
 * Compiled once, at import: compiling takes 100 ms or more, too slow to repeat for every gateway a
 * test starts. The compiled function is fixed code; the `errors` Ajv leaves on it are overwritten
 * by each call and read at once by `schemaErrors`, so nothing carries over from one call to the next.
 */
const checkSchema = new Ajv({ allErrors: true, strict: true, verbose: true }).compile(ConfigSchema);

function schemaErrors(raw: unknown): readonly ErrorObject[] {
  return checkSchema(raw) ? [] : [...(checkSchema.errors ?? [])];
}

function schemaProblems(raw: unknown): ConfigProblem[] {
  const errors = schemaErrors(raw);
  if (errors.length === 0) return [];
  const unions = errors.filter((e) => e.keyword === 'anyOf').map(chooseBranch);
  const visible = (e: ErrorObject) => unions.every((u) => !isInside(e, u.error) || branchOf(e, u.error) === u.branch);
  const problems: ConfigProblem[] = [];
  for (const error of errors) {
    if (!visible(error)) continue;
    if (error.keyword !== 'anyOf') problems.push(explain(error, raw));
    else {
      const union = unions.find((u) => u.error === error);
      if (union !== undefined && union.branch === undefined) problems.push({ path: toPath(error.instancePath, raw), message: union.summary });
    }
  }
  return problems;
}

function isInside(error: ErrorObject, union: ErrorObject): boolean {
  return (
    error !== union &&
    error.schemaPath.startsWith(`${union.schemaPath}/`) &&
    (error.instancePath === union.instancePath || error.instancePath.startsWith(`${union.instancePath}/`))
  );
}

function branchOf(error: ErrorObject, union: ErrorObject): number {
  return Number(error.schemaPath.slice(union.schemaPath.length + 1).split('/', 1)[0]);
}

/**
 * Ajv reports a failed `anyOf` as the errors of every branch, which for `auth: none | {...}` or
 * `jwks: {file} | {url}` is a wall of contradictions. The branch the user meant is the one whose
 * type matches the value and, among objects, whose required key is present (`file` vs `url`);
 * its errors are reported alone. With no such branch, one line names the alternatives.
 */
function chooseBranch(error: ErrorObject): UnionChoice {
  const branches = (Array.isArray(error.schema) ? error.schema : []) as SchemaLike[];
  const data: unknown = error.data;
  const got = ` (got ${describeValue(data)})`;
  if (branches.length > 0 && branches.every((b) => 'const' in b)) {
    return { error, branch: undefined, summary: `must be one of ${branches.map((b) => JSON.stringify(b.const)).join(', ')}${got}` };
  }
  let candidates = branches.flatMap((b, i) => (fitsType(b, data) ? [i] : []));
  if (candidates.length > 1 && isRecord(data)) {
    candidates = candidates.filter((i) => (branches[i]?.required ?? []).every((key) => Object.hasOwn(data, key)));
    if (candidates.length !== 1) {
      const keys = [...new Set(branches.flatMap((b) => b.required ?? []))].map((k) => JSON.stringify(k));
      const present = Object.keys(data).map((k) => JSON.stringify(k));
      return {
        error,
        branch: undefined,
        summary: `must have exactly one of the keys ${keys.join(', ')} (got ${present.length > 0 ? `keys ${present.join(', ')}` : 'an empty object'})`,
      };
    }
  }
  const [only] = candidates;
  if (candidates.length === 1 && only !== undefined && !('const' in (branches[only] ?? {}))) return { error, branch: only, summary: '' };
  return { error, branch: undefined, summary: `must be ${[...new Set(branches.map(describeBranch))].join(' or ')}${got}` };
}

function fitsType(schema: SchemaLike, data: unknown): boolean {
  if ('const' in schema) return typeof data === typeof schema.const && data !== null;
  switch (schema.type) {
    case 'object':
      return isRecord(data);
    case 'array':
      return Array.isArray(data);
    case 'integer':
    case 'number':
      return typeof data === 'number';
    case undefined:
      return true;
    default:
      return typeof data === schema.type;
  }
}

const TYPE_NAMES: Readonly<Record<string, string>> = Object.freeze({
  object: 'an object',
  array: 'a list',
  string: 'a string',
  integer: 'an integer',
  number: 'a number',
  boolean: 'a boolean (true or false)',
  null: 'null',
});

function describeBranch(schema: SchemaLike): string {
  if ('const' in schema) return JSON.stringify(schema.const);
  return typeName(schema.type ?? 'any value');
}

function typeName(type: string): string {
  return Object.hasOwn(TYPE_NAMES, type) ? (TYPE_NAMES[type] ?? type) : type;
}

/** Keywords whose Ajv message reads well once the offending value is shown next to it. */
const SHOW_VALUE = new Set(['pattern', 'minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum', 'multipleOf', 'enum', 'format']);

function explain(error: ErrorObject, root: unknown): ConfigProblem {
  const path = toPath(error.instancePath, root);
  const got = ` (got ${describeValue(error.data)})`;
  switch (error.keyword) {
    case 'additionalProperties': {
      const key = String(error.params['additionalProperty']);
      const allowed = Object.keys((error.parentSchema as SchemaLike | undefined)?.properties ?? {});
      return { path: [...path, key], message: unknownKey(key, allowed) };
    }
    case 'required':
      return { path: [...path, String(error.params['missingProperty'])], message: 'is required' };
    case 'type':
      return { path, message: `must be ${typeName(String(error.params['type']))}${got}` };
    case 'const':
      return { path, message: `must be ${JSON.stringify(error.params['allowedValue'])}${got}` };
    default:
      return { path, message: `${error.message ?? 'is invalid'}${SHOW_VALUE.has(error.keyword) ? got : ''}` };
  }
}

/** JSON Pointer → path segments; the document decides whether `/2` is an index or a key. */
function toPath(pointer: string, root: unknown): PathSegment[] {
  if (pointer === '') return [];
  const path: PathSegment[] = [];
  let node = root;
  for (const escaped of pointer.slice(1).split('/')) {
    const key = escaped.replaceAll('~1', '/').replaceAll('~0', '~');
    if (Array.isArray(node)) {
      const index = Number(key);
      path.push(index);
      node = node[index];
    } else {
      path.push(key);
      node = field(node, key);
    }
  }
  return path;
}

/**
 * Settings that other libraries have and this gateway refuses on purpose (security case 49): the
 * user gets the reason instead of a bare "unknown key".
 */
const KEY_HINTS: Readonly<Record<string, string>> = Object.freeze({
  allowStale: 'a cached token is never served past its lifetime (no stale entries)',
  cacheKeyBuilder: 'cached tokens are always keyed by the SHA-256 of the whole token',
  secret: 'HMAC (HS*) secrets are not supported; give the issuer its public keys through "jwks"',
  key: 'keys are read from a JWKS; give the issuer a "jwks" file or url',
  publicKey: 'keys are read from a JWKS; give the issuer a "jwks" file or url',
});

function unknownKey(key: string, allowed: readonly string[]): string {
  if (Object.hasOwn(KEY_HINTS, key)) return `unknown key: ${KEY_HINTS[key]}`;
  const lower = key.toLowerCase();
  const suggestion =
    allowed.find((a) => a.toLowerCase() === lower) ??
    allowed.find((a) => editDistance(a.toLowerCase(), lower) <= 2) ??
    (key.length >= 4 ? allowed.find((a) => a.toLowerCase().startsWith(lower)) : undefined);
  return suggestion === undefined ? 'unknown key' : `unknown key (did you mean "${suggestion}"?)`;
}

/** Levenshtein distance, bounded: keys are short and a difference of more than 2 is not a typo. */
function editDistance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 2) return 3;
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = (previous[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1);
      current.push(Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, substitution));
    }
    previous = current;
  }
  return previous[b.length] ?? 0;
}

// ---------------------------------------------------------------------------------------------
// Checks a schema cannot express. They read the raw document defensively (any value may have the
// wrong type, and the schema reports that) so that all problems come out in one run.

interface Finding extends ConfigProblem {
  /** This line explains the value better than the schema errors at the same path, which are dropped. */
  readonly replacesSchema: boolean;
}

type Report = (path: readonly PathSegment[], message: string, replacesSchema?: boolean) => void;

function semanticProblems(raw: unknown): Finding[] {
  const findings: Finding[] = [];
  const report: Report = (path, message, replacesSchema = false) => findings.push({ path, message, replacesSchema });
  checkFiniteNumbers(raw, [], report);
  const issuerNames = checkIssuers(listAt(raw, 'issuers'), report);
  checkTokenService(raw, issuerNames, report);
  checkDirectory(field(raw, 'directory'), report);
  if (field(raw, 'tokenService') !== undefined) issuerNames.add(DEFAULTS.tokenService.name);
  checkRoutes(listAt(raw, 'routes'), issuerNames, report);
  checkBasicExchange(raw, report);
  checkServer(raw, report);
  checkStore(field(raw, 'store'), report);
  checkIdentityHeaders(field(raw, 'identityHeaders'), report);
  return findings;
}

/** Deeper than any valid config; bounds the walk over a hostile document. */
const MAX_DEPTH = 16;

/**
 * YAML's `.inf` and `.nan` are numbers to JSON Schema's `maximum`. Every numeric setting is a
 * bounded count or duration, so a non-finite one is refused by name (fast-jwt #640: an infinite
 * clock tolerance accepts every expired token).
 */
function checkFiniteNumbers(value: unknown, path: PathSegment[], report: Report): void {
  if (typeof value === 'number' && !Number.isFinite(value)) {
    report(path, `must be a finite number (got ${describeValue(value)})`, true);
  } else if (path.length < MAX_DEPTH && Array.isArray(value)) {
    value.forEach((item, i) => checkFiniteNumbers(item, [...path, i], report));
  } else if (path.length < MAX_DEPTH && isRecord(value)) {
    for (const key of Object.keys(value)) checkFiniteNumbers(value[key], [...path, key], report);
  }
}

const ASYMMETRIC = 'only asymmetric algorithms (RS*, PS*, ES*, EdDSA) are allowed';

/**
 * A gateway with nothing to trust would refuse every credential; the local issuer's name is
 * reserved, and its `iss` may not be shared with an external issuer (a token would then verify
 * against a key of the wrong issuer; security case 17).
 */
function checkTokenService(raw: unknown, issuerNames: ReadonlySet<string>, report: Report): void {
  const tokenService = field(raw, 'tokenService');
  const issuers = listAt(raw, 'issuers');
  if (isRecord(raw) && tokenService === undefined && field(raw, 'issuers') === undefined) {
    report(['issuers'], 'configure at least one issuer, or the tokenService');
  }
  if (tokenService === undefined) return;
  const local = DEFAULTS.tokenService.name;
  if (issuerNames.has(local)) {
    const i = issuers.findIndex((issuer) => field(issuer, 'name') === local);
    report(['issuers', i, 'name'], `"${local}" is the name of the tokenService issuer; choose another`);
  }
  const iss = field(tokenService, 'issuer');
  issuers.forEach((issuer, i) => {
    if (typeof iss === 'string' && field(issuer, 'issuer') === iss) report(['issuers', i, 'issuer'], 'is the tokenService issuer too; an issuer is trusted once');
  });
}

/** Role ids are the directory's keys; every referenced id must exist. */
function checkDirectory(directory: unknown, report: Report): void {
  const roles = listAt(directory, 'roles');
  checkUnique(roles, ['directory', 'roles'], 'id', report);
  checkUnique(roles, ['directory', 'roles'], 'key', report);
  const ids = new Set(roles.map((role) => field(role, 'id')));
  listAt(directory, 'defaultRoleIds').forEach((id, i) => {
    if (typeof id === 'string' && !ids.has(id)) report(['directory', 'defaultRoleIds', i], `no role has the id ${JSON.stringify(id)}`);
  });
}

function checkIssuers(issuers: readonly unknown[], report: Report): Set<string> {
  checkUnique(issuers, ['issuers'], 'name', report);
  checkUnique(issuers, ['issuers'], 'issuer', report);
  issuers.forEach((issuer, i) => {
    listAt(issuer, 'algorithms').forEach((alg, j) => {
      if (typeof alg !== 'string' || (ALGORITHMS as readonly string[]).includes(alg)) return;
      const path = ['issuers', i, 'algorithms', j];
      // RFC 8725 §3.1-3.2: `none` disables the signature, and an HS* algorithm lets a public key
      // be used as an HMAC secret (CVE-2023-48223 and its relatives).
      if (/^none$/i.test(alg)) report(path, `"${alg}" is not allowed: unsigned tokens are never accepted; ${ASYMMETRIC}`, true);
      else if (/^HS\d+$/i.test(alg)) report(path, `"${alg}" is not allowed: HMAC (HS*) secrets are not supported at all; ${ASYMMETRIC}`, true);
      else report(path, `"${alg}" is not a supported algorithm; use one of ${ALGORITHMS.join(', ')}`, true);
    });
    const jwks = field(issuer, 'jwks');
    const url = field(jwks, 'url');
    if (typeof url === 'string') {
      const problem = httpUrlProblem(url);
      if (problem !== undefined) report(['issuers', i, 'jwks', 'url'], `${problem} (got ${describeValue(url)})`, true);
      const before = field(jwks, 'refreshBeforeSeconds');
      const ttlValue = setting(field(jwks, 'cacheTtlSeconds'), DEFAULTS.jwksUrl.cacheTtlSeconds, 1);
      const beforeValue = setting(before, DEFAULTS.jwksUrl.refreshBeforeSeconds, 1);
      if (ttlValue !== undefined && beforeValue !== undefined && beforeValue >= ttlValue) {
        report(
          ['issuers', i, 'jwks', before !== undefined ? 'refreshBeforeSeconds' : 'cacheTtlSeconds'],
          `refreshBeforeSeconds (${beforeValue}) must be less than cacheTtlSeconds (${ttlValue}), or the key set is refetched without pause`,
        );
      }
    }
    const liveness = field(issuer, 'liveness');
    const pgUrl = field(field(liveness, 'postgres'), 'url');
    if (typeof pgUrl === 'string' && !/^postgres(ql)?:\/\//.test(pgUrl)) report(['issuers', i, 'liveness', 'postgres', 'url'], 'must be a postgres:// or postgresql:// URL', true);
    const apiUrl = field(field(liveness, 'issuerApi'), 'url');
    if (typeof apiUrl === 'string') {
      const problem = httpUrlProblem(apiUrl);
      if (problem !== undefined) report(['issuers', i, 'liveness', 'issuerApi', 'url'], `${problem} (got ${describeValue(apiUrl)})`, true);
    }
  });
  return new Set(issuers.map((issuer) => field(issuer, 'name')).filter((name) => typeof name === 'string'));
}

function httpUrlProblem(text: string): string | undefined {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return 'is not a valid URL';
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return 'must use http or https';
  if (url.username !== '' || url.password !== '') return 'must not contain credentials';
  if (text.includes('#')) return 'must not contain a fragment';
  return undefined;
}

const HOST_LABEL = '[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?';
const HOST_NAME = new RegExp(`^${HOST_LABEL}(?:\\.${HOST_LABEL})*\\.?$`, 'i');

function isHost(text: string): boolean {
  if (text.startsWith('[') && text.endsWith(']')) return isIPv6(text.slice(1, -1));
  return text.length <= 254 && HOST_NAME.test(text);
}

/** The host as the route matcher compares it: lower-case, without the DNS root dot. */
function hostKey(host: string): string {
  return host.toLowerCase().replace(/\.$/, '');
}

function checkRoutes(routes: readonly unknown[], issuerNames: ReadonlySet<string>, report: Report): void {
  checkUnique(routes, ['routes'], 'name', report);
  const claimed = new Map<string, number>();
  routes.forEach((route, i) => {
    const at = (...rest: PathSegment[]) => ['routes', i, ...rest];

    const host = field(route, 'host');
    const hostOk = typeof host !== 'string' || isHost(host);
    if (!hostOk) report(at('host'), `must be a host name or IP address, without scheme, port or path (got ${describeValue(host)})`, true);

    const prefix = field(route, 'pathPrefix');
    const matchPath = typeof prefix === 'string' ? prefixMatchPath(prefix, at('pathPrefix'), report) : undefined;
    if (matchPath !== undefined && hostOk) {
      // `/api` and `/API/` select the same requests (matching ignores case and is per segment).
      const key = `${typeof host === 'string' ? hostKey(host) : '*'} ${matchPath.replace(/\/$/, '')}`;
      const first = claimed.get(key);
      if (first === undefined) claimed.set(key, i);
      else report(at('pathPrefix'), `routes[${first}] already has this pathPrefix${typeof host === 'string' ? ' and host' : ''}`);
    }

    const upstream = field(route, 'upstream');
    if (typeof upstream === 'string') {
      const origin = parseOrigin(upstream);
      if (!origin.ok) report(at('upstream'), `${origin.reason} (got ${describeValue(upstream)})`, true);
    }

    listAt(field(route, 'auth'), 'issuers').forEach((name, j) => {
      if (typeof name === 'string' && !issuerNames.has(name)) {
        const known = [...issuerNames].map((n) => JSON.stringify(n)).join(', ');
        report(at('auth', 'issuers', j), `no issuer is named ${JSON.stringify(name)} (configured: ${known === '' ? 'none' : known})`);
      }
    });

    listAt(field(route, 'websocket'), 'allowedOrigins').forEach((text, j) => {
      if (typeof text !== 'string') return;
      const origin = parseOrigin(text);
      if (!origin.ok) report(at('websocket', 'allowedOrigins', j), `${origin.reason} (got ${describeValue(text)})`, true);
    });
  });
}

const BASIC_NEEDS_TOKEN_SERVICE = 'needs the tokenService: Basic client credentials are checked and exchanged by the built-in token service';

/** Exchange at the edge is the token service's exchange: without it, the setting could only refuse every request. */
function checkBasicExchange(raw: unknown, report: Report): void {
  if (field(raw, 'tokenService') !== undefined) return;
  const basicExchange = field(field(raw, 'auth'), 'basicExchange');
  for (const key of ['enabled', 'forwardJwt']) {
    if (field(basicExchange, key) === true) report(['auth', 'basicExchange', key], BASIC_NEEDS_TOKEN_SERVICE);
  }
  listAt(raw, 'routes').forEach((route, i) => {
    if (field(field(route, 'auth'), 'basic') === true) report(['routes', i, 'auth', 'basic'], BASIC_NEEDS_TOKEN_SERVICE);
  });
}

/**
 * The prefix as the route matcher sees it, through the same normalisation as request paths: a
 * prefix that no normalised request path can start with (a dot segment, `//`, `;`, an encoded
 * `/`) would be a route that silently never matches.
 */
function prefixMatchPath(prefix: string, path: readonly PathSegment[], report: Report): string | undefined {
  try {
    const target = normalizeTarget(prefix);
    if (target.query === '' && !prefix.includes('?')) return target.matchPath;
    report(path, `must be a path without a query (got ${describeValue(prefix)})`, true);
  } catch (err) {
    if (!isGatewayError(err)) throw err;
    report(path, `must be a normalised path starting with "/": ${err.detail ?? 'invalid'} (got ${describeValue(prefix)})`, true);
  }
  return undefined;
}

/** The postgres driver has no default database: it needs its URL, and only it takes one. */
function checkStore(store: unknown, report: Report): void {
  const driver = field(store, 'driver');
  const url = field(store, 'url');
  if (driver === 'postgres') {
    if (url === undefined) report(['store'], 'store.url is required when store.driver is postgres (postgres://user:password@host:5432/database)');
    else if (typeof url === 'string' && !/^postgres(ql)?:\/\//.test(url)) report(['store', 'url'], 'must be a postgres:// or postgresql:// URL', true);
  } else if (url !== undefined && isRecord(store)) {
    report(['store', 'url'], 'is used only by store.driver postgres');
  }
}

function checkServer(raw: unknown, report: Report): void {
  const server = field(raw, 'server');
  listAt(server, 'trustedProxies').forEach((entry, i) => {
    if (typeof entry === 'string' && parseAddressRule(entry) === undefined) {
      report(['server', 'trustedProxies', i], `must be an IPv4 or IPv6 address or CIDR block (got ${describeValue(entry)})`, true);
    }
  });

  // Node refuses to create a server whose headersTimeout exceeds its requestTimeout.
  const headers = field(server, 'headersTimeoutMs');
  const headersValue = setting(headers, DEFAULTS.server.headersTimeoutMs, 1);
  const requestValue = setting(field(server, 'requestTimeoutMs'), DEFAULTS.server.requestTimeoutMs, 1);
  if (headersValue !== undefined && requestValue !== undefined && headersValue > requestValue) {
    report(
      ['server', headers !== undefined ? 'headersTimeoutMs' : 'requestTimeoutMs'],
      `headersTimeoutMs (${headersValue}) must not exceed requestTimeoutMs (${requestValue})`,
    );
  }

  // Port 0 asks the OS for a free port, so two zeros never collide.
  const adminPort = field(field(raw, 'admin'), 'port');
  const portValue = setting(field(server, 'port'), DEFAULTS.server.port, 0);
  const adminValue = setting(adminPort, DEFAULTS.admin.port, 0);
  if (portValue !== undefined && portValue !== 0 && portValue === adminValue) {
    report(adminPort !== undefined ? ['admin', 'port'] : ['server', 'port'], `the proxy and the admin listener cannot share port ${portValue}`);
  }
}

/**
 * Headers an identity header may never be: hop-by-hop headers (RFC 9110 §7.6.1) vanish at the
 * first proxy, and the rest carry the client's credential, the request's routing, framing or
 * provenance. Injecting into one of them — or stripping it as "identity" — would break the
 * request or let the gateway overwrite what the upstream trusts for something else.
 */
const RESERVED_HEADERS: ReadonlySet<string> = new Set([
  ...HOP_BY_HOP_HEADERS,
  'host',
  'authorization',
  'x-api-key',
  'forwarded',
  'x-request-id',
  'content-length',
]);

const FORWARDED_PREFIX = 'x-forwarded-';

function isReserved(name: string): boolean {
  return RESERVED_HEADERS.has(name) || name.startsWith(FORWARDED_PREFIX);
}

const RESERVED_WHY = 'is a reserved header (hop-by-hop, credential, routing, framing or x-forwarded-*)';

function checkIdentityHeaders(identity: unknown, report: Report): void {
  const prefix = field(identity, 'prefix');
  if (typeof prefix === 'string') {
    const lower = prefix.toLowerCase();
    const covered = [...RESERVED_HEADERS].filter((h) => h.startsWith(lower));
    if (FORWARDED_PREFIX.startsWith(lower) || lower.startsWith(FORWARDED_PREFIX)) covered.push(`${FORWARDED_PREFIX}*`);
    if (covered.length > 0) {
      report(['identityHeaders', 'prefix'], `${JSON.stringify(prefix)} would also drop reserved headers (${covered.join(', ')})`);
    }
  }

  listAt(identity, 'strip').forEach((name, i) => {
    if (typeof name === 'string' && isReserved(name.toLowerCase())) {
      report(['identityHeaders', 'strip', i], `${JSON.stringify(name)} ${RESERVED_WHY} and cannot be stripped as an identity header`);
    }
  });

  // Defaults take part: `roles: x-auth-user-id` collides with the default userId header.
  const names = field(identity, 'names');
  const owner = new Map<string, IdentityHeaderKey>();
  for (const key of IDENTITY_HEADER_KEYS) {
    const configured = field(names, key);
    if (configured !== undefined && typeof configured !== 'string') continue;
    const name = configured?.toLowerCase() ?? DEFAULTS.identityHeaders.names[key];
    if (configured !== undefined && isReserved(name)) {
      report(['identityHeaders', 'names', key], `${JSON.stringify(configured)} ${RESERVED_WHY} and cannot carry identity`);
    }
    const other = owner.get(name);
    if (other === undefined) owner.set(name, key);
    else if (configured !== undefined) report(['identityHeaders', 'names', key], `${JSON.stringify(name)} is already the header for ${other}`);
    else report(['identityHeaders', 'names', other], `${JSON.stringify(name)} is also the default header for ${key}; give ${key} a name too`);
  }
}

/** Reports every item whose `key` repeats an earlier item's, naming the earlier one. */
function checkUnique(items: readonly unknown[], list: readonly PathSegment[], key: string, report: Report): void {
  const seen = new Map<string, number>();
  items.forEach((item, i) => {
    const value = field(item, key);
    if (typeof value !== 'string') return;
    const first = seen.get(value);
    if (first === undefined) seen.set(value, i);
    else report([...list, i, key], `${JSON.stringify(value)} is already the ${key} of ${formatPath([...list, first])}`);
  });
}

/**
 * A numeric setting as it will run: the configured value, or the default when it is left out;
 * undefined when the configured value is not a usable integer (the schema reports that, and a
 * comparison with it would only add noise).
 */
function setting(value: unknown, fallback: number, min: number): number | undefined {
  if (value === undefined) return fallback;
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= min ? value : undefined;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** An own property of an object; never one inherited from `Object.prototype`. */
function field(value: unknown, key: string): unknown {
  return isRecord(value) && Object.hasOwn(value, key) ? value[key] : undefined;
}

function listAt(value: unknown, key: string): readonly unknown[] {
  const list = field(value, key);
  return Array.isArray(list) ? list : [];
}
