import type { Arena } from '../memory/arena.js';
import type { Rng } from '../util/rng.js';
import type { Kernels } from '../kernels/js.js';
import type { OptimizerConfig } from '../config.js';
import { DeferredGrads } from './deferred.js';

/** Touched rows a deferred-gradient update sums into G before the optimizer reads them (32 KB of G at 256 columns). */
const DEFERRED_CHUNK = 32;

/**
 * The parameters of one layer and their optimizer state, carved from the shard's arena.
 *
 *   W:  (rows, cols) row-major; a "row" is the unit of sparse update (a neuron for
 *       neuron-major layers, an input feature for the feature-major input layer)
 *   b:  (nOut) bias
 *   G:  (rows, cols) gradient accumulated over the current batch (rows listed in `touched`)
 *   gb: (nOut) bias gradient
 *   M, V, Mb, Vb: Adam moments of W and b (allocated only for Adam)
 *
 * Touched rows: a row is marked in `mark` (0/1) the first time a sample of the batch writes
 * its gradient, and appended to `touched`. Marking uses Atomics.exchange so that with several
 * worker threads exactly one of them lists the row: the update then visits each row once.
 * A block with deferred gradients (a sampled layer, see DeferredGrads) lists the rows of the
 * recorded pairs instead, once, on one thread before the update (prepareUpdate).
 *
 * Biases: in a neuron-major block a row is a neuron, so the touched rows are also the touched
 * biases. In the feature-major input block every sample writes every bias, so all biases are
 * updated every batch (no per-sample marking: with several threads, marking the same 128
 * entries for every sample made the threads fight over those cache lines).
 */
export class ParamBlock {
  readonly W: Float32Array;
  readonly b: Float32Array;
  readonly G: Float32Array;
  readonly gb: Float32Array;
  readonly M: Float32Array | null;
  readonly V: Float32Array | null;
  readonly Mb: Float32Array | null;
  readonly Vb: Float32Array | null;
  /** (rows) 1 if the row has gradient this batch */
  readonly mark: Int32Array;
  /** (rows) rows with gradient, first counts[0] valid */
  readonly touched: Int32Array;
  /** (nOut) 0..nOut-1: the bias rows of a feature-major block (all updated every batch) */
  private readonly allBias: Int32Array | null;
  /** (1) shared length of `touched`, appended with Atomics.add */
  readonly counts: Int32Array;
  /** deferred weight gradients (neuron-major blocks of sampled layers), or null: see DeferredGrads */
  readonly deferred: DeferredGrads | null;

  constructor(
    arena: Arena,
    /** the kernels of `arena`'s memory (the WebAssembly ones address only that memory) */
    readonly kernels: Kernels,
    readonly rows: number,
    readonly cols: number,
    readonly nOut: number,
    adam: boolean,
    /** rows are input features (the sparse input layer), not neurons */
    readonly featureMajor = false,
    /** sample slots and pairs a slot holds for deferred weight gradients (neuron-major only), or null */
    deferred: { slots: number; budget: number } | null = null,
  ) {
    const n = rows * cols;
    this.W = arena.f32(n);
    this.b = arena.f32(nOut);
    this.G = arena.f32(n);
    this.gb = arena.f32(nOut);
    this.M = adam ? arena.f32(n) : null;
    this.V = adam ? arena.f32(n) : null;
    this.Mb = adam ? arena.f32(nOut) : null;
    this.Vb = adam ? arena.f32(nOut) : null;
    this.mark = arena.i32(rows);
    this.touched = arena.i32(rows);
    this.allBias = featureMajor ? arena.i32(nOut) : null;
    if (this.allBias) for (let j = 0; j < nOut; j++) this.allBias[j] = j;
    this.counts = arena.i32(1);
    if (deferred !== null && featureMajor) throw new Error('ParamBlock: deferred gradients are for neuron-major blocks');
    this.deferred = deferred !== null ? new DeferredGrads(arena, rows, cols, deferred.slots, deferred.budget) : null;
  }

  get touchedCount(): number {
    return this.counts[0]!;
  }

  /** Glorot-uniform weights (scaled), zero biases. fanIn/fanOut are the layer's. */
  init(rng: Rng, fanIn: number, fanOut: number, scale: number): void {
    const a = scale * Math.sqrt(6 / (fanIn + fanOut));
    const W = this.W;
    for (let i = 0; i < W.length; i++) W[i] = (2 * rng.nextFloat() - 1) * a;
    this.b.fill(0);
  }

  /** Record that `row` receives gradient in this batch. */
  touchRow(row: number): void {
    if (Atomics.exchange(this.mark, row, 1) === 0) this.touched[Atomics.add(this.counts, 0, 1)] = row;
  }

  /**
   * Apply the optimizer to touched rows and biases, zero their gradients and marks.
   * `horizon`: batches of the learning-rate schedule (see scheduledLr).
   */
  update(opt: OptimizerConfig, step: number, horizon = 0): void {
    this.prepareUpdate();
    this.updatePart(opt, step, 0, 1, horizon);
    this.finishUpdate();
  }

  /**
   * On one thread, after every sample of the batch ran and before any part of the update: list
   * the rows of the deferred gradients as touched, order the touched rows (orderTouched) and
   * group the deferred gradients by them.
   */
  prepareUpdate(): void {
    const d = this.deferred;
    if (d !== null) this.counts[0] = d.touch(this.kernels, this.mark, this.touched, this.counts[0]!);
    this.orderTouched();
    if (d !== null) d.group(this.kernels, this.touched, this.counts[0]!);
  }

  /**
   * List the touched rows in ascending order (one scan of the marks) when they are at least a
   * sixteenth of the rows: the update then streams W, M, V and G in address order, which the
   * hardware prefetchers follow, instead of in the order samples first touched them. Each row's
   * update is independent of the others, so the order changes no result.
   */
  private orderTouched(): void {
    const n = this.counts[0]!;
    if (n * 16 < this.rows) return;
    const mark = this.mark;
    const touched = this.touched;
    let k = 0;
    for (let r = 0; r < this.rows; r++) {
      touched[k] = r;
      k += mark[r]! !== 0 ? 1 : 0;
    }
  }

  /**
   * Part `part` of `parts` of the update: a contiguous slice of the touched rows and biases, so
   * that worker threads update disjoint rows in parallel. Every part must run before
   * finishUpdate (which the coordinating thread calls once).
   */
  updatePart(opt: OptimizerConfig, step: number, part: number, parts: number, horizon = 0): void {
    const k = this.kernels;
    const n = this.counts[0]!;
    const r0 = Math.floor((n * part) / parts);
    const r1 = Math.floor((n * (part + 1)) / parts);
    // biases: all of them (feature-major) or those of the touched neurons, split the same way
    const biasRows = this.allBias ?? this.touched;
    const nb = this.allBias ? this.nOut : n;
    const b0 = Math.floor((nb * part) / parts);
    const b1 = Math.floor((nb * (part + 1)) / parts);
    const lr = scheduledLr(opt, step, horizon);
    // decoupled weight decay (Loshchilov & Hutter 2019) of the rows updated now, lazily: a row
    // decays on the steps it is touched, not on the steps in between
    const decay = 1 - lr * opt.weightDecay;
    const adam = opt.type === 'adam';
    const lrT = adam ? (lr * Math.sqrt(1 - Math.pow(opt.beta2, step))) / (1 - Math.pow(opt.beta1, step)) : lr;
    const d = this.deferred !== null && this.deferred.pending ? this.deferred : null;
    if (d !== null && adam && !d.gHolds) {
      // every gradient of the batch deferred: summed and applied in one pass, G untouched
      d.adamStep(k, this.W, this.M!, this.V!, this.gb, this.touched, r0, r1 - r0, lrT, opt.beta1, opt.beta2, opt.eps, decay);
    } else {
      // deferred gradients on top of G's: a chunk of rows gets its sums, then the optimizer
      // reads them while they are in cache
      const chunk = d !== null ? DEFERRED_CHUNK : Math.max(1, r1 - r0);
      for (let c0 = r0; c0 < r1; c0 += chunk) {
        const cn = Math.min(chunk, r1 - c0);
        if (d !== null) d.addTo(k, this.G, this.gb, this.touched, c0, cn);
        if (adam) k.adamRows(this.W, this.M!, this.V!, this.G, this.cols, this.touched, c0, cn, lrT, opt.beta1, opt.beta2, opt.eps, decay);
        else k.sgdRows(this.W, this.G, this.cols, this.touched, c0, cn, lr, decay);
      }
    }
    // the biases of a neuron-major block are its rows: their deferred sums are complete here
    if (adam) k.adamRows(this.b, this.Mb!, this.Vb!, this.gb, 1, biasRows, b0, b1 - b0, lrT, opt.beta1, opt.beta2, opt.eps);
    else k.sgdRows(this.b, this.gb, 1, biasRows, b0, b1 - b0, lr);
    for (let i = r0; i < r1; i++) this.mark[this.touched[i]!] = 0;
  }

  /** Empty the touched lists after every part of an update ran. */
  finishUpdate(): void {
    this.counts[0] = 0;
    if (this.deferred !== null) this.deferred.finish();
  }
}

/**
 * Learning rate of optimizer step `step` (counting from 1) under opt.schedule: constant, or a
 * linear / cosine decay from opt.lr at step 1 to opt.lr * minLrFactor at step `horizon` + 1 and
 * after. opt.decaySteps, when set, overrides `horizon`; with neither (0) the rate is constant.
 */
export function scheduledLr(opt: OptimizerConfig, step: number, horizon: number): number {
  const h = opt.decaySteps > 0 ? opt.decaySteps : horizon;
  if (opt.schedule === 'constant' || h <= 0) return opt.lr;
  const t = Math.min(1, Math.max(0, (step - 1) / h));
  const f = opt.schedule === 'linear' ? 1 - t : 0.5 * (1 + Math.cos(Math.PI * t));
  return opt.lr * (opt.minLrFactor + (1 - opt.minLrFactor) * f);
}
