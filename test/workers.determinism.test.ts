import { test } from 'node:test';
import assert from 'node:assert/strict';
import { goldenRun, GOLDEN_CONFIGS } from './golden.helpers.js';

/**
 * N threads train exactly as one: the golden runs (multi-epoch; LSH top-k and union with padding
 * and dropout, dense output, the output in 1 and 3 memories) on 2 and 3 worker threads give the
 * one-thread run's losses, training P@1, metrics and weights bit for bit. Every sample's draws
 * come from (run, step, row), every gradient is summed in row order (layers/deferred.ts), every
 * table is a function of its keys, and every metric is added in row order.
 */
for (const name of Object.keys(GOLDEN_CONFIGS)) {
  test(`golden run '${name}' on 2 and 3 threads equals it on one thread, bit for bit`, async () => {
    const one = await goldenRun(name, 1);
    for (const threads of [2, 3]) assert.deepEqual(await goldenRun(name, threads), one, `${threads} threads`);
  });
}
