import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { createCliHarness, exchange, occurrences } from '../helpers/cli.js';
import { startGateway } from '../helpers/gateway.js';

const { dataDir, raw: RAW, transcript, cli, inProcess, cliJson, inJson, callApi } = await createCliHarness(t);

// The CLI runs first, on an empty data directory: it creates the store and keys the gateway then opens.
const tenantApi = cli('tokens', 'create', '--kind', 'api', '--owner', 'tenant', '--tenant', 'acme', '--role', 'r-admin', '--description', 'ci bot');
const tenantSecret = /^ {2}secret: (\S+)$/m.exec(tenantApi.stdout)?.[1] ?? '';
const tenantClientId = /^ {2}clientId: (\S+)$/m.exec(tenantApi.stdout)?.[1] ?? '';
const gateway = await startGateway(RAW, { baseDir: dataDir });
t.teardown(() => gateway.close());

t.test('tokens create prints a tenant API token’s secret once, says so, and logs nothing on stdout', async (t) => {
  t.equal(tenantApi.code, 0, tenantApi.stderr);
  t.match(tenantApi.stdout, /shown this once/);
  t.match(tenantApi.stdout, /roleIds: r-admin/);
  t.match(tenantSecret, /^[A-Za-z0-9_-]{43}$/, 'a 256-bit secret');
  t.match(tenantClientId, /^[0-9a-f-]{36}$/);
  t.notMatch(tenantApi.stdout, /"level"/, 'no log line on stdout');
  t.match(tenantApi.stderr, /generated a key-encryption key/, 'the first run warns on stderr that it generated the key files');
});

t.test('tokens list shows the token without its secret, in text and JSON', async (t) => {
  const text = cli('tokens', 'list', '--kind', 'api', '--owner', 'tenant', '--tenant', 'acme');
  t.equal(text.code, 0, text.stderr);
  t.match(text.stdout, tenantClientId);
  t.match(text.stdout, /ci bot/);
  const listed = await inJson<Array<Record<string, unknown>>>(t, 'tokens', 'list', '--kind', 'api', '--owner', 'tenant', '--tenant', 'acme');
  t.match(listed, [{ clientId: tenantClientId, owner: 'tenant', tenantId: 'acme', roleIds: ['r-admin'], description: 'ci bot', expires: null }]);
  t.notOk('secret' in listed[0]! || 'secretHash' in listed[0]!, 'neither the secret nor its hash');
});

t.test('a token the CLI created is exchanged at the gateway; once revoked by the CLI it is refused', async (t) => {
  const issued = await exchange(gateway, tenantClientId, tenantSecret);
  t.equal(issued.status, 200);
  t.match(await callApi(gateway, ['authorization', `Bearer ${issued.accessToken}`]), { status: 200, roles: 'admin' });

  const revoked = cliJson(t, 'tokens', 'revoke', '--kind', 'api', '--owner', 'tenant', '--tenant', 'acme', tenantClientId);
  t.same(revoked, { revoked: { kind: 'api', owner: 'tenant', id: tenantClientId } });
  t.equal((await exchange(gateway, tenantClientId, tenantSecret)).status, 401, 'no more exchanges');
  t.same(await inJson(t, 'tokens', 'list', '--kind', 'api', '--owner', 'tenant', '--tenant', 'acme'), [], 'gone from the list');

  const again = await inProcess('tokens', 'revoke', '--kind', 'api', '--owner', 'tenant', '--tenant', 'acme', tenantClientId);
  t.equal(again.code, 1, 'revoking twice fails');
  t.match(again.stderr, /^ERR_NOT_FOUND: /m);
  const unknown = cli('tokens', 'revoke', '--kind', 'access', '--owner', 'user', '--tenant', 'acme', 'no-such-token', '--json');
  t.equal(unknown.code, 1, 'an unknown token id fails');
  t.match(unknown.stderr, /^ERR_NOT_FOUND: /m);
  t.match(JSON.parse(unknown.stdout), { code: 'ERR_NOT_FOUND' }, '--json: the error as one JSON document');
});

t.test('a tenant access token from the CLI is accepted as X-API-KEY with its roles, until revoked', async (t) => {
  const created = cliJson<{ id: string; secret: string; roleIds: string[] }>(t, 'tokens', 'create', '--kind', 'access', '--owner', 'tenant', '--tenant', 'acme', '--role', 'r-viewer', '--expires-in-minutes', '60');
  t.match(created, { tenantId: 'acme', owner: 'tenant', roleIds: ['r-viewer'] });
  t.match(await callApi(gateway, ['x-api-key', created.secret]), { status: 200, roles: 'viewer' });
  const listed = await inJson<Array<{ id: string }>>(t, 'tokens', 'list', '--kind', 'access', '--owner', 'tenant', '--tenant', 'acme');
  t.same(
    listed.map((r) => r.id),
    [created.id],
  );
  t.notMatch(JSON.stringify(listed), created.secret, 'the JWT is not listed');
  t.equal((await inProcess('tokens', 'revoke', '--kind', 'access', '--owner', 'tenant', '--tenant', 'acme', created.id)).code, 0);
  t.same(await inJson(t, 'tokens', 'list', '--kind', 'access', '--owner', 'tenant', '--tenant', 'acme'), []);
});

t.test('members and user tokens: a user token carries the membership’s roles; removing the member stops it', async (t) => {
  const member = cliJson(t, 'members', 'add', '--tenant', 'globex', '--user', 'alice', '--role', 'r-admin');
  t.match(member, { tenantId: 'globex', userId: 'alice', roleIds: ['r-admin'] });
  t.match(await inJson(t, 'members', 'list', '--tenant', 'globex'), [{ userId: 'alice', roleIds: ['r-admin'] }]);
  t.match(await inJson(t, 'tenants', 'list'), [{ tenantId: 'globex' }], 'the membership created the tenant');

  const api = cliJson<{ clientId: string; secret: string }>(t, 'tokens', 'create', '--kind', 'api', '--owner', 'user', '--tenant', 'globex', '--user', 'alice', '--metadata', '{"team":"ops"}');
  t.match(api, { owner: 'user', userId: 'alice', metadata: { team: 'ops' } });
  const access = await inJson<{ id: string; secret: string }>(t, 'tokens', 'create', '--kind', 'access', '--owner', 'user', '--tenant', 'globex', '--user', 'alice');
  const issued = await exchange(gateway, api.clientId, api.secret);
  t.equal(issued.status, 200);
  t.match(await callApi(gateway, ['authorization', `Bearer ${issued.accessToken}`]), { status: 200, roles: 'admin' });
  t.match(await callApi(gateway, ['x-api-key', access.secret]), { status: 200, roles: 'admin' });
  t.match(await inJson(t, 'tokens', 'list', '--kind', 'api', '--owner', 'user', '--tenant', 'globex', '--user', 'alice'), [{ clientId: api.clientId }]);
  t.same(await inJson(t, 'tokens', 'list', '--kind', 'api', '--owner', 'user', '--tenant', 'globex', '--user', 'bob'), [], '--user narrows the list');

  const removed = cli('members', 'remove', '--tenant', 'globex', '--user', 'alice');
  t.equal(removed.code, 0, removed.stderr);
  t.same(await inJson(t, 'members', 'list', '--tenant', 'globex'), []);
  t.equal((await exchange(gateway, api.clientId, api.secret)).status, 401, 'no membership: no exchange');
  const again = await inProcess('members', 'remove', '--tenant', 'globex', '--user', 'alice');
  t.equal(again.code, 1);
  t.match(again.stderr, /^ERR_NOT_FOUND: /m);

  t.equal((await inProcess('members', 'add', '--tenant', 'globex', '--user', 'alice')).code, 0, 'added again, with the default roles');
  t.match(await inJson(t, 'members', 'list', '--tenant', 'globex'), [{ userId: 'alice', roleIds: ['r-viewer'] }]);
  t.equal((await exchange(gateway, api.clientId, api.secret)).status, 200, 'the token works again');
});

t.test('bad values are the service’s validation errors: exit 1 with the code and what is wrong, nothing written', async (t) => {
  const cases: Array<[string, string[], RegExp]> = [
    ['an unknown role', ['tokens', 'create', '--kind', 'api', '--owner', 'tenant', '--tenant', 'acme', '--role', 'nope'], /^ERR_DIRECTORY_UNKNOWN_ROLE: roleIds\[0\]: unknown role "nope"$/m],
    ['an unknown membership role', ['members', 'add', '--tenant', 'acme', '--user', 'bob', '--role', 'r-viewer', '--role', 'nope'], /^ERR_DIRECTORY_UNKNOWN_ROLE: roleIds\[1\]: unknown role "nope"$/m],
    ['a zero lifetime', ['tokens', 'create', '--kind', 'access', '--owner', 'tenant', '--tenant', 'acme', '--expires-in-minutes', '0'], /^ERR_VALIDATION: expiresInMinutes must be/m],
    ['a lifetime that is not a number', ['tokens', 'create', '--kind', 'api', '--owner', 'tenant', '--tenant', 'acme', '--expires-in-minutes', 'soon'], /^ERR_VALIDATION: expiresInMinutes must be/m],
    ['metadata that is not JSON', ['tokens', 'create', '--kind', 'api', '--owner', 'tenant', '--tenant', 'acme', '--metadata', '{nope'], /^ERR_VALIDATION: metadata must be a JSON object$/m],
    ['metadata that is not an object', ['tokens', 'create', '--kind', 'api', '--owner', 'tenant', '--tenant', 'acme', '--metadata', '[1]'], /^ERR_VALIDATION: metadata must be a JSON object$/m],
    ['a tenant id with a control character', ['tenants', 'add', 'bad\u0001id'], /^ERR_VALIDATION: tenantId must be/m],
  ];
  for (const [name, args, error] of cases) {
    const run = await inProcess(...args);
    t.equal(run.code, 1, `${name}: exit 1`);
    t.match(run.stderr, error, `${name}: says what is wrong`);
    t.equal(run.stdout, '', `${name}: nothing on stdout`);
  }
  t.same(await inJson(t, 'tokens', 'list', '--kind', 'api', '--owner', 'tenant', '--tenant', 'acme'), [], 'no token was created');
  t.same(await inJson(t, 'members', 'list', '--tenant', 'acme'), [], 'no membership was created');
});

t.test('usage errors exit 2 naming the problem, with the usage', async (t) => {
  const cases: Array<[string, string[], RegExp]> = [
    ['missing options', ['tokens', 'create', '--owner', 'tenant'], /needs --kind, --tenant/],
    ['an unknown option', ['tokens', 'list', '--kind', 'api', '--owner', 'tenant', '--tenant', 'acme', '--frob'], /Unknown option '--frob'/],
    ['an option of another command', ['members', 'list', '--tenant', 'acme', '--kind', 'api'], /--kind is not an option of "members list"/],
    ['an unknown subcommand', ['tokens', 'frob'], /unknown subcommand "frob"/],
    ['no subcommand', ['keys'], /a subcommand is required \(list, rotate\)/],
    ['a wrong kind', ['tokens', 'list', '--kind', 'jwt', '--owner', 'tenant', '--tenant', 'acme'], /--kind must be api or access/],
    ['a user token without --user', ['tokens', 'create', '--kind', 'api', '--owner', 'user', '--tenant', 'acme'], /a user token needs --user/],
    ['roles on a user token', ['tokens', 'create', '--kind', 'api', '--owner', 'user', '--tenant', 'acme', '--user', 'u', '--role', 'r-admin'], /--role is for tenant tokens/],
    ['--user on a tenant token', ['tokens', 'list', '--kind', 'api', '--owner', 'tenant', '--tenant', 'acme', '--user', 'u'], /--user is for user tokens/],
    ['permissions on an access token', ['tokens', 'create', '--kind', 'access', '--owner', 'tenant', '--tenant', 'acme', '--permission', 'p'], /--permission is for api tokens/],
    ['revoke without the id', ['tokens', 'revoke', '--kind', 'api', '--owner', 'tenant', '--tenant', 'acme'], /needs TOKEN_ID/],
    ['an extra argument', ['tenants', 'list', 'acme'], /takes no arguments; unexpected: acme/],
  ];
  for (const [name, args, message] of cases) {
    const run = await inProcess(...args);
    t.equal(run.code, 2, `${name}: exit 2`);
    t.match(run.stderr, message, `${name}: names the problem`);
    t.match(run.stderr, /Usage: m2m-gateway/, `${name}: with the usage`);
    t.equal(run.stdout, '', `${name}: nothing on stdout`);
  }
  const bin = cli('tokens', 'create', '--kind', 'api');
  t.equal(bin.code, 2, 'the bin exits 2');
  t.match(bin.stderr, /needs --owner, --tenant/);
  const help = cli('tokens', '--help');
  t.equal(help.code, 0);
  t.match(help.stdout, /tokens create --kind api\|access --owner tenant\|user/);
});

t.test('a config the commands cannot work on: exit 1 with the reason', async (t) => {
  const noService = await inProcess('keys', 'list', '--config', 'examples/jwks-url.yaml');
  t.equal(noService.code, 1);
  t.match(noService.stderr, /^ERR_CONFIG_INVALID: the config has no tokenService/m);
  const memoryConfig = join(dataDir, 'memory.yaml');
  writeFileSync(memoryConfig, JSON.stringify({ ...RAW, store: { driver: 'memory' } }));
  const memory = await inProcess('tenants', 'list', '--config', memoryConfig);
  t.equal(memory.code, 1);
  t.match(memory.stderr, /^ERR_CONFIG_INVALID: store\.driver is memory/m);
  const missing = await inProcess('tenants', 'list', '-c', join(dataDir, 'none.yaml'));
  t.equal(missing.code, 1);
  t.match(missing.stderr, /none\.yaml/);
});

t.test('a secret appears exactly once in everything the CLI printed: on create', async (t) => {
  const all = transcript.map((run) => run.stdout + run.stderr).join('\n');
  t.equal(occurrences(all, tenantSecret), 1, 'the tenant API token secret');
  t.equal(occurrences(tenantApi.stdout, tenantSecret), 1, 'in the create output');
  const created = transcript.filter((run) => run.args[0] === 'tokens' && run.args[1] === 'create' && run.code === 0);
  t.equal(created.length, 4, 'tenant and user, api and access tokens');
  for (const run of created) {
    const secret = run.args.includes('--json') ? (JSON.parse(run.stdout) as { secret: string }).secret : /^ {2}secret: (\S+)$/m.exec(run.stdout)![1]!;
    t.equal(occurrences(all, secret), 1, `${run.args.slice(0, 6).join(' ')}: printed once`);
  }
  t.notOk(
    transcript.some((run) => /"level"/.test(run.stdout)),
    'no log line on any stdout',
  );
});
