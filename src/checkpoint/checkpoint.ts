/**
 * Model checkpoints: a SlideModel to a safetensors file and back, exactly.
 *
 * Tensors: the model's state dict, i.e. every view its layout declares persistent
 * (memory/layout.ts), under the view's name, shape and type as declared:
 *   input.{W, b, M, V, Mb, Vb}                 the feature-major input layer and its Adam moments
 *   fc.<l>.{W, b, M, V, Mb, Vb}                layer l (fc.<l>.shard<s>.* for the shards of a split output)
 *   fc.<l>.sampler.{seeds, mean}               a sampled layer's hash and reservoir seeds, its centre
 *   fc.<l>.tables.{keys, offsets, entries, epochs}  its tables, so that LSH inference after loading
 *                                              reads the very same buckets without re-hashing
 *   vocab.idf F32 (features in the vocabulary)  optional
 * Gradients, touched-row marks and the run's scratch are not stored: they are zero between
 * batches, which is the only time a model is saved (saveModel is synchronous from first to last
 * byte).
 *
 * __metadata__ (string -> string, as the format requires):
 *   "format":               "sublinear"
 *   "sublinear":            JSON of CheckpointMeta: version, configuration, dimensions, step,
 *                           epochsDone, epochCursor, schedule, tablesStep, the model's generator
 *                           state, sha256 of the data section
 *   "sublinear.featureNames", "sublinear.labelNames":  JSON arrays of strings (optional)
 *   (a model whose output layer is in shard processes: only memory 0's tensors, and the metadata's
 *   "remote" is the manifest of the slices the shard processes wrote at the same batch: slices.ts)
 *   "sublinear.sha256":     sha256 of the three strings above (joined by "\n"), so a damaged
 *                           header that still parses is refused too
 *
 * Loading checks, in this order and before anything is built: the file is safetensors, it is
 * ours, it is complete (its size is known from the header), the header checksum, the tensors are
 * exactly those the saved configuration declares (names, types, shapes); then it builds the
 * model, reads the data into its views while hashing it and compares the data checksum. A failed
 * check throws a CheckpointError and the half-filled model is dropped: a caller never sees a
 * partly loaded model.
 */
import { createHash } from 'node:crypto';
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { SlideModel, type EpochCursor } from '../training/model.js';
import { planModel } from '../network/network.js';
import { checkModelMemory } from '../network/estimate.js';
import { parseConfig, type Config } from '../config.js';
import { ConfigError } from '../util/errors.js';
import type { KernelChoice } from '../kernels/index.js';
import { openAtomic } from '../util/atomicWrite.js';
import { bytesOf, chunksOf, encodeHeader, parseHeader, SafetensorsError, type SafeDtype, type TensorData, type TensorEntry } from './safetensors.js';
import { checkManifest, SAFE_DTYPE, stateTensors, type Manifest } from './slices.js';

export const CHECKPOINT_FORMAT = 'sublinear';
export const CHECKPOINT_VERSION = 2;

/** A checkpoint that cannot be read: foreign, truncated, corrupted or from another version. */
export class CheckpointError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CheckpointError';
  }
}

/** Vocabularies saved beside a model (the WordNet demo's), used by `predict` and `serve` for text. */
export interface CheckpointExtra {
  /** token of feature i */
  featureNames?: string[];
  /** name of label i */
  labelNames?: string[];
  /** idf of feature i (text featurization) */
  idf?: Float32Array;
  /** the output layer's slices written by shard processes at the same batch (a model with remoteOutput) */
  manifest?: Manifest;
}

export interface LoadedModel extends CheckpointExtra {
  model: SlideModel;
}

/** The JSON stored under __metadata__.sublinear. */
export interface CheckpointMeta {
  format: typeof CHECKPOINT_FORMAT;
  version: number;
  config: Config;
  nFeatures: number;
  nLabels: number;
  step: number;
  epochsDone: number;
  epochCursor: (Omit<EpochCursor, 'rngState'> & { rngState: number[] }) | null;
  schedule: { count: number; nextAt: number };
  /** step at which the tables were last rebuilt (refreshTables rebuilds them when it differs from step) */
  tablesStep: number;
  /** Rng.getState() words of model.rng */
  rng: number[];
  /** lengths of the optional vocabularies (0 = absent) */
  vocabulary: { features: number; labels: number; idf: number };
  /** hex sha256 of the data section */
  dataSha256: string;
  savedAt: string;
  /** the output layer is in shard processes: the manifest of its slices (absent or null: the file holds the whole model) */
  remote?: Manifest | null;
}

/** The state dict's entries a configuration declares (names, types, shapes), in file order, without building anything. */
function declaredTensors(config: Config, nFeatures: number, nLabels: number, idfLength: number, remote: boolean): { name: string; dtype: SafeDtype; shape: number[] }[] {
  const out: { name: string; dtype: SafeDtype; shape: number[] }[] = [];
  const memories = planModel(config, nFeatures, nLabels, { remoteOutput: remote }).memories;
  // a remote output layer's blocks are in its slices, not here
  for (const blocks of remote ? memories.slice(0, 1) : memories) {
    for (const b of blocks) {
      for (const v of b.views) {
        if (!v.persist) continue;
        const dtype = SAFE_DTYPE[v.dtype];
        if (!dtype) throw new Error(`checkpoint: persistent view ${v.name} has type ${v.dtype}, which checkpoints do not store`);
        out.push({ name: v.name, dtype, shape: v.shape.slice() });
      }
    }
  }
  if (idfLength > 0) out.push({ name: 'vocab.idf', dtype: 'F32', shape: [idfLength] });
  return out;
}

/** The tensors of a model: its state dict (the persistent views of every memory), in file order. */
function modelTensors(model: SlideModel, idf?: Float32Array): TensorEntry[] {
  const out: TensorEntry[] = [];
  for (const v of model.network.views) out.push(...stateTensors(v, 'checkpoint'));
  if (idf) out.push({ name: 'vocab.idf', dtype: 'F32', shape: [idf.length], data: idf });
  return out;
}

function checkExtra(model: SlideModel, extra: CheckpointExtra): void {
  const { featureNames, labelNames, idf } = extra;
  if (featureNames && featureNames.length > model.nFeatures) throw new RangeError(`saveModel: ${featureNames.length} feature names for a model of ${model.nFeatures} features`);
  if (labelNames && labelNames.length > model.nLabels) throw new RangeError(`saveModel: ${labelNames.length} label names for a model of ${model.nLabels} labels`);
  if (idf && idf.length > model.nFeatures) throw new RangeError(`saveModel: idf of ${idf.length} features for a model of ${model.nFeatures} features`);
  if (idf && featureNames && idf.length !== featureNames.length) throw new RangeError(`saveModel: idf has ${idf.length} entries, featureNames ${featureNames.length}`);
  for (const names of [featureNames, labelNames]) {
    if (names && !names.every((s) => typeof s === 'string')) throw new TypeError('saveModel: feature and label names must be strings');
  }
}

function headerChecksum(metaJson: string, featureJson: string, labelJson: string): string {
  return createHash('sha256').update(metaJson).update('\n').update(featureJson).update('\n').update(labelJson).digest('hex');
}

/**
 * Save a model (and optional vocabularies) to `path`, atomically: readers of `path` see the
 * previous file or the complete new one, never a mix, even if the process dies mid-write.
 * Tensors are streamed from their arrays (hashed in a first pass, written in a second).
 * Synchronous inside: the model must not change while it runs, and it cannot, since no other
 * JS runs on this thread meanwhile (multi-threaded training saves between batches, when the
 * workers are idle).
 */
export async function saveModel(model: SlideModel, path: string, extra: CheckpointExtra = {}): Promise<void> {
  checkExtra(model, extra);
  const remote = model.network.output.remote;
  if (remote && (!extra.manifest || extra.manifest.step !== model.step)) throw new Error('saveModel: a model whose output layer is in shard processes is saved with the manifest of the slices written at this batch');
  const tensors = modelTensors(model, extra.idf);
  const hash = createHash('sha256');
  for (const t of tensors) for (const c of chunksOf(t.data)) hash.update(c);
  const cur = model.epochCursor;
  const meta: CheckpointMeta = {
    format: CHECKPOINT_FORMAT,
    version: CHECKPOINT_VERSION,
    config: model.config,
    nFeatures: model.nFeatures,
    nLabels: model.nLabels,
    step: model.step,
    epochsDone: model.epochsDone,
    epochCursor: cur ? { ...cur, rngState: Array.from(cur.rngState) } : null,
    schedule: { count: model.schedule.count, nextAt: model.schedule.nextAt },
    tablesStep: model.tablesStep,
    rng: Array.from(model.rng.getState()),
    vocabulary: { features: extra.featureNames?.length ?? 0, labels: extra.labelNames?.length ?? 0, idf: extra.idf?.length ?? 0 },
    dataSha256: hash.digest('hex'),
    savedAt: new Date().toISOString(),
    remote: remote ? extra.manifest! : null,
  };
  const metaJson = JSON.stringify(meta);
  const featureJson = extra.featureNames ? JSON.stringify(extra.featureNames) : '';
  const labelJson = extra.labelNames ? JSON.stringify(extra.labelNames) : '';
  const metadata: Record<string, string> = { format: CHECKPOINT_FORMAT, sublinear: metaJson };
  if (extra.featureNames) metadata['sublinear.featureNames'] = featureJson;
  if (extra.labelNames) metadata['sublinear.labelNames'] = labelJson;
  metadata['sublinear.sha256'] = headerChecksum(metaJson, featureJson, labelJson);
  const { bytes } = encodeHeader(tensors, metadata);
  // openAtomic first removes temporary files that saves of dead processes left beside `path`;
  // its OS errors (no space, a directory in the way) are FileErrors naming `path`
  const w = openAtomic(path);
  try {
    w.write(bytes);
    for (const t of tensors) for (const c of chunksOf(t.data)) w.write(c);
    w.commit();
  } catch (e) {
    w.abort();
    throw e;
  }
}

function readFully(fd: number, into: Uint8Array, position: number): number {
  let got = 0;
  while (got < into.length) {
    const n = readSync(fd, into, got, into.length - got, position + got);
    if (n === 0) break;
    got += n;
  }
  return got;
}

function parseJson<T>(text: string, path: string, what: string): T {
  try {
    return JSON.parse(text) as T;
  } catch (e) {
    throw new CheckpointError(`checkpoint ${path}: ${what} is not valid JSON (${(e as Error).message}); the file is corrupted`);
  }
}

function isU32Array(x: unknown, n: number): x is number[] {
  return Array.isArray(x) && x.length === n && x.every((v) => Number.isInteger(v) && v >= 0 && v <= 0xffffffff);
}

function isCount(x: unknown): x is number {
  return typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
}

/** Shape checks of the metadata JSON (a valid checksum says it is what was written; this says it is what this version writes). */
function checkMeta(m: CheckpointMeta, path: string): void {
  const bad = (field: string): never => {
    throw new CheckpointError(`checkpoint ${path}: metadata field "${field}" is missing or invalid`);
  };
  if (!isCount(m.nFeatures) || m.nFeatures < 1) bad('nFeatures');
  if (!isCount(m.nLabels) || m.nLabels < 1) bad('nLabels');
  if (!isCount(m.step)) bad('step');
  if (!isCount(m.epochsDone)) bad('epochsDone');
  if (!isCount(m.tablesStep)) bad('tablesStep');
  if (typeof m.schedule !== 'object' || m.schedule === null || !isCount(m.schedule.count) || typeof m.schedule.nextAt !== 'number') bad('schedule');
  if (!isU32Array(m.rng, 7)) bad('rng');
  if (typeof m.dataSha256 !== 'string' || !/^[0-9a-f]{64}$/.test(m.dataSha256)) bad('dataSha256');
  if (typeof m.vocabulary !== 'object' || m.vocabulary === null) bad('vocabulary');
  const c = m.epochCursor;
  if (c !== null) {
    if (typeof c !== 'object' || !isU32Array(c.rngState, 7) || !isCount(c.position) || !isCount(c.rows)) bad('epochCursor');
    for (const k of ['lossSum', 'hits', 'activeSum', 'seconds'] as const) if (typeof c[k] !== 'number') bad(`epochCursor.${k}`);
  }
}

/**
 * Read only the metadata of a checkpoint (dimensions, configuration, progress) without building
 * the model or reading the tensors. Checks the format and the header checksum.
 */
export function readCheckpointMeta(path: string): CheckpointMeta {
  const fd = openCheckpoint(path);
  try {
    return readHeaderChecked(fd, path).meta;
  } finally {
    closeSync(fd);
  }
}

function openCheckpoint(path: string): number {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    throw new CheckpointError(`cannot open checkpoint ${path}: ${(e as Error).message}`);
  }
  // a directory opens for reading on Linux and only fails at the first read (EISDIR)
  if (!fstatSync(fd).isFile()) {
    closeSync(fd);
    throw new CheckpointError(`cannot open checkpoint ${path}: not a regular file (a directory or a device); give the file written by --save`);
  }
  return fd;
}

function readHeaderChecked(fd: number, path: string) {
  const size = fstatSync(fd).size;
  const prefix = new Uint8Array(8);
  readFully(fd, prefix, 0);
  let h;
  try {
    h = parseHeader(prefix, size, (n) => {
      const b = new Uint8Array(n);
      return b.subarray(0, readFully(fd, b, 8));
    });
  } catch (e) {
    if (!(e instanceof SafetensorsError)) throw e;
    if (e.kind === 'not-safetensors') throw new CheckpointError(`${path} is not a sublinear checkpoint (${e.message})`);
    if (e.kind === 'truncated') throw new CheckpointError(`checkpoint ${path} is ${e.message.replace(/^truncated: /, 'truncated: ')}`);
    throw new CheckpointError(`checkpoint ${path} is damaged: ${e.message}`);
  }
  const md = h.metadata;
  if (md.format !== CHECKPOINT_FORMAT || typeof md.sublinear !== 'string') {
    const keys = Object.keys(md);
    throw new CheckpointError(
      `${path} is not a sublinear checkpoint: a safetensors file without sublinear metadata (__metadata__ keys: ${keys.length ? keys.join(', ') : 'none'}; ${h.tensors.length} tensors)`,
    );
  }
  const featureJson = md['sublinear.featureNames'] ?? '';
  const labelJson = md['sublinear.labelNames'] ?? '';
  if (md['sublinear.sha256'] !== headerChecksum(md.sublinear, featureJson, labelJson)) {
    throw new CheckpointError(`checkpoint ${path}: checksum mismatch in the header metadata (the file is corrupted)`);
  }
  const meta = parseJson<CheckpointMeta>(md.sublinear, path, 'the metadata');
  if (meta.format !== CHECKPOINT_FORMAT) throw new CheckpointError(`${path} is not a sublinear checkpoint (metadata format ${JSON.stringify(meta.format)})`);
  if (meta.version !== CHECKPOINT_VERSION) {
    throw new CheckpointError(`checkpoint ${path} has format version ${JSON.stringify(meta.version)}; this sublinear reads version ${CHECKPOINT_VERSION}`);
  }
  checkMeta(meta, path);
  return { h, meta, featureJson, labelJson };
}

/**
 * Load a checkpoint written by saveModel: builds a SlideModel from the saved configuration and
 * dimensions, overwrites every saved array, restores the generators, hash seeds, step, epoch
 * cursor and rebuild schedule. Training continued from it proceeds exactly as the saved run
 * would have (same data, any number of threads). Throws CheckpointError for foreign, truncated or corrupted
 * files, before returning anything.
 * `queryCandidates`: the candidates LSH inference scores a query (activeSet.queryMaxActive) instead
 * of the saved ones; a choice of the loader like the threads, which changes no tensor and no
 * trained weight, only the recall and the time of a query.
 */
export async function loadModel(path: string, opts: { kernels?: KernelChoice; threads?: number; maxMemoryBytes?: number; queryCandidates?: number } = {}): Promise<LoadedModel> {
  const fd = openCheckpoint(path);
  try {
    const { h, meta, featureJson, labelJson } = readHeaderChecked(fd, path);
    let config: Config;
    try {
      config = parseConfig(meta.config, `checkpoint ${path}: config`);
    } catch (e) {
      throw new CheckpointError((e as Error).message);
    }
    const v = meta.vocabulary;
    // the tensors must be exactly those this configuration declares, in any order: checked
    // before the model is built (a file that claims a huge model is refused without allocating it)
    let expected: ReturnType<typeof declaredTensors>;
    try {
      expected = declaredTensors(config, meta.nFeatures, meta.nLabels, v.idf, meta.remote != null);
    } catch (e) {
      throw new CheckpointError(`checkpoint ${path}: ${(e as Error).message}`);
    }
    // first the sizes: a file whose metadata describes another model than its tensors hold (say,
    // 2 x 10^8 labels over a few KB) is refused with what it claims and what it holds
    const declaredBytes = expected.reduce((a, t) => a + 4 * t.shape.reduce((p, d) => p * d, 1), 0);
    if (declaredBytes !== h.dataBytes) {
      throw new CheckpointError(
        `checkpoint ${path}: its metadata describes a model of ${meta.nFeatures} features and ${meta.nLabels} labels, whose tensors take ${declaredBytes} bytes; the file holds ${h.dataBytes} bytes of tensors (the file is not what its metadata says)`,
      );
    }
    const byName = new Map(expected.map((t) => [t.name, t]));
    for (const t of h.tensors) {
      const e = byName.get(t.name);
      if (!e) throw new CheckpointError(`checkpoint ${path}: unexpected tensor ${JSON.stringify(t.name)} for the saved configuration`);
      if (e.dtype !== t.dtype || e.shape.length !== t.shape.length || e.shape.some((d, i) => d !== t.shape[i])) {
        throw new CheckpointError(`checkpoint ${path}: tensor ${t.name} is ${t.dtype} [${t.shape.join(', ')}]; the saved configuration builds ${e.dtype} [${e.shape.join(', ')}]`);
      }
      byName.delete(t.name);
    }
    if (byName.size > 0) throw new CheckpointError(`checkpoint ${path}: missing tensors ${[...byName.keys()].join(', ')}`);
    // the threads to run on are the loader's choice, not the saved run's (they change no result)
    if (opts.threads !== undefined) config = { ...config, threads: opts.threads };
    if (opts.queryCandidates !== undefined) {
      if (config.output.mode !== 'lsh') throw new ConfigError(`the model of ${path} has a dense output layer: every label is scored, there are no candidates to choose`);
      // a shard process builds its slice from the saved configuration
      if (meta.remote != null) throw new ConfigError(`the model of ${path} has its output layer in shard processes: its query candidates are those it was trained with`);
      config = { ...config, output: { ...config.output, activeSet: { ...config.output.activeSet, queryMaxActive: opts.queryCandidates } } };
    }
    const manifest = meta.remote != null ? checkManifest(meta.remote, path) : undefined;
    if (manifest && manifest.shards !== config.outputShards) throw new CheckpointError(`checkpoint ${path}: the manifest lists ${manifest.shards} slices, the configuration ${config.outputShards}`);
    const remoteOutput = manifest !== undefined;
    checkModelMemory(config, meta.nFeatures, meta.nLabels, { threads: 1, slots: config.batchSize, maxNnz: 1024, maxLabels: 64, topK: 100 }, opts.maxMemoryBytes, `the model of ${path}`, remoteOutput);
    const model = new SlideModel({ nFeatures: meta.nFeatures, nLabels: meta.nLabels, config, kernels: opts.kernels ?? 'auto', buildTables: false, maxMemoryBytes: opts.maxMemoryBytes, remoteOutput });
    const idf = v.idf > 0 ? new Float32Array(v.idf) : undefined;
    // read in file order (sequential I/O), straight into the model's views, hashing as we go
    const targets = new Map<string, TensorData>(modelTensors(model, idf).map((t) => [t.name, t.data]));
    const hash = createHash('sha256');
    for (const t of h.tensors) {
      const dst = bytesOf(targets.get(t.name)!);
      const chunk = 1 << 26;
      for (let o = 0; o < dst.length; o += chunk) {
        const part = dst.subarray(o, Math.min(dst.length, o + chunk));
        const got = readFully(fd, part, h.dataStart + t.begin + o);
        if (got !== part.length) {
          const size = fstatSync(fd).size;
          throw new CheckpointError(`checkpoint ${path} is truncated: expected ${h.fileBytes} bytes, found ${size}`);
        }
        hash.update(part);
      }
    }
    const digest = hash.digest('hex');
    if (digest !== meta.dataSha256) {
      throw new CheckpointError(`checkpoint ${path}: checksum mismatch: the data section hashes to sha256 ${digest.slice(0, 16)}..., the header records ${meta.dataSha256.slice(0, 16)}... (the file is corrupted)`);
    }
    // state outside the views
    model.step = meta.step;
    model.epochsDone = meta.epochsDone;
    model.epochCursor = meta.epochCursor ? { ...meta.epochCursor, rngState: Uint32Array.from(meta.epochCursor.rngState) } : null;
    model.schedule.count = meta.schedule.count;
    model.schedule.nextAt = meta.schedule.nextAt;
    model.tablesStep = meta.tablesStep;
    model.rng.setState(Uint32Array.from(meta.rng));
    // the hash functions follow the loaded seeds; the tables were loaded as they were
    for (const u of model.network.sampledUnits()) u.sampler.restoredSeeds();
    const out: LoadedModel = { model };
    if (manifest) out.manifest = manifest;
    if (featureJson) out.featureNames = parseNames(featureJson, v.features, path, 'featureNames');
    if (labelJson) out.labelNames = parseNames(labelJson, v.labels, path, 'labelNames');
    if (idf) out.idf = idf;
    return out;
  } finally {
    closeSync(fd);
  }
}

function parseNames(json: string, n: number, path: string, what: string): string[] {
  const a = parseJson<unknown>(json, path, what);
  if (!Array.isArray(a) || a.length !== n || !a.every((s) => typeof s === 'string')) {
    throw new CheckpointError(`checkpoint ${path}: ${what} must be ${n} strings`);
  }
  return a as string[];
}
