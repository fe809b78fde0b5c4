/**
 * Densified one-permutation MinHash (Li, Owen & Zhang 2012; densification: Shrivastava 2017),
 * for sparse binary-ish inputs such as the input layer: the SET of non-zero coordinates is
 * hashed, the values are ignored (an explicit 0 counts as absent, in both forms).
 *
 * One random permutation pi of [0, dim); permuted position q lies in bin floor(q * s) with
 * s = numHashes / dim as a float64 (the same expression everywhere, so the bins are fixed
 * contiguous ranges of about dim / numHashes positions). Only pi is stored: a sparse row costs one
 * random read per non-zero (the bin is computed, not looked up). The raw value of a bin is the
 * smallest permuted position pi(f) of a non-zero f falling in it (equivalently the smallest offset
 * within the bin); its code is that position mixed by a seeded 32-bit mix and reduced to `bits`
 * bits (the top bits of the mix). Empty bins are densified with the fixed seeded probing sequence
 * of `Densifier` (common.ts). For two sets the probability that a bin's codes agree is the Jaccard
 * similarity J plus (1 - J) * 2^-bits from the reduction.
 *
 * The reference shifts by the input dimension here (undefined behaviour in C++); nothing is
 * shifted by a data-dependent amount in this file.
 *
 * If numHashes > dim some bins cover no position and are always empty (always densified).
 */
import type { HashFamily, HashFamilyOptions } from './types.js';
import { mix32, Rng } from '../util/rng.js';
import { RowHashFamily, Densifier, failOption, STREAM_DOPH, validateCommon } from './common.js';

export class Doph extends RowHashFamily implements HashFamily {
  readonly name = 'doph';
  readonly dim: number;
  readonly numHashes: number;
  readonly bitsPerHash: number;
  /** (dim): permuted position pi(f) of feature f; its bin is floor(pi(f) * binScale) */
  readonly posOf: Int32Array;
  /** numHashes / dim */
  readonly binScale: number;
  /** the densification: probing sequence (densifier.probes) and its scratch */
  readonly densifier: Densifier;
  /** seeded salt of the code mix */
  readonly salt: number;
  // scratch, numHashes each
  private readonly minPos: Int32Array;
  private readonly raw: Int32Array;

  constructor(opts: HashFamilyOptions) {
    super();
    validateCommon('doph', opts);
    const bits = opts.bits ?? 8;
    if (!Number.isInteger(bits) || bits < 1 || bits > 30) failOption('doph', 'bits', 'an integer in [1, 30]', bits);
    this.dim = opts.dim;
    this.numHashes = opts.numHashes;
    this.bitsPerHash = bits;
    const rng = new Rng(opts.seed, STREAM_DOPH);
    const dim = this.dim;
    const H = this.numHashes;
    const perm = new Int32Array(dim);
    for (let i = 0; i < dim; i++) perm[i] = i;
    rng.shuffle(perm, dim);
    this.posOf = perm; // posOf[f] = pi(f)
    this.binScale = H / dim;
    this.densifier = new Densifier('doph', H, rng);
    this.salt = rng.nextU32() | 0;
    this.minPos = new Int32Array(H);
    this.raw = new Int32Array(H);
  }

  hashDenseRow(x: Float32Array, xOff: number, out: Int32Array, outOff: number): void {
    const H = this.numHashes;
    const dim = this.dim;
    const scale = this.binScale;
    const posOf = this.posOf;
    const minPos = this.minPos;
    for (let h = 0; h < H; h++) minPos[h] = -1;
    for (let f = 0; f < dim; f++) {
      if (x[xOff + f]! === 0) continue;
      const q = posOf[f]!;
      const b = Math.floor(q * scale);
      const cur = minPos[b]!;
      if (cur < 0 || q < cur) minPos[b] = q;
    }
    this.finish(out, outOff);
  }

  hashSparseRow(idx: Int32Array, val: Float32Array, start: number, end: number, out: Int32Array, outOff: number): void {
    const H = this.numHashes;
    const scale = this.binScale;
    const posOf = this.posOf;
    const minPos = this.minPos;
    for (let h = 0; h < H; h++) minPos[h] = -1;
    for (let k = start; k < end; k++) {
      if (val[k]! === 0) continue;
      const f = idx[k]!;
      const q = posOf[f]!;
      const b = Math.floor(q * scale);
      const cur = minPos[b]!;
      if (cur < 0 || q < cur) minPos[b] = q;
    }
    this.finish(out, outOff);
  }

  /** minPos -> codes (mix + reduce), then densify into out. */
  private finish(out: Int32Array, outOff: number): void {
    const H = this.numHashes;
    const minPos = this.minPos;
    const raw = this.raw;
    const shift = 32 - this.bitsPerHash;
    const salt = this.salt;
    let nonEmpty = 0;
    for (let h = 0; h < H; h++) {
      const q = minPos[h]!;
      if (q < 0) {
        raw[h] = -1;
      } else {
        raw[h] = mix32(q ^ salt) >>> shift;
        nonEmpty++;
      }
    }
    this.densifier.run(raw, nonEmpty, out, outOff);
  }

}
