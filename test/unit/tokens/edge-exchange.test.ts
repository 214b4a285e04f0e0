import t, { type Test } from 'tap';
import { createTokenHarness, PEER, type TokenHarness } from '../../helpers/token-service.js';

async function harness(t: Test, overrides: Parameters<typeof createTokenHarness>[1] = {}): Promise<TokenHarness> {
  const h = await createTokenHarness('memory', overrides);
  t.teardown(h.close);
  return h;
}

const caller = { peer: PEER };
const edgeExchanges = (h: TokenHarness) => h.sink.entries().filter((e) => e['msg'] === 'exchange' && e['edge'] === true).length;

async function client(h: TokenHarness) {
  const created = await h.service.createTenantApiToken({ tenantId: 't' }, {});
  return { clientId: created.record.clientId, secret: created.secret };
}

t.test('one exchange per JWT lifetime: the JWT is reused until it expires, with no refresh token', async (t) => {
  const h = await harness(t, { jwtTtlSeconds: 60 });
  const c = await client(h);
  const first = await h.service.exchangeAtEdge(c, caller);
  t.equal(first.refreshToken, undefined, 'no refresh token: no one would hold it');
  t.equal((await h.service.exchangeAtEdge(c, caller)).accessToken, first.accessToken, 'cached');
  const concurrent = await Promise.all(Array.from({ length: 20 }, () => h.service.exchangeAtEdge(c, caller)));
  t.ok(concurrent.every((issued) => issued.accessToken === first.accessToken));
  t.equal(edgeExchanges(h), 1);
  h.clock.advance(60_000);
  t.not((await h.service.exchangeAtEdge(c, caller)).accessToken, first.accessToken, 'a new JWT once the first expired');
  t.equal(edgeExchanges(h), 2);
});

t.test('concurrent first uses share one exchange', async (t) => {
  const h = await harness(t);
  const c = await client(h);
  const issued = await Promise.all(Array.from({ length: 20 }, () => h.service.exchangeAtEdge(c, caller)));
  t.equal(new Set(issued.map((i) => i.accessToken)).size, 1);
  t.equal(edgeExchanges(h), 1);
});

t.test('the cache is keyed by id and secret: a wrong secret never rides on a cached right one, and is never cached', async (t) => {
  const h = await harness(t);
  const c = await client(h);
  await t.rejects(h.service.exchangeAtEdge({ ...c, secret: `${c.secret}x` }, caller), { code: 'ERR_TOKEN_INVALID_CLIENT' }, 'wrong before the right one');
  await h.service.exchangeAtEdge(c, caller);
  await t.rejects(h.service.exchangeAtEdge({ ...c, secret: `${c.secret}x` }, caller), { code: 'ERR_TOKEN_INVALID_CLIENT' }, 'wrong after the right one is cached');
  await t.rejects(h.service.exchangeAtEdge({ clientId: `${c.clientId}:x`, secret: c.secret }, caller), { code: 'ERR_TOKEN_INVALID_CLIENT' });
  t.equal(h.sink.entries().filter((e) => e['msg'] === 'client authentication refused').length, 3, 'every wrong secret is checked again');
});

t.test('a deleted credential, a change event and a reset evict its cached JWT', async (t) => {
  const h = await harness(t);
  const c = await client(h);
  const first = await h.service.exchangeAtEdge(c, caller);
  h.service.liveness.apply({ change: { kind: 'apiToken', clientId: c.clientId }, committedAt: h.clock.now() });
  const second = await h.service.exchangeAtEdge(c, caller);
  t.not(second.accessToken, first.accessToken, "another process's write to the credential: exchanged again");
  h.service.liveness.apply({ change: { kind: 'apiToken', clientId: 'someone-else' }, committedAt: h.clock.now() });
  t.equal((await h.service.exchangeAtEdge(c, caller)).accessToken, second.accessToken, "another credential's change leaves it cached");
  h.service.liveness.clear();
  const third = await h.service.exchangeAtEdge(c, caller);
  t.not(third.accessToken, second.accessToken, 'after a gap in the change feed: exchanged again');
  await h.service.deleteApiToken('tenant', { tenantId: 't' }, c.clientId);
  await t.rejects(h.service.exchangeAtEdge(c, caller), { code: 'ERR_TOKEN_INVALID_CLIENT' }, 'deleted: refused at once');
});

t.test('a disabled kind is the same refusal as a wrong secret', async (t) => {
  const h = await harness(t, { apiTokens: { enabled: false } });
  await t.rejects(h.service.exchangeAtEdge({ clientId: 'c', secret: 's' }, caller), { code: 'ERR_TOKEN_INVALID_CLIENT' });
});
