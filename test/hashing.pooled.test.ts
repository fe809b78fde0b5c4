/**
 * Tables whose K functions come from a shared pool (`hash.pool`): the selection, the codes against
 * the inner family hashed directly, the collision probability of a table (unchanged: (1 -
 * theta/pi)^K for SimHash), config errors, recall against brute-force neighbours, and
 * a pooled model that trains, saves and loads bit for bit. The SIMD kernel path with a pool is
 * checked against the pooled TypeScript family in sampler.kernelhash.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { drawPoolSelection, PooledFamily } from '../src/hashing/pooled.js';
import { createHashFamily } from '../src/hashing/registry.js';
import { SimHash } from '../src/hashing/simhash.js';
import { parseConfig } from '../src/config.js';
import { Rng } from '../src/util/rng.js';
import { ConfigError } from '../src/util/errors.js';
import { LshTables } from '../src/tables/tables.js';
import { QueryScratch, topByVotes } from '../src/tables/query.js';
import { saveModel, loadModel } from '../src/checkpoint/checkpoint.js';
import { assertSameModel, tinyData, tinyModel, trainUntil } from './checkpoint.helpers.js';
import { clusteredSet, pairAtAngle } from './vectors.helpers.js';

test('pool selection: K distinct members in [0, P) per table, fixed by the seed, every member used', () => {
  const K = 6;
  const L = 150;
  const P = 64;
  const sel = drawPoolSelection(11, K, L, P);
  assert.equal(sel.length, K * L);
  const uses = new Int32Array(P);
  for (let t = 0; t < L; t++) {
    const s = new Set<number>();
    for (let k = 0; k < K; k++) {
      const v = sel[t * K + k]!;
      assert.ok(v >= 0 && v < P, `member ${v} in range`);
      s.add(v);
      uses[v]++;
    }
    assert.equal(s.size, K, `table ${t}: distinct members`);
  }
  assert.deepEqual(drawPoolSelection(11, K, L, P), sel, 'same seed, same selection');
  assert.notDeepEqual(drawPoolSelection(12, K, L, P), sel, 'another seed, another selection');
  // each member is chosen K*L/P = 14.1 times on average; uniform draws keep every count well above 0
  for (let p = 0; p < P; p++) assert.ok(uses[p]! >= 3 && uses[p]! <= 35, `member ${p} used ${uses[p]} times`);
  // K = P: every table is the whole pool
  const all = drawPoolSelection(3, 4, 5, 4);
  for (let t = 0; t < 5; t++) assert.deepEqual([...all.subarray(t * 4, t * 4 + 4)].sort(), [0, 1, 2, 3]);
  assert.throws(() => drawPoolSelection(1, 6, 2, 5), ConfigError);
});

test('pooled family: code i is the inner family code sel[i]; dense and sparse rows agree', () => {
  for (const family of ['simhash', 'dwta', 'wta'] as const) {
    const inner = createHashFamily(family, { dim: 40, numHashes: 32, seed: 9 });
    const direct = createHashFamily(family, { dim: 40, numHashes: 32, seed: 9 });
    const f = new PooledFamily(inner, 4, 20, 9);
    assert.equal(f.numHashes, 80);
    assert.equal(f.bitsPerHash, inner.bitsPerHash);
    const rng = new Rng(2);
    const base = new Int32Array(32);
    const out = new Int32Array(80);
    const outS = new Int32Array(80);
    for (let r = 0; r < 30; r++) {
      const x = Float32Array.from({ length: 40 }, () => (rng.nextFloat() < 0.5 ? 0 : rng.nextGaussian()));
      direct.hashDenseRow(x, 0, base, 0);
      f.hashDenseRow(x, 0, out, 0);
      for (let i = 0; i < 80; i++) assert.equal(out[i], base[f.sel[i]!], `${family} row ${r} code ${i}`);
      const idx = Int32Array.from([...x.keys()].filter((i) => x[i] !== 0));
      const val = Float32Array.from(idx, (i) => x[i]!);
      f.hashSparseRow(idx, val, 0, idx.length, outS, 0);
      assert.deepEqual(outS, out, `${family} row ${r}: sparse = dense`);
    }
  }
});

test('pooled SimHash: a table collides with probability (1 - theta/pi)^K, as with functions of its own', () => {
  const dim = 64;
  const K = 3;
  const L = 200;
  const P = 48;
  const rng = new Rng(4);
  const a = new Int32Array(K * L);
  const b = new Int32Array(K * L);
  for (const deg of [30, 60, 90]) {
    const theta = (deg * Math.PI) / 180;
    let coll = 0;
    let n = 0;
    // over many draws of the pool (seeds) and pairs, so that the table collisions average out
    for (let seed = 0; seed < 40; seed++) {
      const f = new PooledFamily(new SimHash({ dim, numHashes: P, seed, projection: 'gaussian' }), K, L, seed);
      for (let p = 0; p < 5; p++) {
        const [x, y] = pairAtAngle(rng, dim, theta);
        f.hashDenseRow(x, 0, a, 0);
        f.hashDenseRow(y, 0, b, 0);
        for (let t = 0; t < L; t++) {
          let same = true;
          for (let k = 0; k < K; k++) if (a[t * K + k] !== b[t * K + k]) same = false;
          if (same) coll++;
          n++;
        }
      }
    }
    const expect = (1 - theta / Math.PI) ** K;
    const rate = coll / n;
    // tables of one pair are correlated, so the error is that of the 200 (seed, pair) draws, not of n
    const se = Math.sqrt((expect * (1 - expect)) / 200);
    assert.ok(Math.abs(rate - expect) < 4 * se, `${deg} deg: rate ${rate.toFixed(4)}, expected ${expect.toFixed(4)} +- ${(4 * se).toFixed(4)}`);
  }
});

test('hash.pool: below K is a config error naming the field', () => {
  assert.throws(() => parseConfig({ output: { hash: { K: 6, pool: 5 } } }), (e: unknown) => e instanceof ConfigError && /output\.hash\.pool/.test(e.message));
  assert.throws(() => parseConfig({ output: { hash: { pool: -1 } } }), ConfigError);
  assert.equal(parseConfig({ output: { hash: { K: 6, pool: 6 } } }).output.hash.pool, 6);
  assert.equal(parseConfig({}).output.hash.pool, 0, 'off by default');
});

test('a pooled model trains, and saves and loads bit for bit (the selection follows from the seed)', async () => {
  const data = tinyData();
  const config = {
    seed: 5,
    threads: 1,
    hidden: [32],
    output: { mode: 'lsh' as const, hash: { family: 'simhash' as const, K: 4, L: 24, pool: 20 }, activeSet: { policy: 'topk' as const, maxActive: 40, minActive: 0 } },
    epochs: 2,
    batchSize: 50,
    optimizer: { lr: 5e-3 },
    rebuild: { schedule: 'fixed' as const, period: 5, rehashEvery: 11 },
  };
  const model = tinyModel(data, config);
  await trainUntil(model, data.train, 40);
  const dir = mkdtempSync(join(tmpdir(), 'pool-'));
  try {
    const file = join(dir, 'm.safetensors');
    await saveModel(model, file);
    const { model: m2 } = await loadModel(file);
    assertSameModel(model, m2, 'loaded');
    const r = await m2.evaluate(data.test, { inference: 'both' });
    const r0 = await model.evaluate(data.test, { inference: 'both' });
    for (const k of ['p1', 'p3', 'p5', 'ndcg5', 'avgCandidates'] as const) assert.equal(r.lsh![k], r0.lsh![k], `lsh ${k}`);
    assert.equal(r.exact!.p1, r0.exact!.p1);
    assert.equal(r.lshRecallOfExactTop5, r0.lshRecallOfExactTop5);
    // learned: well above the most frequent label's P@1
    assert.ok(r.lsh!.p1 > 0.3, `LSH P@1 ${r.lsh!.p1}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('pooled tables against brute-force cosine neighbours: recall@10 in the top 100 by votes falls as the pool shrinks (2KL: close to independent functions; K: collapsed)', () => {
  const rng = new Rng(77);
  const n = 3000;
  const dim = 48;
  const K = 6;
  const L = 60;
  const nq = 80;
  const { data, queries, truth: nearest } = clusteredSet(rng, { n, dim, centres: 150, noise: 0.8, nq, queryNoise: 0.5, k: 10 });
  const truth = nearest.map((t) => new Set(t));
  const ids = Int32Array.from({ length: n }, (_, i) => i);
  const recallWith = (pool: number): number => {
    const f = pool > 0 ? new PooledFamily(new SimHash({ dim, numHashes: pool, seed: 3, projection: 'gaussian' }), K, L, 3) : new SimHash({ dim, numHashes: K * L, seed: 3, projection: 'gaussian' });
    const codes = new Int32Array(n * K * L);
    f.hashDense(n, data, 0, dim, codes);
    const t = new LshTables({ L, K, bitsPerHash: 1, rangePow: K, bucketSize: 4096, insertion: 'fifo', capacity: n, seed: 1 });
    t.rebuild(n, ids, codes);
    const s = new QueryScratch(t);
    const q = new Int32Array(K * L);
    const out = new Int32Array(100);
    let hit = 0;
    for (let i = 0; i < nq; i++) {
      f.hashDenseRow(queries, i * dim, q, 0);
      const m = topByVotes(t, q, 0, s, 100, out);
      for (let j = 0; j < m; j++) if (truth[i]!.has(out[j]!)) hit++;
    }
    return hit / (nq * 10);
  };
  const own = recallWith(0);
  const sweep = [K, 48, 180, 720].map((p) => ({ p, r: recallWith(p) }));
  const msg = `independent ${own.toFixed(3)}; ${sweep.map((x) => `pool ${x.p}: ${x.r.toFixed(3)}`).join(', ')}`;
  assert.ok(own > 0.85, msg);
  // shared functions cost recall, less the larger the pool
  for (let i = 1; i < sweep.length; i++) assert.ok(sweep[i]!.r >= sweep[i - 1]!.r - 0.01, msg);
  assert.ok(sweep[3]!.r > own - 0.03, `a pool of 2 K L is close to independent functions: ${msg}`);
  assert.ok(sweep[2]!.r > own - 0.08, `a pool of K L / 2: ${msg}`);
  // a pool of K: every table holds the same K functions, so votes are all-or-nothing
  assert.ok(sweep[0]!.r < own - 0.5, msg);
});
