import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Dwta } from '../src/hashing/dwta.js';
import { LshTables } from '../src/tables/tables.js';
import { Rng } from '../src/util/rng.js';

test('DWTA K=6, binSize 8, rangePow 18: bucket indices reach far more than the reference packing', () => {
  const K = 6;
  const L = 50;
  const dim = 128;
  const family = new Dwta({ dim, numHashes: K * L, seed: 3, binSize: 8 });
  const t = new LshTables({ L, K, bitsPerHash: family.bitsPerHash, rangePow: 18, bucketSize: 128, insertion: 'fifo', capacity: 1, seed: 1 });
  const rng = new Rng(4);
  const n = 2000;
  const x = new Float32Array(n * dim);
  for (let i = 0; i < x.length; i++) x[i] = rng.nextFloat() < 0.5 ? 0 : rng.nextGaussian(); // ReLU-like half zeros
  const codes = new Int32Array(n * K * L);
  family.hashDense(n, x, 0, dim, codes);
  const ours = new Uint8Array(1 << 18);
  const ref = new Uint8Array(1 << 18);
  let distinct = 0;
  let distinctRef = 0;
  for (let i = 0; i < n; i++) {
    for (let tb = 0; tb < L; tb++) {
      const b = t.bucketIndex(codes, i * K * L, tb);
      assert.ok(b >= 0 && b < 1 << 18);
      if (!ours[b]) {
        ours[b] = 1;
        distinct++;
      }
      // The reference: index += code << ((K-1-k) * floor(ln 8)) = shifts of 2 bits for 3-bit
      // codes, so they overlap; the largest index is 7 * (4^6 - 1) / 3 = 9555.
      let r = 0;
      for (let k = 0; k < K; k++) r += codes[i * K * L + tb * K + k]! << ((K - 1 - k) * Math.floor(Math.log(8)));
      if (!ref[r]) {
        ref[r] = 1;
        distinctRef++;
      }
    }
  }
  // 100,000 indices: ~83K distinct if uniform over 2^18
  assert.ok(distinctRef <= 9556, `reference-style ${distinctRef}`);
  assert.ok(distinct > 60000, `ours ${distinct} distinct buckets, reference-style ${distinctRef}`);
  assert.ok(distinct > 6 * distinctRef);
});
