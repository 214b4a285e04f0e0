import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { LineCounter, isAlias, isMap, isScalar, isSeq, parseDocument, type Document, type YAMLError } from 'yaml';
import { ConfigError } from '../errors.js';
import { compileConfig } from './compile.js';
import { interpolate, isSingleReference, type Env } from './env.js';
import { formatProblems, inDocumentOrder, isWithin, type ConfigProblem, type PathSegment } from './problems.js';
import type { Config } from './schema.js';
import type { CompiledConfig } from './types.js';
import { collectConfigProblems } from './validate.js';

/**
 * Most aliases a document may expand. A config has a handful; the bound stops a "billion laughs"
 * document from exhausting memory at start (yaml's own guard, made explicit here).
 */
export const MAX_ALIAS_COUNT = 100;

/**
 * Reads, substitutes, validates and compiles the config file at `path`. `env` is the source of
 * `${VAR}` values (`process.env` in `main.ts`, an object in tests). Throws `ConfigError` with every
 * problem found, each located by its path.
 */
export function loadConfig(path: string, env: Env): CompiledConfig {
  return parseConfigText(readConfigFile(path), env, dirname(resolve(path)));
}

/** The text of the config file at `path`; `ConfigError` when it cannot be read. */
export function readConfigFile(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'read error';
    throw new ConfigError([`${path}: cannot read the configuration file (${code})`]);
  }
}

/**
 * `loadConfig` without the file: YAML text in, compiled config out. `baseDir` stands for the
 * config file's directory (relative JWKS paths are resolved against it).
 */
export function parseConfigText(text: string, env: Env, baseDir: string): CompiledConfig {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, {
    lineCounter,
    prettyErrors: false,
    // A repeated key is almost always a paste mistake whose first value would be silently lost.
    uniqueKeys: true,
    stringKeys: true,
    merge: true,
    // `!!binary`, `!!set`, `!!timestamp`… would become Uint8Array, Set or Date: not config values.
    resolveKnownTags: false,
  });
  // Warnings too (an unknown `!tag`, a YAML 1.1 directive): a config is either understood or refused.
  const syntax = [...doc.errors, ...doc.warnings];
  if (syntax.length > 0) throw new ConfigError(syntax.map((error) => describeYamlError(error, text, lineCounter)));
  if (doc.contents === null) throw new ConfigError(['(root): the configuration is empty']);

  const circular = circularAliases(doc);
  if (circular.length > 0) throw new ConfigError(formatProblems(circular));
  const envProblems = substitute(doc, env);

  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (err) {
    // yaml throws ReferenceError for an alias bomb and for an alias used before its anchor, and a
    // plain Error for a merge key (`<<`) whose value is not a mapping: all are problems of the file.
    if (!(err instanceof ReferenceError || (err instanceof Error && /^Merge sources must be/.test(err.message)))) throw err;
    const message = /alias count/i.test(err.message)
      ? `more than ${MAX_ALIAS_COUNT} alias expansions; the document is refused as a resource-exhaustion attempt`
      : err.message;
    throw new ConfigError([`(root): ${message}`]);
  }

  // A value whose variable is unset still holds its `${…}` text; the schema's complaint about that
  // text would only repeat the variable problem, so it is left out.
  const problems = inDocumentOrder(
    [...envProblems, ...collectConfigProblems(raw).filter((p) => !envProblems.some((e) => isWithin(p.path, e.path)))],
    raw,
  );
  if (problems.length > 0) throw new ConfigError(formatProblems(problems));
  return compileConfig(raw as Config, baseDir);
}

/** The source of a mapping key at an error position: a quoted key, or plain text up to the `:`. */
const KEY_TEXT = /^(?:"(?:[^"\\\n]|\\.)*"|'(?:[^'\n]|'')*'|[^:#\n]+)/;

function describeYamlError(error: YAMLError, text: string, lineCounter: LineCounter): string {
  const { line, col } = lineCounter.linePos(error.pos[0]);
  const where = `line ${line}, column ${col}`;
  switch (error.code) {
    case 'DUPLICATE_KEY':
      return `${where}: duplicate key ${JSON.stringify(KEY_TEXT.exec(text.slice(error.pos[0]))?.[0].trim() ?? '')}`;
    case 'MULTIPLE_DOCS':
      return `${where}: the file must hold a single YAML document`;
    default:
      return `${where}: ${error.message}`;
  }
}

/**
 * Walks the value nodes of the document (not the keys), each once: aliases are handed to `visit`
 * but not followed, since they share their anchor's node, which is visited where it is defined.
 * `ancestors` are the collections enclosing the node.
 */
function walkValues(doc: Document, visit: (node: unknown, path: PathSegment[], ancestors: ReadonlySet<unknown>) => void): void {
  const ancestors = new Set<unknown>();
  const walk = (node: unknown, path: PathSegment[]): void => {
    visit(node, path, ancestors);
    if (!isMap(node) && !isSeq(node)) return;
    ancestors.add(node);
    if (isMap(node)) {
      for (const pair of node.items) walk(pair.value, [...path, isScalar(pair.key) ? String(pair.key.value) : String(pair.key)]);
    } else {
      node.items.forEach((item, i) => walk(item, [...path, i]));
    }
    ancestors.delete(node);
  };
  walk(doc.contents, []);
}

/**
 * An alias inside the node it names (`a: &a [1, *a]`) makes an infinite structure: nothing in a
 * config needs one, and every later walk over it would have to guard against it.
 */
function circularAliases(doc: Document): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  walkValues(doc, (node, path, ancestors) => {
    if (isAlias(node) && ancestors.has(node.resolve(doc))) {
      problems.push({ path, message: `alias *${node.source} is inside the node it refers to; circular structures are not allowed` });
    }
  });
  return problems;
}

/**
 * Substitutes `${VAR}` in the string values of the parsed document, never in the text: an
 * environment value is data, so `"x\n  evil: 1"` stays one string instead of becoming YAML
 * structure. Keys are left alone. An anchored value is substituted once, where it is defined.
 *
 * A plain (unquoted) scalar that is exactly one reference is read again as a YAML scalar, so that
 * `port: ${PORT:-8080}` is the number 8080 and `forwardCredentials: ${FWD:-false}` a boolean.
 * Quote the reference to keep a string.
 */
function substitute(doc: Document, env: Env): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  walkValues(doc, (node, path) => {
    if (!isScalar(node) || typeof node.value !== 'string' || !node.value.includes('$')) return;
    const source = node.value;
    const result = interpolate(source, env);
    if (!result.ok) {
      for (const message of result.errors) problems.push({ path, message });
      return;
    }
    node.value = node.type === 'PLAIN' && isSingleReference(source) ? readPlainScalar(result.value) : result.value;
  });
  return problems;
}

/**
 * The substituted text as YAML would read it unquoted, limited to numbers and booleans: a value
 * that would read as `null`, a list, a map, or anything with a comment or a line break stays the
 * string it is (an environment value can never add structure).
 */
function readPlainScalar(text: string): string | number | boolean {
  if (/[\r\n]/.test(text)) return text;
  const doc = parseDocument(text, { prettyErrors: false });
  const node = doc.contents;
  if (doc.errors.length > 0 || doc.warnings.length > 0 || !isScalar(node) || node.type !== 'PLAIN') return text;
  if (node.range?.[0] !== 0 || node.range[1] !== text.length) return text;
  return typeof node.value === 'number' || typeof node.value === 'boolean' ? node.value : text;
}
