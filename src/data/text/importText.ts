/**
 * `sublinear data text`: JSONL / CSV / TSV files of documents and their labels -> an XC data set
 * with its vocabularies (importer.ts), ready for `train --vocab-dir`, `predict` and `serve`.
 *
 * Bad rows (invalid JSON or CSV, a missing field, a field of the wrong type, a label that is not
 * a non-empty string, a text without a single token) stop the import with
 * `file:line: expected ..., found ...`, or with `skipBad` are skipped and counted by reason in
 * meta.json (with the first few messages).
 */
import { statSync } from 'node:fs';
import { TextImporter, type TextImportOptions, type ImportResult } from './importer.js';
import { readRows, extractRecord, isBadRow, formatOfPath, CsvRowError, type TextFormat, type FieldSpec, type BadRow, type BadReason } from './sources.js';
import { MIN_TOKEN_LENGTH } from './tokenize.js';
import { ConfigError, InputError, quote } from '../../util/errors.js';

export interface ImportTextOptions {
  /** training rows (and test rows, split off by testFraction, unless `test` is given); '-' = stdin */
  input: string;
  /** a separate file of test rows (then no split) */
  test?: string;
  /** format of both files (default: from the extension) */
  format?: TextFormat;
  fields: FieldSpec;
  out: string;
  skipBad: boolean;
  /** testFraction (ignored with `test`), minDf, maxFeatures, minLabelCount */
  options: Partial<TextImportOptions>;
  /** told the bytes and rows read so far, after every chunk of input */
  onProgress?: (p: { file: string; bytes: number; rows: number }) => void;
  /** told once every input is read, before the data set is written */
  onReadDone?: (p: { bytes: number; rows: number }) => void;
}

export interface ImportTextResult extends ImportResult {
  /** bytes and rows read, all files */
  bytes: number;
  rows: number;
  bad: Partial<Record<BadReason, number>>;
}

/** How many bad-row messages meta.json keeps. */
const BAD_EXAMPLES = 10;

/** Total size of the input files when all are regular files (for a progress bar), else null. */
export function inputBytes(files: string[]): number | null {
  let total = 0;
  for (const f of files) {
    if (f === '-') return null;
    try {
      const st = statSync(f);
      if (!st.isFile()) return null;
      total += st.size;
    } catch {
      return null;
    }
  }
  return total;
}

function resolveFormat(file: string, given: TextFormat | undefined): TextFormat {
  if (given) return given;
  const f = formatOfPath(file);
  if (!f) throw new ConfigError(`--format: cannot tell the format of ${file} from its name (.jsonl, .ndjson, .csv, .tsv); give --format jsonl|csv|tsv`);
  return f;
}

export async function importTextFiles(o: ImportTextOptions): Promise<ImportTextResult> {
  if (o.fields.text.length === 0) throw new ConfigError('--text: name at least one field');
  if (o.fields.labelSep === '') throw new ConfigError('--label-sep: must not be empty');
  if (o.test !== undefined && o.options.testFraction !== undefined) throw new ConfigError('give either --test FILE or --test-fraction, not both');
  if (o.test === '-' && o.input === '-') throw new ConfigError('--input and --test cannot both be stdin');
  const sources = [{ file: o.input, role: o.test === undefined ? 'train and test (split)' : 'train', format: resolveFormat(o.input, o.format) }];
  if (o.test !== undefined) sources.push({ file: o.test, role: 'test', format: resolveFormat(o.test, o.format) });
  const options: Partial<TextImportOptions> = { ...o.options };
  if (o.test !== undefined) options.testFraction = 0;
  const importer = new TextImporter(o.out, options);

  const fieldNames = [...o.fields.text, o.fields.labels, ...(o.fields.id !== undefined ? [o.fields.id] : [])];
  const bad: Partial<Record<BadReason, number>> = {};
  const badExamples: string[] = [];
  let bytes = 0;
  let rows = 0;
  const inputs: { file: string; format: TextFormat; role: string; bytes: number; rows: number; badRows: number }[] = [];
  try {
    for (const src of sources) {
      const isTest = src.role === 'test';
      const stat = { file: src.file, format: src.format, role: src.role, bytes: 0, rows: 0, badRows: 0 };
      inputs.push(stat);
      const onBad = (line: number, b: BadRow): void => {
        if (!o.skipBad) throw new InputError(src.file, line, b.expected, b.found);
        bad[b.reason] = (bad[b.reason] ?? 0) + 1;
        stat.badRows++;
        if (badExamples.length < BAD_EXAMPLES) badExamples.push(`${src.file}:${line}: expected ${b.expected}, found ${b.found}`);
      };
      try {
        await readRows(
          src.file,
          src.format,
          fieldNames,
          {
            row: (value, line) => {
              stat.rows++;
              rows++;
              const rec = extractRecord(value, o.fields);
              if (isBadRow(rec)) return onBad(line, rec);
              const outcome = isTest ? importer.addTest(rec) : importer.add(rec);
              if (outcome === 'empty-text') {
                onBad(line, {
                  reason: 'empty-text',
                  expected: `a text with a word (${MIN_TOKEN_LENGTH}+ letters or digits, not a stopword)`,
                  found: quote(rec.text),
                });
              }
            },
            bad: (line, b) => {
              stat.rows++;
              rows++;
              onBad(line, b);
            },
            bytes: (n) => {
              stat.bytes += n;
              bytes += n;
              o.onProgress?.({ file: src.file, bytes, rows });
            },
          },
          { skipBad: o.skipBad },
        );
      } catch (e) {
        if (e instanceof CsvRowError) throw new InputError(src.file, e.line, e.bad.expected, e.bad.found);
        throw e;
      }
    }
  } catch (e) {
    importer.abort();
    throw e;
  }

  o.onReadDone?.({ bytes, rows });
  const split =
    o.test !== undefined
      ? `test rows from ${o.test}, training rows from ${o.input}`
      : 'test iff murmur3_32(UTF-8 bytes of the key, seed 0) / 2^32 < testFraction; key = ' +
        (o.fields.id !== undefined ? `the ${quote(o.fields.id)} field (a number as written in JSON)` : 'the text, a line break, and the labels joined by line breaks');
  const result = importer.finish(o.out, {
    source: 'text import (sublinear data text)',
    inputs,
    fields: { text: o.fields.text, labels: o.fields.labels, id: o.fields.id ?? null, labelSep: o.fields.labelSep },
    split,
    skipBad: o.skipBad,
    badRows: bad,
    badExamples,
  });
  return { ...result, bytes, rows, bad };
}
