/**
 * The scaled-out shape of examples/scale-out, as separate processes on a real PostgreSQL: two
 * issuer replicas on one database, two sidecars checking liveness in that database and one through
 * the issuer API. Every credential kind works through every sidecar; a revocation at one replica
 * reaches the other replica and every database sidecar within a second (LISTEN/NOTIFY), the
 * API sidecar within its cache TTL; a database outage fails closed (503, readiness false) without
 * a crash, and everything recovers by itself once the database is back — the change feed included.
 */
import { resolve } from 'node:path';
import t, { type Test } from 'tap';
import { startEchoUpstream, type Received } from '../../scripts/echo-upstream.js';
import { waitReady } from '../../scripts/wait-ready.js';
import { startRestartablePostgres } from '../helpers/postgres.js';
import { ISSUER_CONFIG, serve, vendorCall, VENDOR, type Process } from '../helpers/processes.js';
import { basicAuth } from '../helpers/token-scenario.js';
import { waitFor } from '../helpers/wait.js';

const SIDECAR_POSTGRES_CONFIG = resolve('examples/scale-out/sidecar-postgres.yaml');
const SIDECAR_API_CONFIG = resolve('examples/scale-out/sidecar-issuer-api.yaml');
/** The API sidecar's liveness cache TTL (sidecar-issuer-api.yaml reads it from the environment). */
const API_SIDECAR_TTL_SECONDS = 2;
/** How soon a pushed revocation must be enforced everywhere on the database. */
const PUSH_BOUND_MS = 1000;
/** Under the issuers' /orders route and the sidecars' catch-all route. */
const PATH = '/orders/list';
const TENANT = 'acme';
const USER = 'user-1';

/** A credential as a client presents it, with the identity the upstream must receive for it. */
interface Credential {
  readonly name: string;
  readonly header: readonly [string, string];
  readonly secret: string;
  readonly tenantId: string;
  readonly roles: string;
  readonly userId?: string;
}

/** One request with `credential` through a gateway's proxy; never hangs past `timeoutMs`. */
async function call(gateway: Process, path: string, credential: Credential, timeoutMs = 6000): Promise<number> {
  const res = await fetch(`${gateway.url}${path}`, { headers: [credential.header as [string, string]], signal: AbortSignal.timeout(timeoutMs) });
  await res.arrayBuffer();
  return res.status;
}

/** Milliseconds from `since` until `gateway` first answers `status` for `credential`; polls every 20 ms. */
async function timeUntil(gateway: Process, path: string, credential: Credential, status: number, since: number, timeoutMs: number): Promise<number> {
  await waitFor(`${gateway.name} to answer ${status} for the ${credential.name}`, async () => (await call(gateway, path, credential)) === status, { timeoutMs, intervalMs: 20 });
  return Date.now() - since;
}

async function statusOf(url: string): Promise<number> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
    await res.arrayBuffer();
    return res.status;
  } catch {
    return 0;
  }
}

async function feedConnected(gateway: Process): Promise<boolean> {
  const res = await fetch(`${gateway.adminUrl}/metrics`);
  return /^m2m_gateway_change_feed_connected 1$/m.test(await res.text());
}

t.test('the scaled-out shape: every credential through every sidecar, revocations pushed within a second, a database outage survived', async (t) => {
  const db = await startRestartablePostgres(t);
  const upstream = await startEchoUpstream();
  t.teardown(() => upstream.close());

  const issuerEnv = { M2M_DATABASE_URL: db.url, ORDERS_UPSTREAM: upstream.url };
  // The first replica migrates the schema; the second starts on it.
  const issuer1 = await serve(t, 'issuer 1', ISSUER_CONFIG, issuerEnv);
  const issuer2 = await serve(t, 'issuer 2', ISSUER_CONFIG, issuerEnv);
  const [pgSidecar1, pgSidecar2, apiSidecar] = await Promise.all([
    serve(t, 'postgres sidecar 1', SIDECAR_POSTGRES_CONFIG, { M2M_ISSUER_URL: issuer1.url, M2M_DATABASE_URL: db.url, APP_UPSTREAM: upstream.url }),
    serve(t, 'postgres sidecar 2', SIDECAR_POSTGRES_CONFIG, { M2M_ISSUER_URL: issuer1.url, M2M_DATABASE_URL: db.url, APP_UPSTREAM: upstream.url }),
    serve(t, 'issuer-API sidecar', SIDECAR_API_CONFIG, { M2M_ISSUER_URL: issuer2.url, APP_UPSTREAM: upstream.url, M2M_LIVENESS_TTL_SECONDS: String(API_SIDECAR_TTL_SECONDS) }),
  ]);
  const processes = [issuer1, issuer2, pgSidecar1, pgSidecar2, apiSidecar];
  const sidecars = [pgSidecar1, pgSidecar2, apiSidecar];
  const pushed = [pgSidecar1, pgSidecar2, issuer1];
  const diagnostics = () => processes.map((p) => `--- ${p.name}${p.alive() ? '' : ' (exited)'}\n${p.output().split('\n').slice(-15).join('\n')}`).join('\n');
  /** A wait whose timeout also says what every process last logged. */
  const explained = <T>(waiting: Promise<T>): Promise<T> =>
    waiting.catch((err: unknown) => {
      throw new Error(`${err instanceof Error ? err.message : String(err)}\n${diagnostics()}`);
    });

  /** Creates a tenant access token (X-API-KEY) at issuer 1. */
  const tenantAccessToken = async (name: string, roleIds: string[]): Promise<Credential & { id: string }> => {
    const created = await vendorCall(issuer1, 'POST', '/identity/resources/tenants/access-tokens/v1', { headers: { 'frontegg-tenant-id': TENANT }, body: { description: name, roleIds } });
    if (created.status !== 201) throw new Error(`create ${name}: ${created.status} ${JSON.stringify(created.body)}`);
    const secret = String(created.body['secret']);
    return { name, id: String(created.body['id']), header: ['x-api-key', secret], secret, tenantId: TENANT, roles: roleIds.join(',') };
  };

  /** Asserts a 200 through `gateway` and what the upstream received for it. */
  const usable = async (t: Test, gateway: Process, credential: Credential) => {
    const before = upstream.received.length;
    const status = await call(gateway, PATH, credential);
    t.equal(status, 200, `${credential.name} through ${gateway.name}`, { diagnostics: status === 200 ? undefined : diagnostics() });
    const seen: Received | undefined = upstream.received.slice(before).find((r) => r.url === PATH);
    t.equal(seen?.headers['x-auth-tenant-id'], credential.tenantId, `${gateway.name} sends the tenant`);
    t.equal(seen?.headers['x-auth-roles'], credential.roles, `${gateway.name} sends the roles`);
    if (credential.userId !== undefined) t.equal(seen?.headers['x-auth-user-id'], credential.userId, `${gateway.name} sends the user`);
    const leaked = Object.entries(seen?.headers ?? {}).filter(([, value]) => String(value).includes(credential.secret));
    t.strictSame(leaked, [], `${gateway.name} never forwards the ${credential.name}`);
  };

  // Credentials of every kind, made at issuer 1.
  const access = await tenantAccessToken('tenant access token', ['writer']);
  const client = await vendorCall(issuer1, 'POST', '/identity/resources/tenants/api-tokens/v2', { headers: { 'frontegg-tenant-id': TENANT }, body: { description: 'client credentials', roleIds: ['reader'] } });
  t.equal(client.status, 201, 'client-credentials token created');
  const clientId = String(client.body['clientId']);
  const exchanged = await fetch(`${issuer1.url}/oauth/token`, {
    method: 'POST',
    headers: { authorization: basicAuth(clientId, String(client.body['secret'])), 'content-type': 'application/x-www-form-urlencoded' },
    body: 'grant_type=client_credentials',
  });
  t.equal(exchanged.status, 200, 'client credentials exchanged for a JWT');
  const jwt = String(((await exchanged.json()) as { access_token: string }).access_token);
  const clientJwt: Credential = { name: 'client-credentials JWT', header: ['authorization', `Bearer ${jwt}`], secret: jwt, tenantId: TENANT, roles: 'reader' };
  t.equal((await vendorCall(issuer1, 'PUT', `/m2m/v1/tenants/${TENANT}`)).status, 200, 'tenant created');
  t.equal((await vendorCall(issuer1, 'PUT', `/m2m/v1/tenants/${TENANT}/users/${USER}`, { body: { roleIds: ['writer'] } })).status, 200, 'membership created');
  const userCreated = await vendorCall(issuer1, 'POST', '/identity/resources/users/access-tokens/v1', { headers: { 'frontegg-tenant-id': TENANT, 'frontegg-user-id': USER }, body: { description: 'user token' } });
  t.equal(userCreated.status, 201, 'user access token created');
  const userSecret = String(userCreated.body['secret']);
  const userToken: Credential = { name: 'user access token', header: ['x-api-key', userSecret], secret: userSecret, tenantId: TENANT, roles: 'writer', userId: USER };
  // Kept for the outage: one used just before it, one never shown to anyone until it.
  const steady = await tenantAccessToken('steady access token', ['reader']);
  const unseen = await tenantAccessToken('unseen access token', ['reader']);
  const revocable = [access, clientJwt, userToken];

  await t.test('every credential works through every sidecar and through issuer 1', async (t) => {
    for (const gateway of [...sidecars, issuer1]) {
      for (const credential of revocable) await usable(t, gateway, credential);
    }
  });

  await t.test('a revocation at issuer 2 is enforced by issuer 1 and every database sidecar within a second, by the API sidecar within its TTL', async (t) => {
    const revocations: { credential: Credential; revoke: () => Promise<{ status: number }> }[] = [
      { credential: access, revoke: () => vendorCall(issuer2, 'DELETE', `/identity/resources/tenants/access-tokens/v1/${access.id}`, { headers: { 'frontegg-tenant-id': TENANT } }) },
      { credential: clientJwt, revoke: () => vendorCall(issuer2, 'DELETE', `/identity/resources/tenants/api-tokens/v1/${clientId}`, { headers: { 'frontegg-tenant-id': TENANT } }) },
      { credential: userToken, revoke: () => vendorCall(issuer2, 'DELETE', `/m2m/v1/tenants/${TENANT}/users/${USER}`) },
    ];
    for (const { credential, revoke } of revocations) {
      // Every cache holds a live answer right before the revocation.
      for (const gateway of [...sidecars, issuer1]) t.equal(await call(gateway, PATH, credential), 200, `${gateway.name} has the ${credential.name} cached`);
      const revoked = await revoke();
      t.equal(revoked.status, 204, `${credential.name} revoked at issuer 2`);
      const at = Date.now();
      const [ms1, ms2, msIssuer, msApi] = await explained(Promise.all([
        ...pushed.map((gateway) => timeUntil(gateway, PATH, credential, 401, at, 5000)),
        timeUntil(apiSidecar, PATH, credential, 401, at, API_SIDECAR_TTL_SECONDS * 1000 + 3000),
      ]));
      t.comment(`${credential.name}: refused after ${ms1} ms (${pgSidecar1.name}), ${ms2} ms (${pgSidecar2.name}), ${msIssuer} ms (issuer 1), ${msApi} ms (issuer-API sidecar, TTL ${API_SIDECAR_TTL_SECONDS} s)`);
      t.ok(ms1! < PUSH_BOUND_MS, `${pgSidecar1.name} refuses the ${credential.name} within a second (${ms1} ms)`);
      t.ok(ms2! < PUSH_BOUND_MS, `${pgSidecar2.name} refuses the ${credential.name} within a second (${ms2} ms)`);
      t.ok(msIssuer! < PUSH_BOUND_MS, `issuer 1 refuses the ${credential.name} within a second (${msIssuer} ms)`);
      // The cached answer was fetched before the revocation, so it expires less than a TTL after it;
      // the margin covers the poll interval and one request.
      t.ok(msApi! < API_SIDECAR_TTL_SECONDS * 1000 + 500, `the issuer-API sidecar refuses the ${credential.name} within its TTL (${msApi} ms)`);
    }
  });

  await t.test('a database outage fails closed without a crash; everything recovers by itself', async (t) => {
    for (const gateway of pushed) t.equal(await call(gateway, PATH, steady), 200, `${gateway.name} caches the steady token's answer`);
    const stoppedAt = Date.now();
    await db.stop();
    t.comment(`PostgreSQL stopped in ${Date.now() - stoppedAt} ms`);

    for (const gateway of pushed) t.equal(await call(gateway, PATH, steady), 200, `${gateway.name}: a cached answer keeps working within the TTL`);
    // Before any request needs the database, so each process notices the outage by itself (its
    // probe). The issuer-API sidecar reads no database, so its readiness is not about it.
    const readers = [issuer1, issuer2, pgSidecar1, pgSidecar2];
    const outageAt = Date.now();
    await explained(Promise.all(readers.map((p) => waitFor(`${p.name} not ready`, async () => (await statusOf(`${p.adminUrl}/readyz`)) === 503, { timeoutMs: 12_000, intervalMs: 100 }))));
    t.comment(`readiness 503 on every database reader ${Date.now() - outageAt} ms into the outage`);
    t.pass('every process reading the database reports not ready');
    for (const gateway of [...sidecars, issuer1]) {
      const started = Date.now();
      const status = await call(gateway, PATH, unseen, 6000);
      const ms = Date.now() - started;
      t.equal(status, 503, `${gateway.name}: a token it never checked fails closed (${ms} ms)`);
      t.ok(ms < 6000, `${gateway.name} answers at once, without waiting for the database`);
    }
    t.strictSame(processes.filter((p) => !p.alive()).map((p) => p.name), [], 'no process exited', { diagnostics: diagnostics() });

    const restartedAt = Date.now();
    await db.start();
    await explained(Promise.all(processes.map((p) => waitReady(`${p.adminUrl}/readyz`, { timeoutMs: 30_000, intervalMs: 100 }))));
    t.comment(`ready again ${Date.now() - restartedAt} ms after the restart`);
    await explained(Promise.all([issuer1, issuer2, pgSidecar1, pgSidecar2].map((p) => waitFor(`${p.name}'s change feed`, () => feedConnected(p), { timeoutMs: 15_000, intervalMs: 100 }))));
    t.comment(`change feeds listening again ${Date.now() - restartedAt} ms after the restart`);
    t.pass('readiness and the change feeds came back by themselves');

    for (const gateway of [...sidecars, issuer1]) t.equal(await call(gateway, PATH, unseen), 200, `${gateway.name}: the unseen token works once the database answers`);
    const revoked = await vendorCall(issuer2, 'DELETE', `/identity/resources/tenants/access-tokens/v1/${unseen.id}`, { headers: { 'frontegg-tenant-id': TENANT } });
    t.equal(revoked.status, 204, 'unseen token revoked at issuer 2 after the restart');
    const at = Date.now();
    const times = await explained(Promise.all(pushed.map((gateway) => timeUntil(gateway, PATH, unseen, 401, at, 5000))));
    t.comment(`after the restart, a revocation refused after ${times.join(' / ')} ms (${pushed.map((p) => p.name).join(' / ')})`);
    pushed.forEach((gateway, i) => t.ok(times[i]! < PUSH_BOUND_MS, `${gateway.name} refuses within a second after the restart (${times[i]} ms)`));
    t.strictSame(processes.filter((p) => !p.alive()).map((p) => p.name), [], 'no process exited', { diagnostics: diagnostics() });
  });

  await t.test('no process logged a credential, a client secret, the vendor secret or the database password', async (t) => {
    const secrets = [...[access, clientJwt, userToken, steady, unseen].map((c) => c.secret), String(client.body['secret']), VENDOR.secret, new URL(db.url).password];
    for (const p of processes) t.notOk(secrets.some((secret) => p.output().includes(secret)), `${p.name}'s log holds no credential`);
  });
});
