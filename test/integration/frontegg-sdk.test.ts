import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { startFronteggSdkApp, type FronteggSdkApp } from '../helpers/frontegg-sdk-app.js';
import { startTokenScenario, VENDOR, type TokenScenario } from '../helpers/token-scenario.js';

/**
 * Frontegg compatibility (SPEC §4.3): Frontegg's own Node SDK, `@frontegg/client` unmodified, with
 * its base URL (`FRONTEGG_API_GATEWAY_URL`) pointed at the gateway and the environment's
 * credentials as `FRONTEGG_CLIENT_ID` / `FRONTEGG_API_KEY`. It authenticates (`POST /auth/vendor`),
 * fetches the public key (`GET /identity/resources/configurations/v1`) and verifies JWTs with it
 * (RS256); for an access token in `X-API-KEY` it also asks the vendor-only routes whether the
 * token is active (`…/access-tokens/v1/active`), or for its roles when the route requires some
 * (`…/access-tokens/v1/{id}`). Each SDK app runs in its own worker (test/helpers/frontegg-sdk-app.ts).
 */

const TENANT = 'tenant-sdk';
const USER = 'user-sdk';

type Json = Record<string, unknown>;

/** Starts SDK apps against a scenario's gateway and closes them (before the gateway) at teardown. */
function sdkApps(t: Test, s: TokenScenario) {
  return async (): Promise<FronteggSdkApp> => {
    const app = await startFronteggSdkApp({ baseUrl: s.gateway.url, clientId: VENDOR.clientId, apiKey: VENDOR.secret });
    t.teardown(() => app.close());
    return app;
  };
}

function management(s: TokenScenario, vendor: string) {
  return async (path: string, headers: Record<string, string>, body?: unknown, method = body === undefined ? 'GET' : 'POST'): Promise<{ status: number; body: Json }> => {
    const res = await fetch(`${s.gateway.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${vendor}`, ...headers, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: text === '' ? {} : (JSON.parse(text) as Json) };
  };
}

/** The gateway's access lines from `mark` on: which token-service routes were called, with what status. */
function servedSince(s: TokenScenario, mark: number): { route: string; status: number }[] {
  return s.gateway.logs
    .lines()
    .slice(mark)
    .map((line) => JSON.parse(line) as { msg?: string; route?: string; method?: string; path?: string; status?: number })
    .filter((l) => l.msg === 'access' && l.route === 'token-api')
    .map((l) => ({ route: `${String(l.method)} ${String(l.path)}`, status: l.status ?? 0 }));
}

const get = (app: FronteggSdkApp, path: string, headers: Record<string, string>) => fetch(`${app.url}${path}`, { headers });

t.test('the unmodified Frontegg Node SDK authenticates against the gateway and validates both token kinds', async (t) => {
  const s = await startTokenScenario();
  t.teardown(() => s.close());
  const startApp = sdkApps(t, s);
  const call = management(s, await s.vendorToken());

  const access = await call('/identity/resources/tenants/access-tokens/v1', { 'frontegg-tenant-id': TENANT }, { description: 'sdk', roleIds: ['r-admin'] });
  t.equal(access.status, 201);
  const userAccess = await call('/identity/resources/users/access-tokens/v1', { 'frontegg-tenant-id': TENANT, 'frontegg-user-id': USER }, { description: 'sdk' });
  t.equal(userAccess.status, 201);
  const api = await call('/identity/resources/tenants/api-tokens/v2', { 'frontegg-tenant-id': TENANT }, { description: 'sdk', metadata: { team: 'a' }, roleIds: ['r-viewer'] });
  t.equal(api.status, 201);
  const userApi = await call('/identity/resources/users/api-tokens/v1', { 'frontegg-tenant-id': TENANT, 'frontegg-user-id': USER }, { description: 'sdk' });
  t.equal(userApi.status, 201);
  const exchange = async (version: 'v1' | 'v2', token: Json) => {
    const res = await fetch(`${s.gateway.url}/identity/resources/auth/${version}/api-token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ clientId: token.clientId, secret: token.secret }),
    });
    t.equal(res.status, 200, `exchange ${version}`);
    const body = (await res.json()) as { access_token?: string; accessToken?: string };
    return String(body.access_token ?? body.accessToken);
  };
  const jwt = await exchange('v2', api.body);
  const userJwt = await exchange('v1', userApi.body);
  const accessKey = String(access.body.secret);

  const mark = s.gateway.logs.lines().length;
  const app = await startApp();

  const byKey = await get(app, '/whoami', { 'x-api-key': accessKey });
  t.equal(byKey.status, 200, `a tenant access token in X-API-KEY is accepted (SDK log: ${app.output()})`);
  t.match(await byKey.json(), { type: 'tenantAccessToken', sub: access.body.id, tenantId: TENANT, roles: ['admin'], id: '' }, 'req.frontegg.user: the token, its tenant and roles; no user');
  t.equal((await get(app, '/admin', { 'x-api-key': accessKey })).status, 200, 'a required role is found in the vendor-only record of the token');

  const byUserKey = await get(app, '/whoami', { 'x-api-key': String(userAccess.body.secret) });
  t.equal(byUserKey.status, 200, 'a user access token in X-API-KEY is accepted');
  t.match(await byUserKey.json(), { type: 'userAccessToken', sub: userAccess.body.id, tenantId: TENANT, userId: USER, id: USER, roles: ['viewer'] }, 'req.frontegg.user.id is the user');

  const byBearer = await get(app, '/whoami', { authorization: `Bearer ${jwt}` });
  t.equal(byBearer.status, 200, `an exchanged tenant API token JWT in Authorization is accepted (SDK log: ${app.output()})`);
  t.match(await byBearer.json(), { type: 'tenantApiToken', sub: api.body.clientId, tenantId: TENANT, roles: ['viewer'], metadata: { team: 'a' }, id: '' });

  const byUserBearer = await get(app, '/whoami', { authorization: `Bearer ${userJwt}` });
  t.equal(byUserBearer.status, 200, 'an exchanged user API token JWT in Authorization is accepted');
  t.match(await byUserBearer.json(), { type: 'userApiToken', sub: userApi.body.clientId, tenantId: TENANT, createdByUserId: USER, id: USER }, 'req.frontegg.user.id is the user');

  // The SDK's own refusals, for the record of what it checks.
  const refusals: { name: string; path: string; headers: Record<string, string>; status: number }[] = [
    { name: 'a viewer JWT on a route that requires admin', path: '/admin', headers: { authorization: `Bearer ${jwt}` }, status: 403 },
    { name: 'an access token in Authorization', path: '/whoami', headers: { authorization: `Bearer ${accessKey}` }, status: 400 },
    { name: 'an API-token JWT in X-API-KEY', path: '/whoami', headers: { 'x-api-key': jwt }, status: 400 },
    { name: 'no credential', path: '/whoami', headers: {}, status: 401 },
  ];
  for (const r of refusals) t.equal((await get(app, r.path, r.headers)).status, r.status, r.name);

  const served = servedSince(s, mark);
  t.strictSame(
    [...new Set(served.map((c) => c.route.replace(String(access.body.id), '{id}')))].sort(),
    [
      'GET /identity/resources/configurations/v1',
      'GET /identity/resources/vendor-only/tenants/access-tokens/v1/active',
      'GET /identity/resources/vendor-only/tenants/access-tokens/v1/{id}',
      'GET /identity/resources/vendor-only/users/access-tokens/v1/active',
      'POST /auth/vendor',
    ],
    'what the SDK calls on the gateway',
  );
  t.strictSame(served.filter((c) => c.status !== 200), [], 'and every call succeeded');

  const deleted = await call(`/identity/resources/tenants/access-tokens/v1/${String(access.body.id)}`, { 'frontegg-tenant-id': TENANT }, undefined, 'DELETE');
  t.equal(deleted.status, 204);
  // The SDK keeps the active-id list it fetched for 10 s (node-cache, in the module), so an app
  // that has just seen the token may accept it for up to that long: Frontegg's revocation delay,
  // not the gateway's (the gateway refuses at once, test/integration/token-api.test.ts). What the
  // gateway answers after the deletion is what a fresh SDK sees.
  // The route without roles is the one asserted: with roles the SDK looks the token up by id, and
  // for an id that no longer exists (404) it passes no status to `res.status`.
  const fresh = await startApp();
  const afterDelete = await get(fresh, '/whoami', { 'x-api-key': accessKey });
  t.equal(afterDelete.status, 401, 'the deleted access token is refused');
  t.equal(await afterDelete.text(), 'Failed to verify authentication');
  t.equal((await get(fresh, '/whoami', { authorization: `Bearer ${jwt}` })).status, 200, 'the API token JWT is still accepted');

  for (const sdk of [app, fresh]) {
    const connections = await sdk.connections();
    t.ok(connections.length > 0, 'the SDK connected to the gateway');
    t.strictSame(connections.filter((c) => c !== '127.0.0.1'), [], 'and to nothing else: no lookup, no address beyond loopback');
  }
});

t.test('with access tokens switched off, the SDK refuses one issued before, with or without required roles', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'm2m-sdk-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  // One SQLite store and the same keys for both runs: the token outlives the switch.
  const store = { driver: 'sqlite', path: join(dir, 'store.db') };
  const keys = { keyEncryptionKey: randomBytes(32).toString('base64url'), secretKey: randomBytes(32).toString('base64url') };

  const on = await startTokenScenario({ store, tokenService: keys });
  const created = await management(on, await on.vendorToken())('/identity/resources/tenants/access-tokens/v1', { 'frontegg-tenant-id': TENANT }, { roleIds: ['r-admin'] });
  await on.close();
  t.equal(created.status, 201);

  const off = await startTokenScenario({ store, tokenService: { ...keys, accessTokens: { enabled: false } } });
  t.teardown(() => off.close());
  const app = await sdkApps(t, off)();
  for (const path of ['/whoami', '/admin']) {
    const res = await get(app, path, { 'x-api-key': String(created.body.secret) });
    t.equal(res.status, 401, `${path}: refused (SDK log: ${app.output()})`);
    t.equal(await res.text(), 'Failed to verify authentication', path);
  }
});
