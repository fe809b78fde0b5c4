/**
 * Model checkpoints: a SlideModel to a safetensors file and back, exactly.
 *
 * Tensors (all little-endian; shapes row-major as in memory):
 *   input.W   F32 (nFeatures, h0)  feature-major     input.b  F32 (h0)
 *   fc.<l>.W  F32 (nOut, nIn)      neuron-major      fc.<l>.b F32 (nOut)      l = 0 .. last (last = output)
 *   <block>.M, <block>.V (like W), <block>.Mb, <block>.Vb (like b)     Adam moments (absent with SGD)
 *   fc.<l>.tables.{meta, stagedIds, keys, offsets, entries}  I32      every sampled layer's LshTables
 *             arrays as they are (see lshTables.ts), so LSH inference after loading reads the
 *             very same buckets without re-hashing, and a resumed run commits with the same epochs
 *   vocab.idf F32 (features in the vocabulary)                        optional
 * Gradient buffers (G, gb) and touched-row marks are not stored: they are zero between batches,
 * which is the only time a model is saved (saveModel is synchronous from first to last byte).
 *
 * __metadata__ (string -> string, as the format requires):
 *   "format":               "sublinear"
 *   "sublinear":            JSON of CheckpointMeta: version, configuration, dimensions, step,
 *                           epochsDone, epochCursor, schedule, tablesStep, generator states, sampler seeds,
 *                           sha256 of the data section
 *   "sublinear.featureNames", "sublinear.labelNames":  JSON arrays of strings (optional)
 *   "sublinear.sha256":     sha256 of the three strings above (joined by "\n"), so a damaged
 *                           header that still parses is refused too
 *
 * Loading checks, in this order and before anything is returned: the file is safetensors, it is
 * ours, it is complete (its size is known from the header), the header checksum, the tensors are
 * exactly those the saved configuration builds, then reads the data into a fresh model while
 * hashing it and compares the data checksum. A failed check throws a CheckpointError and the
 * half-filled model is dropped: a caller never sees a partly loaded model.
 */
import { createHash } from 'node:crypto';
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { SlideModel, type EpochCursor } from '../training/model.js';
import type { Network, LayerShard } from '../network/network.js';
import { parseConfig, type Config } from '../config.js';
import type { KernelChoice } from '../kernels/index.js';
import { openAtomic } from '../util/atomicWrite.js';
import { bytesOf, chunksOf, encodeHeader, parseHeader, SafetensorsError, type TensorData, type TensorEntry } from './safetensors.js';

export const CHECKPOINT_FORMAT = 'sublinear';
export const CHECKPOINT_VERSION = 1;

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
  /** Rng.getState() words of model.rng and of model.scratch.rng (the padding generator) */
  rng: number[];
  scratchRng: number[];
  /** per shard of every fc layer, in order (null when dense): hash family seed, table reservoir seed, bucket bits */
  samplers: ({ familySeed: number; tablesSeed: number; rangePow: number } | null)[];
  /** lengths of the optional vocabularies (0 = absent) */
  vocabulary: { features: number; labels: number; idf: number };
  /** hex sha256 of the data section */
  dataSha256: string;
  savedAt: string;
}

const TABLE_ARRAYS = ['meta', 'stagedIds', 'keys', 'offsets', 'entries'] as const;

/**
 * Every shard of every fc layer with its tensor-name prefix: `fc.<layer>` for an unsplit layer,
 * `fc.<layer>.shard<s>` for the shards of a split output layer.
 */
export function namedShards(net: Network): { name: string; shard: LayerShard }[] {
  return net.fc.flatMap((l, i) => l.shards.map((shard, s) => ({ name: l.shards.length === 1 ? `fc.${i}` : `fc.${i}.shard${s}`, shard })));
}

/** The tensors of a model (names, dtypes, shapes, views of its arrays), in file order. */
function modelTensors(model: SlideModel, idf?: Float32Array): TensorEntry[] {
  const out: TensorEntry[] = [];
  const net = model.network;
  const shards = namedShards(net);
  const blocks = [{ name: 'input', p: net.input }, ...shards.map(({ name, shard }) => ({ name, p: shard.p }))];
  for (const { name, p } of blocks) {
    out.push({ name: `${name}.W`, dtype: 'F32', shape: [p.rows, p.cols], data: p.W });
    out.push({ name: `${name}.b`, dtype: 'F32', shape: [p.nOut], data: p.b });
    if (p.M && p.V && p.Mb && p.Vb) {
      out.push({ name: `${name}.M`, dtype: 'F32', shape: [p.rows, p.cols], data: p.M });
      out.push({ name: `${name}.V`, dtype: 'F32', shape: [p.rows, p.cols], data: p.V });
      out.push({ name: `${name}.Mb`, dtype: 'F32', shape: [p.nOut], data: p.Mb });
      out.push({ name: `${name}.Vb`, dtype: 'F32', shape: [p.nOut], data: p.Vb });
    }
  }
  shards.forEach(({ name, shard }) => {
    const t = shard.sampler?.tables;
    if (!t) return;
    const shapes: Record<(typeof TABLE_ARRAYS)[number], number[]> = {
      meta: [t.meta.length],
      stagedIds: [t.stagingCapacity],
      keys: [t.L, t.stagingCapacity],
      offsets: [t.L, t.numBuckets + 1],
      entries: [t.L, t.entCap],
    };
    for (const a of TABLE_ARRAYS) out.push({ name: `${name}.tables.${a}`, dtype: 'I32', shape: shapes[a], data: t[a] });
  });
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
    scratchRng: Array.from(model.scratch.rng.getState()),
    samplers: namedShards(model.network).map(({ shard: { sampler: s } }) => (s ? { familySeed: s.familySeed, tablesSeed: s.tables.seed, rangePow: s.rangePow } : null)),
    vocabulary: { features: extra.featureNames?.length ?? 0, labels: extra.labelNames?.length ?? 0, idf: extra.idf?.length ?? 0 },
    dataSha256: hash.digest('hex'),
    savedAt: new Date().toISOString(),
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
  if (!isU32Array(m.scratchRng, 7)) bad('scratchRng');
  if (!Array.isArray(m.samplers)) bad('samplers');
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
 * would have (same data, one thread). Throws CheckpointError for foreign, truncated or corrupted
 * files, before returning anything.
 */
export async function loadModel(path: string, opts: { kernels?: KernelChoice } = {}): Promise<LoadedModel> {
  const fd = openCheckpoint(path);
  try {
    const { h, meta, featureJson, labelJson } = readHeaderChecked(fd, path);
    let config: Config;
    try {
      config = parseConfig(meta.config, `checkpoint ${path}: config`);
    } catch (e) {
      throw new CheckpointError((e as Error).message);
    }
    const model = new SlideModel({ nFeatures: meta.nFeatures, nLabels: meta.nLabels, config, kernels: opts.kernels ?? 'auto' });
    const v = meta.vocabulary;
    const idf = v.idf > 0 ? new Float32Array(v.idf) : undefined;
    const expected = modelTensors(model, idf);
    // the tensors must be exactly those this configuration builds, in any order
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
    const shards = namedShards(model.network);
    if (meta.samplers.length !== shards.length) throw new CheckpointError(`checkpoint ${path}: ${meta.samplers.length} sampler entries for ${shards.length} layer shards`);
    // read in file order (sequential I/O), straight into the model's arrays, hashing as we go
    const targets = new Map<string, TensorData>(expected.map((t) => [t.name, t.data]));
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
    // state outside the arrays
    model.step = meta.step;
    model.epochsDone = meta.epochsDone;
    model.epochCursor = meta.epochCursor ? { ...meta.epochCursor, rngState: Uint32Array.from(meta.epochCursor.rngState) } : null;
    model.schedule.count = meta.schedule.count;
    model.schedule.nextAt = meta.schedule.nextAt;
    model.tablesStep = meta.tablesStep;
    model.rng.setState(Uint32Array.from(meta.rng));
    model.scratch.rng.setState(Uint32Array.from(meta.scratchRng));
    shards.forEach(({ name, shard: { sampler } }, i) => {
      const s = meta.samplers[i];
      if (!sampler) {
        if (s) throw new CheckpointError(`checkpoint ${path}: layer ${name} is dense in the configuration but has a saved sampler`);
        return;
      }
      if (!s || !isCount(s.familySeed) || s.familySeed > 0xffffffff) throw new CheckpointError(`checkpoint ${path}: layer ${name}: missing or invalid sampler seed`);
      if (s.tablesSeed !== sampler.tables.seed || s.rangePow !== sampler.rangePow) {
        throw new CheckpointError(
          `checkpoint ${path}: layer ${name}: its tables were built with seed ${s.tablesSeed} and ${s.rangePow} bucket bits, this version builds seed ${sampler.tables.seed} and ${sampler.rangePow} from the same configuration (written by an incompatible version)`,
        );
      }
      sampler.setFamilySeed(s.familySeed);
    });
    const out: LoadedModel = { model };
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
