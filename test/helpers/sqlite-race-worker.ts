/**
 * One racer of test/store/sqlite-specific.test.ts, run as a worker thread (so it lives among the
 * helpers, which tap does not run as tests): opens its own store, i.e. its own connection, on the
 * shared file, waits at the barrier with the other racers, then rotates every token once.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { createSqliteStore } from '../../src/store/sqlite.js';
import type { RotateOutcome } from '../../src/store/types.js';

export interface RaceInput {
  readonly path: string;
  readonly racer: number;
  readonly hashes: readonly string[];
  readonly now: number;
  /** [0]: racers ready; [1]: 1 once the main thread starts the race. */
  readonly barrier: SharedArrayBuffer;
}

const input = workerData as RaceInput;
const store = createSqliteStore({ path: input.path });
const barrier = new Int32Array(input.barrier);
Atomics.add(barrier, 0, 1);
Atomics.notify(barrier, 0);
Atomics.wait(barrier, 1, 0);

const outcomes: RotateOutcome['outcome'][] = [];
for (const hash of input.hashes) {
  const next = {
    hash: `${hash}-next-${input.racer}`,
    familyId: `family-${hash}`,
    clientId: 'client-1',
    createdAt: input.now,
    expiresAt: input.now + 60_000,
    usedAt: null,
    revokedAt: null,
  };
  outcomes.push((await store.rotateRefreshToken(hash, next, 100, input.now)).outcome);
}
await store.close();
parentPort?.postMessage(outcomes);
