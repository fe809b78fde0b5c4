// LSH inference ranked by estimated logit (activeSet.queryRank 'logit'): the rows' centred lengths
// a rebuild writes (full and incremental, kernel and TypeScript hashing) against brute force, and
// the ranking's purpose: on rows of unequal lengths it finds the exact top label where votes miss it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from '../src/config.js';
import { standaloneSampler } from './sampler.helpers.js';
import { Rng } from '../src/util/rng.js';

const nIn = 40;
const nOut = 3001;

const configOf = (queryRank: 'votes' | 'logit', projection: 'sparse' | 'hadamard' = 'hadamard') =>
  parseConfig({
    output: {
      hash: { family: 'simhash', projection, K: 6, L: 40, center: true, incremental: true, bucketSize: 4096 },
      activeSet: { policy: 'topk', maxActive: 150, queryMaxActive: 150, minActive: 0, queryRank },
    },
  }).output;

/** Rows sharing one large component, with lengths spread over a factor of ~8 around it. */
function weights(rng: Rng, W: Float32Array): void {
  const common = Float32Array.from({ length: nIn }, () => rng.nextGaussian());
  for (let j = 0; j < nOut; j++) {
    const len = 0.5 + 1.5 * rng.nextFloat() ** 2;
    for (let k = 0; k < nIn; k++) W[j * nIn + k] = 3 * common[k]! + len * rng.nextGaussian();
  }
}

/** |W_j - mean| for every row, mean the column means, in float64. */
function centredLengths(W: Float32Array, rows: number): Float64Array {
  const mean = new Float64Array(nIn);
  for (let j = 0; j < rows; j++) for (let k = 0; k < nIn; k++) mean[k] += W[j * nIn + k]! / rows;
  return Float64Array.from({ length: rows }, (_, j) => {
    let s = 0;
    for (let k = 0; k < nIn; k++) s += (W[j * nIn + k]! - mean[k]!) ** 2;
    return Math.sqrt(s);
  });
}

for (const [kernels, projection] of [['wasm', 'hadamard'], ['js', 'hadamard'], ['wasm', 'sparse']] as const) {
  test(`rebuilds write each row's centred length where its key is (${kernels} kernels, ${projection}): full, then incremental with the full rebuild's centre`, () => {
    const rng = new Rng(3);
    const f = standaloneSampler(configOf('logit', projection), nIn, nOut, new Rng(9), kernels);
    const W = f.arena.f32(nOut * nIn);
    const b = f.arena.f32(nOut);
    weights(rng, W);
    const s = f.sampler;
    const hs = f.kernelScratch();
    s.rebuild(W, b, s.createRebuildScratch(), hs);
    const want = centredLengths(W, nOut);
    for (let j = 0; j < nOut; j++) assert.ok(Math.abs(s.rowNorm[j]! - want[j]!) <= 1e-5 * want[j]!, `row ${j}: ${s.rowNorm[j]} vs ${want[j]}`);
    // change 100 rows, mark them stale: an incremental rebuild re-measures those (old centre), no other
    const before = Float32Array.from(s.rowNorm);
    const oldMean = new Float64Array(nIn);
    for (let j = 0; j < nOut; j++) for (let k = 0; k < nIn; k++) oldMean[k] += W[j * nIn + k]! / nOut;
    const changed = new Set(Array.from({ length: 100 }, (_, i) => (i * 29) % nOut));
    for (const j of changed) {
      for (let k = 0; k < nIn; k++) W[j * nIn + k] = W[j * nIn + k]! * 2;
      s.stale[j] = 1;
    }
    s.rebuild(W, b, s.createRebuildScratch(), hs, false);
    for (let j = 0; j < nOut; j++) {
      if (!changed.has(j)) {
        assert.equal(s.rowNorm[j], before[j], `unchanged row ${j}`);
        continue;
      }
      let d = 0;
      for (let k = 0; k < nIn; k++) d += (W[j * nIn + k]! - oldMean[k]!) ** 2;
      assert.ok(Math.abs(s.rowNorm[j]! - Math.sqrt(d)) <= 1e-5 * Math.sqrt(d), `changed row ${j}`);
    }
  });
}


test('ranked by estimated logit, LSH inference finds the exact top label more often than ranked by votes when rows differ in length', () => {
  const rng = new Rng(5);
  const found = { votes: 0, logit: 0 };
  const queries = 300;
  const W0 = new Float32Array(nOut * nIn);
  weights(rng, W0);
  // inputs near a random row's centred direction, as a trained hidden layer points at its labels
  const mean = new Float64Array(nIn);
  for (let j = 0; j < nOut; j++) for (let k = 0; k < nIn; k++) mean[k] += W0[j * nIn + k]! / nOut;
  const inputs = Array.from({ length: queries }, () => {
    const j = rng.nextInt(nOut);
    return Float32Array.from({ length: nIn }, (_, k) => W0[j * nIn + k]! - mean[k]! + 0.7 * rng.nextGaussian());
  });
  const bias = Float32Array.from({ length: nOut }, () => 0.3 * rng.nextGaussian());
  for (const rank of ['votes', 'logit'] as const) {
    const f = standaloneSampler(configOf('logit'), nIn, nOut, new Rng(9), 'wasm');
    const W = f.arena.f32(nOut * nIn);
    W.set(W0);
    const b = f.arena.f32(nOut);
    b.set(bias);
    const s = f.sampler;
    const hs = f.kernelScratch();
    s.rebuild(W, b, s.createRebuildScratch(), hs);
    const out = new Int32Array(nOut);
    for (const x of inputs) {
      let best = -1;
      let bestLogit = -Infinity;
      for (let j = 0; j < nOut; j++) {
        let d = b[j]!;
        for (let k = 0; k < nIn; k++) d += W[j * nIn + k]! * x[k]!;
        if (d > bestLogit) {
          bestLogit = d;
          best = j;
        }
      }
      // the layer's biases switch the ranking on (what LSH inference passes); null keeps the votes'
      const n = s.activeSet(hs, x, 0, null, 0, 0, s.queryCap, new Rng(1), out, rank === 'logit' ? b : null);
      assert.ok(n <= 150);
      if (out.subarray(0, n).includes(best)) found[rank]++;
    }
  }
  assert.ok(found.logit > found.votes + 0.1 * queries, `exact top label among 150 candidates: by logit ${found.logit}, by votes ${found.votes} of ${queries}`);
});

test("queryRank 'logit' and trainRank 'mixed' are refused where votes give no angle (WTA codes), naming the field", () => {
  const cfg = parseConfig({ output: { hash: { family: 'wta', K: 2, L: 8 }, activeSet: { policy: 'topk', maxActive: 10, queryRank: 'logit' } } }).output;
  assert.throws(() => standaloneSampler(cfg, nIn, 100, new Rng(1)), /activeSet\.queryRank 'logit' needs SimHash/);
  const mixed = parseConfig({ output: { hash: { family: 'wta', K: 2, L: 8 }, activeSet: { policy: 'topk', maxActive: 10, trainRank: 'mixed' } } }).output;
  assert.throws(() => standaloneSampler(mixed, nIn, 100, new Rng(1)), /activeSet\.trainRank 'mixed' needs SimHash/);
});

