import t from 'tap';
import type { Identity } from '../../../src/auth/identity.js';
import { createIdentityHeaderBuilder } from '../../../src/proxy/identity-headers.js';
import { identityHeaders } from '../../helpers/compiled-config.js';
import { TENANT_ACCESS_IDENTITY, USER_API_IDENTITY } from '../../helpers/decide-fixtures.js';

const who = (overrides: Partial<Identity>): Identity => ({ ...USER_API_IDENTITY, ...overrides });

t.test('a user token gets every identity header, lists comma-joined', async (t) => {
  const build = createIdentityHeaderBuilder(identityHeaders());
  t.strictSame({ ...build(USER_API_IDENTITY) }, {
    'x-auth-user-id': 'user-1',
    'x-auth-tenant-id': 'tenant-1',
    'x-auth-roles': 'admin,reader',
    'x-auth-permissions': 'fe.secure.*,reports.read',
    'x-auth-token-type': 'userApiToken',
    'x-auth-token-id': 'jti-1',
    'x-auth-subject': 'client-1',
  });
});

t.test('a tenant token carries no user id, even if one slipped into the identity', async (t) => {
  const build = createIdentityHeaderBuilder(identityHeaders());
  const expected = {
    'x-auth-tenant-id': 'tenant-2',
    'x-auth-roles': 'reader',
    'x-auth-permissions': 'reports.read',
    'x-auth-token-type': 'tenantAccessToken',
    'x-auth-token-id': 'access-2',
    'x-auth-subject': 'access-2',
  };
  t.strictSame({ ...build(TENANT_ACCESS_IDENTITY) }, expected);
  t.strictSame({ ...build({ ...TENANT_ACCESS_IDENTITY, userId: 'user-9' }) }, expected);
});

t.test('lists are JSON arrays when configured, and empty lists are explicit', async (t) => {
  const build = createIdentityHeaderBuilder(identityHeaders({ arrayFormat: 'json' }));
  const headers = build(who({ roles: ['a,b', 'say "hi"'], permissions: [] }));
  t.equal(headers['x-auth-roles'], '["a,b","say \\"hi\\""]');
  t.equal(headers['x-auth-permissions'], '[]');
  const csv = createIdentityHeaderBuilder(identityHeaders())(who({ roles: [], permissions: [] }));
  t.equal(csv['x-auth-roles'], '');
  t.equal(csv['x-auth-permissions'], '');
});

t.test('configured names are used', async (t) => {
  const names = {
    userId: 'x-user',
    tenantId: 'x-tenant',
    roles: 'x-roles',
    permissions: 'x-perms',
    tokenType: 'x-type',
    tokenId: 'x-tid',
    subject: 'x-sub',
  };
  const build = createIdentityHeaderBuilder(identityHeaders({ names }));
  t.strictSame(Object.keys(build(USER_API_IDENTITY)).sort(), Object.values(names).sort());
});

t.test('a configured name that is not a plain property is refused at start', async (t) => {
  const names = { ...identityHeaders().names, roles: '__proto__' };
  t.throws(() => createIdentityHeaderBuilder(identityHeaders({ names })), { code: 'ERR_CONFIG_INVALID', problems: ['identityHeaders.names.roles: "__proto__" cannot be a header name'] });
});

t.test('a value that is not printable ASCII is refused, never passed on', async (t) => {
  const build = createIdentityHeaderBuilder(identityHeaders());
  const cases: { name: string; identity: Identity }[] = [
    { name: 'CR LF in the user id', identity: who({ userId: 'u\r\nx-auth-roles: admin' }) },
    { name: 'LF in the tenant id', identity: who({ tenantId: 't\nx' }) },
    { name: 'NUL in the subject', identity: who({ subject: 's\u0000' }) },
    { name: 'a tab in the token id', identity: who({ tokenId: 'a\tb' }) },
    { name: 'DEL in a role', identity: who({ roles: ['ok', 'r\u007f'] }) },
    { name: 'non-ASCII in a permission', identity: who({ permissions: ['caf\u00e9'] }) },
    { name: 'a line separator in a role', identity: who({ roles: ['a\u2028b'] }) },
    { name: 'a comma inside a role in csv form', identity: who({ roles: ['admin,owner'] }) },
    { name: 'a comma inside a permission in csv form', identity: who({ permissions: ['a,b'] }) },
    { name: 'an empty role in csv form', identity: who({ roles: ['admin', ''] }) },
    { name: 'a non-string user id', identity: who({ userId: 42 as unknown as string }) },
    { name: 'a leading space in the subject (the upstream would read it trimmed)', identity: who({ subject: ' admin' }) },
    { name: 'a trailing space in the tenant id', identity: who({ tenantId: 'tenant-1 ' }) },
    { name: 'a leading space in a role', identity: who({ roles: ['viewer', ' admin'] }) },
  ];
  for (const c of cases) {
    t.throws(() => build(c.identity), { code: 'ERR_AUTH_CLAIMS', statusCode: 401 }, c.name);
  }
  const json = createIdentityHeaderBuilder(identityHeaders({ arrayFormat: 'json' }));
  t.throws(() => json(who({ roles: ['a\nb'] })), { code: 'ERR_AUTH_CLAIMS' }, 'json form checks each item too');
});

t.test('the headers of an identity are built once and reused', async (t) => {
  const build = createIdentityHeaderBuilder(identityHeaders());
  const first = build(USER_API_IDENTITY);
  t.equal(build(USER_API_IDENTITY), first, 'the same object for the same identity');
  t.ok(Object.isFrozen(first), 'and it cannot be changed by a caller');
  t.not(build({ ...USER_API_IDENTITY }), first, 'another identity object gets its own');
  const other = createIdentityHeaderBuilder(identityHeaders({ arrayFormat: 'json' }));
  t.equal(other(USER_API_IDENTITY)['x-auth-roles'], '["admin","reader"]', 'memoised per builder, not globally');
});

t.test('a refused identity is refused again on the next call', async (t) => {
  const build = createIdentityHeaderBuilder(identityHeaders());
  const bad = who({ subject: 'a\nb' });
  t.throws(() => build(bad), { code: 'ERR_AUTH_CLAIMS' });
  t.throws(() => build(bad), { code: 'ERR_AUTH_CLAIMS' });
});
