/** Config validation and loading (src/config/validate.ts, src/config/load.ts) on arbitrary documents. */
import fc from 'fast-check';
import t from 'tap';
import { parseConfigText } from '../../src/config/load.js';
import { formatPath, type PathSegment } from '../../src/config/problems.js';
import { validateConfig } from '../../src/config/validate.js';
import { ConfigError } from '../../src/errors.js';
import { minimalConfig, minimalYaml } from '../fixtures/config/configs.js';
import { assertProperty, stringOf } from '../helpers/fuzz.js';

/** Runs `fn`; a ConfigError with at least one `path: message` line is a refusal, anything else thrown fails. */
function acceptedOrRefused(fn: () => unknown): 'accepted' | readonly string[] {
  try {
    fn();
    return 'accepted';
  } catch (err) {
    if (err instanceof ConfigError && err.code === 'ERR_CONFIG_INVALID' && err.problems.length > 0) return err.problems;
    throw err;
  }
}

const wellFormedLines = (problems: readonly string[]) => problems.every((line) => /^\S.*: \S/s.test(line));

t.test('any value is a config or a ConfigError listing its problems, never another exception', async () => {
  assertProperty(
    fc.property(fc.anything({ maxDepth: 4, withNullPrototype: true, withObjectString: true, withBigInt: true, withDate: true, withMap: true, withSet: true }), (raw) => {
      const outcome = acceptedOrRefused(() => validateConfig(raw));
      return outcome !== 'accepted' && wellFormedLines(outcome);
    }),
  );
});

/** Where the minimal config has objects, and so where an unknown key can hide. */
const OBJECTS: readonly PathSegment[][] = [[], ['issuers', 0], ['issuers', 0, 'jwks'], ['routes', 0], ['routes', 0, 'auth']];
const KNOWN = new Set(['issuers', 'routes', 'name', 'issuer', 'audience', 'algorithms', 'jwks', 'file', 'pathPrefix', 'upstream', 'auth']);

function objectAt(root: Record<string, unknown>, path: readonly PathSegment[]): Record<string | number, unknown> {
  let node = root as Record<string | number, unknown>;
  for (const segment of path) node = node[segment] as Record<string | number, unknown>;
  return node;
}

t.test('an unknown key at any depth is refused, and the problem names its path', async () => {
  const unknownKey = fc.string({ minLength: 1, maxLength: 16 }).filter((k) => !KNOWN.has(k) && k !== '__proto__');
  assertProperty(
    fc.property(fc.constantFrom(...OBJECTS), unknownKey, fc.jsonValue({ maxDepth: 2 }), (at, key, value) => {
      const config = minimalConfig();
      const target = objectAt(config, at);
      // Known to the schema somewhere else (server, log…) is still unknown here, unless valid here.
      if (at.length === 0 && ['server', 'admin', 'log', 'auth', 'upstream', 'identityHeaders', 'tokenService', 'store', 'directory', 'dataDir'].includes(key)) return true;
      target[key] = value;
      const outcome = acceptedOrRefused(() => validateConfig(config));
      return outcome !== 'accepted' && outcome.some((line) => line.startsWith(`${formatPath([...at, key])}: `));
    }),
  );
});

t.test('any value in place of a valid one is accepted or refused with a ConfigError', async () => {
  const LEAVES: readonly PathSegment[][] = [
    ['issuers'], ['issuers', 0, 'name'], ['issuers', 0, 'issuer'], ['issuers', 0, 'audience'], ['issuers', 0, 'algorithms'], ['issuers', 0, 'algorithms', 0],
    ['issuers', 0, 'jwks'], ['issuers', 0, 'jwks', 'file'], ['routes'], ['routes', 0, 'name'], ['routes', 0, 'pathPrefix'], ['routes', 0, 'upstream'], ['routes', 0, 'auth'],
  ];
  const replacement = fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.constantFrom(Infinity, NaN, -0, 1e308, '', ' ', '/../x', 'http://u@h/', 'none', 'HS256', '__proto__'));
  assertProperty(
    fc.property(fc.constantFrom(...LEAVES), replacement, (at, value) => {
      const config = minimalConfig();
      objectAt(config, at.slice(0, -1))[at.at(-1)!] = value;
      const outcome = acceptedOrRefused(() => validateConfig(config));
      return outcome === 'accepted' || wellFormedLines(outcome);
    }),
  );
});

t.test('any YAML-ish text is a compiled config or a ConfigError, never another exception', async () => {
  const text = fc.oneof(
    stringOf(['\n', '  ', '- ', ': ', 'issuers', 'routes', 'name', '&a ', '*a', '<<: *a', '!!binary ', '!tag ', '${X}', '${', '"', "'", '{', '}', '[', ']', '#', '---\n', '%YAML 1.1\n', '\t', '? ', '|', '>'], 24),
    fc.tuple(fc.nat({ max: 200 }), stringOf(['\n', '  ', 'x', ': ', '- ', '${M2M_X}', '[', '&b ', '*b', '\u0000', '\ufeff'], 8)).map(([at, insert]) => {
      const base = minimalYaml();
      return base.slice(0, at) + insert + base.slice(at);
    }),
  );
  assertProperty(
    fc.property(text, (yaml) => {
      const outcome = acceptedOrRefused(() => parseConfigText(yaml, {}, process.cwd()));
      return outcome === 'accepted' || wellFormedLines(outcome);
    }),
    0.5,
  );
});
