import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  FasttextBaseline, FasttextMissingError, MAX_REPEAT, checkFasttext, fasttextBinary, fasttextLine, featureTokens, hasIntegerValues,
  parsePredictions, readFeatureTokens, repeatCount, runFasttext, scorePredictions, trainArgs, writeFasttextFile,
  type FasttextEncoding, type FasttextProgress,
} from '../src/baselines/fasttext.js';
import { generateSynthetic, SYNTH_SHAPES } from '../src/data/synth.js';
import type { CsrBatch, XcDataset } from '../src/data/csr.js';
import { InputError } from '../src/util/errors.js';
import { Rng } from '../src/util/rng.js';

const BIN = fasttextBinary();
const started = spawnSync(BIN, [], { stdio: 'ignore' });
/** the real-binary tests skip, saying why, where fastText is not installed (CI installs it: .ci/run) */
const MISSING: string | false = started.error ? `fastText is not installed ("${BIN}": ${(started.error as NodeJS.ErrnoException).code}); apt-get install fasttext` : false;

/** 4 rows: tokens and labels; a zero value; a row without labels; a row without features. */
function handBatch(): CsrBatch {
  return {
    n: 4,
    featPtr: Int32Array.of(0, 3, 5, 5, 7),
    featIdx: Int32Array.of(0, 2, 4, 1, 3, 0, 4),
    featVal: Float32Array.of(0.2, 0.6, 0.35, 0.5, 0, 1, 3),
    labelPtr: Int32Array.of(0, 2, 2, 3, 4),
    labelIdx: Int32Array.of(7, 3, 1, 0),
  };
}

const once = (tokens: string[] | null = null): FasttextEncoding => ({ tokens, input: 'once', integerValues: false });

test('fasttextLine: labels first as __label__<id>, then each non-zero feature once by its token (or f<id>)', () => {
  const b = handBatch();
  const lines = [0, 1, 2, 3].map((r) => fasttextLine(b, r, once()));
  assert.deepEqual(lines, ['__label__7 __label__3 f0 f2 f4\n', 'f1\n', '__label__1\n', '__label__0 f0 f4\n']);
  const tokens = ['zero', 'one', 'two', 'three', 'four'];
  assert.equal(fasttextLine(b, 0, once(tokens)), '__label__7 __label__3 zero two four\n');
  assert.equal(fasttextLine(b, 1, once(tokens)), 'one\n', 'the explicit zero (feature 3) is not a non-zero');
});

test('fasttextLine, repeat: values in proportion to the row\'s smallest, rounded, capped; integer data repeated by its counts', () => {
  const b = handBatch();
  const rep: FasttextEncoding = { tokens: null, input: 'repeat', integerValues: false };
  // row 0: 0.2, 0.6, 0.35 -> 1, 3, 2 (0.35 / 0.2 = 1.75)
  assert.equal(fasttextLine(b, 0, rep), '__label__7 __label__3 f0 f2 f2 f2 f4 f4\n');
  // row 3: 1 and 3 -> 1 and 3
  assert.equal(fasttextLine(b, 3, rep), '__label__0 f0 f4 f4 f4\n');
  assert.equal(repeatCount(1000, 1, false), MAX_REPEAT);
  assert.equal(repeatCount(-0.4, 0.2, false), 2, 'a negative value repeats by its size');
  assert.equal(repeatCount(4, 2, true), 4, 'counts are counts, not ratios');
  assert.equal(repeatCount(500, 1, true), MAX_REPEAT);
  const counts: CsrBatch = { ...b, featVal: Float32Array.of(2, 1, 5, 1, 1, 1, 3) };
  assert.equal(hasIntegerValues(counts), true);
  assert.equal(hasIntegerValues(b), false);
  assert.equal(hasIntegerValues(counts, b), false);
  assert.equal(fasttextLine(counts, 0, { tokens: null, input: 'repeat', integerValues: true }), '__label__7 __label__3 f0 f0 f2 f4 f4 f4 f4 f4\n');
});

/** Parse a fastText file back: labels and feature ids (tokens mapped back through the vocabulary). */
function parseBack(text: string, tokens: readonly string[] | null): { labels: number[][]; feats: number[][] } {
  const index = new Map(tokens?.map((t, i) => [t, i]) ?? []);
  const labels: number[][] = [];
  const feats: number[][] = [];
  for (const line of text.split('\n').slice(0, -1)) {
    const l: number[] = [];
    const f: number[] = [];
    for (const t of line.split(' ').filter(Boolean)) {
      if (t.startsWith('__label__')) l.push(Number(t.slice(9)));
      else f.push(tokens ? index.get(t)! : Number(t.slice(1)));
    }
    labels.push(l);
    feats.push(f);
  }
  return { labels, feats };
}

test('writeFasttextFile: round trip of a synthetic set, with f<id> tokens and with a vocabulary', () => {
  const { train } = generateSynthetic({ ...SYNTH_SHAPES['tiny']!, nTrain: 300, seed: 3 });
  const dir = mkdtempSync(join(tmpdir(), 'ft-format-'));
  try {
    const vocab = Array.from({ length: train.nFeatures }, (_, i) => `w${(i * 7919) % 100003}x`);
    for (const tokens of [null, vocab]) {
      const path = join(dir, 'train.txt');
      writeFasttextFile(path, train, once(tokens));
      const back = parseBack(readFileSync(path, 'utf8'), tokens);
      assert.equal(back.labels.length, train.n);
      for (let r = 0; r < train.n; r++) {
        assert.deepEqual(back.labels[r], [...train.labelIdx.subarray(train.labelPtr[r]!, train.labelPtr[r + 1]!)]);
        assert.deepEqual(back.feats[r], [...train.featIdx.subarray(train.featPtr[r]!, train.featPtr[r + 1]!)]);
      }
      assert.deepEqual(readdirSync(dir), ['train.txt'], 'no temporary file left');
    }
    assert.throws(() => writeFasttextFile(join(dir, 'x.txt'), train, once(vocab.slice(0, 10))), /has no token/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('featureTokens: a vocabulary line fastText would misread is refused with its file and line', async () => {
  assert.deepEqual(featureTokens(['cat', 'dog', 'extra'], 2, 'f.txt'), ['cat', 'dog']);
  const bad: [string[], RegExp][] = [
    [['cat', 'big cat'], /^f\.txt:2: expected a token without whitespace.*"big cat"/],
    [['cat', 'a\tb'], /^f\.txt:2: expected a token without whitespace/],
    [['', 'dog'], /^f\.txt:1: expected a token, found an empty line/],
    [['cat', '__label__5'], /^f\.txt:2: expected a token not starting with __label__/],
    [['</s>', 'dog'], /^f\.txt:1: expected a token other than <\/s>/],
    [['cat', 'dog', 'cat'], /^f\.txt:3: expected a token distinct from line 1's/],
    [['cat'], /^f\.txt:1: expected 3 lines/],
  ];
  for (const [lines, re] of bad) {
    assert.throws(() => featureTokens(lines, lines.length === 1 ? 3 : lines.length, 'f.txt'), (e: unknown) => e instanceof InputError && re.test(e.message), lines.join('|'));
  }
  const dir = mkdtempSync(join(tmpdir(), 'ft-vocab-'));
  try {
    writeFileSync(join(dir, 'features.txt'), 'cat\r\ndog\nemu\n');
    assert.deepEqual(await readFeatureTokens(join(dir, 'features.txt'), 3), ['cat', 'dog', 'emu']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** P@1 / P@5 by sets, straight from predicted ids per row: the oracle for the scoring. */
function bruteForce(pred: number[][], d: CsrBatch, rows: number[]): { p1: number; p5: number } {
  let h1 = 0;
  let h5 = 0;
  for (const r of rows) {
    const truth = new Set(d.labelIdx.subarray(d.labelPtr[r]!, d.labelPtr[r + 1]!));
    const top = pred[r]!;
    if (top.length > 0 && truth.has(top[0]!)) h1++;
    for (const id of top.slice(0, 5)) if (truth.has(id)) h5++;
  }
  return { p1: h1 / rows.length, p5: h5 / (5 * rows.length) };
}

test('parsePredictions + scorePredictions: every point counts; scores equal a brute-force count, on all rows and on a subset', () => {
  const rng = new Rng(5);
  const n = 200;
  const nLabels = 30;
  const labelPtr = new Int32Array(n + 1);
  const labelIdx: number[] = [];
  const pred: number[][] = [];
  for (let r = 0; r < n; r++) {
    // every 10th point without labels, some points with fewer than 5 predictions
    const nl = r % 10 === 0 ? 0 : 1 + rng.nextInt(3);
    const ls = new Set<number>();
    while (ls.size < nl) ls.add(rng.nextInt(nLabels));
    labelIdx.push(...[...ls].sort((a, b) => a - b));
    labelPtr[r + 1] = labelIdx.length;
    const ps = new Set<number>();
    const np = r % 7 === 0 ? rng.nextInt(5) : 5;
    while (ps.size < np) ps.add(rng.nextInt(nLabels));
    pred.push([...ps]);
  }
  const d: CsrBatch = { n, featPtr: new Int32Array(n + 1), featIdx: new Int32Array(0), featVal: new Float32Array(0), labelPtr, labelIdx: Int32Array.from(labelIdx) };
  const text = pred.map((p) => p.map((id) => `__label__${id}`).join(' ') + '\n').join('');
  const p = parsePredictions(text, n, 5, nLabels);
  for (let r = 0; r < n; r++) assert.deepEqual([...p.ids.subarray(r * 5, r * 5 + p.count[r]!)], pred[r]);
  const all = Array.from({ length: n }, (_, i) => i);
  const m = scorePredictions(p, d);
  const bf = bruteForce(pred, d, all);
  assert.equal(m.points, n);
  assert.ok(Math.abs(m.p1 - bf.p1) < 1e-12 && Math.abs(m.p5 - bf.p5) < 1e-12, `${m.p1}/${m.p5} against ${bf.p1}/${bf.p5}`);
  const subset = all.filter((r) => r % 3 === 1);
  const ms = scorePredictions(p, d, Int32Array.from(subset));
  const bs = bruteForce(pred, d, subset);
  assert.equal(ms.points, subset.length);
  assert.ok(Math.abs(ms.p1 - bs.p1) < 1e-12 && Math.abs(ms.p5 - bs.p5) < 1e-12);
  // malformed output names its line
  assert.throws(() => parsePredictions('__label__1\n__label__x\n', 2, 5, nLabels), /:2: expected __label__<label id below 30>, found "__label__x"/);
  assert.throws(() => parsePredictions('__label__1\n__label__30\n', 2, 5, nLabels), /:2: expected __label__<label id below 30>/);
  assert.throws(() => parsePredictions('__label__1\n', 2, 5, nLabels), /expected 2 lines/);
  assert.throws(() => parsePredictions('__label__1 __label__2\n\n', 2, 1, nLabels), /:1: expected at most 1 labels/);
});

test('trainArgs: an argument array (no shell), bad options refused by name', () => {
  const a = trainArgs('/tmp/a b/train.txt', '/tmp/a b/model', { loss: 'hs', epochs: 5, lr: 0.5, dim: 100, wordNgrams: 1, threads: 2, seed: 1 });
  assert.deepEqual(a.slice(0, 5), ['supervised', '-input', '/tmp/a b/train.txt', '-output', '/tmp/a b/model']);
  assert.deepEqual(a.slice(a.indexOf('-loss'), a.indexOf('-loss') + 2), ['-loss', 'hs']);
  assert.deepEqual(a.slice(a.indexOf('-thread'), a.indexOf('-thread') + 2), ['-thread', '2']);
  const ok = { loss: 'hs' as const, epochs: 5, lr: 0.5, dim: 100, wordNgrams: 1, threads: 2, seed: 1 };
  assert.throws(() => trainArgs('i', 'o', { ...ok, epochs: 0 }), /epochs/);
  assert.throws(() => trainArgs('i', 'o', { ...ok, lr: 0 }), /lr/);
  assert.throws(() => trainArgs('i', 'o', { ...ok, loss: 'hinge' as never }), /loss must be one of hs, ns, softmax, ova/);
});

test('a missing binary is a clear error that says how to install fastText', async () => {
  const bin = join(tmpdir(), 'no-such-dir', 'fasttext');
  const install = /fastText not found: could not run ".*no-such-dir\/fasttext" \(ENOENT\)\. Install it with `apt-get install fasttext`/;
  await assert.rejects(runFasttext(bin, ['supervised']), (e: unknown) => e instanceof FasttextMissingError && install.test(e.message));
  await assert.rejects(checkFasttext(bin), install);
  const dir = mkdtempSync(join(tmpdir(), 'ft-missing-'));
  try {
    const b = new FasttextBaseline(bin, dir, handBatch(), handBatch(), 8, once());
    await assert.rejects(b.trainRun({ loss: 'hs', epochs: 1, lr: 0.5, dim: 10, wordNgrams: 1, threads: 1, seed: 1 }), install);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  assert.equal(fasttextBinary({ FASTTEXT_BIN: '/opt/ft/fasttext' }), '/opt/ft/fasttext');
  assert.equal(fasttextBinary({}), 'fasttext');
});

test('runFasttext: progress reports are read even when split between writes, and a watcher\'s reason stops the run', async () => {
  // a stand-in for fastText (Node itself) writing two reports, the second split in two writes, then hanging
  const script = `
    const w = (s) => process.stderr.write(s);
    w('Read 0M words\\nProgress:  10.0% words/sec/thread:  100 lr:  0.4 avg.loss:  3.0 ETA:   0h 1m 30s');
    setTimeout(() => w('\\rProgress:  20.0% words/sec/thread:  100 lr:  0.3 avg.loss:  2.'), 50);
    setTimeout(() => w('5 ETA:   1h 0m 2s'), 150);
    setTimeout(() => {}, 60000);`;
  const seen: FasttextProgress[] = [];
  const r = await runFasttext(process.execPath, ['-e', script], {
    timeoutSec: 30,
    watch: (p) => {
      seen.push(p);
      return p.etaSec > 3600 ? 'too long' : null;
    },
  });
  assert.equal(r.stopped, 'too long');
  assert.deepEqual(seen.map((p) => [p.done, p.etaSec]), [[0.1, 90], [0.2, 3602]]);
  assert.ok(seen[1]!.elapsedSec >= seen[0]!.elapsedSec);
  // the time limit stops a run that never reports
  const t = await runFasttext(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { timeoutSec: 0.3 });
  assert.match(t.stopped!, /time limit of 0\.3 s/);
  // a failing run rejects with the end of its stderr
  await assert.rejects(runFasttext(process.execPath, ['-e', 'process.stderr.write("bad input file\\r"); process.exit(3)']), /exit code 3\):\nbad input file/);
});

/** tiny synthetic set whose first test point has no labels (fastText's own test skips such points) */
function tinySets(): { train: XcDataset; test: XcDataset } {
  const { train, test } = generateSynthetic({ ...SYNTH_SHAPES['tiny']!, seed: 11 });
  const drop = test.labelPtr[1]!;
  const labelPtr = Int32Array.from(test.labelPtr, (v) => Math.max(0, v - drop));
  return { train, test: { ...test, labelPtr, labelIdx: test.labelIdx.slice(drop) } };
}

test('real fastText on a tiny set: predictions parsed and scored as a brute-force count, and as `fasttext test` over the points with labels', { skip: MISSING }, async () => {
  const { train, test } = tinySets();
  assert.equal(test.labelPtr[1], 0);
  const dir = mkdtempSync(join(tmpdir(), 'ft-real-'));
  try {
    const b = new FasttextBaseline(BIN, dir, train, test, train.nLabels, once());
    // one thread: fastText's runs are reproducible then
    const run = await b.trainRun({ loss: 'hs', epochs: 10, lr: 0.5, dim: 20, wordNgrams: 1, threads: 1, seed: 1 }, 60);
    assert.equal(run.stopped, null);
    assert.ok(run.model && existsSync(run.model));
    assert.ok(run.seconds >= run.writeSeconds && run.firstProgressSec !== null && run.doneProgressSec !== null && run.doneProgressSec >= run.firstProgressSec);
    const pred = await b.predictTest(run.model, 5);
    // the oracle: fastText's raw output parsed by hand
    const raw = await runFasttext(BIN, ['predict', run.model, b.testFile(), '5']);
    const byHand = raw.stdout.split('\n').slice(0, test.n).map((l) => l.split(' ').filter(Boolean).map((t) => Number(t.replace('__label__', ''))));
    assert.equal(byHand.length, test.n);
    const all = Array.from({ length: test.n }, (_, i) => i);
    const m = scorePredictions(pred, test);
    const bf = bruteForce(byHand, test, all);
    assert.ok(Math.abs(m.p1 - bf.p1) < 1e-12 && Math.abs(m.p5 - bf.p5) < 1e-12, `${m.p1}/${m.p5} against ${bf.p1}/${bf.p5}`);
    assert.ok(m.p1 > 0.3, `the set is learnable: P@1 ${m.p1}`);
    // fastText's own test: N = the points with labels, P@k = hits / (N k), printed to 3 digits
    for (const k of [1, 5]) {
      const out: string = (await runFasttext(BIN, ['test', run.model, b.testFile(), String(k)])).stdout;
      const N: number = Number(/^N\s+(\d+)/m.exec(out)![1]);
      const pk: number = Number(new RegExp(`^P@${k}\\s+([\\d.]+)`, 'm').exec(out)![1]);
      assert.equal(N, test.n - 1, 'fastText skips the point without labels');
      const ours = k === 1 ? m.p1 : m.p5;
      // ours counts that point (as 0 hits): ours * n = hits = theirs * N
      assert.ok(Math.abs(ours * test.n - pk * N) <= 0.0005 * N + 1e-9, `P@${k}: ${ours} x ${test.n} against ${pk} x ${N}`);
    }
    b.removeModel();
    assert.ok(!existsSync(run.model));
    // a run stopped at its time limit leaves no model
    const stopped = await b.trainRun({ loss: 'softmax', epochs: 50, lr: 0.5, dim: 20, wordNgrams: 1, threads: 1, seed: 1 }, 0.001);
    assert.equal(stopped.model, null);
    assert.match(stopped.stopped!, /time limit/);
    assert.ok(!existsSync(join(dir, 'model.bin')));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
