import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, posix, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import t, { type Test } from 'tap';
import { parse, parseAllDocuments } from 'yaml';
import { loadConfig } from '../../../src/config/load.js';
import { readDockerfile } from '../../helpers/dockerfile.js';
import { schemaProblems, unknownFieldProblems, type Manifest } from '../../helpers/kubernetes.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));

type Doc = Record<string, unknown>;
type Kind = 'gateway config' | 'kubernetes' | 'prometheus' | 'compose';

/** What a parsed YAML document is, by its top-level keys; undefined when it is none of them. */
function kindOf(value: unknown): Kind | undefined {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined;
  if ('routes' in value) return 'gateway config';
  if ('apiVersion' in value && 'kind' in value) return 'kubernetes';
  if ('scrape_configs' in value) return 'prometheus';
  if ('services' in value) return 'compose';
  return undefined;
}

/**
 * Every YAML file under examples/, every document of it (a file may hold several, `---`
 * separated), parsed. Each must be a gateway config, a Kubernetes manifest, a Prometheus scrape
 * config or a compose file, and is checked as one below.
 */
const documents = readdirSync(join(root, 'examples'), { recursive: true, encoding: 'utf8' })
  .filter((file) => /\.ya?ml$/.test(file))
  .sort()
  .flatMap((file) =>
    parseAllDocuments(readFileSync(join(root, 'examples', file), 'utf8')).map((doc, index) => ({
      file: join(root, 'examples', file),
      label: `examples/${file}#${index + 1}`,
      doc,
      value: doc.toJS() as unknown,
    })),
  );

t.test('every YAML document under examples/ parses, and is something this test checks', async (t) => {
  t.ok(documents.length >= 15, `${documents.length} documents`);
  for (const { label, doc, value } of documents) {
    t.same([...doc.errors, ...doc.warnings].map((e) => e.message), [], `${label} parses`);
    t.ok(kindOf(value), `${label} is a gateway config, a Kubernetes manifest, a Prometheus scrape config or a compose file`);
  }
});

/**
 * Every shipped gateway config must load, so the examples cannot rot: config/gateway.yaml and
 * every YAML file under examples/ that is one. The environment is empty: every `${VAR}` they use
 * has a default. (Configs embedded in Kubernetes ConfigMaps are loaded further down.)
 */
const configs = [
  join(root, 'config/gateway.yaml'),
  ...new Set(documents.filter((d) => kindOf(d.value) === 'gateway config').map((d) => d.file)),
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

t.test('the default config reads its ports, admin address and upstream from the environment', async (t) => {
  t.equal(loadConfig(join(root, 'config/gateway.yaml'), {}).admin.host, '127.0.0.1', 'the admin listener is local unless told otherwise');
  const config = loadConfig(join(root, 'config/gateway.yaml'), { M2M_PORT: '18080', M2M_ADMIN_PORT: '19090', M2M_ADMIN_HOST: '0.0.0.0', M2M_UPSTREAM: 'http://backend:9000' });
  t.equal(config.server.port, 18080);
  t.equal(config.admin.port, 19090);
  t.equal(config.admin.host, '0.0.0.0', 'a container publishes its admin port');
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

/** The variables a config reads (`${NAME}` and `${NAME:-default}`, not the literal `$${`). */
function variablesOf(configText: string): Set<string> {
  return new Set([...configText.matchAll(/(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-[^}]*)?\}/g)].map((m) => m[1]!));
}

const manifests: Manifest[] = documents.filter((d) => kindOf(d.value) === 'kubernetes').map((d) => ({ label: d.label, value: d.value as Doc }));
/** The scale-out configs: a ConfigMap that embeds a gateway config embeds one of these, unchanged. */
const scaleOut = readdirSync(join(root, 'examples/scale-out'))
  .filter((f) => f.endsWith('.yaml'))
  .map((f) => ({ name: `examples/scale-out/${f}`, value: parse(readFileSync(join(root, 'examples/scale-out', f), 'utf8')) as unknown }));

t.test('every Kubernetes manifest under examples/ is valid against the Kubernetes schemas, unknown fields included', async (t) => {
  t.ok(manifests.length >= 10, `${manifests.length} manifests`);
  for (const manifest of manifests) t.same(await schemaProblems(manifest), [], `${manifest.label}: ${String(manifest.value['kind'])}`);
  t.same(unknownFieldProblems(manifests), [], 'no field the API does not know');
});

t.test('the manifest checks refuse a broken manifest', async (t) => {
  const deployment = manifests.find((m) => m.value['kind'] === 'Deployment')!;
  const broken = (change: (d: { spec: { replicas: unknown; template: { spec: { containers: Array<Record<string, unknown>> } } } }) => void): Manifest => {
    const value = structuredClone(deployment.value) as Parameters<typeof change>[0] & Doc;
    change(value);
    return { label: 'broken', value };
  };
  t.same(await schemaProblems(deployment), [], 'the original is valid');
  t.match(await schemaProblems(broken((d) => (d.spec.replicas = 'three'))), [/replicas must be integer/], 'a wrong type');
  t.match(
    await schemaProblems(broken((d) => delete d.spec.template.spec.containers[0]!['name'])),
    [/containers\/0 must have required property name/],
    'a required field missing',
  );
  t.match(
    unknownFieldProblems([
      broken((d) => {
        const container = d.spec.template.spec.containers.at(-1)!;
        container['readinesProbe'] = container['readinessProbe'];
        delete container['readinessProbe'];
      }),
    ]),
    [/^broken: .*readinesProbe.* does not exist in type 'IContainer'/],
    'a misspelled field',
  );
  t.match(await schemaProblems({ label: 'broken', value: { apiVersion: 'apps/v1', kind: 'Deploymnet' } }), ['broken: no schema for apps/v1 Deploymnet'], 'an unknown kind');
});

/** The manifests of one example folder, by kind and name. */
function folder(path: string) {
  const all = manifests.filter((m) => m.label.startsWith(`${path}/`)).map((m) => m.value as Doc & { kind: string; metadata: { name: string; labels?: Record<string, string> } });
  const one = <T>(kind: string, name?: string): T => {
    const found = all.filter((m) => m.kind === kind && (name === undefined || m.metadata.name === name));
    if (found.length !== 1) throw new Error(`${path}: ${found.length} ${kind} ${name ?? ''}`);
    return found[0] as T;
  };
  return { all, one };
}

interface Container {
  name: string;
  env?: Array<{ name: string; value?: string }>;
  envFrom?: Array<{ secretRef?: { name: string } }>;
  ports?: Array<{ name: string; containerPort: number }>;
  readinessProbe?: { httpGet: { path: string; port: string } };
  livenessProbe?: { httpGet: { path: string; port: string } };
  volumeMounts?: Array<{ name: string; mountPath: string; readOnly?: boolean }>;
}
interface Deployment {
  spec: {
    replicas: number;
    selector: { matchLabels: Record<string, string> };
    template: { metadata: { labels: Record<string, string> }; spec: { containers: Container[]; volumes: Array<{ name: string; configMap?: { name: string } }> } };
  };
}
interface Service {
  metadata: { name: string; labels: Record<string, string> };
  spec: { selector: Record<string, string>; ports: Array<{ name: string; port: number; targetPort: string }> };
}

const image = readDockerfile().runtime;
const imageConfig = image.cmd[image.cmd.indexOf('--config') + 1]!;

/**
 * The gateway container of a Deployment, checked against the image and its ConfigMap: the config
 * is mounted where the image's CMD reads it, it is one of the scale-out configs, unchanged, and
 * loads; every variable the pod sets (env and Secret keys) is one the config reads, so a
 * misspelled name cannot be silently ignored; the probes are on the admin port.
 */
async function checkGateway(t: Test, path: string, deploymentName: string) {
  const { one } = folder(path);
  const deployment = one<Deployment>('Deployment', deploymentName);
  const pod = deployment.spec.template.spec;
  const gateway = pod.containers.find((c) => c.name === 'gateway')!;
  t.ok(gateway, 'a container named gateway');
  t.same(deployment.spec.selector.matchLabels, Object.fromEntries(Object.entries(deployment.spec.template.metadata.labels).filter(([k]) => k in deployment.spec.selector.matchLabels)), 'the selector matches the pods');

  const mount = gateway.volumeMounts?.find((m) => m.mountPath === posix.dirname(imageConfig));
  t.ok(mount?.readOnly, `the config is mounted read-only at ${posix.dirname(imageConfig)}, where the image reads it`);
  const volume = pod.volumes.find((v) => v.name === mount?.name);
  const configMap = one<{ data: Record<string, string> }>('ConfigMap', volume?.configMap?.name);
  const text = configMap.data[posix.basename(imageConfig)];
  t.type(text, 'string', `the ConfigMap has ${posix.basename(imageConfig)}`);
  const embedded = parse(text!) as unknown;
  const same = scaleOut.find((c) => JSON.stringify(c.value) === JSON.stringify(embedded));
  t.ok(same, `the embedded config is one of examples/scale-out/*.yaml, unchanged (${same?.name ?? 'none'})`);

  const dir = mkdtempSync(join(tmpdir(), 'm2m-configmap-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'gateway.yaml'), text!);
  const env: Record<string, string> = Object.fromEntries((gateway.env ?? []).map((e) => [e.name, e.value ?? '']));
  const secrets = (gateway.envFrom ?? []).map((e) => one<{ stringData: Record<string, string> }>('Secret', e.secretRef?.name));
  t.ok(secrets.length > 0, 'credentials come from a Secret');
  const secretKeys = secrets.flatMap((s) => Object.keys(s.stringData));
  const reads = variablesOf(text!);
  for (const name of [...Object.keys(env), ...secretKeys]) t.ok(reads.has(name), `the config reads ${name}`);
  const config = loadConfig(join(dir, 'gateway.yaml'), env);
  t.ok(config.routes.length > 0, 'the embedded config loads with the pod\'s environment');

  const ports = new Map((gateway.ports ?? []).map((p) => [p.name, p.containerPort]));
  t.equal(gateway.readinessProbe?.httpGet.path, '/readyz');
  t.equal(gateway.livenessProbe?.httpGet.path, '/healthz');
  t.equal(ports.get(gateway.readinessProbe!.httpGet.port), config.admin.port, 'readiness on the admin port');
  t.equal(ports.get(gateway.livenessProbe!.httpGet.port), config.admin.port, 'liveness on the admin port');
  t.not(config.admin.host, '127.0.0.1', 'the admin listener is reachable by the kubelet');
  return { deployment, gateway, config, ports, env, one };
}

t.test('kubernetes/sidecar: the application is reachable only through the gateway', async (t) => {
  const { deployment, gateway, config, ports, env, one } = await checkGateway(t, 'examples/kubernetes/sidecar', 'orders');
  t.equal(config.tokenService, undefined, 'the sidecar runs the proxy only');
  const app = deployment.spec.template.spec.containers.find((c) => c !== gateway)!;
  t.same(app.ports ?? [], [], 'the application declares no port');
  t.same(Object.fromEntries((app.env ?? []).map((e) => [e.name, e.value])), { HOST: '127.0.0.1', PORT: '3000' }, 'and listens on loopback');
  t.same(new Set(config.routes.map((r) => r.upstream)), new Set([`http://127.0.0.1:3000`]), 'the gateway forwards to it in the pod');
  t.equal(env['APP_UPSTREAM'], 'http://127.0.0.1:3000');
  const service = one<Service>('Service', 'orders');
  t.same(service.spec.selector, deployment.spec.selector.matchLabels, 'the Service selects these pods');
  t.same(service.spec.ports.map((p) => ports.get(p.targetPort)), [config.server.port], "the Service targets the gateway's proxy port, and nothing else");

  // It trusts the issuer of ../standalone: the same iss and aud, reached at that issuer's Service.
  const standalone = folder('examples/kubernetes/standalone');
  const issuerEnv = Object.fromEntries(
    (standalone.one<Deployment>('Deployment').spec.template.spec.containers.find((c) => c.name === 'gateway')!.env ?? []).map((e) => [e.name, e.value]),
  );
  t.equal(env['M2M_ISSUER'], issuerEnv['M2M_ISSUER']);
  t.equal(env['M2M_AUDIENCE'], issuerEnv['M2M_AUDIENCE']);
  const issuerService = standalone.one<Service>('Service', 'm2m-issuer');
  const issuerUrl = new URL(env['M2M_ISSUER_URL']!);
  t.match(issuerUrl.hostname, new RegExp(`^${issuerService.metadata.name}\\.`), "the issuer's Service");
  t.equal(Number(issuerUrl.port), issuerService.spec.ports[0]!.port);
});

t.test('kubernetes/standalone: issuer replicas on PostgreSQL, a disruption budget, metrics scraped', async (t) => {
  const { deployment, config, ports, one } = await checkGateway(t, 'examples/kubernetes/standalone', 'm2m-issuer');
  t.ok(deployment.spec.replicas >= 3, 'several replicas');
  t.equal(config.store.driver, 'postgres');
  const secret = one<{ stringData: Record<string, string> }>('Secret', 'm2m-issuer');
  t.same(Object.keys(secret.stringData).sort(), ['M2M_DATABASE_URL', 'M2M_KEY_ENCRYPTION_KEY', 'M2M_SECRET_KEY', 'M2M_VENDOR_CLIENT_ID', 'M2M_VENDOR_SECRET']);

  const pdb = one<{ spec: { minAvailable: number; selector: { matchLabels: Record<string, string> } } }>('PodDisruptionBudget');
  t.ok(pdb.spec.minAvailable >= 1 && pdb.spec.minAvailable < deployment.spec.replicas, 'the budget leaves room to drain a node');
  t.same(pdb.spec.selector.matchLabels, deployment.spec.selector.matchLabels);

  const service = one<Service>('Service', 'm2m-issuer');
  t.same(service.spec.ports.map((p) => ports.get(p.targetPort)), [config.server.port], 'clients get the proxy and token API, not /metrics');
  const admin = one<Service>('Service', 'm2m-issuer-admin');
  t.same(admin.spec.ports.map((p) => ports.get(p.targetPort)), [config.admin.port]);
  const monitor = one<{ spec: { selector: { matchLabels: Record<string, string> }; endpoints: Array<{ port: string; path: string }> } }>('ServiceMonitor');
  const selected = folder('examples/kubernetes/standalone')
    .all.filter((m) => m.kind === 'Service')
    .filter((s) => Object.entries(monitor.spec.selector.matchLabels).every(([k, v]) => s.metadata.labels?.[k] === v));
  t.same(selected.map((s) => s.metadata.name), ['m2m-issuer-admin'], 'the ServiceMonitor selects the admin Service only');
  t.same(monitor.spec.endpoints.map((e) => [e.port, e.path]), [[admin.spec.ports[0]!.name, '/metrics']]);

  const scrape = documents.find((d) => kindOf(d.value) === 'prometheus' && d.label.startsWith('examples/kubernetes/standalone/'))?.value as
    | { scrape_configs: Array<{ job_name: string; metrics_path: string; kubernetes_sd_configs: Array<{ role: string }>; relabel_configs: Array<{ source_labels: string[]; regex?: string; action?: string }> }> }
    | undefined;
  t.ok(scrape, 'a plain Prometheus scrape config');
  const job = scrape!.scrape_configs[0]!;
  t.equal(job.metrics_path, '/metrics');
  t.same(job.kubernetes_sd_configs, [{ role: 'pod' }]);
  const keep = job.relabel_configs.find((r) => r.action === 'keep');
  t.same(keep?.source_labels, ['__meta_kubernetes_pod_container_port_name']);
  const adminPortNames = ['examples/kubernetes/standalone', 'examples/kubernetes/sidecar'].map((path) => {
    const gateway = folder(path).one<Deployment>('Deployment').spec.template.spec.containers.find((c) => c.name === 'gateway')!;
    return gateway.ports!.find((p) => p.containerPort === config.admin.port)!.name;
  });
  for (const name of adminPortNames) t.match(name, new RegExp(`^(?:${keep!.regex})$`), `the job keeps the admin port ${name} of the issuers and the sidecars`);
});

t.test('local/compose.yaml runs the image of this Dockerfile with its volume, ports and the demo config', async (t) => {
  const compose = documents.find((d) => kindOf(d.value) === 'compose')!;
  t.equal(compose.label, 'examples/local/compose.yaml#1');
  const gateway = (compose.value as { services: Record<string, { build: { context: string }; environment: Record<string, string>; ports: string[]; volumes: string[] }> }).services['gateway']!;
  t.equal(resolve(dirname(compose.file), gateway.build.context), resolve(root), 'built from the repository root, with its Dockerfile');
  for (const volume of gateway.volumes) t.ok(image.volumes.includes(volume.split(':')[1]!), `${volume}: onto a VOLUME of the image`);
  for (const port of gateway.ports) t.ok(image.expose.includes(Number(port.split(':').at(-1))), `${port}: an EXPOSEd port`);
  const reads = variablesOf(readFileSync(join(root, 'config/gateway.yaml'), 'utf8'));
  for (const name of Object.keys(gateway.environment)) t.ok(reads.has(name), `config/gateway.yaml reads ${name}`);
  const config = loadConfig(join(root, 'config/gateway.yaml'), gateway.environment);
  t.equal(config.admin.host, '0.0.0.0', 'the admin port can be published');
  t.equal(basename(imageConfig), 'gateway.yaml');
});
