import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SimHash } from '../src/hashing/simhash.js';
import { Rng } from '../src/util/rng.js';
import { pairAtAngle } from './vectors.helpers.js';

for (const projection of ['gaussian', 'sparse'] as const) {
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
