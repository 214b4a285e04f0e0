import t from 'tap';
import { createManualClock } from '../../src/clock.js';

t.test('a manual clock moves only when told', async (t) => {
  const clock = createManualClock(1000);
  t.equal(clock.now(), 1000);
  clock.advance(500);
  t.equal(clock.now(), 1500);
});
