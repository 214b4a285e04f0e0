import { parseArgs } from 'node:util';
import { openTokenService, type OpenTokenService } from '../app.js';
import { systemClock, type Clock } from '../clock.js';
import { loadConfig } from '../config/load.js';
import type { CompiledConfig } from '../config/types.js';
import { ConfigError, errorBody, GatewayError, isGatewayError } from '../errors.js';
import { createLogger } from '../log.js';
import type { AccessTokenRecord, ApiTokenRecord, MembershipRecord, OwnerKind, TenantRecord } from '../store/types.js';
import type { Rotation, SigningKeyPublic } from '../tokens/keys.js';
import { KEY_RELOAD_INTERVAL_SECONDS } from '../tokens/keys.js';
import type { Scope } from '../tokens/types.js';
import { configPathOf, USAGE } from './usage.js';

/** What a command may touch of its process: main.ts passes `process.env`, stdout and stderr. */
export interface CliIo {
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly stdout: { write(text: string): unknown };
  /** Error messages, and log lines at warn and above (never a secret: see src/log.ts). */
  readonly stderr: { write(text: string): unknown };
}

export interface CliDeps {
  readonly clock?: Clock;
}

/** The command groups this module runs (SPEC §6 "credential commands", `keys rotate`). */
export const CREDENTIAL_COMMANDS: readonly string[] = ['tokens', 'tenants', 'members', 'keys'];

/** Exit codes (USAGE): 0 done, 1 the operation failed, 2 the command line is wrong. */
const OK = 0;
const FAILED = 1;
const USAGE_ERROR = 2;

/** A wrong command line: said with the usage, exit 2. */
class UsageError extends Error {}

const OPTIONS = {
  config: { type: 'string', short: 'c' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  kind: { type: 'string' },
  owner: { type: 'string' },
  tenant: { type: 'string' },
  user: { type: 'string' },
  'created-by': { type: 'string' },
  description: { type: 'string' },
  'expires-in-minutes': { type: 'string' },
  role: { type: 'string', multiple: true },
  permission: { type: 'string', multiple: true },
  metadata: { type: 'string' },
} as const;

type OptionName = keyof typeof OPTIONS;
type Values = { [K in OptionName]?: (typeof OPTIONS)[K] extends { multiple: true } ? string[] : (typeof OPTIONS)[K]['type'] extends 'boolean' ? boolean : string };

/** What a command prints: the JSON document for `--json`, the text otherwise. */
interface Output {
  readonly json: unknown;
  readonly text: string;
}

interface Context {
  readonly opened: OpenTokenService;
  readonly config: CompiledConfig;
  readonly clock: Clock;
  readonly values: Values;
  readonly args: readonly string[];
}

interface Command {
  /** Options besides --config, --json and --help. */
  readonly options: readonly OptionName[];
  /** The required ones; every missing one is named at once. */
  readonly required?: readonly OptionName[];
  /** Names of the positional arguments, all required. */
  readonly args?: readonly string[];
  /** More checks of the command line (UsageError). */
  readonly check?: (values: Values) => void;
  readonly run: (context: Context) => Promise<Output>;
}

const TOKEN_SCOPE: readonly OptionName[] = ['kind', 'owner', 'tenant', 'user'];

const COMMANDS: Readonly<Record<string, Readonly<Record<string, Command>>>> = {
  tokens: {
    create: {
      options: [...TOKEN_SCOPE, 'created-by', 'description', 'expires-in-minutes', 'role', 'permission', 'metadata'],
      required: ['kind', 'owner', 'tenant'],
      check: (values) => checkTokenOptions(values, true),
      run: createToken,
    },
    list: { options: TOKEN_SCOPE, required: ['kind', 'owner', 'tenant'], check: (values) => checkTokenOptions(values, false), run: listTokens },
    revoke: { options: TOKEN_SCOPE, required: ['kind', 'owner', 'tenant'], args: ['TOKEN_ID'], check: (values) => checkTokenOptions(values, false), run: revokeToken },
  },
  tenants: {
    list: { options: [], run: async ({ opened }) => tenantsOutput(await opened.directory.listTenants()) },
    add: {
      options: [],
      args: ['TENANT'],
      run: async ({ opened, args }) => {
        const tenant = tenantView(await opened.directory.putTenant(args[0]!));
        return { json: tenant, text: `Tenant ${tenant.tenantId} added (created ${tenant.createdAt}).\n` };
      },
    },
    remove: {
      options: [],
      args: ['TENANT'],
      run: async ({ opened, args }) => {
        const tenantId = args[0]!;
        if (!(await opened.directory.deleteTenant(tenantId))) throw new GatewayError('ERR_NOT_FOUND', `no tenant ${quoted(tenantId)}`);
        return { json: { removed: { tenantId } }, text: `Tenant ${tenantId} removed; every credential on it is revoked.\n` };
      },
    },
  },
  members: {
    list: { options: ['tenant'], required: ['tenant'], run: async ({ opened, values }) => membersOutput(await opened.directory.listMemberships(values.tenant!)) },
    add: {
      options: ['tenant', 'user', 'role'],
      required: ['tenant', 'user'],
      run: async ({ opened, values }) => {
        const member = membershipView(await opened.directory.putMembership(values.tenant!, values.user!, values.role));
        return { json: member, text: `User ${member.userId} is a member of tenant ${member.tenantId} with roles: ${list(member.roleIds)}.\n` };
      },
    },
    remove: {
      options: ['tenant', 'user'],
      required: ['tenant', 'user'],
      run: async ({ opened, values }) => {
        const { tenant: tenantId, user: userId } = values as Required<Pick<Values, 'tenant' | 'user'>>;
        if (!(await opened.directory.deleteMembership(tenantId, userId))) throw new GatewayError('ERR_NOT_FOUND', `user ${quoted(userId)} is not a member of tenant ${quoted(tenantId)}`);
        return { json: { removed: { tenantId, userId } }, text: `User ${userId} removed from tenant ${tenantId}; the user's tokens on it stop working.\n` };
      },
    },
  },
  keys: {
    list: { options: [], run: async ({ opened, clock }) => keysOutput(opened.keys.published(), clock.now()) },
    rotate: { options: [], run: async ({ opened, clock }) => rotationOutput(await opened.keys.rotate(), clock.now()) },
  },
};

/**
 * Runs a credential command (`tokens`, `tenants`, `members`, `keys`; USAGE) against the store and
 * keys of the configured token service, through the same TokenService, Directory and KeyManager as
 * the HTTP API: one validation, one hashing, the same log events. No listener is started.
 * `argv` starts with the command group. Returns the exit code.
 */
export async function runCredentialCommand(argv: readonly string[], io: CliIo, deps: CliDeps = {}): Promise<number> {
  let parsed: { command: Command; values: Values; args: string[] };
  try {
    const help = parseHelp(argv);
    if (help) {
      io.stdout.write(USAGE);
      return OK;
    }
    parsed = parseCommandLine(argv);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    io.stderr.write(`m2m-gateway: ${err.message}\n\n${USAGE}`);
    return USAGE_ERROR;
  }
  const { command, values, args } = parsed;
  const path = configPathOf(values.config, io.env);
  const fail = (err: unknown): number => {
    io.stderr.write(`${failureText(path, err)}\n`);
    if (values.json === true && isGatewayError(err)) io.stdout.write(`${errorBody(err)}\n`);
    return FAILED;
  };
  let opened: OpenTokenService;
  let config: CompiledConfig;
  const clock = deps.clock ?? systemClock;
  try {
    config = loadConfig(path, io.env);
    if (config.store.driver === 'memory') {
      throw new GatewayError('ERR_CONFIG_INVALID', 'store.driver is memory: the gateway would never see what this process writes; use the sqlite or postgres store');
    }
    // stdout carries the result only: log lines go to stderr, and only warnings and worse.
    const log = createLogger({ level: 'warn', destination: io.stderr });
    opened = await openTokenService(config, { log, clock });
  } catch (err) {
    return fail(err);
  }
  try {
    const output = await command.run({ opened, config, clock, values, args });
    io.stdout.write(values.json === true ? `${JSON.stringify(output.json, null, 2)}\n` : output.text);
    return OK;
  } catch (err) {
    return fail(err);
  } finally {
    await opened.close();
  }
}

/** `--help`/`-h` anywhere, before any other check: a help request is never a usage error. */
function parseHelp(argv: readonly string[]): boolean {
  return argv.includes('--help') || argv.includes('-h');
}

function parseCommandLine(argv: readonly string[]) {
  let values: Values;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({ args: [...argv], options: OPTIONS, allowPositionals: true, strict: true }) as { values: Values; positionals: string[] });
  } catch (err) {
    // node:util's parse errors (ERR_PARSE_ARGS_*) name the option; anything else is ours to see.
    if ((err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS') === true) throw new UsageError((err as Error).message);
    throw err;
  }
  const [group = '', verb, ...args] = positionals;
  const verbs = COMMANDS[group];
  if (verbs === undefined) throw new UsageError(`unknown command "${group}"`);
  if (verb === undefined) throw new UsageError(`${group}: a subcommand is required (${Object.keys(verbs).join(', ')})`);
  const command = verbs[verb];
  if (command === undefined) throw new UsageError(`${group}: unknown subcommand "${verb}" (${Object.keys(verbs).join(', ')})`);
  const name = `${group} ${verb}`;
  const allowed = new Set<string>(['config', 'json', 'help', ...command.options]);
  const problems: string[] = [];
  for (const option of Object.keys(values)) if (!allowed.has(option)) problems.push(`--${option} is not an option of "${name}"`);
  const missing = (command.required ?? []).filter((option) => values[option] === undefined);
  if (missing.length > 0) problems.push(`"${name}" needs ${missing.map((option) => `--${option}`).join(', ')}`);
  const expected = command.args ?? [];
  if (args.length < expected.length) problems.push(`"${name}" needs ${expected.slice(args.length).join(' ')}`);
  if (args.length > expected.length) problems.push(`"${name}" takes ${expected.length === 0 ? 'no arguments' : expected.join(' ')}; unexpected: ${args.slice(expected.length).join(' ')}`);
  if (problems.length > 0) throw new UsageError(problems.join('\n  '));
  command.check?.(values);
  return { command, values, args };
}

/** Which options fit which kind and owner: said before anything is opened, every problem at once. */
function checkTokenOptions(values: Values, creating: boolean): void {
  const problems: string[] = [];
  if (values.kind !== 'api' && values.kind !== 'access') problems.push('--kind must be api or access');
  if (values.owner !== 'tenant' && values.owner !== 'user') problems.push('--owner must be tenant or user');
  if (values.owner === 'tenant' && values.user !== undefined) problems.push('--user is for user tokens; a tenant token may name its creator with --created-by');
  if (values.owner === 'user') {
    if (creating && values.user === undefined) problems.push('a user token needs --user');
    for (const option of ['role', 'permission', 'created-by'] as const) {
      if (values[option] !== undefined) problems.push(`--${option} is for tenant tokens; a user token carries the user's roles on the tenant`);
    }
  }
  if (values.kind === 'access') {
    for (const option of ['permission', 'metadata'] as const) if (values[option] !== undefined) problems.push(`--${option} is for api tokens`);
  }
  if (problems.length > 0) throw new UsageError(problems.join('\n  '));
}

function scopeOf(values: Values): Scope {
  return values.user === undefined ? { tenantId: values.tenant! } : { tenantId: values.tenant!, userId: values.user };
}

/** `--metadata` as the service's input: JSON text that does not parse is the service's own ERR_VALIDATION. */
function metadataOf(text: string | undefined): Record<string, unknown> | undefined {
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text) as Record<string, unknown>;
  } catch {
    throw new GatewayError('ERR_VALIDATION', 'metadata is not JSON', { problems: ['metadata must be a JSON object'] });
  }
}

/** `--expires-in-minutes` as a number; the service decides whether it is a usable one. */
function minutesOf(text: string | undefined): number | undefined {
  return text === undefined ? undefined : text.trim() === '' ? Number.NaN : Number(text);
}

async function createToken({ opened, values }: Context): Promise<Output> {
  const service = opened.tokenService;
  const owner = values.owner as OwnerKind;
  const common = { description: values.description, expiresInMinutes: minutesOf(values['expires-in-minutes']) };
  const tenantExtras = { roleIds: values.role, createdByUserId: values['created-by'] };
  if (values.kind === 'api') {
    const input = { ...common, metadata: metadataOf(values.metadata), ...(owner === 'tenant' ? { ...tenantExtras, permissionIds: values.permission } : {}) };
    const created = owner === 'user' ? await service.createUserApiToken(scopeOf(values) as Required<Scope>, input) : await service.createTenantApiToken(scopeOf(values), input);
    const view = apiTokenView(created.record);
    return {
      json: { ...view, secret: created.secret },
      text:
        `Created ${owner} API token.\n${fields(view)}  secret: ${created.secret}\n\n` +
        'The secret is shown this once and cannot be read again: store it now.\n' +
        'Exchange clientId and secret for a JWT at POST /oauth/token (or /identity/resources/auth/v1/api-token).\n',
    };
  }
  const input = { ...common, ...(owner === 'tenant' ? tenantExtras : {}) };
  const created = owner === 'user' ? await service.createUserAccessToken(scopeOf(values) as Required<Scope>, input) : await service.createTenantAccessToken(scopeOf(values), input);
  const view = accessTokenView(created.record);
  return {
    json: { ...view, secret: created.jwt },
    text:
      `Created ${owner} access token.\n${fields(view)}  token: ${created.jwt}\n\n` +
      'The token is shown this once and cannot be read again: store it now.\n' +
      'Send it as the X-API-KEY header.\n',
  };
}

async function listTokens({ opened, values }: Context): Promise<Output> {
  const owner = values.owner as OwnerKind;
  const scope = scopeOf(values);
  const views =
    values.kind === 'api'
      ? (await opened.tokenService.listApiTokens(owner, scope)).map(apiTokenView)
      : (await opened.tokenService.listAccessTokens(owner, scope)).map(accessTokenView);
  const idColumn = values.kind === 'api' ? 'clientId' : 'id';
  const text =
    views.length === 0
      ? `No live ${owner} ${values.kind} tokens on tenant ${scope.tenantId}.\n`
      : table(
          [idColumn, 'userId', 'description', 'roleIds', 'permissionIds', 'createdAt', 'expires'],
          views.map((view) => view as unknown as Record<string, unknown>),
        );
  return { json: views, text };
}

async function revokeToken({ opened, config, values, args }: Context): Promise<Output> {
  const owner = values.owner as OwnerKind;
  const id = args[0]!;
  if (values.kind === 'api') await opened.tokenService.deleteApiToken(owner, scopeOf(values), id);
  else await opened.tokenService.deleteAccessToken(owner, scopeOf(values), id);
  return {
    json: { revoked: { kind: values.kind, owner, id } },
    text: `Revoked ${owner} ${values.kind} token ${id}: it is refused from now on (${config.store.driver === 'postgres' ? 'gateways on the database are told at once' : `a running gateway's proxy within its ${config.liveness.cacheTtlMs / 1000} s liveness cache`}).\n`,
  };
}

// ---- views: records as the operator sees them (ISO times, no secret hash) ----------------------

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

function apiTokenView(r: ApiTokenRecord) {
  return {
    clientId: r.clientId,
    owner: r.owner,
    tenantId: r.tenantId,
    userId: r.userId,
    createdByUserId: r.createdByUserId,
    description: r.description,
    metadata: r.metadata,
    roleIds: r.roleIds,
    permissionIds: r.permissionIds,
    createdAt: iso(r.createdAt),
    expires: iso(r.expiresAt),
  };
}

function accessTokenView(r: AccessTokenRecord) {
  return {
    id: r.id,
    owner: r.owner,
    tenantId: r.tenantId,
    userId: r.userId,
    createdByUserId: r.createdByUserId,
    description: r.description,
    roleIds: r.roleIds,
    createdAt: iso(r.createdAt),
    expires: iso(r.expiresAt),
  };
}

function tenantView(r: TenantRecord) {
  return { tenantId: r.id, createdAt: iso(r.createdAt)! };
}

function membershipView(r: MembershipRecord) {
  return { tenantId: r.tenantId, userId: r.userId, roleIds: r.roleIds, createdAt: iso(r.createdAt), updatedAt: iso(r.updatedAt) };
}

function tenantsOutput(tenants: readonly TenantRecord[]): Output {
  const views = tenants.map(tenantView);
  return { json: views, text: views.length === 0 ? 'No tenants.\n' : table(['tenantId', 'createdAt'], views) };
}

function membersOutput(members: readonly MembershipRecord[]): Output {
  const views = members.map(membershipView);
  return { json: views, text: views.length === 0 ? 'No members.\n' : table(['userId', 'roleIds', 'createdAt', 'updatedAt'], views) };
}

/** A key's state at `now`: pending (published, not signing yet), current (signing), retired (published only). */
function keyState(key: SigningKeyPublic, now: number): 'pending' | 'current' | 'retired' {
  if (key.retiredAt !== null && key.retiredAt <= now) return 'retired';
  return key.activatesAt > now ? 'pending' : 'current';
}

function keysOutput(keys: readonly SigningKeyPublic[], now: number): Output {
  const views = keys.map((key) => ({
    kid: key.kid,
    alg: key.alg,
    state: keyState(key, now),
    createdAt: iso(key.createdAt),
    activatesAt: iso(key.activatesAt),
    retiredAt: iso(key.retiredAt),
    removeAfter: iso(key.removeAfter),
  }));
  return { json: views, text: table(['kid', 'alg', 'state', 'activatesAt', 'retiredAt', 'removeAfter'], views) };
}

function rotationOutput(rotation: Rotation, now: number): Output {
  const json = {
    kid: rotation.kid,
    alg: rotation.alg,
    activatesAt: iso(rotation.activatesAt),
    retired: rotation.retired.map((r) => ({ kid: r.kid, retiredAt: iso(r.retiredAt), removeAfter: iso(r.removeAfter) })),
  };
  const when = rotation.activatesAt <= now ? 'now' : `from ${json.activatesAt}`;
  const lines = [`New ${rotation.alg} signing key ${rotation.kid}: published now, signs ${when}.`];
  for (const r of json.retired) lines.push(`Retired ${r.kid}: signs until ${r.retiredAt}, stays in the JWKS until ${r.removeAfter}.`);
  lines.push(`A gateway serving this store picks the change up within ${KEY_RELOAD_INTERVAL_SECONDS} s.`);
  return { json, text: `${lines.join('\n')}\n` };
}

// ---- text output ---------------------------------------------------------------------------------

function cell(value: unknown): string {
  if (value === null || value === undefined) return '-';
  if (Array.isArray(value)) return value.length === 0 ? '-' : value.join(',');
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

function list(values: readonly string[]): string {
  return values.length === 0 ? '(none)' : values.join(', ');
}

/** `  name: value` lines for one record. */
function fields(view: object): string {
  return Object.entries(view)
    .map(([name, value]) => `  ${name}: ${cell(value)}\n`)
    .join('');
}

/** Aligned columns with a header row. */
function table(columns: readonly string[], rows: ReadonlyArray<Record<string, unknown>>): string {
  const cells = [columns as readonly string[], ...rows.map((row) => columns.map((column) => cell(row[column])))];
  const widths = columns.map((_, i) => Math.max(...cells.map((line) => line[i]!.length)));
  return cells.map((line) => line.map((text, i) => (i === line.length - 1 ? text : text.padEnd(widths[i]!))).join('  ')).join('\n') + '\n';
}

/** Ids from the command line are echoed only when they look like ids (no control characters). */
function quoted(id: string): string {
  return /^[\x21-\x7e]{1,128}$/.test(id) ? `"${id}"` : '(unprintable id)';
}

/** One line for a failure: config problems by path, ERR_* code with what is wrong, or the error. */
export function failureText(path: string, err: unknown): string {
  if (err instanceof ConfigError) return `${path}: ${err.problems.length} problem(s)\n${err.problems.map((p) => `  - ${p}`).join('\n')}`;
  if (isGatewayError(err)) return `${err.code}: ${err.problems?.join('; ') ?? err.detail ?? err.message}`;
  return `${path}: ${(err as Error).message}`;
}
