/**
 * The messages between a trainer (or a serving process) and its output shards: binary frames, a
 * fixed header and typed-array sections, no JSON for numbers.
 *
 * Frame (little-endian; every section starts 8-byte aligned, so that it can be viewed in place):
 *   bytes   0 ..   4  magic 'SLNS' (0x534e4c53 read as u32)
 *           4 ..   6  version (PROTOCOL_VERSION)      6 .. 8  kind (Kind)
 *           8 ..  12  run id                         12 .. 16  shard (slice index)
 *          16 ..  20  step (optimizer step the message belongs to)
 *          20 ..  24  seed (int32: the batch's generator seed, a redraw seed, ...)
 *          24 ..  28  row0 (first batch row of the frame: a batch may go in several frames)
 *          28 ..  32  rows
 *          32 ..  40  arg0, arg1 (int32: flags, k, the learning-rate horizon, ...)
 *          40 ..  44  number of sections (at most MAX_SECTIONS)
 *          48 .. 112  per section: dtype code (u32), elements (u32)
 *         112 ..      the sections
 * What each kind carries is written beside the kinds below; decodeFrame checks the frame's own
 * consistency (magic, version, sizes), the caller checks that it is the answer it waits for
 * (kind, run, shard, step, rows, section sizes and values: checks.ts).
 */

export const PROTOCOL_VERSION = 1;
const MAGIC = 0x534e4c53;
export const HEADER_BYTES = 112;
export const MAX_SECTIONS = 8;

export const enum Kind {
  /** trainer -> idle shards (queue group): claim one; reply Claimed (JSON: instance id, host, pid, memory cap) */
  Claim = 1,
  Claimed = 2,
  /** trainer -> a claimed shard: build or load a slice; sections: JSON (AssignSpec); reply Assigned (JSON) */
  Assign = 3,
  Assigned = 4,
  /**
   * a batch's forward: sections f32 (rows, h) the output layer's input, i32 (rows) live (1: the
   * row trains), i32 (rows + 1) label pointers, i32 the rows' labels inside the shard (global ids);
   * seed = the batch's sample seed. Reply Forwarded: i32 (2 rows) [nForced, n] per row, f32 the
   * logits (sum of n), in each row's active-list order.
   */
  Forward = 5,
  Forwarded = 6,
  /**
   * the batch's backward: f32 the gradients of the logits Forwarded sent (same layout); arg0:
   * UPDATE_AFTER (then step the optimizer), arg1: the learning-rate horizon. Reply BackwardDone:
   * f32 (rows, h) the shard's part of the output layer's input gradient
   */
  Backward = 7,
  BackwardDone = 8,
  /** rebuild the tables from the current weights; arg0: 1 = first redraw the hash functions from seed. Reply Rebuilt: f64 [seconds] */
  Rebuild = 9,
  Rebuilt = 10,
  /**
   * inference: f32 (rows, h), i32 (rows) each query's stream, i32 (rows, PROBE) exact top ids to
   * look for among the candidates (-1: none); arg0 = k, arg1 = 1 for exact; seed = the inference
   * seed. Reply Predicted: i32 (rows) [how many], i32 (rows) candidates, f64 (rows) log-sum-exp of
   * the candidates' logits, i32 (rows, k) global ids, f32 (rows, k) logits (best first), i32 (rows) probes found
   */
  Predict = 11,
  Predicted = 12,
  /** write the slice (JSON SaveSpec); reply Saved (JSON SliceRecord) */
  Save = 13,
  Saved = 14,
  /** the run is over (published to the run's control subject): the shard drops its slice and waits for the next */
  End = 15,
  /** the run is alive (published every second to the control subject): keeps an idle slice's lease */
  Alive = 16,
  /** any request failed at the shard: u8 the message */
  Error = 17,
}

export const KIND_NAMES: Readonly<Record<number, string>> = {
  1: 'claim', 2: 'claimed', 3: 'assign', 4: 'assigned', 5: 'forward', 6: 'forwarded', 7: 'backward', 8: 'backward-done',
  9: 'rebuild', 10: 'rebuilt', 11: 'predict', 12: 'predicted', 13: 'save', 14: 'saved', 15: 'end', 16: 'alive', 17: 'error',
};

/** Backward's arg0: step the optimizer after the backward (after the reply is on its way). */
export const UPDATE_AFTER = 1;
/** Exact top labels a Predict frame carries per row, to count among the LSH candidates (recall). */
export const PROBE = 5;

export type Section = Float32Array | Int32Array | Float64Array | Uint8Array;

const DTYPE_CODE = { f32: 1, i32: 2, f64: 3, u8: 4 } as const;
const CODE_BYTES: Readonly<Record<number, number>> = { 1: 4, 2: 4, 3: 8, 4: 1 };

function codeOf(a: Section): number {
  if (a instanceof Float32Array) return DTYPE_CODE.f32;
  if (a instanceof Int32Array) return DTYPE_CODE.i32;
  if (a instanceof Float64Array) return DTYPE_CODE.f64;
  return DTYPE_CODE.u8;
}

export interface FrameHeader {
  kind: Kind;
  runId: number;
  shard: number;
  step: number;
  seed: number;
  row0: number;
  rows: number;
  arg0: number;
  arg1: number;
}

export interface Frame extends FrameHeader {
  sections: Section[];
}

/** A frame that is not one: a message naming what is wrong (the caller adds who sent it). */
export class FrameError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FrameError';
  }
}

const align8 = (n: number): number => Math.ceil(n / 8) * 8;

/** Bytes of a frame with these sections. */
export function frameBytes(sections: readonly Section[]): number {
  let n = HEADER_BYTES;
  for (const s of sections) n = align8(n) + s.byteLength;
  return n;
}

/** One frame: the header, then each section's bytes (a copy: the caller may reuse its arrays). */
export function encodeFrame(h: FrameHeader, sections: readonly Section[] = []): Uint8Array {
  if (sections.length > MAX_SECTIONS) throw new RangeError(`frame: ${sections.length} sections, at most ${MAX_SECTIONS}`);
  const out = new Uint8Array(frameBytes(sections));
  const dv = new DataView(out.buffer);
  dv.setUint32(0, MAGIC, true);
  dv.setUint16(4, PROTOCOL_VERSION, true);
  dv.setUint16(6, h.kind, true);
  dv.setUint32(8, h.runId >>> 0, true);
  dv.setUint32(12, h.shard >>> 0, true);
  dv.setUint32(16, h.step >>> 0, true);
  dv.setInt32(20, h.seed | 0, true);
  dv.setUint32(24, h.row0 >>> 0, true);
  dv.setUint32(28, h.rows >>> 0, true);
  dv.setInt32(32, h.arg0 | 0, true);
  dv.setInt32(36, h.arg1 | 0, true);
  dv.setUint32(40, sections.length, true);
  let at = HEADER_BYTES;
  sections.forEach((s, i) => {
    dv.setUint32(48 + 8 * i, codeOf(s), true);
    dv.setUint32(52 + 8 * i, s.length, true);
    at = align8(at);
    out.set(new Uint8Array(s.buffer, s.byteOffset, s.byteLength), at);
    at += s.byteLength;
  });
  return out;
}

/**
 * Read a frame, checking its own consistency: magic, version, a known kind, at most MAX_SECTIONS
 * sections whose sizes add up to the message's length exactly. The sections are views of a copy
 * of `data`: a received message's bytes may be a view of the client's read buffer, which later
 * messages overwrite.
 */
export function decodeFrame(received: Uint8Array): Frame {
  // new Uint8Array(x) copies (a Buffer's slice() would not)
  const data = new Uint8Array(received);
  if (data.byteLength < HEADER_BYTES) throw new FrameError(`a message of ${data.byteLength} bytes, shorter than a frame header (${HEADER_BYTES})`);
  const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const magic = dv.getUint32(0, true);
  if (magic !== MAGIC) throw new FrameError(`not a sublinear frame (magic 0x${magic.toString(16)})`);
  const version = dv.getUint16(4, true);
  if (version !== PROTOCOL_VERSION) throw new FrameError(`protocol version ${version}, this sublinear speaks ${PROTOCOL_VERSION}`);
  const kind = dv.getUint16(6, true);
  if (KIND_NAMES[kind] === undefined) throw new FrameError(`unknown message kind ${kind}`);
  const n = dv.getUint32(40, true);
  if (n > MAX_SECTIONS) throw new FrameError(`${n} sections, at most ${MAX_SECTIONS}`);
  const sections: Section[] = [];
  let at = HEADER_BYTES;
  for (let i = 0; i < n; i++) {
    const code = dv.getUint32(48 + 8 * i, true);
    const len = dv.getUint32(52 + 8 * i, true);
    const size = CODE_BYTES[code];
    if (size === undefined) throw new FrameError(`section ${i} has an unknown element type ${code}`);
    at = align8(at);
    const bytes = len * size;
    if (at + bytes > data.byteLength) throw new FrameError(`section ${i} (${len} elements) runs past the end of the ${data.byteLength}-byte message`);
    sections.push(view(data, at, len, code));
    at += bytes;
  }
  if (at !== data.byteLength) throw new FrameError(`${data.byteLength - at} bytes after the last section`);
  return {
    kind: kind as Kind,
    runId: dv.getUint32(8, true),
    shard: dv.getUint32(12, true),
    step: dv.getUint32(16, true),
    seed: dv.getInt32(20, true),
    row0: dv.getUint32(24, true),
    rows: dv.getUint32(28, true),
    arg0: dv.getInt32(32, true),
    arg1: dv.getInt32(36, true),
    sections,
  };
}

function view(data: Uint8Array, at: number, len: number, code: number): Section {
  // data is a copy starting at byte 0 of its buffer, and sections start 8-byte aligned
  const buf = data.buffer;
  const o = at;
  switch (code) {
    case DTYPE_CODE.f32:
      return new Float32Array(buf, o, len);
    case DTYPE_CODE.i32:
      return new Int32Array(buf, o, len);
    case DTYPE_CODE.f64:
      return new Float64Array(buf, o, len);
    default:
      return new Uint8Array(buf, o, len);
  }
}

/** A JSON value as a u8 section (configuration and bookkeeping only: never tensors). */
export function jsonSection(v: unknown): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(v));
}

export function readJson<T>(s: Section | undefined, what: string): T {
  if (!(s instanceof Uint8Array)) throw new FrameError(`${what}: expected a JSON section`);
  try {
    return JSON.parse(new TextDecoder().decode(s)) as T;
  } catch (e) {
    throw new FrameError(`${what}: the JSON section does not parse (${(e as Error).message})`);
  }
}

export function textSection(s: string): Uint8Array {
  return new TextEncoder().encode(s);
}

export function readText(s: Section | undefined): string {
  return s instanceof Uint8Array ? new TextDecoder().decode(s) : '';
}

/** An error frame answering `h` (same run, shard, step) with a message. */
export function errorFrame(h: Pick<FrameHeader, 'runId' | 'shard' | 'step'>, message: string): Uint8Array {
  return encodeFrame({ kind: Kind.Error, runId: h.runId, shard: h.shard, step: h.step, seed: 0, row0: 0, rows: 0, arg0: 0, arg1: 0 }, [textSection(message)]);
}

/** A header with the given fields and zeros elsewhere. */
export function header(kind: Kind, f: Partial<FrameHeader> = {}): FrameHeader {
  return { kind, runId: 0, shard: 0, step: 0, seed: 0, row0: 0, rows: 0, arg0: 0, arg1: 0, ...f };
}

/** Subjects of a deployment under `prefix`. */
export const subjects = {
  /** idle shard processes (queue group IDLE_QUEUE): Claim */
  idle: (prefix: string): string => `${prefix}.idle`,
  /** one shard process by its instance id: Assign */
  instance: (prefix: string, id: string): string => `${prefix}.shard.${id}`,
  /** a run's slice s (queue group: the subject itself, so that replicas share the requests) */
  slice: (prefix: string, runId: number, s: number): string => `${prefix}.run.${runId}.${s}`,
  /** a run's broadcasts (End, Alive) */
  control: (prefix: string, runId: number): string => `${prefix}.run.${runId}.control`,
};

export const IDLE_QUEUE = 'idle';
