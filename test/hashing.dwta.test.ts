import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Dwta } from '../src/hashing/dwta.js';
import { Densifier, EMPTY_INPUT_CODE, PROBE_CAP } from '../src/hashing/common.js';
import { Rng } from '../src/util/rng.js';

/** Raw (undensified) DWTA codes: argmax over the non-zero coordinates of each bin, -1 if none. */
function naiveRaw(f: Dwta, x: Float32Array): number[] {
  const raw: number[] = [];
  for (let h = 0; h < f.numHashes; h++) {
    let best = -Infinity;
    let pos = -1;
    for (let p = 0; p < f.binSize; p++) {
      const v = x[f.coords[h * f.binSize + p]!]!;
      if (v !== 0 && v > best) {
        best = v;
        pos = p;
      }
    }
    raw.push(pos);
  }
  return raw;
}

/** Naive densification: first non-empty bin in h's probing sequence, else the next non-empty bin after h. Returns the source bin. */
function naiveSource(f: Dwta, raw: number[], h: number): number {
  if (raw[h]! >= 0) return h;
  for (let a = 0; a < PROBE_CAP; a++) {
    const p = f.densifier.probes[h * PROBE_CAP + a]!;
    if (raw[p]! >= 0) return p;
  }
  for (let i = 1; i <= f.numHashes; i++) {
    const p = (h + i) % f.numHashes;
    if (raw[p]! >= 0) return p;
  }
  return -1;
}

function hash(f: Dwta, x: Float32Array): Int32Array {
  const out = new Int32Array(f.numHashes);
  f.hashDenseRow(x, 0, out, 0);
  return out;
}

test('dwta: codes equal a naive oracle (max over non-zeros, ties first, then probing densification)', () => {
  const rng = new Rng(1);
  const f = new Dwta({ dim: 300, numHashes: 120, seed: 4, binSize: 8 });
  for (const zeroFrac of [0, 0.5, 0.9, 0.98, 0.995]) {
    for (let r = 0; r < 10; r++) {
      const x = Float32Array.from({ length: 300 }, () => (rng.nextFloat() < zeroFrac ? 0 : rng.nextInt(9) - 4));
      const raw = naiveRaw(f, x);
      const codes = hash(f, x);
      const any = raw.some((c) => c >= 0);
      for (let h = 0; h < f.numHashes; h++) {
        const expect = any ? raw[naiveSource(f, raw, h)]! : EMPTY_INPUT_CODE;
        assert.equal(codes[h], expect, `zeroFrac ${zeroFrac}, bin ${h}`);
      }
    }
  }
});

test('dwta: zero entries never win, negative non-zeros do', () => {
  const f = new Dwta({ dim: 8, numHashes: 1, seed: 1, binSize: 8 });
  const x = new Float32Array(8).fill(0);
  const target = f.coords[5]!;
  x[target] = -3; // the only non-zero of the bin: it wins over the seven zeros
  assert.equal(hash(f, x)[0], 5);
});

test('dwta: densification fills every code from the few non-empty bins, and borrowing depends on the input', () => {
  const dim = 4000;
  const f = new Dwta({ dim, numHashes: 200, seed: 7, binSize: 8 });
  // non-zeros only in bin 17: every code is bin 17's code, whatever position wins
  for (let p = 0; p < 8; p++) {
    const x = new Float32Array(dim);
    x[f.coords[17 * 8 + p]!] = 1;
    const codes = hash(f, x);
    assert.ok(codes.every((c) => c === p), `winner at ${p}: all codes should follow it`);
  }
  // three non-empty bins with distinct winners 2, 5, 7: every code is one of them, all three are
  // borrowed, and the empty bins do not all borrow from the same source
  const x = new Float32Array(dim);
  const bins = [3, 90, 150];
  const winners = [2, 5, 7];
  for (let i = 0; i < 3; i++) x[f.coords[bins[i]! * 8 + winners[i]!]!] = 1 + i;
  // (dim > numHashes * binSize: each coordinate lies in one bin only)
  const raw = naiveRaw(f, x);
  const nonEmpty = raw.map((c, h) => (c >= 0 ? h : -1)).filter((h) => h >= 0);
  assert.deepEqual(nonEmpty, bins);
  const codes = hash(f, x);
  const counts = new Map<number, number>();
  for (const c of codes) counts.set(c, (counts.get(c) ?? 0) + 1);
  assert.deepEqual([...counts.keys()].sort((p, q) => p - q), winners, 'every code is the code of a non-empty bin, and all are borrowed');
  for (const n of counts.values()) assert.ok(n > 20, 'each source should be borrowed by many bins');
  // Same non-empty bins, winners permuted (2,5,7) -> (7,2,5): every empty bin keeps its source
  // bin (the probing depends on the non-empty set only), so its code follows the permutation.
  const y = new Float32Array(dim);
  const perm = new Map([[2, 7], [5, 2], [7, 5]]);
  for (let i = 0; i < 3; i++) y[f.coords[bins[i]! * 8 + perm.get(winners[i]!)!]!] = 1 + i;
  const codesY = hash(f, y);
  for (let h = 0; h < f.numHashes; h++) assert.equal(codesY[h], perm.get(codes[h]!), `bin ${h}`);
  // Other non-empty bins with the same winners: the empty bins borrow from elsewhere.
  const z = new Float32Array(dim);
  const binsZ = [40, 41, 120];
  for (let i = 0; i < 3; i++) z[f.coords[binsZ[i]! * 8 + winners[i]!]!] = 1 + i;
  const codesZ = hash(f, z);
  let differ = 0;
  for (let h = 0; h < f.numHashes; h++) if (codesZ[h] !== codes[h]) differ++;
  assert.ok(differ > 40, `codes of empty bins must depend on which bins are non-empty (${differ} differ)`);
  // all-zero input: a fixed code everywhere
  assert.ok(hash(f, new Float32Array(dim)).every((c) => c === EMPTY_INPUT_CODE));
});

test('dwta: probing sequences are seeded, fixed, and never probe the bin itself', () => {
  const a = new Dwta({ dim: 100, numHashes: 50, seed: 3 });
  const b = new Dwta({ dim: 100, numHashes: 50, seed: 3 });
  const c = new Dwta({ dim: 100, numHashes: 50, seed: 4 });
  assert.deepEqual(a.densifier.probes, b.densifier.probes);
  assert.notDeepEqual(a.densifier.probes, c.densifier.probes);
  for (let h = 0; h < 50; h++) {
    for (let k = 0; k < PROBE_CAP; k++) {
      const p = a.densifier.probes[h * PROBE_CAP + k]!;
      assert.ok(p >= 0 && p < 50 && p !== h);
    }
  }
});

test('dwta: the inverse map lists every (hash, position) slot of each feature exactly once', () => {
  const f = new Dwta({ dim: 1000, numHashes: 300, seed: 2, binSize: 8 });
  assert.equal(f.invPtr[1000], 300 * 8);
  const seen = new Uint8Array(300 * 8);
  for (let feat = 0; feat < 1000; feat++) {
    for (let j = f.invPtr[feat]!; j < f.invPtr[feat + 1]!; j++) {
      const s = f.invSlots[j]!;
      assert.equal(f.coords[s], feat);
      seen[s]++;
    }
  }
  assert.ok(seen.every((v) => v === 1));
});

test('dwta: sparse rows in the Amazon-670K input dimension hash like their dense form', () => {
  const dim = 135909;
  const f = new Dwta({ dim, numHashes: 300, seed: 11, binSize: 8 });
  const rng = new Rng(5);
  const x = new Float32Array(dim);
  const a = new Int32Array(300);
  const b = new Int32Array(300);
  for (let r = 0; r < 20; r++) {
    const nnz = r < 10 ? 75 : 3000;
    const idx = new Int32Array(nnz);
    const val = new Float32Array(nnz);
    const used = new Set<number>();
    for (let k = 0; k < nnz; k++) {
      let i = rng.nextInt(dim);
      while (used.has(i)) i = rng.nextInt(dim);
      used.add(i);
      idx[k] = i;
      val[k] = rng.nextInt(4) + 1; // ties between non-zeros
      x[i] = val[k]!;
    }
    f.hashDenseRow(x, 0, a, 0);
    f.hashSparseRow(idx, val, 0, nnz, b, 0);
    assert.deepEqual(b, a);
    for (const i of idx) x[i] = 0;
  }
});

test('densifier: the probing path and the inverse-map path give the oracle result for any number of non-empty bins', () => {
  const rng = new Rng(12);
  for (const H of [1, 2, 7, 64, 300]) {
    const d = new Densifier('test', H, new Rng(H));
    const raw = new Int32Array(H);
    const out = new Int32Array(H + 2);
    for (let r = 0; r < 60; r++) {
      const nonEmptyTarget = r % 4 === 0 ? H : rng.nextInt(Math.max(1, Math.floor((H * (r % 3)) / 4)) + 1);
      raw.fill(-1);
      let nonEmpty = 0;
      for (let k = 0; k < nonEmptyTarget; k++) {
        const h = rng.nextInt(H);
        if (raw[h]! < 0) nonEmpty++;
        raw[h] = rng.nextInt(8);
      }
      d.run(raw, nonEmpty, out, 2);
      for (let h = 0; h < H; h++) {
        let expect: number;
        if (nonEmpty === 0) expect = EMPTY_INPUT_CODE;
        else if (raw[h]! >= 0) expect = raw[h]!;
        else {
          expect = -1;
          for (let a = 0; a < PROBE_CAP && expect < 0; a++) expect = raw[d.probes[h * PROBE_CAP + a]!]!;
          for (let i = 1; i <= H && expect < 0; i++) expect = raw[(h + i) % H]!;
        }
        assert.equal(out[2 + h], expect, `H ${H}, ${nonEmpty} non-empty, bin ${h}`);
      }
    }
  }
});
