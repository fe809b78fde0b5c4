// Kernel throughput, plain JS vs WebAssembly SIMD, on arrays of one Arena (as in training).
//   node --import tsx bench/kernels.ts [--out FILE] [--quick]
// Prints a table and writes the figures as JSON (default build/bench/kernels.json).
// Run it on a quiet machine: a concurrent CPU-bound job roughly halves every figure.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { jsKernels, loadWasmKernels, wasmKernelsModule, type Kernels } from '../src/kernels/index.js';
import { Arena } from '../src/memory/arena.js';
import { Rng } from '../src/util/rng.js';
import { LshSampler } from '../src/layers/sampler.js';
import { parseConfig } from '../src/config.js';

const args = process.argv.slice(2);
const outIdx = args.indexOf('--out');
const outFile = resolve(outIdx >= 0 && args[outIdx + 1] ? args[outIdx + 1]! : 'build/bench/kernels.json');
const quick = args.includes('--quick');

const DIM = 128; // hidden width of the Amazon-670K configuration
const N_LABELS = quick ? 100_000 : 670_000; // rows of the output layer
const ACTIVE = 2_000; // rows per call (an active set)
const ROW_SETS = 200; // distinct random active sets cycled through: 400K rows, far beyond cache
const REPEATS = 5; // best of

const rng = new Rng(2024);
const arena = new Arena();
const wasm = loadWasmKernels(arena.memory);
const impls: Kernels[] = [jsKernels, wasm];

function fillRandom(a: Float32Array, scale: number): void {
  for (let i = 0; i < a.length; i++) a[i] = (rng.nextFloat() * 2 - 1) * scale;
}

/** Best time in seconds of `reps` runs of `body` (after one warm-up run). */
function best(body: () => void, reps = REPEATS): number {
  body();
  let t = Infinity;
  for (let r = 0; r < reps; r++) {
    const t0 = process.hrtime.bigint();
    body();
    t = Math.min(t, Number(process.hrtime.bigint() - t0) / 1e9);
  }
  return t;
}

let sink = 0;
let rawDot = 0;
const results: Record<string, Record<string, number>> = {};
const record = (what: string, unit: string, k: Kernels, value: number): void => {
  (results[`${what} (${unit})`] ??= {})[k.name] = value;
};

// --- dot of two vectors of 128 floats --------------------------------------------------------
{
  const a = arena.f32(DIM);
  const b = arena.f32(DIM);
  fillRandom(a, 1);
  fillRandom(b, 1);
  const calls = 2_000_000;
  for (const k of impls) {
    const t = best(() => {
      let s = 0;
      for (let i = 0; i < calls; i++) s += k.dot(a, 0, b, 0, DIM);
      sink += s;
    });
    record('dot 128', 'GFLOP/s', k, (2 * DIM * calls) / t / 1e9);
  }
  // the raw export with addresses computed once: what the JS -> wasm call itself costs
  // (Node 20's V8 does not inline the typed-array byteOffset getter: ~5-8 ns a read)
  const raw = new WebAssembly.Instance(wasmKernelsModule(), { env: { memory: arena.memory } }).exports as unknown as {
    dot(a: number, b: number, n: number): number;
  };
  const pa = a.byteOffset;
  const pb = b.byteOffset;
  const t = best(() => {
    let s = 0;
    for (let i = 0; i < calls; i++) s += raw.dot(pa, pb, DIM);
    sink += s;
  });
  rawDot = (2 * DIM * calls) / t / 1e9;
}

// --- the output layer: W (N_LABELS, DIM), bias, optimizer state ------------------------------
process.stdout.write(`allocating ${N_LABELS} x ${DIM} (${((N_LABELS * DIM * 4) / 2 ** 20).toFixed(0)} MiB a matrix)...\n`);
const W = arena.f32(N_LABELS * DIM); // (N_LABELS, DIM) row-major
const bias = arena.f32(N_LABELS);
fillRandom(W, 0.1);
fillRandom(bias, 0.1);
const x = arena.f32(DIM);
fillRandom(x, 1);
const out = arena.f32(ACTIVE);
const rowSets = arena.i32(ROW_SETS * ACTIVE); // (ROW_SETS, ACTIVE) random row ids
for (let i = 0; i < rowSets.length; i++) rowSets[i] = rng.nextInt(N_LABELS);

// dotRows over fresh random rows each call (memory-bound, as in training)
for (const k of impls) {
  const t = best(() => {
    for (let s = 0; s < ROW_SETS; s++) k.dotRows(W, bias, DIM, rowSets, s * ACTIVE, ACTIVE, x, 0, out, 0);
    sink += out[0]!;
  });
  record(`dotRows, ${ACTIVE} random rows of ${N_LABELS / 1000}K x ${DIM}`, 'M rows/s', k, (ROW_SETS * ACTIVE) / t / 1e6);
}
// dotRows over the same 2,000 rows again and again (rows stay in cache)
for (const k of impls) {
  const reps = 200;
  const t = best(() => {
    for (let s = 0; s < reps; s++) k.dotRows(W, bias, DIM, rowSets, 0, ACTIVE, x, 0, out, 0);
    sink += out[0]!;
  });
  record(`dotRows, same ${ACTIVE} rows (cache-warm)`, 'M rows/s', k, (reps * ACTIVE) / t / 1e6);
}

// the hashing half of a table rebuild: every neuron against every SimHash projection (WordNet's
// recipe: 256 inputs, 900 projections), one dotRows per neuron (each call streams all of P) or
// projectRows over 8 neurons a call, as rebuilds do
{
  const n = 256;
  const H = 900;
  const rows = quick ? 512 : 2_048;
  const P = arena.f32(H * n);
  const pb = arena.f32(H);
  const X = arena.f32(rows * n);
  const out = arena.f32(H * 8);
  const ids = arena.i32(H);
  for (let h = 0; h < H; h++) ids[h] = h;
  fillRandom(P, 1);
  fillRandom(X, 0.1);
  const gmac = (t: number): number => (rows * H * n) / t / 1e9;
  for (const k of impls) {
    const t = best(() => {
      for (let r = 0; r < rows; r++) k.dotRows(P, pb, n, ids, 0, H, X, r * n, out, 0);
      sink += out[0]!;
    }, 3);
    record(`rebuild hashing, ${H} projections of ${n}, dotRows a neuron`, 'G MAC/s', k, gmac(t));
  }
  for (const k of impls) {
    const t = best(() => {
      for (let r = 0; r < rows; r += 8) k.projectRows(P, pb, n, H, X, r * n, 8, out, 0);
      sink += out[0]!;
    }, 3);
    record(`rebuild hashing, ${H} projections of ${n}, projectRows 8 neurons`, 'G MAC/s', k, gmac(t));
  }
  // the same hashes per neuron (and per query) with structured projections (hash.projection
  // 'hadamard': ceil(900 / 256) blocks of 3 HD rounds, p log p additions each) against the matrix
  const rounds = 3;
  const S = arena.f32(Math.ceil(H / n) * rounds * n);
  for (let i = 0; i < S.length; i++) S[i] = rng.nextFloat() < 0.5 ? -1 : 1;
  const buf = arena.f32(n);
  const perSec = (count: number, t: number): number => count / t / 1e3;
  for (const k of impls) {
    const tm = best(() => {
      for (let r = 0; r < rows; r += 8) k.projectRows(P, pb, n, H, X, r * n, 8, out, 0);
      sink += out[0]!;
    }, 3);
    const th = best(() => {
      for (let r = 0; r < rows; r += 8) k.hadamardRows(S, pb, n, n, rounds, H, X, r * n, 8, buf, out, 0);
      sink += out[0]!;
    }, 3);
    record(`rebuild hashing, ${H} hashes of ${n}, projection matrix (projectRows 8 neurons)`, 'K neurons/s', k, perSec(rows, tm));
    record(`rebuild hashing, ${H} hashes of ${n}, structured (hadamardRows 8 neurons)`, 'K neurons/s', k, perSec(rows, th));
    const qm = best(() => {
      for (let r = 0; r < rows; r++) k.dotRows(P, pb, n, ids, 0, H, X, r * n, out, 0);
      sink += out[0]!;
    }, 3);
    const qh = best(() => {
      for (let r = 0; r < rows; r++) k.hadamardRows(S, pb, n, n, rounds, H, X, r * n, 1, buf, out, 0);
      sink += out[0]!;
    }, 3);
    record(`query hashing, ${H} hashes of ${n}, projection matrix (dotRows)`, 'K queries/s', k, perSec(rows, qm));
    record(`query hashing, ${H} hashes of ${n}, structured (hadamardRows)`, 'K queries/s', k, perSec(rows, qh));
  }
}

// WTA / DWTA table keys at a rebuild, per neuron, the Amazon-670K shape (128 inputs, bins of 8,
// K = 6, L = 50: 300 arg-maxes a neuron, centred rows): LshSampler.stageRange through the
// TypeScript family (the fallback: centred rows, family.hashDense, tables.setKeys; column js)
// against the kernels (wtaCodes, densifyCodes, codeKeys; column wasm). And a query (hashInput)
// of a ReLU-like input (half zeros) both ways.
for (const family of ['dwta', 'wta'] as const) {
  const n = DIM;
  const nOut = quick ? 16_384 : 65_536;
  const cfg = parseConfig({ output: { hash: { family, K: 6, L: 50, binSize: 8, rangePow: 18, center: true } } }).output;
  const spec = { name: 'bench', cfg, nIn: n, nOut };
  const a = new Arena();
  const views = a.carve([...LshSampler.declare(spec), ...LshSampler.declareScratch(spec, 'scratch')]);
  const sampler = new LshSampler(spec, views, loadWasmKernels(a.memory), new Rng(7));
  const Wl = a.f32(nOut * n);
  fillRandom(Wl, 1);
  for (let i = 0; i < Wl.length; i++) if (rng.nextFloat() < 0.1) Wl[i] = 0;
  const bl = a.f32(nOut);
  const rs = sampler.createRebuildScratch();
  const hs = sampler.createScratch(views, 'scratch');
  const plain = sampler.createScratch();
  sampler.prepareRebuild(Wl, bl);
  const q = a.f32(n);
  for (let i = 0; i < n; i++) q[i] = Math.max(0, rng.nextGaussian());
  const queries = quick ? 2_000 : 20_000;
  for (const k of impls) {
    const kernel = k.name === 'wasm';
    const t = best(() => sampler.stageRange(Wl, bl, rs, 0, nOut, kernel ? hs : null), 3);
    record(`rebuild hashing, ${family.toUpperCase()} 300 bins of 8 over ${n} inputs, K=6 L=50, centred (TypeScript family vs kernels)`, 'K neurons/s', k, nOut / t / 1e3);
    const tq = best(() => {
      for (let i = 0; i < queries; i++) sampler.hashInput(kernel ? hs : plain, q, 0);
      sink += (kernel ? hs : plain).codes[0]!;
    }, 3);
    record(`query hashing, ${family.toUpperCase()} 300 bins of 8 over ${n} inputs (TypeScript family vs kernels)`, 'K queries/s', k, queries / tq / 1e3);
  }
  if (family === 'dwta') {
    // the centre a WTA / DWTA rebuild waits for on one thread: float64 column sums of W
    const at = a.alloc(8 * n);
    const acc = new Float64Array(a.memory.buffer, at, n);
    const kw = loadWasmKernels(a.memory);
    for (const k of [jsKernels, kw]) {
      const t = best(() => k.colSums(Wl, 0, n, nOut, acc), 3);
      record(`rebuild centre, float64 column sums of ${nOut / 1024}K x ${n} (colSums)`, 'M rows/s', k, nOut / t / 1e6);
    }
  }
}

// the counting half of a top-by-votes query (LshTables.topByVotes): the WordNet recipe's 150
// tables of 64 buckets over 18,982 neurons, one random bucket a table (~300 entries each)
{
  const N = 18_982;
  const L = 150;
  const R = 64;
  const queries = quick ? 300 : 2_000;
  const entries = arena.i32(L * N);
  const starts = new Int32Array(L * (R + 1));
  for (let t = 0; t < L; t++) {
    const bucket = Int32Array.from({ length: N }, () => rng.nextInt(R));
    const count = new Int32Array(R);
    for (let i = 0; i < N; i++) count[bucket[i]!]++;
    const pos = new Int32Array(R);
    for (let r = 0, o = 0; r <= R; r++) {
      starts[t * (R + 1) + r] = o;
      if (r < R) {
        pos[r] = o;
        o += count[r]!;
      }
    }
    for (let i = 0; i < N; i++) entries[t * N + pos[bucket[i]!]!++] = i;
  }
  const bStart = arena.i32(queries * L);
  const bEnd = arena.i32(queries * L);
  for (let q = 0; q < queries; q++) {
    for (let t = 0; t < L; t++) {
      const o = t * (R + 1) + rng.nextInt(R);
      bStart[q * L + t] = t * N + starts[o]!;
      bEnd[q * L + t] = t * N + starts[o + 1]!;
    }
  }
  const t32 = arena.i32(Math.ceil(N / 2));
  // byte tallies where L < 256 (what LshTables uses), u16 beside them
  const tallies = [new Uint8Array(t32.buffer, t32.byteOffset, N), new Uint16Array(t32.buffer, t32.byteOffset, N)];
  const hist = arena.i32(L + 2);
  const cand = arena.i32(N);
  // collect the ids with at least 5 votes (~9% of them here; in WordNet training the floor sits
  // just below the previous query's cut, ~1,600 of 19K ids)
  const lo = 5;
  for (const tally of tallies) {
    for (const k of impls) {
      const t = best(() => {
        for (let q = 0; q < queries; q++) {
          k.voteTally(entries, bStart.subarray(q * L, q * L + L), bEnd.subarray(q * L, q * L + L), L, tally, N);
          hist.fill(0);
          sink += k.voteCollect(tally, N, lo, L + 1, hist, cand, 0, cand.length);
        }
      }, 3);
      record(`voteTally + voteCollect (at least ${lo} votes), ${L} buckets of ~${Math.round(N / R)} over ${N} ids, ${8 * tally.BYTES_PER_ELEMENT}-bit tally`, 'K queries/s', k, queries / t / 1e3);
    }
  }
}

// the update of random rows: rowsBackward into a gradient matrix (axpy per row, no dx)
{
  const G = arena.f32(N_LABELS * DIM);
  const gBias = arena.f32(N_LABELS);
  const grad = arena.f32(ACTIVE);
  fillRandom(grad, 1e-3);
  for (const k of impls) {
    const t = best(() => {
      for (let s = 0; s < ROW_SETS; s++) k.rowsBackward(W, G, gBias, DIM, rowSets, s * ACTIVE, ACTIVE, grad, 0, x, 0, null, 0);
    });
    record('rowsBackward (axpy), random rows', 'M rows/s', k, (ROW_SETS * ACTIVE) / t / 1e6);
  }

  // lazy Adam over random rows (reads and writes W, M, V, G)
  const M = arena.f32(N_LABELS * DIM);
  const V = arena.f32(N_LABELS * DIM);
  const sets = 50;
  for (const k of impls) {
    const t = best(() => {
      for (let s = 0; s < sets; s++) k.adamRows(W, M, V, G, DIM, rowSets, s * ACTIVE, ACTIVE, 1e-7, 0.9, 0.999, 1e-8);
    }, 3);
    record('adamRows, random rows', 'M rows/s', k, (sets * ACTIVE) / t / 1e6);
  }
}

// a batch's weight gradients and optimizer step for a sampled output layer: 128 samples of 600
// active rows each (popular rows drawn more often), immediate (rowsBackward for every sample,
// then adamRows over the touched rows) against deferred (the samples' (row, gradient) pairs
// marked, grouped by row, then summed straight into the Adam step: markPairs + groupPairs +
// adamRowsPairs, as ParamBlock does)
{
  const slots = 128;
  const budget = 600;
  const Xb = arena.f32(slots * DIM);
  fillRandom(Xb, 1);
  const pRow = arena.i32(slots * budget);
  const pCoef = arena.f32(slots * budget);
  const pCnt = arena.i32(slots);
  const seen = new Int32Array(N_LABELS);
  for (let b = 0; b < slots; b++) {
    let c = 0;
    while (c < budget) {
      const r = Math.floor(N_LABELS * rng.nextFloat() ** 3);
      if (seen[r] === b + 1) continue;
      seen[r] = b + 1;
      pRow[b * budget + c] = r;
      pCoef[b * budget + c] = (rng.nextFloat() * 2 - 1) * 1e-3;
      c++;
    }
    pCnt[b] = budget;
  }
  const touchedSet = new Set<number>(pRow);
  const touchedSorted = arena.i32(touchedSet.size);
  touchedSorted.set(Int32Array.from(touchedSet).sort());
  const G = arena.f32(N_LABELS * DIM);
  const gBias = arena.f32(N_LABELS);
  const M = arena.f32(N_LABELS * DIM);
  const V = arena.f32(N_LABELS * DIM);
  const mark = arena.i32(N_LABELS);
  // as long as the rows, as in a ParamBlock: a part of the grouping lists its rows at its first row
  const touched = arena.i32(N_LABELS);
  const pos = arena.i32(N_LABELS);
  const ptr = arena.i32(N_LABELS + 1);
  const src = arena.i32(slots * budget);
  const coef = arena.f32(slots * budget);
  const cnt = arena.i32(slots);
  const list = arena.i32(slots * budget);
  const slotEnd = arena.i32(slots);
  const nT = touchedSorted.length;
  process.stdout.write(`a batch of ${slots} x ${budget} active rows touches ${nT} rows\n`);
  for (const k of impls) {
    const tImm = best(() => {
      for (let b = 0; b < slots; b++) k.rowsBackward(W, G, gBias, DIM, pRow, b * budget, budget, pCoef, b * budget, Xb, b * DIM, null, 0);
      k.adamRows(W, M, V, G, DIM, touchedSorted, 0, nT, 1e-7, 0.9, 0.999, 1e-8);
    }, 3);
    const tDef = best(() => {
      cnt.set(pCnt);
      const n = k.markPairs(pRow, cnt, slots, budget, mark, touched, 0);
      k.groupPairs(touched, n, pos, ptr, pRow, pCoef, cnt, slots, budget, src, coef);
      k.adamRowsPairs(W, M, V, gBias, DIM, touched, 0, n, ptr, src, coef, Xb, 1e-7, 0.9, 0.999, 1e-8);
      for (let i = 0; i < n; i++) mark[touched[i]!] = 0;
    }, 3);
    record(`batch weight gradients + Adam, ${slots} samples x ${budget} rows, immediate (rowsBackward, adamRows)`, 'batches/s', k, 1 / tImm);
    record(`batch weight gradients + Adam, ${slots} samples x ${budget} rows, deferred (markPairs, groupPairs, adamRowsPairs)`, 'batches/s', k, 1 / tDef);
    // the grouping alone, the touched rows in ascending order both ways: marks, listing and
    // grouping (markPairs, markedRows, groupPairs), against counts in the marks (selectPairs,
    // countPairs, listCounted, placePairs: what ParamBlock does when G holds nothing) in one
    // part, and the slower of two parts of half the rows each (each thread's share on two threads)
    const clear = (n: number): void => {
      for (let i = 0; i < n; i++) mark[touched[i]!] = 0;
    };
    const tMark = best(() => {
      cnt.set(pCnt);
      k.markPairs(pRow, cnt, slots, budget, mark, touched, 0);
      const n = k.markedRows(mark, N_LABELS, touched);
      k.groupPairs(touched, n, pos, ptr, pRow, pCoef, cnt, slots, budget, src, coef);
      clear(n);
    }, 5);
    const part = (r0: number, r1: number): number => {
      const below = k.selectPairs(pRow, cnt, slots, budget, r0, r1, list, slotEnd);
      k.countPairs(pRow, list, slotEnd[slots - 1]!, mark);
      const n = k.listCounted(mark, r0, r1, touched, ptr, below);
      k.placePairs(mark, pRow, pCoef, list, slotEnd, slots, src, coef);
      return n;
    };
    const tCount = best(() => {
      cnt.set(pCnt);
      clear(part(0, N_LABELS));
    }, 5);
    const half = N_LABELS >> 1;
    const tHalf = Math.max(
      ...[
        [0, half],
        [half, N_LABELS],
      ].map(([r0, r1]) =>
        best(() => {
          cnt.set(pCnt);
          const n = part(r0!, r1!);
          for (let i = 0; i < n; i++) mark[touched[r0! + i]!] = 0;
        }, 5),
      ),
    );
    record(`grouping a batch's pairs by row, ${slots} samples x ${budget} rows of ${N_LABELS}: markPairs, markedRows, groupPairs`, 'batches/s', k, 1 / tMark);
    record(`grouping a batch's pairs by row, ${slots} samples x ${budget} rows of ${N_LABELS}: selectPairs, countPairs, listCounted, placePairs`, 'batches/s', k, 1 / tCount);
    record(`grouping a batch's pairs by row, ${slots} samples x ${budget} rows of ${N_LABELS}: selectPairs, countPairs, listCounted, placePairs, the slower of two halves`, 'batches/s', k, 1 / tHalf);
  }
}

// the sparse input layer: W (135,909 features, DIM), ~75 non-zeros a sample
{
  const nIn = 135_909;
  const nnz = 75;
  const samples = 2_000;
  const Win = arena.f32(nIn * DIM); // (nIn, DIM) row-major, feature-major
  const Gin = arena.f32(nIn * DIM);
  const bIn = arena.f32(DIM);
  const gbIn = arena.f32(DIM);
  fillRandom(Win, 0.1);
  const idx = arena.i32(samples * nnz);
  const val = arena.f32(samples * nnz);
  for (let i = 0; i < idx.length; i++) idx[i] = rng.nextInt(nIn);
  fillRandom(val, 1);
  const h = arena.f32(DIM);
  for (const k of impls) {
    const t = best(() => {
      for (let s = 0; s < samples; s++) k.sparseInputForward(Win, bIn, DIM, idx, val, s * nnz, (s + 1) * nnz, h, 0);
      sink += h[0]!;
    });
    record(`sparseInputForward, ${nnz} nnz of ${nIn} x ${DIM}`, 'K samples/s', k, samples / t / 1e3);
  }
  for (const k of impls) {
    const t = best(() => {
      for (let s = 0; s < samples; s++) k.sparseInputBackward(Gin, gbIn, DIM, idx, val, s * nnz, (s + 1) * nnz, x, 0);
    });
    record(`sparseInputBackward, ${nnz} nnz of ${nIn} x ${DIM}`, 'K samples/s', k, samples / t / 1e3);
  }
}

// softmax over an active set of 3,350 logits
{
  const z = arena.f32(3_350);
  const src = new Float32Array(z.length);
  fillRandom(src, 10);
  const calls = 2_000;
  const lz = new Float64Array(1);
  for (const k of impls) {
    const t = best(() => {
      for (let i = 0; i < calls; i++) {
        z.set(src);
        k.softmax(z, 0, z.length, lz);
        sink += lz[0]!;
      }
    });
    record('softmax 3,350', 'M elements/s', k, (calls * z.length) / t / 1e6);
  }
}

// --- report ----------------------------------------------------------------------------------
const rowsOut = Object.entries(results).map(([what, v]) => ({
  what,
  js: v.js!,
  wasm: v.wasm!,
  speedup: v.wasm! / v.js!,
}));
const w = Math.max(...rowsOut.map((r) => r.what.length));
process.stdout.write(`${'kernel'.padEnd(w)}  ${'js'.padStart(8)}  ${'wasm'.padStart(8)}  speedup\n`);
for (const r of rowsOut) {
  process.stdout.write(`${r.what.padEnd(w)}  ${r.js.toFixed(2).padStart(8)}  ${r.wasm.toFixed(2).padStart(8)}  ${r.speedup.toFixed(1).padStart(6)}x\n`);
}
process.stdout.write(`dot 128 through the raw wasm export (addresses precomputed): ${rawDot.toFixed(2)} GFLOP/s\n`);
mkdirSync(dirname(outFile), { recursive: true });
writeFileSync(
  outFile,
  JSON.stringify({ date: new Date().toISOString(), node: process.version, labels: N_LABELS, dim: DIM, results: rowsOut, rawWasmDotGflops: rawDot }, null, 2) + '\n',
);
process.stdout.write(`written ${outFile} (checksum ${sink.toExponential(3)})\n`);
