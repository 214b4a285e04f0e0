import t from 'tap';
import type { Identity } from '../../../src/auth/identity.js';
import { authorize } from '../../../src/proxy/authorize.js';
import { authRequirement } from '../../helpers/compiled-config.js';
import { TENANT_ACCESS_IDENTITY, USER_API_IDENTITY } from '../../helpers/decide-fixtures.js';

const who = (overrides: Partial<Identity>): Identity => ({ ...USER_API_IDENTITY, ...overrides });

t.test('a requirement is met or refused with insufficient scope', async (t) => {
  const cases: { name: string; req: Parameters<typeof authRequirement>[0]; identity: Identity; allowed: boolean }[] = [
    { name: 'no condition is met by any identity', req: {}, identity: USER_API_IDENTITY, allowed: true },
    { name: 'an allowed token type', req: { tokenTypes: new Set(['userApiToken'] as const) }, identity: USER_API_IDENTITY, allowed: true },
    { name: 'a token type not on the allow-list', req: { tokenTypes: new Set(['userApiToken'] as const) }, identity: TENANT_ACCESS_IDENTITY, allowed: false },
    { name: 'an allowed issuer', req: { issuers: new Set(['main']) }, identity: USER_API_IDENTITY, allowed: true },
    { name: 'another issuer', req: { issuers: new Set(['partner']) }, identity: USER_API_IDENTITY, allowed: false },
    { name: 'an allowed tenant', req: { tenants: new Set(['tenant-1', 'tenant-9']) }, identity: USER_API_IDENTITY, allowed: true },
    { name: 'another tenant', req: { tenants: new Set(['tenant-9']) }, identity: USER_API_IDENTITY, allowed: false },
    { name: 'a tenant id compared exactly', req: { tenants: new Set(['Tenant-1']) }, identity: USER_API_IDENTITY, allowed: false },
    { name: 'anyRole with one role held', req: { anyRole: ['owner', 'reader'] }, identity: USER_API_IDENTITY, allowed: true },
    { name: 'anyRole with none held', req: { anyRole: ['owner', 'billing'] }, identity: USER_API_IDENTITY, allowed: false },
    { name: 'anyRole with no roles at all', req: { anyRole: ['reader'] }, identity: who({ roles: [] }), allowed: false },
    { name: 'allRoles with all held', req: { allRoles: ['admin', 'reader'] }, identity: USER_API_IDENTITY, allowed: true },
    { name: 'allRoles with one missing', req: { allRoles: ['admin', 'owner'] }, identity: USER_API_IDENTITY, allowed: false },
    { name: 'a role is not matched by prefix', req: { anyRole: ['adm'] }, identity: USER_API_IDENTITY, allowed: false },
    { name: 'a role is not a wildcard', req: { anyRole: ['admin'] }, identity: who({ roles: ['*'] }), allowed: false },
    { name: 'anyPermission exact', req: { anyPermission: ['x', 'reports.read'] }, identity: USER_API_IDENTITY, allowed: true },
    { name: 'anyPermission none granted', req: { anyPermission: ['reports.write'] }, identity: USER_API_IDENTITY, allowed: false },
    { name: 'a granted wildcard covers a required permission under it', req: { anyPermission: ['fe.secure.read.users'] }, identity: USER_API_IDENTITY, allowed: true },
    { name: 'a granted wildcard covers its own stem exactly', req: { anyPermission: ['fe.secure.'] }, identity: USER_API_IDENTITY, allowed: true },
    { name: 'a granted wildcard does not cover a sibling prefix', req: { anyPermission: ['fe.securex.read'] }, identity: USER_API_IDENTITY, allowed: false },
    { name: 'a granted wildcard does not cover its parent', req: { anyPermission: ['fe.secure'] }, identity: USER_API_IDENTITY, allowed: false },
    { name: 'a required wildcard is met by a granted permission under it', req: { anyPermission: ['reports.*'] }, identity: USER_API_IDENTITY, allowed: true },
    { name: 'a required wildcard is not met outside its prefix', req: { anyPermission: ['billing.*'] }, identity: USER_API_IDENTITY, allowed: false },
    { name: 'a granted bare star covers everything', req: { allPermissions: ['a.b', 'c'] }, identity: who({ permissions: ['*'] }), allowed: true },
    { name: 'a required wildcard needs some granted permission', req: { anyPermission: ['*'] }, identity: who({ permissions: [] }), allowed: false },
    { name: 'allPermissions all covered', req: { allPermissions: ['reports.read', 'fe.secure.write'] }, identity: USER_API_IDENTITY, allowed: true },
    { name: 'allPermissions one missing', req: { allPermissions: ['reports.read', 'reports.write'] }, identity: USER_API_IDENTITY, allowed: false },
    {
      name: 'every condition must hold',
      req: { tokenTypes: new Set(['userApiToken'] as const), tenants: new Set(['tenant-1']), anyRole: ['admin'], allPermissions: ['billing.read'] },
      identity: USER_API_IDENTITY,
      allowed: false,
    },
  ];
  for (const c of cases) {
    const result = authorize(authRequirement(c.req), c.identity);
    if (c.allowed) t.equal(result, undefined, c.name);
    else t.match(result, { code: 'ERR_AUTH_FORBIDDEN', statusCode: 403 }, c.name);
  }
});
