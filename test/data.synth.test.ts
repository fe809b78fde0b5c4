import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SYNTH_SHAPES, datasetStats, generateSynthetic, synthLabelSignature } from '../src/data/synth.js';
import type { SynthOptions } from '../src/data/synth.js';
import type { XcDataset } from '../src/data/csr.js';
import { ConfigError } from '../src/util/errors.js';

const TINY: SynthOptions = { ...SYNTH_SHAPES['tiny']!, seed: 42 };

function checkWellFormed(d: XcDataset, o: SynthOptions, n: number): void {
  assert.equal(d.n, n);
  assert.equal(d.nFeatures, o.nFeatures);
  assert.equal(d.nLabels, o.nLabels);
  assert.equal(d.featPtr.length, n + 1);
  assert.equal(d.labelPtr.length, n + 1);
  assert.equal(d.featIdx.length, d.featPtr[n]);
  assert.equal(d.featVal.length, d.featPtr[n]);
  assert.equal(d.labelIdx.length, d.labelPtr[n]);
  for (let r = 0; r < n; r++) {
    const f0 = d.featPtr[r]!;
    const f1 = d.featPtr[r + 1]!;
    assert.ok(f1 > f0, `row ${r} has features`);
    let norm = 0;
    for (let k = f0; k < f1; k++) {
      const f = d.featIdx[k]!;
      assert.ok(f >= 0 && f < o.nFeatures);
      if (k > f0) assert.ok(f > d.featIdx[k - 1]!, `row ${r}: features strictly ascending (no duplicates)`);
      assert.ok(d.featVal[k]! > 0, 'values are positive');
      norm += d.featVal[k]! ** 2;
    }
    assert.ok(Math.abs(norm - 1) < 1e-5, `row ${r} is L2-normalised (${norm})`);
    const l0 = d.labelPtr[r]!;
    const l1 = d.labelPtr[r + 1]!;
    assert.ok(l1 > l0, `row ${r} has at least one label`);
    for (let k = l0; k < l1; k++) {
      const l = d.labelIdx[k]!;
      assert.ok(l >= 0 && l < o.nLabels);
      if (k > l0) assert.ok(l > d.labelIdx[k - 1]!, `row ${r}: labels strictly ascending (no duplicates)`);
    }
  }
}

test('named shapes', () => {
  assert.deepEqual(SYNTH_SHAPES['tiny'], { nTrain: 2000, nTest: 500, nFeatures: 1000, nLabels: 200, featuresPerPoint: 20, labelsPerPoint: 2 });
  assert.deepEqual(SYNTH_SHAPES['small'], { nTrain: 20000, nTest: 5000, nFeatures: 10000, nLabels: 5000, featuresPerPoint: 40, labelsPerPoint: 3 });
  const a = SYNTH_SHAPES['amazon-670k']!;
  assert.deepEqual(
    [a.nTrain, a.nTest, a.nFeatures, a.nLabels, a.featuresPerPoint, a.labelsPerPoint],
    [490449, 153025, 135909, 670091, 75, 5],
  );
});

test('tiny: well-formed, header dims respected, averages near the requested ones', () => {
  const { train, test: tst } = generateSynthetic(TINY);
  checkWellFormed(train, TINY, TINY.nTrain);
  checkWellFormed(tst, TINY, TINY.nTest);
  const s = datasetStats(train);
  assert.equal(s.points, 2000);
  assert.equal(s.features, 1000);
  assert.equal(s.labels, 200);
  assert.ok(Math.abs(s.avgNnz - 20) < 1, `avgNnz ${s.avgNnz}`);
  assert.ok(Math.abs(s.avgLabels - 2) < 0.15, `avgLabels ${s.avgLabels}`);
  assert.ok(s.labelsUsed > 150, `labelsUsed ${s.labelsUsed}`);
});

test('same seed -> identical arrays, different seed -> different', () => {
  const a = generateSynthetic(TINY);
  const b = generateSynthetic({ ...TINY });
  assert.deepEqual(a, b);
  const c = generateSynthetic({ ...TINY, seed: 43 });
  assert.notDeepEqual(c.train.featIdx, a.train.featIdx);
  assert.notDeepEqual(c.train.labelIdx, a.train.labelIdx);
  assert.notDeepEqual(a.train.featIdx.subarray(0, 1000), a.test.featIdx.subarray(0, 1000), 'train and test use different streams');
});

test('label frequencies follow a power law (and popularity is not the id order)', () => {
  const o: SynthOptions = { ...SYNTH_SHAPES['small']!, nTrain: 10000, nTest: 10, seed: 1 };
  const { train } = generateSynthetic(o);
  const freq = new Int32Array(o.nLabels);
  for (const l of train.labelIdx) freq[l]!++;
  const sorted = Array.from(freq).sort((x, y) => y - x);
  const median = sorted[sorted.length >> 1]!;
  assert.ok(sorted[0]! > 50 * Math.max(1, median), `top ${sorted[0]} vs median ${median}`);
  // rank-frequency slope roughly -zipf (=1): frequency at rank 10 ~ top/10, at rank 100 ~ top/100
  assert.ok(sorted[9]! < sorted[0]! / 4 && sorted[9]! > sorted[0]! / 25, `rank 10: ${sorted[9]} vs top ${sorted[0]}`);
  assert.ok(sorted[99]! < sorted[0]! / 40 && sorted[99]! > sorted[0]! / 250, `rank 100: ${sorted[99]} vs top ${sorted[0]}`);
  const top = freq.indexOf(sorted[0]!);
  assert.notEqual(top, 0, 'the most popular label is not simply id 0');
  const s = datasetStats(train);
  assert.ok(Math.abs(s.topLabelFreq - sorted[0]! / train.n) < 1e-12);
  // a flatter exponent spreads labels out
  const flat = datasetStats(generateSynthetic({ ...o, zipf: 0.3 }).train);
  assert.ok(flat.topLabelFreq < s.topLabelFreq / 5 && flat.labelsUsed > s.labelsUsed);
});

test('features are predictive: points with label j draw most features from j\'s signature', () => {
  const { train } = generateSynthetic(TINY);
  const freq = new Int32Array(TINY.nLabels);
  for (const l of train.labelIdx) freq[l]!++;
  const labels = Array.from(freq.keys()).sort((x, y) => freq[y]! - freq[x]!).slice(0, 20);
  for (const j of labels) {
    const sig = new Set(synthLabelSignature(TINY, j));
    let inSig = 0;
    let total = 0;
    for (let r = 0; r < train.n; r++) {
      let has = false;
      for (let k = train.labelPtr[r]!; k < train.labelPtr[r + 1]!; k++) if (train.labelIdx[k] === j) has = true;
      if (!has) continue;
      for (let k = train.featPtr[r]!; k < train.featPtr[r + 1]!; k++) {
        total++;
        if (sig.has(train.featIdx[k]!)) inSig++;
      }
    }
    const share = inSig / total;
    const chance = sig.size / TINY.nFeatures;
    assert.ok(share > 10 * chance && share > 0.2, `label ${j}: share ${share.toFixed(3)} vs chance ${chance.toFixed(3)}`);
  }
});

test('a nearest-centroid learner beats the most-frequent-label baseline by far (tiny)', () => {
  const { train, test: tst } = generateSynthetic(TINY);
  const F = TINY.nFeatures;
  const L = TINY.nLabels;
  const cent = new Float64Array(L * F);
  const freq = new Int32Array(L);
  for (let r = 0; r < train.n; r++) {
    for (let q = train.labelPtr[r]!; q < train.labelPtr[r + 1]!; q++) {
      const j = train.labelIdx[q]!;
      freq[j]!++;
      for (let k = train.featPtr[r]!; k < train.featPtr[r + 1]!; k++) cent[j * F + train.featIdx[k]!] += train.featVal[k]!;
    }
  }
  for (let j = 0; j < L; j++) {
    let n2 = 0;
    for (let f = 0; f < F; f++) n2 += cent[j * F + f]! ** 2;
    const inv = n2 > 0 ? 1 / Math.sqrt(n2) : 0;
    for (let f = 0; f < F; f++) cent[j * F + f]! *= inv;
  }
  const top = freq.indexOf(Math.max(...freq));
  let hits = 0;
  let base = 0;
  for (let r = 0; r < tst.n; r++) {
    let best = 0;
    let bestScore = -1;
    for (let j = 0; j < L; j++) {
      let s = 0;
      for (let k = tst.featPtr[r]!; k < tst.featPtr[r + 1]!; k++) s += tst.featVal[k]! * cent[j * F + tst.featIdx[k]!]!;
      if (s > bestScore) {
        bestScore = s;
        best = j;
      }
    }
    for (let q = tst.labelPtr[r]!; q < tst.labelPtr[r + 1]!; q++) {
      if (tst.labelIdx[q] === best) hits++;
      if (tst.labelIdx[q] === top) base++;
    }
  }
  const p1 = hits / tst.n;
  const baseline = base / tst.n;
  assert.ok(p1 > baseline + 0.3, `P@1 ${p1} vs baseline ${baseline}`);
});

test('datasetStats on a hand-made data set', () => {
  const d: XcDataset = {
    n: 4,
    nFeatures: 10,
    nLabels: 6,
    featPtr: Int32Array.of(0, 2, 3, 3, 6),
    featIdx: Int32Array.of(0, 1, 2, 3, 4, 5),
    featVal: new Float32Array(6).fill(1),
    labelPtr: Int32Array.of(0, 2, 3, 4, 4),
    labelIdx: Int32Array.of(1, 2, 2, 5),
  };
  assert.deepEqual(datasetStats(d), { points: 4, features: 10, labels: 6, avgNnz: 1.5, avgLabels: 1, topLabelFreq: 0.5, labelsUsed: 3 });
});

test('invalid options throw ConfigError naming the field', () => {
  assert.throws(() => generateSynthetic({ ...TINY, featuresPerPoint: 600 }), (e: unknown) => e instanceof ConfigError && /featuresPerPoint/.test(e.message));
  assert.throws(() => generateSynthetic({ ...TINY, nLabels: 0 }), /nLabels/);
  assert.throws(() => generateSynthetic({ ...TINY, labelsPerPoint: 0.5 }), /labelsPerPoint/);
  assert.throws(() => generateSynthetic({ ...TINY, noise: 1.5 }), /noise/);
  assert.throws(() => generateSynthetic({ ...TINY, zipf: -1 }), /zipf/);
  assert.throws(() => generateSynthetic({ ...TINY, nTrain: 1.5 }), /nTrain/);
});

test('edge shapes: one label, everything noise, labels per point near nLabels', () => {
  const a = { nTrain: 50, nTest: 5, nFeatures: 20, nLabels: 1, featuresPerPoint: 5, labelsPerPoint: 1, seed: 3 };
  checkWellFormed(generateSynthetic(a).train, a, 50);
  const b = { ...a, nLabels: 4, labelsPerPoint: 4, noise: 1 };
  checkWellFormed(generateSynthetic(b).train, b, 50);
  const c = { ...a, nLabels: 6, labelsPerPoint: 5, zipf: 4, featuresPerPoint: 10 };
  checkWellFormed(generateSynthetic(c).train, c, 50);
});
