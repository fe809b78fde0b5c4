import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir, availableParallelism } from 'node:os';
import { join } from 'node:path';
import { timeToReach, deriveSpeedups, settingsFromEnv, formatTable, ENGINE_CONFIG, unionRows, positionsIn, sampleRowIds, type Comparison } from '../bench/accuracy.js';
import { DATASETS, resolveDataset, ensureDataset, resultBaseName, parseSynthShape } from '../bench/datasets.js';
import { parseConfig } from '../src/config.js';
import { envPrefix, numberFromEnv } from '../bench/env.js';
import type { AccuracyResult } from '../bench/plot.js';
import { readXcFile } from '../src/data/xcReader.js';
import { generateSynthetic, SYNTH_SHAPES } from '../src/data/synth.js';
import { formatXcString } from '../src/data/xcWriter.js';
import { WORDNET_RECIPE } from '../src/training/recipes.js';

const pt = (seconds: number, p1: number) => ({ seconds, p1, p5: p1 / 2 });

test('timeToReach: first crossing, linearly interpolated; null when never reached', () => {
  const s = [pt(0, 0), pt(10, 0.2), pt(20, 0.4), pt(30, 0.3), pt(40, 0.5)];
  assert.equal(timeToReach(s, 0.1), 5);
  assert.equal(timeToReach(s, 0.2), 10);
  assert.ok(Math.abs(timeToReach(s, 0.3)! - 15) < 1e-12);
  // first time, not the later crossing after the dip
  assert.ok(Math.abs(timeToReach(s, 0.35)! - 17.5) < 1e-12);
  assert.ok(Math.abs(timeToReach(s, 0.45)! - 37.5) < 1e-12);
  assert.equal(timeToReach(s, 0.5), 40);
  assert.equal(timeToReach(s, 0.51), null);
  assert.equal(timeToReach(s, 0), 0);
  assert.equal(timeToReach([], 0.1), null);
  assert.equal(timeToReach(s, Number.NaN), null);
});

test('deriveSpeedups: targets are the references\' last sampled P@1', () => {
  const series = [
    { system: 'sublinear-lsh', points: [pt(0, 0), pt(10, 0.3), pt(20, 0.5)] },
    { system: 'sublinear-dense', points: [pt(0, 0), pt(10, 0.1), pt(20, 0.2), pt(30, 0.3)] },
    { system: 'tfjs-wasm', points: [pt(0, 0), pt(30, 0.1), pt(60, 0.6)] },
  ];
  const d = deriveSpeedups(series);
  assert.equal(d['denseFinalP1'], 0.3);
  assert.equal(d.lshTimeToDenseFinalP1, 10);
  assert.equal(d.denseTimeToDenseFinalP1, 30);
  assert.equal(d.speedupVsDense, 3);
  assert.equal(d.lshTimeToTfjsFinalP1, null);
  assert.equal(d.tfjsTimeToTfjsFinalP1, 60);
  assert.equal(d.speedupVsTfjs, null);
  // a CPU fallback of TF.js is still the TF.js reference
  const d2 = deriveSpeedups([series[0]!, { system: 'tfjs-cpu', points: [pt(0, 0), pt(40, 0.4)] }]);
  assert.equal(d2.tfjsTimeToTfjsFinalP1, 40);
  assert.ok(Math.abs(d2.lshTimeToTfjsFinalP1! - 15) < 1e-12);
  assert.ok(Math.abs(d2.speedupVsTfjs! - 40 / 15) < 1e-12);
  assert.equal(d2.speedupVsDense, null);
});

test('settingsFromEnv: defaults, quick mode, budget override, system subset', () => {
  const d = settingsFromEnv({});
  assert.deepEqual({ ...d, dataset: d.dataset.name }, {
    quick: false, budgetSec: 600, evalPoints: 3000, finalPoints: 0,
    systems: ['sublinear-lsh', 'sublinear-defaults', 'sublinear-dense', 'tfjs-wasm', 'fasttext'], threads: availableParallelism(),
    dataset: 'wordnet', engineConfig: ENGINE_CONFIG, outDir: null,
    fasttext: { bin: 'fasttext', losses: ['hs', 'ns', 'softmax', 'ova'], epochs: [1, 2, 5, 10, 25, 50], lrs: [0.5], dim: 100, inputs: ['once'] },
  });
  // BENCH_CONFIG merges over the recipe (nested objects key by key); bad JSON or a bad value is refused up front
  const c = settingsFromEnv({ BENCH_CONFIG: '{"epochs":2,"output":{"activeSet":{"maxActive":400}}}' }).engineConfig!;
  assert.equal(c.epochs, 2);
  assert.equal(parseConfig(c).output.activeSet.maxActive, 400);
  assert.equal(parseConfig(c).output.hash.L, parseConfig(ENGINE_CONFIG).output.hash.L);
  assert.throws(() => settingsFromEnv({ BENCH_CONFIG: '{epochs:2' }), /BENCH_CONFIG is not valid JSON/);
  assert.throws(() => settingsFromEnv({ BENCH_CONFIG: '{"epochs":-1}' }), /epochs/);
  assert.match(settingsFromEnv({ BENCH_OUT: 'tmp/x' }).outDir!, /tmp\/x$/);
  // the recorded command: set variables in the given order, JSON single-quoted (and quotes in it escaped)
  assert.equal(envPrefix(['BENCH_BUDGET_SEC', 'BENCH_SYSTEMS', 'BENCH_THREADS', 'BENCH_CONFIG'], {
    BENCH_CONFIG: `{"a":"it's"}`, BENCH_SYSTEMS: 'sublinear-lsh,tfjs-wasm', BENCH_THREADS: '', BENCH_BUDGET_SEC: '300',
  }), `BENCH_BUDGET_SEC=300 BENCH_SYSTEMS=sublinear-lsh,tfjs-wasm BENCH_CONFIG='{"a":"it'\\''s"}' `);
  assert.equal(envPrefix(['BENCH_CONFIG'], {}), '');
  assert.equal(settingsFromEnv({ BENCH_THREADS: '1' }).threads, 1);
  assert.throws(() => settingsFromEnv({ BENCH_THREADS: '0' }), /BENCH_THREADS/);
  const q = settingsFromEnv({ BENCH_QUICK: '1' });
  assert.equal(q.budgetSec, 15);
  assert.equal(q.evalPoints, 1000);
  assert.equal(q.finalPoints, 3000, 'quick mode: the final evaluation on a sample');
  assert.equal(settingsFromEnv({ BENCH_QUICK: '1', BENCH_BUDGET_SEC: '7.5' }).budgetSec, 7.5);
  assert.deepEqual(settingsFromEnv({ BENCH_SYSTEMS: 'tfjs-wasm, sublinear-lsh' }).systems, ['tfjs-wasm', 'sublinear-lsh']);
  assert.throws(() => settingsFromEnv({ BENCH_BUDGET_SEC: 'abc' }), RangeError);
  assert.throws(() => settingsFromEnv({ BENCH_SYSTEMS: 'pytorch' }), RangeError);
});

test('numberFromEnv: the default when unset or empty, the number when it passes, else an error naming the variable, the rule and the value', () => {
  const rounds = (env: NodeJS.ProcessEnv) => numberFromEnv('BENCH_ROUNDS', 3, 'an integer >= 1', (v) => Number.isInteger(v) && v >= 1, env);
  assert.equal(rounds({}), 3);
  assert.equal(rounds({ BENCH_ROUNDS: '' }), 3);
  assert.equal(rounds({ BENCH_ROUNDS: '5' }), 5);
  for (const bad of ['0', '1.5', 'abc', 'Infinity']) {
    assert.throws(() => rounds({ BENCH_ROUNDS: bad }), (e: unknown) => e instanceof RangeError && e.message === `BENCH_ROUNDS must be an integer >= 1, found ${JSON.stringify(bad)}`);
  }
});

test('ENGINE_CONFIG is a valid engine configuration; the table prints every system', () => {
  const c = parseConfig(ENGINE_CONFIG);
  assert.equal(c.batchSize, 256);
  assert.equal(c.output.mode, 'lsh');
  const r: AccuracyResult = {
    dataset: 'wordnet-3.1', budgetSec: 15,
    series: [{ system: 'sublinear-lsh', points: [pt(0, 0), pt(15, 0.4)] }, { system: 'tfjs-wasm', points: [pt(0, 0), pt(15, 0.1)] }],
    final: { 'sublinear-lsh': { p1: 0.41, p5: 0.2, samplesPerSec: 2000, epochs: 0.4, exactP1: 0.42, exactP5: 0.21 }, 'tfjs-wasm': { p1: 0.1, p5: 0.05, samplesPerSec: 500, epochs: 0.1 } },
    derived: deriveSpeedups([{ system: 'sublinear-lsh', points: [pt(0, 0), pt(15, 0.4)] }, { system: 'tfjs-wasm', points: [pt(0, 0), pt(15, 0.1)] }]),
    machine: { cpus: 2, node: 'v20' }, commands: '',
  };
  const t = formatTable(r);
  assert.match(t, /sublinear-lsh +2000 +0\.40 +0\.4000 +0\.4100 +0\.2000 +0\.4200 \/ 0\.2100/);
  assert.match(t, /tfjs-wasm/);
  assert.match(t, /speed-up 4\.00x/);
  // fastText's row: its best run's sample P@1, and the engine's time to it; skipped systems say why
  const series = [
    { system: 'sublinear-defaults', points: [pt(0, 0), pt(10, 0.5)] },
    { system: 'fasttext', runs: true, points: [pt(3, 0.2), pt(6, 0.45), pt(12, 0.44)] },
  ];
  const t2 = formatTable({
    ...r, series,
    final: { 'sublinear-defaults': { p1: 0.5, p5: 0.3, samplesPerSec: 3000, epochs: 5, threads: 2, activePerSample: 612.4 }, fasttext: { p1: 0.46, p5: 0.25, samplesPerSec: 90000, epochs: 10, threads: 2 } },
    skipped: [{ system: 'sublinear-lsh', reason: 'no recipe' }],
    derived: deriveSpeedups(series, { fasttext: 0.45 }),
  });
  assert.match(t2, /sublinear-defaults +2 +3000 +5\.00 +0\.5000 +0\.5000 +0\.3000 +612/);
  assert.match(t2, /fasttext +2 +90000 +10\.00 +0\.4500 +0\.4600 +0\.2500/);
  assert.match(t2, /sublinear-lsh: skipped \(no recipe\)/);
  assert.match(t2, /time to fasttext's final sample P@1 \(0\.4500\): fasttext 6\.0 s; sublinear-defaults 9\.0 s -> speed-up 0\.67x/);
});

test('settingsFromEnv: fastText sweep settings from the environment, bad values refused by name', () => {
  const f = settingsFromEnv({
    BENCH_FASTTEXT_LOSSES: 'hs, softmax', BENCH_FASTTEXT_EPOCHS: '5,1', BENCH_FASTTEXT_LR: '0.1,1', BENCH_FASTTEXT_DIM: '50', BENCH_FASTTEXT_INPUT: 'once,repeat', FASTTEXT_BIN: '/opt/ft',
  }).fasttext;
  assert.deepEqual(f, { bin: '/opt/ft', losses: ['hs', 'softmax'], epochs: [5, 1], lrs: [0.1, 1], dim: 50, inputs: ['once', 'repeat'] });
  assert.throws(() => settingsFromEnv({ BENCH_FASTTEXT_LOSSES: 'hs,hinge' }), /BENCH_FASTTEXT_LOSSES: "hinge"/);
  assert.throws(() => settingsFromEnv({ BENCH_FASTTEXT_EPOCHS: '1,0' }), /BENCH_FASTTEXT_EPOCHS: "0"/);
  assert.throws(() => settingsFromEnv({ BENCH_FASTTEXT_EPOCHS: '2.5' }), /BENCH_FASTTEXT_EPOCHS/);
  assert.throws(() => settingsFromEnv({ BENCH_FASTTEXT_LR: '-1' }), /BENCH_FASTTEXT_LR/);
  assert.throws(() => settingsFromEnv({ BENCH_FASTTEXT_DIM: '10,20' }), /BENCH_FASTTEXT_DIM/);
  assert.throws(() => settingsFromEnv({ BENCH_FASTTEXT_INPUT: 'tfidf' }), /BENCH_FASTTEXT_INPUT/);
});

test('data set registry: names resolve to a directory and result files; a set without a recipe runs the engine by its defaults', () => {
  const w = settingsFromEnv({});
  assert.equal(w.dataset.dirName, 'wordnet');
  assert.equal(w.dataset.recipe, WORDNET_RECIPE);
  assert.equal(resultBaseName('wordnet'), 'accuracy', 'WordNet keeps the result file names it had');
  const s = settingsFromEnv({ BENCH_DATASET: 'synth-small' });
  assert.equal(s.dataset.name, 'synth-small');
  assert.equal(resultBaseName(s.dataset.name), 'accuracy-synth-small');
  assert.equal(s.engineConfig, null, 'no recipe and no BENCH_CONFIG: sublinear-lsh has nothing to run');
  // BENCH_CONFIG alone gives a set without a recipe one
  assert.deepEqual(settingsFromEnv({ BENCH_DATASET: 'synth-small', BENCH_CONFIG: '{"epochs":3}' }).engineConfig, { epochs: 3 });
  for (const [name, e] of Object.entries(DATASETS)) {
    assert.equal(typeof e.build, 'function', name);
    assert.equal(resolveDataset(name).dirName, name);
  }
  assert.throws(() => settingsFromEnv({ BENCH_DATASET: 'mnist' }), /unknown data set "mnist".*wordnet.*synth-small.*synth-custom/);
  assert.throws(() => settingsFromEnv({ BENCH_SYNTH: '{"nLabels":10}' }), /BENCH_SYNTH is only read with BENCH_DATASET=synth-custom/);
});

test('synth-custom: BENCH_SYNTH parameters over the small shape name the directory; unknown keys and non-numbers refused', () => {
  const r = resolveDataset('synth-custom', '{"nTrain":3000,"nLabels":700,"zipf":0.6}');
  assert.equal(r.name, 'synth-nLabels700-nTrain3000-zipf0.6', 'parameters in name order, so one shape has one directory');
  assert.equal(r.dirName, r.name);
  assert.deepEqual(r.synth, { ...SYNTH_SHAPES['small']!, nTrain: 3000, nLabels: 700, zipf: 0.6, seed: 1 });
  assert.equal(resolveDataset('synth-custom', '{"zipf":0.6,"nLabels":700,"nTrain":3000}').name, r.name);
  assert.deepEqual(parseSynthShape(undefined).opts, { ...SYNTH_SHAPES['small']!, seed: 1 });
  assert.throws(() => parseSynthShape('{"labels":5}'), /unknown parameter "labels"/);
  assert.throws(() => parseSynthShape('{"nLabels":"5"}'), /BENCH_SYNTH.nLabels must be a number/);
  assert.throws(() => parseSynthShape('[1]'), /JSON object/);
  assert.throws(() => parseSynthShape('{nLabels:5}'), /not valid JSON/);
});

test('dir:PATH: a directory of one\'s own is used as it is, never built; without its files the error says how to write them', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'bench-own-'));
  try {
    const own = join(dir, 'tags');
    const ds = resolveDataset(`dir:${own}`);
    assert.equal(ds.name, 'dir-tags');
    assert.equal(ds.dirName, own, 'an absolute path, not a directory under data/');
    assert.equal(ds.recipe, undefined, 'no recipe: the engine is measured by its defaults');
    assert.equal(resolveDataset('dir:relative/tags').dirName, join(process.cwd(), 'relative/tags'));
    await assert.rejects(ensureDataset(ds, own, () => {}), new RegExp(`${own} holds no train.txt and test.txt.*sublinear data text`));
    const { train, test: testSet } = generateSynthetic({ ...SYNTH_SHAPES['tiny']!, seed: 2 });
    mkdirSync(own);
    writeFileSync(join(own, 'train.txt'), formatXcString(train));
    writeFileSync(join(own, 'test.txt'), formatXcString(testSet));
    assert.equal(await ensureDataset(ds, own, () => {}), false, 'found, not built');
    assert.equal(settingsFromEnv({ BENCH_DATASET: `dir:${own}` }).dataset.dirName, own);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('ensureDataset: builds a registered set with its data builder once, then finds it', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'bench-ds-'));
  const logs: string[] = [];
  try {
    const ds = resolveDataset('synth-tiny');
    const out = join(dir, ds.dirName);
    assert.equal(await ensureDataset(ds, out, (s) => logs.push(s)), true);
    // the same bytes `sublinear data synth --shape tiny` writes (seed 1)
    const ref = generateSynthetic({ ...SYNTH_SHAPES['tiny']!, seed: 1 });
    assert.equal(readFileSync(join(out, 'train.txt'), 'utf8'), formatXcString(ref.train));
    assert.equal(readFileSync(join(out, 'test.txt'), 'utf8'), formatXcString(ref.test));
    const mtime = statSync(join(out, 'train.txt')).mtimeMs;
    assert.equal(await ensureDataset(ds, out, (s) => logs.push(s)), false);
    assert.equal(statSync(join(out, 'train.txt')).mtimeMs, mtime, 'not rebuilt');
    // a custom shape is generated by its parameters
    const c = resolveDataset('synth-custom', '{"nTrain":300,"nTest":50,"nFeatures":400,"nLabels":30,"featuresPerPoint":8,"labelsPerPoint":2}');
    await ensureDataset(c, join(dir, c.dirName), () => {});
    const t = await readXcFile(join(dir, c.dirName, 'train.txt'));
    assert.equal(t.n, 300);
    assert.equal(t.nFeatures, 400);
    assert.equal(t.nLabels, 30);
    assert.ok(!existsSync(join(dir, c.dirName, 'features.txt')), 'synthetic sets have no vocabulary: fastText gets f<id> tokens');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('evaluation rows: a seeded sample without repeats, ascending; union and positions map rows into the union', () => {
  const a = sampleRowIds(1000, 100, 7);
  assert.equal(a.length, 100);
  for (let i = 1; i < a.length; i++) assert.ok(a[i - 1]! < a[i]!);
  assert.deepEqual(sampleRowIds(1000, 100, 7), a);
  assert.equal(sampleRowIds(50, 100, 7).length, 50);
  const b = sampleRowIds(1000, 300, 8);
  const u = unionRows(a, b);
  assert.deepEqual([...u], [...new Set([...a, ...b])].sort((x, y) => x - y));
  for (const rows of [a, b]) {
    const pos = positionsIn(u, rows);
    for (let i = 0; i < rows.length; i++) assert.equal(u[pos[i]!], rows[i]);
  }
  assert.throws(() => positionsIn(Int32Array.of(1, 3), Int32Array.of(2)), /row 2/);
});

test('deriveSpeedups: fastText\'s target is its best run\'s P@1, not its longest run\'s; every engine system against every reference', () => {
  const series = [
    { system: 'sublinear-lsh', points: [pt(0, 0), pt(10, 0.3), pt(20, 0.5)] },
    { system: 'sublinear-defaults', points: [pt(0, 0), pt(10, 0.2), pt(40, 0.42)] },
    // three runs: the 25-epoch run (12 s) is the best, the 50-epoch run ends lower
    { system: 'fasttext', runs: true, points: [pt(2, 0.1), pt(12, 0.42), pt(24, 0.41)] },
  ];
  const d = deriveSpeedups(series, { fasttext: 0.42 });
  assert.equal(d['fasttextFinalP1'], 0.42);
  assert.equal(d.fasttextTimeToFasttextFinalP1, 12);
  assert.ok(Math.abs(d.lshTimeToFasttextFinalP1! - 16) < 1e-12);
  assert.ok(Math.abs(d.speedupVsFasttext! - 12 / 16) < 1e-12);
  const cs = d.comparisons as Comparison[];
  assert.deepEqual(cs.map((c) => `${c.system} vs ${c.reference}`), ['sublinear-lsh vs fasttext', 'sublinear-defaults vs fasttext']);
  assert.equal(cs[1]!.time, 40);
  assert.equal(cs[1]!.speedup, 12 / 40);
  // without the target, the last point's P@1 would be used
  assert.equal(deriveSpeedups(series)['fasttextFinalP1'], 0.41);
});
