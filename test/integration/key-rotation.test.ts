import t from 'tap';
import { createManualClock } from '../../src/clock.js';
import { startTokenScenario } from '../helpers/token-scenario.js';

/**
 * Key rotation over real sockets (SPEC §3 "Signing"): an access token outlives the JWT lifetime
 * of its retired key and still passes the proxy; revoking it lets the key leave the JWKS.
 */

const HOUR = 3600_000;
const kidOf = (jwt: string) => (JSON.parse(Buffer.from(jwt.split('.')[0]!, 'base64url').toString()) as { kid: string }).kid;

t.test('an access token keeps its retired key published and working until it is revoked', async (t) => {
  const clock = createManualClock(Date.now());
  const s = await startTokenScenario({ clock });
  t.teardown(() => s.close());
  const base = s.gateway.url;
  const scope = { 'frontegg-tenant-id': 'tenant-1' };
  const manage = async (method: string, path: string, body?: unknown) =>
    fetch(`${base}/identity/resources/tenants/access-tokens/v1${path}`, {
      method,
      headers: { authorization: `Bearer ${await s.vendorToken()}`, ...scope, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  const create = async () => {
    const res = await manage('POST', '', { description: 'deploys', roleIds: ['r-admin'] });
    t.equal(res.status, 201);
    return (await res.json()) as { id: string; secret: string };
  };
  const call = async (secret: string) => (await fetch(`${base}/api/orders`, { headers: { 'x-api-key': secret } })).status;
  const publishedKids = async () => ((await (await fetch(`${base}/.well-known/jwks.json`)).json()) as { keys: { kid: string }[] }).keys.map((k) => k.kid);

  const first = await create();
  const second = await create();
  const old = kidOf(first.secret);
  t.equal(kidOf(second.secret), old, 'both signed by the first key');
  t.equal(await call(first.secret), 200);

  const { kid } = await s.keys.rotate();
  t.same(await publishedKids(), [kid, old], 'after the rotation both keys are published');
  t.equal(await call(first.secret), 200, 'the access token still passes the proxy right after the rotation');
  const third = await create();
  t.equal(kidOf(third.secret), kid, 'new access tokens are signed by the new key');

  // Past every JWT and vendor token the old key signed: only the access tokens keep it.
  clock.advance(2 * HOUR);
  await s.keys.reload();
  t.same(await publishedKids(), [kid, old], 'the old key is kept for its live access tokens');
  t.equal(await call(first.secret), 200, 'and its access tokens still pass');

  t.equal((await manage('DELETE', `/${first.id}`)).status, 204);
  t.equal(await call(first.secret), 401, 'a revoked access token is refused at once');
  await s.keys.reload();
  t.same(await publishedKids(), [kid, old], 'another live access token still needs the old key');
  t.equal(await call(second.secret), 200);

  t.equal((await manage('DELETE', `/${second.id}`)).status, 204);
  await s.keys.reload();
  t.same(await publishedKids(), [kid], 'its last access token revoked, the old key leaves the JWKS at the next reload');
  t.equal(await call(second.secret), 401);
  t.equal(await call(third.secret), 200, 'the new key’s token is untouched');
});
