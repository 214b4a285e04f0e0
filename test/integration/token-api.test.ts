import t from 'tap';
import { leakedSecrets } from '../helpers/log-sink.js';
import { startTokenScenario, TS_ISSUER, VENDOR } from '../helpers/token-scenario.js';

/**
 * The token API over real sockets (SPEC §4): vendor auth, management, exchange, the proxy
 * accepting what was issued, and deletion refusing it at once (SPEC §3 "refused at every gateway").
 */

const json = (body: unknown) => ({ 'content-type': 'application/json', body: JSON.stringify(body) });

t.test('end to end: vendor token → credentials → exchange → proxied calls → deletion refuses at once', async (t) => {
  const s = await startTokenScenario();
  t.teardown(() => s.close());
  const base = s.gateway.url;
  const vendor = await s.vendorToken();
  const scope = { 'frontegg-tenant-id': 'tenant-1' };
  const mgmt = (extra: Record<string, string> = {}) => ({ authorization: `Bearer ${vendor}`, ...scope, ...extra });

  // A tenant access token: the JWT is the `secret`, presented raw in X-API-KEY.
  const { body: accessBody, ...accessInit } = json({ description: 'ci', roleIds: ['r-admin'] });
  const access = await fetch(`${base}/identity/resources/tenants/access-tokens/v1`, {
    method: 'POST',
    headers: { ...mgmt(), 'content-type': accessInit['content-type'] },
    body: accessBody,
  });
  t.equal(access.status, 201);
  t.equal(access.headers.get('cache-control'), 'no-store');
  t.equal(access.headers.get('pragma'), 'no-cache');
  const accessToken = (await access.json()) as { id: string; secret: string; description: string; createdAt: string };
  t.equal(accessToken.description, 'ci');
  t.match(accessToken.createdAt, /^\d{4}-\d\d-\d\dT/);

  // A tenant API token: clientId + secret, exchanged for a JWT.
  const api = await fetch(`${base}/identity/resources/tenants/api-tokens/v2`, {
    method: 'POST',
    headers: { 'x-access-token': vendor, ...scope, 'content-type': 'application/json' },
    body: JSON.stringify({ description: 'worker', metadata: { team: 'a' }, roleIds: ['r-viewer'] }),
  });
  t.equal(api.status, 201);
  const apiToken = (await api.json()) as Record<string, unknown>;
  t.strictSame(Object.keys(apiToken).sort(), ['clientId', 'createdAt', 'createdByUserId', 'description', 'metadata', 'roleIds', 'secret', 'tenantId'].sort());
  t.equal(apiToken.tenantId, 'tenant-1');

  const listed = (await (await fetch(`${base}/identity/resources/tenants/api-tokens/v1`, { headers: mgmt() })).json()) as Record<string, unknown>[];
  t.equal(listed.length, 1);
  t.notOk('secret' in listed[0]!, 'a list never carries the secret');

  const exchanged = await fetch(`${base}/identity/resources/auth/v1/api-token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ clientId: apiToken.clientId, secret: apiToken.secret }),
  });
  t.equal(exchanged.status, 200);
  t.equal(exchanged.headers.get('cache-control'), 'no-store');
  const tokens = (await exchanged.json()) as { accessToken: string; refreshToken: string; expiresIn: number; expires: string };
  t.strictSame(Object.keys(tokens).sort(), ['accessToken', 'expires', 'expiresIn', 'refreshToken']);
  t.equal(tokens.expiresIn, 3600);
  t.ok(Number.isFinite(Date.parse(tokens.expires)));

  const viaKey = await fetch(`${base}/api/orders`, { headers: { 'x-api-key': accessToken.secret } });
  t.equal(viaKey.status, 200);
  const viaBearer = await fetch(`${base}/api/orders`, { headers: { authorization: `Bearer ${tokens.accessToken}` } });
  t.equal(viaBearer.status, 200);
  const [first, second] = s.upstream.received;
  t.equal(first?.headers['x-auth-tenant-id'], 'tenant-1');
  t.equal(first?.headers['x-auth-token-type'], 'tenantAccessToken');
  t.equal(second?.headers['x-auth-token-type'], 'tenantApiToken');
  t.equal(second?.headers['x-auth-tenant-id'], 'tenant-1');
  t.notOk(first?.headers['x-api-key'], 'the credential is not forwarded');

  const deletedAccess = await fetch(`${base}/identity/resources/tenants/access-tokens/v1/${accessToken.id}`, { method: 'DELETE', headers: mgmt() });
  t.equal(deletedAccess.status, 204);
  const afterAccess = await fetch(`${base}/api/orders`, { headers: { 'x-api-key': accessToken.secret } });
  t.equal(afterAccess.status, 401, 'a deleted access token is refused at once, though its JWT is cached as verified');

  const deletedApi = await fetch(`${base}/identity/resources/tenants/api-tokens/v1/${String(apiToken.clientId)}`, { method: 'DELETE', headers: mgmt() });
  t.equal(deletedApi.status, 204);
  const afterApi = await fetch(`${base}/api/orders`, { headers: { authorization: `Bearer ${tokens.accessToken}` } });
  t.equal(afterApi.status, 401, 'the outstanding JWT of a deleted API token is refused at once');
  t.equal(s.upstream.received.length, 2, 'nothing reached the upstream after deletion');
});

t.test('POST /auth/vendor', async (t) => {
  const s = await startTokenScenario();
  t.teardown(() => s.close());
  const post = (body: string, contentType = 'application/json') =>
    fetch(`${s.gateway.url}/auth/vendor`, { method: 'POST', headers: { 'content-type': contentType }, body });

  const ok = await post(JSON.stringify(VENDOR));
  t.equal(ok.status, 200);
  t.equal(ok.headers.get('cache-control'), 'no-store');
  t.equal(ok.headers.get('pragma'), 'no-cache');
  const body = (await ok.json()) as { token: string; expiresIn: number };
  t.equal(body.expiresIn, 3600);
  const claims = JSON.parse(Buffer.from(body.token.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;
  t.equal(claims.type, 'vendor');
  t.equal(claims.iss, TS_ISSUER);

  const cases: { name: string; body: string; contentType?: string; status: number }[] = [
    { name: 'a wrong secret', body: JSON.stringify({ ...VENDOR, secret: 'x'.repeat(40) }), status: 401 },
    { name: 'an unknown client id', body: JSON.stringify({ ...VENDOR, clientId: 'nobody' }), status: 401 },
    { name: 'malformed JSON', body: '{"clientId":', status: 400 },
    { name: 'a JSON array', body: '[]', status: 400 },
    { name: 'a missing secret', body: JSON.stringify({ clientId: VENDOR.clientId }), status: 400 },
    { name: 'a secret that is a number', body: JSON.stringify({ clientId: VENDOR.clientId, secret: 5 }), status: 400 },
    { name: 'an unknown field', body: JSON.stringify({ ...VENDOR, admin: true }), status: 400 },
    { name: 'a duplicate member', body: `{"clientId":"${VENDOR.clientId}","secret":"a","secret":"${VENDOR.secret}"}`, status: 400 },
    { name: 'a form body', body: 'clientId=a&secret=b', contentType: 'application/x-www-form-urlencoded', status: 400 },
    { name: 'a body over 8 KiB', body: JSON.stringify({ ...VENDOR, secret: 'x'.repeat(9000) }), status: 413 },
  ];
  for (const c of cases) {
    const res = await post(c.body, c.contentType);
    t.equal(res.status, c.status, c.name);
    const errors = ((await res.json()) as { errors: string[] }).errors;
    t.ok(Array.isArray(errors) && errors.length > 0, `${c.name}: Frontegg's error shape`);
    if (c.status === 401) t.strictSame(errors, ['Unauthorized'], `${c.name}: one answer for every wrong credential`);
  }
  const unknown = await post(JSON.stringify({ ...VENDOR, admin: true }));
  t.strictSame(((await unknown.json()) as { errors: string[] }).errors, ['admin: unknown field']);
  t.strictSame(leakedSecrets(s.gateway.logs.lines(), [VENDOR.secret]), [], 'the vendor secret is never logged');
});
