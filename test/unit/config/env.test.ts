import t from 'tap';
import { interpolate, isSingleReference } from '../../../src/config/env.js';

const env = { HOST: 'api.internal', PORT: '8443', EMPTY: '', DOLLAR: '$HOME ${NOT_EXPANDED}' };

t.test('references are replaced by their values', async (t) => {
  const cases: ReadonlyArray<readonly [name: string, text: string, expected: string]> = [
    ['a set variable is replaced', '${HOST}', 'api.internal'],
    ['several references in one string are all replaced', 'http://${HOST}:${PORT}/x', 'http://api.internal:8443/x'],
    ['a set variable wins over its default', '${PORT:-80}', '8443'],
    ['an unset variable takes its default', '${MISSING:-fallback}', 'fallback'],
    ['an empty variable takes its default, as in POSIX shells', '${EMPTY:-fallback}', 'fallback'],
    ['an empty default is allowed', '${MISSING:-}', ''],
    ['a default may contain colons, slashes and spaces', '${MISSING:-http://a:1/b c}', 'http://a:1/b c'],
    ['a set but empty variable without default is the empty string', '${EMPTY}', ''],
    ['$${ is a literal ${', 'price: $${HOST}', 'price: ${HOST}'],
    ['a lone $ is kept', 'cost $5 and $HOST', 'cost $5 and $HOST'],
    ['a value is inserted once, never expanded again', '${DOLLAR}', '$HOME ${NOT_EXPANDED}'],
    ['text without references is unchanged', 'plain', 'plain'],
  ];
  for (const [name, text, expected] of cases) {
    t.same(interpolate(text, env), { ok: true, value: expected }, name);
  }
});

t.test('broken references are errors that say what is wrong', async (t) => {
  const cases: ReadonlyArray<readonly [name: string, text: string, errors: RegExp[]]> = [
    ['an unset variable without default', '${UPSTREAM_URL}', [/^environment variable UPSTREAM_URL is not set$/]],
    ['every unset variable of a string', '${A}-${B}', [/variable A is not set/, /variable B is not set/]],
    ['an unclosed reference', 'x ${HOST', [/^malformed variable reference "\$\{HOST"/]],
    ['a name that is not an identifier', '${1ABC}', [/^malformed variable reference "\$\{1ABC\}"/]],
    ['an empty name', '${}', [/^malformed variable reference/]],
    ['a shell form that is not supported', '${HOST-x}', [/^malformed variable reference/]],
    ['an inherited property is not a variable', '${constructor}', [/^environment variable constructor is not set$/]],
  ];
  for (const [name, text, errors] of cases) {
    const result = interpolate(text, env);
    t.equal(result.ok, false, name);
    if (!result.ok) t.match(result.errors, errors, name);
    if (!result.ok) t.equal(result.errors.length, errors.length, `${name}: one error each`);
  }
});

t.test('a single reference is recognised only when it is the whole text', async (t) => {
  t.ok(isSingleReference('${PORT}'));
  t.ok(isSingleReference('${PORT:-8080}'));
  t.notOk(isSingleReference('${PORT}x'));
  t.notOk(isSingleReference('x${PORT}'));
  t.notOk(isSingleReference('${A}${B}'));
  t.notOk(isSingleReference('$${PORT}'));
});
