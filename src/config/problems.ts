/** A key or an array index on the way from the document root to a value. */
export type PathSegment = string | number;

/** One thing wrong with a configuration, located by its path in the YAML document. */
export interface ConfigProblem {
  readonly path: readonly PathSegment[];
  readonly message: string;
}

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$-]*$/;

/**
 * `routes[2].auth.anyRole`: the notation a user types to find the value again. Keys that are not
 * identifier-like are quoted (`server["bad key"]`) so the path is never ambiguous.
 */
export function formatPath(path: readonly PathSegment[]): string {
  if (path.length === 0) return '(root)';
  let out = '';
  for (const segment of path) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else if (IDENTIFIER.test(segment)) out += out === '' ? segment : `.${segment}`;
    else out += `[${JSON.stringify(segment)}]`;
  }
  return out;
}

/** True when `path` is `ancestor` or lies below it. */
export function isWithin(path: readonly PathSegment[], ancestor: readonly PathSegment[]): boolean {
  return ancestor.length <= path.length && ancestor.every((segment, i) => path[i] === segment);
}

/**
 * The problem lines of a `ConfigError`: one line per path, in the order first reported, with
 * the messages about the same value joined so that one mistake reads as one line.
 */
export function formatProblems(problems: readonly ConfigProblem[]): string[] {
  const byPath = new Map<string, string[]>();
  for (const { path, message } of problems) {
    const key = formatPath(path);
    const messages = byPath.get(key);
    if (messages === undefined) byPath.set(key, [message]);
    else if (!messages.includes(message)) messages.push(message);
  }
  return [...byPath].map(([path, messages]) => `${path}: ${messages.join('; ')}`);
}

const MAX_SHOWN = 60;

/**
 * A short rendering of an offending value for a problem line. Long strings are cut so that a
 * pasted blob (a key, a certificate) never floods the start-up log.
 */
export function describeValue(value: unknown): string {
  if (typeof value === 'string') {
    return JSON.stringify(value.length > MAX_SHOWN ? `${value.slice(0, MAX_SHOWN)}…` : value);
  }
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  if (value === null) return 'null';
  if (value === undefined) return 'nothing';
  if (Array.isArray(value)) return 'a list';
  return 'an object';
}

/**
 * Sorts problems into the order of the document (object keys keep their YAML order), so the
 * lines read top to bottom like the file. A path missing from the document (a required key)
 * sorts with its parent. The sort is stable: problems of one value keep their order.
 */
export function inDocumentOrder<T extends ConfigProblem>(problems: readonly T[], root: unknown): T[] {
  const order = new Map<string, number>();
  const walk = (value: unknown, path: PathSegment[]): void => {
    order.set(formatPath(path), order.size);
    if (path.length >= 16) return;
    if (Array.isArray(value)) value.forEach((item, i) => walk(item, [...path, i]));
    else if (typeof value === 'object' && value !== null) for (const [key, item] of Object.entries(value)) walk(item, [...path, key]);
  };
  walk(root, []);
  const position = (path: readonly PathSegment[]): number => {
    for (let end = path.length; end >= 0; end--) {
      const index = order.get(formatPath(path.slice(0, end)));
      if (index !== undefined) return index;
    }
    return 0;
  };
  return problems
    .map((problem) => ({ problem, at: position(problem.path) }))
    .sort((a, b) => a.at - b.at)
    .map(({ problem }) => problem);
}
