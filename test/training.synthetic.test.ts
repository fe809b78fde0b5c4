import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SlideModel } from '../src/training/model.js';
import { gatherRows, CsrBatchBuffer } from '../src/data/csr.js';
import { generateSynthetic } from '../src/data/synth.js';
import { majorityBaselineP1, evalRow } from '../src/eval/metrics.js';
import { RebuildSchedule } from '../src/training/schedule.js';

/**
 * End-to-end oracle: on a synthetic task whose labels depend on the features, single-threaded
 * LSH training beats the most-frequent-label baseline by far, and two runs with the same seed
 * give identical metrics and weights (bit for bit).
 */
const { train, test: testSet } = generateSynthetic({
  nTrain: 4000, nTest: 1000, nFeatures: 2000, nLabels: 500, featuresPerPoint: 25, labelsPerPoint: 2, seed: 11,
});

const CONFIG = {
  seed: 5,
  hidden: [64],
  epochs: 3,
  batchSize: 64,
  optimizer: { lr: 3e-3 },
  output: { mode: 'lsh' as const, hash: { family: 'dwta' as const, K: 4, L: 20 }, activeSet: { minActive: 100 } },
  rebuild: { schedule: 'exponential' as const, n0: 10, lambda: 0.1 },
  evalEvery: 0,
};

function run() {
  const m = new SlideModel({ nFeatures: train.nFeatures, nLabels: train.nLabels, config: CONFIG, kernels: 'auto' });
  return m.fit(train, { test: testSet }).then((epochs) => ({ m, epochs }));
}

test('LSH training on a synthetic task learns far above the majority baseline, deterministically', async () => {
  const a = await run();
  const b = await run();
  const fa = a.epochs[a.epochs.length - 1]!.eval!;
  const fb = b.epochs[b.epochs.length - 1]!.eval!;
  const base = majorityBaselineP1(train.labelIdx, train.nLabels, testSet.labelPtr, testSet.labelIdx, testSet.n);
  assert.ok(fa.lsh!.p1 > base.p1 + 0.2, `LSH P@1 ${fa.lsh!.p1} vs baseline ${base.p1}`);
  assert.ok(fa.exact!.p1 > base.p1 + 0.2, `exact P@1 ${fa.exact!.p1} vs baseline ${base.p1}`);
  assert.ok(fa.lsh!.avgCandidates < train.nLabels, 'LSH inference computes fewer neurons than all');
  // identical metrics and weights
  assert.deepEqual({ ...fa.lsh!, seconds: 0 }, { ...fb.lsh!, seconds: 0 });
  assert.deepEqual({ ...fa.exact!, seconds: 0 }, { ...fb.exact!, seconds: 0 });
  a.m.network.blocks().forEach((blk, i) => assert.deepEqual(blk.W, b.m.network.blocks()[i]!.W, `block ${i} weights differ`));
  // the tables were rebuilt on the exponential schedule
  assert.ok(a.m.schedule.count >= 3);
});

test('rebuild schedule: exponential gaps N0 * e^(lambda i), fixed periods', () => {
  const exp = RebuildSchedule.preview({ schedule: 'exponential', n0: 10, lambda: 0.5, period: 1, rehashEvery: 0, fullEvery: 0 }, 4);
  const gaps = exp.map((b, i) => b - (i ? exp[i - 1]! : 0));
  assert.deepEqual(gaps, [1, 2, 3, 4].map((i) => Math.round(10 * Math.exp(0.5 * i))));
  assert.deepEqual(RebuildSchedule.preview({ schedule: 'fixed', n0: 1, lambda: 0, period: 7, rehashEvery: 0, fullEvery: 0 }, 3), [7, 14, 21]);
});

test('dense mode trains too and the two modes agree on what is learnable', async () => {
  const m = new SlideModel({ nFeatures: train.nFeatures, nLabels: train.nLabels, config: { ...CONFIG, output: { mode: 'dense' }, inference: 'exact' } });
  const ep = await m.fit(train, { test: testSet, epochs: 2 });
  const base = majorityBaselineP1(train.labelIdx, train.nLabels, testSet.labelPtr, testSet.labelIdx, testSet.n);
  assert.ok(ep[ep.length - 1]!.eval!.exact!.p1 > base.p1 + 0.2);
});

test('evaluate with maxPoints scores rows spread evenly over the set: the same metrics as those rows gathered and scored whole', async () => {
  const m = new SlideModel({ nFeatures: train.nFeatures, nLabels: train.nLabels, config: { ...CONFIG, epochs: 1 } });
  await m.fit(train);
  const n = 70;
  assert.deepEqual(Array.from({ length: 5 }, (_, i) => evalRow(i, n, testSet.n)), [0, 14, 28, 42, 57], 'every (1000/70)-th row');
  assert.equal(evalRow(9, testSet.n, testSet.n), 9, 'all points: the rows themselves');
  const rows = Int32Array.from({ length: n }, (_, i) => evalRow(i, n, testSet.n));
  const part = await m.evaluate(testSet, { maxPoints: n });
  const whole = await m.evaluate(gatherRows(testSet, rows, 0, n, new CsrBatchBuffer()));
  assert.equal(part.points, n);
  assert.deepEqual({ ...part.exact!, seconds: 0 }, { ...whole.exact!, seconds: 0 });
  assert.deepEqual({ ...part.lsh!, seconds: 0 }, { ...whole.lsh!, seconds: 0 });
  assert.equal(part.lshRecallOfExactTop5, whole.lshRecallOfExactTop5);
  // and they are not simply the first rows
  const first = await m.evaluate(gatherRows(testSet, Int32Array.from({ length: n }, (_, i) => i), 0, n, new CsrBatchBuffer()));
  assert.notDeepEqual({ ...part.exact!, seconds: 0 }, { ...first.exact!, seconds: 0 });
});

test('a query computes activeSet.queryMaxActive candidates, a training step maxActive; split output layers too', async () => {
  for (const outputShards of [1, 2]) {
    const config = {
      ...CONFIG,
      epochs: 1,
      outputShards,
      // the 2-shard run on 2 threads: the workers' samplers take the caps from the same configuration
      threads: outputShards,
      output: { mode: 'lsh' as const, hash: { family: 'simhash' as const, K: 4, L: 20 }, activeSet: { policy: 'topk' as const, maxActive: 60, queryMaxActive: 150, minActive: 0 } },
    };
    const m = new SlideModel({ nFeatures: train.nFeatures, nLabels: train.nLabels, config, kernels: 'auto' });
    const epochs = await m.fit(train);
    // topk fills the cap (the labels are among it); a split layer's shards take their part each
    assert.equal(epochs[0]!.activePerSample, 60, `${outputShards} shards: training`);
    const ev = await m.evaluate(testSet, { inference: 'both' });
    assert.equal(ev.lsh!.avgCandidates, 150, `${outputShards} shards: queries`);
    // the same model queried with the training cap finds less of the exact top 5
    const narrow = new SlideModel({ nFeatures: train.nFeatures, nLabels: train.nLabels, config: { ...config, output: { ...config.output, activeSet: { ...config.output.activeSet, queryMaxActive: 0 } } }, kernels: 'auto' });
    await narrow.fit(train);
    const ev2 = await narrow.evaluate(testSet, { inference: 'both' });
    assert.equal(ev2.lsh!.avgCandidates, 60);
    assert.deepEqual(ev2.exact, { ...ev.exact!, seconds: ev2.exact!.seconds }, 'the cap of queries does not change training');
    assert.ok(ev.lshRecallOfExactTop5! > ev2.lshRecallOfExactTop5!, `recall ${ev.lshRecallOfExactTop5} vs ${ev2.lshRecallOfExactTop5}`);
    await m.closeWorkers();
    await narrow.closeWorkers();
  }
});
