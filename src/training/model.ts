import { parseConfig, type Config, type ConfigInput } from '../config.js';
import { Network, PROF_HASH, PROF_LOOKUP, PROF_FORWARD, PROF_BACKWARD, PROF_UPDATE, PROF_REBUILD, type ThreadScratch } from '../network/network.js';
import { Rng } from '../util/rng.js';
import { Arena } from '../memory/arena.js';
import { getKernels, type KernelChoice } from '../kernels/index.js';
import { RebuildSchedule } from './schedule.js';
import type { RebuildScratch } from '../layers/sampler.js';
import { CsrBatchBuffer, checkBatchIds, gatherRows, type CsrBatch, type XcDataset } from '../data/csr.js';
import { MetricsAccumulator, evalRow, type RankingMetrics } from '../eval/metrics.js';
import { availableParallelism } from 'node:os';
import { WorkerPool } from '../workers/pool.js';
import { rowMaxima } from '../workers/layout.js';

export interface ModelOptions {
  nFeatures: number;
  nLabels: number;
  config?: ConfigInput;
  /** 'auto' (WebAssembly SIMD when built, else TypeScript), 'wasm' or 'js' */
  kernels?: KernelChoice;
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

export interface EvalOptions {
  inference?: 'lsh' | 'exact' | 'both';
  /**
   * evaluate only maxPoints rows spread evenly over the set (rows floor(i * n / maxPoints)), so that
   * a part of a file sorted by topic still samples every topic (0 = all)
   */
  maxPoints?: number;
}

export interface EvalResult {
  points: number;
  exact?: RankingMetrics & { seconds: number };
  lsh?: RankingMetrics & { seconds: number; avgCandidates: number };
  /** with 'both': fraction of exact inference's top-5 found in LSH inference's candidate set */
  lshRecallOfExactTop5?: number;
}

export interface EpochSummary {
  epoch: number;
  seconds: number;
  samplesPerSec: number;
  loss: number;
  trainP1: number;
  activePerSample: number;
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

/**
 * A SLIDE model: network, optimizer step, rebuild schedule and the seeded generator.
 * Single-threaded here; everything random flows from config.seed, so two runs with the same
 * seed and data produce identical weights.
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
  /** the calling thread's scratch (activations, active sets, generator of the random padding) */
  readonly scratch: ThreadScratch;
  /**
   * scratch of evaluate() and predict(): its own generator, reset to a fixed state before each
   * evaluation, so evaluating never changes training and gives the same answer every time
   */
  private readonly inferScratch: ThreadScratch;
  private readonly rebuildScratch: RebuildScratch[];
  private readonly batchBuf = new CsrBatchBuffer();
  private readonly kernelChoice: KernelChoice;
  /** worker threads of the running fit (null when training on the calling thread) */
  private pool: WorkerPool | null = null;

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
    this.rng = new Rng(this.config.seed);
    const choice = opts.kernels ?? 'auto';
    this.kernelChoice = choice;
    this.network = new Network(this.config, opts.nFeatures, opts.nLabels, (m) => getKernels(m, choice), this.rng, new Arena());
    this.scratch = this.network.createScratch(this.rng.fork(7));
    this.inferScratch = this.network.createScratch(new Rng(this.config.seed, 77));
    this.rebuildScratch = this.network.createRebuildScratch();
    this.schedule = new RebuildSchedule(this.config.rebuild);
    this.rebuildTables();
  }

  get kernelsName(): string {
    return this.network.kernels.name;
  }

  /** Train on one batch: forward/backward every sample, one optimizer step, maybe a rebuild. */
  trainBatch(b: CsrBatch): BatchStats {
    this.checkBatch(b, 'training batch');
    const s = this.scratch;
    const net = this.network;
    const L = net.fc.length - 1;
    const scale = 1 / Math.max(1, b.n);
    const sums = s.sums;
    sums.fill(0);
    for (let r = 0; r < b.n; r++) {
      net.trainSample(s, b.featIdx, b.featVal, b.featPtr[r]!, b.featPtr[r + 1]!, b.labelIdx, b.labelPtr[r]!, b.labelPtr[r + 1]!, scale, r);
    }
    const lossSum = sums[0]!;
    const hits = sums[1]!;
    const activeSum = sums[2]!;
    this.step++;
    const t0 = net.profile ? performance.now() : 0;
    net.update(this.step, this.lrHorizon);
    if (net.profile) this.scratch.prof[PROF_UPDATE] += (performance.now() - t0) / 1000;
    this.afterStep();
    return { samples: b.n, lossSum, hits, activeSum };
  }

  /**
   * Start `threads` worker threads (default: the configured threads) for trainBatchAsync, sized
   * for batches of at most config.batchSize rows, `maxRowNnz` non-zeros and `maxRowLabels` labels
   * a row (a larger batch is refused with a RangeError). fit() opens and closes its own workers;
   * this is for callers that drive training batch by batch. Close them with closeWorkers().
   */
  async openWorkers(opts: { maxRowNnz: number; maxRowLabels: number; threads?: number }): Promise<void> {
    if (this.pool) throw new Error('SlideModel.openWorkers: workers are already open');
    const threads = opts.threads ?? this.threads;
    if (!Number.isInteger(threads) || threads < 1) throw new RangeError(`openWorkers: threads must be a positive integer, got ${threads}`);
    this.pool = await this.createPool(opts, threads);
    this.ownPool = true;
  }

  /** Worker threads on the model, sized for batches of config.batchSize rows of these maxima. */
  private createPool(mx: { maxRowNnz: number; maxRowLabels: number }, threads: number): Promise<WorkerPool> {
    return WorkerPool.create(this.network, this.config, {
      threads, kernels: this.kernelChoice, maxRows: this.config.batchSize, maxRowNnz: Math.max(1, mx.maxRowNnz), maxRowLabels: mx.maxRowLabels,
    });
  }

  /** Stop the workers of openWorkers (their profile joins profile()). */
  async closeWorkers(): Promise<void> {
    const pool = this.pool;
    if (!pool) return;
    this.pool = null;
    this.ownPool = false;
    pool.workerProfile(this.poolProf);
    this.poolProf[PROF_UPDATE] += pool.updateSec * pool.threads;
    this.poolProf[PROF_REBUILD] += pool.rebuildSec * pool.threads;
    await pool.close();
  }

  /** whether the open pool came from openWorkers (not from a running fit) */
  private ownPool = false;
  /** identity order of a batch handed to the pool */
  private identity = new Int32Array(0);

  /**
   * trainBatch on the worker threads of openWorkers (samples split over them, HOGWILD, then the
   * update and any rebuild split over them too); on the calling thread when no workers are open.
   */
  async trainBatchAsync(b: CsrBatch): Promise<BatchStats> {
    const pool = this.pool;
    if (!pool || !this.ownPool) return this.trainBatch(b);
    this.checkBatch(b, 'training batch');
    if (this.identity.length < b.n) this.identity = Int32Array.from({ length: Math.max(b.n, this.config.batchSize) }, (_, i) => i);
    const r = await pool.trainBatch(b, this.identity, 0, b.n, this.step + 1, this.lrHorizon);
    this.step++;
    await this.afterStepPool(pool);
    return { samples: b.n, ...r };
  }

  private afterStep(): void {
    if (this.schedule.shouldRedraw(this.step)) {
      this.network.redrawHashes(this.rng);
      this.rebuildTables();
    } else if (this.schedule.shouldRebuild(this.step)) {
      this.rebuildTables();
    }
  }

  /** afterStep for the worker pool: rebuilds run on the workers. */
  private async afterStepPool(pool: WorkerPool): Promise<void> {
    const redraw = this.schedule.shouldRedraw(this.step);
    if (redraw) this.network.redrawHashes(this.rng);
    if (redraw || this.schedule.shouldRebuild(this.step)) {
      await pool.rebuildTables();
      this.tablesStep = this.step;
    }
  }

  /** step at which the tables were last rebuilt */
  tablesStep = 0;

  /** Re-insert every sampled layer's neurons under their current weights. */
  rebuildTables(): void {
    const t0 = performance.now();
    this.network.rebuildTables(this.rebuildScratch, this.scratch);
    this.tablesStep = this.step;
    this.scratch.prof[PROF_REBUILD] += (performance.now() - t0) / 1000;
  }

  /**
   * Where the training time went, in thread-seconds per part (hash, lookup, forward, backward,
   * update, rebuild) since the model was built; needs `network.profile = true` while training.
   * With worker threads, update and rebuild are wall-clock seconds times the threads.
   */
  profile(): Record<'hash' | 'lookup' | 'forward' | 'backward' | 'update' | 'rebuild', number> {
    const p = Float64Array.from(this.scratch.prof);
    for (let i = 0; i < p.length; i++) p[i] = p[i]! + this.poolProf[i]!;
    return { hash: p[PROF_HASH]!, lookup: p[PROF_LOOKUP]!, forward: p[PROF_FORWARD]!, backward: p[PROF_BACKWARD]!, update: p[PROF_UPDATE]!, rebuild: p[PROF_REBUILD]! };
  }

  /** profiles of finished worker pools (thread-seconds, PROF_* slots) */
  private readonly poolProf = new Float64Array(6);

  /** Rebuild the tables if weights moved since the last rebuild (before LSH inference). */
  refreshTables(): void {
    if (this.tablesStep !== this.step) this.rebuildTables();
  }

  private checkBatch(b: CsrBatch, what: string): void {
    checkBatchIds(b, this.nFeatures, this.nLabels, what);
  }

  /**
   * Train for some epochs over an in-memory data set (shuffled each epoch with the model's
   * generator), or once over an iterable of batches (in the order given).
   */
  async fit(data: XcDataset | Iterable<CsrBatch> | AsyncIterable<CsrBatch>, opts: FitOptions = {}): Promise<EpochSummary[]> {
    const summaries: EpochSummary[] = [];
    if (!isDataset(data)) {
      const t0 = performance.now();
      const acc = { samples: 0, loss: 0, hits: 0, active: 0 };
      for await (const b of data as AsyncIterable<CsrBatch>) {
        const st = this.trainBatch(b);
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
        trainP1: acc.hits / Math.max(1, acc.samples), activePerSample: acc.active / Math.max(1, acc.samples),
      };
      if (opts.test) sum.eval = this.evaluate(opts.test, { inference: this.config.inference });
      opts.onEpoch?.(sum);
      return [sum];
    }
    const d = data;
    if (d.nFeatures > this.nFeatures || d.nLabels > this.nLabels) {
      throw new RangeError(`data set has ${d.nFeatures} features / ${d.nLabels} labels; the model has ${this.nFeatures} / ${this.nLabels}`);
    }
    this.checkBatch(d, 'training data');
    const epochs = opts.epochs ?? this.config.epochs;
    const order = new Int32Array(d.n);
    const windowN = 50;
    const winLoss = new Float64Array(windowN);
    const winHits = new Float64Array(windowN);
    const winN = new Float64Array(windowN);
    const winActive = new Float64Array(windowN);
    const full = Math.ceil(epochs);
    if (this.pool) throw new Error('SlideModel.fit: close the workers of openWorkers first (fit starts its own)');
    this.lrHorizon = this.step + plannedBatches(d.n, epochs, this.config.batchSize, this.epochCursor);
    if (this.threads > 1 && d.n > 0) this.pool = await this.createPool(rowMaxima(d), this.threads);
    try {
      await this.runEpochs(d, epochs, full, order, summaries, opts, { winLoss, winHits, winN, winActive, windowN });
    } finally {
      await this.closeWorkers();
    }
    return summaries;
  }

  private async runEpochs(
    d: XcDataset,
    epochs: number,
    full: number,
    order: Int32Array,
    summaries: EpochSummary[],
    opts: FitOptions,
    win: { winLoss: Float64Array; winHits: Float64Array; winN: Float64Array; winActive: Float64Array; windowN: number },
  ): Promise<void> {
    const { winLoss, winHits, winN, winActive, windowN } = win;
    const bs = this.config.batchSize;
    const tFit = performance.now();
    const outOfTime = (): boolean => opts.maxSeconds !== undefined && (performance.now() - tFit) / 1000 >= opts.maxSeconds;
    for (let e = 0; e < full; e++) {
      let cur = this.epochCursor;
      if (cur === null) {
        const frac = Math.min(1, epochs - e);
        cur = {
          rngState: this.rng.getState(), position: 0, rows: Math.max(1, Math.round(d.n * frac)),
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
      let wi = 0;
      while (cur.position < rows) {
        const start = cur.position;
        const end = Math.min(rows, start + bs);
        let st: BatchStats;
        if (this.pool) {
          const r = await this.pool.trainBatch(d, order, start, end, this.step + 1, this.lrHorizon);
          this.step++;
          await this.afterStepPool(this.pool);
          st = { samples: end - start, ...r };
        } else {
          st = this.trainBatch(gatherRows(d, order, start, end, this.batchBuf));
        }
        cur.position = end;
        cur.lossSum += st.lossSum;
        cur.hits += st.hits;
        cur.activeSum += st.activeSum;
        cur.seconds = (performance.now() - t0) / 1000;
        winLoss[wi] = st.lossSum;
        winHits[wi] = st.hits;
        winN[wi] = st.samples;
        winActive[wi] = st.activeSum;
        wi = (wi + 1) % windowN;
        if (opts.onProgress) {
          let wl = 0, wh = 0, wn = 0, wa = 0;
          for (let i = 0; i < windowN; i++) {
            wl += winLoss[i]!;
            wh += winHits[i]!;
            wn += winN[i]!;
            wa += winActive[i]!;
          }
          const sps = cur.position / Math.max(cur.seconds, 1e-9);
          opts.onProgress({
            epoch: this.epochsDone + 1, done: cur.position, total: rows, batches: this.step, loss: wl / Math.max(1, wn),
            runningP1: wh / Math.max(1, wn), samplesPerSec: sps, elapsedSec: cur.seconds, etaSec: (rows - cur.position) / Math.max(sps, 1e-9),
            activePerSample: wa / Math.max(1, wn), rebuilds: this.schedule.count,
          });
        }
        if (opts.afterBatch && cur.position < rows) await opts.afterBatch(this);
        if (outOfTime()) break;
      }
      winN.fill(0);
      winLoss.fill(0);
      winHits.fill(0);
      winActive.fill(0);
      this.epochsDone++;
      this.epochCursor = null;
      const done = cur.position;
      const sec = cur.seconds;
      const sum: EpochSummary = {
        epoch: this.epochsDone, seconds: sec, samplesPerSec: done / sec, loss: cur.lossSum / Math.max(1, done),
        trainP1: cur.hits / Math.max(1, done), activePerSample: cur.activeSum / Math.max(1, done),
      };
      const every = this.config.evalEvery;
      const stopped = outOfTime();
      const last = e === full - 1 || stopped;
      // at the end of training the tables follow the final weights (LSH inference and checkpoints
      // use them); intermediate evaluations use the tables as the schedule left them, so that
      // evaluating never changes the training trajectory
      if (last && opts.refreshTables !== false) this.refreshTables();
      // count epochs over the whole run (epochsDone), not this call, so that a resumed run evaluates (and so
      // draws LSH padding) after the same epochs as an uninterrupted one
      if (opts.test && (last || (every > 0 && this.epochsDone % every === 0))) {
        sum.eval = this.evaluate(opts.test, { inference: this.config.inference, maxPoints: last ? 0 : this.config.evalSample });
      }
      if (opts.afterBatch) await opts.afterBatch(this);
      summaries.push(sum);
      opts.onEpoch?.(sum);
      if (stopped) break;
    }
  }

  /** P@1/3/5 and nDCG@5 with exact inference, LSH inference, or both (plus LSH's recall of exact top-5). */
  evaluate(d: CsrBatch, opts: EvalOptions = {}): EvalResult {
    this.checkBatch(d, 'evaluation data');
    const mode = opts.inference ?? 'both';
    const n = opts.maxPoints && opts.maxPoints > 0 ? Math.min(opts.maxPoints, d.n) : d.n;
    const s = this.inferScratch;
    s.rng.setState(INFER_RNG_STATE(this.config.seed));
    const net = this.network;
    const L = net.fc.length - 1;
    const res: EvalResult = { points: n };
    const exactTop = mode === 'both' ? new Int32Array(n * 5) : null;
    const exactCount = mode === 'both' ? new Int32Array(n) : null;
    if (mode === 'exact' || mode === 'both') {
      const acc = new MetricsAccumulator();
      const t0 = performance.now();
      for (let i = 0; i < n; i++) {
        const r = evalRow(i, n, d.n);
        const m = net.predict(s, d.featIdx, d.featVal, d.featPtr[r]!, d.featPtr[r + 1]!, 5, true);
        acc.add(s.topIds, m, d.labelIdx, d.labelPtr[r]!, d.labelPtr[r + 1]!);
        if (exactTop) {
          exactTop.set(s.topIds.subarray(0, m), i * 5);
          exactCount![i] = m;
        }
      }
      res.exact = { ...acc.result(), seconds: (performance.now() - t0) / 1000 };
    }
    if (mode === 'lsh' || mode === 'both') {
      const acc = new MetricsAccumulator();
      let cands = 0;
      let found = 0;
      let wanted = 0;
      const t0 = performance.now();
      for (let i = 0; i < n; i++) {
        const r = evalRow(i, n, d.n);
        const m = net.predict(s, d.featIdx, d.featVal, d.featPtr[r]!, d.featPtr[r + 1]!, 5, false);
        acc.add(s.topIds, m, d.labelIdx, d.labelPtr[r]!, d.labelPtr[r + 1]!);
        const na = s.nActive[L]!;
        cands += na;
        if (exactTop) {
          const act = s.active[L]!;
          for (let t = 0; t < exactCount![i]!; t++) {
            const id = exactTop[i * 5 + t]!;
            wanted++;
            for (let j = 0; j < na; j++) {
              if (act[j] === id) {
                found++;
                break;
              }
            }
          }
        }
      }
      res.lsh = { ...acc.result(), seconds: (performance.now() - t0) / 1000, avgCandidates: cands / Math.max(1, n) };
      if (exactTop) res.lshRecallOfExactTop5 = found / Math.max(1, wanted);
    }
    return res;
  }

  /**
   * Top-k labels of one sample. `indices` are feature ids (distinct), `values` their values.
   * exact = score every label; otherwise LSH inference through the tables.
   */
  predict(sample: { indices: ArrayLike<number>; values: ArrayLike<number> }, k = 5, opts: { exact?: boolean } = {}): Prediction[] {
    const nnz = sample.indices.length;
    if (sample.values.length !== nnz) throw new RangeError(`predict: ${nnz} indices but ${sample.values.length} values`);
    if (!Number.isInteger(k) || k < 1 || k > 100) throw new RangeError(`predict: k must be an integer in 1..100, got ${k}`);
    const idx = new Int32Array(nnz);
    const val = new Float32Array(nnz);
    for (let i = 0; i < nnz; i++) {
      const f = sample.indices[i]!;
      const v = sample.values[i]!;
      if (!Number.isInteger(f) || f < 0 || f >= this.nFeatures) throw new RangeError(`predict: feature id ${f} is outside 0..${this.nFeatures - 1}`);
      if (!Number.isFinite(v)) throw new RangeError(`predict: value of feature ${f} is not finite (${v})`);
      idx[i] = f;
      val[i] = v;
    }
    const s = this.inferScratch;
    s.rng.setState(INFER_RNG_STATE(this.config.seed));
    const m = this.network.predict(s, idx, val, 0, nnz, k, opts.exact === true);
    const out: Prediction[] = [];
    for (let i = 0; i < m; i++) out.push({ id: s.topIds[i]!, score: s.topScores[i]! });
    return out;
  }
}

/** The fixed generator state inference starts from (padding of LSH active sets). */
function INFER_RNG_STATE(seed: number): Uint32Array {
  return new Rng(seed, 77).getState();
}

function isDataset(x: unknown): x is XcDataset {
  return typeof x === 'object' && x !== null && 'featPtr' in x && 'nFeatures' in x;
}
