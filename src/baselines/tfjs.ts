/**
 * TensorFlow.js baseline with the engine's architecture, trained the conventional way:
 *
 *   sparse input (nFeatures) -> hidden ReLU -> nLabels with a FULL softmax
 *
 * Softmax cross-entropy with the target mass spread evenly over a sample's labels (a sample
 * without labels contributes 0 but counts in the batch mean, as in the engine), Adam with the
 * given lr / betas / eps (TF.js's Adam: dense moments for every weight, as TensorFlow's), Glorot-
 * uniform weights drawn from the engine's seeded Rng, zero biases.
 *
 * Sparse input: the batch's non-zeros gather rows of W1 (nnz x hidden); a sparse-to-dense batch
 * matrix S (n x nnz, S[r, k] = value of non-zero k if it belongs to row r) sums them per sample:
 * hidden = relu(S @ gather(W1, idx) + b1). The wasm backend lacks UnsortedSegmentSum (the gradient
 * of gather), so the gather is wrapped in tf.customGrad: forward gathers, backward scatters the
 * incoming gradient rows into a dense zero tensor of W1's shape with tf.scatterND, which sums
 * repeated indices.
 *
 * Backend: '@tensorflow/tfjs-backend-wasm' (single-threaded in Node), falling back to 'cpu' with a
 * warning when it does not initialise.
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { checkBatchIds, gatherRows, CsrBatchBuffer, type CsrBatch } from '../data/csr.js';
import { MetricsAccumulator, evalRow, type RankingMetrics } from '../eval/metrics.js';
import { Rng } from '../util/rng.js';

export type TfjsBackendName = 'wasm' | 'cpu';

export interface TfjsBaselineOptions {
  nFeatures: number;
  nLabels: number;
  hidden: number;
  lr: number;
  batchSize: number;
  seed: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  /** preferred backend (default 'wasm'; falls back to 'cpu' with a warning) */
  backend?: TfjsBackendName;
  /** learning rate of optimizer step `step` (from 1), e.g. the engine's decay schedule; default: constant lr */
  lrAt?: (step: number) => number;
  /**
   * decoupled weight decay (AdamW): after each step the weight matrices are multiplied by
   * 1 - lr * weightDecay, all of them, as a dense framework does (the engine decays only the rows
   * a batch updated); biases never decay. Default 0.
   */
  weightDecay?: number;
  /** the first layer's fanIn in its Glorot init (the engine's `inputFanIn`); default nFeatures */
  inputFanIn?: number;
}

/**
 * Make `prefer` the active TF.js backend (once per process unless it changes), falling back to
 * 'cpu' with a warning if it cannot initialise. Returns the backend in use.
 */
export async function initTfjsBackend(prefer: TfjsBackendName = 'wasm'): Promise<TfjsBackendName> {
  if (tf.getBackend() === prefer) return prefer;
  let ok = false;
  let why = '';
  try {
    ok = await tf.setBackend(prefer);
    if (ok) await tf.ready();
  } catch (e) {
    ok = false;
    why = `: ${e instanceof Error ? e.message : String(e)}`;
  }
  if (ok && tf.getBackend() === prefer) return prefer;
  if (prefer !== 'cpu') {
    process.emitWarning(`TF.js backend '${prefer}' failed to initialise${why}; falling back to 'cpu' (much slower)`);
    if (tf.getBackend() !== 'cpu') {
      const cpuOk = await tf.setBackend('cpu');
      if (!cpuOk) throw new Error(`TF.js: neither '${prefer}' nor 'cpu' backend initialised`);
    }
    await tf.ready();
    return 'cpu';
  }
  throw new Error(`TF.js: the 'cpu' backend did not initialise${why}`);
}

/**
 * Rows `idx` of W (gather), with a gradient that scatters the incoming rows back into a dense
 * zero tensor of W's shape (tf.scatterND sums repeated indices). `idx` is int32 of shape [nnz].
 */
export function sparseRows(W: tf.Tensor2D, idx: tf.Tensor1D): tf.Tensor2D {
  return sparseRowsOp(W, idx) as tf.Tensor2D;
}

const sparseRowsOp = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
  const w = args[0] as tf.Tensor2D;
  const idx = args[1] as tf.Tensor1D;
  const save = args[2] as tf.GradSaveFunc;
  // saved, so the backward pass works even if the caller created idx inside the forward function
  save([idx]);
  const shape = w.shape;
  return {
    value: tf.gather(w, idx),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const i = saved[0]!;
      // scatterND sums the rows of repeated ids; ids are not differentiable (zero gradient)
      return [tf.scatterND(tf.expandDims(i, 1), dy, shape), tf.zerosLike(i)];
    },
  };
});

/** Parameters of the baseline network. */
export interface BaselineParams {
  /** nFeatures x hidden */
  W1: tf.Tensor2D;
  /** hidden */
  b1: tf.Tensor1D;
  /** hidden x nLabels */
  W2: tf.Tensor2D;
  /** nLabels */
  b2: tf.Tensor1D;
}

/** A batch as tensors: feature ids, the sparse-to-dense batch matrix and (for training) targets. */
export interface BatchTensors {
  n: number;
  /** int32 [nnz] (a single dummy id 0 with a zero column in S when the batch has no non-zeros) */
  idx: tf.Tensor1D;
  /** float32 [n, nnz] */
  S: tf.Tensor2D;
  /** float32 [n, nLabels], 1/|labels| on each label of a row; null when not requested */
  Y: tf.Tensor2D | null;
}

/**
 * Tensors of rows [start, end) of a CSR batch. The caller disposes them (or creates them inside
 * tf.tidy). Data is copied out of the batch (the cpu backend keeps references to the arrays it is
 * given, and batch buffers are reused).
 */
export function batchTensors(b: CsrBatch, nLabels: number, withTargets: boolean, start = 0, end = b.n): BatchTensors {
  const n = end - start;
  const f0 = b.featPtr[start]!;
  const f1 = b.featPtr[end]!;
  const nnz = f1 - f0;
  const m = Math.max(1, nnz);
  const idx = new Int32Array(m);
  const sIdx = new Int32Array(2 * m);
  const sVal = new Float32Array(m);
  for (let r = start; r < end; r++) {
    for (let k = b.featPtr[r]!; k < b.featPtr[r + 1]!; k++) {
      const j = k - f0;
      idx[j] = b.featIdx[k]!;
      sIdx[2 * j] = r - start;
      sIdx[2 * j + 1] = j;
      sVal[j] = b.featVal[k]!;
    }
  }
  // with nnz = 0, entry 0 stays (row 0, column 0, value 0, feature 0): a zero contribution
  const idxT = tf.tensor1d(idx, 'int32');
  const S = tf.tidy(() => tf.scatterND(tf.tensor2d(sIdx, [m, 2], 'int32'), tf.tensor1d(sVal, 'float32'), [n, m])) as tf.Tensor2D;
  let Y: tf.Tensor2D | null = null;
  if (withTargets) {
    const l0 = b.labelPtr[start]!;
    const nl = b.labelPtr[end]! - l0;
    if (nl === 0) {
      Y = tf.zeros([n, nLabels]);
    } else {
      const yIdx = new Int32Array(2 * nl);
      const yVal = new Float32Array(nl);
      for (let r = start; r < end; r++) {
        const a = b.labelPtr[r]!;
        const e = b.labelPtr[r + 1]!;
        const w = 1 / (e - a);
        for (let k = a; k < e; k++) {
          const j = k - l0;
          yIdx[2 * j] = r - start;
          yIdx[2 * j + 1] = b.labelIdx[k]!;
          yVal[j] = w;
        }
      }
      Y = tf.tidy(() => tf.scatterND(tf.tensor2d(yIdx, [nl, 2], 'int32'), tf.tensor1d(yVal, 'float32'), [n, nLabels])) as tf.Tensor2D;
    }
  }
  return { n, idx: idxT, S, Y };
}

export function disposeBatchTensors(x: BatchTensors): void {
  x.idx.dispose();
  x.S.dispose();
  x.Y?.dispose();
}

/**
 * a @ b with a gradient computed through explicit transposes: the wasm backend's BatchMatMul with
 * a transposed operand (what tf.matMul's own gradient uses) is about 10x slower than transposing
 * first (measured: 250 ms against 20-33 ms for a 128 x 128 x 19K product).
 */
export function matMulFast(a: tf.Tensor2D, b: tf.Tensor2D): tf.Tensor2D {
  return matMulOp(a, b) as tf.Tensor2D;
}

const matMulOp = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
  const a = args[0] as tf.Tensor2D;
  const b = args[1] as tf.Tensor2D;
  const save = args[2] as tf.GradSaveFunc;
  save([a, b]);
  return {
    value: tf.matMul(a, b),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const sa = saved[0] as tf.Tensor2D;
      const sb = saved[1] as tf.Tensor2D;
      const d = dy as tf.Tensor2D;
      return [tf.matMul(d, tf.transpose(sb)), tf.matMul(tf.transpose(sa), d)];
    },
  };
});

/**
 * Mean over rows of the softmax cross-entropy of logits z [n, m] against target distributions Y
 * [n, m] (rows may be all zero: loss 0): sum_r (logsumexp(z_r) * sum(Y_r) - <Y_r, z_r>) / n, with
 * the fused gradient (softmax(z) * sum(Y_r) - Y) / n (about 15x faster on wasm than
 * differentiating through logSoftmax).
 */
export function softmaxCrossEntropy(z: tf.Tensor2D, Y: tf.Tensor2D): tf.Scalar {
  return softmaxCeOp(z, Y) as tf.Scalar;
}

const softmaxCeOp = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
  const z = args[0] as tf.Tensor2D;
  const Y = args[1] as tf.Tensor2D;
  const save = args[2] as tf.GradSaveFunc;
  save([z, Y]);
  const n = Math.max(1, z.shape[0]);
  const value = tf.tidy(() => {
    const rowY = tf.sum(Y, 1);
    const lse = tf.logSumExp(z, 1);
    return tf.div(tf.sub(tf.sum(tf.mul(lse, rowY)), tf.sum(tf.mul(Y, z))), n) as tf.Scalar;
  });
  return {
    value,
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const sz = saved[0]!;
      const sY = saved[1]!;
      const g = tf.mul(tf.sub(tf.mul(tf.softmax(sz), tf.sum(sY, 1, true)), sY), tf.div(dy, n));
      return [g, tf.zerosLike(sY)];
    },
  };
});

/** Output scores (logits), [n, nLabels]. */
export function baselineLogits(p: BaselineParams, x: BatchTensors): tf.Tensor2D {
  return tf.tidy(() => {
    const rows = sparseRows(p.W1, x.idx);
    const h = tf.relu(tf.add(matMulFast(x.S, rows), p.b1)) as tf.Tensor2D;
    return tf.add(matMulFast(h, p.W2), p.b2) as tf.Tensor2D;
  });
}

/** Mean over the batch's rows of the softmax cross-entropy against Y (rows without labels count as 0). */
export function baselineLoss(p: BaselineParams, x: BatchTensors): tf.Scalar {
  if (x.Y === null) throw new Error('baselineLoss: the batch tensors were built without targets');
  const Y = x.Y;
  return tf.tidy(() => softmaxCrossEntropy(baselineLogits(p, x), Y));
}

/** Glorot-uniform values (uniform in +-sqrt(6 / (fanIn + fanOut))) from the engine's generator. */
function glorot(rng: Rng, count: number, fanIn: number, fanOut: number): Float32Array {
  const a = Math.sqrt(6 / (fanIn + fanOut));
  const w = new Float32Array(count);
  for (let i = 0; i < count; i++) w[i] = (2 * rng.nextFloat() - 1) * a;
  return w;
}

const EVAL_CHUNK = 256;

export class TfjsBaseline {
  readonly nFeatures: number;
  readonly nLabels: number;
  readonly hidden: number;
  readonly batchSize: number;
  readonly backend: TfjsBackendName;
  /** optimizer steps applied */
  step = 0;
  readonly params: BaselineParams & { W1: tf.Variable<tf.Rank.R2>; b1: tf.Variable<tf.Rank.R1>; W2: tf.Variable<tf.Rank.R2>; b2: tf.Variable<tf.Rank.R1> };
  private readonly opt: tf.AdamOptimizer;
  private disposed = false;

  private constructor(opts: TfjsBaselineOptions, backend: TfjsBackendName) {
    this.nFeatures = opts.nFeatures;
    this.nLabels = opts.nLabels;
    this.hidden = opts.hidden;
    this.batchSize = opts.batchSize;
    this.backend = backend;
    const rng = new Rng(opts.seed >>> 0, 0x7f);
    const w1 = glorot(rng.fork(1), opts.nFeatures * opts.hidden, opts.inputFanIn ?? opts.nFeatures, opts.hidden);
    const w2 = glorot(rng.fork(2), opts.hidden * opts.nLabels, opts.hidden, opts.nLabels);
    this.params = {
      W1: tf.variable(tf.tensor2d(w1, [opts.nFeatures, opts.hidden]), true),
      b1: tf.variable(tf.zeros([opts.hidden]), true),
      W2: tf.variable(tf.tensor2d(w2, [opts.hidden, opts.nLabels]), true),
      b2: tf.variable(tf.zeros([opts.nLabels]), true),
    };
    this.opt = tf.train.adam(opts.lr, opts.beta1 ?? 0.9, opts.beta2 ?? 0.999, opts.eps ?? 1e-8);
    this.lrAt = opts.lrAt ?? null;
    this.learningRate = opts.lr;
    this.weightDecay = opts.weightDecay ?? 0;
  }

  private readonly lrAt: ((step: number) => number) | null;
  private readonly weightDecay: number;

  /** learning rate of the last step */
  learningRate: number;

  static async create(opts: TfjsBaselineOptions): Promise<TfjsBaseline> {
    for (const k of ['nFeatures', 'nLabels', 'hidden', 'batchSize'] as const) {
      if (!Number.isInteger(opts[k]) || opts[k] < 1) throw new RangeError(`TfjsBaseline: ${k} must be a positive integer, got ${opts[k]}`);
    }
    if (!(opts.lr > 0)) throw new RangeError(`TfjsBaseline: lr must be positive, got ${opts.lr}`);
    const backend = await initTfjsBackend(opts.backend ?? 'wasm');
    tf.engine().startScope();
    try {
      return new TfjsBaseline(opts, backend);
    } finally {
      // frees the initial-value tensors; the variables (unnamed: TF.js names must be unique) stay
      tf.engine().endScope();
    }
  }

  private get varList(): tf.Variable[] {
    const p = this.params;
    return [p.W1, p.b1, p.W2, p.b2];
  }

  private check(b: CsrBatch, what: string): void {
    if (this.disposed) throw new Error('TfjsBaseline: used after dispose()');
    checkBatchIds(b, this.nFeatures, this.nLabels, what);
  }

  /** One Adam step on the batch (all of it: pass batches of `batchSize` rows). Returns the batch's mean loss. */
  async trainBatch(b: CsrBatch): Promise<number> {
    this.check(b, 'training batch');
    if (b.n === 0) return 0;
    if (this.lrAt) {
      this.learningRate = this.lrAt(this.step + 1);
      // AdamOptimizer reads this (protected, undocumented) field at every step: TF.js has no
      // schedule API; the test below checks that the rate takes effect
      (this.opt as unknown as { learningRate: number }).learningRate = this.learningRate;
    }
    const cost = tf.tidy(() => {
      const x = batchTensors(b, this.nLabels, true);
      return this.opt.minimize(() => baselineLoss(this.params, x), true, this.varList) as tf.Scalar;
    });
    if (this.weightDecay > 0) {
      const f = 1 - this.learningRate * this.weightDecay;
      tf.tidy(() => {
        this.params.W1.assign(this.params.W1.mul(f));
        this.params.W2.assign(this.params.W2.mul(f));
      });
    }
    this.step++;
    const v = (await cost.data())[0]!;
    cost.dispose();
    return v;
  }

  /** Top-k label ids of rows [start, end), row-major [n, k]. */
  async topK(d: CsrBatch, k = 5, start = 0, end = d.n): Promise<Int32Array> {
    const idx = tf.tidy(() => {
      const x = batchTensors(d, this.nLabels, false, start, end);
      return tf.topk(baselineLogits(this.params, x), Math.min(k, this.nLabels)).indices;
    });
    const out = (await idx.data()) as Int32Array;
    idx.dispose();
    return out;
  }

  /**
   * P@1/3/5 and nDCG@5 with the full softmax on maxPoints rows spread evenly over the set, as the
   * engine's evaluate picks them (0 or omitted = all).
   */
  async evaluate(d: CsrBatch, maxPoints = 0): Promise<RankingMetrics> {
    this.check(d, 'evaluation data');
    if (maxPoints > 0 && maxPoints < d.n) {
      const rows = Int32Array.from({ length: maxPoints }, (_, i) => evalRow(i, maxPoints, d.n));
      return this.evaluate(gatherRows(d, rows, 0, maxPoints, new CsrBatchBuffer()));
    }
    const n = d.n;
    const acc = new MetricsAccumulator();
    const k = Math.min(5, this.nLabels);
    for (let s = 0; s < n; s += EVAL_CHUNK) {
      const e = Math.min(n, s + EVAL_CHUNK);
      const top = await this.topK(d, k, s, e);
      for (let r = s; r < e; r++) acc.add(top.subarray((r - s) * k, (r - s + 1) * k), k, d.labelIdx, d.labelPtr[r]!, d.labelPtr[r + 1]!);
    }
    return acc.result();
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.opt.dispose();
    for (const v of this.varList) v.dispose();
  }
}
