import t from 'tap';
import { KEY_RELOAD_INTERVAL_SECONDS } from '../../src/tokens/keys.js';
import { createCliHarness, exchange, jwksKids, kidOf } from '../helpers/cli.js';
import { startGateway } from '../helpers/gateway.js';

const { dataDir, raw: RAW, cli, inProcess, cliJson, inJson, callApi } = await createCliHarness(t);

t.test('keys rotate: keys list shows the retirement; the serving gateway signs with the old key until it reloads, then publishes both', async (t) => {
  t.equal((await inProcess('members', 'add', '--tenant', 'initech', '--user', 'carol')).code, 0);
  const api = await inJson<{ clientId: string; secret: string }>(t, 'tokens', 'create', '--kind', 'api', '--owner', 'user', '--tenant', 'initech', '--user', 'carol');
  // A gateway started now reads the store again in KEY_RELOAD_INTERVAL_SECONDS; this test's
  // rotation and its first exchange come well before that.
  const gateway = await startGateway(RAW, { baseDir: dataDir });
  t.teardown(() => gateway.close());
  const before = await inJson<Array<Record<string, unknown>>>(t, 'keys', 'list');
  t.equal(before.length, 1);
  t.match(before[0], { alg: 'ES256', state: 'current', retiredAt: null, removeAfter: null });
  t.notOk(['d', 'privateKey', 'jwk'].some((name) => name in before[0]!), 'no key material listed');
  const oldKid = before[0]!['kid'] as string;
  t.same(await jwksKids(gateway), [oldKid]);

  const rotation = cliJson<{ kid: string; activatesAt: string; retired: Array<{ kid: string; retiredAt: string; removeAfter: string }> }>(t, 'keys', 'rotate');
  t.not(rotation.kid, oldKid);
  t.equal(rotation.retired.length, 1);
  const retired = rotation.retired[0]!;
  t.equal(retired.kid, oldKid);
  t.equal(retired.retiredAt, rotation.activatesAt, 'publishKeysAheadSeconds 0: the old key retires as the new one activates');
  t.equal(
    Date.parse(retired.removeAfter) - Date.parse(retired.retiredAt),
    (3600 + KEY_RELOAD_INTERVAL_SECONDS) * 1000,
    'kept published for the JWT and vendor-token lifetime (both 3600 s) plus the reload interval',
  );
  const stale = await exchange(gateway, api.clientId, api.secret);
  t.equal(stale.status, 200);
  const after = cliJson<Array<Record<string, unknown>>>(t, 'keys', 'list');
  t.match(after, [
    { kid: rotation.kid, state: 'current', retiredAt: null },
    { kid: oldKid, state: 'retired', retiredAt: retired.retiredAt, removeAfter: retired.removeAfter },
  ]);
  const text = cli('keys', 'rotate');
  t.match(text.stdout, new RegExp(`Retired ${rotation.kid}: signs until .*, stays in the JWKS until `));

  // The gateway had not reloaded: it went on signing with the key the CLI retired.
  t.equal(kidOf(stale.accessToken!), oldKid, 'signed with the old key before the reload');

  // A token signed with the newest key makes the gateway read the store now (unknown kid).
  const latest = (await inJson<Array<{ kid: string }>>(t, 'keys', 'list'))[0]!;
  const access = cliJson<{ secret: string }>(t, 'tokens', 'create', '--kind', 'access', '--owner', 'tenant', '--tenant', 'initech');
  t.equal(kidOf(access.secret), latest.kid, 'the CLI signs with its current key');
  t.equal((await callApi(gateway, ['x-api-key', access.secret])).status, 200, 'accepted: the gateway reloaded on the unknown kid');
  t.same(await jwksKids(gateway), [oldKid, rotation.kid, latest.kid].sort(), 'the gateway publishes the new keys and keeps the retired ones');
  const fresh = await exchange(gateway, api.clientId, api.secret);
  t.equal(kidOf(fresh.accessToken!), latest.kid, 'and now signs with the newest key');
  t.equal((await callApi(gateway, ['authorization', `Bearer ${stale.accessToken}`])).status, 200, 'the token signed with the retired key still passes');
});
