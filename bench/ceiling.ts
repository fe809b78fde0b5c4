/**
 * What two threads can gain on this machine at the Amazon-670K shape, measured without the
 * engine: the engine's own WebAssembly kernels on worker threads, over the layer sizes and
 * access patterns of one bench:throughput batch, on one thread and on two (alternated rounds,
 * medians). bench:throughput's "2 threads / 1" is judged against these.
 *
 *   update        adamRows (W, M, V and G read, W, M, V written) of the rows one batch
 *                 touches, ascending, as the update runs them; two threads take half the rows each
 *   updateGuided  the same rows claimed in shrinking runs from a shared cursor, as
 *                 ParamBlock.updatePart claims them
 *   forward       dotRows of each sample's active rows drawn at random (the forward's reads of
 *                 W); two threads take half the samples each
 *   compute       dotRows over the same few rows again and again (in cache): the cores alone
 *
 * The memory-bound patterns share the two cores' memory system; the compute row shows what the
 * cores give when nothing is shared. Writes bench/results/ceiling.json (BENCH_OUT: its folder).
 *   npm run bench:ceiling        (BENCH_ROUNDS: rounds, default 7)
 */
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { mkdirSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { Arena } from '../src/memory/arena.js';
import { BlockDecl, type Placement } from '../src/memory/layout.js';
import { getKernels } from '../src/kernels/index.js';
import { Rng } from '../src/util/rng.js';
import { writeFileAtomic } from '../src/util/atomicWrite.js';
import { workerScript } from '../src/workers/pool.js';
import { envPrefix, numberFromEnv, outDirFromEnv } from './env.js';
import { median, round } from './stats.js';

/** The Amazon-670K shape of bench:throughput: output rows, hidden width, batch. */
const ROWS = 670_091;
const DIM = 128;
const BATCH = 256;
/** rows a batch touches and active rows a sample (bench:throughput's LSH runs: ~94K and 743-836) */
const TOUCHED = 94_000;
const ACTIVE = 800;
/** rows the compute pattern cycles over (32 KB: in L1 and L2) */
const HOT_ROWS = 64;
const PATTERNS = ['update', 'updateGuided', 'forward', 'compute'] as const;
type Pattern = (typeof PATTERNS)[number];

/** times each job repeats its pattern: a job long enough (~0.1-0.3 s) that the messages around it do not count */
const REPEATS: Record<Pattern, number> = { update: 8, updateGuided: 8, forward: 16, compute: 64 };

interface Job {
  pattern: Pattern;
  part: number;
  parts: number;
}

function declare(): BlockDecl {
  return new BlockDecl('ceiling')
    .f32('W', [ROWS, DIM])
    .f32('M', [ROWS, DIM])
    .f32('V', [ROWS, DIM])
    .f32('G', [ROWS, DIM])
    .f32('b', [ROWS])
    .i32('touched', [TOUCHED])
    .i32('active', [BATCH, ACTIVE])
    .i32('hot', [BATCH, ACTIVE])
    .f32('x', [DIM])
    .f32('out', [BATCH, ACTIVE])
    .i32('cursor', [REPEATS.updateGuided]);
}

/** Run one part of a pattern REPEATS times on this thread's kernels; returns the seconds it took. */
function runPart(k: ReturnType<typeof getKernels>, v: ReturnType<Arena['carve']>, job: Job): number {
  const t0 = performance.now();
  for (let i = 0; i < REPEATS[job.pattern]; i++) runOnce(k, v, job, i);
  return (performance.now() - t0) / 1000;
}

function runOnce(k: ReturnType<typeof getKernels>, v: ReturnType<Arena['carve']>, job: Job, rep: number): void {
  const b = v.block('ceiling');
  if (job.pattern === 'updateGuided') {
    // as ParamBlock.updatePart claims its runs: a shared cursor, runs of 1 / (2 * parts) of the rows left
    const cur = b.i32('cursor');
    for (;;) {
      const c0 = Atomics.load(cur, rep);
      if (c0 >= TOUCHED) break;
      const cn = Math.min(TOUCHED - c0, Math.max(32, Math.ceil((TOUCHED - c0) / (2 * job.parts))));
      if (Atomics.compareExchange(cur, rep, c0, c0 + cn) !== c0) continue;
      k.adamRows(b.f32('W'), b.f32('M'), b.f32('V'), b.f32('G'), DIM, b.i32('touched'), c0, cn, 1e-7, 0.9, 0.999, 1e-8, 1);
    }
  } else if (job.pattern === 'update') {
    const r0 = Math.floor((TOUCHED * job.part) / job.parts);
    const r1 = Math.floor((TOUCHED * (job.part + 1)) / job.parts);
    k.adamRows(b.f32('W'), b.f32('M'), b.f32('V'), b.f32('G'), DIM, b.i32('touched'), r0, r1 - r0, 1e-7, 0.9, 0.999, 1e-8, 1);
  } else {
    const rows = b.i32(job.pattern === 'forward' ? 'active' : 'hot');
    const s0 = Math.floor((BATCH * job.part) / job.parts);
    const s1 = Math.floor((BATCH * (job.part + 1)) / job.parts);
    for (let s = s0; s < s1; s++) k.dotRows(b.f32('W'), b.f32('b'), DIM, rows, s * ACTIVE, ACTIVE, b.f32('x'), 0, b.f32('out'), s * ACTIVE);
  }
}

if (!isMainThread) {
  const { memory, placement } = workerData as { memory: WebAssembly.Memory; placement: Placement };
  const views = new Arena(memory).bind(placement);
  const k = getKernels(memory, 'wasm');
  parentPort!.on('message', (job: Job) => parentPort!.postMessage(runPart(k, views, job)));
} else {
  await main();
}

async function main(): Promise<void> {
  const rounds = numberFromEnv('BENCH_ROUNDS', 7, 'an integer >= 1', (v) => Number.isInteger(v) && v >= 1);
  const outDir = outDirFromEnv(process.env.BENCH_OUT) ?? join('bench', 'results');
  const arena = new Arena();
  const views = arena.carve([declare()]);
  const b = views.block('ceiling');
  // every page written once here, so that no first-touch fault falls in a measured round
  b.f32('W').fill(1e-2);
  b.f32('M').fill(1e-4);
  b.f32('V').fill(1e-6);
  b.f32('G').fill(1e-3);
  b.f32('x').fill(0.1);
  const rng = new Rng(7);
  // the touched rows: distinct, ascending (as ParamBlock lists them); active rows: at random
  const mark = new Uint8Array(ROWS);
  for (let n = 0; n < TOUCHED; ) {
    const r = rng.nextInt(ROWS);
    if (mark[r] === 0) {
      mark[r] = 1;
      n++;
    }
  }
  const touched = b.i32('touched');
  for (let r = 0, n = 0; r < ROWS; r++) if (mark[r] === 1) touched[n++] = r;
  const active = b.i32('active');
  for (let i = 0; i < active.length; i++) active[i] = rng.nextInt(ROWS);
  const hot = b.i32('hot');
  for (let i = 0; i < hot.length; i++) hot[i] = i % HOT_ROWS;

  const script = workerScript(new URL(import.meta.url));
  const workers = [0, 1].map(() => new Worker(script.file, { workerData: { memory: arena.memory, placement: views.placement }, execArgv: script.execArgv }));
  // one job at a time a worker: its answer settles the job's promise, an error fails the run
  const settle: ((s: number) => void)[] = [];
  workers.forEach((w, i) => {
    w.on('message', (s: number) => settle[i]!(s));
    w.on('error', (e) => {
      process.stderr.write(`bench:ceiling: worker ${i} failed: ${e.stack ?? e.message}\n`);
      process.exit(1);
    });
  });
  const ask = (i: number, job: Job): Promise<number> =>
    new Promise((res) => {
      settle[i] = res;
      workers[i]!.postMessage(job);
    });
  /** wall seconds of one pattern on `threads` threads (each worker its part) */
  const wall = async (pattern: Pattern, threads: number): Promise<number> => {
    b.i32('cursor').fill(0);
    const t0 = performance.now();
    await Promise.all(workers.slice(0, threads).map((_, part) => ask(part, { pattern, part, parts: threads })));
    return (performance.now() - t0) / 1000;
  };
  const sec = Object.fromEntries(PATTERNS.map((p) => [p, { 1: [] as number[], 2: [] as number[] }])) as Record<Pattern, { 1: number[]; 2: number[] }>;
  for (const p of PATTERNS) for (const t of [1, 2] as const) await wall(p, t); // warm-up
  for (let r = 0; r < rounds; r++) {
    for (const p of PATTERNS) {
      for (const t of [1, 2] as const) sec[p][t].push(await wall(p, t));
    }
  }
  await Promise.all(workers.map((w) => w.terminate()));
  const patterns = Object.fromEntries(
    PATTERNS.map((p) => {
      const one = median(sec[p][1]);
      const two = median(sec[p][2]);
      const ratios = sec[p][1].map((s, i) => s / sec[p][2][i]!);
      return [p, { oneThreadMs: round(one * 1e3, 3), twoThreadsMs: round(two * 1e3, 3), twoVsOne: round(one / two, 3), twoVsOneByRound: ratios.map((r) => round(r, 3)) }];
    }),
  );
  const result = {
    machine: { cpus: cpus().length, model: cpus()[0]?.model ?? 'unknown', node: process.version },
    shape: { rows: ROWS, dim: DIM, batch: BATCH, touchedRows: TOUCHED, activePerSample: ACTIVE },
    rounds,
    patterns,
    command: `${envPrefix(['BENCH_ROUNDS'])}npm run bench:ceiling`,
    date: new Date().toISOString(),
  };
  for (const [p, r] of Object.entries(patterns)) process.stdout.write(`${p}: 1 thread ${r.oneThreadMs} ms, 2 threads ${r.twoThreadsMs} ms: ${r.twoVsOne}x (rounds ${r.twoVsOneByRound.join(', ')})\n`);
  mkdirSync(outDir, { recursive: true });
  const file = join(outDir, 'ceiling.json');
  writeFileAtomic(file, JSON.stringify(result, null, 2) + '\n');
  process.stdout.write(`wrote ${file}\n`);
}
