// The WebAssembly SIMD kernels against the plain TypeScript oracle (jsKernels), on arrays carved
// from an Arena, odd lengths and odd offsets. Needs build/kernels.wasm (`npm run build`).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { existsSync } from 'node:fs';
import { assertViewOf, getKernels, jsKernels, loadWasmKernels, wasmKernelsModule, wasmKernelsPath, type Kernels } from '../src/kernels/index.js';
import { KERNEL_TABLE } from '../src/kernels/table.js';
import { kernelExportNames, parseKernelLine } from '../src/kernels/wasm.js';
import { Arena } from '../src/memory/arena.js';
import { Rng } from '../src/util/rng.js';
import { combineCodes } from '../src/tables/tables.js';
import { cutVotes } from '../src/tables/select.js';
import { topByVotes } from '../src/tables/query.js';
import { ABS, LENGTHS, OFFSETS, REL, Twins, abs, close, newWasm, rand, randRows, type Arr } from './kernels.helpers.js';

function popcount(v: number): number {
  let c = 0;
  for (; v !== 0; v &= v - 1) c++;
  return c;
}

describe('wasm kernels vs js kernels', () => {
  it('dot', () => {
    const rng = new Rng(1);
    const arena = new Arena();
    const k = newWasm(arena);
    for (const n of LENGTHS) {
      for (const off of OFFSETS) {
        const a = arena.f32(n + off + 2).subarray(off & 1);
        const b = arena.f32(n + 2 * off + 2);
        a.set(rand(rng, a.length));
        b.set(rand(rng, b.length));
        const e = jsKernels.dot(a, off, b, 2 * off, n);
        const got = k.dot(a, off, b, 2 * off, n);
        const s = jsKernels.dot(abs(a), off, abs(b), 2 * off, n);
        assert.ok(Math.abs(got - e) <= ABS + REL * s, `dot n=${n} off=${off}: ${got} vs ${e}`);
      }
    }
    assert.equal(k.dot(new Float32Array(arena.memory.buffer, 64, 4), 0, new Float32Array(arena.memory.buffer, 64, 4), 0, 0), 0);
  });

  it('axpy', () => {
    const rng = new Rng(2);
    const arena = new Arena();
    const k = newWasm(arena);
    for (const n of LENGTHS) {
      for (const off of OFFSETS) {
        const t = new Twins(arena);
        t.f32('x', rand(rng, n + off + 3));
        t.f32('y', rand(rng, n + 2 * off + 3));
        const alpha = rng.nextFloat() * 4 - 2;
        const scale = abs(t.js.y as Float32Array); // |y| + |alpha x|
        jsKernels.axpy(Math.abs(alpha), abs(t.js.x as Float32Array), off, scale, 2 * off, n);
        jsKernels.axpy(alpha, t.js.x as Float32Array, off, t.js.y as Float32Array, 2 * off, n);
        k.axpy(alpha, t.wasm.x as Float32Array, off, t.wasm.y as Float32Array, 2 * off, n);
        t.compare(`axpy n=${n} off=${off}`, { y: scale });
      }
    }
  });

  it('centredNorms (odd n, offsets, rows of zeros)', () => {
    const rng = new Rng(31);
    const arena = new Arena();
    const k = newWasm(arena);
    for (const n of LENGTHS) {
      for (const off of OFFSETS) {
        const m = 7;
        const t = new Twins(arena);
        const X = rand(rng, off + m * n);
        X.fill(0, off + 2 * n, off + 3 * n); // a row of zeros: its length is |mean|
        t.f32('X', X);
        t.f32('mean', rand(rng, n));
        t.f32('out', rand(rng, off + m + 2));
        jsKernels.centredNorms(t.js.X as Float32Array, off, n, m, t.js.mean as Float32Array, t.js.out as Float32Array, off);
        k.centredNorms(t.wasm.X as Float32Array, off, n, m, t.wasm.mean as Float32Array, t.wasm.out as Float32Array, off);
        // the whole of out compared: the entries outside the m outputs stay as they were
        t.compare(`centredNorms n=${n} off=${off}`, { out: t.js.out as Float32Array });
        // the twin against the definition
        const out = t.js.out as Float32Array;
        for (let r = 0; r < m; r++) {
          let s = 0;
          for (let c = 0; c < n; c++) s += (X[off + r * n + c]! - (t.js.mean as Float32Array)[c]!) ** 2;
          assert.ok(Math.abs(out[off + r]! - Math.sqrt(s)) <= 1e-6 * Math.sqrt(s) + 1e-7, `row ${r}`);
        }
      }
    }
  });

  it('dotRows (odd n, offsets, repeated rows)', () => {
    const rng = new Rng(3);
    const arena = new Arena();
    const k = newWasm(arena);
    for (const n of LENGTHS) {
      for (const off of OFFSETS) {
        const nMat = 7;
        const nRows = 37; // several prefetch groups
        const t = new Twins(arena);
        t.f32('W', rand(rng, nMat * n));
        t.f32('bias', rand(rng, nMat));
        t.i32('rows', randRows(rng, nRows + off, nMat));
        t.f32('x', rand(rng, n + off));
        t.f32('out', rand(rng, nRows + off + 2));
        const args = (s: Record<string, Arr>) =>
          [s.W as Float32Array, s.bias as Float32Array, n, s.rows as Int32Array, off, nRows, s.x as Float32Array, off, s.out as Float32Array, off] as const;
        jsKernels.dotRows(...args(t.js));
        k.dotRows(...args(t.wasm));
        const scale = new Float32Array((t.js.out as Float32Array).length);
        jsKernels.dotRows(abs(t.js.W as Float32Array), abs(t.js.bias as Float32Array), n, t.js.rows as Int32Array, off, nRows, abs(t.js.x as Float32Array), off, scale, off);
        t.compare(`dotRows n=${n} off=${off}`, { out: scale });
      }
    }
  });

  it('projectRows (whole 4x2 tiles, leftover rows and projections, odd n, offsets)', () => {
    const rng = new Rng(31);
    const arena = new Arena();
    const k = newWasm(arena);
    for (const n of LENGTHS) {
      for (const [m, H] of [[8, 6], [7, 5], [3, 1], [1, 4], [0, 3]] as const) {
        const off = (n + m) % 3;
        const t = new Twins(arena);
        t.f32('P', rand(rng, H * n));
        t.f32('bias', rand(rng, H));
        t.f32('X', rand(rng, off + m * n + 1));
        t.f32('out', rand(rng, off + m * H + 2));
        const args = (s: Record<string, Arr>) =>
          [s.P as Float32Array, s.bias as Float32Array, n, H, s.X as Float32Array, off, m, s.out as Float32Array, off] as const;
        jsKernels.projectRows(...args(t.js));
        k.projectRows(...args(t.wasm));
        const scale = new Float32Array((t.js.out as Float32Array).length);
        jsKernels.projectRows(abs(t.js.P as Float32Array), abs(t.js.bias as Float32Array), n, H, abs(t.js.X as Float32Array), off, m, scale, off);
        t.compare(`projectRows n=${n} m=${m} H=${H} off=${off}`, { out: scale });
        // the oracle of the oracle: each output is the dotRows of that projection
        const P = t.js.P as Float32Array;
        const one = new Float32Array(1);
        for (let r = 0; r < m; r++) {
          for (let h = 0; h < H; h++) {
            jsKernels.dotRows(P, t.js.bias as Float32Array, n, Int32Array.of(h), 0, 1, t.js.X as Float32Array, off + r * n, one, 0);
            assert.equal((t.js.out as Float32Array)[off + r * H + h], one[0], `projectRows js n=${n} r=${r} h=${h}`);
          }
        }
      }
    }
  });

  it('hadamardRows: bit for bit the TypeScript twin (widths 8 .. 512, 1-3 rounds, partial blocks, padding, offsets), which is the HD product', () => {
    const rng = new Rng(33);
    const arena = new Arena();
    const k = newWasm(arena);
    for (const [n, p] of [[5, 8], [8, 8], [13, 16], [17, 32], [100, 128], [128, 256], [256, 256], [300, 512]] as const) {
      for (const rounds of [1, 2, 3]) {
        for (const [m, H] of [[1, p], [3, p - 3], [8, 2 * p + 5], [2, 3], [0, p]] as const) {
          const off = (n + m + rounds) % 3;
          const blocks = Math.ceil(H / p);
          const t = new Twins(arena);
          t.f32('S', Float32Array.from({ length: blocks * rounds * p }, () => (rng.nextFloat() < 0.5 ? -1 : 1)));
          t.f32('bias', rand(rng, H));
          t.f32('X', rand(rng, off + m * n + 1));
          t.f32('buf', rand(rng, p));
          t.f32('out', rand(rng, off + m * H + 2));
          const args = (s: Record<string, Arr>) =>
            [s.S as Float32Array, s.bias as Float32Array, n, p, rounds, H, s.X as Float32Array, off, m, s.buf as Float32Array, s.out as Float32Array, off] as const;
          jsKernels.hadamardRows(...args(t.js));
          k.hadamardRows(...args(t.wasm));
          const label = `hadamardRows n=${n} p=${p} rounds=${rounds} m=${m} H=${H}`;
          assert.deepEqual(Array.from(t.wasm.out as Float32Array), Array.from(t.js.out as Float32Array), `${label}: out bit for bit`);
          if (m === 0) continue;
          // the oracle of the twin: the Sylvester Hadamard matrix (H[i][j] = (-1)^popcount(i & j))
          // times the signs, round after round, in float64
          const S = t.js.S as Float32Array;
          const X = t.js.X as Float32Array;
          const bias = t.js.bias as Float32Array;
          for (let r = 0; r < m; r++) {
            for (let b = 0; b < blocks; b++) {
              let y = Float64Array.from({ length: p }, (_, i) => (i < n ? X[off + r * n + i]! : 0));
              let scale = Float64Array.from(y, Math.abs);
              for (let q = 0; q < rounds; q++) {
                const z = new Float64Array(p);
                const zs = new Float64Array(p);
                for (let i = 0; i < p; i++) {
                  for (let j = 0; j < p; j++) {
                    const sgn = popcount(i & j) & 1 ? -1 : 1;
                    z[i] += sgn * S[(b * rounds + q) * p + j]! * y[j]!;
                    zs[i] += scale[j]!;
                  }
                }
                y = z;
                scale = zs;
              }
              for (let i = 0; i < p && b * p + i < H; i++) {
                const got = (t.js.out as Float32Array)[off + r * H + b * p + i]!;
                const want = y[i]! + bias[b * p + i]!;
                assert.ok(Math.abs(got - want) <= 1e-5 * (scale[i]! + 1), `${label}: row ${r} projection ${b * p + i}: ${got} vs ${want}`);
              }
            }
          }
        }
      }
    }
  });

  it('signKeys (K one-bit codes a table, gathered through sel; zeros and -0 count as non-negative)', () => {
    const rng = new Rng(31);
    const arena = new Arena();
    const k = newWasm(arena);
    for (const [K, L, H, pooled] of [[1, 1, 1, false], [6, 150, 900, false], [3, 7, 21, false], [6, 10, 17, true], [12, 4, 48, true]] as const) {
      for (const m of [1, 5, 8]) {
        const off = m % 3;
        const proj = arena.f32(off + m * H);
        proj.set(rand(rng, proj.length));
        for (let i = 0; i < proj.length; i += 7) proj[i] = i % 14 === 0 ? 0 : -0;
        const sel = arena.i32(K * L);
        for (let i = 0; i < K * L; i++) sel[i] = pooled ? rng.nextInt(H) : i;
        const stride = m + 2;
        const keysJs = arena.i32(1 + L * stride);
        const keysWasm = arena.i32(1 + L * stride);
        jsKernels.signKeys(proj, off, H, m, sel, K, L, keysJs, 1, stride);
        k.signKeys(proj, off, H, m, sel, K, L, keysWasm, 1, stride);
        assert.deepEqual(keysWasm, keysJs, `signKeys K=${K} L=${L} m=${m}`);
        // the definition: LshTables' concatenation of the codes (proj >= 0), code 0 highest
        const codes = new Int32Array(K);
        for (let r = 0; r < m; r++) {
          for (let t = 0; t < L; t++) {
            for (let c = 0; c < K; c++) codes[c] = proj[off + r * H + sel[t * K + c]!]! >= 0 ? 1 : 0;
            assert.equal(keysWasm[1 + t * stride + r], combineCodes(codes, 0, K, 1, K), `K=${K} row ${r} table ${t}`);
          }
        }
      }
    }
  });

  it('bucketSort (stable counting sort of staged keys; -1 when a bucket overflows)', () => {
    const rng = new Rng(32);
    const arena = new Arena();
    const k = newWasm(arena);
    for (const [m, R] of [[0, 4], [1, 1], [37, 8], [1000, 64], [19, 256]] as const) {
      const keys = arena.i32(m + 3);
      for (let i = 0; i < keys.length; i++) keys[i] = rng.nextInt(R);
      const ids = arena.i32(m);
      for (let i = 0; i < m; i++) ids[i] = rng.nextInt(100000);
      let most = 0;
      const counts = new Array<number>(R).fill(0);
      for (let i = 0; i < m; i++) most = Math.max(most, ++counts[keys[3 + i]!]!);
      for (const S of [most, Math.max(0, most - 1)]) {
        const outs = [jsKernels, k].map((kk) => {
          const off = arena.i32(R + 3);
          const ent = arena.i32(m + 2);
          ent.fill(-7);
          const ret = kk.bucketSort(keys, 3, ids, m, R, S, off, 2, ent, 1);
          return { ret, off, ent };
        });
        const [js, wasm] = outs as [(typeof outs)[0], (typeof outs)[0]];
        const fits = m === 0 || S >= most;
        assert.equal(js.ret, fits ? m : -1, `m=${m} R=${R} S=${S}`);
        assert.equal(wasm.ret, js.ret, `m=${m} R=${R} S=${S}`);
        if (!fits) {
          assert.ok(wasm.ent.every((e) => e === -7), 'ent untouched on overflow');
          continue;
        }
        assert.deepEqual(wasm.off, js.off);
        assert.deepEqual(wasm.ent, js.ent);
        // the definition: bucket b holds, in staging order, the ids whose key is b
        for (let b = 0; b < R; b++) {
          const want: number[] = [];
          for (let i = 0; i < m; i++) if (keys[3 + i] === b) want.push(ids[i]!);
          assert.deepEqual(Array.from(wasm.ent.subarray(1 + wasm.off[2 + b]!, 1 + wasm.off[3 + b]!)), want, `bucket ${b}`);
        }
        assert.equal(wasm.off[2], 0);
        assert.equal(wasm.off[2 + R], m);
      }
    }
  });

  it('bucketCommit (FIFO: the highest ids of a full bucket; reservoir: Algorithm R on the given generator) equals its definition', () => {
    const rng = new Rng(34);
    const arena = new Arena();
    const k = newWasm(arena);
    for (const [m, R, S] of [[0, 4, 2], [1, 1, 1], [37, 8, 3], [1000, 64, 9], [3000, 16, 100], [19, 256, 1]] as const) {
      const keys = arena.i32(m + 3);
      // skewed buckets (a few hold most items) and some absent items
      for (let i = 0; i < keys.length; i++) keys[i] = rng.nextFloat() < 0.1 ? -1 : rng.nextFloat() < 0.6 ? rng.nextInt(Math.min(R, 3)) : rng.nextInt(R);
      for (const reservoir of [0, 1]) {
        const seedRng = new Rng(rng.nextU32() | 0, 5);
        const st = seedRng.getState();
        const outs = [jsKernels, k].map((kk) => {
          const off = arena.i32(R + 3);
          const ent = arena.i32(m + 2);
          const count = arena.i32(R);
          const stats = arena.i32(3);
          ent.fill(-7);
          kk.bucketCommit(keys, 3, m, R, S, reservoir, st[0]!, st[1]!, st[2]!, st[3]!, off, 2, ent, 1, count, stats);
          return { off, ent, stats };
        });
        const [js, wasm] = outs as [(typeof outs)[0], (typeof outs)[0]];
        const what = `m=${m} R=${R} S=${S} reservoir=${reservoir}`;
        assert.deepEqual(wasm.off, js.off, what);
        assert.deepEqual(wasm.ent, js.ent, what);
        assert.deepEqual(wasm.stats, js.stats, what);
        // the definition, bucket by bucket: the members in id order, full buckets cut by the policy
        const ref = new Rng(0);
        ref.setState(st);
        const members: number[][] = Array.from({ length: R }, () => []);
        const kept: number[][] = Array.from({ length: R }, () => []);
        let present = 0;
        for (let i = 0; i < m; i++) {
          const b = keys[3 + i]!;
          if (b < 0) continue;
          present++;
          const c = members[b]!.push(i);
          if (reservoir === 0 || c <= S) {
            kept[b]!.push(i);
            continue;
          }
          const j = ref.nextInt(c);
          if (j < S) kept[b]![j] = i;
        }
        let dropped = 0;
        let over = 0;
        for (let b = 0; b < R; b++) {
          const c = members[b]!.length;
          const want = reservoir === 0 ? kept[b]!.slice(Math.max(0, c - S)) : kept[b]!;
          assert.deepEqual(Array.from(wasm.ent.subarray(1 + wasm.off[2 + b]!, 1 + wasm.off[3 + b]!)), want, `${what} bucket ${b}`);
          dropped += Math.max(0, c - S);
          over += c > S ? 1 : 0;
        }
        assert.deepEqual(Array.from(wasm.stats), [present, dropped, over], what);
        assert.equal(wasm.off[2], 0);
      }
    }
  });

  it('votePlace (groups above the cut placed by votes, the first ids at the cut, the rest dropped; u8 and u16 tallies)', () => {
    const rng = new Rng(33);
    const arena = new Arena();
    const k = newWasm(arena);
    for (const [N, L, cap] of [[1, 1, 1], [50, 4, 7], [3000, 30, 400], [3000, 30, 3000], [3000, 300, 400]] as const) {
     for (const bytes of L < 256 ? [1, 2] : [2]) {
      const t32 = arena.i32(Math.ceil(N / 2));
      const votes = bytes === 1 ? new Uint8Array(t32.buffer, t32.byteOffset, N) : new Uint16Array(t32.buffer, t32.byteOffset, N);
      for (let i = 0; i < N; i++) votes[i] = rng.nextInt(L + 1);
      const cand = arena.i32(N);
      const hist0 = arena.i32(L + 2);
      const nc = k.voteCollect(votes, N, 1, L + 1, hist0, cand, 0, cand.length);
      // the cut and the groups' write cursors, as topByVotes prepares them
      const vt = cutVotes(hist0, L, 1, cap);
      const above = hist0[L + 1]!;
      const take = Math.min(nc, cap);
      const runs = [jsKernels, k].map((kk) => {
        const hist = arena.i32(L + 2);
        hist.set(hist0);
        const out = arena.i32(take + 1);
        const outVotes = arena.i32(take + 1);
        out.fill(-1);
        kk.votePlace(cand, nc, votes, hist, vt, above, take - above, out, outVotes);
        return { out, outVotes };
      });
      assert.deepEqual(runs[1]!.out, runs[0]!.out, `N ${N} cap ${cap}`);
      assert.deepEqual(runs[1]!.outVotes, runs[0]!.outVotes, `N ${N} cap ${cap}`);
      // the definition: the take ids with most votes, ties to the smaller id, by votes descending
      const ids = Array.from({ length: N }, (_, i) => i).filter((i) => votes[i]! >= 1);
      ids.sort((a, b) => votes[b]! - votes[a]! || a - b);
      const want = ids.slice(0, take);
      const got = Array.from(runs[1]!.out.subarray(0, take));
      assert.deepEqual(got.map((i) => votes[i]), want.map((i) => votes[i]), `N ${N} cap ${cap}: votes descending`);
      assert.deepEqual([...got].sort((a, b) => a - b), [...want].sort((a, b) => a - b), `N ${N} cap ${cap}: the same ids`);
      assert.equal(runs[1]!.out[take], -1, 'nothing past take');
     }
    }
  });

  it('voteScores (u8 and u16 tallies, N not a multiple of 16, every band, appending, stopping at max): ids and float64 scores bit for bit', () => {
    const rng = new Rng(33);
    const arena = new Arena();
    const k = newWasm(arena);
    for (const [N, L] of [[1, 1], [7, 3], [130, 12], [1001, 40], [4099, 150], [517, 300]] as const) {
      const votes = Array.from({ length: N }, () => (rng.nextFloat() < 0.3 ? 0 : 1 + rng.nextInt(L)));
      const rowNorm = arena.f32(N);
      const bias = arena.f32(N);
      for (let i = 0; i < N; i++) {
        rowNorm[i] = 0.1 + 5 * rng.nextFloat();
        bias[i] = rng.nextGaussian();
      }
      const cAt = arena.alloc(8 * (L + 1)); // first: it may grow the memory (a new buffer object)
      const cosv = new Float64Array(arena.memory.buffer, cAt, L + 1);
      for (let v = 0; v <= L; v++) cosv[v] = Math.cos(Math.PI * (1 - Math.pow(v / L, 1 / 3)));
      const xNorm = 0.5 + rng.nextFloat();
      const scoreOf = (id: number) => cosv[votes[id]!]! * rowNorm[id]! * xNorm + bias[id]!;
      for (const bytes of L < 256 ? [1, 2] : [2]) {
        const t32 = arena.i32(Math.ceil(N / 2) + 1);
        const tally = bytes === 1 ? new Uint8Array(t32.buffer, t32.byteOffset, N) : new Uint16Array(t32.buffer, t32.byteOffset, N);
        tally.set(votes);
        for (const [lo, hi] of [[1, L + 1], [2, L + 1], [Math.max(1, L >> 1), L + 1], [L, L + 1], [L + 1, L + 1], [1, Math.max(2, L >> 1)], [Math.max(1, L >> 2), Math.max(1, L >> 1)]] as const) {
          {
            const band = votes.flatMap((v, id) => (v >= lo && v < hi ? [id] : []));
            for (const [n0, max] of [[0, N], [0, band.length >> 1], [0, 1], [3, N + 3], [2, 2]] as const) {
              const run = (kern: Kernels) => {
                const sAt = arena.alloc(8 * (N + 4));
                const cand = arena.i32(N + 4).fill(-5);
                const score = new Float64Array(arena.memory.buffer, sAt, N + 4).fill(-7);
                const n = kern.voteScores(tally, N, lo, hi, cosv, rowNorm, bias, xNorm, cand, score, n0, max);
                return { n, cand: Array.from(cand), score: Array.from(score) };
              };
              const what = `N ${N} L ${L} ${8 * bytes}-bit votes [${lo}, ${hi}) from ${n0} max ${max}`;
              const e = run(jsKernels);
              assert.deepEqual(run(k), e, what);
              // against the definition: the band's first max - n0 ids appended behind n0, nothing
              // written before or past them
              const want = band.slice(0, Math.max(0, max - n0));
              assert.equal(e.n, n0 + want.length, what);
              assert.deepEqual(e.cand.slice(n0, e.n), want, what);
              assert.ok(e.cand.slice(0, n0).every((c) => c === -5), what);
              assert.equal(e.cand[e.n], -5, what);
              want.forEach((id, i) => assert.equal(e.score[n0 + i], scoreOf(id), `${what}: score of ${id}`));
            }
          }
        }
      }
    }
  });

  it('scoreFloor (spread, ties, equal scores, an outlier): the same floor bit for bit; at least cap scores at or above it, and it at most the cap-th largest', () => {
    const rng = new Rng(35);
    const arena = new Arena();
    const k = newWasm(arena);
    for (const [n, kind] of [[1, 'spread'], [2, 'spread'], [50, 'spread'], [3001, 'spread'], [3001, 'ties'], [400, 'equal'], [1000, 'outlier']] as const) {
      const scores = Array.from({ length: n }, (_, i) =>
        kind === 'equal' ? 1.5 : kind === 'ties' ? rng.nextInt(7) * 0.25 : kind === 'outlier' && i === 7 ? 1e6 : rng.nextGaussian() * 3);
      const sorted = [...scores].sort((a, b) => b - a);
      for (const cap of [1, n >> 2, n - 1, n]) {
        if (cap < 1) continue;
        const run = (kern: Kernels) => {
          const at = arena.alloc(8 * n);
          const hist = arena.i32(1024).fill(9);
          const score = new Float64Array(arena.memory.buffer, at, n);
          score.set(scores);
          return kern.scoreFloor(score, n, cap, hist);
        };
        const what = `n ${n} ${kind} cap ${cap}`;
        const f = run(jsKernels);
        assert.equal(run(k), f, what);
        assert.ok(f <= sorted[cap - 1]!, `${what}: ${f} above the cap-th largest ${sorted[cap - 1]}`);
        assert.ok(scores.includes(f), `${what}: one of the scores`);
      }
    }
  });

  it('scoreKeep (none, some, all kept; from inside the arrays): the same arrays bit for bit, the kept in order', () => {
    const rng = new Rng(36);
    const arena = new Arena();
    const k = newWasm(arena);
    for (const n of [0, 1, 9, 1000]) {
      const scores = Array.from({ length: n }, () => rng.nextGaussian());
      for (const from of [0, n >> 1]) {
        for (const floor of [-Infinity, -0.5, 0.7, Infinity]) {
          const run = (kern: Kernels) => {
            const at = arena.alloc(8 * n + 8);
            const ids = arena.i32(n + 1).fill(-5);
            const score = new Float64Array(arena.memory.buffer, at, n + 1).fill(-7);
            for (let i = 0; i < n; i++) {
              ids[i] = 3 * i + 1;
              score[i] = scores[i]!;
            }
            const m = kern.scoreKeep(ids, score, from, n, floor);
            return { m, ids: Array.from(ids), score: Array.from(score) };
          };
          const what = `n ${n} from ${from} floor ${floor}`;
          const e = run(jsKernels);
          assert.deepEqual(run(k), e, what);
          const want = scores.flatMap((v, i) => (i < from || v >= floor ? [3 * i + 1] : []));
          assert.equal(e.m, want.length, what);
          assert.deepEqual(e.ids.slice(0, e.m), want, what);
          assert.equal(e.ids[n], -5, `${what}: nothing past n`);
        }
      }
    }
  });

  it('scoreSplit (ties, equal scores, a cut in the first and the last bin): the same split bit for bit, and the definition', () => {
    const rng = new Rng(34);
    const arena = new Arena();
    const k = newWasm(arena);
    for (const [n, kind] of [[2, 'spread'], [50, 'spread'], [3001, 'spread'], [3001, 'ties'], [400, 'equal'], [1000, 'outlier']] as const) {
      const scores = Array.from({ length: n }, (_, i) =>
        kind === 'equal' ? 1.5 : kind === 'ties' ? rng.nextInt(7) * 0.25 : kind === 'outlier' && i === 7 ? 1e6 : rng.nextGaussian() * 3);
      for (const cap of [1, n >> 2, n - 1]) {
        if (cap < 1 || cap >= n) continue;
        const run = (kern: Kernels) => {
          const at = arena.alloc(16 * n + 16);
          const ids = arena.i32(n);
          const out = arena.i32(n + 2).fill(-5);
          const tmpIds = arena.i32(n + 2).fill(-5);
          const hist = arena.i32(1024).fill(9);
          const score = new Float64Array(arena.memory.buffer, at, n);
          const tmpScore = new Float64Array(arena.memory.buffer, at + 8 * n, n);
          for (let i = 0; i < n; i++) {
            ids[i] = 3 * i + 1;
            score[i] = scores[i]!;
          }
          const above = kern.scoreSplit(ids, score, n, cap, hist, out, tmpIds, tmpScore);
          const g = hist[0]!;
          return { above, g, out: Array.from(out.subarray(0, above + 2)), tmpIds: Array.from(tmpIds.subarray(0, g + 2)), tmpScore: Array.from(tmpScore.subarray(0, g)) };
        };
        const what = `n ${n} ${kind} cap ${cap}`;
        const e = run(jsKernels);
        assert.deepEqual(run(k), e, what);
        // the definition: out holds only scores above every one of the group, fewer than cap, and
        // out with the group at least cap; nothing written past the slot after either (the
        // kernels write every item to both: the slot after holds one that went elsewhere)
        assert.ok(e.above < cap && e.above + e.g >= cap, `${what}: ${e.above} + ${e.g}`);
        assert.equal(e.out[e.above + 1], -5, what);
        assert.equal(e.tmpIds[e.g + 1], -5, what);
        const scoreOfId = (id: number) => scores[(id - 1) / 3]!;
        const groupMax = Math.max(...e.tmpScore);
        for (const id of e.out.slice(0, e.above)) assert.ok(scoreOfId(id) > groupMax, `${what}: ${id}`);
        assert.deepEqual(e.tmpIds.slice(0, e.g).map(scoreOfId), e.tmpScore, `${what}: the group's scores`);
      }
    }
  });

  it('voteTally and voteCollect (u8 and u16 tallies, ranges of any length, empty ones, every band, N not a multiple of 16, stale scratch, appending)', () => {
    const rng = new Rng(32);
    const arena = new Arena();
    const k = newWasm(arena);
    for (const [N, L, maxLen] of [[1, 1, 1], [7, 3, 5], [130, 12, 60], [1001, 40, 400], [4099, 150, 300], [517, 255, 500], [301, 300, 290]] as const) {
      // L ranges of distinct ids (a bucket holds a set), laid out one after another
      const ranges: number[][] = [];
      for (let t = 0; t < L; t++) {
        const len = rng.nextInt(Math.min(maxLen, N) + 1);
        const perm = Int32Array.from({ length: N }, (_, i) => i);
        rng.shuffle(perm, N);
        ranges.push(Array.from(perm.subarray(0, len)));
      }
      const flat = Int32Array.from(ranges.flat());
      const start = Int32Array.from(ranges.map((_, t) => ranges.slice(0, t).reduce((x, r) => x + r.length, 0)));
      const end = Int32Array.from(ranges.map((r, t) => start[t]! + r.length));
      const votes = new Array<number>(N).fill(0);
      for (const r of ranges) for (const id of r) votes[id]!++;
      const maxHi = 70_000;
      const prior = 3; // ids already collected: the band is appended after them
      for (const bytes of L < 256 ? [1, 2] : [2]) {
        const run = (kern: Kernels, bands: readonly (readonly [number, number])[], max = N + prior) => {
          const entries = arena.i32(flat.length + 1);
          entries.set(flat);
          const bS = arena.i32(L);
          const bE = arena.i32(L);
          bS.set(start);
          bE.set(end);
          const t32 = arena.i32(Math.ceil(N / 2) + 1);
          const tally = bytes === 1 ? new Uint8Array(t32.buffer, t32.byteOffset, N) : new Uint16Array(t32.buffer, t32.byteOffset, N);
          tally.fill(7); // stale votes of a previous query
          kern.voteTally(entries, bS, bE, L, tally, N);
          const hist = arena.i32(L + 2).fill(3);
          const cand = arena.i32(N + prior + 1).fill(-5);
          let n = prior;
          for (const [lo, hi] of bands) n = kern.voteCollect(tally, N, lo, Math.min(hi, L + 2), hist, cand, n, max);
          return { n, tally: Array.from(tally), hist: Array.from(hist), cand: Array.from(cand.subarray(0, n)), past: cand[n] };
        };
        for (const [lo, hi] of [[1, L + 1], [2, L + 1], [Math.max(1, L >> 1), L + 1], [L, L + 1], [L + 1, L + 2], [2, 3], [1, Math.max(1, L >> 1)], [3, 2], [1, maxHi]] as const) {
          const what = `N ${N} L ${L} ${8 * bytes}-bit band [${lo}, ${hi})`;
          const e = run(jsKernels, [[lo, hi]]);
          const w = run(k, [[lo, hi]]);
          assert.deepEqual(w, e, what);
          // against the definition
          const inBand = (v: number) => v >= lo && v < Math.min(hi, L + 2);
          assert.deepEqual(e.tally, votes, what);
          assert.deepEqual(e.cand, [-5, -5, -5, ...votes.flatMap((v, id) => (inBand(v) ? [id] : []))], what);
          assert.equal(e.past, -5, 'nothing written past the kept ids');
          for (let v = 0; v <= L + 1; v++) assert.equal(e.hist[v], 3 + (inBand(v) ? votes.filter((x) => x === v).length : 0), `${what}: hist of ${v} votes`);
          // stopping at max: the band's first ids, the histogram of those alone
          const all = votes.flatMap((v, id) => (inBand(v) ? [id] : []));
          for (const max of [prior, prior + 1, prior + (all.length >> 1), prior + all.length + 1]) {
            const es = run(jsKernels, [[lo, hi]], max);
            assert.deepEqual(run(k, [[lo, hi]], max), es, `${what} max ${max}`);
            const kept = all.slice(0, Math.max(0, max - prior));
            assert.deepEqual(es.cand, [-5, -5, -5, ...kept], `${what} max ${max}: the first ids`);
            for (let v = 0; v <= L + 1; v++) assert.equal(es.hist[v], 3 + kept.filter((id) => votes[id] === v).length, `${what} max ${max}: hist of ${v} votes`);
          }
        }
        // bands downwards, as topByVotes collects when the cut falls: every vote group in id order
        const lo0 = Math.max(1, L >> 1);
        const bands: [number, number][] = [[lo0, L + 1]];
        for (let lo = lo0; lo > 1; lo--) bands.push([lo - 1, lo]);
        const w = run(k, bands);
        assert.deepEqual(w, run(jsKernels, bands), `N ${N} L ${L}: bands`);
        const got = w.cand.slice(prior);
        assert.deepEqual([...got].sort((a, b) => a - b), votes.flatMap((v, id) => (v >= 1 ? [id] : [])), `N ${N} L ${L}: bands collect every id with a vote`);
        for (let v = 1; v <= L; v++) {
          const group = got.filter((id) => votes[id] === v);
          assert.deepEqual(group, [...group].sort((a, b) => a - b), `N ${N} L ${L}: the ${v}-vote group ascending`);
        }
      }
    }
  });

  for (const withDx of [true, false]) {
    it(`rowsBackward (dx ${withDx ? 'given' : 'null'}, repeated rows, zero gradients)`, () => {
      const rng = new Rng(withDx ? 4 : 5);
      const arena = new Arena();
      const k = newWasm(arena);
      for (const n of LENGTHS) {
        for (const off of OFFSETS) {
          const nMat = 5;
          const nRows = 41;
          const t = new Twins(arena);
          t.f32('W', rand(rng, nMat * n));
          t.f32('G', rand(rng, nMat * n));
          t.f32('gBias', rand(rng, nMat));
          t.i32('rows', randRows(rng, nRows + off, nMat));
          const grad = rand(rng, nRows + off);
          grad[off + 2] = 0;
          grad[off + 5] = -0;
          t.f32('grad', grad);
          t.f32('x', rand(rng, n + off));
          t.f32('dx', rand(rng, n + 2 * off));
          const run = (kk: Kernels, s: Record<string, Arr>, absolute: boolean): void => {
            const f = (a: Arr): Float32Array => (absolute ? abs(a as Float32Array) : (a as Float32Array));
            const G = f(s.G!), gBias = f(s.gBias!), dx = f(s.dx!);
            kk.rowsBackward(f(s.W!), G, gBias, n, s.rows as Int32Array, off, nRows, f(s.grad!), off, f(s.x!), off, withDx ? dx : null, 2 * off);
            if (absolute) Object.assign(scales, { G, gBias, dx });
          };
          const scales: Record<string, Float32Array> = {};
          run(jsKernels, t.js, true); // the scale from |inputs|, before the real run changes them
          run(jsKernels, t.js, false);
          run(k, t.wasm, false);
          t.compare(`rowsBackward n=${n} off=${off} dx=${withDx}`, scales);
        }
      }
    });
  }

  for (const forward of [true, false]) {
    it(`sparseInput${forward ? 'Forward' : 'Backward'} (repeated features, start > 0)`, () => {
      const rng = new Rng(forward ? 6 : 7);
      const arena = new Arena();
      const k = newWasm(arena);
      for (const nOut of LENGTHS) {
        for (const off of OFFSETS) {
          const nIn = 9;
          const start = off;
          const end = start + 1 + rng.nextInt(40);
          const t = new Twins(arena);
          t.f32('W', rand(rng, nIn * nOut));
          t.f32('bias', rand(rng, nOut));
          t.i32('idx', randRows(rng, end + 2, nIn));
          t.f32('val', rand(rng, end + 2, 0, 2));
          t.f32('out', rand(rng, nOut + off + 1)); // forward output or backward delta
          const run = (kk: Kernels, s: Record<string, Arr>, absolute: boolean): Record<string, Float32Array> => {
            const f = (a: Arr): Float32Array => (absolute ? abs(a as Float32Array) : (a as Float32Array));
            const W = f(s.W!), bias = f(s.bias!), out = f(s.out!);
            if (forward) kk.sparseInputForward(W, bias, nOut, s.idx as Int32Array, f(s.val!), start, end, out, off);
            else kk.sparseInputBackward(W, bias, nOut, s.idx as Int32Array, f(s.val!), start, end, out, off);
            return { W, bias, out };
          };
          const scales = run(jsKernels, t.js, true);
          run(jsKernels, t.js, false);
          run(k, t.wasm, false);
          t.compare(`sparseInput${forward ? 'Forward' : 'Backward'} nOut=${nOut} off=${off}`, scales);
        }
      }
    });
  }

  it('adamRows (repeated rows: the second visit sees a zero gradient)', () => {
    const rng = new Rng(8);
    const arena = new Arena();
    const k = newWasm(arena);
    for (const n of LENGTHS) {
      for (const off of OFFSETS) {
        const nMat = 20;
        const nRows = 29;
        const t = new Twins(arena);
        t.f32('W', rand(rng, nMat * n));
        t.f32('M', rand(rng, nMat * n, -0.1, 0.1));
        t.f32('V', rand(rng, nMat * n, 0, 0.01));
        t.f32('G', rand(rng, nMat * n));
        t.i32('rows', randRows(rng, nRows + off, nMat));
        const step = 1 + rng.nextInt(100);
        const lr = 1e-3, b1 = 0.9, b2 = 0.999, eps = 1e-8;
        // decoupled weight decay on half the cases (factor 1 - lr * wd)
        const decay = off % 2 === 0 ? 1 : 1 - lr * 0.05;
        const lrT = (lr * Math.sqrt(1 - b2 ** step)) / (1 - b1 ** step);
        const args = (s: Record<string, Arr>) =>
          [s.W as Float32Array, s.M as Float32Array, s.V as Float32Array, s.G as Float32Array, n, s.rows as Int32Array, off, nRows, lrT, b1, b2, eps, decay] as const;
        jsKernels.adamRows(...args(t.js));
        k.adamRows(...args(t.wasm));
        t.compare(`adamRows n=${n} off=${off}`);
      }
    }
  });

  it('sgdRows (repeated rows)', () => {
    const rng = new Rng(9);
    const arena = new Arena();
    const k = newWasm(arena);
    for (const n of LENGTHS) {
      for (const off of OFFSETS) {
        const nMat = 40; // mostly distinct rows: a repeated row is a no-op the second time
        const nRows = 29;
        const t = new Twins(arena);
        t.f32('W', rand(rng, nMat * n));
        t.f32('G', rand(rng, nMat * n));
        t.i32('rows', randRows(rng, nRows + off, nMat));
        const args = (s: Record<string, Arr>) =>
          [s.W as Float32Array, s.G as Float32Array, n, s.rows as Int32Array, off, nRows, 0.05, off % 2 === 0 ? 1 : 0.999] as const;
        jsKernels.sgdRows(...args(t.js));
        k.sgdRows(...args(t.wasm));
        t.compare(`sgdRows n=${n} off=${off}`);
      }
    }
  });

  it('relu (bit-exact, including -0 and NaN)', () => {
    const rng = new Rng(10);
    const arena = new Arena();
    const k = newWasm(arena);
    for (const n of LENGTHS) {
      for (const off of OFFSETS) {
        const src = rand(rng, n + off + 2);
        src[off] = -0;
        if (n > 2) src[off + 2] = NaN;
        const t = new Twins(arena);
        t.f32('x', src);
        jsKernels.relu(t.js.x as Float32Array, off, n);
        k.relu(t.wasm.x as Float32Array, off, n);
        const e = t.js.x as Float32Array;
        const a = t.wasm.x as Float32Array;
        for (let i = 0; i < e.length; i++) assert.ok(Object.is(a[i], e[i]), `relu n=${n} off=${off} [${i}]: ${a[i]} vs ${e[i]}`);
      }
    }
  });

  it('softmax (returns the log partition; large spreads; -Infinity entries)', () => {
    const rng = new Rng(11);
    const arena = new Arena();
    const k = newWasm(arena);
    for (const n of [...LENGTHS, 3350]) {
      for (const off of OFFSETS) {
        for (const spread of [1, 20, 300]) {
          const src = rand(rng, n + off + 2, -spread, spread / 4);
          if (n > 4) src[off + 4] = -Infinity;
          const t = new Twins(arena);
          t.f32('x', src);
          const lz = new Float64Array(2);
          jsKernels.softmax(t.js.x as Float32Array, off, n, lz.subarray(0, 1));
          k.softmax(t.wasm.x as Float32Array, off, n, lz.subarray(1, 2));
          const e = lz[0]!;
          const a = lz[1]!;
          assert.ok(Math.abs(a - e) <= ABS + REL * Math.abs(e), `softmax logZ n=${n} off=${off} spread=${spread}: ${a} vs ${e}`);
          t.compare(`softmax n=${n} off=${off} spread=${spread}`);
          let sum = 0;
          const p = t.wasm.x as Float32Array;
          for (let i = off; i < off + n; i++) sum += p[i]!;
          assert.ok(Math.abs(sum - 1) < 1e-5, `softmax n=${n}: probabilities sum to ${sum}`);
        }
      }
    }
  });

  it('softmax of an empty range returns -Infinity like js', () => {
    const arena = new Arena();
    const x = arena.f32(4);
    const lz = new Float64Array(2);
    newWasm(arena).softmax(x, 1, 0, lz.subarray(0, 1));
    jsKernels.softmax(x, 1, 0, lz.subarray(1, 2));
    assert.equal(lz[0], lz[1]);
    assert.equal(lz[0], -Infinity);
  });
});

describe('wasm kernels and memory', () => {
  it('finds build/kernels.wasm under the package root (from src/ under tsx, from dist/src/ once built)', () => {
    const path = wasmKernelsPath();
    assert.match(path, /build[\\/]kernels\.wasm$/);
    assert.ok(existsSync(path), `${path} is missing: run npm run build`);
  });

  it('keep working after the memory grows (views made before and after growth)', () => {
    const rng = new Rng(12);
    const arena = new Arena();
    const memory = arena.memory;
    const k = getKernels(memory, 'wasm');
    const n = 130;
    const W = arena.f32(4 * n);
    const bias = arena.f32(4);
    const rows = arena.i32(3);
    W.set(rand(rng, W.length));
    bias.set(rand(rng, 4));
    rows.set([3, 0, 3]);
    const bytesBefore = memory.buffer.byteLength;
    arena.alloc(100 * 2 ** 20); // grows the memory: new SharedArrayBuffer object, same bytes
    assert.ok(memory.buffer.byteLength > bytesBefore + 100 * 2 ** 20 - 1);
    assert.notEqual(W.buffer, memory.buffer);
    const x = arena.f32(n); // beyond the old end of the memory
    const out = arena.f32(3);
    x.set(rand(rng, n));
    assertViewOf(memory, W, 'W'); // old view: passes the probe
    assertViewOf(memory, x, 'x');
    assert.equal(getKernels(memory, 'wasm'), k, 'one instance per memory');
    k.dotRows(W, bias, n, rows, 0, 3, x, 0, out, 0);
    const e = new Float32Array(3);
    jsKernels.dotRows(W, bias, n, rows, 0, 3, x, 0, e, 0);
    const scale = new Float32Array(3);
    jsKernels.dotRows(abs(W), abs(bias), n, rows, 0, 3, abs(x), 0, scale, 0);
    close(out, e, 'dotRows after growth', scale);
    // the same through a checked instance made after growth
    const out2 = arena.f32(3);
    loadWasmKernels(memory, { checkViews: true }).dotRows(W, bias, n, rows, 0, 3, x, 0, out2, 0);
    assert.deepEqual(out2, out);
  });

  it('allocations past 2 GiB of a memory: positive offsets, and the kernels address them (rows of a matrix on both sides of 2 GiB)', () => {
    const rng = new Rng(13);
    const arena = new Arena();
    const n = 64;
    // a matrix whose rows straddle the 2 GiB mark, then a vector past it (pages never touched stay unmapped)
    arena.alloc(2 ** 31 - 4 * n * 2 - 100);
    const W = arena.f32(4 * n);
    const x = arena.f32(n);
    assert.ok(W.byteOffset < 2 ** 31 && W.byteOffset + W.byteLength > 2 ** 31, `W at ${W.byteOffset}`);
    assert.ok(x.byteOffset > 2 ** 31 && x.byteOffset % 64 === 0, `x at ${x.byteOffset}`);
    const bias = arena.f32(4);
    const rows = arena.i32(4);
    const out = arena.f32(4);
    W.set(rand(rng, W.length));
    x.set(rand(rng, n));
    rows.set([3, 1, 2, 0]);
    const k = loadWasmKernels(arena.memory, { checkViews: true });
    k.dotRows(W, bias, n, rows, 0, 4, x, 0, out, 0);
    const e = new Float32Array(4);
    jsKernels.dotRows(W, bias, n, rows, 0, 4, x, 0, e, 0);
    close(out, e, 'dotRows past 2 GiB');
  });

  it('the kernel table and the TypeScript twins agree: every kernel has one line, with the twin\'s parameter names in order, and one export (or its composite parts)', () => {
    const twins = Object.keys(jsKernels).filter((key) => key !== 'name');
    assert.deepEqual(Object.keys(KERNEL_TABLE).sort(), twins.sort());
    for (const name of twins) {
      const src = String((jsKernels as unknown as Record<string, (...a: unknown[]) => unknown>)[name]);
      const names = src.slice(src.indexOf('(') + 1, src.indexOf(')')).split(',').map((p) => p.trim().split(/[\s=:]/)[0]!).filter((p) => p !== '');
      assert.deepEqual(parseKernelLine(name, KERNEL_TABLE[name]!).params.map((p) => p.name), names, `${name}: parameters`);
    }
    const exported = WebAssembly.Module.exports(wasmKernelsModule()).map((e) => e.name);
    for (const e of kernelExportNames()) assert.ok(exported.includes(e), `export ${e} in build/kernels.wasm`);
  });

  it('checkViews rejects arrays of another buffer and out-of-range offsets and rows', () => {
    const arena = new Arena();
    const other = new Arena();
    const k = newWasm(arena);
    const a = arena.f32(8);
    assert.throws(() => k.dot(a, 0, other.f32(8), 0, 8), /not a view/);
    assert.throws(() => k.dot(a, 0, new Float32Array(8), 0, 8), /not a view/);
    assert.throws(() => k.dot(a, 1, a, 0, 8), /outside/);
    const rows = arena.i32(2);
    rows.set([0, 2]);
    assert.throws(() => k.sgdRows(a, arena.f32(8), 4, rows, 0, 2, 0.1), /rows\[1\] = 2/);
    assert.throws(() => assertViewOf(arena.memory, other.f32(4), 'probe'), /not a view/);
  });

  it('needs a shared memory; auto falls back to js with one warning', () => {
    const plain = new WebAssembly.Memory({ initial: 1 });
    assert.throws(() => getKernels(plain, 'wasm'), /must be shared/);
    const write = process.stderr.write;
    const lines: string[] = [];
    process.stderr.write = ((s: string) => (lines.push(String(s)), true)) as typeof process.stderr.write;
    try {
      assert.equal(getKernels(plain, 'auto'), jsKernels);
      assert.equal(getKernels(plain, 'auto'), jsKernels);
    } finally {
      process.stderr.write = write;
    }
    assert.equal(lines.length, 1);
    assert.match(lines[0]!, /JS kernels/);
    assert.equal(getKernels(new Arena().memory, 'auto').name, 'wasm');
    assert.equal(getKernels(plain, 'js'), jsKernels);
    assert.throws(() => getKernels(plain, 'gpu' as 'js'), /expected one of/);
  });
});
