/**
 * Case 24: a credential revoked through the store — an access token deleted (its `jti` no longer
 * live), an API token's client deleted, a user's membership or the whole tenant removed — is
 * refused (401 invalid_token, ERR_AUTH_REVOKED) on the very next request, although its JWT was
 * verified and cached a moment before. A replica that receives no change event (two gateways on
 * one SQLite file) refuses it once its liveness answer expires: within `liveness.cacheTtlSeconds`,
 * shown here on an injected clock.
 *
 * Linked, not repeated: the token service's own checks are in revocation.test.ts ("deleting a
 * credential or a membership refuses its JWTs at once"), and the PostgreSQL change feed across
 * processes (refused everywhere within a second) in test/integration/scale-out.test.ts.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { createManualClock } from '../../src/clock.js';
import { leakedSecrets } from '../helpers/log-sink.js';
import { expectForwarded, expectRefused, type ProxyRequest } from '../helpers/refusals.js';
import { basicAuth, postForm, startTokenScenario, type TokenScenario } from '../helpers/token-scenario.js';

const TENANT = 'tenant-24';
const USER = 'user-24';

/** A vendor-authenticated call to the token service's management routes. */
async function manage(s: TokenScenario, method: string, path: string, body?: object): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${s.gateway.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${await s.vendorToken()}`, 'frontegg-tenant-id': TENANT, 'frontegg-user-id': USER, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>) };
}

/** One credential of each kind on TENANT, as a client presents it. */
async function credentials(t: Test, s: TokenScenario) {
  t.equal((await manage(s, 'PUT', `/m2m/v1/tenants/${TENANT}`, {})).status, 200, 'tenant created');
  t.equal((await manage(s, 'PUT', `/m2m/v1/tenants/${TENANT}/users/${USER}`, {})).status, 200, 'membership created');
  const access = await manage(s, 'POST', '/identity/resources/tenants/access-tokens/v1', { description: 'case 24' });
  const userAccess = await manage(s, 'POST', '/identity/resources/users/access-tokens/v1', { description: 'case 24' });
  const api = await manage(s, 'POST', '/identity/resources/tenants/api-tokens/v2', { description: 'case 24' });
  const userApi = await manage(s, 'POST', '/identity/resources/users/api-tokens/v1', { description: 'case 24' });
  const exchange = async (clientId: unknown, secret: unknown) => {
    const res = await postForm(s, '/oauth/token', 'grant_type=client_credentials', { authorization: basicAuth(String(clientId), String(secret)) });
    return ((await res.json()) as { access_token: string }).access_token;
  };
  return {
    access: { id: String(access.body.id), request: { headers: [['X-API-KEY', String(access.body.secret)]] } satisfies ProxyRequest },
    userAccess: { id: String(userAccess.body.id), request: { headers: [['X-API-KEY', String(userAccess.body.secret)]] } satisfies ProxyRequest },
    api: { clientId: String(api.body.clientId), secret: String(api.body.secret), request: { headers: [['Authorization', `Bearer ${await exchange(api.body.clientId, api.body.secret)}`]] } satisfies ProxyRequest },
    userApi: { clientId: String(userApi.body.clientId), request: { headers: [['Authorization', `Bearer ${await exchange(userApi.body.clientId, userApi.body.secret)}`]] } satisfies ProxyRequest },
  };
}

const secretsOf = (requests: ProxyRequest[]) => requests.flatMap((r) => (r.headers ?? []).map(([, value]) => value.replace(/^Bearer /, '')));

t.test('a revoked credential is refused on the next request, although its JWT is cached', async (t) => {
  const s = await startTokenScenario();
  t.teardown(() => s.close());
  const c = await credentials(t, s);
  const all = [c.access.request, c.userAccess.request, c.api.request, c.userApi.request];
  for (const request of all) {
    await expectForwarded(t, s, `control: ${request.headers[0]![0]} works`, request, { 'x-auth-tenant-id': TENANT });
    await expectForwarded(t, s, 'and is now cached', request);
  }

  t.equal((await manage(s, 'DELETE', `/identity/resources/tenants/access-tokens/v1/${c.access.id}`)).status, 204, 'access token deleted');
  await expectRefused(t, s, 'the deleted access token (its jti is no longer live)', c.access.request, 'ERR_AUTH_REVOKED');
  await expectForwarded(t, s, 'the user access token is not affected', c.userAccess.request);

  t.equal((await manage(s, 'DELETE', `/identity/resources/tenants/api-tokens/v1/${c.api.clientId}`)).status, 204, 'API token (client) deleted');
  await expectRefused(t, s, 'the outstanding JWT of the deleted client', c.api.request, 'ERR_AUTH_REVOKED');
  const exchange = await postForm(s, '/oauth/token', 'grant_type=client_credentials', { authorization: basicAuth(c.api.clientId, c.api.secret) });
  t.equal(exchange.status, 401, 'and the deleted client cannot get another one');

  t.equal((await manage(s, 'DELETE', `/m2m/v1/tenants/${TENANT}/users/${USER}`)).status, 204, 'membership removed');
  await expectRefused(t, s, 'the user access token of the removed member', c.userAccess.request, 'ERR_AUTH_REVOKED');
  await expectRefused(t, s, 'the user API JWT of the removed member', c.userApi.request, 'ERR_AUTH_REVOKED');
  t.strictSame(leakedSecrets(s.gateway.logs.lines(), [...secretsOf(all), c.api.secret]), [], 'no token or secret in the logs');
});

t.test('removing the tenant refuses every credential of it at once', async (t) => {
  const s = await startTokenScenario();
  t.teardown(() => s.close());
  const c = await credentials(t, s);
  const all = [c.access.request, c.userAccess.request, c.api.request, c.userApi.request];
  for (const request of all) await expectForwarded(t, s, `control: ${request.headers[0]![0]} works and is cached`, request);
  t.equal((await manage(s, 'DELETE', `/m2m/v1/tenants/${TENANT}`)).status, 204, 'tenant removed');
  for (const [name, request] of [['tenant access token', c.access.request], ['user access token', c.userAccess.request], ['tenant API JWT', c.api.request], ['user API JWT', c.userApi.request]] as const) {
    await expectRefused(t, s, `the ${name} of the removed tenant`, request, 'ERR_AUTH_REVOKED');
  }
  t.strictSame(leakedSecrets(s.gateway.logs.lines(), secretsOf(all)), [], 'no token in the logs');
});

t.test('another replica without change events refuses it once its liveness answer expires: within the TTL', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'm2m-revoked-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  // The default `liveness.cacheTtlSeconds` (README "Configuration").
  const TTL_SECONDS = 10;
  const shared = {
    store: { driver: 'sqlite', path: join(dir, 'store.db') },
    tokenService: { keyEncryptionKey: randomBytes(32).toString('base64url'), secretKey: randomBytes(32).toString('base64url') },
  };
  const writer = await startTokenScenario(shared);
  t.teardown(() => writer.close());
  const clock = createManualClock(Date.now());
  const replica = await startTokenScenario({ ...shared, clock });
  t.teardown(() => replica.close());
  const c = await credentials(t, writer);
  await expectForwarded(t, replica, 'the replica accepts the access token and caches its answer', c.access.request);

  t.equal((await manage(writer, 'DELETE', `/identity/resources/tenants/access-tokens/v1/${c.access.id}`)).status, 204, 'deleted at the other replica');
  await expectRefused(t, writer, 'the writing replica refuses it at once', c.access.request, 'ERR_AUTH_REVOKED');
  clock.advance(TTL_SECONDS * 1000);
  await expectRefused(t, replica, 'the replica refuses it once its cached answer is a TTL old', c.access.request, 'ERR_AUTH_REVOKED');
  t.strictSame(leakedSecrets([...writer.gateway.logs.lines(), ...replica.gateway.logs.lines()], secretsOf([c.access.request])), [], 'no token in the logs');
});
