/**
 * The safetensors container (https://github.com/huggingface/safetensors), encode and decode.
 *
 * Layout of a file:
 *   bytes 0 .. 8          N, the header length: unsigned 64-bit little-endian
 *   bytes 8 .. 8+N        header: UTF-8 JSON object, padded with spaces (0x20) so that 8+N is a
 *                         multiple of 8 (the data section then starts 8-byte aligned)
 *                         {"__metadata__": {string: string},
 *                          "<tensor name>": {"dtype": "F32", "shape": [r, c], "data_offsets": [begin, end]}, ...}
 *   bytes 8+N .. end      data section: the tensors' raw little-endian bytes; data_offsets are
 *                         relative to the section's start, tensors are contiguous and
 *                         non-overlapping and cover the section exactly (no gaps, no trailing bytes)
 *
 * This file knows nothing about models: checkpoint.ts decides what the tensors and the metadata
 * are. Writing goes through a caller-supplied sink one typed array at a time, straight from the
 * array's own bytes (no concatenation: a checkpoint may exceed 1 GB), so the sink can be an
 * atomic file writer. Reading parses and fully validates the header first, so the caller knows
 * the exact expected file size (and can refuse a truncated file) before reading any data.
 */
import { endianness } from 'node:os';

/** Element types this engine reads and writes. */
export type SafeDtype = 'F32' | 'I32' | 'U32';
export type TensorData = Float32Array | Int32Array | Uint32Array;

/** Bytes per element of every dtype the format defines (so foreign files parse far enough to be told apart). */
export const DTYPE_BYTES: Readonly<Record<string, number>> = {
  BOOL: 1, U8: 1, I8: 1, F8_E5M2: 1, F8_E4M3: 1,
  I16: 2, U16: 2, F16: 2, BF16: 2,
  I32: 4, U32: 4, F32: 4,
  I64: 8, U64: 8, F64: 8,
};

/** The reference implementation refuses headers above 100 MB; so do we. */
export const MAX_HEADER_BYTES = 100_000_000;

/** A tensor to write: its name, element type, shape (row-major) and data (length = product of shape). */
export interface TensorEntry {
  name: string;
  dtype: SafeDtype;
  shape: number[];
  data: TensorData;
}

/** A tensor as described by a header: byte range [begin, end) of the data section. */
export interface TensorInfo {
  name: string;
  dtype: string;
  shape: number[];
  begin: number;
  end: number;
}

export interface SafetensorsHeader {
  metadata: Record<string, string>;
  /** in data order (ascending begin) */
  tensors: TensorInfo[];
  /** 8 + N: where the data section starts */
  dataStart: number;
  /** length of the data section */
  dataBytes: number;
  /** dataStart + dataBytes: the exact size of a complete file */
  fileBytes: number;
}

/** A malformed or foreign file; `kind` lets callers word their own message. */
export class SafetensorsError extends Error {
  constructor(
    message: string,
    readonly kind: 'not-safetensors' | 'truncated' | 'invalid',
  ) {
    super(message);
    this.name = 'SafetensorsError';
  }
}

function dtypeOf(a: TensorData): SafeDtype {
  if (a instanceof Float32Array) return 'F32';
  if (a instanceof Int32Array) return 'I32';
  return 'U32';
}

function product(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** The bytes of a typed array, as a view (no copy). Throws on a big-endian host. */
export function bytesOf(a: TensorData): Uint8Array {
  if (endianness() !== 'LE') throw new Error('safetensors: this host is big-endian; the format stores little-endian data');
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/**
 * The 8-byte length prefix and the padded JSON header for these tensors (in this order in the
 * data section) and metadata. Checks names, dtypes and shapes against the data.
 */
export function encodeHeader(tensors: readonly TensorEntry[], metadata: Record<string, string>): { bytes: Uint8Array; infos: TensorInfo[]; dataBytes: number } {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') throw new TypeError(`safetensors: metadata value of ${JSON.stringify(k)} must be a string, found ${typeof v}`);
    }
    header.__metadata__ = metadata;
  }
  const infos: TensorInfo[] = [];
  let off = 0;
  for (const t of tensors) {
    if (t.name === '__metadata__' || t.name.length === 0) throw new RangeError(`safetensors: invalid tensor name ${JSON.stringify(t.name)}`);
    if (Object.prototype.hasOwnProperty.call(header, t.name)) throw new RangeError(`safetensors: duplicate tensor name ${JSON.stringify(t.name)}`);
    for (const d of t.shape) if (!Number.isSafeInteger(d) || d < 0) throw new RangeError(`safetensors: tensor ${t.name}: bad shape [${t.shape.join(', ')}]`);
    const n = product(t.shape);
    if (n !== t.data.length) throw new RangeError(`safetensors: tensor ${t.name}: shape [${t.shape.join(', ')}] holds ${n} elements, the data has ${t.data.length}`);
    if (dtypeOf(t.data) !== t.dtype) throw new RangeError(`safetensors: tensor ${t.name}: dtype ${t.dtype} but the data is a ${t.data.constructor.name}`);
    const begin = off;
    off += t.data.byteLength;
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [begin, off] };
    infos.push({ name: t.name, dtype: t.dtype, shape: t.shape.slice(), begin, end: off });
  }
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const padded = Math.ceil((8 + json.length) / 8) * 8 - 8;
  if (padded > MAX_HEADER_BYTES) throw new RangeError(`safetensors: header of ${padded} bytes exceeds the format's ${MAX_HEADER_BYTES}`);
  const bytes = new Uint8Array(8 + padded);
  new DataView(bytes.buffer).setBigUint64(0, BigInt(padded), true);
  bytes.set(json, 8);
  bytes.fill(0x20, 8 + json.length);
  return { bytes, infos, dataBytes: off };
}

/** Views of at most maxChunk bytes over a tensor's data, in order (writes above 2 GB must be split). */
export function* chunksOf(a: TensorData, maxChunk = 1 << 26): Generator<Uint8Array> {
  const all = bytesOf(a);
  for (let o = 0; o < all.length; o += maxChunk) yield all.subarray(o, Math.min(all.length, o + maxChunk));
}

/** Write a whole file to a sink: header, then every tensor's bytes straight from its array. */
export function writeSafetensors(sink: { write(chunk: Uint8Array): void }, tensors: readonly TensorEntry[], metadata: Record<string, string>): void {
  const { bytes } = encodeHeader(tensors, metadata);
  sink.write(bytes);
  for (const t of tensors) for (const c of chunksOf(t.data)) sink.write(c);
}

/** Encode to one buffer (small files and tests; large files go through writeSafetensors). */
export function encodeSafetensors(tensors: readonly TensorEntry[], metadata: Record<string, string> = {}): Uint8Array {
  const parts: Uint8Array[] = [];
  writeSafetensors({ write: (c) => parts.push(c.slice()) }, tensors, metadata);
  return Buffer.concat(parts);
}

/**
 * Parse and validate a header. `prefix` holds at least the file's first 8 bytes (more is
 * fine); `readHeader(n)` returns the n header bytes that follow them; `fileBytes` is the file's
 * size. Errors: kind 'not-safetensors' when the file cannot be one (too short, absurd length,
 * not a JSON object), 'truncated' when it ends early, 'invalid' for a broken header.
 */
export function parseHeader(prefix: Uint8Array, fileBytes: number, readHeader: (n: number) => Uint8Array): SafetensorsHeader {
  if (fileBytes < 8 || prefix.length < 8) throw new SafetensorsError(`not a safetensors file: ${fileBytes} bytes, shorter than the 8-byte header length`, 'not-safetensors');
  const n64 = new DataView(prefix.buffer, prefix.byteOffset, 8).getBigUint64(0, true);
  if (n64 < 2n || n64 > BigInt(MAX_HEADER_BYTES)) {
    throw new SafetensorsError(`not a safetensors file: its first 8 bytes give a header length of ${n64} (must be 2 .. ${MAX_HEADER_BYTES})`, 'not-safetensors');
  }
  const n = Number(n64);
  if (8 + n > fileBytes) throw new SafetensorsError(`truncated: the header alone needs ${8 + n} bytes, found ${fileBytes}`, 'truncated');
  const raw = readHeader(n);
  if (raw.length !== n) throw new SafetensorsError(`truncated: read ${raw.length} of ${n} header bytes`, 'truncated');
  if (raw[0] !== 0x7b) throw new SafetensorsError('not a safetensors file: the header does not start with "{"', 'not-safetensors');
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(raw));
  } catch (e) {
    throw new SafetensorsError(`invalid header: not UTF-8 JSON (${(e as Error).message})`, 'invalid');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new SafetensorsError('invalid header: not a JSON object', 'invalid');
  const dataStart = 8 + n;
  let metadata: Record<string, string> = {};
  const tensors: TensorInfo[] = [];
  for (const [name, v] of Object.entries(parsed as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new SafetensorsError('invalid header: "__metadata__" must be an object of strings', 'invalid');
      for (const [k, s] of Object.entries(v)) {
        if (typeof s !== 'string') throw new SafetensorsError(`invalid header: "__metadata__.${k}" must be a string`, 'invalid');
      }
      metadata = v as Record<string, string>;
      continue;
    }
    const bad = (what: string): never => {
      throw new SafetensorsError(`invalid header: tensor ${JSON.stringify(name)}: ${what}`, 'invalid');
    };
    if (typeof v !== 'object' || v === null || Array.isArray(v)) bad('not an object');
    const t = v as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (typeof t.dtype !== 'string' || DTYPE_BYTES[t.dtype] === undefined) bad(`unknown dtype ${JSON.stringify(t.dtype)}`);
    if (!Array.isArray(t.shape) || !t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) bad('"shape" must be an array of non-negative integers');
    const off = t.data_offsets;
    if (!Array.isArray(off) || off.length !== 2 || !off.every((d) => Number.isSafeInteger(d) && d >= 0) || off[0] > off[1]) {
      bad('"data_offsets" must be [begin, end] with 0 <= begin <= end');
    }
    const shape = t.shape as number[];
    const [begin, end] = off as [number, number];
    const want = product(shape) * DTYPE_BYTES[t.dtype as string]!;
    if (end - begin !== want) bad(`data_offsets [${begin}, ${end}] span ${end - begin} bytes, shape [${shape.join(', ')}] of ${t.dtype} needs ${want}`);
    tensors.push({ name, dtype: t.dtype as string, shape, begin, end });
  }
  tensors.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let pos = 0;
  for (const t of tensors) {
    if (t.begin !== pos) {
      throw new SafetensorsError(
        `invalid header: tensor ${JSON.stringify(t.name)} starts at ${t.begin}, expected ${pos} (tensors must be contiguous and must not overlap)`,
        'invalid',
      );
    }
    pos = t.end;
  }
  const header: SafetensorsHeader = { metadata, tensors, dataStart, dataBytes: pos, fileBytes: dataStart + pos };
  if (fileBytes < header.fileBytes) throw new SafetensorsError(`truncated: expected ${header.fileBytes} bytes, found ${fileBytes}`, 'truncated');
  if (fileBytes > header.fileBytes) {
    throw new SafetensorsError(`invalid file: ${fileBytes - header.fileBytes} bytes after the last tensor (expected ${header.fileBytes} bytes, found ${fileBytes})`, 'invalid');
  }
  return header;
}

/** Allocate an array of the given dtype and length. */
export function allocTensor(dtype: string, n: number): TensorData {
  if (dtype === 'F32') return new Float32Array(n);
  if (dtype === 'I32') return new Int32Array(n);
  if (dtype === 'U32') return new Uint32Array(n);
  throw new RangeError(`safetensors: dtype ${dtype} is not supported here (F32, I32, U32 are)`);
}

/** Decode a whole file held in memory (tests and small files): metadata and tensors by name (copies). */
export function decodeSafetensors(buf: Uint8Array): { metadata: Record<string, string>; tensors: Map<string, { dtype: string; shape: number[]; data: TensorData }> } {
  const h = parseHeader(buf.subarray(0, 8), buf.length, (n) => buf.subarray(8, 8 + n));
  const tensors = new Map<string, { dtype: string; shape: number[]; data: TensorData }>();
  for (const t of h.tensors) {
    const data = allocTensor(t.dtype, product(t.shape));
    bytesOf(data).set(buf.subarray(h.dataStart + t.begin, h.dataStart + t.end));
    tensors.set(t.name, { dtype: t.dtype, shape: t.shape, data });
  }
  return { metadata: h.metadata, tensors };
}
