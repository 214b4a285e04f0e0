/**
 * Case 36: a client-supplied identity header — any case, duplicated, comma-joined, or spelled
 * with underscores (`X_User_Id`, `X-User_Id`, read as `HTTP_X_USER_ID` by CGI/WSGI upstreams) —
 * never reaches the upstream; it sees only what the gateway set. Holds for public routes and for
 * tenant tokens, where the gateway sets no user id at all (APISIX CVE-2026-124666/124679;
 * gunicorn #2799; RFC 9110 §17.10). Rejected requests reach no upstream at all.
 */
import t from 'tap';
import { identityHeaders, route } from '../helpers/compiled-config.js';
import { TENANT_ACCESS_TOKEN, USER_API_TOKEN, requestFacts, testDecider } from '../helpers/decide-fixtures.js';

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
    'x-auth-user-id': 'user-1',
    'x-auth-tenant-id': 'tenant-1',
    'x-auth-roles': 'admin,reader',
    'x-auth-permissions': 'fe.secure.*,reports.read',
    'x-auth-token-type': 'userApiToken',
    'x-auth-token-id': 'jti-1',
    'x-auth-subject': 'client-1',
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
