import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SlideModel } from '../src/training/model.js';
import { generateSynthetic } from '../src/data/synth.js';
import { CsrBatchBuffer, gatherRows } from '../src/data/csr.js';
import { ParamBlock } from '../src/layers/params.js';
import { parseConfig, type ConfigInput } from '../src/config.js';
import { getKernels, type KernelChoice } from '../src/kernels/index.js';
import { Arena } from '../src/memory/arena.js';
import { Rng } from '../src/util/rng.js';

/**
 * Deferred weight gradients (layers/deferred.ts): a sampled layer's backward records (row,
 * gradient) pairs per batch slot and the update sums them row by row. Oracle: the immediate
 * path (each sample adds into G at once, what trainSample does without a slot), which must give
 * the same weights bit for bit, since the sums run in the same order.
 */

const { train } = generateSynthetic({ nTrain: 1200, nTest: 10, nFeatures: 300, nLabels: 150, featuresPerPoint: 12, labelsPerPoint: 2, seed: 4 });

const CONFIG: ConfigInput = {
  seed: 9, hidden: [20], batchSize: 50, optimizer: { lr: 5e-3, weightDecay: 0.05 },
  output: { mode: 'lsh', hash: { family: 'simhash', K: 3, L: 8 }, activeSet: { policy: 'topk', maxActive: 40, minActive: 0 } },
  // no rebuild inside the run: the manual loop below does not replay the schedule
  rebuild: { schedule: 'fixed', period: 1_000_000 },
};

function batches(n: number) {
  const order = Int32Array.from({ length: train.n }, (_, i) => i);
  return Array.from({ length: n }, (_, i) => gatherRows(train, order, i * 50, i * 50 + 50, new CsrBatchBuffer()));
}

for (const [kernels, outputShards] of [['wasm', 1], ['js', 1], ['wasm', 3]] as const satisfies readonly (readonly [KernelChoice, number])[]) {
  test(`training with deferred gradients equals the immediate path bit for bit (${kernels} kernels, output in ${outputShards} memor${outputShards > 1 ? 'ies' : 'y'}, Adam with weight decay, LSH top-k)`, () => {
    const config = { ...CONFIG, outputShards };
    const deferred = new SlideModel({ nFeatures: train.nFeatures, nLabels: train.nLabels, config, kernels });
    const immediate = new SlideModel({ nFeatures: train.nFeatures, nLabels: train.nLabels, config, kernels });
    assert.equal(deferred.network.output.shards.length, outputShards);
    assert.ok(deferred.network.output.shards.every((sh) => sh.p.deferred !== null), 'every shard of the sampled output layer defers');
    assert.equal(deferred.network.input.deferred, null, 'the feature-major input layer does not');
    let sawPairs = false;
    for (const b of batches(6)) {
      const sa = deferred.trainBatch(b);
      // the immediate path: the same samples without a slot, then the same optimizer step
      const net = immediate.network;
      const s = immediate.scratch;
      s.sums.fill(0);
      for (let r = 0; r < b.n; r++) net.trainSample(s, b.featIdx, b.featVal, b.featPtr[r]!, b.featPtr[r + 1]!, b.labelIdx, b.labelPtr[r]!, b.labelPtr[r + 1]!, 1 / b.n);
      assert.ok(immediate.network.output.shards.every((sh) => sh.p.G.some((g) => g !== 0)), 'the immediate path fills G');
      immediate.step++;
      net.update(immediate.step, immediate.lrHorizon);
      assert.equal(sa.lossSum, s.sums[0], 'same loss');
      sawPairs ||= sa.activeSum > 0;
    }
    assert.ok(sawPairs);
    const A = deferred.network.blocks();
    const B = immediate.network.blocks();
    for (let i = 0; i < A.length; i++) {
      for (const key of ['W', 'b', 'M', 'V', 'Mb', 'Vb', 'G', 'gb'] as const) {
        assert.deepEqual(A[i]![key], B[i]![key], `block ${i} ${key}`);
      }
    }
    for (const sh of deferred.network.output.shards) assert.ok(sh.p.G.every((g) => g === 0), 'G is left zero');
  });
}

test('ParamBlock: deferred and immediate samples mix in one batch (a slot past the capacity, a sample over the budget) and the update equals all-immediate', () => {
  const rows = 30;
  const cols = 13;
  const rng = new Rng(5);
  for (const type of ['adam', 'sgd'] as const) {
    const opt = parseConfig({ optimizer: { type, lr: 0.01, weightDecay: 0.1 } }).optimizer;
    const arena = new Arena();
    const k = getKernels(arena.memory, 'wasm');
    const mixed = new ParamBlock(arena, k, rows, cols, rows, type === 'adam', false, { slots: 3, budget: 6 });
    const plain = new ParamBlock(arena, k, rows, cols, rows, type === 'adam', false, null);
    mixed.init(new Rng(1), cols, rows, 1);
    plain.init(new Rng(1), cols, rows, 1);
    const act = arena.i32(rows);
    const grad = arena.f32(rows);
    const x = arena.f32(cols);
    for (let step = 1; step <= 3; step++) {
      // slots 0..3 with 4..8 active rows: slot 3 is past the capacity, 7 and 8 rows exceed the budget
      for (let slot = 0; slot < 4; slot++) {
        const n = 4 + ((slot + step) % 5);
        const perm = Array.from({ length: rows }, (_, i) => i).sort(() => rng.nextFloat() - 0.5);
        for (let i = 0; i < n; i++) {
          act[i] = perm[i]!;
          grad[i] = i === 1 ? 0 : 2 * rng.nextFloat() - 1;
        }
        for (let j = 0; j < cols; j++) x[j] = 2 * rng.nextFloat() - 1;
        const d = mixed.deferred!;
        const took = d.record(slot, act, 0, n, grad, 0, x, 0);
        assert.equal(took, slot < 3 && n <= 6, `slot ${slot} with ${n} rows`);
        if (!took) {
          d.markImmediate();
          k.rowsBackward(mixed.W, mixed.G, mixed.gb, cols, act, 0, n, grad, 0, x, 0, null, 0);
        }
        k.rowsBackward(plain.W, plain.G, plain.gb, cols, act, 0, n, grad, 0, x, 0, null, 0);
        for (let i = 0; i < n; i++) {
          mixed.touchRow(act[i]!);
          plain.touchRow(act[i]!);
        }
      }
      mixed.update(opt, step);
      plain.update(opt, step);
      // the immediate contributions come first in G, then the deferred ones: another summation order
      for (const key of ['W', 'b'] as const) {
        const a = mixed[key];
        const e = plain[key];
        for (let i = 0; i < e.length; i++) assert.ok(Math.abs(a[i]! - e[i]!) <= 1e-6, `${type} step ${step}: ${key}[${i}] ${a[i]} vs ${e[i]}`);
      }
      assert.ok(mixed.G.every((g) => g === 0) && mixed.gb.every((g) => g === 0), 'gradients zeroed');
    }
  }
});
