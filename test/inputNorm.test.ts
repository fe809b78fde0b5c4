import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { SlideModel } from '../src/training/model.js';
import { generateSynthetic } from '../src/data/synth.js';
import type { XcDataset } from '../src/data/csr.js';
import type { ConfigInput } from '../src/config.js';
import { logValue, unitScale } from '../src/network/sample.js';
import { dataShapeOf, deriveConfig, type MachineShape } from '../src/training/autoConfig.js';
import { loadModel, saveModel } from '../src/checkpoint/checkpoint.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * config.inputNorm 'l2' scales every row to unit length where it enters the model. Oracle: a row
 * scaled by a power of two has the same unit row, bit for bit, so a set whose rows were scaled so
 * trains, evaluates and predicts exactly as the set itself; without the setting it does not.
 * config.inputTransform 'log' weighs a value v > 1 as 1 + ln v there. Oracle: a set of counts
 * trains exactly as the same set given as 1 + ln c.
 */

const MACHINE: MachineShape = { cores: 2, memoryBytes: 24 * 2 ** 30 };

/** d with row r's values times 2^e(r), e in -6 .. 8 from a fixed sequence (counts, raw tf: rows far from unit length). */
function scaledByPowersOfTwo(d: XcDataset): XcDataset {
  const featVal = Float32Array.from(d.featVal);
  for (let r = 0; r < d.n; r++) {
    const f = 2 ** (((r * 7919) % 15) - 6);
    for (let k = d.featPtr[r]!; k < d.featPtr[r + 1]!; k++) featVal[k] = featVal[k]! * f;
  }
  return { ...d, featVal };
}

/** Row r of d as a predict query. */
function rowAt(d: XcDataset, r: number): { indices: Int32Array; values: Float32Array } {
  return { indices: d.featIdx.subarray(d.featPtr[r]!, d.featPtr[r + 1]!), values: d.featVal.subarray(d.featPtr[r]!, d.featPtr[r + 1]!) };
}

/** `back` answers rows 0..29 of `queries` exactly as `m` answers the same rows of `originals`, with exact and LSH inference. */
function assertSameAnswers(back: SlideModel, queries: XcDataset, m: SlideModel, originals: XcDataset): void {
  for (let r = 0; r < 30; r++) {
    for (const exact of [true, false]) assert.deepEqual(back.predict(rowAt(queries, r), 5, { exact }), m.predict(rowAt(originals, r), 5, { exact }), `row ${r}, exact ${exact}`);
  }
}

/** m saved to a temporary file and loaded back. */
async function reloaded(m: SlideModel): Promise<SlideModel> {
  const dir = mkdtempSync(join(tmpdir(), 'inputnorm-'));
  try {
    await saveModel(m, join(dir, 'm.safetensors'));
    return (await loadModel(join(dir, 'm.safetensors'))).model;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function run(train: XcDataset, test: XcDataset, config: ConfigInput): Promise<{ losses: number[]; p1: number[]; top: number[][] }> {
  const m = new SlideModel({ nFeatures: train.nFeatures, nLabels: train.nLabels, config: { seed: 5, hidden: [32], epochs: 2, batchSize: 64, evalEvery: 1, threads: 1, ...config } });
  const eps = await m.fit(train, { test });
  const top: number[][] = [];
  for (let r = 0; r < 20; r++) {
    for (const exact of [true, false]) top.push(m.predict(rowAt(test, r), 5, { exact }).flatMap((p) => [p.id, p.score]));
  }
  return { losses: eps.map((e) => e.loss), p1: eps.flatMap((e) => [e.eval!.exact!.p1, e.eval!.lsh!.p1]), top };
}

const SHAPE = { nTrain: 600, nTest: 150, nFeatures: 300, nLabels: 700, featuresPerPoint: 12, labelsPerPoint: 2, seed: 11 };
const LSH: ConfigInput = { output: { mode: 'lsh', hash: { family: 'simhash', K: 4, L: 12 }, activeSet: { policy: 'topk', maxActive: 64, minActive: 0 } } };

test('inputNorm l2: rows scaled by powers of two train, evaluate and predict to the same bits (LSH and dense output)', async () => {
  const { train, test } = generateSynthetic(SHAPE);
  const scaledTrain = scaledByPowersOfTwo(train);
  const scaledTest = scaledByPowersOfTwo(test);
  for (const out of [LSH, { output: { mode: 'dense' } } as ConfigInput]) {
    const a = await run(train, test, { ...out, inputNorm: 'l2' });
    const b = await run(scaledTrain, scaledTest, { ...out, inputNorm: 'l2' });
    assert.deepEqual(b, a);
    assert.ok(a.p1[a.p1.length - 1]! > 0.2, `it learned: P@1 ${a.p1}`);
    // the oracle has teeth: as given, the scaled rows train another model
    const c = await run(scaledTrain, scaledTest, { ...out, inputNorm: 'none' });
    assert.notDeepEqual(c.losses, a.losses);
  }
});

test('unitScale: unit length in float32 within rounding; 1 for rows of length 0 or infinite length', () => {
  fc.assert(
    fc.property(fc.array(fc.float({ min: -1e6, max: 1e6, noNaN: true }), { minLength: 1, maxLength: 40 }), (xs) => {
      const v = Float32Array.from(xs);
      const s = unitScale(v, 0, v.length);
      let ss = 0;
      for (const x of v) ss += Math.fround(x * s) ** 2;
      return ss === 0 ? s === 1 : Math.abs(ss - 1) < 1e-5;
    }),
  );
  assert.equal(unitScale(Float32Array.of(0, 0), 0, 2), 1);
  assert.equal(unitScale(Float32Array.of(3e38, 3e38), 0, 2) > 0, true, 'float32 extremes still have a float64 length');
  assert.equal(unitScale(Float32Array.of(Infinity, 1), 0, 2), 1);
  assert.equal(unitScale(Float32Array.of(9, 3, 4, 9), 1, 3), 1 / 5, 'only the row\'s own values');
});

test('the rule scales rows that are not of unit length, and only those; a given inputNorm wins', () => {
  const { train, test } = generateSynthetic(SHAPE);
  const unit = dataShapeOf(train, test);
  assert.equal(unit.rowNorm!.unit, true, 'the synthetic rows are unit rows');
  assert.equal(deriveConfig(unit, {}, MACHINE).config.inputNorm, 'none');
  const counts = dataShapeOf(scaledByPowersOfTwo(train), test);
  assert.equal(counts.rowNorm!.unit, false);
  const d = deriveConfig(counts, {}, MACHINE);
  assert.equal(d.config.inputNorm, 'l2');
  const s = d.settings.find((x) => x.path === 'inputNorm')!;
  assert.match(s.reason, new RegExp(`L2 length ${counts.rowNorm!.median.toFixed(2)} \\(median\\)`));
  // a test set of other lengths counts too: the model meets its rows
  assert.equal(dataShapeOf(train, scaledByPowersOfTwo(test)).rowNorm!.unit, false);
  assert.equal(deriveConfig(counts, { inputNorm: 'none' }, MACHINE).config.inputNorm, 'none', 'given');
  // rows without features say nothing about lengths
  const empty = { ...train, featPtr: new Int32Array(train.n + 1) };
  assert.deepEqual(dataShapeOf(empty).rowNorm, { unit: true, median: 1 });
});

test('a saved model keeps its input scaling: loaded, it answers scaled queries as the trained model answers the originals', async () => {
  const { train, test: held } = generateSynthetic(SHAPE);
  const m = new SlideModel({ nFeatures: train.nFeatures, nLabels: train.nLabels, config: { seed: 5, hidden: [32], epochs: 1, batchSize: 64, threads: 1, inputNorm: 'l2', ...LSH } });
  await m.fit(scaledByPowersOfTwo(train));
  const back = await reloaded(m);
  assert.equal(back.config.inputNorm, 'l2');
  assertSameAnswers(back, scaledByPowersOfTwo(held), m, held);
});

/** d's values as whole counts 1 .. 10 (term counts of a bag of words). */
function asCounts(d: XcDataset): XcDataset {
  return { ...d, featVal: Float32Array.from(d.featVal, (v) => 1 + Math.floor(v * 9.99)) };
}

/**
 * Under `transform` (inputNorm l2), train / test train and evaluate to the same bits as their
 * values mapped by `f` with no transform (LSH and dense output), and not as the values as given.
 */
async function assertTransformIsFile(transform: 'log' | 'binary', train: XcDataset, test: XcDataset, f: (v: number) => number): Promise<void> {
  const mapped = (d: XcDataset): XcDataset => ({ ...d, featVal: Float32Array.from(d.featVal, f) });
  for (const out of [LSH, { output: { mode: 'dense' } } as ConfigInput]) {
    const a = await run(train, test, { ...out, inputNorm: 'l2', inputTransform: transform });
    const b = await run(mapped(train), mapped(test), { ...out, inputNorm: 'l2', inputTransform: 'none' });
    assert.deepEqual(a, b);
    assert.ok(a.p1[a.p1.length - 1]! > 0.2, `it learned: P@1 ${a.p1}`);
    const c = await run(train, test, { ...out, inputNorm: 'l2', inputTransform: 'none' });
    assert.notDeepEqual(c.losses, a.losses, 'the values as given train another model');
  }
}

test('inputTransform log: counts train, evaluate and predict as the same set given as 1 + ln c, to the same bits (LSH and dense output)', async () => {
  const { train, test } = generateSynthetic(SHAPE);
  await assertTransformIsFile('log', asCounts(train), asCounts(test), logValue);
});

test('logValue: the identity within +-1, +-(1 + ln |v|) beyond, odd, increasing and continuous', () => {
  for (const v of [0, 1, -1, 0.5, -0.25, 1e-30]) assert.equal(logValue(v), v);
  assert.equal(logValue(Math.E ** 3), 1 + 3);
  assert.equal(logValue(2), 1 + Math.LN2);
  fc.assert(
    fc.property(fc.double({ min: -1e30, max: 1e30, noNaN: true }), fc.double({ min: -1e30, max: 1e30, noNaN: true }), (x, y) => {
      if (logValue(-x) !== -logValue(x)) return false;
      return x < y ? logValue(x) <= logValue(y) : logValue(x) >= logValue(y);
    }),
  );
  assert.ok(Math.abs(logValue(1 + 1e-12) - 1) < 1e-11 && Math.abs(logValue(-1 - 1e-12) + 1) < 1e-11);
});

test('the rule weighs counts sublinearly, and only counts; a given inputTransform wins', () => {
  const { train, test } = generateSynthetic(SHAPE);
  assert.equal(dataShapeOf(train, test).countsMax, undefined, 'tf-idf-like values are not counts');
  assert.equal(deriveConfig(dataShapeOf(train, test), {}, MACHINE).config.inputTransform, 'none');
  const counts = dataShapeOf(asCounts(train), asCounts(test));
  assert.equal(counts.countsMax, 10);
  const d = deriveConfig(counts, {}, MACHINE);
  assert.equal(d.config.inputTransform, 'log');
  assert.equal(d.config.inputNorm, 'l2', 'counts rows are not unit rows');
  assert.match(d.settings.find((x) => x.path === 'inputTransform')!.reason, /whole number, 1 to 10/);
  // ones alone are binary features: the transform would change nothing
  const ones = { ...train, featVal: new Float32Array(train.featVal.length).fill(1) };
  assert.equal(dataShapeOf(ones).countsMax, undefined);
  // one value that is not a whole number, in the test set too, says the values are not counts
  const cTest = asCounts(test);
  cTest.featVal[cTest.featVal.length - 1] = 2.5;
  assert.equal(dataShapeOf(asCounts(train), cTest).countsMax, undefined);
  // stored zeros are no values
  const z = asCounts(train);
  z.featVal[0] = 0;
  assert.equal(dataShapeOf(z).countsMax, 10);
  assert.equal(deriveConfig(counts, { inputTransform: 'none' }, MACHINE).config.inputTransform, 'none', 'given');
});

/** d with every value as its sign (what inputTransform 'binary' computes where a row enters). */
function presence(d: XcDataset): XcDataset {
  return { ...d, featVal: Float32Array.from(d.featVal, Math.sign) };
}

test('inputTransform binary: a set trains, evaluates and predicts as the same set of ones, to the same bits (LSH and dense output)', async () => {
  const { train, test } = generateSynthetic(SHAPE);
  // a negative value too: its sign, not 1
  const signed = { ...train, featVal: Float32Array.from(train.featVal, (v, i) => (i % 7 === 3 ? -v : v)) };
  await assertTransformIsFile('binary', signed, test, Math.sign);
});

test('the rule never derives inputTransform binary; given, it scales the presence rows to unit length', () => {
  const { train, test } = generateSynthetic(SHAPE);
  const shape = dataShapeOf(train, test);
  assert.equal(deriveConfig(shape, {}, MACHINE).config.inputNorm, 'none', 'unit rows as given');
  assert.equal(deriveConfig(dataShapeOf(presence(train), presence(test)), {}, MACHINE).config.inputTransform, 'none', 'ones are not counts');
  const d = deriveConfig(shape, { inputTransform: 'binary' }, MACHINE);
  assert.equal(d.config.inputTransform, 'binary');
  assert.equal(d.config.inputNorm, 'l2', 'presence rows have length sqrt(non-zeros)');
  assert.match(d.settings.find((x) => x.path === 'inputNorm')!.reason, /presence rows/);
  assert.equal(deriveConfig(shape, { inputTransform: 'binary', inputNorm: 'none' }, MACHINE).config.inputNorm, 'none', 'given');
});

test('a saved model keeps its input transform: loaded, it answers counts as the trained model does', async () => {
  const { train, test: held } = generateSynthetic(SHAPE);
  const m = new SlideModel({ nFeatures: train.nFeatures, nLabels: train.nLabels, config: { seed: 5, hidden: [32], epochs: 1, batchSize: 64, threads: 1, inputNorm: 'l2', inputTransform: 'log', ...LSH } });
  await m.fit(asCounts(train));
  const back = await reloaded(m);
  assert.equal(back.config.inputTransform, 'log');
  const c = asCounts(held);
  assertSameAnswers(back, c, m, c);
});
