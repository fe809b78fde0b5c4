import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { XcDataset } from '../src/data/csr.js';
import { InputError } from '../src/util/errors.js';
import { formatFloat32 } from '../src/data/xcWriter.js';
import {
  buildWordnetDataset,
  featurizeText,
  isTestSynset,
  tokenize,
  writeWordnetDataset,
  wordnetDictPath,
  type WordnetDataset,
} from '../src/data/wordnet.js';

let ds: WordnetDataset;

before(async () => {
  ds = await buildWordnetDataset();
});

function labelsOf(d: XcDataset, labelNames: string[], r: number): string[] {
  const out: string[] = [];
  for (let k = d.labelPtr[r]!; k < d.labelPtr[r + 1]!; k++) out.push(labelNames[d.labelIdx[k]!]!);
  return out;
}

/** Rows (split, row) whose point name starts with `prefix`. */
function rowsNamed(prefix: string): { d: XcDataset; r: number }[] {
  const out: { d: XcDataset; r: number }[] = [];
  ds.trainNames.forEach((n, r) => n.startsWith(prefix) && out.push({ d: ds.train, r }));
  ds.testNames.forEach((n, r) => n.startsWith(prefix) && out.push({ d: ds.test, r }));
  return out;
}

test('counts are in plausible ranges', () => {
  const s = ds.stats;
  assert.ok(ds.train.n >= 60_000 && ds.train.n <= 90_000, `train ${ds.train.n}`);
  assert.ok(ds.test.n >= 15_000 && ds.test.n <= 25_000, `test ${ds.test.n}`);
  assert.ok(ds.train.nFeatures >= 50_000 && ds.train.nFeatures <= 110_000, `features ${ds.train.nFeatures}`);
  assert.ok(ds.train.nLabels >= 10_000 && ds.train.nLabels <= 30_000, `labels ${ds.train.nLabels}`);
  assert.ok(s.avgLabelsTrain >= 1.5 && s.avgLabelsTrain <= 5, `avg labels ${s.avgLabelsTrain}`);
  assert.ok(s.avgLabelsTest >= 1.5 && s.avgLabelsTest <= 5, `avg test labels ${s.avgLabelsTest}`);
  assert.ok(s.avgNnzTrain >= 4 && s.avgNnzTrain <= 20, `avg nnz ${s.avgNnzTrain}`);
  const frac = ds.test.n / (ds.train.n + ds.test.n);
  assert.ok(Math.abs(frac - 0.2) < 0.01, `test fraction ${frac}`);
  assert.equal(ds.test.nFeatures, ds.train.nFeatures);
  assert.equal(ds.test.nLabels, ds.train.nLabels);
  assert.equal(ds.featureNames.length, ds.train.nFeatures);
  assert.equal(ds.labelNames.length, ds.train.nLabels);
  assert.equal(ds.idf.length, ds.train.nFeatures);
  assert.equal(ds.trainNames.length, ds.train.n);
  assert.equal(ds.testNames.length, ds.test.n);
  assert.ok(s.droppedNoLabels > 0, 'synsets without hypernyms (e.g. entity, many verbs) are dropped');
  assert.equal(s.nounSynsets + s.verbSynsets - s.droppedNoLabels - s.droppedNoFeaturesTrain - s.droppedNoFeaturesTest - s.droppedTestNoKnownLabels, ds.train.n + ds.test.n);
  // power-law-ish: the most frequent label covers thousands of points, many labels are singletons
  assert.ok(s.topLabels[0]!.count > 1000);
  assert.ok(s.singletonLabels > 1000);
});

test('CSR structure: ids in range, sorted, unique; rows L2-normalised', () => {
  for (const d of [ds.train, ds.test]) {
    assert.equal(d.featPtr.length, d.n + 1);
    assert.equal(d.labelPtr.length, d.n + 1);
    assert.equal(d.featPtr[d.n], d.featIdx.length);
    assert.equal(d.labelPtr[d.n], d.labelIdx.length);
    for (let r = 0; r < d.n; r++) {
      const f0 = d.featPtr[r]!;
      const f1 = d.featPtr[r + 1]!;
      assert.ok(f1 > f0, `row ${r} has features`);
      let ss = 0;
      for (let k = f0; k < f1; k++) {
        const f = d.featIdx[k]!;
        if (!(f >= 0 && f < d.nFeatures)) assert.fail(`feature ${f} out of range in row ${r}`);
        if (k > f0 && !(f > d.featIdx[k - 1]!)) assert.fail(`features unsorted in row ${r}`);
        const v = d.featVal[k]!;
        if (!(v > 0)) assert.fail(`non-positive value in row ${r}`);
        ss += v * v;
      }
      if (Math.abs(ss - 1) > 1e-5) assert.fail(`row ${r} norm^2 ${ss}`);
      const l0 = d.labelPtr[r]!;
      const l1 = d.labelPtr[r + 1]!;
      assert.ok(l1 > l0, `row ${r} has labels`);
      for (let k = l0; k < l1; k++) {
        const l = d.labelIdx[k]!;
        if (!(l >= 0 && l < d.nLabels)) assert.fail(`label ${l} out of range in row ${r}`);
        if (k > l0 && !(l > d.labelIdx[k - 1]!)) assert.fail(`labels unsorted in row ${r}`);
      }
    }
  }
});

test('feature and label ids are deterministic orderings', () => {
  for (let i = 1; i < ds.featureNames.length; i++) assert.ok(ds.featureNames[i - 1]! < ds.featureNames[i]!);
  // label ids by training frequency, descending
  const freq = new Int32Array(ds.train.nLabels);
  for (const l of ds.train.labelIdx) freq[l]!++;
  for (let i = 1; i < freq.length; i++) assert.ok(freq[i - 1]! >= freq[i]!, `label ${i} more frequent than ${i - 1}`);
  assert.ok(freq.every((c) => c > 0), 'every label occurs in training');
  assert.equal(new Set(ds.labelNames).size, ds.labelNames.length);
  for (const n of ds.labelNames) assert.match(n, /^.+\.[nv]\.\d{8}$/);
});

test('known synsets get sensible hypernym labels', () => {
  const lion = rowsNamed('lion.n.').map(({ d, r }) => labelsOf(d, ds.labelNames, r));
  assert.ok(
    lion.some((ls) => ls.some((l) => l.startsWith('big_cat.n.')) && ls.some((l) => l.startsWith('feline.n.'))),
    `lion labels: ${JSON.stringify(lion)}`,
  );
  const dog = rowsNamed('dog.n.').map(({ d, r }) => labelsOf(d, ds.labelNames, r));
  assert.ok(dog.some((ls) => ls.some((l) => l.startsWith('canine.n.'))), `dog labels: ${JSON.stringify(dog)}`);
  // a verb: 'run' (move fast using one's feet) is a kind of 'travel_rapidly'
  const run = rowsNamed('run.v.').map(({ d, r }) => labelsOf(d, ds.labelNames, r));
  assert.ok(run.some((ls) => ls.some((l) => l.startsWith('travel_rapidly.v.'))), `run labels: ${JSON.stringify(run)}`);
});

test('split is the hash of pos+offset, about 20%', () => {
  let inTest = 0;
  for (let o = 0; o < 100_000; o++) if (isTestSynset('n', o * 7 + 1740, 0.2)) inTest++;
  assert.ok(Math.abs(inTest / 100_000 - 0.2) < 0.01);
  for (const n of ds.testNames.slice(0, 200)) {
    const [, pos, off] = /\.([nv])\.(\d{8})$/.exec(n)!;
    assert.ok(isTestSynset(pos as 'n' | 'v', Number(off), 0.2), n);
  }
  for (const n of ds.trainNames.slice(0, 200)) {
    const [, pos, off] = /\.([nv])\.(\d{8})$/.exec(n)!;
    assert.ok(!isTestSynset(pos as 'n' | 'v', Number(off), 0.2), n);
  }
});

test('tokenize', () => {
  assert.deepEqual(tokenize('A large cat with a mane'), ['large', 'cat', 'mane']);
  assert.deepEqual(tokenize('Pallas\'s_cat'), ['pallas', 'cat']);
  assert.deepEqual(tokenize('medium-sized wildcat of Central America; "x-ray 3D"'), [
    'medium', 'sized', 'wildcat', 'central', 'america', 'ray', '3d',
  ]);
  assert.deepEqual(tokenize(''), []);
  assert.deepEqual(tokenize('  ,;  '), []);
});

test('featurizeText gives a sparse unit vector over known tokens', () => {
  const { idx, val } = featurizeText('large gregarious predatory feline of Africa having a shaggy mane; a lion, lion', ds.vocab, ds.idf);
  assert.ok(idx.length >= 5);
  assert.equal(idx.length, val.length);
  let ss = 0;
  for (let k = 0; k < idx.length; k++) {
    if (k > 0) assert.ok(idx[k]! > idx[k - 1]!);
    assert.ok(idx[k]! >= 0 && idx[k]! < ds.featureNames.length);
    ss += val[k]! * val[k]!;
  }
  assert.ok(Math.abs(ss - 1) < 1e-5);
  const lionId = ds.vocab.get('lion')!;
  const maneId = ds.vocab.get('mane')!;
  // tf 2 weighs (1 + ln 2) * idf
  const kl = idx.indexOf(lionId);
  const km = idx.indexOf(maneId);
  const ratio = val[kl]! / val[km]!;
  assert.ok(Math.abs(ratio - ((1 + Math.log(2)) * ds.idf[lionId]!) / ds.idf[maneId]!) < 1e-4);
  const empty = featurizeText('zzqqxx of the', ds.vocab, ds.idf);
  assert.equal(empty.idx.length, 0);
  assert.equal(empty.val.length, 0);
});

test('weighting: logtf (the default) has idf 1 everywhere; tfidf the smooth idf of the training split, on the same vocabulary and points', async () => {
  assert.equal(ds.weighting, 'logtf');
  assert.ok(ds.idf.every((x) => x === 1));
  const t = await buildWordnetDataset({ weighting: 'tfidf' });
  assert.deepEqual(t.featureNames, ds.featureNames);
  assert.deepEqual(t.train.featIdx, ds.train.featIdx);
  const df = new Map<number, number>();
  for (let k = 0; k < t.train.featIdx.length; k++) df.set(t.train.featIdx[k]!, (df.get(t.train.featIdx[k]!) ?? 0) + 1);
  // every training document with a token is a point (a document without labels is not read)
  for (const f of [0, 1, 100, ds.vocab.get('lion')!]) assert.equal(t.idf[f], Math.fround(Math.log((1 + t.train.n) / (1 + df.get(f)!)) + 1), `feature ${f}`);
  const lion = featurizeText('lion lion mane', t.vocab, t.idf);
  const [l, m] = [lion.idx.indexOf(t.vocab.get('lion')!), lion.idx.indexOf(t.vocab.get('mane')!)];
  assert.ok(Math.abs(lion.val[l]! / lion.val[m]! - ((1 + Math.log(2)) * t.idf[t.vocab.get('lion')!]!) / t.idf[t.vocab.get('mane')!]!) < 1e-4);
});

test('featurizeText of lemmas + gloss reproduces the data set row exactly', async () => {
  // lion.n.02131817: the row (train or test) equals featurizeText of its lemma words and gloss.
  const text = await readFile(join(wordnetDictPath(), 'data.noun'), 'latin1');
  const line = text.split('\n').find((l) => l.startsWith('02131817 '))!;
  const f = line.slice(0, line.indexOf(' | ')).split(' ');
  const lemmas = [];
  for (let w = 0; w < Number.parseInt(f[3]!, 16); w++) lemmas.push(f[4 + 2 * w]!);
  assert.deepEqual(lemmas, ['lion', 'king_of_beasts', 'Panthera_leo']);
  const q = featurizeText(lemmas.join(' ') + ' ' + line.slice(line.indexOf(' | ') + 3), ds.vocab, ds.idf);
  const hit = rowsNamed('lion.n.02131817')[0]!;
  const { d, r } = hit;
  assert.deepEqual(q.idx, d.featIdx.slice(d.featPtr[r]!, d.featPtr[r + 1]!));
  assert.deepEqual(q.val, d.featVal.slice(d.featPtr[r]!, d.featPtr[r + 1]!));
  // and a free-text query shares its strongest words with it
  const u = featurizeText('a large cat with a mane', ds.vocab, ds.idf);
  assert.ok(u.idx.length === 3 && [...u.idx].includes(ds.vocab.get('mane')!));
});

test('float formatting round-trips float32', () => {
  const xs = new Float32Array([1, 0.5, 0.1, 1 / 3, 0.72546136, 1e-7, 3.4e38, 0.123456789]);
  for (const x of xs) {
    const s = formatFloat32(x);
    assert.equal(Math.fround(Number(s)), x, s);
    assert.ok(!/\.$|\.\d*0$/.test(s.split('e')[0]!), s);
  }
  assert.equal(formatFloat32(1), '1');
  assert.equal(formatFloat32(0.5), '0.5');
});

test('rebuild is identical; written files are byte-identical and parse back exactly', async () => {
  const ds2 = await buildWordnetDataset();
  for (const k of ['featPtr', 'featIdx', 'featVal', 'labelPtr', 'labelIdx'] as const) {
    assert.deepEqual(ds2.train[k], ds.train[k], `train.${k}`);
    assert.deepEqual(ds2.test[k], ds.test[k], `test.${k}`);
  }
  assert.deepEqual(ds2.featureNames, ds.featureNames);
  assert.deepEqual(ds2.labelNames, ds.labelNames);
  assert.deepEqual(ds2.idf, ds.idf);

  const a = await mkdtemp(join(tmpdir(), 'wn-a-'));
  const b = await mkdtemp(join(tmpdir(), 'wn-b-'));
  try {
    await writeWordnetDataset(a, ds);
    await writeWordnetDataset(b, ds2);
    const files = (await readdir(a)).sort();
    assert.deepEqual(files, ['features.txt', 'idf.txt', 'labels.txt', 'meta.json', 'test.txt', 'train.txt']);
    assert.deepEqual((await readdir(b)).sort(), files);
    for (const f of files) {
      const ha = createHash('sha256').update(await readFile(join(a, f))).digest('hex');
      const hb = createHash('sha256').update(await readFile(join(b, f))).digest('hex');
      assert.equal(ha, hb, f);
    }

    // Parse test.txt back and compare with the arrays bit for bit.
    const lines = (await readFile(join(a, 'test.txt'), 'utf8')).split('\n');
    assert.equal(lines[0], `${ds.test.n} ${ds.test.nFeatures} ${ds.test.nLabels}`);
    assert.equal(lines.length, ds.test.n + 2);
    assert.equal(lines[ds.test.n + 1], '');
    for (let r = 0; r < ds.test.n; r++) {
      const parts = lines[r + 1]!.split(' ');
      const labels = parts[0]!.split(',').map(Number);
      assert.deepEqual(labels, Array.from(ds.test.labelIdx.subarray(ds.test.labelPtr[r]!, ds.test.labelPtr[r + 1]!)));
      const f0 = ds.test.featPtr[r]!;
      assert.equal(parts.length - 1, ds.test.featPtr[r + 1]! - f0);
      for (let j = 1; j < parts.length; j++) {
        const [f, v] = parts[j]!.split(':');
        if (Number(f) !== ds.test.featIdx[f0 + j - 1]) assert.fail(`row ${r} feature ${j}`);
        if (Math.fround(Number(v)) !== ds.test.featVal[f0 + j - 1]) assert.fail(`row ${r} value ${v}`);
      }
    }
    const feats = (await readFile(join(a, 'features.txt'), 'utf8')).split('\n');
    assert.equal(feats.length, ds.featureNames.length + 1);
    assert.equal(feats[100], ds.featureNames[100]);
    const idf = (await readFile(join(a, 'idf.txt'), 'utf8')).split('\n');
    for (let i = 0; i < ds.idf.length; i += 997) assert.equal(Math.fround(Number(idf[i])), ds.idf[i]);
    const meta = JSON.parse(await readFile(join(a, 'meta.json'), 'utf8')) as { stats: { nTrain: number } };
    assert.equal(meta.stats.nTrain, ds.train.n);
    assert.ok(!(await readdir(a)).some((f) => f.endsWith('.tmp')));
  } finally {
    await rm(a, { recursive: true, force: true });
    await rm(b, { recursive: true, force: true });
  }
});

test('malformed data lines are reported with file:line', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'wn-bad-'));
  try {
    await mkdir(dir, { recursive: true });
    const good = '00000001 03 n 01 thing 0 000 | a thing  \n';
    await writeFile(join(dir, 'data.noun'), '  1 licence header  \n' + good + '00000002 03 n 01 bad 0 no gloss here\n');
    await writeFile(join(dir, 'data.verb'), '');
    await assert.rejects(buildWordnetDataset({ dictPath: dir }), (e: unknown) => {
      assert.ok(e instanceof InputError);
      assert.equal(e.line, 3);
      assert.match(e.message, /data\.noun:3: expected/);
      return true;
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
