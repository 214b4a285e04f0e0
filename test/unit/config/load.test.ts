import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { loadConfig, parseConfigText } from '../../../src/config/load.js';
import { configProblems, minimalYaml, problemPaths } from '../../fixtures/config/configs.js';

const parse = (text: string, env: Record<string, string> = {}) => parseConfigText(text, env, '/etc/m2m');

/** A YAML config whose first route's upstream and server section are given. */
const yamlWith = ({ upstream = 'http://127.0.0.1:3000', server = '', issuer = 'https://issuer.test', route = '' }) => `
issuers:
  - name: demo
    issuer: ${issuer}
    audience: api
    algorithms: [RS256]
    jwks: { file: jwks.json }
routes:
  - name: api
    pathPrefix: /api
    upstream: ${upstream}
    auth: {}
${route}
${server === '' ? '' : `server:\n${server}`}`;

t.test('environment references are substituted in string values', async (t) => {
  t.test('a set variable is used', async (t) => {
    const config = parse(yamlWith({ upstream: '${UPSTREAM_URL}' }), { UPSTREAM_URL: 'http://orders:8080' });
    t.equal(config.routes[0]!.upstream, 'http://orders:8080');
  });

  t.test('an unset variable with a default takes the default', async (t) => {
    const config = parse(yamlWith({ upstream: '${UPSTREAM_URL:-http://fallback:81}' }));
    t.equal(config.routes[0]!.upstream, 'http://fallback:81');
  });

  t.test('an unset variable without default is reported with its path, and only once', async (t) => {
    const problems = configProblems(() => parse(yamlWith({ upstream: '${UPSTREAM_URL}' })));
    t.same(problems, ['routes[0].upstream: environment variable UPSTREAM_URL is not set']);
  });

  t.test('unset variables are reported together with every other problem', async (t) => {
    const problems = configProblems(() =>
      parse(yamlWith({ upstream: '${UPSTREAM_URL}', server: '  port: ${PORT}\n  prot: 1\n' })),
    );
    t.same(problemPaths(problems), ['routes[0].upstream', 'server.port', 'server.prot']);
    t.match(problems, [/variable UPSTREAM_URL is not set/, /variable PORT is not set/, /unknown key/]);
  });

  t.test('$${ stands for a literal ${', async (t) => {
    const config = parse(yamlWith({ issuer: 'https://issuer.test/$${tenant}' }));
    t.equal(config.issuers[0]!.issuer, 'https://issuer.test/${tenant}');
  });

  t.test('variables in mapping keys are not substituted', async (t) => {
    const problems = configProblems(() => parse(minimalYaml('${KEY}: 1\n'), { KEY: 'log' }));
    t.same(problems, ['["${KEY}"]: unknown key']);
  });

  t.test('an anchored value is substituted once and shared by its aliases', async (t) => {
    const config = parse(
      `issuers:
  - { name: demo, issuer: https://issuer.test, audience: api, algorithms: [RS256], jwks: { file: jwks.json } }
routes:
  - name: a
    pathPrefix: /a
    upstream: &up \${UPSTREAM_URL}
    auth: none
  - name: b
    pathPrefix: /b
    upstream: *up
    auth: none
`,
      { UPSTREAM_URL: 'http://shared:1' },
    );
    t.same(
      config.routes.map((r) => r.upstream),
      ['http://shared:1', 'http://shared:1'],
    );
  });
});

t.test('an unquoted single reference is read as a YAML scalar', async (t) => {
  const cases: ReadonlyArray<{ name: string; value: string; env: Record<string, string>; port?: number; forward?: boolean }> = [
    { name: 'a number default becomes a number', value: '${PORT:-8080}', env: {}, port: 8080 },
    { name: 'a number from the environment becomes a number', value: '${PORT:-8080}', env: { PORT: '9000' }, port: 9000 },
    { name: 'a boolean default becomes a boolean', value: '${FWD:-false}', env: {}, forward: false },
    { name: 'a boolean from the environment becomes a boolean', value: '${FWD:-false}', env: { FWD: 'true' }, forward: true },
  ];
  for (const c of cases) {
    t.test(c.name, async (t) => {
      const route = c.forward === undefined ? '' : `    forwardCredentials: ${c.value}\n`;
      const server = c.port === undefined ? '' : `  port: ${c.value}\n`;
      const text = yamlWith({ server }).replace('    auth: {}\n', `    auth: {}\n${route}`);
      const config = parse(text, c.env);
      if (c.port !== undefined) t.equal(config.server.port, c.port);
      if (c.forward !== undefined) t.equal(config.routes[0]!.forwardCredentials, c.forward);
    });
  }

  t.test('a quoted reference stays a string', async (t) => {
    const problems = configProblems(() => parse(yamlWith({ server: '  port: "${PORT:-8080}"\n' })));
    t.same(problems, ['server.port: must be an integer (got "8080")']);
  });

  t.test('a reference inside a longer plain value stays a string', async (t) => {
    const problems = configProblems(() => parse(yamlWith({ server: '  port: 80${PORT:-80}\n' })));
    t.same(problems, ['server.port: must be an integer (got "8080")']);
  });

  const strings: ReadonlyArray<readonly [name: string, value: string]> = [
    ['text that would read as null stays a string', 'null'],
    ['text that would read as a list stays a string', '[1, 2]'],
    ['text that would read as a map stays a string', '{a: 1}'],
    ['a number followed by a comment stays a string', '8080 # x'],
    ['a number followed by a line break stays a string', '8080\n'],
  ];
  for (const [name, value] of strings) {
    t.test(name, async (t) => {
      const problems = configProblems(() => parse(yamlWith({ server: '  port: ${PORT}\n' }), { PORT: value }));
      t.same(problems, [`server.port: must be an integer (got ${JSON.stringify(value)})`]);
    });
  }
});

t.test('an environment value can never add YAML structure', async (t) => {
  t.test('a value with a line break and a key stays one string', async (t) => {
    const evil = 'https://issuer.test\n  evil: 1';
    const config = parse(yamlWith({ issuer: '${ISSUER}' }), { ISSUER: evil });
    t.equal(config.issuers[0]!.issuer, evil);
    t.notOk(Object.hasOwn(config.issuers[0]!, 'evil'));
  });

  t.test('the same value in a checked field is refused as a value, not parsed as a key', async (t) => {
    const problems = configProblems(() => parse(yamlWith({ upstream: '${UPSTREAM_URL}' }), { UPSTREAM_URL: 'http://a\n  evil: 1' }));
    t.same(problemPaths(problems), ['routes[0].upstream']);
  });

  t.test('a reference inside a flow collection must be quoted: { and } are YAML syntax there', async (t) => {
    const problems = configProblems(() => parse(minimalYaml('server: { port: ${PORT:-1} }\n')));
    t.match(problems, [/^line 12, column \d+: /]);
    const config = parse(minimalYaml().replace('audience: api', 'audience: ["${AUDIENCE:-api}", other]'));
    t.same(config.issuers[0]!.audiences, ['api', 'other']);
  });

  t.test('a value that looks like a flow mapping stays a string', async (t) => {
    const config = parse(yamlWith({ issuer: '${ISSUER}' }), { ISSUER: '{ evil: 1 }' });
    t.equal(config.issuers[0]!.issuer, '{ evil: 1 }');
  });
});

t.test('YAML-level problems are refused with their line and column', async (t) => {
  const cases: ReadonlyArray<readonly [name: string, text: string, expected: RegExp]> = [
    ['a duplicate key', 'server:\n  port: 1\n  port: 2\n', /^line 3, column 3: duplicate key "port"$/],
    ['a duplicate top-level key', minimalYaml('routes: []\n'), /^line 12, column 1: duplicate key "routes"$/],
    ['two documents in one file', 'a: 1\n---\nb: 2\n', /^line 2, column 1: the file must hold a single YAML document$/],
    ['a syntax error', 'server:\n  port: [1, 2\n', /^line \d+, column \d+: /],
    ['an unknown tag', minimalYaml('log: !secret x\n'), /^line 12, column 6: Unresolved tag: !secret$/],
    ['a YAML 1.1 type such as !!binary', minimalYaml('log: !!binary aGk=\n'), /Unresolved tag/],
    ['a non-string key', '? [a, b]\n: 1\n', /keys must be strings/],
  ];
  for (const [name, text, expected] of cases) {
    t.test(name, async (t) => {
      const problems = configProblems(() => parse(text));
      t.match(problems, [expected]);
    });
  }

  t.test('an empty file', async (t) => {
    t.same(configProblems(() => parse('# only a comment\n')), ['(root): the configuration is empty']);
  });

  t.test('a document that is not a mapping', async (t) => {
    t.same(configProblems(() => parse('- a\n')), ['(root): must be an object (got a list)']);
  });
});

t.test('anchors and merge keys work, alias expansion is capped', async (t) => {
  t.test('a merge key copies an anchored mapping', async (t) => {
    const config = parse(`issuers:
  - &issuer { name: a, issuer: https://a.test, audience: api, algorithms: [RS256], jwks: { file: a.json } }
  - <<: *issuer
    name: b
    issuer: https://b.test
routes:
  - { name: api, pathPrefix: /api, upstream: http://127.0.0.1:3000, auth: {} }
`);
    t.same(
      config.issuers.map((i) => [i.name, i.issuer, i.jwks]),
      [
        ['a', 'https://a.test', { kind: 'file', file: '/etc/m2m/a.json' }],
        ['b', 'https://b.test', { kind: 'file', file: '/etc/m2m/a.json' }],
      ],
    );
  });

  t.test('an alias inside the node it names is refused, however often it repeats', async (t) => {
    const problems = configProblems(() => parse(minimalYaml(`server: &s\n  x: [${Array(10).fill('*s').join(', ')}]\n`)));
    t.match(problems, [/^server\.x\[0\]: alias \*s is inside the node it refers to; circular structures are not allowed$/]);
    t.equal(problems.length, 10, 'one line per alias');
  });

  t.test('an alias used before its anchor is refused', async (t) => {
    const problems = configProblems(() => parse(minimalYaml('log: *later\nadmin: &later { port: 1 }\n')));
    t.equal(problems.length, 1);
    t.match(problems[0], /alias|anchor/i);
  });

  t.test('a merge key whose value is not a mapping is refused, not thrown as it is', async (t) => {
    for (const extra of ['<<: 1\n', '<<: *missing\n', 'server:\n  <<: [1]\n']) {
      const problems = configProblems(() => parse(minimalYaml(extra)));
      t.match(problems, [/^\(root\): Merge sources must be maps or map aliases/], JSON.stringify(extra));
    }
  });

  t.test('a billion-laughs document is refused before it is expanded', async (t) => {
    const laughs = ['a: &a [x, x, x, x, x, x, x, x, x, x]'];
    for (let i = 1; i < 9; i++) laughs.push(`${'abcdefghi'[i]}: &${'abcdefghi'[i]} [${Array(10).fill(`*${'abcdefghi'[i - 1]}`).join(', ')}]`);
    const problems = configProblems(() => parse(`${laughs.join('\n')}\n`));
    t.match(problems, [/^\(root\): more than 100 alias expansions/]);
  });
});

t.test('loadConfig reads a file and resolves paths against its directory', async (t) => {
  const fixtures = fileURLToPath(new URL('../../fixtures/config/', import.meta.url));

  t.test('a relative JWKS path is resolved against the config file, not the working directory', async (t) => {
    const config = loadConfig(join(fixtures, 'relative/gateway.yaml'), { UPSTREAM_URL: 'http://127.0.0.1:3000' });
    t.same(config.issuers[0]!.jwks, { kind: 'file', file: join(fixtures, 'relative/keys/jwks.json') });
  });

  t.test('the environment comes from the argument', async (t) => {
    const problems = configProblems(() => loadConfig(join(fixtures, 'relative/gateway.yaml'), {}));
    t.same(problems, ['routes[0].upstream: environment variable UPSTREAM_URL is not set']);
  });

  t.test('a missing file is a config error naming the file', async (t) => {
    const missing = join(fixtures, 'does-not-exist.yaml');
    t.same(configProblems(() => loadConfig(missing, {})), [`${missing}: cannot read the configuration file (ENOENT)`]);
  });

  t.test('a byte-order mark at the start of the file is accepted', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'm2m-config-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(join(dir, 'gateway.yaml'), `\uFEFF${minimalYaml()}`);
    t.equal(loadConfig(join(dir, 'gateway.yaml'), {}).issuers[0]!.jwks.kind, 'file');
  });
});
