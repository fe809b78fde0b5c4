/**
 * Training throughput at Amazon-670K scale, in one process run (each configuration in its own
 * child process, so that peak RSS is per configuration): LSH mode with 1 and 2 threads, dense
 * mode with 2 threads, on synthetic data shaped like Amazon-670K (135,909 features, ~75
 * non-zeros, 670,091 labels, ~5 labels a sample, hidden 128). Also: active neurons per sample,
 * the time split, peak RSS, the useful GFLOP/s next to the SIMD dot-product peak measured here,
 * and the P@1 of 1 vs 2 threads on the engine's small synthetic set. One more run trains LSH
 * mode on 2 threads with the output layer split over 4 WebAssembly memories (outputShards), to
 * measure what the split costs.
 *
 *   npm run bench:throughput            (BENCH_QUICK=1 for a version that takes under a minute)
 * Writes bench/results/throughput.json and prints a table. BENCH_CONFIG (JSON merged over
 * LSH_CONFIG, e.g. '{"output":{"hash":{"pool":100}}}') measures another configuration of the LSH
 * runs; BENCH_OUT writes its results to another directory.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { cpus } from 'node:os';
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { SlideModel } from '../src/training/model.js';
import { generateSynthetic, SYNTH_SHAPES } from '../src/data/synth.js';
import { Arena } from '../src/memory/arena.js';
import { getKernels } from '../src/kernels/index.js';
import { writeFileAtomic } from '../src/util/atomicWrite.js';
import type { ConfigInput } from '../src/config.js';
import { configWithOverride, envPrefix, outDirFromEnv } from './env.js';

const QUICK = process.env.BENCH_QUICK === '1';
const here = fileURLToPath(import.meta.url);
const root = join(dirname(here), here.includes('/dist/') ? '../..' : '..');

/**
 * The LSH configuration of the Amazon-670K runs: the reference's tables (DWTA, binSize 8, K = 6,
 * L = 50, 2^18 buckets of 128; DWTA because hashing 670K neurons for a rebuild costs ~4 s with
 * it and several times that with SimHash), reservoir buckets, active sets padded to 300 and cut at
 * 1,000 (the union of 50 buckets reaches ~1,750-2,100 neurons here; the reference's sparsity
 * 0.005 is ~3,350), batch 256, and the paper's exponential rebuild schedule from 100 batches.
 */
export const LSH_CONFIG: ConfigInput = {
  hidden: [128],
  batchSize: 256,
  optimizer: { lr: 1e-3 },
  output: {
    mode: 'lsh',
    hash: { family: 'dwta', K: 6, L: 50, binSize: 8, rangePow: 18, bucketSize: 128, insertion: 'reservoir' },
    activeSet: { policy: 'union', minActive: 300, maxActive: 1000 },
  },
  rebuild: { schedule: 'exponential', n0: 100, lambda: 0.1 },
  evalEvery: 0,
};

/** LSH_CONFIG with BENCH_CONFIG merged over it (children read the same environment) */
const RUN_CONFIG = configWithOverride(LSH_CONFIG, process.env.BENCH_CONFIG);

interface RunResult {
  mode: 'lsh' | 'dense';
  threads: number;
  /** memories the output layer is split over */
  outputShards: number;
  labels: number;
  samples: number;
  seconds: number;
  samplesPerSec: number;
  activePerSample: number;
  avgNnz: number;
  peakRssMB: number;
  buildSec: number;
  split: Record<string, number>;
  usefulGflops: number;
}

async function child(mode: 'lsh' | 'dense', threads: number, seconds: number, nTrain: number, outputShards: number): Promise<void> {
  const shape = { ...SYNTH_SHAPES['amazon-670k']!, nTrain, nTest: 1000 };
  const { train } = generateSynthetic({ ...shape, seed: 1 });
  let nnz = 0;
  for (let i = 0; i < train.n; i++) nnz += train.featPtr[i + 1]! - train.featPtr[i]!;
  const t0 = performance.now();
  const cfg: ConfigInput = { ...RUN_CONFIG, threads, outputShards, output: mode === 'dense' ? { mode: 'dense' } : RUN_CONFIG.output };
  const m = new SlideModel({ nFeatures: train.nFeatures, nLabels: train.nLabels, config: cfg });
  const buildSec = (performance.now() - t0) / 1000;
  m.network.profile = true;
  const before = m.profile();
  // a short warm-up (JIT, first batches), then the measured window
  await m.fit(train, { epochs: 1, maxSeconds: Math.min(5, seconds / 4), refreshTables: false });
  const p0 = m.profile();
  const t1 = performance.now();
  const ep = await m.fit(train, { epochs: 1, maxSeconds: seconds, refreshTables: false });
  const sec = (performance.now() - t1) / 1000;
  const p1 = m.profile();
  const e = ep[0]!;
  const samples = Math.round(e.samplesPerSec * e.seconds);
  const split: Record<string, number> = {};
  for (const k of Object.keys(p1) as (keyof typeof p1)[]) split[k] = p1[k] - p0[k];
  void before;
  const h = 128;
  const avgNnz = nnz / train.n;
  const flops = samples * (4 * avgNnz * h + 6 * e.activePerSample * h);
  const r: RunResult = {
    mode, threads, outputShards: m.network.output.shards.length, labels: train.nLabels, samples, seconds: sec, samplesPerSec: samples / e.seconds, activePerSample: e.activePerSample,
    avgNnz, peakRssMB: process.resourceUsage().maxRSS / 1024, buildSec, split, usefulGflops: flops / e.seconds / 1e9,
  };
  process.stdout.write('RESULT ' + JSON.stringify(r) + '\n');
}

/** GFLOP/s of the WebAssembly SIMD dot product of two 128-float vectors (hot in cache). */
function simdPeak(): number {
  const arena = new Arena();
  const k = getKernels(arena.memory, 'wasm');
  const a = arena.f32(128);
  const b = arena.f32(128);
  for (let i = 0; i < 128; i++) {
    a[i] = Math.sin(i);
    b[i] = Math.cos(i);
  }
  let best = 0;
  let sink = 0;
  for (let rep = 0; rep < 5; rep++) {
    const n = 2_000_000;
    const t0 = performance.now();
    for (let i = 0; i < n; i++) sink += k.dot(a, 0, b, 0, 128);
    const s = (performance.now() - t0) / 1000;
    best = Math.max(best, (n * 256) / s / 1e9);
  }
  if (sink === 42) process.stdout.write('');
  return best;
}

/** P@1 on the small synthetic set with 1 and with 2 threads (accuracy must not be traded for speed). */
async function accuracyByThreads(): Promise<{ threads: number; p1: number }[]> {
  const { train, test } = generateSynthetic({ ...SYNTH_SHAPES['small']!, seed: 1 });
  const out: { threads: number; p1: number }[] = [];
  for (const threads of [1, 2]) {
    const m = new SlideModel({
      nFeatures: train.nFeatures, nLabels: train.nLabels,
      config: { threads, epochs: QUICK ? 2 : 5, batchSize: 128, optimizer: { lr: 5e-3 }, inference: 'lsh', evalEvery: 0 },
    });
    const ep = await m.fit(train, { test });
    out.push({ threads, p1: ep[ep.length - 1]!.eval!.lsh!.p1 });
  }
  return out;
}

async function parent(): Promise<void> {
  const seconds = QUICK ? 6 : 40;
  const nTrain = QUICK ? 20_000 : 150_000;
  const runs: RunResult[] = [];
  const plan: ['lsh' | 'dense', number, number, number][] = [
    ['lsh', 1, seconds, 0],
    ['lsh', 2, seconds, 0],
    ['dense', 2, QUICK ? 6 : 30, 0],
    ['lsh', 2, seconds, 4],
  ];
  for (const [mode, threads, sec, shards] of plan) {
    process.stderr.write(`run: ${mode}, ${threads} thread(s), ${sec} s${shards ? `, output over ${shards} memories` : ''} ...\n`);
    const r = spawnSync(process.execPath, [...process.execArgv, here, 'child', mode, String(threads), String(sec), String(nTrain), String(shards)], {
      encoding: 'utf8', maxBuffer: 1 << 24, stdio: ['ignore', 'pipe', 'inherit'],
    });
    const line = (r.stdout ?? '').split('\n').find((l) => l.startsWith('RESULT '));
    if (r.status !== 0 || !line) throw new Error(`benchmark run ${mode}/${threads} failed (exit ${r.status}): ${r.stdout}`);
    runs.push(JSON.parse(line.slice(7)) as RunResult);
  }
  const peak = simdPeak();
  const acc = await accuracyByThreads();
  const lsh1 = runs.find((r) => r.mode === 'lsh' && r.threads === 1)!;
  const lsh2 = runs.find((r) => r.mode === 'lsh' && r.threads === 2 && r.outputShards === 1)!;
  const lsh2Split = runs.find((r) => r.mode === 'lsh' && r.threads === 2 && r.outputShards > 1)!;
  const dense2 = runs.find((r) => r.mode === 'dense')!;
  const result = {
    quick: QUICK,
    machine: { cpus: cpus().length, model: cpus()[0]?.model, node: process.version },
    shape: { features: 135909, labels: lsh1.labels, avgNnz: lsh1.avgNnz, hidden: 128, trainPoints: nTrain },
    config: RUN_CONFIG,
    runs: runs.map((r) => ({ mode: r.mode, threads: r.threads, outputShards: r.outputShards, labels: r.labels, samplesPerSec: r.samplesPerSec, activePerSample: r.activePerSample, peakRssMB: r.peakRssMB, samples: r.samples, seconds: r.seconds, buildSec: r.buildSec, split: r.split, usefulGflops: r.usefulGflops })),
    simdPeakGflops: peak,
    usefulGflops: lsh2.usefulGflops,
    ratios: {
      lsh2VsDense2: lsh2.samplesPerSec / dense2.samplesPerSec,
      lsh2VsLsh1: lsh2.samplesPerSec / lsh1.samplesPerSec,
      usefulVsPeak: lsh2.usefulGflops / peak,
      lsh2SplitVsLsh2: lsh2Split.samplesPerSec / lsh2.samplesPerSec,
    },
    accuracyByThreads: acc,
    command: `${QUICK ? 'BENCH_QUICK=1 ' : ''}${envPrefix(['BENCH_CONFIG'])}npm run bench:throughput`,
  };
  const dir = outDirFromEnv(process.env.BENCH_OUT) ?? join(root, 'bench/results');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, QUICK ? 'throughput.quick.json' : 'throughput.json');
  writeFileAtomic(file, JSON.stringify(result, null, 2) + '\n');
  const rows = runs.map((r) => {
    const tot = Object.values(r.split).reduce((a, b) => a + b, 0) || 1;
    const pct = (k: string) => ((100 * (r.split[k] ?? 0)) / tot).toFixed(0).padStart(3);
    return `| ${r.mode.padEnd(5)} | ${r.threads} | ${r.outputShards} | ${r.samplesPerSec.toFixed(0).padStart(7)} | ${r.activePerSample.toFixed(0).padStart(6)} | ${r.peakRssMB.toFixed(0).padStart(6)} | ${r.usefulGflops.toFixed(2).padStart(6)} | ${pct('hash')} ${pct('lookup')} ${pct('forward')} ${pct('backward')} ${pct('update')} ${pct('rebuild')} |`;
  });
  process.stdout.write(
    [
      `labels ${lsh1.labels}, hidden 128, ${lsh1.avgNnz.toFixed(1)} non-zeros a sample; SIMD dot peak ${peak.toFixed(2)} GFLOP/s (one thread)`,
      '| mode  | threads | output memories | samples/s | active | RSS MB | GFLOP/s | % hash lookup fwd bwd update rebuild |',
      '|---|---|---|---|---|---|---|---|',
      ...rows,
      `LSH 2 threads / dense 2 threads: ${result.ratios.lsh2VsDense2.toFixed(1)}x; LSH 2 threads / 1 thread: ${result.ratios.lsh2VsLsh1.toFixed(2)}x; useful / peak: ${result.ratios.usefulVsPeak.toFixed(2)}; output over ${lsh2Split.outputShards} memories / 1: ${result.ratios.lsh2SplitVsLsh2.toFixed(2)}x`,
      `P@1 on the small synthetic set: ${acc.map((a) => `${a.threads} thread(s) ${a.p1.toFixed(4)}`).join(', ')}`,
      `written to ${file}`,
    ].join('\n') + '\n',
  );
}

if (process.argv[2] === 'child') {
  await child(process.argv[3] as 'lsh' | 'dense', Number(process.argv[4]), Number(process.argv[5]), Number(process.argv[6]), Number(process.argv[7] ?? 0));
} else {
  await parent();
}
