import { Arena } from '../memory/arena.js';
import { Rng } from '../util/rng.js';
import type { Kernels } from '../kernels/js.js';
import type { Config, LayerSampling } from '../config.js';
import { ConfigError } from '../util/errors.js';
import { ParamBlock } from '../layers/params.js';
import { LshSampler, type SamplerScratch, type RebuildScratch } from '../layers/sampler.js';
import { topK } from './topk.js';

/**
 * A SLIDE network: sparse input -> hidden ReLU layers -> softmax output.
 *
 *   layer 0 (input):  ParamBlock W (nFeatures, h0) FEATURE-major, so a sample reads its ~nnz
 *                     contiguous rows; always dense (all h0 neurons active).
 *   layer l >= 1:     ParamBlock W (h_l, h_{l-1}) NEURON-major; optionally LSH-sampled.
 *   output:           ParamBlock W (nLabels, h_last) neuron-major; LSH-sampled or dense.
 *
 * Every neuron-major layer computes only its active list (identity list in dense mode):
 * dense mode is the same code with every neuron active, which makes it the exactness oracle.
 *
 * Per-thread state lives in a ThreadScratch; parameters are shared (HOGWILD: see
 * workers/worker.ts; a sampled layer in one memory defers its weight gradients to the update,
 * layers/deferred.ts).
 */
/**
 * A contiguous range of one layer's neurons with its own parameters, optimizer state and
 * tables, carved from one arena. Hidden layers have one shard (in the network's arena); the
 * output layer may be split over several memories (config.outputShards), because one wasm32
 * memory holds at most 4 GiB.
 */
export interface LayerShard {
  /** global id of the shard's first neuron */
  readonly lo: number;
  readonly nOut: number;
  /** W (nOut, nIn) neuron-major: local row j is neuron lo + j */
  readonly p: ParamBlock;
  readonly sampler: LshSampler | null;
  /** 0..nOut-1, the active list of dense mode (local ids) */
  readonly all: Int32Array;
  readonly arena: Arena;
  /** kernels of the shard's memory */
  readonly kernels: Kernels;
}

export interface FcLayer {
  readonly nIn: number;
  readonly nOut: number;
  /** one shard, or (output layer only) several over contiguous neuron ranges, in order */
  readonly shards: LayerShard[];
  /** LSH-sampled (every shard has a sampler) */
  readonly sampled: boolean;
  readonly isOutput: boolean;
}

/**
 * One thread's view of one shard of a split layer: the layer input copied into the shard's
 * memory (the kernels address only that memory), the shard's active list (local ids) and
 * values, its part of the input gradient, and the sample's labels that fall in the shard.
 */
export interface ShardScratch {
  x: Float32Array;
  act: Int32Array;
  vals: Float32Array;
  dx: Float32Array;
  /** labels of the sample inside the shard, local ids (grown on demand, JS-only) */
  forced: Int32Array;
  n: number;
  nForced: number;
  sampler: SamplerScratch | null;
}

/** Profile slots (seconds), accumulated when Network.profile is on. */
export const PROF_HASH = 0;
export const PROF_LOOKUP = 1;
export const PROF_FORWARD = 2;
export const PROF_BACKWARD = 3;
export const PROF_UPDATE = 4;
export const PROF_REBUILD = 5;
export const PROF_SLOTS = 6;

export interface ThreadScratch {
  rng: Rng;
  /** (PROF_SLOTS) time spent per part, when profiling */
  prof: Float64Array;
  /** per hidden layer: dense activations after ReLU (h_l) */
  acts: Float32Array[];
  /** per hidden layer: gradient w.r.t. the activations (h_l) */
  dActs: Float32Array[];
  /**
   * per neuron-major layer (index l-1 for hidden l >= 1, last = output): active ids (global),
   * count, compact values. Sampled output: the sample's labels come first.
   */
  active: Int32Array[];
  nActive: Int32Array;
  vals: Float32Array[];
  /** per neuron-major layer: the sampler scratch of its single shard (null if dense or split) */
  sampler: (SamplerScratch | null)[];
  /** per neuron-major layer: the shards' scratch when it is split over several memories, else null */
  split: (ShardScratch[] | null)[];
  /** top-k output */
  topIds: Int32Array;
  topScores: Float32Array;
  /** the current sample's features, copied into the arena so that WebAssembly kernels see them */
  inIdx: Int32Array;
  inVal: Float32Array;
  /** set by trainSample: 1 if the highest-scoring active output neuron is a true label */
  lastHit: number;
  /**
   * (3) running sums over trained samples, reset by the caller: [loss, hits, active output
   * neurons]. A typed array, so that reporting the loss allocates nothing (a double returned
   * from a function is boxed on V8's heap: 16 bytes a sample).
   */
  sums: Float64Array;
  /** (1) log partition of the last softmax */
  logZ: Float64Array;
}

/** Output-layer bytes (parameters, Adam state, tables) above which `outputShards: 0` splits it. */
export const AUTO_SHARD_BYTES = 3 * 2 ** 30;

/** Shards `outputShards: 0` picks: enough that each holds at most AUTO_SHARD_BYTES (estimated). */
export function autoOutputShards(cfg: Config, nIn: number, nOut: number): number {
  const adam = cfg.optimizer.type === 'adam';
  let perNeuron = 4 * nIn * (adam ? 4 : 2) + 4 * 8;
  const o = cfg.output;
  // tables: staged keys and entries (2 ints a neuron a table), plus the bucket offsets
  if (o.mode === 'lsh') perNeuron += 8 * o.hash.L;
  const bucketBytes = o.mode === 'lsh' ? 4 * o.hash.L * 2 ** 18 : 0;
  return Math.max(1, Math.ceil((perNeuron * nOut + bucketBytes) / AUTO_SHARD_BYTES));
}

/** A sampled shard: what a table rebuild works on. */
export interface SampledUnit {
  readonly sampler: LshSampler;
  readonly p: ParamBlock;
}

export class Network {
  readonly arena: Arena;
  /** arenas of the output shards when the output layer is split (empty otherwise) */
  readonly shardArenas: Arena[];
  readonly input: ParamBlock;
  readonly fc: FcLayer[];
  readonly hidden: number[];
  readonly kernels: Kernels;
  /** accumulate per-part timings into ThreadScratch.prof (costs a clock read per part) */
  profile = false;

  constructor(
    readonly cfg: Config,
    readonly nFeatures: number,
    readonly nLabels: number,
    kernelsFor: (memory: WebAssembly.Memory) => Kernels,
    rng: Rng,
    arena: Arena = new Arena(),
    /** a worker thread's view of a network the main thread built in `arena`: write nothing */
    attach = false,
    /** with `attach`: the output shards' arenas (over the memories the main thread made) */
    shardArenas?: Arena[],
  ) {
    if (cfg.hidden.length < 1) throw new ConfigError('config: field "hidden": at least one hidden layer is required');
    if (cfg.hiddenSampling.length > cfg.hidden.length) {
      throw new ConfigError(`config: field "hiddenSampling": ${cfg.hiddenSampling.length} entries for ${cfg.hidden.length} hidden layers`);
    }
    if (cfg.hiddenSampling[0] && cfg.hiddenSampling[0].mode === 'lsh') {
      throw new ConfigError('config: field "hiddenSampling.0.mode": the first hidden layer reads the sparse input feature-major and is always dense; sample layers after it or the output');
    }
    this.arena = arena;
    this.kernels = kernelsFor(arena.memory);
    this.hidden = cfg.hidden.slice();
    const adam = cfg.optimizer.type === 'adam';
    const h0 = cfg.hidden[0]!;
    const initRng = rng.fork(1);
    this.input = new ParamBlock(arena, this.kernels, nFeatures, h0, h0, adam, true);
    if (!attach) this.input.init(initRng, nFeatures, h0, cfg.initScale);
    this.fc = [];
    const widths = [...cfg.hidden, nLabels];
    const hLast = widths[widths.length - 2]!;
    const S = cfg.outputShards > 0 ? cfg.outputShards : autoOutputShards(cfg, hLast, nLabels);
    if (S > nLabels) throw new ConfigError(`config: field "outputShards": ${S} shards for ${nLabels} output neurons`);
    if (shardArenas && shardArenas.length !== (S > 1 ? S : 0)) {
      throw new Error(`Network: ${shardArenas.length} shard arenas given for ${S} output shards`);
    }
    this.shardArenas = S > 1 ? (shardArenas ?? Array.from({ length: S }, () => new Arena())) : [];
    for (let l = 1; l < widths.length; l++) {
      const nIn = widths[l - 1]!;
      const nOut = widths[l]!;
      const isOutput = l === widths.length - 1;
      const sampling: LayerSampling | undefined = isOutput ? cfg.output : cfg.hiddenSampling[l];
      const lsh = sampling !== undefined && sampling.mode === 'lsh';
      const nShards = isOutput ? S : 1;
      const size = Math.ceil(nOut / nShards);
      const shards: LayerShard[] = [];
      for (let si = 0; si < nShards; si++) {
        const lo = si * size;
        const n = Math.min(nOut, lo + size) - lo;
        const a = nShards > 1 ? this.shardArenas[si]! : arena;
        const k = nShards > 1 ? kernelsFor(a.memory) : this.kernels;
        // a sampled layer (each shard of it) defers its weight gradients to the update (DeferredGrads)
        const shardCfg = lsh ? shardSampling(sampling, n, nOut) : null;
        const p = new ParamBlock(a, k, n, nIn, n, adam, false, shardCfg !== null ? { slots: cfg.batchSize, budget: deferBudget(shardCfg, n) } : null);
        // one draw sequence over the whole layer: the same weights however it is split
        if (!attach) p.init(initRng, nIn, nOut, cfg.initScale);
        const all = a.i32(n);
        if (!attach) for (let j = 0; j < n; j++) all[j] = j;
        const sampler = shardCfg !== null ? new LshSampler(shardCfg, nIn, n, rng.fork(100 + l + 1000 * si), a, attach, k) : null;
        shards.push({ lo, nOut: n, p, sampler, all, arena: a, kernels: k });
      }
      this.fc.push({ nIn, nOut, shards, sampled: lsh, isOutput });
    }
    this.layoutBytes = [arena.bytesUsed, ...this.shardArenas.map((a) => a.bytesUsed)];
    this.blockList = [this.input, ...this.fc.flatMap((l) => l.shards.map((sh) => sh.p))];
    this.units = [];
    for (const l of this.fc) for (const sh of l.shards) if (sh.sampler) this.units.push({ sampler: sh.sampler, p: sh.p });
  }

  /** blocks() and sampledUnits(), built once: they are walked every batch, which must not allocate */
  private readonly blockList: ParamBlock[];
  private readonly units: SampledUnit[];

  /**
   * Bytes the network took in its arena and in each shard arena (a worker's attach must end at
   * the same offsets, or its views are off).
   */
  readonly layoutBytes: number[];

  get output(): FcLayer {
    return this.fc[this.fc.length - 1]!;
  }

  /** All parameter blocks, input first, then every shard of every layer. */
  blocks(): readonly ParamBlock[] {
    return this.blockList;
  }

  /** Every sampled shard, layer by layer: the units of a table rebuild. */
  sampledUnits(): readonly SampledUnit[] {
    return this.units;
  }

  /**
   * Scratch for one thread, carved from the arena (the kernels must see it); the parts of split
   * layers from `shardArenas` (default: the shards' own arenas), in the same order.
   */
  createScratch(rng: Rng, maxK = 100, maxNnz = 1024, a: Arena = this.arena, shardArenas: Arena[] = this.shardArenas): ThreadScratch {
    return {
      rng,
      prof: new Float64Array(PROF_SLOTS),
      acts: this.hidden.map((h) => a.f32(h)),
      dActs: this.hidden.map((h) => a.f32(h)),
      active: this.fc.map((l) => a.i32(l.nOut)),
      nActive: new Int32Array(this.fc.length),
      vals: this.fc.map((l) => a.f32(l.nOut)),
      sampler: this.fc.map((l) => (l.shards.length === 1 && l.shards[0]!.sampler ? l.shards[0]!.sampler.createScratch(a) : null)),
      split: this.fc.map((l) =>
        l.shards.length === 1
          ? null
          : l.shards.map((sh, si) => {
              const sa = shardArenas[si]!;
              return {
                x: sa.f32(l.nIn), act: sa.i32(sh.nOut), vals: sa.f32(sh.nOut), dx: sa.f32(l.nIn),
                forced: new Int32Array(16), n: 0, nForced: 0,
                sampler: sh.sampler ? sh.sampler.createScratch(sa) : null,
              };
            }),
      ),
      topIds: a.i32(maxK),
      topScores: a.f32(maxK),
      lastHit: 0,
      sums: new Float64Array(3),
      logZ: new Float64Array(1),
      inIdx: a.i32(maxNnz),
      inVal: a.f32(maxNnz),
    };
  }

  /** One rebuild scratch per sampled unit (sampledUnits order). */
  createRebuildScratch(): RebuildScratch[] {
    return this.sampledUnits().map((u) => u.sampler.createRebuildScratch());
  }

  /**
   * Re-insert the neurons of every sampled layer into its tables; `s` (the calling thread's
   * scratch) lends its samplers' projection buffers to kernel hashing.
   */
  rebuildTables(scratch: RebuildScratch[], s: ThreadScratch | null = null): void {
    const hs = s ? this.unitSamplerScratch(s) : null;
    this.sampledUnits().forEach((u, i) => u.sampler.rebuild(u.p.W, u.p.b, scratch[i]!, hs ? hs[i]! : null));
  }

  /** A thread's sampler scratch of every sampled unit (sampledUnits order). */
  unitSamplerScratch(s: ThreadScratch): SamplerScratch[] {
    const out: SamplerScratch[] = [];
    this.fc.forEach((l, li) => {
      const split = s.split[li];
      l.shards.forEach((sh, si) => {
        if (!sh.sampler) return;
        out.push((split ? split[si]!.sampler : s.sampler[li])!);
      });
    });
    return out;
  }

  /** Draw new hash functions for every sampled layer (then rebuild). */
  redrawHashes(rng: Rng): void {
    for (const u of this.sampledUnits()) u.sampler.redraw(rng);
  }

  /** Re-create this thread's hash functions where another thread redrew them. */
  syncFamilies(): void {
    const units = this.units;
    for (let i = 0; i < units.length; i++) units[i]!.sampler.syncFamily();
  }

  /**
   * Forward through the hidden layers for one sparse input; fills s.acts.
   * `exact` computes all neurons; otherwise each layer's sampler is used where it has one.
   * `train`: apply the configured dropout (input features, hidden activations) with s.rng.
   * Returns the number of input features kept (in s.inIdx / s.inVal).
   */
  private forwardHidden(s: ThreadScratch, idx: Int32Array, val: Float32Array, start: number, end: number, exact: boolean, train: boolean): number {
    const k = this.kernels;
    const h0 = this.hidden[0]!;
    const nnz = end - start;
    if (nnz > s.inIdx.length) {
      // rare: a sample with more non-zeros than any before; the arena only grows
      let c = s.inIdx.length;
      while (c < nnz) c *= 2;
      s.inIdx = this.arena.i32(c);
      s.inVal = this.arena.f32(c);
    }
    const inIdx = s.inIdx;
    const inVal = s.inVal;
    let kept = 0;
    const pIn = train ? this.cfg.dropout.input : 0;
    if (pIn > 0) {
      const keep = 1 / (1 - pIn);
      for (let i = 0; i < nnz; i++) {
        if (s.rng.nextFloat() < pIn) continue;
        inIdx[kept] = idx[start + i]!;
        inVal[kept++] = val[start + i]! * keep;
      }
    } else {
      for (let i = 0; i < nnz; i++) {
        inIdx[i] = idx[start + i]!;
        inVal[i] = val[start + i]!;
      }
      kept = nnz;
    }
    const pH = train ? this.cfg.dropout.hidden : 0;
    k.sparseInputForward(this.input.W, this.input.b, h0, inIdx, inVal, 0, kept, s.acts[0]!, 0);
    k.relu(s.acts[0]!, 0, h0);
    if (pH > 0) dropout(s.acts[0]!, h0, pH, s.rng);
    for (let l = 0; l < this.fc.length - 1; l++) {
      const layer = this.fc[l]!;
      const sh = layer.shards[0]!;
      const x = s.acts[l]!;
      const y = s.acts[l + 1]!;
      const n = this.layerActive(s, l, x, null, 0, 0, exact);
      const act = s.active[l]!;
      const vals = s.vals[l]!;
      k.dotRows(sh.p.W, sh.p.b, layer.nIn, act, 0, n, x, 0, vals, 0);
      k.relu(vals, 0, n);
      if (n !== layer.nOut) y.fill(0);
      for (let i = 0; i < n; i++) y[act[i]!] = vals[i]!;
      if (pH > 0) dropout(y, layer.nOut, pH, s.rng);
    }
    return kept;
  }

  /**
   * Active list of one shard for input x into `act` (its local ids); returns its size. The
   * sampler's forced ids are local too.
   */
  private shardActive(
    s: ThreadScratch,
    sh: LayerShard,
    ss: SamplerScratch | null,
    x: Float32Array,
    forced: Int32Array | null,
    fStart: number,
    fEnd: number,
    exact: boolean,
    act: Int32Array,
  ): number {
    const sampler = sh.sampler;
    if (sampler === null || ss === null || exact) {
      // plain loop: TypedArray.set on shared memory takes a slow path that allocates
      const all = sh.all;
      const n = sh.nOut;
      for (let j = 0; j < n; j++) act[j] = all[j]!;
      return n;
    }
    if (this.profile) {
      const t0 = performance.now();
      sampler.hashInput(ss, x, 0);
      const t1 = performance.now();
      const n = sampler.collect(ss, forced, fStart, fEnd, s.rng, act);
      s.prof[PROF_HASH] += (t1 - t0) / 1000;
      s.prof[PROF_LOOKUP] += (performance.now() - t1) / 1000;
      return n;
    }
    return sampler.activeSet(ss, x, 0, forced, fStart, fEnd, s.rng, act);
  }

  /** Active list of single-shard layer l for input x; returns its size (also in s.nActive[l]). */
  private layerActive(
    s: ThreadScratch,
    l: number,
    x: Float32Array,
    forced: Int32Array | null,
    fStart: number,
    fEnd: number,
    exact: boolean,
  ): number {
    const n = this.shardActive(s, this.fc[l]!.shards[0]!, s.sampler[l]!, x, forced, fStart, fEnd, exact, s.active[l]!);
    s.nActive[l] = n;
    return n;
  }

  /**
   * Logits of the output layer's active neurons into s.active[L] (global ids) / s.vals[L];
   * returns their number. Sampled training: the labels come first. A split layer computes each
   * shard in its own memory and gathers the shards' labels first, then the rest, shard by shard
   * (dense mode: every neuron in id order, as unsplit).
   */
  private outputForward(s: ThreadScratch, x: Float32Array, labels: Int32Array | null, lStart: number, lEnd: number, exact: boolean): number {
    const L = this.fc.length - 1;
    const out = this.fc[L]!;
    const z = s.vals[L]!;
    const split = s.split[L];
    if (split === null) {
      const sh = out.shards[0]!;
      const n = this.layerActive(s, L, x, labels, lStart, lEnd, exact);
      sh.kernels.dotRows(sh.p.W, sh.p.b, out.nIn, s.active[L]!, 0, n, x, 0, z, 0);
      return n;
    }
    const nIn = out.nIn;
    for (let si = 0; si < out.shards.length; si++) {
      const sh = out.shards[si]!;
      const ss = split[si]!;
      const xs = ss.x;
      for (let i = 0; i < nIn; i++) xs[i] = x[i]!;
      let nf = 0;
      if (labels !== null && !exact && sh.sampler !== null) {
        if (ss.forced.length < lEnd - lStart) ss.forced = new Int32Array(2 * (lEnd - lStart)); // rare: grows once
        const hi = sh.lo + sh.nOut;
        for (let i = lStart; i < lEnd; i++) {
          const y = labels[i]!;
          if (y >= sh.lo && y < hi) ss.forced[nf++] = y - sh.lo;
        }
      }
      ss.nForced = nf;
      ss.n = this.shardActive(s, sh, ss.sampler, xs, ss.forced, 0, nf, exact, ss.act);
      sh.kernels.dotRows(sh.p.W, sh.p.b, nIn, ss.act, 0, ss.n, xs, 0, ss.vals, 0);
    }
    const act = s.active[L]!;
    let c = 0;
    for (let si = 0; si < split.length; si++) {
      const ss = split[si]!;
      const lo = out.shards[si]!.lo;
      for (let i = 0; i < ss.nForced; i++, c++) {
        act[c] = lo + ss.act[i]!;
        z[c] = ss.vals[i]!;
      }
    }
    for (let si = 0; si < split.length; si++) {
      const ss = split[si]!;
      const lo = out.shards[si]!.lo;
      for (let i = ss.nForced; i < ss.n; i++, c++) {
        act[c] = lo + ss.act[i]!;
        z[c] = ss.vals[i]!;
      }
    }
    s.nActive[L] = c;
    return c;
  }

  /**
   * Backward of a split output layer: the gradient of the gathered logits (s.vals[L]) goes back
   * to each shard in gather order; each shard accumulates its G rows and its part of the
   * input gradient, which are summed into s.dActs[L].
   */
  private outputBackwardSplit(s: ThreadScratch, split: ShardScratch[], slot: number): void {
    const L = this.fc.length - 1;
    const out = this.fc[L]!;
    const g = s.vals[L]!;
    const nIn = out.nIn;
    let c = 0;
    for (let si = 0; si < split.length; si++) {
      const ss = split[si]!;
      for (let i = 0; i < ss.nForced; i++) ss.vals[i] = g[c++]!;
    }
    for (let si = 0; si < split.length; si++) {
      const ss = split[si]!;
      for (let i = ss.nForced; i < ss.n; i++) ss.vals[i] = g[c++]!;
    }
    const dx = s.dActs[L]!;
    dx.fill(0);
    for (let si = 0; si < split.length; si++) {
      const sh = out.shards[si]!;
      const ss = split[si]!;
      ss.dx.fill(0);
      this.rowsBackward(sh, nIn, ss.act, ss.n, ss.vals, ss.x, ss.dx, slot);
      for (let i = 0; i < nIn; i++) dx[i] = dx[i]! + ss.dx[i]!;
    }
  }

  /**
   * Backward through the active rows a[0 .. n) of a neuron-major shard, gradients g (of the
   * rows' outputs), input x: dx += the input gradient; the weight gradients are recorded in the
   * sample's batch slot (DeferredGrads) or, without one, added to G now (touching the rows).
   */
  private rowsBackward(sh: LayerShard, nIn: number, a: Int32Array, n: number, g: Float32Array, x: Float32Array, dx: Float32Array, slot: number): void {
    const d = sh.p.deferred;
    if (d !== null && slot >= 0 && d.record(slot, a, 0, n, g, 0, x, 0)) {
      // the rows are listed as touched from the recorded pairs before the update
      sh.kernels.rowsDx(sh.p.W, nIn, a, 0, n, g, 0, dx, 0);
      return;
    }
    if (d !== null) d.markImmediate();
    sh.kernels.rowsBackward(sh.p.W, sh.p.G, sh.p.gb, nIn, a, 0, n, g, 0, x, 0, dx, 0);
    for (let i = 0; i < n; i++) sh.p.touchRow(a[i]!);
  }

  /**
   * One training sample: forward (sampled), softmax cross-entropy with the target mass spread
   * evenly over the sample's labels, backward, gradients accumulated into the shared G
   * buffers scaled by `gradScale` (1 / batch size). Adds the loss, the hit and the active
   * output neurons to s.sums (a sample without labels adds nothing and contributes no gradient).
   * `slot`: the sample's row in the batch (each row of a batch its own), or -1: a sampled layer
   * then records its weight gradients in that slot for the update to sum (DeferredGrads) instead
   * of adding them to G now.
   */
  trainSample(
    s: ThreadScratch,
    idx: Int32Array,
    val: Float32Array,
    fStart: number,
    fEnd: number,
    labels: Int32Array,
    lStart: number,
    lEnd: number,
    gradScale: number,
    slot = -1,
  ): void {
    const nl = lEnd - lStart;
    s.lastHit = 0;
    if (nl === 0) return;
    const k = this.kernels;
    const prof = this.profile;
    const tStart = prof ? performance.now() : 0;
    const hl0 = prof ? s.prof[PROF_HASH]! + s.prof[PROF_LOOKUP]! : 0;
    const kept = this.forwardHidden(s, idx, val, fStart, fEnd, false, true);
    // dropout: a dropped activation is 0, so the ReLU masks below also mask it; kept ones were scaled by dScale
    const dScale = 1 / (1 - this.cfg.dropout.hidden);
    const L = this.fc.length - 1;
    const out = this.fc[L]!;
    const hLast = s.acts[L]!;
    const n = this.outputForward(s, hLast, labels, lStart, lEnd, false);
    const z = s.vals[L]!;
    // True labels are active and come first when sampled; in dense mode find them by id.
    let zl = 0;
    if (out.sampled) {
      // labels were forced first and are distinct (the reader rejects duplicates)
      for (let i = 0; i < nl; i++) zl += z[i]!;
    } else {
      for (let i = lStart; i < lEnd; i++) zl += z[labels[i]!]!;
    }
    // running training P@1: is the arg-max a label?
    let best = 0;
    for (let i = 1; i < n; i++) if (z[i]! > z[best]!) best = i;
    if (out.sampled) s.lastHit = best < nl ? 1 : 0;
    else {
      s.lastHit = 0;
      for (let i = lStart; i < lEnd; i++) if (labels[i] === best) s.lastHit = 1;
    }
    k.softmax(z, 0, n, s.logZ);
    const logZ = s.logZ[0]!;
    const loss = logZ - zl / nl;
    const tBack = prof ? performance.now() : 0;
    if (prof) s.prof[PROF_FORWARD] += (tBack - tStart) / 1000 - (s.prof[PROF_HASH]! + s.prof[PROF_LOOKUP]! - hl0);
    // dL/dz_i = p_i - y_i, y = 1/nl on labels; scaled for the batch mean
    for (let i = 0; i < n; i++) z[i] = z[i]! * gradScale;
    const yv = gradScale / nl;
    if (out.sampled) for (let i = 0; i < nl; i++) z[i] = z[i]! - yv;
    else for (let i = lStart; i < lEnd; i++) z[labels[i]!] = z[labels[i]!]! - yv;
    // backward through the layers
    for (let l = L; l >= 0; l--) {
      const layer = this.fc[l]!;
      const split = s.split[l];
      if (split !== null) {
        this.outputBackwardSplit(s, split, slot);
        continue;
      }
      const sh = layer.shards[0]!;
      const nA = s.nActive[l]!;
      const a = s.active[l]!;
      const g = s.vals[l]!;
      if (l < L) {
        // g = dL/dy on active neurons, masked by ReLU
        const y = s.acts[l + 1]!;
        const dy = s.dActs[l + 1]!;
        for (let i = 0; i < nA; i++) {
          const j = a[i]!;
          g[i] = y[j]! > 0 ? dy[j]! * dScale : 0;
        }
      }
      const dx = s.dActs[l]!;
      dx.fill(0);
      this.rowsBackward(sh, layer.nIn, a, nA, g, s.acts[l]!, dx, slot);
    }
    // input layer: delta = dAct0 masked by ReLU
    const h0 = this.hidden[0]!;
    const d0 = s.dActs[0]!;
    const a0 = s.acts[0]!;
    for (let j = 0; j < h0; j++) d0[j] = a0[j]! > 0 ? d0[j]! * dScale : 0;
    k.sparseInputBackward(this.input.G, this.input.gb, h0, s.inIdx, s.inVal, 0, kept, d0, 0);
    for (let i = 0; i < kept; i++) this.input.touchRow(s.inIdx[i]!);
    if (prof) s.prof[PROF_BACKWARD] += (performance.now() - tBack) / 1000;
    const sums = s.sums;
    sums[0] += loss;
    sums[1] += s.lastHit;
    sums[2] += n;
  }

  /** Apply the optimizer to everything touched since the last update. `step` counts from 1; `horizon`: of the lr schedule. */
  update(step: number, horizon = 0): void {
    const opt = this.cfg.optimizer;
    const blocks = this.blockList;
    for (let i = 0; i < blocks.length; i++) blocks[i]!.update(opt, step, horizon);
  }

  /**
   * Score one sample's output neurons and select the top k into s.topIds / s.topScores
   * (scores are softmax probabilities over the neurons computed). Returns the number selected.
   * `exact`: compute every output neuron; otherwise query the tables (LSH inference).
   * The computed set stays in s.active[last] / s.nActive[last] (for recall measurements).
   */
  predict(s: ThreadScratch, idx: Int32Array, val: Float32Array, start: number, end: number, k: number, exact: boolean): number {
    if (k > s.topIds.length) throw new RangeError(`predict: k = ${k} exceeds the scratch's ${s.topIds.length}`);
    this.forwardHidden(s, idx, val, start, end, exact, false);
    const L = this.fc.length - 1;
    const hLast = s.acts[L]!;
    const n = this.outputForward(s, hLast, null, 0, 0, exact);
    const z = s.vals[L]!;
    this.kernels.softmax(z, 0, n, s.logZ);
    return topK(s.active[L]!, z, n, k, s.topIds, s.topScores);
  }

  /** Number of parameters (weights and biases). */
  parameterCount(): number {
    let c = 0;
    for (const b of this.blocks()) c += b.W.length + b.b.length;
    return c;
  }
}

/**
 * The sampling configuration of one shard of `total` neurons holding `n`: the active-set sizes
 * (padding target, cap) in proportion, so that the layer as a whole keeps the configured sizes.
 */
function shardSampling(cfg: LayerSampling, n: number, total: number): LayerSampling {
  if (n === total) return cfg;
  const as = cfg.activeSet;
  const part = (v: number): number => (v > 0 ? Math.max(1, Math.ceil((v * n) / total)) : 0);
  return { ...cfg, activeSet: { ...as, minActive: part(as.minActive), maxActive: part(as.maxActive) } };
}

/**
 * Pairs a sample slot holds for a sampled layer's deferred gradients: its active-set cap plus
 * room for the labels forced in (topk), or a few times the padding target when the set is
 * unbounded (union); a sample with more active neurons takes the immediate path.
 */
function deferBudget(s: LayerSampling, nOut: number): number {
  const as = s.activeSet;
  const want = as.maxActive > 0 ? as.maxActive + 64 : 4 * Math.max(as.minActive, 512);
  return Math.max(1, Math.min(nOut, want));
}

/** Inverted dropout in place: each of x[0..n) becomes 0 with probability p, else x / (1 - p). */
function dropout(x: Float32Array, n: number, p: number, rng: Rng): void {
  const keep = 1 / (1 - p);
  for (let j = 0; j < n; j++) x[j] = rng.nextFloat() < p ? 0 : x[j]! * keep;
}
