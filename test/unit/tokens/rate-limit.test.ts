import t from 'tap';
import { createManualClock } from '../../../src/clock.js';
import { createRateLimiter } from '../../../src/tokens/rate-limit.js';

const A = { clientId: 'client-a', peer: '192.0.2.1' };
const attacker = { clientId: 'client-a', peer: '198.51.100.7' };

function limiter(perClientPerMinute = 3, perPeerPerMinute = 10) {
  const clock = createManualClock();
  return { clock, limiter: createRateLimiter({ perClientPerMinute, perPeerPerMinute }, { clock }) };
}

t.test('failures over the limit for a client from a peer → 429 with Retry-After until the window ends', async (t) => {
  const { clock, limiter: l } = limiter();
  for (let i = 0; i < 3; i++) {
    l.admit(attacker);
    l.recordFailure(attacker);
  }
  clock.advance(20_000);
  t.throws(() => l.admit(attacker), { code: 'ERR_TOKEN_RATE_LIMITED', retryAfterSeconds: 40 });
  clock.advance(39_999);
  t.throws(() => l.admit(attacker), { code: 'ERR_TOKEN_RATE_LIMITED', retryAfterSeconds: 1 });
  clock.advance(1);
  t.doesNotThrow(() => l.admit(attacker), 'the window always ends, however often the locked peer retried');
});

t.test("an attacker's failures never lock the legitimate client out", async (t) => {
  const { limiter: l } = limiter();
  for (let i = 0; i < 10; i++) {
    try {
      l.admit(attacker);
      l.recordFailure(attacker);
    } catch {
      // locked: keeps hammering
    }
  }
  t.doesNotThrow(() => l.admit(A), 'the client from its own address is admitted');
});

t.test('successes count per peer but never as failures', async (t) => {
  const { clock, limiter: l } = limiter(3, 5);
  for (let i = 0; i < 5; i++) l.admit(A);
  t.throws(() => l.admit(A), { code: 'ERR_TOKEN_RATE_LIMITED' }, 'peer limit');
  t.throws(() => l.admit({ clientId: 'other', peer: A.peer }), { code: 'ERR_TOKEN_RATE_LIMITED' }, 'the peer limit covers every client');
  t.doesNotThrow(() => l.admit({ clientId: 'client-a', peer: '192.0.2.2' }), 'another peer is fine');
  clock.advance(60_000);
  t.doesNotThrow(() => l.admit(A), 'next window');
});

t.test('limits must be positive integers', async (t) => {
  const clock = createManualClock();
  for (const bad of [0, -1, 1.5]) t.throws(() => createRateLimiter({ perClientPerMinute: bad, perPeerPerMinute: 1 }, { clock }), RangeError);
});
