import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SlideModel } from '../src/training/model.js';
import { generateSynthetic } from '../src/data/synth.js';
import { majorityBaselineP1 } from '../src/eval/metrics.js';
import { WorkerPool } from '../src/workers/pool.js';
import { allocCheck } from './alloc.helpers.js';
import { CsrBatchBuffer, gatherRows } from '../src/data/csr.js';

const { train, test: testSet } = generateSynthetic({
  nTrain: 4000, nTest: 1000, nFeatures: 2000, nLabels: 500, featuresPerPoint: 25, labelsPerPoint: 2, seed: 11,
});
const CONFIG = {
  seed: 5, hidden: [64], epochs: 3, batchSize: 64, optimizer: { lr: 3e-3 },
  output: { mode: 'lsh' as const, hash: { family: 'dwta' as const, K: 4, L: 20 }, activeSet: { minActive: 100 } },
  rebuild: { schedule: 'exponential' as const, n0: 10, lambda: 0.1 }, evalEvery: 0,
};

test('two worker threads (HOGWILD) learn as well as one thread', async () => {
  const p1 = async (threads: number) => {
    const m = new SlideModel({ nFeatures: train.nFeatures, nLabels: train.nLabels, config: { ...CONFIG, threads } });
    const ep = await m.fit(train, { test: testSet });
    return { p1: ep[ep.length - 1]!.eval!.lsh!.p1, rebuilds: m.schedule.count, steps: m.step };
  };
  const one = await p1(1);
  const two = await p1(2);
  const base = majorityBaselineP1(train.labelIdx, train.nLabels, testSet.labelPtr, testSet.labelIdx, testSet.n).p1;
  assert.ok(two.p1 > base + 0.2, `2 threads P@1 ${two.p1} vs baseline ${base}`);
  assert.ok(Math.abs(two.p1 - one.p1) < 0.05, `1 thread ${one.p1} vs 2 threads ${two.p1}`);
  assert.equal(two.steps, one.steps);
  assert.equal(two.rebuilds, one.rebuilds, 'the rebuild schedule does not depend on threads');
});

test('tables rebuilt by the workers equal tables rebuilt on one thread (same weights, same staging order per table)', async () => {
  const m = new SlideModel({ nFeatures: train.nFeatures, nLabels: train.nLabels, config: { ...CONFIG, output: { ...CONFIG.output, hash: { ...CONFIG.output.hash, insertion: 'fifo' as const, bucketSize: 65536 } } } });
  const tables = m.network.output.shards[0]!.sampler!.tables;
  m.rebuildTables();
  // with unbounded buckets the set of items per bucket does not depend on insertion order
  const bucketSets = (): string[] => {
    const out: string[] = [];
    const buf = new Int32Array(train.nLabels);
    for (let t = 0; t < tables.L; t++) for (let b = 0; b < tables.numBuckets; b++) {
      const n = tables.readBucket(t, b, buf);
      if (n) out.push(`${t}:${b}:${Array.from(buf.subarray(0, n)).sort((x, y) => x - y).join(',')}`);
    }
    return out;
  };
  const single = bucketSets();
  const pool = await WorkerPool.create(m.network, m.config, { threads: 2, kernels: 'auto', maxRows: 64, maxRowNnz: 64, maxRowLabels: 8 });
  try {
    await pool.rebuildTables();
  } finally {
    await pool.close();
  }
  assert.deepEqual(bucketSets(), single);
});

test('openWorkers + trainBatchAsync: batch-by-batch training on two worker threads learns like fit, and the guards hold', async () => {
  const m = new SlideModel({ nFeatures: train.nFeatures, nLabels: train.nLabels, config: { ...CONFIG, threads: 2 } });
  const mx = { maxRowNnz: 0, maxRowLabels: 0 };
  for (let r = 0; r < train.n; r++) {
    mx.maxRowNnz = Math.max(mx.maxRowNnz, train.featPtr[r + 1]! - train.featPtr[r]!);
    mx.maxRowLabels = Math.max(mx.maxRowLabels, train.labelPtr[r + 1]! - train.labelPtr[r]!);
  }
  const order = Int32Array.from({ length: train.n }, (_, i) => i);
  await m.openWorkers(mx);
  try {
    await assert.rejects(m.openWorkers(mx), /already open/);
    await assert.rejects(m.fit(train, { epochs: 1 }), /close the workers of openWorkers first/);
    const buf = new CsrBatchBuffer();
    let samples = 0;
    for (let e = 0; e < 3; e++) {
      for (let start = 0; start < train.n; start += 64) {
        const st = await m.trainBatchAsync(gatherRows(train, order, start, Math.min(train.n, start + 64), buf));
        samples += st.samples;
      }
    }
    assert.equal(samples, 3 * train.n);
    assert.equal(m.step, 3 * Math.ceil(train.n / 64));
    assert.ok(m.schedule.count >= 3, 'the rebuild schedule ran (on the workers)');
    // a batch larger than the pool was sized for is refused, not overrun
    const big = gatherRows(train, order, 0, 65, new CsrBatchBuffer());
    await assert.rejects(m.trainBatchAsync(big), /exceeds the pool's 64/);
  } finally {
    await m.closeWorkers();
  }
  m.refreshTables();
  const ev = m.evaluate(testSet, { inference: 'lsh' });
  const base = majorityBaselineP1(train.labelIdx, train.nLabels, testSet.labelPtr, testSet.labelIdx, testSet.n).p1;
  assert.ok(ev.lsh!.p1 > base + 0.2, `P@1 ${ev.lsh!.p1} vs baseline ${base}`);
  // closed: trainBatchAsync runs on the calling thread
  const st = await m.trainBatchAsync(gatherRows(train, order, 0, 64, new CsrBatchBuffer()));
  assert.equal(st.samples, 64);
});

test('a worker that throws stops the run with its error and stack, it does not hang', async () => {
  const m = new SlideModel({ nFeatures: train.nFeatures, nLabels: train.nLabels, config: CONFIG });
  const pool = await WorkerPool.create(m.network, m.config, { threads: 2, kernels: 'auto', maxRows: 64, maxRowNnz: 64, maxRowLabels: 8 });
  // a feature id outside the model: the worker's touch of input row 10^7 throws inside the worker
  const bad = { ...train, featIdx: Int32Array.from(train.featIdx, (f, i) => (i === train.featPtr[40] ? 10_000_000 : f)) };
  const order = Int32Array.from({ length: 64 }, (_, i) => i);
  await assert.rejects(pool.trainBatch(bad, order, 0, 64, 1), (e: Error) => {
    assert.match(e.message, /training worker \d failed: \w*Error: /);
    assert.match(e.message, /at /, 'the worker stack is included');
    return true;
  });
  await pool.close();
});

test('no allocation per sample: 200,000 training samples run without a garbage collection (LSH mode)', () => {
  const { kernels, gcs, heapGrowth, perBatch } = allocCheck({
    seed: 5, hidden: [16], batchSize: 64, optimizer: { lr: 3e-3 },
    output: { mode: 'lsh', hash: { family: 'dwta', K: 4, L: 20 }, activeSet: { minActive: 20 } },
    rebuild: { schedule: 'fixed', period: 1000000 },
  });
  assert.equal(kernels, 'wasm');
  assert.equal(gcs, 0, `${kernels}: ${gcs} garbage collections during 200,000 samples`);
  assert.ok(heapGrowth < 64 * 1024, `${kernels}: heap grew by ${heapGrowth} bytes over 100,000 samples`);
  // the optimizer step: a few boxed numbers per batch (the doubles lr, betas, eps passed to each
  // wasm call: ~1-2 KB a batch), nothing per row or per sample
  assert.ok(perBatch < 4096, `${kernels}: ${perBatch} bytes a batch`);
});

test('batches on two workers claiming rows train every row once: the loss, hits and active neurons of one thread on the same weights', async () => {
  // Dense mode (no sampling), SGD. The weights of the two runs are not compared: HOGWILD's
  // lock-free += on shared gradient rows may lose an addition (every sample writes every output
  // row in dense mode), and a lost addition moves every later batch a little. Instead, before
  // each batch the one-thread model gets the two-thread model's weights, so the batch's summed
  // loss is a sum of the same per-row values whatever thread ran a row: a row skipped or claimed
  // twice changes it by a whole sample's loss, summation order only by rounding.
  const config = { ...CONFIG, output: { mode: 'dense' as const }, optimizer: { type: 'sgd' as const, lr: 0.05 } };
  const make = (threads: number) => new SlideModel({ nFeatures: train.nFeatures, nLabels: train.nLabels, config: { ...config, threads } });
  const one = make(1);
  const two = make(2);
  const order = Int32Array.from({ length: train.n }, (_, i) => i);
  const mx = { maxRowNnz: 0, maxRowLabels: 0 };
  for (let r = 0; r < train.n; r++) {
    mx.maxRowNnz = Math.max(mx.maxRowNnz, train.featPtr[r + 1]! - train.featPtr[r]!);
    mx.maxRowLabels = Math.max(mx.maxRowLabels, train.labelPtr[r + 1]! - train.labelPtr[r]!);
  }
  const blocksA = one.network.blocks();
  const blocksB = two.network.blocks();
  assert.equal(blocksA.length, blocksB.length);
  const initial = blocksB.map((blk) => Float32Array.from(blk.W));
  await two.openWorkers(mx);
  try {
    // batches of 64 rows, then of 37 and 1: the shared row cursor restarts at 0 every batch
    const sizes = [64, 64, 64, 64, 37, 1, 64];
    let start = 0;
    for (const size of sizes) {
      for (let i = 0; i < blocksA.length; i++) {
        blocksA[i]!.W.set(blocksB[i]!.W);
        blocksA[i]!.b.set(blocksB[i]!.b);
      }
      const a = one.trainBatch(gatherRows(train, order, start, start + size, new CsrBatchBuffer()));
      const b = await two.trainBatchAsync(gatherRows(train, order, start, start + size, new CsrBatchBuffer()));
      assert.equal(b.samples, size);
      assert.ok(Math.abs(a.lossSum - b.lossSum) <= 1e-9 * Math.abs(a.lossSum), `batch at ${start}: loss ${a.lossSum} vs ${b.lossSum}`);
      assert.equal(b.hits, a.hits, `batch at ${start}: hits`);
      assert.equal(b.activeSum, a.activeSum, `batch at ${start}: every row computed once`);
      start += size;
    }
  } finally {
    await two.closeWorkers();
  }
  // and the batches did train: the worker-updated weights moved (by ~1e-2 in this setting)
  let moved = 0;
  for (let i = 0; i < blocksB.length; i++) for (let j = 0; j < blocksB[i]!.W.length; j++) moved = Math.max(moved, Math.abs(blocksB[i]!.W[j]! - initial[i]![j]!));
  assert.ok(moved > 1e-3, `the updates moved the weights by ${moved}`);
});

test('a batch on two workers updates the sampled output layer bit for bit as one thread does (deferred gradients: no HOGWILD race on its rows)', async () => {
  // top-k candidates without random padding, so each sample's active set does not depend on the thread
  const config = { ...CONFIG, output: { mode: 'lsh' as const, hash: { family: 'simhash' as const, K: 4, L: 20 }, activeSet: { policy: 'topk' as const, maxActive: 60, minActive: 0 } } };
  const make = (threads: number) => new SlideModel({ nFeatures: train.nFeatures, nLabels: train.nLabels, config: { ...config, threads } });
  const one = make(1);
  const two = make(2);
  const order = Int32Array.from({ length: train.n }, (_, i) => i);
  await two.openWorkers({ maxRowNnz: 64, maxRowLabels: 8 });
  try {
    const a = one.trainBatch(gatherRows(train, order, 0, 64, new CsrBatchBuffer()));
    const b = await two.trainBatchAsync(gatherRows(train, order, 0, 64, new CsrBatchBuffer()));
    assert.equal(b.activeSum, a.activeSum);
  } finally {
    await two.closeWorkers();
  }
  const pa = one.network.output.shards[0]!.p;
  const pb = two.network.output.shards[0]!.p;
  assert.ok(pa.deferred !== null);
  for (const key of ['W', 'b', 'M', 'V', 'Mb', 'Vb'] as const) assert.deepEqual(pb[key], pa[key], `output ${key}`);
  // the input layer's rows are still accumulated HOGWILD (shared features, every sample's biases)
});
