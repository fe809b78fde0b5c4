import { test } from 'node:test';
import assert from 'node:assert/strict';
import { combineCodes, LshTables, type LshTablesParams } from '../src/tables/tables.js';
import { selectTopByVotes, sortRange, selectSmallest } from '../src/tables/select.js';
import { QueryScratch, queryUnion, queryVotes, topByVotes } from '../src/tables/query.js';
import { Arena } from '../src/memory/arena.js';
import { assertViewOf, jsKernels, loadWasmKernels } from '../src/kernels/index.js';
import { ConfigError } from '../src/util/errors.js';
import { Rng } from '../src/util/rng.js';

function params(o: Partial<LshTablesParams> = {}): LshTablesParams {
  return { L: 4, K: 2, bitsPerHash: 3, rangePow: 6, bucketSize: 1000, insertion: 'fifo', capacity: 500, seed: 1, ...o };
}

/** Random codes for n items: (n, K*L) row-major, each in [0, 2^bits). */
function randomCodes(rng: Rng, n: number, KL: number, bits: number): Int32Array {
  return Int32Array.from({ length: n * KL }, () => rng.nextInt(2 ** bits));
}

function iota(n: number): Int32Array {
  return Int32Array.from({ length: n }, (_, i) => i);
}

test('combineCodes: exact concatenation with shifts of bitsPerHash when K*bits <= rangePow', () => {
  const c = Int32Array.of(9, 1, 2, 3, 9);
  assert.equal(combineCodes(c, 1, 3, 3, 9), (1 << 6) | (2 << 3) | 3);
  assert.equal(combineCodes(c, 1, 3, 3, 18), (1 << 6) | (2 << 3) | 3);
  // all 2^(K*bits) tuples give distinct indices
  const seen = new Set<number>();
  const t = new Int32Array(3);
  for (let a = 0; a < 8; a++) for (let b = 0; b < 8; b++) for (let d = 0; d < 8; d++) {
    t[0] = a;
    t[1] = b;
    t[2] = d;
    seen.add(combineCodes(t, 0, 3, 3, 9));
  }
  assert.equal(seen.size, 512);
});

test('combineCodes: folded by a mix when K*bits > rangePow, in range and spread over all buckets', () => {
  const rng = new Rng(3);
  const K = 6;
  const bits = 8; // 48 bits folded to 10
  const rangePow = 10;
  const hits = new Int32Array(1 << rangePow);
  const c = new Int32Array(K);
  const n = 200000;
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < K; k++) c[k] = rng.nextInt(256);
    const b = combineCodes(c, 0, K, bits, rangePow);
    assert.ok(b >= 0 && b < 1 << rangePow);
    hits[b]++;
  }
  // chi-square against uniform, 1023 degrees of freedom: mean 1023, sd ~45
  const e = n / (1 << rangePow);
  let chi = 0;
  for (const h of hits) chi += ((h - e) * (h - e)) / e;
  assert.ok(chi < 1023 + 6 * 45, `chi-square ${chi.toFixed(0)}`);
  // equal tuples, equal buckets; one changed code changes the bucket (almost always)
  c.set([1, 2, 3, 4, 5, 6]);
  const b0 = combineCodes(c, 0, K, bits, rangePow);
  assert.equal(combineCodes(Int32Array.of(0, 1, 2, 3, 4, 5, 6), 1, K, bits, rangePow), b0);
});

test('queryUnion: no duplicates, in table order, equal to the brute-force union of matching buckets', () => {
  const rng = new Rng(1);
  const p = params({ L: 5, K: 2, bitsPerHash: 2, rangePow: 4, capacity: 300 });
  const KL = p.K * p.L;
  const t = new LshTables(p);
  const codes = randomCodes(rng, 300, KL, 2);
  t.rebuild(300, iota(300), codes);
  const s = new QueryScratch(t);
  const out = new Int32Array(300);
  for (let q = 0; q < 50; q++) {
    const qc = randomCodes(rng, 1, KL, 2);
    const n = queryUnion(t, qc, 0, s, out, 0, 300);
    const got = Array.from(out.subarray(0, n));
    assert.equal(new Set(got).size, n, 'duplicates');
    // brute force: items sharing a bucket with the query in any table, listed table by table
    const expect: number[] = [];
    for (let tb = 0; tb < p.L; tb++) {
      const qb = t.bucketIndex(qc, 0, tb);
      for (let i = 0; i < 300; i++) if (t.bucketIndex(codes, i * KL, tb) === qb && !expect.includes(i)) expect.push(i);
    }
    assert.deepEqual([...got].sort((a, b) => a - b), [...expect].sort((a, b) => a - b));
    // table order: the first items come from table 0's bucket
    const first = t.bucketCount(0, t.bucketIndex(qc, 0, 0));
    assert.deepEqual(new Set(got.slice(0, first)), new Set(expect.slice(0, first)));
    // maxOut truncates to a prefix
    const m = queryUnion(t, qc, 0, s, out, 5, 7);
    assert.equal(m, Math.min(7, n));
    assert.deepEqual(Array.from(out.subarray(5, 5 + m)), got.slice(0, m));
  }
});

test('queryVotes: each candidate once, with the number of tables it shares a bucket with the query', () => {
  const rng = new Rng(2);
  const p = params({ L: 8, K: 1, bitsPerHash: 2, rangePow: 2, capacity: 200 });
  const t = new LshTables(p);
  const codes = randomCodes(rng, 200, 8, 2);
  t.rebuild(200, iota(200), codes);
  const s = new QueryScratch(t);
  const ids = new Int32Array(t.maxCandidates);
  const votes = new Int32Array(t.maxCandidates);
  for (let q = 0; q < 30; q++) {
    const qc = randomCodes(rng, 1, 8, 2);
    const n = queryVotes(t, qc, 0, s, ids, votes);
    const got = new Map<number, number>();
    for (let i = 0; i < n; i++) {
      assert.ok(!got.has(ids[i]!));
      got.set(ids[i]!, votes[i]!);
    }
    const expect = new Map<number, number>();
    for (let i = 0; i < 200; i++) {
      let v = 0;
      for (let tb = 0; tb < 8; tb++) if (codes[i * 8 + tb] === qc[tb]) v++;
      if (v > 0) expect.set(i, v);
    }
    assert.deepEqual(got, expect);
  }
});

test('topByVotes: the cap candidates with most votes, ties to the smaller id, votes descending', () => {
  const rng = new Rng(3);
  const p = params({ L: 6, K: 1, bitsPerHash: 2, rangePow: 2, capacity: 150 });
  const t = new LshTables(p);
  const codes = randomCodes(rng, 150, 6, 2);
  t.rebuild(150, iota(150), codes);
  const s = new QueryScratch(t);
  const ids = new Int32Array(150);
  const votes = new Int32Array(150);
  const out = new Int32Array(150);
  const outVotes = new Int32Array(150);
  for (let q = 0; q < 40; q++) {
    const qc = randomCodes(rng, 1, 6, 2);
    const n = queryVotes(t, qc, 0, s, ids, votes);
    const oracle = Array.from({ length: n }, (_, i) => [ids[i]!, votes[i]!] as const).sort((a, b) => b[1] - a[1] || a[0] - b[0]);
    for (const cap of [0, 1, 5, 17, 60, 150]) {
      const m = topByVotes(t, qc, 0, s, cap, out, outVotes);
      assert.equal(m, Math.min(cap, n));
      const want = oracle.slice(0, m);
      assert.deepEqual(new Set(out.subarray(0, m)), new Set(want.map((w) => w[0])), `cap ${cap}`);
      for (let i = 0; i < m; i++) {
        assert.equal(outVotes[i], votes[Array.from(ids.subarray(0, n)).indexOf(out[i]!)]);
        if (i > 0) assert.ok(outVotes[i]! <= outVotes[i - 1]!);
      }
    }
  }
});

test('topByVotes: dense counting and sparse stamping select the same items with the same votes', () => {
  const rng = new Rng(21);
  for (const [L, K, bits, rangePow, capacity, bucketSize] of [[6, 1, 2, 2, 150, 150], [20, 3, 1, 3, 2000, 64], [40, 2, 2, 4, 5000, 5000]] as const) {
    const t = new LshTables(params({ L, K, bitsPerHash: bits, rangePow, capacity, bucketSize }));
    t.rebuild(capacity, iota(capacity), randomCodes(rng, capacity, L * K, bits));
    const s = new QueryScratch(t);
    const a = new Int32Array(capacity);
    const av = new Int32Array(capacity);
    const b = new Int32Array(capacity);
    const bv = new Int32Array(capacity);
    for (let q = 0; q < 30; q++) {
      const qc = randomCodes(rng, 1, L * K, bits);
      for (const cap of [1, 7, 100, capacity]) {
        t.tally = 'dense';
        const m = topByVotes(t, qc, 0, s, cap, a, av);
        t.tally = 'sparse';
        const n = topByVotes(t, qc, 0, s, cap, b, bv);
        assert.equal(m, n, `L ${L} cap ${cap}: sizes`);
        const key = (ids: Int32Array, v: Int32Array, k: number) => Array.from({ length: k }, (_, i) => `${ids[i]}:${v[i]}`).sort();
        assert.deepEqual(key(a, av, m), key(b, bv, n), `L ${L} cap ${cap}: items and votes`);
        for (let i = 1; i < m; i++) assert.ok(av[i]! <= av[i - 1]!, 'votes descending');
      }
    }
  }
});

test('topByVotes dense: selecting from the items collected above the last cut gives the same ordered output as the full second pass', () => {
  const rng = new Rng(33);
  const L = 30;
  const capacity = 3000;
  const t = new LshTables(params({ L, K: 2, bitsPerHash: 1, rangePow: 2, capacity, bucketSize: capacity }));
  t.rebuild(capacity, iota(capacity), randomCodes(rng, capacity, L * 2, 1));
  t.tally = 'dense';
  const s = new QueryScratch(t);
  const a = new Int32Array(capacity);
  const av = new Int32Array(capacity);
  const b = new Int32Array(capacity);
  const bv = new Int32Array(capacity);
  let fast = 0;
  let full = 0;
  for (let q = 0; q < 60; q++) {
    const qc = randomCodes(rng, 1, L * 2, 1);
    const cap = [5, 80, 700, 2500][q % 4]!;
    // lastCut 0 collects every item with a vote (the collected path always applies)
    s.lastCut = 0;
    const m = topByVotes(t, qc, 0, s, cap, a, av);
    const vt = s.lastCut;
    // a last cut above this query's forces the full pass
    s.lastCut = vt + 2;
    const n = topByVotes(t, qc, 0, s, cap, b, bv);
    assert.equal(n, m);
    assert.deepEqual(b.subarray(0, n), a.subarray(0, m), `query ${q} cap ${cap}: same ids in the same order`);
    assert.deepEqual(bv.subarray(0, n), av.subarray(0, m));
    // a last cut just above (lo = vt) still takes the collected path
    s.lastCut = vt + 1;
    topByVotes(t, qc, 0, s, cap, b, bv);
    assert.deepEqual(b.subarray(0, m), a.subarray(0, m));
    if (vt >= 1) fast++;
    else full++;
  }
  assert.ok(fast > 30, `${fast} queries with a cut, ${full} without`);
});

test('topByVotes dense: tables in an arena count votes with its WebAssembly kernels, with the same ordered output as plain tables', () => {
  const rng = new Rng(35);
  for (const [L, capacity, bucketSize] of [[30, 3001, 3001], [150, 1999, 64]] as const) {
    const arena = new Arena();
    const wasm = loadWasmKernels(arena.memory, { checkViews: true });
    const p = params({ L, K: 2, bitsPerHash: 1, rangePow: 2, capacity, bucketSize });
    const views = arena.carve([LshTables.declare('t', p), QueryScratch.declare('q', { L, capacity, maxCandidates: Math.min(capacity, L * bucketSize) })]);
    const inArena = new LshTables(p, { views: views.block('t'), kernels: wasm });
    const plain = new LshTables(p);
    inArena.tally = 'dense';
    plain.tally = 'dense';
    const codes = randomCodes(rng, capacity, L * 2, 1);
    inArena.rebuild(capacity, iota(capacity), codes);
    plain.rebuild(capacity, iota(capacity), codes);
    const s = new QueryScratch(inArena, views.block('q'));
    // in the arena's memory (a view made before the memory grew has another buffer object: assertViewOf probes)
    assert.ok(s.memory === inArena.memory);
    for (const a of [s.tally, s.cand, s.top, s.topVotes]) assertViewOf(arena.memory, a);
    const ps = new QueryScratch(plain);
    const a = new Int32Array(capacity);
    const av = new Int32Array(capacity);
    const b = new Int32Array(capacity);
    const bv = new Int32Array(capacity);
    for (let q = 0; q < 40; q++) {
      const qc = randomCodes(rng, 1, L * 2, 1);
      const cap = [5, 80, 700, capacity][q % 4]!;
      const m = topByVotes(inArena, qc, 0, s, cap, a, av);
      const n = topByVotes(plain, qc, 0, ps, cap, b, bv);
      assert.equal(m, n);
      assert.deepEqual(a.subarray(0, m), b.subarray(0, n), `L ${L} query ${q} cap ${cap}: same ids in the same order`);
      assert.deepEqual(av.subarray(0, m), bv.subarray(0, n));
      assert.equal(s.lastCut, ps.lastCut);
    }
  }
});

test('selectTopByVotes / selectSmallest / sortRange agree with a full sort', () => {
  const rng = new Rng(4);
  const hist = new Int32Array(12);
  for (let r = 0; r < 200; r++) {
    const n = rng.nextInt(300);
    const maxVote = 10;
    const idSet = new Set<number>();
    while (idSet.size < n) idSet.add(rng.nextInt(100000));
    const ids = Int32Array.from(idSet);
    const votes = Int32Array.from(ids, () => 1 + Math.min(maxVote - 1, Math.floor(-Math.log(1 - rng.nextFloat()) * 1.5)));
    const cap = rng.nextInt(n + 5);
    const out = new Int32Array(cap + 1);
    const ov = new Int32Array(cap + 1);
    const m = selectTopByVotes(ids, votes, n, cap, maxVote, hist, new Int32Array(n), out, 1, ov);
    const oracle = Array.from(ids, (id, i) => [id, votes[i]!] as const).sort((a, b) => b[1] - a[1] || a[0] - b[0]).slice(0, cap);
    assert.equal(m, oracle.length);
    assert.deepEqual(new Set(out.subarray(1, 1 + m)), new Set(oracle.map((o) => o[0])));
    assert.deepEqual(Array.from(ov.subarray(0, m)), oracle.map((o) => o[1]));
    // the two helpers
    const a = Int32Array.from({ length: n }, () => rng.nextInt(50));
    const sorted = [...a].sort((x, y) => x - y);
    const k = rng.nextInt(n + 1);
    const b = a.slice();
    selectSmallest(b, n, k);
    assert.deepEqual([...b.subarray(0, k)].sort((x, y) => x - y), sorted.slice(0, k));
    sortRange(a, 0, n);
    assert.deepEqual(Array.from(a), sorted);
  }
});

test('FIFO keeps exactly the bucketSize highest ids of a bucket (the newest, in the id order of insertion), however the keys were set', () => {
  const p = params({ L: 2, K: 1, bitsPerHash: 2, rangePow: 2, bucketSize: 5, capacity: 100 });
  const t = new LshTables(p);
  // items 0..29 all in bucket 3 of table 0; in table 1 even items in bucket 0, odd in bucket 1
  const codes = new Int32Array(60);
  for (let i = 0; i < 30; i++) {
    codes[2 * i] = 3;
    codes[2 * i + 1] = i & 1;
  }
  t.clear();
  // keys set in a scrambled id order, over several calls: the tables depend on the keys alone
  const order = Int32Array.from({ length: 30 }, (_, i) => (i * 7) % 30);
  const ordCodes = new Int32Array(60);
  for (let i = 0; i < 30; i++) ordCodes.set(codes.subarray(2 * order[i]!, 2 * order[i]! + 2), 2 * i);
  t.setKeys(10, order.subarray(0, 10), ordCodes.subarray(0, 20));
  t.setKeys(20, order.subarray(10), ordCodes.subarray(20));
  t.commit();
  const buf = new Int32Array(100);
  const n = t.readBucket(0, 3, buf);
  assert.deepEqual(Array.from(buf.subarray(0, n)), [25, 26, 27, 28, 29]);
  assert.deepEqual(Array.from(buf.subarray(0, t.readBucket(1, 0, buf))), [20, 22, 24, 26, 28]);
  assert.deepEqual(Array.from(buf.subarray(0, t.readBucket(1, 1, buf))), [21, 23, 25, 27, 29]);
  assert.equal(t.bucketCount(0, 0), 0);
  // the same keys set in id order give the same tables
  const u = new LshTables(p);
  u.rebuild(30, iota(30), codes);
  assert.deepEqual(u.offsets, t.offsets);
  assert.deepEqual(u.entries, t.entries);
});

test('reservoir keeps a uniform sample of each bucket (Algorithm R, replacement probability bucketSize/count)', () => {
  // 40 items into one bucket of size 8, over many seeds: each item is kept with probability 8/40.
  const items = 40;
  const S = 8;
  const trials = 3000;
  const kept = new Float64Array(items);
  const codes = new Int32Array(items); // K = L = 1, every code 0 -> bucket 0
  const ids = iota(items);
  const buf = new Int32Array(S);
  for (let seed = 0; seed < trials; seed++) {
    const t = new LshTables(params({ L: 1, K: 1, bitsPerHash: 1, rangePow: 1, bucketSize: S, insertion: 'reservoir', capacity: items, seed }));
    t.rebuild(items, ids, codes);
    const n = t.readBucket(0, 0, buf);
    assert.equal(n, S);
    assert.equal(new Set(buf).size, S);
    for (const id of buf) kept[id]++;
  }
  const p = S / items;
  const se = Math.sqrt((p * (1 - p)) / trials);
  let chi = 0;
  for (let i = 0; i < items; i++) {
    const f = kept[i]! / trials;
    assert.ok(Math.abs(f - p) < 4.5 * se, `item ${i} kept ${f.toFixed(3)}, expected ${p} +- ${(4.5 * se).toFixed(3)}`);
    chi += ((kept[i]! - p * trials) ** 2) / (p * trials);
  }
  // 39 degrees of freedom (counts are slightly negatively correlated, which only lowers chi): 99.99% quantile ~ 80
  assert.ok(chi < 80, `chi-square ${chi.toFixed(1)}`);

  // The reference's rule (replace a random slot with probability 1/count) fails the same test.
  // Exact inclusion under it: item i <= S survives every later arrival j with probability
  // 1 - 1/(j S); item i > S must first get in (1/i) and then survive. Item 1: ~0.83, not 0.2.
  const refInclusion = (i: number): number => {
    let pr = i <= S ? 1 : 1 / i;
    for (let j = Math.max(i, S) + 1; j <= items; j++) pr *= 1 - 1 / (j * S);
    return pr;
  };
  assert.ok(refInclusion(1) > 0.8 && refInclusion(items) < 0.03);
  let failing = 0;
  for (let i = 1; i <= items; i++) if (Math.abs(refInclusion(i) - p) >= 4.5 * se) failing++;
  assert.ok(failing > 30, `${failing} items would fail under the 1/count rule`);
  // ... and a tiny simulation of that rule agrees with the formula
  const rng = new Rng(77);
  const simKept = new Float64Array(items);
  const res = new Int32Array(S);
  for (let trial = 0; trial < trials; trial++) {
    for (let c = 1; c <= items; c++) {
      if (c <= S) res[c - 1] = c - 1;
      else if (rng.nextInt(c) === 0) res[rng.nextInt(S)] = c - 1;
    }
    for (const id of res) simKept[id]++;
  }
  assert.ok(Math.abs(simKept[0]! / trials - refInclusion(1)) < 0.05);
  assert.ok(Math.abs(simKept[0]! / trials - p) > 0.5);
});

test('reservoir: re-committing draws a new sample; FIFO and reservoir agree when nothing overflows', () => {
  const rng = new Rng(5);
  const codes = randomCodes(rng, 200, 3, 3);
  const a = new LshTables(params({ L: 3, K: 1, bitsPerHash: 3, rangePow: 3, bucketSize: 6, insertion: 'reservoir', capacity: 200 }));
  a.rebuild(200, iota(200), codes);
  const first = a.entries.slice();
  a.commit();
  assert.notDeepEqual(a.entries, first);
  const big = { L: 3, K: 1, bitsPerHash: 3, rangePow: 3, bucketSize: 200, capacity: 200 };
  const f = new LshTables(params({ ...big, insertion: 'fifo' }));
  const r = new LshTables(params({ ...big, insertion: 'reservoir' }));
  f.rebuild(200, iota(200), codes);
  r.rebuild(200, iota(200), codes);
  assert.deepEqual(r.offsets, f.offsets);
  assert.deepEqual(r.entries, f.entries);
});

test('commitTable per table (any order) equals commit(); queries see committed data only', () => {
  const rng = new Rng(6);
  const p = params({ L: 4, K: 2, bitsPerHash: 2, rangePow: 4, bucketSize: 3, insertion: 'reservoir', capacity: 300 });
  const codes = randomCodes(rng, 300, 8, 2);
  const a = new LshTables(p);
  const b = new LshTables(p);
  a.rebuild(300, iota(300), codes);
  b.clear();
  b.setKeys(300, iota(300), codes);
  const own = new Int32Array(16);
  for (const t of [3, 1, 0, 2]) b.commitTable(t, own);
  assert.deepEqual(b.offsets, a.offsets);
  assert.deepEqual(b.entries, a.entries);

  const t = new LshTables(params({ L: 1, K: 1, bitsPerHash: 2, rangePow: 2, capacity: 10 }));
  const s = new QueryScratch(t);
  const out = new Int32Array(10);
  const q = Int32Array.of(2);
  t.setKeys(3, Int32Array.of(0, 1, 2), Int32Array.of(2, 2, 1));
  assert.equal(queryUnion(t, q, 0, s, out, 0, 10), 0, 'keys set, not committed');
  t.commit();
  assert.deepEqual(Array.from(out.subarray(0, queryUnion(t, q, 0, s, out, 0, 10))), [0, 1]);
  t.clear();
  t.setKeys(1, Int32Array.of(5), Int32Array.of(2));
  assert.deepEqual(Array.from(out.subarray(0, queryUnion(t, q, 0, s, out, 0, 10))), [0, 1], 'clear + setKeys without commit: old tables');
  t.commit();
  assert.deepEqual(Array.from(out.subarray(0, queryUnion(t, q, 0, s, out, 0, 10))), [5]);
});

test('counters count and reset', () => {
  const t = new LshTables(params({ L: 2, K: 1, bitsPerHash: 2, rangePow: 2, bucketSize: 4, capacity: 20 }));
  // table 0: 10 items in bucket 0 (6 dropped), 2 in bucket 1; table 1: 12 items in 4 buckets of 3
  const codes = new Int32Array(24);
  for (let i = 0; i < 12; i++) {
    codes[2 * i] = i < 10 ? 0 : 1;
    codes[2 * i + 1] = i % 4;
  }
  t.rebuild(12, iota(12), codes);
  assert.equal(t.stats.inserts, 24);
  assert.equal(t.stats.insertsDropped, 6);
  assert.equal(t.stats.overflowingBuckets, 1);
  const s = new QueryScratch(t);
  const out = new Int32Array(20);
  // table 0 bucket 0 kept the highest 4 ids (6..9); table 1 bucket 0 holds 0, 4, 8
  const n1 = queryUnion(t, Int32Array.of(0, 0), 0, s, out, 0, 20);
  const n2 = queryUnion(t, Int32Array.of(1, 1), 0, s, out, 0, 20);
  assert.equal(t.stats.queries, 2);
  assert.equal(t.stats.candidatesReturned, n1 + n2);
  assert.equal(n1, 6);
  t.resetStats();
  assert.deepEqual(t.stats, { inserts: 0, insertsDropped: 0, overflowingBuckets: 0, queries: 0, candidatesReturned: 0 });
});

test('memory for the Amazon-670K configuration is far below the reference preallocation', () => {
  const p = params({ L: 50, K: 6, bitsPerHash: 3, rangePow: 18, bucketSize: 128, capacity: 670091 });
  const reference = 50 * 2 ** 18 * 128 * 4; // 6.7 GiB of int buckets
  const est = LshTables.estimateMemoryBytes(p);
  const t = new LshTables(p);
  // the state, and the default commit scratch (a count a bucket, 3 stats)
  assert.equal(t.keys.byteLength + t.offsets.byteLength + t.entries.byteLength + t.epochs.byteLength + 4 * (t.numBuckets + 3), est);
  assert.ok(est < 400e6, `${(est / 1e6).toFixed(0)} MB`);
  assert.ok(est * 15 < reference);
});

test('storage is the declared views, in the declared order (e.g. in a model\'s memory)', () => {
  const arena = new Arena();
  const p = params({ L: 3, K: 2, bitsPerHash: 2, rangePow: 4, bucketSize: 5, capacity: 50 });
  const views = arena.carve([LshTables.declare('fc.1.tables', p)]);
  assert.deepEqual(views.placement.views.map((v) => [v.name, v.shape.join('x'), v.persist]), [
    ['fc.1.tables.keys', '3x50', true], ['fc.1.tables.offsets', '3x17', true], ['fc.1.tables.entries', '3x50', true], ['fc.1.tables.epochs', '3', true],
    ['fc.1.tables.count', '16', false], ['fc.1.tables.stats', '3', false],
  ]);
  const t = new LshTables(p, { views: views.block('fc.1.tables'), kernels: jsKernels });
  t.clear();
  assert.ok(t.offsets.buffer === arena.memory.buffer);
  const plain = new LshTables(p);
  const rng = new Rng(8);
  const codes = randomCodes(rng, 50, 6, 2);
  t.rebuild(50, iota(50), codes);
  plain.rebuild(50, iota(50), codes);
  assert.deepEqual(Array.from(t.offsets), Array.from(plain.offsets));
  assert.deepEqual(Array.from(t.entries), Array.from(plain.entries));
});

test('bad parameters and inputs throw errors that name the field', () => {
  const cases: [Partial<LshTablesParams>, RegExp][] = [
    [{ L: 0 }, /L must be an integer >= 1/],
    [{ K: 1.5 }, /K must be/],
    [{ bitsPerHash: 31 }, /bitsPerHash must be an integer in \[1, 30\]/],
    [{ rangePow: 29 }, /rangePow must be an integer in \[1, 28\]/],
    [{ bucketSize: 0 }, /bucketSize/],
    [{ insertion: 'lru' as 'fifo' }, /insertion must be 'fifo' or 'reservoir'/],
    [{ capacity: -1 }, /capacity/],
    [{ seed: 0.5 }, /seed/],
    [{ L: 1024, rangePow: 24 }, /L \* \(2\^rangePow \+ 1\) must be below 2\^31 \(L = 1024, rangePow = 24\), found 17179870208/],
  ];
  for (const [o, re] of cases) assert.throws(() => new LshTables(params(o)), (e: unknown) => e instanceof ConfigError && re.test(e.message));
  const t = new LshTables(params({ L: 1, K: 1, capacity: 5 }));
  assert.throws(() => t.setKeys(1, Int32Array.of(5), Int32Array.of(0)), /ids\[0\] = 5 is outside \[0, capacity = 5\)/);
  assert.throws(() => t.setKeys(2, Int32Array.of(0, 1), Int32Array.of(0)), /codes holds 1 values/);
  const small = new QueryScratch(new LshTables(params({ L: 1, K: 1, capacity: 2 })));
  assert.throws(() => queryUnion(t, Int32Array.of(0), 0, small, new Int32Array(4), 0, 4), /QueryScratch was made for smaller tables/);
});
