import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from '../src/config.js';
import { standaloneSampler } from './sampler.helpers.js';
import { Rng } from '../src/util/rng.js';

/**
 * Oracle: brute-force inner products. Neurons share a large common component (as trained output
 * layers do); centering the keys keeps the logit order (w_j.x - mean.x) and lets the tables find
 * the true top neurons, where hashing raw weights sees every neuron at the same angle.
 */
test('centered keys retrieve the brute-force top inner products far better than raw weights', () => {
  const nIn = 32;
  const nOut = 3000;
  const rng = new Rng(4);
  const common = Float32Array.from({ length: nIn }, () => rng.nextGaussian());
  const W = new Float32Array(nOut * nIn);
  for (let j = 0; j < nOut; j++) for (let k = 0; k < nIn; k++) W[j * nIn + k] = 4 * common[k]! + rng.nextGaussian();
  const b = new Float32Array(nOut);
  const recall = (center: boolean) => {
    const cfg = parseConfig({ output: { hash: { family: 'simhash', K: 6, L: 20, center, bucketSize: 4096 }, activeSet: { minActive: 0 } } }).output;
    const { sampler: s, plainScratch } = standaloneSampler(cfg, nIn, nOut, new Rng(9));
    s.rebuild(W, b, s.createRebuildScratch());
    const sc = plainScratch();
    const out = new Int32Array(nOut);
    let found = 0;
    let cands = 0;
    const queries = 200;
    for (let q = 0; q < queries; q++) {
      const x = Float32Array.from({ length: nIn }, () => Math.max(0, rng.nextGaussian()));
      const scores = Array.from({ length: nOut }, (_, j) => {
        let d = 0;
        for (let k = 0; k < nIn; k++) d += W[j * nIn + k]! * x[k]!;
        return [d, j] as const;
      }).sort((a, c) => c[0] - a[0]);
      const n = s.activeSet(sc, x, 0, null, 0, 0, s.trainCap, new Rng(1), out);
      cands += n;
      const got = new Set(out.subarray(0, n));
      for (let i = 0; i < 5; i++) if (got.has(scores[i]![1])) found++;
    }
    return { recall: found / (5 * queries), cands: cands / queries };
  };
  const raw = recall(false);
  const centered = recall(true);
  assert.ok(centered.recall > raw.recall + 0.2, `centered ${JSON.stringify(centered)} vs raw ${JSON.stringify(raw)}`);
  assert.ok(centered.cands < nOut / 2, `centered retrieval stays sub-linear: ${centered.cands} candidates`);
});
