/**
 * Security case 49 (reference/security-cases.md), as it applies to the config file: each bad
 * setting makes the gateway refuse to start — ConfigError ERR_CONFIG_INVALID with a line naming
 * the path — instead of running with a weakened check (fast-jwt GHSA-8wpc-h4q6-8fxv, fast-jwt
 * #640) — checked on the parsed text and on the built process. Key material ("empty or missing
 * key", "RSA < 2048 bits", an HS secret) is judged when a key set loads: the gateway is then never
 * ready and answers 503, never accepting a token (below; reloads are case 50). HS secrets cannot
 * even be configured.
 */
import { spawnSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { parseConfigText } from '../../src/config/load.js';
import { ConfigError } from '../../src/errors.js';
import { MAIN } from '../helpers/cli.js';
import { leakedSecrets } from '../helpers/log-sink.js';
import { send, startScenario } from '../helpers/scenario.js';
import { writeJwksFile } from '../helpers/tokens.js';
import { waitFor } from '../helpers/wait.js';

const ISSUER = `  - name: demo
    issuer: https://issuer.test
    audience: api
    jwks: { file: jwks.json }
`;
const ROUTES = `routes:
  - name: api
    pathPrefix: /api
    upstream: http://127.0.0.1:3000
    auth: {}
`;

/** A config whose only issuer has `algorithms` as given (a YAML flow list), plus `extra` sections. */
const configYaml = ({ algorithms = '[RS256]', extra = '', issuers }: { algorithms?: string; extra?: string; issuers?: string }) =>
  `${issuers ?? `issuers:\n${ISSUER}    algorithms: ${algorithms}\n`}${ROUTES}${extra}`;

interface Case {
  readonly name: string;
  readonly yaml: string;
  readonly env?: Record<string, string>;
  /** The problem line expected: its path, and what the message must say. */
  readonly path: string;
  readonly message: RegExp;
}

const cases: readonly Case[] = [
  // Empty or missing key material: no issuer, or an issuer without keys, cannot verify anything.
  { name: 'an empty issuers list', yaml: configYaml({ issuers: 'issuers: []\n' }), path: 'issuers', message: /must NOT have fewer than 1 items/ },
  { name: 'no issuers section', yaml: configYaml({ issuers: '' }), path: 'issuers', message: /^configure at least one issuer, or the tokenService$/ },
  { name: 'an issuers section that is null', yaml: configYaml({ issuers: 'issuers:\n' }), path: 'issuers', message: /must be a list \(got null\)/ },
  {
    name: 'an issuer without jwks',
    yaml: configYaml({ issuers: 'issuers:\n  - { name: demo, issuer: https://issuer.test, audience: api, algorithms: [RS256] }\n' }),
    path: 'issuers[0].jwks',
    message: /^is required$/,
  },
  { name: 'an empty JWKS file path', yaml: configYaml({ issuers: `issuers:\n${ISSUER.replace('jwks.json', '""')}    algorithms: [RS256]\n` }), path: 'issuers[0].jwks.file', message: /fewer than 1 characters/ },

  // The algorithm allow-list must exist and hold asymmetric algorithms only.
  { name: 'no algorithms', yaml: configYaml({ issuers: `issuers:\n${ISSUER}` }), path: 'issuers[0].algorithms', message: /^is required$/ },
  { name: 'an empty algorithms list', yaml: configYaml({ algorithms: '[]' }), path: 'issuers[0].algorithms', message: /must NOT have fewer than 1 items/ },
  { name: 'none in the allow-list', yaml: configYaml({ algorithms: '[RS256, none]' }), path: 'issuers[0].algorithms[1]', message: /^"none" is not allowed: unsigned tokens are never accepted; only asymmetric algorithms/ },
  { name: 'None in another case', yaml: configYaml({ algorithms: '[None]' }), path: 'issuers[0].algorithms[0]', message: /^"None" is not allowed/ },
  { name: 'HS256 in the allow-list', yaml: configYaml({ algorithms: '[HS256]' }), path: 'issuers[0].algorithms[0]', message: /^"HS256" is not allowed: HMAC \(HS\*\) secrets are not supported at all; only asymmetric algorithms \(RS\*, PS\*, ES\*, EdDSA\)/ },
  { name: 'HS384 next to an asymmetric algorithm', yaml: configYaml({ algorithms: '[ES256, HS384]' }), path: 'issuers[0].algorithms[1]', message: /HMAC \(HS\*\) secrets are not supported/ },
  { name: 'HS512 in lower case', yaml: configYaml({ algorithms: '[hs512]' }), path: 'issuers[0].algorithms[0]', message: /HMAC \(HS\*\) secrets are not supported/ },
  { name: 'an HMAC secret next to the issuer', yaml: configYaml({ issuers: `issuers:\n${ISSUER}    algorithms: [RS256]\n    secret: changeme\n` }), path: 'issuers[0].secret', message: /^unknown key: HMAC \(HS\*\) secrets are not supported/ },
  { name: 'an algorithm given as a string, not a list', yaml: configYaml({ algorithms: 'RS256' }), path: 'issuers[0].algorithms', message: /must be a list/ },

  // The clock tolerance is bounded: Infinity would accept every expired token (fast-jwt #640).
  { name: 'a clock tolerance of .inf', yaml: configYaml({ extra: 'auth:\n  clockToleranceSeconds: .inf\n' }), path: 'auth.clockToleranceSeconds', message: /^must be a finite number \(got Infinity\)$/ },
  { name: 'a clock tolerance of -.inf', yaml: configYaml({ extra: 'auth:\n  clockToleranceSeconds: -.inf\n' }), path: 'auth.clockToleranceSeconds', message: /^must be a finite number \(got -Infinity\)$/ },
  { name: 'a clock tolerance of .nan', yaml: configYaml({ extra: 'auth:\n  clockToleranceSeconds: .nan\n' }), path: 'auth.clockToleranceSeconds', message: /^must be a finite number \(got NaN\)$/ },
  { name: 'a clock tolerance that overflows to Infinity', yaml: configYaml({ extra: 'auth:\n  clockToleranceSeconds: 1e309\n' }), path: 'auth.clockToleranceSeconds', message: /^must be a finite number \(got Infinity\)$/ },
  { name: 'a clock tolerance of .inf from the environment', yaml: configYaml({ extra: 'auth:\n  clockToleranceSeconds: ${SKEW:-30}\n' }), env: { SKEW: '.inf' }, path: 'auth.clockToleranceSeconds', message: /^must be a finite number \(got Infinity\)$/ },
  { name: 'a clock tolerance of 61 seconds', yaml: configYaml({ extra: 'auth:\n  clockToleranceSeconds: 61\n' }), path: 'auth.clockToleranceSeconds', message: /^must be <= 60 \(got 61\)$/ },
  { name: 'a negative clock tolerance', yaml: configYaml({ extra: 'auth:\n  clockToleranceSeconds: -1\n' }), path: 'auth.clockToleranceSeconds', message: /^must be >= 0 \(got -1\)$/ },
  { name: 'a fractional clock tolerance', yaml: configYaml({ extra: 'auth:\n  clockToleranceSeconds: 30.5\n' }), path: 'auth.clockToleranceSeconds', message: /^must be an integer \(got 30.5\)$/ },
  { name: 'a clock tolerance given as text', yaml: configYaml({ extra: 'auth:\n  clockToleranceSeconds: "30"\n' }), path: 'auth.clockToleranceSeconds', message: /^must be an integer \(got "30"\)$/ },
  { name: 'a clock tolerance without its unit', yaml: configYaml({ extra: 'auth:\n  clockTolerance: 30\n' }), path: 'auth.clockTolerance', message: /^unknown key \(did you mean "clockToleranceSeconds"\?\)$/ },

  // Cache behaviour that other libraries allow and this gateway never does.
  { name: 'a custom cacheKeyBuilder in the cache', yaml: configYaml({ extra: 'auth:\n  cache:\n    cacheKeyBuilder: sub\n' }), path: 'auth.cache.cacheKeyBuilder', message: /^unknown key: cached tokens are always keyed by the SHA-256 of the whole token$/ },
  { name: 'a custom cacheKeyBuilder in auth', yaml: configYaml({ extra: 'auth:\n  cacheKeyBuilder: sub\n' }), path: 'auth.cacheKeyBuilder', message: /^unknown key: / },
  { name: 'allowStale: true in the cache', yaml: configYaml({ extra: 'auth:\n  cache:\n    allowStale: true\n' }), path: 'auth.cache.allowStale', message: /^unknown key: a cached token is never served past its lifetime/ },
  { name: 'allowStale: true in the negative cache', yaml: configYaml({ extra: 'auth:\n  negativeCache:\n    allowStale: true\n' }), path: 'auth.negativeCache.allowStale', message: /^unknown key: / },
  {
    name: 'allowStale: true on a JWKS URL',
    yaml: configYaml({ issuers: `issuers:\n${ISSUER.replace('{ file: jwks.json }', '{ url: https://issuer.test/jwks, allowStale: true }')}    algorithms: [RS256]\n` }),
    path: 'issuers[0].jwks.allowStale',
    message: /^unknown key: /,
  },

  // Unknown keys are never ignored: a misspelt setting would silently keep its default.
  { name: 'an unknown top-level key', yaml: configYaml({ extra: 'debugSkipVerify: true\n' }), path: 'debugSkipVerify', message: /^unknown key$/ },
  { name: 'an unknown key in a route requirement', yaml: configYaml({}).replace('auth: {}', 'auth: { optional: true }'), path: 'routes[0].auth.optional', message: /^unknown key$/ },
  { name: 'an unknown key in an issuer', yaml: configYaml({ issuers: `issuers:\n${ISSUER}    algorithms: [RS256]\n    ignoreExpiration: true\n` }), path: 'issuers[0].ignoreExpiration', message: /^unknown key$/ },
];

for (const c of cases) {
  t.test(`${c.name} is refused at start`, async (t) => {
    let error: unknown;
    try {
      parseConfigText(c.yaml, c.env ?? {}, '/etc/m2m');
    } catch (err) {
      error = err;
    }
    t.ok(error instanceof ConfigError, 'throws ConfigError');
    t.equal((error as ConfigError).code, 'ERR_CONFIG_INVALID');
    const problems = (error as ConfigError).problems;
    const line = problems.find((p) => p.startsWith(`${c.path}: `));
    t.ok(line !== undefined, `a problem names ${c.path} (got ${JSON.stringify(problems)})`);
    t.match(line?.slice(c.path.length + 2), c.message);
  });
}

t.test('the good baseline used by every case loads', async (t) => {
  t.equal(parseConfigText(configYaml({}), {}, '/etc/m2m').issuers[0]!.algorithms[0], 'RS256');
});

// The built process: a bad config is refused before any listener opens, and the refusal echoes no secret.

t.test('the process refuses to start on a bad config, exits 1, and prints no secret', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'm2m-bad-config-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const shortVendorSecret = 'short-vendor-secret-XYZ';
  const shortHashKey = 'tiny-secret-key-ABC';
  const tokenService = (extra: string) =>
    `tokenService:\n  issuer: http://gateway.test\n  audience: api\n  vendor: { clientId: v, secret: ${shortVendorSecret} }\n${extra}${ROUTES}server: { port: 0 }\nadmin: { port: 0 }\n`;
  const configs: [string, string, string][] = [
    ['none in the allow-list', configYaml({ algorithms: '[RS256, none]' }), 'issuers[0].algorithms[1]'],
    ['a clock tolerance of .inf', configYaml({ extra: 'auth:\n  clockToleranceSeconds: .inf\n' }), 'auth.clockToleranceSeconds'],
    ['allowStale: true', configYaml({ extra: 'auth:\n  cache:\n    allowStale: true\n' }), 'auth.cache.allowStale'],
    ['an unknown key', configYaml({ extra: 'debugSkipVerify: true\n' }), 'debugSkipVerify'],
    ['a vendor secret under 32 characters', tokenService(''), 'tokenService.vendor.secret'],
    ['a secret-hash key under 32 characters', tokenService(`  secretKey: ${shortHashKey}\n`), 'tokenService.secretKey'],
  ];
  for (const [name, yaml, path] of configs) {
    const file = join(dir, 'gateway.yaml');
    writeFileSync(file, yaml);
    const run = spawnSync(process.execPath, [MAIN, 'serve', '--config', file], { encoding: 'utf8', timeout: 30_000 });
    t.equal(run.status, 1, `${name}: exit 1`);
    t.match(run.stderr, `  - ${path}: `, `${name}: the problem names ${path}`);
    t.notMatch(run.stdout + run.stderr, /"msg":"listening"/, `${name}: no listener opened`);
    t.notOk((run.stdout + run.stderr).includes(shortVendorSecret) || (run.stdout + run.stderr).includes(shortHashKey), `${name}: no secret echoed`);
  }
});

// Key material is checked when a key set loads, at start or on reload: a gateway whose only
// JWKS file is missing, empty or holds only refused keys opens its listeners but is never ready,
// and refuses every token with 503 (SPEC §5 "Readiness waits for the first good key set").

t.test('with no usable key at start: not ready, and protected routes answer 503, never 200', async (t) => {
  const s = await startScenario({ withoutKeys: true });
  t.teardown(() => s.close());
  const token = await s.mint({ type: 'userApiToken' });
  const files: [string, object | string | undefined][] = [
    ['a missing file', undefined],
    ['an empty file', ''],
    ['an empty set', { keys: [] }],
    ['an RSA key of 1024 bits', { keys: [{ ...generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ format: 'jwk' }), kid: s.issuer.kid, alg: 'RS256', use: 'sig' }] }],
    ['a symmetric key', { keys: [{ kty: 'oct', k: Buffer.from('x'.repeat(32)).toString('base64url'), kid: s.issuer.kid, alg: 'HS256' }] }],
  ];
  for (const [name, content] of files) {
    const invalid = async () => (await s.gateway.app.metrics.jwksFetches.get()).values.filter((v) => v.labels.result !== 'ok').reduce((n, v) => n + v.value, 0);
    const before = await invalid();
    if (content !== undefined) {
      await writeJwksFile(s.jwksPath, content);
      await waitFor(`${name}: the load to be refused`, async () => (await invalid()) > before);
    }
    t.equal((await fetch(`${s.gateway.adminUrl}/readyz`)).status, 503, `${name}: not ready`);
    const res = await send(`${s.gateway.url}/api/x`, { headers: [['authorization', `Bearer ${token}`]] });
    t.equal(res.status, 503, `${name}: 503`);
    t.equal(res.headers['www-authenticate'], undefined, `${name}: no challenge: the token was not judged`);
    t.equal(res.json().code, 'ERR_AUTH_KEYS_UNAVAILABLE', `${name}: code`);
  }
  t.equal(s.upstream.received.length, 0, 'nothing reached the upstream');
  t.strictSame(leakedSecrets(s.gateway.logs.lines(), [token]), [], 'no token in the logs');
});
