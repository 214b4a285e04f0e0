import { readFileSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { loadConfig } from '../../../src/config/load.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));

/**
 * Every shipped gateway config must load, so the examples cannot rot. A YAML file is a gateway
 * config when it has a top-level `routes:` key (Kubernetes manifests that embed one in a ConfigMap
 * indent it, and are not picked). The environment is empty: every `${VAR}` they use has a default.
 */
const configs = [
  join(root, 'config/gateway.yaml'),
  ...readdirSync(join(root, 'examples'), { recursive: true, encoding: 'utf8' })
    .filter((file) => /\.ya?ml$/.test(file))
    .map((file) => join(root, 'examples', file))
    .filter((file) => /^routes:/m.test(readFileSync(file, 'utf8'))),
];

t.ok(configs.length >= 3, 'the default config and the examples are found');

for (const file of configs) {
  t.test(`${relative(root, file)} loads with defaults for every variable`, async (t) => {
    const config = loadConfig(file, {});
    t.ok(config.routes.length > 0);
    t.ok(config.issuers.length > 0);
  });
}

t.test('the default config is the documented demo', async (t) => {
  const config = loadConfig(join(root, 'config/gateway.yaml'), {});
  t.equal(config.server.port, 8080);
  t.equal(config.admin.port, 9090);
  t.same(
    config.issuers.map((i) => ({ name: i.name, issuer: i.issuer, audiences: i.audiences, jwks: i.jwks })),
    [{ name: 'local', issuer: 'http://localhost:8080', audiences: ['m2m-gateway-demo'], jwks: { kind: 'own' } }],
    'the standalone shape: the built-in token service is the only issuer',
  );
  t.equal(config.tokenService?.vendor.clientId, 'demo-vendor');
  t.ok((config.tokenService?.vendor.secret.length ?? 0) >= 32);
  t.match(config.tokenService?.vendor.secret, /demo-only/, 'the demo default says it is one');
  t.equal(config.dataDir, join(root, 'data'));
  t.equal(config.store.driver, 'sqlite');
  t.same([...config.directory.roles.keys()], ['admin', 'viewer']);
  t.same(config.directory.defaultRoleIds, ['viewer']);
  t.same(
    config.routes.map((r) => [r.name, r.pathPrefix, r.upstream, r.auth === null ? 'none' : [...r.auth.tokenTypes].length, r.auth?.anyRole]),
    [
      ['public', '/public', 'http://127.0.0.1:3000', 'none', undefined],
      ['admin', '/admin', 'http://127.0.0.1:3000', 4, ['admin']],
      ['api', '/api', 'http://127.0.0.1:3000', 4, undefined],
    ],
  );
});

t.test('the default config reads its ports and upstream from the environment', async (t) => {
  const config = loadConfig(join(root, 'config/gateway.yaml'), { M2M_PORT: '18080', M2M_ADMIN_PORT: '19090', M2M_UPSTREAM: 'http://backend:9000' });
  t.equal(config.server.port, 18080);
  t.equal(config.admin.port, 19090);
  t.same(new Set(config.routes.map((r) => r.upstream)), new Set(['http://backend:9000']));
});

t.test('the demo JWKS of examples/standalone.yaml holds the two public keys and no private material', async (t) => {
  const jwks = JSON.parse(readFileSync(join(root, 'config/demo-jwks.json'), 'utf8')) as { keys: Array<Record<string, unknown>> };
  t.same(
    jwks.keys.map((k) => [k['kid'], k['kty'], k['alg'], k['use']]),
    [
      ['demo-rs256', 'RSA', 'RS256', 'sig'],
      ['demo-es256', 'EC', 'ES256', 'sig'],
    ],
  );
  const { createPublicKey } = await import('node:crypto');
  for (const key of jwks.keys) {
    for (const member of ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k']) t.notOk(Object.hasOwn(key, member), `${String(key['kid'])} has no "${member}"`);
    const imported = createPublicKey({ key: key as import('node:crypto').JsonWebKey, format: 'jwk' });
    t.equal(imported.type, 'public');
    if (key['kty'] === 'RSA') t.ok((imported.asymmetricKeyDetails?.modulusLength ?? 0) >= 2048, 'RSA key of at least 2048 bits');
    if (key['kty'] === 'EC') t.equal(imported.asymmetricKeyDetails?.namedCurve, 'prime256v1');
  }
});
