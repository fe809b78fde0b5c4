/**
 * Checkpoints of a model whose output layer lives in shard processes (src/cluster): the trainer's
 * own checkpoint (checkpoint.ts: the input and hidden layers, the run's state) carries a manifest
 * of the slices that belong to it, and each shard process writes its slice, at the same batch, to
 * a file in its directory or to a JetStream object store.
 *
 * A slice is a safetensors file (or object) of the slice's persistent views (memory/layout.ts:
 * the same names as the in-process split's shard, `fc.<l>.shard<s>.W`, ...) with
 * __metadata__:
 *   "format":          "sublinear-slice"
 *   "sublinear.slice": JSON SliceMeta (the checkpoint it belongs to, its slice, step, the
 *                      configuration's sha256, the data section's sha256)
 * The trainer writes its own file only after every slice was written, so its manifest never names
 * a slice that is not there; a slice is written under a name of its own checkpoint
 * (`<base>.step<step>.shard<s>-of-<n>.safetensors`), so a slice of a checkpoint never overwrites
 * one of the checkpoint before. Loading a slice checks that it is the one the manifest names:
 * the same checkpoint, slice, neuron range and configuration, and the data hashing to the
 * manifest's sha256; a slice of another checkpoint (mixed slices) is refused with both named.
 */
import { createHash } from 'node:crypto';
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import type { BoundViews, DType } from '../memory/layout.js';
import type { Config } from '../config.js';
import { openAtomic } from '../util/atomicWrite.js';
import { bytesOf, chunksOf, encodeHeader, parseHeader, SafetensorsError, type SafeDtype, type TensorEntry } from './safetensors.js';
import { CheckpointError } from './checkpoint.js';

export const SLICE_FORMAT = 'sublinear-slice';
export const SLICE_VERSION = 1;

/** Where a slice is: a file in the shard process's directory, or an object of a JetStream object store. */
export type SliceLoad = { kind: 'file'; name: string; expect: SliceRecord } | { kind: 'object'; bucket: string; name: string; expect: SliceRecord };

/** What a slice file says about itself. */
export interface SliceMeta {
  format: typeof SLICE_FORMAT;
  version: number;
  /** the checkpoint the slice belongs to: `<run id>-<step>` */
  checkpoint: string;
  shard: number;
  shards: number;
  lo: number;
  n: number;
  step: number;
  configSha256: string;
  dataSha256: string;
}

/** A manifest's entry: one slice of a checkpoint. */
export interface SliceRecord {
  checkpoint: string;
  shard: number;
  shards: number;
  lo: number;
  n: number;
  step: number;
  /** file name in the shard process's directory, or object name */
  name: string;
  bytes: number;
  configSha256: string;
  dataSha256: string;
}

/** Which slices belong to a checkpoint of a model whose output layer is remote. */
export interface Manifest {
  checkpoint: string;
  step: number;
  shards: number;
  /** 'file': in each shard process's --dir; 'object': in the JetStream object store `bucket` */
  store: { kind: 'file' } | { kind: 'object'; bucket: string };
  slices: SliceRecord[];
}

/** sha256 of a configuration (the slices of one model share it). */
export function configSha256(cfg: Config): string {
  return createHash('sha256').update(JSON.stringify(cfg)).digest('hex');
}

/** The file (or object) name of slice `shard` of `shards` of the checkpoint at `step` saved as `base`. */
export function sliceName(base: string, step: number, shard: number, shards: number): string {
  return `${base}.step${step}.shard${shard}-of-${shards}.safetensors`;
}

/** The element types checkpoints store, as safetensors names them. */
export const SAFE_DTYPE: Partial<Record<DType, SafeDtype>> = { f32: 'F32', i32: 'I32' };

/** The state dict of one memory (its persistent views) as tensors; `what` names the file kind in the error. */
export function stateTensors(views: BoundViews, what: string): TensorEntry[] {
  return views.persistent().map(({ decl, data }) => {
    const dtype = SAFE_DTYPE[decl.dtype];
    if (!dtype || !(data instanceof Float32Array || data instanceof Int32Array)) throw new Error(`${what}: persistent view ${decl.name} has type ${decl.dtype}, which checkpoints do not store`);
    return { name: decl.name, dtype, shape: decl.shape.slice(), data };
  });
}

/** The bytes of a slice, in order (header, then each tensor's chunks), and its metadata. */
function sliceParts(views: BoundViews, meta: Omit<SliceMeta, 'format' | 'version' | 'dataSha256'>): { parts: Uint8Array[]; meta: SliceMeta; bytes: number } {
  const tensors = stateTensors(views, 'slice');
  const hash = createHash('sha256');
  for (const t of tensors) for (const c of chunksOf(t.data)) hash.update(c);
  const full: SliceMeta = { format: SLICE_FORMAT, version: SLICE_VERSION, ...meta, dataSha256: hash.digest('hex') };
  const { bytes: head, dataBytes } = encodeHeader(tensors, { format: SLICE_FORMAT, 'sublinear.slice': JSON.stringify(full) });
  const parts = [head];
  for (const t of tensors) for (const c of chunksOf(t.data)) parts.push(c);
  return { parts, meta: full, bytes: head.length + dataBytes };
}

function recordOf(meta: SliceMeta, name: string, bytes: number): SliceRecord {
  const { checkpoint, shard, shards, lo, n, step, configSha256: c, dataSha256 } = meta;
  return { checkpoint, shard, shards, lo, n, step, name, bytes, configSha256: c, dataSha256 };
}

/** Write a slice to `path`, atomically (a killed shard process leaves the previous file or none). */
export function writeSliceFile(path: string, name: string, views: BoundViews, meta: Omit<SliceMeta, 'format' | 'version' | 'dataSha256'>): SliceRecord {
  const { parts, meta: full, bytes } = sliceParts(views, meta);
  const w = openAtomic(path);
  try {
    for (const p of parts) w.write(p);
    w.commit();
  } catch (e) {
    w.abort();
    throw e;
  }
  return recordOf(full, name, bytes);
}

/** A slice as one byte array (for an object store). */
export function encodeSlice(name: string, views: BoundViews, meta: Omit<SliceMeta, 'format' | 'version' | 'dataSha256'>): { data: Uint8Array; record: SliceRecord } {
  const { parts, meta: full, bytes } = sliceParts(views, meta);
  const data = new Uint8Array(bytes);
  let o = 0;
  for (const p of parts) {
    data.set(p, o);
    o += p.length;
  }
  return { data, record: recordOf(full, name, bytes) };
}

/** Reads of a slice's bytes: from a file or from memory. */
interface SliceSource {
  size: number;
  read(into: Uint8Array, position: number): number;
}

/**
 * Fill `views` from a slice, checking first that it is the slice `expect` names (same
 * checkpoint, slice, range and configuration: a slice of another checkpoint is refused as mixed)
 * and, while reading, that its data hashes to the recorded sha256.
 */
function readSlice(src: SliceSource, where: string, views: BoundViews, expect: SliceRecord): SliceMeta {
  const prefix = new Uint8Array(8);
  src.read(prefix, 0);
  let h;
  try {
    h = parseHeader(prefix, src.size, (n) => {
      const b = new Uint8Array(n);
      return b.subarray(0, src.read(b, 8));
    });
  } catch (e) {
    if (e instanceof SafetensorsError) throw new CheckpointError(`slice ${where}: ${e.message}`);
    throw e;
  }
  if (h.metadata.format !== SLICE_FORMAT || typeof h.metadata['sublinear.slice'] !== 'string') throw new CheckpointError(`${where} is not a sublinear slice`);
  let meta: SliceMeta;
  try {
    meta = JSON.parse(h.metadata['sublinear.slice']) as SliceMeta;
  } catch {
    throw new CheckpointError(`slice ${where}: its metadata does not parse`);
  }
  if (meta.version !== SLICE_VERSION) throw new CheckpointError(`slice ${where} has version ${meta.version}; this sublinear reads ${SLICE_VERSION}`);
  if (meta.checkpoint !== expect.checkpoint || meta.step !== expect.step) {
    throw new CheckpointError(
      `mixed slices: ${where} belongs to checkpoint ${meta.checkpoint} (batch ${meta.step}), the manifest to ${expect.checkpoint} (batch ${expect.step}); restore the slices written with that checkpoint`,
    );
  }
  if (meta.shard !== expect.shard || meta.shards !== expect.shards || meta.lo !== expect.lo || meta.n !== expect.n) {
    throw new CheckpointError(`slice ${where} is slice ${meta.shard} of ${meta.shards} (neurons ${meta.lo}+${meta.n}); the manifest expects slice ${expect.shard} of ${expect.shards} (neurons ${expect.lo}+${expect.n})`);
  }
  if (meta.configSha256 !== expect.configSha256) throw new CheckpointError(`slice ${where} was written for another configuration than the checkpoint's`);
  const byName = new Map(stateTensors(views, 'slice').map((t) => [t.name, t]));
  for (const t of h.tensors) {
    const e = byName.get(t.name);
    if (!e || e.dtype !== t.dtype || e.shape.join() !== t.shape.join()) throw new CheckpointError(`slice ${where}: tensor ${t.name} is not one this slice declares (or not its type and shape)`);
  }
  if (h.tensors.length !== byName.size) throw new CheckpointError(`slice ${where}: ${h.tensors.length} tensors, the slice declares ${byName.size}`);
  const hash = createHash('sha256');
  for (const t of h.tensors) {
    const dst = bytesOf(byName.get(t.name)!.data);
    const got = src.read(dst, h.dataStart + t.begin);
    if (got !== dst.length) throw new CheckpointError(`slice ${where} is truncated`);
    hash.update(dst);
  }
  const digest = hash.digest('hex');
  if (digest !== meta.dataSha256 || digest !== expect.dataSha256) throw new CheckpointError(`slice ${where}: checksum mismatch (the data hashes to ${digest.slice(0, 16)}..., the manifest records ${expect.dataSha256.slice(0, 16)}...)`);
  return meta;
}

export function readSliceFile(path: string, views: BoundViews, expect: SliceRecord): SliceMeta {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    throw new CheckpointError(`cannot open slice ${path}: ${(e as Error).message}`);
  }
  try {
    const size = fstatSync(fd).size;
    return readSlice({ size, read: (into, pos) => readFully(fd, into, pos) }, path, views, expect);
  } finally {
    closeSync(fd);
  }
}

export function readSliceBytes(data: Uint8Array, where: string, views: BoundViews, expect: SliceRecord): SliceMeta {
  return readSlice(
    {
      size: data.length,
      read: (into, pos) => {
        const n = Math.max(0, Math.min(into.length, data.length - pos));
        into.set(data.subarray(pos, pos + n));
        return n;
      },
    },
    where,
    views,
    expect,
  );
}

function readFully(fd: number, into: Uint8Array, position: number): number {
  let got = 0;
  while (got < into.length) {
    const n = readSync(fd, into, got, Math.min(into.length - got, 1 << 30), position + got);
    if (n === 0) break;
    got += n;
  }
  return got;
}

/** Check a manifest read from a checkpoint's metadata (its shape: a valid checksum says the rest). */
export function checkManifest(m: unknown, path: string): Manifest {
  const bad = (what: string): never => {
    throw new CheckpointError(`checkpoint ${path}: manifest field "${what}" is missing or invalid`);
  };
  if (typeof m !== 'object' || m === null) bad('(manifest)');
  const x = m as Manifest;
  if (typeof x.checkpoint !== 'string') bad('checkpoint');
  if (!Number.isSafeInteger(x.step) || x.step < 0) bad('step');
  if (!Number.isSafeInteger(x.shards) || x.shards < 1) bad('shards');
  if (!Array.isArray(x.slices) || x.slices.length !== x.shards) bad('slices');
  x.slices.forEach((s, i) => {
    if (s.shard !== i || s.checkpoint !== x.checkpoint || s.step !== x.step || typeof s.name !== 'string' || typeof s.dataSha256 !== 'string') bad(`slices.${i}`);
  });
  if (typeof x.store !== 'object' || x.store === null || (x.store.kind !== 'file' && x.store.kind !== 'object')) bad('store');
  return x;
}
