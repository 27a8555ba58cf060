import fc from 'fast-check';

// The one place that sets the property tier's seed and run count. CI runs the defaults;
// HALFOPEN_FC_SEED / HALFOPEN_FC_RUNS explore other seeds or more runs locally.
// A failure prints its seed and path; rerun with HALFOPEN_FC_SEED=<seed> to reproduce.
const seed = Number(process.env.HALFOPEN_FC_SEED ?? 20261122);
const numRuns = Number(process.env.HALFOPEN_FC_RUNS ?? 1000);
if (!Number.isSafeInteger(seed) || !Number.isSafeInteger(numRuns) || numRuns < 1) {
  throw new Error(`HALFOPEN_FC_SEED/HALFOPEN_FC_RUNS must be integers (got ${seed}, ${numRuns})`);
}
fc.configureGlobal({ seed, numRuns, endOnFailure: true });
