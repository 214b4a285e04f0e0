/**
 * Security case 25 (and the cache half of 24): the verified-token cache is keyed by SHA-256 of the
 * whole token, never serves an entry at or past `exp`, cannot be flushed by garbage (rejections
 * live in a separate, bounded negative cache), and 1 000 concurrent first uses of one token share
 * one verification and one result (Envoy JwtCacheTest; GHSA-rp9m-7r4c-75qg). A retired key
 * purges its cached tokens at once.
 */
import { randomBytes } from 'node:crypto';
import t from 'tap';
import { counterValue, createAuthHarness, tokensInLogs } from '../helpers/auth-harness.js';
import { flood, metricSeries, seriesValue, startProcessScenario, watchResources, type FloodRequest } from '../helpers/process-resources.js';
import { craftToken, mintToken, writeJwksFile, createTestIssuer } from '../helpers/tokens.js';

t.test('a cached valid token reaching exp is refused', async (t) => {
  const h = await createAuthHarness(t);
  const token = await mintToken(h.issuers[0]!, { nowMs: h.clock.now(), ttlSeconds: 120 });
  t.equal(await h.outcome('bearer', token), 'OK');
  h.clock.advance(119_999);
  t.equal(await h.outcome('bearer', token), 'OK');
  t.equal(h.verifications(), 1, 'served from the cache');
  h.clock.advance(1);
  t.equal(await h.outcome('bearer', token), 'ERR_AUTH_EXPIRED');
  t.same(tokensInLogs(h.logs, [token]), []);
});

t.test('a cached token whose key is retired is refused at once', async (t) => {
  const h = await createAuthHarness(t);
  const token = await mintToken(h.issuers[0]!, { nowMs: h.clock.now() });
  t.equal(await h.outcome('bearer', token), 'OK');
  const successor = await createTestIssuer({ name: h.issuers[0]!.name, kid: 'successor' });
  await writeJwksFile(h.jwksPaths[0]!, successor.jwks);
  await h.sources[0]!.refresh();
  t.equal(await h.outcome('bearer', token), 'ERR_AUTH_KID_UNKNOWN');
});

t.test('tokens that differ only at the end never share an entry', async (t) => {
  const h = await createAuthHarness(t);
  const issuer = h.issuers[0]!;
  const now = h.clock.now();
  // Same claims up to the last character of the last claim: the encodings share a long prefix.
  const alice = await mintToken(issuer, { nowMs: now, claims: { jti: 'fixed', zz: 'alice-a' } });
  const alicf = await mintToken(issuer, { nowMs: now, claims: { jti: 'fixed', zz: 'alice-b', sub: 'client-9' } });
  t.equal((await h.authenticate('bearer', alice)).subject, 'client-1');
  t.equal((await h.authenticate('bearer', alicf)).subject, 'client-9');
  t.equal((await h.authenticate('bearer', alice)).subject, 'client-1');

  // The cached token with only its last character changed: a different token, verified on its own.
  const last = alice.at(-1)!;
  for (const replacement of ['A', 'B', 'Q', 'g', 'w', '_']) {
    if (replacement === last) continue;
    const variant = alice.slice(0, -1) + replacement;
    t.not(await h.outcome('bearer', variant), 'OK', `last character ${last} → ${replacement} refused`);
  }
});

t.test('100 000 distinct garbage tokens do not evict a verified entry', async (t) => {
  const h = await createAuthHarness(t, {
    auth: { cache: { maxEntries: 4, maxTtlSeconds: 300 }, negativeCache: { maxEntries: 1000, ttlSeconds: 10 } },
    logLevel: 'info',
  });
  const issuer = h.issuers[0]!;
  const good = await mintToken(issuer, { nowMs: h.clock.now() });
  await h.authenticate('bearer', good);
  const hitsBefore = await counterValue(h.metrics.cacheEvents, { cache: 'verified', event: 'hit' });

  for (let i = 0; i < 100_000; i++) {
    // Alternate shapes: plain garbage (refused by the format check) and well-formed tokens naming an
    // unknown kid (refused at the key lookup). Neither may reach the verified cache.
    const garbage = i % 2 === 0 ? `garbage.${i}.x` : craftToken({ alg: 'RS256', typ: 'JWT', kid: `nope-${i}` }, { i }, 'c2ln');
    const code = await h.outcome('bearer', garbage);
    if (code === 'OK') t.fail(`garbage ${i} accepted`);
  }

  t.equal(await h.outcome('bearer', good), 'OK');
  t.equal(await counterValue(h.metrics.cacheEvents, { cache: 'verified', event: 'hit' }), hitsBefore + 1, 'the good entry is still a hit');
  t.equal(h.verifications(), 1, 'and was never re-verified');
  t.equal(await counterValue(h.metrics.cacheEvents, { cache: 'verified', event: 'eviction' }), 0, 'no verified entry evicted');
  t.ok((await counterValue(h.metrics.cacheEvents, { cache: 'rejected', event: 'eviction' })) > 90_000, 'the negative cache evicted its own');
});

t.test('1 000 concurrent first uses of one token: one verification, one result for all', async (t) => {
  const h = await createAuthHarness(t);
  const good = await mintToken(h.issuers[0]!, { nowMs: h.clock.now() });
  const results = await Promise.all(Array.from({ length: 1000 }, () => h.authenticate('bearer', good)));
  t.equal(h.verifications(), 1);
  t.ok(results.every((r) => r === results[0]), 'the same frozen identity');

  const bad = await mintToken(h.issuers[0]!, { nowMs: h.clock.now(), claims: { aud: 'other' } });
  const outcomes = await Promise.all(Array.from({ length: 1000 }, () => h.outcome('bearer', bad)));
  t.equal(h.verifications(), 2);
  t.ok(outcomes.every((o) => o === 'ERR_AUTH_CLAIMS'));

  const mixed = await mintToken(h.issuers[0]!, { nowMs: h.clock.now(), type: 'userAccessToken' });
  const kinds = await Promise.all(Array.from({ length: 100 }, (_, i) => h.outcome(i % 2 === 0 ? 'apiKey' : 'bearer', mixed)));
  t.equal(h.verifications(), 3, 'one verification shared by both headers');
  t.ok(kinds.every((o, i) => o === (i % 2 === 0 ? 'OK' : 'ERR_AUTH_TOKEN_TYPE')), 'each caller gets its header check');
});


/** As in metrics-cardinality.test.ts: 5 000 by default (50 times the cache below), M2M_FLOOD_REQUESTS for the case's 100 000. */
const GARBAGE = Number(process.env.M2M_FLOOD_REQUESTS ?? 5000);
const CACHED = 100;

t.test(`${GARBAGE} distinct garbage tokens against a gateway process: the good entry stays a hit, the heap stays bounded`, async (t) => {
  const s = await startProcessScenario(t, { config: { auth: { cache: { maxEntries: CACHED }, negativeCache: { maxEntries: CACHED } } } });
  await s.stillServes(t, 'before');
  const good = await s.mint({ type: 'tenantAccessToken' });
  const status = async () => {
    const res = await fetch(`${s.gateway.url}/api/good`, { headers: { 'x-api-key': good }, signal: AbortSignal.timeout(10_000) });
    await res.arrayBuffer();
    return res.status;
  };
  t.equal(await status(), 200, 'the good token is verified and cached');
  const event = async (cache: string, name: string) => seriesValue(await metricSeries(s.gateway), `m2m_gateway_cache_events_total{cache="${cache}",event="${name}"}`);
  const hitsBefore = await event('verified', 'hit');

  const watch = await watchResources(s.gateway);
  const random = () => randomBytes(8).toString('hex');
  const statuses = await flood(s.gateway, GARBAGE, (i): FloodRequest => {
    // Plain garbage and well-formed tokens naming unknown kids, as X-API-KEY and as Bearer.
    const token = i % 2 === 0 ? `${random()}.${random()}.${random()}` : craftToken({ alg: 'RS256', typ: 'JWT', kid: `kid-${random()}` }, { sub: random() }, 'c2ln');
    return { path: '/api/x', headers: i % 4 < 2 ? { 'x-api-key': token } : { authorization: `Bearer ${token}` } };
  });
  t.strictSame(Object.fromEntries(statuses), { 401: GARBAGE }, 'every garbage token refused');

  t.equal(await status(), 200, 'the good token is still accepted');
  t.equal(await event('verified', 'hit'), hitsBefore + 1, 'as a hit of the verified cache: never verified again');
  t.equal(await event('verified', 'eviction'), 0, 'no verified entry was evicted');
  t.ok((await event('rejected', 'eviction')) >= GARBAGE - CACHED, 'the negative cache evicted its own');
  await watch.settled(t, `${GARBAGE} garbage tokens`);
  await s.stillServes(t, 'after the garbage');
});
