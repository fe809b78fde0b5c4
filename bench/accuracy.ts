/**
 * Accuracy against wall-clock time (`npm run bench:accuracy`), on WordNet 3.1 by default or on
 * another data set of bench/datasets.ts (BENCH_DATASET):
 *
 *   (a) sublinear-lsh       the engine, LSH-sampled output layer, with the recipe tuned for the
 *                           data set (ENGINE_CONFIG on WordNet); skipped on a set without one
 *                           unless BENCH_CONFIG gives one
 *   (b) sublinear-defaults  the engine with no recipe: only the settings deriveConfig derives
 *                           from the training split's shape (src/training/autoConfig.ts), the
 *                           benchmark fixing nothing but the threads
 *   (c) sublinear-dense     the engine, (a)'s configuration (else (b)'s) with output.mode = 'dense'
 *   (d) tfjs-wasm           TensorFlow.js, same architecture, full softmax (src/baselines/tfjs.ts)
 *   (e) fasttext            fastText's command line (src/baselines/fasttext.ts): not incremental,
 *                           so a sweep of separate runs (src/baselines/fasttextSweep.ts) over
 *                           losses and epoch counts, each timed from scratch
 *
 * Each of (a)-(d) trains for the same budget of training wall-clock seconds, or for its
 * configuration's epochs if it gets through them sooner (the learning rate decays over those
 * epochs; TF.js gets the same schedule and weight decay), one after another (never concurrently),
 * on the same shuffled batches (the engine's Rng, same seed). Every ~budget/10 seconds of training or every
 * quarter epoch, whichever comes first (and at the start and the end), the clock is paused and
 * P@1 / P@5 are measured on a fixed random sample of the test split (the same points for every system): the
 * engine in LSH mode with LSH inference as the tables stand, in dense mode with exact inference,
 * TF.js with its full softmax. Model construction and evaluation are outside the clock; batch
 * gathering and the per-epoch shuffle are inside it. At the end each system is evaluated on the
 * whole test split (quick mode: 3,000 sampled points of it) (the LSH engine with both LSH inference, after one table refresh, and exact
 * inference).
 *
 * fastText: every run of the sweep must fit in the same budget: a run that the shorter runs of its
 * configuration project over it is not started, one whose own progress projects it over it is
 * stopped. A run's seconds cover writing its training file, fastText loading it, training and
 * saving the model (its command line also writes every word's vector, `.vec`); its top-5
 * predictions are scored off the clock on the same evaluation sample and final set as the others.
 * Its curve in the plot is the best configuration's runs (highest final P@1 within the budget),
 * one point a run; every run tried or skipped is in the JSON.
 *
 * Writes bench/results/accuracy.json (atomically) and accuracy.svg (other data sets:
 * accuracy-<name>.json / .svg), prints a table.
 *
 * Threads: each system uses what it can of the machine. The engine trains on BENCH_THREADS worker
 * threads (default: every core, as the CLI does), and fastText on as many (-thread); TF.js's wasm
 * backend runs on one thread in Node (its threaded build is browser-only: tensorflow/tfjs issue 3830).
 *
 * Environment: BENCH_BUDGET_SEC (seconds per system, default 600), BENCH_QUICK=1 (15 s per
 * system, curves on 1,000 sampled test points and the final evaluation on 3,000 instead of the
 * whole split: 1 min 42 s in all for the first three systems alone, on a day this machine ran at half speed), BENCH_SYSTEMS (comma list
 * to run a subset, e.g. "sublinear-lsh,tfjs-wasm"), BENCH_CONFIG (JSON merged over ENGINE_CONFIG,
 * e.g. '{"epochs":3}', to try another recipe), BENCH_OUT (directory of the result files, default
 * bench/results), BENCH_DATASET (a name of bench/datasets.ts, default wordnet; `synth-custom` with
 * BENCH_SYNTH='{"nLabels":50000,...}' for a synthetic shape given by parameters over the small one;
 * `dir:PATH` for a directory of one's own holding train.txt and test.txt, e.g. from `sublinear data text`).
 * fastText's sweep: BENCH_FASTTEXT_LOSSES (default hs,ns,softmax,ova), BENCH_FASTTEXT_EPOCHS
 * (1,2,5,10,25,50), BENCH_FASTTEXT_LR (0.5), BENCH_FASTTEXT_DIM (100), BENCH_FASTTEXT_INPUT (once;
 * "once,repeat" tries both ways of giving feature values), FASTTEXT_BIN (default: fasttext on the PATH).
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, cpus, tmpdir, totalmem } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { inputFanInOf, parseConfig, mergeConfig, type Config, type ConfigInput } from '../src/config.js';
import { SlideModel, plannedBatches } from '../src/training/model.js';
import { WORDNET_RECIPE } from '../src/training/recipes.js';
import { deriveConfig, dataShapeOf, explainSettings, type DerivedSetting } from '../src/training/autoConfig.js';
import { TfjsBaseline } from '../src/baselines/tfjs.js';
import {
  FasttextBaseline, FasttextError, FASTTEXT_INPUTS, FASTTEXT_LOSSES, checkFasttext, fasttextBinary, hasIntegerValues, readFeatureTokens, scorePredictions,
  type FasttextEncoding, type FasttextInput, type FasttextLoss, type FasttextTrainOptions,
} from '../src/baselines/fasttext.js';
import { bestOfSweep, sweepFasttext, type SweepGroup, type SweepRecord } from '../src/baselines/fasttextSweep.js';
import { CsrBatchBuffer, gatherRows, type CsrBatch, type XcDataset } from '../src/data/csr.js';
import { readXcFile } from '../src/data/xcReader.js';
import { Rng } from '../src/util/rng.js';
import { scheduledLr } from '../src/layers/params.js';
import { rowMaxima } from '../src/training/model.js';
import { writeFileAtomic } from '../src/util/atomicWrite.js';
import { configWithOverride, envPrefix, outDirFromEnv } from './env.js';
import { round } from './stats.js';
import { DEFAULT_DATASET, ensureDataset, resolveDataset, resultBaseName, type ResolvedDataset } from './datasets.js';
import { renderAccuracySvg, type AccuracyResult, type FinalMetrics, type Series, type SeriesPoint } from './plot.js';

/** Configuration of the engine for (a) and (c) on WordNet (the main job's recipe); (c) only switches the output layer to dense. */
export const ENGINE_CONFIG: ConfigInput = WORDNET_RECIPE;

export type SystemName = 'sublinear-lsh' | 'sublinear-defaults' | 'sublinear-dense' | 'tfjs-wasm' | 'fasttext';
export const SYSTEMS: readonly SystemName[] = ['sublinear-lsh', 'sublinear-defaults', 'sublinear-dense', 'tfjs-wasm', 'fasttext'];
/** the engine's systems, whose times to the references' P@1 the table reports */
const ENGINES: readonly string[] = ['sublinear-lsh', 'sublinear-defaults'];

/**
 * First time a series reaches `target` P@1, linearly interpolated between the evaluation points
 * around the crossing (the first point's time if it already does); null if it never does.
 */
export function timeToReach(points: readonly SeriesPoint[], target: number): number | null {
  if (!Number.isFinite(target)) return null;
  for (let i = 0; i < points.length; i++) {
    const p = points[i]!;
    if (p.p1 >= target) {
      if (i === 0) return p.seconds;
      const q = points[i - 1]!;
      // q.p1 < target <= p.p1, so the slope is positive
      return q.seconds + ((target - q.p1) / (p.p1 - q.p1)) * (p.seconds - q.seconds);
    }
  }
  return null;
}

/** How soon an engine system reaches a reference system's final P@1. */
export interface Comparison {
  reference: string;
  /** the reference's final P@1 on the evaluation sample */
  target: number;
  referenceTime: number | null;
  system: string;
  time: number | null;
  /** referenceTime / time */
  speedup: number | null;
}

/**
 * Speed-ups from the series: a system's "final P@1" is its last point's P@1 on the evaluation
 * sample (the same points the series use), unless `targets` names another (fastText: its best
 * run's, which need not be its longest run); speed-up = reference's time to its own final P@1 /
 * the engine's time to that P@1 (null when the engine never gets there). The flat fields compare
 * the LSH engine with each reference; `comparisons` has every engine system against every reference.
 */
export function deriveSpeedups(series: readonly Series[], targets: Readonly<Record<string, number>> = {}): AccuracyResult['derived'] & { comparisons: Comparison[] } {
  const get = (name: string): SeriesPoint[] => series.find((s) => s.system === name)?.points ?? [];
  const finalOf = (name: string): number => {
    if (targets[name] !== undefined) return targets[name];
    const ps = get(name);
    return ps.length ? ps[ps.length - 1]!.p1 : NaN;
  };
  const ratio = (ref: number | null, x: number | null): number | null => (ref !== null && x !== null && x > 0 ? ref / x : null);
  const tfName = series.find((s) => s.system.startsWith('tfjs'))?.system ?? 'tfjs-wasm';
  const refs = ['sublinear-dense', tfName, 'fasttext'];
  const comparisons: Comparison[] = [];
  for (const reference of refs) {
    const target = finalOf(reference);
    if (!Number.isFinite(target)) continue;
    const referenceTime = timeToReach(get(reference), target);
    for (const system of ENGINES) {
      if (!series.some((s) => s.system === system)) continue;
      const time = timeToReach(get(system), target);
      comparisons.push({ reference, target, referenceTime, system, time, speedup: ratio(referenceTime, time) });
    }
  }
  const lshVs = (reference: string): { target: number | null; time: number | null; refTime: number | null; speedup: number | null } => {
    const target = finalOf(reference);
    const time = timeToReach(get('sublinear-lsh'), target);
    const refTime = timeToReach(get(reference), target);
    return { target: Number.isFinite(target) ? target : null, time, refTime, speedup: ratio(refTime, time) };
  };
  const dense = lshVs('sublinear-dense');
  const tfjs = lshVs(tfName);
  const ft = lshVs('fasttext');
  return {
    denseFinalP1: dense.target,
    tfjsFinalP1: tfjs.target,
    fasttextFinalP1: ft.target,
    lshTimeToDenseFinalP1: dense.time,
    denseTimeToDenseFinalP1: dense.refTime,
    speedupVsDense: dense.speedup,
    lshTimeToTfjsFinalP1: tfjs.time,
    tfjsTimeToTfjsFinalP1: tfjs.refTime,
    speedupVsTfjs: tfjs.speedup,
    lshTimeToFasttextFinalP1: ft.time,
    fasttextTimeToFasttextFinalP1: ft.refTime,
    speedupVsFasttext: ft.speedup,
    comparisons,
  };
}

/** One system under the clock. */
interface Trainable {
  /** train on a batch: mean loss and active output neurons over its samples */
  train(b: CsrBatch): Promise<{ loss: number; activeSum: number }>;
  /** P@1 / P@5 on the evaluation sample (off the clock) */
  evalSample(): Promise<{ p1: number; p5: number }>;
  /** final metrics on the whole test split */
  evalFull(): Promise<Record<string, number>>;
  dispose(): void;
}

interface RunResult {
  points: SeriesPoint[];
  trainSec: number;
  evalSec: number;
  samples: number;
  batches: number;
  /** mean active output neurons a training sample */
  activePerSample: number;
}

/**
 * Train until `budgetSec` of training time or `maxEpochs` epochs, whichever comes first,
 * evaluating every `everySec` of training time or every `everySamples` samples, whichever comes
 * first, with the clock paused (a fast system gets a curve as fine-grained, in epochs, as a slow one).
 */
async function runClocked(sys: Trainable, train: XcDataset, batchSize: number, seed: number, budgetSec: number, maxEpochs: number, everySec: number, everySamples: number, log: (s: string) => void): Promise<RunResult> {
  const rng = new Rng(seed, 0xbe7c);
  const order = new Int32Array(train.n);
  const buf = new CsrBatchBuffer();
  let pos = train.n; // shuffle before the first batch (on the clock)
  let trainSec = 0;
  let evalSec = 0;
  let samples = 0;
  let batches = 0;
  let lossSum = 0;
  let lossN = 0;
  let activeSum = 0;
  const points: SeriesPoint[] = [];
  const evaluate = async (): Promise<void> => {
    const t0 = performance.now();
    const m = await sys.evalSample();
    evalSec += (performance.now() - t0) / 1000;
    const p: SeriesPoint = { seconds: round(trainSec, 3), p1: m.p1, p5: m.p5, samples };
    if (lossN > 0) p.trainLoss = lossSum / lossN;
    lossSum = 0;
    lossN = 0;
    points.push(p);
    log(`  t=${trainSec.toFixed(1).padStart(6)} s  samples ${String(samples).padStart(8)}  P@1 ${m.p1.toFixed(4)}  P@5 ${m.p5.toFixed(4)}${p.trainLoss !== undefined ? `  loss ${p.trainLoss.toFixed(3)}` : ''}`);
  };
  await evaluate();
  let nextEval = everySec;
  let nextEvalSamples = everySamples;
  const maxSamples = Math.round(maxEpochs * train.n);
  while (trainSec < budgetSec && samples < maxSamples) {
    const t0 = performance.now();
    if (pos >= train.n) {
      for (let i = 0; i < train.n; i++) order[i] = i;
      rng.shuffle(order, train.n);
      pos = 0;
    }
    const end = Math.min(train.n, pos + batchSize);
    const b = gatherRows(train, order, pos, end, buf);
    pos = end;
    const st = await sys.train(b);
    trainSec += (performance.now() - t0) / 1000;
    samples += b.n;
    batches++;
    lossSum += st.loss;
    lossN++;
    activeSum += st.activeSum;
    if ((trainSec >= nextEval || samples >= nextEvalSamples) && trainSec < budgetSec && samples < maxSamples) {
      await evaluate();
      nextEval = trainSec + everySec;
      while (nextEvalSamples <= samples) nextEvalSamples += everySamples;
    }
  }
  await evaluate();
  return { points, trainSec, evalSec, samples, batches, activePerSample: activeSum / Math.max(1, samples) };
}

/** The repository root: the nearest ancestor of this file holding package.json (works from bench/ and dist/bench/). */
function repoRoot(): string {
  let d = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(d, 'package.json'))) return d;
    d = dirname(d);
  }
  return process.cwd();
}

/** `m` rows of `n` drawn without replacement (seeded), ascending. */
export function sampleRowIds(n: number, m: number, seed: number): Int32Array {
  const order = new Int32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  new Rng(seed, 0x5a3b).shuffle(order, n);
  return order.subarray(0, Math.min(m, n)).slice().sort();
}

/** The rows in either ascending list, ascending. */
export function unionRows(a: Int32Array, b: Int32Array): Int32Array {
  return Int32Array.from(new Set([...a, ...b])).sort();
}

/** Where each of `rows` sits in `within` (both ascending; every row of `rows` is in `within`). */
export function positionsIn(within: Int32Array, rows: Int32Array): Int32Array {
  const out = new Int32Array(rows.length);
  let j = 0;
  for (let i = 0; i < rows.length; i++) {
    while (within[j] !== rows[i]) {
      j++;
      if (j >= within.length) throw new RangeError(`row ${rows[i]} is not in the list`);
    }
    out[i] = j;
  }
  return out;
}

/** Those rows of `d` as one batch. */
function rowsOf(d: CsrBatch, rows: Int32Array): CsrBatch {
  return gatherRows(d, rows, 0, rows.length, new CsrBatchBuffer());
}

export interface FasttextSettings {
  bin: string;
  losses: FasttextLoss[];
  epochs: number[];
  lrs: number[];
  dim: number;
  inputs: FasttextInput[];
}

export interface BenchSettings {
  quick: boolean;
  budgetSec: number;
  evalPoints: number;
  /** test points of the final evaluation: 0 = the whole test split (quick mode: a sample of it) */
  finalPoints: number;
  systems: SystemName[];
  /** worker threads of the engine's systems, and fastText's threads */
  threads: number;
  dataset: ResolvedDataset;
  /**
   * the recipe of `sublinear-lsh`: the data set's recipe (ENGINE_CONFIG on WordNet) with
   * BENCH_CONFIG merged over it; BENCH_CONFIG alone on a set without a recipe; null when neither
   * (`sublinear-lsh` is then skipped)
   */
  engineConfig: ConfigInput | null;
  fasttext: FasttextSettings;
  /** directory of the result files (null: bench/results) */
  outDir: string | null;
}

/** A comma list of the environment, each item parsed; `def` when unset. */
function listEnv<T>(env: NodeJS.ProcessEnv, name: string, def: readonly T[], parse: (s: string) => T | undefined, expected: string): T[] {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return [...def];
  const out: T[] = [];
  for (const item of raw.split(',').map((x) => x.trim()).filter(Boolean)) {
    const v = parse(item);
    if (v === undefined) throw new RangeError(`${name}: "${item}" is not ${expected}`);
    out.push(v);
  }
  if (out.length === 0) throw new RangeError(`${name}: expected a comma list of ${expected}`);
  return out;
}

const positiveInt = (s: string): number | undefined => (/^\d+$/.test(s) && Number(s) > 0 ? Number(s) : undefined);
const positiveNumber = (s: string): number | undefined => (Number.isFinite(Number(s)) && Number(s) > 0 ? Number(s) : undefined);

export function settingsFromEnv(env: NodeJS.ProcessEnv = process.env): BenchSettings {
  const quick = env['BENCH_QUICK'] === '1' || env['BENCH_QUICK'] === 'true';
  const b = env['BENCH_BUDGET_SEC'];
  const budgetSec = b !== undefined && b !== '' ? Number(b) : quick ? 15 : 600;
  if (!(budgetSec > 0) || !Number.isFinite(budgetSec)) throw new RangeError(`BENCH_BUDGET_SEC must be a positive number, got ${b}`);
  const s = env['BENCH_SYSTEMS'];
  const systems = s ? (s.split(',').map((x) => x.trim()).filter(Boolean) as SystemName[]) : [...SYSTEMS];
  for (const x of systems) if (!SYSTEMS.includes(x)) throw new RangeError(`BENCH_SYSTEMS: unknown system "${x}" (known: ${SYSTEMS.join(', ')})`);
  const t = env['BENCH_THREADS'];
  const threads = t !== undefined && t !== '' ? Number(t) : availableParallelism();
  if (!Number.isInteger(threads) || threads < 1) throw new RangeError(`BENCH_THREADS must be a positive integer, got ${t}`);
  const dataset = resolveDataset(env['BENCH_DATASET'] || DEFAULT_DATASET, env['BENCH_SYNTH']);
  const rawConfig = env['BENCH_CONFIG'];
  const engineConfig = dataset.recipe ? configWithOverride(dataset.recipe, rawConfig) : rawConfig ? configWithOverride({}, rawConfig) : null;
  const dims = listEnv(env, 'BENCH_FASTTEXT_DIM', [100], positiveInt, 'a positive integer');
  if (dims.length !== 1) throw new RangeError('BENCH_FASTTEXT_DIM: expected one positive integer');
  const fasttext: FasttextSettings = {
    bin: fasttextBinary(env),
    losses: listEnv(env, 'BENCH_FASTTEXT_LOSSES', FASTTEXT_LOSSES, (x) => FASTTEXT_LOSSES.find((l) => l === x), `a loss (${FASTTEXT_LOSSES.join(', ')})`),
    epochs: listEnv(env, 'BENCH_FASTTEXT_EPOCHS', [1, 2, 5, 10, 25, 50], positiveInt, 'a positive integer'),
    lrs: listEnv(env, 'BENCH_FASTTEXT_LR', [0.5], positiveNumber, 'a positive number'),
    dim: dims[0]!,
    inputs: listEnv(env, 'BENCH_FASTTEXT_INPUT', ['once'], (x) => FASTTEXT_INPUTS.find((i) => i === x), `an input encoding (${FASTTEXT_INPUTS.join(', ')})`),
  };
  return {
    quick, budgetSec, evalPoints: quick ? 1000 : 3000, finalPoints: quick ? 3000 : 0, systems, threads, dataset, engineConfig, fasttext, outDir: outDirFromEnv(env['BENCH_OUT']),
  };
}

/** What every system is evaluated on, and how often. */
interface EvalPlan {
  /** rows of the test split in the evaluation sample, and the sample itself */
  sampleRows: Int32Array;
  sample: CsrBatch;
  /** rows of the final evaluation (null: the whole split) and the set itself */
  finalRows: Int32Array | null;
  finalSet: CsrBatch;
  everySec: number;
  everySamples: number;
}

/** What a system's run adds to the result. */
interface SystemOutcome {
  series: Series;
  final: FinalMetrics;
}

/** An engine system: the model with `config`, LSH or dense by its output mode, under the clock. */
async function runEngine(name: string, config: ConfigInput, train: XcDataset, nFeatures: number, nLabels: number, plan: EvalPlan, settings: BenchSettings, log: (s: string) => void): Promise<SystemOutcome> {
  const cfg = parseConfig({ ...config, threads: settings.threads }, name);
  const lsh = cfg.output.mode === 'lsh';
  const m = new SlideModel({ nFeatures, nLabels, config: cfg });
  log(`engine kernels: ${m.kernelsName}, output ${cfg.output.mode}, ${settings.threads} thread(s)`);
  // the learning-rate schedule runs over the configured epochs, as fit() would plan it
  m.lrHorizon = plannedBatches(train.n, cfg.epochs, cfg.batchSize);
  if (settings.threads > 1) await m.openWorkers({ ...rowMaxima(train), threads: settings.threads });
  const sys: Trainable = {
    train: async (b) => {
      const st = await m.trainBatchAsync(b);
      return { loss: st.lossSum / Math.max(1, st.samples), activeSum: st.activeSum };
    },
    evalSample: async () => {
      const r = await m.evaluate(plan.sample, { inference: lsh ? 'lsh' : 'exact' });
      const x = (lsh ? r.lsh : r.exact)!;
      return { p1: x.p1, p5: x.p5 };
    },
    evalFull: async (): Promise<Record<string, number>> => {
      await m.closeWorkers();
      if (!lsh) {
        const r = await m.evaluate(plan.finalSet, { inference: 'exact' });
        return { p1: r.exact!.p1, p5: r.exact!.p5 };
      }
      // one table refresh after training, as a deployment would do before serving
      await m.refreshTables();
      const r = await m.evaluate(plan.finalSet, { inference: 'both' });
      return {
        p1: r.lsh!.p1, p5: r.lsh!.p5, exactP1: r.exact!.p1, exactP5: r.exact!.p5,
        lshAvgCandidates: r.lsh!.avgCandidates, lshRecallOfExactTop5: r.lshRecallOfExactTop5 ?? NaN,
      };
    },
    dispose: () => void m.closeWorkers(),
  };
  return runTrainable(name, sys, train, cfg, settings.threads, plan, settings, log);
}

/** Run a clocked system and evaluate it at the end. */
async function runTrainable(name: string, sys: Trainable, train: XcDataset, cfg: Config, threads: number, plan: EvalPlan, settings: BenchSettings, log: (s: string) => void): Promise<SystemOutcome> {
  const run = await runClocked(sys, train, cfg.batchSize, cfg.seed, settings.budgetSec, cfg.epochs, plan.everySec, plan.everySamples, log);
  const t0 = performance.now();
  const full = await sys.evalFull();
  const fullSec = (performance.now() - t0) / 1000;
  sys.dispose();
  log(`  final (${plan.finalSet.n} test points): P@1 ${full['p1']!.toFixed(4)} P@5 ${full['p5']!.toFixed(4)}${full['exactP1'] !== undefined ? ` (exact inference: P@1 ${full['exactP1'].toFixed(4)} P@5 ${full['exactP5']!.toFixed(4)})` : ''}; ${(run.samples / run.trainSec).toFixed(0)} samples/s, ${(run.samples / train.n).toFixed(2)} epochs`);
  return {
    series: { system: name, points: run.points },
    final: {
      p1: full['p1']!,
      p5: full['p5']!,
      samplesPerSec: run.samples / run.trainSec,
      threads,
      epochs: run.samples / train.n,
      ...Object.fromEntries(Object.entries(full).filter(([k]) => k !== 'p1' && k !== 'p5')),
      activePerSample: round(run.activePerSample, 1),
      trainSec: round(run.trainSec, 3),
      batches: run.batches,
      sampleEvalSec: round(run.evalSec, 3),
      fullEvalSec: round(fullSec, 3),
    },
  };
}

/** The TF.js baseline with `cfg`'s architecture, rate schedule and weight decay. */
async function runTfjs(cfg: Config, train: XcDataset, nFeatures: number, nLabels: number, plan: EvalPlan, settings: BenchSettings, log: (s: string) => void): Promise<SystemOutcome> {
  const horizon = plannedBatches(train.n, cfg.epochs, cfg.batchSize);
  const m = await TfjsBaseline.create({
    nFeatures, nLabels, hidden: cfg.hidden[0]!, lr: cfg.optimizer.lr, batchSize: cfg.batchSize, seed: cfg.seed,
    beta1: cfg.optimizer.beta1, beta2: cfg.optimizer.beta2, eps: cfg.optimizer.eps,
    // the engine's learning-rate schedule and weight decay, so that only the implementation differs
    lrAt: (step) => scheduledLr(cfg.optimizer, step, horizon), weightDecay: cfg.optimizer.weightDecay,
    inputFanIn: inputFanInOf(cfg, nFeatures),
  });
  const name = m.backend !== 'wasm' ? `tfjs-${m.backend}` : 'tfjs-wasm';
  if (cfg.hidden.length !== 1) log(`note: TF.js baseline has one hidden layer of ${cfg.hidden[0]}; the engine's configuration has ${cfg.hidden.length}`);
  log(`TF.js backend: ${m.backend}`);
  const sys: Trainable = {
    // a full softmax: every output neuron is active
    train: async (b) => ({ loss: await m.trainBatch(b), activeSum: b.n * nLabels }),
    evalSample: () => m.evaluate(plan.sample),
    evalFull: async () => {
      const r = await m.evaluate(plan.finalSet);
      return { p1: r.p1, p5: r.p5 };
    },
    dispose: () => m.dispose(),
  };
  return runTrainable(name, sys, train, cfg, 1, plan, settings, log);
}

/** Metrics of one fastText run: on the evaluation sample (the curve) and the final set. */
interface FasttextMetrics {
  p1Sample: number;
  p5Sample: number;
  p1: number;
  p5: number;
  /** where the run's seconds went (FasttextRun): writing the file, then fastText's first and 100% progress reports */
  writeSec: number;
  firstProgressSec: number | null;
  doneProgressSec: number | null;
}

const roundOrNull = (x: number | null): number | null => (x === null ? null : round(x, 3));

/** A sweep record as the JSON holds it: configuration, status, seconds, metrics. */
export function flattenRecord<M extends object>(r: SweepRecord<M>, fixed: { dim: number; wordNgrams: number; threads: number }, trainPoints: number): Record<string, unknown> {
  const base = { loss: r.loss, epochs: r.epochs, lr: r.lr, dim: fixed.dim, wordNgrams: fixed.wordNgrams, input: r.input, threads: fixed.threads, status: r.status, projectedSec: r.projectedSec === null ? null : round(r.projectedSec, 2) };
  if (r.status === 'skipped') return { ...base, reason: r.reason };
  if (r.status === 'stopped' || r.status === 'failed') return { ...base, seconds: round(r.seconds, 3), reason: r.reason };
  return { ...base, seconds: round(r.seconds, 3), samplesPerSec: round((r.epochs * trainPoints) / r.seconds, 1), ...r.metrics };
}

/** fastText's sweep; its series is the best configuration's runs (null when no run finished). */
async function runFasttextSystem(train: XcDataset, test: XcDataset, nLabels: number, dataDir: string, plan: EvalPlan, settings: BenchSettings, log: (s: string) => void): Promise<{ outcome: SystemOutcome | null; target: number | null; record: Record<string, unknown> }> {
  const fs = settings.fasttext;
  const vocabPath = join(dataDir, 'features.txt');
  const nFeatures = Math.max(train.nFeatures, test.nFeatures);
  const tokens = existsSync(vocabPath) ? await readFeatureTokens(vocabPath, nFeatures) : null;
  const integerValues = hasIntegerValues(train, test);
  const encoding = (input: FasttextInput): FasttextEncoding => ({ tokens, input, integerValues });
  const fixed = { dim: fs.dim, wordNgrams: 1, threads: settings.threads };
  // fastText predicts only the test points some evaluation reads (every one unless quick mode samples the final set)
  const evalRows = plan.finalRows ? unionRows(plan.sampleRows, plan.finalRows) : null;
  const evalSet = evalRows ? rowsOf(test, evalRows) : test;
  const samplePos = evalRows ? positionsIn(evalRows, plan.sampleRows) : plan.sampleRows;
  const finalPos = evalRows && plan.finalRows ? positionsIn(evalRows, plan.finalRows) : undefined;
  const options = (g: SweepGroup, epochs: number): FasttextTrainOptions => ({ loss: g.loss, epochs, lr: g.lr, dim: fs.dim, wordNgrams: 1, threads: settings.threads, seed: 42 });
  const work = mkdtempSync(join(tmpdir(), 'sublinear-fasttext-'));
  try {
    // one directory (training file, test file, model) per input encoding
    const baselines = new Map<FasttextInput, FasttextBaseline>();
    const baselineFor = (input: FasttextInput): FasttextBaseline => {
      let b = baselines.get(input);
      if (!b) {
        const dir = join(work, input);
        mkdirSync(dir);
        b = new FasttextBaseline(fs.bin, dir, train, evalSet, nLabels, encoding(input));
        baselines.set(input, b);
      }
      return b;
    };
    const groups: SweepGroup[] = [];
    for (const input of fs.inputs) for (const loss of fs.losses) for (const lr of fs.lrs) groups.push({ loss, lr, input });
    const records = await sweepFasttext<FasttextMetrics>(
      groups, fs.epochs, settings.budgetSec,
      async (g, epochs, limitSec) => {
        const b = baselineFor(g.input);
        const t0Run = performance.now();
        let r: Awaited<ReturnType<FasttextBaseline['trainRun']>>;
        try {
          r = await b.trainRun(options(g, epochs), limitSec);
        } catch (e) {
          if (!(e instanceof FasttextError)) throw e;
          return { seconds: (performance.now() - t0Run) / 1000, metrics: null, failed: e.reason };
        }
        if (r.model === null) return { seconds: r.seconds, metrics: null, stopped: r.stopped ?? 'stopped' };
        const t0 = performance.now();
        const pred = await b.predictTest(r.model, 5);
        b.removeModel();
        const s = scorePredictions(pred, evalSet, samplePos);
        const f = scorePredictions(pred, evalSet, finalPos);
        const phases = `writing its file ${r.writeSeconds.toFixed(2)} s, training from ${r.firstProgressSec?.toFixed(2) ?? '?'} s to ${r.doneProgressSec?.toFixed(2) ?? '?'} s`;
        log(`  fastText loss ${g.loss}, lr ${g.lr}, input ${g.input}, ${epochs} epochs: ${r.seconds.toFixed(2)} s (${phases}); P@1 ${s.p1.toFixed(4)} P@5 ${s.p5.toFixed(4)} on the sample, ${f.p1.toFixed(4)} / ${f.p5.toFixed(4)} on ${plan.finalSet.n} points (predicted in ${((performance.now() - t0) / 1000).toFixed(1)} s)`);
        return {
          seconds: r.seconds,
          metrics: { p1Sample: s.p1, p5Sample: s.p5, p1: f.p1, p5: f.p5, writeSec: round(r.writeSeconds, 3), firstProgressSec: roundOrNull(r.firstProgressSec), doneProgressSec: roundOrNull(r.doneProgressSec) },
        };
      },
      log,
    );
    const chosen = bestOfSweep(records, settings.budgetSec, (m) => m.p1);
    const record: Record<string, unknown> = {
      binary: fs.bin,
      tokens: tokens ? 'the data set\'s vocabulary (features.txt)' : 'f<feature id>',
      integerValues,
      ...fixed,
      losses: fs.losses, epochList: fs.epochs, lrs: fs.lrs, inputs: fs.inputs,
      runs: records.map((r) => flattenRecord(r, fixed, train.n)),
      totalRunSec: round(records.reduce((a, r) => a + (r.status === 'skipped' ? 0 : r.seconds), 0), 1),
      best: chosen ? { loss: chosen.best.loss, lr: chosen.best.lr, input: chosen.best.input, epochs: chosen.best.epochs } : null,
    };
    if (!chosen) {
      log('  fastText: no run finished within the budget');
      return { outcome: null, target: null, record };
    }
    const { best, curve } = chosen;
    const points: SeriesPoint[] = curve.map((r) => ({ seconds: round(r.seconds, 3), p1: r.metrics.p1Sample, p5: r.metrics.p5Sample, samples: r.epochs * train.n, epochs: r.epochs }));
    const last = curve[curve.length - 1]!;
    log(`  fastText best: loss ${best.loss}, lr ${best.lr}, input ${best.input}, ${best.epochs} epochs in ${best.seconds.toFixed(2)} s: P@1 ${best.metrics.p1.toFixed(4)} P@5 ${best.metrics.p5.toFixed(4)} on ${plan.finalSet.n} points`);
    return {
      target: best.metrics.p1Sample,
      record,
      outcome: {
        series: { system: 'fasttext', points, runs: true, note: `${best.loss}, lr ${best.lr}, ${curve[0]!.epochs}${curve.length > 1 ? `-${last.epochs}` : ''} epoch${last.epochs === 1 ? '' : 's'}` },
        final: {
          p1: best.metrics.p1,
          p5: best.metrics.p5,
          samplesPerSec: (best.epochs * train.n) / best.seconds,
          threads: settings.threads,
          epochs: best.epochs,
          loss: best.loss,
          lr: best.lr,
          dim: fs.dim,
          input: best.input,
          trainSec: round(best.seconds, 3),
        },
      },
    };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

export async function main(): Promise<AccuracyResult> {
  const settings = settingsFromEnv();
  const log = (s: string): void => console.log(s);
  const root = repoRoot();
  // fail before any run, not after the others' half hour
  if (settings.systems.includes('fasttext')) await checkFasttext(settings.fasttext.bin);
  const ds = settings.dataset;
  const dataDir = isAbsolute(ds.dirName) ? ds.dirName : join(root, 'data', ds.dirName);
  const tLoad = performance.now();
  await ensureDataset(ds, dataDir, log);
  const [train, test] = await Promise.all([readXcFile(join(dataDir, 'train.txt')), readXcFile(join(dataDir, 'test.txt'))]);
  const nFeatures = Math.max(train.nFeatures, test.nFeatures);
  const nLabels = Math.max(train.nLabels, test.nLabels);
  log(`${ds.title}: ${train.n} train / ${test.n} test points, ${nFeatures} features, ${nLabels} labels (loaded in ${((performance.now() - tLoad) / 1000).toFixed(1)} s)`);

  // (b): the settings derived from the data alone; the benchmark fixes only the threads
  const shape = dataShapeOf(train, test);
  const derived = deriveConfig(shape, { threads: settings.threads });
  const defaultsConfig: ConfigInput = derived.config;
  // (c) and (d) take (a)'s configuration, or (b)'s on a set without a recipe
  const baseConfig: ConfigInput = settings.engineConfig ?? defaultsConfig;
  const denseInput = mergeConfig(baseConfig, { output: { mode: 'dense' } }) as ConfigInput;

  const sampleRows = sampleRowIds(test.n, settings.evalPoints, 20240613);
  // the final evaluation: the whole test split, or (quick mode) a larger sample than the curve's
  const finalRows = settings.finalPoints > 0 ? sampleRowIds(test.n, settings.finalPoints, 20240614) : null;
  const plan: EvalPlan = {
    sampleRows,
    sample: rowsOf(test, sampleRows),
    finalRows,
    finalSet: finalRows ? rowsOf(test, finalRows) : test,
    everySec: settings.budgetSec / 10,
    everySamples: Math.ceil(train.n / 4),
  };
  log(`budget ${settings.budgetSec} s per system, evaluation every ~${plan.everySec.toFixed(1)} s or quarter epoch on ${plan.sample.n} sampled test points; systems: ${settings.systems.join(', ')}`);

  const series: Series[] = [];
  const final: Record<string, FinalMetrics> = {};
  const skipped: { system: string; reason: string }[] = [];
  const targets: Record<string, number> = {};
  let fasttextRecord: Record<string, unknown> | null = null;
  for (const name of settings.systems) {
    log(`\n== ${name} ==`);
    let outcome: SystemOutcome | null = null;
    if (name === 'sublinear-lsh') {
      if (settings.engineConfig === null) {
        const reason = `no recipe tuned for ${ds.name} (and no BENCH_CONFIG): the engine is measured by sublinear-defaults`;
        log(`  skipped: ${reason}`);
        skipped.push({ system: name, reason });
        continue;
      }
      outcome = await runEngine(name, settings.engineConfig, train, nFeatures, nLabels, plan, settings, log);
    } else if (name === 'sublinear-defaults') {
      for (const line of explainSettings(derived.settings)) log(`  ${line}`);
      outcome = await runEngine(name, defaultsConfig, train, nFeatures, nLabels, plan, settings, log);
      outcome.final['settings'] = derived.settings satisfies DerivedSetting[];
      outcome.final['config'] = derived.config;
    } else if (name === 'sublinear-dense') {
      outcome = await runEngine(name, denseInput, train, nFeatures, nLabels, plan, settings, log);
    } else if (name === 'tfjs-wasm') {
      outcome = await runTfjs(parseConfig(baseConfig, 'the TF.js configuration'), train, nFeatures, nLabels, plan, settings, log);
    } else {
      const ft = await runFasttextSystem(train, test, nLabels, dataDir, plan, settings, log);
      fasttextRecord = ft.record;
      outcome = ft.outcome;
      if (ft.target !== null) targets['fasttext'] = ft.target;
      if (!outcome) skipped.push({ system: name, reason: 'no fastText run finished within the budget' });
    }
    if (outcome) {
      series.push(outcome.series);
      final[outcome.series.system] = outcome.final;
    }
  }

  const envPart = `${settings.quick ? 'BENCH_QUICK=1 ' : ''}${envPrefix([
    'BENCH_DATASET', 'BENCH_SYNTH', 'BENCH_BUDGET_SEC', 'BENCH_SYSTEMS', 'BENCH_THREADS', 'BENCH_CONFIG',
    'BENCH_FASTTEXT_LOSSES', 'BENCH_FASTTEXT_EPOCHS', 'BENCH_FASTTEXT_LR', 'BENCH_FASTTEXT_DIM', 'BENCH_FASTTEXT_INPUT',
  ])}`;
  const result: AccuracyResult = {
    dataset: ds.title,
    datasetName: ds.name,
    dataDir: isAbsolute(ds.dirName) ? ds.dirName : join('data', ds.dirName),
    ...(ds.synth ? { synthShape: ds.synth } : {}),
    dataShape: shape,
    budgetSec: settings.budgetSec,
    quick: settings.quick,
    evalPoints: plan.sample.n,
    testPoints: test.n,
    finalPoints: plan.finalSet.n,
    trainPoints: train.n,
    nFeatures,
    nLabels,
    engineConfig: settings.engineConfig,
    defaultsSettings: derived.settings,
    series,
    final,
    skipped,
    fasttext: fasttextRecord,
    derived: deriveSpeedups(series, targets),
    machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model ?? 'unknown', node: process.version, totalMemGiB: round(totalmem() / 2 ** 30, 1) },
    commands: `npm run build && ${envPart}npm run bench:accuracy`,
    date: new Date().toISOString(),
  };
  const outDir = settings.outDir ?? join(root, 'bench', 'results');
  const base = resultBaseName(ds.name);
  mkdirSync(outDir, { recursive: true });
  writeFileAtomic(join(outDir, `${base}.json`), JSON.stringify(result, null, 2) + '\n');
  writeFileAtomic(join(outDir, `${base}.svg`), renderAccuracySvg(result));
  log('\n' + formatTable(result));
  log(`\nwrote ${join(outDir, `${base}.json`)} and ${base}.svg`);
  return result;
}

/** The summary table printed at the end. */
export function formatTable(r: AccuracyResult): string {
  // the final evaluation: the whole test split, or a sample of it in quick mode
  const fin = typeof r['finalPoints'] === 'number' && typeof r['testPoints'] === 'number' && r['finalPoints'] < r['testPoints'] ? `${r['finalPoints']}` : 'full';
  const rows: string[][] = [['system', 'threads', 'samples/s', 'epochs', `P@1 sample`, `P@1 ${fin}`, `P@5 ${fin}`, 'P@1/P@5 exact', 'active']];
  for (const s of r.series) {
    const f = r.final[s.system];
    const last = s.points[s.points.length - 1];
    const ex = f && typeof f['exactP1'] === 'number' ? `${(f['exactP1'] as number).toFixed(4)} / ${(f['exactP5'] as number).toFixed(4)}` : '';
    rows.push([
      s.system,
      f && typeof f['threads'] === 'number' ? String(f['threads']) : '',
      f ? f.samplesPerSec.toFixed(0) : '',
      f ? f.epochs.toFixed(2) : '',
      // fastText's curve is a set of runs: its final is its best run's, not its longest's
      typeof r.derived['fasttextFinalP1'] === 'number' && s.system === 'fasttext' ? r.derived['fasttextFinalP1'].toFixed(4) : last ? last.p1.toFixed(4) : '',
      f ? f.p1.toFixed(4) : '',
      f ? f.p5.toFixed(4) : '',
      ex,
      f && typeof f['activePerSample'] === 'number' ? f['activePerSample'].toFixed(0) : '',
    ]);
  }
  const w = rows[0]!.map((_, c) => Math.max(...rows.map((row) => row[c]!.length)));
  const line = (row: string[]): string => row.map((x, c) => (c === 0 ? x.padEnd(w[c]!) : x.padStart(w[c]!))).join('  ');
  const out = [line(rows[0]!), w.map((n) => '-'.repeat(n)).join('  '), ...rows.slice(1).map(line)];
  const skipped = Array.isArray(r['skipped']) ? (r['skipped'] as { system: string; reason: string }[]) : [];
  for (const s of skipped) out.push(`${s.system}: skipped (${s.reason})`);
  const t = (x: number | null): string => (x === null ? 'never' : `${x.toFixed(1)} s`);
  const sp = (x: number | null): string => (x === null ? 'n/a' : `${x.toFixed(2)}x`);
  const comparisons = Array.isArray(r.derived['comparisons']) ? (r.derived['comparisons'] as Comparison[]) : [];
  const refs = [...new Set(comparisons.map((c) => c.reference))];
  if (refs.length) out.push('');
  for (const ref of refs) {
    const cs = comparisons.filter((c) => c.reference === ref);
    out.push(`time to ${ref}'s final sample P@1 (${cs[0]!.target.toFixed(4)}): ${ref} ${t(cs[0]!.referenceTime)}; ${cs.map((c) => `${c.system} ${t(c.time)} -> speed-up ${sp(c.speedup)}`).join('; ')}`);
  }
  return out.join('\n');
}

const invokedPath = process.argv[1] ? resolve(process.argv[1]) : '';
if (invokedPath && import.meta.url === pathToFileURL(invokedPath).href) {
  main().catch((e: unknown) => {
    console.error(e instanceof Error ? (e.stack ?? e.message) : e);
    process.exit(1);
  });
}
