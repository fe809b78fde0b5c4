import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Wta } from '../src/hashing/wta.js';
import { Rng } from '../src/util/rng.js';
import { argmaxBins, dwtaKey, wtaKey, ZERO_KEY_DWTA } from '../src/hashing/wtaKernel.js';

/** Naive WTA from the family's coordinate table: argmax position, ties to the first. */
function naiveWta(f: Wta, x: Float32Array): Int32Array {
  const out = new Int32Array(f.numHashes);
  for (let h = 0; h < f.numHashes; h++) {
    const vals = Array.from({ length: f.binSize }, (_, p) => x[f.coords[h * f.binSize + p]!]!);
    const m = Math.max(...vals);
    out[h] = vals.indexOf(m);
  }
  return out;
}

test('wta: codes are the argmax position within the bin, ties to the first (naive oracle)', () => {
  const rng = new Rng(1);
  for (const binSize of [2, 8, 32]) {
    const f = new Wta({ dim: 60, numHashes: 50, seed: 3, binSize });
    const out = new Int32Array(50);
    for (let r = 0; r < 30; r++) {
      // small integers (many ties), sometimes all negative
      const x = Float32Array.from({ length: 60 }, () => rng.nextInt(5) - (r % 3 === 0 ? 8 : 2));
      f.hashDenseRow(x, 0, out, 0);
      assert.deepEqual(out, naiveWta(f, x));
    }
  }
});

test('wta: bins come from concatenated permutations, so every coordinate is used evenly', () => {
  for (const [dim, numHashes, binSize] of [[100, 30, 8], [128, 300, 8], [1000, 7, 16], [5, 10, 8]] as const) {
    const f = new Wta({ dim, numHashes, seed: 1, binSize });
    const total = numHashes * binSize;
    const uses = new Int32Array(dim);
    for (const c of f.coords) uses[c]++;
    const lo = Math.floor(total / dim);
    for (let i = 0; i < dim; i++) assert.ok(uses[i] === lo || uses[i] === lo + 1, `coordinate ${i} used ${uses[i]} times`);
    // each block of dim consecutive slots is a permutation
    for (let s = 0; s + dim <= total; s += dim) {
      const seen = new Set(f.coords.subarray(s, s + dim));
      assert.equal(seen.size, dim);
    }
  }
});

test('wta: the sparse path treats absent coordinates as 0, like the dense path', () => {
  const f = new Wta({ dim: 40, numHashes: 64, seed: 2 });
  const rng = new Rng(4);
  for (let r = 0; r < 50; r++) {
    const x = new Float32Array(40);
    const nnz = rng.nextInt(12);
    for (let k = 0; k < nnz; k++) x[rng.nextInt(40)] = rng.nextGaussian(); // negatives lose to absent zeros
    const idx = Int32Array.from(x.keys()).filter((i) => x[i] !== 0);
    const val = Float32Array.from(idx, (i) => x[i]!);
    const a = new Int32Array(64);
    const b = new Int32Array(64);
    f.hashDenseRow(x, 0, a, 0);
    f.hashSparseRow(idx, val, 0, idx.length, b, 0);
    assert.deepEqual(b, a);
    assert.deepEqual(a, naiveWta(f, x));
  }
});

test('wta: invariant to monotone transforms of the input (rank-based)', () => {
  const f = new Wta({ dim: 64, numHashes: 100, seed: 8 });
  const rng = new Rng(6);
  const x = Float32Array.from({ length: 64 }, () => rng.nextGaussian());
  const y = x.map((v) => Math.exp(v) * 3 + 1);
  const a = new Int32Array(100);
  const b = new Int32Array(100);
  f.hashDenseRow(x, 0, a, 0);
  f.hashDenseRow(y, 0, b, 0);
  assert.deepEqual(a, b);
});

test('wta kernel: int32 keys preserve float order exactly; DWTA zeros sort below everything', () => {
  const rng = new Rng(9);
  const special = [0, -0, 1, -1, 1e-45, -1e-45, 1.1754942e-38, -1.1754942e-38, 3.4028235e38, -3.4028235e38, Infinity, -Infinity, 0.5, -0.5, 1 + 2 ** -23, 1 - 2 ** -24];
  const vals = Float32Array.from([...special, ...Array.from({ length: 300 }, () => rng.nextGaussian() * 10 ** (rng.nextInt(20) - 10))]);
  for (const a of vals) {
    for (const b of vals) {
      assert.equal(Math.sign(wtaKey(a) - wtaKey(b)), Math.sign(a - b) || 0, `${a} vs ${b}`);
      if (a !== 0 && b !== 0) assert.equal(Math.sign(dwtaKey(a) - dwtaKey(b)), Math.sign(a - b) || 0);
    }
    if (a !== 0) assert.ok(dwtaKey(a) > dwtaKey(0) && dwtaKey(-0) === ZERO_KEY_DWTA);
  }
  assert.equal(wtaKey(-0), 0);
});

test('wta kernel: branch-free arg-max equals a naive arg-max on extreme int32 keys (overflow-safe compare)', () => {
  const rng = new Rng(10);
  const H = 200;
  const B = 8;
  const dim = 64;
  const coords = Int32Array.from({ length: H * B }, () => rng.nextInt(dim));
  const pool = [-2147483648, -2147483647, -1, 0, 1, 2147483647, 2147483646, -1073741824, 1073741824];
  const keys = new Int32Array(dim);
  const out = new Int32Array(H + 3);
  for (let r = 0; r < 50; r++) {
    for (let i = 0; i < dim; i++) keys[i] = r % 2 ? pool[rng.nextInt(pool.length)]! : rng.nextU32() | 0;
    const nonEmpty = argmaxBins(keys, coords, H, B, out, 3);
    let expectNonEmpty = 0;
    for (let h = 0; h < H; h++) {
      let best = -2147483648;
      let pos = -1;
      for (let p = 0; p < B; p++) {
        const k = keys[coords[h * B + p]!]!;
        if (k > best) {
          best = k;
          pos = p;
        }
      }
      if (pos >= 0) expectNonEmpty++;
      assert.equal(out[3 + h], pos, `bin ${h}`);
    }
    assert.equal(nonEmpty, expectNonEmpty);
  }
});
