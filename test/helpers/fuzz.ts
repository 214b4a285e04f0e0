import fc from 'fast-check';

/**
 * The one place the property tests take their fast-check settings from. CI runs a fixed seed and
 * a few hundred cases per property; `npm run fuzz` sets `FUZZ_RUNS` high and a fresh `FUZZ_SEED`.
 * A failure prints `{ seed, path }`: rerun with `FUZZ_SEED=<seed> FUZZ_PATH=<path>` to replay
 * exactly the counterexample.
 */
const seedText = process.env['FUZZ_SEED'];
const runsText = process.env['FUZZ_RUNS'];

export const FUZZ_SEED = seedText === undefined || seedText === '' ? 0x5eed : Number(seedText);
export const FUZZ_RUNS = runsText === undefined || runsText === '' ? 200 : Number(runsText);
const path = process.env['FUZZ_PATH'];

if (!Number.isSafeInteger(FUZZ_SEED)) throw new Error(`FUZZ_SEED must be an integer (got ${JSON.stringify(seedText)})`);
if (!Number.isSafeInteger(FUZZ_RUNS) || FUZZ_RUNS < 1) throw new Error(`FUZZ_RUNS must be a whole number > 0 (got ${JSON.stringify(runsText)})`);

/**
 * fast-check parameters. `weight` scales the number of runs for a property that is costly per
 * case (a real HTTP round trip): its share of `FUZZ_RUNS`, never below one run.
 */
export function fuzzParameters<T>(weight = 1): fc.Parameters<T> {
  return {
    seed: FUZZ_SEED,
    numRuns: Math.max(1, Math.round(FUZZ_RUNS * weight)),
    ...(path === undefined || path === '' ? {} : { path }),
    // A shrunk counterexample is what a regression test is written from.
    endOnFailure: false,
  };
}

/** Checks a synchronous property; throws fast-check's report (seed, path, counterexample) on failure. */
export function assertProperty<Ts>(property: fc.IProperty<Ts>, weight = 1): void {
  fc.assert(property, fuzzParameters(weight));
}

/** Checks an asynchronous property, as `assertProperty`. */
export async function assertAsyncProperty<Ts>(property: fc.IAsyncProperty<Ts>, weight = 1): Promise<void> {
  await fc.assert(property, fuzzParameters(weight));
}

/** Any JS string of UTF-16 code units, lone surrogates and controls included. */
export const anyString = (maxLength = 64) => fc.string({ unit: 'binary', maxLength });

/** Strings built from a few characters that matter to the parser under test, plus any other. */
export function stringOf(pieces: readonly string[], maxLength = 24): fc.Arbitrary<string> {
  return fc.array(fc.oneof(fc.constantFrom(...pieces), fc.string({ unit: 'binary', maxLength: 2 })), { maxLength }).map((parts) => parts.join(''));
}
