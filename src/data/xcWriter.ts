/**
 * Writer for the Extreme Classification Repository text format (see xcReader.ts).
 *
 * Values are printed with the fewest significant digits (at most 9) that read back
 * (parseFloat, then float32 rounding) to the same float32, so write -> read reproduces the
 * arrays exactly. Text is produced byte by byte into a reused Buffer (no string per token).
 *
 * Files are written atomically: a temp file beside the target (named by atomicWrite.ts's
 * tempPathFor, so that leftovers of a killed writer are found and removed) is streamed in ~1 MB
 * chunks, fsynced and renamed over the target; on any error it is removed and the target is
 * left untouched.
 */
import { open, rename, unlink, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { XcDataset } from './csr.js';
import { openAtomic, removeStaleTemps, tempPathFor, type AtomicWriter } from '../util/atomicWrite.js';
import { fileErrorOf } from '../util/errors.js';

const CHUNK_BYTES = 1 << 20;

const POW10 = new Float64Array(23);
for (let i = 0, p = 1; i < 23; i++, p *= 10) POW10[i] = p;

/** 10^k for k = -15 .. 23, each the double nearest to it (parsed from "1e<k>"). */
const P10_MIN = -15;
const P10 = new Float64Array(39);
for (let k = P10_MIN; k <= 23; k++) P10[k - P10_MIN] = Number(`1e${k}`);

/**
 * floor(log10(a)) of a positive float32 a, by comparisons with powers of ten; -99 / 99 outside
 * [1e-15, 1e23) (where shortestDecimal gives up anyway). It equals Math.floor(Math.log10(a)):
 * a float32 that is not an exact power of ten is farther than 1e-8 (relative) from every 10^k,
 * far beyond the 1e-16 error of the doubles compared with, and log10 is exact at exact powers
 * of ten. A value needs one or two comparisons, where Math.log10 was a fifth of the formatting.
 */
function floorLog10(a: number): number {
  if (a >= 1) {
    if (a >= P10[23 - P10_MIN]!) return 99;
    let k = 0;
    while (a >= P10[k + 1 - P10_MIN]!) k++;
    return k;
  }
  if (a < P10[0]!) return -99;
  let k = -1;
  while (a < P10[k - P10_MIN]!) k--;
  return k;
}

/** Result slots of shortestDecimal (avoid an object per value). */
let decM = 0;
let decS = 0;

/**
 * Find the shortest m * 10^-s (m a positive integer < 10^10 without trailing zeros) that reads
 * back to the positive float32 value a; sets decM / decS. The check m / 10^s is exact double
 * arithmetic correctly rounded like parseFloat (m and 10^|s| <= 10^22 are exact doubles).
 * Returns false when a is outside the range this handles (subnormals, extreme exponents).
 * "p digits round-trip" is monotone in p, so the digit count is found by binary search.
 */
function shortestDecimal(a: number): boolean {
  const e10 = floorLog10(a);
  if (8 - e10 > 22 || -e10 < -22) return false;
  let lo = 1;
  let hi = 9;
  let bestM = -1;
  let bestS = 0;
  while (lo <= hi) {
    const p = (lo + hi) >> 1;
    const s = p - 1 - e10; // a * 10^s has p digits before the point
    const m = s >= 0 ? Math.round(a * POW10[s]!) : Math.round(a / POW10[-s]!);
    const back = s >= 0 ? m / POW10[s]! : m * POW10[-s]!;
    if (m > 0 && Math.fround(back) === a) {
      bestM = m;
      bestS = s;
      hi = p - 1;
    } else {
      lo = p + 1;
    }
  }
  if (bestM < 0) return false;
  // bestM <= 10^9 < 2^31: int32 arithmetic (V8 turns the division by 10 into a multiplication)
  bestM |= 0;
  while (bestM % 10 === 0) {
    bestM = (bestM / 10) | 0;
    bestS--;
  }
  decM = bestM;
  decS = bestS;
  return true;
}

/** Growable byte sink with ASCII number formatting. */
class ByteOut {
  buf: Buffer;
  len = 0;
  private readonly digits = new Uint8Array(24);

  constructor(cap: number) {
    this.buf = Buffer.allocUnsafe(cap);
  }

  /** Make room for `n` more bytes. */
  ensure(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let c = this.buf.length * 2;
    while (c < this.len + n) c *= 2;
    const b = Buffer.allocUnsafe(c);
    this.buf.copy(b, 0, 0, this.len);
    this.buf = b;
  }

  byte(c: number): void {
    this.buf[this.len++] = c;
  }

  /** Non-negative integer < 2^53 (caller ensured 16 bytes). */
  uint(v: number): void {
    const d = this.digits;
    let k = 0;
    while (v > 0x7fffffff) {
      const q = Math.floor(v / 10);
      d[k++] = 48 + (v - q * 10);
      v = q;
    }
    // the common case in int32 arithmetic
    let x = v | 0;
    do {
      const q = (x / 10) | 0;
      d[k++] = 48 + (x - q * 10);
      x = q;
    } while (x > 0);
    const buf = this.buf;
    let len = this.len;
    while (k > 0) buf[len++] = d[--k]!;
    this.len = len;
  }

  ascii(s: string): void {
    this.ensure(s.length);
    for (let i = 0; i < s.length; i++) this.buf[this.len++] = s.charCodeAt(i);
  }

  /** A float32 value, shortest round-trip form (caller ensured 24 bytes for the fast path). */
  float32(v: number): void {
    if (v === 0) {
      if (Object.is(v, -0)) this.byte(45);
      this.byte(48);
      return;
    }
    if (v < 0) {
      this.byte(45);
      v = -v;
    }
    if (!shortestDecimal(v)) {
      this.ascii(slowFloat32(v));
      return;
    }
    const m = decM;
    const s = decS;
    if (s <= 0 && s >= -3) {
      // integer: m followed by -s zeros
      this.uint(m);
      for (let i = 0; i < -s; i++) this.byte(48);
      return;
    }
    // digits of m
    const d = this.digits;
    let n = 0;
    let x = m | 0; // m <= 10^9
    do {
      const q = (x / 10) | 0;
      d[n++] = 48 + (x - q * 10);
      x = q;
    } while (x > 0);
    // d holds n digits reversed; value = digits * 10^-s
    if (s < -3 || s - n > 4) {
      // scientific: d.ddd e(n - 1 - s)
      this.byte(d[n - 1]!);
      if (n > 1) {
        this.byte(46);
        for (let i = n - 2; i >= 0; i--) this.byte(d[i]!);
      }
      this.byte(101);
      const ex = n - 1 - s;
      if (ex < 0) this.byte(45);
      this.uint(ex < 0 ? -ex : ex);
    } else if (s < n) {
      for (let i = n - 1; i >= s; i--) this.byte(d[i]!);
      this.byte(46);
      for (let i = s - 1; i >= 0; i--) this.byte(d[i]!);
    } else {
      this.byte(48);
      this.byte(46);
      for (let i = 0; i < s - n; i++) this.byte(48);
      for (let i = n - 1; i >= 0; i--) this.byte(d[i]!);
    }
  }
}

/** Subnormal or extreme values: shortest toPrecision that round-trips, trailing zeros trimmed. */
function slowFloat32(v: number): string {
  for (let p = 1; p <= 9; p++) {
    const s = v.toPrecision(p);
    if (Math.fround(Number(s)) === v) return trimZeros(s);
  }
  return String(v);
}

function trimZeros(s: string): string {
  const e = s.indexOf('e');
  let m = e < 0 ? s : s.slice(0, e);
  if (m.includes('.')) {
    let k = m.length;
    while (m.charCodeAt(k - 1) === 48) k--;
    if (m.charCodeAt(k - 1) === 46) k--;
    m = m.slice(0, k);
  }
  if (e < 0) return m;
  const ex = s.slice(e + 1);
  return m + 'e' + (ex.charCodeAt(0) === 43 ? ex.slice(1) : ex);
}

/** Shortest decimal (at most 9 significant digits) that reads back to exactly the float32 v. */
export function formatFloat32(v: number): string {
  const o = new ByteOut(32);
  o.float32(Math.fround(v));
  return o.buf.toString('latin1', 0, o.len);
}

/** The three numbers of the header. */
type XcDims = Pick<XcDataset, 'n' | 'nFeatures' | 'nLabels'>;

/** Check the header dims (the format needs 3 positive integers). */
function checkHeader(d: XcDims): void {
  for (const [k, v] of [
    ['n', d.n],
    ['nFeatures', d.nFeatures],
    ['nLabels', d.nLabels],
  ] as const) {
    if (!Number.isInteger(v) || v <= 0) {
      throw new RangeError(`XC writer: ${k} must be a positive integer (the header holds 3 positive integers), got ${v}`);
    }
  }
}

function writeHeader(o: ByteOut, d: XcDims): void {
  o.ascii(`${d.n} ${d.nFeatures} ${d.nLabels}\n`);
}

/** Format row r (validating ids and values). */
function writeRow(o: ByteOut, d: XcDataset, r: number): void {
  const l0 = d.labelPtr[r]!;
  const l1 = d.labelPtr[r + 1]!;
  const f0 = d.featPtr[r]!;
  const f1 = d.featPtr[r + 1]!;
  if (!(f1 >= f0) || !(l1 >= l0)) throw new RangeError(`XC writer: row ${r}: row pointers are not monotone`);
  writeRowSlices(o, r, d.labelIdx, l0, l1, d.featIdx, d.featVal, f0, f1, d.nFeatures, d.nLabels);
}

/** Format one row from slices [l0, l1) of its labels and [f0, f1) of its features (validating ids and values). */
function writeRowSlices(
  o: ByteOut,
  r: number,
  labelIdx: Int32Array,
  l0: number,
  l1: number,
  featIdx: Int32Array,
  featVal: Float32Array,
  f0: number,
  f1: number,
  nFeatures: number,
  nLabels: number,
): void {
  // at most 11 bytes per label, 12 + 2 + 24 per feature, plus newline
  o.ensure(11 * (l1 - l0) + 38 * (f1 - f0) + 1);
  for (let k = l0; k < l1; k++) {
    const l = labelIdx[k]!;
    if (!(l >= 0 && l < nLabels)) throw new RangeError(`XC writer: row ${r}: label id ${l} outside [0, ${nLabels})`);
    if (k > l0) o.byte(44);
    o.uint(l);
  }
  for (let k = f0; k < f1; k++) {
    const f = featIdx[k]!;
    const v = featVal[k]!;
    if (!(f >= 0 && f < nFeatures)) throw new RangeError(`XC writer: row ${r}: feature index ${f} outside [0, ${nFeatures})`);
    if (!Number.isFinite(v)) throw new RangeError(`XC writer: row ${r}: feature ${f} has non-finite value ${v}`);
    // a row without labels starts with this separating space, as the format wants
    o.byte(32);
    o.uint(f);
    o.byte(58);
    o.float32(v);
  }
  o.byte(10);
}

/** Format a whole data set as XC text (convenience for tests and small data). */
export function formatXcString(d: XcDataset): string {
  checkHeader(d);
  const o = new ByteOut(1024);
  writeHeader(o, d);
  for (let r = 0; r < d.n; r++) writeRow(o, d, r);
  return o.buf.toString('latin1', 0, o.len);
}

/**
 * Write a data set in XC format atomically (temp file in the same directory, fsync, rename).
 * Throws RangeError on invalid data (ids out of range, non-finite values, n = 0) and FileError
 * on OS errors (no space, missing directory, a directory in the way); the target is then left
 * as it was and no temp file remains.
 */
export async function writeXcFile(path: string, d: XcDataset): Promise<void> {
  checkHeader(d);
  removeStaleTemps(path);
  const tmp = tempPathFor(path);
  let fh;
  try {
    fh = await open(tmp, 'w');
  } catch (err) {
    throw fileErrorOf(err, path, 'write');
  }
  let closed = false;
  try {
    const o = new ByteOut(CHUNK_BYTES + 64 * 1024);
    writeHeader(o, d);
    for (let r = 0; r < d.n; r++) {
      writeRow(o, d, r);
      if (o.len >= CHUNK_BYTES) {
        await writeAll(fh, o.buf, o.len);
        o.len = 0;
      }
    }
    if (o.len > 0) await writeAll(fh, o.buf, o.len);
    await fh.sync();
    closed = true;
    await fh.close();
    await rename(tmp, path);
  } catch (err) {
    if (!closed) await fh.close().catch(() => undefined);
    await unlink(tmp).catch(() => undefined);
    throw fileErrorOf(err, path, 'write');
  }
  await syncDir(dirname(path));
}

/**
 * Write all `len` bytes: a write may write fewer than asked without an error (a disk that fills
 * up mid-write writes what fits; the next write then fails with ENOSPC), so loop until done.
 */
async function writeAll(fh: FileHandle, buf: Buffer, len: number): Promise<void> {
  let off = 0;
  while (off < len) off += (await fh.write(buf, off, len - off)).bytesWritten;
}

/** Best effort: make the rename durable (directory fsync is not supported everywhere). */
async function syncDir(dir: string): Promise<void> {
  try {
    const dh = await open(dir, 'r');
    try {
      await dh.sync();
    } finally {
      await dh.close();
    }
  } catch {
    // ignore: this only strengthens durability of the rename
  }
}

/**
 * Row-by-row XC writer for data too large to hold as an XcDataset: the header (whose point count
 * must be known up front) and then one writeRow per point, formatted exactly as writeXcFile does.
 * The file is written atomically (openAtomic): commit() checks that `n` rows were written, then
 * renames the temporary file over the target; abort() removes it.
 */
export class XcRowWriter {
  private readonly out: AtomicWriter;
  private readonly o = new ByteOut(CHUNK_BYTES + 64 * 1024);
  private rows = 0;

  constructor(
    readonly path: string,
    readonly header: { n: number; nFeatures: number; nLabels: number },
  ) {
    checkHeader(header);
    this.out = openAtomic(path);
    writeHeader(this.o, header);
  }

  /** One point: labels[0..nl) ascending, features idx[0..nnz) ascending with their values. */
  writeRow(labels: Int32Array, nl: number, idx: Int32Array, val: Float32Array, nnz: number): void {
    if (this.rows >= this.header.n) throw new RangeError(`XC writer: ${this.path}: more than the ${this.header.n} rows of the header`);
    writeRowSlices(this.o, this.rows, labels, 0, nl, idx, val, 0, nnz, this.header.nFeatures, this.header.nLabels);
    this.rows++;
    if (this.o.len >= CHUNK_BYTES) this.flush();
  }

  commit(): void {
    if (this.rows !== this.header.n) throw new RangeError(`XC writer: ${this.path}: ${this.rows} rows written, the header says ${this.header.n}`);
    this.flush();
    this.out.commit();
  }

  abort(): void {
    this.out.abort();
  }

  private flush(): void {
    if (this.o.len > 0) this.out.write(this.o.buf.subarray(0, this.o.len));
    this.o.len = 0;
  }
}
