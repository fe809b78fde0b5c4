// The kernels of deferred weight gradients (rowsDx, groupPairs, gradRows, adamRowsPairs): the
// WebAssembly SIMD ones against their TypeScript twins, and each against its definition in terms
// of the immediate kernels (rowsBackward, adamRows), bit for bit where the operations are the same.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { jsKernels, type Kernels } from '../src/kernels/index.js';
import { Arena } from '../src/memory/arena.js';
import { Rng } from '../src/util/rng.js';
import { LENGTHS, OFFSETS, Twins, abs, newWasm, rand, randRows } from './kernels.helpers.js';

/**
 * A batch of `slots` samples through a layer of nMat rows of width n: slot b's sample has input
 * X[b] and gradients on some rows (distinct within a slot, a zero among them), as the backward
 * of a sampled layer records them; `touched` lists every row with a pair, shuffled, plus rows
 * without pairs (a touched row whose gradients were all zero).
 */
function batchProblem(rng: Rng, n: number, nMat: number, slots: number, budget: number) {
  const X = rand(rng, slots * n);
  const pRow = new Int32Array(slots * budget);
  const pCoef = new Float32Array(slots * budget);
  const pCnt = new Int32Array(slots);
  const seen = new Set<number>();
  for (let b = 0; b < slots; b++) {
    // slot 1 is empty, slot 2 full
    const c = b === 1 ? 0 : b === 2 ? Math.min(budget, nMat) : rng.nextInt(Math.min(budget, nMat) + 1);
    const rows = Array.from({ length: nMat }, (_, i) => i);
    for (let k = 0; k < c; k++) {
      const j = k + rng.nextInt(nMat - k);
      [rows[k], rows[j]] = [rows[j]!, rows[k]!];
      pRow[b * budget + k] = rows[k]!;
      pCoef[b * budget + k] = (2 * rng.nextFloat() - 1) * 0.1;
      seen.add(rows[k]!);
    }
    pCnt[b] = c;
  }
  // touched: the rows with pairs and a few without, in a shuffled order
  for (let r = 0; r < nMat; r++) if (!seen.has(r) && rng.nextFloat() < 0.3) seen.add(r);
  const touched = Int32Array.from(seen);
  for (let i = touched.length - 1; i > 0; i--) {
    const j = rng.nextInt(i + 1);
    [touched[i], touched[j]] = [touched[j]!, touched[i]!];
  }
  return { X, pRow, pCoef, pCnt, touched };
}

/** groupPairs into fresh arrays of `arena` with kernels k; returns them. */
function group(k: Kernels, arena: Arena, p: ReturnType<typeof batchProblem>, nMat: number, slots: number, budget: number) {
  const cp = <T extends Float32Array | Int32Array>(a: T): T => {
    const c = (a instanceof Float32Array ? arena.f32(a.length) : arena.i32(a.length)) as T;
    c.set(a);
    return c;
  };
  const touched = cp(p.touched);
  const pRow = cp(p.pRow);
  const pCoef = cp(p.pCoef);
  const pCnt = cp(p.pCnt);
  const pos = arena.i32(nMat);
  const ptr = arena.i32(nMat + 1);
  const src = arena.i32(slots * budget);
  const coef = arena.f32(slots * budget);
  const total = k.groupPairs(touched, touched.length, pos, ptr, pRow, pCoef, pCnt, slots, budget, src, coef);
  return { touched, pos, ptr, src, coef, pCnt, total };
}

describe('deferred-gradient kernels', () => {
  it('rowsDx: wasm vs js, and bit for bit the dx of rowsBackward', () => {
    const rng = new Rng(21);
    const arena = new Arena();
    const k = newWasm(arena);
    for (const n of LENGTHS) {
      for (const off of OFFSETS) {
        const nMat = 7;
        const nRows = 33;
        const t = new Twins(arena);
        t.f32('W', rand(rng, nMat * n));
        t.i32('rows', randRows(rng, nRows + off, nMat));
        const grad = rand(rng, nRows + off);
        grad[off + 3] = 0;
        t.f32('grad', grad);
        t.f32('dx', rand(rng, n + 2 * off));
        const scale = abs(t.js.dx as Float32Array);
        jsKernels.rowsDx(abs(t.js.W as Float32Array), n, t.js.rows as Int32Array, off, nRows, abs(t.js.grad as Float32Array), off, scale, 2 * off);
        const before = Float32Array.from(t.wasm.dx as Float32Array);
        jsKernels.rowsDx(t.js.W as Float32Array, n, t.js.rows as Int32Array, off, nRows, t.js.grad as Float32Array, off, t.js.dx as Float32Array, 2 * off);
        k.rowsDx(t.wasm.W as Float32Array, n, t.wasm.rows as Int32Array, off, nRows, t.wasm.grad as Float32Array, off, t.wasm.dx as Float32Array, 2 * off);
        t.compare(`rowsDx n=${n} off=${off}`, { dx: scale });
        // the same dx as rowsBackward's (which also writes G and gBias)
        const dx2 = arena.f32(before.length);
        dx2.set(before);
        const G = arena.f32(nMat * n);
        const gb = arena.f32(nMat);
        k.rowsBackward(t.wasm.W as Float32Array, G, gb, n, t.wasm.rows as Int32Array, off, nRows, t.wasm.grad as Float32Array, off, arena.f32(n), 0, dx2, 2 * off);
        assert.deepEqual(dx2, t.wasm.dx, `rowsDx n=${n} off=${off}: rowsBackward's dx`);
      }
    }
  });

  it('markedRows: the marked rows in ascending order (any density, lengths not a multiple of 4, marks other than 1)', () => {
    const rng = new Rng(26);
    const arena = new Arena();
    const wasm = newWasm(arena);
    for (const n of [0, 1, 3, 4, 5, 17, 1000, 4099]) {
      for (const density of [0, 0.01, 0.2, 0.9, 1]) {
        const mark0 = Int32Array.from({ length: n }, () => (rng.nextFloat() < density ? 1 + rng.nextInt(3) : 0));
        const want = Array.from(mark0).flatMap((m, r) => (m !== 0 ? [r] : []));
        for (const kk of [jsKernels, wasm]) {
          const mark = arena.i32(n);
          mark.set(mark0);
          const out = arena.i32(n + 1).fill(-7);
          const k = kk.markedRows(mark, n, out);
          assert.equal(k, want.length, `${kk.name}: n ${n} density ${density}`);
          assert.deepEqual(Array.from(out.subarray(0, k)), want, `${kk.name}: n ${n} density ${density}`);
          assert.equal(out[k], -7, 'nothing written past the marked rows');
          assert.deepEqual(mark, mark0, 'marks unchanged');
        }
      }
    }
  });

  it('markPairs: the rows of the pairs not yet marked are marked and listed, in slot and pair order', () => {
    const rng = new Rng(25);
    for (const [nMat, slots, budget] of [[1, 2, 1], [40, 9, 7], [500, 64, 40]] as const) {
      const p = batchProblem(rng, 1, nMat, slots, budget);
      const arena = new Arena();
      const mark0 = new Int32Array(nMat);
      const pre: number[] = [];
      for (let r = 0; r < nMat; r += 3) {
        mark0[r] = 1;
        pre.push(r);
      }
      const outs = [jsKernels, newWasm(arena)].map((kk) => {
        const pRow = arena.i32(p.pRow.length);
        pRow.set(p.pRow);
        const pCnt = arena.i32(slots);
        pCnt.set(p.pCnt);
        const mark = arena.i32(nMat);
        mark.set(mark0);
        const touched = arena.i32(nMat);
        touched.set(pre);
        const n = kk.markPairs(pRow, pCnt, slots, budget, mark, touched, pre.length);
        return { n, mark, touched };
      });
      const want = [...pre];
      const seen = new Set(pre);
      for (let b = 0; b < slots; b++) {
        for (let k = 0; k < p.pCnt[b]!; k++) {
          const r = p.pRow[b * budget + k]!;
          if (!seen.has(r)) {
            seen.add(r);
            want.push(r);
          }
        }
      }
      for (const o of outs) {
        assert.deepEqual(Array.from(o.touched.subarray(0, o.n)), want, `nMat ${nMat}: touched list`);
        for (let r = 0; r < nMat; r++) assert.equal(o.mark[r], seen.has(r) ? 1 : 0, `nMat ${nMat}: mark ${r}`);
      }
    }
  });

  it('groupPairs: wasm and js give the same lists, each row its pairs in slot order', () => {
    const rng = new Rng(22);
    for (const [nMat, slots, budget] of [[1, 3, 1], [9, 5, 4], [60, 17, 12], [500, 64, 40]] as const) {
      const p = batchProblem(rng, 1, nMat, slots, budget);
      const arena = new Arena();
      const js = group(jsKernels, arena, p, nMat, slots, budget);
      const wasm = group(newWasm(arena), arena, p, nMat, slots, budget);
      const nT = p.touched.length;
      let expectTotal = 0;
      for (let b = 0; b < slots; b++) expectTotal += p.pCnt[b]!;
      assert.equal(js.total, expectTotal);
      assert.equal(wasm.total, expectTotal);
      assert.deepEqual(wasm.ptr.subarray(0, nT + 1), js.ptr.subarray(0, nT + 1), `nMat ${nMat}: ptr`);
      assert.deepEqual(wasm.src.subarray(0, expectTotal), js.src.subarray(0, expectTotal), `nMat ${nMat}: src`);
      assert.deepEqual(wasm.coef.subarray(0, expectTotal), js.coef.subarray(0, expectTotal), `nMat ${nMat}: coef`);
      assert.ok(wasm.pCnt.every((c) => c === 0) && js.pCnt.every((c) => c === 0), 'the slots are emptied');
      // the definition: position i lists the pairs of row touched[i], slots ascending
      for (let i = 0; i < nT; i++) {
        const r = p.touched[i]!;
        assert.equal(wasm.pos[r], i + 1, 'pos: the position plus one (the index of its cursor in ptr)');
        const want: [number, number][] = [];
        for (let b = 0; b < slots; b++) {
          for (let k = 0; k < p.pCnt[b]!; k++) if (p.pRow[b * budget + k] === r) want.push([b, p.pCoef[b * budget + k]!]);
        }
        const got: [number, number][] = [];
        for (let q = wasm.ptr[i]!; q < wasm.ptr[i + 1]!; q++) got.push([wasm.src[q]!, wasm.coef[q]!]);
        assert.deepEqual(got, want, `nMat ${nMat}: pairs of row ${r}`);
      }
    }
    // nothing recorded: returns 0
    const arena = new Arena();
    const empty = group(newWasm(arena), arena, { X: new Float32Array(0), pRow: new Int32Array(4), pCoef: new Float32Array(4), pCnt: new Int32Array(2), touched: Int32Array.of(1, 0) }, 2, 2, 2);
    assert.equal(empty.total, 0);
  });

  it('selectPairs + countPairs + listCounted + placePairs in parts: wasm and js alike, and once joined the groups of markPairs + markedRows + groupPairs', () => {
    const rng = new Rng(27);
    for (const [nMat, slots, budget] of [[1, 3, 1], [5, 4, 3], [9, 5, 4], [60, 17, 12], [501, 64, 40]] as const) {
      const p = batchProblem(rng, 1, nMat, slots, budget);
      const arena = new Arena();
      const wasm = newWasm(arena);
      const cp = <T extends Float32Array | Int32Array>(a: T): T => {
        const c = (a instanceof Float32Array ? arena.f32(a.length) : arena.i32(a.length)) as T;
        c.set(a);
        return c;
      };
      // the oracle: the rows of the pairs listed in ascending order, then groupPairs
      const rowsWithPairs = new Set<number>();
      for (let b = 0; b < slots; b++) for (let k = 0; k < p.pCnt[b]!; k++) rowsWithPairs.add(p.pRow[b * budget + k]!);
      const ascending = Int32Array.from([...rowsWithPairs].sort((a, b) => a - b));
      const want = group(jsKernels, arena, { ...p, touched: ascending }, nMat, slots, budget);
      // one part; two and three parts at random bounds (empty parts included)
      for (const parts of [1, 2, 3]) {
        const bounds = [0, ...Array.from({ length: parts - 1 }, () => rng.nextInt(nMat + 1)).sort((a, b) => a - b), nMat];
        const runs = [jsKernels, wasm].map((k) => {
          const mark = arena.i32(nMat);
          const pRow = cp(p.pRow);
          const pCoef = cp(p.pCoef);
          const pCnt = cp(p.pCnt);
          const touched = arena.i32(nMat + 1).fill(-3);
          const ptr = arena.i32(nMat + 2).fill(-4);
          const src = arena.i32(slots * budget);
          const coef = arena.f32(slots * budget);
          const list = arena.i32(slots * budget);
          const slotEnd = arena.i32(slots);
          const counts: number[] = [];
          for (let t = 0; t < parts; t++) {
            const r0 = bounds[t]!;
            const r1 = bounds[t + 1]!;
            const below = k.selectPairs(pRow, pCnt, slots, budget, r0, r1, list, slotEnd);
            // the oracle of the selection: the part's pairs in slot and pair order, those below it
            const inPart: number[] = [];
            let expectBelow = 0;
            for (let b = 0; b < slots; b++) {
              for (let q = b * budget; q < b * budget + p.pCnt[b]!; q++) {
                if (p.pRow[q]! < r0) expectBelow++;
                else if (p.pRow[q]! < r1) inPart.push(q);
              }
              assert.equal(slotEnd[b], inPart.length, `part ${t}: end of slot ${b}`);
            }
            assert.equal(below, expectBelow, `pairs below part ${t}`);
            assert.deepEqual(Array.from(list.subarray(0, inPart.length)), inPart, `part ${t}: its pairs`);
            k.countPairs(pRow, list, inPart.length, mark);
            const n = k.listCounted(mark, r0, r1, touched, ptr, below);
            if (n > 0) k.placePairs(mark, pRow, pCoef, list, slotEnd, slots, src, coef);
            counts.push(n);
          }
          // the join (DeferredGrads.joinParts): each part's list moved down behind the previous one
          let n = counts[0]!;
          for (let t = 1; t < parts; t++) {
            for (let i = 0; i < counts[t]!; i++) {
              touched[n + i] = touched[bounds[t]! + i]!;
              ptr[n + 1 + i] = ptr[bounds[t]! + 1 + i]!;
            }
            n += counts[t]!;
          }
          ptr[0] = 0;
          return { n, mark, touched, ptr, src, coef, pCnt };
        });
        assert.deepEqual(runs[1], runs[0], `nMat ${nMat}, ${parts} parts: wasm and js alike`);
        const r = runs[0]!;
        const what = `nMat ${nMat}, ${parts} parts at ${bounds.join(',')}`;
        assert.equal(r.n, ascending.length, what);
        assert.deepEqual(Array.from(r.touched.subarray(0, r.n)), Array.from(ascending), `${what}: touched rows ascending`);
        for (const row of ascending) assert.equal(r.mark[row], want.ptr[want.pos[row]!]!, `${what}: mark = the end of row ${row}'s pairs (its cursor, placed)`);
        for (let q = 0; q < nMat; q++) if (!rowsWithPairs.has(q)) assert.equal(r.mark[q], 0, `${what}: row ${q} unmarked`);
        assert.deepEqual(Array.from(r.ptr.subarray(0, r.n + 1)), Array.from(want.ptr.subarray(0, r.n + 1)), `${what}: ptr`);
        assert.deepEqual(r.src.subarray(0, want.total), want.src.subarray(0, want.total), `${what}: src`);
        assert.deepEqual(r.coef.subarray(0, want.total), want.coef.subarray(0, want.total), `${what}: coef`);
        assert.deepEqual(Array.from(r.pCnt), Array.from(p.pCnt), `${what}: the slots are left for the join to empty`);
      }
    }
  });

  for (const fused of [false, true]) {
    const name = fused ? 'adamRowsPairs' : 'gradRows';
    it(`${name}: wasm vs js, and bit for bit ${fused ? 'gradRows + adamRows' : 'rowsBackward sample by sample'}`, () => {
      const rng = new Rng(fused ? 24 : 23);
      for (const n of LENGTHS) {
        for (const off of [0, 2]) {
          const nMat = 23;
          const slots = 11;
          const budget = 9;
          const p = batchProblem(rng, n, nMat, slots, budget);
          const arena = new Arena();
          const k = newWasm(arena);
          const W0 = rand(rng, nMat * n);
          const M0 = rand(rng, nMat * n, -0.1, 0.1);
          const V0 = rand(rng, nMat * n, 0, 0.01);
          const gb0 = rand(rng, nMat, -0.1, 0.1);
          const lrT = 1e-3, b1 = 0.9, b2 = 0.999, eps = 1e-8;
          const decay = off === 0 ? 1 : 1 - 1e-3 * 0.05;
          // the touched list at an offset, as a worker's slice of it
          const withOff = (g: ReturnType<typeof group>): Int32Array => {
            const t = arena.i32(g.touched.length + off);
            t.set(g.touched, off);
            return t;
          };
          const ptrOff = (g: ReturnType<typeof group>): Int32Array => {
            const q = arena.i32(g.touched.length + 1 + off);
            q.set(g.ptr.subarray(0, g.touched.length + 1), off);
            return q;
          };
          const run = (kk: Kernels) => {
            const g = group(kk, arena, p, nMat, slots, budget);
            const X = arena.f32(p.X.length);
            X.set(p.X);
            const s = { W: arena.f32(W0.length), M: arena.f32(M0.length), V: arena.f32(V0.length), G: arena.f32(W0.length), gb: arena.f32(nMat) };
            s.W.set(W0);
            s.M.set(M0);
            s.V.set(V0);
            s.gb.set(gb0);
            const nT = g.touched.length;
            if (fused) kk.adamRowsPairs(s.W, s.M, s.V, s.gb, n, withOff(g), off, nT, ptrOff(g), g.src, g.coef, X, lrT, b1, b2, eps, decay);
            else kk.gradRows(s.G, s.gb, n, withOff(g), off, nT, ptrOff(g), g.src, g.coef, X);
            return { s, g, X };
          };
          const js = run(jsKernels);
          const wasm = run(k);
          const label = `${name} n=${n} off=${off}`;
          const t = new Twins(arena);
          for (const key of ['W', 'M', 'V', 'G', 'gb'] as const) {
            t.js[key] = js.s[key];
            t.wasm[key] = wasm.s[key];
          }
          t.compare(label);
          // the definition, in each implementation
          for (const [impl, kk, got] of [['js', jsKernels, js], ['wasm', k, wasm]] as const) {
            const ref = { W: arena.f32(W0.length), M: arena.f32(M0.length), V: arena.f32(V0.length), G: arena.f32(W0.length), gb: arena.f32(nMat) };
            ref.W.set(W0);
            ref.M.set(M0);
            ref.V.set(V0);
            ref.gb.set(gb0);
            if (fused) {
              const g = got.g;
              kk.gradRows(ref.G, ref.gb, n, g.touched, 0, g.touched.length, g.ptr, g.src, g.coef, got.X);
              kk.adamRows(ref.W, ref.M, ref.V, ref.G, n, g.touched, 0, g.touched.length, lrT, b1, b2, eps, decay);
            } else {
              // what the immediate path computes: each slot's sample in turn adds into G and gBias
              const rows = arena.i32(budget);
              const grad = arena.f32(budget);
              for (let b = 0; b < slots; b++) {
                const c = p.pCnt[b]!;
                rows.set(p.pRow.subarray(b * budget, b * budget + c));
                grad.set(p.pCoef.subarray(b * budget, b * budget + c));
                kk.rowsBackward(ref.W, ref.G, ref.gb, n, rows, 0, c, grad, 0, got.X, b * n, null, 0);
              }
            }
            for (const key of ['W', 'M', 'V', 'G', 'gb'] as const) assert.deepEqual(got.s[key], ref[key], `${label}: ${impl} ${key} against the definition`);
          }
        }
      }
    });
  }

  it('gradRowsDense: wasm vs js, and bit for bit rowsBackward sample by sample over every row (unused slots skipped)', () => {
    const rng = new Rng(26);
    for (const n of LENGTHS) {
      const nMat = 19;
      const slots = 6;
      const arena = new Arena();
      const k = newWasm(arena);
      const X = arena.f32(slots * n);
      X.set(rand(rng, slots * n));
      const coef = arena.f32(slots * nMat);
      coef.set(rand(rng, slots * nMat, -0.1, 0.1));
      coef[2 * nMat + 5] = 0;
      const used = arena.i32(4);
      used.set([0, 2, 3, 5]);
      const rows = arena.i32(nMat + 1);
      for (let r = 0; r < nMat; r++) rows[r + 1] = r;
      const G0 = rand(rng, nMat * n, -0.1, 0.1);
      const gb0 = rand(rng, nMat, -0.1, 0.1);
      const run = (kk: Kernels) => {
        const G = arena.f32(G0.length);
        const gb = arena.f32(nMat);
        G.set(G0);
        gb.set(gb0);
        kk.gradRowsDense(G, gb, n, rows, 1, nMat, coef, nMat, used, used.length, X);
        return { G, gb };
      };
      const js = run(jsKernels);
      const wasm = run(k);
      const t = new Twins(arena);
      t.js.G = js.G;
      t.wasm.G = wasm.G;
      t.js.gb = js.gb;
      t.wasm.gb = wasm.gb;
      t.compare(`gradRowsDense n=${n}`);
      // the definition: every used slot's sample adds g * x into every row, in slot order
      const all = arena.i32(nMat);
      for (let r = 0; r < nMat; r++) all[r] = r;
      for (const [impl, kk, got] of [['js', jsKernels, js], ['wasm', k, wasm]] as const) {
        const G = arena.f32(G0.length);
        const gb = arena.f32(nMat);
        G.set(G0);
        gb.set(gb0);
        for (const s of used) kk.rowsBackward(arena.f32(nMat * n), G, gb, n, all, 0, nMat, coef, s * nMat, X, s * n, null, 0);
        assert.deepEqual(got.G, G, `gradRowsDense n=${n}: ${impl} G against the definition`);
        assert.deepEqual(got.gb, gb, `gradRowsDense n=${n}: ${impl} gBias against the definition`);
      }
    }
  });

  it('adamRowsPairs without biases (the feature-major input block): the same W, M, V, and nothing else written', () => {
    const rng = new Rng(27);
    const n = 37;
    const nMat = 15;
    const slots = 5;
    const budget = 6;
    const p = batchProblem(rng, n, nMat, slots, budget);
    for (const kk of [jsKernels, newWasm(new Arena())]) {
      const arena = new Arena();
      const k = kk.name === 'js' ? jsKernels : newWasm(arena);
      const g = group(k, arena, p, nMat, slots, budget);
      const X = arena.f32(p.X.length);
      X.set(p.X);
      const W0 = rand(rng, nMat * n);
      const mk = () => {
        const s = { W: arena.f32(W0.length), M: arena.f32(W0.length), V: arena.f32(W0.length), gb: arena.f32(nMat) };
        s.W.set(W0);
        return s;
      };
      const a = mk();
      const b = mk();
      k.adamRowsPairs(a.W, a.M, a.V, a.gb, n, g.touched, 0, g.touched.length, g.ptr, g.src, g.coef, X, 1e-3, 0.9, 0.999, 1e-8);
      k.adamRowsPairs(b.W, b.M, b.V, null, n, g.touched, 0, g.touched.length, g.ptr, g.src, g.coef, X, 1e-3, 0.9, 0.999, 1e-8);
      assert.deepEqual(b.W, a.W);
      assert.deepEqual(b.M, a.M);
      assert.deepEqual(b.V, a.V);
      assert.ok(b.gb.every((v) => v === 0), `${k.name}: no bias written`);
    }
  });
});
