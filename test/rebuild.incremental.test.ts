import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SlideModel } from '../src/training/model.js';
import { saveModel, loadModel } from '../src/checkpoint/checkpoint.js';
import type { ConfigInput } from '../src/config.js';
import { generateSynthetic } from '../src/data/synth.js';
import { assertSameModel, trainUntil } from './checkpoint.helpers.js';

/**
 * Incremental rebuilds (hash.incremental): a rebuild hashes only the neurons updated since they
 * were last hashed, with the centre (and MIPS norm) of the last full rebuild. The property: after
 * every rebuild of a run (incremental ones, full ones every rebuild.fullEvery-th, full ones with
 * new hash functions), every table equals what hashing every neuron again with the same hash
 * functions and centre and committing gives: the same keys, offsets and entries, so each bucket
 * holds the same items in the same order. Buckets are small so that they overflow: FIFO and
 * reservoir (a function of the keys and the table's commit count) both decide what they keep.
 */
const data = generateSynthetic({ nTrain: 800, nTest: 100, nFeatures: 400, nLabels: 600, featuresPerPoint: 15, labelsPerPoint: 2, seed: 11 });

/** 40 batches an epoch; a rebuild after every batch, a third of them full, new functions every 11 */
const BASE: ConfigInput = {
  seed: 5, threads: 1, hidden: [32], epochs: 2, batchSize: 20, optimizer: { lr: 3e-3 }, evalEvery: 0,
  rebuild: { schedule: 'fixed', period: 1, fullEvery: 3, rehashEvery: 11 },
};
/** few active neurons a sample, so that a batch updates a part of the output layer */
const FEW = { minActive: 4, maxActive: 12 };

const CASES: Record<string, ConfigInput> = {
  'DWTA, reservoir, centred (kernels), a sampled hidden layer too': {
    ...BASE,
    hidden: [32, 48],
    hiddenSampling: [{ mode: 'dense' }, { mode: 'lsh', hash: { family: 'simhash', K: 3, L: 6, incremental: true }, activeSet: { minActive: 16 } }],
    output: { hash: { family: 'dwta', K: 3, L: 8, bucketSize: 4, insertion: 'reservoir', incremental: true }, activeSet: FEW },
  },
  'WTA, FIFO (kernels)': { ...BASE, output: { hash: { family: 'wta', K: 2, L: 6, bucketSize: 3, insertion: 'fifo', incremental: true }, activeSet: FEW } },
  'SimHash structured, reservoir (kernels, keys from signs)': {
    ...BASE, output: { hash: { family: 'simhash', projection: 'hadamard', K: 4, L: 8, bucketSize: 6, incremental: true }, activeSet: FEW },
  },
  'SimHash pooled, FIFO, keys wider than the buckets (kernels, keys combined)': {
    ...BASE, output: { hash: { family: 'simhash', K: 6, L: 8, pool: 20, rangePow: 3, bucketSize: 8, insertion: 'fifo', incremental: true }, activeSet: FEW },
  },
  'DOPH (TypeScript family)': { ...BASE, output: { hash: { family: 'doph', K: 2, L: 6, bucketSize: 5, incremental: true }, activeSet: FEW } },
  'SimHash with the MIPS transform (TypeScript family, M kept)': { ...BASE, output: { hash: { family: 'simhash', K: 4, L: 6, bucketSize: 6, mips: true, incremental: true }, activeSet: FEW } },
};

function model(config: ConfigInput): SlideModel {
  return new SlideModel({ nFeatures: data.train.nFeatures, nLabels: data.train.nLabels, config, kernels: 'auto' });
}

/**
 * Every sampled shard's tables against hashing all its neurons again with its current hash
 * functions and centre (stageRange, without prepareRebuild) and committing with the same commit
 * counts. Leaves the tables as they were when equal. Returns the keys that differ from `before`.
 */
function checkAgainstFullRehash(m: SlideModel, what: string, before: Map<string, Int32Array>): number {
  let moved = 0;
  m.network.fc.forEach((layer, l) => {
    layer.shards.forEach((sh, si) => {
      const u = sh.sampler;
      if (!u) return;
      const t = u.tables;
      const unit = `layer ${l} shard ${si}`;
      const name = `${what}: ${unit}`;
      const keys = Int32Array.from(t.keys);
      const offsets = Int32Array.from(t.offsets);
      const entries = Int32Array.from(t.entries);
      const prev = before.get(unit);
      if (prev) for (let i = 0; i < keys.length; i++) moved += keys[i] !== prev[i] ? 1 : 0;
      before.set(unit, keys);
      for (let i = 0; i < t.L; i++) t.epochs[i]!--;
      t.clear();
      const hs = layer.shards.length === 1 ? m.scratch.sampler[l]! : m.scratch.split[l]![si]!.sampler!;
      u.stageRange(sh.p.W, sh.p.b, u.createRebuildScratch(), 0, u.nOut, hs);
      t.commit();
      assert.deepEqual(t.keys, keys, `${name}: keys`);
      assert.deepEqual(t.offsets, offsets, `${name}: offsets`);
      assert.deepEqual(t.entries, entries, `${name}: entries`);
    });
  });
  return moved;
}

for (const [name, config] of Object.entries(CASES)) {
  test(`incremental rebuilds hold exactly what a full re-hash with the same functions and centre gives: ${name}`, async () => {
    const m = model(config);
    const before = new Map<string, Int32Array>();
    // the rebuild at construction is not checked: the first batch moved the weights since
    let seen = m.rebuilds.full;
    let moved = 0;
    let checks = 0;
    await m.fit(data.train, {
      afterBatch: (mm) => {
        const done = mm.rebuilds.full + mm.rebuilds.incremental;
        if (done === seen) return;
        seen = done;
        moved += checkAgainstFullRehash(mm, `${name} after batch ${mm.step}`, before);
        checks++;
      },
    });
    const rb = m.rebuilds;
    assert.ok(rb.incremental >= 10 && rb.full >= 5, `rebuilds: ${JSON.stringify(rb)}`);
    // the incremental rebuilds hashed only some neurons, and keys did move between checks
    assert.ok(rb.hashed < rb.neurons, `hashed ${rb.hashed} of ${rb.neurons}`);
    assert.ok(moved > 0 && checks >= 15, `moved ${moved}, checks ${checks}`);
    // full buckets decided what the tables keep
    let dropped = 0;
    for (const u of m.network.sampledUnits()) dropped += u.sampler.tables.stats.insertsDropped;
    assert.ok(dropped > 0, 'no bucket overflowed');
  });
}

const THREADED = CASES['DWTA, reservoir, centred (kernels), a sampled hidden layer too']!;

test('incremental rebuilds: 2 threads train exactly as one (weights, moments, tables, stale marks)', async () => {
  const one = model(THREADED);
  await one.fit(data.train);
  const two = model({ ...THREADED, threads: 2 });
  await two.fit(data.train);
  assertSameModel(one, two, '2 threads');
  assert.deepEqual(one.rebuilds, two.rebuilds);
});

test('incremental rebuilds: a run saved mid-epoch and resumed equals the uninterrupted run (the stale marks and centre are saved)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'incremental-'));
  try {
    const full = model(THREADED);
    await full.fit(data.train);
    const file = join(dir, 'mid.safetensors');
    await trainUntil(model(THREADED), data.train, 17, (m) => saveModel(m, file));
    const { model: resumed } = await loadModel(file);
    await resumed.fit(data.train, { epochs: resumed.config.epochs - resumed.epochsDone });
    assertSameModel(full, resumed, 'resumed after batch 17');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
