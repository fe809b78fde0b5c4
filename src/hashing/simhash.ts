/**
 * SimHash (signed random projections, Charikar 2002): elementary hash h is one bit,
 *   code_h(x) = <r_h, x> >= 0 ? 1 : 0,
 * with r_h either sparse ({-1, 0, +1}, P(non-zero) = density, Achlioptas / Li et al.), Gaussian,
 * or 'hadamard': the rows of pseudo-random rotations (below). For Gaussian r the collision
 * probability of one bit is exactly 1 - theta(x, y) / pi; for the sparse projection it is the
 * same up to a small CLT error on dense-ish inputs. A zero projection (e.g. x = 0, or no overlap
 * between x and r_h) gives bit 1.
 *
 * 'hadamard' (structured projections): the p = max(8, 2^ceil(log2 dim)) projections of block b
 * are the rows of H D_b,2 H D_b,1 H D_b,0 (H the p x p Walsh-Hadamard matrix, D diagonal random
 * signs, the input zero-padded to p): three HD rounds behave like a uniformly random rotation
 * (Ailon & Chazelle 2009; used for LSH by Andoni et al. 2015, "Practical and Optimal LSH for
 * Angular Distance"), so each bit keeps the 1 - theta / pi collision probability, and the p bits
 * of a block come from orthogonal hyperplanes. A block costs 3 p log2 p additions instead of the
 * dim * p multiply-adds of a projection matrix: at dim 256, 900 hashes, 6x fewer cycles a
 * neuron at rebuilds and 16x a query (bench:kernels), and no 900 KB matrix to stream. Codes come
 * from the `hadamardRows` kernel's TypeScript twin (float32 stage by stage), so the WebAssembly
 * kernel gives the same codes bit for bit.
 *
 * Layout: proj (dim, numHashes) row-major, feature-major: the numHashes entries of feature f are
 * contiguous, so hashing a sparse vector reads nnz contiguous rows. Both paths list the row's
 * non-zeros (dense: in ascending order) and run one kernel that adds four feature rows at a time
 * into a float64 accumulator of numHashes (half the accumulator traffic of one row at a time;
 * measured 2x faster at dim 128, 300 hashes).
 *
 * Dense and sparse forms agree exactly when the sparse row lists its indices in ascending order
 * (then both feed the kernel the same list; each float32 x float32 product is exact in float64).
 * For another order the float64 sums can differ in the last bit, which flips a code only when
 * <r_h, x> is within rounding of 0.
 */
import type { HashFamily, HashFamilyOptions, KernelPlan } from './types.js';
import { Rng } from '../util/rng.js';
import { RowHashFamily, failOption, STREAM_SIMHASH, validateCommon } from './common.js';
import { jsKernels } from '../kernels/js.js';

/** HD rounds per block of structured projections (three: the usual pseudo-random rotation) */
export const HADAMARD_ROUNDS = 3;

/** Projections a structured block holds for inputs of `dim`: max(8, the next power of two). */
export function hadamardWidth(dim: number): number {
  let p = 8;
  while (p < dim) p *= 2;
  return p;
}

export class SimHash extends RowHashFamily implements HashFamily {
  readonly name = 'simhash';
  readonly dim: number;
  readonly numHashes: number;
  readonly bitsPerHash = 1;
  readonly projection: 'sparse' | 'gaussian' | 'hadamard';
  /** (dim, numHashes) row-major: proj[f * numHashes + h] = r_h[f]; empty for 'hadamard' */
  readonly proj: Float32Array;
  /** 'hadamard': width p of a block (hadamardWidth(dim)); 0 otherwise */
  readonly blockWidth: number;
  /** 'hadamard': (blocks * HADAMARD_ROUNDS, p) signs +-1 of the D matrices, block-major (the kernel's S); empty otherwise */
  readonly signs: Float32Array;
  /** 'hadamard' scratch: the input densified (dim), transform buffer (p), projections (numHashes), zero thresholds (numHashes) */
  private readonly dense: Float32Array;
  private readonly hbuf: Float32Array;
  private readonly hout: Float32Array;
  private readonly hzero: Float32Array;
  /** scratch (numHashes): the projections of the row being hashed */
  private readonly acc: Float64Array;
  /** scratch (dim): the row's non-zeros as (proj row offset f*numHashes, value) */
  private readonly nzBase: Int32Array;
  private readonly nzVal: Float64Array;

  constructor(opts: HashFamilyOptions) {
    super();
    validateCommon('simhash', opts);
    const projection = opts.projection ?? 'sparse';
    if (projection !== 'sparse' && projection !== 'gaussian' && projection !== 'hadamard') failOption('simhash', 'projection', "'sparse', 'gaussian' or 'hadamard'", projection);
    const density = opts.density ?? 1 / 3;
    if (typeof density !== 'number' || !(density > 0 && density <= 1)) failOption('simhash', 'density', 'a number in (0, 1]', density);
    this.dim = opts.dim;
    this.numHashes = opts.numHashes;
    this.projection = projection;
    const rng = new Rng(opts.seed, STREAM_SIMHASH);
    const structured = projection === 'hadamard';
    const p = structured ? hadamardWidth(this.dim) : 0;
    this.blockWidth = p;
    this.signs = new Float32Array(structured ? Math.ceil(this.numHashes / p) * HADAMARD_ROUNDS * p : 0);
    for (let i = 0; i < this.signs.length; i++) this.signs[i] = rng.nextU32() & 1 ? -1 : 1;
    this.dense = new Float32Array(structured ? this.dim : 0);
    this.hbuf = new Float32Array(p);
    this.hout = new Float32Array(structured ? this.numHashes : 0);
    this.hzero = new Float32Array(structured ? this.numHashes : 0);
    const n = structured ? 0 : this.dim * this.numHashes;
    this.proj = new Float32Array(n);
    this.acc = new Float64Array(this.numHashes);
    this.nzBase = new Int32Array(this.dim);
    this.nzVal = new Float64Array(this.dim);
    const proj = this.proj;
    if (structured) {
      // the signs above are the whole draw
    } else if (projection === 'gaussian') {
      for (let i = 0; i < n; i++) proj[i] = rng.nextGaussian();
    } else {
      const half = density / 2;
      for (let i = 0; i < n; i++) {
        const u = rng.nextFloat();
        proj[i] = u < half ? -1 : u < density ? 1 : 0;
      }
    }
  }

  override kernelPlan(): KernelPlan {
    if (this.blockWidth > 0) return { kind: 'hadamard', numHashes: this.numHashes, select: null, blockWidth: this.blockWidth, rounds: HADAMARD_ROUNDS, signs: this.signs };
    return { kind: 'projection', numHashes: this.numHashes, select: null, proj: this.proj };
  }

  hashDenseRow(x: Float32Array, xOff: number, out: Int32Array, outOff: number): void {
    if (this.blockWidth > 0) {
      this.hadamard(x, xOff, out, outOff);
      return;
    }
    const H = this.numHashes;
    const nzBase = this.nzBase;
    const nzVal = this.nzVal;
    let n = 0;
    for (let f = 0; f < this.dim; f++) {
      const v = x[xOff + f]!;
      if (v !== 0) {
        nzBase[n] = f * H;
        nzVal[n] = v;
        n++;
      }
    }
    this.project(n, out, outOff);
  }

  hashSparseRow(idx: Int32Array, val: Float32Array, start: number, end: number, out: Int32Array, outOff: number): void {
    if (this.blockWidth > 0) {
      // densified, the same codes as the dense form bit for bit (the transform sees the same floats)
      const d = this.dense;
      for (let k = start; k < end; k++) d[idx[k]!] = val[k]!;
      this.hadamard(d, 0, out, outOff);
      for (let k = start; k < end; k++) d[idx[k]!] = 0;
      return;
    }
    const H = this.numHashes;
    const nzBase = this.nzBase;
    const nzVal = this.nzVal;
    let n = 0;
    for (let k = start; k < end; k++) {
      const v = val[k]!;
      if (v !== 0) {
        nzBase[n] = idx[k]! * H;
        nzVal[n] = v;
        n++;
      }
    }
    this.project(n, out, outOff);
  }

  /** structured projections of x[xOff .. +dim) through the kernel's TypeScript twin, then signs */
  private hadamard(x: Float32Array, xOff: number, out: Int32Array, outOff: number): void {
    const H = this.numHashes;
    const y = this.hout;
    jsKernels.hadamardRows(this.signs, this.hzero, this.dim, this.blockWidth, HADAMARD_ROUNDS, H, x, xOff, 1, this.hbuf, y, 0);
    for (let h = 0; h < H; h++) out[outOff + h] = y[h]! >= 0 ? 1 : 0;
  }

  /** codes from the n listed non-zeros: acc = sum of v * proj row, four rows a pass, then signs. */
  private project(n: number, out: Int32Array, outOff: number): void {
    const H = this.numHashes;
    const proj = this.proj;
    const acc = this.acc;
    const nzBase = this.nzBase;
    const nzVal = this.nzVal;
    for (let h = 0; h < H; h++) acc[h] = 0;
    let k = 0;
    for (; k + 4 <= n; k += 4) {
      const b0 = nzBase[k]!;
      const b1 = nzBase[k + 1]!;
      const b2 = nzBase[k + 2]!;
      const b3 = nzBase[k + 3]!;
      const v0 = nzVal[k]!;
      const v1 = nzVal[k + 1]!;
      const v2 = nzVal[k + 2]!;
      const v3 = nzVal[k + 3]!;
      for (let h = 0; h < H; h++) acc[h] += v0 * proj[b0 + h]! + v1 * proj[b1 + h]! + v2 * proj[b2 + h]! + v3 * proj[b3 + h]!;
    }
    for (; k < n; k++) {
      const b = nzBase[k]!;
      const v = nzVal[k]!;
      for (let h = 0; h < H; h++) acc[h] += v * proj[b + h]!;
    }
    for (let h = 0; h < H; h++) out[outOff + h] = acc[h]! >= 0 ? 1 : 0;
  }

}
