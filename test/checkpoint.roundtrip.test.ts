import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { saveModel, loadModel, readCheckpointMeta, CheckpointError } from '../src/checkpoint/checkpoint.js';
import { encodeSafetensors, decodeSafetensors } from '../src/checkpoint/safetensors.js';
import { assertSameModel, tinyData, tinyModel, trainUntil, TINY_CONFIG } from './checkpoint.helpers.js';

const data = tinyData();
const dir = mkdtempSync(join(tmpdir(), 'ckpt-rt-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

// a model stopped after 12 batches (so it carries a mid-epoch cursor), with vocabularies
const model = tinyModel(data);
await trainUntil(model, data.train, 12);
const featureNames = Array.from({ length: data.train.nFeatures }, (_, i) => `w${i}é`);
const labelNames = Array.from({ length: data.train.nLabels }, (_, i) => `label "${i}"`);
const idf = Float32Array.from({ length: data.train.nFeatures }, (_, i) => 1 + i / 7);
const file = join(dir, 'm.safetensors');
await saveModel(model, file, { featureNames, labelNames, idf });
const bytes = readFileSync(file);

function sample(r: number): { indices: Int32Array; values: Float32Array } {
  const t = data.test;
  return { indices: t.featIdx.subarray(t.featPtr[r]!, t.featPtr[r + 1]!), values: t.featVal.subarray(t.featPtr[r]!, t.featPtr[r + 1]!) };
}

test('save/load round trip: every array, generator, seed, cursor and schedule equal', async () => {
  const { model: m2, featureNames: fn, labelNames: ln, idf: idf2 } = await loadModel(file);
  assertSameModel(model, m2, 'loaded');
  assert.deepEqual(m2.config, model.config);
  assert.equal(m2.nFeatures, model.nFeatures);
  assert.equal(m2.nLabels, model.nLabels);
  assert.ok(model.epochCursor && model.epochCursor.position === 600, 'stopped mid-epoch');
  assert.deepEqual(m2.epochCursor, model.epochCursor);
  assert.deepEqual(fn, featureNames);
  assert.deepEqual(ln, labelNames);
  assert.deepEqual(idf2, idf);
  // checkpoint without extras has none
  const plain = join(dir, 'plain.safetensors');
  await saveModel(model, plain);
  const r = await loadModel(plain);
  assert.equal(r.featureNames, undefined);
  assert.equal(r.labelNames, undefined);
  assert.equal(r.idf, undefined);
  assertSameModel(model, r.model, 'plain');
});

test('predictions after loading equal those before saving, LSH and exact', async () => {
  // both models' padding generators are in the same state: the same calls give the same answers
  const { model: a } = await loadModel(file);
  const { model: b } = await loadModel(file);
  let lshNonTrivial = 0;
  for (let r = 0; r < 60; r++) {
    for (const exact of [false, true]) {
      const pa = a.predict(sample(r), 5, { exact });
      const pb = b.predict(sample(r), 5, { exact });
      assert.deepEqual(pa, pb, `row ${r} exact=${exact}`);
      if (!exact) lshNonTrivial += pa.length;
    }
  }
  assert.ok(lshNonTrivial > 0);
  // and against the original model (same generator state as the file)
  const saved = await loadModel(file);
  const orig = tinyModel(data);
  await trainUntil(orig, data.train, 12);
  for (let r = 0; r < 20; r++) {
    assert.deepEqual(orig.predict(sample(r), 5), saved.model.predict(sample(r), 5), `row ${r} lsh vs original`);
    assert.deepEqual(orig.predict(sample(r), 5, { exact: true }), saved.model.predict(sample(r), 5, { exact: true }));
  }
});

test('the file is plain safetensors with our metadata; SGD models have no moments', async () => {
  const { metadata, tensors } = decodeSafetensors(bytes);
  assert.equal(metadata.format, 'sublinear');
  const meta = JSON.parse(metadata.sublinear!);
  assert.equal(meta.version, 2);
  assert.equal(meta.step, model.step);
  assert.deepEqual(meta.rng, Array.from(model.rng.getState()));
  assert.deepEqual(tensors.get('input.W')!.shape, [data.train.nFeatures, 32]);
  assert.deepEqual(tensors.get('fc.0.W')!.shape, [48, 32]);
  assert.deepEqual(tensors.get('fc.1.W')!.shape, [data.train.nLabels, 48]);
  assert.deepEqual(tensors.get('fc.1.M')!.shape, [data.train.nLabels, 48]);
  assert.deepEqual(tensors.get('fc.1.Vb')!.shape, [data.train.nLabels]);
  assert.ok(tensors.has('fc.0.tables.entries') && tensors.has('fc.1.tables.offsets') && tensors.has('vocab.idf'));
  assert.deepEqual(tensors.get('fc.1.tables.keys')!.shape, [8, data.train.nLabels], 'each neuron\'s bucket in each of the 8 tables');
  assert.deepEqual(tensors.get('fc.1.sampler.seeds')!.shape, [2]);
  // three blocks of W, b and 4 Adam moments; two sampled layers of seeds, centre and 4 table arrays; the idf
  assert.equal([...tensors.keys()].length, 3 * 6 + 2 * (2 + 4) + 1);
  assert.deepEqual(readCheckpointMeta(file).config, model.config);

  const sgd = tinyModel(data, { ...TINY_CONFIG, optimizer: { type: 'sgd', lr: 0.05 } });
  await sgd.fit(data.train, { epochs: 0.2 });
  const f = join(dir, 'sgd.safetensors');
  await saveModel(sgd, f);
  assert.ok(!decodeSafetensors(readFileSync(f)).tensors.has('input.M'));
  assertSameModel(sgd, (await loadModel(f)).model, 'sgd');
});

async function refused(buf: Uint8Array | string, re: RegExp, name = 'bad.safetensors'): Promise<void> {
  const p = join(dir, name);
  writeFileSync(p, buf);
  await assert.rejects(loadModel(p), (e: unknown) => {
    assert.ok(e instanceof CheckpointError, `a CheckpointError, got ${(e as Error).stack}`);
    assert.match(e.message, re);
    return true;
  });
}

test('truncated files are refused with the expected and found sizes', async () => {
  const n = bytes.length;
  for (const cut of [n - 1, n - 1000, Math.floor(n / 2), 200000]) {
    await refused(bytes.subarray(0, cut), new RegExp(`checkpoint .*bad\\.safetensors is truncated: expected ${n} bytes, found ${cut}`));
  }
  await refused(bytes.subarray(0, 100), /is truncated: the header alone needs \d+ bytes, found 100/);
  await refused(bytes.subarray(0, 3), /is not a sublinear checkpoint/);
  await refused(new Uint8Array(0), /is not a sublinear checkpoint/);
});

test('a flipped byte is refused: checksum mismatch in the data or the header', async () => {
  const headerLen = Number(bytes.readBigUInt64LE(0));
  for (const at of [8 + headerLen, 8 + headerLen + 12345, bytes.length - 1]) {
    const bad = Buffer.from(bytes);
    bad[at] = bad[at]! ^ 0x10;
    await refused(bad, /checksum mismatch: the data section hashes to/);
  }
  // a digit of the configuration in the header (the JSON still parses)
  const text = bytes.subarray(8, 8 + headerLen).toString('latin1');
  const at = text.indexOf('\\"batchSize\\":50');
  assert.ok(at > 0);
  const bad = Buffer.from(bytes);
  bad[8 + at + '\\"batchSize\\":'.length] = '6'.charCodeAt(0);
  await refused(bad, /checksum mismatch in the header metadata/);
  // a tensor's shape in the header
  const at2 = text.indexOf('"shape":[500,32]');
  assert.ok(at2 > 0);
  const bad2 = Buffer.from(bytes);
  bad2[8 + at2 + '"shape":[5'.length] = '1'.charCodeAt(0);
  await refused(bad2, /damaged|contiguous|needs/);
});

test('foreign files are refused: another safetensors file, a text file, a missing file', async () => {
  const foreign = encodeSafetensors([{ name: 'weight', dtype: 'F32', shape: [4, 4], data: new Float32Array(16).fill(0.5) }], { format: 'pt' });
  await refused(foreign, /is not a sublinear checkpoint: a safetensors file without sublinear metadata \(__metadata__ keys: format; 1 tensors\)/);
  await refused(encodeSafetensors([{ name: 'x', dtype: 'I32', shape: [1], data: Int32Array.of(1) }]), /not a sublinear checkpoint.*keys: none/);
  await refused('label,x 1:0.5 2:0.25\nthis is a text file, not a model\n', /is not a sublinear checkpoint \(not a safetensors file/);
  await assert.rejects(loadModel(join(dir, 'nope.safetensors')), /cannot open checkpoint .*nope\.safetensors: ENOENT/);
});

test('saving is atomic: no temporary file left behind, the old file replaced whole', async () => {
  const p = join(dir, 'atomic.safetensors');
  await saveModel(model, p);
  const before = statSync(p).size;
  await saveModel(model, p, { labelNames });
  assert.ok(statSync(p).size > before);
  assert.deepEqual(readdirSync(dir).filter((f) => f.includes('.tmp')), []);
  await assert.rejects(saveModel(model, join(dir, 'no-such-dir', 'x.safetensors')), /cannot write "\S*no-such-dir\/x\.safetensors": its directory does not exist/);
  await assert.rejects(saveModel(model, p, { labelNames: new Array(1000).fill('x') }), /1000 label names for a model of 120 labels/);
});

test('structured SimHash projections: the loaded model has the same hash functions, tables and predictions', async () => {
  // the output layer on SimHash 'hadamard' (kernel hashing of keys and queries), redraws included
  const config = { ...TINY_CONFIG, output: { mode: 'lsh' as const, hash: { family: 'simhash' as const, projection: 'hadamard' as const, K: 4, L: 10, bucketSize: 32 }, activeSet: { minActive: 30 } } };
  const m = tinyModel(data, config);
  await trainUntil(m, data.train, 12);
  const f = join(dir, 'hadamard.safetensors');
  await saveModel(m, f);
  const { model: m2 } = await loadModel(f);
  assertSameModel(m, m2, 'hadamard');
  assert.equal(m2.config.output.hash.projection, 'hadamard');
  const orig = tinyModel(data, config);
  await trainUntil(orig, data.train, 12);
  for (let r = 0; r < 30; r++) {
    assert.deepEqual(orig.predict(sample(r), 5), m2.predict(sample(r), 5), `row ${r} lsh`);
    assert.deepEqual(orig.predict(sample(r), 5, { exact: true }), m2.predict(sample(r), 5, { exact: true }), `row ${r} exact`);
  }
});

test('LSH inference ranked by estimated logit: the rows\' lengths are saved with the tables, and the loaded model predicts the same', async () => {
  const config = { ...TINY_CONFIG, output: { mode: 'lsh' as const, hash: { family: 'simhash' as const, projection: 'hadamard' as const, K: 3, L: 10, bucketSize: 64 }, activeSet: { policy: 'topk' as const, maxActive: 20, queryMaxActive: 12, minActive: 0, queryRank: 'logit' as const } } };
  const m = tinyModel(data, config);
  await trainUntil(m, data.train, 12);
  const f = join(dir, 'logit.safetensors');
  await saveModel(m, f);
  const { model: m2 } = await loadModel(f);
  assertSameModel(m, m2, 'logit');
  const norms = (x: typeof m) => Array.from(x.network.output.shards[0]!.sampler!.rowNorm);
  assert.ok(norms(m).length > 0 && norms(m).every((v) => v > 0), 'every row has its length');
  assert.deepEqual(norms(m2), norms(m));
  for (let r = 0; r < 30; r++) assert.deepEqual(m2.predict(sample(r), 5), m.predict(sample(r), 5), `row ${r}`);
});

test('queryCandidates: a loader\'s choice of the LSH query size, over the same tensors; refused where there are no candidates', async () => {
  // buckets of ~30 of the 120 labels: the votes reach well beyond 50 labels
  const topk = tinyModel(data, { ...TINY_CONFIG, output: { mode: 'lsh', hash: { family: 'simhash', K: 2, L: 8, bucketSize: 64 }, activeSet: { policy: 'topk', maxActive: 20, minActive: 0 } } });
  await trainUntil(topk, data.train, 6);
  const topkFile = join(dir, 'topk.safetensors');
  await saveModel(topk, topkFile);
  const { model: m } = await loadModel(topkFile, { queryCandidates: 50 });
  assertSameModel(topk, m, 'loaded with 50 query candidates');
  assert.deepEqual(m.config, { ...topk.config, output: { ...topk.config.output, activeSet: { ...topk.config.output.activeSet, queryMaxActive: 50 } } });
  const wide = (await m.evaluate(data.test, { inference: 'lsh' })).lsh!.avgCandidates;
  const { model: saved } = await loadModel(topkFile);
  const narrow = (await saved.evaluate(data.test, { inference: 'lsh' })).lsh!.avgCandidates;
  assert.equal(narrow, 20);
  assert.ok(wide > 40 && wide <= 50, `${wide} candidates`);
  const dense = tinyModel(data, { ...TINY_CONFIG, output: { mode: 'dense' } });
  const denseFile = join(dir, 'dense.safetensors');
  await saveModel(dense, denseFile);
  await assert.rejects(loadModel(denseFile, { queryCandidates: 7 }), /has a dense output layer: every label is scored, there are no candidates to choose/);
});
