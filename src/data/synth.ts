/**
 * Synthetic extreme-classification data whose labels genuinely depend on the features.
 *
 * Model:
 *  - Label popularity follows a power law: label j has weight 1/(rank_j + 1)^zipf where rank is
 *    a seeded random permutation (so popularity is not the id order). Labels are drawn with a
 *    Vose alias table (O(1) per draw, fine for 670K labels).
 *  - Each label j has a signature: `signatureSize` features chosen by hashing (seed, j, slot), so
 *    signatures cost no memory, with positive weights that decay with the slot
 *    (w = (slot+1)^-0.5 * jitter). See `synthLabelSignature`.
 *  - A point draws 1 + Poisson(labelsPerPoint - 1) distinct labels by popularity, and a nnz
 *    target around featuresPerPoint (log-normal spread). About (1 - noise) of its nnz come from
 *    its labels' signatures (label uniform among its labels, slot by the decaying profile,
 *    repeated draws add up like term counts), the rest are uniform random noise features.
 *    Values are positive and each row is L2-normalised; features and labels are sorted
 *    ascending and distinct within a row.
 *  - Train and test are drawn from the same distribution with different random streams.
 *
 * Everything is written straight into preallocated typed arrays (no per-point objects).
 */
import { Rng, mix32 } from '../util/rng.js';
import { ConfigError } from '../util/errors.js';
import type { XcDataset } from './csr.js';

export interface SynthOptions {
  nTrain: number;
  nTest: number;
  nFeatures: number;
  nLabels: number;
  /** average number of non-zero features per point (e.g. 75) */
  featuresPerPoint: number;
  /** average number of labels per point (>= 1, e.g. 5) */
  labelsPerPoint: number;
  /** features per label signature; default clamp(floor(nFeatures / 50), 4, 30) */
  signatureSize?: number;
  /** power-law exponent of label frequencies; default 1.0 */
  zipf?: number;
  /** fraction of a point's features that are uniform random noise; default 0.2 */
  noise?: number;
  seed: number;
}

export const SYNTH_SHAPES: Record<string, Omit<SynthOptions, 'seed'>> = {
  tiny: { nTrain: 2000, nTest: 500, nFeatures: 1000, nLabels: 200, featuresPerPoint: 20, labelsPerPoint: 2 },
  small: { nTrain: 20000, nTest: 5000, nFeatures: 10000, nLabels: 5000, featuresPerPoint: 40, labelsPerPoint: 3 },
  'amazon-670k': {
    nTrain: 490449,
    nTest: 153025,
    nFeatures: 135909,
    nLabels: 670091,
    featuresPerPoint: 75,
    labelsPerPoint: 5,
    // flatter than the default 1.0 so that, as in the real data set, the top label is in ~1% of
    // points rather than ~30% and nearly all labels occur
    zipf: 0.6,
  },
};

/** Slot weight profile exponent: signature slot k is drawn with probability ∝ (k+1)^-SLOT_DECAY. */
const SLOT_DECAY = 0.5;
/** log-normal sigma of the per-point nnz target */
const NNZ_SIGMA = 0.35;
/** value scale of a noise feature relative to the heaviest signature slot */
const NOISE_SCALE = 0.3;

interface Resolved {
  nTrain: number;
  nTest: number;
  nFeatures: number;
  nLabels: number;
  featuresPerPoint: number;
  labelsPerPoint: number;
  signatureSize: number;
  zipf: number;
  noise: number;
  seed: number;
}

function resolve(o: SynthOptions): Resolved {
  const int = (name: string, v: number, min: number): void => {
    if (!Number.isInteger(v) || v < min) throw new ConfigError(`synthetic data: ${name} must be an integer >= ${min}, got ${v}`);
  };
  int('nTrain', o.nTrain, 1);
  int('nTest', o.nTest, 1);
  int('nFeatures', o.nFeatures, 2);
  int('nLabels', o.nLabels, 1);
  if (o.nFeatures > 0x7fffffff || o.nLabels > 0x7fffffff) throw new ConfigError('synthetic data: dimensions must fit in int32');
  if (!(o.featuresPerPoint >= 1 && o.featuresPerPoint <= o.nFeatures / 2)) {
    throw new ConfigError(`synthetic data: featuresPerPoint must be in [1, nFeatures/2 = ${o.nFeatures / 2}], got ${o.featuresPerPoint}`);
  }
  if (!(o.labelsPerPoint >= 1 && o.labelsPerPoint <= o.nLabels)) {
    throw new ConfigError(`synthetic data: labelsPerPoint must be in [1, nLabels = ${o.nLabels}], got ${o.labelsPerPoint}`);
  }
  const signatureSize = o.signatureSize ?? Math.max(4, Math.min(30, Math.floor(o.nFeatures / 50)));
  int('signatureSize', signatureSize, 1);
  if (signatureSize > o.nFeatures) throw new ConfigError(`synthetic data: signatureSize must be <= nFeatures, got ${signatureSize}`);
  const zipf = o.zipf ?? 1.0;
  if (!(zipf >= 0 && zipf <= 10)) throw new ConfigError(`synthetic data: zipf must be in [0, 10], got ${zipf}`);
  const noise = o.noise ?? 0.2;
  if (!(noise >= 0 && noise <= 1)) throw new ConfigError(`synthetic data: noise must be in [0, 1], got ${noise}`);
  if (!Number.isFinite(o.seed)) throw new ConfigError(`synthetic data: seed must be a finite number, got ${o.seed}`);
  return { ...o, signatureSize, zipf, noise, seed: o.seed >>> 0 };
}

/** Key of the signature hash, a pure function of the seed. */
function signatureKey(seed: number): number {
  return mix32((seed ^ 0x5eed51c3) >>> 0);
}

function slotHash(key: number, label: number, slot: number): number {
  return mix32((mix32(key ^ label) + Math.imul(slot + 1, 0x9e3779b9)) >>> 0);
}

/** The distinct features of label j's signature (sorted ascending), as the generator uses them. */
export function synthLabelSignature(opts: SynthOptions, label: number): Int32Array {
  const o = resolve(opts);
  const key = signatureKey(o.seed);
  const out = new Int32Array(o.signatureSize);
  for (let k = 0; k < o.signatureSize; k++) out[k] = slotHash(key, label, k) % o.nFeatures;
  out.sort();
  let m = 0;
  for (let k = 0; k < out.length; k++) if (k === 0 || out[k] !== out[m - 1]) out[m++] = out[k]!;
  return out.slice(0, m);
}

/** Vose alias table over weights (need not be normalised). */
class AliasTable {
  readonly prob: Float64Array;
  readonly alias: Int32Array;
  readonly n: number;

  constructor(w: Float64Array) {
    const n = w.length;
    this.n = n;
    this.prob = new Float64Array(n);
    this.alias = new Int32Array(n);
    let sum = 0;
    for (let i = 0; i < n; i++) sum += w[i]!;
    const scaled = new Float64Array(n);
    const small = new Int32Array(n);
    const large = new Int32Array(n);
    let ns = 0;
    let nl = 0;
    for (let i = 0; i < n; i++) {
      scaled[i] = (w[i]! * n) / sum;
      if (scaled[i]! < 1) small[ns++] = i;
      else large[nl++] = i;
    }
    while (ns > 0 && nl > 0) {
      const s = small[--ns]!;
      const l = large[nl - 1]!;
      this.prob[s] = scaled[s]!;
      this.alias[s] = l;
      scaled[l] = scaled[l]! + scaled[s]! - 1;
      if (scaled[l]! < 1) {
        nl--;
        small[ns++] = l;
      }
    }
    while (nl > 0) {
      const l = large[--nl]!;
      this.prob[l] = 1;
      this.alias[l] = l;
    }
    while (ns > 0) {
      const s = small[--ns]!;
      this.prob[s] = 1;
      this.alias[s] = s;
    }
  }

  draw(rng: Rng): number {
    const u = rng.nextFloat() * this.n;
    const i = Math.floor(u);
    return u - i < this.prob[i]! ? i : this.alias[i]!;
  }
}

function poisson(rng: Rng, lambda: number): number {
  if (lambda <= 0) return 0;
  if (lambda > 30) return Math.max(0, Math.round(lambda + Math.sqrt(lambda) * rng.nextGaussian()));
  const l = Math.exp(-lambda);
  let k = 0;
  let p = rng.nextFloat();
  while (p > l) {
    k++;
    p *= rng.nextFloat();
  }
  return k;
}

interface Model {
  o: Resolved;
  labels: AliasTable;
  slots: AliasTable;
  /** slot weight profile (max 1) */
  slotW: Float64Array;
  key: number;
  labelStamp: Int32Array;
  featStamp: Int32Array;
  acc: Float64Array;
  scratch: Int32Array;
  stamp: number;
}

function generateSplit(m: Model, n: number, rng: Rng): XcDataset {
  const o = m.o;
  const { nFeatures, nLabels, signatureSize: S } = o;
  const maxL = Math.min(nLabels, Math.max(1, Math.ceil(o.labelsPerPoint * 10)));
  const maxK = Math.max(1, Math.floor(nFeatures / 2));

  // pass 1: per-point label count and nnz target (so storage is allocated exactly once)
  const featPtr = new Int32Array(n + 1);
  const labelPtr = new Int32Array(n + 1);
  for (let i = 0; i < n; i++) {
    const L = Math.min(maxL, 1 + poisson(rng, o.labelsPerPoint - 1));
    const g = rng.nextGaussian();
    const K = Math.min(maxK, Math.max(1, Math.round(o.featuresPerPoint * Math.exp(NNZ_SIGMA * g - (NNZ_SIGMA * NNZ_SIGMA) / 2))));
    labelPtr[i + 1] = labelPtr[i]! + L;
    featPtr[i + 1] = featPtr[i]! + K;
  }
  const labelIdx = new Int32Array(labelPtr[n]!);
  const featIdx = new Int32Array(featPtr[n]!);
  const featVal = new Float32Array(featPtr[n]!);

  const { labelStamp, featStamp, acc, scratch, slotW, key } = m;
  for (let i = 0; i < n; i++) {
    const st = ++m.stamp;
    // labels: distinct, by popularity
    const lp = labelPtr[i]!;
    const L = labelPtr[i + 1]! - lp;
    let cnt = 0;
    let tries = 0;
    while (cnt < L) {
      let j: number;
      if (tries < 64 * L) {
        j = m.labels.draw(rng);
        tries++;
      } else {
        // pathological (L close to nLabels under a steep power law): take the next unused label
        j = rng.nextInt(nLabels);
        while (labelStamp[j] === st) j = j + 1 === nLabels ? 0 : j + 1;
      }
      if (labelStamp[j] !== st) {
        labelStamp[j] = st;
        let q = lp + cnt++;
        // insertion into the sorted prefix
        while (q > lp && labelIdx[q - 1]! > j) {
          labelIdx[q] = labelIdx[q - 1]!;
          q--;
        }
        labelIdx[q] = j;
      }
    }

    // features: mostly from the labels' signatures, the rest noise
    const fp = featPtr[i]!;
    const K = featPtr[i + 1]! - fp;
    const nSig = Math.min(Math.round((1 - o.noise) * K), Math.floor(0.75 * L * S));
    let d = 0;
    tries = 0;
    const maxTries = 4 * nSig + 16;
    while (d < nSig && tries < maxTries) {
      tries++;
      const lab = labelIdx[lp + (L === 1 ? 0 : rng.nextInt(L))]!;
      const slot = m.slots.draw(rng);
      const h = slotHash(key, lab, slot);
      const f = h % nFeatures;
      // per-(label, slot) jitter in [0.5, 1.5) from the hash's high bits, per-draw jitter in [0.75, 1.25)
      const w = slotW[slot]! * (0.5 + mix32(h ^ 0x68e31da4) / 4294967296) * (0.75 + 0.5 * rng.nextFloat());
      if (featStamp[f] !== st) {
        featStamp[f] = st;
        acc[f] = w;
        scratch[d++] = f;
      } else {
        acc[f] = acc[f]! + w;
      }
    }
    tries = 0;
    while (d < K) {
      let f = rng.nextInt(nFeatures);
      if (++tries > 64 * K) while (featStamp[f] === st) f = f + 1 === nFeatures ? 0 : f + 1;
      if (featStamp[f] !== st) {
        featStamp[f] = st;
        acc[f] = NOISE_SCALE * (0.5 + rng.nextFloat());
        scratch[d++] = f;
      }
    }
    const row = scratch.subarray(0, K);
    row.sort();
    let norm = 0;
    for (let k = 0; k < K; k++) {
      const v = acc[row[k]!]!;
      norm += v * v;
    }
    const inv = 1 / Math.sqrt(norm);
    for (let k = 0; k < K; k++) {
      const f = row[k]!;
      featIdx[fp + k] = f;
      featVal[fp + k] = acc[f]! * inv;
    }
  }
  return { n, nFeatures, nLabels, featPtr, featIdx, featVal, labelPtr, labelIdx };
}

/** Generate train and test sets from one seeded model (deterministic in opts, incl. seed). */
export function generateSynthetic(opts: SynthOptions): { train: XcDataset; test: XcDataset } {
  const o = resolve(opts);
  const root = new Rng(o.seed, 0x5717);
  const labelRng = root.fork(1);
  const trainRng = root.fork(2);
  const testRng = root.fork(3);

  // label popularity: power law over a random rank permutation
  const rank = new Int32Array(o.nLabels);
  for (let j = 0; j < o.nLabels; j++) rank[j] = j;
  labelRng.shuffle(rank);
  const lw = new Float64Array(o.nLabels);
  for (let j = 0; j < o.nLabels; j++) lw[j] = Math.pow(rank[j]! + 1, -o.zipf);

  const slotW = new Float64Array(o.signatureSize);
  for (let k = 0; k < o.signatureSize; k++) slotW[k] = Math.pow(k + 1, -SLOT_DECAY);

  const maxK = Math.max(1, Math.floor(o.nFeatures / 2));
  const m: Model = {
    o,
    labels: new AliasTable(lw),
    slots: new AliasTable(slotW),
    slotW,
    key: signatureKey(o.seed),
    labelStamp: new Int32Array(o.nLabels),
    featStamp: new Int32Array(o.nFeatures),
    acc: new Float64Array(o.nFeatures),
    scratch: new Int32Array(maxK),
    stamp: 0,
  };
  const train = generateSplit(m, o.nTrain, trainRng);
  const test = generateSplit(m, o.nTest, testRng);
  return { train, test };
}

export interface DatasetStats {
  points: number;
  features: number;
  labels: number;
  avgNnz: number;
  avgLabels: number;
  /** fraction of points that have the most frequent label */
  topLabelFreq: number;
  /** number of distinct labels that occur at least once */
  labelsUsed: number;
}

export function datasetStats(d: XcDataset): DatasetStats {
  const freq = new Int32Array(d.nLabels);
  const nl = d.labelPtr[d.n]! - d.labelPtr[0]!;
  for (let k = d.labelPtr[0]!; k < d.labelPtr[d.n]!; k++) { const j = d.labelIdx[k]!; freq[j] = freq[j]! + 1; }
  let top = 0;
  let used = 0;
  for (let j = 0; j < d.nLabels; j++) {
    const f = freq[j]!;
    if (f > top) top = f;
    if (f > 0) used++;
  }
  return {
    points: d.n,
    features: d.nFeatures,
    labels: d.nLabels,
    avgNnz: d.n === 0 ? 0 : (d.featPtr[d.n]! - d.featPtr[0]!) / d.n,
    avgLabels: d.n === 0 ? 0 : nl / d.n,
    topLabelFreq: d.n === 0 ? 0 : top / d.n,
    labelsUsed: used,
  };
}
