import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PROJECT_BLOCK, type LshSampler } from '../src/layers/sampler.js';
import { standaloneSampler } from './sampler.helpers.js';
import { parseConfig } from '../src/config.js';
import { Rng } from '../src/util/rng.js';
import { PooledFamily } from '../src/hashing/pooled.js';

/**
 * SimHash keys and queries hashed by the SIMD kernels (one dotRows over the hash-major
 * projections, or hadamardRows for structured projections; centering as a per-hash threshold)
 * against the family's own TypeScript hashing of the centered rows: the same codes, except where
 * a projection lies within float32 rounding of zero (the kernels sum in float32, the family in
 * float64; structured keys subtract the mean's projections instead of projecting w - mean).
 * Structured queries go through the same float32 stages on both sides: equal bit for bit.
 */
const nIn = 48;
/** not a multiple of the rebuild's blocks of rows (PROJECT_BLOCK, 64 a stage, 4-row tiles): every remainder path runs */
const nOut = 2003;
/** 5 x 24 functions of their own, or drawn from a shared pool of 64 (hash.pool: 64 dot products a vector, then a gather) */
const configOf = (pool: number, projection: 'sparse' | 'hadamard') =>
  parseConfig({ output: { hash: { family: 'simhash', K: 5, L: 24, pool, projection, center: true, bucketSize: 4096 }, activeSet: { minActive: 0 } } }).output;

function bucketsOf(s: LshSampler): Int32Array {
  // (L, nOut): the bucket of each neuron in each table
  const t = s.tables;
  const where = new Int32Array(t.L * nOut).fill(-1);
  const buf = new Int32Array(nOut);
  for (let tb = 0; tb < t.L; tb++) {
    for (let b = 0; b < t.numBuckets; b++) {
      const n = t.readBucket(tb, b, buf);
      for (let i = 0; i < n; i++) where[tb * nOut + buf[i]!] = b;
    }
  }
  return where;
}

const CASES = [['wasm', 0, 'sparse'], ['js', 0, 'sparse'], ['wasm', 64, 'sparse'], ['js', 64, 'sparse'], ['wasm', 0, 'hadamard'], ['js', 0, 'hadamard'], ['wasm', 64, 'hadamard']] as const;
for (const [kernels, pool, projection] of CASES) {
  test(`kernel SimHash (${kernels} kernels, ${projection} projections${pool ? `, pool of ${pool}` : ''}): table keys and query codes equal the family's TypeScript hashing`, () => {
    const cfg = configOf(pool, projection);
    const rng = new Rng(12);
    const f = standaloneSampler(cfg, nIn, nOut, new Rng(9), kernels);
    // the family's TypeScript hashing (JS kernels: they take arrays of any memory)
    const p = standaloneSampler(cfg, nIn, nOut, new Rng(9), 'js');
    const arena = f.arena;
    const W = arena.f32(nOut * nIn);
    const common = Float32Array.from({ length: nIn }, () => rng.nextGaussian());
    for (let j = 0; j < nOut; j++) for (let i = 0; i < nIn; i++) W[j * nIn + i] = 3 * common[i]! + rng.nextGaussian();
    const b = arena.f32(nOut);
    const fast = f.sampler;
    const plain = p.sampler;
    assert.ok(fast.kernelHashing);
    assert.equal(fast.familySeed, plain.familySeed, 'same hash functions');
    // the kernel path runs with a scratch in the sampler's memory; the family's TypeScript hashing without one
    const fs = f.kernelScratch();
    const ps = p.plainScratch();
    assert.ok(fs.proj.length > 0 && ps.proj.length === 0);
    if (pool > 0) {
      assert.ok(fast.family instanceof PooledFamily && plain.family instanceof PooledFamily);
      assert.equal(fast.hashRows, pool);
      assert.equal(fs.proj!.length, pool * PROJECT_BLOCK, 'the kernel scratch holds blocks of pool projections, not of K*L');
    }
    fast.rebuild(W, b, fast.createRebuildScratch(), fs);
    plain.rebuild(W, b, plain.createRebuildScratch(), null);
    const a = bucketsOf(fast);
    const e = bucketsOf(plain);
    let same = 0;
    for (let i = 0; i < a.length; i++) {
      assert.ok(a[i]! >= 0, 'every neuron is in a bucket of every table');
      if (a[i] === e[i]) same++;
    }
    assert.ok(same / a.length > 0.999, `${same} of ${a.length} (neuron, table) keys agree`);
    // queries: the same 120 bits for dense ReLU-like inputs in the arena
    const x = arena.f32(nIn);
    let bits = 0;
    let agree = 0;
    for (let q = 0; q < 200; q++) {
      for (let i = 0; i < nIn; i++) x[i] = Math.max(0, rng.nextGaussian());
      fast.hashInput(fs, x, 0);
      plain.hashInput(ps, x, 0);
      for (let h = 0; h < fast.K * fast.L; h++) {
        bits++;
        if (fs.codes[h] === ps.codes[h]) agree++;
      }
    }
    if (projection === 'hadamard') assert.equal(agree, bits, 'structured query codes agree bit for bit');
    else assert.ok(agree / bits > 0.999, `${agree} of ${bits} query bits agree`);
    // a redraw rewrites the hash-major copy: still equal to the family
    const r1 = new Rng(5);
    const r2 = new Rng(5);
    fast.redraw(r1);
    plain.redraw(r2);
    if (pool > 0) assert.deepEqual((fast.family as PooledFamily).sel, (plain.family as PooledFamily).sel, 'the same new selection');
    fast.rebuild(W, b, fast.createRebuildScratch(), fs);
    plain.rebuild(W, b, plain.createRebuildScratch(), null);
    const a2 = bucketsOf(fast);
    const e2 = bucketsOf(plain);
    let same2 = 0;
    for (let i = 0; i < a2.length; i++) if (a2[i] === e2[i]) same2++;
    assert.ok(same2 / a2.length > 0.999, `after a redraw: ${same2} of ${a2.length} keys agree`);
    let changed = 0;
    for (let i = 0; i < a2.length; i++) if (a2[i] !== a[i]) changed++;
    assert.ok(changed / a2.length > 0.5, `the redraw changed ${changed} of ${a2.length} keys`);
  });
}
