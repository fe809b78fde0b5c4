import type { HashFamily, KernelPlan } from '../hashing/types.js';
import { createHashFamily } from '../hashing/registry.js';
import { hadamardWidth, HADAMARD_ROUNDS } from '../hashing/simhash.js';
import { PooledFamily } from '../hashing/pooled.js';
import { PROBE_CAP } from '../hashing/common.js';
import { LshTables, type CommitScratch, type LshTablesParams } from '../tables/tables.js';
import { QueryScratch, topByLogit, topByLogitAfterVotes, topByVotes, unionInto } from '../tables/query.js';
import { clearWords, hasBit, setBit } from '../util/bits.js';
import type { HashConfig, LayerSampling } from '../config.js';
import type { Rng } from '../util/rng.js';
import type { Kernels } from '../kernels/js.js';
import { ConfigError } from '../util/errors.js';
import { BlockDecl, type BlockViews, type BoundViews } from '../memory/layout.js';

/** Rows hashed per projectRows call in a rebuild (two of its 4-row tiles); scratch `proj` holds this many rows' projections. */
export const PROJECT_BLOCK = 8;
/** Rows a kernel-hashing rebuild stages per insert (their K*L codes: 230 KB for 900 hashes). */
const KERNEL_CHUNK = 64;
/** Rows hashed per wtaCodes call in a WTA / DWTA rebuild (their codes: 38 KB for 300 hashes, in cache until their keys are made). */
export const WTA_BLOCK = 32;

/** One sampled layer (or shard of one): its block name in the layout, sampling options and sizes. */
export interface SamplerSpec {
  /** the layer's (or shard's) block name: the sampler's blocks are `<name>.sampler` and `<name>.tables` */
  name: string;
  cfg: LayerSampling;
  nIn: number;
  nOut: number;
}

/** The kernel work of a configuration's hash family, known before the family is drawn (null: TypeScript only). */
interface PlanShape {
  kind: KernelPlan['kind'];
  /** codes (projections, or WTA bins) computed per vector (the pool's size, or K*L) */
  H: number;
  /** structured block width (0 for a projection matrix and for WTA / DWTA) */
  p: number;
  /** WTA / DWTA: coordinates a bin (0 for SimHash) */
  binSize: number;
}

/**
 * The families without the MIPS transform run in the kernels: SimHash (its projections, by
 * matrix or structured) and WTA / DWTA (arg-max over bins, densification, keys). DOPH and MIPS
 * hash in TypeScript.
 */
function planShape(h: HashConfig, nIn: number): PlanShape | null {
  if (h.mips) return null;
  const H = h.pool > 0 ? h.pool : h.K * h.L;
  if (h.family === 'simhash') return h.projection === 'hadamard' ? { kind: 'hadamard', H, p: hadamardWidth(nIn), binSize: 0 } : { kind: 'projection', H, p: 0, binSize: 0 };
  if (h.family === 'wta' || h.family === 'dwta') return { kind: h.family, H, p: 0, binSize: h.binSize };
  return null;
}

/** Whether the plan's codes are signs of projections (SimHash) rather than WTA / DWTA arg-maxes. */
function isProjection(ps: PlanShape): boolean {
  return ps.kind === 'projection' || ps.kind === 'hadamard';
}

/** Bits of one code of the configured family. */
function bitsPerHash(h: Pick<HashConfig, 'family' | 'binSize'>): number {
  if (h.family === 'simhash') return 1;
  if (h.family === 'doph') return 8;
  return 31 - Math.clz32(h.binSize);
}

/**
 * The kernel path's views in the sampler's memory (every family but DOPH, without MIPS): a copy
 * of the family's plan, rewritten on every (re)draw, so that keys and queries are hashed by the
 * SIMD kernels. The views of the other kinds are empty.
 */
interface KernelHashViews {
  shape: PlanShape;
  k: Kernels;
  /** (H, nIn) hash-major copy of the projections (P_h contiguous); empty when structured */
  projT: Float32Array;
  /** structured: the family's signs (blocks * HADAMARD_ROUNDS, p); empty otherwise */
  signs: Float32Array;
  /** structured: transform buffer (p) of the thread that prepares rebuilds */
  prepBuf: Float32Array;
  /** (H) -P_h . mean: centering as a threshold (P.(w - mean) = P.w - P.mean); zero without centering */
  keyBias: Float32Array;
  /** (H) zeros: the queries' threshold */
  zero: Float32Array;
  /** (H) 0 .. H-1: the row list of dotRows */
  ids: Int32Array;
  /** WTA / DWTA: (H, binSize) the coordinates of each bin */
  coords: Int32Array;
  /** DWTA: (H, PROBE_CAP) the densification's probing sequence */
  probes: Int32Array;
  /** (K*L) the projection (or bin) of each table code (the plan's selection, or 0 .. K*L-1) */
  keySel: Int32Array;
  /** WTA / DWTA: (nIn) float64 column sums of the weights (the centre, summed by Kernels.colSums) */
  meanAcc: Float64Array;
  /** the same selection in this thread's memory (null without a pool), for codes computed in TypeScript */
  sel: Int32Array | null;
}

/**
 * LSH sampling of one layer's neurons: a hash family over the layer's input space, L tables
 * holding every neuron keyed by the hash of its weight row, and the active-set policy that
 * turns a query into the set of neurons to compute.
 *
 * Shared state (declared in `declare`): the seeds of the hash functions and of the tables'
 * reservoirs, the mean row (centering), the kernel path's copy of the family's plan, and the
 * tables. Each thread owns a SamplerScratch (declared in `declareScratch`) and its own copy of
 * the family, re-created from the shared seed when another thread redrew it (syncFamily).
 *
 * Rebuilds: `prepareRebuild` (one thread), then `stagePart` (every thread its part of the
 * neurons to hash, writing their keys), then the tables' commit (each table on one thread).
 * A full rebuild takes the centre (and the MIPS transform's M) from the current weights and
 * hashes every neuron. With `hash.incremental`, a rebuild may instead hash only the neurons whose
 * weights changed since they were last hashed (`stale`, set by their ParamBlock's update): the
 * centre and M are then those of the last full rebuild, part of the hash function like the
 * family's draws, so every other neuron's key is what hashing it again would give, and since a
 * table is a function of its keys (tables.ts) the tables equal a full rebuild's with that centre.
 */
export class LshSampler {
  family: HashFamily;
  readonly tables: LshTables;
  readonly K: number;
  readonly L: number;
  readonly rangePow: number;
  readonly cfg: LayerSampling;
  readonly nIn: number;
  readonly nOut: number;
  /** the active-set cap of a training step (activeSet.maxActive; 0 = none) */
  readonly trainCap: number;
  /** the cap of LSH inference (activeSet.queryMaxActive, else maxActive; 0 = none) */
  readonly queryCap: number;
  /** [seed of the hash functions, seed of the tables' reservoirs] */
  private readonly seeds: Int32Array;
  /**
   * seeds[0] when this thread last made its family, as an int32 (not >>> 0): syncFamily compares
   * it once a batch, often in unoptimized code, where a uint32 above 2^31 is a boxed double (and
   * a field that once held one is read as a new box every time)
   */
  private familySeedLocal: number;
  /** hashed dimension: nIn, or nIn + 2 with the MIPS transform */
  readonly hashDim: number;
  /** (1) largest |[w_j, b_j]| at the last rebuild (the MIPS transform's M) */
  private readonly normSlot: Float32Array;
  /** (nIn) mean weight row at the last rebuild (subtracted when `center`) */
  private readonly meanRow: Float32Array;
  /** (activeSet.topBias, at most nOut) the neurons with the largest biases at the last rebuild, largest first */
  private readonly topBias: Int32Array;
  /**
   * (nOut) activeSet.queryRank 'logit': |w_j - mean| of each neuron when it was last hashed (with
   * the centre it was hashed with), written where its key is; empty otherwise
   */
  readonly rowNorm: Float32Array;
  /** the kernels of the sampler's memory (row lengths) */
  private readonly kernels: Kernels;
  private readonly fast: KernelHashViews | null;
  /**
   * (nOut) incremental rebuilds: 1 where the neuron's weights changed since it was last hashed
   * (ParamBlock.updatePart writes it; saved, so a resumed run re-hashes what the uninterrupted one
   * would); empty otherwise
   */
  readonly stale: Int32Array;
  /** (nOut) the neurons the prepared incremental rebuild hashes, ascending */
  private readonly listed: Int32Array;
  /** (2) the prepared rebuild: [1 = only the listed neurons, 0 = all; how many are listed] */
  private readonly prepared: Int32Array;

  /** The sampler's blocks in its layer's memory: `<name>.sampler` (seeds, centre, kernel plan) and `<name>.tables`. */
  static declare(spec: SamplerSpec): BlockDecl[] {
    const { cfg, nIn, nOut } = spec;
    const h = cfg.hash;
    const ps = planShape(h, nIn);
    const nb = Math.min(cfg.activeSet.topBias, nOut);
    // with incremental rebuilds the centre and M persist from one full rebuild to the next, and a
    // checkpoint keeps M and the stale marks too
    const inc = h.incremental;
    const logit = estimatesLogits(cfg);
    const b = new BlockDecl(`${spec.name}.sampler`)
      .i32('seeds', [2], true)
      .f32('norm', [1], inc)
      .f32('mean', [nIn], true)
      .i32('stale', [inc ? nOut : 0], inc)
      .i32('listed', [inc ? nOut : 0])
      .i32('prepared', [2])
      .i32('topBias', [nb], nb > 0)
      .f32('rowNorm', [logit ? nOut : 0], logit);
    if (ps !== null) {
      const proj = isProjection(ps);
      const P = proj ? ps.H : 0;
      b.f32('projT', [ps.p > 0 ? 0 : P, nIn])
        .f32('signs', [ps.p > 0 ? Math.ceil(ps.H / ps.p) * HADAMARD_ROUNDS : 0, ps.p])
        .f32('prepBuf', [ps.p])
        .f32('keyBias', [P])
        .f32('zero', [P])
        .i32('ids', [P])
        .i32('coords', [proj ? 0 : ps.H, ps.binSize])
        .i32('probes', [ps.kind === 'dwta' ? ps.H : 0, PROBE_CAP])
        .i32('keySel', [h.K * h.L])
        .f64('meanAcc', [proj ? 0 : nIn]);
    }
    return [b, LshTables.declare(`${spec.name}.tables`, LshSampler.tableParams(spec, 0))];
  }

  /**
   * One thread's scratch in the sampler's memory, block `name`: the projections (SimHash) or codes
   * (WTA / DWTA) of a query or of a block of neurons, the kernels' buffers, the query scratch and
   * the commit scratch.
   */
  static declareScratch(spec: SamplerSpec, name: string): BlockDecl[] {
    const ps = planShape(spec.cfg.hash, spec.nIn);
    const proj = ps !== null && isProjection(ps);
    const wta = ps !== null && !proj;
    const b = new BlockDecl(name)
      .f32('proj', [proj ? PROJECT_BLOCK : 0, proj ? ps.H : 0])
      .f32('hbuf', [proj ? ps.p : 0])
      .i32('codes', [wta ? ps.H : 0, WTA_BLOCK])
      .i32('keyBuf', [wta ? 8 * spec.nIn : 0])
      .i32('densifyBuf', [ps?.kind === 'dwta' ? 2 * ps.H : 0]);
    const t = LshSampler.tableParams(spec, 0);
    return [
      b,
      QueryScratch.declare(`${name}.query`, { L: t.L, capacity: t.capacity, maxCandidates: Math.min(t.capacity, t.L * t.bucketSize) }, estimatesLogits(spec.cfg)),
      LshTables.declareCommitScratch(`${name}.commit`, t),
    ];
  }

  private static tableParams(spec: SamplerSpec, seed: number): LshTablesParams {
    const h = spec.cfg.hash;
    return {
      L: h.L, K: h.K, bitsPerHash: bitsPerHash(h), rangePow: tableRangePow(h, spec.nOut),
      bucketSize: h.bucketSize, insertion: h.insertion, capacity: spec.nOut, seed,
    };
  }

  /**
   * A sampler over its declared views (`views` of its layer's memory, whose kernels are `kernels`).
   * With `rng` (the owner, once): draws the seeds and writes the kernel plan; without (a worker
   * attaching): reads what the owner wrote.
   */
  constructor(spec: SamplerSpec, views: BoundViews, kernels: Kernels, rng: Rng | null) {
    this.cfg = spec.cfg;
    this.nIn = spec.nIn;
    this.nOut = spec.nOut;
    this.trainCap = spec.cfg.activeSet.maxActive;
    this.queryCap = spec.cfg.activeSet.queryMaxActive > 0 ? spec.cfg.activeSet.queryMaxActive : this.trainCap;
    const h = spec.cfg.hash;
    if (estimatesLogits(spec.cfg) && (h.family !== 'simhash' || h.mips || spec.cfg.activeSet.policy !== 'topk')) {
      const field = spec.cfg.activeSet.queryRank === 'logit' ? "activeSet.queryRank 'logit'" : "activeSet.trainRank 'mixed'";
      throw new ConfigError(`${spec.name}: ${field} needs SimHash codes (hash.family 'simhash', hash.mips false) and activeSet.policy 'topk': it reads an angle from the votes`);
    }
    this.K = h.K;
    this.L = h.L;
    this.hashDim = h.mips ? spec.nIn + 2 : spec.nIn;
    const v = views.block(`${spec.name}.sampler`);
    this.seeds = v.i32('seeds');
    this.normSlot = v.f32('norm');
    this.meanRow = v.f32('mean');
    this.topBias = v.i32('topBias');
    this.rowNorm = v.f32('rowNorm');
    this.kernels = kernels;
    this.stale = v.i32('stale');
    this.listed = v.i32('listed');
    this.prepared = v.i32('prepared');
    if (rng !== null) {
      this.seeds[0] = rng.nextU32() | 0;
      this.seeds[1] = rng.nextU32() | 0;
    }
    this.familySeedLocal = this.seeds[0]! | 0;
    this.family = this.makeFamily(this.familySeedLocal >>> 0);
    const tp = LshSampler.tableParams(spec, this.seeds[1]!);
    if (tp.bitsPerHash !== this.family.bitsPerHash) throw new Error(`LshSampler: the ${h.family} family has ${this.family.bitsPerHash} bits a code, the layout assumed ${tp.bitsPerHash}`);
    this.rangePow = tp.rangePow;
    const tv = views.block(`${spec.name}.tables`);
    this.tables = new LshTables(tp, { views: tv, kernels });
    if (rng !== null) this.tables.clear();
    const ps = planShape(h, spec.nIn);
    this.fast = ps === null ? null : {
      shape: ps, k: kernels, projT: v.f32('projT'), signs: v.f32('signs'), prepBuf: v.f32('prepBuf'), keyBias: v.f32('keyBias'),
      zero: v.f32('zero'), ids: v.i32('ids'), coords: v.i32('coords'), probes: v.i32('probes'), keySel: v.i32('keySel'), meanAcc: v.f64('meanAcc'), sel: null,
    };
    if (this.fast !== null) {
      this.fast.sel = this.family.kernelPlan()?.select ?? null;
      if (rng !== null) {
        for (let i = 0; i < this.fast.ids.length; i++) this.fast.ids[i] = i;
        this.writePlan();
      }
    }
  }

  /** Whether keys and queries are hashed by the SIMD kernels (SimHash, WTA, DWTA without MIPS). */
  get kernelHashing(): boolean {
    return this.fast !== null;
  }

  /** Elementary hashes computed per vector: the pool's size, or K*L without a pool. */
  get hashRows(): number {
    const p = this.cfg.hash.pool;
    return p > 0 ? p : this.K * this.L;
  }

  /** Copy the family's kernel plan into the shared views (the owner, after a (re)draw). */
  private writePlan(): void {
    const f = this.fast;
    if (!f) return;
    const plan = this.family.kernelPlan();
    if (plan === null || plan.kind !== f.shape.kind || plan.numHashes !== f.shape.H) {
      throw new Error(`LshSampler: the ${this.family.name} family's kernel plan (${plan?.kind ?? 'none'}) does not match the layout's (${f.shape.kind}, ${f.shape.H} projections)`);
    }
    const sel = plan.select;
    for (let i = 0; i < f.keySel.length; i++) f.keySel[i] = sel !== null ? sel[i]! : i;
    if (plan.kind === 'wta' || plan.kind === 'dwta') {
      if (plan.binSize !== f.shape.binSize) throw new Error(`LshSampler: the ${this.family.name} family has bins of ${plan.binSize}, the layout assumed ${f.shape.binSize}`);
      f.coords.set(plan.coords);
      if (plan.kind === 'dwta') f.probes.set(plan.probes);
      return;
    }
    if (plan.kind === 'hadamard') {
      f.signs.set(plan.signs);
      return;
    }
    const proj = plan.proj;
    const H = plan.numHashes;
    const n = this.nIn;
    const t = f.projT;
    for (let h = 0; h < H; h++) for (let i = 0; i < n; i++) t[h * n + i] = proj[i * H + h]!;
  }

  /** Seed of the current hash functions. */
  get familySeed(): number {
    return this.seeds[0]! >>> 0;
  }

  /** Re-create this thread's hash functions if another thread redrew them (once a batch: compares int32s, allocates nothing). */
  syncFamily(): void {
    const seed = this.seeds[0]! | 0;
    if (seed !== this.familySeedLocal) {
      this.familySeedLocal = seed;
      this.family = this.makeFamily(seed >>> 0);
      if (this.fast) this.fast.sel = this.family.kernelPlan()?.select ?? null;
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
    this.seeds[0] = rng.nextU32() | 0;
    this.syncFamily();
    this.writePlan();
  }

  /**
   * Use the hash functions drawn from the shared seed (after a checkpoint wrote it, with the
   * centre): the caller keeps the loaded tables.
   */
  restoredSeeds(): void {
    this.syncFamily();
    this.writePlan();
    this.centreBias();
  }

  /** Whether rebuilds may hash only the stale neurons (hash.incremental). */
  get incremental(): boolean {
    return this.cfg.hash.incremental;
  }

  /**
   * Re-insert every neuron, keyed by the hash of its weight row W[j*nIn .. +nIn) (and bias); with
   * `full` false (incremental samplers), only the stale ones, keyed with the last full rebuild's
   * centre.
   */
  rebuild(W: Float32Array, bias: Float32Array, scratch: RebuildScratch, hs: SamplerScratch | null = null, full = true): void {
    this.prepareRebuild(W, bias, full);
    this.stagePart(W, bias, scratch, 0, 1, hs);
    this.tables.commit();
  }

  /**
   * Before staging (once, on one thread). Full: the mean row (centering) and the MIPS transform's
   * M from the weights, every neuron to hash. Not full (incremental samplers only): the stale
   * neurons listed for stagePart, the centre and M kept. Both: the largest biases (activeSet.topBias).
   */
  prepareRebuild(W: Float32Array, bias: Float32Array, full = true): void {
    if (this.topBias.length > 0) largestIds(bias, this.nOut, this.topBias);
    const stale = this.stale;
    if (!full) {
      if (!this.incremental) throw new Error('LshSampler.prepareRebuild: an incremental rebuild needs hash.incremental (the stale marks)');
      // one scan of the marks (a millisecond for 670K neurons), clearing those it lists
      let m = 0;
      for (let j = 0; j < this.nOut; j++) {
        if (stale[j] !== 0) {
          stale[j] = 0;
          this.listed[m++] = j;
        }
      }
      this.prepared[0] = 1;
      this.prepared[1] = m;
      return;
    }
    stale.fill(0);
    this.prepared[0] = 0;
    this.prepared[1] = this.nOut;
    const n = this.nIn;
    const mean = this.meanRow;
    mean.fill(0);
    // SimHash's projections (f) take a float32 centre; WTA / DWTA keys equal the TypeScript
    // family's bit for bit, so their centre is its float64 sums (colSums)
    const f = this.fast !== null && isProjection(this.fast.shape) ? this.fast : null;
    if (this.cfg.hash.center && f) {
      // summed in float32 by the SIMD kernels (a rebuild waits for this on one thread: 8 ms in
      // TypeScript for WordNet's 19K x 256, under 1 ms here); the centre need not be exact
      for (let j = 0; j < this.nOut; j++) f.k.axpy(1, W, j * n, mean, 0, n);
      const inv = 1 / this.nOut;
      for (let k = 0; k < n; k++) mean[k] = mean[k]! * inv;
    } else if (this.cfg.hash.center && this.fast) {
      // WTA / DWTA: the float64 sums of the TypeScript loop below, bit for bit, by the kernels
      const acc = this.fast.meanAcc;
      acc.fill(0);
      this.fast.k.colSums(W, 0, n, this.nOut, acc);
      for (let k = 0; k < n; k++) mean[k] = acc[k]! / this.nOut;
    } else if (this.cfg.hash.center) {
      const acc = new Float64Array(n);
      for (let j = 0; j < this.nOut; j++) {
        const base = j * n;
        for (let k = 0; k < n; k++) acc[k] += W[base + k]!;
      }
      for (let k = 0; k < n; k++) mean[k] = acc[k]! / this.nOut;
    }
    this.centreBias();
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

  /** SimHash kernels: the projections' thresholds from the centre, P.(w - mean) = P.w - P.mean (zero without centering). */
  private centreBias(): void {
    const f = this.fast !== null && isProjection(this.fast.shape) ? this.fast : null;
    if (f === null) return;
    const n = this.nIn;
    const mean = this.meanRow;
    const H = f.shape.H;
    if (f.shape.p > 0) {
      // the structured projections of the mean, negated
      f.k.hadamardRows(f.signs, f.zero, n, f.shape.p, HADAMARD_ROUNDS, H, mean, 0, 1, f.prepBuf, f.keyBias, 0);
      for (let h = 0; h < H; h++) f.keyBias[h] = -f.keyBias[h]!;
      return;
    }
    for (let h = 0; h < H; h++) {
      let s = 0;
      for (let k = 0; k < n; k++) s += f.projT[h * n + k]! * mean[k]!;
      f.keyBias[h] = -s;
    }
  }

  /**
   * Part `part` of `parts` of the prepared rebuild's hashing (threads stage disjoint parts at
   * once): a contiguous range of the neurons (full), or of the listed stale neurons, hashed run
   * by run of consecutive ids with stageRange, so that a neuron gets the key a full rebuild
   * would give it.
   */
  stagePart(W: Float32Array, bias: Float32Array, scratch: RebuildScratch, part: number, parts: number, hs: SamplerScratch | null = null): void {
    const n = this.prepared[1]!;
    const from = Math.floor((n * part) / parts);
    const to = Math.floor((n * (part + 1)) / parts);
    if (this.prepared[0] === 0) {
      this.stageRange(W, bias, scratch, from, to, hs);
      return;
    }
    const list = this.listed;
    for (let i = from; i < to; ) {
      const a = list[i]!;
      let e = i + 1;
      while (e < to && list[e] === a + (e - i)) e++;
      this.stageRange(W, bias, scratch, a, a + (e - i), hs);
      i = e;
    }
  }

  /** Neurons the prepared rebuild hashes (all of them, or the stale ones listed). */
  get preparedCount(): number {
    return this.prepared[1]!;
  }

  /**
   * Hash neurons [from, to) and write their keys (the hashing half of a rebuild; threads may
   * stage disjoint ranges at once). With kernel hashing, `hs` (this thread's sampler scratch, in
   * the sampler's memory) holds the projections or codes of a block of rows; without it the
   * family hashes in TypeScript.
   */
  stageRange(W: Float32Array, bias: Float32Array, scratch: RebuildScratch, from: number, to: number, hs: SamplerScratch | null = null): void {
    const t = this.tables;
    const chunk = scratch.ids.length;
    const H = this.K * this.L;
    const n = this.nIn;
    const f = this.fast;
    if (f && hs && hs.hcodes.length > 0) {
      this.stageWta(f, W, hs, from, to);
      return;
    }
    if (f && hs && hs.proj.length > 0) {
      const out = hs.proj;
      const codes = scratch.codes;
      const P = f.shape.H;
      // keys straight from the projections' signs (signKeys) when a key is the concatenation of
      // K one-bit codes; otherwise codes first, then setKeys() combines them
      const direct = t.keysAreSignBits;
      // KERNEL_CHUNK rows at a time, so that their codes stay in cache until setKeys reads them
      const step = Math.min(chunk, KERNEL_CHUNK);
      for (let start = from; start < to; start += step) {
        const m = Math.min(step, to - start);
        for (let i = 0; i < m; i++) scratch.ids[i] = start + i;
        // PROJECT_BLOCK rows at a time: each projection is read once per block, not once per row
        for (let b = 0; b < m; b += PROJECT_BLOCK) {
          const mb = Math.min(PROJECT_BLOCK, m - b);
          if (f.shape.p > 0) f.k.hadamardRows(f.signs, f.keyBias, n, f.shape.p, HADAMARD_ROUNDS, P, W, (start + b) * n, mb, hs.hbuf, out, 0);
          else f.k.projectRows(f.projT, f.keyBias, n, P, W, (start + b) * n, mb, out, 0);
          // the rows' lengths while they are in cache
          if (this.rowNorm.length > 0) f.k.centredNorms(W, (start + b) * n, n, mb, this.meanRow, this.rowNorm, start + b);
          if (direct) f.k.signKeys(out, 0, P, mb, f.keySel, this.K, this.L, t.keys, start + b, t.capacity);
          else for (let i = 0; i < mb; i++) projectionBits(f, hs.projBits, i * P, codes, (b + i) * H);
        }
        if (!direct) t.setKeys(m, scratch.ids, codes, H);
      }
      return;
    }
    if (this.rowNorm.length > 0) this.kernels.centredNorms(W, from * n, n, to - from, this.meanRow, this.rowNorm, from);
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
      t.setKeys(m, scratch.ids, scratch.codes, H);
    }
  }

  /**
   * WTA / DWTA keys of neurons [from, to) by the kernels, WTA_BLOCK rows a step: their codes
   * (centred rows when `center`: the kernel subtracts the mean row), densified when a bin is
   * empty (DWTA), then combined into every table's keys, written straight into tables.keys.
   */
  private stageWta(f: KernelHashViews, W: Float32Array, hs: SamplerScratch, from: number, to: number): void {
    const t = this.tables;
    const n = this.nIn;
    const P = f.shape.H;
    const dwta = f.shape.kind === 'dwta';
    const mean = this.cfg.hash.center ? this.meanRow : null;
    for (let start = from; start < to; start += WTA_BLOCK) {
      const m = Math.min(WTA_BLOCK, to - start);
      const empty = f.k.wtaCodes(f.coords, P, f.shape.binSize, dwta ? 1 : 0, W, start * n, n, m, mean, hs.keyBuf, hs.hcodes, 0, WTA_BLOCK);
      if (empty > 0) f.k.densifyCodes(hs.hcodes, 0, WTA_BLOCK, m, P, f.probes, hs.densifyBuf);
      f.k.codeKeys(hs.hcodes, 0, WTA_BLOCK, P, m, f.keySel, this.K, this.L, t.bitsPerHash, t.rangePow, t.keys, start, t.capacity);
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
   * One thread's scratch over the views of `declareScratch(spec, name)` in `views` (the sampler's
   * memory), or over a memory of its own (the query then hashes in TypeScript and counts votes
   * with the TypeScript kernels).
   */
  createScratch(views?: BoundViews, name = ''): SamplerScratch {
    const H = this.K * this.L;
    const v: BlockViews | null = views ? views.block(name) : null;
    const proj = v !== null && this.fast !== null ? v.f32('proj') : new Float32Array(0);
    const none = new Int32Array(0);
    const query = views ? new QueryScratch(this.tables, views.block(`${name}.query`)) : new QueryScratch(this.tables);
    // top-by-votes candidates straight from the query's kernel output when it can hold them all
    const direct = query.memory === this.tables.memory && query.top.length >= this.nOut;
    return {
      proj,
      hbuf: v !== null && this.fast !== null ? v.f32('hbuf') : new Float32Array(0),
      projBits: new Int32Array(proj.buffer, proj.byteOffset, proj.length),
      hcodes: v !== null && this.fast !== null ? v.i32('codes') : none,
      keyBuf: v !== null && this.fast !== null ? v.i32('keyBuf') : none,
      densifyBuf: v !== null && this.fast !== null ? v.i32('densifyBuf') : none,
      query2: new Float32Array(this.hashDim),
      codes: new Int32Array(H),
      xNorm: 0,
      query,
      cand: direct ? query.top : new Int32Array(this.nOut),
      votes: direct ? query.topVotes : new Int32Array(this.nOut),
      seen: new Int32Array((this.nOut + 31) >>> 5),
      commit: views ? LshTables.commitScratch(views.block(`${name}.commit`)) : { count: new Int32Array(this.tables.numBuckets), stats: new Int32Array(3), memory: null },
    };
  }

  /**
   * Build the active set for the dense input x[xOff .. xOff+nIn) into `out` (capacity nOut);
   * returns its size. `forced` (the sample's true labels during training) come first and are
   * always kept. `cap`: trainCap or queryCap.
   */
  activeSet(s: SamplerScratch, x: Float32Array, xOff: number, forced: Int32Array | null, forcedStart: number, forcedEnd: number, cap: number, rng: Rng, out: Int32Array, queryBias: Float32Array | null = null, trainBias: Float32Array | null = null): number {
    this.hashInput(s, x, xOff);
    return this.collect(s, forced, forcedStart, forcedEnd, cap, rng, out, queryBias, trainBias);
  }

  /**
   * The hashing half of activeSet (codes into s.codes, and |x| into s.xNorm where queries rank by
   * logit); with MIPS the input is [x, 1, 0] / |[x, 1]|.
   */
  hashInput(s: SamplerScratch, x: Float32Array, xOff: number): void {
    if (this.rowNorm.length > 0) {
      let s2 = 0;
      for (let k = 0; k < this.nIn; k++) s2 += x[xOff + k]! * x[xOff + k]!;
      s.xNorm = Math.sqrt(s2);
    }
    const f = this.fast;
    if (f !== null && s.hcodes.length > 0) {
      // one row: its codes (ld 1), densified (DWTA), then the tables' codes
      const P = f.shape.H;
      const empty = f.k.wtaCodes(f.coords, P, f.shape.binSize, f.shape.kind === 'dwta' ? 1 : 0, x, xOff, this.nIn, 1, null, s.keyBuf, s.hcodes, 0, 1);
      if (empty > 0) f.k.densifyCodes(s.hcodes, 0, 1, 1, P, f.probes, s.densifyBuf);
      gatherCodes(f.sel, s.hcodes, s.codes);
      return;
    }
    if (f !== null && s.proj.length > 0) {
      if (f.shape.p > 0) f.k.hadamardRows(f.signs, f.zero, this.nIn, f.shape.p, HADAMARD_ROUNDS, f.shape.H, x, xOff, 1, s.hbuf, s.proj, 0);
      else f.k.dotRows(f.projT, f.zero, this.nIn, f.ids, 0, f.shape.H, x, xOff, s.proj, 0);
      projectionBits(f, s.projBits, 0, s.codes, 0);
      return;
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

  /**
   * The lookup half of activeSet: tables queried with s.codes, forced ids first, padding; at most
   * `cap` (0: no cap) besides forced ids beyond it. `queryBias`: the layer's biases, given by LSH
   * inference; with them a sampler whose activeSet.queryRank is 'logit' ranks its candidates by
   * the logit their votes estimate (query.ts topByLogit) instead of by votes. `trainBias`: the
   * same, given by a training step; with them a sampler whose activeSet.trainRank is 'mixed' takes
   * half the rest of its cap by votes and the other half by estimated logit (topByLogitAfterVotes).
   */
  collect(s: SamplerScratch, forced: Int32Array | null, forcedStart: number, forcedEnd: number, cap: number, rng: Rng, out: Int32Array, queryBias: Float32Array | null = null, trainBias: Float32Array | null = null): number {
    const nOut = this.nOut;
    const as = this.cfg.activeSet;
    const seen = s.seen;
    let n = forced !== null ? addUnique(forced, forcedStart, forcedEnd, nOut, seen, out, 0) : 0;
    const nForced = n;
    const tb = this.topBias;
    if (tb.length > 0) n = addUnique(tb, 0, tb.length, cap > 0 ? Math.max(cap, nForced) : nOut, seen, out, n);
    // out[fresh .. freshEnd): ids appended without their bits (below)
    let fresh = 0;
    let freshEnd = 0;
    if (as.policy === 'topk') {
      const c = cap > 0 ? cap : nOut;
      // topByLogit and topByLogitAfterVotes pass over the ids held (out[0 .. n)), so theirs are
      // new: appended as they are, their bits set only where padding follows (a thousand hasBit /
      // setBit and their clearing were ~5% of WordNet's LSH evaluation)
      if (trainBias !== null && this.cfg.activeSet.trainRank === 'mixed') {
        // half the rest by votes, then the other half by estimate from the same count of votes
        const half = n + (Math.max(0, c - n) >> 1);
        const m = topByVotes(this.tables, s.codes, 0, s.query, half, s.cand, s.votes);
        n = addUnique(s.cand, 0, m, half, seen, out, n);
        const m2 = topByLogitAfterVotes(this.tables, s.query, m, Math.max(0, c - n), this.rowNorm, trainBias, s.xNorm, out, n, s.cand);
        fresh = n;
        n = freshEnd = appendAll(s.cand, m2, out, n);
      } else if (queryBias !== null && this.rowNorm.length > 0) {
        // the rest of the cap, unordered
        const m = topByLogit(this.tables, s.codes, 0, s.query, Math.max(0, c - n), this.rowNorm, queryBias, s.xNorm, out, n, s.cand);
        fresh = n;
        n = freshEnd = appendAll(s.cand, m, out, n);
      } else {
        // the forced and largest-bias ids may be among the top: ask for as many more
        const m = topByVotes(this.tables, s.codes, 0, s.query, Math.max(0, c - nForced) + n, s.cand, s.votes);
        n = addUnique(s.cand, 0, m, c, seen, out, n);
      }
    } else {
      n = unionInto(this.tables, s.codes, 0, s.query, seen, out, n, cap > 0 ? Math.max(cap, nForced) : nOut);
    }
    // Random padding up to minActive (the reference pads small candidate sets with random
    // neurons, so that the softmax always sees negatives). Seeded, unlike the reference.
    const target = Math.min(as.minActive, nOut);
    if (n < target) {
      for (let i = fresh; i < freshEnd; i++) setBit(seen, out[i]!);
      fresh = freshEnd = 0;
      if (target * 2 > nOut) {
        // dense-ish: walk all neurons from a random start instead of rejection sampling
        const s0 = rng.nextInt(nOut);
        for (let i = 0; i < nOut && n < target; i++) {
          let j = s0 + i;
          if (j >= nOut) j -= nOut;
          if (!hasBit(seen, j)) {
            setBit(seen, j);
            out[n++] = j;
          }
        }
      } else {
        while (n < target) {
          const j = rng.nextInt(nOut);
          if (!hasBit(seen, j)) {
            setBit(seen, j);
            out[n++] = j;
          }
        }
      }
    }
    // every set bit is an id in out: clear their words for the next sample
    clearWords(seen, out, 0, fresh);
    clearWords(seen, out, freshEnd, n);
    return n;
  }
}

/** Whether a sampler's rebuilds write the rows' centred lengths: its queries or its training steps rank by estimated logit. */
function estimatesLogits(cfg: LayerSampling): boolean {
  return cfg.activeSet.queryRank === 'logit' || cfg.activeSet.trainRank === 'mixed';
}

/**
 * The ids of the out.length largest values of v[0 .. n) into out, largest first, ties by the lower
 * id (an insertion into the sorted list: out.length is small, and most values are not above its last).
 */
export function largestIds(v: Float32Array, n: number, out: Int32Array): void {
  const k = out.length;
  let m = 0;
  for (let j = 0; j < n; j++) {
    const x = v[j]!;
    if (m === k && !(x > v[out[k - 1]!]!)) continue;
    let i = m < k ? m++ : k - 1;
    while (i > 0 && x > v[out[i - 1]!]!) {
      out[i] = out[i - 1]!;
      i--;
    }
    out[i] = j;
  }
}

/** Append src[0 .. m) to out[n ..); returns the new count. */
function appendAll(src: Int32Array, m: number, out: Int32Array, n: number): number {
  for (let i = 0; i < m; i++) out[n + i] = src[i]!;
  return n + m;
}

/**
 * Append the ids src[from .. to) whose bit in `seen` is clear to out[n ..), setting their
 * bits, while out holds fewer than `cap`; returns the new count.
 */
function addUnique(src: Int32Array, from: number, to: number, cap: number, seen: Int32Array, out: Int32Array, n: number): number {
  for (let i = from; i < to && n < cap; i++) {
    const j = src[i]!;
    if (!hasBit(seen, j)) {
      setBit(seen, j);
      out[n++] = j;
    }
  }
  return n;
}

/**
 * The table codes of one vector's projections, read as float32 bit patterns (projBits[projOff ..)):
 * code = (projection >= 0); with a pool, code i is pool bit sel[i]. Branch-free on the sign bit
 * (random signs would mispredict a branch half the time; measured here, 85 of a rebuild's 290 ms
 * went to `proj[h] >= 0 ? 1 : 0`): set for +0 .. +inf, clear for negatives, -0 (0x80000000)
 * excepted. NaN does not occur (finite weights and projections).
 */
function projectionBits(f: KernelHashViews, projBits: Int32Array, projOff: number, codes: Int32Array, codesOff: number): void {
  const sel = f.sel;
  if (sel === null) {
    const H = f.shape.H;
    for (let h = 0; h < H; h++) codes[codesOff + h] = signCode(projBits[projOff + h]!);
    return;
  }
  const m = sel.length;
  for (let i = 0; i < m; i++) codes[codesOff + i] = signCode(projBits[projOff + sel[i]!]!);
}

/** codes[i] = kernel code sel[i] (sel null: code i) for every table code i. */
function gatherCodes(sel: Int32Array | null, hcodes: Int32Array, codes: Int32Array): void {
  const m = codes.length;
  if (sel === null) for (let i = 0; i < m; i++) codes[i] = hcodes[i]!;
  else for (let i = 0; i < m; i++) codes[i] = hcodes[sel[i]!]!;
}

/** (x >= 0) ? 1 : 0 for the float32 x whose bits are b (not NaN). */
function signCode(b: number): number {
  return (~b >>> 31) | (b === -0x80000000 ? 1 : 0);
}

export interface RebuildScratch {
  ids: Int32Array;
  codes: Int32Array;
  /** (chunk, hashDim) transformed weight rows (MIPS, centering) */
  rows: Float32Array;
}

export interface SamplerScratch {
  /** (PROJECT_BLOCK, hashRows) in the sampler's memory: a query's projections (the first row), or those of a block of neurons in a rebuild; empty without kernel hashing */
  proj: Float32Array;
  /** (p) in the sampler's memory: the structured projections' transform buffer; empty otherwise */
  hbuf: Float32Array;
  /** proj's memory as int32 (the projections' bit patterns, for their signs) */
  projBits: Int32Array;
  /** (hashRows, WTA_BLOCK) in the sampler's memory: WTA / DWTA codes, hash-major, of a query (ld 1) or of a block of neurons; empty otherwise */
  hcodes: Int32Array;
  /** (8 * nIn) in the sampler's memory: wtaCodes' keys of a block of rows; empty otherwise */
  keyBuf: Int32Array;
  /** (2 * hashRows) in the sampler's memory: densifyCodes' scratch (DWTA); empty otherwise */
  densifyBuf: Int32Array;
  /** (hashDim) the input after the MIPS transform */
  query2: Float32Array;
  codes: Int32Array;
  /** |x| of the last input hashed (activeSet.queryRank 'logit') */
  xNorm: number;
  query: QueryScratch;
  cand: Int32Array;
  votes: Int32Array;
  /** (nOut / 32) one bit a neuron: those already in the active set being built (zero between samples) */
  seen: Int32Array;
  /** this thread's scratch for committing tables (in the sampler's memory when views were given) */
  commit: CommitScratch;
}

/** Bucket bits when the config says 0: enough for the neurons (about 4 per bucket at least), at most the code width and 18. */
function autoRangePow(codeBits: number, nOut: number): number {
  const need = Math.ceil(Math.log2(Math.max(2, nOut))) - 2;
  return Math.max(1, Math.min(18, codeBits, Math.max(need, 6)));
}

/** Bucket bits of a table of nOut neurons under this hash configuration (2^that buckets a table). */
export function tableRangePow(h: Pick<HashConfig, 'family' | 'K' | 'binSize' | 'rangePow'>, nOut: number): number {
  return h.rangePow > 0 ? h.rangePow : autoRangePow(h.K * bitsPerHash(h), nOut);
}
