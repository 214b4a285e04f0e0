import t from 'tap';
import { createManualClock } from '../../../src/clock.js';
import { createMemoryStore } from '../../../src/store/memory.js';
import { createDirectory, type DirectoryChange } from '../../../src/tokens/directory.js';
import { TEST_DIRECTORY } from '../../helpers/token-service.js';

async function setup() {
  const store = createMemoryStore();
  await store.migrate();
  const clock = createManualClock();
  const directory = createDirectory(TEST_DIRECTORY, { store, clock });
  const changes: DirectoryChange[] = [];
  directory.onChange((c) => changes.push(c));
  return { store, clock, directory, changes };
}

t.test('memberships: default roles, validated ids, change notices', async (t) => {
  const { directory, changes } = await setup();
  t.same((await directory.putMembership('t1', 'u1')).roleIds, ['r-viewer'], 'no roleIds → defaults');
  t.same((await directory.putMembership('t1', 'u2', ['r-admin', 'r-viewer', 'r-admin'])).roleIds, ['r-admin', 'r-viewer'], 'sorted, deduplicated');
  await t.rejects(directory.putMembership('t1', 'u3', ['r-admin', 'nope', 'bad id\n']), {
    code: 'ERR_DIRECTORY_UNKNOWN_ROLE',
    problems: ['roleIds[1]: unknown role "nope"', 'roleIds[2]: unknown role'],
  });
  await t.rejects(directory.putMembership('t1', 'bad\nid'), { code: 'ERR_VALIDATION' }, 'ids must be printable ASCII');
  await t.rejects(directory.putMembership('t1', ' user'), { code: 'ERR_VALIDATION' }, 'no leading space');
  await t.rejects(directory.putMembership('t1', 'user '), { code: 'ERR_VALIDATION' }, 'no trailing space: the upstream would read the id trimmed');
  t.same((await directory.getMembership('t1', 'u1'))?.roleIds, ['r-viewer']);
  t.equal((await directory.listMemberships('t1')).length, 2);
  t.equal(await directory.deleteMembership('t1', 'u1'), true);
  t.equal(await directory.deleteMembership('t1', 'u1'), false, 'a second delete: nothing to do, no notice');
  t.same(changes, [
    { kind: 'membership', tenantId: 't1', userId: 'u1' },
    { kind: 'membership', tenantId: 't1', userId: 'u2' },
    { kind: 'membership', tenantId: 't1', userId: 'u1' },
  ]);
});

t.test('tenants', async (t) => {
  const { directory, changes } = await setup();
  t.equal((await directory.putTenant('t9')).id, 't9');
  t.equal((await directory.getTenant('t9'))?.id, 't9');
  t.same((await directory.listTenants()).map((x) => x.id), ['t9']);
  t.equal(await directory.deleteTenant('t9'), true);
  t.equal(await directory.getTenant('t9'), undefined);
  t.equal(await directory.deleteTenant('t9'), false);
  t.same(changes, [{ kind: 'tenant', tenantId: 't9' }]);
});

t.test('grants: role keys and the union of permissions, sorted and deduplicated', async (t) => {
  const { directory } = await setup();
  const cases: Array<[string, string[] | null, string[] | null, { roles: string[]; permissions: string[] }]> = [
    ['nothing', null, null, { roles: [], permissions: [] }],
    ['one role', ['r-viewer'], null, { roles: ['viewer'], permissions: ['reports.read'] }],
    ['overlapping roles', ['r-viewer', 'r-admin'], null, { roles: ['admin', 'viewer'], permissions: ['fe.secure.*', 'reports.read'] }],
    ['roles plus direct permissions', ['r-billing'], ['x.read', 'billing.write'], { roles: ['billing'], permissions: ['billing.write', 'x.read'] }],
    ['a role removed from the config grants nothing', ['r-gone'], null, { roles: [], permissions: [] }],
  ];
  for (const [name, roleIds, permissionIds, expected] of cases) t.same(directory.grants(roleIds, permissionIds), expected, name);
  t.same(directory.checkRoleIds(['r-viewer', 'r-admin']), ['r-admin', 'r-viewer']);
});
