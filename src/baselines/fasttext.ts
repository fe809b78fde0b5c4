/**
 * fastText (supervised mode, the Debian package `fasttext` 0.9.2) as a baseline, driven through
 * its command line: the practitioner's tool for tagging texts on a CPU.
 *
 * The data set's features are given to it as word tokens, one line a point:
 *
 *   __label__<label id> __label__<label id> <token> <token> ...
 *
 * A feature's token is its line of the vocabulary (features.txt beside the data) when the data
 * set has one, else `f<id>`. fastText has no feature values, so how they are given is a choice
 * ({@link FasttextInput}):
 * - 'once' (the default): each non-zero feature once, in id order (a binary bag of words;
 *   fastText averages the embeddings of a line's tokens). It assumes nothing about the values.
 * - 'repeat': each non-zero feature repeated by its value, as a term count would be in text:
 *   integer values (the data carries counts) that many times; other values (e.g. WordNet's
 *   L2-normalised (1 + ln tf) * idf) in proportion to the row's smallest, rounded; at most
 *   MAX_REPEAT times either way, so a line stays bounded.
 * On WordNet (loss hs, 25 epochs, lr 0.5, 2 threads, one run each) both reached P@1 0.422 on the
 * whole test split; 'repeat' wrote 1.4x the tokens and took 1.6x as long.
 * fastText's own defaults are kept for what it does with tokens: no character n-grams in
 * supervised mode (minn = maxn = 0, so a token's spelling does not matter, only its identity),
 * and every line also holds its end-of-line token `</s>`, which acts as a bias.
 *
 * Predictions (`fasttext predict model test.txt k`) are parsed back into label ids and scored
 * with the project's MetricsAccumulator, so P@k is defined exactly as for the other systems: every
 * test point counts, one without labels scoring 0 (`fasttext test` skips such points).
 *
 * Processes are started with argument arrays (no shell); a missing binary gives
 * {@link FasttextMissingError}, which says how to install it.
 */
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { CsrBatch } from '../data/csr.js';
import { MetricsAccumulator, type RankingMetrics } from '../eval/metrics.js';
import { writeFileAtomic } from '../util/atomicWrite.js';
import { InputError, quote } from '../util/errors.js';

export type FasttextLoss = 'hs' | 'ns' | 'softmax' | 'ova';
export const FASTTEXT_LOSSES: readonly FasttextLoss[] = ['hs', 'ns', 'softmax', 'ova'];

export type FasttextInput = 'once' | 'repeat';
export const FASTTEXT_INPUTS: readonly FasttextInput[] = ['once', 'repeat'];

/** The label prefix fastText expects by default (`-label`). */
export const LABEL_PREFIX = '__label__';
/** fastText's end-of-line token: a vocabulary entry spelled so would be read as the line's end. */
const EOS = '</s>';
/** most times 'repeat' writes one feature */
export const MAX_REPEAT = 32;
/** characters fastText splits tokens on (Dictionary::readWord) */
const FASTTEXT_SPACE = /[ \n\r\t\v\f\0]/;

/** The binary: FASTTEXT_BIN, else `fasttext` on the PATH. */
export function fasttextBinary(env: NodeJS.ProcessEnv = process.env): string {
  const b = env['FASTTEXT_BIN'];
  return b !== undefined && b !== '' ? b : 'fasttext';
}

export class FasttextMissingError extends Error {
  constructor(readonly bin: string, why: string) {
    super(`fastText not found: could not run "${bin}" (${why}). Install it with \`apt-get install fasttext\` (Debian/Ubuntu), or set FASTTEXT_BIN to its path`);
    this.name = 'FasttextMissingError';
  }
}

/** fastText ran but failed (non-zero exit); the message holds the end of its stderr. */
export class FasttextError extends Error {
  /** one line for a record: how the process ended and fastText's own last word, if any */
  readonly reason: string;
  constructor(message: string, reason = message) {
    super(message);
    this.name = 'FasttextError';
    this.reason = reason;
  }
}

// ---------------------------------------------------------------------------------------------
// Input files
// ---------------------------------------------------------------------------------------------

/** How a data set's rows become fastText lines. */
export interface FasttextEncoding {
  /** token of feature i (null: `f<i>`) */
  tokens: readonly string[] | null;
  input: FasttextInput;
  /** every value of the data is an integer >= 1 (term counts): 'repeat' writes each that many times */
  integerValues: boolean;
}

/**
 * The vocabulary's lines as tokens, checked to be usable as fastText words: `nFeatures` lines at
 * least, none empty, holding whitespace, starting with the label prefix, spelled `</s>`, or
 * repeating an earlier one (fastText would merge the two features).
 */
export function featureTokens(lines: readonly string[], nFeatures: number, file: string): string[] {
  if (lines.length < nFeatures) throw new InputError(file, lines.length, `${nFeatures} lines (one token per feature)`, `${lines.length}`);
  const seen = new Map<string, number>();
  const out = lines.slice(0, nFeatures);
  for (let i = 0; i < out.length; i++) {
    const t = out[i]!;
    const line = i + 1;
    if (t === '') throw new InputError(file, line, 'a token', 'an empty line');
    if (FASTTEXT_SPACE.test(t)) throw new InputError(file, line, 'a token without whitespace (fastText splits words on it)', quote(t));
    if (t.startsWith(LABEL_PREFIX)) throw new InputError(file, line, `a token not starting with ${LABEL_PREFIX} (fastText would read a label)`, quote(t));
    if (t === EOS) throw new InputError(file, line, `a token other than ${EOS} (fastText's end of line)`, quote(t));
    const first = seen.get(t);
    if (first !== undefined) throw new InputError(file, line, `a token distinct from line ${first}'s`, quote(t));
    seen.set(t, line);
  }
  return out;
}

/** Tokens from a vocabulary file (one token a line), checked by {@link featureTokens}. */
export async function readFeatureTokens(path: string, nFeatures: number): Promise<string[]> {
  const text = await readFile(path, 'utf8');
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  return featureTokens(lines.map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l)), nFeatures, path);
}

/** Whether every value of the batches is an integer >= 1 (the data carries term counts). */
export function hasIntegerValues(...sets: readonly CsrBatch[]): boolean {
  for (const d of sets) {
    const nnz = d.featPtr[d.n]!;
    for (let k = d.featPtr[0]!; k < nnz; k++) {
      const v = d.featVal[k]!;
      if (!(v >= 1 && Number.isInteger(v))) return false;
    }
  }
  return true;
}

/**
 * Times 'repeat' writes a feature of value `v` in a row whose smallest non-zero |value| is
 * `rowMin`: the count itself for integer data, else |v| / rowMin rounded; within [1, MAX_REPEAT].
 */
export function repeatCount(v: number, rowMin: number, integerValues: boolean): number {
  const r = integerValues ? v : Math.round(Math.abs(v) / rowMin);
  return Math.max(1, Math.min(MAX_REPEAT, r));
}

/** Line of row r (with its newline). Features of value 0 are left out: they are not non-zeros. */
export function fasttextLine(d: CsrBatch, r: number, enc: FasttextEncoding): string {
  const parts: string[] = [];
  for (let k = d.labelPtr[r]!; k < d.labelPtr[r + 1]!; k++) parts.push(LABEL_PREFIX + d.labelIdx[k]!);
  const f0 = d.featPtr[r]!;
  const f1 = d.featPtr[r + 1]!;
  let rowMin = Infinity;
  if (enc.input === 'repeat' && !enc.integerValues) {
    for (let k = f0; k < f1; k++) {
      const a = Math.abs(d.featVal[k]!);
      if (a > 0 && a < rowMin) rowMin = a;
    }
  }
  for (let k = f0; k < f1; k++) {
    const v = d.featVal[k]!;
    if (v === 0) continue;
    const id = d.featIdx[k]!;
    const tok = enc.tokens ? enc.tokens[id]! : `f${id}`;
    const times = enc.input === 'repeat' ? repeatCount(v, rowMin, enc.integerValues) : 1;
    for (let t = 0; t < times; t++) parts.push(tok);
  }
  return parts.join(' ') + '\n';
}

/** Write every row of `d` as fastText's input (atomically: a temporary file, then a rename). */
export function writeFasttextFile(path: string, d: CsrBatch, enc: FasttextEncoding): void {
  if (enc.tokens) {
    // ids beyond the vocabulary would be written as "undefined"
    const nnz = d.featPtr[d.n]!;
    for (let k = d.featPtr[0]!; k < nnz; k++) {
      if (d.featIdx[k]! >= enc.tokens.length) throw new RangeError(`feature id ${d.featIdx[k]} has no token (vocabulary of ${enc.tokens.length})`);
    }
  }
  function* lines(): Generator<string> {
    // chunks of ~1,000 lines: one write call each, not one per line
    let chunk = '';
    for (let r = 0; r < d.n; r++) {
      chunk += fasttextLine(d, r, enc);
      if ((r + 1) % 1000 === 0) {
        yield chunk;
        chunk = '';
      }
    }
    if (chunk !== '') yield chunk;
  }
  writeFileAtomic(path, lines());
}

// ---------------------------------------------------------------------------------------------
// Predictions and scores
// ---------------------------------------------------------------------------------------------

/** Top-k label ids of n points: ids[r*k .. r*k + count[r]) in rank order. */
export interface FasttextPredictions {
  n: number;
  k: number;
  ids: Int32Array; // (n, k) row-major, -1 past count[r]
  count: Int32Array; // (n)
}

/**
 * Parse `fasttext predict` output (one line a test point: `__label__<id>` tokens in rank order,
 * possibly none) for `n` points. A token that is not a known label id is an error naming the line.
 */
export function parsePredictions(text: string, n: number, k: number, nLabels: number, source = '<fasttext predict output>'): FasttextPredictions {
  const ids = new Int32Array(n * k).fill(-1);
  const count = new Int32Array(n);
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  if (lines.length !== n) throw new InputError(source, lines.length, `${n} lines (one per test point)`, `${lines.length}`);
  for (let r = 0; r < n; r++) {
    const toks = lines[r]!.split(' ');
    let c = 0;
    for (const t of toks) {
      if (t === '') continue;
      const id = t.startsWith(LABEL_PREFIX) ? Number(t.slice(LABEL_PREFIX.length)) : NaN;
      if (!Number.isInteger(id) || id < 0 || id >= nLabels) throw new InputError(source, r + 1, `${LABEL_PREFIX}<label id below ${nLabels}>`, quote(t));
      if (c >= k) throw new InputError(source, r + 1, `at most ${k} labels`, `${toks.filter((x) => x !== '').length}`);
      ids[r * k + c] = id;
      c++;
    }
    count[r] = c;
  }
  return { n, k, ids, count };
}

/**
 * P@1/3/5 and nDCG@5 of the predictions against the true labels of `d` (the same rows, in
 * order), over the rows `rows` (all when omitted).
 */
export function scorePredictions(p: FasttextPredictions, d: CsrBatch, rows?: Int32Array): RankingMetrics {
  if (p.n !== d.n) throw new RangeError(`predictions for ${p.n} points, data set of ${d.n}`);
  const acc = new MetricsAccumulator();
  const m = rows ? rows.length : d.n;
  for (let i = 0; i < m; i++) {
    const r = rows ? rows[i]! : i;
    acc.add(p.ids.subarray(r * p.k, r * p.k + p.k), p.count[r]!, d.labelIdx, d.labelPtr[r]!, d.labelPtr[r + 1]!);
  }
  return acc.result();
}

// ---------------------------------------------------------------------------------------------
// Running the binary
// ---------------------------------------------------------------------------------------------

export interface RunOutput {
  stdout: string;
  stderr: string;
  seconds: number;
  /** why the run was stopped before it finished (the time limit, or the watcher's reason); null when it finished */
  stopped: string | null;
}

/** A progress report of a training run (fastText's -verbose 2 line), with the time since the start. */
export interface FasttextProgress {
  /** fraction of the run's tokens done, 0..1 */
  done: number;
  /** fastText's estimate of the seconds left */
  etaSec: number;
  /** seconds since the process started */
  elapsedSec: number;
}

export interface RunOptions {
  /** kill the process after this many seconds (0: no limit) */
  timeoutSec?: number;
  /** called on each progress report; a returned reason kills the run */
  watch?: (p: FasttextProgress) => string | null;
}

/** stderr kept for error messages */
const STDERR_TAIL = 4000;
/** longest unread stderr kept while waiting for the rest of a progress report (a report is ~100 characters) */
const PENDING_MAX = 400;
/** `Progress: 12.3% words/sec/thread: ... ETA:   0h 1m 5s` */
const PROGRESS = /Progress:\s*([\d.]+)%.*?ETA:\s*(\d+)h\s*(\d+)m\s*(\d+)s/g;

/**
 * Run `bin args...` (no shell), collecting its output. Rejects with FasttextMissingError when the
 * binary cannot be started, FasttextError on a non-zero exit; a run stopped by the time limit or
 * the watcher resolves with the reason in `stopped`.
 */
export function runFasttext(bin: string, args: readonly string[], opts: RunOptions = {}): Promise<RunOutput> {
  return new Promise((resolvePromise, reject) => {
    const t0 = performance.now();
    const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let err = '';
    let stopped: string | null = null;
    let settled = false;
    const stop = (why: string): void => {
      if (stopped !== null) return;
      stopped = why;
      child.kill('SIGKILL');
    };
    const timeoutSec = opts.timeoutSec ?? 0;
    const timer = timeoutSec > 0 ? setTimeout(() => stop(`stopped at the time limit of ${timeoutSec.toFixed(1)} s`), timeoutSec * 1000) : null;
    child.stdout.on('data', (b: Buffer) => out.push(b));
    // the stderr not yet read for progress reports: a report can be split between two chunks
    let pending = '';
    child.stderr.on('data', (b: Buffer) => {
      const text = b.toString('utf8');
      err = (err + text).slice(-STDERR_TAIL);
      if (!opts.watch || stopped !== null) return;
      const buf = pending + text;
      let m: RegExpExecArray | null;
      let last: RegExpExecArray | null = null;
      let end = 0;
      PROGRESS.lastIndex = 0;
      while ((m = PROGRESS.exec(buf)) !== null) {
        last = m;
        end = PROGRESS.lastIndex;
      }
      pending = last ? buf.slice(end) : buf.slice(-PENDING_MAX);
      if (last) {
        const p: FasttextProgress = {
          done: Number(last[1]) / 100,
          etaSec: Number(last[2]) * 3600 + Number(last[3]) * 60 + Number(last[4]),
          elapsedSec: (performance.now() - t0) / 1000,
        };
        const why = opts.watch(p);
        if (why !== null) stop(why);
      }
    });
    child.on('error', (e: NodeJS.ErrnoException) => {
      if (timer) clearTimeout(timer);
      if (settled) return;
      settled = true;
      if (e.code === 'ENOENT' || e.code === 'EACCES') reject(new FasttextMissingError(bin, e.code));
      else reject(e);
    });
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      if (settled) return;
      settled = true;
      const seconds = (performance.now() - t0) / 1000;
      const stdout = Buffer.concat(out).toString('utf8');
      if (stopped !== null) return resolvePromise({ stdout, stderr: err, seconds, stopped });
      if (code !== 0) {
        // fastText's progress lines end in \r: keep the last few lines readable
        const tail = err.replace(/\r/g, '\n').split('\n').filter((l) => l.trim() !== '').slice(-6).join('\n');
        const how = signal ? `signal ${signal}` : `exit code ${code}`;
        // an uncaught C++ exception ends with "what():  <message>" (e.g. "Encountered NaN." when a high rate diverges)
        const what = /what\(\):\s*(.+)/.exec(tail)?.[1]?.trim();
        return reject(new FasttextError(`${bin} ${args.join(' ')} failed (${how})${tail ? `:\n${tail}` : ''}`, `fastText ended with ${how}${what ? `: ${what}` : ''}`));
      }
      resolvePromise({ stdout, stderr: err, seconds, stopped: null });
    });
  });
}

/** Fail early, with the install hint, when the binary cannot be run. */
export async function checkFasttext(bin: string): Promise<void> {
  try {
    // without arguments fastText prints its usage and exits non-zero: only starting it matters here
    await runFasttext(bin, [], { timeoutSec: 10 });
  } catch (e) {
    if (e instanceof FasttextMissingError) throw e;
  }
}

export interface FasttextTrainOptions {
  loss: FasttextLoss;
  epochs: number;
  lr: number;
  /** embedding dimension (fastText's -dim) */
  dim: number;
  /**
   * word n-grams (fastText's -wordNgrams). Keep 1 for these data sets: a line lists its features
   * in id order, so neighbouring tokens are not neighbouring words
   */
  wordNgrams: number;
  threads: number;
  /** fastText's -seed; with more than one thread its runs differ anyway (HOGWILD updates) */
  seed: number;
}

/** The command-line arguments of a supervised training run. */
export function trainArgs(input: string, outputPrefix: string, o: FasttextTrainOptions): string[] {
  if (!FASTTEXT_LOSSES.includes(o.loss)) throw new RangeError(`fastText loss must be one of ${FASTTEXT_LOSSES.join(', ')}, got ${String(o.loss)}`);
  for (const [k, v] of [['epochs', o.epochs], ['dim', o.dim], ['wordNgrams', o.wordNgrams], ['threads', o.threads]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new RangeError(`fastText ${k} must be a positive integer, got ${v}`);
  }
  if (!(o.lr > 0) || !Number.isFinite(o.lr)) throw new RangeError(`fastText lr must be a positive number, got ${o.lr}`);
  return [
    'supervised', '-input', input, '-output', outputPrefix,
    '-loss', o.loss, '-epoch', String(o.epochs), '-lr', String(o.lr), '-dim', String(o.dim),
    '-wordNgrams', String(o.wordNgrams), '-thread', String(o.threads), '-seed', String(o.seed),
    // verbosity 2: a progress report with fastText's estimate of the time left every 0.1 s, which trainRun watches
    '-verbose', '2',
  ];
}

/** One training run: its model and the wall-clock seconds of writing the input plus training. */
export interface FasttextRun {
  /** the trained model (`<prefix>.bin`); null when the run was stopped */
  model: string | null;
  seconds: number;
  /** seconds of writing the training file, included in `seconds` */
  writeSeconds: number;
  /** why the run was stopped before it finished; null when it finished */
  stopped: string | null;
  /**
   * seconds from the start until fastText's first progress report (reading the file and building
   * its dictionary, plus up to 0.1 s) and until it reported 100% (the rest is saving the model and
   * every word's vector); null when it reported none
   */
  firstProgressSec: number | null;
  doneProgressSec: number | null;
}

/** Fraction of a run done before its progress may stop it. */
const JUDGE_AFTER = 0.05;

/**
 * A data set's train and test splits as fastText files in `workDir` (which the caller owns and
 * removes), trained on and predicted for through the binary. One model at a time lives in the
 * directory: fastText also saves every word's vector (`.vec`), tens of MB on WordNet.
 */
export class FasttextBaseline {
  private readonly trainPath: string;
  private readonly testPath: string;
  private readonly modelPrefix: string;
  private testWritten = false;

  constructor(
    readonly bin: string,
    readonly workDir: string,
    readonly train: CsrBatch,
    readonly test: CsrBatch,
    readonly nLabels: number,
    readonly encoding: FasttextEncoding,
  ) {
    this.trainPath = join(workDir, 'train.txt');
    this.testPath = join(workDir, 'test.txt');
    this.modelPrefix = join(workDir, 'model');
  }

  /**
   * Train one configuration, replacing the previous model. The clock covers writing the training
   * file (each run writes it again, as a user's run would) and fastText loading it, training and
   * saving the model. The run is killed after `limitSec` seconds (0: no limit), and as soon as
   * fastText's progress projects it past that: elapsed seconds plus fastText's estimate of the
   * seconds left, once JUDGE_AFTER of it is done (earlier estimates swing with the start-up).
   */
  async trainRun(o: FasttextTrainOptions, limitSec = 0): Promise<FasttextRun> {
    this.removeModel();
    const t0 = performance.now();
    writeFasttextFile(this.trainPath, this.train, this.encoding);
    const writeSeconds = (performance.now() - t0) / 1000;
    let first: number | null = null;
    let last: number | null = null;
    const watch = (p: FasttextProgress): string | null => {
      const at = writeSeconds + p.elapsedSec;
      first ??= at;
      if (p.done >= 1) last ??= at;
      const projected = at + p.etaSec;
      return limitSec > 0 && p.done >= JUDGE_AFTER && projected > limitSec
        ? `projected ${projected.toFixed(1)} s from its progress (${(100 * p.done).toFixed(1)}% after ${at.toFixed(1)} s) exceeds the limit of ${limitSec} s`
        : null;
    };
    const r = await runFasttext(this.bin, trainArgs(this.trainPath, this.modelPrefix, o), { timeoutSec: limitSec > 0 ? Math.max(0.001, limitSec - writeSeconds) : 0, watch });
    const seconds = (performance.now() - t0) / 1000;
    if (r.stopped !== null) this.removeModel();
    return {
      model: r.stopped !== null ? null : `${this.modelPrefix}.bin`, seconds, writeSeconds, stopped: r.stopped,
      firstProgressSec: first, doneProgressSec: last,
    };
  }

  /** Top-k predictions of the model for every test point, in test order. */
  async predictTest(model: string, k = 5): Promise<FasttextPredictions> {
    const r = await runFasttext(this.bin, ['predict', model, this.testFile(), String(k)]);
    return parsePredictions(r.stdout, this.test.n, k, this.nLabels, `${this.bin} predict ${model}`);
  }

  /** The test split's fastText file (written on first use), e.g. for `fasttext test`. */
  testFile(): string {
    if (!this.testWritten) {
      writeFasttextFile(this.testPath, this.test, this.encoding);
      this.testWritten = true;
    }
    return this.testPath;
  }

  /** Remove the current model's files. */
  removeModel(): void {
    for (const ext of ['.bin', '.vec']) rmSync(this.modelPrefix + ext, { force: true });
  }
}
