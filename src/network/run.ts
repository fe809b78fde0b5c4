import { BlockDecl, checkSamePlacement, place, type BoundViews, type Placement } from '../memory/layout.js';
import { Rng } from '../util/rng.js';
import { PROF_SLOTS } from './profile.js';
import { bindRankBlock, bindRankScratch, declareRankBlock, declareRankScratch, ranksInBlocks, type RankBlock, type RankScratch } from './quantized.js';
import { DeferredGrads, type DeferSpec } from '../layers/deferred.js';
import { LshSampler, type SamplerScratch, type SamplerSpec } from '../layers/sampler.js';
import type { CsrBatch } from '../data/csr.js';
import type { Network, LayerShard, ModelPlan, ShardPlan } from './network.js';
import type { LayerSampling } from '../config.js';

/**
 * The run's part of the memories, declared after the model's: what a batch needs besides the
 * model. Sized by a RunSpec, carved again (after the model, which stays) when a run needs more.
 *
 * Memory 0:
 *   run.batch:  the current batch in CSR (featPtr (slots+1), featIdx/featVal (slots*maxNnz),
 *               labelPtr (slots+1), labelIdx (slots*maxLabels))
 *   run.rows:   per batch row: its loss (f64), hit, active output neurons, replay flag; when
 *               evaluating: its top-k ids and scores, how many, candidates, exact top 5 and how
 *               many of them the LSH candidates found
 *   run.t<t>:   thread t's scratch: hidden activations and their gradients, each layer's active
 *               list and values, top-k output, the sample's input features
 *   run.t<t>.s<l>: thread t's sampler scratch of sampled layer l (when it has one shard)
 *   <block>.deferred: the batch's slots of every parameter block of this memory (deferred.ts)
 * Memory s >= 1 (output shard s - 1):
 *   run.t<t>.o: thread t's view of the shard: the layer input copied in, active list, values,
 *               input gradient (and .s, its sampler scratch)
 *   <shard block>.deferred
 */
export interface RunSpec {
  /** thread scratches (the worker threads, or 1: the calling thread alone) */
  threads: number;
  /** rows of a batch: the deferred-gradient slots */
  slots: number;
  /** most non-zeros and labels of a row */
  maxNnz: number;
  maxLabels: number;
  /** most labels a prediction returns */
  topK: number;
}

/** Top labels an evaluation compares (exact inference's top 5, for LSH inference's recall). */
export const EVAL_TOP = 5;

/** One thread's view of one shard of a split layer. */
export interface ShardScratch {
  /** the layer input copied into the shard's memory (the kernels address only that memory) */
  x: Float32Array;
  /** the shard's active list (local ids) and values, its part of the input gradient */
  act: Int32Array;
  vals: Float32Array;
  dx: Float32Array;
  /** labels of the sample inside the shard, local ids */
  forced: Int32Array;
  n: number;
  nForced: number;
  /** where its logits start in vals (always 0: a ShardLogits of sample.ts) */
  readonly off: 0;
  sampler: SamplerScratch | null;
  /** ranking through the shard's 8-bit row copies (quantized.ts): its scratch and its own top k, or null without copies */
  rank: RankScratch | null;
  topIds: Int32Array | null;
  topScores: Float32Array | null;
  /**
   * the shard's random draws (padding of its active set): restarted for every sample from the
   * sample's generator identity and the shard's index (shardSampleSeed), so that a shard in
   * another process draws the same
   */
  rng: Rng;
}

/** One thread's scratch (views of the run's memory, plus a few JavaScript-side values). */
export interface ThreadScratch {
  /** reseeded for every sample: (run, batch, row) fixes its random draws, whichever thread runs it */
  rng: Rng;
  /** the (seed, stream) rng was last restarted from (startSample): what the shards of a split output layer restart theirs from */
  seed: number;
  stream: number;
  /** (PROF_SLOTS) time spent per part, when profiling */
  prof: Float64Array;
  /** per hidden layer: dense activations after ReLU (h_l), and the gradient w.r.t. them */
  acts: Float32Array[];
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
  /** the scratch of ranking through the output layer's 8-bit row copies (quantized.ts), or null without them */
  rank: RankScratch | null;
  /** ... and of ranking a block of queries over every row (exact inference), or null */
  rankBlock: RankBlock | null;
  /** top-k output */
  topIds: Int32Array;
  topScores: Float32Array;
  /** the current sample's features (after input dropout), in the arena so that the kernels see them */
  inIdx: Int32Array;
  inVal: Float32Array;
  /** inVal's bytes as int32 (the values' bit patterns, hashed to seed inference) */
  inValBits: Int32Array;
  /** how many of them */
  kept: number;
  /** [loss, hit, active output neurons] of the last trained sample (a typed array: a double on an object is boxed) */
  out: Float64Array;
  /** (1) log partition of the last softmax */
  logZ: Float64Array;
}

/** Per-row results of a batch (views of run.rows). */
export interface RowResults {
  loss: Float64Array;
  hit: Int32Array;
  active: Int32Array;
  replay: Int32Array;
  top: Int32Array;
  score: Float32Array;
  nTop: Int32Array;
  cands: Int32Array;
  exactTop: Int32Array;
  exactN: Int32Array;
  found: Int32Array;
}

/** A sampled layer's slot budget when its active set has no cap: more replays past it (slot memory is slots x budget x 16 bytes). */
const UNCAPPED_BUDGET = 2048;

/** Thread t's block names. */
function threadName(t: number): string {
  return `run.t${t}`;
}

/**
 * Most neurons an active set of a layer sampled by `cfg` can hold with `maxLabels` forced in: the
 * budget a slot needs to record it (a larger set is replayed on the immediate path).
 */
function maxActiveOf(cfg: LayerSampling, nOut: number, maxLabels: number): number {
  const as = cfg.activeSet;
  if (as.policy === 'topk') return Math.min(nOut, Math.max(as.maxActive > 0 ? as.maxActive : nOut, maxLabels));
  if (as.maxActive > 0) return Math.min(nOut, Math.max(as.maxActive, maxLabels, as.minActive));
  return Math.min(nOut, Math.max(UNCAPPED_BUDGET, 4 * as.minActive + maxLabels));
}

/** The deferred-gradient slots of every parameter block, with the memory it lives in. */
function deferSpecs(plan: ModelPlan, spec: RunSpec): { memory: number; d: DeferSpec }[] {
  const inp = plan.input;
  const out: { memory: number; d: DeferSpec }[] = [{ memory: 0, d: { block: inp.name, kind: 'pairs', rows: inp.rows, cols: inp.cols, slots: spec.slots, budget: Math.max(1, spec.maxNnz), featureMajor: true, parts: spec.threads } }];
  for (const l of plan.layers) {
    for (const sh of l.shards) {
      out.push({ memory: sh.memory, d: shardDeferSpec(sh, l.nIn, l.isOutput, spec) });
    }
  }
  return out;
}

/** The deferred-gradient slots of one neuron-major shard (here, or in a shard process: src/cluster/slice.ts). */
export function shardDeferSpec(sh: Pick<ShardPlan, 'param' | 'sampler' | 'n'>, nIn: number, isOutput: boolean, spec: Pick<RunSpec, 'slots' | 'maxLabels'> & { threads?: number }): DeferSpec {
  // a shard process groups its pairs on its one thread
  const base = { block: sh.param.name, rows: sh.n, cols: nIn, slots: spec.slots, featureMajor: false, parts: spec.threads ?? 1 };
  return sh.sampler === null
    ? { ...base, kind: 'dense', budget: 1 }
    : { ...base, kind: 'pairs', budget: Math.max(1, maxActiveOf(sh.sampler.cfg, sh.n, isOutput ? spec.maxLabels : 0)) };
}

/** One thread's scratch in an output shard's memory, named `o`: the layer input, active list, values, input gradient, sampler scratch. */
export function declareShardScratch(o: string, nIn: number, nOut: number, sampler: SamplerSpec | null, rankTopK = 0): BlockDecl[] {
  const b = new BlockDecl(o).f32('x', [nIn]).i32('act', [nOut]).f32('vals', [nOut]).f32('dx', [nIn]);
  // a shard with 8-bit row copies ranks its own top k (rankTopK of them) before the merge
  if (rankTopK > 0) declareRankScratch(b, nIn, nOut).i32('topIds', [rankTopK]).f32('topScores', [rankTopK]);
  const out = [b];
  if (sampler) out.push(...LshSampler.declareScratch(sampler, `${o}.s`));
  return out;
}

/** A thread's ShardScratch over the views declareShardScratch(o, ...) declared in `views` (the shard's memory). */
export function bindShardScratch(views: BoundViews, o: string, sh: Pick<LayerShard, 'sampler'>, maxLabels: number): ShardScratch {
  const sv = views.block(o);
  return {
    x: sv.f32('x'), act: sv.i32('act'), vals: sv.f32('vals'), dx: sv.f32('dx'), forced: new Int32Array(maxLabels), n: 0, nForced: 0, off: 0,
    sampler: sh.sampler ? sh.sampler.createScratch(views, `${o}.s`) : null,
    rank: sv.has('q8x') ? bindRankScratch(sv) : null,
    topIds: sv.has('topIds') ? sv.i32('topIds') : null,
    topScores: sv.has('topScores') ? sv.f32('topScores') : null,
    rng: new Rng(0),
  };
}

/**
 * The run's blocks in each memory this process holds: the first `held` of the plan's (all, or
 * memory 0 alone when the output layer is remote: its shards declare their own, src/cluster/slice.ts).
 */
export function planRun(plan: ModelPlan, spec: RunSpec, held = plan.memories.length): BlockDecl[][] {
  for (const [k, v] of Object.entries(spec)) if (!(Number.isInteger(v) && v >= 1)) throw new RangeError(`run: ${k} must be a positive integer, got ${v}`);
  const { slots, maxNnz, maxLabels, topK } = spec;
  const hidden = [plan.input.cols, ...plan.layers.filter((l) => !l.isOutput).map((l) => l.nOut)];
  const mem: BlockDecl[][] = plan.memories.slice(0, held).map(() => []);
  const m0 = mem[0]!;
  m0.push(
    new BlockDecl('run.batch').i32('featPtr', [slots + 1]).i32('featIdx', [slots * maxNnz]).f32('featVal', [slots * maxNnz]).i32('labelPtr', [slots + 1]).i32('labelIdx', [slots * maxLabels]),
    new BlockDecl('run.rows')
      .f64('loss', [slots]).i32('hit', [slots]).i32('active', [slots]).i32('replay', [slots])
      .i32('top', [slots, topK]).f32('score', [slots, topK]).i32('nTop', [slots]).i32('cands', [slots])
      .i32('exactTop', [slots, EVAL_TOP]).i32('exactN', [slots]).i32('found', [slots]),
  );
  for (let t = 0; t < spec.threads; t++) {
    const b = new BlockDecl(threadName(t));
    hidden.forEach((h, l) => b.f32(`act${l}`, [h]).f32(`dact${l}`, [h]));
    plan.layers.forEach((layer, l) => b.i32(`active${l}`, [layer.nOut]).f32(`vals${l}`, [layer.nOut]));
    b.i32('topIds', [topK]).f32('topScores', [topK]).i32('inIdx', [maxNnz]).f32('inVal', [maxNnz]);
    const out = plan.layers[plan.layers.length - 1]!;
    if (out.shards.length === 1 && out.shards[0]!.rowCopy8 === true) {
      declareRankScratch(b, out.nIn, out.nOut);
      if (ranksInBlocks(out.nOut)) declareRankBlock(b, out.nIn, out.nOut);
    }
    m0.push(b);
    plan.layers.forEach((layer, l) => {
      if (layer.shards[0]!.memory >= held) return; // a remote layer
      const sp0 = layer.shards[0]!.sampler;
      if (layer.shards.length === 1 && sp0) m0.push(...LshSampler.declareScratch(sp0, `${threadName(t)}.s${l}`));
      if (layer.shards.length > 1) {
        for (const sh of layer.shards) mem[sh.memory]!.push(...declareShardScratch(`${threadName(t)}.o`, layer.nIn, sh.n, sh.sampler, sh.rowCopy8 === true ? topK : 0));
      }
    });
  }
  for (const { memory, d } of deferSpecs(plan, spec)) if (memory < held) mem[memory]!.push(DeferredGrads.declare(d));
  return mem;
}

/**
 * The run area of a network: carved by the owner (`RunArea.carve`) or bound by a worker
 * (`RunArea.attach`) from the same declaration. Carving again releases the previous run's bytes.
 */
export class RunArea {
  readonly views: BoundViews[];
  readonly placements: Placement[];
  readonly batch: CsrBatch;
  readonly rows: RowResults;
  readonly scratches: ThreadScratch[];

  static carve(net: Network, spec: RunSpec): RunArea {
    const plan = planRun(net.plan, spec, net.views.length);
    const views = plan.map((blocks, m) => {
      const a = net.arenas[m]!;
      a.releaseTo(net.placements[m]!.end);
      return a.carve(blocks);
    });
    return new RunArea(net, spec, views);
  }

  static attach(net: Network, spec: RunSpec, placements: Placement[]): RunArea {
    const plan = planRun(net.plan, spec, net.views.length);
    if (placements.length !== plan.length) throw new Error(`run attach: ${placements.length} placements for ${plan.length} memories`);
    const views = plan.map((blocks, m) => {
      checkSamePlacement(place(blocks, placements[m]!.start), placements[m]!, `run memory ${m}`);
      return net.arenas[m]!.bind(placements[m]!);
    });
    return new RunArea(net, spec, views);
  }

  private constructor(
    readonly net: Network,
    readonly spec: RunSpec,
    views: BoundViews[],
  ) {
    this.views = views;
    this.placements = views.map((v) => v.placement);
    const v0 = views[0]!;
    const b = v0.block('run.batch');
    this.batch = { n: 0, featPtr: b.i32('featPtr'), featIdx: b.i32('featIdx'), featVal: b.f32('featVal'), labelPtr: b.i32('labelPtr'), labelIdx: b.i32('labelIdx') };
    const r = v0.block('run.rows');
    this.rows = {
      loss: r.f64('loss'), hit: r.i32('hit'), active: r.i32('active'), replay: r.i32('replay'), top: r.i32('top'), score: r.f32('score'),
      nTop: r.i32('nTop'), cands: r.i32('cands'), exactTop: r.i32('exactTop'), exactN: r.i32('exactN'), found: r.i32('found'),
    };
    this.scratches = Array.from({ length: spec.threads }, (_, t) => this.threadScratch(t));
    const byName = new Map(net.blocks().map((b) => [b.name, b]));
    for (const { memory, d } of deferSpecs(net.plan, spec)) if (memory < views.length) byName.get(d.block)!.deferred = new DeferredGrads(d, views[memory]!.block(`${d.block}.deferred`));
  }

  private threadScratch(t: number): ThreadScratch {
    const net = this.net;
    const v = this.views[0]!.block(threadName(t));
    const shardScratch = (sh: LayerShard): ShardScratch => bindShardScratch(this.views[sh.memory]!, `${threadName(t)}.o`, sh, this.spec.maxLabels);
    const inVal = v.f32('inVal');
    return {
      rng: new Rng(0),
      seed: 0,
      stream: 0,
      prof: new Float64Array(PROF_SLOTS),
      acts: net.hidden.map((_, l) => v.f32(`act${l}`)),
      dActs: net.hidden.map((_, l) => v.f32(`dact${l}`)),
      active: net.fc.map((_, l) => v.i32(`active${l}`)),
      nActive: new Int32Array(net.fc.length),
      vals: net.fc.map((_, l) => v.f32(`vals${l}`)),
      sampler: net.fc.map((layer, l) => (layer.shards.length === 1 && layer.shards[0]!.sampler ? layer.shards[0]!.sampler.createScratch(this.views[0]!, `${threadName(t)}.s${l}`) : null)),
      split: net.fc.map((layer) => (layer.shards.length > 1 ? layer.shards.map((sh) => shardScratch(sh)) : null)),
      rank: v.has('q8x') ? bindRankScratch(v) : null,
      rankBlock: v.has('q8bxq') ? bindRankBlock(v, net.output.nIn, net.output.nOut) : null,
      topIds: v.i32('topIds'),
      topScores: v.f32('topScores'),
      inIdx: v.i32('inIdx'),
      inVal,
      inValBits: new Int32Array(inVal.buffer, inVal.byteOffset, inVal.length),
      kept: 0,
      out: new Float64Array(3),
      logZ: new Float64Array(1),
    };
  }

  /** Whether batches of these sizes fit this area. */
  fits(spec: RunSpec): boolean {
    const s = this.spec;
    return spec.threads <= s.threads && spec.slots <= s.slots && spec.maxNnz <= s.maxNnz && spec.maxLabels <= s.maxLabels && spec.topK <= s.topK;
  }
}
