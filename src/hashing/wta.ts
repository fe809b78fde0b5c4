/**
 * Winner-take-all hashing (Yagnik et al. 2011): elementary hash h looks at binSize coordinates
 * and outputs the position (0 .. binSize-1) of the largest value among them; ties go to the first
 * position. The code is what is compared: the reference C++ stores a different value than the one
 * it compares; here the stored code is exactly the argmax position.
 *
 * Coordinates: ceil(numHashes * binSize / dim) independent random permutations of [0, dim) are
 * concatenated and cut into consecutive bins of binSize, so every coordinate is used (almost)
 * equally often. A bin may straddle two permutations and then hold a coordinate twice; the first
 * occurrence wins a tie, which is consistent.
 *
 * The arg-max runs on order-preserving int32 keys without data-dependent branches
 * (wtaKernel.ts). The dense path computes the keys of the row (O(dim)), then runs the kernel
 * (O(numHashes * binSize)). Sparse rows: absent coordinates are 0, exactly as in the dense form:
 * the sparse path scatters the keys of the non-zeros into a key scratch that holds key(0)
 * everywhere else, runs the same kernel and clears the scratch again: O(nnz + numHashes * binSize),
 * identical to the dense result by construction. (For very sparse inputs use DWTA, whose sparse
 * path is O(nnz * numHashes * binSize / dim).)
 */
import type { HashFamily, HashFamilyOptions, KernelPlan } from './types.js';
import { Rng } from '../util/rng.js';
import { RowHashFamily, STREAM_WTA, validateBinSize, validateCommon } from './common.js';
import { argmaxBins, wtaKey, wtaKeys } from './wtaKernel.js';

export class Wta extends RowHashFamily implements HashFamily {
  readonly name = 'wta';
  readonly dim: number;
  readonly numHashes: number;
  readonly bitsPerHash: number;
  readonly binSize: number;
  /** (numHashes, binSize) row-major: coordinate looked at by hash h at position p */
  readonly coords: Int32Array;
  /** scratch (dim): keys of a dense row */
  private readonly denseKeys: Int32Array;
  /** scratch (dim): keys of a sparse row scattered over key(0) = 0, restored to all 0 after each call */
  private readonly sparseKeys: Int32Array;

  constructor(opts: HashFamilyOptions) {
    super();
    validateCommon('wta', opts);
    this.bitsPerHash = validateBinSize('wta', opts);
    this.dim = opts.dim;
    this.numHashes = opts.numHashes;
    this.binSize = 1 << this.bitsPerHash;
    this.coords = permutationBins(this.dim, this.numHashes * this.binSize, new Rng(opts.seed, STREAM_WTA));
    this.denseKeys = new Int32Array(this.dim);
    this.sparseKeys = new Int32Array(this.dim);
  }

  /** The SIMD kernels' work: the arg-max over the same bins (Kernels.wtaCodes). */
  override kernelPlan(): Extract<KernelPlan, { kind: 'wta' }> {
    return { kind: 'wta', numHashes: this.numHashes, select: null, binSize: this.binSize, coords: this.coords };
  }

  hashDenseRow(x: Float32Array, xOff: number, out: Int32Array, outOff: number): void {
    wtaKeys(x, xOff, this.dim, this.denseKeys);
    argmaxBins(this.denseKeys, this.coords, this.numHashes, this.binSize, out, outOff);
  }

  hashSparseRow(idx: Int32Array, val: Float32Array, start: number, end: number, out: Int32Array, outOff: number): void {
    const keys = this.sparseKeys;
    for (let k = start; k < end; k++) keys[idx[k]!] = wtaKey(val[k]!);
    argmaxBins(keys, this.coords, this.numHashes, this.binSize, out, outOff);
    for (let k = start; k < end; k++) keys[idx[k]!] = 0;
  }

}

/**
 * The first `count` entries of ceil(count / dim) concatenated random permutations of [0, dim).
 * Shared by WTA and DWTA.
 */
export function permutationBins(dim: number, count: number, rng: Rng): Int32Array {
  const coords = new Int32Array(count);
  const perm = new Int32Array(dim);
  for (let start = 0; start < count; start += dim) {
    for (let i = 0; i < dim; i++) perm[i] = i;
    rng.shuffle(perm, dim);
    const m = Math.min(dim, count - start);
    for (let i = 0; i < m; i++) coords[start + i] = perm[i]!;
  }
  return coords;
}
