import { DEFAULTS } from './defaults.js';
import { configJsonSchema } from './json-schema.js';

/**
 * `docs/configuration.md`: every key of the configuration with its type, default, allowed values
 * and description, generated from the schema (types, bounds, descriptions) and `DEFAULTS` (the
 * values `compileConfig` fills in), so it cannot disagree with either. `npm run docs:config`
 * rewrites the file and a unit test fails when it is stale.
 */

interface JsonSchema {
  readonly type?: string;
  readonly const?: unknown;
  readonly anyOf?: readonly JsonSchema[];
  readonly properties?: Readonly<Record<string, JsonSchema>>;
  readonly required?: readonly string[];
  readonly items?: JsonSchema;
  readonly title?: string;
  readonly description?: string;
  readonly minimum?: number;
  readonly maximum?: number;
  readonly minLength?: number;
  readonly maxLength?: number;
  readonly minItems?: number;
  readonly uniqueItems?: boolean;
  readonly pattern?: string;
}

/**
 * Defaults that are not at the key's own path in `DEFAULTS`, or are not a plain value there: the
 * key path (array items as `[]`) → the text shown.
 */
const DEFAULT_TEXT: Readonly<Record<string, string>> = {
  'server.trustedProxies': '`[]`',
  'issuers[].jwks.cacheTtlSeconds': code(DEFAULTS.jwksUrl.cacheTtlSeconds),
  'issuers[].jwks.refreshBeforeSeconds': code(DEFAULTS.jwksUrl.refreshBeforeSeconds),
  'issuers[].jwks.cooldownSeconds': code(DEFAULTS.jwksUrl.cooldownSeconds),
  'issuers[].jwks.maxStaleSeconds': code(DEFAULTS.jwksUrl.maxStaleSeconds),
  'issuers[].jwks.timeoutMs': code(DEFAULTS.jwksUrl.timeoutMs),
  'issuers[].liveness.issuerApi.timeoutMs': code(DEFAULTS.issuerApi.timeoutMs),
  'routes[].auth.basic': '`auth.basicExchange.enabled`',
  'routes[].forwardCredentials': '`false`',
  'dataDir': `${code(DEFAULTS.dataDir)}, relative to the config file`,
  'store.path': `\`<dataDir>/${DEFAULTS.store.file}\``,
  'tokenService.vendor.tokenTtlSeconds': code(DEFAULTS.tokenService.vendorTokenTtlSeconds),
  'tokenService.secretKey': 'generated into `dataDir`',
  'tokenService.keyEncryptionKey': 'generated into `dataDir`',
  'tokenService.accessTokens.enabled': '`true`',
  'tokenService.apiTokens.enabled': '`true`',
  'directory.roles': '`[]`',
  'directory.defaultRoleIds': '`[]`',
  'identityHeaders.strip': '`[]`',
};

/** `DEFAULTS` leaves that are no configuration key of their own (shown under another key above, or internal). */
const DEFAULTS_NOT_KEYS = new Set(['jwksUrl', 'issuerApi', 'store.file', 'tokenService.name', 'tokenService.vendorTokenTtlSeconds']);

/** A Markdown code span, wide enough for the backticks the text itself holds (CommonMark §6.1). */
function code(value: unknown): string {
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  return text.includes('`') ? `\`\` ${text} \`\`` : `\`${text}\``;
}

/** The `DEFAULTS` value at a key path, if there is one and it is a leaf. */
function defaultAt(path: string): unknown {
  let node: unknown = DEFAULTS;
  for (const part of path.split('.')) {
    if (node === null || typeof node !== 'object' || !(part in node)) return undefined;
    node = (node as Record<string, unknown>)[part];
  }
  return node !== null && typeof node === 'object' ? undefined : node;
}

/** Every leaf path of `DEFAULTS` that names a configuration key (for the completeness check). */
export function defaultKeyPaths(): string[] {
  const paths: string[] = [];
  const walk = (node: unknown, prefix: string) => {
    if (DEFAULTS_NOT_KEYS.has(prefix)) return;
    if (node !== null && typeof node === 'object') for (const [key, value] of Object.entries(node)) walk(value, prefix === '' ? key : `${prefix}.${key}`);
    else paths.push(prefix);
  };
  walk(DEFAULTS, '');
  return paths;
}

function range(s: JsonSchema): string {
  if (s.minimum !== undefined && s.maximum !== undefined) return `${s.minimum}–${s.maximum}`;
  if (s.minimum !== undefined) return `≥ ${s.minimum}`;
  if (s.maximum !== undefined) return `≤ ${s.maximum}`;
  return '';
}

/** A schema as the Type column shows it: type, then bounds, pattern or allowed values. */
function typeText(s: JsonSchema): string {
  if (s.anyOf !== undefined) {
    if (s.anyOf.every((each) => each.const !== undefined)) return `one of ${s.anyOf.map((each) => code(each.const)).join(', ')}`;
    return s.anyOf.map((each) => (each.const !== undefined ? code(each.const) : each.type === 'object' ? `object${each.title === undefined ? '' : ` (${each.title})`}` : typeText(each))).join(' or ');
  }
  const notes: string[] = [];
  switch (s.type) {
    case 'integer':
    case 'number':
      if (range(s) !== '') notes.push(range(s));
      break;
    case 'string':
      if (s.pattern !== undefined) notes.push(`matching ${code(s.pattern)}`);
      if (s.minLength !== undefined && s.minLength > 1) notes.push(`at least ${s.minLength} characters`);
      else if (s.minLength === 1 && s.pattern === undefined) notes.push('non-empty');
      if (s.maxLength !== undefined && s.pattern === undefined) notes.push(`at most ${s.maxLength} characters`);
      break;
    case 'array':
      if (s.items !== undefined) notes.push(`of ${typeText(s.items)}`);
      if (s.minItems !== undefined && s.minItems > 0) notes.push(`at least ${s.minItems}`);
      if (s.uniqueItems === true) notes.push('no duplicates');
      break;
  }
  return [s.type ?? 'any', ...notes].join(', ');
}

export interface Row {
  readonly path: string;
  readonly type: string;
  readonly required: boolean;
  readonly default: string;
  readonly description: string;
}

function cell(text: string): string {
  return text.replaceAll('|', '\\|').replaceAll('\n', ' ');
}

/** The object variants a key's schema can take: its own properties, or each object of a union. */
function objectVariants(s: JsonSchema): JsonSchema[] {
  if (s.type === 'object' && s.properties !== undefined) return [s];
  if (s.type === 'array' && s.items !== undefined) return objectVariants(s.items);
  return (s.anyOf ?? []).filter((each) => each.type === 'object' && each.properties !== undefined);
}

function collect(s: JsonSchema, prefix: string, rows: Row[]): void {
  for (const variant of objectVariants(s)) {
    for (const [key, child] of Object.entries(variant.properties ?? {})) {
      const path = `${prefix}${key}`;
      const required = variant.required?.includes(key) ?? false;
      const value = defaultAt(path);
      // In a union of object shapes, a key is required only in the shape it belongs to.
      const requiredText = objectVariants(s).length > 1 && variant.title !== undefined ? `required (${variant.title})` : 'required';
      const shown = DEFAULT_TEXT[path] ?? (value === undefined ? (required ? requiredText : '') : code(value));
      const description = [child.description ?? '', child.type === 'array' ? child.items?.description ?? '' : ''].filter((d) => d !== '').join(' ');
      // An optional object without a description is only its keys' container: its keys are listed.
      const container = child.type === 'object' && !required && description === '';
      if (!container) rows.push({ path, type: typeText(child), required, default: shown, description });
      const nested = child.type === 'array' ? `${path}[].` : `${path}.`;
      collect(child, nested, rows);
    }
  }
}

/** Every key of the configuration, in schema order. */
export function configKeys(): Row[] {
  const rows: Row[] = [];
  collect(JSON.parse(configJsonSchema()) as JsonSchema, '', rows);
  return rows;
}

/** The reference as Markdown: one table per top-level key. */
export function configReference(): string {
  const schema = JSON.parse(configJsonSchema()) as JsonSchema;
  const lines = [
    '# Configuration reference',
    '',
    '<!-- Generated from src/config/schema.ts and src/config/defaults.ts by `npm run docs:config`; do not edit. -->',
    '',
    'Every key of the YAML configuration (`--config FILE`, `M2M_CONFIG`, default `config/gateway.yaml`).',
    'Unknown keys are errors; `m2m-gateway check-config FILE` reports every problem with its path.',
    'Strings may use `${VAR}` and `${VAR:-default}`. Keys under an array are written `key[].child`.',
    'A key whose Default is empty is optional and off when left out.',
    '',
  ];
  for (const [key, child] of Object.entries(schema.properties ?? {})) {
    const rows: Row[] = [];
    collect({ type: 'object', properties: { [key]: child }, required: schema.required?.filter((each) => each === key) ?? [] }, '', rows);
    lines.push(`## \`${key}\``, '');
    lines.push('| Key | Type | Default | Description |', '|---|---|---|---|');
    for (const row of rows) lines.push(`| \`${row.path}\` | ${cell(row.type)} | ${cell(row.default)} | ${cell(row.description)} |`);
    lines.push('');
  }
  return `${lines.join('\n').trimEnd()}\n`;
}
