import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LshTables } from '../src/tables/tables.js';
import { QueryScratch, queryUnion } from '../src/tables/query.js';
import { SimHash } from '../src/hashing/simhash.js';
import { Rng } from '../src/util/rng.js';
import { clusteredSet } from './vectors.helpers.js';

test('recall@10 of brute-force cosine neighbours never drops as tables are added (SimHash, prefix tables)', () => {
  const rng = new Rng(2024);
  const n = 2000;
  const dim = 64;
  const K = 8;
  const Lmax = 16;
  // clustered data (100 centres, so neighbours are meaningful); queries: perturbed data points;
  // truth: brute-force top 10 by cosine
  const nq = 60;
  const { data, queries, truth } = clusteredSet(rng, { n, dim, centres: 100, noise: 0.6, nq, queryNoise: 0.3, k: 10 });
  const family = new SimHash({ dim, numHashes: K * Lmax, seed: 5, projection: 'gaussian' });
  const codes = new Int32Array(n * K * Lmax);
  family.hashDense(n, data, 0, dim, codes);
  const ids = Int32Array.from({ length: n }, (_, i) => i);

  const qcodes = new Int32Array(nq * K * Lmax);
  family.hashDense(nq, queries, 0, dim, qcodes);

  const recalls: number[] = [];
  for (const L of [1, 2, 4, 8, 16]) {
    // the first L*K codes of each item's row: the tables are prefixes of the same hash functions
    const t = new LshTables({ L, K, bitsPerHash: 1, rangePow: K, bucketSize: 256, insertion: 'fifo', capacity: n, seed: 1 });
    t.rebuild(n, ids, codes, K * Lmax);
    const s = new QueryScratch(t);
    const out = new Int32Array(n);
    let hit = 0;
    for (let q = 0; q < nq; q++) {
      const m = queryUnion(t, qcodes, q * K * Lmax, s, out, 0, n);
      const got = new Set(out.subarray(0, m));
      assert.equal(got.size, m, 'duplicates');
      for (const i of truth[q]!) if (got.has(i)) hit++;
    }
    recalls.push(hit / (nq * 10));
  }
  for (let i = 1; i < recalls.length; i++) assert.ok(recalls[i]! >= recalls[i - 1]!, `recall ${recalls.join(' ')} must not drop`);
  assert.ok(recalls[4]! > recalls[0]! + 0.2 && recalls[4]! > 0.8, `recall ${recalls.map((r) => r.toFixed(3)).join(' ')}`);
});
