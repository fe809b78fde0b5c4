/**
 * Densified winner-take-all (Chen & Shrivastava 2018), the family SLIDE uses for output layers.
 *
 * Bins are drawn as in WTA (concatenated random permutations cut into bins of binSize), but zero
 * coordinates never win: the code of a bin is the position (0 .. binSize-1) of the largest
 * NON-ZERO value in it, ties to the first position. A bin whose coordinates are all zero (or
 * absent) is empty and borrows the code of another bin through the fixed seeded probing sequence
 * of `Densifier` (common.ts). An all-zero input gives EMPTY_INPUT_CODE everywhere.
 *
 * Dense path: order-preserving int32 keys (zeros below everything) and the branch-free arg-max
 * of wtaKernel.ts, O(dim + numHashes * binSize).
 * Sparse path: an inverse map feature -> slots (slot = h * binSize + p) lets a sparse row touch
 * only the slots of its non-zeros: O(nnz * numHashes * binSize / dim + numHashes), independent
 * of dim. Ties between non-zeros of one bin are broken by the smaller position, so the result
 * does not depend on the order of the indices and equals the dense result exactly (comparisons
 * only, no arithmetic).
 */
import type { HashFamily, HashFamilyOptions, KernelPlan } from './types.js';
import { Rng } from '../util/rng.js';
import { RowHashFamily, Densifier, STREAM_DWTA, validateBinSize, validateCommon } from './common.js';
import { permutationBins } from './wta.js';
import { argmaxBins, dwtaKeys } from './wtaKernel.js';

export class Dwta extends RowHashFamily implements HashFamily {
  readonly name = 'dwta';
  readonly dim: number;
  readonly numHashes: number;
  readonly bitsPerHash: number;
  readonly binSize: number;
  /** (numHashes, binSize) row-major: coordinate looked at by hash h at position p */
  readonly coords: Int32Array;
  /** inverse map, CSR: the slots h*binSize+p of feature f are invSlots[invPtr[f] .. invPtr[f+1]) */
  readonly invPtr: Int32Array; // (dim + 1)
  readonly invSlots: Int32Array; // (numHashes * binSize)
  /** the densification: probing sequence (densifier.probes) and its scratch */
  readonly densifier: Densifier;
  // scratch, numHashes each
  private readonly raw: Int32Array;
  private readonly bestVal: Float64Array;
  /** scratch (dim): keys of a dense row */
  private readonly denseKeys: Int32Array;

  constructor(opts: HashFamilyOptions) {
    super();
    validateCommon('dwta', opts);
    this.bitsPerHash = validateBinSize('dwta', opts);
    this.dim = opts.dim;
    this.numHashes = opts.numHashes;
    this.binSize = 1 << this.bitsPerHash;
    const rng = new Rng(opts.seed, STREAM_DWTA);
    const S = this.numHashes * this.binSize;
    this.coords = permutationBins(this.dim, S, rng);
    this.densifier = new Densifier('dwta', this.numHashes, rng);

    // inverse map by counting sort; slots of one feature come out in increasing slot order
    this.invPtr = new Int32Array(this.dim + 1);
    this.invSlots = new Int32Array(S);
    for (let s = 0; s < S; s++) this.invPtr[this.coords[s]! + 1]++;
    for (let f = 0; f < this.dim; f++) this.invPtr[f + 1] += this.invPtr[f]!;
    const cursor = this.invPtr.slice(0, this.dim);
    for (let s = 0; s < S; s++) this.invSlots[cursor[this.coords[s]!]!++] = s;

    this.raw = new Int32Array(this.numHashes);
    this.bestVal = new Float64Array(this.numHashes);
    this.denseKeys = new Int32Array(this.dim);
  }

  /** The SIMD kernels' work: the arg-max over the same bins, then the same densification (Kernels.wtaCodes, densifyCodes). */
  override kernelPlan(): Extract<KernelPlan, { kind: 'dwta' }> {
    return { kind: 'dwta', numHashes: this.numHashes, select: null, binSize: this.binSize, coords: this.coords, probes: this.densifier.probes };
  }

  hashDenseRow(x: Float32Array, xOff: number, out: Int32Array, outOff: number): void {
    dwtaKeys(x, xOff, this.dim, this.denseKeys);
    const nonEmpty = argmaxBins(this.denseKeys, this.coords, this.numHashes, this.binSize, this.raw, 0);
    this.densifier.run(this.raw, nonEmpty, out, outOff);
  }

  hashSparseRow(idx: Int32Array, val: Float32Array, start: number, end: number, out: Int32Array, outOff: number): void {
    const H = this.numHashes;
    const shift = this.bitsPerHash;
    const mask = this.binSize - 1;
    const raw = this.raw;
    const bestVal = this.bestVal;
    const invPtr = this.invPtr;
    const invSlots = this.invSlots;
    for (let h = 0; h < H; h++) raw[h] = -1;
    let nonEmpty = 0;
    for (let k = start; k < end; k++) {
      const v = val[k]!;
      if (v === 0) continue;
      const f = idx[k]!;
      const e = invPtr[f + 1]!;
      for (let j = invPtr[f]!; j < e; j++) {
        const s = invSlots[j]!;
        const h = s >>> shift;
        const p = s & mask;
        const cur = raw[h]!;
        if (cur < 0) {
          raw[h] = p;
          bestVal[h] = v;
          nonEmpty++;
        } else if (v > bestVal[h]! || (v === bestVal[h]! && p < cur)) {
          raw[h] = p;
          bestVal[h] = v;
        }
      }
    }
    this.densifier.run(raw, nonEmpty, out, outOff);
  }

}
