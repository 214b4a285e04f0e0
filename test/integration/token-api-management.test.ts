import t from 'tap';
import { startTokenScenario, type TokenScenario } from '../helpers/token-scenario.js';

/** Management, vendor-only and directory routes over real sockets (SPEC §4.3, §4.4; frontegg-api.md §2). */

type Json = Record<string, unknown>;

function client(s: TokenScenario, vendor: string) {
  return async (method: string, path: string, options: { body?: unknown; raw?: string; headers?: Record<string, string> } = {}) => {
    const hasBody = options.body !== undefined || options.raw !== undefined;
    const res = await fetch(`${s.gateway.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${vendor}`, ...(hasBody ? { 'content-type': 'application/json' } : {}), ...options.headers },
      body: options.raw ?? (options.body === undefined ? undefined : JSON.stringify(options.body)),
    });
    const text = await res.text();
    return { status: res.status, headers: res.headers, body: text === '' ? undefined : (JSON.parse(text) as unknown) };
  };
}

const TENANT = { 'frontegg-tenant-id': 'tenant-1' };
const USER = { ...TENANT, 'frontegg-user-id': 'user-1' };

t.test('user API tokens: create 201 with the secret once, list without it, delete 204', async (t) => {
  const s = await startTokenScenario();
  t.teardown(() => s.close());
  const call = client(s, await s.vendorToken());
  const path = '/identity/resources/users/api-tokens/v1';
  const created = await call('POST', path, { headers: USER, body: { description: 'laptop', metadata: { a: 1 }, expiresInMinutes: 60 } });
  t.equal(created.status, 201);
  t.equal(created.headers.get('cache-control'), 'no-store');
  const token = created.body as Json;
  t.strictSame(Object.keys(token).sort(), ['clientId', 'createdAt', 'description', 'expires', 'metadata', 'secret']);
  t.ok(Number.isFinite(Date.parse(String(token.expires))), 'expires is a date string');

  const listed = await call('GET', path, { headers: USER });
  t.equal(listed.status, 200);
  t.strictSame((listed.body as Json[]).map((r) => r.clientId), [token.clientId]);
  t.notOk('secret' in (listed.body as Json[])[0]!);

  const v2 = await fetch(`${s.gateway.url}/identity/resources/auth/v2/api-token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ clientId: token.clientId, secret: token.secret }),
  });
  t.equal(v2.status, 200);
  const snake = (await v2.json()) as Json;
  t.strictSame(Object.keys(snake).sort(), ['access_token', 'expires', 'expires_in', 'refresh_token']);
  for (const version of ['v1', 'v2']) {
    const refreshed = await fetch(`${s.gateway.url}/identity/resources/auth/${version}/api-token/token/refresh`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ refreshToken: snake.refresh_token }),
    });
    const body = (await refreshed.json()) as Json;
    if (version === 'v1') {
      t.equal(refreshed.status, 200, 'v1 refresh of a v2 refresh token (Frontegg samples mix them)');
      t.ok('accessToken' in body && 'expiresIn' in body);
      snake.refresh_token = body.refreshToken;
    } else {
      t.equal(refreshed.status, 200);
      t.ok('access_token' in body && 'expires_in' in body);
    }
  }

  t.equal((await call('DELETE', `${path}/${String(token.clientId)}`, { headers: USER })).status, 204);
  t.equal((await call('DELETE', `${path}/${String(token.clientId)}`, { headers: USER })).status, 404, 'a second delete finds nothing');
  const exchange = await fetch(`${s.gateway.url}/identity/resources/auth/v1/api-token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ clientId: token.clientId, secret: token.secret }),
  });
  t.equal(exchange.status, 401, 'a deleted token cannot be exchanged');
  t.match(await exchange.json(), { errors: [String] });
});

t.test('tenant API tokens: PATCH updates description, metadata and roles', async (t) => {
  const s = await startTokenScenario();
  t.teardown(() => s.close());
  const call = client(s, await s.vendorToken());
  const created = (await call('POST', '/identity/resources/tenants/api-tokens/v2', { headers: TENANT, body: { description: 'a', roleIds: ['r-viewer'] } })).body as Json;
  const patched = await call('PATCH', `/identity/resources/tenants/api-tokens/v1/${String(created.clientId)}`, { headers: TENANT, body: { description: 'b', roleIds: ['r-admin'] } });
  t.equal(patched.status, 200);
  t.match(patched.body, { clientId: created.clientId, description: 'b', roleIds: ['r-admin'] });
  t.notOk('secret' in (patched.body as Json));
  const elsewhere = await call('PATCH', `/identity/resources/tenants/api-tokens/v1/${String(created.clientId)}`, { headers: { 'frontegg-tenant-id': 'tenant-2' }, body: { description: 'c' } });
  t.equal(elsewhere.status, 404, "another tenant's token is not found");
});

t.test('access tokens and the vendor-only lookups the Frontegg SDKs use', async (t) => {
  const s = await startTokenScenario();
  t.teardown(() => s.close());
  const call = client(s, await s.vendorToken());
  const created = await call('POST', '/identity/resources/users/access-tokens/v1', { headers: USER, body: { description: 'cli' } });
  t.equal(created.status, 201);
  const token = created.body as Json;
  t.match(token, { id: String, description: 'cli', createdAt: String, secret: String });
  t.equal(String(token.secret).split('.').length, 3, 'the secret is the JWT');

  const listed = await call('GET', '/identity/resources/users/access-tokens/v1', { headers: USER });
  t.strictSame((listed.body as Json[]).map((r) => r.id), [token.id]);
  t.notOk('secret' in (listed.body as Json[])[0]!);

  const active = await call('GET', '/identity/resources/vendor-only/users/access-tokens/v1/active');
  t.strictSame(active.body, [token.id]);
  t.strictSame((await call('GET', '/identity/resources/vendor-only/tenants/access-tokens/v1/active')).body, []);
  const info = await call('GET', `/identity/resources/vendor-only/users/access-tokens/v1/${String(token.id)}`);
  t.equal(info.status, 200);
  t.match(info.body, { id: token.id, tenantId: 'tenant-1', userId: 'user-1', roles: Array, permissions: Array });
  t.equal((await call('GET', '/identity/resources/vendor-only/users/access-tokens/v1/unknown-id')).status, 404);

  t.equal((await call('DELETE', `/identity/resources/users/access-tokens/v1/${String(token.id)}`, { headers: USER })).status, 204);
  t.strictSame((await call('GET', '/identity/resources/vendor-only/users/access-tokens/v1/active')).body, []);
});

t.test('the vendor-only api-token session lookup sidecars use: live with current grants, else 404', async (t) => {
  const s = await startTokenScenario();
  t.teardown(() => s.close());
  const call = client(s, await s.vendorToken());
  const created = (await call('POST', '/identity/resources/users/api-tokens/v1', { headers: USER, body: {} })).body as Json;
  const exchanged = await fetch(`${s.gateway.url}/identity/resources/auth/v1/api-token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ clientId: created.clientId, secret: created.secret }),
  });
  const { accessToken } = (await exchanged.json()) as { accessToken: string };
  const sid = String((JSON.parse(Buffer.from(accessToken.split('.')[1]!, 'base64url').toString()) as Json).sid);
  const path = (owner: string, clientId: string, session: string) => `/identity/resources/vendor-only/${owner}/api-tokens/v1/${clientId}/sessions/${session}`;

  const live = await call('GET', path('users', String(created.clientId), sid));
  t.equal(live.status, 200);
  t.equal(live.headers.get('cache-control'), 'no-store');
  t.strictSame(live.body, { clientId: created.clientId, tenantId: 'tenant-1', userId: 'user-1', roles: ['viewer'], permissions: ['read'] });
  await call('PUT', '/m2m/v1/tenants/tenant-1/users/user-1', { body: { roleIds: ['r-admin'] } });
  t.match((await call('GET', path('users', String(created.clientId), sid))).body, { roles: ['admin'] }, 'the current roles, not the JWT claims');

  const notFound: { name: string; path: string }[] = [
    { name: 'the tenant route for a user token', path: path('tenants', String(created.clientId), sid) },
    { name: 'an unknown client', path: path('users', 'unknown-client', sid) },
    { name: 'an unknown session', path: path('users', String(created.clientId), 'unknown-sid') },
  ];
  for (const c of notFound) {
    const res = await call('GET', c.path);
    t.equal(res.status, 404, c.name);
    t.strictSame(res.body, { errors: ['Not found'], code: 'ERR_NOT_FOUND' }, c.name);
  }

  const unauthenticated = await fetch(`${s.gateway.url}${path('users', String(created.clientId), sid)}`);
  t.equal(unauthenticated.status, 401, 'a vendor token is required');
  t.match(await unauthenticated.json(), { errors: ['Unauthorized'] });

  const badSegments = [
    path('users', 'a%2Fb', sid),
    path('users', String(created.clientId), 'x'.repeat(129)),
    path('users', String(created.clientId), ''),
    path('users', '', sid),
    path('people', String(created.clientId), sid),
    `${path('users', String(created.clientId), sid)}/extra`,
    path('users', 'a b', sid),
  ];
  for (const bad of badSegments) {
    const res = await call('GET', bad);
    t.ok(res.status >= 400 && res.status < 500, `${bad.slice(0, 90)}: ${res.status}`);
    t.match(res.body, { errors: [String] });
  }
  t.equal((await call('POST', path('users', String(created.clientId), sid))).status, 404, 'GET only');

  t.equal((await call('DELETE', `/identity/resources/users/api-tokens/v1/${String(created.clientId)}`, { headers: USER })).status, 204);
  t.equal((await call('GET', path('users', String(created.clientId), sid))).status, 404, 'a deleted credential is not alive');
});

t.test('directory routes: tenants and memberships', async (t) => {
  const s = await startTokenScenario();
  t.teardown(() => s.close());
  const call = client(s, await s.vendorToken());
  const put = await call('PUT', '/m2m/v1/tenants/acme');
  t.equal(put.status, 200);
  t.match(put.body, { tenantId: 'acme', createdAt: String });
  t.equal((await call('GET', '/m2m/v1/tenants/acme')).status, 200);
  t.match((await call('GET', '/m2m/v1/tenants')).body, [{ tenantId: 'acme' }]);

  const member = await call('PUT', '/m2m/v1/tenants/acme/users/u1', { body: { roleIds: ['r-admin'] } });
  t.equal(member.status, 200);
  t.match(member.body, { tenantId: 'acme', userId: 'u1', roleIds: ['r-admin'] });
  const defaulted = await call('PUT', '/m2m/v1/tenants/acme/users/u2');
  t.match(defaulted.body, { roleIds: ['r-viewer'] }, 'no roleIds: the configured default roles');
  t.equal((await call('GET', '/m2m/v1/tenants/acme/users/u1')).status, 200);
  t.equal(((await call('GET', '/m2m/v1/tenants/acme/users')).body as Json[]).length, 2);
  const unknownRole = await call('PUT', '/m2m/v1/tenants/acme/users/u3', { body: { roleIds: ['nope'] } });
  t.equal(unknownRole.status, 400);
  t.match(unknownRole.body, { errors: [String] });
  t.equal((await call('DELETE', '/m2m/v1/tenants/acme/users/u1')).status, 204);
  t.equal((await call('GET', '/m2m/v1/tenants/acme/users/u1')).status, 404);
  t.equal((await call('DELETE', '/m2m/v1/tenants/acme/users/u1')).status, 404);
  t.equal((await call('DELETE', '/m2m/v1/tenants/acme')).status, 204);
  t.equal((await call('GET', '/m2m/v1/tenants/acme')).status, 404);
});

t.test('a deleted membership stops the user token at the proxy at once (SPEC §4.4)', async (t) => {
  const s = await startTokenScenario();
  t.teardown(() => s.close());
  const call = client(s, await s.vendorToken());
  const token = (await call('POST', '/identity/resources/users/access-tokens/v1', { headers: USER, body: {} })).body as Json;
  const before = await fetch(`${s.gateway.url}/api/x`, { headers: { 'x-api-key': String(token.secret) } });
  t.equal(before.status, 200);
  t.equal(s.upstream.received[0]?.headers['x-auth-user-id'], 'user-1');
  t.equal((await call('DELETE', '/m2m/v1/tenants/tenant-1/users/user-1')).status, 204);
  const after = await fetch(`${s.gateway.url}/api/x`, { headers: { 'x-api-key': String(token.secret) } });
  t.equal(after.status, 401);
});

t.test('management needs a vendor token; a vendor token is no M2M token and vice versa', async (t) => {
  const s = await startTokenScenario();
  t.teardown(() => s.close());
  const vendor = await s.vendorToken();
  const path = '/identity/resources/tenants/access-tokens/v1';
  const access = (await (await client(s, vendor))('POST', path, { headers: TENANT, body: {} })).body as Json;
  const cases: { name: string; headers: Record<string, string> }[] = [
    { name: 'no token', headers: {} },
    { name: 'a garbage Bearer', headers: { authorization: 'Bearer abc.def.ghi' } },
    { name: 'Basic', headers: { authorization: 'Basic YTpi' } },
    { name: 'an M2M access token as Bearer', headers: { authorization: `Bearer ${String(access.secret)}` } },
    { name: 'an M2M access token as x-access-token', headers: { 'x-access-token': String(access.secret) } },
    { name: 'a tampered vendor token', headers: { authorization: `Bearer ${vendor.slice(0, -4)}AAAA` } },
  ];
  for (const c of cases) {
    const res = await fetch(`${s.gateway.url}${path}`, { headers: { ...TENANT, ...c.headers } });
    t.equal(res.status, 401, c.name);
    t.match(await res.json(), { errors: ['Unauthorized'] }, c.name);
  }
  const atProxy = await fetch(`${s.gateway.url}/api/x`, { headers: { authorization: `Bearer ${vendor}` } });
  t.equal(atProxy.status, 401, 'the vendor token opens no proxied route');
  t.equal(s.upstream.received.length, 0);
});

t.test('bad input on management routes: a clear 4xx naming the problem, nothing written', async (t) => {
  const s = await startTokenScenario();
  t.teardown(() => s.close());
  const call = client(s, await s.vendorToken());
  const path = '/identity/resources/tenants/api-tokens/v2';
  const cases: { name: string; headers?: Record<string, string>; body?: unknown; raw?: string; status: number; problem: RegExp }[] = [
    { name: 'no tenant header', body: {}, status: 400, problem: /frontegg-tenant-id/ },
    { name: 'a tenant header with a comma', headers: { 'frontegg-tenant-id': 'a, b' }, body: {}, status: 400, problem: /frontegg-tenant-id/ },
    { name: 'an unknown field', headers: TENANT, body: { descripton: 'typo' }, status: 400, problem: /^descripton: unknown field$/ },
    { name: 'a description that is a number', headers: TENANT, body: { description: 5 }, status: 400, problem: /^description: / },
    { name: 'roleIds that is a string', headers: TENANT, body: { roleIds: 'r-admin' }, status: 400, problem: /^roleIds: / },
    { name: 'expiresInMinutes that is negative', headers: TENANT, body: { expiresInMinutes: -1 }, status: 400, problem: /^expiresInMinutes: / },
    { name: 'metadata that is an array', headers: TENANT, body: { metadata: [] }, status: 400, problem: /^metadata: / },
    { name: 'malformed JSON', headers: TENANT, raw: '{', status: 400, problem: /JSON/ },
    { name: 'a JSON string', headers: TENANT, raw: '"x"', status: 400, problem: /object/ },
    { name: 'a wrong content type', headers: { ...TENANT, 'content-type': 'text/plain' }, raw: '{}', status: 400, problem: /content-type/ },
    { name: 'a body over 8 KiB', headers: TENANT, body: { description: 'x'.repeat(9000) }, status: 413, problem: /./ },
  ];
  for (const c of cases) {
    const res = await call('POST', path, { headers: c.headers, body: c.body, raw: c.raw });
    t.equal(res.status, c.status, c.name);
    const errors = (res.body as { errors: string[] }).errors;
    t.ok(errors.some((e) => c.problem.test(e)), `${c.name}: ${JSON.stringify(errors)}`);
  }
  const userRoute = await call('POST', '/identity/resources/users/api-tokens/v1', { headers: TENANT, body: {} });
  t.equal(userRoute.status, 400, 'a user route without frontegg-user-id');
  const query = await call('POST', `${path}?secret=x`, { headers: TENANT, body: {} });
  t.equal(query.status, 400, 'parameters in the query string of a POST');
  t.strictSame((await call('GET', '/identity/resources/tenants/api-tokens/v1', { headers: TENANT })).body, [], 'nothing was written');
  const unknown = await call('GET', '/identity/resources/nothing-here');
  t.equal(unknown.status, 404);
  t.match(unknown.body, { errors: [String] });
});

t.test('a disabled kind is 403 "Api tokens are disabled" (SPEC §3)', async (t) => {
  const cases: { name: string; kind: 'apiTokens' | 'accessTokens'; method: string; path: string; headers?: Record<string, string>; body?: unknown }[] = [
    { name: 'creating a tenant API token', kind: 'apiTokens', method: 'POST', path: '/identity/resources/tenants/api-tokens/v2', headers: TENANT, body: {} },
    { name: 'creating a tenant access token', kind: 'accessTokens', method: 'POST', path: '/identity/resources/tenants/access-tokens/v1', headers: TENANT, body: {} },
    // The answer Frontegg's Node SDK turns into a refusal of the access token (401).
    { name: 'the active tenant access-token ids', kind: 'accessTokens', method: 'GET', path: '/identity/resources/vendor-only/tenants/access-tokens/v1/active' },
    { name: 'the active user access-token ids', kind: 'accessTokens', method: 'GET', path: '/identity/resources/vendor-only/users/access-tokens/v1/active' },
    { name: 'a tenant access token by id', kind: 'accessTokens', method: 'GET', path: '/identity/resources/vendor-only/tenants/access-tokens/v1/some-id' },
    { name: 'a user access token by id', kind: 'accessTokens', method: 'GET', path: '/identity/resources/vendor-only/users/access-tokens/v1/some-id' },
    { name: 'a tenant api-token session', kind: 'apiTokens', method: 'GET', path: '/identity/resources/vendor-only/tenants/api-tokens/v1/some-id/sessions/some-sid' },
    { name: 'a user api-token session', kind: 'apiTokens', method: 'GET', path: '/identity/resources/vendor-only/users/api-tokens/v1/some-id/sessions/some-sid' },
  ];
  for (const kind of ['apiTokens', 'accessTokens'] as const) {
    const s = await startTokenScenario({ tokenService: { [kind]: { enabled: false } } });
    t.teardown(() => s.close());
    const call = client(s, await s.vendorToken());
    for (const c of cases.filter((c) => c.kind === kind)) {
      const res = await call(c.method, c.path, { headers: c.headers, body: c.body });
      t.equal(res.status, 403, c.name);
      t.strictSame(res.body, { errors: ['Api tokens are disabled'], code: 'ERR_TOKEN_KIND_DISABLED' }, c.name);
    }
  }
});
