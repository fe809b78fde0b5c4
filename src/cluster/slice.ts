import { Arena } from '../memory/arena.js';
import { layoutBytes, type BoundViews } from '../memory/layout.js';
import { drawInit, planModel, type LayerShard, type ModelPlan, type ShardPlan } from '../network/network.js';
import { bindShardScratch, declareShardScratch, shardDeferSpec, type ShardScratch } from '../network/run.js';
import { shardBackward, shardForward } from '../network/sample.js';
import { topK } from '../network/topk.js';
import { ParamBlock } from '../layers/params.js';
import { LshSampler, type RebuildScratch } from '../layers/sampler.js';
import { DeferredGrads } from '../layers/deferred.js';
import { getKernels, type KernelChoice, type Kernels } from '../kernels/index.js';
import { Rng } from '../util/rng.js';
import type { Config } from '../config.js';
import { PROBE } from './protocol.js';
import { formatBytes } from '../network/estimate.js';

/**
 * One output shard held by a shard process: the blocks the in-process split declares for shard s
 * (memory s + 1 of planModel(..., { remoteOutput: true })), carved into a memory of its own and
 * initialised by the same replay of the model's generator (drawInit), so that it holds exactly
 * the values of the whole model's shard s; the batch's forward and backward per row through the
 * same functions as the in-process split (shardForward, shardBackward); the update and the table
 * rebuilds as the executor makes them for one block.
 *
 * Between a batch's Forward and Backward the slice keeps, per row, its input, its active list
 * and how many labels lead it (the trainer sends back only the gradients). Rows arrive in order,
 * possibly in several frames (row0 > 0).
 */

/** What a trainer (or a serving process) asks a shard process to hold. */
export interface SliceSpec {
  /** the model's configuration; outputShards = the number of slices */
  config: Config;
  nFeatures: number;
  nLabels: number;
  shard: number;
  /** rows of a batch (the deferred-gradient slots) and most labels of a row */
  slots: number;
  maxLabels: number;
  kernels: KernelChoice;
}

/** The plan of a model whose output layer is split over shard processes. */
export function remotePlan(cfg: Config, nFeatures: number, nLabels: number): ModelPlan {
  return planModel(cfg, nFeatures, nLabels, { remoteOutput: true });
}

/** Bytes shard `shard` declares for its model part (parameters, optimizer state, tables): what a memory cap is checked against before allocating. */
export function sliceModelBytes(spec: SliceSpec): number {
  const plan = remotePlan(spec.config, spec.nFeatures, spec.nLabels);
  checkShardIndex(plan, spec.shard);
  return layoutBytes(plan.memories[spec.shard + 1]!, 64);
}

function checkShardIndex(plan: ModelPlan, s: number): void {
  const n = plan.layers[plan.layers.length - 1]!.shards.length;
  if (!Number.isInteger(s) || s < 0 || s >= n) throw new RangeError(`slice ${s}: the output layer has slices 0..${n - 1}`);
}

export interface ForwardOut {
  /** [nForced, n] per row */
  counts: Int32Array;
  logits: Float32Array;
}

/** A slice's inference answers (predict), rows in order. */
export interface PredictOut {
  /** (rows) labels in each row's top (at most k) */
  nTop: Int32Array;
  /** (rows) candidates each row computed */
  cands: Int32Array;
  /** (rows) log-sum-exp of each row's candidates' logits */
  lse: Float64Array;
  /** (rows, k) global ids of each row's top, best first; logits alike */
  ids: Int32Array;
  logits: Float32Array;
  /** (rows) how many of the row's probe ids are among its candidates */
  found: Int32Array;
}

export class OutputSlice {
  readonly plan: ModelPlan;
  readonly sp: ShardPlan;
  readonly nIn: number;
  readonly arena: Arena;
  /** the model part's views (persistent ones = the slice's state in checkpoints) */
  readonly views: BoundViews;
  readonly shard: LayerShard;
  readonly kernels: Kernels;
  private readonly ss: ShardScratch;
  private readonly rebuildScratch: RebuildScratch | null;
  private readonly countScratch: Int32Array;
  // the batch between Forward and Backward: per row its input, active list (CSR) and counts
  private readonly x: Float32Array;
  private readonly live: Uint8Array;
  private readonly nForced: Int32Array;
  private readonly nAct: Int32Array;
  private readonly actPtr: Int32Array;
  private act = new Int32Array(1 << 16);
  /** the frame's logits as they are computed (a growing buffer; the reply gets a copy of its part) */
  private logits = new Float32Array(1 << 16);
  /** the step whose rows are held (0: none) */
  private step = 0;
  /** rows of that step's Forward received so far */
  private rowsIn = 0;
  private rowsBack = 0;
  private readonly topIds: Int32Array;
  private readonly topScores: Float32Array;

  /**
   * Build shard `spec.shard`: carve its blocks, replay the model's generator from the
   * configuration's seed, and (buildTables) build its tables from the initial weights, as the
   * whole model's constructor does; a slice to be filled from a checkpoint is built the same way
   * without the tables (as loadModel builds a model, then overwrites its state). `maxBytes`:
   * refuse before allocating when the declared bytes exceed it.
   */
  constructor(readonly spec: SliceSpec, buildTables: boolean, maxBytes = Infinity) {
    const cfg = spec.config;
    this.plan = remotePlan(cfg, spec.nFeatures, spec.nLabels);
    checkShardIndex(this.plan, spec.shard);
    const L = this.plan.layers.length - 1;
    const lp = this.plan.layers[L]!;
    this.sp = lp.shards[spec.shard]!;
    this.nIn = lp.nIn;
    const blocks = this.plan.memories[spec.shard + 1]!;
    const need = layoutBytes(blocks, 64);
    if (need > maxBytes) throw new RangeError(`slice ${spec.shard} (${this.sp.n} neurons x ${lp.nIn}) declares ${formatBytes(need)} of parameters, optimizer state and tables; this shard process may hold ${formatBytes(maxBytes)} (--max-memory)`);
    this.arena = new Arena();
    this.views = this.arena.carve(blocks);
    this.kernels = getKernels(this.arena.memory, spec.kernels);
    const sp = this.sp;
    const p = new ParamBlock(sp.param, this.views.block(sp.param.name), this.kernels);
    let sampler: LshSampler | null = null;
    drawInit(cfg, this.plan, new Rng(cfg.seed), {
      input: null,
      param: (l, si) => (l === L && si === spec.shard ? p : null),
      sampler: (_l, _si, r) => {
        sampler = new LshSampler(sp.sampler!, this.views, this.kernels, r);
      },
    });
    const all = this.views.block(`${sp.param.name}.ids`).i32('all');
    for (let j = 0; j < sp.n; j++) all[j] = j;
    this.shard = { lo: sp.lo, nOut: sp.n, memory: 0, p, sampler, all, kernels: this.kernels, q8: null };
    // the run's part: one thread's scratch and the batch's deferred-gradient slots
    const run = [...declareShardScratch('cluster.o', lp.nIn, sp.n, sp.sampler), DeferredGrads.declare(shardDeferSpec(sp, lp.nIn, true, spec))];
    const runBytes = layoutBytes(run, this.arena.bytesUsed);
    if (need + runBytes > maxBytes) throw new RangeError(`slice ${spec.shard}: its batch buffers take ${formatBytes(runBytes)} more, over the ${formatBytes(maxBytes)} this shard process may hold (--max-memory)`);
    const rv = this.arena.carve(run);
    this.ss = bindShardScratch(rv, 'cluster.o', this.shard, spec.maxLabels);
    p.deferred = new DeferredGrads(shardDeferSpec(sp, lp.nIn, true, spec), rv.block(`${p.name}.deferred`));
    this.rebuildScratch = sampler !== null ? (sampler as LshSampler).createRebuildScratch() : null;
    this.countScratch = new Int32Array(sampler !== null ? (sampler as LshSampler).tables.numBuckets : 0);
    this.x = new Float32Array(spec.slots * lp.nIn);
    this.live = new Uint8Array(spec.slots);
    this.nForced = new Int32Array(spec.slots);
    this.nAct = new Int32Array(spec.slots);
    this.actPtr = new Int32Array(spec.slots + 1);
    this.topIds = new Int32Array(100);
    this.topScores = new Float32Array(100);
    if (buildTables) this.rebuild(null);
  }

  /** Bytes of the slice's memory. */
  get bytes(): number {
    return this.arena.bytesUsed;
  }

  get index(): number {
    return this.spec.shard;
  }

  /**
   * A batch's forward for rows [row0, row0 + rows): h (rows, nIn) the layer input, live (rows),
   * labels as CSR (global ids, those inside the shard); each live row through shardForward with
   * the generator (seed, row). Keeps what the backward needs.
   */
  forward(step: number, seed: number, row0: number, rows: number, h: Float32Array, live: Int32Array, labelPtr: Int32Array, labels: Int32Array): ForwardOut {
    if (row0 === 0) {
      this.step = step;
      this.rowsIn = 0;
      this.rowsBack = 0;
      this.actPtr[0] = 0;
    }
    if (step !== this.step || row0 !== this.rowsIn) throw new Error(`forward of step ${step} rows ${row0}..${row0 + rows}: expected step ${this.step} from row ${this.rowsIn}`);
    if (row0 + rows > this.spec.slots) throw new RangeError(`forward: rows ${row0}..${row0 + rows} exceed the batch of ${this.spec.slots}`);
    const nIn = this.nIn;
    const sh = this.shard;
    const ss = this.ss;
    const counts = new Int32Array(2 * rows);
    let c = 0;
    for (let i = 0; i < rows; i++) {
      const r = row0 + i;
      let n = 0;
      let nf = 0;
      if (live[i] !== 0) {
        shardForward(sh, ss, this.spec.shard, nIn, h, i * nIn, labels, labelPtr[i]!, labelPtr[i + 1]!, false, seed, r, null);
        n = ss.n;
        nf = ss.nForced;
        const o = this.actPtr[r]!;
        this.act = grown(this.act, o + n);
        this.logits = grown(this.logits, c + n);
        for (let j = 0; j < n; j++) {
          this.act[o + j] = ss.act[j]!;
          this.logits[c + j] = ss.vals[j]!;
        }
        c += n;
        for (let k = 0; k < nIn; k++) this.x[r * nIn + k] = h[i * nIn + k]!;
      }
      this.live[r] = live[i] !== 0 ? 1 : 0;
      this.nForced[r] = nf;
      this.nAct[r] = n;
      this.actPtr[r + 1] = this.actPtr[r]! + n;
      counts[2 * i] = nf;
      counts[2 * i + 1] = n;
    }
    const logits = this.logits.slice(0, c);
    this.rowsIn = row0 + rows;
    return { counts, logits };
  }

  /**
   * The backward of rows [row0, row0 + rows) of the held step: grads (the logits' gradients, laid
   * out as forward returned them); each live row through shardBackward into its slot (or, when
   * its active list does not fit the slot, the immediate path). Returns (rows, nIn) input gradients.
   */
  backward(step: number, row0: number, rows: number, grads: Float32Array): Float32Array {
    if (step !== this.step || row0 !== this.rowsBack || row0 + rows > this.rowsIn) {
      throw new Error(`backward of step ${step} rows ${row0}..${row0 + rows}: the slice holds step ${this.step}, rows ${this.rowsBack}..${this.rowsIn} waiting`);
    }
    let need = 0;
    for (let i = 0; i < rows; i++) need += this.nAct[row0 + i]!;
    if (grads.length !== need) throw new RangeError(`backward: ${grads.length} gradients for ${need} logits`);
    const nIn = this.nIn;
    const ss = this.ss;
    const sh = this.shard;
    const d = sh.p.deferred!;
    const dx = new Float32Array(rows * nIn);
    let c = 0;
    for (let i = 0; i < rows; i++) {
      const r = row0 + i;
      const n = this.nAct[r]!;
      if (this.live[r] === 0) continue;
      this.loadRow(r);
      for (let j = 0; j < n; j++) ss.vals[j] = grads[c++]!;
      shardBackward(sh, ss, nIn, d.fits(n) ? r : -1);
      for (let k = 0; k < nIn; k++) dx[i * nIn + k] = ss.dx[k]!;
    }
    this.rowsBack = row0 + rows;
    return dx;
  }

  /** The optimizer step of the batch (after every row's backward), as the executor's Update phase makes it for one block. */
  update(step: number, horizon: number): void {
    const p = this.shard.p;
    p.update(this.spec.config.optimizer, step, horizon);
  }

  /**
   * Rebuild the tables from the current weights (the executor's prepareRebuild, Stage and
   * Commit on one thread); `redraw`: first draw new hash functions from this seed (what
   * LshSampler.redraw stores). Returns the seconds it took.
   */
  rebuild(redraw: number | null): number {
    const t0 = performance.now();
    const u = this.shard.sampler;
    if (u === null) return 0;
    const p = this.shard.p;
    if (redraw !== null) {
      this.views.block(`${p.name}.sampler`).i32('seeds')[0] = redraw | 0;
      u.restoredSeeds();
    }
    u.prepareRebuild(p.W, p.b);
    u.syncFamily();
    u.stageRange(p.W, p.b, this.rebuildScratch!, 0, u.nOut, this.ss.sampler);
    for (let tb = 0; tb < u.L; tb++) u.tables.commitTable(tb, this.countScratch);
    return (performance.now() - t0) / 1000;
  }

  /** After a checkpoint filled the views: the hash functions follow the loaded seeds (the tables were loaded as they were). */
  restored(): void {
    this.shard.sampler?.restoredSeeds();
  }

  /**
   * Inference for rows of layer inputs h (rows, nIn): each row's candidates (LSH, or every neuron
   * when exact) drawn from the generator (seed, stream[i]) as the in-process split draws them,
   * the k best by logit (ties to the smaller id; global ids), the log-sum-exp of all the
   * candidates' logits, and how many of the probe ids (global, -1 = none) are candidates.
   */
  predict(seed: number, rows: number, h: Float32Array, stream: Int32Array, probe: Int32Array, k: number, exact: boolean): PredictOut {
    if (k < 1 || k > this.topIds.length) throw new RangeError(`predict: k = ${k} is outside 1..${this.topIds.length}`);
    const nIn = this.nIn;
    const sh = this.shard;
    const ss = this.ss;
    const out: PredictOut = {
      nTop: new Int32Array(rows), cands: new Int32Array(rows), lse: new Float64Array(rows),
      ids: new Int32Array(rows * k), logits: new Float32Array(rows * k), found: new Int32Array(rows),
    };
    for (let i = 0; i < rows; i++) {
      shardForward(sh, ss, this.spec.shard, nIn, h, i * nIn, null, 0, 0, exact, seed, stream[i]!, null);
      const n = ss.n;
      const m = topK(ss.act, ss.vals, n, k, this.topIds, this.topScores);
      let mx = -Infinity;
      for (let j = 0; j < n; j++) if (ss.vals[j]! > mx) mx = ss.vals[j]!;
      let sum = 0;
      for (let j = 0; j < n; j++) sum += Math.exp(ss.vals[j]! - mx);
      out.lse[i] = n > 0 ? Math.log(sum) + mx : -Infinity;
      out.nTop[i] = m;
      out.cands[i] = n;
      for (let j = 0; j < m; j++) {
        out.ids[i * k + j] = sh.lo + this.topIds[j]!;
        out.logits[i * k + j] = this.topScores[j]!;
      }
      let found = 0;
      for (let q = 0; q < PROBE; q++) {
        const id = probe[i * PROBE + q]!;
        if (id < sh.lo || id >= sh.lo + sh.nOut) continue;
        for (let j = 0; j < n; j++) {
          if (ss.act[j] === id - sh.lo) {
            found++;
            break;
          }
        }
      }
      out.found[i] = found;
    }
    return out;
  }

  /** Row r's held input and active list into the scratch (in the slice's memory, where the kernels read). */
  private loadRow(r: number): void {
    const ss = this.ss;
    const nIn = this.nIn;
    const n = this.nAct[r]!;
    const o = this.actPtr[r]!;
    for (let k = 0; k < nIn; k++) ss.x[k] = this.x[r * nIn + k]!;
    for (let j = 0; j < n; j++) ss.act[j] = this.act[o + j]!;
    ss.n = n;
    ss.nForced = this.nForced[r]!;
  }

}

/** `a`, or a copy at least twice as long when it holds fewer than n. */
function grown<T extends Int32Array | Float32Array>(a: T, n: number): T {
  if (n <= a.length) return a;
  const b = new (a.constructor as new (n: number) => T)(Math.max(n, 2 * a.length));
  b.set(a);
  return b;
}

