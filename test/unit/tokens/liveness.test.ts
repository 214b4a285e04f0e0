import t from 'tap';
import type { Identity } from '../../../src/auth/identity.js';
import { createManualClock } from '../../../src/clock.js';
import { createMetrics, type Metrics } from '../../../src/metrics.js';
import type { StoreChange } from '../../../src/store/types.js';
import { createLivenessChecker, type LivenessAnswer, type LivenessCacheOptions, type LivenessLookup } from '../../../src/tokens/liveness.js';

const LIVE: LivenessAnswer = { live: true, tenantId: 't', userId: 'u', roles: ['current'], permissions: ['p'], expiresAt: null };
const DEAD: LivenessAnswer = { live: false };

function identity(subject: string, sid?: string, overrides: Partial<Identity> = {}): Identity {
  return {
    tokenType: 'userApiToken',
    issuer: 'own',
    subject,
    tokenId: `jti-${subject}`,
    userId: 'u',
    tenantId: 't',
    roles: ['claimed'],
    permissions: [],
    expiresAtMs: undefined,
    ...(sid === undefined ? {} : { sessionId: sid }),
    ...overrides,
  };
}

/** A checker over a source whose answers the test sets, counting lookups per subject. */
function harness(options: LivenessCacheOptions = {}, metrics?: Metrics) {
  const clock = createManualClock();
  const answers = new Map<string, LivenessAnswer>();
  const lookups = new Map<string, number>();
  let gate: Promise<void> | undefined;
  const source = async (who: Identity, sid: string | undefined): Promise<LivenessLookup> => {
    lookups.set(who.subject, (lookups.get(who.subject) ?? 0) + 1);
    if (gate !== undefined) await gate;
    return { answer: answers.get(who.subject) ?? DEAD, tags: { subject: who.subject, familyId: sid, tenantId: who.tenantId, userId: who.userId } };
  };
  const checker = createLivenessChecker(options, { source, clock, metrics });
  return {
    clock,
    answers,
    checker,
    lookups: (subject: string) => lookups.get(subject) ?? 0,
    hold(): () => void {
      let release!: () => void;
      gate = new Promise((r) => (release = r));
      return () => {
        gate = undefined;
        release();
      };
    },
  };
}

t.test('a live answer carries the current grants, is reused for the TTL and never past the credential expiry', async (t) => {
  const h = harness({ ttlMs: 10_000 });
  h.answers.set('a', LIVE);
  h.answers.set('b', { ...LIVE, expiresAt: h.clock.now() + 3_000 });
  const checked = await h.checker.check(identity('a', 'f'));
  t.same(checked.roles, ['current'], 'roles from the source, not the claims');
  t.same(checked.permissions, ['p']);
  await h.checker.check(identity('a', 'f'));
  await h.checker.check(identity('b', 'f'));
  t.equal(h.lookups('a'), 1, 'the second check came from the cache');
  h.clock.advance(3_000);
  h.answers.set('b', DEAD);
  await t.rejects(h.checker.check(identity('b', 'f')), { code: 'ERR_AUTH_REVOKED' }, 'the credential expired: looked up again');
  h.clock.advance(7_000);
  await h.checker.check(identity('a', 'f'));
  t.equal(h.lookups('a'), 2, 'TTL over: looked up again');
});

t.test('a warm check returns the same identity object until the answer changes', async (t) => {
  const h = harness({ ttlMs: 10_000 });
  h.answers.set('a', LIVE);
  const verified = identity('a', 'f');
  const first = await h.checker.check(verified);
  t.ok(Object.isFrozen(first), 'frozen: it is shared');
  t.equal(await h.checker.check(verified), first, 'same object from the cached answer (the proxy keeps its headers per object)');
  t.not(await h.checker.check(identity('a', 'f')), first, 'another verified identity gets its own');
  h.answers.set('a', { ...LIVE, roles: ['changed'] });
  h.checker.evict((tags) => tags.subject === 'a');
  const changed = await h.checker.check(verified);
  t.not(changed, first, 'a new answer builds a new identity');
  t.same(changed.roles, ['changed'], 'with the new grants');
  t.same(first.roles, ['current'], 'the earlier identity is left as it was');
  h.answers.set('a', { ...LIVE, roles: ['changed'] });
  h.clock.advance(10_000);
  const refreshed = await h.checker.check(verified);
  t.equal(h.lookups('a'), 3, 'TTL over: looked up again');
  t.not(refreshed, changed, 'a fresh answer, even with equal grants, builds afresh');
  t.same(refreshed.roles, ['changed']);
});

t.test('claims that disagree with the record are refused', async (t) => {
  const h = harness();
  h.answers.set('a', LIVE);
  await t.rejects(h.checker.check(identity('a', 'f', { tenantId: 'other' })), { code: 'ERR_AUTH_REVOKED' });
  await t.rejects(h.checker.check(identity('a', 'f', { userId: 'someone-else' })), { code: 'ERR_AUTH_REVOKED' });
});

t.test('a source failure propagates and nothing is cached', async (t) => {
  const clock = createManualClock();
  let fail = true;
  const checker = createLivenessChecker(
    {},
    {
      clock,
      source: async (who) => {
        if (fail) throw new Error('store down');
        return { answer: LIVE, tags: { subject: who.subject, familyId: undefined, tenantId: 't', userId: 'u' } };
      },
    },
  );
  await t.rejects(checker.check(identity('a')), { message: 'store down' }, 'never allowed because the lookup failed');
  fail = false;
  t.same((await checker.check(identity('a'))).roles, ['current'], 'answered once the source is back');
});

t.test('eviction by tag, and a lookup that raced an eviction is not cached', async (t) => {
  const h = harness();
  h.answers.set('a', LIVE);
  h.answers.set('b', LIVE);
  await h.checker.check(identity('a', 'f1'));
  await h.checker.check(identity('b', 'f2'));
  h.checker.evict((tags) => tags.familyId === 'f1');
  await h.checker.check(identity('a', 'f1'));
  await h.checker.check(identity('b', 'f2'));
  t.equal(h.lookups('a'), 2, 'evicted');
  t.equal(h.lookups('b'), 1, 'untouched');

  h.answers.set('c', LIVE);
  const release = h.hold();
  const inFlight = h.checker.check(identity('c'));
  h.checker.evict((tags) => tags.subject === 'c'); // a write lands while the lookup is in flight
  release();
  await inFlight;
  await h.checker.check(identity('c'));
  t.equal(h.lookups('c'), 2, 'the answer read before the write was not cached');

  h.checker.clear();
  await h.checker.check(identity('b', 'f2'));
  t.equal(h.lookups('b'), 2, 'clear forgets everything');
});

t.test('concurrent misses of one key share one lookup; a check after an eviction does not join an older one', async (t) => {
  const h = harness();
  h.answers.set('a', LIVE);
  let release = h.hold();
  const checks = Array.from({ length: 32 }, () => h.checker.check(identity('a', 'f')));
  release();
  await Promise.all(checks);
  t.equal(h.lookups('a'), 1, '32 concurrent connections, one lookup');

  h.checker.clear();
  release = h.hold();
  const before = h.checker.check(identity('a', 'f'));
  h.checker.apply({ change: { kind: 'apiToken', clientId: 'a' }, committedAt: h.clock.now() });
  h.answers.set('a', DEAD);
  const after = h.checker.check(identity('a', 'f'));
  release();
  await before.catch(() => undefined); // it raced the write: either answer is acceptable for it
  await t.rejects(after, { code: 'ERR_AUTH_REVOKED' }, 'the check after the revocation looked up again');
  t.equal(h.lookups('a'), 3);
});

t.test('each store change evicts exactly the answers it makes stale', async (t) => {
  const cases: { change: StoreChange; stale: string[] }[] = [
    { change: { kind: 'apiToken', clientId: 'a' }, stale: ['a'] },
    { change: { kind: 'accessToken', id: 'b' }, stale: ['b'] },
    { change: { kind: 'refreshFamily', familyId: 'fc' }, stale: ['c'] },
    { change: { kind: 'membership', tenantId: 't2', userId: 'u2' }, stale: ['d'] },
    { change: { kind: 'tenant', tenantId: 't3' }, stale: ['e', 'f'] },
    { change: { kind: 'signingKeys' }, stale: [] },
  ];
  const who: Record<string, Identity> = {
    a: identity('a', 'fa'),
    b: identity('b', undefined, { tokenType: 'tenantAccessToken', userId: undefined }),
    c: identity('c', 'fc'),
    d: identity('d', 'fd', { tenantId: 't2', userId: 'u2' }),
    e: identity('e', 'fe', { tenantId: 't3', userId: 'u3' }),
    f: identity('f', 'ff', { tenantId: 't3', userId: undefined }),
  };
  for (const { change, stale } of cases) {
    const h = harness();
    for (const [subject, id] of Object.entries(who)) h.answers.set(subject, { ...LIVE, tenantId: id.tenantId, userId: id.userId });
    for (const id of Object.values(who)) await h.checker.check(id);
    h.checker.apply({ change, committedAt: h.clock.now() });
    for (const id of Object.values(who)) await h.checker.check(id);
    const relooked = Object.keys(who).filter((subject) => h.lookups(subject) === 2);
    t.same(relooked, stale, change.kind);
  }
});

t.test('dead answers live in their own bounded cache: a flood of them cannot push a live answer out', async (t) => {
  const metrics = createMetrics({ processMetrics: false });
  const h = harness({ maxEntries: 2, negativeMaxEntries: 5 }, metrics);
  h.answers.set('good', LIVE);
  await h.checker.check(identity('good', 'f'));
  for (let i = 0; i < 1_000; i++) await t.rejects(h.checker.check(identity(`garbage-${i}`, 'f')), { code: 'ERR_AUTH_REVOKED' });
  await h.checker.check(identity('good', 'f'));
  t.equal(h.lookups('good'), 1, 'still cached');
  await t.rejects(h.checker.check(identity('garbage-999', 'f')));
  t.equal(h.lookups('garbage-999'), 1, 'a recent dead answer is cached');
  await t.rejects(h.checker.check(identity('garbage-0', 'f')));
  t.equal(h.lookups('garbage-0'), 2, 'the oldest dead answers made room');

  const text = await metrics.registry.metrics();
  t.match(text, /m2m_gateway_cache_events_total\{cache="liveness",event="hit"\} 1\n/);
  t.match(text, /m2m_gateway_cache_events_total\{cache="liveness_negative",event="hit"\} 1\n/);
  t.match(text, /m2m_gateway_cache_events_total\{cache="liveness",event="miss"\} 1002\n/);
});

t.test('negativeMaxEntries 0 keeps no dead answers', async (t) => {
  const h = harness({ negativeMaxEntries: 0 });
  await t.rejects(h.checker.check(identity('x', 'f')));
  await t.rejects(h.checker.check(identity('x', 'f')));
  t.equal(h.lookups('x'), 2);
});

t.test('evictions are counted per cache', async (t) => {
  const metrics = createMetrics({ processMetrics: false });
  const h = harness({}, metrics);
  h.answers.set('a', LIVE);
  await h.checker.check(identity('a', 'f'));
  await t.rejects(h.checker.check(identity('b', 'f')));
  h.checker.apply({ change: { kind: 'refreshFamily', familyId: 'f' }, committedAt: h.clock.now() });
  const text = await metrics.registry.metrics();
  t.match(text, /m2m_gateway_cache_events_total\{cache="liveness",event="eviction"\} 1\n/);
  t.match(text, /m2m_gateway_cache_events_total\{cache="liveness_negative",event="eviction"\} 1\n/);
});
