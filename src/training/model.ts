import { availableParallelism } from 'node:os';
import { parseConfig, type Config, type ConfigInput } from '../config.js';
import { Network } from '../network/network.js';
import { RunArea, type RunSpec, type ThreadScratch } from '../network/run.js';
import { checkModelMemory } from '../network/estimate.js';
import { predictSample } from '../network/sample.js';
import { PHASE_NAMES, PROF_NAMES, PROF_PHASE, PROF_SLOTS, PROF_REBUILD, PROF_UPDATE, type PhaseName, type ProfilePart } from '../network/profile.js';
import { Rng } from '../util/rng.js';
import { getKernels, type KernelChoice } from '../kernels/index.js';
import { RebuildSchedule } from './schedule.js';
import { Executor, Phase, CONTROL_SLOTS, phaseSlot, type OutputLink, kBatchRows, kEvalExact, kEvalK, kEvalRank, kEvalRecall, kLrHorizon, kNextRow, kStatBusy, kStatProf, STAT_SLOTS, kStep, evalSampleSeed } from './executor.js';
import { WorkerPool } from '../workers/pool.js';
import { checkBatchIds, fillRows, type CsrBatch, type XcDataset } from '../data/csr.js';
import { evalPhases, type EvalOptions, type EvalResult } from '../eval/evaluate.js';

export type { EvalOptions, EvalResult } from '../eval/evaluate.js';

export interface ModelOptions {
  nFeatures: number;
  nLabels: number;
  config?: ConfigInput;
  /** 'auto' (WebAssembly SIMD when built, else TypeScript), 'wasm' or 'js' */
  kernels?: KernelChoice;
  /** hash the initial weights into the tables (default true; false when the tables will be loaded) */
  buildTables?: boolean;
  /** refuse a model that needs more bytes than this (default: 90% of the machine's memory; see network/estimate.ts) */
  maxMemoryBytes?: number;
  /**
   * the output layer is held by config.outputShards shard processes (src/cluster): this model
   * holds the input and hidden layers, and trains and evaluates once attachOutput gave it the link
   */
  remoteOutput?: boolean;
}

export interface BatchStats {
  samples: number;
  /** sum of the samples' losses */
  lossSum: number;
  /** samples whose arg-max active output neuron was a true label */
  hits: number;
  /** total active output neurons over the batch */
  activeSum: number;
}

export interface Progress {
  epoch: number;
  /** samples done in this epoch / in it */
  done: number;
  total: number;
  /** over the whole run */
  batches: number;
  /** mean loss and P@1 of the last `window` samples */
  loss: number;
  runningP1: number;
  samplesPerSec: number;
  elapsedSec: number;
  etaSec: number;
  activePerSample: number;
  rebuilds: number;
}

export interface EpochSummary {
  epoch: number;
  seconds: number;
  samplesPerSec: number;
  loss: number;
  trainP1: number;
  activePerSample: number;
  /** points trained in this epoch (fewer than the set in a fractional or stopped epoch) */
  points: number;
  eval?: EvalResult;
}

export interface FitOptions {
  /** epochs to run (default: config.epochs); fractional epochs stop early in the last one */
  epochs?: number;
  /** called after every batch */
  onProgress?: (p: Progress) => void;
  /** called after every epoch (with its evaluation when `test` is given and due) */
  onEpoch?: (e: EpochSummary) => void;
  test?: XcDataset;
  /** stop after the batch during which this many seconds of training have passed (the epoch ends early, unevaluated) */
  maxSeconds?: number;
  /** rebuild the tables from the final weights when training ends (default true; benchmarks time training alone) */
  refreshTables?: boolean;
  /** called after every batch, awaited (e.g. to write a checkpoint every N batches) */
  afterBatch?: (model: SlideModel) => void | Promise<void>;
}

/**
 * Where training stands inside an epoch: the generator state before the epoch's shuffle and
 * the rows done. A checkpoint stores it so that a resumed run replays the same order and
 * continues bit for bit.
 */
export interface EpochCursor {
  rngState: Uint32Array;
  position: number;
  rows: number;
  lossSum: number;
  hits: number;
  activeSum: number;
  seconds: number;
}

export interface Prediction {
  id: number;
  score: number;
}

/** Time per part of a run, in thread-seconds (profile()), and the workers' idle time at the barriers. */
export type ModelProfile = Record<ProfilePart, number>;

/**
 * Where the wall-clock time of the phases went (phaseProfile()), in seconds since the model was
 * built: how long each phase ran (from its start to its barrier), how long the coordinating
 * thread spent on its serial steps between phases (every thread waits then), and per thread the
 * seconds it worked in each phase and waited at its barrier (the phase's time minus its work).
 * Thread 0 is the calling thread when no workers run (one thread), else worker w is thread w.
 * The threads' times are counted while `network.profile` is on (the phases' wall time always).
 */
export interface PhaseProfile {
  wall: Record<PhaseName, number>;
  /** the coordinating thread's steps between phases (preparing the update and the rebuild, the batch's statistics, ...) */
  serial: number;
  busy: Record<PhaseName, number>[];
  idle: Record<PhaseName, number>[];
}

/**
 * Batches that `fit` runs over n points for `epochs` epochs (a fractional last epoch runs
 * round(n * fraction) points; the last batch of an epoch may be short), continuing a mid-epoch
 * cursor if one is given: the horizon of the learning-rate schedule. Exported so that a caller
 * driving another system by the same schedule (the accuracy benchmark's TF.js baseline) plans the
 * same number of batches.
 */
export function plannedBatches(n: number, epochs: number, batchSize: number, cursor: EpochCursor | null = null): number {
  const full = Math.ceil(epochs);
  let total = 0;
  for (let e = 0; e < full; e++) {
    const cur = e === 0 ? cursor : null;
    const rows = cur ? Math.min(cur.rows, n) - cur.position : Math.min(Math.max(1, Math.round(n * Math.min(1, epochs - e))), n);
    total += Math.ceil(Math.max(0, rows) / batchSize);
  }
  return total;
}

/** Largest row non-zeros and labels over some sets (at least 1 each). */
export function rowMaxima(...sets: (CsrBatch | undefined)[]): { maxRowNnz: number; maxRowLabels: number } {
  let a = 1;
  let b = 1;
  for (const d of sets) {
    if (!d) continue;
    for (let r = 0; r < d.n; r++) {
      a = Math.max(a, d.featPtr[r + 1]! - d.featPtr[r]!);
      b = Math.max(b, d.labelPtr[r + 1]! - d.labelPtr[r]!);
    }
  }
  return { maxRowNnz: a, maxRowLabels: b };
}

/** Rows a run area holds until a run asks for more (a sample with more grows it). */
const DEFAULT_MAX_NNZ = 1024;
const DEFAULT_MAX_LABELS = 64;
/** most labels predict() returns */
export const MAX_K = 100;

/**
 * A SLIDE model: network, optimizer schedule, table rebuilds and the seeded generator, trained
 * and evaluated by the phases of executor.ts on the calling thread or on worker threads, with
 * the same results either way: everything random flows from config.seed, and a run with N
 * threads gives bit for bit the weights, losses and metrics of the same run on one thread.
 */
export class SlideModel {
  readonly config: Config;
  readonly network: Network;
  readonly nFeatures: number;
  readonly nLabels: number;
  readonly rng: Rng;
  /** optimizer steps (batches) applied so far */
  step = 0;
  /**
   * batches over which a decaying learning-rate schedule runs (optimizer.schedule; overridden by
   * optimizer.decaySteps): fit() sets it to the batches done plus the batches it plans; set it
   * yourself when calling trainBatch directly
   */
  lrHorizon = 0;
  epochsDone = 0;
  /** set while an epoch is in progress (and restored from a checkpoint taken mid-epoch) */
  epochCursor: EpochCursor | null = null;
  readonly schedule: RebuildSchedule;
  /** step at which the tables were last rebuilt */
  tablesStep = 0;
  /** rebuilds so far, full and incremental (hash.incremental), and the neurons they hashed out of the sampled layers' */
  readonly rebuilds = { full: 0, incremental: 0, hashed: 0, neurons: 0 };
  /** the seed of the training samples' generators (drawn from the model's generator at construction) */
  private readonly runSeed: number;
  private readonly kernelChoice: KernelChoice;
  /** the control block of the phases (shared with the workers) */
  private readonly ctrl = new Int32Array(new SharedArrayBuffer(4 * CONTROL_SLOTS));
  private run: RunArea;
  private exec: Executor;
  /** worker threads of the running fit or evaluation, or of openWorkers (null: the calling thread runs the phases) */
  private pool: WorkerPool | null = null;
  /** thread-seconds per part of finished pools, and of the coordinating thread's serial steps */
  private readonly pastProf = new Float64Array(PROF_SLOTS);
  /** seconds the finished pools' workers spent waiting at barriers */
  private pastIdle = 0;
  /** per thread (phaseProfile's numbering): PROF_SLOTS seconds of finished pools and retired run areas */
  private readonly pastThreads: Float64Array[] = [];
  /** (PHASE_NAMES) seconds from each phase's start to its barrier, and of the serial steps between phases */
  private readonly phaseWall = new Float64Array(PHASE_NAMES.length);
  private serialSec = 0;
  private poolOpenedAt = 0;
  /** the remote output layer's shards (attachOutput), or null */
  private outputLink: OutputLink | null = null;

  /** Threads a fit uses: config.threads, 0 meaning every core. */
  get threads(): number {
    return this.config.threads > 0 ? this.config.threads : availableParallelism();
  }

  constructor(opts: ModelOptions) {
    if (!Number.isInteger(opts.nFeatures) || opts.nFeatures < 1) throw new RangeError(`nFeatures must be a positive integer, got ${opts.nFeatures}`);
    if (!Number.isInteger(opts.nLabels) || opts.nLabels < 1) throw new RangeError(`nLabels must be a positive integer, got ${opts.nLabels}`);
    this.config = parseConfig(opts.config ?? {});
    this.nFeatures = opts.nFeatures;
    this.nLabels = opts.nLabels;
    // before anything is allocated: a model the memory cannot hold is refused with the estimate
    checkModelMemory(this.config, opts.nFeatures, opts.nLabels, this.runSpec(this.threads, DEFAULT_MAX_NNZ, DEFAULT_MAX_LABELS), opts.maxMemoryBytes, 'the model', opts.remoteOutput === true);
    this.rng = new Rng(this.config.seed);
    const choice = opts.kernels ?? 'auto';
    this.kernelChoice = choice;
    this.network = Network.build(this.config, opts.nFeatures, opts.nLabels, (m) => getKernels(m, choice), this.rng, { remoteOutput: opts.remoteOutput === true });
    this.runSeed = this.rng.fork(7).nextU32();
    this.schedule = new RebuildSchedule(this.config.rebuild);
    this.run = RunArea.carve(this.network, this.runSpec(1, DEFAULT_MAX_NNZ, DEFAULT_MAX_LABELS));
    this.exec = new Executor(this.network, this.run, this.ctrl, this.runSeed);
    if (opts.buildTables !== false) this.rebuildTables();
  }

  get kernelsName(): string {
    return this.network.kernels.name;
  }

  /**
   * Give a model built with remoteOutput its shards: from now on every phase of training,
   * evaluation and rebuilds runs its output-layer part there (on the calling thread here: the
   * exchange with the shards is this thread's).
   */
  attachOutput(link: OutputLink | null): void {
    if (link !== null && !this.network.output.remote) throw new Error('SlideModel.attachOutput: the model was not built with remoteOutput');
    if (this.pool) throw new Error('SlideModel.attachOutput: close the workers first');
    this.outputLink = link;
  }

  /** Whether worker threads may run the phases (not with a remote output layer: its exchange is the calling thread's). */
  private get poolable(): boolean {
    return this.outputLink === null && !this.network.output.remote;
  }

  private runSpec(threads: number, maxNnz: number, maxLabels: number): RunSpec {
    // with workers, one more scratch: the calling thread's own (predict while a pool is open)
    return { threads: threads > 1 ? threads + 1 : 1, slots: this.config.batchSize, maxNnz, maxLabels, topK: MAX_K };
  }

  /**
   * The calling thread's scratch (the phases' thread 0 when no workers run): for work on single
   * samples outside a batch (sample.ts: gradient checks, custom loops).
   */
  get scratch(): ThreadScratch {
    return this.callerScratch;
  }

  private get callerScratch(): ThreadScratch {
    return this.run.scratches[this.run.scratches.length - 1]!;
  }

  /**
   * Make the run area hold rows of these maxima (carved again, larger, when it does not; not
   * while workers are attached to it).
   */
  private ensureRun(maxNnz: number, maxLabels: number, threads = this.run.spec.threads > 1 ? this.run.spec.threads - 1 : 1): void {
    const want = this.runSpec(threads, maxNnz, maxLabels);
    if (this.run.fits(want)) return;
    if (this.pool) throw new RangeError(`rows of ${maxNnz} non-zeros and ${maxLabels} labels exceed what the open workers were sized for (${this.run.spec.maxNnz} and ${this.run.spec.maxLabels})`);
    const cur = this.run.spec;
    const spec = { ...want, maxNnz: Math.max(want.maxNnz, cur.maxNnz), maxLabels: Math.max(want.maxLabels, cur.maxLabels) };
    this.retireRun();
    this.run = RunArea.carve(this.network, spec);
    this.exec = new Executor(this.network, this.run, this.ctrl, this.runSeed);
  }

  /** The time profiles of the current run area's threads go to the past before it is carved again. */
  private retireRun(): void {
    const sc = this.run.scratches;
    for (let t = 0; t < sc.length; t++) {
      // the calling thread runs the phases as thread 0 when no workers run (drive)
      addInto(this.pastProf, sc[t]!.prof, 0, PROF_PHASE);
      addInto(this.threadPast(0), sc[t]!.prof, PROF_PHASE, PROF_SLOTS);
      sc[t]!.prof.fill(0);
    }
  }

  private threadPast(t: number): Float64Array {
    while (this.pastThreads.length <= t) this.pastThreads.push(new Float64Array(PROF_SLOTS));
    return this.pastThreads[t]!;
  }

  /** The generator's next phase; the time it took (the coordinator's serial steps) is profiled. */
  private nextPhase<T>(g: Generator<Phase, T, void>): IteratorResult<Phase, T> {
    const t0 = performance.now();
    const r = g.next();
    this.serialSec += (performance.now() - t0) / 1000;
    return r;
  }

  private addWall(phase: Phase, t0: number): void {
    const slot = phaseSlot(phase);
    if (slot >= 0) this.phaseWall[slot - PROF_PHASE] += (performance.now() - t0) / 1000;
  }

  /** Run the phases a generator yields on the calling thread. */
  private drive<T>(g: Generator<Phase, T, void>): T {
    if (this.outputLink !== null) throw new Error('SlideModel: a remote output layer trains and evaluates through the async methods (trainBatchAsync, fit, evaluate)');
    for (;;) {
      const r = this.nextPhase(g);
      if (r.done) return r.value;
      const t0 = performance.now();
      this.exec.runPhase(r.value, 0, 1);
      this.addWall(r.value, t0);
    }
  }

  /** Run the phases a generator yields on the workers (or, without workers, on the calling thread). */
  private async driveAsync<T>(g: Generator<Phase, T, void>): Promise<T> {
    const link = this.outputLink;
    if (link !== null) {
      const local = async (p: Phase): Promise<void> => this.exec.runPhase(p, 0, 1);
      for (;;) {
        const r = this.nextPhase(g);
        if (r.done) return r.value;
        const t0 = performance.now();
        await link.runPhase(r.value, { run: this.run, ctrl: this.ctrl, exec: this.exec, local });
        this.addWall(r.value, t0);
      }
    }
    const pool = this.pool;
    if (!pool) return this.drive(g);
    for (;;) {
      const r = this.nextPhase(g);
      if (r.done) return r.value;
      const t0 = performance.now();
      await pool.run(r.value);
      this.addWall(r.value, t0);
    }
  }

  /** Threads that run the phases: the open workers, or the calling thread alone (also beside a remote output layer). */
  private phaseThreads(): number {
    return this.outputLink === null && this.pool !== null ? this.pool.threads : 1;
  }

  /**
   * The phases of one training batch (the batch is in the run area): every row, the rows to
   * replay, the grouping of the recorded gradients, the update, then a rebuild when the schedule
   * says so.
   */
  private *batchPhases(n: number): Generator<Phase, BatchStats, void> {
    const ctrl = this.ctrl;
    const exec = this.exec;
    ctrl[kBatchRows] = n;
    ctrl[kStep] = this.step + 1;
    ctrl[kLrHorizon] = this.lrHorizon;
    ctrl[kNextRow] = 0;
    yield Phase.Train;
    if (exec.needsReplay()) yield Phase.Replay;
    const st = exec.batchStats();
    yield Phase.Group;
    const t0 = performance.now();
    exec.prepareUpdate(this.phaseThreads());
    this.pastProf[PROF_UPDATE] += (performance.now() - t0) / 1000;
    yield Phase.Update;
    exec.finishUpdate();
    this.step++;
    const redraw = this.schedule.shouldRedraw(this.step);
    if (redraw) {
      this.network.redrawHashes(this.rng);
      // the remote output shards' units come after the network's own, as in the unsplit order
      this.outputLink?.redraw(this.rng);
    }
    if (redraw || this.schedule.shouldRebuild(this.step)) {
      // incremental samplers re-hash only their stale neurons, except with new hash functions
      // and at every rebuild.fullEvery-th rebuild (which re-centres them)
      const every = this.config.rebuild.fullEvery;
      yield* this.rebuildPhases(redraw || (every > 0 && this.schedule.count % every === 0));
    }
    return { samples: n, ...st };
  }

  /** A rebuild of every sampled layer's tables: full, or incremental where the sampler allows it. */
  private *rebuildPhases(full = true): Generator<Phase, void, void> {
    if (this.network.sampledUnits().length === 0 && !(this.outputLink?.sampled ?? false)) return;
    const t0 = performance.now();
    const r = this.exec.prepareRebuild(full);
    const rb = this.rebuilds;
    // without incremental samplers every rebuild is full, whatever the schedule asked for
    if (full || !this.network.sampledUnits().some((u) => u.sampler.incremental)) rb.full++;
    else rb.incremental++;
    rb.hashed += r.hashed;
    rb.neurons += r.neurons;
    this.pastProf[PROF_REBUILD] += (performance.now() - t0) / 1000;
    yield Phase.Stage;
    yield Phase.Commit;
    this.tablesStep = this.step;
  }

  /** Put rows order[start, end) of d into the run's batch area (checked against the model's dimensions). */
  private loadBatch(d: CsrBatch, order: Int32Array | null, start: number, end: number): number {
    const n = end - start;
    if (n > this.run.spec.slots) throw new RangeError(`a batch of ${n} rows exceeds the configured batchSize ${this.run.spec.slots}`);
    const ids = order ?? identity(end);
    let mx = 1;
    let ml = 1;
    for (let i = start; i < end; i++) {
      const r = ids[i]!;
      mx = Math.max(mx, d.featPtr[r + 1]! - d.featPtr[r]!);
      ml = Math.max(ml, d.labelPtr[r + 1]! - d.labelPtr[r]!);
    }
    this.ensureRun(mx, ml);
    fillRows(d, ids, start, end, this.run.batch);
    return n;
  }

  /** Train on one batch (at most config.batchSize rows) on the calling thread: every sample, one optimizer step, maybe a rebuild. */
  trainBatch(b: CsrBatch): BatchStats {
    if (this.pool) throw new Error('SlideModel.trainBatch: workers are open; use trainBatchAsync');
    checkBatchIds(b, this.nFeatures, this.nLabels, 'training batch');
    const n = this.loadBatch(b, null, 0, b.n);
    return this.drive(this.batchPhases(n));
  }

  /** trainBatch on the worker threads of openWorkers, or on the calling thread when none are open. */
  async trainBatchAsync(b: CsrBatch): Promise<BatchStats> {
    checkBatchIds(b, this.nFeatures, this.nLabels, 'training batch');
    const n = this.loadBatch(b, null, 0, b.n);
    return this.driveAsync(this.batchPhases(n));
  }

  /**
   * Start `threads` worker threads (default: the configured threads) for trainBatchAsync and
   * evaluate, sized for batches of config.batchSize rows of at most `maxRowNnz` non-zeros and
   * `maxRowLabels` labels (a larger row is refused with a RangeError): for callers that drive
   * training batch by batch, or call fit() more than once (fit runs on these workers and leaves
   * them open, where it would otherwise start and stop its own each call). Close them with
   * closeWorkers().
   */
  async openWorkers(opts: { maxRowNnz: number; maxRowLabels: number; threads?: number }): Promise<void> {
    if (this.pool) throw new Error('SlideModel.openWorkers: workers are already open');
    if (!this.poolable) throw new Error('SlideModel.openWorkers: a model with a remote output layer runs its part on the calling thread');
    const threads = opts.threads ?? this.threads;
    if (!Number.isInteger(threads) || threads < 1) throw new RangeError(`openWorkers: threads must be a positive integer, got ${threads}`);
    await this.startPool(threads, Math.max(1, opts.maxRowNnz), Math.max(1, opts.maxRowLabels));
  }

  /** Carve the run area for `threads` workers and start them on it. */
  private async startPool(threads: number, maxNnz: number, maxLabels: number): Promise<void> {
    const cur = this.run.spec;
    this.retireRun();
    this.run = RunArea.carve(this.network, { ...this.runSpec(threads, maxNnz, maxLabels), maxNnz: Math.max(maxNnz, cur.maxNnz), maxLabels: Math.max(maxLabels, cur.maxLabels) });
    this.exec = new Executor(this.network, this.run, this.ctrl, this.runSeed);
    const net = this.network;
    this.pool = await WorkerPool.create(
      {
        memories: net.arenas.map((a) => a.memory), modelPlacements: net.placements, runPlacements: this.run.placements, runSpec: this.run.spec,
        control: this.ctrl, config: this.config, nFeatures: this.nFeatures, nLabels: this.nLabels, kernels: this.kernelChoice, profile: net.profile, runSeed: this.runSeed,
      },
      threads,
    );
    this.poolOpenedAt = performance.now();
  }

  /** Stop the workers of openWorkers (their profile joins profile()). */
  async closeWorkers(): Promise<void> {
    const pool = this.pool;
    if (!pool) return;
    this.pool = null;
    this.pastIdle += this.poolIdle(pool);
    for (let w = 0; w < pool.threads; w++) {
      const prof = workerProf(pool, w);
      addInto(this.pastProf, prof, 0, PROF_PHASE);
      addInto(this.threadPast(w), prof, PROF_PHASE, PROF_SLOTS);
    }
    await pool.close();
  }

  /** Seconds the pool's workers have waited so far, summed: the time it has been open less each one's busy time. */
  private poolIdle(pool: WorkerPool): number {
    const open = (performance.now() - this.poolOpenedAt) / 1000;
    let idle = 0;
    for (let w = 0; w < pool.threads; w++) idle += Math.max(0, open - pool.stats[w * STAT_SLOTS + kStatBusy]!);
    return idle;
  }

  /** Rebuild the tables of every sampled layer from the current weights (on the open workers, or here). */
  rebuildTables(): void {
    if (this.pool) throw new Error('SlideModel.rebuildTables: workers are open; use rebuildTablesAsync');
    this.drive(this.rebuildPhases());
  }

  async rebuildTablesAsync(): Promise<void> {
    await this.driveAsync(this.rebuildPhases());
  }

  /**
   * Where the training time went, in thread-seconds per part (hash, lookup, forward, backward,
   * update, rebuild) since the model was built; the parts are timed while `network.profile` is
   * true (rebuilds always). With workers, `idle` is the seconds they spent at barriers.
   */
  profile(): ModelProfile & { idle: number } {
    const p = Float64Array.from(this.pastProf);
    for (const s of this.run.scratches) for (let i = 0; i < PROF_SLOTS; i++) p[i] = p[i]! + s.prof[i]!;
    // open workers: their figures so far (closeWorkers adds them to the past)
    const pool = this.pool;
    if (pool) for (let w = 0; w < pool.threads; w++) addInto(p, workerProf(pool, w), 0, PROF_PHASE);
    const out = { idle: this.pastIdle + (pool ? this.poolIdle(pool) : 0) } as ModelProfile & { idle: number };
    PROF_NAMES.forEach((name, i) => (out[name] = p[i]!));
    return out;
  }

  /**
   * Where the phases' wall-clock time went since the model was built (see PhaseProfile): the
   * phases' times, the serial steps between them, and each thread's work and wait per phase.
   */
  phaseProfile(): PhaseProfile {
    const per = this.pastThreads.map((p) => Float64Array.from(p));
    const add = (t: number, prof: Float64Array): void => {
      while (per.length <= t) per.push(new Float64Array(PROF_SLOTS));
      addInto(per[t]!, prof, PROF_PHASE, PROF_SLOTS);
    };
    const pool = this.pool;
    if (pool) for (let w = 0; w < pool.threads; w++) add(w, workerProf(pool, w));
    else for (const s of this.run.scratches) add(0, s.prof);
    const byPhase = (f: (i: number) => number): Record<PhaseName, number> => {
      const o = {} as Record<PhaseName, number>;
      PHASE_NAMES.forEach((name, i) => (o[name] = f(i)));
      return o;
    };
    return {
      wall: byPhase((i) => this.phaseWall[i]!),
      serial: this.serialSec,
      busy: per.map((p) => byPhase((i) => p[PROF_PHASE + i]!)),
      idle: per.map((p) => byPhase((i) => Math.max(0, this.phaseWall[i]! - p[PROF_PHASE + i]!))),
    };
  }

  /** Rebuild the tables if weights moved since the last rebuild (before LSH inference). */
  async refreshTables(): Promise<void> {
    if (this.tablesStep !== this.step) await this.rebuildTablesAsync();
  }

  /**
   * Train for some epochs over an in-memory data set (shuffled each epoch with the model's
   * generator), or once over an iterable of batches (in the order given), on config.threads
   * threads: on the workers of openWorkers when they are open (left open; rows larger than they
   * were sized for are refused), else on workers started for this call and stopped after it.
   */
  async fit(data: XcDataset | Iterable<CsrBatch> | AsyncIterable<CsrBatch>, opts: FitOptions = {}): Promise<EpochSummary[]> {
    if (!isDataset(data)) return this.fitStream(data, opts);
    const d = data;
    if (d.nFeatures > this.nFeatures || d.nLabels > this.nLabels) {
      throw new RangeError(`data set has ${d.nFeatures} features / ${d.nLabels} labels; the model has ${this.nFeatures} / ${this.nLabels}`);
    }
    checkBatchIds(d, this.nFeatures, this.nLabels, 'training data');
    if (opts.test) checkBatchIds(opts.test, this.nFeatures, this.nLabels, 'test data');
    const epochs = opts.epochs ?? this.config.epochs;
    this.lrHorizon = this.step + plannedBatches(d.n, epochs, this.config.batchSize, this.epochCursor);
    const mx = rowMaxima(d, opts.test);
    const open = this.pool !== null;
    if (open) this.ensureRun(mx.maxRowNnz, mx.maxRowLabels);
    else if (this.threads > 1 && d.n > 0 && this.poolable) await this.startPool(this.threads, mx.maxRowNnz, mx.maxRowLabels);
    else this.ensureRun(mx.maxRowNnz, mx.maxRowLabels, 1);
    try {
      return await this.runEpochs(d, epochs, opts);
    } finally {
      if (!open) await this.closeWorkers();
    }
  }

  /** fit over batches in the order given: one pass, one summary. */
  private async fitStream(data: Iterable<CsrBatch> | AsyncIterable<CsrBatch>, opts: FitOptions): Promise<EpochSummary[]> {
    const t0 = performance.now();
    const acc = { samples: 0, loss: 0, hits: 0, active: 0 };
    for await (const b of data as AsyncIterable<CsrBatch>) {
      const st = await this.trainBatchAsync(b);
      acc.samples += st.samples;
      acc.loss += st.lossSum;
      acc.hits += st.hits;
      acc.active += st.activeSum;
      const el = (performance.now() - t0) / 1000;
      opts.onProgress?.({
        epoch: this.epochsDone + 1, done: acc.samples, total: 0, batches: this.step,
        loss: st.lossSum / Math.max(1, st.samples), runningP1: st.hits / Math.max(1, st.samples),
        samplesPerSec: acc.samples / Math.max(el, 1e-9), elapsedSec: el, etaSec: 0,
        activePerSample: st.activeSum / Math.max(1, st.samples), rebuilds: this.schedule.count,
      });
    }
    this.epochsDone++;
    const sec = (performance.now() - t0) / 1000;
    const sum: EpochSummary = {
      epoch: this.epochsDone, seconds: sec, samplesPerSec: acc.samples / sec, loss: acc.loss / Math.max(1, acc.samples),
      trainP1: acc.hits / Math.max(1, acc.samples), activePerSample: acc.active / Math.max(1, acc.samples), points: acc.samples,
    };
    if (opts.test) sum.eval = await this.evaluate(opts.test, { inference: this.config.inference });
    opts.onEpoch?.(sum);
    return [sum];
  }

  private async runEpochs(d: XcDataset, epochs: number, opts: FitOptions): Promise<EpochSummary[]> {
    const summaries: EpochSummary[] = [];
    const bs = this.config.batchSize;
    const order = new Int32Array(d.n);
    const window = new RunningWindow(50);
    const tFit = performance.now();
    const outOfTime = (): boolean => opts.maxSeconds !== undefined && (performance.now() - tFit) / 1000 >= opts.maxSeconds;
    const full = Math.ceil(epochs);
    for (let e = 0; e < full; e++) {
      let cur = this.epochCursor;
      if (cur === null) {
        cur = {
          rngState: this.rng.getState(), position: 0, rows: Math.max(1, Math.round(d.n * Math.min(1, epochs - e))),
          lossSum: 0, hits: 0, activeSum: 0, seconds: 0,
        };
        this.epochCursor = cur;
        for (let i = 0; i < d.n; i++) order[i] = i;
        this.rng.shuffle(order, d.n);
      } else {
        // resume mid-epoch: replay the interrupted epoch's shuffle, then continue from the
        // generator state at the time of the checkpoint
        const now = this.rng.getState();
        this.rng.setState(cur.rngState);
        for (let i = 0; i < d.n; i++) order[i] = i;
        this.rng.shuffle(order, d.n);
        this.rng.setState(now);
      }
      const rows = Math.min(cur.rows, d.n);
      const t0 = performance.now() - cur.seconds * 1000;
      window.clear();
      while (cur.position < rows) {
        const start = cur.position;
        const end = Math.min(rows, start + bs);
        const n = this.loadBatch(d, order, start, end);
        const st = await this.driveAsync(this.batchPhases(n));
        cur.position = end;
        cur.lossSum += st.lossSum;
        cur.hits += st.hits;
        cur.activeSum += st.activeSum;
        cur.seconds = (performance.now() - t0) / 1000;
        window.add(st);
        if (opts.onProgress) {
          const sps = cur.position / Math.max(cur.seconds, 1e-9);
          opts.onProgress({
            epoch: this.epochsDone + 1, done: cur.position, total: rows, batches: this.step, loss: window.loss(),
            runningP1: window.p1(), samplesPerSec: sps, elapsedSec: cur.seconds, etaSec: (rows - cur.position) / Math.max(sps, 1e-9),
            activePerSample: window.active(), rebuilds: this.schedule.count,
          });
        }
        if (opts.afterBatch && cur.position < rows) await opts.afterBatch(this);
        if (outOfTime()) break;
      }
      this.epochsDone++;
      this.epochCursor = null;
      const done = cur.position;
      const sec = cur.seconds;
      const sum: EpochSummary = {
        epoch: this.epochsDone, seconds: sec, samplesPerSec: done / sec, loss: cur.lossSum / Math.max(1, done),
        trainP1: cur.hits / Math.max(1, done), activePerSample: cur.activeSum / Math.max(1, done), points: done,
      };
      const every = this.config.evalEvery;
      const stopped = outOfTime();
      const last = e === full - 1 || stopped;
      // at the end of training the tables follow the final weights (LSH inference and checkpoints
      // use them); intermediate evaluations use the tables as the schedule left them, so that
      // evaluating never changes the training trajectory
      if (last && opts.refreshTables !== false) await this.refreshTables();
      // count epochs over the whole run (epochsDone), not this call, so that a resumed run evaluates after the same epochs
      if (opts.test && (last || (every > 0 && this.epochsDone % every === 0))) {
        sum.eval = await this.evaluate(opts.test, { inference: this.config.inference, maxPoints: last ? 0 : this.config.evalSample });
      }
      if (opts.afterBatch) await opts.afterBatch(this);
      summaries.push(sum);
      opts.onEpoch?.(sum);
      if (stopped) break;
    }
    return summaries;
  }

  /**
   * P@1/3/5 and nDCG@5 with exact inference, LSH inference, or both (plus LSH's recall of exact
   * top-5), on the open workers or on config.threads threads (the same result on any number).
   */
  async evaluate(d: CsrBatch, opts: EvalOptions = {}): Promise<EvalResult> {
    checkBatchIds(d, this.nFeatures, this.nLabels, 'evaluation data');
    const mx = rowMaxima(d);
    const own = this.pool === null && this.threads > 1 && d.n > this.config.batchSize && this.poolable;
    if (own) await this.startPool(this.threads, mx.maxRowNnz, mx.maxRowLabels);
    else this.ensureRun(mx.maxRowNnz, mx.maxRowLabels);
    try {
      return await this.driveAsync(evalPhases(this.run, this.ctrl, d, opts));
    } finally {
      if (own) await this.closeWorkers();
    }
  }

  /**
   * Top-k labels of one sample, on the calling thread. `indices` are feature ids (distinct),
   * `values` their values. exact = score every label; otherwise LSH inference through the tables.
   */
  predict(sample: { indices: ArrayLike<number>; values: ArrayLike<number> }, k = 5, opts: { exact?: boolean } = {}): Prediction[] {
    return this.predictTop(sample, k, opts).labels;
  }

  /** predict, and how many output neurons were scored (all of them with exact inference). */
  predictTop(sample: { indices: ArrayLike<number>; values: ArrayLike<number> }, k = 5, opts: { exact?: boolean } = {}): { labels: Prediction[]; candidates: number } {
    if (this.network.output.remote) throw new Error('SlideModel.predict: the output layer is in shard processes; query them through src/cluster (sublinear serve --nats)');
    const nnz = sample.indices.length;
    if (sample.values.length !== nnz) throw new RangeError(`predict: ${nnz} indices but ${sample.values.length} values`);
    if (!Number.isInteger(k) || k < 1 || k > MAX_K) throw new RangeError(`predict: k must be an integer in 1..${MAX_K}, got ${k}`);
    if (nnz > this.run.spec.maxNnz) this.ensureRun(nnz, 1);
    const s = this.callerScratch;
    const idx = s.inIdx;
    const val = s.inVal;
    for (let i = 0; i < nnz; i++) {
      const f = sample.indices[i]!;
      const v = sample.values[i]!;
      if (!Number.isInteger(f) || f < 0 || f >= this.nFeatures) throw new RangeError(`predict: feature id ${f} is outside 0..${this.nFeatures - 1}`);
      if (!Number.isFinite(v)) throw new RangeError(`predict: value of feature ${f} is not finite (${v})`);
      idx[i] = f;
      val[i] = v;
    }
    const m = predictSample(this.network, s, idx, val, 0, nnz, k, opts.exact === true, evalSampleSeed(this.config.seed));
    const labels: Prediction[] = [];
    for (let i = 0; i < m; i++) labels.push({ id: s.topIds[i]!, score: s.topScores[i]! });
    return { labels, candidates: s.nActive[this.network.fc.length - 1]! };
  }

  /** Predictions for many rows at once, on the open workers or config.threads threads, in row order. */
  async predictBatch(d: CsrBatch, k = 5, opts: { exact?: boolean } = {}): Promise<Prediction[][]> {
    if (!Number.isInteger(k) || k < 1 || k > MAX_K) throw new RangeError(`predictBatch: k must be an integer in 1..${MAX_K}, got ${k}`);
    checkBatchIds({ ...d, labelPtr: new Int32Array(d.n + 1), labelIdx: new Int32Array(0) }, this.nFeatures, this.nLabels, 'prediction input');
    const mx = rowMaxima(d);
    const own = this.pool === null && this.threads > 1 && d.n > this.config.batchSize && this.poolable;
    if (own) await this.startPool(this.threads, mx.maxRowNnz, 1);
    else this.ensureRun(mx.maxRowNnz, 1);
    try {
      return await this.driveAsync(this.predictPhases(d, k, opts.exact === true));
    } finally {
      if (own) await this.closeWorkers();
    }
  }

  private *predictPhases(d: CsrBatch, k: number, exact: boolean): Generator<Phase, Prediction[][], void> {
    const out: Prediction[][] = [];
    const K = this.run.spec.topK;
    const rows = this.run.rows;
    const noLabels = { ...d, labelPtr: new Int32Array(d.n + 1), labelIdx: new Int32Array(0) };
    const order = new Int32Array(Math.min(this.run.spec.slots, Math.max(1, d.n)));
    for (let i0 = 0; i0 < d.n; i0 += order.length) {
      const m = Math.min(order.length, d.n - i0);
      for (let j = 0; j < m; j++) order[j] = i0 + j;
      fillRows(noLabels, order, 0, m, this.run.batch);
      const c = this.ctrl;
      c[kBatchRows] = m;
      c[kEvalK] = k;
      c[kEvalExact] = exact ? 1 : 0;
      c[kEvalRecall] = 0;
      // the scores are wanted: softmax over the candidates, every row in float32
      c[kEvalRank] = 0;
      c[kNextRow] = 0;
      yield Phase.Eval;
      for (let j = 0; j < m; j++) {
        const p: Prediction[] = [];
        for (let i = 0; i < rows.nTop[j]!; i++) p.push({ id: rows.top[j * K + i]!, score: rows.score[j * K + i]! });
        out.push(p);
      }
    }
    return out;
  }
}

/** Loss, hits and active neurons of the last `size` batches (the progress line's running figures). */
class RunningWindow {
  private readonly loss_: Float64Array;
  private readonly hits: Float64Array;
  private readonly n: Float64Array;
  private readonly act: Float64Array;
  private i = 0;

  constructor(readonly size: number) {
    this.loss_ = new Float64Array(size);
    this.hits = new Float64Array(size);
    this.n = new Float64Array(size);
    this.act = new Float64Array(size);
  }

  clear(): void {
    this.loss_.fill(0);
    this.hits.fill(0);
    this.n.fill(0);
    this.act.fill(0);
  }

  add(st: BatchStats): void {
    this.loss_[this.i] = st.lossSum;
    this.hits[this.i] = st.hits;
    this.n[this.i] = st.samples;
    this.act[this.i] = st.activeSum;
    this.i = (this.i + 1) % this.size;
  }

  private sum(a: Float64Array): number {
    let s = 0;
    for (let i = 0; i < this.size; i++) s += a[i]!;
    return s;
  }

  loss(): number {
    return this.sum(this.loss_) / Math.max(1, this.sum(this.n));
  }

  p1(): number {
    return this.sum(this.hits) / Math.max(1, this.sum(this.n));
  }

  active(): number {
    return this.sum(this.act) / Math.max(1, this.sum(this.n));
  }
}

let identityCache = new Int32Array(0);
/** 0 .. n-1 (shared, grown on demand). */
function identity(n: number): Int32Array {
  if (identityCache.length < n) identityCache = Int32Array.from({ length: Math.max(n, 2 * identityCache.length) }, (_, i) => i);
  return identityCache;
}

/** into[i] += from[i] for i in [lo, hi) */
/** Worker w's PROF_SLOTS profile seconds in the pool's shared statistics (worker.ts writes them). */
function workerProf(pool: WorkerPool, w: number): Float64Array {
  return pool.stats.subarray(w * STAT_SLOTS + kStatProf, w * STAT_SLOTS + kStatProf + PROF_SLOTS);
}

function addInto(into: Float64Array, from: Float64Array, lo: number, hi: number): void {
  for (let i = lo; i < hi; i++) into[i] = into[i]! + from[i]!;
}

function isDataset(x: unknown): x is XcDataset {
  return typeof x === 'object' && x !== null && 'featPtr' in x && 'nFeatures' in x;
}
