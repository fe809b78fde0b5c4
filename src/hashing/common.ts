/**
 * Pieces shared by the hash families: option validation (messages name the option) and the
 * densification used by DWTA and DOPH.
 */
import { ConfigError } from '../util/errors.js';
import type { HashFamilyOptions, KernelPlan } from './types.js';
import { Rng } from '../util/rng.js';

/** Rng stream ids, one per family, so equal seeds give unrelated functions across families. */
export const STREAM_SIMHASH = 101;
export const STREAM_WTA = 102;
export const STREAM_DWTA = 103;
export const STREAM_DOPH = 104;
/** the pool selection of PooledFamily (not a family of its own) */
export const STREAM_POOL = 105;

export function failOption(family: string, option: string, expected: string, found: unknown): never {
  throw new ConfigError(`${family}: option '${option}' must be ${expected}, found ${JSON.stringify(found)}`);
}

/** Checks dim, numHashes and seed; returns nothing, throws ConfigError naming the option. */
export function validateCommon(family: string, opts: HashFamilyOptions): void {
  if (opts === null || typeof opts !== 'object') throw new ConfigError(`${family}: options must be an object, found ${String(opts)}`);
  if (!Number.isInteger(opts.dim) || opts.dim < 1) failOption(family, 'dim', 'an integer >= 1', opts.dim);
  if (!Number.isInteger(opts.numHashes) || opts.numHashes < 1) failOption(family, 'numHashes', 'an integer >= 1', opts.numHashes);
  if (!Number.isInteger(opts.seed)) failOption(family, 'seed', 'an integer', opts.seed);
}

/** Guards of the batched dense call (once a batch, not per row). */
export function checkDenseBatch(family: string, dim: number, numHashes: number, n: number, data: Float32Array, offset: number, stride: number, out: Int32Array): void {
  if (n === 0) return;
  if (!(n > 0) || !Number.isInteger(n)) throw new RangeError(`${family}.hashDense: n must be a non-negative integer, found ${n}`);
  if (stride < dim && n > 1) throw new RangeError(`${family}.hashDense: stride ${stride} is below dim ${dim}`);
  const need = offset + (n - 1) * stride + dim;
  if (offset < 0 || need > data.length) throw new RangeError(`${family}.hashDense: rows need data[${offset} .. ${need}), data has ${data.length}`);
  if (out.length < n * numHashes) throw new RangeError(`${family}.hashDense: out needs ${n} x ${numHashes} = ${n * numHashes} codes, has ${out.length}`);
}

/** Guards of the batched sparse call (once a batch, not per row: indices are not range-checked). */
export function checkSparseBatch(family: string, numHashes: number, n: number, indptr: Int32Array, idx: Int32Array, val: Float32Array, out: Int32Array): void {
  if (n === 0) return;
  if (!(n > 0) || !Number.isInteger(n)) throw new RangeError(`${family}.hashSparse: n must be a non-negative integer, found ${n}`);
  if (indptr.length < n + 1) throw new RangeError(`${family}.hashSparse: indptr needs ${n + 1} entries, has ${indptr.length}`);
  const nnz = indptr[n]!;
  if (nnz > idx.length || nnz > val.length) throw new RangeError(`${family}.hashSparse: indptr[${n}] = ${nnz} exceeds idx (${idx.length}) or val (${val.length})`);
  if (out.length < n * numHashes) throw new RangeError(`${family}.hashSparse: out needs ${n} x ${numHashes} = ${n * numHashes} codes, has ${out.length}`);
}

/** binSize: a power of two in [2, 256]; default 8. Returns log2(binSize). */
export function validateBinSize(family: string, opts: HashFamilyOptions): number {
  const b = opts.binSize ?? 8;
  if (!Number.isInteger(b) || b < 2 || b > 256 || (b & (b - 1)) !== 0) failOption(family, 'binSize', 'a power of two in [2, 256]', b);
  return 31 - Math.clz32(b);
}

/**
 * Densification (Shrivastava 2017, "optimal densification"): an empty bin h borrows the code of
 * the first non-empty bin in a fixed, seeded probing sequence probes[h*PROBE_CAP + a],
 * a = 0 .. PROBE_CAP-1. The sequence depends only on (seed, h), never on the input, so two
 * inputs with the same non-empty bins borrow identically: that is what keeps the collision
 * probability of a densified bin tied to the similarity.
 *
 * After PROBE_CAP failed probes (only likely when almost every bin is empty, e.g. 75 non-zeros
 * spread over 135,909 features) the bin falls back to rotation densification (Shrivastava & Li
 * 2014): the next non-empty bin after h, circularly. That bounds the work per empty bin and is
 * still a fixed function of the non-empty set.
 * If every bin is empty (zero input) every code is EMPTY_INPUT_CODE.
 */
export const PROBE_CAP = 16;
export const EMPTY_INPUT_CODE = 0;

/** log2(PROBE_CAP) */
const PROBE_SHIFT = 4;
/** runInverse packs (attempt << BIN_BITS | bin); numHashes must stay below 2^BIN_BITS */
const BIN_BITS = 26;
const BIN_MASK = (1 << BIN_BITS) - 1;
const NO_HIT = PROBE_CAP << BIN_BITS; // 2^30
/** largest numHashes a densifying family accepts */
export const MAX_DENSIFIED_HASHES = 1 << BIN_BITS;

/**
 * The densification of one family instance: its probing table plus scratch. `run` gives the
 * same result along two paths, chosen by cost:
 *  - many non-empty bins: walk each empty bin's probing sequence (expected numHashes/nonEmpty
 *    probes, at most PROBE_CAP);
 *  - few non-empty bins (nonEmpty < numHashes / 3, measured crossover): walk the inverse
 *    probing map from each non-empty bin p to the (bin h, attempt a) pairs that probe p, keeping
 *    the smallest attempt per h: O(numHashes + nonEmpty * PROBE_CAP) instead of
 *    O(numHashes * PROBE_CAP).
 */
export class Densifier {
  readonly numHashes: number;
  /** (numHashes, PROBE_CAP) row-major: probes[h*PROBE_CAP + a] = bin tried at attempt a, never h */
  readonly probes: Int32Array;
  /** inverse map, CSR: the slots h*PROBE_CAP + a with probes[slot] = p are invProbes[invPtr[p] .. invPtr[p+1]) */
  readonly invPtr: Int32Array; // (numHashes + 1)
  readonly invProbes: Int32Array; // (numHashes * PROBE_CAP)
  // scratch (numHashes)
  private readonly next: Int32Array;
  private readonly bestAttempt: Int32Array;
  /** runInverse: the non-empty bins */
  private readonly nonEmptyList: Int32Array;

  constructor(family: string, numHashes: number, rng: Rng) {
    if (numHashes > MAX_DENSIFIED_HASHES) failOption(family, 'numHashes', `at most ${MAX_DENSIFIED_HASHES} (densified families)`, numHashes);
    const H = numHashes;
    this.numHashes = H;
    const probes = new Int32Array(H * PROBE_CAP);
    for (let h = 0; h < H; h++) {
      for (let a = 0; a < PROBE_CAP; a++) {
        let p = rng.nextInt(H);
        if (H > 1) while (p === h) p = rng.nextInt(H);
        probes[h * PROBE_CAP + a] = p;
      }
    }
    this.probes = probes;
    this.invPtr = new Int32Array(H + 1);
    this.invProbes = new Int32Array(H * PROBE_CAP);
    for (let s = 0; s < H * PROBE_CAP; s++) this.invPtr[probes[s]! + 1]++;
    for (let p = 0; p < H; p++) this.invPtr[p + 1] += this.invPtr[p]!;
    const cursor = this.invPtr.slice(0, H);
    for (let s = 0; s < H * PROBE_CAP; s++) this.invProbes[cursor[probes[s]!]!++] = s;
    this.next = new Int32Array(H);
    this.bestAttempt = new Int32Array(H);
    this.nonEmptyList = new Int32Array(H);
  }

  /**
   * raw[0 .. numHashes): the code of each non-empty bin, -1 for an empty one; nonEmpty = how
   * many are non-empty. Writes the densified codes to out[outOff .. outOff+numHashes).
   */
  run(raw: Int32Array, nonEmpty: number, out: Int32Array, outOff: number): void {
    const H = this.numHashes;
    if (nonEmpty === H) {
      for (let h = 0; h < H; h++) out[outOff + h] = raw[h]!;
    } else if (nonEmpty === 0) {
      for (let h = 0; h < H; h++) out[outOff + h] = EMPTY_INPUT_CODE;
    } else if (nonEmpty * 3 < H) {
      this.runInverse(raw, out, outOff);
    } else {
      this.runProbing(raw, out, outOff);
    }
  }

  private runProbing(raw: Int32Array, out: Int32Array, outOff: number): void {
    const H = this.numHashes;
    const probes = this.probes;
    let haveNext = false;
    for (let h = 0; h < H; h++) {
      const c = raw[h]!;
      if (c >= 0) {
        out[outOff + h] = c;
        continue;
      }
      let found = -1;
      const pb = h * PROBE_CAP;
      for (let a = 0; a < PROBE_CAP; a++) {
        const v = raw[probes[pb + a]!]!;
        if (v >= 0) {
          found = v;
          break;
        }
      }
      if (found < 0) {
        if (!haveNext) {
          buildNextNonEmpty(raw, H, this.next);
          haveNext = true;
        }
        found = raw[this.next[h]!]!;
      }
      out[outOff + h] = found;
    }
  }

  private runInverse(raw: Int32Array, out: Int32Array, outOff: number): void {
    const H = this.numHashes;
    const best = this.bestAttempt;
    const list = this.nonEmptyList;
    const invPtr = this.invPtr;
    const inv = this.invProbes;
    // Branch-free throughout (which bins are empty is data): the non-empty bins are compacted
    // into `list`; best[h] = min over probes of h that hit a non-empty bin p of (a << 26 | p),
    // NO_HIT if none.
    let n = 0;
    for (let p = 0; p < H; p++) {
      list[n] = p;
      n += (raw[p]! >>> 31) ^ 1;
      best[p] = NO_HIT;
    }
    for (let i = 0; i < n; i++) {
      const p = list[i]!;
      const e = invPtr[p + 1]!;
      for (let j = invPtr[p]!; j < e; j++) {
        const s = inv[j]!;
        const h = s >>> PROBE_SHIFT;
        const k = ((s & (PROBE_CAP - 1)) << BIN_BITS) | p;
        const b = best[h]!;
        best[h] = b ^ ((b ^ k) & ((k - b) >> 31)); // min(b, k): both in [0, 2^30]
      }
    }
    let haveNext = false;
    for (let h = 0; h < H; h++) {
      const c = raw[h]!;
      const b = best[h]!;
      const empty = c >> 31; // -1 iff empty
      if ((empty & (b >> 30)) !== 0) {
        // empty and no probe hit: rotation fallback (rare unless almost every bin is empty)
        if (!haveNext) {
          buildNextNonEmpty(raw, H, this.next);
          haveNext = true;
        }
        out[outOff + h] = raw[this.next[h]!]!;
      } else {
        const borrowed = raw[b & BIN_MASK]!;
        out[outOff + h] = (c & ~empty) | (borrowed & empty);
      }
    }
  }
}

/** next[h] = the first non-empty bin strictly after h, circularly (requires at least one). */
function buildNextNonEmpty(raw: Int32Array, numHashes: number, next: Int32Array): void {
  // the first non-empty bin, which is "next" for every bin after the last non-empty one
  let first = 0;
  while (raw[first]! < 0) first++;
  let nxt = first;
  for (let h = numHashes - 1; h >= 0; h--) {
    next[h] = nxt;
    if (raw[h]! >= 0) nxt = h;
  }
}

/**
 * The batched calls of every family, in terms of its row calls: guards once per batch, then one
 * row at a time into caller-owned output.
 */
export abstract class RowHashFamily {
  abstract readonly name: string;
  abstract readonly dim: number;
  abstract readonly numHashes: number;
  abstract hashDenseRow(x: Float32Array, xOff: number, out: Int32Array, outOff: number): void;
  abstract hashSparseRow(idx: Int32Array, val: Float32Array, start: number, end: number, out: Int32Array, outOff: number): void;

  /** Only the TypeScript implementation, unless a family says otherwise. */
  kernelPlan(): KernelPlan | null {
    return null;
  }

  hashDense(n: number, data: Float32Array, offset: number, stride: number, out: Int32Array): void {
    checkDenseBatch(this.name, this.dim, this.numHashes, n, data, offset, stride, out);
    const H = this.numHashes;
    for (let r = 0; r < n; r++) this.hashDenseRow(data, offset + r * stride, out, r * H);
  }

  hashSparse(n: number, indptr: Int32Array, idx: Int32Array, val: Float32Array, out: Int32Array): void {
    checkSparseBatch(this.name, this.numHashes, n, indptr, idx, val, out);
    const H = this.numHashes;
    for (let r = 0; r < n; r++) this.hashSparseRow(idx, val, indptr[r]!, indptr[r + 1]!, out, r * H);
  }
}
