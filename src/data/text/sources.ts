/**
 * Rows of JSONL, CSV and TSV files, streamed (never the whole file in memory), and the fields of a
 * row turned into a TextRecord or into the reason the row is bad.
 *
 * - JSONL: one JSON object a line (UTF-8, a leading BOM and CRLF line ends allowed, blank lines
 *   skipped). Line numbers are physical lines.
 * - CSV / TSV (csv-parse): a header row names the fields; quoted fields may hold delimiters, quotes
 *   ("" inside quotes) and line breaks. TSV is tab-delimited with the same optional quoting (what
 *   Excel and pandas write). A quote inside a field that does not start with one is a plain
 *   character. LF and CRLF line ends; blank lines are skipped. A row with more or fewer fields
 *   than the header is bad. A row's line number is the line its first field starts on.
 *
 * Fields: the text is one or more fields joined by a line break (each must be a string); labels
 * are a JSON array of strings (in JSONL, or a cell holding one, like ["a","b"]) or a string of
 * labels joined by `labelSep` (default ","; empty parts are skipped, each label is trimmed). A
 * string that starts with "[" is read as a JSON array. The split key is the `id` field if given
 * (a string, or a number written as in JSON), otherwise the text and the labels.
 */
import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import { parse as parseCsv, CsvError } from 'csv-parse';
import type { TextRecord } from './importer.js';
import { ConfigError, quote } from '../../util/errors.js';

export type TextFormat = 'jsonl' | 'csv' | 'tsv';

/** Why a row is bad; the keys of the counts in meta.json. */
export type BadReason = 'invalid-json' | 'invalid-csv' | 'not-an-object' | 'missing-field' | 'wrong-type' | 'bad-label' | 'empty-text';

export interface BadRow {
  reason: BadReason;
  /** the two halves of `file:line: expected ..., found ...` */
  expected: string;
  found: string;
}

export interface FieldSpec {
  /** text fields, joined by a line break */
  text: readonly string[];
  labels: string;
  /** the split key, when given */
  id?: string;
  /** separator of labels given as one string */
  labelSep: string;
}

/** Callbacks of a source read: rows (parsed objects) and bad rows, in file order, and bytes as they are read. */
export interface RowSink {
  row(value: Record<string, unknown>, line: number): void;
  bad(line: number, bad: BadRow): void;
  bytes(n: number): void;
}

/** The format named by a file's extension, or null. */
export function formatOfPath(path: string): TextFormat | null {
  const m = /\.([a-z]+)$/i.exec(path);
  const ext = m ? m[1]!.toLowerCase() : '';
  if (ext === 'jsonl' || ext === 'ndjson') return 'jsonl';
  if (ext === 'csv') return 'csv';
  if (ext === 'tsv' || ext === 'tab') return 'tsv';
  return null;
}

function openInput(file: string): Readable {
  return file === '-' ? process.stdin : createReadStream(file, { highWaterMark: 1 << 20 });
}

/**
 * Read a file's rows into the sink. CSV / TSV: `fields` must all be columns of the header
 * (ConfigError otherwise); with skipBad a malformed record goes to sink.bad, otherwise it throws
 * CsvRowError. (JSONL rows that are not JSON objects always go to sink.bad.)
 */
export async function readRows(file: string, format: TextFormat, fields: readonly string[], sink: RowSink, opts: { skipBad: boolean }): Promise<void> {
  const input = openInput(file);
  try {
    if (format === 'jsonl') await readJsonl(input, sink);
    else await readDelimited(input, file, format === 'tsv' ? '\t' : ',', fields, sink, opts.skipBad);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'EISDIR') {
      throw new ConfigError(`cannot read ${file}: ${(e as Error).message}`);
    }
    throw e;
  } finally {
    if (input !== process.stdin) input.destroy();
  }
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return `a string ${quote(v)}`;
  if (typeof v === 'object') return 'an object';
  return `a ${typeof v} (${quote(String(v))})`;
}

/**
 * Lines are cut on the byte 0x0a before decoding (UTF-8 never uses it inside a character), and
 * each line is decoded on its own: no string of a whole chunk to slice, and V8 decodes an ASCII
 * line straight into a one-byte string.
 */
async function readJsonl(input: Readable, sink: RowSink): Promise<void> {
  let line = 0;
  const handle = (buf: Buffer, s: number, e: number): void => {
    line++;
    if (e > s && buf[e - 1] === 13) e--;
    if (line === 1 && e - s >= 3 && buf[s] === 0xef && buf[s + 1] === 0xbb && buf[s + 2] === 0xbf) s += 3;
    const text = buf.toString('utf8', s, e);
    let v: unknown;
    try {
      v = JSON.parse(text);
    } catch (err) {
      if (text.trim() === '') return; // a blank line
      sink.bad(line, { reason: 'invalid-json', expected: 'a JSON object', found: `invalid JSON (${(err as Error).message})` });
      return;
    }
    if (typeof v !== 'object' || v === null || Array.isArray(v)) {
      sink.bad(line, { reason: 'not-an-object', expected: 'a JSON object', found: describe(v) });
      return;
    }
    sink.row(v as Record<string, unknown>, line);
  };
  // the start of a line that continues in the next chunk(s)
  let carry: Buffer[] = [];
  for await (const chunk of input) {
    const buf = chunk as Buffer;
    sink.bytes(buf.length);
    let start = 0;
    let nl = buf.indexOf(10);
    if (carry.length > 0 && nl >= 0) {
      const joined = Buffer.concat([...carry, buf.subarray(0, nl)]);
      carry = [];
      handle(joined, 0, joined.length);
      start = nl + 1;
      nl = buf.indexOf(10, start);
    }
    for (; nl >= 0; nl = buf.indexOf(10, start)) {
      handle(buf, start, nl);
      start = nl + 1;
    }
    if (start < buf.length) carry.push(buf.subarray(start));
  }
  if (carry.length > 0) {
    const last = Buffer.concat(carry);
    handle(last, 0, last.length);
  }
}

/**
 * Line numbers of CSV records from byte offsets: csv-parse reports where a record ends
 * (info.bytes), so the next record starts there, after any blank lines. Offsets are asked for in
 * increasing order, so chunks already counted are dropped.
 */
class LineCounter {
  private readonly chunks: Buffer[] = [];
  private head = 0; // chunks[0] starts at this offset
  private pos = 0; // counted up to this offset
  private line = 1;

  push(b: Buffer): void {
    this.chunks.push(b);
  }

  /** Line of the first byte at or after `offset` that is not a line break. */
  recordLine(offset: number): number {
    this.advance(offset);
    for (;;) {
      const c = this.byteAt(this.pos);
      if (c !== 10 && c !== 13) break;
      if (c === 10) this.line++;
      this.pos++;
    }
    return this.line;
  }

  private advance(to: number): void {
    while (this.pos < to && this.chunks.length > 0) {
      const b = this.chunks[0]!;
      const end = this.head + b.length;
      const stop = Math.min(to, end);
      let i = this.pos - this.head;
      const e = stop - this.head;
      for (i = b.indexOf(10, i); i >= 0 && i < e; i = b.indexOf(10, i + 1)) this.line++;
      this.pos = stop;
      if (stop === end) {
        this.chunks.shift();
        this.head = end;
      }
    }
  }

  private byteAt(offset: number): number {
    let start = this.head;
    for (const b of this.chunks) {
      if (offset < start + b.length) return b[offset - start]!;
      start += b.length;
    }
    return -1;
  }
}

async function readDelimited(input: Readable, file: string, delimiter: string, fields: readonly string[], sink: RowSink, skipBad: boolean): Promise<void> {
  const lines = new LineCounter();
  let recordStart = 0; // byte offset where the next record starts
  let headerError: ConfigError | null = null;
  const parser = parseCsv({
    delimiter,
    // LF and CRLF alike, even mixed in one file (csv-parse would otherwise take the first line's)
    record_delimiter: ['\r\n', '\n'],
    bom: true,
    skip_empty_lines: true,
    // a quote inside a field that does not start with one is a character (as Python's csv reads
    // it); strict quoting would turn one stray quote into an open quote that swallows the file
    relax_quotes: true,
    skip_records_with_error: skipBad,
    on_skip: (err: CsvError | undefined) => {
      const line = lines.recordLine(recordStart);
      recordStart = parser.info.bytes;
      sink.bad(line, { reason: 'invalid-csv', expected: `well-formed ${delimiter === '\t' ? 'TSV' : 'CSV'}`, found: err ? err.message : 'an unreadable record' });
    },
    columns: (header: string[]) => {
      const seen = new Set<string>();
      for (const h of header) {
        if (seen.has(h)) headerError = new ConfigError(`${file}:1: the header names the column ${quote(h)} twice`);
        seen.add(h);
      }
      for (const f of fields) {
        if (!seen.has(f)) headerError ??= new ConfigError(`${file}:1: no column ${quote(f)} in the header (columns: ${header.map((h) => quote(h)).join(', ')})`);
      }
      if (headerError) throw headerError;
      recordStart = parser.info.bytes;
      return header;
    },
    // called as each record is parsed (the consumer below may lag behind): where it starts
    on_record: (record: Record<string, unknown>, context: { bytes: number }) => {
      const line = lines.recordLine(recordStart);
      recordStart = context.bytes;
      return { record, line };
    },
  });
  input.on('data', (b: Buffer) => {
    lines.push(b);
    sink.bytes(b.length);
  });
  input.pipe(parser);
  input.on('error', (e) => parser.destroy(e));
  try {
    for await (const item of parser) {
      const { record, line } = item as { record: Record<string, unknown>; line: number };
      sink.row(record, line);
    }
  } catch (e) {
    if (headerError) throw headerError;
    if (e instanceof CsvError) {
      const line = lines.recordLine(recordStart);
      throw new CsvRowError(line, { reason: 'invalid-csv', expected: `well-formed ${delimiter === '\t' ? 'TSV' : 'CSV'}`, found: e.message });
    }
    throw e;
  }
}

/** A malformed CSV record when bad rows are not skipped (the caller turns it into an InputError). */
export class CsvRowError extends Error {
  constructor(
    readonly line: number,
    readonly bad: BadRow,
  ) {
    super(bad.found);
  }
}

/** A label list's entries: trimmed, non-empty, no line breaks (labels.txt holds one a line). */
function checkLabel(l: unknown, i: number, out: string[]): BadRow | null {
  if (typeof l !== 'string') return { reason: 'bad-label', expected: 'labels that are strings', found: `${describe(l)} at index ${i}` };
  const t = l.trim();
  if (t === '') return { reason: 'bad-label', expected: 'non-empty labels', found: `an empty label at index ${i}` };
  if (/[\n\r]/.test(t)) return { reason: 'bad-label', expected: 'labels without line breaks', found: `${quote(t)} at index ${i}` };
  out.push(t);
  return null;
}

function labelsOf(v: unknown, field: string, sep: string): string[] | BadRow {
  const out: string[] = [];
  if (typeof v === 'string') {
    const s = v.trim();
    if (s.startsWith('[')) {
      let arr: unknown;
      try {
        arr = JSON.parse(s);
      } catch (e) {
        return { reason: 'bad-label', expected: `field ${quote(field)} to be a JSON array of labels (it starts with "[")`, found: `invalid JSON (${(e as Error).message})` };
      }
      if (!Array.isArray(arr)) return { reason: 'bad-label', expected: `field ${quote(field)} to be a JSON array of labels`, found: describe(arr) };
      v = arr;
    } else {
      for (const part of s.split(sep)) {
        const t = part.trim();
        if (t === '') continue;
        const bad = checkLabel(t, out.length, out);
        if (bad) return bad;
      }
      return out;
    }
  }
  if (!Array.isArray(v)) return { reason: 'wrong-type', expected: `field ${quote(field)} to be an array of labels or a string`, found: describe(v) };
  for (let i = 0; i < v.length; i++) {
    const bad = checkLabel(v[i], i, out);
    if (bad) return bad;
  }
  return out;
}

function missing(field: string, row: Record<string, unknown>): BadRow {
  const keys = Object.keys(row);
  const shown = keys.slice(0, 8).map((k) => quote(k)).join(', ') + (keys.length > 8 ? ', ...' : '');
  return { reason: 'missing-field', expected: `a field ${quote(field)}`, found: keys.length ? `only ${shown}` : 'no field' };
}

/** The record of a row, or why it is bad. Does not tokenize (an empty text is found by the importer). */
export function extractRecord(row: Record<string, unknown>, spec: FieldSpec): TextRecord | BadRow {
  let text = '';
  for (let i = 0; i < spec.text.length; i++) {
    const f = spec.text[i]!;
    const v = row[f];
    if (v === undefined) return missing(f, row);
    if (typeof v !== 'string') return { reason: 'wrong-type', expected: `field ${quote(f)} to be a string`, found: describe(v) };
    text = i === 0 ? v : text + '\n' + v;
  }
  const lv = row[spec.labels];
  if (lv === undefined) return missing(spec.labels, row);
  const labels = labelsOf(lv, spec.labels, spec.labelSep);
  if (!Array.isArray(labels)) return labels;
  let key: string;
  if (spec.id !== undefined) {
    const id = row[spec.id];
    if (id === undefined) return missing(spec.id, row);
    if (typeof id === 'string') key = id;
    else if (typeof id === 'number' && Number.isFinite(id)) key = JSON.stringify(id);
    else return { reason: 'wrong-type', expected: `field ${quote(spec.id)} to be a string or a number`, found: describe(id) };
  } else {
    key = text + '\n' + labels.join('\n');
  }
  return { text, labels, key };
}

export function isBadRow(x: TextRecord | BadRow): x is BadRow {
  return (x as BadRow).reason !== undefined;
}
