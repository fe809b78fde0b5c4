import { test } from 'node:test';
import assert from 'node:assert/strict';
import { timeToReach, deriveSpeedups, settingsFromEnv, formatTable, ENGINE_CONFIG } from '../bench/accuracy.js';
import { parseConfig } from '../src/config.js';
import { envPrefix } from '../bench/env.js';
import { availableParallelism } from 'node:os';
import type { AccuracyResult } from '../bench/plot.js';

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
  assert.deepEqual(settingsFromEnv({}), {
    quick: false, budgetSec: 600, evalPoints: 3000, finalPoints: 0, systems: ['sublinear-lsh', 'sublinear-dense', 'tfjs-wasm'], threads: availableParallelism(), engineConfig: ENGINE_CONFIG, outDir: null,
  });
  // BENCH_CONFIG merges over the recipe (nested objects key by key); bad JSON or a bad value is refused up front
  const c = settingsFromEnv({ BENCH_CONFIG: '{"epochs":2,"output":{"activeSet":{"maxActive":400}}}' }).engineConfig;
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

test('ENGINE_CONFIG is a valid engine configuration; the table prints every system', () => {
  const c = parseConfig(ENGINE_CONFIG);
  assert.equal(c.batchSize, 128);
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
});
