import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { candidatesFor, deriveConfig, hiddenFor, queryCandidatesFor, epochsFor, lrFor, rebuildLambdaFor, explainSettings, tableBitsFor, DENSE_MAX_LABELS, type DataShape, type MachineShape } from '../src/training/autoConfig.js';
import { WORDNET_RECIPE } from '../src/training/recipes.js';
import { mergeConfig, parseConfig } from '../src/config.js';
import { checkModelMemory } from '../src/network/estimate.js';

/** `sublinear data wordnet`'s training split (its header: 76290 80857 18982; 3.07 labels, 8.89 features a point). */
const WORDNET: DataShape = { points: 76290, features: 80857, labels: 18982, labelsPerPoint: 3.07, nnzPerPoint: 8.89 };
const MACHINE: MachineShape = { cores: 2, memoryBytes: 24 * 2 ** 30 };

test('WordNet\'s shape gives the WordNet recipe back, on every core', () => {
  const { config, settings } = deriveConfig(WORDNET, {}, MACHINE);
  assert.deepEqual(config, parseConfig(mergeConfig(WORDNET_RECIPE, { threads: 2 })));
  assert.ok(settings.every((s) => !s.given && s.reason.length > 10), 'every setting has its reason');
  const paths = settings.map((s) => s.path);
  assert.equal(new Set(paths).size, paths.length, 'each setting once');
});

test('given settings win, and the settings that follow from them follow', () => {
  const { config, settings } = deriveConfig(WORDNET, { output: { hash: { K: 9 } }, hidden: [64], epochs: 2 }, MACHINE);
  assert.equal(config.output.hash.K, 9);
  assert.deepEqual(config.hidden, [64]);
  assert.equal(config.epochs, 2);
  assert.deepEqual(settings.filter((s) => s.given).map((s) => s.path).sort(), ['epochs', 'hidden', 'output.hash.K']);
  // a given family that is not SimHash gets no SimHash projection
  const d = deriveConfig(WORDNET, { output: { hash: { family: 'dwta' } } }, MACHINE);
  assert.equal(d.config.output.hash.family, 'dwta');
  assert.ok(!d.settings.some((s) => s.path === 'output.hash.projection'));
  // ... nor a ranking by the angle SimHash votes estimate; neither do the union policy or MIPS
  assert.equal(d.config.output.activeSet.queryRank, 'votes');
  assert.equal(deriveConfig(WORDNET, { output: { activeSet: { policy: 'union' } } }, MACHINE).config.output.activeSet.queryRank, 'votes');
  assert.equal(deriveConfig(WORDNET, { output: { hash: { mips: true } } }, MACHINE).config.output.activeSet.queryRank, 'votes');
  assert.equal(deriveConfig(WORDNET, {}, MACHINE).config.output.activeSet.queryRank, 'logit');
  // a given dense output layer needs no tables
  const dense = deriveConfig(WORDNET, { output: { mode: 'dense' } }, MACHINE);
  assert.equal(dense.config.output.mode, 'dense');
  assert.ok(!dense.settings.some((s) => s.path.startsWith('output.hash') || s.path.startsWith('rebuild')));
});

test('a bucket\'s room follows the buckets of the tables that apply: a given K, range or family', () => {
  // the rule's K 6: 64 buckets of ~297 of WordNet's 18,982 labels, room for 2,048
  assert.equal(deriveConfig(WORDNET, {}, MACHINE).config.output.hash.bucketSize, 2048);
  // a given K of 4: 16 buckets of ~1,187, room for four times that (not the 2,048 of 6 bits)
  assert.equal(deriveConfig(WORDNET, { output: { hash: { K: 4 } } }, MACHINE).config.output.hash.bucketSize, 4 * Math.ceil(18982 / 16));
  // a given range of 5 bits over codes of 9: 32 buckets
  assert.equal(deriveConfig(WORDNET, { output: { hash: { K: 9, rangePow: 5 } } }, MACHINE).config.output.hash.bucketSize, 4 * Math.ceil(18982 / 32));
  // DWTA's 6 codes of 3 bits: 2^13 buckets (the range's cap for 18,982 neurons), small ones
  assert.equal(deriveConfig(WORDNET, { output: { hash: { family: 'dwta' } } }, MACHINE).config.output.hash.bucketSize, 2048);
  // a given room wins
  assert.equal(deriveConfig(WORDNET, { output: { hash: { K: 4, bucketSize: 100 } } }, MACHINE).config.output.hash.bucketSize, 100);
});

test('about ten intermediate evaluations a run, after every epoch of a short one; the epochs that apply decide, a given evalEvery wins', () => {
  const FOLDOC: DataShape = { points: 8302, features: 29850, labels: 7474, labelsPerPoint: 4.45, nnzPerPoint: 34.1 };
  const f = deriveConfig(FOLDOC, {}, MACHINE).config;
  assert.deepEqual([f.epochs, f.evalEvery], [38, 4], '38 epochs: 9 evaluations, not 38');
  assert.equal(f.inputFanIn, 34, 'the input layer drawn for a mean row\'s 34.1 non-zeros');
  assert.equal(deriveConfig({ ...FOLDOC, nnzPerPoint: 0.2 }, {}, MACHINE).config.inputFanIn, 1);
  assert.equal(deriveConfig(FOLDOC, { inputFanIn: 500 }, MACHINE).config.inputFanIn, 500, 'given wins');
  assert.equal(deriveConfig(WORDNET, {}, MACHINE).config.evalEvery, 1, '6 epochs: after each');
  assert.equal(deriveConfig(WORDNET, { epochs: 25 }, MACHINE).config.evalEvery, 3, 'the given epochs decide');
  assert.equal(deriveConfig(FOLDOC, { evalEvery: 0 }, MACHINE).config.evalEvery, 0, 'given: only at the end');
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 500 }), (epochs) => {
      const e = deriveConfig(WORDNET, { epochs }, MACHINE).config.evalEvery;
      return e >= 1 && Math.floor(epochs / e) <= 10 && (epochs <= 10 ? e === 1 : Math.floor(epochs / e) >= 5);
    }),
  );
});

test('training ranks half its candidates by estimated logit where a label occurs fewer than 4.5 times an epoch; given settings and tables that give no angle keep the votes', () => {
  const product: DataShape = { points: 100_000, features: 30_000, labels: 50_000, labelsPerPoint: 1, nnzPerPoint: 5 };
  const rank = (shape: DataShape, given = {}) => deriveConfig(shape, given, MACHINE).config.output.activeSet.trainRank;
  assert.equal(rank(product), 'mixed', '2 a label');
  assert.equal(rank({ ...product, labels: 100_000, labelsPerPoint: 4 }), 'mixed', '4 a label');
  assert.equal(rank({ ...product, labels: 100_000, labelsPerPoint: 5 }), 'votes', '5 a label');
  assert.equal(rank(WORDNET), 'votes', '12.3 a label');
  assert.equal(rank(product, { output: { activeSet: { trainRank: 'votes' } } }), 'votes', 'given');
  assert.equal(rank(product, { output: { hash: { family: 'dwta' } } }), 'votes', 'no angle from WTA codes');
  assert.equal(rank(product, { output: { hash: { mips: true } } }), 'votes', 'nor with MIPS');
  const line = deriveConfig(product, {}, MACHINE).settings.find((x) => x.path === 'output.activeSet.trainRank')!;
  assert.match(line.reason, /occurs 2\.0 times an epoch/);
});

test('batches of 256 where an epoch makes at least 100 of them, else 128; the epochs do not follow the batch', () => {
  const at = (points: number, given = {}): { batch: number; epochs: number } => {
    const { config } = deriveConfig({ ...WORDNET, points }, given, MACHINE);
    return { batch: config.batchSize, epochs: config.epochs };
  };
  assert.equal(at(76_290).batch, 256, 'WordNet');
  assert.equal(at(25_600).batch, 256);
  assert.equal(at(25_599).batch, 128);
  assert.equal(at(8_302).batch, 128, 'FOLDOC\'s points');
  // the epochs count samples: a given batch leaves them as they are
  for (const points of [8_302, 25_599, 25_600, 76_290, 490_449]) {
    const e = at(points).epochs;
    for (const batchSize of [32, 128, 256, 1024]) {
      const g = at(points, { batchSize });
      assert.equal(g.batch, batchSize, 'a given batch wins');
      assert.equal(g.epochs, e, `${points} points, batch ${batchSize}`);
    }
  }
});

test('Adam at 0.01 up to 8 labels a point, then 0.01 x 8 / labels a point; a given rate wins', () => {
  for (const lpp of [1, 3.07, 5, 8]) assert.equal(lrFor(lpp), 0.01);
  assert.equal(lrFor(19), 0.0042, 'the Delicious-like set');
  assert.equal(lrFor(29.9), 0.0027, 'a set of 30 labels a point');
  assert.equal(lrFor(16), 0.005);
  fc.assert(fc.property(fc.double({ min: 1, max: 1000, noNaN: true }), fc.double({ min: 1, max: 1000, noNaN: true }), (a, b) => {
    const [lo, hi] = a <= b ? [a, b] : [b, a];
    return lrFor(hi) <= lrFor(lo) && lrFor(hi) > 0 && lrFor(lo) <= 0.01;
  }));
  const deli: DataShape = { points: 12_920, features: 500, labels: 983, labelsPerPoint: 19, nnzPerPoint: 18 };
  const d = deriveConfig(deli, {}, MACHINE);
  assert.equal(d.config.optimizer.lr, 0.0042);
  assert.match(d.settings.find((x) => x.path === 'optimizer.lr')!.reason, /19\.0 labels a point, more than 8/);
  assert.equal(deriveConfig(deli, { optimizer: { lr: 0.02 } }, MACHINE).config.optimizer.lr, 0.02, 'given');
  assert.equal(deriveConfig(WORDNET, {}, MACHINE).config.optimizer.lr, 0.01);
});

test('rebuild gaps grow 10% each time with tables of up to 6 bits, 6 / K as fast beyond; they follow a given K, and a given lambda wins', () => {
  for (const k of [1, 4, 6]) assert.equal(rebuildLambdaFor(k), 0.1);
  assert.equal(rebuildLambdaFor(7), 0.086);
  assert.equal(rebuildLambdaFor(11), 0.055, 'the Amazon-670K shape');
  assert.equal(rebuildLambdaFor(16), 0.038);
  fc.assert(fc.property(fc.integer({ min: 1, max: 32 }), fc.integer({ min: 1, max: 32 }), (a, b) => {
    const [lo, hi] = a <= b ? [a, b] : [b, a];
    return rebuildLambdaFor(hi) <= rebuildLambdaFor(lo) && rebuildLambdaFor(hi) > 0;
  }));
  assert.equal(deriveConfig(WORDNET, {}, MACHINE).config.rebuild.lambda, 0.1, 'WordNet: 6 bits');
  const amazon: DataShape = { points: 490_449, features: 135_909, labels: 670_091, labelsPerPoint: 5, nnzPerPoint: 75 };
  const a = deriveConfig(amazon, {}, MACHINE);
  assert.equal(a.config.output.hash.K, 11);
  assert.equal(a.config.rebuild.lambda, 0.055);
  assert.match(a.settings.find((x) => x.path === 'rebuild.lambda')!.reason, /11 bits/);
  assert.equal(deriveConfig(amazon, { output: { hash: { K: 6 } } }, MACHINE).config.rebuild.lambda, 0.1, 'a given K');
  const given = deriveConfig(amazon, { rebuild: { lambda: 0.2 } }, MACHINE);
  assert.equal(given.config.rebuild.lambda, 0.2, 'given');
  assert.match(given.settings.find((x) => x.path === 'rebuild.n0')!.reason, new RegExp(`after ${Math.ceil(given.config.rebuild.n0 * Math.exp(0.2))} batches`), 'the first gap follows the given lambda');
});

test('dense output up to DENSE_MAX_LABELS labels, LSH above', () => {
  const shape = (labels: number): DataShape => ({ ...WORDNET, labels });
  assert.equal(deriveConfig(shape(DENSE_MAX_LABELS), {}, MACHINE).config.output.mode, 'dense');
  assert.equal(deriveConfig(shape(DENSE_MAX_LABELS + 1), {}, MACHINE).config.output.mode, 'lsh');
});

test('the rule\'s functions of the shape: candidates within max(1,000, 5% of the labels), buckets of ~300, ~460,800 samples', () => {
  fc.assert(
    fc.property(fc.integer({ min: DENSE_MAX_LABELS + 1, max: 50_000_000 }), (labels) => {
      const c = candidatesFor(labels);
      // a training sample adds its own labels (tens at most) to the candidates
      assert.ok(c + 64 <= Math.max(1000, 0.05 * labels), `${labels} labels: ${c} candidates`);
      assert.ok(c >= 128 && c <= labels);
      // a query computes four times the candidates of a step and at least 1,000, within the same bound (no labels of its own)
      const q = queryCandidatesFor(labels, c);
      assert.ok(q >= c && q <= Math.max(1000, 0.05 * labels) && q <= labels, `${labels} labels: ${q} query candidates`);
      assert.equal(q, Math.min(Math.max(4 * c, 1000), labels, Math.max(1000, Math.floor(0.05 * labels))));
      assert.ok(q >= Math.min(labels, 1000), 'a query scores at least 1,000 labels, or all of them');
      const K = tableBitsFor(labels);
      assert.ok(K >= 4 && K <= 16);
      if (K > 4 && K < 16) assert.ok(labels / 2 ** K > 300 / Math.SQRT2 - 1 && labels / 2 ** K < 300 * Math.SQRT2 + 1, `${labels} labels, K ${K}`);
    }),
  );
  assert.ok(candidatesFor(100_000) > candidatesFor(20_000), 'more labels, more candidates');
  // the bound: 5% of the labels (31K, 100K); four times the step's below it (670K)
  assert.equal(queryCandidatesFor(31_000, 750), 1550);
  assert.equal(queryCandidatesFor(100_000, 1400), 5000);
  assert.equal(queryCandidatesFor(670_091, 3600), 14_400);
  // few labels: at least 1,000 of them, or all (FOLDOC's 400 a step: 1,000, not 800)
  assert.equal(queryCandidatesFor(7474, 400), 1000);
  assert.equal(queryCandidatesFor(700, 128), 700);
  assert.equal(queryCandidatesFor(18_982, 600), 1000, 'WordNet: the recipe\'s');
  // a given training cap above the bound is kept at inference too
  assert.equal(queryCandidatesFor(20_000, 1500), 1500);
  assert.equal(epochsFor(76290, 3.07, 18_982), 6);
  assert.equal(epochsFor(1000, 1, 200), 40);
  assert.equal(epochsFor(10_000_000, 1, 1000), 3);
  // many labels a point: fewer passes than the samples alone would give (31K set: 6, not 10;
  // 19 labels a point over 12,920 points: 6, not 36); few labels a point: the samples decide
  assert.equal(epochsFor(45_000, 5, 31_000), 6);
  assert.equal(epochsFor(12_920, 19, 983), 6);
  assert.equal(epochsFor(12_920, 1, 983), 36);
  // many labels of few points each: ~20 visits of the mean label. The 100K-label set (4 labels a
  // point, 4 occurrences a label): 5, not the 3.5 of occurrences; a product-search-like set (1
  // label a point, 2 a label): 10, not the 4.6 of samples; the Amazon-670K shape (3.7 a label): 5
  assert.equal(epochsFor(100_000, 4.00011, 100_000), 5);
  assert.equal(epochsFor(100_000, 1, 50_000), 10);
  assert.equal(epochsFor(490_449, 5, 670_091), 5);
  // a label occurring under 1.7 times an epoch: no more than 12 epochs for its visits (150,000
  // labels over 40,000 points, 2 a point: 12, not 38); the samples may still ask for more
  assert.equal(epochsFor(40_000, 2, 150_000), 12);
  assert.equal(epochsFor(100_000, 1, 100_000), 12);
  assert.equal(epochsFor(100_000, 1, 80_000), 12);
  assert.equal(epochsFor(10_000, 1, 100_000), 40, 'the samples: 460,800 over 10,000 points, at most 40');
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 10_000_000 }), fc.double({ min: 1, max: 100, noNaN: true }), fc.double({ min: 1, max: 100, noNaN: true }), fc.integer({ min: 1, max: 10_000_000 }), (points, a, b, labels) => {
      const [lo, hi] = a <= b ? [a, b] : [b, a];
      const e = epochsFor(points, hi, labels);
      assert.ok(e >= 3 && e <= 40 && e <= epochsFor(points, lo, labels), 'more labels a point: never more epochs');
      assert.ok(e <= epochsFor(points, 1, labels));
      assert.ok(e <= epochsFor(points, hi, labels + 1 + (labels >> 1)), 'more labels: never fewer epochs');
    }),
  );
});

test('fewer points: more epochs; fewer output neurons a sample: a wider hidden layer (128 .. 512)', () => {
  const { config } = deriveConfig({ ...WORDNET, points: 12_000 }, {}, MACHINE);
  assert.deepEqual(config.hidden, [256], 'the width follows the candidates, not the points');
  assert.equal(config.epochs, epochsFor(12_000, WORDNET.labelsPerPoint, WORDNET.labels));
  assert.ok(config.epochs > 6);
  // FOLDOC's 7,474 labels: 400 candidates; a dense layer of 200 labels; 31K labels: 750; 670K: 3,600
  assert.deepEqual(deriveConfig({ ...WORDNET, labels: 7474 }, {}, MACHINE).config.hidden, [512]);
  assert.deepEqual(deriveConfig({ ...WORDNET, labels: 200 }, {}, MACHINE).config.hidden, [512]);
  assert.deepEqual(deriveConfig({ ...WORDNET, labels: 31_000 }, {}, MACHINE).config.hidden, [256]);
  assert.deepEqual(deriveConfig({ ...WORDNET, labels: 670_091 }, {}, MACHINE).config.hidden, [128]);
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 10_000_000 }), fc.integer({ min: 1, max: 10_000_000 }), (a, b) => {
      const [lo, hi] = a <= b ? [a, b] : [b, a];
      // a power of two in 128 .. 512, never wider for more outputs
      assert.ok([128, 256, 512].includes(hiddenFor(lo)));
      assert.ok(hiddenFor(hi) <= hiddenFor(lo));
    }),
  );
});

test('a machine too small for the hidden width halves it until the model fits, and says so', () => {
  const big: DataShape = { points: 1_000_000, features: 100_000, labels: 3_000_000, labelsPerPoint: 5, nnzPerPoint: 50 };
  const small: MachineShape = { cores: 2, memoryBytes: 6 * 2 ** 30 };
  const { config, settings } = deriveConfig(big, {}, small);
  const h = config.hidden[0]!;
  // the rule's width for 4,096 candidates is 128
  assert.ok(h < 128, `hidden ${h}`);
  const spec = { threads: 3, slots: 128, maxNnz: 200, maxLabels: 64, topK: 100 };
  assert.doesNotThrow(() => checkModelMemory(config, big.features, big.labels, spec, Math.floor(0.9 * small.memoryBytes)));
  assert.throws(() => checkModelMemory(parseConfig({ ...config, hidden: [2 * h] }), big.features, big.labels, spec, Math.floor(0.9 * small.memoryBytes)));
  assert.match(settings.find((s) => s.path === 'hidden')!.reason, /would not fit/);
});

test('explainSettings: one line a setting, its value and its reason or (given)', () => {
  const { settings } = deriveConfig(WORDNET, { epochs: 3 }, MACHINE);
  const lines = explainSettings(settings);
  assert.equal(lines.length, settings.length);
  assert.ok(lines.includes('epochs = 3  (given)'));
  assert.ok(lines.some((l) => /^output\.activeSet\.maxActive = 600  \(600 candidates/.test(l)));
});
