import type { HashFamily } from '../hashing/types.js';
import { createHashFamily } from '../hashing/registry.js';
import { LshTables, type QueryScratch } from '../tables/lshTables.js';
import type { LayerSampling } from '../config.js';
import type { Rng } from '../util/rng.js';
import type { Arena } from '../memory/arena.js';
import type { Kernels } from '../kernels/js.js';
import { SimHash, HADAMARD_ROUNDS, hadamardWidth } from '../hashing/simhash.js';
import { PooledFamily } from '../hashing/pooled.js';

/**
 * SimHash through the SIMD kernels: code_h = (P_h . x >= thr_h). With a projection matrix that is
 * a dot product per hash, so hashing a row is one `dotRows` over the hash-major matrix (a block
 * of rows at a rebuild: `projectRows`); with structured projections ('hadamard') it is
 * `hadamardRows`. Used for the tables' keys (every rebuild hashes every neuron) and for the
 * queries, when the family is SimHash without the MIPS transform and the sampler knows its
 * memory's kernels.
 */
interface KernelSimHash {
  k: Kernels;
  /** (H, nIn) hash-major copy of the family's projections (P_h contiguous), rewritten on redraw; H = pool or K*L; empty when structured */
  projT: Float32Array;
  /** structured projections: block width p (0: projection matrix) */
  p: number;
  /** structured: copy of the family's signs (blocks * HADAMARD_ROUNDS, p), rewritten on redraw; empty otherwise */
  signs: Float32Array;
  /** structured: transform buffer (p) of the thread that prepares rebuilds */
  prepBuf: Float32Array;
  /** (H) -P_h . mean: centering as a threshold (P.(w - mean) = P.w - P.mean); zero without centering */
  keyBias: Float32Array;
  /** (H) zeros: the queries' threshold */
  zero: Float32Array;
  /** (H) 0 .. H-1: the row list of dotRows */
  ids: Int32Array;
  /** (K*L) with a pool: the pool member of each table code (the family's selection); else null */
  sel: Int32Array | null;
  /** (K*L) the projection of each table code, in the sampler's memory (sel with a pool, else 0 .. K*L-1), rewritten on redraw */
  keySel: Int32Array;
}

/** Rows hashed per projectRows call in a rebuild (two of its 4-row tiles); scratch `proj` holds this many rows' projections. */
export const PROJECT_BLOCK = 8;
/** Rows a kernel-hashing rebuild stages per insert (their K*L codes: 230 KB for 900 hashes). */
const KERNEL_CHUNK = 64;

/**
 * LSH sampling of one layer's neurons: a hash family over the layer's input space, L tables
 * holding every neuron keyed by the hash of its weight row, and the active-set policy that
 * turns a query into the set of neurons to compute.
 *
 * Each thread owns a SamplerScratch (codes, query marks, candidate buffers); the tables are
 * read-only between rebuilds.
 */
export class LshSampler {
  family: HashFamily;
  readonly tables: LshTables;
  readonly K: number;
  readonly L: number;
  readonly rangePow: number;
  /**
   * (1) the seed of the current hash functions, in shared memory: worker threads compare it
   * with their own family's seed and re-create theirs after a redraw (see syncFamily).
   */
  private readonly seedSlot: Int32Array;
  private familySeedLocal: number;
  /** hashed dimension: nIn, or nIn + 2 with the MIPS transform */
  readonly hashDim: number;
  /** (1) largest |[w_j, b_j]| at the last rebuild (the MIPS transform's M), shared with workers */
  private readonly normSlot: Float32Array;
  /** (nIn) mean weight row at the last rebuild (subtracted when `center`), shared with workers */
  private readonly meanRow: Float32Array;

  /**
   * The tables live in the arena (shared with worker threads). With `attach`, this instance is
   * a worker's view of tables the main thread owns: nothing is written.
   */
  constructor(
    readonly cfg: LayerSampling,
    readonly nIn: number,
    readonly nOut: number,
    rng: Rng,
    arena: Arena,
    attach = false,
    /** the kernels of `arena`'s memory: SimHash keys and queries then run as SIMD dot products */
    kernels: Kernels | null = null,
  ) {
    const h = cfg.hash;
    this.K = h.K;
    this.L = h.L;
    this.hashDim = h.mips ? nIn + 2 : nIn;
    this.seedSlot = arena.i32(1);
    this.normSlot = arena.f32(1);
    this.meanRow = arena.f32(nIn);
    const drawn = rng.nextU32();
    if (!attach) this.seedSlot[0] = drawn | 0;
    this.familySeedLocal = this.seedSlot[0]! >>> 0;
    this.family = this.makeFamily(this.familySeedLocal);
    const bits = this.family.bitsPerHash;
    this.rangePow = h.rangePow > 0 ? h.rangePow : autoRangePow(h.K * bits, nOut);
    this.tables = new LshTables({
      L: h.L,
      K: h.K,
      bitsPerHash: bits,
      rangePow: this.rangePow,
      bucketSize: h.bucketSize,
      insertion: h.insertion,
      capacity: nOut,
      seed: rng.nextU32(),
      alloc: { i32: (n: number) => arena.i32(n) },
      kernels: kernels ?? undefined,
    });
    const H = this.hashRows;
    if (kernels && h.family === 'simhash' && !h.mips) {
      const sel = this.family instanceof PooledFamily ? this.family.sel : null;
      const p = h.projection === 'hadamard' ? hadamardWidth(nIn) : 0;
      this.fast = {
        k: kernels, projT: arena.f32(p > 0 ? 0 : H * nIn), p, signs: arena.f32(p > 0 ? Math.ceil(H / p) * HADAMARD_ROUNDS * p : 0),
        prepBuf: arena.f32(p), keyBias: arena.f32(H), zero: arena.f32(H), ids: arena.i32(H), sel, keySel: arena.i32(h.K * h.L),
      };
      if (!attach) {
        for (let i = 0; i < H; i++) this.fast.ids[i] = i;
        this.writeProjections();
      }
    } else {
      this.fast = null;
    }
  }

  private readonly fast: KernelSimHash | null;

  /** Whether keys and queries are hashed by the SIMD kernels (SimHash without MIPS). */
  get kernelHashing(): boolean {
    return this.fast !== null;
  }

  /** Elementary hashes computed per vector: the pool's size, or K*L without a pool. */
  get hashRows(): number {
    const p = this.cfg.hash.pool;
    return p > 0 ? p : this.K * this.L;
  }

  /** Copy the family's projections hash-major into the shared projT (the main thread, after a (re)draw). */
  private writeProjections(): void {
    const f = this.fast;
    if (!f) return;
    const fam = (this.family instanceof PooledFamily ? this.family.inner : this.family) as SimHash;
    const sel = this.family instanceof PooledFamily ? this.family.sel : null;
    for (let i = 0; i < f.keySel.length; i++) f.keySel[i] = sel !== null ? sel[i]! : i;
    if (f.p > 0) {
      f.signs.set(fam.signs);
      return;
    }
    const proj = fam.proj;
    const H = this.hashRows;
    const n = this.nIn;
    const t = f.projT;
    for (let h = 0; h < H; h++) for (let i = 0; i < n; i++) t[h * n + i] = proj[i * H + h]!;
  }

  /** Seed of the current hash functions (for checkpoints). */
  get familySeed(): number {
    return this.seedSlot[0]! >>> 0;
  }


  /** Re-create this thread's hash functions if another thread redrew them. */
  syncFamily(): void {
    const seed = this.seedSlot[0]! >>> 0;
    if (seed !== this.familySeedLocal) {
      this.familySeedLocal = seed;
      this.family = this.makeFamily(seed);
      if (this.fast) this.fast.sel = this.family instanceof PooledFamily ? this.family.sel : null;
    }
  }

  private makeFamily(seed: number): HashFamily {
    const h = this.cfg.hash;
    if (h.pool > 0) {
      const inner = createHashFamily(h.family, { dim: this.hashDim, numHashes: h.pool, seed, binSize: h.binSize, projection: h.projection });
      return new PooledFamily(inner, h.K, h.L, seed);
    }
    return createHashFamily(h.family, { dim: this.hashDim, numHashes: h.K * h.L, seed, binSize: h.binSize, projection: h.projection });
  }

  /** New hash functions (the reference's periodic re-hash); the caller then rebuilds. */
  redraw(rng: Rng): void {
    this.seedSlot[0] = rng.nextU32() | 0;
    this.syncFamily();
    this.writeProjections();
  }

  /**
   * Use the hash functions drawn from `seed` (restoring a checkpoint: familySeed is all it takes
   * to rebuild the family). The caller restores or rebuilds the tables.
   */
  setFamilySeed(seed: number): void {
    if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) throw new RangeError(`LshSampler.setFamilySeed: seed must be a 32-bit unsigned integer, got ${seed}`);
    this.seedSlot[0] = seed | 0;
    this.syncFamily();
    this.writeProjections();
  }

  /** Re-insert every neuron, keyed by the hash of its weight row W[j*nIn .. +nIn) (and bias). */
  rebuild(W: Float32Array, bias: Float32Array, scratch: RebuildScratch, hs: SamplerScratch | null = null): void {
    this.tables.clear();
    this.prepareRebuild(W, bias);
    this.stageRange(W, bias, scratch, 0, this.nOut, hs);
    this.tables.commit();
  }

  /** Before staging (once, on one thread): the mean row (centering) and the MIPS transform's M. */
  prepareRebuild(W: Float32Array, bias: Float32Array): void {
    const n = this.nIn;
    const mean = this.meanRow;
    mean.fill(0);
    const f = this.fast;
    if (this.cfg.hash.center && f) {
      // summed in float32 by the SIMD kernels (a rebuild waits for this on one thread: 8 ms in
      // TypeScript for WordNet's 19K x 256, under 1 ms here); the centre need not be exact
      for (let j = 0; j < this.nOut; j++) f.k.axpy(1, W, j * n, mean, 0, n);
      const inv = 1 / this.nOut;
      for (let k = 0; k < n; k++) mean[k] = mean[k]! * inv;
    } else if (this.cfg.hash.center) {
      const acc = new Float64Array(n);
      for (let j = 0; j < this.nOut; j++) {
        const base = j * n;
        for (let k = 0; k < n; k++) acc[k] += W[base + k]!;
      }
      for (let k = 0; k < n; k++) mean[k] = acc[k]! / this.nOut;
    }
    if (f && f.p > 0) {
      // P.(w - mean) = P.w - P.mean: the structured projections of the mean, negated
      const H = this.hashRows;
      f.k.hadamardRows(f.signs, f.zero, n, f.p, HADAMARD_ROUNDS, H, mean, 0, 1, f.prepBuf, f.keyBias, 0);
      for (let h = 0; h < H; h++) f.keyBias[h] = -f.keyBias[h]!;
    } else if (f) {
      const H = this.hashRows;
      for (let h = 0; h < H; h++) {
        let s = 0;
        for (let k = 0; k < n; k++) s += f.projT[h * n + k]! * mean[k]!;
        f.keyBias[h] = -s;
      }
    }
    if (!this.cfg.hash.mips) return;
    let mx = 0;
    for (let j = 0; j < this.nOut; j++) {
      const base = j * n;
      let s2 = bias[j]! * bias[j]!;
      for (let k = 0; k < n; k++) s2 += (W[base + k]! - mean[k]!) * (W[base + k]! - mean[k]!);
      if (s2 > mx) mx = s2;
    }
    this.normSlot[0] = Math.sqrt(mx) || 1;
  }

  /**
   * Hash neurons [from, to) and stage them (the hashing half of a rebuild; threads may stage
   * disjoint ranges concurrently: staging slots are reserved with Atomics.add). With kernel
   * hashing, `hs` (this thread's sampler scratch, whose `proj` is in the sampler's memory) holds
   * the projections of one row at a time; without it the family hashes in TypeScript.
   */
  stageRange(W: Float32Array, bias: Float32Array, scratch: RebuildScratch, from: number, to: number, hs: SamplerScratch | null = null): void {
    const t = this.tables;
    const chunk = scratch.ids.length;
    const H = this.K * this.L;
    const n = this.nIn;
    const f = this.fast;
    if (f && hs && hs.proj && hs.projBits && (f.p === 0 || hs.hbuf)) {
      const out = hs.proj;
      const outBits = hs.projBits;
      const codes = scratch.codes;
      const P = f.ids.length;
      // keys straight from the projections' signs (signKeys) when a key is the concatenation of
      // K one-bit codes; otherwise codes first, then insert() combines them
      const direct = t.keysAreSignBits;
      // staged KERNEL_CHUNK rows at a time, so that their codes stay in cache until insert reads them
      const step = Math.min(chunk, KERNEL_CHUNK);
      for (let start = from; start < to; start += step) {
        const m = Math.min(step, to - start);
        for (let i = 0; i < m; i++) scratch.ids[i] = start + i;
        const at = direct ? t.reserve(m, scratch.ids) : 0;
        // PROJECT_BLOCK rows at a time: each projection is read once per block, not once per row
        for (let b = 0; b < m; b += PROJECT_BLOCK) {
          const mb = Math.min(PROJECT_BLOCK, m - b);
          if (f.p > 0) f.k.hadamardRows(f.signs, f.keyBias, n, f.p, HADAMARD_ROUNDS, P, W, (start + b) * n, mb, hs.hbuf!, out, 0);
          else f.k.projectRows(f.projT, f.keyBias, n, P, W, (start + b) * n, mb, out, 0);
          if (direct) f.k.signKeys(out, 0, P, mb, f.keySel, this.K, this.L, t.keys, at + b, t.stagingCapacity);
          else for (let i = 0; i < mb; i++) projectionBits(f, outBits, i * P, codes, (b + i) * H);
        }
        if (!direct) t.insert(m, scratch.ids, codes, H);
      }
      return;
    }
    const d = this.hashDim;
    const mips = this.cfg.hash.mips;
    const center = this.cfg.hash.center;
    const invM = 1 / this.normSlot[0]!;
    const rows = scratch.rows;
    const mean = this.meanRow;
    for (let start = from; start < to; start += chunk) {
      const m = Math.min(chunk, to - start);
      for (let i = 0; i < m; i++) scratch.ids[i] = start + i;
      if (mips) {
        for (let i = 0; i < m; i++) {
          const j = start + i;
          const src = j * n;
          const dst = i * d;
          let s2 = 0;
          for (let k = 0; k < n; k++) {
            const v = (W[src + k]! - mean[k]!) * invM;
            rows[dst + k] = v;
            s2 += v * v;
          }
          const bj = bias[j]! * invM;
          rows[dst + n] = bj;
          s2 += bj * bj;
          rows[dst + n + 1] = Math.sqrt(Math.max(0, 1 - s2));
        }
        this.family.hashDense(m, rows, 0, d, scratch.codes);
      } else if (center) {
        for (let i = 0; i < m; i++) {
          const src = (start + i) * n;
          const dst = i * n;
          for (let k = 0; k < n; k++) rows[dst + k] = W[src + k]! - mean[k]!;
        }
        this.family.hashDense(m, rows, 0, n, scratch.codes);
      } else {
        this.family.hashDense(m, W, start * n, n, scratch.codes);
      }
      t.insert(m, scratch.ids, scratch.codes, H);
    }
  }

  createRebuildScratch(chunk = 4096): RebuildScratch {
    return {
      ids: new Int32Array(chunk),
      codes: new Int32Array(chunk * this.K * this.L),
      rows: new Float32Array(this.cfg.hash.mips || this.cfg.hash.center ? chunk * this.hashDim : 0),
    };
  }

  /**
   * One thread's query scratch. With `arena` (the sampler's own, or one continuing it over the
   * same memory) and kernel hashing, K*L floats are carved from it for the projections of queries
   * and rebuilds; without it this thread hashes in TypeScript.
   */
  createScratch(arena: Arena | null = null): SamplerScratch {
    const H = this.K * this.L;
    const proj = this.fast && arena ? arena.f32(this.hashRows * PROJECT_BLOCK) : null;
    const query = this.tables.createScratch(arena ? { i32: (n: number) => arena.i32(n) } : null);
    // top-by-votes candidates straight from the query's kernel output when it can hold them all
    const direct = arena !== null && query.top.length >= this.nOut;
    return {
      proj,
      hbuf: this.fast && this.fast.p > 0 && arena ? arena.f32(this.fast.p) : null,
      projBits: proj ? new Int32Array(proj.buffer, proj.byteOffset, proj.length) : null,
      query2: new Float32Array(this.hashDim),
      codes: new Int32Array(H),
      query,
      cand: direct ? query.top : new Int32Array(this.nOut),
      votes: direct ? query.topVotes : new Int32Array(this.nOut),
      mark: new Int32Array(this.nOut),
      stamp: 0,
    };
  }

  /**
   * Build the active set for one input into `out` (capacity nOut); returns its size.
   * `forced` (the sample's true labels during training) come first and are always kept.
   * The input is dense x[xOff .. xOff+nIn) or, when `sparseIdx` is given, sparse.
   */
  activeSet(
    s: SamplerScratch,
    x: Float32Array,
    xOff: number,
    forced: Int32Array | null,
    forcedStart: number,
    forcedEnd: number,
    rng: Rng,
    out: Int32Array,
  ): number {
    this.hashInput(s, x, xOff);
    return this.collect(s, forced, forcedStart, forcedEnd, rng, out);
  }

  /** The hashing half of activeSet (codes into s.codes); with MIPS the input is [x, 1, 0] / |[x, 1]|. */
  hashInput(s: SamplerScratch, x: Float32Array, xOff: number): void {
    const f = this.fast;
    const out = s.proj;
    if (f !== null && out !== null && s.projBits !== null) {
      if (f.p > 0) {
        if (s.hbuf !== null) {
          f.k.hadamardRows(f.signs, f.zero, this.nIn, f.p, HADAMARD_ROUNDS, f.ids.length, x, xOff, 1, s.hbuf, out, 0);
          projectionBits(f, s.projBits, 0, s.codes, 0);
          return;
        }
      } else {
        kernelCodes(f, f.zero, x, xOff, this.nIn, out, s.projBits, s.codes, 0);
        return;
      }
    }
    if (!this.cfg.hash.mips) {
      this.family.hashDenseRow(x, xOff, s.codes, 0);
      return;
    }
    const n = this.nIn;
    const q = s.query2;
    let s2 = 1;
    for (let k = 0; k < n; k++) s2 += x[xOff + k]! * x[xOff + k]!;
    const inv = 1 / Math.sqrt(s2);
    for (let k = 0; k < n; k++) q[k] = x[xOff + k]! * inv;
    q[n] = inv;
    q[n + 1] = 0;
    this.family.hashDenseRow(q, 0, s.codes, 0);
  }

  /** Same as activeSet for a sparse input (idx/val[start, end)). */
  activeSetSparse(
    s: SamplerScratch,
    idx: Int32Array,
    val: Float32Array,
    start: number,
    end: number,
    forced: Int32Array | null,
    forcedStart: number,
    forcedEnd: number,
    rng: Rng,
    out: Int32Array,
  ): number {
    if (this.cfg.hash.mips) throw new Error('LshSampler.activeSetSparse: the MIPS transform needs a dense input');
    this.family.hashSparseRow(idx, val, start, end, s.codes, 0);
    return this.collect(s, forced, forcedStart, forcedEnd, rng, out);
  }

  /** The lookup half of activeSet: tables queried with s.codes, forced ids first, padding. */
  collect(
    s: SamplerScratch,
    forced: Int32Array | null,
    forcedStart: number,
    forcedEnd: number,
    rng: Rng,
    out: Int32Array,
  ): number {
    const nOut = this.nOut;
    const as = this.cfg.activeSet;
    const stamp = ++s.stamp;
    const mark = s.mark;
    let n = forced !== null ? addUnique(forced, forcedStart, forcedEnd, nOut, mark, stamp, out, 0) : 0;
    const nForced = n;
    if (as.policy === 'topk') {
      const cap = as.maxActive > 0 ? as.maxActive : this.nOut;
      const want = Math.max(0, cap - nForced);
      const m = this.tables.topByVotes(s.codes, 0, s.query, want + nForced, s.cand, s.votes);
      n = addUnique(s.cand, 0, m, cap, mark, stamp, out, n);
    } else {
      const m = this.tables.queryUnion(s.codes, 0, s.query, s.cand, 0, nOut);
      n = addUnique(s.cand, 0, m, as.maxActive > 0 ? Math.max(as.maxActive, nForced) : nOut, mark, stamp, out, n);
    }
    // Random padding up to minActive (the reference pads small candidate sets with random
    // neurons, so that the softmax always sees negatives). Seeded, unlike the reference.
    const target = Math.min(as.minActive, nOut);
    if (n < target) {
      if (target * 2 > nOut) {
        // dense-ish: walk all neurons from a random start instead of rejection sampling
        const s0 = rng.nextInt(nOut);
        for (let i = 0; i < nOut && n < target; i++) {
          let j = s0 + i;
          if (j >= nOut) j -= nOut;
          if (mark[j] !== stamp) {
            mark[j] = stamp;
            out[n++] = j;
          }
        }
      } else {
        while (n < target) {
          const j = rng.nextInt(nOut);
          if (mark[j] !== stamp) {
            mark[j] = stamp;
            out[n++] = j;
          }
        }
      }
    }
    if (s.stamp > 0x3fffffff) {
      s.mark.fill(0);
      s.stamp = 0;
    }
    return n;
  }
}

/**
 * Append the ids src[from .. to) not yet marked with `stamp` to out[n ..), marking them, while
 * out holds fewer than `cap`; returns the new count.
 */
function addUnique(src: Int32Array, from: number, to: number, cap: number, mark: Int32Array, stamp: number, out: Int32Array, n: number): number {
  for (let i = from; i < to && n < cap; i++) {
    const j = src[i]!;
    if (mark[j] !== stamp) {
      mark[j] = stamp;
      out[n++] = j;
    }
  }
  return n;
}

/**
 * codes[codesOff + h] = (P_h . x[xOff .. +n) + bias[h] >= 0), every hash h, with the SIMD kernels
 * (out: scratch of H projections).
 */
function kernelCodes(f: KernelSimHash, bias: Float32Array, x: Float32Array, xOff: number, n: number, out: Float32Array, outBits: Int32Array, codes: Int32Array, codesOff: number): void {
  f.k.dotRows(f.projT, bias, n, f.ids, 0, f.ids.length, x, xOff, out, 0);
  projectionBits(f, outBits, 0, codes, codesOff);
}

/**
 * The table codes of one vector's projections, read as float32 bit patterns (projBits[projOff ..)):
 * code = (projection >= 0); with a pool, code i is pool bit sel[i]. Branch-free on the sign bit
 * (random signs would mispredict a branch half the time; measured here, 85 of a rebuild's 290 ms
 * went to `proj[h] >= 0 ? 1 : 0`): set for +0 .. +inf, clear for negatives, -0 (0x80000000)
 * excepted. NaN does not occur (finite weights and projections).
 */
function projectionBits(f: KernelSimHash, projBits: Int32Array, projOff: number, codes: Int32Array, codesOff: number): void {
  const sel = f.sel;
  if (sel === null) {
    const H = f.ids.length;
    for (let h = 0; h < H; h++) codes[codesOff + h] = signCode(projBits[projOff + h]!);
    return;
  }
  const m = sel.length;
  for (let i = 0; i < m; i++) codes[codesOff + i] = signCode(projBits[projOff + sel[i]!]!);
}

/** (x >= 0) ? 1 : 0 for the float32 x whose bits are b (not NaN). */
function signCode(b: number): number {
  return (~b >>> 31) | (b === -0x80000000 ? 1 : 0);
}

export interface RebuildScratch {
  ids: Int32Array;
  codes: Int32Array;
  /** (chunk, hashDim) transformed weight rows (MIPS) */
  rows: Float32Array;
}

export interface SamplerScratch {
  /**
   * (PROJECT_BLOCK, hashRows) in the sampler's memory (kernel hashing), or null: a query's
   * projections (the first row), or those of a block of neurons in a rebuild
   */
  proj: Float32Array | null;
  /** (p) in the sampler's memory: the structured projections' transform buffer (kernel hashing, 'hadamard'), or null */
  hbuf: Float32Array | null;
  /** proj's memory as int32 (the projections' bit patterns, for their signs), or null */
  projBits: Int32Array | null;
  /** (hashDim) the input after the MIPS transform */
  query2: Float32Array;
  codes: Int32Array;
  query: QueryScratch;
  cand: Int32Array;
  votes: Int32Array;
  mark: Int32Array;
  stamp: number;
}

/** Bucket bits when the config says 0: enough for the neurons (about 4 per bucket at least), at most the code width and 18. */
export function autoRangePow(codeBits: number, nOut: number): number {
  const need = Math.ceil(Math.log2(Math.max(2, nOut))) - 2;
  return Math.max(1, Math.min(18, codeBits, Math.max(need, 6)));
}
