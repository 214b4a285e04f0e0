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
import { send } from '../helpers/scenario.js';
import { basicAuth, createTenantApiToken, REALM, startTokenScenario, VENDOR } from '../helpers/token-scenario.js';

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

t.test('over HTTP: guesses at /oauth/token → 429 keyed on the socket peer, whatever X-Forwarded-For says (case 29)', async (t) => {
  const s = await startTokenScenario({ tokenService: { rateLimit: { perClientPerMinute: 3, perPeerPerMinute: 1000 } } });
  t.teardown(() => s.close());
  const victim = await createTenantApiToken(s);
  const token = (authorization: string, xff: string, localAddress = '127.0.0.1') =>
    send(`${s.gateway.url}/oauth/token`, {
      method: 'POST',
      headers: [['content-type', 'application/x-www-form-urlencoded'], ['authorization', authorization], ['x-forwarded-for', xff], ['x-real-ip', xff]],
      body: 'grant_type=client_credentials',
      localAddress,
    });
  const guess = basicAuth(victim.clientId, 'guess-0123456789abcdefghijklmnopqrstuvwx');
  for (let i = 0; i < 3; i++) {
    const res = await token(guess, `198.51.100.${i}`);
    t.strictSame(
      { status: res.status, challenge: res.headers['www-authenticate'], error: res.json().error },
      { status: 401, challenge: `Basic ${REALM}`, error: 'invalid_client' },
      `failure ${i + 1}`,
    );
  }
  for (const xff of ['198.51.100.77', '127.0.0.2', 'unknown']) {
    const limited = await token(guess, xff);
    t.equal(limited.status, 429, `a new X-Forwarded-For (${xff}) is the same peer: 429`);
    t.match(limited.headers['retry-after'], /^[1-9]\d*$/, 'with Retry-After');
    t.equal(limited.headers['www-authenticate'], undefined, 'no challenge: the credentials were not even checked');
    t.strictSame(limited.json(), { error: 'invalid_request', error_description: 'Too many requests' });
  }
  const right = await token(basicAuth(victim.clientId, victim.secret), '198.51.100.78');
  t.equal(right.status, 429, 'the right secret from the locked peer is refused too: the lock is no oracle');
  const v1 = await send(`${s.gateway.url}/identity/resources/auth/v1/api-token`, {
    method: 'POST',
    headers: [['content-type', 'application/json'], ['x-forwarded-for', '198.51.100.79']],
    body: JSON.stringify({ clientId: victim.clientId, secret: 'wrong' }),
  });
  t.equal(v1.status, 429, "Frontegg's exchange route shares the limit");
  t.match(v1.headers['retry-after'], /^[1-9]\d*$/);
  t.strictSame(v1.json(), { errors: ['Too many requests'], code: 'ERR_TOKEN_RATE_LIMITED' });

  const legit = await token(basicAuth(victim.clientId, victim.secret), '198.51.100.0', '127.0.0.2');
  t.equal(legit.status, 200, 'the legitimate client, from its own peer, is not locked out by the attacker');
  const issued = legit.json() as { access_token: string; refresh_token: string };

  const peers = new Set(s.gateway.logs.entries().filter((e) => e['route'] === 'token-api').map((e) => e['peer']));
  t.strictSame([...peers].sort(), ['127.0.0.1', '127.0.0.2'], 'the access lines name the socket peers, never a forwarded address');
  t.equal(s.upstream.received.length, 0, 'nothing reached the upstream');
  t.strictSame(leakedSecrets(s.gateway.logs.lines(), [victim.secret, guess, issued.access_token, issued.refresh_token]), [], 'no secret or guess logged');
});

t.test('over HTTP: the per-peer limit counts every client id, and rotating X-Forwarded-For does not reset it (case 29)', async (t) => {
  const s = await startTokenScenario({ tokenService: { rateLimit: { perClientPerMinute: 1000, perPeerPerMinute: 5 } } });
  t.teardown(() => s.close());
  const client = await createTenantApiToken(s);
  const attempt = (clientId: string, secret: string, i: number, localAddress = '127.0.0.1') =>
    send(`${s.gateway.url}/oauth/token`, {
      method: 'POST',
      headers: [['content-type', 'application/x-www-form-urlencoded'], ['x-forwarded-for', `203.0.113.${i}`]],
      body: new URLSearchParams({ grant_type: 'client_credentials', client_id: clientId, client_secret: secret }).toString(),
      localAddress,
    });
  const statuses: number[] = [];
  for (let i = 0; i < 8; i++) statuses.push((await attempt(`client-${i}`, 'guess', i)).status);
  t.ok(statuses.includes(429), `a spray over client ids and forwarded addresses is limited: ${statuses.join(',')}`);
  t.equal(statuses.at(-1), 429, 'and stays limited');
  const other = await attempt(client.clientId, client.secret, 99, '127.0.0.2');
  t.equal(other.status, 200, 'another peer is not affected');
  const issued = other.json() as { access_token: string; refresh_token: string };
  t.equal(s.upstream.received.length, 0, 'nothing reached the upstream');
  t.strictSame(leakedSecrets(s.gateway.logs.lines(), [client.secret, issued.access_token, issued.refresh_token]), [], 'no secret logged');
});
