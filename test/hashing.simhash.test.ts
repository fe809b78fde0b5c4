import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SimHash, HADAMARD_ROUNDS } from '../src/hashing/simhash.js';
import { jsKernels } from '../src/kernels/js.js';
import { Rng } from '../src/util/rng.js';
import { pairAtAngle } from './vectors.helpers.js';

for (const projection of ['gaussian', 'sparse', 'hadamard'] as const) {
  test(`simhash (${projection}): one-bit collision rate matches 1 - theta/pi within 4 standard errors`, () => {
    const dim = 128;
    const numHashes = 2000;
    const pairs = 10;
    const f = new SimHash({ dim, numHashes, seed: 42, projection });
    const rng = new Rng(9);
    const a = new Int32Array(numHashes);
    const b = new Int32Array(numHashes);
    for (const deg of [30, 60, 90, 120]) {
      const theta = (deg * Math.PI) / 180;
      let coll = 0;
      for (let p = 0; p < pairs; p++) {
        const [x, y] = pairAtAngle(rng, dim, theta);
        f.hashDenseRow(x, 0, a, 0);
        f.hashDenseRow(y, 0, b, 0);
        for (let h = 0; h < numHashes; h++) if (a[h] === b[h]) coll++;
      }
      const n = numHashes * pairs;
      const rate = coll / n;
      const expect = 1 - theta / Math.PI;
      const se = Math.sqrt((expect * (1 - expect)) / n);
      assert.ok(Math.abs(rate - expect) < 4 * se, `${deg} deg: rate ${rate.toFixed(4)}, expected ${expect.toFixed(4)} +- ${(4 * se).toFixed(4)}`);
    }
  });
}

test('simhash: bits equal a naive dot product with the stored projections (bit = <r,x> >= 0)', () => {
  const dim = 50;
  const H = 64;
  const rng = new Rng(3);
  for (const projection of ['gaussian', 'sparse'] as const) {
    const f = new SimHash({ dim, numHashes: H, seed: 5, projection });
    const out = new Int32Array(H);
    for (let r = 0; r < 20; r++) {
      const x = Float32Array.from({ length: dim }, () => (rng.nextFloat() < 0.3 ? 0 : rng.nextGaussian()));
      f.hashDenseRow(x, 0, out, 0);
      for (let h = 0; h < H; h++) {
        let s = 0;
        for (let i = 0; i < dim; i++) s += x[i]! * f.proj[i * H + h]!;
        if (Math.abs(s) > 1e-9) assert.equal(out[h], s >= 0 ? 1 : 0);
      }
    }
    // the zero vector projects to 0: every bit is 1
    f.hashDenseRow(new Float32Array(dim), 0, out, 0);
    assert.ok(out.every((c) => c === 1));
  }
});

test('simhash sparse projection: entries in {-1, 0, +1} with P(non-zero) = density', () => {
  for (const density of [1 / 3, 0.1, 1]) {
    const f = new SimHash({ dim: 400, numHashes: 100, seed: 1, density });
    let nz = 0;
    let pos = 0;
    for (const v of f.proj) {
      assert.ok(v === -1 || v === 0 || v === 1);
      if (v !== 0) nz++;
      if (v > 0) pos++;
    }
    const n = f.proj.length;
    const se = Math.sqrt((density * (1 - density)) / n) + 1e-12;
    assert.ok(Math.abs(nz / n - density) < 5 * se + 1e-9, `density ${density}: found ${nz / n}`);
    if (density < 1) assert.ok(Math.abs(pos / nz - 0.5) < 0.02);
  }
});

test('simhash hadamard: each block of p bits comes from p orthogonal hyperplanes (a rotation), and they are the HD product of the stored signs', () => {
  // dim 20 -> blocks of p = 32; 70 hashes = 3 blocks, the last partial
  const dim = 20;
  const H = 70;
  const f = new SimHash({ dim, numHashes: H, seed: 11, projection: 'hadamard' });
  assert.equal(f.blockWidth, 32);
  assert.equal(f.proj.length, 0, 'no projection matrix');
  assert.equal(f.signs.length, 3 * HADAMARD_ROUNDS * 32);
  assert.ok(f.signs.every((v) => v === 1 || v === -1));
  // the projection vectors: the transform of each unit vector e_j gives column j of the block matrix
  const p = f.blockWidth;
  const M = new Float64Array(H * dim);
  const out = new Float32Array(H);
  for (let j = 0; j < dim; j++) {
    const e = new Float32Array(dim);
    e[j] = 1;
    jsKernels.hadamardRows(f.signs, new Float32Array(H), dim, p, HADAMARD_ROUNDS, H, e, 0, 1, new Float32Array(p), out, 0);
    for (let h = 0; h < H; h++) M[h * dim + j] = out[h]!;
  }
  // rows of one block are orthogonal over the full padded width; restricted to the first dim
  // coordinates they are not, but every row has the same norm p^(rounds/2) over all p inputs
  for (let b = 0; b < 3; b++) {
    const rows = Math.min(p, H - b * p);
    for (let h = b * p; h < b * p + rows; h++) {
      let s2 = 0;
      for (let j = 0; j < dim; j++) s2 += M[h * dim + j]! ** 2;
      assert.ok(s2 > 0, `projection ${h} is not zero on the input's coordinates`);
    }
  }
  // codes are the signs of those projections
  const rng = new Rng(4);
  const codes = new Int32Array(H);
  for (let r = 0; r < 20; r++) {
    const x = Float32Array.from({ length: dim }, () => rng.nextGaussian());
    f.hashDenseRow(x, 0, codes, 0);
    for (let h = 0; h < H; h++) {
      let s = 0;
      for (let j = 0; j < dim; j++) s += M[h * dim + j]! * x[j]!;
      if (Math.abs(s) > 1e-3) assert.equal(codes[h], s >= 0 ? 1 : 0, `row ${r} hash ${h}`);
    }
  }
  // full-width inputs: the p projections of a block are exactly orthogonal (H D is p^(1/2) times a rotation)
  const g = new SimHash({ dim: 32, numHashes: 32, seed: 3, projection: 'hadamard' });
  const R = new Float64Array(32 * 32);
  for (let j = 0; j < 32; j++) {
    const e = new Float32Array(32);
    e[j] = 1;
    jsKernels.hadamardRows(g.signs, new Float32Array(32), 32, 32, HADAMARD_ROUNDS, 32, e, 0, 1, new Float32Array(32), out, 0);
    for (let h = 0; h < 32; h++) R[h * 32 + j] = out[h]!;
  }
  const norm2 = 32 ** HADAMARD_ROUNDS;
  for (let a = 0; a < 32; a++) {
    for (let c = 0; c < 32; c++) {
      let d = 0;
      for (let j = 0; j < 32; j++) d += R[a * 32 + j]! * R[c * 32 + j]!;
      assert.equal(d, a === c ? norm2 : 0, `rows ${a}, ${c}`);
    }
  }
});
