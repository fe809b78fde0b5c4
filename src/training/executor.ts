import type { Network } from '../network/network.js';
import type { RunArea, ThreadScratch } from '../network/run.js';
import { EVAL_TOP } from '../network/run.js';
import {
  backwardFromOutput, forwardToOutput, gatherLogits, canRank, predictSample, predictToOutput, rankSample, scatterLogits, softmaxLoss, startSample, trainSample,
  SAMPLE_DONE, SAMPLE_REPLAY, SAMPLE_SKIPPED, type ShardLogits,
} from '../network/sample.js';
import type { Rng } from '../util/rng.js';
import { PROF_PHASE, PROF_REBUILD, PROF_SLOTS, PROF_UPDATE } from '../network/profile.js';
import type { RebuildScratch } from '../layers/sampler.js';
import { mix32 } from '../util/rng.js';
import type { Config } from '../config.js';
import { RANK_BLOCK, clearBlockQuery, quantizeRange, rankBlockQuery, stageBlockQuery, type RankBlock } from '../network/quantized.js';

/**
 * The phases of a batch, each written once, run by whichever threads there are: the calling
 * thread alone (thread 0 of 1) or every worker (thread t of T). A coordinating thread sequences
 * them (model.ts) and does the few serial steps between them (prepare the update, list rows to
 * replay, prepare a rebuild); everything a phase needs is in the shared control block and the run
 * area, so the same `runPhase` serves both.
 *
 *   Train    rows of the batch claimed one at a time (Atomics.add on a shared cursor, so that no
 *            thread idles at the barrier while another still has slow samples); each sample's
 *            generator restarts from (run, step, row) and its results go to its row's slots:
 *            which thread ran a row changes nothing.
 *   Replay   thread 0 only: the rows whose active sets did not fit their slots, in row order,
 *            through the immediate path (G). Rare by construction of the slot budgets.
 *   Group    each thread groups the batch's recorded gradients of its part of every block's rows
 *            (ParamBlock.groupPart); the coordinator then joins the parts (prepareUpdate).
 *   Update   each thread updates a disjoint slice of every block's touched rows.
 *   Stage    each thread hashes a disjoint part of every sampled layer's neurons (all, or in an
 *            incremental rebuild those updated since they were last hashed) into their keys.
 *   Commit   each thread builds every T-th table of every sampled layer.
 *   Quantize each thread makes the 8-bit copies of a disjoint part of the output layer's rows
 *            (network/quantized.ts), before the Eval phases of an evaluation.
 *   Eval     rows claimed one at a time; each writes its top-k (and, for LSH inference after an
 *            exact pass, how much of the exact top 5 it found) to its row's slots. A row's draws
 *            come from its own features: the same answer in any batch, on any thread.
 * With the output layer in shard processes (an OutputLink, src/cluster), Train becomes three
 * phases around the two exchanges with the shards, and Eval one before the shards' answers are
 * merged; they run on the calling thread (the exchange's arrays are its own):
 *   OutputIn   each row's hidden forward; its output-layer input to the exchange
 *   Loss       each row's logits gathered from the shards' answers in the in-process split's order,
 *              the softmax loss, the logits' gradients written back in the same order
 *   OutputBack each row's output-layer input gradient (the shards' parts added in shard order)
 *              back through the hidden layers, the hidden forward made again from the same draws
 *   EvalIn     each query's hidden forward and generator stream to the exchange
 */
export const enum Phase {
  Train = 1,
  Replay = 2,
  Update = 3,
  Stage = 4,
  Commit = 5,
  Eval = 6,
  Exit = 7,
  OutputIn = 8,
  Loss = 9,
  OutputBack = 10,
  EvalIn = 11,
  Group = 12,
  Quantize = 13,
}

/**
 * What the phases of a batch exchange with the shard processes of a remote output layer
 * (src/cluster/remoteOutput.ts fills and reads it). Arrays of the calling thread.
 */
export interface OutputExchange {
  /** (slots, h) each row's output-layer input (OutputIn, EvalIn) */
  readonly h: Float32Array;
  /** (slots) 1: the row trains (it has labels) */
  readonly live: Int32Array;
  /** (slots) each row's generator stream (the row; in inference the query's hash) */
  readonly stream: Int32Array;
  /** the seed of the rows' generators (the batch's, or inference's) */
  seed: number;
  /** row r's logits at each shard, in shard order (Loss gathers them and writes their gradients back in place) */
  parts(r: number): readonly ShardLogits[];
  /** (slots, h) each row's output-layer input gradient: the shards' parts added in shard order */
  readonly dx: Float32Array;
}

/** The phases' view of a run, for an OutputLink. */
export interface LinkContext {
  run: RunArea;
  ctrl: Int32Array;
  exec: Executor;
  /** run a phase on this process */
  local(phase: Phase): Promise<void>;
}

/** A remote output layer (src/cluster/remoteOutput.ts): runs each phase's output-layer part at its shards. */
export interface OutputLink {
  runPhase(phase: Phase, at: LinkContext): Promise<void>;
  /** draw the shards' new hash seeds from the model's generator (after the network's own units), for the next rebuild */
  redraw(rng: Rng): void;
  /** the shards have tables to rebuild */
  readonly sampled: boolean;
}

/** Slots of the control block (an Int32Array over a SharedArrayBuffer), by name. */
export const kGeneration = 0; // bumped by the coordinator to start a phase
export const kCommand = 1; // the phase (Phase)
export const kPending = 2; // workers still busy in this phase
export const kError = 3; // 1 + index of a worker that threw (0 = none)
export const kBatchRows = 4; // rows of the batch in the run area
export const kStep = 5; // optimizer step of the batch (1-based)
export const kReady = 6; // workers that finished attaching
export const kLrHorizon = 7; // batches of the learning-rate schedule
export const kNextRow = 8; // next row to claim (Train, Eval)
export const kEvalExact = 9; // Eval: 1 exact inference, 0 LSH inference
export const kEvalK = 10; // Eval: labels per row
export const kEvalRecall = 11; // Eval (LSH): 1 to count the exact top 5 found among the candidates
export const kEvalRank = 12; // Eval: 1 when only the labels are wanted (an evaluation after Quantize): ranked by logit through the row copies
export const CONTROL_SLOTS = 13;

/** Per-thread statistics read by the coordinator (a Float64Array over a SharedArrayBuffer; thread t at t * STAT_SLOTS). */
export const kStatProf = 0; // PROF_SLOTS seconds
export const kStatBusy = PROF_SLOTS; // seconds inside phases
export const STAT_SLOTS = PROF_SLOTS + 2;

/** The profile slot (profile.ts, PHASE_NAMES after PROF_PHASE) a phase's time goes to; -1 for Exit. */
export function phaseSlot(phase: Phase): number {
  switch (phase) {
    case Phase.Train:
    case Phase.OutputIn:
    case Phase.Loss:
    case Phase.OutputBack:
      return PROF_PHASE;
    case Phase.Replay:
      return PROF_PHASE + 1;
    case Phase.Group:
    case Phase.Update:
      return PROF_PHASE + 2;
    case Phase.Stage:
      return PROF_PHASE + 3;
    case Phase.Commit:
      return PROF_PHASE + 4;
    case Phase.Eval:
    case Phase.EvalIn:
    case Phase.Quantize:
      return PROF_PHASE + 5;
    default:
      return -1;
  }
}

/** The generator of training sample `row` of step `step` starts from this seed (stream: the row). */
export function trainSampleSeed(runSeed: number, step: number): number {
  // an int32: passed on every sample, it stays an unboxed small integer in V8
  return mix32(runSeed ^ Math.imul(step, 0x9e3779b1)) | 0;
}

/** The generator of an inference starts from this seed (stream: a hash of the query): every evaluation and every answer draws the same. */
export function evalSampleSeed(configSeed: number): number {
  return mix32(configSeed ^ 0x5bd1e995) | 0;
}

export class Executor {
  private readonly rebuildScratch: RebuildScratch[];
  private readonly runSeed: number;
  private readonly evalSeed: number;
  /** the exchange with a remote output layer's shards (OutputLink), or null */
  exchange: OutputExchange | null = null;

  constructor(
    readonly net: Network,
    readonly run: RunArea,
    readonly ctrl: Int32Array,
    /** seed of the training samples' generators (drawn once by the model) */
    runSeed: number,
  ) {
    // as an int32 (trainSampleSeed takes its bits): read once a batch, possibly by unoptimized
    // code, a uint32 above 2^31 would be a boxed double, a new box at every read
    this.runSeed = runSeed | 0;
    this.evalSeed = evalSampleSeed(net.cfg.seed);
    this.rebuildScratch = net.sampledUnits().map((u) => u.sampler.createRebuildScratch());
    // this thread's view of an incremental layer's update marks the rows its rebuild re-hashes
    for (const u of net.sampledUnits()) u.p.hashStale = u.sampler.incremental ? u.sampler.stale : null;
  }

  get cfg(): Config {
    return this.net.cfg;
  }

  /** Run thread t's part (of T) of phase `phase`, adding its time to the thread's profile when profiling. */
  runPhase(phase: Phase, t: number, T: number): void {
    const s = this.run.scratches[t]!;
    if (!this.net.profile) {
      this.phasePart(phase, s, t, T);
      return;
    }
    // (a clock read returns a boxed number: not on the unprofiled path, which allocates nothing)
    const t0 = performance.now();
    this.phasePart(phase, s, t, T);
    const slot = phaseSlot(phase);
    if (slot >= 0) s.prof[slot] += (performance.now() - t0) / 1000;
  }

  private phasePart(phase: Phase, s: ThreadScratch, t: number, T: number): void {
    switch (phase) {
      case Phase.Train:
        this.trainRows(s);
        return;
      case Phase.Replay:
        if (t === 0) this.replayRows(s);
        return;
      case Phase.Group:
        this.groupPart(s, t, T);
        return;
      case Phase.Update:
        this.updatePart(s, t, T);
        return;
      case Phase.Stage:
        this.stagePart(s, t, T);
        return;
      case Phase.Commit:
        this.commitPart(s, t, T);
        return;
      case Phase.Eval:
        this.evalRows(s);
        return;
      case Phase.OutputIn:
        this.outputInRows(s);
        return;
      case Phase.Loss:
        this.lossRows(s);
        return;
      case Phase.OutputBack:
        this.outputBackRows(s);
        return;
      case Phase.EvalIn:
        this.evalInRows(s);
        return;
      case Phase.Quantize:
        this.quantizePart(t, T);
        return;
      case Phase.Exit:
        return;
      default:
        throw new Error(`unknown phase ${phase as number}`);
    }
  }

  private trainRows(s: ThreadScratch): void {
    const ctrl = this.ctrl;
    const n = ctrl[kBatchRows]!;
    const step = ctrl[kStep]!;
    const seed = trainSampleSeed(this.runSeed, step);
    const b = this.run.batch;
    const rows = this.run.rows;
    this.net.syncFamilies();
    for (let r = Atomics.add(ctrl, kNextRow, 1); r < n; r = Atomics.add(ctrl, kNextRow, 1)) {
      startSample(s, seed, r);
      const st = trainSample(this.net, s, b.featIdx, b.featVal, b.featPtr[r]!, b.featPtr[r + 1]!, b.labelIdx, b.labelPtr[r]!, b.labelPtr[r + 1]!, n, r);
      rows.replay[r] = st === SAMPLE_REPLAY ? 1 : 0;
      this.storeRow(s, r, st);
    }
  }

  private replayRows(s: ThreadScratch): void {
    const n = this.ctrl[kBatchRows]!;
    const seed = trainSampleSeed(this.runSeed, this.ctrl[kStep]!);
    const b = this.run.batch;
    const rows = this.run.rows;
    for (let r = 0; r < n; r++) {
      if (rows.replay[r] === 0) continue;
      startSample(s, seed, r);
      const st = trainSample(this.net, s, b.featIdx, b.featVal, b.featPtr[r]!, b.featPtr[r + 1]!, b.labelIdx, b.labelPtr[r]!, b.labelPtr[r + 1]!, n, -1);
      this.storeRow(s, r, st);
    }
  }

  private get ex(): OutputExchange {
    if (this.exchange === null) throw new Error('executor: a remote output phase without an exchange');
    return this.exchange;
  }

  private outputInRows(s: ThreadScratch): void {
    const ctrl = this.ctrl;
    const n = ctrl[kBatchRows]!;
    const seed = trainSampleSeed(this.runSeed, ctrl[kStep]!);
    const b = this.run.batch;
    const ex = this.ex;
    const L = this.net.fc.length - 1;
    ex.seed = seed;
    this.net.syncFamilies();
    for (let r = Atomics.add(ctrl, kNextRow, 1); r < n; r = Atomics.add(ctrl, kNextRow, 1)) {
      startSample(s, seed, r);
      const st = forwardToOutput(this.net, s, b.featIdx, b.featVal, b.featPtr[r]!, b.featPtr[r + 1]!, b.labelPtr[r]!, b.labelPtr[r + 1]!);
      ex.live[r] = st === SAMPLE_DONE ? 1 : 0;
      ex.stream[r] = r;
      if (st === SAMPLE_DONE) copyRow(s.acts[L]!, ex.h, r);
    }
  }

  private lossRows(s: ThreadScratch): void {
    const ctrl = this.ctrl;
    const n = ctrl[kBatchRows]!;
    const b = this.run.batch;
    const ex = this.ex;
    const z = s.vals[this.net.fc.length - 1]!;
    for (let r = Atomics.add(ctrl, kNextRow, 1); r < n; r = Atomics.add(ctrl, kNextRow, 1)) {
      this.run.rows.replay[r] = 0;
      if (ex.live[r] === 0) {
        this.storeRow(s, r, SAMPLE_SKIPPED);
        continue;
      }
      const parts = ex.parts(r);
      const m = gatherLogits(parts, z);
      softmaxLoss(this.net, s, b.labelIdx, b.labelPtr[r]!, b.labelPtr[r + 1]!, m, n);
      scatterLogits(z, parts);
      this.storeRow(s, r, SAMPLE_DONE);
    }
  }

  private outputBackRows(s: ThreadScratch): void {
    const ctrl = this.ctrl;
    const n = ctrl[kBatchRows]!;
    const seed = trainSampleSeed(this.runSeed, ctrl[kStep]!);
    const b = this.run.batch;
    const ex = this.ex;
    const dAct = s.dActs[this.net.fc.length - 1]!;
    const h = dAct.length;
    for (let r = Atomics.add(ctrl, kNextRow, 1); r < n; r = Atomics.add(ctrl, kNextRow, 1)) {
      if (ex.live[r] === 0) continue;
      startSample(s, seed, r);
      for (let i = 0; i < h; i++) dAct[i] = ex.dx[r * h + i]!;
      backwardFromOutput(this.net, s, b.featIdx, b.featVal, b.featPtr[r]!, b.featPtr[r + 1]!, r);
    }
  }

  private evalInRows(s: ThreadScratch): void {
    const ctrl = this.ctrl;
    const n = ctrl[kBatchRows]!;
    const exact = ctrl[kEvalExact] === 1;
    const b = this.run.batch;
    const ex = this.ex;
    const L = this.net.fc.length - 1;
    ex.seed = this.evalSeed;
    this.net.syncFamilies();
    for (let r = Atomics.add(ctrl, kNextRow, 1); r < n; r = Atomics.add(ctrl, kNextRow, 1)) {
      ex.stream[r] = predictToOutput(this.net, s, b.featIdx, b.featVal, b.featPtr[r]!, b.featPtr[r + 1]!, exact, this.evalSeed);
      copyRow(s.acts[L]!, ex.h, r);
    }
  }

  private storeRow(s: ThreadScratch, r: number, st: number): void {
    const rows = this.run.rows;
    const done = st === SAMPLE_DONE;
    rows.loss[r] = done ? s.out[0]! : 0;
    rows.hit[r] = done ? s.out[1]! : 0;
    rows.active[r] = done ? s.out[2]! : 0;
  }

  private groupPart(s: ThreadScratch, t: number, T: number): void {
    const t0 = this.net.profile ? performance.now() : 0;
    const blocks = this.net.blocks();
    for (let i = 0; i < blocks.length; i++) blocks[i]!.groupPart(t, T);
    if (this.net.profile) s.prof[PROF_UPDATE] += (performance.now() - t0) / 1000;
  }

  private updatePart(s: ThreadScratch, t: number, T: number): void {
    const t0 = this.net.profile ? performance.now() : 0;
    const step = this.ctrl[kStep]!;
    const horizon = this.ctrl[kLrHorizon]!;
    const opt = this.cfg.optimizer;
    const blocks = this.net.blocks();
    for (let i = 0; i < blocks.length; i++) blocks[i]!.updatePart(opt, step, t, T, horizon);
    if (this.net.profile) s.prof[PROF_UPDATE] += (performance.now() - t0) / 1000;
  }

  private stagePart(s: ThreadScratch, t: number, T: number): void {
    const t0 = performance.now();
    const units = this.net.sampledUnits();
    for (let i = 0; i < units.length; i++) {
      const u = units[i]!;
      u.sampler.syncFamily();
      u.sampler.stagePart(u.p.W, u.p.b, this.rebuildScratch[i]!, t, T, this.samplerScratchOf(s, i));
    }
    s.prof[PROF_REBUILD] += (performance.now() - t0) / 1000;
  }

  private commitPart(s: ThreadScratch, t: number, T: number): void {
    const t0 = performance.now();
    const units = this.net.sampledUnits();
    for (let i = 0; i < units.length; i++) {
      const u = units[i]!;
      const sc = this.samplerScratchOf(s, i).commit;
      for (let tb = t; tb < u.sampler.L; tb += T) u.sampler.tables.commitTable(tb, sc);
    }
    s.prof[PROF_REBUILD] += (performance.now() - t0) / 1000;
  }

  /** The sampler scratch of thread s for sampled unit i (sampledUnits order). */
  private samplerScratchOf(s: ThreadScratch, i: number) {
    let u = 0;
    for (let l = 0; l < this.net.fc.length; l++) {
      const layer = this.net.fc[l]!;
      for (let si = 0; si < layer.shards.length; si++) {
        if (!layer.shards[si]!.sampler) continue;
        if (u++ === i) return layer.shards.length === 1 ? s.sampler[l]! : s.split[l]![si]!.sampler!;
      }
    }
    throw new Error(`no sampled unit ${i}`);
  }

  /** Thread t's part of every output shard's 8-bit row copies (where it has them). */
  private quantizePart(t: number, T: number): void {
    const out = this.net.output;
    for (const sh of out.shards) {
      if (sh.q8 !== null) quantizeRange(sh.kernels, sh.p.W, out.nIn, Math.floor((t * sh.nOut) / T), Math.floor(((t + 1) * sh.nOut) / T), sh.q8);
    }
  }

  private evalRows(s: ThreadScratch): void {
    const ctrl = this.ctrl;
    const n = ctrl[kBatchRows]!;
    const exact = ctrl[kEvalExact] === 1;
    const recall = ctrl[kEvalRecall] === 1;
    const rank = ctrl[kEvalRank] === 1 && canRank(this.net, s);
    const k = ctrl[kEvalK]!;
    const b = this.run.batch;
    this.net.syncFamilies();
    if (rank && exact && s.rankBlock !== null) {
      this.evalBlocks(s, s.rankBlock, n, k);
      return;
    }
    for (let r = Atomics.add(ctrl, kNextRow, 1); r < n; r = Atomics.add(ctrl, kNextRow, 1)) {
      const m = rank
        ? rankSample(this.net, s, b.featIdx, b.featVal, b.featPtr[r]!, b.featPtr[r + 1]!, k, exact, this.evalSeed)
        : predictSample(this.net, s, b.featIdx, b.featVal, b.featPtr[r]!, b.featPtr[r + 1]!, k, exact, this.evalSeed);
      this.storeEvalRow(s, r, m, exact, recall);
    }
  }

  /**
   * Exact inference ranked RANK_BLOCK rows at a time (claimed together): each row's hidden
   * forward, then every output row scored once for the whole block (scoreRowsQ8x4), then each
   * row's top k (rankBlockQuery). The same labels as one row at a time.
   */
  private evalBlocks(s: ThreadScratch, blk: RankBlock, n: number, k: number): void {
    const net = this.net;
    const ctrl = this.ctrl;
    const b = this.run.batch;
    const L = net.fc.length - 1;
    const out = net.fc[L]!;
    const sh = out.shards[0]!;
    const q8 = sh.q8!;
    const nIn = out.nIn;
    const nOut = sh.nOut;
    for (let r0 = Atomics.add(ctrl, kNextRow, RANK_BLOCK); r0 < n; r0 = Atomics.add(ctrl, kNextRow, RANK_BLOCK)) {
      const m = Math.min(RANK_BLOCK, n - r0);
      for (let j = 0; j < RANK_BLOCK; j++) {
        if (j >= m) {
          clearBlockQuery(nIn, blk, j);
          continue;
        }
        const r = r0 + j;
        predictToOutput(net, s, b.featIdx, b.featVal, b.featPtr[r]!, b.featPtr[r + 1]!, true, this.evalSeed);
        stageBlockQuery(s.acts[L]!, nIn, blk, j);
      }
      sh.kernels.scoreRowsQ8x4(q8.Q, q8.scale, q8.qL1, sh.p.b, nIn, 0, nOut, blk.xq, blk.prm, blk.lo, blk.hi, nOut);
      for (let j = 0; j < m; j++) {
        const c = rankBlockQuery(sh.kernels, sh.p.W, sh.p.b, nIn, nOut, sh.all, blk, j, k, s.rank!, s.vals[L]!, s.topIds, s.topScores);
        s.nActive[L] = nOut;
        this.storeEvalRow(s, r0 + j, c, true, false);
      }
    }
  }

  /** Row r's results from the thread's top list (m labels) and its candidates. */
  private storeEvalRow(s: ThreadScratch, r: number, m: number, exact: boolean, recall: boolean): void {
    const rows = this.run.rows;
    const K = this.run.spec.topK;
    const L = this.net.fc.length - 1;
    for (let i = 0; i < m; i++) {
      rows.top[r * K + i] = s.topIds[i]!;
      rows.score[r * K + i] = s.topScores[i]!;
    }
    rows.nTop[r] = m;
    const na = s.nActive[L]!;
    rows.cands[r] = na;
    if (exact) {
      const e = Math.min(m, EVAL_TOP);
      for (let i = 0; i < e; i++) rows.exactTop[r * EVAL_TOP + i] = s.topIds[i]!;
      rows.exactN[r] = e;
    } else if (recall) {
      // how many of the exact top 5 are among the LSH candidates
      const act = s.active[L]!;
      let found = 0;
      for (let i = 0; i < rows.exactN[r]!; i++) {
        const id = rows.exactTop[r * EVAL_TOP + i]!;
        for (let j = 0; j < na; j++) {
          if (act[j] === id) {
            found++;
            break;
          }
        }
      }
      rows.found[r] = found;
    }
  }

  // -------------------------------------------------------------------------------------------
  // serial steps, on the coordinating thread between phases

  /** After Train: whether any row waits for the Replay phase. */
  needsReplay(): boolean {
    const n = this.ctrl[kBatchRows]!;
    const rp = this.run.rows.replay;
    for (let r = 0; r < n; r++) if (rp[r] !== 0) return true;
    return false;
  }

  /** The batch's loss, hits and active output neurons, summed in row order (the same on any number of threads). */
  batchStats(): { lossSum: number; hits: number; activeSum: number } {
    const n = this.ctrl[kBatchRows]!;
    const rows = this.run.rows;
    let lossSum = 0;
    let hits = 0;
    let activeSum = 0;
    for (let r = 0; r < n; r++) {
      lossSum += rows.loss[r]!;
      hits += rows.hit[r]!;
      activeSum += rows.active[r]!;
    }
    return { lossSum, hits, activeSum };
  }

  /** After Group (run on T threads), before Update: every block joins, or lists, orders and groups, its touched rows. */
  prepareUpdate(T: number): void {
    const blocks = this.net.blocks();
    for (let i = 0; i < blocks.length; i++) blocks[i]!.prepareUpdate(T);
  }

  /** After Update: empty the touched lists and the slots. */
  finishUpdate(): void {
    const blocks = this.net.blocks();
    for (let i = 0; i < blocks.length; i++) blocks[i]!.finishUpdate();
  }

  /**
   * Before Stage: what each sampler's rebuild hashes. Full: every neuron, with centres and
   * transforms from the current weights; otherwise incremental samplers list their stale neurons
   * (the others rebuild in full). Returns the neurons to hash and the samplers' neurons.
   */
  prepareRebuild(full: boolean): { hashed: number; neurons: number } {
    let hashed = 0;
    let neurons = 0;
    for (const u of this.net.sampledUnits()) {
      u.sampler.prepareRebuild(u.p.W, u.p.b, full || !u.sampler.incremental);
      hashed += u.sampler.preparedCount;
      neurons += u.sampler.nOut;
    }
    return { hashed, neurons };
  }
}

/** to[r * from.length ..) = from */
function copyRow(from: Float32Array, to: Float32Array, r: number): void {
  const h = from.length;
  const o = r * h;
  for (let i = 0; i < h; i++) to[o + i] = from[i]!;
}
