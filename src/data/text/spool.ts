/**
 * The importer's spool: a temporary binary file holding every accepted row as provisional token
 * and label ids, written in the pass over the input and read back (twice) once the vocabulary is
 * known. The input is thus parsed and tokenized once, may be a pipe, and is never held in memory.
 *
 * Layout: a sequence of int32 records (native byte order; the file never leaves this process)
 *   [flags, nLabels, nTokens, label ids (nLabels), token ids (nTokens)]
 * flags bit 0: the row belongs to the test split. Token ids repeat (term frequency).
 */
import { openSync, writeSync, readSync, closeSync, unlinkSync, existsSync } from 'node:fs';
import { join } from 'node:path';

export const SPOOL_TEST = 1;

/** Ints buffered before a write (16 MiB). */
const CHUNK_INTS = 1 << 22;

export class SpoolWriter {
  readonly path: string;
  private fd: number | null;
  private buf = new Int32Array(CHUNK_INTS);
  private len = 0;
  /** bytes written so far */
  bytes = 0;

  constructor(dir: string) {
    this.path = join(dir, `.spool.tmp-${process.pid}-${Math.floor(performance.now() * 1000)}`);
    this.fd = openSync(this.path, 'w+', 0o600);
  }

  /** Append one record; labels[0..nl) and tokens[0..nt) are copied. */
  append(flags: number, labels: Int32Array, nl: number, tokens: Int32Array, nt: number): void {
    const need = 3 + nl + nt;
    if (this.len + need > this.buf.length) {
      this.flush();
      if (need > this.buf.length) this.buf = new Int32Array(need);
    }
    const b = this.buf;
    let o = this.len;
    b[o++] = flags;
    b[o++] = nl;
    b[o++] = nt;
    b.set(labels.subarray(0, nl), o);
    o += nl;
    b.set(tokens.subarray(0, nt), o);
    this.len = o + nt;
  }

  /** Write out what is buffered; the spool can then be read. */
  flush(): void {
    if (this.fd === null) throw new Error(`spool ${this.path} is closed`);
    const bytes = new Uint8Array(this.buf.buffer, 0, this.len * 4);
    let off = 0;
    while (off < bytes.length) off += writeSync(this.fd, bytes, off, bytes.length - off);
    this.bytes += bytes.length;
    this.len = 0;
  }

  /** Iterate over every record written (flushes first). */
  read(): SpoolReader {
    this.flush();
    return new SpoolReader(this.fd!, this.bytes);
  }

  /** Close and delete the file (safe to call twice). */
  dispose(): void {
    if (this.fd !== null) {
      closeSync(this.fd);
      this.fd = null;
    }
    if (existsSync(this.path)) unlinkSync(this.path);
  }
}

/**
 * Sequential reader: next() loads the following record, whose fields are then `flags`, `nLabels`,
 * `nTokens`, and its ids at `ints[labelsAt ..]` and `ints[tokensAt ..]` (views into a buffer that
 * the next call overwrites).
 */
export class SpoolReader {
  ints = new Int32Array(CHUNK_INTS);
  flags = 0;
  nLabels = 0;
  nTokens = 0;
  labelsAt = 0;
  tokensAt = 0;
  private pos = 0; // next record in ints
  private end = 0; // whole ints loaded
  private endBytes = 0; // bytes loaded (a read may end inside an int)
  private filePos = 0;

  constructor(
    private readonly fd: number,
    private readonly size: number,
  ) {}

  next(): boolean {
    if (!this.ensure(3)) return false;
    const b = this.ints;
    const p = this.pos;
    const nl = b[p + 1]!;
    const nt = b[p + 2]!;
    if (!this.ensure(3 + nl + nt)) throw new Error('spool: truncated record');
    const q = this.pos; // ensure may have moved the record to the front
    this.flags = this.ints[q]!;
    this.nLabels = nl;
    this.nTokens = nt;
    this.labelsAt = q + 3;
    this.tokensAt = q + 3 + nl;
    this.pos = q + 3 + nl + nt;
    return true;
  }

  /** Make ints[pos, pos + n) loaded; false at the end of the file. */
  private ensure(n: number): boolean {
    if (this.pos + n <= this.end) return true;
    // move the partial record to the front (growing the buffer for a huge one) and read more
    const restBytes = this.endBytes - this.pos * 4;
    if (n > this.ints.length) {
      const bigger = new Int32Array(n);
      new Uint8Array(bigger.buffer).set(new Uint8Array(this.ints.buffer, this.pos * 4, restBytes));
      this.ints = bigger;
    } else {
      new Uint8Array(this.ints.buffer).copyWithin(0, this.pos * 4, this.endBytes);
    }
    this.pos = 0;
    this.endBytes = restBytes;
    const bytes = new Uint8Array(this.ints.buffer);
    while (this.endBytes < n * 4 && this.filePos < this.size) {
      const want = Math.min(bytes.length - this.endBytes, this.size - this.filePos);
      const got = readSync(this.fd, bytes, this.endBytes, want, this.filePos);
      if (got <= 0) throw new Error(`spool: read returned ${got} at byte ${this.filePos} of ${this.size}`);
      this.filePos += got;
      this.endBytes += got;
    }
    this.end = this.endBytes >> 2;
    return this.end >= n;
  }
}
