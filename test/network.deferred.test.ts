import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SlideModel } from '../src/training/model.js';
import { generateSynthetic } from '../src/data/synth.js';
import { CsrBatchBuffer, gatherRows } from '../src/data/csr.js';
import { ParamBlock, type ParamSpec } from '../src/layers/params.js';
import { DeferredGrads } from '../src/layers/deferred.js';
import { immediateSample, updateAll } from './sample.helpers.js';
import { parseConfig, type ConfigInput } from '../src/config.js';
import { getKernels, type KernelChoice } from '../src/kernels/index.js';
import { Arena } from '../src/memory/arena.js';
import { Rng } from '../src/util/rng.js';

/**
 * Deferred weight gradients (layers/deferred.ts): every layer's backward records its gradients
 * per batch slot (pairs for the sampled layers and the input layer, every row for dense layers)
 * and the update sums them row by row. Oracle: the immediate path (each sample adds into G at
 * once, what trainSample does without a slot), which must give the same weights bit for bit,
 * since the sums run in the same order.
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

for (const [kernels, outputShards, mode] of [['wasm', 1, 'lsh'], ['js', 1, 'lsh'], ['wasm', 3, 'lsh'], ['wasm', 1, 'dense'], ['js', 2, 'dense']] as const satisfies readonly (readonly [KernelChoice, number, string])[]) {
  test(`training with deferred gradients equals the immediate path bit for bit (${kernels} kernels, output in ${outputShards} memor${outputShards > 1 ? 'ies' : 'y'}, Adam with weight decay, ${mode === 'lsh' ? 'LSH top-k' : 'dense output, two hidden layers'})`, () => {
    const config: ConfigInput = mode === 'lsh' ? { ...CONFIG, outputShards } : { ...CONFIG, outputShards, hidden: [20, 16], output: { mode: 'dense' } };
    const deferred = new SlideModel({ nFeatures: train.nFeatures, nLabels: train.nLabels, config, kernels });
    const immediate = new SlideModel({ nFeatures: train.nFeatures, nLabels: train.nLabels, config, kernels });
    assert.equal(deferred.network.output.shards.length, outputShards);
    assert.ok(deferred.network.blocks().every((b) => b.deferred !== null), 'every block defers, the input layer included');
    assert.equal(deferred.network.input.deferred!.spec.kind, 'pairs');
    assert.equal(deferred.network.output.shards[0]!.p.deferred!.spec.kind, mode === 'lsh' ? 'pairs' : 'dense');
    for (const b of batches(6)) {
      const sa = deferred.trainBatch(b);
      assert.ok(deferred.network.blocks().every((blk) => blk.G.every((g) => g === 0)), 'the batch path leaves G zero');
      // the immediate path: the same samples without a slot, then the same optimizer step
      let loss = 0;
      for (let r = 0; r < b.n; r++) loss += immediateSample(immediate, b.featIdx, b.featVal, b.featPtr[r]!, b.featPtr[r + 1]!, b.labelIdx, b.labelPtr[r]!, b.labelPtr[r + 1]!, b.n);
      assert.ok(immediate.network.output.shards.every((sh) => sh.p.G.some((g) => g !== 0)), 'the immediate path fills G');
      immediate.step++;
      updateAll(immediate, immediate.step);
      assert.equal(sa.lossSum, loss, 'same loss');
    }
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

test('ParamBlock: recorded and immediate samples mix in one batch (a sample over its slot\'s budget takes the immediate path) and the update equals all-immediate', () => {
  const rows = 30;
  const cols = 13;
  const rng = new Rng(5);
  for (const type of ['adam', 'sgd'] as const) {
    const opt = parseConfig({ optimizer: { type, lr: 0.01, weightDecay: 0.1 } }).optimizer;
    const spec = (name: string): ParamSpec => ({ name, rows, cols, nOut: rows, adam: type === 'adam', featureMajor: false });
    const defer = DeferredGrads.declare({ block: 'mixed', kind: 'pairs', rows, cols, slots: 4, budget: 6, featureMajor: false, parts: 1 });
    const arena = new Arena();
    const views = arena.carve([ParamBlock.declare(spec('mixed')), ParamBlock.declare(spec('plain')), defer]);
    const k = getKernels(arena.memory, 'wasm');
    const mixed = new ParamBlock(spec('mixed'), views.block('mixed'), k);
    const plain = new ParamBlock(spec('plain'), views.block('plain'), k);
    mixed.deferred = new DeferredGrads({ block: 'mixed', kind: 'pairs', rows, cols, slots: 4, budget: 6, featureMajor: false, parts: 1 }, views.block('mixed.deferred'));
    mixed.init(new Rng(1), cols, rows, 1);
    plain.init(new Rng(1), cols, rows, 1);
    const act = arena.i32(rows);
    const grad = arena.f32(rows);
    const x = arena.f32(cols);
    for (let step = 1; step <= 3; step++) {
      // slots 0..3 with 4..8 active rows: 7 and 8 rows exceed the budget
      for (let slot = 0; slot < 4; slot++) {
        const n = 4 + ((slot + step) % 5);
        const perm = Array.from({ length: rows }, (_, i) => i).sort(() => rng.nextFloat() - 0.5);
        for (let i = 0; i < n; i++) {
          act[i] = perm[i]!;
          grad[i] = i === 1 ? 0 : 2 * rng.nextFloat() - 1;
        }
        for (let j = 0; j < cols; j++) x[j] = 2 * rng.nextFloat() - 1;
        const d: DeferredGrads = mixed.deferred!;
        assert.equal(d.fits(n), n <= 6, `slot ${slot} with ${n} rows`);
        if (d.fits(n)) {
          d.record(slot, act, 0, n, grad, 0, x, 0);
        } else {
          d.markImmediate();
          k.rowsBackward(mixed.W, mixed.G, mixed.gb, cols, act, 0, n, grad, 0, x, 0, null, 0);
          for (let i = 0; i < n; i++) mixed.touchRow(act[i]!);
        }
        k.rowsBackward(plain.W, plain.G, plain.gb, cols, act, 0, n, grad, 0, x, 0, null, 0);
        for (let i = 0; i < n; i++) plain.touchRow(act[i]!);
      }
      mixed.update(opt, step);
      plain.update(opt, step);
      // the immediate contributions come first in G, then the recorded ones: another summation order
      for (const key of ['W', 'b'] as const) {
        const a = mixed[key];
        const e = plain[key];
        for (let i = 0; i < e.length; i++) assert.ok(Math.abs(a[i]! - e[i]!) <= 1e-6, `${type} step ${step}: ${key}[${i}] ${a[i]} vs ${e[i]}`);
      }
      assert.ok(mixed.G.every((g) => g === 0) && mixed.gb.every((g) => g === 0), 'gradients zeroed');
    }
  }
});

test('a sample whose active set exceeds its slot is replayed on the immediate path: the batch equals one where every sample fits', () => {
  // an uncapped union over few labels: every active set is all 150 neurons; a slot budget of 40
  // (capped by topk's cap below) cannot hold them, so every sample is replayed, in row order
  const cfg: ConfigInput = { ...CONFIG, output: { mode: 'lsh', hash: { family: 'simhash', K: 1, L: 2 }, activeSet: { policy: 'union', minActive: 150, maxActive: 150 } } };
  const replayed = new SlideModel({ nFeatures: train.nFeatures, nLabels: train.nLabels, config: cfg });
  const fits = new SlideModel({ nFeatures: train.nFeatures, nLabels: train.nLabels, config: cfg });
  const d = replayed.network.output.shards[0]!.p.deferred!;
  // shrink the replayed model's slots below its active sets
  (d.spec as { budget: number }).budget = 40;
  for (const b of batches(3)) {
    const a = replayed.trainBatch(b);
    const e = fits.trainBatch(b);
    assert.equal(a.activeSum, e.activeSum);
    assert.ok(Math.abs(a.lossSum - e.lossSum) < 1e-9);
  }
  replayed.network.blocks().forEach((blk, i) => {
    const o = fits.network.blocks()[i]!;
    for (let j = 0; j < o.W.length; j++) assert.ok(Math.abs(blk.W[j]! - o.W[j]!) <= 1e-6, `block ${i} W[${j}]`);
  });
});

test('ParamBlock: grouping in 1, 2 or 3 parts (in any order of the parts, bounds balanced on the previous batch) gives bit for bit the update of one part', () => {
  const rows = 97;
  const cols = 5;
  const slots = 6;
  const budget = 12;
  const opt = parseConfig({ optimizer: { type: 'adam', lr: 0.01, weightDecay: 0.1 } }).optimizer;
  const arena = new Arena();
  const k = getKernels(arena.memory, 'wasm');
  const spec = (name: string): ParamSpec => ({ name, rows, cols, nOut: rows, adam: true, featureMajor: false });
  const blocks = [1, 2, 3].map((parts) => {
    const name = `p${parts}`;
    const d = { block: name, kind: 'pairs' as const, rows, cols, slots, budget, featureMajor: false, parts };
    const views = arena.carve([ParamBlock.declare(spec(name)), DeferredGrads.declare(d)]);
    const p = new ParamBlock(spec(name), views.block(name), k);
    p.deferred = new DeferredGrads(d, views.block(`${name}.deferred`));
    p.init(new Rng(3), cols, rows, 1);
    return { p, parts };
  });
  const rng = new Rng(8);
  const act = arena.i32(rows);
  const grad = arena.f32(rows);
  const x = arena.f32(cols);
  for (let step = 1; step <= 6; step++) {
    // the low rows popular (so that equal halves would be unbalanced), a slot sometimes empty
    for (let slot = 0; slot < slots; slot++) {
      const n = rng.nextInt(budget + 1);
      const chosen = new Set<number>();
      while (chosen.size < n) chosen.add(rng.nextFloat() < 0.6 ? rng.nextInt(12) : rng.nextInt(rows));
      [...chosen].forEach((r, i) => {
        act[i] = r;
        grad[i] = 2 * rng.nextFloat() - 1;
      });
      for (let j = 0; j < cols; j++) x[j] = 2 * rng.nextFloat() - 1;
      for (const { p } of blocks) if (n > 0) p.deferred!.record(slot, act, 0, n, grad, 0, x, 0);
    }
    for (const { p, parts } of blocks) {
      // the parts in reverse order: they do not wait for each other
      for (let t = parts - 1; t >= 0; t--) p.groupPart(t, parts);
      p.prepareUpdate(parts);
    }
    const one = blocks[0]!.p;
    for (const { p, parts } of blocks.slice(1)) {
      assert.equal(p.touchedCount, one.touchedCount, `step ${step}, ${parts} parts: touched rows`);
      assert.deepEqual(p.touched.subarray(0, p.touchedCount), one.touched.subarray(0, one.touchedCount), `step ${step}, ${parts} parts: touched list`);
    }
    for (const { p } of blocks) {
      p.updatePart(opt, step, 0, 1);
      p.finishUpdate();
    }
    for (const { p, parts } of blocks.slice(1)) {
      for (const key of ['W', 'b', 'M', 'V'] as const) assert.deepEqual(p[key], one[key], `step ${step}, ${parts} parts: ${key}`);
      assert.ok(p.mark.every((m) => m === 0), `step ${step}, ${parts} parts: marks cleared`);
    }
  }
});
