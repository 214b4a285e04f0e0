import t from 'tap';
import { createRejectedCache, createVerifiedCache } from '../../../src/auth/cache.js';
import type { Identity } from '../../../src/auth/identity.js';
import { createManualClock } from '../../../src/clock.js';
import { createMetrics } from '../../../src/metrics.js';
import { counterValue, createAuthHarness } from '../../helpers/auth-harness.js';
import { mintToken } from '../../helpers/tokens.js';

const identity = (overrides: Partial<Identity> = {}): Identity =>
  Object.freeze({
    tokenType: 'userApiToken',
    issuer: 'main',
    subject: 'client-1',
    tokenId: 'jti-1',
    userId: 'user-1',
    tenantId: 'tenant-1',
    roles: [],
    permissions: [],
    expiresAtMs: undefined,
    ...overrides,
  });

t.test('a verified entry is served until min(maxTtl, exp) by the injected clock, never at exp', async (t) => {
  const clock = createManualClock(1_000_000);
  const metrics = createMetrics({ processMetrics: false });
  const cache = createVerifiedCache({ maxEntries: 10, maxTtlSeconds: 300 }, { clock, metrics });

  cache.set('short', identity({ expiresAtMs: clock.now() + 60_000 }), 'k');
  cache.set('long', identity({ expiresAtMs: clock.now() + 3_600_000 }), 'k');
  cache.set('never', identity({ expiresAtMs: undefined }), 'k');
  clock.advance(59_999);
  t.ok(cache.get('short'), 'one ms before exp: served');
  clock.advance(1);
  t.equal(cache.get('short'), undefined, 'at exp: not served');
  clock.advance(300_000 - 60_000 - 1);
  t.ok(cache.get('long') && cache.get('never'), 'just before maxTtl: served');
  clock.advance(1);
  t.equal(cache.get('long'), undefined, 'at maxTtl: not served');
  t.equal(cache.get('never'), undefined, 'no exp: maxTtl still bounds it');

  cache.set('expired', identity({ expiresAtMs: clock.now() }), 'k');
  t.equal(cache.size, 0, 'an identity already at exp is not stored');
});

t.test('the negative cache remembers a code for its TTL; maxEntries 0 turns it off', async (t) => {
  const clock = createManualClock(0);
  const metrics = createMetrics({ processMetrics: false });
  const rejected = createRejectedCache({ maxEntries: 2, ttlSeconds: 10 }, { clock, metrics });
  rejected.set('a', 'ERR_AUTH_SIGNATURE');
  t.equal(rejected.get('a'), 'ERR_AUTH_SIGNATURE');
  clock.advance(10_000);
  t.equal(rejected.get('a'), undefined, 'gone after ttl');
  rejected.set('a', 'ERR_AUTH_SIGNATURE');
  rejected.set('b', 'ERR_AUTH_SIGNATURE');
  rejected.set('c', 'ERR_AUTH_SIGNATURE');
  t.equal(rejected.size, 2, 'bounded');
  t.equal(await counterValue(metrics.cacheEvents, { cache: 'rejected', event: 'eviction' }), 1, 'eviction counted');

  const off = createRejectedCache({ maxEntries: 0, ttlSeconds: 10 }, { clock, metrics });
  off.set('a', 'ERR_AUTH_SIGNATURE');
  t.equal(off.get('a'), undefined);
});

t.test('a cached token reaching exp is refused (Envoy JwtCacheTest.TestExpiredToken)', async (t) => {
  const h = await createAuthHarness(t);
  const token = await mintToken(h.issuers[0]!, { nowMs: h.clock.now(), ttlSeconds: 60 });
  await h.authenticate('bearer', token);
  h.clock.advance(59_000);
  await h.authenticate('bearer', token);
  t.equal(h.verifications(), 1, 'second use served from the cache');
  h.clock.advance(1_000);
  t.equal(await h.outcome('bearer', token), 'ERR_AUTH_EXPIRED');
});

t.test('maxTtlSeconds bounds how long a long-lived token is served without re-verification', async (t) => {
  const h = await createAuthHarness(t, { auth: { cache: { maxEntries: 10, maxTtlSeconds: 5 } } });
  const token = await mintToken(h.issuers[0]!, { nowMs: h.clock.now(), ttlSeconds: 3600 });
  await h.authenticate('bearer', token);
  h.clock.advance(4_999);
  await h.authenticate('bearer', token);
  t.equal(h.verifications(), 1);
  h.clock.advance(1);
  await h.authenticate('bearer', token);
  t.equal(h.verifications(), 2, 're-verified after maxTtl');
});

t.test('a cache hit still checks the header the token came in', async (t) => {
  const h = await createAuthHarness(t);
  const token = await mintToken(h.issuers[0]!, { nowMs: h.clock.now(), type: 'userApiToken' });
  t.equal(await h.outcome('bearer', token), 'OK');
  t.equal(await h.outcome('apiKey', token), 'ERR_AUTH_TOKEN_TYPE');
  t.equal(await h.outcome('bearer', token), 'OK');
  t.equal(h.verifications(), 1);
});

t.test('a rejected token is remembered; 503 and not-yet-valid are not', async (t) => {
  const h = await createAuthHarness(t);
  const issuer = h.issuers[0]!;
  const bad = await mintToken(issuer, { nowMs: h.clock.now(), claims: { iss: 'https://evil.test' } });
  t.equal(await h.outcome('bearer', bad), 'ERR_AUTH_CLAIMS');
  t.equal(await h.outcome('bearer', bad), 'ERR_AUTH_CLAIMS');
  t.equal(h.verifications(), 1, 'second refusal from the negative cache');
  h.clock.advance(10_000);
  t.equal(await h.outcome('bearer', bad), 'ERR_AUTH_CLAIMS');
  t.equal(h.verifications(), 2, 'negative entry expired');

  const early = await mintToken(issuer, { nowMs: h.clock.now(), claims: { nbf: Math.floor(h.clock.now() / 1000) + 60 } });
  t.equal(await h.outcome('bearer', early), 'ERR_AUTH_NOT_YET_VALID');
  h.clock.advance(31_000);
  t.equal(await h.outcome('bearer', early), 'OK', 'valid once nbf - tolerance is reached');
});

t.test('with the negative cache off, every rejection is verified again', async (t) => {
  const h = await createAuthHarness(t, { auth: { negativeCache: { maxEntries: 0, ttlSeconds: 10 } } });
  const bad = await mintToken(h.issuers[0]!, { nowMs: h.clock.now(), claims: { aud: 'x' } });
  await h.outcome('bearer', bad);
  await h.outcome('bearer', bad);
  t.equal(h.verifications(), 2);
});

t.test('evictions of the verified cache are counted', async (t) => {
  const h = await createAuthHarness(t, { auth: { cache: { maxEntries: 2, maxTtlSeconds: 300 } } });
  for (let i = 0; i < 3; i++) await h.authenticate('bearer', await mintToken(h.issuers[0]!, { nowMs: h.clock.now() }));
  t.equal(await counterValue(h.metrics.cacheEvents, { cache: 'verified', event: 'eviction' }), 1);
  t.equal(await counterValue(h.metrics.cacheEvents, { cache: 'verified', event: 'miss' }), 3);
});
