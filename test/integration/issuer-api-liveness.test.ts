/**
 * The sidecar's liveness source over the issuer's vendor-only routes (SPEC §2 "Sidecar", §3
 * "Deleted / revoked"), against a real gateway on port 0: live credentials answer with the
 * current grants, a deleted credential, a revoked family, a removed membership or a disabled kind
 * answer "not live", and an issuer that gives no usable answer makes the lookup fail closed
 * (ERR_STORE_UNAVAILABLE) within its timeout.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { pino } from 'pino';
import t from 'tap';
import { startEchoUpstream, type EchoUpstream } from '../../scripts/echo-upstream.js';
import type { Identity } from '../../src/auth/identity.js';
import { createManualClock, systemClock, type Clock } from '../../src/clock.js';
import { createIssuerApiLiveness } from '../../src/tokens/issuer-api-liveness.js';
import { TENANT_ACCESS_IDENTITY, USER_API_IDENTITY } from '../helpers/decide-fixtures.js';
import { createLogSink, leakedSecrets, type LogSink } from '../helpers/log-sink.js';
import { basicAuth, createTenantApiToken, postForm, startTokenScenario, VENDOR, type TokenScenario } from '../helpers/token-scenario.js';
import { identityOf } from '../helpers/token-service.js';

const TIMEOUT_MS = 500;
type Teardown = { teardown(fn: () => unknown): void };
const USER = { 'frontegg-tenant-id': 'tenant-1', 'frontegg-user-id': 'user-1' };

function source(url: string, options: { clock?: Clock; sink?: LogSink; credentials?: { clientId: string; secret: string } } = {}) {
  const sink = options.sink ?? createLogSink();
  return createIssuerApiLiveness({ url, ...(options.credentials ?? VENDOR), timeoutMs: TIMEOUT_MS }, { clock: options.clock ?? systemClock, log: pino({ level: 'debug' }, sink.stream) });
}

async function vendorCall(s: TokenScenario, method: string, path: string, options: { headers?: Record<string, string>; body?: unknown } = {}): Promise<Response> {
  return fetch(`${s.gateway.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${await s.vendorToken()}`, ...(options.body === undefined ? {} : { 'content-type': 'application/json' }), ...options.headers },
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
  });
}

async function exchange(s: TokenScenario, credentials: { clientId: string; secret: string }): Promise<{ accessToken: string; refreshToken: string }> {
  const res = await fetch(`${s.gateway.url}/identity/resources/auth/v1/api-token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(credentials) });
  if (res.status !== 200) throw new Error(`exchange failed: ${res.status}`);
  return (await res.json()) as { accessToken: string; refreshToken: string };
}

/** A user API token, a tenant API token (viewer) and one access token of each owner (tenant: admin). */
async function credentials(s: TokenScenario) {
  const userRes = await vendorCall(s, 'POST', '/identity/resources/users/api-tokens/v1', { headers: USER, body: {} });
  const { clientId, secret } = (await userRes.json()) as { clientId: string; secret: string };
  const user = { clientId, secret };
  const tenant = await createTenantApiToken(s);
  const userAccessRes = await vendorCall(s, 'POST', '/identity/resources/users/access-tokens/v1', { headers: USER, body: { expiresInMinutes: 60 } });
  const tenantAccessRes = await vendorCall(s, 'POST', '/identity/resources/tenants/access-tokens/v1', { headers: { 'frontegg-tenant-id': 'tenant-1' }, body: { roleIds: ['r-admin'] } });
  const userAccess = (await userAccessRes.json()) as { id: string; secret: string };
  const tenantAccess = (await tenantAccessRes.json()) as { id: string; secret: string };
  const userIssued = await exchange(s, user);
  const tenantIssued = await exchange(s, tenant);
  return {
    user,
    tenant,
    userIssued,
    tenantIssued,
    userAccess,
    userJwt: identityOf(userIssued.accessToken),
    tenantJwt: identityOf(tenantIssued.accessToken),
    userAccessJwt: identityOf(userAccess.secret),
    tenantAccessJwt: identityOf(tenantAccess.secret),
  };
}

const lookUp = (src: ReturnType<typeof source>, identity: Identity) => src.lookUp(identity, identity.sessionId);

t.test('live credentials answer with their tenant, user, current roles and expiry', async (t) => {
  const s = await startTokenScenario();
  t.teardown(() => s.close());
  const c = await credentials(s);
  const src = source(s.gateway.url);
  t.teardown(() => src.close());

  t.strictSame(await lookUp(src, c.tenantJwt), {
    answer: { live: true, tenantId: 'tenant-1', userId: undefined, roles: ['viewer'], permissions: ['read'], expiresAt: null },
    tags: { subject: c.tenant.clientId, familyId: c.tenantJwt.sessionId, tenantId: 'tenant-1', userId: undefined },
  });
  t.strictSame((await lookUp(src, c.userJwt)).answer, { live: true, tenantId: 'tenant-1', userId: 'user-1', roles: ['viewer'], permissions: ['read'], expiresAt: null });
  const userAccess = await lookUp(src, c.userAccessJwt);
  t.match(userAccess.answer, { live: true, tenantId: 'tenant-1', userId: 'user-1', roles: ['viewer'] });
  t.equal((userAccess.answer as { expiresAt: number }).expiresAt, c.userAccessJwt.expiresAtMs, 'the access token expiry, to the millisecond of its exp');
  t.strictSame(userAccess.tags, { subject: c.userAccess.id, familyId: undefined, tenantId: 'tenant-1', userId: 'user-1' });
  t.match((await lookUp(src, c.tenantAccessJwt)).answer, { live: true, userId: undefined, roles: ['admin'], permissions: ['*'] });

  await vendorCall(s, 'PUT', '/m2m/v1/tenants/tenant-1/users/user-1', { body: { roleIds: ['r-admin'] } });
  t.match((await lookUp(src, c.userJwt)).answer, { roles: ['admin'] }, 'the roles of now, not those in the JWT');
  t.strictSame(c.userJwt.roles, ['viewer']);
});

t.test('not live once the credential, the family or the membership is gone', async (t) => {
  const s = await startTokenScenario();
  t.teardown(() => s.close());
  const src = source(s.gateway.url);
  t.teardown(() => src.close());
  const c = await credentials(s);
  const notLive = { live: false };

  // RFC 7009: revoking the refresh token revokes its family, and with it the family's JWTs.
  const revoked = await postForm(s, '/oauth/revoke', `token=${encodeURIComponent(c.tenantIssued.refreshToken)}`, { authorization: basicAuth(c.tenant.clientId, c.tenant.secret) });
  t.equal(revoked.status, 200);
  t.strictSame((await lookUp(src, c.tenantJwt)).answer, notLive, 'family revoked');
  const again = identityOf((await exchange(s, c.tenant)).accessToken);
  t.match((await lookUp(src, again)).answer, { live: true }, 'a new family of the same credential is alive');

  // RFC 9700 §4.14.2: a reused refresh token revokes the whole family.
  const refresh = () => fetch(`${s.gateway.url}/identity/resources/auth/v1/api-token/token/refresh`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ refreshToken: c.userIssued.refreshToken }) });
  t.equal((await refresh()).status, 200);
  t.equal((await refresh()).status, 400, 'reuse');
  t.strictSame((await lookUp(src, c.userJwt)).answer, notLive, 'family revoked by reuse');

  const userAgain = identityOf((await exchange(s, c.user)).accessToken);
  t.match((await lookUp(src, userAgain)).answer, { live: true });
  t.equal((await vendorCall(s, 'DELETE', '/m2m/v1/tenants/tenant-1/users/user-1')).status, 204);
  t.strictSame((await lookUp(src, userAgain)).answer, notLive, 'membership removed: the user api token');
  t.strictSame((await lookUp(src, c.userAccessJwt)).answer, notLive, 'membership removed: the user access token');

  t.equal((await vendorCall(s, 'DELETE', `/identity/resources/tenants/api-tokens/v1/${c.tenant.clientId}`, { headers: { 'frontegg-tenant-id': 'tenant-1' } })).status, 204);
  t.strictSame((await lookUp(src, again)).answer, notLive, 'credential deleted');
  t.equal((await vendorCall(s, 'DELETE', `/identity/resources/tenants/access-tokens/v1/${c.tenantAccessJwt.subject}`, { headers: { 'frontegg-tenant-id': 'tenant-1' } })).status, 204);
  t.strictSame((await lookUp(src, c.tenantAccessJwt)).answer, notLive, 'access token deleted');

  const { sessionId: _sid, ...withoutSid } = again;
  const gone = await startEchoUpstream();
  await gone.close();
  const unreachable = source(gone.url);
  t.teardown(() => unreachable.close());
  t.strictSame(await unreachable.lookUp(withoutSid, undefined), { answer: notLive, tags: { subject: again.subject, familyId: undefined, tenantId: 'tenant-1', userId: undefined } }, 'an api-token JWT without sid: not live, and no request');
});

t.test('a kind switched off at the issuer is not live', async (t) => {
  for (const kind of ['apiTokens', 'accessTokens'] as const) {
    const s = await startTokenScenario({ tokenService: { [kind]: { enabled: false } } });
    t.teardown(() => s.close());
    const src = source(s.gateway.url);
    t.teardown(() => src.close());
    const identity = kind === 'apiTokens' ? { ...USER_API_IDENTITY, sessionId: 'some-family' } : TENANT_ACCESS_IDENTITY;
    t.strictSame((await lookUp(src, identity)).answer, { live: false }, kind);
  }
});

/** An issuer stand-in whose answers the test writes; its vendor tokens are `vendor-1`, `vendor-2`, … */
async function fakeIssuer(t: Teardown, lookup: (req: IncomingMessage, res: ServerResponse) => void) {
  const issuer = await startEchoUpstream();
  t.teardown(() => issuer.close());
  let issued = 0;
  issuer.handle((req, res) => {
    if (req.url?.endsWith('/auth/vendor') === true) {
      issued++;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ token: `vendor-${issued}`, expiresIn: 100 }));
      return;
    }
    lookup(req, res);
  });
  return { issuer, authentications: () => issued };
}

function reply(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(body);
}

const LIVE_ACCESS = JSON.stringify({ id: TENANT_ACCESS_IDENTITY.subject, tenantId: 'tenant-2', roles: ['reader'], permissions: ['reports.read'] });

t.test('an issuer without a usable answer fails the lookup closed, within the timeout', async (t) => {
  const gone = await startEchoUpstream();
  await gone.close();
  const cases: { name: string; url: () => Promise<string> }[] = [
    { name: 'connection refused', url: async () => gone.url },
    { name: 'a 500 from the lookup', url: async () => (await fakeIssuer(t, (_req, res) => reply(res, 500, '{"errors":["Internal error"]}'))).issuer.url },
    { name: 'a 500 from vendor authentication', url: async () => (await fakeIssuerAll(t, (_req, res) => reply(res, 500, '{}'))).url },
    { name: 'a 503', url: async () => (await fakeIssuer(t, (_req, res) => reply(res, 503, '{}'))).issuer.url },
    { name: 'another 403', url: async () => (await fakeIssuer(t, (_req, res) => reply(res, 403, '{"errors":["Forbidden"]}'))).issuer.url },
    { name: 'no answer at all', url: async () => (await fakeIssuer(t, () => undefined)).issuer.url },
    { name: 'a 200 that is not JSON', url: async () => (await fakeIssuer(t, (_req, res) => reply(res, 200, '{"id":'))).issuer.url },
    { name: 'a 200 about another token', url: async () => (await fakeIssuer(t, (_req, res) => reply(res, 200, LIVE_ACCESS.replace(TENANT_ACCESS_IDENTITY.subject, 'other')))).issuer.url },
    { name: 'a 200 with roles that are not strings', url: async () => (await fakeIssuer(t, (_req, res) => reply(res, 200, LIVE_ACCESS.replace('["reader"]', '[1]')))).issuer.url },
    { name: 'a 200 with an unreadable expiry', url: async () => (await fakeIssuer(t, (_req, res) => reply(res, 200, LIVE_ACCESS.replace('}', ',"expires":"soon"}')))).issuer.url },
    { name: 'a 200 with a userId on a tenant token', url: async () => (await fakeIssuer(t, (_req, res) => reply(res, 200, LIVE_ACCESS.replace('}', ',"userId":"u"}')))).issuer.url },
    { name: 'a 200 with an array', url: async () => (await fakeIssuer(t, (_req, res) => reply(res, 200, '[]'))).issuer.url },
  ];
  for (const c of cases) {
    const src = source(await c.url());
    t.teardown(() => src.close());
    const started = performance.now();
    await t.rejects(lookUp(src, TENANT_ACCESS_IDENTITY), { code: 'ERR_STORE_UNAVAILABLE' }, c.name);
    t.ok(performance.now() - started < TIMEOUT_MS + 250, `${c.name}: within the timeout`);
  }
});

/** A server answering every request, vendor authentication included, with `answer`. */
async function fakeIssuerAll(t: Teardown, answer: (req: IncomingMessage, res: ServerResponse) => void): Promise<EchoUpstream> {
  const issuer = await startEchoUpstream();
  t.teardown(() => issuer.close());
  issuer.handle(answer);
  return issuer;
}

t.test('the vendor token: cached, renewed before it expires, obtained again once on a 401', async (t) => {
  let refuse = new Set<string>();
  const { issuer, authentications } = await fakeIssuer(t, (req, res) => {
    const token = (req.headers.authorization ?? '').replace(/^Bearer /, '');
    if (refuse.has(token)) reply(res, 401, '{"errors":["Unauthorized"]}');
    else reply(res, 200, LIVE_ACCESS);
  });
  const clock = createManualClock();
  const sink = createLogSink();
  const src = source(issuer.url, { clock, sink });
  t.teardown(() => src.close());

  await Promise.all([lookUp(src, TENANT_ACCESS_IDENTITY), lookUp(src, TENANT_ACCESS_IDENTITY), lookUp(src, TENANT_ACCESS_IDENTITY)]);
  t.equal(authentications(), 1, 'concurrent lookups share one authentication');
  t.match(JSON.parse(issuer.received.find((r) => r.url === '/auth/vendor')!.body), { clientId: VENDOR.clientId, secret: VENDOR.secret });
  clock.advance(79_000);
  await lookUp(src, TENANT_ACCESS_IDENTITY);
  t.equal(authentications(), 1, 'cached while well within expiresIn');
  clock.advance(2_000);
  await lookUp(src, TENANT_ACCESS_IDENTITY);
  t.equal(authentications(), 2, 'renewed shortly before expiresIn ends');
  const connections = issuer.connections();
  for (let i = 0; i < 5; i++) await lookUp(src, TENANT_ACCESS_IDENTITY);
  t.equal(issuer.connections(), connections, 'keep-alive: sequential lookups open no connection');

  refuse = new Set(['vendor-2']);
  t.match((await lookUp(src, TENANT_ACCESS_IDENTITY)).answer, { live: true, roles: ['reader'] }, 'a 401 is answered with a new token');
  t.equal(authentications(), 3);
  const lookups = issuer.received.filter((r) => r.url.startsWith('/identity/'));
  t.equal(lookups.at(-1)!.url, `/identity/resources/vendor-only/tenants/access-tokens/v1/${TENANT_ACCESS_IDENTITY.subject}`);
  t.equal(lookups.at(-1)!.headers.authorization, 'Bearer vendor-3');

  refuse = new Set(['vendor-3', 'vendor-4']);
  await t.rejects(lookUp(src, TENANT_ACCESS_IDENTITY), { code: 'ERR_STORE_UNAVAILABLE' }, 'a second 401 fails closed');
  t.equal(authentications(), 4, 'only once per lookup');

  const vendorTokens = ['vendor-1', 'vendor-2', 'vendor-3', 'vendor-4'];
  t.strictSame(leakedSecrets(sink.lines(), [VENDOR.secret, ...vendorTokens]), [], 'neither the secret nor a vendor token is logged');
  t.ok(sink.entries().some((e) => e.clientId === VENDOR.clientId && e.msg === 'issuer liveness lookup failed; refusing'), 'the failure is logged with the vendor clientId');
});

t.test('wrong vendor credentials fail closed, and the real issuer takes a re-authenticated token', async (t) => {
  const gatewayClock = createManualClock(Date.now());
  const s = await startTokenScenario({ clock: gatewayClock });
  t.teardown(() => s.close());
  const c = await credentials(s);

  const wrong = source(s.gateway.url, { credentials: { clientId: VENDOR.clientId, secret: 'not-the-secret-0123456789' } });
  t.teardown(() => wrong.close());
  await t.rejects(lookUp(wrong, c.tenantJwt), { code: 'ERR_STORE_UNAVAILABLE' });

  // The source's clock stands still while the issuer's passes the vendor token's lifetime: the
  // cached token is refused with 401, and the source obtains a new one.
  const src = source(s.gateway.url, { clock: createManualClock() });
  t.teardown(() => src.close());
  t.match((await lookUp(src, c.tenantJwt)).answer, { live: true });
  gatewayClock.advance(3_601_000);
  t.match((await lookUp(src, c.tenantJwt)).answer, { live: true, roles: ['viewer'] });
});

t.test("lookups go below the URL's path, with the ids as single encoded segments", async (t) => {
  const { issuer } = await fakeIssuer(t, (_req, res) =>
    reply(res, 200, JSON.stringify({ clientId: 'a/b', tenantId: 'tenant-1', userId: 'user-1', roles: [], permissions: [], expires: '2030-01-01T00:00:00.000Z' })),
  );
  const src = source(`${issuer.url}/frontegg/`);
  t.teardown(() => src.close());
  const looked = await src.lookUp({ ...USER_API_IDENTITY, subject: 'a/b' }, 's id');
  t.strictSame(looked.answer, { live: true, tenantId: 'tenant-1', userId: 'user-1', roles: [], permissions: [], expiresAt: Date.UTC(2030, 0, 1) });
  t.strictSame(
    issuer.received.map((r) => r.url),
    ['/frontegg/auth/vendor', '/frontegg/identity/resources/vendor-only/users/api-tokens/v1/a%2Fb/sessions/s%20id'],
  );
});

t.test('the issuer route: a vendor token is required, bad path segments are 4xx', async (t) => {
  const s = await startTokenScenario();
  t.teardown(() => s.close());
  const c = await credentials(s);
  const path = `/identity/resources/vendor-only/tenants/api-tokens/v1/${c.tenant.clientId}/sessions/${c.tenantJwt.sessionId!}`;
  t.equal((await fetch(`${s.gateway.url}${path}`)).status, 401);
  t.equal((await fetch(`${s.gateway.url}${path}`, { headers: { authorization: `Bearer ${c.tenantIssued.accessToken}` } })).status, 401, 'an M2M token is no vendor token');
  t.equal((await vendorCall(s, 'GET', path)).status, 200);
  for (const bad of [path.replace(c.tenant.clientId, '%00'), `${path}x`.replace(/sessions\/.*/, 'sessions/a%2Fb'), path.replace('sessions', 'session'), `${path}/`]) {
    const res = await vendorCall(s, 'GET', bad);
    t.ok(res.status >= 400 && res.status < 500, `${bad.slice(-40)}: ${res.status}`);
  }
});

t.test('misconfiguration fails at creation, listing every problem', async (t) => {
  const log = pino({ level: 'silent' });
  const create = (options: Partial<Parameters<typeof createIssuerApiLiveness>[0]>) => () => createIssuerApiLiveness({ url: 'http://issuer.test', ...VENDOR, ...options }, { clock: systemClock, log });
  t.throws(create({ url: 'not a url' }), { code: 'ERR_CONFIG_INVALID' });
  t.throws(create({ url: 'ftp://u:p@issuer.test/?q' }), { code: 'ERR_CONFIG_INVALID', problems: [/http or https/, /credentials/, /query/] });
  t.throws(create({ timeoutMs: 0 }), { code: 'ERR_CONFIG_INVALID' });
  t.throws(create({ secret: '' }), { code: 'ERR_CONFIG_INVALID' });
});
