import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseConfig } from '../src/config.js';
import { largestIds } from '../src/layers/sampler.js';
import { standaloneSampler } from './sampler.helpers.js';
import { Rng } from '../src/util/rng.js';

test('largestIds: the k largest values, largest first, ties by the lower id (oracle: a full sort)', () => {
  fc.assert(
    fc.property(fc.array(fc.integer({ min: -20, max: 20 }), { minLength: 1, maxLength: 300 }), fc.integer({ min: 1, max: 40 }), (vals, k0) => {
      const v = Float32Array.from(vals, (x) => x / 4);
      const k = Math.min(k0, v.length);
      const out = new Int32Array(k);
      largestIds(v, v.length, out);
      const want = Array.from(v, (x, j) => [x, j] as const).sort((a, b) => b[0] - a[0] || a[1] - b[1]).slice(0, k).map(([, j]) => j);
      assert.deepEqual(Array.from(out), want);
    }),
  );
});

/**
 * Oracle: brute-force logits. Frequent labels are modelled as neurons with small weights and large
 * biases: their logits beat the others' for most inputs, yet their weights point anywhere, so the
 * tables (keyed by angle) rarely return them; topBias adds them.
 */
test('topBias: the neurons with the largest biases join every active set, after the forced ids, within the cap; a frequent exact top-1 is always found', () => {
  const nIn = 32;
  const nOut = 4000;
  const rng = new Rng(5);
  const W = Float32Array.from({ length: nOut * nIn }, () => rng.nextGaussian());
  const b = new Float32Array(nOut);
  const frequent = [7, 901, 2222, 3999, 1500];
  for (const j of frequent) {
    for (let k = 0; k < nIn; k++) W[j * nIn + k]! *= 0.05;
    b[j] = 12 + j / 1000;
  }
  const byBias = [...frequent].sort((x, y) => b[y]! - b[x]!);
  const run = (topBias: number) => {
    const cfg = parseConfig({ output: { hash: { family: 'simhash', K: 6, L: 20, bucketSize: 4096 }, activeSet: { policy: 'topk', maxActive: 100, minActive: 0, topBias } } }).output;
    const { sampler: s, plainScratch } = standaloneSampler(cfg, nIn, nOut, new Rng(9));
    s.rebuild(W, b, s.createRebuildScratch());
    const sc = plainScratch();
    const out = new Int32Array(nOut);
    let top1 = 0;
    let frequentTop1 = 0;
    const q = new Rng(3);
    for (let i = 0; i < 200; i++) {
      const x = Float32Array.from({ length: nIn }, () => Math.max(0, q.nextGaussian()));
      let best = -Infinity;
      let arg = -1;
      for (let j = 0; j < nOut; j++) {
        let d = b[j]!;
        for (let k = 0; k < nIn; k++) d += W[j * nIn + k]! * x[k]!;
        if (d > best) [best, arg] = [d, j];
      }
      const forced = Int32Array.of(42, 43);
      const n = s.activeSet(sc, x, 0, forced, 0, 2, s.trainCap, new Rng(1), out);
      assert.ok(n <= 100, `${n} active, cap 100`);
      assert.deepEqual(Array.from(out.subarray(0, 2)), [42, 43], 'forced ids first');
      if (topBias > 0) assert.deepEqual(Array.from(out.subarray(2, 2 + frequent.length)), byBias, 'then the largest biases, largest first');
      if (!frequent.includes(arg)) continue;
      frequentTop1++;
      if (Array.from(out.subarray(0, n)).includes(arg)) top1++;
    }
    return { top1, of: frequentTop1 };
  };
  const without = run(0);
  const withBias = run(5);
  assert.ok(withBias.of > 100, `a frequent label is the exact top-1 for most inputs (${withBias.of} of 200)`);
  assert.equal(withBias.top1, withBias.of, 'with the 5 largest biases each of them is a candidate');
  assert.ok(without.top1 < withBias.of / 2, `without them ${without.top1} of ${without.of}`);
});
