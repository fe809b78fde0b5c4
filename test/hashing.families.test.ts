/**
 * The same suite for every hash family in the registry (as tfjs runs one suite on every backend):
 * determinism by seed, code range, dense == sparse, batched == row by row, and collision rate
 * rising with similarity.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHashFamily } from '../src/hashing/registry.js';
import type { HashFamily, HashFamilyName, HashFamilyOptions } from '../src/hashing/types.js';
import { Rng } from '../src/util/rng.js';

const FAMILIES: HashFamilyName[] = ['simhash', 'wta', 'dwta', 'doph'];

function make(name: HashFamilyName, o: Partial<HashFamilyOptions> = {}): HashFamily {
  return createHashFamily(name, { dim: 200, numHashes: 96, seed: 7, ...o });
}

/** Dense vector with about `zeroFrac` zeros, the rest Gaussian (negative values included). */
function denseWithZeros(rng: Rng, dim: number, zeroFrac: number): Float32Array {
  const x = new Float32Array(dim);
  for (let i = 0; i < dim; i++) x[i] = rng.nextFloat() < zeroFrac ? 0 : rng.nextGaussian();
  return x;
}

/** The non-zeros of x, in shuffled order (plus optionally explicit zeros, which must not matter). */
function toSparse(rng: Rng, x: Float32Array, shuffle: boolean, explicitZeros = 0): { idx: Int32Array; val: Float32Array } {
  const ids: number[] = [];
  for (let i = 0; i < x.length; i++) if (x[i] !== 0) ids.push(i);
  for (let z = 0; z < explicitZeros; z++) {
    const i = rng.nextInt(x.length);
    if (x[i] === 0 && !ids.includes(i)) ids.push(i);
  }
  const idx = Int32Array.from(ids);
  if (shuffle) rng.shuffle(idx);
  const val = new Float32Array(idx.length);
  for (let k = 0; k < idx.length; k++) val[k] = x[idx[k]!]!;
  return { idx, val };
}

function codesDense(f: HashFamily, x: Float32Array): Int32Array {
  const out = new Int32Array(f.numHashes);
  f.hashDenseRow(x, 0, out, 0);
  return out;
}

function codesSparse(f: HashFamily, idx: Int32Array, val: Float32Array): Int32Array {
  const out = new Int32Array(f.numHashes);
  f.hashSparseRow(idx, val, 0, idx.length, out, 0);
  return out;
}

function collisionRate(a: Int32Array, b: Int32Array): number {
  let c = 0;
  for (let i = 0; i < a.length; i++) if (a[i] === b[i]) c++;
  return c / a.length;
}

for (const name of FAMILIES) {
  describe(`hash family ${name}`, () => {
    test('reports its name, dim, numHashes and bitsPerHash', () => {
      const f = make(name, { bits: 6, binSize: 16 });
      assert.equal(f.name, name);
      assert.equal(f.dim, 200);
      assert.equal(f.numHashes, 96);
      const expectBits = { simhash: 1, wta: 4, dwta: 4, doph: 6 }[name];
      assert.equal(f.bitsPerHash, expectBits);
    });

    test('same seed -> identical codes; different seed -> different codes', () => {
      const rng = new Rng(1);
      const a = make(name, { seed: 11 });
      const b = make(name, { seed: 11 });
      const c = make(name, { seed: 12 });
      let differ = 0;
      for (let r = 0; r < 10; r++) {
        const x = denseWithZeros(rng, 200, 0.5);
        const ca = codesDense(a, x);
        assert.deepEqual(codesDense(b, x), ca);
        const s = toSparse(rng, x, true);
        assert.deepEqual(codesSparse(b, s.idx, s.val), ca);
        if (collisionRate(codesDense(c, x), ca) < 1) differ++;
      }
      assert.equal(differ, 10, 'another seed should give other functions');
    });

    test('every code is in [0, 2^bitsPerHash)', () => {
      const rng = new Rng(2);
      for (const o of [{}, { binSize: 2 }, { binSize: 64 }, { bits: 3 }, { bits: 16 }, { projection: 'gaussian' as const }, { projection: 'hadamard' as const }]) {
        const f = make(name, o);
        const lim = 2 ** f.bitsPerHash;
        const seen = new Set<number>();
        for (let r = 0; r < 20; r++) {
          const x = denseWithZeros(rng, 200, r < 10 ? 0.3 : 0.97);
          for (const c of codesDense(f, x)) {
            assert.ok(Number.isInteger(c) && c >= 0 && c < lim, `code ${c} out of [0, ${lim})`);
            seen.add(c);
          }
        }
        assert.ok(seen.size >= Math.min(lim, 2), `codes should vary (saw ${seen.size})`);
      }
      // the zero vector also gives valid codes
      const f = make(name);
      for (const c of codesDense(f, new Float32Array(200))) assert.ok(c >= 0 && c < 2 ** f.bitsPerHash);
      for (const c of codesSparse(f, new Int32Array(0), new Float32Array(0))) assert.ok(c >= 0 && c < 2 ** f.bitsPerHash);
    });

    test('dense and sparse forms of the same vector hash identically', () => {
      const rng = new Rng(3);
      for (const o of [{}, { binSize: 4 }, { bits: 12 }, { projection: 'gaussian' as const }, { projection: 'hadamard' as const }]) {
        const f = make(name, o);
        // dense inputs with zeros: from half zeros to almost empty
        for (const zeroFrac of [0, 0.5, 0.9, 0.99, 1]) {
          for (let r = 0; r < 6; r++) {
            const x = denseWithZeros(rng, 200, zeroFrac);
            const d = codesDense(f, x);
            const sorted = toSparse(rng, x, false);
            assert.deepEqual(codesSparse(f, sorted.idx, sorted.val), d, `ascending sparse, zeroFrac ${zeroFrac}`);
            const shuffled = toSparse(rng, x, true, 5);
            assert.deepEqual(codesSparse(f, shuffled.idx, shuffled.val), d, `shuffled sparse with explicit zeros, zeroFrac ${zeroFrac}`);
          }
        }
      }
    });

    test('random sparse inputs in a large dimension: sparse == dense, and ties are handled alike', () => {
      const rng = new Rng(4);
      const dim = 5000;
      const f = make(name, { dim, numHashes: 300 });
      for (let r = 0; r < 10; r++) {
        const nnz = 1 + rng.nextInt(120);
        const x = new Float32Array(dim);
        // small integer values: many exact ties between non-zeros
        for (let k = 0; k < nnz; k++) x[rng.nextInt(dim)] = (rng.nextInt(7) - 3) || 1;
        const s = toSparse(rng, x, true);
        assert.deepEqual(codesSparse(f, s.idx, s.val), codesDense(f, x));
      }
    });

    test('batched calls equal row-by-row calls (offset and stride honoured)', () => {
      const rng = new Rng(5);
      const f = make(name);
      const n = 7;
      const stride = 230;
      const offset = 13;
      const data = new Float32Array(offset + n * stride);
      for (let i = 0; i < data.length; i++) data[i] = rng.nextFloat() < 0.6 ? 0 : rng.nextGaussian();
      const batched = new Int32Array(n * f.numHashes);
      f.hashDense(n, data, offset, stride, batched);
      const indptr = new Int32Array(n + 1);
      const idx: number[] = [];
      const val: number[] = [];
      for (let r = 0; r < n; r++) {
        const row = data.subarray(offset + r * stride, offset + r * stride + 200);
        const one = new Int32Array(f.numHashes);
        f.hashDenseRow(data, offset + r * stride, one, 0);
        assert.deepEqual(batched.subarray(r * f.numHashes, (r + 1) * f.numHashes), one);
        for (let i = 0; i < 200; i++) {
          if (row[i] !== 0) {
            idx.push(i);
            val.push(row[i]!);
          }
        }
        indptr[r + 1] = idx.length;
      }
      const sparse = new Int32Array(n * f.numHashes);
      f.hashSparse(n, indptr, Int32Array.from(idx), Float32Array.from(val), sparse);
      assert.deepEqual(sparse, batched);
    });

    test('collision rate rises with similarity', () => {
      // Non-negative sparse vectors (40 of 200 features): the partner keeps a fraction `keep` of
      // the features (values slightly perturbed) and replaces the rest. Both cosine and Jaccard
      // similarity increase with keep.
      const rng = new Rng(6);
      const f = make(name, { numHashes: 400 });
      const keeps = [0, 0.3, 0.6, 0.85, 1];
      const rates: number[] = [];
      for (const keep of keeps) {
        let sum = 0;
        const pairs = 25;
        for (let p = 0; p < pairs; p++) {
          const x = new Float32Array(200);
          const y = new Float32Array(200);
          const feats: number[] = [];
          while (feats.length < 40) {
            const i = rng.nextInt(200);
            if (!feats.includes(i)) feats.push(i);
          }
          for (const i of feats) x[i] = 0.5 + rng.nextFloat();
          const kept = Math.round(keep * 40);
          for (let k = 0; k < kept; k++) y[feats[k]!] = x[feats[k]!]! * (keep === 1 ? 1 : 1 + 0.05 * rng.nextGaussian());
          let added = kept;
          while (added < 40) {
            const i = rng.nextInt(200);
            if (x[i] === 0 && y[i] === 0) {
              y[i] = 0.5 + rng.nextFloat();
              added++;
            }
          }
          sum += collisionRate(codesDense(f, x), codesDense(f, y));
        }
        rates.push(sum / pairs);
      }
      for (let i = 1; i < rates.length; i++) {
        assert.ok(rates[i]! > rates[i - 1]! + 0.01, `${name}: rates ${rates.map((r) => r.toFixed(3)).join(' ')} should increase`);
      }
      assert.equal(rates[rates.length - 1], 1);
    });
  });
}
