import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { spawnSync } from 'node:child_process';

/**
 * The no-allocation check, run in a fresh process as a training run is: in the test process the
 * earlier tests have already driven the kernel wrappers through other shapes, and a wrapper left
 * unoptimized boxes the doubles it handles (measured: 32 bytes a sample in one run out of four).
 * It trains 5,000 samples (JIT, lazily sized buffers), then counts garbage collections over two
 * windows of 100,000 samples without updates and reports the smaller heap growth of the two,
 * then the heap growth per batch of 64 with updates.
 */
const SCRIPT = `
import { SlideModel } from 'SRC/training/model.js';
import { generateSynthetic } from 'SRC/data/synth.js';
const { train } = generateSynthetic({ nTrain: 4000, nTest: 1000, nFeatures: 2000, nLabels: 500, featuresPerPoint: 25, labelsPerPoint: 2, seed: 11 });
const m = new SlideModel({ nFeatures: train.nFeatures, nLabels: train.nLabels, kernels: 'auto', config: CONFIG });
const net = m.network;
const s = m.scratch;
const run = (n, update) => {
  for (let i = 0; i < n; i++) {
    const r = i % train.n;
    net.trainSample(s, train.featIdx, train.featVal, train.featPtr[r], train.featPtr[r + 1], train.labelIdx, train.labelPtr[r], train.labelPtr[r + 1], 1 / 64);
    if (update && i % 64 === 63) net.update(1 + (i >> 6));
  }
};
run(5000, true);
let gcs = 0;
const obs = new PerformanceObserver((list) => { gcs += list.getEntries().length; });
obs.observe({ entryTypes: ['gc'] });
// two windows of 100,000 samples: a steady state that allocated per sample would grow in both;
// a one-off (V8 recompiling a function it deoptimised: measured ~230 KB in 1 run of 10) in one
const heap0 = process.memoryUsage().heapUsed;
run(100000, false);
const heap1 = process.memoryUsage().heapUsed;
run(100000, false);
const heap2 = process.memoryUsage().heapUsed;
gcs += obs.takeRecords().length;
obs.disconnect();
const h2 = process.memoryUsage().heapUsed;
run(64 * 500, true);
const perBatch = (process.memoryUsage().heapUsed - h2) / 500;
console.log(JSON.stringify({ kernels: net.kernels.name, gcs, heapGrowth: Math.min(heap1 - heap0, heap2 - heap1), perBatch }));
`;

export interface AllocResult {
  kernels: string;
  /** garbage collections during the 200,000 samples */
  gcs: number;
  /** heap growth over 100,000 samples (the smaller of two windows) */
  heapGrowth: number;
  /** heap bytes a batch with the optimizer step */
  perBatch: number;
}

/** Run the check for a model configuration (plain JSON) in a child process. */
export function allocCheck(config: unknown): AllocResult {
  const here = dirname(fileURLToPath(import.meta.url));
  const src = pathToFileURL(join(here, '../src')).href;
  const dir = mkdtempSync(join(tmpdir(), 'sublinear-alloc-'));
  try {
    const file = join(dir, 'alloc-check.mjs');
    writeFileSync(file, SCRIPT.replaceAll('SRC', src).replace('CONFIG', JSON.stringify(config)));
    const r = spawnSync(process.execPath, [file], { encoding: 'utf8', timeout: 120_000 });
    if (r.status !== 0) throw new Error(`allocation check failed (exit ${r.status}): ${r.stderr}`);
    return JSON.parse(r.stdout.trim().split('\n').pop()!) as AllocResult;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
