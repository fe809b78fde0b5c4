import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SlideModel } from '../src/training/model.js';
import { generateSynthetic } from '../src/data/synth.js';
import { majorityBaselineP1 } from '../src/eval/metrics.js';
import { ALLOC_GROWTH_LIMIT, allocCheck } from './alloc.helpers.js';
import { CsrBatchBuffer, gatherRows } from '../src/data/csr.js';
import { assertSameModel } from './checkpoint.helpers.js';

const { train, test: testSet } = generateSynthetic({
  nTrain: 4000, nTest: 1000, nFeatures: 2000, nLabels: 500, featuresPerPoint: 25, labelsPerPoint: 2, seed: 11,
});
const CONFIG = {
  seed: 5, hidden: [64], epochs: 3, batchSize: 64, optimizer: { lr: 3e-3 },
  output: { mode: 'lsh' as const, hash: { family: 'dwta' as const, K: 4, L: 20 }, activeSet: { minActive: 100 } },
  rebuild: { schedule: 'exponential' as const, n0: 10, lambda: 0.1 }, evalEvery: 0,
};
const order = Int32Array.from({ length: train.n }, (_, i) => i);
const rowMax = () => {
  const mx = { maxRowNnz: 0, maxRowLabels: 0 };
  for (let r = 0; r < train.n; r++) {
    mx.maxRowNnz = Math.max(mx.maxRowNnz, train.featPtr[r + 1]! - train.featPtr[r]!);
    mx.maxRowLabels = Math.max(mx.maxRowLabels, train.labelPtr[r + 1]! - train.labelPtr[r]!);
  }
  return mx;
};

test('tables rebuilt by the workers equal the tables rebuilt on one thread, bucket for bucket (FIFO and reservoir)', async () => {
  for (const insertion of ['fifo', 'reservoir'] as const) {
    const config = { ...CONFIG, output: { ...CONFIG.output, hash: { ...CONFIG.output.hash, insertion, bucketSize: 8 } } };
    const one = new SlideModel({ nFeatures: train.nFeatures, nLabels: train.nLabels, config });
    const two = new SlideModel({ nFeatures: train.nFeatures, nLabels: train.nLabels, config });
    one.trainBatch(gatherRows(train, order, 0, 64, new CsrBatchBuffer()));
    two.trainBatch(gatherRows(train, order, 0, 64, new CsrBatchBuffer()));
    one.rebuildTables();
    await two.openWorkers({ ...rowMax(), threads: 2 });
    try {
      await two.rebuildTablesAsync();
    } finally {
      await two.closeWorkers();
    }
    const ta = one.network.output.shards[0]!.sampler!.tables;
    const tb = two.network.output.shards[0]!.sampler!.tables;
    assert.ok(ta.stats.insertsDropped > 0, 'buckets overflowed: FIFO and the reservoir chose');
    assert.deepEqual(tb.keys, ta.keys, `${insertion}: keys`);
    assert.deepEqual(tb.offsets, ta.offsets, `${insertion}: offsets`);
    assert.deepEqual(tb.entries, ta.entries, `${insertion}: entries`);
  }
});

test('openWorkers + trainBatchAsync: batch by batch on two worker threads equals one thread bit for bit, and the guards hold', async () => {
  const one = new SlideModel({ nFeatures: train.nFeatures, nLabels: train.nLabels, config: CONFIG });
  const two = new SlideModel({ nFeatures: train.nFeatures, nLabels: train.nLabels, config: { ...CONFIG, threads: 2 } });
  await two.openWorkers(rowMax());
  try {
    await assert.rejects(two.openWorkers(rowMax()), /already open/);
    assert.throws(() => two.trainBatch(gatherRows(train, order, 0, 64, new CsrBatchBuffer())), /workers are open/);
    // batches of 64 rows, then of 37 and 1: the shared row cursor restarts at 0 every batch
    let start = 0;
    for (const size of [64, 64, 64, 37, 1, 64, 64, 64, 64, 64, 64, 64]) {
      const a = one.trainBatch(gatherRows(train, order, start, start + size, new CsrBatchBuffer()));
      const b = await two.trainBatchAsync(gatherRows(train, order, start, start + size, new CsrBatchBuffer()));
      assert.deepEqual(b, a, `batch at ${start}`);
      start += size;
    }
    assert.ok(two.schedule.count >= 1, 'the rebuild schedule ran (on the workers)');
    // a batch larger than the configured batch size is refused, not overrun
    await assert.rejects(two.trainBatchAsync(gatherRows(train, order, 0, 65, new CsrBatchBuffer())), /batch of 65 rows exceeds the configured batchSize 64/);
  } finally {
    await two.closeWorkers();
  }
  assertSameModel(two, one, 'after 12 batches');
  // closed: trainBatchAsync runs on the calling thread
  const st = await two.trainBatchAsync(gatherRows(train, order, 0, 64, new CsrBatchBuffer()));
  assert.equal(st.samples, 64);
});

test('fit on two and three threads learns exactly what one thread learns (weights, losses, evaluations)', async () => {
  const run = async (threads: number) => {
    const m = new SlideModel({ nFeatures: train.nFeatures, nLabels: train.nLabels, config: { ...CONFIG, epochs: 2, threads, evalEvery: 1, evalSample: 300 } });
    const ep = await m.fit(train, { test: testSet });
    return { m, ep: ep.map((e) => ({ ...e, seconds: 0, samplesPerSec: 0, eval: { ...e.eval!, exact: { ...e.eval!.exact!, seconds: 0 }, lsh: { ...e.eval!.lsh!, seconds: 0 } } })) };
  };
  const one = await run(1);
  const base = majorityBaselineP1(train.labelIdx, train.nLabels, testSet.labelPtr, testSet.labelIdx, testSet.n).p1;
  assert.ok(one.ep[1]!.eval.lsh.p1 > base + 0.1, `P@1 ${one.ep[1]!.eval.lsh.p1} vs baseline ${base}`);
  for (const threads of [2, 3]) {
    const r = await run(threads);
    assert.deepEqual(r.ep, one.ep, `${threads} threads: epochs`);
    assertSameModel(r.m, one.m, `${threads} threads`);
  }
});

test('fit on the workers of openWorkers, called twice, learns exactly what two fits with their own workers learn, leaves them open, and refuses rows larger than they were sized for', async () => {
  const config = { ...CONFIG, threads: 2 };
  const own = new SlideModel({ nFeatures: train.nFeatures, nLabels: train.nLabels, config });
  const a1 = await own.fit(train, { epochs: 0.5 });
  const a2 = await own.fit(train, { epochs: 0.5 });
  const open = new SlideModel({ nFeatures: train.nFeatures, nLabels: train.nLabels, config });
  await open.openWorkers(rowMax());
  try {
    const b1 = await open.fit(train, { epochs: 0.5 });
    const b2 = await open.fit(train, { epochs: 0.5 });
    const strip = (e: typeof a1) => e.map((x) => ({ ...x, seconds: 0, samplesPerSec: 0 }));
    assert.deepEqual(strip(b1), strip(a1), 'first fit');
    assert.deepEqual(strip(b2), strip(a2), 'second fit');
    // still open: a batch goes to the workers, and openWorkers refuses a second pool
    await assert.rejects(open.openWorkers(rowMax()), /already open/);
  } finally {
    await open.closeWorkers();
  }
  assertSameModel(open, own, 'after two fits');
  // workers sized for the synthetic rows; one row of every feature (2,000 non-zeros: more than
  // the batch area's default room too): fit refuses it instead of overrunning the batch area
  const wide = {
    n: 1, nFeatures: train.nFeatures, nLabels: train.nLabels,
    featPtr: Int32Array.of(0, train.nFeatures), featIdx: Int32Array.from({ length: train.nFeatures }, (_, i) => i), featVal: new Float32Array(train.nFeatures).fill(0.01),
    labelPtr: Int32Array.of(0, 1), labelIdx: Int32Array.of(0),
  };
  const small = new SlideModel({ nFeatures: train.nFeatures, nLabels: train.nLabels, config });
  await small.openWorkers(rowMax());
  try {
    await assert.rejects(small.fit(wide, { epochs: 1 }), /rows of 2000 non-zeros and 1 labels exceed what the open workers were sized for/);
  } finally {
    await small.closeWorkers();
  }
});

/** SimHash tables whose LSH inference ranks by estimated logit (activeSet.queryRank) */
const LOGIT_CONFIG = {
  ...CONFIG,
  output: { mode: 'lsh' as const, hash: { family: 'simhash' as const, projection: 'hadamard' as const, K: 4, L: 30 }, activeSet: { policy: 'topk' as const, maxActive: 60, queryMaxActive: 80, minActive: 0, topBias: 8, queryRank: 'logit' as const } },
};

for (const [name, config] of [['DWTA', CONFIG], ['SimHash ranked by estimated logit', LOGIT_CONFIG]] as const) test(`evaluation on worker threads gives the one-thread metrics exactly (${name})`, async () => {
  const m = new SlideModel({ nFeatures: train.nFeatures, nLabels: train.nLabels, config: { ...config, threads: 1 } });
  await m.fit(train, { epochs: 1 });
  const a = await m.evaluate(testSet, { inference: 'both' });
  await m.openWorkers({ ...rowMax(), threads: 2 });
  try {
    const b = await m.evaluate(testSet, { inference: 'both' });
    const strip = (r: typeof a) => ({ ...r, exact: { ...r.exact!, seconds: 0 }, lsh: { ...r.lsh!, seconds: 0 } });
    assert.deepEqual(strip(b), strip(a));
    // predictions of many rows on the workers: each row's, as predict() gives it on the calling thread
    const pa = await m.predictBatch(testSet, 5);
    assert.equal(pa.length, testSet.n);
    for (let r = 0; r < 50; r++) {
      const s = { indices: testSet.featIdx.subarray(testSet.featPtr[r]!, testSet.featPtr[r + 1]!), values: testSet.featVal.subarray(testSet.featPtr[r]!, testSet.featPtr[r + 1]!) };
      assert.deepEqual(pa[r], m.predict(s, 5), `row ${r}`);
    }
  } finally {
    await m.closeWorkers();
  }
});

test('a worker that throws stops the run with its error and stack, it does not hang', async () => {
  // top-k by votes counts votes in the WebAssembly kernels: tables whose entries name neurons far
  // outside the layer make a worker's vote count trap
  const config = { ...CONFIG, threads: 2, output: { mode: 'lsh' as const, hash: { family: 'simhash' as const, K: 4, L: 20 }, activeSet: { policy: 'topk' as const, maxActive: 60, minActive: 0 } } };
  const m = new SlideModel({ nFeatures: train.nFeatures, nLabels: train.nLabels, config, kernels: 'wasm' });
  m.network.output.shards[0]!.sampler!.tables.entries.fill(1 << 30);
  await m.openWorkers(rowMax());
  try {
    await assert.rejects(m.trainBatchAsync(gatherRows(train, order, 0, 64, new CsrBatchBuffer())), (e: Error) => {
      assert.match(e.message, /training worker \d failed: \w*Error: /);
      assert.match(e.message, /at /, 'the worker stack is included');
      return true;
    });
  } finally {
    await m.closeWorkers();
  }
});

test('no allocation per sample: 200,000 training samples run without a garbage collection (LSH mode)', () => {
  const { kernels, gcs, heapGrowth, perBatch, attempts } = allocCheck({
    seed: 5, hidden: [16], batchSize: 64, optimizer: { lr: 3e-3 },
    output: { mode: 'lsh', hash: { family: 'dwta', K: 4, L: 20 }, activeSet: { minActive: 20 } },
    rebuild: { schedule: 'fixed', period: 1000000 },
  });
  assert.equal(kernels, 'wasm');
  assert.equal(gcs, 0, `${kernels}: ${gcs} garbage collections during 200,000 samples (best of ${attempts} processes)`);
  assert.ok(heapGrowth < ALLOC_GROWTH_LIMIT, `${kernels}: heap grew by ${heapGrowth} bytes over 100,000 samples (best of ${attempts} processes)`);
  // the optimizer step: a few boxed numbers per batch (the doubles lr, betas, eps passed to each
  // wasm call: ~1-2 KB a batch), nothing per row or per sample
  assert.ok(perBatch < 4096, `${kernels}: ${perBatch} bytes a batch`);
});
