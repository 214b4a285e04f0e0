/**
 * Case 36: a client-supplied identity header — any case, duplicated, comma-joined, or spelled
 * with underscores (`X_User_Id`, `X-User_Id`, read as `HTTP_X_USER_ID` by CGI/WSGI upstreams) —
 * never reaches the upstream; it sees only what the gateway set. Holds for public routes and for
 * tenant tokens, where the gateway sets no user id at all (APISIX CVE-2026-124666/124679;
 * gunicorn #2799; RFC 9110 §17.10). Rejected requests reach no upstream at all.
 */
import t from 'tap';
import { identityHeaders, route } from '../helpers/compiled-config.js';
import { TENANT_ACCESS_TOKEN, USER_API_IDENTITY_HEADERS, USER_API_TOKEN, requestFacts, testDecider } from '../helpers/decide-fixtures.js';
import type { Received } from '../../scripts/echo-upstream.js';
import { leakedSecrets } from '../helpers/log-sink.js';
import { send, startScenario } from '../helpers/scenario.js';

const routes = [route({ name: 'api', pathPrefix: '/api' }), route({ name: 'public', pathPrefix: '/public', auth: null })];
// The prefix plus the conventional unprefixed names a deployment adds to `strip`.
const config = { identityHeaders: identityHeaders({ strip: new Set(['x-auth-user-id', 'x-user-id', 'x-tenant-id', 'x-roles']) }) };

const SPOOFED: [string, string][] = [
  ['X-Auth-User-Id', 'admin'],
  ['x-auth-user-id', 'admin2'],
  ['X-AUTH-TENANT-ID', 'other-tenant'],
  ['X-Auth-Roles', 'owner, superuser'],
  ['X-Auth-Roles', 'owner'],
  ['X_Auth_Permissions', '*'],
  ['X-Auth_Token_Type', 'vendor'],
  ['x-auth-anything-new', '1'],
  ['X-User-Id', 'admin'],
  ['X_User_Id', 'admin'],
  ['X-User_Id', 'admin'],
  ['x-tenant-id', 'other-tenant'],
  ['X-Roles', 'owner'],
];

/** Every header name the upstream receives that belongs to the identity namespace. */
function identityNamespace(headers: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(headers)) {
    const folded = k.toLowerCase().replaceAll('_', '-');
    if (folded.startsWith('x-auth-') || ['x-user-id', 'x-tenant-id', 'x-roles'].includes(folded)) out[k] = v;
  }
  return out;
}

t.test('an authenticated user token: the upstream sees exactly the gateway-set identity', async (t) => {
  const { decide } = testDecider({ routes, config });
  const d = await decide(requestFacts({ url: '/api', headers: [['Host', 'api.example.com'], ...SPOOFED, ['Authorization', `Bearer ${USER_API_TOKEN}`]] }));
  if (!d.allow) return t.fail(d.error.code);
  t.strictSame(identityNamespace(d.headers), {
    ...USER_API_IDENTITY_HEADERS,
  });
});

t.test('a tenant token: the client cannot supply the user id the gateway leaves out', async (t) => {
  const { decide } = testDecider({ routes, config });
  const d = await decide(requestFacts({ url: '/api', headers: [['Host', 'api.example.com'], ...SPOOFED, ['X-API-KEY', TENANT_ACCESS_TOKEN]] }));
  if (!d.allow) return t.fail(d.error.code);
  t.strictSame(identityNamespace(d.headers), {
    'x-auth-tenant-id': 'tenant-2',
    'x-auth-roles': 'reader',
    'x-auth-permissions': 'reports.read',
    'x-auth-token-type': 'tenantAccessToken',
    'x-auth-token-id': 'access-2',
    'x-auth-subject': 'access-2',
  });
});

t.test('a public route: every spoofed identity header is dropped', async (t) => {
  const { decide } = testDecider({ routes, config });
  const d = await decide(requestFacts({ url: '/public', headers: [['Host', 'api.example.com'], ...SPOOFED] }));
  if (!d.allow) return t.fail(d.error.code);
  t.strictSame(identityNamespace(d.headers), {});
});

t.test('a rejected request is denied, so nothing at all reaches the upstream', async (t) => {
  const { decide } = testDecider({ routes, config });
  const d = await decide(requestFacts({ url: '/api', headers: [['Host', 'api.example.com'], ...SPOOFED] }));
  t.equal(d.allow ? 'allowed' : d.error.code, 'ERR_AUTH_MISSING');
  t.notOk('headers' in d, 'a Deny carries no headers to forward');
});

// HTTP level: a real gateway in front of an echo upstream that records what it received.

/** Spoofed lines as clients and intermediaries spell them: any case, repeated, comma-joined, `_`. */
const SPOOFED_LINES: [string, string][] = [
  ['X-Auth-User-Id', 'admin'],
  ['x-auth-user-id', 'admin2'],
  ['X-AUTH-TENANT-ID', 'other-tenant'],
  ['X-Auth-Tenant-Id', 'other-tenant, tenant-x'],
  ['x-auth-roles', 'owner, superuser'],
  ['X-Auth-Roles', 'owner'],
  ['x_auth_user_id', 'admin3'],
  ['X-Auth_User_Id', 'admin4'],
  ['X_AUTH_TENANT_ID', 'other-tenant'],
  ['x_auth_roles', 'owner'],
];

/** The identity-namespace lines the upstream read, raw name → values, `_` spellings included. */
function identityLines(entry: Received): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (let i = 0; i + 1 < entry.rawHeaders.length; i += 2) {
    const name = entry.rawHeaders[i]!;
    if (name.toLowerCase().replaceAll('_', '-').startsWith('x-auth-')) (out[name] ??= []).push(entry.rawHeaders[i + 1]!);
  }
  return out;
}

t.test('over HTTP: the upstream sees the gateway identity only, one line per header, whatever the client spoofed', async (t) => {
  const s = await startScenario();
  t.teardown(() => s.close());
  const userToken = await s.mint({
    type: 'userAccessToken',
    claims: { sub: 'access-36', userId: 'user-36', tenantId: 'tenant-36', roles: ['viewer'], permissions: ['reports.read'] },
  });
  const tenantToken = await s.mint({ type: 'tenantAccessToken', claims: { sub: 'access-37', tenantId: 'tenant-37', roles: ['viewer'], permissions: ['reports.read'] } });
  const cases: { name: string; token: string; expected: Record<string, string[]> }[] = [
    {
      name: 'a user token',
      token: userToken,
      expected: {
        'x-auth-user-id': ['user-36'],
        'x-auth-tenant-id': ['tenant-36'],
        'x-auth-roles': ['viewer'],
        'x-auth-permissions': ['reports.read'],
        'x-auth-token-type': ['userAccessToken'],
        'x-auth-token-id': ['access-36'],
        'x-auth-subject': ['access-36'],
      },
    },
    {
      // The gateway sets no user id for a tenant token, so a spoofed one would be believed.
      name: 'a tenant token',
      token: tenantToken,
      expected: {
        'x-auth-tenant-id': ['tenant-37'],
        'x-auth-roles': ['viewer'],
        'x-auth-permissions': ['reports.read'],
        'x-auth-token-type': ['tenantAccessToken'],
        'x-auth-token-id': ['access-37'],
        'x-auth-subject': ['access-37'],
      },
    },
  ];
  for (const c of cases) {
    const before = s.upstream.received.length;
    const res = await send(`${s.gateway.url}/api/orders`, { headers: [...SPOOFED_LINES, ['x-api-key', c.token]] });
    t.equal(res.status, 200, c.name);
    t.equal(s.upstream.received.length, before + 1, `${c.name}: forwarded once`);
    t.strictSame(identityLines(s.upstream.received.at(-1)!), c.expected, `${c.name}: exactly the gateway's lines, no underscore spelling`);
  }
  t.strictSame(leakedSecrets(s.gateway.logs.lines(), [userToken, tenantToken]), [], 'no token in the logs');
});

t.test('over HTTP: a public route forwards none of the spoofed identity lines', async (t) => {
  const s = await startScenario();
  t.teardown(() => s.close());
  const res = await send(`${s.gateway.url}/public/items`, { headers: SPOOFED_LINES });
  t.equal(res.status, 200);
  t.equal(s.upstream.received.length, 1);
  t.strictSame(identityLines(s.upstream.received[0]!), {}, 'no identity line at all');
});

t.test('over HTTP: a rejected request with spoofed identity lines reaches no upstream', async (t) => {
  const s = await startScenario();
  t.teardown(() => s.close());
  const good = await s.mint({ type: 'userAccessToken', claims: { roles: ['viewer'] } });
  const realm = 'Bearer realm="m2m-gateway"';
  const cases: { name: string; path: string; credential: [string, string][]; status: number; code: string; challenge: string }[] = [
    { name: 'no credential', path: '/api/x', credential: [], status: 401, code: 'ERR_AUTH_MISSING', challenge: realm },
    { name: 'a tampered token', path: '/api/x', credential: [['x-api-key', `${good.slice(0, -4)}AAAA`]], status: 401, code: 'ERR_AUTH_SIGNATURE', challenge: `${realm}, error="invalid_token"` },
    { name: 'a role the route does not grant', path: '/admin/x', credential: [['x-api-key', good]], status: 403, code: 'ERR_AUTH_FORBIDDEN', challenge: `${realm}, error="insufficient_scope"` },
  ];
  for (const c of cases) {
    const res = await send(`${s.gateway.url}${c.path}`, { headers: [...SPOOFED_LINES, ...c.credential] });
    t.equal(res.status, c.status, c.name);
    t.equal(res.headers['www-authenticate'], c.challenge, `${c.name}: challenge`);
    t.equal(res.json().code, c.code, `${c.name}: code`);
  }
  t.equal(s.upstream.started(), 0, 'the upstream saw no request, not even its headers');
  t.strictSame(leakedSecrets(s.gateway.logs.lines(), [good]), [], 'no token in the logs');
});

t.test('over HTTP: identity headers renamed to X-User-Id, X-Tenant-Id, X-Roles are as unspoofable, underscore spellings included', async (t) => {
  const s = await startScenario({ config: { identityHeaders: { names: { userId: 'x-user-id', tenantId: 'x-tenant-id', roles: 'x-roles' } } } });
  t.teardown(() => s.close());
  const token = await s.mint({ type: 'userAccessToken', claims: { userId: 'user-36', tenantId: 'tenant-36', roles: ['viewer', 'editor'] } });
  const spoofed: [string, string][] = [
    ['X-User-Id', 'admin'],
    ['x-user-id', 'admin2'],
    ['X_User_Id', 'admin3'],
    ['X-User_Id', 'admin4'],
    ['X-TENANT-ID', 'other-tenant, tenant-x'],
    ['x_tenant_id', 'other-tenant'],
    ['X-Roles', 'owner'],
    ['X_ROLES', 'owner'],
  ];
  const renamed = (entry: Received): Record<string, string[]> => {
    const out: Record<string, string[]> = {};
    for (let i = 0; i + 1 < entry.rawHeaders.length; i += 2) {
      const name = entry.rawHeaders[i]!;
      if (['x-user-id', 'x-tenant-id', 'x-roles'].includes(name.toLowerCase().replaceAll('_', '-'))) (out[name] ??= []).push(entry.rawHeaders[i + 1]!);
    }
    return out;
  };
  const res = await send(`${s.gateway.url}/api/orders`, { headers: [...spoofed, ['x-api-key', token]] });
  t.equal(res.status, 200);
  t.equal(s.upstream.received.length, 1);
  t.strictSame(renamed(s.upstream.received[0]!), { 'x-user-id': ['user-36'], 'x-tenant-id': ['tenant-36'], 'x-roles': ['viewer,editor'] }, 'only the gateway-set lines');
  const open = await send(`${s.gateway.url}/public/items`, { headers: spoofed });
  t.equal(open.status, 200);
  t.strictSame(renamed(s.upstream.received[1]!), {}, 'a public route forwards none of them');
  const refused = await send(`${s.gateway.url}/api/orders`, { headers: spoofed });
  t.equal(refused.status, 401);
  t.equal(refused.headers['www-authenticate'], 'Bearer realm="m2m-gateway"');
  t.equal(refused.json().code, 'ERR_AUTH_MISSING');
  t.equal(s.upstream.received.length, 2, 'the refused request reached no upstream');
  t.strictSame(leakedSecrets(s.gateway.logs.lines(), [token]), [], 'no token in the logs');
});
