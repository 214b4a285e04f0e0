/**
 * Exchange at the edge: a client of the token service sends its clientId and secret as
 * `Authorization: Basic` straight to the proxy, on routes that allow it. The gateway checks them
 * as the token endpoint does (same limits, same answers) and forwards the request as if it carried
 * the JWT the exchange would issue; the upstream never sees the Basic header.
 */
import t, { type Test } from 'tap';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { tokenFingerprint } from '../../src/auth/token-hash.js';
import { leakedSecrets } from '../helpers/log-sink.js';
import { basicAuth, createTenantApiToken, startTokenScenario, TS_AUDIENCE, TS_ISSUER, type TokenScenario, type TokenScenarioOptions } from '../helpers/token-scenario.js';

const IDENTITY = ['x-auth-tenant-id', 'x-auth-user-id', 'x-auth-roles', 'x-auth-permissions', 'x-auth-token-type', 'x-auth-subject'];

const basicRoutes = (u: string) => [
  { name: 'edge', pathPrefix: '/edge', upstream: u, auth: { basic: true } },
  { name: 'edge-fwd', pathPrefix: '/edge-fwd', upstream: u, auth: { basic: true }, forwardCredentials: true },
  { name: 'edge-admin', pathPrefix: '/edge-admin', upstream: u, auth: { basic: true, anyRole: ['admin'] } },
];

async function scenario(t: Test, options: TokenScenarioOptions = {}): Promise<TokenScenario> {
  const s = await startTokenScenario({ routes: basicRoutes, ...options });
  t.teardown(() => s.close());
  return s;
}

function get(s: TokenScenario, path: string, authorization: string): Promise<Response> {
  return fetch(`${s.gateway.url}${path}`, { headers: { authorization } });
}

function pick(headers: Record<string, unknown>, names: readonly string[]): Record<string, unknown> {
  return Object.fromEntries(names.map((name) => [name, headers[name]]));
}

async function deleteTenantToken(s: TokenScenario, clientId: string, tenantId = 'tenant-1'): Promise<void> {
  const vendor = await s.vendorToken();
  const res = await fetch(`${s.gateway.url}/identity/resources/tenants/api-tokens/v1/${clientId}`, {
    method: 'DELETE',
    headers: { authorization: `Bearer ${vendor}`, 'frontegg-tenant-id': tenantId },
  });
  if (res.status !== 204) throw new Error(`delete failed: ${res.status}`);
}

async function exchangeAtTokenEndpoint(s: TokenScenario, clientId: string, secret: string): Promise<string> {
  const res = await fetch(`${s.gateway.url}/identity/resources/auth/v2/api-token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ clientId, secret }),
  });
  return ((await res.json()) as { access_token: string }).access_token;
}

const edgeExchanges = (s: TokenScenario) => s.gateway.logs.entries().filter((e) => e['msg'] === 'exchange' && e['edge'] === true).length;

t.test('Basic client credentials reach the upstream as the identity of the JWT an exchange issues, and never as Authorization', async (t) => {
  const s = await scenario(t);
  const { clientId, secret } = await createTenantApiToken(s);
  const basic = basicAuth(clientId, secret);

  for (const path of ['/edge/orders', '/edge-fwd/orders']) {
    const res = await get(s, path, basic);
    t.equal(res.status, 200, path);
    await res.arrayBuffer();
  }
  const bearer = await exchangeAtTokenEndpoint(s, clientId, secret);
  t.equal((await get(s, '/api/orders', `Bearer ${bearer}`)).status, 200, 'the same client with a Bearer JWT');

  const [edge, edgeForwarding, viaBearer] = s.upstream.received;
  for (const [name, received] of [['edge', edge], ['forwardCredentials', edgeForwarding]] as const) {
    t.equal(received?.headers.authorization, undefined, `${name}: no Authorization upstream`);
    t.notOk(received?.rawHeaders.some((h) => h.includes(secret) || h === basic), `${name}: neither the secret nor the Basic value upstream`);
    t.strictSame(pick(received!.headers, IDENTITY), pick(viaBearer!.headers, IDENTITY), `${name}: the identity headers of the exchanged JWT`);
  }
  t.match(pick(edge!.headers, IDENTITY), { 'x-auth-tenant-id': 'tenant-1', 'x-auth-subject': clientId, 'x-auth-token-type': 'tenantApiToken', 'x-auth-roles': 'viewer', 'x-auth-permissions': 'read' });
  t.type(edge!.headers['x-auth-token-id'], 'string', 'the minted JWT has its own id');

  const res = await get(s, '/edge-admin/x', basic);
  t.equal(res.status, 403, 'the route requirements apply to it');
  t.match(await res.json(), { code: 'ERR_AUTH_FORBIDDEN' });

  t.equal(edgeExchanges(s), 1, 'one exchange for every request of this client: the result is cached');
  const access = s.gateway.logs.entries().filter((e) => e['msg'] === 'access' && e['credential'] === 'basic');
  t.equal(access.length, 3);
  t.ok(access.every((e) => e['tokenFp'] === tokenFingerprint(clientId)), 'the access log carries the clientId fingerprint');
  const metrics = await s.gateway.app.metrics.registry.getSingleMetricAsString('m2m_gateway_auth_decisions_total');
  t.match(metrics, /kind="basic",result="allow",reason="OK"\} 2/);
  t.match(metrics, /kind="basic",result="deny",reason="ERR_AUTH_FORBIDDEN"\} 1/);
  t.strictSame(leakedSecrets(s.gateway.logs.lines(), [secret, basic.slice('Basic '.length)]), [], 'no secret in any log line');
});

t.test('a wrong secret and an unknown client get the same 401, and nothing reaches the upstream', async (t) => {
  const s = await scenario(t);
  const { clientId, secret } = await createTenantApiToken(s);
  const answers: unknown[] = [];
  for (const authorization of [basicAuth(clientId, `${secret}x`), basicAuth('no-such-client', secret)]) {
    const res = await get(s, '/edge/x', authorization);
    answers.push({ status: res.status, challenge: res.headers.get('www-authenticate'), body: await res.json() });
  }
  t.match(answers[0], { status: 401, body: { code: 'ERR_TOKEN_INVALID_CLIENT' } });
  t.strictSame(answers[1], answers[0], 'the same answer');
  t.equal(s.upstream.received.length, 0);
  t.equal((await get(s, '/edge/x', basicAuth(clientId, secret))).status, 200, 'the wrong secret was not cached against the right one');
  t.strictSame(leakedSecrets(s.gateway.logs.lines(), [secret]), []);
});

t.test('malformed Basic on a route that allows it is an invalid credential (401)', async (t) => {
  const s = await scenario(t);
  for (const authorization of ['Basic', 'Basic %%%', `Basic ${Buffer.from('no-colon').toString('base64')}`, `Basic ${Buffer.from(':secret').toString('base64')}`]) {
    const res = await get(s, '/edge/x', authorization);
    t.equal(res.status, 401, authorization);
    t.match(await res.json(), { code: 'ERR_AUTH_MALFORMED' }, authorization);
  }
  t.equal(s.upstream.received.length, 0);
});

t.test('Basic on a route that does not allow it is no credential, as before', async (t) => {
  const s = await scenario(t);
  const { clientId, secret } = await createTenantApiToken(s);
  const res = await get(s, '/api/x', basicAuth(clientId, secret));
  t.equal(res.status, 401);
  t.equal(res.headers.get('www-authenticate'), 'Bearer realm="m2m-gateway"', 'the bare challenge of a missing credential');
  t.match(await res.json(), { code: 'ERR_AUTH_MISSING' });
  t.equal(s.upstream.received.length, 0);
  t.equal(edgeExchanges(s), 0, 'the secret was not even checked');
});

t.test('a deleted credential is refused at the next request, although its exchange is cached', async (t) => {
  const s = await scenario(t);
  const { clientId, secret } = await createTenantApiToken(s);
  const basic = basicAuth(clientId, secret);
  t.equal((await get(s, '/edge/x', basic)).status, 200);
  t.equal((await get(s, '/edge/x', basic)).status, 200, 'cached');
  await deleteTenantToken(s, clientId);
  const res = await get(s, '/edge/x', basic);
  t.equal(res.status, 401);
  t.equal(s.upstream.received.length, 2, 'nothing more reached the upstream');
});

t.test("removing the user from the tenant stops the user's Basic credentials at once", async (t) => {
  const s = await scenario(t);
  const vendor = await s.vendorToken();
  const created = await fetch(`${s.gateway.url}/identity/resources/users/api-tokens/v1`, {
    method: 'POST',
    headers: { authorization: `Bearer ${vendor}`, 'frontegg-tenant-id': 'tenant-1', 'frontegg-user-id': 'user-1', 'content-type': 'application/json' },
    body: '{}',
  });
  const { clientId, secret } = (await created.json()) as { clientId: string; secret: string };
  const basic = basicAuth(clientId, secret);
  const ok = await get(s, '/edge/x', basic);
  t.equal(ok.status, 200);
  t.match(s.upstream.received[0]?.headers, { 'x-auth-user-id': 'user-1', 'x-auth-token-type': 'userApiToken' });
  const removed = await fetch(`${s.gateway.url}/m2m/v1/tenants/tenant-1/users/user-1`, { method: 'DELETE', headers: { authorization: `Bearer ${vendor}` } });
  t.equal(removed.status, 204);
  t.equal((await get(s, '/edge/x', basic)).status, 401);
  t.equal(s.upstream.received.length, 1);
});

t.test('with client-credentials tokens disabled, Basic is refused with 401, as a wrong secret', async (t) => {
  const s = await scenario(t, { tokenService: { apiTokens: { enabled: false } } });
  const res = await get(s, '/edge/x', basicAuth('some-client', 'some-secret'));
  t.equal(res.status, 401);
  t.match(await res.json(), { code: 'ERR_TOKEN_INVALID_CLIENT' });
  t.equal(s.upstream.received.length, 0);
});

t.test('repeated wrong secrets hit the rate limit: 429 with Retry-After', async (t) => {
  const s = await scenario(t, { tokenService: { rateLimit: { perClientPerMinute: 3 } } });
  const { clientId, secret } = await createTenantApiToken(s);
  const statuses: number[] = [];
  let retryAfter: string | null = null;
  for (let i = 0; i < 5; i++) {
    const res = await get(s, '/edge/x', basicAuth(clientId, `wrong-${i}`));
    statuses.push(res.status);
    if (res.status === 429) retryAfter = res.headers.get('retry-after');
    await res.arrayBuffer();
  }
  t.strictSame(statuses, [401, 401, 401, 429, 429]);
  t.ok(Number(retryAfter) >= 1 && Number(retryAfter) <= 60, 'Retry-After in seconds');
  t.equal((await get(s, '/edge/x', basicAuth(clientId, secret))).status, 429, 'the pair stays locked for the window, the right secret too');
  t.equal(s.upstream.received.length, 0);
});

t.test('forwardJwt: the upstream receives the minted JWT as Bearer, and it verifies against the gateway JWKS', async (t) => {
  const s = await scenario(t, { auth: { basicExchange: { forwardJwt: true } } });
  const { clientId, secret } = await createTenantApiToken(s);
  const basic = basicAuth(clientId, secret);
  for (const path of ['/edge/a', '/edge-fwd/b']) t.equal((await get(s, path, basic)).status, 200, path);
  const [first, second] = s.upstream.received;
  const authorization = first?.headers.authorization ?? '';
  t.match(authorization, /^Bearer [\w-]+\.[\w-]+\.[\w-]+$/);
  t.equal(second?.headers.authorization, authorization, 'one JWT per cache entry, not one per request');
  const jwt = authorization.slice('Bearer '.length);
  const { payload } = await jwtVerify(jwt, createRemoteJWKSet(new URL(`${s.gateway.url}/.well-known/jwks.json`)), { issuer: TS_ISSUER, audience: TS_AUDIENCE });
  t.match(payload, { sub: clientId, type: 'tenantApiToken', tenantId: 'tenant-1', jti: first?.headers['x-auth-token-id'] });
  t.equal((await get(s, '/api/x', authorization)).status, 200, 'the gateway accepts it as any JWT it issued');
  t.strictSame(leakedSecrets(s.gateway.logs.lines(), [secret, jwt]), [], 'neither the secret nor the minted JWT is logged');
});
