/**
 * Training settings derived from the data's shape and the machine: every setting a user does not
 * give, with the reason for it. `sublinear train` prints them (`--explain-config` prints them
 * without training); the accuracy benchmark's `sublinear-defaults` system trains with them.
 *
 * The rule is the WordNet recipe's settings (tuned on WordNet: src/training/recipes.ts lists the
 * runs) written as functions of the shape, so that WordNet's shape gives the recipe back exactly
 * (tested) and other shapes scale the parts that depend on them:
 *  - the hash tables: one-bit SimHash codes (structured projections, the fastest in the kernels),
 *    K bits a table so that a bucket holds ~300 labels (WordNet: 2^6 buckets of 19K labels), 150
 *    tables: the vote count of a label is a smooth measure of its angle to the query;
 *  - the candidates: the labels found in most tables, ~4.4 sqrt(labels) of them (WordNet: 600 of
 *    19K), at most 4,096 and at most 5% of the labels beyond 20K labels: the softmax needs enough
 *    near misses to learn from, and their number grows slower than the labels;
 *  - and the labels with the largest biases, an eighth as many: frequent labels score high for most
 *    inputs with small weights, and tables keyed by angle miss them (src/config.ts, topBias);
 *  - four times the candidates at inference and at least 1,000, within max(1,000, 5% of the
 *    labels): a query computes no backward and no update, and the candidates a cap leaves out are
 *    the misses of the exact top 5 (src/config.ts, queryMaxActive; queryCandidatesFor);
 *  - dense output up to 128 labels, where a sample's candidates would be every label; above,
 *    128 candidates learned as well as every label or better, as fast or faster (DENSE_MAX_LABELS);
 *  - the hidden width the output layer's work a sample allows: WordNet's 600 candidates x 256
 *    multiply-adds, as a power of two from 128 to 512 (fewer candidates, or a dense layer of few
 *    labels, afford a wider layer; many candidates a narrower one). Measured, LSH P@1 over seeds
 *    1-3: FOLDOC (400 candidates) 0.590 at 128, 0.600 at 256, 0.610 at 512; synth-tiny (dense,
 *    200 labels; seeds 1-2) 0.976 at 128, 0.983 at 512; synth-small (300 candidates) 0.970 at
 *    256 and 0.968 at 512; the 31K-label synthetic set (750 candidates) 0.958 at 256 and 0.955
 *    at 512 (exact 0.971 either way: the wider layer's SimHash codes retrieve less); a 100K-label
 *    synthetic set (100K points, 1,400 candidates) 0.939 at 128 and 0.914 at 256 (exact 0.944 /
 *    0.941), 3,606 against 2,377 samples/s;
 *  - the optimisation: batches of 256 samples where an epoch makes at least 100 of them, else
 *    128 (BIG_BATCH_STEPS: the larger batch halves the steps, each update and rebuild serving twice
 *    the samples, up to ~25% faster; on sets of 26,000 points and more it learned better on four,
 *    as well on WordNet, worse on three (the reverse dictionary by 0.008); small sets need their
 *    steps), Adam at 0.01 (0.01 x 8 / labels a point beyond 8: LR_LABELS) with a cosine decay to
 *    a tenth, decoupled weight decay 0.05, over
 *    about 460,800 samples (6 WordNet epochs; 3 to 40 epochs, whatever the batch): small sets
 *    take more passes, large ones fewer; and at most ~1.4 million label occurrences (WordNet's 6
 *    epochs of 3.07 labels a point): a point of many labels teaches as many, and the passes
 *    beyond overfit. Measured, LSH P@1: the 31K-label synthetic set (5 labels a point) 0.968
 *    after 6 epochs, 0.964 after the 10 the batches alone gave; a Delicious-like synthetic set
 *    (983 labels, 19 a point, 12,920 points) 0.941 after 6, 0.929 after 10, 0.848 after 36;
 *    FOLDOC (4.45 a point) 0.613 after 38, 0.607 after 40; the 100K-label set (4 a point) 0.920
 *    after 3, 0.933 after 4, 0.934 after 5; and at least ~20 occurrences of the mean label, where
 *    many labels have few points each (the 100K-label set: 5 epochs; LABEL_VISITS), but no more
 *    than 12 epochs for those visits (VISITS_MAX_EPOCHS: 150,000 labels over 40,000 points, 38
 *    -> 12 epochs, 632 -> 196 s, the same P@1);
 *  - rebuilds after 6, 12, 19, ... batches (n0 5, lambda 0.1): fresh tables early, when the
 *    weights move most; n0 grows with labels / (batch x candidates), the cost of a rebuild
 *    against that of a batch, beyond WordNet's; and the gaps grow more slowly with tables of
 *    more bits than WordNet's 6, which a drifting row leaves sooner (rebuildLambdaFor);
 *  - the input rows as they are where they have unit L2 length (every set above: weighted words
 *    or synthetic values, L2-normalised), else each scaled to unit length: the rates and initial weights were chosen on
 *    unit rows. Measured, LSH P@1 as given / scaled (1 thread, `sublinear train`): the 31K-label
 *    synthetic set with its values as counts 1..20 (round(20 v)), 0.534 / 0.969 (its unit rows:
 *    0.968); FOLDOC the same way, 0.377 / 0.605 (unit rows: 0.613); 20,000 dense 300-dimensional
 *    signed embeddings (Gaussian around 2,000 prototypes, length ~31), 0.818 / 0.861;
 *  - where every value is a whole number and some exceed 1 (term counts), a count c weighed as
 *    1 + ln c before that scaling (the figures beside the setting in deriveConfig);
 *  - the input layer's initial weights drawn as Glorot's for the non-zeros of a mean row, not
 *    for every feature: a hidden unit sums only those, and with the feature count as fan-in it
 *    starts ~17x smaller (WordNet: sqrt((80,857 + 256) / (9 + 256))), while an output row's
 *    step (~lr a weight, Adam) moves its logit by ~lr x |h|_1: the first epochs then teach
 *    little (src/config.ts, inputFanIn; figures beside the setting);
 *  - every core, and a hidden width the machine's memory holds;
 *  - about ten intermediate test evaluations a run (each scores its sample against every label).
 * Given settings always win; settings that depend on a given one follow it (a given hidden width
 * is the one the memory check uses, a given dense mode needs no tables).
 */
import { availableParallelism, totalmem } from 'node:os';
import { mergeConfig, parseConfig, type Config, type ConfigInput } from '../config.js';
import { rowLength, type XcDataset } from '../data/csr.js';
import { checkModelMemory, formatBytes, MemoryLimitError } from '../network/estimate.js';
import { tableRangePow } from '../layers/sampler.js';

/** What the rule reads of a data set. */
export interface DataShape {
  points: number;
  features: number;
  labels: number;
  /** mean labels and non-zero features a training point */
  labelsPerPoint: number;
  nnzPerPoint: number;
  /**
   * the rows' L2 lengths (training and test rows with a feature): every one within UNIT_TOLERANCE
   * of 1 (absent: taken as so), and their median
   */
  rowNorm?: { unit: boolean; median: number };
  /**
   * where every non-zero value (training and test) is a whole number of at least 1 and some are
   * larger, as term counts are: the largest; absent otherwise
   */
  countsMax?: number;
}

export interface MachineShape {
  cores: number;
  memoryBytes: number;
  /** the memory a model may take (--max-memory; default 90% of memoryBytes) */
  limitBytes?: number;
  /** the output layer is held by shard processes: only the trainer's part must fit here */
  remoteOutput?: boolean;
}

/** One setting of the derived configuration: its dotted path, value and why. */
export interface DerivedSetting {
  path: string;
  value: unknown;
  reason: string;
  /** the user gave it (it wins over the rule) */
  given: boolean;
}

/** The shape of a training set; features, labels and row lengths also count a test set's (the model holds both). */
export function dataShapeOf(train: XcDataset, test?: XcDataset): DataShape {
  const n = Math.max(1, train.n);
  const sets = test ? [train, test] : [train];
  return {
    points: train.n,
    features: Math.max(train.nFeatures, test?.nFeatures ?? 0),
    labels: Math.max(train.nLabels, test?.nLabels ?? 0),
    labelsPerPoint: train.labelPtr[train.n]! / n,
    nnzPerPoint: train.featPtr[train.n]! / n,
    rowNorm: rowNormsOf(sets),
    ...countsOf(sets),
  };
}

/** DataShape.countsMax of these sets' values. */
function countsOf(sets: XcDataset[]): { countsMax?: number } {
  let max = 0;
  for (const d of sets) {
    const v = d.featVal;
    for (let i = d.featPtr[0]!; i < d.featPtr[d.n]!; i++) {
      const x = v[i]!;
      if (x === 0) continue;
      if (!(x >= 1 && Number.isInteger(x))) return {};
      if (x > max) max = x;
    }
  }
  return max > 1 ? { countsMax: max } : {};
}

/** Rows whose L2 length is within this of 1 count as unit rows (files round their values). */
const UNIT_TOLERANCE = 0.01;
/** DataShape.rowNorm where nothing tells the lengths (no rows with a non-zero, or no rowNorm given). */
const UNIT_ROWS = Object.freeze({ unit: true, median: 1 });

/** DataShape.rowNorm of these sets' rows (rows without a non-zero value left out). */
function rowNormsOf(sets: XcDataset[]): { unit: boolean; median: number } {
  const norms = new Float64Array(sets.reduce((a, d) => a + d.n, 0));
  let n = 0;
  let unit = true;
  for (const d of sets) {
    for (let r = 0; r < d.n; r++) {
      const x = rowLength(d.featVal, d.featPtr[r]!, d.featPtr[r + 1]!);
      if (x === 0) continue;
      if (!(Math.abs(x - 1) <= UNIT_TOLERANCE)) unit = false;
      norms[n++] = x;
    }
  }
  if (n === 0) return UNIT_ROWS;
  const sorted = norms.subarray(0, n).sort();
  return { unit, median: sorted[n >> 1]! };
}

export function currentMachine(over: Partial<MachineShape> = {}): MachineShape {
  return { cores: availableParallelism(), memoryBytes: totalmem(), ...over };
}

/** The fewest candidates a training sample gets (candidatesFor). */
const MIN_CANDIDATES = 128;
/**
 * Labels at or below which the output layer is dense: up to MIN_CANDIDATES a sample's candidates
 * are every label, which a dense layer computes without tables. Above, 128 candidates by votes
 * learned as well as every label or better, at the same speed or faster (`sublinear train`, the
 * derived settings, 512 wide either way, 2 threads; P@1 / P@5, dense against LSH, LSH inference
 * then scoring every label): synthetic sets of 200 labels (2,000 points, seeds 1 and 2) 0.982 /
 * 0.348 against 0.984 / 0.348, and 0.958 / 0.349 against 0.964 / 0.352; 300 labels (15,000
 * points) 1.000 / 0.560 against 1.000 / 0.560, 18,849 against 21,904 samples/s; 400 labels
 * (10,000 points) 0.995 / 0.367 against 0.996 / 0.368, 17,506 against 21,419; 400 labels over
 * dense 300-dimensional embeddings (8,000 points) 0.949 / 0.297 against 0.960 / 0.298, 12,663
 * against 17,107; a real set, WordNet's split kept to its 300 most frequent labels (53,813
 * training points), 0.677 / 0.325 against 0.679 / 0.325, 16,888 against 17,998. (The limit was
 * 512 labels, from speed alone: hidden 256, 500 labels, dense 7,751 and 10,601 samples/s
 * against LSH 12,910 and 10,459.)
 */
export const DENSE_MAX_LABELS = MIN_CANDIDATES;
/** Labels a bucket should hold: the tables' K follows from it. */
const BUCKET_TARGET = 300;
/** The narrowest hidden layer the rule tries to fit the memory. */
const MIN_HIDDEN = 16;
/** Output-layer multiply-adds a training sample, per unit of hidden width times candidates: WordNet's 600 x 256. */
const OUTPUT_WORK = 600 * 256;
/**
 * Steps an epoch below which the batch stays at 128 samples. Where an epoch makes more (176+ of
 * 256), 256 took up to ~25% less time and learned better on the 31K-, 100K-label, product-search-like
 * sets and GCIDE, as well on WordNet, 0.002 worse on the lexicographer-file set and a noisy
 * 50,000-point set, and 0.008 worse on the reverse dictionary (two seeds each for it and the 31K
 * set); below, it learned worse on every set measured (8,302-20,000 points: 32-78 steps).
 */
const BIG_BATCH_STEPS = 100;
/** The batch of sets whose epochs make at least BIG_BATCH_STEPS of it; SMALL_BATCH below (WordNet's recipe of 128 before). */
const BIG_BATCH = 256;
const SMALL_BATCH = 128;
/** Samples the optimisation runs over: WordNet's 6 epochs of 76,290 points (3,600 of its batches of 128). */
const TARGET_SAMPLES = 3600 * 128;
/** Intermediate test evaluations a run makes at most (evalEvery); a run of up to this many epochs evaluates after each. */
const EVALUATIONS = 10;
/** Label occurrences the optimisation sees at most: WordNet's 6 epochs of 76,290 points x 3.07 labels (~1.4 million). */
const MAX_OCCURRENCES = 6 * 76_290 * 3.07;
/**
 * Training occurrences of the mean label the optimisation sees at least, over all epochs. Where
 * labels outnumber their occurrences (many labels of a few points each) the batch and occurrence
 * counts stop before a label's row has learned; LSH P@1 on such sets rose up to ~20 and no
 * further: the 100K-label synthetic set (4 occurrences a label) 0.920 / 0.933 / 0.934 after 12 /
 * 16 / 20; a product-search-like synthetic set (100K points of 5 features and 1 label among
 * 50K: 2 a label) 0.651 / 0.665 / 0.661 after 10 / 20 / 30.
 */
const LABEL_VISITS = 20;
/**
 * Epochs the visits (LABEL_VISITS) ask for at most. By then the network has learned its training
 * points (train P@1 0.99 after 4 epochs on the product-search-like set and on a set of 150,000
 * labels over 40,000 points, 2 a point, 0.5 occurrences a label an epoch), and further passes
 * move the test P@1 no more: on that set LSH / exact 0.8445 / 0.8474 after the 38 epochs the
 * visits gave (632 s of training, 2 threads), 0.8439 / 0.8459 after 12 (196 s); the
 * product-search-like set 0.651 / 0.665 / 0.661 after 5 / 10 / 15.
 */
const VISITS_MAX_EPOCHS = 12;
/**
 * Occurrences of the mean label an epoch below which half of a training step's candidates are
 * ranked by estimated logit (activeSet.trainRank 'mixed'). Same seeds, 1 thread, LSH / exact P@1,
 * by votes against mixed: product-search-like set (2.0 a label) 0.668 / 0.672 against 0.691 /
 * 0.694; reverse dictionary (3.1) 0.072 / 0.082 against 0.075 / 0.091; 100K-label set (4.0) 0.943
 * / 0.949 against 0.953 / 0.959; FOLDOC (4.9) 0.632 / 0.633 against 0.630 / 0.632; 31K-label set
 * (7.3) 0.970 / 0.976 against 0.971 / 0.976; WordNet (12.3) 0.592 / 0.594 against 0.587 / 0.590.
 * Where it gains, it gains per epoch from the first; it trains ~25-45% fewer samples a second (the
 * estimates of every label with enough votes, ~8,000-45,000 a step).
 */
const MIXED_BELOW = 4.5;
/** Adam's rate where a point has at most LR_LABELS labels (every set measured but the Delicious-like one and one of 30 labels a point). */
const BASE_LR = 0.01;
/**
 * Labels a point beyond which the rate falls as BASE_LR x LR_LABELS / labels a point. Same
 * seeds, `sublinear train`, 2 threads, LSH P@1 / P@5 at 0.01 against the rule's: a set of 30
 * labels a point (5,000 labels, 30,000 points, the most frequent label on 97.6% of them) 0.976 /
 * 0.749 against 0.976 / 0.792 (0.0027; at 0.01 over 10 epochs P@1 fell to 0.54 on the way, at
 * 0.003 it reached 0.980 / 0.923); the Delicious-like set (19 a point) 0.939 / 0.745 against
 * 0.939 / 0.766 (0.0042). At 8 a point (8,000 labels, 60,000 points) a smaller rate lost: 0.968 /
 * 0.730 at 0.01, 0.966 / 0.723 at 0.006, 0.964 / 0.701 at 0.004.
 */
const LR_LABELS = 8;

/** `base` up to `knee`, then base x knee / x (two significant digits): the shape of lrFor and rebuildLambdaFor. */
function fallingBeyond(x: number, knee: number, base: number): number {
  return x <= knee ? base : Number(((base * knee) / x).toPrecision(2));
}

/** Adam's rate for points of `labelsPerPoint` labels: BASE_LR, falling as LR_LABELS / labelsPerPoint beyond LR_LABELS (two significant digits). */
export function lrFor(labelsPerPoint: number): number {
  return fallingBeyond(labelsPerPoint, LR_LABELS, BASE_LR);
}

function getPath(o: unknown, path: string): unknown {
  let x = o;
  for (const p of path.split('.')) {
    if (typeof x !== 'object' || x === null || !Object.prototype.hasOwnProperty.call(x, p)) return undefined;
    x = (x as Record<string, unknown>)[p];
  }
  return x;
}

function putPath(o: Record<string, unknown>, path: string, value: unknown): void {
  const parts = path.split('.');
  let x = o;
  for (const p of parts.slice(0, -1)) {
    if (typeof x[p] !== 'object' || x[p] === null) x[p] = {};
    x = x[p] as Record<string, unknown>;
  }
  x[parts[parts.length - 1]!] = value;
}

/** The number of candidates for `labels` output labels (see the file comment). */
export function candidatesFor(labels: number): number {
  let c = Math.round((4.4 * Math.sqrt(labels)) / 50) * 50;
  if (labels > 20_000) c = Math.min(c, Math.floor(0.05 * labels));
  return Math.max(MIN_CANDIDATES, Math.min(4096, c, labels));
}

/**
 * Candidates of an LSH query when a training step computes `train` of `labels`: four times as
 * many and at least 1,000, within max(1,000, 5% of the labels) and the labels; never fewer than
 * `train`. Below 1,000 the bound costs little (a query computes no backward and no update), and
 * what a smaller cap leaves out is the exact top 5 (saved models queried at both caps: 700
 * labels, 256 -> 700 candidates, P@1 0.947 -> 0.952 = exact, P@5 0.414 -> 0.434; synth-small,
 * 600 -> 1,000, P@1 0.968 -> 0.971, exact top 5 found 82.5% -> 89.8%). Four times, not two, since
 * queries ranked by estimated logit keep finding the exact top 1 up to the bound (saved models,
 * LSH P@1 at twice / four times within the bound, exact: 100K labels 0.9522 / 0.9555 (5,000),
 * 0.9588; product-search-like 0.6912 / 0.6922 (2,500), 0.6939; 31K labels 0.9696 / 0.9699
 * (1,550), 0.9755; the Amazon-670K shape after 0.3 epochs 0.0737 either way (14,400: its
 * voted labels, ~27,000, hold 23% of the exact top 5), the query 25% slower there, 12% at 100K).
 */
export function queryCandidatesFor(labels: number, train: number): number {
  return Math.max(train, Math.min(labels, Math.max(4 * train, 1000), Math.max(1000, Math.floor(0.05 * labels))));
}

/** Bits a table so that a bucket holds about BUCKET_TARGET labels: 4 .. 16. */
export function tableBitsFor(labels: number): number {
  return Math.max(4, Math.min(16, Math.round(Math.log2(labels / BUCKET_TARGET))));
}

/** How fast the rebuild gaps grow (rebuild.lambda) with tables of REBUILD_BITS bits or fewer: WordNet's recipe. */
const REBUILD_LAMBDA = 0.1;
/** WordNet's bits a table (K). */
const REBUILD_BITS = 6;

/**
 * rebuild.lambda for tables of `bits` bits: REBUILD_LAMBDA, times REBUILD_BITS / bits beyond
 * REBUILD_BITS (two significant digits). Why: a label shares a table with a query when all K of
 * its bits agree, so as its row drifts by a small angle its expected votes fall about K times as
 * fast: the tables go stale after K-proportionally fewer batches. Measured on the Amazon-670K shape
 * (K 11), 0.4 epochs, 2 threads, LSH / exact P@1 and the share of exact inference's top 5 that LSH
 * found: lambda 0.1 0.043 / 0.058, 5.6% (at 0.6 epochs, 256 s: 0.069 / 0.073, 21.8%); 0.055 0.068
 * / 0.073, 44.6% (206 s); 0.03 0.077 / 0.076, 70.5% (262 s); 0 0.074 / 0.074, 97.9% (294 s).
 * At 0.1 its sampled test P@1 swung between 0.017 and 0.08 from one evaluation to the next (the
 * accuracy benchmark's runs). Sets of 7 to 9 bits moved within noise (LSH / exact P@1, 0.1
 * against the rule's, the same seeds): 31K labels (7) 0.9734 / 0.9764 against 0.9732 / 0.9755;
 * product-search-like (7) 0.6940 / 0.6968 against 0.6958 / 0.6982; 100K labels (8) 0.9614 /
 * 0.9626 against 0.9592 / 0.9624; 150,000 labels over 40,000 points (9) 0.8439 / 0.8459 against
 * 0.8442 / 0.8461.
 */
export function rebuildLambdaFor(bits: number): number {
  return fallingBeyond(bits, REBUILD_BITS, REBUILD_LAMBDA);
}

function pct(x: number): string {
  return `${Number((100 * x).toPrecision(2))}%`;
}

/** The hidden width for an output layer computing `outputs` neurons a sample: OUTPUT_WORK / outputs as a power of two, 128 .. 512. */
export function hiddenFor(outputs: number): number {
  return 2 ** Math.max(7, Math.min(9, Math.round(Math.log2(OUTPUT_WORK / Math.max(1, outputs)))));
}

/** epochsFor, and what decided it: the samples, the label occurrences or the visits a label needs */
function epochsRule(points: number, labelsPerPoint: number, labels: number): { epochs: number; by: 'samples' | 'occurrences' | 'visits'; perLabel: number } {
  const p = Math.max(1, points);
  const lpp = Math.max(1, labelsPerPoint);
  const bySamples = TARGET_SAMPLES / p;
  const byOccurrences = MAX_OCCURRENCES / (p * lpp);
  const perLabel = (p * lpp) / Math.max(1, labels);
  const byVisits = Math.min(VISITS_MAX_EPOCHS, LABEL_VISITS / perLabel);
  const base = Math.min(bySamples, byOccurrences);
  const by = byVisits > base ? 'visits' : byOccurrences < bySamples ? 'occurrences' : 'samples';
  return { epochs: Math.max(3, Math.min(40, Math.round(Math.max(base, byVisits)))), by, perLabel };
}

/**
 * Epochs of about TARGET_SAMPLES samples over `points` (whatever the batch), at most
 * MAX_OCCURRENCES labels of `labelsPerPoint` a point, and at least LABEL_VISITS visits of the mean
 * label among `labels` up to VISITS_MAX_EPOCHS (3 .. 40).
 */
export function epochsFor(points: number, labelsPerPoint: number, labels: number): number {
  return epochsRule(points, labelsPerPoint, labels).epochs;
}

/** The configuration for data of this shape: `given` settings win, the rest come from the rule. */
export function deriveConfig(shape: DataShape, given: ConfigInput = {}, machine: MachineShape = currentMachine()): { config: Config; settings: DerivedSetting[] } {
  const settings: DerivedSetting[] = [];
  const derived: Record<string, unknown> = {};
  /** the given value of `path`, else `value` (recorded with its reason); returns what applies */
  const set = <T>(path: string, value: T, reason: string): T => {
    const g = getPath(given, path);
    if (g !== undefined) {
      settings.push({ path, value: g, reason: 'given', given: true });
      return g as T;
    }
    putPath(derived, path, value);
    settings.push({ path, value, reason, given: false });
    return value;
  };
  const L = shape.labels;
  const n = shape.points;
  /** output neurons a training sample computes: every label, or the candidates */
  let outputs = L;
  set('threads', machine.cores > 1 ? machine.cores : 1, `every core of this machine (${machine.cores}); a run gives the same model on any number`);
  const big = n >= BIG_BATCH_STEPS * BIG_BATCH;
  const batch = set(
    'batchSize',
    big ? BIG_BATCH : SMALL_BATCH,
    big
      ? `${BIG_BATCH} samples a batch (${Math.floor(n / BIG_BATCH)} steps an epoch, at least ${BIG_BATCH_STEPS}): half the steps of 128, each update and rebuild serving twice the samples, in less time and about as well, better or worse by the set (P@1 at 256 / 128, 2 threads: WordNet 0.5917 / 0.5916 in 50 / 64 s of training; 100K labels 0.961 / 0.956; 31K labels 0.973 / 0.970; product-search-like 0.694 / 0.692; GCIDE 0.816 / 0.814; WordNet's lexicographer files 0.719 / 0.721; a noisier 50,000-point set 0.930 / 0.932; the reverse dictionary 0.066 / 0.075)`
      : `${SMALL_BATCH} samples a batch: ${n} points make fewer than ${BIG_BATCH_STEPS} steps of ${BIG_BATCH} an epoch, and a small set needs its steps (LSH P@1 at 128 / 256: FOLDOC, 8,302 points, 0.632 / 0.627; a 20,000-point set 0.889 / 0.887; the Delicious-like set's P@5 0.745 / 0.721)`,
  );
  const mode = set<'lsh' | 'dense'>(
    'output.mode',
    L <= DENSE_MAX_LABELS ? 'dense' : 'lsh',
    L <= DENSE_MAX_LABELS
      ? `${L} labels: at most ${DENSE_MAX_LABELS}, the fewest candidates a sample gets: it would compute every label anyway, and a dense layer needs no tables`
      : `${L} labels: compute only the candidates the hash tables find`,
  );
  if (mode === 'lsh') {
    const K = tableBitsFor(L);
    const family = set('output.hash.family', 'simhash', 'SimHash codes follow the angle between a label\'s weights and the layer input, the order of the logits');
    if (family === 'simhash') set('output.hash.projection', 'hadamard', 'structured projections: the same bits, several times cheaper to compute for rebuilds and queries');
    const bits = set('output.hash.K', K, `${2 ** K} buckets a table hold ~${Math.round(L / 2 ** K)} of the ${L} labels each (about ${BUCKET_TARGET} wanted)`);
    set('output.hash.L', 150, '150 tables: a label\'s votes (the tables it shares with the input) rank the candidates finely');
    // the buckets of the tables the run will build: the K, family, bin size and range that apply,
    // given or derived (a given K of fewer bits than the rule's makes fuller buckets)
    const buckets = 2 ** tableRangePow(parseConfig(mergeConfig(derived, given)).output.hash, L);
    const mean = Math.ceil(L / buckets);
    set('output.hash.bucketSize', Math.max(2048, 4 * mean), `room for ${4 * mean > 2048 ? '4 times the mean bucket' : '2,048, at least 4 times the mean bucket'} (${mean}): a crowded bucket keeps all its labels`);
    const c0 = candidatesFor(L);
    const policy = set('output.activeSet.policy', 'topk', 'the labels found in most tables, a fixed number a sample');
    const applied = set('output.activeSet.maxActive', c0, `${c0} candidates a sample (~4.4 sqrt(labels)${L > 20_000 ? ', at most 5% of the labels' : ''}), the sample's labels among them`);
    // the settings below follow the candidates that apply (0: no cap)
    const cap = applied > 0 ? applied : L;
    outputs = cap;
    const qc = queryCandidatesFor(L, cap);
    set('output.activeSet.queryMaxActive', qc, `${qc} candidates a query (four times a training step's and at least 1,000, within max(1,000, 5% of the labels)): inference computes no backward and no update, and ranked by estimated logit more candidates keep finding the exact top label (100K labels: 2,800 -> 5,000, LSH P@1 0.952 -> 0.956, exact 0.959)`);
    set('output.activeSet.minActive', 0, 'no random padding: the top of the votes are the useful negatives');
    const tb = Math.round(cap / 8);
    set('output.activeSet.topBias', tb, `the ${tb} labels with the largest biases too (an eighth of the candidates): frequent labels score high with small weights, which tables keyed by angle miss`);
    if (family === 'simhash' && policy === 'topk' && getPath(given, 'output.hash.mips') !== true) {
      const perLabel = (n * Math.max(1, shape.labelsPerPoint)) / Math.max(1, L);
      const few = perLabel < MIXED_BELOW;
      set<'votes' | 'mixed'>(
        'output.activeSet.trainRank',
        few ? 'mixed' : 'votes',
        few
          ? `a label occurs ${perLabel.toFixed(1)} times an epoch, fewer than ${MIXED_BELOW}: half of a step's candidates by the logit their votes estimate, the labels that score high without sharing many tables with the input (LSH P@1, 1 thread: product-search-like set 0.668 -> 0.691, 100K labels 0.943 -> 0.953, reverse dictionary 0.072 -> 0.075; ~20-40% fewer samples a second)`
          : `a label occurs ${perLabel.toFixed(1)} times an epoch, at least ${MIXED_BELOW}: a step's candidates by votes (half by estimated logit gained nothing there: WordNet 0.592 -> 0.587, FOLDOC 0.632 -> 0.630, 31K labels 0.970 -> 0.971, at fewer samples a second)`,
      );
      set('output.activeSet.queryRank', 'logit', 'LSH inference ranks the voted labels by the logit their votes estimate (the angle they give x the label\'s centred row length + its bias), not by votes: a long row at a wider angle can outscore a short one (same models, LSH P@1: product-search-like synthetic set 0.633 -> 0.668, exact 0.672; 100K labels 0.932 -> 0.943; WordNet 0.592 either way)');
    }
    const derivedLambda = rebuildLambdaFor(bits);
    const lambda = set('rebuild.lambda', derivedLambda, bits <= REBUILD_BITS
      ? `rebuild gaps grow ${pct(REBUILD_LAMBDA)} each time (WordNet: 25 rebuilds in the first 600 batches, then fewer)`
      : `rebuild gaps grow ${pct(derivedLambda)} each time, not ${pct(REBUILD_LAMBDA)}: a table of ${bits} bits loses a drifting label sooner than one of ${REBUILD_BITS} (as its row turns, its votes fall ~${bits}/${REBUILD_BITS} times as fast), so gaps grow ${REBUILD_BITS}/${bits} as fast (Amazon-670K shape, 11 bits, after 0.4 epochs: LSH found 5.6% of exact inference's top 5 at 10%, 44.6% at 5.5%; P@1 0.043 -> 0.068)`);
    // a rebuild hashes every label, a batch computes batch x candidates of them: the first gap
    // grows with their ratio, so that early rebuilds cost about the same share of a step at any
    // size (WordNet: 19K labels / (128 x 600) -> 5)
    const n0 = Math.max(5, Math.round((20 * L) / (batch * cap)));
    set('rebuild.n0', n0, `first rebuild after ${Math.ceil(n0 * Math.exp(lambda))} batches: the tables follow the weights while they move most${n0 > 5 ? ` (later with more labels: a rebuild hashes all ${L}, a batch computes ${batch} x ${cap})` : ''}`);
  }
  // Counts as given let a word said ten times outweigh ten words said once. Measured with the
  // rest of the rule, 1 thread, LSH / exact P@1 as given (scaled to unit rows) against 1 + ln c:
  // raw counts of FOLDOC's words 0.594 / 0.592 -> 0.628 / 0.628, of GCIDE's 0.804 -> 0.812
  // (dense), of WordNet's 0.582 / 0.586 -> 0.586 / 0.587 (their tf-idf rows then: 0.613, 0.806,
  // 0.581); the 31K-label synthetic set as round(20 v) 0.969 / 0.973 -> 0.978 / 0.981. It lost
  // on two synthetic sets as round(20 v), where a repeat is the generator's signal and never a
  // common word's: long documents (98% ones) 0.945 -> 0.910, the product-search-like set 0.663 /
  // 0.649 -> 0.656 / 0.606. Real texts' counts gained on all three, so texts decide.
  const transform = set<'none' | 'log' | 'binary'>(
    'inputTransform',
    shape.countsMax === undefined ? 'none' : 'log',
    shape.countsMax === undefined
      ? 'values as given (not all whole numbers, or none above 1)'
      : `every value a whole number, 1 to ${shape.countsMax}, as counts are: a count c weighs 1 + ln c (sublinear tf), so that one feature repeated does not drown the rest (FOLDOC's words as raw counts: LSH P@1 0.594 as given, 0.628 so)`,
  );
  const rn = shape.rowNorm ?? UNIT_ROWS;
  // presence rows (a given inputTransform 'binary') have length sqrt(non-zeros), whatever the values
  const unit = rn.unit && transform !== 'binary';
  set<'none' | 'l2'>(
    'inputNorm',
    unit ? 'none' : 'l2',
    unit
      ? 'the rows have unit L2 length already'
      : transform === 'binary'
        ? `presence rows (inputTransform binary) have L2 length sqrt(non-zeros), ~${formatLength(Math.sqrt(shape.nnzPerPoint))} here: each is scaled to unit length, the scale the rates and initial weights suit`
        : `rows of L2 length ${formatLength(rn.median)} (median), not 1: each is scaled to unit length, the scale the rates and initial weights suit (the 31K-label synthetic set as counts: LSH P@1 0.534 as given, 0.969 scaled)`,
  );
  const fanIn = Math.max(1, Math.round(shape.nnzPerPoint));
  set('inputFanIn', fanIn, `the input layer's initial weights drawn as for ${fanIn} inputs, the non-zeros of a mean row (the terms a hidden unit sums), not the ${shape.features} features: with those the hidden units start far smaller and the first epochs barely move a logit (LSH P@1, WordNet 0.583 -> 0.592, FOLDOC 0.626 -> 0.635)`);
  const lr = lrFor(shape.labelsPerPoint);
  set(
    'optimizer.lr',
    lr,
    lr === BASE_LR
      ? `Adam at ${BASE_LR}`
      : `Adam at ${lr}: ${shape.labelsPerPoint.toFixed(1)} labels a point, more than ${LR_LABELS}, so ${BASE_LR} x ${LR_LABELS} / ${shape.labelsPerPoint.toFixed(1)} (at ${BASE_LR}, points of many labels trained unsteadily: P@5 of a set of 30 a point 0.749 against 0.792, of the Delicious-like set 0.745 against 0.766)`,
  );
  set('optimizer.schedule', 'cosine', 'the rate decays along a cosine over the run');
  set('optimizer.minLrFactor', 0.1, 'to a tenth of the rate at the end');
  set('optimizer.weightDecay', 0.05, 'decoupled weight decay 0.05: without it the rare labels overfit after a few epochs');
  const ep = epochsRule(n, shape.labelsPerPoint, L);
  const epochs = set(
    'epochs',
    ep.epochs,
    ep.by === 'visits'
      ? `a label occurs ${ep.perLabel.toFixed(1)} times an epoch (${n} points x ${shape.labelsPerPoint.toFixed(1)} labels over ${L}): about ${LABEL_VISITS} visits teach its row (3 to 40 epochs, at most ${VISITS_MAX_EPOCHS} for the visits: by then the network has learned its training points)`
      : ep.by === 'occurrences'
        ? `~${(MAX_OCCURRENCES / 1e6).toFixed(1)} million label occurrences of ${shape.labelsPerPoint.toFixed(1)} a point over ${n} points, fewer than ${TARGET_SAMPLES} samples would give: more passes overfit (3 to 40 epochs)`
        : `~${TARGET_SAMPLES} samples (WordNet's 6 epochs) over ${n} points (3 to 40 epochs)`,
  );
  // an intermediate evaluation scores its test sample against every label (exact inference): on
  // FOLDOC's 38 epochs of 1.2 s each, one after every epoch took 35 of the run's 79 s
  const every = Math.max(1, Math.ceil(epochs / EVALUATIONS));
  set('evalEvery', every, `test-sample evaluations every ${every === 1 ? 'epoch' : `${every} epochs`}: about ${EVALUATIONS} over the run, not one an epoch of a short one (the final evaluation uses the whole test set)`);
  // the hidden width: from the points, then as wide as the memory holds
  const hidden = getPath(given, 'hidden');
  if (hidden !== undefined) {
    settings.push({ path: 'hidden', value: hidden, reason: 'given', given: true });
  } else {
    let h = hiddenFor(outputs);
    let reason = `${outputs} output neurons a sample: ${h} wide keeps their multiply-adds near WordNet's 600 x 256 (a power of two, 128 to 512)`;
    let first: MemoryLimitError | null = null;
    const limit = machine.limitBytes ?? Math.floor(0.9 * machine.memoryBytes);
    // checkModelMemory's own default (90% of this machine) names itself in its message
    const checkLimit = machine.limitBytes === undefined && machine.memoryBytes === totalmem() ? undefined : limit;
    for (;;) {
      try {
        const cfg = parseConfig(mergeConfig({ ...derived, hidden: [h] }, given));
        checkModelMemory(cfg, shape.features, L, { threads: cfg.threads + 1, slots: cfg.batchSize, maxNnz: Math.max(1, Math.ceil(4 * shape.nnzPerPoint)), maxLabels: 64, topK: 100 }, checkLimit, 'the model', machine.remoteOutput === true);
        break;
      } catch (e) {
        if (!(e instanceof MemoryLimitError)) throw e;
        first ??= e;
        // the width the data asks for is the one to report: narrower ones were tried and failed too
        if (h <= MIN_HIDDEN) throw new MemoryLimitError(`${first.message}; the narrower hidden widths the rule tries, down to ${MIN_HIDDEN}, do not fit either`);
        h /= 2;
        reason = `${h * 2} wide would not fit in ${formatBytes(limit)}${machine.limitBytes === undefined ? ` (90% of this machine's ${formatBytes(machine.memoryBytes)})` : ' (--max-memory)'}`;
      }
    }
    putPath(derived, 'hidden', [h]);
    settings.push({ path: 'hidden', value: [h], reason, given: false });
  }
  return { config: parseConfig(mergeConfig(derived, given)), settings };
}

function formatLength(x: number): string {
  return x >= 100 || x < 0.01 ? x.toExponential(2) : x.toFixed(2);
}

/** The settings as lines: `path = value  (reason)`, given ones marked. */
export function explainSettings(settings: readonly DerivedSetting[]): string[] {
  return settings.map((s) => `${s.path} = ${JSON.stringify(s.value)}${s.given ? '  (given)' : `  (${s.reason})`}`);
}
