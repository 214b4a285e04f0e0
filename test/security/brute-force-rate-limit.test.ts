/**
 * Security cases 26 and 29 at the token service (RFC 6749 §2.3.1, §10.10; OWASP API2:2023): an
 * unknown client and a wrong secret are one and the same error; failures over the limit answer
 * 429 with Retry-After, keyed on the socket peer; a locked-out attacker cannot keep the legitimate
 * client locked, and a lock always ends. The vendor credentials of `POST /auth/vendor`, which open
 * every management route, are limited the same way.
 */
import t from 'tap';
import { isGatewayError } from '../../src/errors.js';
import { leakedSecrets } from '../helpers/log-sink.js';
import { withTestDatabase } from '../helpers/postgres.js';
import { createTokenHarness, PEER, STORE_KINDS, type StoreKind } from '../helpers/token-service.js';
import { createTenantApiToken, startTokenScenario, VENDOR } from '../helpers/token-scenario.js';

const ATTACKER = '203.0.113.66';

async function failure(p: Promise<unknown>) {
  try {
    await p;
  } catch (err) {
    if (!isGatewayError(err)) throw err;
    return { code: err.code, status: err.statusCode, message: err.message, problems: err.problems, retryAfterSeconds: err.retryAfterSeconds };
  }
  throw new Error('expected a refusal');
}

// The PostgreSQL harnesses each get a schema of this file's database.
const database = await withTestDatabase(t);
const harness = (kind: StoreKind, overrides: Parameters<typeof createTokenHarness>[1] = {}) => createTokenHarness(kind, overrides, database);

for (const kind of STORE_KINDS) {
  t.test(`${kind}: unknown client, wrong secret, revoked and expired credentials are indistinguishable (case 26)`, async (t) => {
    const h = await harness(kind, { rateLimit: { perClientPerMinute: 100, perPeerPerMinute: 1000 } });
    t.teardown(h.close);
    const good = await h.service.createTenantApiToken({ tenantId: 't' }, {});
    const revoked = await h.service.createTenantApiToken({ tenantId: 't' }, {});
    await h.service.deleteApiToken('tenant', { tenantId: 't' }, revoked.record.clientId);
    const expiring = await h.service.createTenantApiToken({ tenantId: 't' }, { expiresInMinutes: 1 });
    h.clock.advance(60_000);
    const attempts = {
      'unknown client': { clientId: '00000000-0000-4000-8000-000000000000', secret: good.secret },
      'wrong secret': { clientId: good.record.clientId, secret: 'x'.repeat(43) },
      'revoked credential': { clientId: revoked.record.clientId, secret: revoked.secret },
      'expired credential': { clientId: expiring.record.clientId, secret: expiring.secret },
    };
    const answers = [];
    for (const [name, credentials] of Object.entries(attempts)) {
      const answer = await failure(h.service.exchange(credentials, { peer: PEER }));
      t.equal(answer.code, 'ERR_TOKEN_INVALID_CLIENT', name);
      answers.push(answer);
    }
    for (const answer of answers.slice(1)) t.same(answer, answers[0], 'identical');
    const issued = await h.service.exchange({ clientId: good.record.clientId, secret: good.secret }, { peer: PEER });
    t.type(issued.accessToken, 'string', 'the right secret still works');
  });

  t.test(`${kind}: brute force → 429 with Retry-After; the client elsewhere is never locked; the lock ends (case 29)`, async (t) => {
    const h = await harness(kind, { rateLimit: { perClientPerMinute: 5, perPeerPerMinute: 1000 } });
    t.teardown(h.close);
    const victim = await h.service.createTenantApiToken({ tenantId: 't' }, {});
    const guess = { clientId: victim.record.clientId, secret: 'guess'.repeat(9) };
    for (let i = 0; i < 5; i++) t.match(await failure(h.service.exchange(guess, { peer: ATTACKER })), { code: 'ERR_TOKEN_INVALID_CLIENT' });
    h.clock.advance(15_000);
    t.match(await failure(h.service.exchange(guess, { peer: ATTACKER })), { code: 'ERR_TOKEN_RATE_LIMITED', status: 429, retryAfterSeconds: 45 });
    t.match(
      await failure(h.service.exchange({ clientId: victim.record.clientId, secret: victim.secret }, { peer: ATTACKER })),
      { code: 'ERR_TOKEN_RATE_LIMITED' },
      'even the right secret is refused from the locked peer: a lock is not an oracle',
    );
    // The attacker keeps hammering for the whole window: the legitimate client, from its own peer, is served throughout.
    for (let second = 0; second < 45; second += 5) {
      await failure(h.service.exchange(guess, { peer: ATTACKER }));
      await h.service.exchange({ clientId: victim.record.clientId, secret: victim.secret }, { peer: PEER });
      h.clock.advance(5_000);
    }
    h.clock.advance(1_000);
    t.match(await failure(h.service.exchange(guess, { peer: ATTACKER })), { code: 'ERR_TOKEN_INVALID_CLIENT' }, 'the window ended despite the hammering');
  });

  t.test(`${kind}: the per-peer limit counts every attempt, whatever the client id (case 29)`, async (t) => {
    const h = await harness(kind, { rateLimit: { perClientPerMinute: 1000, perPeerPerMinute: 10 } });
    t.teardown(h.close);
    for (let i = 0; i < 10; i++) await failure(h.service.exchange({ clientId: `client-${i}`, secret: 's' }, { peer: ATTACKER }));
    t.match(await failure(h.service.exchange({ clientId: 'client-x', secret: 's' }, { peer: ATTACKER })), { code: 'ERR_TOKEN_RATE_LIMITED', retryAfterSeconds: 60 });
    t.match(await failure(h.service.exchange({ clientId: 'client-x', secret: 's' }, { peer: PEER })), { code: 'ERR_TOKEN_INVALID_CLIENT' }, 'another peer is not affected');
  });
}

t.test('POST /auth/vendor: wrong vendor secrets → 429 with Retry-After, apart from the exchange (case 29)', async (t) => {
  const s = await startTokenScenario({ tokenService: { rateLimit: { perClientPerMinute: 3, perPeerPerMinute: 1000 } } });
  t.teardown(() => s.close());
  const vendorToken = await s.vendorToken();
  const client = await createTenantApiToken(s);
  const signIn = (credentials: { clientId: string; secret: string }) =>
    fetch(`${s.gateway.url}/auth/vendor`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(credentials) });

  const wrongId = await signIn({ clientId: 'not-the-vendor', secret: VENDOR.secret });
  t.equal(wrongId.status, 401);
  const wrongIdText = await wrongId.text();
  const guess = { clientId: VENDOR.clientId, secret: 'guess'.repeat(8) };
  for (let i = 0; i < 3; i++) {
    const res = await signIn(guess);
    t.equal(res.status, 401, `failure ${i + 1}: 401`);
    t.equal(await res.text(), wrongIdText, 'a wrong id and a wrong secret: one answer (case 26)');
  }
  const limited = await signIn(guess);
  t.equal(limited.status, 429, 'over the limit: 429');
  t.match(limited.headers.get('retry-after'), /^[1-9]\d*$/, 'with Retry-After');
  t.strictSame(await limited.json(), { errors: ['Too many requests'], code: 'ERR_TOKEN_RATE_LIMITED' }, "Frontegg's error shape");
  const right = await signIn(VENDOR);
  t.equal(right.status, 429, 'the right secret from the locked peer is refused too: the lock is no oracle');
  t.match(right.headers.get('retry-after'), /^[1-9]\d*$/);

  const exchange = await fetch(`${s.gateway.url}/identity/resources/auth/v1/api-token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(client),
  });
  t.equal(exchange.status, 200, 'client exchanges keep their own budget');
  const management = await fetch(`${s.gateway.url}/identity/resources/tenants/api-tokens/v1`, { headers: { authorization: `Bearer ${vendorToken}`, 'frontegg-tenant-id': 'tenant-1' } });
  t.equal(management.status, 200, 'a vendor token already issued keeps working');
  t.strictSame(leakedSecrets(s.gateway.logs.lines(), [VENDOR.secret, guess.secret, client.secret, vendorToken]), [], 'no secret logged');
});
