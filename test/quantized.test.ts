// Ranking through 8-bit row copies (src/network/quantized.ts): the kernels' WebAssembly and
// TypeScript twins give the same bits, the intervals hold the float32 logits, and the ranking is
// the float32 top k (ties to the smaller id) bit for bit; an evaluation gives what predict gives.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { jsKernels, type Kernels } from '../src/kernels/index.js';
import { Arena } from '../src/memory/arena.js';
import { Rng } from '../src/util/rng.js';
import { bindRankBlock, clearBlockQuery, declareRankBlock, ranksInBlocks, rankBlockQuery, rankRows, stageBlockQuery, type RowCopy8, type RankScratch } from '../src/network/quantized.js';
import { BlockDecl } from '../src/memory/layout.js';
import { topK } from '../src/network/topk.js';
import { SlideModel } from '../src/training/model.js';
import { MetricsAccumulator, evalRow } from '../src/eval/metrics.js';
import { GOLDEN_DATA } from './golden.helpers.js';
import { newWasm } from './kernels.helpers.js';

/** Arrays of one problem carved from an arena (the WebAssembly kernels address only its memory). */
class Problem {
  readonly W: Float32Array;
  readonly b: Float32Array;
  readonly c: RowCopy8;
  readonly s: RankScratch;
  readonly x: Float32Array;
  readonly act: Int32Array;
  readonly z: Float32Array;
  readonly outIds: Int32Array;
  readonly outScores: Float32Array;

  constructor(
    readonly arena: Arena,
    readonly rows: number,
    readonly n: number,
  ) {
    // alloc first: it may grow the memory (a new buffer object)
    const i8 = (len: number) => {
      const at = arena.alloc(len);
      return new Int8Array(arena.memory.buffer, at, len);
    };
    const i16 = (len: number) => {
      const at = arena.alloc(2 * len);
      return new Int16Array(arena.memory.buffer, at, len);
    };
    this.W = arena.f32(rows * n);
    this.b = arena.f32(rows);
    this.c = { Q: i8(rows * n), scale: arena.f32(rows), qL1: arena.i32(rows) };
    const f64 = (len: number) => {
      const at = arena.alloc(8 * len);
      return new Float64Array(arena.memory.buffer, at, len);
    };
    this.s = { xq: i16(n), prm: f64(4), hi: arena.f32(rows), sel: arena.i32(rows) };
    this.x = arena.f32(n);
    this.act = arena.i32(rows);
    this.z = arena.f32(rows);
    this.outIds = arena.i32(64);
    this.outScores = arena.f32(64);
  }
}

function fill(rng: Rng, a: Float32Array, scale: number, nonNegative = false): void {
  for (let i = 0; i < a.length; i++) a[i] = (nonNegative ? rng.nextFloat() : 2 * rng.nextFloat() - 1) * scale;
}

/** The oracle: every candidate in float32 (the same kernel set's dotRows), then its top K. */
function direct(k: Kernels, p: Problem, n: number, K: number): { ids: number[]; scores: number[] } {
  const z = p.arena.f32(Math.max(1, n));
  k.dotRows(p.W, p.b, p.n, p.act, 0, n, p.x, 0, z, 0);
  const ids = new Int32Array(K);
  const sc = new Float32Array(K);
  const m = topK(p.act, z, n, K, ids, sc);
  return { ids: Array.from(ids.subarray(0, m)), scores: Array.from(sc.subarray(0, m)) };
}

describe('8-bit row copies', () => {
  it('quantizeQuery: the WebAssembly kernel gives the TypeScript twin\'s bits (widths, scales, ties at a half, a zero and a non-finite query declined)', () => {
    const rng = new Rng(9);
    for (const n of [1, 3, 8, 17, 128, 256, 257, 1000]) {
      for (const kind of ['spread', 'tiny', 'huge', 'ties', 'zero', 'nan', 'inf'] as const) {
        const arena = new Arena();
        const wasm = newWasm(arena);
        const a = new Problem(arena, 1, n);
        const b = new Problem(arena, 1, n);
        fill(rng, a.x, kind === 'tiny' ? 1e-30 : kind === 'huge' ? 1e30 : 3);
        const qmax = Math.min(32767, Math.floor(0x7fffffff / (127 * n)));
        // values on half-steps of the scale (the largest is qmax steps): ties of the rounding
        if (kind === 'ties') for (let i = 0; i < n; i++) a.x[i] = i === 0 ? qmax : Math.floor(rng.nextFloat() * 2 * qmax) - qmax + 0.5;
        if (kind === 'zero') a.x.fill(0);
        if (kind === 'nan') a.x[n >> 1] = NaN;
        if (kind === 'inf') a.x[n - 1] = -Infinity;
        b.x.set(a.x);
        a.s.xq.fill(-3);
        b.s.xq.fill(-3);
        a.s.prm.fill(-3);
        b.s.prm.fill(-3);
        const ra = jsKernels.quantizeQuery(a.x, n, a.s.xq, 0, a.s.prm);
        const rb = wasm.quantizeQuery(b.x, n, b.s.xq, 0, b.s.prm);
        const what = `n=${n} ${kind}`;
        assert.equal(rb, ra, what);
        assert.equal(ra, kind === 'zero' || kind === 'nan' || kind === 'inf' ? 0 : 1, what);
        assert.deepEqual(Array.from(b.s.xq), Array.from(a.s.xq), `${what}: copy`);
        assert.deepEqual(Array.from(b.s.prm), Array.from(a.s.prm), `${what}: coefficients`);
        if (ra === 0) assert.ok(a.s.xq.every((v) => v === -3) && a.s.prm.every((v) => v === -3), `${what}: nothing written`);
        if (kind === 'ties') {
          assert.equal(a.s.prm[0], 1, `${what}: scale 1`);
          for (let i = 1; i < n; i++) {
            const w = a.x[i]!;
            const even = (Math.abs(Math.floor(w)) % 2 === 0 ? Math.floor(w) : Math.ceil(w)) || 0;
            assert.equal(a.s.xq[i], even, `${what}: ${w} rounds half to even`);
          }
        }
      }
    }
  });

  it('quantizeRows, scoreRowsQ8 and rankCut: the WebAssembly kernels give the TypeScript twins\' bits (odd widths, zero rows, ties at a half)', () => {
    const rng = new Rng(5);
    for (const n of [1, 3, 7, 8, 9, 16, 17, 33, 256, 257]) {
      const arena = new Arena();
      const wasm = newWasm(arena);
      const rows = 40;
      const a = new Problem(arena, rows, n);
      const b = new Problem(arena, rows, n);
      fill(rng, a.W, 0.5);
      // row 0 all zeros; row 1 values on half-steps of its scale (max 127, so scale 1): ties
      a.W.fill(0, 0, n);
      for (let k = 0; k < n; k++) a.W[n + k] = k === 0 ? 127 : (Math.floor(rng.nextFloat() * 254) - 127) + 0.5;
      fill(rng, a.b, 2);
      b.W.set(a.W);
      b.b.set(a.b);
      jsKernels.quantizeRows(a.W, n, 0, rows, a.c.Q, a.c.scale, a.c.qL1);
      wasm.quantizeRows(b.W, n, 0, rows, b.c.Q, b.c.scale, b.c.qL1);
      assert.deepEqual(Array.from(b.c.Q), Array.from(a.c.Q), `n=${n}: Q`);
      assert.deepEqual(Array.from(b.c.scale), Array.from(a.c.scale), `n=${n}: scale`);
      assert.deepEqual(Array.from(b.c.qL1), Array.from(a.c.qL1), `n=${n}: qL1`);
      assert.equal(a.c.scale[0], 0);
      for (let k = 1; k < n; k++) {
        const w = a.W[n + k]!;
        const even = (Math.abs(Math.floor(w)) % 2 === 0 ? Math.floor(w) : Math.ceil(w)) || 0;
        assert.equal(a.c.Q[n + k], even, `n=${n}: ${w} rounds half to even`);
      }
      for (let i = 0; i < n; i++) a.s.xq[i] = b.s.xq[i] = Math.floor(rng.nextFloat() * 20000) - 10000;
      const nRows = 37;
      for (let i = 0; i < nRows; i++) a.act[i] = b.act[i] = Math.floor(rng.nextFloat() * rows);
      const [xs, A, B, C] = [1e-4, 0.37, 2e-5, 1e-5];
      jsKernels.scoreRowsQ8(a.c.Q, a.c.scale, a.c.qL1, a.b, n, a.act, 0, nRows, a.s.xq, xs, A, B, C, a.z, 0, a.s.hi, 0);
      wasm.scoreRowsQ8(b.c.Q, b.c.scale, b.c.qL1, b.b, n, b.act, 0, nRows, b.s.xq, xs, A, B, C, b.z, 0, b.s.hi, 0);
      assert.deepEqual(Array.from(b.z.subarray(0, nRows)), Array.from(a.z.subarray(0, nRows)), `n=${n}: lo`);
      assert.deepEqual(Array.from(b.s.hi.subarray(0, nRows)), Array.from(a.s.hi.subarray(0, nRows)), `n=${n}: hi`);
      for (const K of [1, 5, nRows]) {
        const ra = jsKernels.rankCut(a.z, a.s.hi, nRows, K, a.act, a.s.sel, a.outScores);
        const rb = wasm.rankCut(b.z, b.s.hi, nRows, K, b.act, b.s.sel, b.outScores);
        assert.equal(rb, ra, `n=${n} K=${K}: kept`);
        assert.deepEqual(Array.from(b.s.sel.subarray(0, rb)), Array.from(a.s.sel.subarray(0, ra)), `n=${n} K=${K}: kept rows`);
        assert.ok(ra >= K, `n=${n} K=${K}: at least K kept`);
      }
    }
  });

  it('scoreRowsQ8x4 gives, for each of its four queries, scoreRowsQ8\'s bits over every row, in both kernel sets (widths around the 32-value step)', () => {
    const rng = new Rng(8);
    for (const n of [1, 7, 31, 32, 33, 64, 100, 128]) {
      const arena = new Arena();
      const wasm = newWasm(arena);
      const rows = 53;
      const p = new Problem(arena, rows, n);
      fill(rng, p.W, 0.4);
      fill(rng, p.b, 1);
      for (let i = 0; i < rows; i++) p.act[i] = i;
      const xq = (() => {
        const at = arena.alloc(2 * 4 * n);
        return new Int16Array(arena.memory.buffer, at, 4 * n);
      })();
      const prm = arena.f32(16);
      const lo = arena.f32(4 * rows);
      const hi = arena.f32(4 * rows);
      for (let i = 0; i < xq.length; i++) xq[i] = Math.floor(rng.nextFloat() * 60000) - 30000;
      for (let i = 0; i < 16; i++) prm[i] = rng.nextFloat() * 1e-3;
      for (const k of [jsKernels, wasm]) {
        k.quantizeRows(p.W, n, 0, rows, p.c.Q, p.c.scale, p.c.qL1);
        lo.fill(NaN);
        k.scoreRowsQ8x4(p.c.Q, p.c.scale, p.c.qL1, p.b, n, 0, rows, xq, prm, lo, hi, rows);
        for (let j = 0; j < 4; j++) {
          p.s.xq.set(xq.subarray(j * n, (j + 1) * n));
          k.scoreRowsQ8(p.c.Q, p.c.scale, p.c.qL1, p.b, n, p.act, 0, rows, p.s.xq, prm[4 * j]!, prm[4 * j + 1]!, prm[4 * j + 2]!, prm[4 * j + 3]!, p.z, 0, p.s.hi, 0);
          assert.deepEqual(Array.from(lo.subarray(j * rows, (j + 1) * rows)), Array.from(p.z.subarray(0, rows)), `${k.name} n=${n} query ${j}: lo`);
          assert.deepEqual(Array.from(hi.subarray(j * rows, (j + 1) * rows)), Array.from(p.s.hi.subarray(0, rows)), `${k.name} n=${n} query ${j}: hi`);
        }
      }
    }
  });

  it('the intervals hold the float32 logits of both kernel sets (scales from 1e-3 to 1e2, signed and non-negative inputs, large biases)', () => {
    const rng = new Rng(6);
    for (const n of [8, 100, 256]) {
      for (const [wScale, xScale, bScale, nonNeg] of [[1e-3, 1, 0, true], [0.1, 3, 5, true], [100, 0.01, 1e3, false], [1, 1, 1, false]] as const) {
        const arena = new Arena();
        const wasm = newWasm(arena);
        const rows = 300;
        const p = new Problem(arena, rows, n);
        fill(rng, p.W, wScale);
        fill(rng, p.b, bScale);
        fill(rng, p.x, xScale, nonNeg);
        for (let i = 0; i < rows; i++) p.act[i] = i;
        for (const k of [jsKernels, wasm]) {
          k.quantizeRows(p.W, n, 0, rows, p.c.Q, p.c.scale, p.c.qL1);
          const exact = arena.f32(rows);
          k.dotRows(p.W, p.b, n, p.act, 0, rows, p.x, 0, exact, 0);
          const q = p.s.prm;
          assert.equal(k.quantizeQuery(p.x, n, p.s.xq, 0, q), 1);
          k.scoreRowsQ8(p.c.Q, p.c.scale, p.c.qL1, p.b, n, p.act, 0, rows, p.s.xq, q[0]!, q[1]!, q[2]!, q[3]!, p.z, 0, p.s.hi, 0);
          for (let r = 0; r < rows; r++) {
            assert.ok(p.z[r]! <= exact[r]! && exact[r]! <= p.s.hi[r]!, `${k.name} n=${n} w=${wScale}: row ${r}: ${exact[r]} outside [${p.z[r]}, ${p.s.hi[r]}]`);
          }
        }
      }
    }
  });

  it('rankRows is the float32 top K bit for bit: random rows, duplicated rows (ties to the smaller id), near-ties, a zero input, few candidates', () => {
    const rng = new Rng(7);
    const n = 48;
    const rows = 500;
    const arena = new Arena();
    const wasm = newWasm(arena);
    const p = new Problem(arena, rows, n);
    let intervalPath = 0;
    for (let trial = 0; trial < 60; trial++) {
      const kind = trial % 5;
      fill(rng, p.W, 0.3);
      fill(rng, p.b, kind === 4 ? 0 : 0.5);
      if (kind === 1) {
        for (let r = 1; r < rows; r += 2) {
          p.W.copyWithin(r * n, (r - 1) * n, r * n);
          p.b[r] = p.b[r - 1]!;
        }
      }
      if (kind === 2) for (let r = 1; r < rows; r++) for (let k = 0; k < n; k++) p.W[r * n + k] = p.W[k]! * (1 + 1e-6 * rng.nextFloat());
      fill(rng, p.x, 1, trial % 2 === 0);
      if (kind === 3) p.x.fill(0);
      const cands = [3, 63, 64, 200, rows][trial % 5]!;
      // candidates: a random order over distinct rows
      const perm = Array.from({ length: rows }, (_, i) => i);
      for (let i = rows - 1; i > 0; i--) {
        const j = Math.floor(rng.nextFloat() * (i + 1));
        [perm[i], perm[j]] = [perm[j]!, perm[i]!];
      }
      for (const K of [1, 5, 20]) {
        for (const k of [jsKernels, wasm]) {
          for (let i = 0; i < cands; i++) p.act[i] = perm[i]!;
          k.quantizeRows(p.W, n, 0, rows, p.c.Q, p.c.scale, p.c.qL1);
          const want = direct(k, p, cands, K);
          const m = rankRows(k, p.W, p.b, p.c, n, p.x, p.act, cands, K, p.s, p.z, p.outIds, p.outScores);
          assert.deepEqual(Array.from(p.outIds.subarray(0, m)), want.ids, `${k.name} trial ${trial} K=${K}: ids`);
          assert.deepEqual(Array.from(p.outScores.subarray(0, m)), want.scores, `${k.name} trial ${trial} K=${K}: logits`);
          if (cands >= 64 && kind !== 3) intervalPath++;
        }
      }
    }
    assert.ok(intervalPath > 100);
  });

  it('a block of four queries ranks every row as one query at a time does: float32 top K bit for bit, a zero input, an empty slot', () => {
    const rng = new Rng(9);
    const n = 40;
    const rows = 300;
    for (const k0 of ['js', 'wasm'] as const) {
      const arena = new Arena();
      const k = k0 === 'js' ? jsKernels : newWasm(arena);
      const p = new Problem(arena, rows, n);
      const blk = bindRankBlock(arena.carve([declareRankBlock(new BlockDecl('t'), n, rows)]).block('t'), n, rows);
      fill(rng, p.W, 0.3);
      fill(rng, p.b, 0.5);
      for (let i = 0; i < rows; i++) p.act[i] = i;
      k.quantizeRows(p.W, n, 0, rows, p.c.Q, p.c.scale, p.c.qL1);
      const inputs: Float32Array[] = [];
      for (let j = 0; j < 3; j++) {
        const x = arena.f32(n);
        if (j !== 1) fill(rng, x, 1, j === 0);
        inputs.push(x);
        stageBlockQuery(x, n, blk, j);
      }
      clearBlockQuery(n, blk, 3);
      assert.deepEqual(Array.from(blk.ok), [1, 0, 1, 0], 'the zero input is scored in float32');
      // a thread's bounds stay within RANK_BLOCK_BYTES: ~1M labels, larger layers one query at a time
      assert.ok(ranksInBlocks(2 ** 20) && !ranksInBlocks(2 ** 20 + 1));
      k.scoreRowsQ8x4(p.c.Q, p.c.scale, p.c.qL1, p.b, n, 0, rows, blk.xq, blk.prm, blk.lo, blk.hi, rows);
      for (let j = 0; j < 3; j++) {
        for (const K of [1, 5, 20]) {
          p.x.set(inputs[j]!);
          const want = direct(k, p, rows, K);
          const m = rankBlockQuery(k, p.W, p.b, n, rows, p.act, blk, j, K, p.s, p.z, p.outIds, p.outScores);
          assert.deepEqual(Array.from(p.outIds.subarray(0, m)), want.ids, `${k0} query ${j} K=${K}: ids`);
          assert.deepEqual(Array.from(p.outScores.subarray(0, m)), want.scores, `${k0} query ${j} K=${K}: logits`);
        }
      }
    }
  });

  it('an evaluation gives the labels predict gives, one query at a time (dense and LSH output, one and three output memories, exact and LSH inference)', async () => {
    const { train, test } = GOLDEN_DATA;
    const lsh = { hash: { family: 'simhash' as const, K: 4, L: 24 }, activeSet: { policy: 'topk' as const, maxActive: 40, queryMaxActive: 120, minActive: 0 } };
    for (const [output, outputShards] of [[{ mode: 'dense' as const }, 1], [lsh, 1], [{ mode: 'dense' as const }, 3], [lsh, 3]] as const) {
      const m = new SlideModel({ nFeatures: train.nFeatures, nLabels: train.nLabels, config: { seed: 3, hidden: [32], epochs: 1, batchSize: 32, evalEvery: 0, output, outputShards }, kernels: 'wasm' });
      assert.ok(m.network.output.shards.every((sh) => sh.q8 !== null), 'every shard has its copies');
      await m.fit(train, { epochs: 1 });
      const r = await m.evaluate(test, { inference: 'both' });
      for (const exact of [true, false]) {
        const acc = new MetricsAccumulator();
        for (let i = 0; i < test.n; i++) {
          const s = { indices: test.featIdx.subarray(test.featPtr[i]!, test.featPtr[i + 1]!), values: test.featVal.subarray(test.featPtr[i]!, test.featPtr[i + 1]!) };
          const top = Int32Array.from(m.predict(s, 5, { exact }).map((q) => q.id));
          acc.add(top, top.length, test.labelIdx, test.labelPtr[i]!, test.labelPtr[i + 1]!);
        }
        const want = acc.result();
        const got = exact ? r.exact! : r.lsh!;
        for (const key of ['p1', 'p3', 'p5', 'ndcg5'] as const) assert.equal(got[key], want[key], `${'mode' in output ? 'dense' : 'lsh'} x${outputShards} ${exact ? 'exact' : 'LSH'} ${key}`);
      }
      // 397 rows spread over the set: the last chunk ends in a part of a block
      const part = await m.evaluate(test, { inference: 'exact', maxPoints: 397 });
      const acc = new MetricsAccumulator();
      for (let i = 0; i < 397; i++) {
        const row = evalRow(i, 397, test.n);
        const s = { indices: test.featIdx.subarray(test.featPtr[row]!, test.featPtr[row + 1]!), values: test.featVal.subarray(test.featPtr[row]!, test.featPtr[row + 1]!) };
        const top = Int32Array.from(m.predict(s, 5, { exact: true }).map((q) => q.id));
        acc.add(top, top.length, test.labelIdx, test.labelPtr[row]!, test.labelPtr[row + 1]!);
      }
      assert.deepEqual({ ...part.exact!, seconds: 0 }, { ...acc.result(), seconds: 0 }, `x${outputShards}: 397 rows`);
    }
  });
});
