import type { Arena } from '../memory/arena.js';
import type { Kernels } from '../kernels/js.js';

/**
 * Deferred weight gradients of a neuron-major block: the backward of a sample records what its
 * active rows' gradients are made of, and the update sums them row by row.
 *
 * Why. A sample's backward through a sampled layer used to add g_i * x into the gradient row
 * G[r_i] of each of its ~600 active neurons: a random read-modify-write of a whole row a neuron,
 * most of them cache misses, and with several worker threads the same popular rows written by
 * both (HOGWILD: lost additions, cache lines moving between cores). Here the sample stores its
 * input vector x once (slot `b` of the batch) and the pairs (r_i, g_i); before the update the
 * rows of the pairs are listed as touched and the pairs grouped by row (a counting sort over the
 * touched rows), and the update sums a row's pairs, in slot order, g * X[b]: with Adam straight
 * into the row's step (`Kernels.adamRowsPairs`: G is not touched at all), otherwise into G[r]
 * just before the optimizer reads it (`Kernels.gradRows`). No two threads ever write the same
 * row, and a row's gradient is built once a batch instead of read and written by every sample
 * that touched it.
 *
 * The result is the gradient the immediate path computes, summed in the same order (slot order
 * is the order samples run on one thread), so single-threaded training is bit for bit the same;
 * with worker threads it no longer depends on which thread ran a sample.
 *
 * A sample falls back to the immediate path (returns false from `record`) when its slot is
 * beyond the batch capacity or it has more active rows than a slot holds; both paths can mix
 * in one batch (the deferred sums are added to what G already holds).
 *
 * Layout (all in the block's arena, so the kernels and worker threads see it):
 *   X:     (slots, cols)   the input vector of each slot's sample
 *   pRow:  (slots, budget) rows of each slot's pairs; pCoef: their gradients g; pCnt: (slots) pair counts
 *   pos:   (rows)          position of a touched row in the block's touched list (valid for touched rows)
 *   ptr:   (rows + 1)      per touched position i: its pairs are src/coef[ptr[i] .. ptr[i+1])
 *   src, coef: (slots * budget) the pairs grouped by touched position: source slot and gradient
 *   meta:  (2)             [pairs grouped by the last `group` (0: nothing deferred this batch),
 *                           1 if a sample of this batch took the immediate path (G holds something)]
 */
export class DeferredGrads {
  readonly X: Float32Array;
  readonly pRow: Int32Array;
  readonly pCoef: Float32Array;
  readonly pCnt: Int32Array;
  readonly pos: Int32Array;
  readonly ptr: Int32Array;
  readonly src: Int32Array;
  readonly coef: Float32Array;
  private readonly meta: Int32Array;

  constructor(
    arena: Arena,
    readonly rows: number,
    readonly cols: number,
    /** sample slots: the batch rows that can defer (the batch size) */
    readonly slots: number,
    /** pairs a slot holds: a sample with more active rows takes the immediate path */
    readonly budget: number,
  ) {
    if (!(Number.isInteger(slots) && slots >= 1 && Number.isInteger(budget) && budget >= 1)) {
      throw new RangeError(`DeferredGrads: slots and budget must be positive integers, got ${slots} and ${budget}`);
    }
    this.X = arena.f32(slots * cols);
    this.pRow = arena.i32(slots * budget);
    this.pCoef = arena.f32(slots * budget);
    this.pCnt = arena.i32(slots);
    this.pos = arena.i32(rows);
    this.ptr = arena.i32(rows + 1);
    this.src = arena.i32(slots * budget);
    this.coef = arena.f32(slots * budget);
    this.meta = arena.i32(2);
  }

  /**
   * Record the weight-gradient half of a sample's backward through the block: rows[rowsOff ..
   * +n) with gradients grad[gradOff ..), input x[xOff .. +cols). The rows are the sample's
   * touched rows (listed by `touch` before the update, without the per-row atomics of
   * ParamBlock.touchRow), so a zero gradient is recorded too: it adds +-0, which changes no sum.
   * One sample per slot per batch (threads write disjoint slots: no race). Returns false,
   * recording nothing, when the slot or the row count does not fit: the caller then accumulates
   * into G and touches the rows itself.
   */
  record(slot: number, rows: Int32Array, rowsOff: number, n: number, grad: Float32Array, gradOff: number, x: Float32Array, xOff: number): boolean {
    if (slot < 0 || slot >= this.slots || n > this.budget) return false;
    const cols = this.cols;
    const X = this.X;
    const xb = slot * cols;
    // plain loop: TypedArray.set on shared memory takes a slow path that allocates
    for (let k = 0; k < cols; k++) X[xb + k] = x[xOff + k]!;
    const pb = slot * this.budget;
    const pRow = this.pRow;
    const pCoef = this.pCoef;
    for (let i = 0; i < n; i++) {
      pRow[pb + i] = rows[rowsOff + i]!;
      pCoef[pb + i] = grad[gradOff + i]!;
    }
    this.pCnt[slot] = n;
    return true;
  }

  /**
   * List the rows of the recorded pairs as touched (Kernels.markPairs on the block's marks and
   * touched list of length n); returns the list's new length. Before `group`.
   */
  touch(k: Kernels, mark: Int32Array, touched: Int32Array, n: number): number {
    return k.markPairs(this.pRow, this.pCnt, this.slots, this.budget, mark, touched, n);
  }

  /**
   * Group the recorded pairs by touched row (on one thread, after every sample of the batch ran
   * and before any part of the update): Kernels.groupPairs, a counting sort over touched[0 ..
   * nTouched), stable in slot order. Empties the slots. Every recorded row must be touched.
   */
  group(k: Kernels, touched: Int32Array, nTouched: number): void {
    this.meta[0] = k.groupPairs(touched, nTouched, this.pos, this.ptr, this.pRow, this.pCoef, this.pCnt, this.slots, this.budget, this.src, this.coef);
  }

  /**
   * A sample of this batch added its gradients to G directly (the immediate path): the update
   * must then add the pairs to what G holds. Any thread may call it; they all store 1.
   */
  markImmediate(): void {
    this.meta[1] = 1;
  }

  /** Whether the last `group` found pairs (the update must then add them to G). */
  get pending(): boolean {
    return this.meta[0]! > 0;
  }

  /** Whether G may hold gradients of this batch besides the pairs (see markImmediate). */
  get gHolds(): boolean {
    return this.meta[1]! !== 0;
  }

  /** Add the grouped pairs of touched positions [from, from + n) to their G rows and gBias. */
  addTo(k: Kernels, G: Float32Array, gBias: Float32Array, touched: Int32Array, from: number, n: number): void {
    k.gradRows(G, gBias, this.cols, touched, from, n, this.ptr, this.src, this.coef, this.X);
  }

  /**
   * The Adam step of touched positions [from, from + n) with their grouped pairs as the gradient
   * (Kernels.adamRowsPairs): only when G holds nothing for them (!gHolds).
   */
  adamStep(k: Kernels, W: Float32Array, M: Float32Array, V: Float32Array, gBias: Float32Array, touched: Int32Array, from: number, n: number, lrT: number, b1: number, b2: number, eps: number, decay: number): void {
    k.adamRowsPairs(W, M, V, gBias, this.cols, touched, from, n, this.ptr, this.src, this.coef, this.X, lrT, b1, b2, eps, decay);
  }

  /** Forget the grouped pairs and the immediate mark (after the update used them). */
  finish(): void {
    this.meta[0] = 0;
    this.meta[1] = 0;
  }
}
