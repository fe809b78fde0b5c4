// The WTA / DWTA kernels (wtaCodes, densifyCodes, codeKeys): WebAssembly against the TypeScript
// twin bit for bit, and the twin against the families' own hashing (Wta / Dwta hashDenseRow,
// PooledFamily, LshTables' combineCodes). Needs build/kernels.wasm (`npm run build`).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { jsKernels } from '../src/kernels/index.js';
import { Arena } from '../src/memory/arena.js';
import { Rng } from '../src/util/rng.js';
import { Wta } from '../src/hashing/wta.js';
import { Dwta } from '../src/hashing/dwta.js';
import { PooledFamily } from '../src/hashing/pooled.js';
import { PROBE_CAP } from '../src/hashing/common.js';
import { combineCodes } from '../src/tables/tables.js';
import { Twins, newWasm } from './kernels.helpers.js';

/** Values with many ties, both zeros, negatives and a wide range. */
const VALUES = [0, -0, 1, -1, 2, -2, 0.5, -0.5, 3.25e-3, -7e10, 1e-40, -1e-40];

/**
 * m rows of n values: kind 'dense' random gaussians and tie-prone values mixed, 'sparse' mostly
 * zeros (a few non-zeros a row: empty DWTA bins), 'zero' rows all zero but one in five.
 */
function rows(rng: Rng, m: number, n: number, kind: 'dense' | 'sparse' | 'zero'): Float32Array {
  const x = new Float32Array(m * n);
  for (let r = 0; r < m; r++) {
    const zeroRow = kind === 'zero' && r % 5 !== 0;
    for (let i = 0; i < n; i++) {
      if (zeroRow) x[r * n + i] = (r + i) % 2 === 0 ? 0 : -0;
      else if (kind === 'sparse' && rng.nextFloat() > 3 / n) x[r * n + i] = 0;
      else x[r * n + i] = rng.nextFloat() < 0.5 ? VALUES[rng.nextInt(VALUES.length)]! : rng.nextGaussian();
    }
  }
  return x;
}

function randomCoords(rng: Rng, H: number, binSize: number, n: number): Int32Array {
  return Int32Array.from({ length: H * binSize }, () => rng.nextInt(n));
}

/** Probes as Densifier draws them: never the bin itself (unless H = 1). */
function randomProbes(rng: Rng, H: number): Int32Array {
  const p = new Int32Array(H * PROBE_CAP);
  for (let h = 0; h < H; h++) {
    for (let a = 0; a < PROBE_CAP; a++) {
      let q = rng.nextInt(H);
      if (H > 1) while (q === h) q = rng.nextInt(H);
      p[h * PROBE_CAP + a] = q;
    }
  }
  return p;
}

describe('WTA / DWTA kernels: WebAssembly equals the TypeScript twin bit for bit', () => {
  it('wtaCodes: 8-row, 4-row and single-row groups, odd widths, ties, zeros, a mean, offsets and ld > m', () => {
    const rng = new Rng(71);
    const arena = new Arena();
    const k = newWasm(arena);
    let cases = 0;
    for (const n of [1, 3, 8, 13, 128]) {
      for (const [H, binSize] of [[1, 2], [7, 8], [300, 8], [5, 16], [9, 3]] as const) {
        for (const m of [0, 1, 3, 4, 7, 8, 13, 17]) {
          for (const dwta of [0, 1]) {
            const kind = (['dense', 'sparse', 'zero'] as const)[cases % 3]!;
            const withMean = cases % 2 === 1;
            const off = cases % 3;
            const ld = m + (cases % 4);
            cases++;
            const t = new Twins(arena);
            t.i32('coords', randomCoords(rng, H, binSize, n));
            const X = new Float32Array(off + m * n);
            X.set(rows(rng, m, n, kind), off);
            t.f32('X', X);
            // the mean equals some row values exactly: centred zeros in non-zero rows
            const mean = withMean ? Float32Array.from({ length: n }, (_, i) => (m > 0 && i % 3 === 0 ? X[off + i]! : rng.nextGaussian())) : null;
            if (mean) t.f32('mean', mean);
            t.i32('buf', new Int32Array(8 * n));
            t.i32('codes', Int32Array.from({ length: off + Math.max(1, H * ld) }, () => 12345));
            const run = (kk: typeof jsKernels, s: Record<string, Float32Array | Int32Array>) =>
              kk.wtaCodes(s.coords as Int32Array, H, binSize, dwta, s.X as Float32Array, off, n, m, mean ? (s.mean as Float32Array) : null, s.buf as Int32Array, s.codes as Int32Array, off, Math.max(ld, 1));
            const label = `wtaCodes n=${n} H=${H} bin=${binSize} m=${m} dwta=${dwta} ${kind} mean=${withMean}`;
            const emptyJs = run(jsKernels, t.js);
            const emptyWasm = run(k, t.wasm);
            // buf is scratch: its contents differ by design
            t.js.buf = t.wasm.buf!;
            t.compare(label);
            let empty = 0;
            const codes = t.js.codes as Int32Array;
            for (let h = 0; h < H; h++) for (let r = 0; r < m; r++) if (codes[off + h * ld + r] === -1) empty++;
            assert.equal(emptyJs, empty, `${label}: the twin counts its empty bins`);
            assert.equal(emptyWasm, empty, `${label}: the kernel counts its empty bins`);
            if (dwta === 0) assert.equal(empty, 0, 'WTA bins are never empty');
          }
        }
      }
    }
  });

  it('colSums: float64 column sums in row order, bit for bit (4-row passes, 4-column steps, tails, offsets)', () => {
    const rng = new Rng(74);
    const arena = new Arena();
    const k = newWasm(arena);
    for (const n of [1, 3, 4, 13, 128]) {
      for (const m of [0, 1, 3, 4, 9, 64]) {
        const off = (n + m) % 3;
        // magnitudes far apart: the sums' rounding depends on the order of the additions
        const X = Float32Array.from({ length: off + m * n }, () => rng.nextGaussian() * 10 ** rng.nextInt(8));
        const xs = arena.f32(X.length);
        xs.set(X);
        const init = Float64Array.from({ length: n }, () => rng.nextGaussian());
        const accJs = Float64Array.from(init);
        const at = arena.alloc(8 * n); // first: it may grow the memory (a new buffer object)
        const accWasm = new Float64Array(arena.memory.buffer, at, n);
        accWasm.set(init);
        jsKernels.colSums(X, off, n, m, accJs);
        k.colSums(xs, off, n, m, accWasm);
        assert.deepEqual(Array.from(accWasm), Array.from(accJs), `colSums n=${n} m=${m}`);
        // the twin is the plain row-by-row float64 loop
        for (let c = 0; c < n; c++) {
          let s0 = init[c]!;
          for (let r = 0; r < m; r++) s0 += X[off + r * n + c]!;
          assert.equal(accJs[c], s0);
        }
      }
    }
  });

  it('densifyCodes: rows full, all empty, with a few non-empty bins (the rotation fallback) and half empty', () => {
    const rng = new Rng(72);
    const arena = new Arena();
    const k = newWasm(arena);
    for (const H of [1, 2, 5, 64, 300]) {
      for (const m of [1, 3, 4, 9, 16]) {
        const ld = m + (H % 3);
        const off = H % 2;
        const probes = randomProbes(rng, H);
        const raw = new Int32Array(off + H * ld);
        for (let r = 0; r < m; r++) {
          // 0: full, 1: all empty, 2: one non-empty bin, 3: half empty, 4: 2 non-empty bins
          const style = r % 5;
          const keep = style === 2 ? rng.nextInt(H) : -1;
          for (let h = 0; h < H; h++) {
            const empty = style === 1 || (style === 2 && h !== keep) || (style === 3 && rng.nextFloat() < 0.5) || (style === 4 && h > 1);
            raw[off + h * ld + r] = empty ? -1 : rng.nextInt(8);
          }
        }
        const t = new Twins(arena);
        t.i32('probes', probes);
        t.i32('codes', raw);
        t.i32('buf', new Int32Array(2 * H));
        jsKernels.densifyCodes(t.js.codes as Int32Array, off, ld, m, H, probes, t.js.buf as Int32Array);
        k.densifyCodes(t.wasm.codes as Int32Array, off, ld, m, H, t.wasm.probes as Int32Array, t.wasm.buf as Int32Array);
        t.js.buf = t.wasm.buf!;
        t.compare(`densifyCodes H=${H} m=${m}`);
        const codes = t.js.codes as Int32Array;
        for (let r = 0; r < m; r++) for (let h = 0; h < H; h++) assert.ok(codes[off + h * ld + r]! >= 0, 'every bin has a code after densification');
      }
    }
  });

  it('codeKeys: concatenation and the mix32 fold, selections (pools), remainders of 4 rows; equal to LshTables combineCodes', () => {
    const rng = new Rng(73);
    const arena = new Arena();
    const k = newWasm(arena);
    for (const [K, L, bits, rangePow] of [[6, 50, 3, 18], [3, 16, 3, 10], [6, 5, 3, 12], [12, 4, 3, 20], [11, 3, 3, 28], [5, 7, 1, 5], [4, 3, 8, 16], [1, 2, 30, 28], [7, 3, 5, 8]] as const) {
      for (const m of [1, 4, 6, 32]) {
        const H = K * L + 3;
        const ld = m + 1;
        const sel = Int32Array.from({ length: K * L }, () => rng.nextInt(H));
        // codes with bits above `bits` set too: both mask them off
        const codes = Int32Array.from({ length: H * ld }, () => rng.nextInt(1 << Math.min(30, bits + 1)));
        const stride = m + 5;
        const t = new Twins(arena);
        t.i32('codes', codes);
        t.i32('sel', sel);
        t.i32('keys', new Int32Array(2 + L * stride).fill(-7));
        jsKernels.codeKeys(codes, 0, ld, H, m, sel, K, L, bits, rangePow, t.js.keys as Int32Array, 2, stride);
        k.codeKeys(t.wasm.codes as Int32Array, 0, ld, H, m, t.wasm.sel as Int32Array, K, L, bits, rangePow, t.wasm.keys as Int32Array, 2, stride);
        t.compare(`codeKeys K=${K} L=${L} bits=${bits} rangePow=${rangePow} m=${m}`);
        const keys = t.js.keys as Int32Array;
        const row = new Int32Array(K * L);
        for (let r = 0; r < m; r++) {
          for (let i = 0; i < K * L; i++) row[i] = codes[sel[i]! * ld + r]!;
          for (let tb = 0; tb < L; tb++) assert.equal(keys[2 + tb * stride + r], combineCodes(row, tb * K, K, bits, rangePow), `K=${K} bits=${bits} rangePow=${rangePow} row ${r} table ${tb}`);
        }
      }
    }
  });
});

describe("the WTA / DWTA twins equal the families' hashDenseRow bit for bit", () => {
  /** codes of m rows of X by the plan through `kk` (X and outputs in kk's memory), row-major (m, H) */
  function planCodes(fam: Wta | Dwta, X: Float32Array, m: number, mean: Float32Array | null): Int32Array {
    const plan = fam.kernelPlan();
    const n = fam.dim;
    const H = fam.numHashes;
    const hm = new Int32Array(H * m);
    jsKernels.wtaCodes(plan.coords, H, plan.binSize, plan.kind === 'dwta' ? 1 : 0, X, 0, n, m, mean, new Int32Array(8 * n), hm, 0, m);
    if (plan.kind === 'dwta') jsKernels.densifyCodes(hm, 0, m, m, H, plan.probes, new Int32Array(2 * H));
    const out = new Int32Array(m * H);
    for (let r = 0; r < m; r++) for (let h = 0; h < H; h++) out[r * H + h] = hm[h * m + r]!;
    return out;
  }

  for (const family of ['wta', 'dwta'] as const) {
    it(`${family}: dense, sparse (empty bins, rotation fallback), zero rows, ties; centred rows`, () => {
      const rng = new Rng(family === 'wta' ? 81 : 82);
      for (const [dim, H, binSize] of [[128, 300, 8], [20, 64, 4], [7, 33, 16], [300, 40, 2]] as const) {
        const fam = family === 'wta' ? new Wta({ dim, numHashes: H, seed: dim + H, binSize }) : new Dwta({ dim, numHashes: H, seed: dim + H, binSize });
        const m = 30;
        const out = new Int32Array(H);
        for (const kind of ['dense', 'sparse', 'zero'] as const) {
          const X = rows(rng, m, dim, kind);
          const got = planCodes(fam, X, m, null);
          for (let r = 0; r < m; r++) {
            fam.hashDenseRow(X, r * dim, out, 0);
            assert.deepEqual(Array.from(got.subarray(r * H, r * H + H)), Array.from(out), `${family} dim=${dim} H=${H} ${kind} row ${r}`);
          }
          // centred: the family hashes w - mean as a Float32Array holds it
          const mean = Float32Array.from({ length: dim }, (_, i) => (i % 4 === 0 ? X[i]! : rng.nextGaussian() * 0.1));
          const centred = X.map((v, j) => v - mean[j % dim]!);
          const gotC = planCodes(fam, X, m, mean);
          for (let r = 0; r < m; r++) {
            fam.hashDenseRow(centred, r * dim, out, 0);
            assert.deepEqual(Array.from(gotC.subarray(r * H, r * H + H)), Array.from(out), `${family} centred dim=${dim} H=${H} ${kind} row ${r}`);
          }
        }
      }
    });
  }

  it('dwta: the rotation fallback runs (bins with no non-empty probe) and still equals hashDenseRow', () => {
    // 1 non-zero in 512 coordinates, bins of 2, 400 hashes: at most 4 of 400 bins non-empty
    const dim = 512;
    const fam = new Dwta({ dim, numHashes: 400, seed: 5, binSize: 2 });
    const plan = fam.kernelPlan();
    const H = fam.numHashes;
    const x = new Float32Array(dim);
    let fallbacks = 0;
    for (let trial = 0; trial < 20; trial++) {
      x.fill(0);
      x[(trial * 37) % dim] = trial % 2 === 0 ? 1.5 : -2;
      const raw = new Int32Array(H);
      jsKernels.wtaCodes(plan.coords, H, plan.binSize, 1, x, 0, dim, 1, null, new Int32Array(8 * dim), raw, 0, 1);
      for (let h = 0; h < H; h++) {
        if (raw[h]! >= 0) continue;
        let hit = false;
        for (let a = 0; a < PROBE_CAP; a++) if (raw[plan.probes[h * PROBE_CAP + a]!]! >= 0) hit = true;
        if (!hit) fallbacks++;
      }
      const got = raw.slice();
      jsKernels.densifyCodes(got, 0, 1, 1, H, plan.probes, new Int32Array(2 * H));
      const want = new Int32Array(H);
      fam.hashDenseRow(x, 0, want, 0);
      assert.deepEqual(Array.from(got), Array.from(want), `trial ${trial}`);
    }
    assert.ok(fallbacks > 100, `the rotation fallback ran for ${fallbacks} bins`);
  });

  it('pooled families: the pool plan with its selection gives PooledFamily.hashDenseRow', () => {
    const rng = new Rng(83);
    for (const inner of [new Wta({ dim: 40, numHashes: 64, seed: 3, binSize: 8 }), new Dwta({ dim: 40, numHashes: 64, seed: 4, binSize: 8 })]) {
      const pooled = new PooledFamily(inner, 6, 20, 9);
      const plan = pooled.kernelPlan();
      assert.ok(plan !== null && (plan.kind === 'wta' || plan.kind === 'dwta') && plan.select === pooled.sel);
      const m = 12;
      const X = rows(rng, m, 40, 'sparse');
      const hm = new Int32Array(64 * m);
      jsKernels.wtaCodes(plan.coords, 64, plan.binSize, plan.kind === 'dwta' ? 1 : 0, X, 0, 40, m, null, new Int32Array(320), hm, 0, m);
      if (plan.kind === 'dwta') jsKernels.densifyCodes(hm, 0, m, m, 64, plan.probes, new Int32Array(128));
      const out = new Int32Array(120);
      for (let r = 0; r < m; r++) {
        pooled.hashDenseRow(X, r * 40, out, 0);
        for (let i = 0; i < 120; i++) assert.equal(hm[plan.select![i]! * m + r], out[i], `${inner.name} row ${r} code ${i}`);
      }
    }
  });
});
