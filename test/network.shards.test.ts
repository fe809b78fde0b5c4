import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SlideModel } from '../src/training/model.js';
import { parseConfig, type ConfigInput } from '../src/config.js';
import { generateSynthetic } from '../src/data/synth.js';
import { gatherRows, CsrBatchBuffer } from '../src/data/csr.js';
import { majorityBaselineP1 } from '../src/eval/metrics.js';
import { planModel } from '../src/network/network.js';
import { assertViewOf } from '../src/kernels/index.js';
import { saveModel, loadModel } from '../src/checkpoint/checkpoint.js';
import { ConfigError } from '../src/util/errors.js';
import { assertSameModel } from './checkpoint.helpers.js';

/**
 * The output layer split over several WebAssembly memories (config.outputShards) is the same
 * model as the unsplit one: dense mode is the oracle (every neuron active, so the split changes
 * only the summation order of the hidden-layer gradient), LSH mode learns as well, worker
 * threads attach to every memory, and checkpoints carry every shard.
 */
const { train, test: testSet } = generateSynthetic({
  nTrain: 3000, nTest: 800, nFeatures: 1500, nLabels: 401, featuresPerPoint: 20, labelsPerPoint: 2, seed: 3,
});
const BASE: ConfigInput = {
  seed: 9, hidden: [32], epochs: 2, batchSize: 64, optimizer: { lr: 5e-3 },
  output: { mode: 'lsh', hash: { family: 'simhash', K: 5, L: 16, bucketSize: 64 }, activeSet: { minActive: 60 } },
  rebuild: { schedule: 'exponential', n0: 8, lambda: 0.1 }, evalEvery: 0,
};
const model = (over: ConfigInput): SlideModel =>
  new SlideModel({ nFeatures: train.nFeatures, nLabels: train.nLabels, config: { ...BASE, ...over }, kernels: 'auto' });

/** The output layer's weights (or another per-neuron array) gathered over its shards, in neuron order. */
function outputArray(m: SlideModel, key: 'W' | 'b' | 'M' | 'V'): Float32Array {
  const out = m.network.output;
  const parts = out.shards.map((sh) => sh.p[key]!);
  const all = new Float32Array(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) {
    all.set(p, o);
    o += p.length;
  }
  return all;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

test('a split output layer lives in separate memories, in contiguous neuron ranges, initialised like the unsplit one', () => {
  const one = model({ outputShards: 1 });
  const three = model({ outputShards: 3 });
  const sh = three.network.output.shards;
  assert.equal(one.network.output.shards.length, 1);
  assert.equal(sh.length, 3);
  assert.deepEqual(sh.map((s) => [s.lo, s.nOut, s.memory]), [[0, 133, 1], [133, 134, 2], [267, 134, 3]]);
  const memories = new Set(three.network.arenas.map((a) => a.memory));
  assert.equal(memories.size, 4, 'the network arena and three shard memories');
  for (const s of sh) {
    assert.ok(three.network.placements[s.memory]!.views.some((v) => v.name === `${s.p.name}.W` && v.offset === s.p.W.byteOffset), 'W is carved from the shard memory');
    assertViewOf(three.network.arenas[s.memory]!.memory, s.p.W, 'W');
    assert.equal(s.p.W.length, s.nOut * 32);
    assert.ok(s.sampler, 'each shard has its own tables');
    assert.equal(s.sampler.nOut, s.nOut);
  }
  assert.deepEqual(outputArray(three, 'W'), outputArray(one, 'W'), 'same initial weights however the layer is split');
  assert.deepEqual(three.network.input.W, one.network.input.W);
  // active-set sizes are split in proportion: 60 padding over 3 shards of ~134 -> 20 each
  assert.deepEqual(sh.map((s) => s.sampler!.cfg.activeSet.minActive), [20, 21, 21]);
});

test('dense mode: 1, 2 and 5 shards train the same model (weights within 1e-5 after 40 batches, same predictions)', () => {
  const cfg: ConfigInput = { output: { mode: 'dense' } };
  const models = [1, 2, 5].map((s) => model({ ...cfg, outputShards: s }));
  const buf = new CsrBatchBuffer();
  const order = Int32Array.from({ length: train.n }, (_, i) => i);
  const losses = models.map(() => [] as number[]);
  for (let b = 0; b < 40; b++) {
    const start = (b * 64) % (train.n - 64);
    models.forEach((m, i) => losses[i]!.push(m.trainBatch(gatherRows(train, order, start, start + 64, buf)).lossSum));
  }
  const [ref, ...others] = models;
  for (const [k, m] of others.entries()) {
    const what = `${m.network.output.shards.length} shards`;
    for (let b = 0; b < 40; b++) assert.ok(Math.abs(losses[k + 1]![b]! - losses[0]![b]!) < 1e-4 * Math.abs(losses[0]![b]!), `${what}: batch ${b} loss`);
    assert.ok(maxAbsDiff(outputArray(m, 'W'), outputArray(ref!, 'W')) < 1e-5, `${what}: output weights`);
    assert.ok(maxAbsDiff(outputArray(m, 'V'), outputArray(ref!, 'V')) < 1e-7, `${what}: Adam second moments`);
    assert.ok(maxAbsDiff(m.network.input.W, ref!.network.input.W) < 1e-5, `${what}: input weights`);
    for (let r = 0; r < 30; r++) {
      const s = { indices: testSet.featIdx.subarray(testSet.featPtr[r]!, testSet.featPtr[r + 1]!), values: testSet.featVal.subarray(testSet.featPtr[r]!, testSet.featPtr[r + 1]!) };
      const a = m.predict(s, 3, { exact: true });
      const e = ref!.predict(s, 3, { exact: true });
      assert.deepEqual(a.map((p) => p.id), e.map((p) => p.id), `${what}: test point ${r} top-3`);
      for (let i = 0; i < 3; i++) assert.ok(Math.abs(a[i]!.score - e[i]!.score) < 1e-5);
    }
  }
});

test('LSH mode with 3 shards learns as well as unsplit, on one thread and on two worker threads', async () => {
  const base = majorityBaselineP1(train.labelIdx, train.nLabels, testSet.labelPtr, testSet.labelIdx, testSet.n).p1;
  const run = async (over: ConfigInput) => {
    const m = model(over);
    const ep = await m.fit(train, { test: testSet });
    const last = ep[ep.length - 1]!;
    return { p1: last.eval!.lsh!.p1, exact: last.eval!.exact!.p1, active: last.activePerSample, m };
  };
  const one = await run({ outputShards: 1 });
  const split = await run({ outputShards: 3 });
  const split2 = await run({ outputShards: 3, threads: 2 });
  assert.ok(one.p1 > base + 0.3, `unsplit P@1 ${one.p1} vs baseline ${base}`);
  for (const r of [split, split2]) {
    assert.ok(Math.abs(r.p1 - one.p1) < 0.04, `split LSH P@1 ${r.p1} vs unsplit ${one.p1}`);
    assert.ok(Math.abs(r.exact - one.exact) < 0.04, `split exact P@1 ${r.exact} vs unsplit ${one.exact}`);
    // the union of the shards' candidates, with proportional padding: comparable active sets
    assert.ok(r.active > 60 && r.active < train.nLabels, `active ${r.active}`);
    for (const sh of r.m.network.output.shards) assert.ok(sh.sampler!.tables.stats.inserts > 0);
  }
});

test('a split model saves and loads bit for bit, and a resumed split run continues identically', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'shards-'));
  try {
    const a = model({ outputShards: 3 });
    await a.fit(train, { epochs: 0.5 });
    const file = join(dir, 'm.safetensors');
    await saveModel(a, file);
    const { model: b } = await loadModel(file);
    assert.equal(b.network.output.shards.length, 3);
    assertSameModel(a, b, 'loaded');
    await a.fit(train, { epochs: 0.25 });
    await b.fit(train, { epochs: 0.25 });
    assertSameModel(a, b, 'after training both further');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('outputShards 0 (the default) splits only what one memory cannot hold; every value up to the labels trains; bad values are config errors', () => {
  const shards = (cfg: ConfigInput, hidden: number, labels: number): number => {
    const p = planModel(parseConfig({ ...cfg, hidden: [hidden] }), 1000, labels);
    return p.layers[p.layers.length - 1]!.shards.length;
  };
  const cfg: ConfigInput = { output: { hash: { family: 'dwta', K: 6, L: 50 } } };
  assert.equal(shards(cfg, 128, 670_091), 1, 'Amazon-670K x 128 with Adam and 50 tables fits one memory');
  assert.equal(shards(cfg, 128, 3_000_000), 3);
  assert.equal(shards({ output: { mode: 'dense' } }, 512, 3_000_000), 8);
  for (const S of [2, 32, 64, 401]) {
    const m = model({ outputShards: S, hidden: [16] });
    assert.equal(m.network.output.shards.length, S);
    assert.ok(m.network.output.shards.every((sh) => sh.nOut >= 1));
    m.trainBatch(gatherRows(train, Int32Array.from({ length: 64 }, (_, i) => i), 0, 64, new CsrBatchBuffer()));
  }
  assert.throws(() => model({ outputShards: 402 }), (e: unknown) => e instanceof ConfigError && /outputShards.*402 shards for 401/.test((e as Error).message));
  assert.throws(() => parseConfig({ outputShards: -1 }), /outputShards/);
});
