import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import {
  TfjsBaseline,
  batchTensors,
  baselineLoss,
  disposeBatchTensors,
  initTfjsBackend,
  type BaselineParams,
} from '../src/baselines/tfjs.js';
import { generateSynthetic } from '../src/data/synth.js';
import { CsrBatchBuffer, gatherRows, sliceRows, type CsrBatch } from '../src/data/csr.js';
import { majorityBaselineP1, evalRow } from '../src/eval/metrics.js';
import { Rng } from '../src/util/rng.js';

/** A hand-made batch: 3 rows, feature 2 shared by all rows, feature 4 unused, row 2 without labels. */
function tinyBatch(): CsrBatch {
  return {
    n: 3,
    featPtr: Int32Array.of(0, 3, 5, 7),
    featIdx: Int32Array.of(0, 2, 5, 2, 3, 1, 2),
    featVal: Float32Array.of(0.6, 0.5, -0.7, 0.9, 0.4, 0.8, -0.3),
    labelPtr: Int32Array.of(0, 2, 3, 3),
    labelIdx: Int32Array.of(1, 3, 4),
  };
}

const NF = 6;
const H = 4;
const NL = 5;

function tinyParams(): { W1: Float32Array; b1: Float32Array; W2: Float32Array; b2: Float32Array } {
  const r = new Rng(12);
  const u = (n: number, a: number): Float32Array => Float32Array.from({ length: n }, () => (2 * r.nextFloat() - 1) * a);
  // unit 1 is dead for every row (large negative bias): exercises the ReLU mask
  return { W1: u(NF * H, 1), b1: Float32Array.of(0.3, -5, 0.2, -0.1), W2: u(H * NL, 1), b2: u(NL, 0.5) };
}

function toTensors(v: { W1: Float32Array; b1: Float32Array; W2: Float32Array; b2: Float32Array }): BaselineParams {
  return {
    W1: tf.tensor2d(v.W1, [NF, H]),
    b1: tf.tensor1d(v.b1),
    W2: tf.tensor2d(v.W2, [H, NL]),
    b2: tf.tensor1d(v.b2),
  };
}

function lossAt(v: { W1: Float32Array; b1: Float32Array; W2: Float32Array; b2: Float32Array }, b: CsrBatch): number {
  return tf.tidy(() => baselineLoss(toTensors(v), batchTensors(b, NL, true)).dataSync()[0]!);
}

test('backend initialises (wasm, or cpu with a warning)', async () => {
  const be = await initTfjsBackend('wasm');
  assert.ok(be === 'wasm' || be === 'cpu');
  assert.equal(tf.getBackend(), be);
});

test('custom sparse-gather, matmul and softmax-CE gradients match central finite differences', async () => {
  await initTfjsBackend('wasm');
  const b = tinyBatch();
  const v = tinyParams();
  // precondition: no hidden pre-activation within the perturbation's reach of the ReLU kink
  const h = 1e-2;
  for (let r = 0; r < b.n; r++) {
    let l1 = 0;
    for (let k = b.featPtr[r]!; k < b.featPtr[r + 1]!; k++) l1 += Math.abs(b.featVal[k]!);
    for (let j = 0; j < H; j++) {
      let pre = v.b1[j]!;
      for (let k = b.featPtr[r]!; k < b.featPtr[r + 1]!; k++) pre += b.featVal[k]! * v.W1[b.featIdx[k]! * H + j]!;
      assert.ok(Math.abs(pre) > 2 * h * (l1 + 1), `pre-activation ${pre} too close to 0 for the check`);
    }
  }
  const before = tf.memory().numTensors;
  const analytic = tf.tidy(() => {
    const p = toTensors(v);
    const x = batchTensors(b, NL, true);
    const g = tf.grads((W1: tf.Tensor, b1: tf.Tensor, W2: tf.Tensor, b2: tf.Tensor) =>
      baselineLoss({ W1: W1 as tf.Tensor2D, b1: b1 as tf.Tensor1D, W2: W2 as tf.Tensor2D, b2: b2 as tf.Tensor1D }, x),
    )([p.W1, p.b1, p.W2, p.b2]);
    return g.map((t) => t.dataSync() as Float32Array);
  });
  assert.equal(tf.memory().numTensors, before, 'gradient computation leaked tensors');
  const names = ['W1', 'b1', 'W2', 'b2'] as const;
  let checked = 0;
  for (let pi = 0; pi < names.length; pi++) {
    const arr = v[names[pi]!];
    const ga = analytic[pi]!;
    assert.equal(ga.length, arr.length);
    for (let i = 0; i < arr.length; i++) {
      const orig = arr[i]!;
      arr[i] = orig + h;
      const lp = lossAt(v, b);
      arr[i] = orig - h;
      const lm = lossAt(v, b);
      arr[i] = orig;
      const num = (lp - lm) / (2 * h);
      const a = ga[i]!;
      assert.ok(Math.abs(a - num) <= 2e-3 + 2e-2 * Math.abs(num), `${names[pi]}[${i}]: analytic ${a} vs numeric ${num}`);
      checked++;
    }
  }
  assert.equal(checked, NF * H + H + H * NL + NL);
  // rows of features absent from the batch (feature 4) get exactly zero gradient; the dead unit too
  for (let j = 0; j < H; j++) assert.equal(analytic[0]![4 * H + j], 0);
  for (let f = 0; f < NF; f++) assert.equal(analytic[0]![f * H + 1], 0);
  // the shared feature 2 collects gradient from all three rows (scatterND sums repeated ids)
  let shared = 0;
  for (let j = 0; j < H; j++) shared += Math.abs(analytic[0]![2 * H + j]!);
  assert.ok(shared > 0);
});

test('loss: uniform logits give ln(nLabels) for rows with labels, 0 for rows without', async () => {
  await initTfjsBackend('wasm');
  const b = tinyBatch();
  const zero = { W1: new Float32Array(NF * H), b1: new Float32Array(H), W2: new Float32Array(H * NL), b2: new Float32Array(NL) };
  // 2 of the 3 rows have labels; the mean is over all 3
  assert.ok(Math.abs(lossAt(zero, b) - (2 * Math.log(NL)) / 3) < 1e-5);
});

test('training on a small synthetic task lowers the loss, beats the majority label, leaks no tensors, is seeded', async () => {
  const { train, test: testSet } = generateSynthetic({
    nTrain: 1200, nTest: 300, nFeatures: 400, nLabels: 60, featuresPerPoint: 12, labelsPerPoint: 2, seed: 21,
  });
  const opts = { nFeatures: train.nFeatures, nLabels: train.nLabels, hidden: 32, lr: 0.01, batchSize: 64, seed: 9 };
  const tensorsAtStart = tf.memory().numTensors;
  const m = await TfjsBaseline.create(opts);
  assert.ok(m.backend === 'wasm' || m.backend === 'cpu');
  const first = sliceRows(train, 0, 64);

  // same seed: same initial weights, so the same first loss; another seed differs
  const twin = await TfjsBaseline.create(opts);
  const other = await TfjsBaseline.create({ ...opts, seed: 10 });
  const l0 = await m.trainBatch(first);
  assert.equal(await twin.trainBatch(first), l0);
  assert.notEqual(await other.trainBatch(first), l0);
  twin.dispose();
  other.dispose();
  assert.ok(Math.abs(l0 - Math.log(train.nLabels)) < 0.5, `initial loss ${l0} should be near ln(60)`);

  const rng = new Rng(4);
  const order = new Int32Array(train.n);
  for (let i = 0; i < train.n; i++) order[i] = i;
  const buf = new CsrBatchBuffer();
  let tensorsAfterWarmup = -1;
  let lastEpochLoss = 0;
  const epochs = 6;
  for (let e = 0; e < epochs; e++) {
    rng.shuffle(order);
    let sum = 0;
    let batches = 0;
    for (let s = 0; s < train.n; s += opts.batchSize) {
      sum += await m.trainBatch(gatherRows(train, order, s, Math.min(train.n, s + opts.batchSize), buf));
      batches++;
      if (e === 0 && batches === 2) tensorsAfterWarmup = tf.memory().numTensors;
      else if (batches >= 2) assert.equal(tf.memory().numTensors, tensorsAfterWarmup, `tensor count changed at epoch ${e} batch ${batches}`);
    }
    lastEpochLoss = sum / batches;
  }
  assert.ok(lastEpochLoss < 0.6 * l0, `loss ${l0} -> ${lastEpochLoss}`);
  const met = await m.evaluate(testSet);
  assert.equal(tf.memory().numTensors, tensorsAfterWarmup, 'evaluation leaked tensors');
  assert.equal(met.points, testSet.n);
  const base = majorityBaselineP1(train.labelIdx, train.nLabels, testSet.labelPtr, testSet.labelIdx, testSet.n);
  assert.ok(met.p1 > base.p1 + 0.15, `P@1 ${met.p1} vs majority ${base.p1}`);
  assert.ok(met.p5 > 0 && met.p5 <= 1 && met.ndcg5 > 0);
  const part = await m.evaluate(testSet, 50);
  assert.equal(part.points, 50);
  // the 50 rows are spread over the set, as the engine picks them
  const rows = Int32Array.from({ length: 50 }, (_, i) => evalRow(i, 50, testSet.n));
  assert.deepEqual(part, await m.evaluate(gatherRows(testSet, rows, 0, 50, new CsrBatchBuffer())));

  // out-of-range ids are rejected before touching the backend
  const bad: CsrBatch = { ...first, featIdx: Int32Array.from(first.featIdx, (f, i) => (i === 0 ? train.nFeatures : f)) };
  await assert.rejects(() => m.trainBatch(bad), RangeError);
  m.dispose();
  assert.equal(tf.memory().numTensors, tensorsAtStart, 'dispose() left tensors behind');
  await assert.rejects(() => m.trainBatch(first), /after dispose/);
});

test('learning-rate schedule and decoupled weight decay: a weight without gradient shrinks by exactly 1 - lr wd', async () => {
  const lrAt = (step: number) => 0.01 / step;
  const m = await TfjsBaseline.create({ nFeatures: NF, nLabels: 5, hidden: H, lr: 0.01, batchSize: 3, seed: 4, lrAt, weightDecay: 0.5 });
  try {
    const before = (await m.params.W1.array()) as number[][];
    await m.trainBatch(tinyBatch());
    assert.equal(m.learningRate, 0.01);
    await m.trainBatch(tinyBatch());
    assert.equal(m.learningRate, 0.005);
    const after = (await m.params.W1.array()) as number[][];
    // feature 4 appears in no row: no gradient, Adam moves it by 0, the decay alone scales it
    const f = (1 - 0.01 * 0.5) * (1 - 0.005 * 0.5);
    for (let j = 0; j < H; j++) assert.ok(Math.abs(after[4]![j]! - before[4]![j]! * f) < 1e-7, `W1[4][${j}]`);
    // a feature with gradient moved by more than the decay
    assert.ok(Math.abs(after[2]![0]! - before[2]![0]! * f) > 1e-4);
    // the schedule takes effect: Adam's first step moves a weight with gradient by ~lr (|m/sqrt(v)| = 1)
    const fresh = await TfjsBaseline.create({ nFeatures: NF, nLabels: 5, hidden: H, lr: 0.01, batchSize: 3, seed: 4, lrAt: () => 0.001 });
    try {
      const b0 = (await fresh.params.b2.array()) as number[];
      await fresh.trainBatch(tinyBatch());
      const b1 = (await fresh.params.b2.array()) as number[];
      for (let j = 0; j < 5; j++) assert.ok(Math.abs(Math.abs(b1[j]! - b0[j]!) - 0.001) < 1e-4, `b2[${j}] moved ${b1[j]! - b0[j]!}`);
    } finally {
      fresh.dispose();
    }
  } finally {
    m.dispose();
  }
});

test('batch tensors: S places values by row, Y spreads mass evenly, an empty batch still works', async () => {
  await initTfjsBackend('wasm');
  const b = tinyBatch();
  const x = batchTensors(b, NL, true);
  const S = x.S.arraySync();
  assert.deepEqual(S.map((r) => r.map((v) => Math.round(v * 10) / 10)), [
    [0.6, 0.5, -0.7, 0, 0, 0, 0],
    [0, 0, 0, 0.9, 0.4, 0, 0],
    [0, 0, 0, 0, 0, 0.8, -0.3],
  ]);
  assert.deepEqual(Array.from(x.idx.dataSync()), [0, 2, 5, 2, 3, 1, 2]);
  assert.deepEqual(x.Y!.arraySync(), [
    [0, 0.5, 0, 0.5, 0],
    [0, 0, 0, 0, 1],
    [0, 0, 0, 0, 0],
  ]);
  disposeBatchTensors(x);
  const empty: CsrBatch = { n: 2, featPtr: Int32Array.of(0, 0, 0), featIdx: new Int32Array(0), featVal: new Float32Array(0), labelPtr: Int32Array.of(0, 1, 1), labelIdx: Int32Array.of(2) };
  const zero = { W1: new Float32Array(NF * H), b1: new Float32Array(H), W2: new Float32Array(H * NL), b2: new Float32Array(NL) };
  assert.ok(Math.abs(lossAt(zero, empty) - Math.log(NL) / 2) < 1e-5);
});
