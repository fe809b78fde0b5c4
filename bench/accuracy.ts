/**
 * Accuracy against wall-clock time on WordNet 3.1 (`npm run bench:accuracy`):
 *
 *   (a) sublinear-lsh    the engine, LSH-sampled output layer (ENGINE_CONFIG)
 *   (b) sublinear-dense  the engine, same configuration with output.mode = 'dense'
 *   (c) tfjs-wasm        TensorFlow.js, same architecture, full softmax (src/baselines/tfjs.ts)
 *
 * Each system trains for the same budget of training wall-clock seconds, or for ENGINE_CONFIG's
 * epochs if it gets through them sooner (the learning rate decays over those epochs; TF.js gets
 * the same schedule and weight decay), one after another (never concurrently), on the same
 * shuffled batches (the engine's Rng, same seed). Every ~budget/10 seconds of training or every
 * quarter epoch, whichever comes first (and at the start and the end), the clock is paused and
 * P@1 / P@5 are measured on a fixed random sample of the test split (the same points for every system): the
 * engine in LSH mode with LSH inference as the tables stand, in dense mode with exact inference,
 * TF.js with its full softmax. Model construction and evaluation are outside the clock; batch
 * gathering and the per-epoch shuffle are inside it. At the end each system is evaluated on the
 * whole test split (quick mode: 3,000 sampled points of it) (the LSH engine with both LSH inference, after one table refresh, and exact
 * inference).
 *
 * Writes bench/results/accuracy.json (atomically) and bench/results/accuracy.svg, prints a table.
 *
 * Threads: each system uses what it can of the machine. The engine trains on BENCH_THREADS worker
 * threads (default: every core, as the CLI does); TF.js's wasm backend runs on one thread in
 * Node (its threaded build is browser-only: tensorflow/tfjs issue 3830).
 *
 * Environment: BENCH_BUDGET_SEC (seconds per system, default 600), BENCH_QUICK=1 (15 s per
 * system, curves on 1,000 sampled test points and the final evaluation on 3,000 instead of the
 * whole split: 1 min 42 s in all, measured on a day this machine ran at half speed), BENCH_SYSTEMS (comma list
 * to run a subset, e.g. "sublinear-lsh,tfjs-wasm"), BENCH_CONFIG (JSON merged over ENGINE_CONFIG,
 * e.g. '{"epochs":3}', to try another recipe), BENCH_OUT (directory of the result files, default
 * bench/results).
 */
import { existsSync, mkdirSync } from 'node:fs';
import { availableParallelism, cpus, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseConfig, mergeConfig, type ConfigInput } from '../src/config.js';
import { SlideModel, plannedBatches } from '../src/training/model.js';
import { WORDNET_RECIPE } from '../src/training/recipes.js';
import { TfjsBaseline } from '../src/baselines/tfjs.js';
import { CsrBatchBuffer, gatherRows, type CsrBatch, type XcDataset } from '../src/data/csr.js';
import { readXcFile } from '../src/data/xcReader.js';
import { buildWordnetDataset, writeWordnetDataset } from '../src/data/wordnet.js';
import { Rng } from '../src/util/rng.js';
import { scheduledLr } from '../src/layers/params.js';
import { rowMaxima } from '../src/training/model.js';
import { writeFileAtomic } from '../src/util/atomicWrite.js';
import { configWithOverride, envPrefix, outDirFromEnv } from './env.js';
import { renderAccuracySvg, type AccuracyResult, type FinalMetrics, type Series, type SeriesPoint } from './plot.js';

/** Configuration of the engine for (a) and (b) (the main job's recipe); (b) only switches the output layer to dense. */
export const ENGINE_CONFIG: ConfigInput = WORDNET_RECIPE;

export type SystemName = 'sublinear-lsh' | 'sublinear-dense' | 'tfjs-wasm';
export const SYSTEMS: readonly SystemName[] = ['sublinear-lsh', 'sublinear-dense', 'tfjs-wasm'];

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

/**
 * Speed-ups from the series: a system's "final P@1" is its last point's P@1 on the evaluation
 * sample (the same points the series use); speed-up = reference's time to its own final P@1 /
 * LSH engine's time to that P@1 (null when the LSH engine never gets there).
 */
export function deriveSpeedups(series: readonly Series[]): AccuracyResult['derived'] {
  const get = (name: string): SeriesPoint[] => series.find((s) => s.system === name)?.points ?? [];
  const lsh = get('sublinear-lsh');
  const last = (ps: SeriesPoint[]): number => (ps.length ? ps[ps.length - 1]!.p1 : NaN);
  const ratio = (ref: number | null, x: number | null): number | null => (ref !== null && x !== null && x > 0 ? ref / x : null);
  const denseP1 = last(get('sublinear-dense'));
  const tfName = series.find((s) => s.system.startsWith('tfjs'))?.system ?? 'tfjs-wasm';
  const tfjsP1 = last(get(tfName));
  const lshTimeToDenseFinalP1 = timeToReach(lsh, denseP1);
  const denseTimeToDenseFinalP1 = timeToReach(get('sublinear-dense'), denseP1);
  const lshTimeToTfjsFinalP1 = timeToReach(lsh, tfjsP1);
  const tfjsTimeToTfjsFinalP1 = timeToReach(get(tfName), tfjsP1);
  return {
    denseFinalP1: Number.isFinite(denseP1) ? denseP1 : null,
    tfjsFinalP1: Number.isFinite(tfjsP1) ? tfjsP1 : null,
    lshTimeToDenseFinalP1,
    denseTimeToDenseFinalP1,
    speedupVsDense: ratio(denseTimeToDenseFinalP1, lshTimeToDenseFinalP1),
    lshTimeToTfjsFinalP1,
    tfjsTimeToTfjsFinalP1,
    speedupVsTfjs: ratio(tfjsTimeToTfjsFinalP1, lshTimeToTfjsFinalP1),
  };
}

/** One system under the clock. */
interface Trainable {
  train(b: CsrBatch): Promise<number>;
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
    const loss = await sys.train(b);
    trainSec += (performance.now() - t0) / 1000;
    samples += b.n;
    batches++;
    lossSum += loss;
    lossN++;
    if ((trainSec >= nextEval || samples >= nextEvalSamples) && trainSec < budgetSec && samples < maxSamples) {
      await evaluate();
      nextEval = trainSec + everySec;
      while (nextEvalSamples <= samples) nextEvalSamples += everySamples;
    }
  }
  await evaluate();
  return { points, trainSec, evalSec, samples, batches };
}

function round(x: number, digits: number): number {
  const f = Math.pow(10, digits);
  return Math.round(x * f) / f;
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

/** A random sample of `n` rows (without replacement, seeded) as one batch. */
function sampleRows(d: XcDataset, n: number, seed: number): CsrBatch {
  const order = new Int32Array(d.n);
  for (let i = 0; i < d.n; i++) order[i] = i;
  new Rng(seed, 0x5a3b).shuffle(order, d.n);
  const m = Math.min(n, d.n);
  const rows = order.subarray(0, m).slice().sort();
  return gatherRows(d, rows, 0, m, new CsrBatchBuffer());
}

async function loadWordnet(root: string, log: (s: string) => void): Promise<{ train: XcDataset; test: XcDataset }> {
  const dir = join(root, 'data', 'wordnet');
  if (!existsSync(join(dir, 'train.txt')) || !existsSync(join(dir, 'test.txt'))) {
    log(`building the WordNet data set into ${dir} ...`);
    const ds = await buildWordnetDataset();
    await writeWordnetDataset(dir, ds);
  }
  const [train, test] = await Promise.all([readXcFile(join(dir, 'train.txt')), readXcFile(join(dir, 'test.txt'))]);
  return { train, test };
}

export interface BenchSettings {
  quick: boolean;
  budgetSec: number;
  evalPoints: number;
  /** test points of the final evaluation: 0 = the whole test split (quick mode: a sample of it) */
  finalPoints: number;
  systems: SystemName[];
  /** worker threads of the engine's systems */
  threads: number;
  /** ENGINE_CONFIG with BENCH_CONFIG merged over it */
  engineConfig: ConfigInput;
  /** directory of accuracy.json / accuracy.svg (null: bench/results) */
  outDir: string | null;
}

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
  const engineConfig = configWithOverride(ENGINE_CONFIG, env['BENCH_CONFIG']);
  return { quick, budgetSec, evalPoints: quick ? 1000 : 3000, finalPoints: quick ? 3000 : 0, systems, threads, engineConfig, outDir: outDirFromEnv(env['BENCH_OUT']) };
}

export async function main(): Promise<AccuracyResult> {
  const settings = settingsFromEnv();
  const log = (s: string): void => console.log(s);
  const root = repoRoot();
  const tLoad = performance.now();
  const { train, test } = await loadWordnet(root, log);
  const nFeatures = Math.max(train.nFeatures, test.nFeatures);
  const nLabels = Math.max(train.nLabels, test.nLabels);
  log(`WordNet: ${train.n} train / ${test.n} test points, ${nFeatures} features, ${nLabels} labels (loaded in ${((performance.now() - tLoad) / 1000).toFixed(1)} s)`);
  const engineConfig = settings.engineConfig;
  const cfg = parseConfig(engineConfig, 'ENGINE_CONFIG');
  const denseInput = mergeConfig(engineConfig, { output: { mode: 'dense' } }) as ConfigInput;
  const sample = sampleRows(test, settings.evalPoints, 20240613);
  // the final evaluation: the whole test split, or (quick mode) a larger sample than the curve's
  const finalSet = settings.finalPoints > 0 ? sampleRows(test, settings.finalPoints, 20240614) : test;
  const finalWhat = finalSet === test ? `whole test split, ${test.n} points` : `${finalSet.n} sampled test points`;
  const everySec = settings.budgetSec / 10;
  const everySamples = Math.ceil(train.n / 4);
  // the learning-rate horizon of every system: the batches fit would plan for cfg.epochs epochs
  const horizon = plannedBatches(train.n, cfg.epochs, cfg.batchSize);
  log(`budget ${settings.budgetSec} s per system, evaluation every ~${everySec.toFixed(1)} s or quarter epoch on ${sample.n} sampled test points; systems: ${settings.systems.join(', ')}`);

  const series: Series[] = [];
  const threadsOf: Record<string, number> = { 'tfjs-wasm': 1 };
  const final: Record<string, FinalMetrics> = {};
  for (const name of settings.systems) {
    log(`\n== ${name} ==`);
    let sys: Trainable;
    let sysName: string = name;
    if (name === 'tfjs-wasm') {
      const m = await TfjsBaseline.create({
        nFeatures, nLabels, hidden: cfg.hidden[0]!, lr: cfg.optimizer.lr, batchSize: cfg.batchSize, seed: cfg.seed,
        beta1: cfg.optimizer.beta1, beta2: cfg.optimizer.beta2, eps: cfg.optimizer.eps,
        // the engine's learning-rate schedule and weight decay, so that only the implementation differs
        lrAt: (step) => scheduledLr(cfg.optimizer, step, horizon), weightDecay: cfg.optimizer.weightDecay,
      });
      if (m.backend !== 'wasm') sysName = `tfjs-${m.backend}`;
      if (cfg.hidden.length !== 1) log(`note: TF.js baseline has one hidden layer of ${cfg.hidden[0]}; ENGINE_CONFIG has ${cfg.hidden.length}`);
      log(`TF.js backend: ${m.backend}`);
      sys = {
        train: (b) => m.trainBatch(b),
        evalSample: () => m.evaluate(sample),
        evalFull: async () => {
          const r = await m.evaluate(finalSet);
          return { p1: r.p1, p5: r.p5 };
        },
        dispose: () => m.dispose(),
      };
    } else {
      const lsh = name === 'sublinear-lsh';
      const m = new SlideModel({ nFeatures, nLabels, config: { ...(lsh ? engineConfig : denseInput), threads: settings.threads } });
      log(`engine kernels: ${m.kernelsName}, output ${m.config.output.mode}, ${settings.threads} thread(s)`);
      // the learning-rate schedule runs over the configured epochs, as fit() would plan it
      m.lrHorizon = horizon;
      if (settings.threads > 1) await m.openWorkers({ ...rowMaxima(train), threads: settings.threads });
      threadsOf[name] = settings.threads;
      sys = {
        train: async (b) => {
          const st = await m.trainBatchAsync(b);
          return st.lossSum / Math.max(1, st.samples);
        },
        evalSample: async () => {
          const r = await m.evaluate(sample, { inference: lsh ? 'lsh' : 'exact' });
          const x = (lsh ? r.lsh : r.exact)!;
          return { p1: x.p1, p5: x.p5 };
        },
        evalFull: async (): Promise<Record<string, number>> => {
          await m.closeWorkers();
          if (!lsh) {
            const r = await m.evaluate(finalSet, { inference: 'exact' });
            return { p1: r.exact!.p1, p5: r.exact!.p5 };
          }
          // one table refresh after training, as a deployment would do before serving
          await m.refreshTables();
          const r = await m.evaluate(finalSet, { inference: 'both' });
          return {
            p1: r.lsh!.p1, p5: r.lsh!.p5, exactP1: r.exact!.p1, exactP5: r.exact!.p5,
            lshAvgCandidates: r.lsh!.avgCandidates, lshRecallOfExactTop5: r.lshRecallOfExactTop5 ?? NaN,
          };
        },
        dispose: () => void m.closeWorkers(),
      };
    }
    const run = await runClocked(sys, train, cfg.batchSize, cfg.seed, settings.budgetSec, cfg.epochs, everySec, everySamples, log);
    const t0 = performance.now();
    const full = await sys.evalFull();
    const fullSec = (performance.now() - t0) / 1000;
    sys.dispose();
    series.push({ system: sysName, points: run.points });
    final[sysName] = {
      p1: full['p1']!,
      p5: full['p5']!,
      samplesPerSec: run.samples / run.trainSec,
      threads: threadsOf[name] ?? 1,
      epochs: run.samples / train.n,
      ...Object.fromEntries(Object.entries(full).filter(([k]) => k !== 'p1' && k !== 'p5')),
      trainSec: round(run.trainSec, 3),
      batches: run.batches,
      sampleEvalSec: round(run.evalSec, 3),
      fullEvalSec: round(fullSec, 3),
    };
    log(`  final (${finalWhat}): P@1 ${full['p1']!.toFixed(4)} P@5 ${full['p5']!.toFixed(4)}${full['exactP1'] !== undefined ? ` (exact inference: P@1 ${full['exactP1'].toFixed(4)} P@5 ${full['exactP5']!.toFixed(4)})` : ''}; ${(run.samples / run.trainSec).toFixed(0)} samples/s, ${(run.samples / train.n).toFixed(2)} epochs`);
  }

  const envPart = `${settings.quick ? 'BENCH_QUICK=1 ' : ''}${envPrefix(['BENCH_BUDGET_SEC', 'BENCH_SYSTEMS', 'BENCH_THREADS', 'BENCH_CONFIG'])}`;
  const result: AccuracyResult = {
    dataset: 'wordnet-3.1',
    budgetSec: settings.budgetSec,
    quick: settings.quick,
    evalPoints: sample.n,
    testPoints: test.n,
    finalPoints: finalSet.n,
    trainPoints: train.n,
    nFeatures,
    nLabels,
    engineConfig,
    series,
    final,
    derived: deriveSpeedups(series),
    machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model ?? 'unknown', node: process.version, totalMemGiB: round(totalmem() / 2 ** 30, 1) },
    commands: `npm run build && ${envPart}npm run bench:accuracy`,
    date: new Date().toISOString(),
  };
  const outDir = settings.outDir ?? join(root, 'bench', 'results');
  mkdirSync(outDir, { recursive: true });
  writeFileAtomic(join(outDir, 'accuracy.json'), JSON.stringify(result, null, 2) + '\n');
  writeFileAtomic(join(outDir, 'accuracy.svg'), renderAccuracySvg(result));
  log('\n' + formatTable(result));
  log(`\nwrote ${join(outDir, 'accuracy.json')} and accuracy.svg`);
  return result;
}

/** The summary table printed at the end. */
export function formatTable(r: AccuracyResult): string {
  // the final evaluation: the whole test split, or a sample of it in quick mode
  const fin = typeof r['finalPoints'] === 'number' && typeof r['testPoints'] === 'number' && r['finalPoints'] < r['testPoints'] ? `${r['finalPoints']}` : 'full';
  const rows: string[][] = [['system', 'threads', 'samples/s', 'epochs', `P@1 sample`, `P@1 ${fin}`, `P@5 ${fin}`, 'P@1/P@5 exact']];
  for (const s of r.series) {
    const f = r.final[s.system];
    const last = s.points[s.points.length - 1];
    const ex = f && typeof f['exactP1'] === 'number' ? `${(f['exactP1'] as number).toFixed(4)} / ${(f['exactP5'] as number).toFixed(4)}` : '';
    rows.push([
      s.system,
      f && typeof f['threads'] === 'number' ? String(f['threads']) : '',
      f ? f.samplesPerSec.toFixed(0) : '',
      f ? f.epochs.toFixed(2) : '',
      last ? last.p1.toFixed(4) : '',
      f ? f.p1.toFixed(4) : '',
      f ? f.p5.toFixed(4) : '',
      ex,
    ]);
  }
  const w = rows[0]!.map((_, c) => Math.max(...rows.map((row) => row[c]!.length)));
  const line = (row: string[]): string => row.map((x, c) => (c === 0 ? x.padEnd(w[c]!) : x.padStart(w[c]!))).join('  ');
  const out = [line(rows[0]!), w.map((n) => '-'.repeat(n)).join('  '), ...rows.slice(1).map(line)];
  const d = r.derived;
  const t = (x: number | null): string => (x === null ? 'never' : `${x.toFixed(1)} s`);
  const sp = (x: number | null): string => (x === null ? 'n/a' : `${x.toFixed(2)}x`);
  out.push('');
  out.push(`time to dense engine's final sample P@1 (${fmtP(d['denseFinalP1'])}): lsh ${t(d.lshTimeToDenseFinalP1)}, dense ${t(d.denseTimeToDenseFinalP1)} -> speed-up ${sp(d.speedupVsDense)}`);
  out.push(`time to TF.js's final sample P@1 (${fmtP(d['tfjsFinalP1'])}): lsh ${t(d.lshTimeToTfjsFinalP1)}, tfjs ${t(d.tfjsTimeToTfjsFinalP1)} -> speed-up ${sp(d.speedupVsTfjs)}`);
  return out.join('\n');
}

function fmtP(x: unknown): string {
  return typeof x === 'number' ? x.toFixed(4) : 'n/a';
}

const invokedPath = process.argv[1] ? resolve(process.argv[1]) : '';
if (invokedPath && import.meta.url === pathToFileURL(invokedPath).href) {
  main().catch((e: unknown) => {
    console.error(e instanceof Error ? (e.stack ?? e.message) : e);
    process.exit(1);
  });
}
