/**
 * Reader for the Extreme Classification Repository text format:
 *
 *   N_points N_features N_labels
 *   l1,l2,... f:v f:v ...          (one line per point, 0-based ids)
 *
 * A point without labels has a line that starts with a space (or directly with `f:v` tokens);
 * an empty line is a point with neither labels nor features.
 *
 * Parsing works on raw bytes of large chunks read with FileHandle.read: no split of the file,
 * no object and no string per line (strings are built only for error messages and for the
 * rare float that misses the exact fast path). Output goes straight into growable typed arrays.
 *
 * Every problem is reported as an InputError `file:line: expected X, found Y` (line 1 is the
 * header).
 */
import { open } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { CsrBatchBuffer } from './csr.js';
import type { CsrBatch, XcDataset } from './csr.js';
import { InputError, quote } from '../util/errors.js';

/** The three numbers of the header line. */
export interface XcHeader {
  nPoints: number;
  nFeatures: number;
  nLabels: number;
}

const CHUNK_BYTES = 4 << 20;

/** Tuning knobs of the file readers (defaults are right for real use; tests shrink the chunk). */
export interface XcReadOptions {
  /** bytes read per FileHandle.read (the buffer still grows for a longer line); default 4 MiB */
  chunkBytes?: number;
}
const MAX_DIM = 0x7fffffff;

const NL = 10;
const CR = 13;
const SPACE = 32;
const TAB = 9;
const COLON = 58;
const COMMA = 44;
const DOT = 46;
const MINUS = 45;
const PLUS = 43;
const D0 = 48;
const D9 = 57;

/** Exact powers of ten (10^0 .. 10^22 are exactly representable doubles). */
const POW10 = new Float64Array(23);
for (let i = 0, p = 1; i < 23; i++, p *= 10) POW10[i] = p;

const HEADER_EXPECTED = 'header "N_points N_features N_labels" (3 positive integers)';
const FEATURE_TOKEN = 'feature token "index:value"';

/**
 * Per-line set of ids used to reject duplicates: open addressing with a generation stamp so it
 * is never cleared, sized from the line length (a line of L bytes holds at most (L+1)/2 ids), so
 * its memory does not depend on the (possibly huge) feature or label dimension.
 */
class LineIdSet {
  private keys = new Int32Array(1024);
  private stamps = new Int32Array(1024);
  private mask = 1023;
  private shift = 22;
  private stamp = 0;

  /** Start a new line of `lineBytes` bytes. */
  begin(lineBytes: number): void {
    if (lineBytes + 2 > this.keys.length) {
      let c = this.keys.length;
      while (c < lineBytes + 2) c *= 2;
      this.keys = new Int32Array(c);
      this.stamps = new Int32Array(c);
      this.mask = c - 1;
      this.shift = 32 - Math.log2(c);
      this.stamp = 0;
    }
    if (++this.stamp === 0x7fffffff) {
      this.stamps.fill(0);
      this.stamp = 1;
    }
  }

  /** Insert id; false if it was already in the current line. */
  add(id: number): boolean {
    const keys = this.keys;
    const stamps = this.stamps;
    const st = this.stamp;
    let h = Math.imul(id, 0x9e3779b1) >>> this.shift;
    for (;;) {
      if (stamps[h] !== st) {
        stamps[h] = st;
        keys[h] = id;
        return true;
      }
      if (keys[h] === id) return false;
      h = (h + 1) & this.mask;
    }
  }
}

/** Growable CSR output written into a CsrBatch object (so a CsrBatchBuffer can be reused). */
class CsrSink {
  n = 0;
  nnz = 0;
  nl = 0;
  constructor(readonly b: CsrBatch) {
    b.featPtr[0] = 0;
    b.labelPtr[0] = 0;
  }

  reset(): void {
    this.n = 0;
    this.nnz = 0;
    this.nl = 0;
    this.b.featPtr[0] = 0;
    this.b.labelPtr[0] = 0;
  }

  /** Make room for one more row with at most maxFeat features and maxLab labels. */
  reserveRow(maxFeat: number, maxLab: number): void {
    const b = this.b;
    if (b.featPtr.length < this.n + 2) {
      const c = grow(b.featPtr.length, this.n + 2);
      b.featPtr = copyInto(new Int32Array(c), b.featPtr, this.n + 1);
      b.labelPtr = copyInto(new Int32Array(c), b.labelPtr, this.n + 1);
    }
    if (b.featIdx.length < this.nnz + maxFeat) {
      const c = grow(b.featIdx.length, this.nnz + maxFeat);
      b.featIdx = copyInto(new Int32Array(c), b.featIdx, this.nnz);
      b.featVal = copyInto(new Float32Array(c), b.featVal, this.nnz);
    }
    if (b.labelIdx.length < this.nl + maxLab) {
      b.labelIdx = copyInto(new Int32Array(grow(b.labelIdx.length, this.nl + maxLab)), b.labelIdx, this.nl);
    }
  }
}

function grow(have: number, need: number): number {
  let c = Math.max(16, have);
  while (c < need) c *= 2;
  return c;
}

function copyInto<T extends Int32Array | Float32Array>(dst: T, src: T, n: number): T {
  dst.set(src.subarray(0, n));
  return dst;
}

function isWs(c: number): boolean {
  return c === SPACE || c === TAB;
}

/**
 * Byte-level state machine over whole lines. `consume` is fed a buffer region that holds
 * complete lines (plus, at end of file, a last line without newline).
 */
class XcParser {
  header: XcHeader | null = null;
  /** 1-based number of the next line to parse. */
  lineNo = 1;
  /** data rows parsed so far (over all batches). */
  rows = 0;
  private readonly feats = new LineIdSet();
  private readonly labs = new LineIdSet();

  constructor(
    readonly file: string,
    public sink: CsrSink | null,
  ) {}

  /**
   * Parse the lines in buf[pos, end). Unless `final`, every line there ends with '\n' before end.
   * Stops early (returning the position after the last consumed line) once the sink holds
   * `maxRows` rows. The header must already be parsed when data rows are consumed.
   */
  consume(buf: Buffer, pos: number, end: number, final: boolean, maxRows: number): number {
    while (pos < end) {
      if (this.header !== null && this.rows < this.header.nPoints && (this.sink === null || this.sink.n >= maxRows)) return pos;
      let nl = buf.indexOf(NL, pos);
      if (nl < 0 || nl >= end) {
        if (!final) return pos;
        nl = end;
      }
      let e = nl;
      if (e > pos && buf[e - 1] === CR) e--;
      if (this.header === null) this.parseHeader(buf, pos, e);
      else if (this.rows < this.header.nPoints) this.parseRow(buf, pos, e);
      else this.checkTrailing(buf, pos, e);
      this.lineNo++;
      pos = nl + 1;
    }
    return end < pos ? end : pos;
  }

  /** At end of input: the header must exist and all rows must have been read. */
  finish(): void {
    if (this.header === null) throw new InputError(this.file, 1, HEADER_EXPECTED, 'end of file');
    if (this.rows < this.header.nPoints) {
      throw new InputError(this.file, this.lineNo, dataLines(this.header.nPoints), `${this.rows}`);
    }
  }

  private parseHeader(buf: Buffer, s: number, e: number): void {
    // skip a UTF-8 byte order mark
    if (e - s >= 3 && buf[s] === 0xef && buf[s + 1] === 0xbb && buf[s + 2] === 0xbf) s += 3;
    const nums: number[] = [];
    let p = s;
    let ok = true;
    while (p < e) {
      while (p < e && isWs(buf[p]!)) p++;
      if (p >= e) break;
      let v = 0;
      let digits = 0;
      while (p < e && buf[p]! >= D0 && buf[p]! <= D9) {
        v = v * 10 + (buf[p]! - D0);
        digits++;
        p++;
      }
      if (p < e && !isWs(buf[p]!)) ok = false;
      while (p < e && !isWs(buf[p]!)) p++;
      if (digits === 0 || v <= 0 || v > MAX_DIM) ok = false;
      nums.push(v);
    }
    if (!ok || nums.length !== 3) {
      const text = buf.toString('utf8', s, e);
      throw new InputError(this.file, 1, HEADER_EXPECTED, text.length === 0 ? 'an empty line' : quote(text, 60));
    }
    this.header = { nPoints: nums[0]!, nFeatures: nums[1]!, nLabels: nums[2]! };
  }

  private checkTrailing(buf: Buffer, s: number, e: number): void {
    for (let p = s; p < e; p++) {
      if (!isWs(buf[p]!)) {
        throw new InputError(
          this.file,
          this.lineNo,
          `end of file after ${dataLines(this.header!.nPoints)}`,
          `an extra line ${quote(buf.toString('utf8', s, e))}`,
        );
      }
    }
  }

  private parseRow(buf: Buffer, s: number, e: number): void {
    const sink = this.sink!;
    const len = e - s;
    // a line of len bytes holds at most (len+1)/4 features ("i:v" plus separator) and (len+1)/2 labels
    sink.reserveRow((len >> 2) + 1, (len >> 1) + 1);
    const b = sink.b;
    const featIdx = b.featIdx;
    const featVal = b.featVal;
    const labelIdx = b.labelIdx;
    const nFeatures = this.header!.nFeatures;
    const nLabels = this.header!.nLabels;
    let nnz = sink.nnz;
    let nl = sink.nl;

    let p = s;
    while (p < e && isWs(buf[p]!)) p++;

    // labels: the first token, unless it contains ':' (then the line has no labels)
    if (p < e) {
      let q = p;
      let hasColon = false;
      while (q < e) {
        const c = buf[q]!;
        if (c === SPACE || c === TAB) break;
        if (c === COLON) {
          hasColon = true;
          break;
        }
        q++;
      }
      if (!hasColon) {
        this.labs.begin(len);
        const ls = p;
        const te = q;
        for (;;) {
          const is = p;
          let v = 0;
          while (p < te) {
            const c = buf[p]!;
            if (c < D0 || c > D9) break;
            v = v * 10 + (c - D0);
            p++;
          }
          if (p < te && buf[p] !== COMMA) {
            let ie = p;
            while (ie < te && buf[ie] !== COMMA) ie++;
            throw new InputError(this.file, this.lineNo, 'label id (non-negative integer)', quote(buf.toString('utf8', is, ie)));
          }
          if (p === is) {
            throw new InputError(this.file, this.lineNo, 'comma-separated label ids', quote(buf.toString('utf8', ls, te)));
          }
          if (v >= nLabels) {
            throw new InputError(this.file, this.lineNo, `label id in [0, ${nLabels})`, clip(buf.toString('utf8', is, p)));
          }
          if (!this.labs.add(v)) {
            throw new InputError(this.file, this.lineNo, 'distinct label ids on a line', `duplicate label ${v}`);
          }
          labelIdx[nl++] = v;
          if (p >= te) break;
          p++; // comma
          if (p >= te) {
            throw new InputError(this.file, this.lineNo, 'comma-separated label ids', quote(buf.toString('utf8', ls, te)));
          }
        }
      }
    }

    // features: index:value tokens
    this.feats.begin(len);
    for (;;) {
      while (p < e && isWs(buf[p]!)) p++;
      if (p >= e) break;
      const ts = p;
      let id = 0;
      while (p < e) {
        const c = buf[p]!;
        if (c < D0 || c > D9) break;
        id = id * 10 + (c - D0);
        p++;
      }
      if (p === ts || p >= e || buf[p] !== COLON) this.badFeatureToken(buf, ts, e);
      p++; // ':'
      const vs = p;

      // number grammar: [+-]? digits* ('.' digits*)? ([eE] [+-]? digits+)?, at least one mantissa digit
      let c = p < e ? buf[p]! : 0;
      let neg = false;
      if (c === MINUS || c === PLUS) {
        neg = c === MINUS;
        p++;
      }
      let mant = 0;
      let sig = 0; // significant digits accumulated into mant
      let exp10 = 0;
      let digits = 0;
      let exact = true;
      while (p < e) {
        c = buf[p]!;
        if (c < D0 || c > D9) break;
        if (sig < 15) {
          mant = mant * 10 + (c - D0);
          if (mant !== 0) sig++;
        } else {
          exact = false;
          exp10++;
        }
        digits++;
        p++;
      }
      if (p < e && buf[p] === DOT) {
        p++;
        while (p < e) {
          c = buf[p]!;
          if (c < D0 || c > D9) break;
          if (sig < 15) {
            mant = mant * 10 + (c - D0);
            if (mant !== 0) sig++;
            exp10--;
          } else if (c !== D0) {
            exact = false;
          }
          digits++;
          p++;
        }
      }
      let grammarOk = digits > 0;
      if (grammarOk && p < e && (buf[p] === 101 || buf[p] === 69)) {
        p++;
        let eneg = false;
        if (p < e && (buf[p] === MINUS || buf[p] === PLUS)) {
          eneg = buf[p] === MINUS;
          p++;
        }
        let ev = 0;
        let ed = 0;
        while (p < e) {
          c = buf[p]!;
          if (c < D0 || c > D9) break;
          if (ev < 100000) ev = ev * 10 + (c - D0);
          ed++;
          p++;
        }
        if (ed === 0) grammarOk = false;
        exp10 += eneg ? -ev : ev;
      }
      if (p < e && !isWs(buf[p]!)) grammarOk = false;
      if (!grammarOk) this.badValue(buf, ts, vs, e);

      let v: number;
      if (mant === 0) v = 0;
      else if (exact && exp10 >= -22 && exp10 <= 22) v = exp10 >= 0 ? mant * POW10[exp10]! : mant / POW10[-exp10]!;
      else v = parseFloat(buf.toString('latin1', neg || buf[vs] === PLUS ? vs + 1 : vs, p));
      if (neg) v = -v;
      const f = Math.fround(v);
      if (f === Infinity || f === -Infinity) {
        throw new InputError(this.file, this.lineNo, 'finite feature value (within float32 range)', quote(buf.toString('utf8', vs, p)));
      }
      if (id >= nFeatures) {
        throw new InputError(this.file, this.lineNo, `feature index in [0, ${nFeatures})`, clip(buf.toString('utf8', ts, vs - 1)));
      }
      if (!this.feats.add(id)) {
        throw new InputError(this.file, this.lineNo, 'distinct feature indices on a line', `duplicate feature ${id}`);
      }
      featIdx[nnz] = id;
      featVal[nnz] = f;
      nnz++;
    }

    sink.nnz = nnz;
    sink.nl = nl;
    sink.n++;
    b.featPtr[sink.n] = nnz;
    b.labelPtr[sink.n] = nl;
    this.rows++;
  }

  private badFeatureToken(buf: Buffer, ts: number, e: number): never {
    throw new InputError(this.file, this.lineNo, FEATURE_TOKEN, quote(tokenAt(buf, ts, e)));
  }

  /** The value part of a feature token is not a valid number: classify for the message. */
  private badValue(buf: Buffer, ts: number, vs: number, e: number): never {
    const token = tokenAt(buf, ts, e);
    const value = tokenAt(buf, vs, e);
    if (value.length === 0 || value.includes(':')) this.badFeatureToken(buf, ts, e);
    const bare = value.replace(/^[+-]/, '').toLowerCase();
    if (bare === 'nan' || bare === 'inf' || bare === 'infinity') {
      throw new InputError(this.file, this.lineNo, 'finite feature value', quote(value));
    }
    throw new InputError(this.file, this.lineNo, 'numeric value in feature token "index:value"', quote(token));
  }
}

/** A long digit string shortened for a message. */
function clip(s: string): string {
  return s.length > 24 ? s.slice(0, 24) + '...' : s;
}

function dataLines(n: number): string {
  return n === 1 ? '1 data line' : `${n} data lines`;
}

function tokenAt(buf: Buffer, s: number, e: number): string {
  let p = s;
  while (p < e && !isWs(buf[p]!)) p++;
  return buf.toString('utf8', s, p);
}

/** Chunked reader that always hands complete lines to the parser. */
class LineFeeder {
  buf: Buffer;
  /** valid bytes in buf */
  len = 0;
  /** parse position in buf */
  pos = 0;
  eof = false;
  /** end of the region of complete lines (or len at eof) */
  end = 0;

  private constructor(
    private readonly fh: FileHandle,
    private readonly path: string,
    readonly size: number,
    chunkBytes: number,
  ) {
    this.buf = Buffer.allocUnsafe(Math.max(1, Math.min(chunkBytes, size + 1)));
  }

  static async open(path: string, opts: XcReadOptions = {}): Promise<LineFeeder> {
    const chunkBytes = opts.chunkBytes ?? CHUNK_BYTES;
    if (!Number.isInteger(chunkBytes) || chunkBytes < 1) throw new RangeError(`chunkBytes must be a positive integer, got ${chunkBytes}`);
    let fh: FileHandle;
    try {
      fh = await open(path, 'r');
    } catch (err) {
      throw openError(path, err);
    }
    try {
      const st = await fh.stat();
      if (st.isDirectory()) throw new InputError(path, 1, 'a readable XC data file', 'a directory');
      return new LineFeeder(fh, path, st.size, chunkBytes);
    } catch (err) {
      await fh.close();
      throw err;
    }
  }

  /** Read more bytes; updates end. Returns false when nothing more can be read. */
  async fill(): Promise<boolean> {
    if (this.eof) return false;
    if (this.pos > 0) {
      this.buf.copy(this.buf, 0, this.pos, this.len);
      this.len -= this.pos;
      this.pos = 0;
    }
    if (this.len === this.buf.length) {
      const bigger = Buffer.allocUnsafe(this.buf.length * 2);
      this.buf.copy(bigger, 0, 0, this.len);
      this.buf = bigger;
    }
    let bytesRead: number;
    try {
      ({ bytesRead } = await this.fh.read(this.buf, this.len, this.buf.length - this.len, null));
    } catch (err) {
      throw openError(this.path, err);
    }
    this.len += bytesRead;
    if (bytesRead === 0) {
      this.eof = true;
      this.end = this.len;
    } else {
      this.end = this.buf.lastIndexOf(NL, this.len - 1) + 1; // 0 when no newline yet
      if (this.end < this.pos) this.end = this.pos;
    }
    return true;
  }

  async close(): Promise<void> {
    await this.fh.close();
  }
}

function openError(path: string, err: unknown): Error {
  const e = err as NodeJS.ErrnoException;
  const why =
    e?.code === 'ENOENT'
      ? 'no such file (ENOENT)'
      : e?.code === 'EACCES'
        ? 'permission denied (EACCES)'
        : e?.code === 'EISDIR'
          ? 'a directory'
          : `${e?.code ?? 'error'}: ${e?.message ?? String(err)}`;
  const ie = new InputError(path, 1, 'a readable XC data file', why);
  (ie as Error).cause = err;
  return ie;
}

/** Parse the header from the feeder (reading as much as needed). */
async function readHeaderFrom(feeder: LineFeeder, parser: XcParser): Promise<XcHeader> {
  while (parser.header === null) {
    if (feeder.pos < feeder.end || (feeder.eof && feeder.pos < feeder.len)) {
      // parse just the first line: maxRows 0 stops right after the header
      feeder.pos = parser.consume(feeder.buf, feeder.pos, feeder.end, feeder.eof, 0);
      if (parser.header !== null) break;
    }
    if (!(await feeder.fill())) parser.finish(); // throws: no header
  }
  return parser.header!;
}

/** Read only the header line of an XC file. */
export async function readXcHeader(path: string): Promise<XcHeader> {
  const feeder = await LineFeeder.open(path);
  try {
    return await readHeaderFrom(feeder, new XcParser(path, null));
  } finally {
    await feeder.close();
  }
}

function emptyBatch(rows: number, nnz: number, labels: number): CsrBatch {
  return {
    n: 0,
    featPtr: new Int32Array(rows + 1),
    featIdx: new Int32Array(nnz),
    featVal: new Float32Array(nnz),
    labelPtr: new Int32Array(rows + 1),
    labelIdx: new Int32Array(labels),
  };
}

function trimmed(sink: CsrSink, h: XcHeader): XcDataset {
  const b = sink.b;
  const n = sink.n;
  return {
    n,
    nFeatures: h.nFeatures,
    nLabels: h.nLabels,
    featPtr: b.featPtr.length === n + 1 ? b.featPtr : b.featPtr.slice(0, n + 1),
    featIdx: b.featIdx.length === sink.nnz ? b.featIdx : b.featIdx.slice(0, sink.nnz),
    featVal: b.featVal.length === sink.nnz ? b.featVal : b.featVal.slice(0, sink.nnz),
    labelPtr: b.labelPtr.length === n + 1 ? b.labelPtr : b.labelPtr.slice(0, n + 1),
    labelIdx: b.labelIdx.length === sink.nl ? b.labelIdx : b.labelIdx.slice(0, sink.nl),
  };
}

/** Read a whole XC file into one CSR data set (arrays trimmed to their exact lengths). */
export async function readXcFile(path: string, opts: XcReadOptions = {}): Promise<XcDataset> {
  const feeder = await LineFeeder.open(path, opts);
  try {
    const parser = new XcParser(path, null);
    const h = await readHeaderFrom(feeder, parser);
    // every data line but the last takes at least one byte, so rows <= remaining bytes + 1
    const rowCap = Math.min(h.nPoints, feeder.size + 1);
    const estNnz = Math.min(Math.max(1024, Math.ceil(feeder.size / 10)), 1 << 28);
    const estLab = Math.min(Math.max(256, Math.ceil(feeder.size / 80)), 1 << 26);
    const sink = new CsrSink(emptyBatch(rowCap, estNnz, estLab));
    parser.sink = sink;
    for (;;) {
      feeder.pos = parser.consume(feeder.buf, feeder.pos, feeder.end, feeder.eof, Infinity);
      if (!(await feeder.fill())) break;
    }
    parser.finish();
    return trimmed(sink, h);
  } finally {
    await feeder.close();
  }
}

/**
 * Stream an XC file as batches of at most `batchSize` rows (the last one may be shorter).
 *
 * The yielded batch is ONE reused object (backed by a CsrBatchBuffer whose arrays may be longer
 * than needed: use n and featPtr[n] / labelPtr[n]). It is valid only until the next batch is
 * requested; copy what must outlive that. The header is checked before the first batch; the
 * truncation check happens at end of file, so a truncated file fails when the last batch is
 * requested (after earlier batches were yielded).
 */
export async function* readXcBatches(path: string, batchSize: number, opts: XcReadOptions = {}): AsyncGenerator<CsrBatch> {
  if (!Number.isInteger(batchSize) || batchSize <= 0) {
    throw new RangeError(`readXcBatches: batchSize must be a positive integer, got ${batchSize}`);
  }
  const feeder = await LineFeeder.open(path, opts);
  try {
    const parser = new XcParser(path, null);
    await readHeaderFrom(feeder, parser);
    const storage = new CsrBatchBuffer();
    const rows0 = Math.min(batchSize, 1 << 16); // grows on demand beyond this
    storage.reserve(rows0, 16 * rows0, 2 * rows0);
    const sink = new CsrSink(storage.batch);
    parser.sink = sink;
    for (;;) {
      feeder.pos = parser.consume(feeder.buf, feeder.pos, feeder.end, feeder.eof, batchSize);
      if (sink.n >= batchSize) {
        sink.b.n = sink.n;
        yield sink.b;
        sink.reset();
        continue;
      }
      if (!(await feeder.fill())) break;
    }
    parser.finish();
    if (sink.n > 0) {
      sink.b.n = sink.n;
      yield sink.b;
    }
  } finally {
    await feeder.close();
  }
}

/** Parse XC text held in memory (convenience for tests and small inputs). */
export function parseXcString(text: string, name = '<string>'): XcDataset {
  const buf = Buffer.from(text, 'utf8');
  const parser = new XcParser(name, null);
  const pos = parser.consume(buf, 0, buf.length, true, 0); // header only
  const h = parser.header;
  if (h === null) return parser.finish() as never; // throws: no header
  const sink = new CsrSink(emptyBatch(Math.min(h.nPoints, buf.length + 1), Math.max(16, buf.length >> 2), Math.max(16, buf.length >> 3)));
  parser.sink = sink;
  parser.consume(buf, pos, buf.length, true, Infinity);
  parser.finish();
  return trimmed(sink, h);
}
