import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { loadModel } from '../checkpoint/checkpoint.js';
import { Predictor, QueryError } from '../serve/predictor.js';
import { openAtomic, type AtomicWriter } from '../util/atomicWrite.js';
import { ConfigError, InputError } from '../util/errors.js';
import { MAX_QUERY_DEPTH, jsonDepthOver, tooDeepMessage } from '../serve/jsonDepth.js';
import { checkDistinct, checkInputFile, checkOutputFile } from './paths.js';
import { candidatesFlag, maxMemoryFlag, threadsFlag } from './configArgs.js';
import type { KernelChoice } from '../kernels/index.js';

export type InputFormat = 'auto' | 'xc' | 'text' | 'json';

interface PredictFlags {
  model: string;
  input: string;
  k: string;
  exact?: boolean;
  format?: InputFormat;
  out?: string;
  kernels?: KernelChoice;
  threads?: string;
  maxMemory?: string;
  candidates?: string;
}

const XC_HEADER = /^\s*\d+\s+\d+\s+\d+\s*$/;
const LABELS = /^\d+(,\d+)*$/;
const PAIR = /^(\d+):(\S+)$/;

/** An XC-format row ("[l1,l2] f:v f:v"), or null when the line is not one. */
function parseXcRow(line: string): { ids: number[]; vals: number[] } | null {
  const toks = line.trim().split(/\s+/).filter((t) => t.length > 0);
  let i = 0;
  if (toks.length > 0 && LABELS.test(toks[0]!)) i = 1;
  const ids: number[] = [];
  const vals: number[] = [];
  for (; i < toks.length; i++) {
    const m = PAIR.exec(toks[i]!);
    if (!m) return null;
    ids.push(Number(m[1]));
    vals.push(Number(m[2]));
  }
  return ids.length > 0 || toks.length > 0 ? { ids, vals } : null;
}

/** A checked query: its features, labels wanted and inference. */
export interface Query {
  idx: Int32Array;
  val: Float32Array;
  k: number;
  exact: boolean;
}

/**
 * One input line -> its query; throws QueryError for a bad line. Formats: xc ("[labels] f:v
 * ..."), text (free text, needs a vocabulary), json ({"features"} or {"text"}, the service's
 * body), auto (json if it starts with "{", xc if every token is f:v after an optional label
 * list, else text).
 */
export function parseQuery(p: Predictor, line: string, format: InputFormat, k: number, exact: boolean): Query {
  const trimmed = line.trim();
  if (trimmed === '') throw new QueryError('empty line');
  let fmt = format;
  if (fmt === 'auto') fmt = trimmed.startsWith('{') ? 'json' : parseXcRow(trimmed) ? 'xc' : 'text';
  let idx: Int32Array;
  let val: Float32Array;
  let kk = k;
  let ex = exact;
  if (fmt === 'xc') {
    const row = parseXcRow(trimmed);
    if (!row) throw new QueryError('expected "[labels] id:value id:value ..."');
    ({ idx, val } = p.checkFeatures(row.ids, row.vals));
  } else if (fmt === 'text') {
    ({ idx, val } = p.featurize(trimmed));
  } else {
    // before parsing: the checks below walk the value, and a deep one would overflow the stack
    if (jsonDepthOver(trimmed, MAX_QUERY_DEPTH)) throw new QueryError(tooDeepMessage(MAX_QUERY_DEPTH));
    let q: unknown;
    try {
      q = JSON.parse(trimmed);
    } catch (e) {
      throw new QueryError(`not valid JSON (${(e as Error).message})`);
    }
    if (typeof q !== 'object' || q === null || Array.isArray(q)) throw new QueryError('expected a JSON object {"features": {...}} or {"text": "..."}');
    const o = q as Record<string, unknown>;
    for (const key of Object.keys(o)) if (!['features', 'text', 'k', 'exact'].includes(key)) throw new QueryError(`unknown field ${JSON.stringify(key)}`);
    if (o.k !== undefined) kk = Predictor.checkK(o.k);
    if (o.exact !== undefined) {
      if (typeof o.exact !== 'boolean') throw new QueryError('exact must be true or false');
      ex = o.exact;
    }
    if ((o.features === undefined) === (o.text === undefined)) throw new QueryError('give either "features" or "text"');
    if (o.text !== undefined) {
      if (typeof o.text !== 'string') throw new QueryError('text must be a string');
      ({ idx, val } = p.featurize(o.text));
    } else {
      if (typeof o.features !== 'object' || o.features === null || Array.isArray(o.features)) throw new QueryError('features must be an object {"<id>": value}');
      ({ idx, val } = p.featuresFromObject(o.features as Record<string, unknown>));
    }
  }
  return { idx, val, k: kk, exact: ex };
}

/** Lines answered together (on the model's threads): the first few alone, so that answers start streaming at once, then chunks doubling up to this. */
const CHUNK_LINES = 4096;

/** `sublinear predict`: top-k labels of every input line, one JSON line each, in input order. */
export async function runPredict(flags: PredictFlags): Promise<void> {
  const k = Number(flags.k);
  if (!Number.isInteger(k) || k < 1 || k > 100) throw new ConfigError(`--k: expected an integer in 1..100, found ${JSON.stringify(flags.k)}`);
  const format = flags.format ?? 'auto';
  checkInputFile(flags.model, '--model');
  if (flags.input !== '-') checkInputFile(flags.input, '--input', { stream: true });
  if (flags.out) {
    checkOutputFile(flags.out, '--out');
    checkDistinct([['--out', flags.out]], [['--model', flags.model], ['--input', flags.input]]);
  }
  const threads = threadsFlag(flags.threads);
  const loaded = await loadModel(flags.model, { kernels: flags.kernels ?? 'auto', threads, maxMemoryBytes: maxMemoryFlag(flags.maxMemory), queryCandidates: candidatesFlag(flags.candidates) });
  const p = new Predictor(loaded);
  if (format === 'text' && !p.hasVocabulary) throw new ConfigError(`--format text: ${flags.model} has no vocabulary (train with --vocab-dir, or use the demo's --save)`);
  const exact = flags.exact === true;
  if (!exact && !p.hasLsh) process.stderr.write(`note: ${flags.model} has a dense output layer (no LSH tables): every answer uses exact inference\n`);
  const input = flags.input === '-' ? process.stdin : createReadStream(flags.input, { encoding: 'utf8' });
  const inputName = flags.input === '-' ? '<stdin>' : flags.input;
  let out: AtomicWriter | null = null;
  if (flags.out) out = openAtomic(flags.out);
  const write = (s: string): void => {
    if (out) out.write(s);
    else process.stdout.write(s);
  };
  let lineNo = 0;
  let bad = 0;
  let firstBad = 0;
  let firstMsg = '';
  // a chunk of lines: each a query or the error of its line; answered together, written in order
  let chunk: (Query | string)[] = [];
  let chunkLines = 16;
  const flush = async (): Promise<void> => {
    const answers = await p.predictMany(chunk.filter((q): q is Query => typeof q !== 'string'));
    let a = 0;
    for (const q of chunk) write(JSON.stringify(typeof q === 'string' ? { error: q } : { labels: answers[a++] }) + '\n');
    chunk = [];
    chunkLines = Math.min(CHUNK_LINES, 2 * chunkLines);
  };
  try {
    const rl = createInterface({ input, crlfDelay: Infinity });
    for await (const line of rl) {
      lineNo++;
      // the header line of an XC file is not a query
      if (lineNo === 1 && format !== 'text' && format !== 'json' && XC_HEADER.test(line)) continue;
      try {
        chunk.push(parseQuery(p, line, format, k, exact));
      } catch (e) {
        if (!(e instanceof QueryError)) throw e;
        bad++;
        if (bad === 1) {
          firstBad = lineNo;
          firstMsg = e.message;
        }
        chunk.push(`${inputName}:${lineNo}: ${e.message}`);
      }
      if (chunk.length >= chunkLines) await flush();
    }
    await flush();
    out?.commit();
  } catch (e) {
    out?.abort();
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new ConfigError(`--input: cannot read ${flags.input}: ${(e as Error).message}`);
    throw e;
  }
  if (bad > 0) throw new InputError(inputName, firstBad, 'a query on every line', `${firstMsg} (${bad} of the lines were answered with {"error": ...})`);
}
