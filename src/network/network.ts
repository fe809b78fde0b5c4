import { Arena } from '../memory/arena.js';
import { bindRowCopy8, declareRowCopy8, type RowCopy8 } from './quantized.js';
import { BlockDecl, bytesOf, checkSamePlacement, place, type BoundViews, type Placement } from '../memory/layout.js';
import type { Rng } from '../util/rng.js';
import type { Kernels } from '../kernels/js.js';
import { inputFanInOf, type Config, type LayerSampling } from '../config.js';
import { ConfigError } from '../util/errors.js';
import { ParamBlock, type ParamSpec } from '../layers/params.js';
import { LshSampler, type SamplerSpec } from '../layers/sampler.js';

/**
 * A SLIDE network's structure and memory: sparse input -> hidden ReLU layers -> softmax output.
 *
 *   layer 0 (input):  ParamBlock W (nFeatures, h0) FEATURE-major, so a sample reads its ~nnz
 *                     contiguous rows; always dense (all h0 neurons active).
 *   layer l >= 1:     ParamBlock W (h_l, h_{l-1}) NEURON-major; optionally LSH-sampled.
 *   output:           ParamBlock W (nLabels, h_last) neuron-major; LSH-sampled or dense, in one
 *                     memory or split by contiguous neuron ranges over several (outputShards),
 *                     because one wasm32 memory holds at most 4 GiB.
 *
 * Every neuron-major layer computes only its active list (the identity list in dense mode): dense
 * mode is the same code with every neuron active, which makes it the exactness oracle. What a
 * sample computes is in sample.ts; the per-thread scratch and the batch's slots in run.ts.
 *
 * Memory: `planModel` declares every block of every memory (memory 0: the input and hidden
 * layers, and the output layer when it is not split; memory s >= 1: output shard s - 1). The
 * owner (`Network.build`) carves the declaration and initializes the weights and samplers; a
 * worker (`Network.attach`) declares the same, checks it against the owner's placements and binds
 * views to the same bytes. Nothing else allocates in these memories but the run (run.ts), after
 * the model.
 */

/** A contiguous range of one layer's neurons with its own parameters, optimizer state and tables. */
export interface LayerShard {
  /** global id of the shard's first neuron */
  readonly lo: number;
  readonly nOut: number;
  /** the memory it lives in (0: the network's main memory) */
  readonly memory: number;
  /** W (nOut, nIn) neuron-major: local row j is neuron lo + j */
  readonly p: ParamBlock;
  readonly sampler: LshSampler | null;
  /** 0..nOut-1, the active list of dense mode (local ids) */
  readonly all: Int32Array;
  /** kernels of the shard's memory */
  readonly kernels: Kernels;
  /** 8-bit copies of its rows (ShardPlan.rowCopy8), or null */
  readonly q8: RowCopy8 | null;
}

export interface FcLayer {
  readonly nIn: number;
  readonly nOut: number;
  /**
   * one shard, or (output layer only) several over contiguous neuron ranges, in order; none when
   * the layer is remote (its shards live in other processes: their plans are in plan.layers)
   */
  readonly shards: LayerShard[];
  /** LSH-sampled (every shard has a sampler) */
  readonly sampled: boolean;
  readonly isOutput: boolean;
  /** the output layer's shards are held by other processes (src/cluster), this one holds none */
  readonly remote: boolean;
}

/** A sampled shard: what a table rebuild works on. */
export interface SampledUnit {
  readonly sampler: LshSampler;
  readonly p: ParamBlock;
  readonly memory: number;
}

/** The declared structure of one shard. */
export interface ShardPlan {
  lo: number;
  n: number;
  memory: number;
  param: ParamSpec;
  sampler: SamplerSpec | null;
  /** 8-bit copies of its rows for ranking (quantized.ts): the output layer when it is one shard in this process */
  rowCopy8?: boolean;
}

export interface LayerPlan {
  nIn: number;
  nOut: number;
  isOutput: boolean;
  sampled: boolean;
  shards: ShardPlan[];
}

/** Everything a network declares: its blocks per memory and its structure. */
export interface ModelPlan {
  input: ParamSpec;
  layers: LayerPlan[];
  /** blocks of each memory, in carving order */
  memories: BlockDecl[][];
}

/** Options of planModel. */
export interface PlanOptions {
  /**
   * the output layer's shards are held by other processes (src/cluster): cfg.outputShards of them
   * (at least 1), each in a memory of its own even when there is one, so that memory 0 holds the
   * input and hidden layers alone. A shard process carves memory s + 1 of this plan, the same
   * blocks the in-process split declares for shard s.
   */
  remoteOutput?: boolean;
}

/** Output-layer bytes (parameters, Adam state, tables) above which `outputShards: 0` splits it. */
export const AUTO_SHARD_BYTES = 3 * 2 ** 30;

/** The name of layer l's shard s in the layout and in checkpoints. */
export function shardName(l: number, shards: number, s: number): string {
  return shards === 1 ? `fc.${l}` : `fc.${l}.shard${s}`;
}

/** Check the configuration's structure (messages name the field). */
function checkStructure(cfg: Config, nLabels: number): void {
  if (cfg.hidden.length < 1) throw new ConfigError('config: field "hidden": at least one hidden layer is required');
  if (cfg.hiddenSampling.length > cfg.hidden.length) {
    throw new ConfigError(`config: field "hiddenSampling": ${cfg.hiddenSampling.length} entries for ${cfg.hidden.length} hidden layers`);
  }
  if (cfg.hiddenSampling[0] && cfg.hiddenSampling[0].mode === 'lsh') {
    throw new ConfigError('config: field "hiddenSampling.0.mode": the first hidden layer reads the sparse input feature-major and is always dense; sample layers after it or the output');
  }
  if (cfg.outputShards > nLabels) throw new ConfigError(`config: field "outputShards": ${cfg.outputShards} shards for ${nLabels} output neurons`);
}

/**
 * The sampling configuration of one shard of `total` neurons holding `n`: the active-set sizes
 * (padding target, cap) in proportion, so that the layer as a whole keeps the configured sizes.
 */
function shardSampling(cfg: LayerSampling, n: number, total: number): LayerSampling {
  if (n === total) return cfg;
  const as = cfg.activeSet;
  const part = (v: number): number => (v > 0 ? Math.max(1, Math.ceil((v * n) / total)) : 0);
  return { ...cfg, activeSet: { ...as, minActive: part(as.minActive), maxActive: part(as.maxActive), queryMaxActive: part(as.queryMaxActive) } };
}

/** Bytes of a block list (what carving it takes, alignment included). */
export function blockBytes(blocks: readonly BlockDecl[]): number {
  let n = 0;
  for (const b of blocks) for (const v of b.views) n += 64 + bytesOf(v);
  return n;
}

/**
 * The output layer's shards for S memories (S = 1: one shard in memory 0): S contiguous ranges
 * of nOut / S neurons (rounded, so every S <= nOut works).
 */
function outputShardPlans(cfg: Config, l: number, nIn: number, nOut: number, S: number, ownMemories = S > 1): ShardPlan[] {
  const adam = cfg.optimizer.type === 'adam';
  const lsh = cfg.output.mode === 'lsh';
  const shards: ShardPlan[] = [];
  for (let si = 0; si < S; si++) {
    const lo = Math.floor((si * nOut) / S);
    const n = Math.floor(((si + 1) * nOut) / S) - lo;
    const name = shardName(l, S, si);
    shards.push({
      lo, n, memory: ownMemories ? si + 1 : 0,
      param: { name, rows: n, cols: nIn, nOut: n, adam, featureMajor: false },
      sampler: lsh ? { name, cfg: shardSampling(cfg.output, n, nOut), nIn, nOut: n } : null,
    });
  }
  return shards;
}

/**
 * Declare the model: every parameter block, sampler and table set, in the memory it lives in.
 * `outputShards: 0` takes as few output memories as keep each below AUTO_SHARD_BYTES.
 */
export function planModel(cfg: Config, nFeatures: number, nLabels: number, opts: PlanOptions = {}): ModelPlan {
  checkStructure(cfg, nLabels);
  const remote = opts.remoteOutput === true;
  if (remote && cfg.outputShards < 1) throw new ConfigError('config: field "outputShards": a remote output layer needs the number of shard processes (at least 1)');
  const adam = cfg.optimizer.type === 'adam';
  const h0 = cfg.hidden[0]!;
  const input: ParamSpec = { name: 'input', rows: nFeatures, cols: h0, nOut: h0, adam, featureMajor: true };
  const widths = [...cfg.hidden, nLabels];
  const layers: LayerPlan[] = [];
  for (let l = 1; l < widths.length; l++) {
    const nIn = widths[l - 1]!;
    const nOut = widths[l]!;
    const isOutput = l === widths.length - 1;
    const fc = l - 1;
    if (isOutput) {
      if (remote) {
        layers.push({ nIn, nOut, isOutput, sampled: cfg.output.mode === 'lsh', shards: outputShardPlans(cfg, fc, nIn, nOut, cfg.outputShards, true) });
        continue;
      }
      let S = cfg.outputShards;
      if (S === 0) {
        // as few memories as keep each shard's blocks below AUTO_SHARD_BYTES: from the whole
        // layer's bytes, then up while the largest shard is still above
        // (the whole layer's bytes from a per-neuron bound when it is too large to declare at all)
        const perNeuron = 4 * nIn * (cfg.optimizer.type === 'adam' ? 4 : 2) + (cfg.output.mode === 'lsh' ? 8 * cfg.output.hash.L : 0) + 32;
        S = Math.min(nOut, Math.max(1, Math.ceil((perNeuron * nOut) / AUTO_SHARD_BYTES)));
        const shardBytes = (k: number): number => {
          try {
            return blockBytes(declareShard(outputShardPlans(cfg, fc, nIn, nOut, k)[0]!));
          } catch {
            return Infinity;
          }
        };
        while (S < nOut && shardBytes(S) > AUTO_SHARD_BYTES) S++;
      }
      const shards = outputShardPlans(cfg, fc, nIn, nOut, S);
      // after S (the copies' bytes take no part in the split), where they keep the shard within
      // the split's budget; a shard without them scores its rows in float32
      for (const sh of shards) sh.rowCopy8 = blockBytes(declareShard(sh)) + sh.n * (nIn + 8) <= AUTO_SHARD_BYTES;
      layers.push({ nIn, nOut, isOutput, sampled: cfg.output.mode === 'lsh', shards });
      continue;
    }
    const sampling = cfg.hiddenSampling[l];
    const lsh = sampling !== undefined && sampling.mode === 'lsh';
    const name = shardName(fc, 1, 0);
    layers.push({
      nIn, nOut, isOutput, sampled: lsh,
      shards: [{ lo: 0, n: nOut, memory: 0, param: { name, rows: nOut, cols: nIn, nOut, adam, featureMajor: false }, sampler: lsh ? { name, cfg: sampling, nIn, nOut } : null }],
    });
  }
  const out = layers[layers.length - 1]!;
  const nMem = 1 + (remote || out.shards.length > 1 ? out.shards.length : 0);
  const memories: BlockDecl[][] = Array.from({ length: nMem }, () => []);
  memories[0]!.push(ParamBlock.declare(input));
  for (const layer of layers) for (const sh of layer.shards) memories[sh.memory]!.push(...declareShard(sh));
  return { input, layers, memories };
}

function declareShard(sh: ShardPlan): BlockDecl[] {
  const out = [ParamBlock.declare(sh.param), new BlockDecl(`${sh.param.name}.ids`).i32('all', [sh.n])];
  if (sh.sampler) out.push(...LshSampler.declare(sh.sampler));
  if (sh.rowCopy8 === true) out.push(declareRowCopy8(sh.param.name, sh.n, sh.param.cols));
  return out;
}

/** Options of Network.build and Network.attach. */
export interface NetworkOptions {
  /**
   * the output layer is held by shard processes (PlanOptions.remoteOutput): this network holds
   * memory 0 alone (the input and hidden layers) and draws the same values there as the whole
   * model would
   */
  remoteOutput?: boolean;
}

/** The blocks a process holds, for drawInit: null = held elsewhere (its draws are skipped). */
export interface InitTargets {
  input: ParamBlock | null;
  /** layer l's shard si */
  param(l: number, si: number): ParamBlock | null;
  /** called with the generator of each sampled shard whose block is held (param non-null), in unit order */
  sampler(l: number, si: number, rng: Rng): void;
}

/**
 * The model's initial values, in the order the model's generator makes them: the weights of every
 * block from one forked stream (the input layer, then each layer's shards in order: a split layer
 * draws one sequence over the whole layer, so the split does not change the weights), each
 * sampled shard's seeds from its own fork of `rng`, in unit order. A process that holds only some
 * blocks (an output shard in its own process, a trainer without the output layer) passes null for
 * the others: their weight draws are skipped (consumed, not stored) where a held block follows, and
 * every fork is made, so that what it holds gets exactly the values of the whole model. The one
 * code path for a Network and for a shard process (src/cluster/slice.ts).
 */
export function drawInit(cfg: Config, plan: ModelPlan, rng: Rng, at: InitTargets): void {
  const w = rng.fork(1);
  // draws of blocks held elsewhere not yet consumed: only a held block after them needs them
  // consumed (nothing reads the stream after the last block)
  let skip = 0;
  const weights = (p: ParamBlock | null, n: number, fanIn: number, fanOut: number): void => {
    if (p === null) {
      skip += n;
      return;
    }
    for (; skip > 0; skip--) w.nextU32();
    p.init(w, fanIn, fanOut, cfg.initScale);
  };
  weights(at.input, plan.input.rows * plan.input.cols, inputFanInOf(cfg, plan.input.rows), plan.input.cols);
  plan.layers.forEach((lp, l) => {
    lp.shards.forEach((sp, si) => {
      const p = at.param(l, si);
      weights(p, sp.param.rows * sp.param.cols, lp.nIn, lp.nOut);
      if (sp.sampler === null) return;
      const fork = rng.fork(101 + l + 1000 * si);
      if (p !== null) at.sampler(l, si, fork);
    });
  });
}

export class Network {
  readonly plan: ModelPlan;
  /** one arena per memory this process holds: 0 the main one, s >= 1 output shard s - 1 */
  readonly arenas: Arena[];
  /** the model's views in each memory */
  readonly views: BoundViews[];
  /** where the model's views went in each memory (what a worker checks its own declaration against) */
  readonly placements: Placement[];
  /** the kernels of each memory */
  readonly memoryKernels: Kernels[];
  readonly input: ParamBlock;
  readonly fc: FcLayer[];
  readonly hidden: number[];
  /** accumulate per-part timings into the thread scratch's prof (costs a clock read per part) */
  profile = false;
  private readonly blockList: ParamBlock[];
  private readonly units: SampledUnit[];

  /** A new network: its memories carved from the declaration, weights and samplers drawn from `rng`. */
  static build(cfg: Config, nFeatures: number, nLabels: number, kernelsFor: (memory: WebAssembly.Memory) => Kernels, rng: Rng, opts: NetworkOptions = {}): Network {
    const plan = planModel(cfg, nFeatures, nLabels, opts);
    const held = Network.heldMemories(plan, opts);
    const arenas = held.map(() => new Arena());
    const views = held.map((blocks, m) => arenas[m]!.carve(blocks));
    return new Network(cfg, nFeatures, nLabels, plan, arenas, views, kernelsFor, rng, opts);
  }

  /**
   * A worker's view of a network another thread built in `memories`: the same declaration,
   * checked view by view against the owner's placements, bound to the same bytes; nothing is written.
   */
  static attach(cfg: Config, nFeatures: number, nLabels: number, kernelsFor: (memory: WebAssembly.Memory) => Kernels, memories: WebAssembly.Memory[], placements: Placement[], opts: NetworkOptions = {}): Network {
    const plan = planModel(cfg, nFeatures, nLabels, opts);
    const held = Network.heldMemories(plan, opts);
    if (memories.length !== held.length || placements.length !== held.length) {
      throw new Error(`Network.attach: ${memories.length} memories and ${placements.length} placements for a model of ${held.length} memories`);
    }
    const arenas = memories.map((m) => new Arena(m));
    const views = held.map((blocks, m) => {
      checkSamePlacement(place(blocks, placements[m]!.start), placements[m]!, `model memory ${m}`);
      return arenas[m]!.bind(placements[m]!);
    });
    return new Network(cfg, nFeatures, nLabels, plan, arenas, views, kernelsFor, null, opts);
  }

  /** The memories this process holds: all of them, or memory 0 alone when the output layer is remote. */
  private static heldMemories(plan: ModelPlan, opts: NetworkOptions): BlockDecl[][] {
    return opts.remoteOutput === true ? plan.memories.slice(0, 1) : plan.memories;
  }

  private constructor(
    readonly cfg: Config,
    readonly nFeatures: number,
    readonly nLabels: number,
    plan: ModelPlan,
    arenas: Arena[],
    views: BoundViews[],
    kernelsFor: (memory: WebAssembly.Memory) => Kernels,
    rng: Rng | null,
    opts: NetworkOptions,
  ) {
    this.plan = plan;
    this.arenas = arenas;
    this.views = views;
    this.placements = views.map((v) => v.placement);
    this.memoryKernels = arenas.map((a) => kernelsFor(a.memory));
    this.hidden = cfg.hidden.slice();
    const remote = opts.remoteOutput === true;
    this.input = new ParamBlock(plan.input, views[0]!.block('input'), this.memoryKernels[0]!);
    // the blocks of the memories held here (all, or memory 0 alone)
    const params = plan.layers.map((lp) =>
      lp.shards.map((sp) => (sp.memory < views.length ? new ParamBlock(sp.param, views[sp.memory]!.block(sp.param.name), this.memoryKernels[sp.memory]!) : null)),
    );
    const samplers = plan.layers.map((lp) => lp.shards.map((): LshSampler | null => null));
    const makeSampler = (l: number, si: number, r: Rng | null): void => {
      const sp = plan.layers[l]!.shards[si]!;
      samplers[l]![si] = new LshSampler(sp.sampler!, views[sp.memory]!, this.memoryKernels[sp.memory]!, r);
    };
    if (rng !== null) drawInit(cfg, plan, rng, { input: this.input, param: (l, si) => params[l]![si] ?? null, sampler: makeSampler });
    else plan.layers.forEach((lp, l) => lp.shards.forEach((sp, si) => sp.sampler !== null && params[l]![si] !== null && makeSampler(l, si, null)));
    this.fc = plan.layers.map((lp, l) => {
      const shards: LayerShard[] = [];
      lp.shards.forEach((sp, si) => {
        const p = params[l]![si];
        if (p === null || p === undefined) return;
        const all = views[sp.memory]!.block(`${sp.param.name}.ids`).i32('all');
        if (rng !== null) for (let j = 0; j < sp.n; j++) all[j] = j;
        const q8 = sp.rowCopy8 === true ? bindRowCopy8(views[sp.memory]!.block(`${sp.param.name}.q8`)) : null;
        shards.push({ lo: sp.lo, nOut: sp.n, memory: sp.memory, p, sampler: samplers[l]![si]!, all, kernels: this.memoryKernels[sp.memory]!, q8 });
      });
      return { nIn: lp.nIn, nOut: lp.nOut, shards, sampled: lp.sampled, isOutput: lp.isOutput, remote: remote && lp.isOutput };
    });
    this.blockList = [this.input, ...this.fc.flatMap((l) => l.shards.map((sh) => sh.p))];
    this.units = [];
    for (const l of this.fc) for (const sh of l.shards) if (sh.sampler) this.units.push({ sampler: sh.sampler, p: sh.p, memory: sh.memory });
  }

  /** The kernels of the main memory (input and hidden layers). */
  get kernels(): Kernels {
    return this.memoryKernels[0]!;
  }

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

  /** Draw new hash functions for every sampled layer (then rebuild). */
  redrawHashes(rng: Rng): void {
    for (const u of this.units) u.sampler.redraw(rng);
  }

  /** Re-create this thread's hash functions where another thread redrew them. */
  syncFamilies(): void {
    const units = this.units;
    for (let i = 0; i < units.length; i++) units[i]!.sampler.syncFamily();
  }

  /** Number of parameters (weights and biases). */
  parameterCount(): number {
    let c = 0;
    for (const b of this.blocks()) c += b.W.length + b.b.length;
    return c;
  }

  /** Bytes of the model's declared state in each memory. */
  memoryBytes(): number[] {
    return this.placements.map((p) => p.end - p.start);
  }
}
