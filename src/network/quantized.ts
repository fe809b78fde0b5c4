/**
 * Ranking the output layer's rows through 8-bit copies of them, with the float32 answer.
 *
 * An evaluation wants each query's top k labels among n candidates (all neurons in exact
 * inference). Scoring every candidate with its float32 row reads n x nIn x 4 bytes a query, and
 * at WordNet's shape (1,000 candidates of 256 floats) those reads are most of LSH inference. So
 * each query scores its candidates from 8-bit copies of the rows (a quarter of the bytes) and a
 * 16-bit copy of its input, which gives every candidate an interval [lo, hi] certain to hold its
 * float32 logit; only the candidates whose hi reaches the k-th largest lo can be in the top k,
 * and those alone are scored again in float32. The answer is the float32 top k, ties to the
 * smaller id, bit for bit: the same as scoring every candidate in float32 (test/quantized.test.ts).
 * Exact inference, where every row is a candidate, scores the rows for four queries at once
 * (scoreRowsQ8x4: a row's bytes read once for the four).
 *
 * The interval. Row r's copy has scale s (max |w| / 127), so |w_k - s q_k| <= s/2; the query's
 * has scale xs, |x_k - xs p_k| <= xs/2. Then
 *   |x.w - (xs p).(s q)| <= |x.(w - s q)| + |(x - xs p).(s q)| <= s (|x|_1 / 2 + xs |q|_1 / 2),
 * and float32 rounding in the dot products adds at most (nIn + 8) 2^-24 (|x|.|w| + |b|) on
 * each side, bounded here with four times that margin (2^-22). The copies must be of the current
 * weights: every evaluation makes them first (Phase.Quantize, training/executor.ts).
 */
import { BlockDecl, type BlockViews } from '../memory/layout.js';
import type { Kernels } from '../kernels/index.js';
import { jsKernels } from '../kernels/js.js';
import { topK } from './topk.js';

/** A layer's 8-bit row copies: Q (rows, nIn) int8, scale (rows) float32, qL1 (rows) = sum |Q[r, .]|. */
export interface RowCopy8 {
  readonly Q: Int8Array;
  readonly scale: Float32Array;
  readonly qL1: Int32Array;
}

/**
 * A thread's scratch for rankRows: the query's 16-bit copy (nIn) and its coefficients (4, kernel
 * quantizeQuery), the upper bounds and the rows kept (nOut each).
 */
export interface RankScratch {
  readonly xq: Int16Array;
  readonly prm: Float64Array;
  readonly hi: Float32Array;
  readonly sel: Int32Array;
}

/** Fewer candidates than this are scored in float32 directly (the copies would save little). */
export const RANK_DIRECT_BELOW = 64;

/** The layout of a block's copies (not part of the model's state: rebuilt from W). */
export function declareRowCopy8(name: string, rows: number, nIn: number): BlockDecl {
  return new BlockDecl(`${name}.q8`).i8('Q', [rows, nIn]).f32('scale', [rows]).i32('qL1', [rows]);
}

export function bindRowCopy8(v: BlockViews): RowCopy8 {
  return { Q: v.i8('Q'), scale: v.f32('scale'), qL1: v.i32('qL1') };
}

export function declareRankScratch(b: BlockDecl, nIn: number, nOut: number): BlockDecl {
  return b.i16('q8x', [nIn]).f64('q8prm', [4]).f32('q8hi', [nOut]).i32('q8sel', [nOut]);
}

export function bindRankScratch(v: BlockViews): RankScratch {
  return { xq: v.i16('q8x'), prm: v.f64('q8prm'), hi: v.f32('q8hi'), sel: v.i32('q8sel') };
}

/** Queries of a block in exact inference (scoreRowsQ8x4): every row's bytes read once for this many. */
export const RANK_BLOCK = 4;

/**
 * Most bytes of bounds a thread's block holds (RANK_BLOCK x nOut x 8): up to ~1M labels. A larger
 * layer ranks one query at a time (its scratch would grow with the threads).
 */
export const RANK_BLOCK_BYTES = 32 * 2 ** 20;

/** Whether a layer of nOut rows ranks exact inference in blocks (RANK_BLOCK_BYTES). */
export function ranksInBlocks(nOut: number): boolean {
  return RANK_BLOCK * nOut * 8 <= RANK_BLOCK_BYTES;
}

/**
 * A thread's scratch for ranking RANK_BLOCK queries over every row at once (exact inference):
 * their float32 inputs and 8-bit copies (RANK_BLOCK x nIn), coefficients (RANK_BLOCK x 4), the
 * bounds of every row (RANK_BLOCK x nOut each); per query, views of its part (made once).
 */
export interface RankBlock {
  readonly xq: Int16Array;
  readonly prm: Float32Array;
  readonly lo: Float32Array;
  readonly hi: Float32Array;
  readonly x: Float32Array[];
  readonly loOf: Float32Array[];
  readonly hiOf: Float32Array[];
  /** per query: scored from the copies (1), or in float32 (0: quantizeQuery declined) */
  readonly ok: Uint8Array;
}

export function declareRankBlock(b: BlockDecl, nIn: number, nOut: number): BlockDecl {
  return b.i16('q8bxq', [RANK_BLOCK, nIn]).f32('q8bprm', [RANK_BLOCK, 4]).f32('q8blo', [RANK_BLOCK, nOut]).f32('q8bhi', [RANK_BLOCK, nOut]).f32('q8bx', [RANK_BLOCK, nIn]);
}

export function bindRankBlock(v: BlockViews, nIn: number, nOut: number): RankBlock {
  const lo = v.f32('q8blo');
  const hi = v.f32('q8bhi');
  const x = v.f32('q8bx');
  const part = <T extends Float32Array>(a: T, w: number): T[] => Array.from({ length: RANK_BLOCK }, (_, j) => a.subarray(j * w, (j + 1) * w) as T);
  return { xq: v.i16('q8bxq'), prm: v.f32('q8bprm'), lo, hi, x: part(x, nIn), loOf: part(lo, nOut), hiOf: part(hi, nOut), ok: new Uint8Array(RANK_BLOCK) };
}

/**
 * Query j of a block: its input x (nIn) copied, its 8-bit copy and coefficients (quantizeQuery)
 * or, where it declines, a zero copy (the kernel then scores it harmlessly; rankBlockQuery
 * scores it in float32).
 */
export function stageBlockQuery(x: Float32Array, nIn: number, blk: RankBlock, j: number): void {
  const xj = blk.x[j]!;
  for (let i = 0; i < nIn; i++) xj[i] = x[i]!;
  const q = queryScratch;
  const ok = jsKernels.quantizeQuery(x, nIn, blk.xq, j * nIn, q) === 1;
  blk.ok[j] = ok ? 1 : 0;
  if (!ok) {
    blk.xq.fill(0, j * nIn, (j + 1) * nIn);
    q.fill(0);
  }
  for (let i = 0; i < 4; i++) blk.prm[4 * j + i] = q[i]!;
}

/** A block slot with no query (the block's last rows): a zero copy. */
export function clearBlockQuery(nIn: number, blk: RankBlock, j: number): void {
  blk.xq.fill(0, j * nIn, (j + 1) * nIn);
  blk.prm.fill(0, 4 * j, 4 * j + 4);
  blk.ok[j] = 0;
}

/**
 * The top K of every row for query j of a block whose bounds scoreRowsQ8x4 wrote: as rankRows,
 * the rows whose upper bound reaches the K-th largest lower bound scored again in float32.
 * all: 0 .. nOut-1. Returns how many (min(K, nOut)).
 */
export function rankBlockQuery(
  k: Kernels, W: Float32Array, bias: Float32Array, nIn: number, nOut: number, all: Int32Array, blk: RankBlock, j: number,
  K: number, s: RankScratch, z: Float32Array, outIds: Int32Array, outScores: Float32Array,
): number {
  const x = blk.x[j]!;
  if (blk.ok[j] === 0 || nOut <= K) return direct(k, W, bias, nIn, x, all, nOut, K, z, outIds, outScores);
  const r = k.rankCut(blk.loOf[j]!, blk.hiOf[j]!, nOut, K, all, s.sel, outScores);
  return direct(k, W, bias, nIn, x, s.sel, r, K, z, outIds, outScores);
}

/** Copy rows [r0, r1) of W (_, nIn) into c: part of Phase.Quantize, each thread a disjoint range. */
export function quantizeRange(k: Kernels, W: Float32Array, nIn: number, r0: number, r1: number, c: RowCopy8): void {
  if (r1 > r0) k.quantizeRows(W, nIn, r0, r1, c.Q, c.scale, c.qL1);
}

/**
 * The top k of the n candidates act[0 .. n) by float32 logit (x . W[r] + bias[r]), ties to the
 * smaller id, into outIds / outScores (the logits); returns how many (min(k, n)). z: a scratch of
 * n floats. W's copies in c must be of its current values.
 */
export function rankRows(
  k: Kernels, W: Float32Array, bias: Float32Array, c: RowCopy8, nIn: number, x: Float32Array,
  act: Int32Array, n: number, K: number, s: RankScratch, z: Float32Array, outIds: Int32Array, outScores: Float32Array,
): number {
  if (n < RANK_DIRECT_BELOW || n <= K) return direct(k, W, bias, nIn, x, act, n, K, z, outIds, outScores);
  const q = s.prm;
  if (k.quantizeQuery(x, nIn, s.xq, 0, q) === 0) return direct(k, W, bias, nIn, x, act, n, K, z, outIds, outScores);
  const hi = s.hi;
  k.scoreRowsQ8(c.Q, c.scale, c.qL1, bias, nIn, act, 0, n, s.xq, q[0]!, q[1]!, q[2]!, q[3]!, z, 0, hi, 0);
  // no candidate whose upper bound is below the K-th largest lower bound can be in the top K
  const r = k.rankCut(z, hi, n, K, act, s.sel, outScores);
  return direct(k, W, bias, nIn, x, s.sel, r, K, z, outIds, outScores);
}

const queryScratch = new Float64Array(4);

/** Every candidate scored in float32, then its top K. */
function direct(k: Kernels, W: Float32Array, bias: Float32Array, nIn: number, x: Float32Array, rows: Int32Array, n: number, K: number, z: Float32Array, outIds: Int32Array, outScores: Float32Array): number {
  k.dotRows(W, bias, nIn, rows, 0, n, x, 0, z, 0);
  return topK(rows, z, n, K, outIds, outScores);
}
