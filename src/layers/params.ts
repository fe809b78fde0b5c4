import type { Rng } from '../util/rng.js';
import type { Kernels } from '../kernels/js.js';
import type { OptimizerConfig } from '../config.js';
import { BlockDecl, type BlockViews } from '../memory/layout.js';
import type { DeferredGrads } from './deferred.js';

/**
 * Touched rows a deferred-gradient update sums into G before the optimizer reads them (32 KB of
 * G at 256 columns); also the smallest share of the rows an update thread claims.
 */
const DEFERRED_CHUNK = 32;

/** The shape of one parameter block. */
export interface ParamSpec {
  /** the block's name in the layout and in checkpoints: `input`, `fc.<l>`, `fc.<l>.shard<s>` */
  name: string;
  rows: number;
  cols: number;
  nOut: number;
  adam: boolean;
  /** rows are input features (the sparse input layer, feature-major), not neurons */
  featureMajor: boolean;
}

/**
 * The parameters of one layer (or shard of one) and their optimizer state.
 *
 *   W:  (rows, cols) row-major; a "row" is the unit of sparse update (a neuron for
 *       neuron-major layers, an input feature for the feature-major input layer)
 *   b:  (nOut) bias
 *   M, V, Mb, Vb: Adam moments of W and b (only with Adam)
 *   G:  (rows, cols) gradient of the current batch that took the immediate path (rows listed in `touched`)
 *   gb: (nOut) bias gradient
 *   mark: (rows) non-zero if the row has gradient this batch (1; while grouping, its pair count
 *         then its pairs' cursor);  touched: (rows) those rows, counts[0] of them
 *   counts: [touched rows, the update's next unclaimed touched row]
 *   biasRows: (nOut) 0 .. nOut-1: the bias rows of a feature-major block (all updated every batch)
 * W, b and the moments are the saved state (checkpoints); the rest is zero between batches.
 *
 * Gradients reach the update two ways. The usual one: the batch's samples record them in their
 * slots (DeferredGrads, attached by the run) and the update sums them in slot order. The
 * immediate path (a sample replayed because its active set did not fit a slot, or a caller
 * without a batch, e.g. a gradient check) adds into G and marks rows with `touchRow`
 * (Atomics.exchange, so that one thread lists a row once).
 *
 * Biases: in a neuron-major block a row is a neuron, so the touched rows are also the touched
 * biases. In the feature-major input block every sample writes every bias, so all biases are
 * updated every batch.
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
  readonly mark: Int32Array;
  readonly touched: Int32Array;
  private readonly biasRows: Int32Array;
  /** (2) shared length of `touched` (appended with Atomics.add), and the update's claim cursor */
  readonly counts: Int32Array;
  /** this batch's recorded gradients (set by the run that carved the slots), or null */
  deferred: DeferredGrads | null = null;
  /**
   * (rows) rows its sampler must hash again, set to 1 by updatePart (an incremental sampler's
   * LshSampler.stale, attached by the executor), or null
   */
  hashStale: Int32Array | null = null;
  readonly rows: number;
  readonly cols: number;
  readonly nOut: number;
  readonly featureMajor: boolean;

  static declare(s: ParamSpec): BlockDecl {
    const b = new BlockDecl(s.name).f32('W', [s.rows, s.cols], true).f32('b', [s.nOut], true);
    if (s.adam) b.f32('M', [s.rows, s.cols], true).f32('V', [s.rows, s.cols], true).f32('Mb', [s.nOut], true).f32('Vb', [s.nOut], true);
    return b
      .f32('G', [s.rows, s.cols])
      .f32('gb', [s.nOut])
      .i32('mark', [s.rows])
      .i32('touched', [s.rows])
      .i32('biasRows', [s.featureMajor ? s.nOut : 0])
      .i32('counts', [2]);
  }

  constructor(
    readonly spec: ParamSpec,
    v: BlockViews,
    /** the kernels of the block's memory (the WebAssembly ones address only that memory) */
    readonly kernels: Kernels,
  ) {
    this.rows = spec.rows;
    this.cols = spec.cols;
    this.nOut = spec.nOut;
    this.featureMajor = spec.featureMajor;
    this.W = v.f32('W');
    this.b = v.f32('b');
    this.M = spec.adam ? v.f32('M') : null;
    this.V = spec.adam ? v.f32('V') : null;
    this.Mb = spec.adam ? v.f32('Mb') : null;
    this.Vb = spec.adam ? v.f32('Vb') : null;
    this.G = v.f32('G');
    this.gb = v.f32('gb');
    this.mark = v.i32('mark');
    this.touched = v.i32('touched');
    this.biasRows = v.i32('biasRows');
    this.counts = v.i32('counts');
  }

  get name(): string {
    return this.spec.name;
  }

  get touchedCount(): number {
    return this.counts[0]!;
  }

  /**
   * Glorot-uniform weights (scaled), zero biases, from rng (the owner, once; fanIn/fanOut are
   * the layer's: a shard draws its part of one sequence over the whole layer).
   */
  init(rng: Rng, fanIn: number, fanOut: number, scale: number): void {
    const a = scale * Math.sqrt(6 / (fanIn + fanOut));
    const W = this.W;
    for (let i = 0; i < W.length; i++) W[i] = (2 * rng.nextFloat() - 1) * a;
    this.b.fill(0);
    for (let j = 0; j < this.biasRows.length; j++) this.biasRows[j] = j;
  }

  /** Record that `row` received gradient in G (the immediate path). */
  touchRow(row: number): void {
    if (Atomics.exchange(this.mark, row, 1) === 0) this.touched[Atomics.add(this.counts, 0, 1)] = row;
  }

  /**
   * Thread `part` of `parts` in grouping the batch's recorded gradients by row, after every
   * sample of the batch ran: when they are all pairs (fusable), DeferredGrads.groupPart on its
   * part of the rows; otherwise nothing (prepareUpdate groups them on one thread).
   */
  groupPart(part: number, parts: number): void {
    const d = this.deferred;
    if (d !== null && d.fusable) d.groupPart(this.kernels, this.mark, this.touched, part, parts);
  }

  /**
   * On one thread, after every part of groupPart (run with `parts` parts) and before any part of
   * the update: join the parts' touched lists; or, when G holds gradients too (or nothing was
   * recorded), list the rows of the recorded gradients as touched, order the touched rows
   * (orderTouched) and group the recorded gradients by them. Feature-major: sum the slots' bias
   * gradients.
   */
  prepareUpdate(parts: number): void {
    const d = this.deferred;
    if (d !== null && d.fusable) {
      this.counts[0] = d.joinParts(this.touched, parts);
      if (this.featureMajor) d.addBiasSums(this.gb);
      return;
    }
    if (d !== null) this.counts[0] = d.touch(this.kernels, this.mark, this.touched, this.counts[0]!);
    this.orderTouched();
    if (d === null) return;
    d.group(this.kernels, this.touched, this.counts[0]!);
    if (this.featureMajor) d.addBiasSums(this.gb);
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
    this.kernels.markedRows(this.mark, this.rows, this.touched);
  }

  /**
   * Thread `part` of `parts` in the update: it claims runs of the touched rows (and their
   * biases) until none is left, so that worker threads update disjoint rows in parallel; a
   * feature-major block's biases are split into `parts` slices. Each row's update is independent
   * of the others, so who updates it changes no result. Every part runs after prepareUpdate and
   * before finishUpdate (which the coordinating thread calls once).
   * `horizon`: batches of the learning-rate schedule (see scheduledLr).
   *
   * Why runs that shrink (guided scheduling: a claim takes 1 / (2 * parts) of the rows left, at
   * least DEFERRED_CHUNK). Rows cost unequally (a popular row sums many pairs) and threads run at
   * unequal speeds on a shared machine: with one fixed slice a thread, each of two threads waited
   * 2.0-2.5 s of 15 s of update at the barrier (bench:throughput, Amazon-670K shape). Claims of
   * 32 rows each balanced the threads but made the update's work 20% slower (a claim's calls and
   * atomics every 32 rows; each thread's rows no longer one stream in address order). Long runs
   * first keep the streams; the short ones at the end even out the finish.
   */
  updatePart(opt: OptimizerConfig, step: number, part: number, parts: number, horizon = 0): void {
    const n = this.counts[0]!;
    const lr = scheduledLr(opt, step, horizon);
    // decoupled weight decay (Loshchilov & Hutter 2019) of the rows updated now, lazily: a row
    // decays on the steps it is touched, not on the steps in between
    const decay = 1 - lr * opt.weightDecay;
    const adam = opt.type === 'adam';
    const lrT = adam ? (lr * Math.sqrt(1 - Math.pow(opt.beta2, step))) / (1 - Math.pow(opt.beta1, step)) : lr;
    const counts = this.counts;
    for (;;) {
      const c0 = Atomics.load(counts, 1);
      if (c0 >= n) break;
      const cn = Math.min(n - c0, Math.max(DEFERRED_CHUNK, Math.ceil((n - c0) / (2 * parts))));
      if (Atomics.compareExchange(counts, 1, c0, c0 + cn) !== c0) continue;
      this.updateRows(opt, c0, cn, lr, lrT, decay);
    }
    if (this.featureMajor) {
      // every bias, summed by prepareUpdate: a slice each
      const b0 = Math.floor((this.nOut * part) / parts);
      const b1 = Math.floor((this.nOut * (part + 1)) / parts);
      this.updateBiases(opt, this.biasRows, b0, b1 - b0, lr, lrT);
    }
  }

  /** The optimizer's step of touched rows touched[c0 .. c0 + cn) (and a neuron-major block's biases of them). */
  private updateRows(opt: OptimizerConfig, c0: number, cn: number, lr: number, lrT: number, decay: number): void {
    const k = this.kernels;
    const adam = opt.type === 'adam';
    const d = this.deferred !== null && this.deferred.pending ? this.deferred : null;
    if (d !== null && adam && d.fusable) {
      // every gradient of the batch recorded as pairs: summed and applied in one pass, G untouched
      d.adamStep(k, this.W, this.M!, this.V!, this.gb, this.touched, c0, cn, lrT, opt.beta1, opt.beta2, opt.eps, decay);
    } else {
      // recorded gradients on top of G's: a chunk of rows gets its sums, then the optimizer
      // reads them while they are in cache
      const chunk = d !== null ? DEFERRED_CHUNK : cn;
      for (let s0 = c0; s0 < c0 + cn; s0 += chunk) {
        const sn = Math.min(chunk, c0 + cn - s0);
        if (d !== null) d.addTo(k, this.G, this.gb, this.touched, s0, sn);
        if (adam) k.adamRows(this.W, this.M!, this.V!, this.G, this.cols, this.touched, s0, sn, lrT, opt.beta1, opt.beta2, opt.eps, decay);
        else k.sgdRows(this.W, this.G, this.cols, this.touched, s0, sn, lr, decay);
      }
    }
    // the biases of a neuron-major block are its rows: their recorded sums are complete here
    if (!this.featureMajor) this.updateBiases(opt, this.touched, c0, cn, lr, lrT);
    const touched = this.touched;
    for (let i = c0; i < c0 + cn; i++) this.mark[touched[i]!] = 0;
    // each run marks its own rows (touched rows are distinct): no race
    const stale = this.hashStale;
    if (stale !== null) for (let i = c0; i < c0 + cn; i++) stale[touched[i]!] = 1;
  }

  private updateBiases(opt: OptimizerConfig, rows: Int32Array, from: number, n: number, lr: number, lrT: number): void {
    if (opt.type === 'adam') this.kernels.adamRows(this.b, this.Mb!, this.Vb!, this.gb, 1, rows, from, n, lrT, opt.beta1, opt.beta2, opt.eps);
    else this.kernels.sgdRows(this.b, this.gb, 1, rows, from, n, lr);
  }

  /** Empty the touched lists after every part of an update ran. */
  finishUpdate(): void {
    this.counts[0] = 0;
    this.counts[1] = 0;
    if (this.deferred !== null) this.deferred.finish();
  }

  /** The whole update on this thread: the grouping and the update in one part each, finishUpdate. */
  update(opt: OptimizerConfig, step: number, horizon = 0): void {
    this.groupPart(0, 1);
    this.prepareUpdate(1);
    this.updatePart(opt, step, 0, 1, horizon);
    this.finishUpdate();
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
