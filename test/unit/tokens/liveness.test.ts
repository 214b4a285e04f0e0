import t from 'tap';
import { createManualClock } from '../../../src/clock.js';
import { createMetrics } from '../../../src/metrics.js';
import { createLivenessCache, type LivenessAnswer } from '../../../src/tokens/liveness.js';

const LIVE: LivenessAnswer = { live: true, tenantId: 't', userId: 'u', roles: ['r'], permissions: [], expiresAt: null };
const tags = (subject: string, familyId?: string) => ({ subject, familyId, tenantId: 't', userId: 'u' });

t.test('answers live for the TTL and never past the credential expiry', async (t) => {
  const clock = createManualClock();
  const cache = createLivenessCache({ ttlMs: 10_000 }, { clock, metrics: createMetrics() });
  cache.set('a', LIVE, tags('a'), cache.generation());
  cache.set('b', { ...LIVE, expiresAt: clock.now() + 3_000 }, tags('b'), cache.generation());
  t.equal(cache.get('a'), LIVE);
  clock.advance(3_000);
  t.equal(cache.get('b'), undefined, 'credential expired');
  clock.advance(7_000);
  t.equal(cache.get('a'), undefined, 'TTL over');
});

t.test('eviction by tag, and a lookup that raced a write is not cached', async (t) => {
  const clock = createManualClock();
  const cache = createLivenessCache({}, { clock });
  cache.set('a', LIVE, tags('a', 'f1'), cache.generation());
  cache.set('b', LIVE, tags('b', 'f2'), cache.generation());
  cache.evict((x) => x.familyId === 'f1');
  t.equal(cache.get('a'), undefined);
  t.equal(cache.get('b'), LIVE);
  const before = cache.generation();
  cache.evict((x) => x.subject === 'c'); // a write happens while a lookup for c is in flight
  cache.set('c', LIVE, tags('c'), before);
  t.equal(cache.get('c'), undefined, 'stale answer dropped');
  cache.clear();
  t.equal(cache.get('b'), undefined);
});
