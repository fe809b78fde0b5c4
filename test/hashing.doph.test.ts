import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Doph } from '../src/hashing/doph.js';
import { EMPTY_INPUT_CODE } from '../src/hashing/common.js';
import { mix32, Rng } from '../src/util/rng.js';

function randomSet(rng: Rng, dim: number, size: number, exclude: Set<number> = new Set()): number[] {
  const s = new Set<number>();
  while (s.size < size) {
    const i = rng.nextInt(dim);
    if (!exclude.has(i)) s.add(i);
  }
  return [...s];
}

function hashSet(f: Doph, set: number[], values?: number[]): Int32Array {
  const out = new Int32Array(f.numHashes);
  const val = Float32Array.from(set, (_, k) => values?.[k] ?? 1);
  f.hashSparseRow(Int32Array.from(set), val, 0, set.length, out, 0);
  return out;
}

test('doph: collision rate matches the Jaccard similarity J (+ (1-J) 2^-bits), also with many empty bins', () => {
  const rng = new Rng(1);
  const dim = 20000;
  for (const [numHashes, setSize] of [[256, 200], [512, 60]] as const) {
    // 512 bins for 60-element sets: most bins are empty and densified
    const f = new Doph({ dim, numHashes, seed: 3, bits: 8 });
    const rates: number[] = [];
    for (const J of [0, 0.2, 0.5, 0.8, 1]) {
      // |A| = |B| = setSize with |A n B| = c: J = c / (2 setSize - c)
      const c = Math.round((2 * setSize * J) / (1 + J));
      const Jtrue = c / (2 * setSize - c);
      let coll = 0;
      const pairs = 30;
      for (let p = 0; p < pairs; p++) {
        const common = randomSet(rng, dim, c);
        const taken = new Set(common);
        const a = [...common, ...randomSet(rng, dim, setSize - c, taken)];
        for (const i of a) taken.add(i);
        const b = [...common, ...randomSet(rng, dim, setSize - c, taken)];
        rng.shuffle(b);
        const ha = hashSet(f, a);
        const hb = hashSet(f, b);
        for (let h = 0; h < numHashes; h++) if (ha[h] === hb[h]) coll++;
      }
      const rate = coll / (pairs * numHashes);
      const expect = Jtrue + (1 - Jtrue) / 256;
      assert.ok(Math.abs(rate - expect) < 0.04, `bins ${numHashes}, |A| ${setSize}, J ${Jtrue.toFixed(3)}: rate ${rate.toFixed(3)}, expected ${expect.toFixed(3)}`);
      rates.push(rate);
    }
    for (let i = 1; i < rates.length; i++) assert.ok(rates[i]! > rates[i - 1]!);
  }
});

test('doph: hashes the set of non-zeros; values do not matter; dense binary == sparse', () => {
  const rng = new Rng(2);
  const dim = 3000;
  const f = new Doph({ dim, numHashes: 100, seed: 5, bits: 12 });
  for (let r = 0; r < 10; r++) {
    const set = randomSet(rng, dim, 1 + rng.nextInt(80));
    const binary = hashSet(f, set);
    const weighted = hashSet(f, set, set.map(() => rng.nextGaussian() || 1));
    assert.deepEqual(weighted, binary);
    const x = new Float32Array(dim);
    for (const i of set) x[i] = 1;
    const dense = new Int32Array(100);
    f.hashDenseRow(x, 0, dense, 0);
    assert.deepEqual(dense, binary);
    for (const c of binary) assert.ok(c >= 0 && c < 4096);
  }
  assert.ok(hashSet(f, []).every((c) => c === EMPTY_INPUT_CODE));
});

test('doph: a non-empty bin codes the smallest permuted position of its elements (naive oracle)', () => {
  const dim = 1000;
  const H = 40;
  const f = new Doph({ dim, numHashes: H, seed: 9, bits: 8 });
  // bins are contiguous ranges of permuted positions of nearly equal size
  const binOf = (i: number): number => Math.floor(f.posOf[i]! * f.binScale);
  assert.deepEqual([...f.posOf].sort((a, b) => a - b), Array.from({ length: dim }, (_, i) => i), 'a permutation');
  const size = new Int32Array(H);
  for (let i = 0; i < dim; i++) size[binOf(i)]++;
  for (const s of size) assert.ok(Math.abs(s - dim / H) <= 1, `bin size ${s}`);
  for (let q = 1; q < dim; q++) assert.ok(Math.floor(q * f.binScale) >= Math.floor((q - 1) * f.binScale));
  for (const [d, h] of [[135909, 300], [7, 7], [1000, 999], [3, 5], [2 ** 24 + 1, 3]]) assert.ok(Math.floor((d - 1) * (h / d)) < h);
  const rng = new Rng(4);
  const set = randomSet(rng, dim, 300); // dense enough that every bin is non-empty
  const codes = hashSet(f, set);
  for (let b = 0; b < H; b++) {
    const inBin = set.filter((i) => binOf(i) === b);
    assert.ok(inBin.length > 0);
    const minPos = Math.min(...inBin.map((i) => f.posOf[i]!));
    assert.equal(codes[b], mix32(minPos ^ f.salt) >>> 24);
  }
});
