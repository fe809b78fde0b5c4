import type { Kernels } from '../kernels/js.js';
import { BlockDecl, type BlockViews } from '../memory/layout.js';

/**
 * Deferred weight gradients of a parameter block: the backward of a sample records what its rows'
 * gradients are made of, in the sample's slot of the batch, and the update sums them row by row.
 *
 * Why. A sample's backward used to add g_i * x into the gradient row G[r_i] of each of its active
 * rows: a random read-modify-write of a whole row a neuron, most of them cache misses, and with
 * several worker threads the same popular rows written by both (lost additions, and results that
 * depend on which thread ran which sample). Here the sample stores its vector once (X, slot b)
 * and its (row, coefficient) pairs; before the update the rows are listed as touched and the
 * pairs grouped by row (a counting sort over the touched rows), and the update sums a row's pairs
 * in slot order: with Adam straight into the row's step (`Kernels.adamRowsPairs`: G is not
 * touched at all), otherwise into G just before the optimizer reads it (`Kernels.gradRows`).
 *
 * THE ORDER OF SUMMATION IS FIXED HERE: a row's gradient is the sum of its pairs in slot order
 * (the batch's row order), whatever thread ran each sample. That is what makes N threads train
 * exactly as one, and one thread exactly as the immediate path did (it summed in the same order).
 *
 * Three kinds of blocks record:
 *  - 'pairs' (sampled neuron-major layers): a slot holds up to `budget` pairs (row, g) and the
 *    input x; the row's bias gradient is the sum of its g;
 *  - 'pairs' of the feature-major input layer: the rows are the sample's features, the
 *    coefficients their values and the vector the layer's output gradient delta, so that
 *    G[f] = sum of value * delta; its biases (one per column) get the sum of the slots' deltas;
 *  - 'dense' (layers whose every row is active in every sample: dense hidden and output layers):
 *    a slot holds the gradient of every row (coefD) and the input x, summed by
 *    `Kernels.gradRowsDense`.
 * A sample whose active rows exceed its slot's budget is not recorded: the executor replays it
 * after the batch's parallel phase on one thread through the immediate path (G), in row order,
 * and the update adds the pairs to what G holds (`gHolds`).
 *
 * Views (block `<param block>.deferred`, in the run's part of the block's memory):
 *   X:     (slots, cols)   the vector of each slot
 *   used:  (slots)         1 if the slot's sample recorded this batch
 *   meta:  (3)             [grouped pairs (dense: recorded slots) waiting for the update,
 *                           1 if a sample of this batch took the immediate path (G holds something),
 *                           the number of parts `bounds` was set for (0: none yet)]
 *  pairs:
 *   pRow:  (slots, budget) rows of each slot's pairs; pCoef: their coefficients; pCnt: (slots) counts
 *   pos:   (rows)          groupPairs: a touched row's position in the block's touched list, plus
 *                           one (the index in ptr of its cursor while the pairs are placed)
 *   ptr:   (rows + 1)      per touched position i: its pairs are src/coef[ptr[i] .. ptr[i+1])
 *   src, coef: (slots * budget) the pairs grouped by touched position: source slot and coefficient
 *   bounds: (parts + 1)    the rows of each thread's part of the grouping (groupPart)
 *   partRows: (parts)      touched rows each part listed
 *   list:  (parts, slots * budget) each part's pairs (indices into pRow); slotEnd: (parts, slots)
 *                           where each slot's pairs end in the part's list
 *  dense:
 *   coefD: (slots, rows)   every row's gradient in each slot
 *   usedList: (slots)      the recorded slots in order (gradRowsDense's list)
 */
/**
 * The work of grouping one pair, in rows listed (balanceParts). Measured with the kernels on
 * half of 670K rows and a batch of 256 x 800 pairs spread over them (~103K pairs in the half):
 * counting and placing the pairs took 0.45 ms, listing the rows 0.66 ms; about 2 rows a pair.
 */
const PAIR_WORK = 2;

/** Grouping work before touched position i (balanceParts): the rows before touched[i] and the pairs of positions before i. */
function workBefore(touched: Int32Array, ptr: Int32Array, n: number, rows: number, i: number): number {
  return i < n ? touched[i]! + PAIR_WORK * ptr[i]! : rows + PAIR_WORK * ptr[n]!;
}

export interface DeferSpec {
  /** the parameter block's name */
  block: string;
  kind: 'pairs' | 'dense';
  rows: number;
  cols: number;
  /** sample slots: the batch rows that can record (the batch size) */
  slots: number;
  /** 'pairs': pairs a slot holds */
  budget: number;
  /** the block is the feature-major input layer (biases per column, summed from X) */
  featureMajor: boolean;
  /** 'pairs': threads that group the pairs at most (each a part of the rows: groupPart) */
  parts: number;
}

export class DeferredGrads {
  readonly X: Float32Array;
  readonly used: Int32Array;
  private readonly meta: Int32Array;
  readonly pRow: Int32Array;
  readonly pCoef: Float32Array;
  readonly pCnt: Int32Array;
  readonly pos: Int32Array;
  readonly ptr: Int32Array;
  readonly src: Int32Array;
  readonly coef: Float32Array;
  readonly coefD: Float32Array;
  readonly usedList: Int32Array;
  private readonly bounds: Int32Array;
  private readonly partRows: Int32Array;
  /** each part's rows of `list` and `slotEnd` */
  private readonly lists: Int32Array[];
  private readonly slotEnds: Int32Array[];

  static declare(s: DeferSpec): BlockDecl {
    if (!(Number.isInteger(s.slots) && s.slots >= 1 && Number.isInteger(s.budget) && s.budget >= 1 && Number.isInteger(s.parts) && s.parts >= 1)) {
      throw new RangeError(`DeferredGrads ${s.block}: slots, budget and parts must be positive integers, got ${s.slots}, ${s.budget} and ${s.parts}`);
    }
    const pairs = s.kind === 'pairs';
    const b = pairs ? s.budget : 0;
    return new BlockDecl(`${s.block}.deferred`)
      .f32('X', [s.slots, s.cols])
      .i32('used', [s.slots])
      .i32('meta', [3])
      .i32('pRow', [s.slots, b])
      .f32('pCoef', [s.slots, b])
      .i32('pCnt', [pairs ? s.slots : 0])
      .i32('pos', [pairs ? s.rows : 0])
      .i32('ptr', [pairs ? s.rows + 1 : 0])
      .i32('src', [s.slots * b])
      .f32('coef', [s.slots * b])
      .f32('coefD', [pairs ? 0 : s.slots, pairs ? 0 : s.rows])
      .i32('usedList', [pairs ? 0 : s.slots])
      .i32('bounds', [pairs ? s.parts + 1 : 0])
      .i32('partRows', [pairs ? s.parts : 0])
      .i32('list', [pairs ? s.parts : 0, s.slots * b])
      .i32('slotEnd', [pairs ? s.parts : 0, s.slots]);
  }

  constructor(
    readonly spec: DeferSpec,
    v: BlockViews,
  ) {
    this.X = v.f32('X');
    this.used = v.i32('used');
    this.meta = v.i32('meta');
    this.pRow = v.i32('pRow');
    this.pCoef = v.f32('pCoef');
    this.pCnt = v.i32('pCnt');
    this.pos = v.i32('pos');
    this.ptr = v.i32('ptr');
    this.src = v.i32('src');
    this.coef = v.f32('coef');
    this.coefD = v.f32('coefD');
    this.usedList = v.i32('usedList');
    this.bounds = v.i32('bounds');
    this.partRows = v.i32('partRows');
    const list = v.i32('list');
    const slotEnd = v.i32('slotEnd');
    const m = spec.slots * spec.budget;
    this.lists = Array.from({ length: this.partRows.length }, (_, t) => list.subarray(t * m, (t + 1) * m));
    this.slotEnds = Array.from({ length: this.partRows.length }, (_, t) => slotEnd.subarray(t * spec.slots, (t + 1) * spec.slots));
  }

  get slots(): number {
    return this.spec.slots;
  }

  /** Whether a sample with n active rows fits a slot. */
  fits(n: number): boolean {
    return this.spec.kind === 'dense' || n <= this.spec.budget;
  }

  /**
   * Record the weight-gradient half of a sample's backward through the block: rows[rowsOff ..
   * +n) with coefficients grad[gradOff ..), vector x[xOff .. +cols). The rows are the sample's
   * touched rows (listed by `touch` before the update, without per-row atomics), so a zero
   * coefficient is recorded too: it adds +-0, which changes no sum. One sample per slot per batch
   * (threads write disjoint slots: no race). The caller checked `fits(n)`.
   */
  record(slot: number, rows: Int32Array, rowsOff: number, n: number, grad: Float32Array, gradOff: number, x: Float32Array, xOff: number): void {
    const cols = this.spec.cols;
    const X = this.X;
    const xb = slot * cols;
    // plain loops: TypedArray.set on shared memory takes a slow path that allocates
    for (let k = 0; k < cols; k++) X[xb + k] = x[xOff + k]!;
    if (this.spec.kind === 'dense') {
      const cb = slot * this.spec.rows;
      const coefD = this.coefD;
      for (let i = 0; i < n; i++) coefD[cb + rows[rowsOff + i]!] = grad[gradOff + i]!;
    } else {
      const pb = slot * this.spec.budget;
      const pRow = this.pRow;
      const pCoef = this.pCoef;
      for (let i = 0; i < n; i++) {
        pRow[pb + i] = rows[rowsOff + i]!;
        pCoef[pb + i] = grad[gradOff + i]!;
      }
      this.pCnt[slot] = n;
    }
    this.used[slot] = 1;
  }

  /**
   * List the rows of the recorded pairs as touched (on the block's marks and touched list of
   * length n); returns the list's new length. Dense: every row, once any slot recorded.
   */
  touch(k: Kernels, mark: Int32Array, touched: Int32Array, n: number): number {
    if (this.spec.kind === 'pairs') return k.markPairs(this.pRow, this.pCnt, this.spec.slots, this.spec.budget, mark, touched, n);
    let any = false;
    for (let s = 0; s < this.spec.slots; s++) if (this.used[s] !== 0) any = true;
    if (!any) return n;
    for (let r = 0; r < this.spec.rows; r++) {
      if (mark[r] === 0) {
        mark[r] = 1;
        touched[n++] = r;
      }
    }
    return n;
  }

  /**
   * Group the recorded pairs by touched row (on one thread, after every sample of the batch ran
   * and before any part of the update): Kernels.groupPairs, a counting sort over touched[0 ..
   * nTouched), stable in slot order; empties the slots. Dense: the list of recorded slots.
   */
  group(k: Kernels, touched: Int32Array, nTouched: number): void {
    if (this.spec.kind === 'pairs') {
      this.meta[0] = k.groupPairs(touched, nTouched, this.pos, this.ptr, this.pRow, this.pCoef, this.pCnt, this.spec.slots, this.spec.budget, this.src, this.coef);
      return;
    }
    let u = 0;
    for (let s = 0; s < this.spec.slots; s++) if (this.used[s] !== 0) this.usedList[u++] = s;
    this.meta[0] = u;
  }

  /**
   * Thread t's part (of T) of touch and group in one, when every gradient of the batch is a pair
   * (fusable: G holds nothing, so no row is marked yet), over its part [r0, r1) of the rows: list
   * the part's pairs (selectPairs, which also counts the pairs below r0: where the part's pairs
   * start), count each row's pairs in its mark (countPairs), list the counted rows in ascending
   * order with their pair offsets at the part's own place (listCounted), and place their pairs
   * (placePairs). Parts write disjoint marks, list entries and pair positions, so the threads need
   * not wait for each other; joinParts then closes the gaps between the parts' lists. The result
   * is the same touched rows, ascending, and the same groups as touch, orderTouched and group,
   * whatever T and the bounds: with one part it is the whole grouping, with one random pass over
   * the pairs fewer than those three and no random position writes.
   */
  groupPart(k: Kernels, mark: Int32Array, touched: Int32Array, t: number, T: number): void {
    const s = this.spec;
    const r0 = this.partStart(t, T);
    const r1 = this.partStart(t + 1, T);
    const list = this.lists[t]!;
    const slotEnd = this.slotEnds[t]!;
    const below = k.selectPairs(this.pRow, this.pCnt, s.slots, s.budget, r0, r1, list, slotEnd);
    const m = slotEnd[s.slots - 1]!;
    k.countPairs(this.pRow, list, m, mark);
    const n = k.listCounted(mark, r0, r1, touched, this.ptr, below);
    if (n > 0) k.placePairs(mark, this.pRow, this.pCoef, list, slotEnd, s.slots, this.src, this.coef);
    this.partRows[t] = n;
  }

  /** The first row of part t of T: the bounds joinParts set for T parts, or an equal split. */
  private partStart(t: number, T: number): number {
    if (t >= T) return this.spec.rows;
    return this.meta[2] === T ? this.bounds[t]! : Math.floor((this.spec.rows * t) / T);
  }

  /**
   * After every part of groupPart ran (one thread): move each part's list and pair ends next to
   * the previous part's (part t's rows from touched[r0_t ..] and ptr[r0_t + 1 ..] down to the
   * rows before it: the moves only go down, and part t lands below where part t + 1 starts, so
   * they run in part order), empty the slots, and set the next batch's bounds. Returns the
   * touched rows.
   */
  joinParts(touched: Int32Array, T: number): number {
    const ptr = this.ptr;
    let n = this.partRows[0]!;
    for (let t = 1; t < T; t++) {
      const r0 = this.partStart(t, T);
      const m = this.partRows[t]!;
      // plain loops: copyWithin on shared memory takes a slow path that allocates
      for (let i = 0; i < m; i++) {
        touched[n + i] = touched[r0 + i]!;
        ptr[n + 1 + i] = ptr[r0 + 1 + i]!;
      }
      n += m;
    }
    ptr[0] = 0;
    this.meta[0] = ptr[n]!;
    const pCnt = this.pCnt;
    for (let b = 0; b < this.spec.slots; b++) pCnt[b] = 0;
    if (T > 1) this.balanceParts(touched, n, T);
    return n;
  }

  /**
   * Bounds for the next batch's T parts that give each about the same work, judged on this
   * batch's rows: a part scans its rows' marks (one unit a row) and counts and places its pairs
   * (PAIR_WORK units a pair). Batches of one run touch rows alike, so the last batch's split
   * suits the next; any bounds give the same groups, only the balance depends on them.
   */
  private balanceParts(touched: Int32Array, n: number, T: number): void {
    const ptr = this.ptr;
    const rows = this.spec.rows;
    const total = workBefore(touched, ptr, n, rows, n);
    const b = this.bounds;
    b[0] = 0;
    let lo = 0;
    for (let t = 1; t < T; t++) {
      const want = (total * t) / T;
      let hi = n;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (workBefore(touched, ptr, n, rows, mid) < want) lo = mid + 1;
        else hi = mid;
      }
      b[t] = lo < n ? touched[lo]! : rows;
    }
    b[T] = rows;
    this.meta[2] = T;
  }

  /** Feature-major blocks: gBias[j] += the slots' X[s][j], slots in order (the biases of the input layer). */
  addBiasSums(gBias: Float32Array): void {
    const cols = this.spec.cols;
    const X = this.X;
    for (let s = 0; s < this.spec.slots; s++) {
      if (this.used[s] === 0) continue;
      const xb = s * cols;
      for (let j = 0; j < cols; j++) gBias[j] = gBias[j]! + X[xb + j]!;
    }
  }

  /**
   * A sample of this batch added its gradients to G directly (the immediate path): the update
   * must then add the pairs to what G holds.
   */
  markImmediate(): void {
    this.meta[1] = 1;
  }

  /** Whether the last `group` found something to add. */
  get pending(): boolean {
    return this.meta[0]! !== 0;
  }

  /** Whether G may hold gradients of this batch besides the pairs (see markImmediate). */
  get gHolds(): boolean {
    return this.meta[1]! !== 0;
  }

  /** Whether the update can fuse the sums into the Adam step (pairs, G holding nothing). */
  get fusable(): boolean {
    return this.spec.kind === 'pairs' && !this.gHolds;
  }

  /** Add the recorded gradients of touched positions [from, from + n) to their G rows (and biases, neuron-major). */
  addTo(k: Kernels, G: Float32Array, gBias: Float32Array, touched: Int32Array, from: number, n: number): void {
    const cols = this.spec.cols;
    if (this.spec.kind === 'dense') k.gradRowsDense(G, gBias, cols, touched, from, n, this.coefD, this.spec.rows, this.usedList, this.meta[0]!, this.X);
    else k.gradRows(G, this.spec.featureMajor ? null : gBias, cols, touched, from, n, this.ptr, this.src, this.coef, this.X);
  }

  /**
   * The Adam step of touched positions [from, from + n) with their grouped pairs as the gradient
   * (Kernels.adamRowsPairs): only when `fusable`.
   */
  adamStep(k: Kernels, W: Float32Array, M: Float32Array, V: Float32Array, gBias: Float32Array, touched: Int32Array, from: number, n: number, lrT: number, b1: number, b2: number, eps: number, decay: number): void {
    k.adamRowsPairs(W, M, V, this.spec.featureMajor ? null : gBias, this.spec.cols, touched, from, n, this.ptr, this.src, this.coef, this.X, lrT, b1, b2, eps, decay);
  }

  /** Forget this batch's records (after the update used them). */
  finish(): void {
    this.meta[0] = 0;
    this.meta[1] = 0;
    const used = this.used;
    for (let s = 0; s < used.length; s++) used[s] = 0;
  }

  /** Undo a slot's record (a sample to be replayed by the immediate path). */
  clearSlot(slot: number): void {
    this.used[slot] = 0;
    if (this.spec.kind === 'pairs') this.pCnt[slot] = 0;
  }
}
