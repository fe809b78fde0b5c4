/**
 * The text importer: records of text and labels -> an Extreme Classification Repository data set
 * (train.txt, test.txt), its vocabularies (features.txt, labels.txt, idf.txt) and meta.json, in
 * memory bounded by the vocabulary, not by the input. `sublinear data text` feeds it rows of
 * JSONL / CSV / TSV files; `sublinear data foldoc` feeds it dictionary entries.
 *
 * Pass over the input (add / addTest): each record is tokenized once; tokens and labels get
 * provisional ids (first-seen order) and the row goes to a binary spool file (spool.ts) as those
 * ids. Training rows count document frequencies and label frequencies.
 * Then (finish), the rules, in order:
 * 1. df and N (for idf) over the training rows read that have at least one label.
 * 2. Vocabulary: tokens with df >= minDf; of those, the maxFeatures (0 = all) with the highest df;
 *    feature ids by df descending, then token (JavaScript string order).
 * 3. Eligible labels: those on at least minLabelCount training rows read.
 * 4. Training points: training rows with at least one vocabulary token and one eligible label.
 * 5. Label ids: eligible labels that occur on a training point, by their number of training
 *    points descending, then label string. Every label thus occurs in train.txt.
 * 6. Test points: test rows with at least one vocabulary token and one label of step 5; their
 *    other labels are dropped (counted).
 * Values: (1 + ln tf) * idf, idf 1 under the default weighting `logtf`, L2-normalised per point
 * (tfidf.ts, as predict / serve weigh a query).
 * The spool is read three times: training points and label counts, test points (the XC header
 * needs the point counts first), then the rows written. Every output goes to a temporary file,
 * all are renamed into place only after the last is complete: a failed run leaves no
 * half-written output. Every ordering comes from counts and strings, so the bytes are the same
 * on every run.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { STOPWORDS, TOKENIZER_DESCRIPTION } from './tokenize.js';
import { TokenTable } from './tokenTable.js';
import { DEFAULT_WEIGHTING, WEIGHTINGS, describeWeighting, featureFactor, weighIds, type Weighting } from './tfidf.js';
import { isTestKey } from './split.js';
import { SpoolWriter, SPOOL_TEST, type SpoolReader } from './spool.js';
import { XcRowWriter, formatFloat32 } from '../xcWriter.js';
import { openAtomic, type AtomicWriter } from '../../util/atomicWrite.js';
import { ConfigError } from '../../util/errors.js';

export interface TextImportOptions {
  /** rows added with add() go to test when murmur3(key) / 2^32 < testFraction (split.ts) */
  testFraction: number;
  /** a token needs this many training documents to be a feature (default 1) */
  minDf: number;
  /** keep at most this many features, the most frequent (0 = all) */
  maxFeatures: number;
  /** a label needs this many training rows to be kept (default 1) */
  minLabelCount: number;
  /** values 1 + ln tf (`logtf`, the default) or times idf (`tfidf`), L2-normalised (tfidf.ts) */
  weighting: Weighting;
}

export const DEFAULT_IMPORT_OPTIONS: TextImportOptions = { testFraction: 0.2, minDf: 1, maxFeatures: 0, minLabelCount: 1, weighting: DEFAULT_WEIGHTING };

/** One document: its text, its labels (trimmed, non-empty, without line breaks), and its split key. */
export interface TextRecord {
  text: string;
  labels: readonly string[];
  /** what the split hashes: an id, or anything that identifies the row */
  key: string;
}

/** What became of an added record. `empty-text`: no token at all (the caller decides if that is an error). */
export type AddOutcome = 'train' | 'test' | 'empty-text' | 'no-labels';

/** Rows that were read but are not points, by reason. */
export interface DroppedRows {
  /** rows with an empty label list */
  noLabels: number;
  /** training rows left without a vocabulary token (every token below --min-df or past --max-features) */
  trainNoFeatures: number;
  /** training rows left without a label (every label below --min-label-count) */
  trainNoEligibleLabels: number;
  /** test rows without a vocabulary token */
  testNoFeatures: number;
  /** test rows none of whose labels is a label of the training points */
  testNoKnownLabels: number;
  /** label occurrences removed from training points (labels below --min-label-count) */
  trainLabelOccurrences: number;
  /** label occurrences removed from test points (labels not among the training points') */
  testLabelOccurrences: number;
}

export interface ImportStats {
  nTrain: number;
  nTest: number;
  nFeatures: number;
  nLabels: number;
  /** training documents behind df and idf (rule 1) */
  nDfDocs: number;
  /** distinct tokens and labels seen in training rows (before any cut) */
  tokensSeen: number;
  labelsSeen: number;
  avgLabelsTrain: number;
  avgLabelsTest: number;
  avgNnzTrain: number;
  avgNnzTest: number;
  /** most frequent labels, by number of training points */
  topLabels: { name: string; count: number }[];
  /** labels on exactly one training point */
  singletonLabels: number;
  /** number of labels by training-point count, in power-of-two bins ("1", "2-3", "4-7", ...) */
  labelFrequencyHistogram: Record<string, number>;
  dropped: DroppedRows;
}

export interface ImportResult {
  stats: ImportStats;
  /** seconds of each phase: the pass over the input, choosing the vocabulary and labels, the two spool scans, writing the rows, the vocabulary files (not in meta.json: they vary from run to run) */
  phases: { read: number; vocabulary: number; scans: number; rows: number; vocabularyFiles: number };
  featureNames: string[];
  labelNames: string[];
  idf: Float32Array;
}

/**
 * A data set from records held in memory (the dictionary sets, foldoc.ts and gcide.ts): each one
 * added under the split of `testFraction`, then the set written into `outDir`; the spool is
 * removed if adding throws. `meta(emptyText)` gives meta.json's fields, with the number of
 * records that had no token.
 */
export function importRecords(
  outDir: string,
  records: Iterable<TextRecord>,
  options: { testFraction: number; weighting?: Weighting },
  meta: (emptyText: number) => Record<string, unknown>,
): ImportResult {
  const importer = new TextImporter(outDir, options);
  let emptyText = 0;
  try {
    for (const rec of records) if (importer.add(rec) === 'empty-text') emptyText++;
  } catch (err) {
    importer.abort();
    throw err;
  }
  return importer.finish(outDir, meta(emptyText));
}

/** Growable Int32Array with a length. */
class IntList {
  a = new Int32Array(1024);
  n = 0;
  push(v: number): void {
    if (this.n === this.a.length) {
      const b = new Int32Array(this.a.length * 2);
      b.set(this.a);
      this.a = b;
    }
    this.a[this.n++] = v;
  }
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}

function cmpStr(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export class TextImporter {
  readonly opts: TextImportOptions;
  private readonly spool: SpoolWriter;
  /** token -> provisional id (first seen); tokens.names[id] is the token */
  private readonly tokens = new TokenTable();
  private readonly df = new IntList();
  private readonly tokenStamp = new IntList();
  private readonly labelIds = new Map<string, number>();
  private readonly labelNames: string[] = [];
  private readonly labelCount = new IntList();
  private readonly labelStamp = new IntList();
  private row = 0;
  private nDfDocs = 0;
  private noLabels = 0;
  /** labels of addTest rows that no training row has */
  private unknownTestLabels = 0;
  // per-row scratch
  private labIds = new Int32Array(64);
  private closed = false;
  private readonly t0 = performance.now();
  private tBuild = 0;

  /** `workDir` holds the spool (a temporary file, removed by finish or abort): the output directory is a good choice. */
  constructor(workDir: string, opts: Partial<TextImportOptions> = {}) {
    const given = Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined)) as Partial<TextImportOptions>;
    this.opts = { ...DEFAULT_IMPORT_OPTIONS, ...given };
    validateOptions(this.opts);
    try {
      mkdirSync(workDir, { recursive: true });
    } catch (e) {
      throw new ConfigError(`--out: cannot make the directory ${workDir}: ${(e as Error).message}`);
    }
    this.spool = new SpoolWriter(workDir);
  }

  /** A row of a source that the split divides into train and test. */
  add(rec: TextRecord): AddOutcome {
    const test = this.opts.testFraction > 0 && isTestKey(rec.key, this.opts.testFraction);
    return this.put(rec, test, true);
  }

  /** A row of a separate test source (read after every training row): unknown tokens and labels are dropped at once. */
  addTest(rec: TextRecord): AddOutcome {
    return this.put(rec, true, false);
  }

  private put(rec: TextRecord, test: boolean, grow: boolean): AddOutcome {
    const nt = this.tokens.lookup(rec.text, grow);
    const tokIds = this.tokens.ids;
    if (this.tokens.count === 0) return 'empty-text';
    if (rec.labels.length === 0) {
      this.noLabels++;
      return 'no-labels';
    }
    const stamp = ++this.row;
    while (this.df.n < this.tokens.size) {
      this.df.push(0);
      this.tokenStamp.push(0);
    }
    if (!test) {
      const st = this.tokenStamp.a;
      const df = this.df.a;
      for (let i = 0; i < nt; i++) {
        const id = tokIds[i]!;
        if (st[id] !== stamp) {
          st[id] = stamp;
          df[id]!++;
        }
      }
    }
    if (this.labIds.length < rec.labels.length) this.labIds = new Int32Array(Math.max(rec.labels.length, this.labIds.length * 2));
    let nl = 0;
    let unknownLabels = 0;
    for (const l of rec.labels) {
      let id = this.labelIds.get(l);
      if (id === undefined) {
        if (!grow) {
          unknownLabels++;
          continue;
        }
        id = this.labelNames.length;
        this.labelIds.set(l, id);
        this.labelNames.push(l);
        this.labelCount.push(0);
        this.labelStamp.push(0);
      }
      if (this.labelStamp.a[id] === stamp) continue; // a repeated label
      this.labelStamp.a[id] = stamp;
      this.labIds[nl++] = id;
      if (!test) this.labelCount.a[id]!++;
    }
    if (!test) this.nDfDocs++;
    this.unknownTestLabels += unknownLabels;
    this.spool.append(test ? SPOOL_TEST : 0, this.labIds, nl, tokIds, nt);
    return test ? 'test' : 'train';
  }

  /**
   * Choose the vocabulary and the labels, write the data set into `outDir` (train.txt, test.txt,
   * features.txt, labels.txt, idf.txt, meta.json), and remove the spool. `meta` is merged into
   * meta.json (sources, fields, options of the caller). Throws ConfigError when a split is empty.
   */
  finish(outDir: string, meta: Record<string, unknown>): ImportResult {
    if (this.closed) throw new Error('TextImporter: finish after finish or abort');
    const pending: AtomicWriter[] = [];
    const writers: XcRowWriter[] = [];
    try {
      const result = this.build(outDir, meta, pending, writers);
      for (const w of writers) w.commit();
      for (const w of pending) w.commit();
      return result;
    } finally {
      for (const w of writers) w.abort();
      for (const w of pending) w.abort();
      this.abort();
    }
  }

  /** Remove the spool (after an error while reading the input). */
  abort(): void {
    this.closed = true;
    this.spool.dispose();
  }

  private build(outDir: string, meta: Record<string, unknown>, pending: AtomicWriter[], writers: XcRowWriter[]): ImportResult {
    const { minDf, maxFeatures, minLabelCount } = this.opts;
    const nTok = this.tokens.size;
    while (this.df.n < nTok) this.df.push(0); // tokens of rows that were dropped for no labels
    const nLab = this.labelNames.length;
    const df = this.df.a;

    this.tBuild = performance.now();
    // Rule 2: the vocabulary.
    const cand: number[] = [];
    let tokensSeen = 0;
    for (let id = 0; id < nTok; id++) {
      if (df[id]! > 0) tokensSeen++;
      if (df[id]! >= minDf && df[id]! > 0) cand.push(id);
    }
    const names = this.tokens.names;
    cand.sort((a, b) => df[b]! - df[a]! || cmpStr(names[a]!, names[b]!));
    if (maxFeatures > 0 && cand.length > maxFeatures) cand.length = maxFeatures;
    const featureOf = new Int32Array(nTok).fill(-1);
    const featureNames: string[] = new Array<string>(cand.length);
    const idf = new Float32Array(cand.length);
    cand.forEach((id, f) => {
      featureOf[id] = f;
      featureNames[f] = names[id]!;
      idf[f] = featureFactor(this.opts.weighting, this.nDfDocs, df[id]!);
    });

    // Rule 3: eligible labels.
    const eligible = new Uint8Array(nLab);
    let labelsSeen = 0;
    for (let l = 0; l < nLab; l++) {
      if (this.labelCount.a[l]! > 0) labelsSeen++;
      if (this.labelCount.a[l]! >= minLabelCount) eligible[l] = 1;
    }

    const dropped: DroppedRows = {
      noLabels: this.noLabels,
      trainNoFeatures: 0,
      trainNoEligibleLabels: 0,
      testNoFeatures: 0,
      testNoKnownLabels: 0,
      trainLabelOccurrences: 0,
      testLabelOccurrences: this.unknownTestLabels,
    };
    const hasFeature = (r: SpoolReader): boolean => {
      for (let k = r.tokensAt, e = r.tokensAt + r.nTokens; k < e; k++) if (featureOf[r.ints[k]!]! >= 0) return true;
      return false;
    };

    const tVocab = performance.now();
    // Rules 4 and 5: training points and the label counts over them.
    const pointCount = new Int32Array(nLab);
    let nTrain = 0;
    for (const r = this.spool.read(); r.next(); ) {
      if (r.flags & SPOOL_TEST) continue;
      let any = false;
      for (let k = r.labelsAt, e = r.labelsAt + r.nLabels; k < e; k++) if (eligible[r.ints[k]!]) any = true;
      if (!any) {
        dropped.trainNoEligibleLabels++;
        continue;
      }
      if (!hasFeature(r)) {
        dropped.trainNoFeatures++;
        continue;
      }
      nTrain++;
      for (let k = r.labelsAt, e = r.labelsAt + r.nLabels; k < e; k++) {
        const l = r.ints[k]!;
        if (eligible[l]) pointCount[l]!++;
        else dropped.trainLabelOccurrences++;
      }
    }
    const labelOrder: number[] = [];
    for (let l = 0; l < nLab; l++) if (pointCount[l]! > 0) labelOrder.push(l);
    const labelNames = this.labelNames;
    labelOrder.sort((a, b) => pointCount[b]! - pointCount[a]! || cmpStr(labelNames[a]!, labelNames[b]!));
    const labelOf = new Int32Array(nLab).fill(-1);
    labelOrder.forEach((l, i) => (labelOf[l] = i));

    // Rule 6: test points.
    let nTest = 0;
    for (const r = this.spool.read(); r.next(); ) {
      if (!(r.flags & SPOOL_TEST)) continue;
      if (!hasFeature(r)) {
        dropped.testNoFeatures++;
        continue;
      }
      let any = false;
      for (let k = r.labelsAt, e = r.labelsAt + r.nLabels; k < e; k++) if (labelOf[r.ints[k]!]! >= 0) any = true;
      if (!any) dropped.testNoKnownLabels++;
      else nTest++;
    }
    if (nTrain === 0) throw new ConfigError('no training point is left: every training row was bad, unlabelled, or lost its words or labels to --min-df / --max-features / --min-label-count');
    if (nTest === 0) throw new ConfigError('no test point is left: the test split is empty (raise --test-fraction, or give --test FILE with rows that share words and labels with the training rows)');

    const tScan = performance.now();
    // The rows.
    const nFeatures = featureNames.length;
    const nLabels = labelOrder.length;
    const train = new XcRowWriter(join(outDir, 'train.txt'), { n: nTrain, nFeatures, nLabels });
    writers.push(train);
    const test = new XcRowWriter(join(outDir, 'test.txt'), { n: nTest, nFeatures, nLabels });
    writers.push(test);
    let ids = new Int32Array(1024);
    let idx = new Int32Array(1024);
    let val = new Float32Array(1024);
    let lab = new Int32Array(64);
    const sums = { trainLabels: 0, trainNnz: 0, testLabels: 0, testNnz: 0 };
    for (const r = this.spool.read(); r.next(); ) {
      const isTest = (r.flags & SPOOL_TEST) !== 0;
      if (ids.length < r.nTokens) {
        ids = new Int32Array(r.nTokens * 2);
        idx = new Int32Array(r.nTokens * 2);
        val = new Float32Array(r.nTokens * 2);
      }
      if (lab.length < r.nLabels) lab = new Int32Array(r.nLabels * 2);
      let nl = 0;
      for (let k = r.labelsAt, e = r.labelsAt + r.nLabels; k < e; k++) {
        const l = r.ints[k]!;
        if (isTest ? labelOf[l]! >= 0 : eligible[l] === 1) lab[nl++] = labelOf[l]!;
      }
      let nt = 0;
      for (let k = r.tokensAt, e = r.tokensAt + r.nTokens; k < e; k++) {
        const f = featureOf[r.ints[k]!]!;
        if (f >= 0) ids[nt++] = f;
      }
      if (nl === 0 || nt === 0) continue; // dropped, counted above
      if (isTest) dropped.testLabelOccurrences += r.nLabels - nl;
      lab.subarray(0, nl).sort();
      const nnz = weighIds(ids, nt, idf, idx, val);
      (isTest ? test : train).writeRow(lab, nl, idx, val, nnz);
      if (isTest) {
        sums.testLabels += nl;
        sums.testNnz += nnz;
      } else {
        sums.trainLabels += nl;
        sums.trainNnz += nnz;
      }
    }

    const tRows = performance.now();
    const histogram: Record<string, number> = {};
    for (let lo = 1; lo <= (pointCount[labelOrder[0]!] ?? 0); lo *= 2) {
      const hi = lo * 2 - 1;
      let c = 0;
      for (const l of labelOrder) if (pointCount[l]! >= lo && pointCount[l]! <= hi) c++;
      histogram[lo === hi ? `${lo}` : `${lo}-${hi}`] = c;
    }
    const finalNames = labelOrder.map((l) => labelNames[l]!);
    const stats: ImportStats = {
      nTrain,
      nTest,
      nFeatures,
      nLabels,
      nDfDocs: this.nDfDocs,
      tokensSeen,
      labelsSeen,
      avgLabelsTrain: round3(sums.trainLabels / nTrain),
      avgLabelsTest: round3(sums.testLabels / nTest),
      avgNnzTrain: round3(sums.trainNnz / nTrain),
      avgNnzTest: round3(sums.testNnz / nTest),
      topLabels: labelOrder.slice(0, 10).map((l) => ({ name: labelNames[l]!, count: pointCount[l]! })),
      singletonLabels: labelOrder.reduce((c, l) => c + (pointCount[l] === 1 ? 1 : 0), 0),
      labelFrequencyHistogram: histogram,
      dropped,
    };

    const lines = (w: AtomicWriter, xs: Iterable<string>): void => {
      let chunk = '';
      for (const x of xs) {
        chunk += x + '\n';
        if (chunk.length >= 1 << 16) {
          w.write(chunk);
          chunk = '';
        }
      }
      if (chunk.length > 0) w.write(chunk);
    };
    const open = (name: string): AtomicWriter => {
      const w = openAtomic(join(outDir, name));
      pending.push(w);
      return w;
    };
    lines(open('features.txt'), featureNames);
    lines(open('labels.txt'), finalNames);
    lines(open('idf.txt'), Array.from(idf, (x) => formatFloat32(x)));
    const weighting = describeWeighting(this.opts.weighting, 'the training rows read that have a label');
    const metaOut = {
      ...meta,
      tokenizer: TOKENIZER_DESCRIPTION,
      features: `vocabulary: tokens in at least minDf training documents, at most maxFeatures (0 = all) by document frequency; ids by df descending, then token; value ${weighting.features}`,
      idf: weighting.idf,
      labels: 'labels on at least minLabelCount training rows read and on a training point; ids by number of training points descending, then label string',
      options: { ...this.opts },
      stopwords: [...STOPWORDS].sort(cmpStr),
      stats,
    };
    open('meta.json').write(JSON.stringify(metaOut, null, 2) + '\n');
    const tEnd = performance.now();
    const phases = {
      read: (this.tBuild - this.t0) / 1000,
      vocabulary: (tVocab - this.tBuild) / 1000,
      scans: (tScan - tVocab) / 1000,
      rows: (tRows - tScan) / 1000,
      vocabularyFiles: (tEnd - tRows) / 1000,
    };
    return { stats, featureNames, labelNames: finalNames, idf, phases };
  }
}

function validateOptions(o: TextImportOptions): void {
  if (!(o.testFraction >= 0 && o.testFraction < 1)) throw new ConfigError(`--test-fraction: expected a number in [0, 1), found ${o.testFraction}`);
  if (!Number.isInteger(o.minDf) || o.minDf < 1) throw new ConfigError(`--min-df: expected an integer >= 1, found ${o.minDf}`);
  if (!Number.isInteger(o.maxFeatures) || o.maxFeatures < 0) throw new ConfigError(`--max-features: expected an integer >= 0 (0 = all), found ${o.maxFeatures}`);
  if (!Number.isInteger(o.minLabelCount) || o.minLabelCount < 1) throw new ConfigError(`--min-label-count: expected an integer >= 1, found ${o.minLabelCount}`);
  if (!WEIGHTINGS.includes(o.weighting)) throw new ConfigError(`--weighting: expected ${WEIGHTINGS.join(' or ')}, found ${JSON.stringify(o.weighting)}`);
}
