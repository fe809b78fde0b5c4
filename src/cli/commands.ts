import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { readXcFile } from '../data/xcReader.js';
import { SlideModel, type EpochSummary, type EvalResult } from '../training/model.js';
import { candidatesFlag, configFromFlags, flagName, givenConfig, maxMemoryFlag, threadsFlag, type ConfigFlags } from './configArgs.js';
import { currentMachine, dataShapeOf, deriveConfig, explainSettings } from '../training/autoConfig.js';
import { WORDNET_FILES, writeWordnetSet } from './dataCommands.js';
import { checkDistinct, checkInputDir, checkInputFile, checkOutputDir, checkOutputFile } from './paths.js';
import { ProgressReporter } from './progress.js';
import { STAGING_NAME, writeFileAtomic } from '../util/atomicWrite.js';
import { majorityBaselineP1 } from '../eval/metrics.js';
import { saveModel, loadModel, type CheckpointExtra } from '../checkpoint/checkpoint.js';
import { readVocabDir } from '../checkpoint/vocab.js';
import { ConfigError } from '../util/errors.js';
import { buildWordnetDataset } from '../data/wordnet.js';
import type { Config } from '../config.js';
import type { KernelChoice } from '../kernels/index.js';
import type { XcDataset } from '../data/csr.js';
import { rowMaxima } from '../training/model.js';
import { connectNats, prefixFlag, secondsFlag, sliceBase, type ClusterFlags } from './cluster.js';
import type { RemoteOutput } from '../cluster/remoteOutput.js';
import type { Manifest } from '../checkpoint/slices.js';
import { sliceName } from '../checkpoint/slices.js';

interface TrainFlags extends ConfigFlags, ClusterFlags {
  kernels?: KernelChoice;
  /** shard processes that hold the output layer (with --nats) */
  remoteShards?: string;
  /** JetStream object store for the slices of --save checkpoints (default: files in each shard process's --dir) */
  checkpointStore?: string;
  train: string;
  test?: string;
  metricsOut?: string;
  save?: string;
  /** checkpoint to --save after every this many batches */
  saveEvery?: string;
  /** continue training from this checkpoint */
  resume?: string;
  /** features.txt / labels.txt / idf.txt to store in the checkpoint */
  vocabDir?: string;
  /** print the settings derived from the data and exit */
  explainConfig?: boolean;
  quiet?: boolean;
}

/** Options of trainAndReport that concern checkpoints (train and demo). */
interface CheckpointFlags {
  save?: string;
  saveEvery?: string;
  resume?: string;
}

function parseSaveEvery(flags: CheckpointFlags): number {
  if (flags.saveEvery === undefined) return 0;
  const n = Number(flags.saveEvery);
  if (!Number.isInteger(n) || n < 1) throw new ConfigError(`--save-every: expected a positive integer (batches), found ${JSON.stringify(flags.saveEvery)}`);
  if (!flags.save) throw new ConfigError('--save-every needs --save <file> (where to write the checkpoints)');
  return n;
}

const log = (s: string): void => {
  process.stderr.write(s + '\n');
};

/**
 * Check every path of a train or demo run before any work: a bad --save or --metrics-out must
 * not be found after hours of training.
 */
function checkRunPaths(flags: TrainFlags | DemoFlags, inputs: [flag: string, path: string | undefined][]): void {
  for (const [flag, p] of inputs) if (p !== undefined) checkInputFile(p, flag);
  if (flags.save) checkOutputFile(flags.save, '--save');
  if (flags.metricsOut) checkOutputFile(flags.metricsOut, '--metrics-out');
  // --resume and --save may name the same file: the run continues in place
  checkDistinct([['--save', flags.save], ['--metrics-out', flags.metricsOut]], inputs, [['--save', '--resume']]);
}

export async function runTrain(flags: TrainFlags): Promise<void> {
  checkRunPaths(flags, [['--train', flags.train], ['--test', flags.test], ['--resume', flags.resume]]);
  if (flags.vocabDir) checkInputDir(flags.vocabDir, '--vocab-dir');
  parseSaveEvery(flags);
  const shards = remoteShardsFlag(flags);
  let extra: CheckpointExtra = flags.vocabDir ? await readVocabDir(flags.vocabDir) : {};
  let cfg: Config | undefined;
  let resumed: SlideModel | undefined;
  let epochs: number | undefined;
  let resumeManifest: Manifest | null = null;
  if (flags.resume) {
    // the checkpoint carries the configuration; only --epochs (the total to reach) applies
    // the threads to run on are this run's choice (they change no result); the rest is the checkpoint's
    const loaded = await loadModel(flags.resume, { kernels: flags.kernels ?? 'auto', maxMemoryBytes: maxMemoryFlag(flags.maxMemory), threads: threadsFlag(flags.threads) });
    resumed = loaded.model;
    cfg = resumed.config;
    const { model: _m, manifest, ...saved } = loaded;
    extra = { ...saved, ...extra };
    if (manifest && !flags.nats) throw new ConfigError(`--resume ${flags.resume}: its output layer is in ${manifest.shards} shard processes; resume it with --nats URL (and ${manifest.shards} idle shard processes)`);
    if (!manifest && flags.nats) throw new ConfigError(`--resume ${flags.resume}: a model trained in one process; resume it without --nats`);
    if (manifest && shards !== null && shards !== manifest.shards) throw new ConfigError(`--remote-shards ${shards}: the checkpoint's output layer is in ${manifest.shards} slices`);
    if (manifest) resumeManifest = manifest;
    const ignored = Object.entries(flags).filter(([k, v]) => v !== undefined && CONFIG_FLAG_NAMES.has(k) && k !== 'epochs').map(([k]) => flagName(k));
    if (ignored.length) log(`note: resuming ${flags.resume} with its saved configuration; ignoring ${ignored.join(' ')}`);
    if (flags.epochs !== undefined) {
      epochs = Number(flags.epochs);
      if (!Number.isFinite(epochs) || epochs <= 0) throw new ConfigError(`--epochs: expected a positive number, found ${JSON.stringify(flags.epochs)}`);
    }
    log(`resuming ${flags.resume}: ${resumed.epochsDone} epochs and ${resumed.step} batches done${resumed.epochCursor ? ` (mid-epoch, at row ${resumed.epochCursor.position} of ${resumed.epochCursor.rows})` : ''}`);
  }
  // the settings given, checked before the data is read; the rest follow from the data's shape
  const given = resumed ? undefined : givenConfig(flags);
  // the output layer in N shard processes: N slices of the layout's split
  if (given && shards !== null) given.outputShards = shards;
  const train = await readXcFile(flags.train);
  const test = flags.test ? await readXcFile(flags.test) : undefined;
  if (given) {
    const shape = dataShapeOf(train, test);
    const derived = deriveConfig(shape, given, currentMachine({ limitBytes: maxMemoryFlag(flags.maxMemory), remoteOutput: shards !== null }));
    const lines = explainSettings(derived.settings);
    if (flags.explainConfig) {
      process.stdout.write(lines.join('\n') + '\n');
      return;
    }
    if (!flags.quiet) {
      log(`settings for ${shape.points} points, ${shape.features} features, ${shape.labels} labels:`);
      for (const l of lines) log('  ' + l);
    }
    cfg = inferenceForOutput(derived.config);
  } else if (flags.explainConfig) {
    throw new ConfigError('--explain-config: a resumed run keeps its checkpoint\'s settings; nothing is derived');
  }
  const cluster = flags.nats ? clusterOptions(flags, resumeManifest) : undefined;
  await trainAndReport(cfg!, train, test, flags, { train: flags.train, test: flags.test, resume: flags.resume }, extra, resumed, epochs, cluster);
}

/** --remote-shards N (with --nats), or null. */
function remoteShardsFlag(flags: TrainFlags): number | null {
  if (flags.remoteShards === undefined) {
    if (flags.nats && !flags.resume) throw new ConfigError('--nats: give --remote-shards N, the number of shard processes that hold the output layer');
    return null;
  }
  if (!flags.nats) throw new ConfigError('--remote-shards needs --nats URL (the NATS server the shard processes listen on)');
  const n = Number(flags.remoteShards);
  if (!Number.isInteger(n) || n < 1 || n > 4096) throw new ConfigError(`--remote-shards: expected an integer in 1..4096, found ${JSON.stringify(flags.remoteShards)}`);
  if (flags.checkpointStore !== undefined && !/^[A-Za-z0-9_-]+$/.test(flags.checkpointStore)) throw new ConfigError(`--checkpoint-store: a bucket name of letters, digits, - and _, found ${JSON.stringify(flags.checkpointStore)}`);
  return n;
}

/** How train reaches its shard processes. */
interface ClusterRun {
  url: string;
  prefix: string;
  timeoutMs: number;
  waitMs: number;
  leaseMs: number;
  store: Manifest['store'];
  resume: Manifest | null;
}

function clusterOptions(flags: TrainFlags, resume: Manifest | null): ClusterRun {
  return {
    url: flags.nats!,
    prefix: prefixFlag(flags.prefix),
    timeoutMs: secondsFlag(flags.shardTimeout, '--shard-timeout', 5),
    waitMs: secondsFlag(flags.shardWait, '--shard-wait', 30),
    leaseMs: secondsFlag(flags.lease, '--lease', 60),
    store: flags.checkpointStore ? { kind: 'object', bucket: flags.checkpointStore } : { kind: 'file' },
    resume,
  };
}

/**
 * Save a checkpoint: with a remote output layer, every shard process first writes its slice at
 * this batch, then the trainer writes its file with their manifest.
 */
async function saveCheckpoint(model: SlideModel, path: string, extra: CheckpointExtra, link: RemoteOutput | null, store: Manifest['store']): Promise<void> {
  if (link === null) return saveModel(model, path, extra);
  const base = sliceBase(path);
  const names = link.clients.map((_, s) => sliceName(base, model.step, s, link.clients.length));
  const manifest = await link.saveSlices(names, store);
  await saveModel(model, path, { ...extra, manifest });
}

/** ConfigFlags fields (ignored, except epochs, when resuming). */
const CONFIG_FLAG_NAMES = new Set(['config', 'epochs', 'batchSize', 'lr', 'hidden', 'seed', 'mode', 'family', 'K', 'L', 'inference', 'set']);

/** Train, evaluate, print the summary to stdout, write --metrics-out and --save. Shared by train and demo. */
async function trainAndReport(
  cfg: Config,
  train: XcDataset,
  test: XcDataset | undefined,
  flags: { metricsOut?: string; quiet?: boolean; kernels?: KernelChoice; maxMemory?: string } & CheckpointFlags,
  sources: Record<string, string | undefined>,
  extra: CheckpointExtra = {},
  resumed?: SlideModel,
  targetEpochs?: number,
  cluster?: ClusterRun,
): Promise<{ model: SlideModel; final?: EvalResult }> {
  parseSaveEvery(flags);
  if (test && (test.nFeatures !== train.nFeatures || test.nLabels !== train.nLabels)) {
    log(`note: test header (${test.nFeatures} features, ${test.nLabels} labels) differs from train (${train.nFeatures}, ${train.nLabels}); using the larger`);
  }
  const nFeatures = Math.max(train.nFeatures, test?.nFeatures ?? 0);
  const nLabels = Math.max(train.nLabels, test?.nLabels ?? 0);
  const t0 = performance.now();
  const model = resumed ?? new SlideModel({ nFeatures, nLabels, config: cfg, kernels: flags.kernels ?? 'auto', maxMemoryBytes: maxMemoryFlag(flags.maxMemory), remoteOutput: cluster !== undefined });
  if (resumed && (nFeatures > model.nFeatures || nLabels > model.nLabels)) {
    throw new RangeError(`--resume: the data has ${nFeatures} features / ${nLabels} labels; the checkpoint's model has ${model.nFeatures} / ${model.nLabels}`);
  }
  let link: RemoteOutput | null = null;
  let nc: import('@nats-io/transport-node').NatsConnection | null = null;
  if (cluster) {
    nc = await connectNats(cluster.url, `sublinear-train-${process.pid}`);
    const { RemoteOutput } = await import('../cluster/remoteOutput.js');
    try {
      link = await RemoteOutput.start(nc, model, {
        prefix: cluster.prefix, timeoutMs: cluster.timeoutMs, waitMs: cluster.waitMs, assignTimeoutMs: Math.max(120_000, cluster.timeoutMs),
        kernels: flags.kernels ?? 'auto', resume: cluster.resume, leaseMs: cluster.leaseMs, maxLabels: Math.max(64, rowMaxima(train, test).maxRowLabels), log,
      });
    } catch (e) {
      await nc.close();
      throw e;
    }
    model.attachOutput(link);
  }
  try {
    return await trainWith(model, cfg, train, test, flags, sources, extra, resumed, targetEpochs, t0, link, cluster?.store ?? { kind: 'file' }, nFeatures, nLabels);
  } finally {
    if (link) await link.close();
    if (nc) await nc.close();
  }
}

async function trainWith(
  model: SlideModel,
  cfg: Config,
  train: XcDataset,
  test: XcDataset | undefined,
  flags: { metricsOut?: string; quiet?: boolean; kernels?: KernelChoice } & CheckpointFlags,
  sources: Record<string, string | undefined>,
  extra: CheckpointExtra,
  resumed: SlideModel | undefined,
  targetEpochs: number | undefined,
  t0: number,
  link: RemoteOutput | null,
  store: Manifest['store'],
  nFeatures: number,
  nLabels: number,
): Promise<{ model: SlideModel; final?: EvalResult }> {
  const saveEvery = parseSaveEvery(flags);
  const buildSec = (performance.now() - t0) / 1000;
  log(
    `model: ${model.nFeatures} features -> ${cfg.hidden.join(' -> ')} -> ${model.nLabels} labels, output ${cfg.output.mode}` +
      (cfg.output.mode === 'lsh' ? ` (${cfg.output.hash.family} K=${cfg.output.hash.K} L=${cfg.output.hash.L})` : '') +
      `, ${model.network.parameterCount()} parameters, kernels ${model.kernelsName}, built in ${buildSec.toFixed(2)} s`,
  );
  const toRun = (targetEpochs ?? cfg.epochs) - model.epochsDone;
  log(`data: ${train.n} training points${test ? `, ${test.n} test points` : ''}; ${cfg.epochs} epochs of batch ${cfg.batchSize}${resumed ? `, ${Math.max(0, toRun)} to go` : ''}`);
  // --save-every: a checkpoint whenever the batch counter reaches a multiple of N (fit awaits
  // afterBatch after each batch and once more at each epoch's end, with the same counter)
  let lastSaved = model.step;
  const afterBatch = saveEvery > 0 && flags.save
    ? async (m: SlideModel): Promise<void> => {
        if (m.step % saveEvery !== 0 || m.step === lastSaved) return;
        await saveCheckpoint(m, flags.save!, extra, link, store);
        lastSaved = m.step;
        if (!flags.quiet) log(`checkpoint at batch ${m.step} written to ${flags.save}`);
      }
    : undefined;
  const progress = new ProgressReporter();
  const epochs: EpochSummary[] = [];
  const tTrain = performance.now();
  if (toRun <= 0) log(`the checkpoint has already trained ${model.epochsDone} of ${targetEpochs ?? cfg.epochs} epochs; nothing to train`);
  else await model.fit(train, {
    epochs: toRun,
    test,
    afterBatch,
    onProgress: flags.quiet ? undefined : progress.onProgress,
    onEpoch: (e) => {
      epochs.push(e);
      if (!flags.quiet) progress.onEpoch(e);
    },
  });
  progress.stop();
  const totalSec = (performance.now() - tTrain) / 1000;
  const trainSec = epochs.reduce((a, e) => a + e.seconds, 0);
  const final = epochs.length > 0 ? epochs[epochs.length - 1]?.eval : test ? await model.evaluate(test, { inference: cfg.inference }) : undefined;
  const baseline = test ? majorityBaselineP1(train.labelIdx, nLabels, test.labelPtr, test.labelIdx, test.n) : undefined;
  const lines: string[] = [];
  if (epochs.length > 0) lines.push(`trained ${describeEpochs(epochs, train.n)} in ${trainSec.toFixed(1)} s (${(epochs.reduce((a, e) => a + e.points, 0) / trainSec).toFixed(0)} samples/s), ${totalSec.toFixed(1)} s with evaluation`);
  if (final?.exact) lines.push(`test exact inference: P@1 ${final.exact.p1.toFixed(4)}  P@3 ${final.exact.p3.toFixed(4)}  P@5 ${final.exact.p5.toFixed(4)}  nDCG@5 ${final.exact.ndcg5.toFixed(4)}  (${final.exact.seconds.toFixed(1)} s)`);
  // a dense output layer has no tables: its "LSH" figures (a resumed run's configuration may ask for them) are exact inference again
  const dense = !model.network.output.sampled;
  if (final?.lsh && !dense) lines.push(`test LSH inference:   P@1 ${final.lsh.p1.toFixed(4)}  P@3 ${final.lsh.p3.toFixed(4)}  P@5 ${final.lsh.p5.toFixed(4)}  nDCG@5 ${final.lsh.ndcg5.toFixed(4)}  (${final.lsh.seconds.toFixed(1)} s, ${final.lsh.avgCandidates.toFixed(0)} candidates/point)`);
  if (final?.lshRecallOfExactTop5 !== undefined && !dense) lines.push(`LSH inference retrieved ${(100 * final.lshRecallOfExactTop5).toFixed(1)}% of exact inference's top-5`);
  if (baseline) lines.push(`most-frequent-label baseline: P@1 ${baseline.p1.toFixed(4)}`);
  if (link) {
    const tr = link.traffic();
    lines.push(`remote output layer: ${link.clients.length} shard processes, ${tr.messagesPerBatch.toFixed(1)} messages and ${tr.roundTripsPerBatch.toFixed(2)} round trips a batch, ${tr.bytesPerSample.toFixed(0)} bytes a sample`);
  }
  process.stdout.write(lines.join('\n') + '\n');
  // the model first: it is the expensive result, and a metrics file that cannot be written must not cost it
  if (flags.save) {
    await saveCheckpoint(model, flags.save, extra, link, store);
    log(`model saved to ${flags.save}${link ? ` (its ${link.clients.length} slices in the shard processes' ${store.kind === 'file' ? 'directories' : `object store ${store.bucket}`})` : ''}`);
  }
  if (flags.metricsOut) {
    const json = {
      sources,
      data: { nFeatures, nLabels, trainPoints: train.n, testPoints: test?.n ?? 0 },
      kernels: model.kernelsName,
      trainSeconds: trainSec,
      epochs,
      final: final ?? null,
      baselineP1: baseline?.p1 ?? null,
      config: cfg,
      remote: link ? { shards: link.clients.length, ...link.stats, ...link.traffic() } : null,
    };
    writeFileAtomic(flags.metricsOut, JSON.stringify(json, null, 2) + '\n');
    log(`metrics written to ${flags.metricsOut}`);
  }
  return { model, final };
}

/**
 * "trained 3 epochs", or with a partial epoch "trained 0.1 epochs (200 of 2000 points)" /
 * "trained 2.5 epochs (2 full, then 1000 of 2000 points)": fractional --epochs stop the last
 * epoch early, and the model counts it as one.
 */
export function describeEpochs(epochs: readonly EpochSummary[], n: number): string {
  const rows = epochs.map((e) => e.points);
  const last = rows[rows.length - 1] ?? 0;
  if (rows.every((r) => r >= n)) return `${epochs.length} epoch${epochs.length === 1 ? '' : 's'}`;
  const total = rows.reduce((a, r) => a + Math.min(r, n), 0) / n;
  const shown = Number(total.toPrecision(3)).toString();
  const whole = rows.length - 1;
  return `${shown} epochs (${whole > 0 ? `${whole} full, then ` : ''}${last} of ${n} points)`;
}

/**
 * A dense output layer has no hash tables, so LSH inference is exact inference under another
 * name. Evaluating "both" would run exact inference twice and print an "LSH" line that means
 * nothing: a dense run evaluates exactly. Asking for LSH inference explicitly is refused, since
 * the answer would not be what was asked for.
 */
function inferenceForOutput(cfg: Config): Config {
  if (cfg.output.mode !== 'dense' || cfg.inference === 'exact') return cfg;
  if (cfg.inference === 'lsh') throw new ConfigError('--inference lsh: the output layer is dense (output.mode "dense"), so there are no LSH tables to query; use --inference exact');
  return { ...cfg, inference: 'exact' };
}

export async function runEval(flags: { model: string; test: string; inference: 'lsh' | 'exact' | 'both'; metricsOut?: string; threads?: string; maxMemory?: string; candidates?: string }): Promise<void> {
  checkInputFile(flags.model, '--model');
  checkInputFile(flags.test, '--test');
  if (flags.metricsOut) checkOutputFile(flags.metricsOut, '--metrics-out');
  checkDistinct([['--metrics-out', flags.metricsOut]], [['--model', flags.model], ['--test', flags.test]]);
  const { model } = await loadModel(flags.model, { threads: threadsFlag(flags.threads), maxMemoryBytes: maxMemoryFlag(flags.maxMemory), queryCandidates: candidatesFlag(flags.candidates) });
  let inference = flags.inference;
  if (!model.network.output.sampled && inference !== 'exact') {
    // see inferenceForOutput: the explicit request is refused, the default ("both") becomes exact
    if (inference === 'lsh') throw new ConfigError(`--inference lsh: ${flags.model} has a dense output layer (no LSH tables); use --inference exact`);
    log(`note: ${flags.model} has a dense output layer (no LSH tables): exact inference only`);
    inference = 'exact';
  }
  const test = await readXcFile(flags.test);
  const r = await model.evaluate(test, { inference });
  const out: string[] = [];
  if (r.exact) out.push(`exact inference: P@1 ${r.exact.p1.toFixed(4)}  P@3 ${r.exact.p3.toFixed(4)}  P@5 ${r.exact.p5.toFixed(4)}  nDCG@5 ${r.exact.ndcg5.toFixed(4)}  (${r.exact.seconds.toFixed(1)} s)`);
  if (r.lsh) out.push(`LSH inference:   P@1 ${r.lsh.p1.toFixed(4)}  P@3 ${r.lsh.p3.toFixed(4)}  P@5 ${r.lsh.p5.toFixed(4)}  nDCG@5 ${r.lsh.ndcg5.toFixed(4)}  (${r.lsh.seconds.toFixed(1)} s, ${r.lsh.avgCandidates.toFixed(0)} candidates/point)`);
  if (r.lshRecallOfExactTop5 !== undefined) out.push(`LSH inference retrieved ${(100 * r.lshRecallOfExactTop5).toFixed(1)}% of exact inference's top-5`);
  process.stdout.write(out.join('\n') + '\n');
  if (flags.metricsOut) writeFileAtomic(flags.metricsOut, JSON.stringify({ model: flags.model, test: flags.test, ...r }, null, 2) + '\n');
}

/**
 * Settings of the main job that the data does not decide: progress evaluations after every epoch
 * on 2,000 test points. The rest is what deriveConfig gives for WordNet's shape: the WordNet
 * recipe (src/training/recipes.ts; tested), on every core.
 */
export const DEMO_GIVEN = { evalEvery: 1, evalSample: 2000 };

type DemoFlags = ConfigFlags & CheckpointFlags & { dataDir: string; metricsOut?: string; quiet?: boolean; kernels?: KernelChoice };

export async function runDemo(flags: DemoFlags): Promise<void> {
  const dir = flags.dataDir;
  const trainPath = join(dir, 'train.txt');
  const testPath = join(dir, 'test.txt');
  const build = !existsSync(trainPath) || !existsSync(testPath);
  // the data directory is an output when the set is built, an input otherwise
  if (build) checkOutputDir(dir, '--data-dir', [...WORDNET_FILES, STAGING_NAME]);
  checkRunPaths(flags, build ? [] : [['--data-dir train.txt', trainPath], ['--data-dir test.txt', testPath]]);
  if (build) checkDistinct([['--save', flags.save], ['--metrics-out', flags.metricsOut]], WORDNET_FILES.map((f) => ['--data-dir ' + f, join(dir, f)]));
  const given = givenConfig(flags, DEMO_GIVEN);
  if (build) {
    log(`building the WordNet data set into ${dir} (once) ...`);
    const t0 = performance.now();
    const ds = await buildWordnetDataset();
    await writeWordnetSet(dir, ds);
    log(`  ${ds.train.n} train / ${ds.test.n} test points, ${ds.train.nFeatures} features, ${ds.train.nLabels} labels (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
  }
  const train = await readXcFile(trainPath);
  const test = await readXcFile(testPath);
  const cfg = inferenceForOutput(deriveConfig(dataShapeOf(train, test), given, currentMachine({ limitBytes: maxMemoryFlag(flags.maxMemory) })).config);
  // the vocabularies go into a --save checkpoint, so that predict / serve accept text
  const extra = flags.save && existsSync(join(dir, 'features.txt')) ? await readVocabDir(dir) : {};
  await trainAndReport(cfg, train, test, flags, { train: trainPath, test: testPath }, extra);
}
