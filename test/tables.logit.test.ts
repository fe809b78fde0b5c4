// topByLogit (activeSet.queryRank 'logit'): the candidates ranked by the logit their votes
// estimate, against a brute-force oracle over queryVotes; the (score, id) selection against a sort.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LshTables, type LshTablesParams } from '../src/tables/tables.js';
import { selectTopByScore } from '../src/tables/select.js';
import { QueryScratch, queryVotes, topByLogit, topByLogitAfterVotes, topByVotes } from '../src/tables/query.js';
import { Arena } from '../src/memory/arena.js';
import { loadWasmKernels } from '../src/kernels/index.js';
import { Rng } from '../src/util/rng.js';

function params(o: Partial<LshTablesParams> = {}): LshTablesParams {
  return { L: 12, K: 3, bitsPerHash: 1, rangePow: 3, bucketSize: 4000, insertion: 'fifo', capacity: 2000, seed: 1, ...o };
}

const iota = (n: number) => Int32Array.from({ length: n }, (_, i) => i);
const randomCodes = (rng: Rng, n: number, KL: number) => Int32Array.from({ length: n * KL }, () => rng.nextInt(2));

test('selectTopByScore: the cap largest scores, ties to the smaller id, ordered like a full sort', () => {
  const rng = new Rng(5);
  for (const n of [0, 1, 2, 17, 100, 1000]) {
    for (const cap of [0, 1, 3, 16, 17, 99, 1000, 2000]) {
      // few distinct scores: many ties
      const scores = Array.from({ length: n }, () => rng.nextInt(n < 20 ? 3 : 40) - 5 + (rng.nextFloat() < 0.1 ? 0.5 : 0));
      const idsIn = Array.from({ length: n }, (_, i) => (i * 7919) % 10007);
      const ids = Int32Array.from(idsIn);
      const score = Float64Array.from(scores);
      const out = new Int32Array(Math.max(1, cap));
      const m = selectTopByScore(ids, score, n, cap, out);
      const want = idsIn.map((id, i) => [scores[i]!, id] as const).sort((a, b) => b[0] - a[0] || a[1] - b[1]).slice(0, cap).map((p) => p[1]);
      assert.equal(m, Math.min(n, cap));
      assert.deepEqual(Array.from(out.subarray(0, m)), want, `n ${n} cap ${cap}`);
    }
  }
});

/** Inference's floor of votes: more than the c = L / 2^K that chance gives, by sqrt(c) (a standard deviation). */
const inferenceFloor = (t: LshTables) => Math.floor(t.L / 2 ** t.K + Math.sqrt(t.L / 2 ** t.K)) + 1;

/**
 * The oracle: every item with at least vMin votes (by default inference's floor), or every voted
 * item where those are fewer than cap, scored rowNorm |x| cos(pi (1 - (v/L)^(1/K))) + bias,
 * sorted; `held` ids left out.
 */
function oracle(t: LshTables, qc: Int32Array, rowNorm: Float32Array, bias: Float32Array, xNorm: number, cap: number, held: number[] = [], vMin = inferenceFloor(t)): number[] {
  const s = new QueryScratch(t);
  const ids = new Int32Array(t.capacity);
  const votes = new Int32Array(t.capacity);
  const n = queryVotes(t, qc, 0, s, ids, votes);
  const free = Array.from({ length: n }, (_, i) => i).filter((i) => !held.includes(ids[i]!));
  const many = free.filter((i) => votes[i]! >= vMin);
  const scored = (many.length >= cap ? many : free).map((i) => {
    const id = ids[i]!;
    const cos = Math.cos(Math.PI * (1 - Math.pow(votes[i]! / t.L, 1 / t.K)));
    return [cos * rowNorm[id]! * xNorm + bias[id]!, id] as const;
  });
  return scored.sort((a, b) => b[0] - a[0] || a[1] - b[1]).slice(0, cap).map((p) => p[1]);
}

test('topByLogit: the voted items with the largest estimated logit, dense and sparse tallies and the WebAssembly kernels alike, skipping the ids held', () => {
  const rng = new Rng(9);
  const p = params();
  const plain = new LshTables(p);
  const arena = new Arena();
  const kernels = loadWasmKernels(arena.memory, { checkViews: true });
  const qShape = { L: p.L, capacity: p.capacity, maxCandidates: p.capacity };
  const views = arena.carve([LshTables.declare('t', p), QueryScratch.declare('q', qShape, true), QueryScratch.declare('q1', qShape, true)]);
  const inMemory = new LshTables(p, { views: views.block('t'), kernels });
  const codes = randomCodes(rng, p.capacity, p.K * p.L);
  plain.rebuild(p.capacity, iota(p.capacity), codes);
  inMemory.rebuild(p.capacity, iota(p.capacity), codes);
  // lengths spread over a factor of 10, biases of either sign: the order differs from the votes'
  // in the tables' memory, where the kernels read them
  const rowNorm = arena.f32(p.capacity);
  const bias = arena.f32(p.capacity);
  for (let i = 0; i < p.capacity; i++) {
    rowNorm[i] = 0.3 + 3 * rng.nextFloat() ** 2;
    bias[i] = rng.nextGaussian() * 0.5;
  }
  const sPlain = new QueryScratch(plain);
  const sMem = new QueryScratch(inMemory, views.block('q'));
  // every item with enough votes scored, in one pass (as before the floor)
  const sOne = new QueryScratch(inMemory, views.block('q1'));
  sOne.onePass = 2 ** 30;
  const out = new Int32Array(p.capacity);
  let differFromVotes = 0;
  for (let q = 0; q < 40; q++) {
    const qc = randomCodes(rng, 1, p.K * p.L);
    const xNorm = 0.5 + 2 * rng.nextFloat();
    for (const cap of [1, 10, 150, p.capacity]) {
      const want = oracle(plain, qc, rowNorm, bias, xNorm, cap);
      for (const [t, s, tally] of [[plain, sPlain, 'dense'], [plain, sPlain, 'sparse'], [inMemory, sMem, 'dense'], [inMemory, sMem, 'sparse'], [inMemory, sOne, 'dense']] as const) {
        t.tally = tally;
        const m = topByLogit(t, qc, 0, s, cap, rowNorm, bias, xNorm, out, 0, out);
        // unordered: the caller scores them
        assert.deepEqual(Array.from(out.subarray(0, m)).sort((a, b) => a - b), want.slice().sort((a, b) => a - b), `query ${q} cap ${cap} ${tally}${t === inMemory ? ' (kernels)' : ''}${s === sOne ? ' (one pass)' : ''}`);
      }
      // the held ids are passed over: the best cap of the others, dense (kernels) and sparse
      const held = Int32Array.from(want.slice(0, 3));
      const rest = oracle(plain, qc, rowNorm, bias, xNorm, cap, Array.from(held));
      for (const [t, s, tally] of [[inMemory, sMem, 'dense'], [plain, sPlain, 'sparse']] as const) {
        t.tally = tally;
        const m = topByLogit(t, qc, 0, s, cap, rowNorm, bias, xNorm, held, held.length, out);
        assert.deepEqual(Array.from(out.subarray(0, m)).sort((a, b) => a - b), rest.slice().sort((a, b) => a - b), `query ${q} cap ${cap} ${tally}, holding ${held.join(', ')}`);
      }
      if (cap === 10) {
        const ids = new Int32Array(p.capacity);
        const votes = new Int32Array(p.capacity);
        const n = queryVotes(plain, qc, 0, sPlain, ids, votes);
        const byVotes = Array.from({ length: n }, (_, i) => [votes[i]!, ids[i]!] as const).sort((a, b) => b[0] - a[0] || a[1] - b[1]).slice(0, cap).map((x) => x[1]);
        if (byVotes.join() !== want.join()) differFromVotes++;
      }
    }
  }
  // the test means something only if the estimate reorders the votes' ranking
  assert.ok(differFromVotes > 20, `the estimate reordered only ${differFromVotes} of 40 queries`);
});

test('topByLogit: one pass, two passes with a floor, from any first band: the same candidates', () => {
  const rng = new Rng(21);
  const p = params({ L: 40, K: 4, capacity: 3000, rangePow: 4 });
  const arena = new Arena();
  const kernels = loadWasmKernels(arena.memory, { checkViews: true });
  const qShape = { L: p.L, capacity: p.capacity, maxCandidates: p.capacity };
  const views = arena.carve([LshTables.declare('t', p), QueryScratch.declare('q', qShape, true)]);
  const t = new LshTables(p, { views: views.block('t'), kernels });
  t.tally = 'dense';
  t.rebuild(p.capacity, iota(p.capacity), randomCodes(rng, p.capacity, p.K * p.L));
  const rowNorm = arena.f32(p.capacity);
  const bias = arena.f32(p.capacity);
  for (let i = 0; i < p.capacity; i++) {
    // rows of like lengths, small biases
    rowNorm[i] = 0.5 + 0.2 * rng.nextFloat();
    bias[i] = rng.nextGaussian() * 0.02;
  }
  const s = new QueryScratch(t, views.block('q'));
  const out = new Int32Array(p.capacity);
  const sets = (m: number) => Array.from(out.subarray(0, m)).sort((a, b) => a - b).join();
  let own = p.L;
  for (let q = 0; q < 30; q++) {
    const qc = randomCodes(rng, 1, p.K * p.L);
    const xNorm = 0.5 + rng.nextFloat();
    for (const cap of [5, 60, 400]) {
      const want = oracle(t, qc, rowNorm, bias, xNorm, cap);
      // one pass; a first band at the top, the bottom, the middle; the scratch's own (where the
      // last query's first pass began)
      const kinds = [[64, 0], [0, p.L], [0, 1], [0, p.L >> 1], [0, -1]] as const;
      for (const [onePass, logitTop] of kinds) {
        s.onePass = onePass;
        s.logitTop = logitTop >= 0 ? logitTop : own;
        const m = topByLogit(t, qc, 0, s, cap, rowNorm, bias, xNorm, out, 0, out);
        if (logitTop < 0) own = s.logitTop;
        assert.equal(sets(m), want.slice().sort((a, b) => a - b).join(), `query ${q} cap ${cap}: one pass ${onePass > 0}, first band ${logitTop}`);
      }
    }
  }
  // after topByVotes (training's first half): the same as topByLogit holding what the votes took,
  // from the count topByVotes left, dense and sparse
  const votesOut = new Int32Array(p.capacity);
  for (let q = 0; q < 30; q++) {
    const qc = randomCodes(rng, 1, p.K * p.L);
    const xNorm = 0.5 + rng.nextFloat();
    for (const tally of ['dense', 'sparse'] as const) {
      t.tally = tally;
      for (const [half, cap] of [[30, 30], [200, 200], [0, 5]] as const) {
        const v = topByVotes(t, qc, 0, s, half, votesOut);
        const want = oracle(t, qc, rowNorm, bias, xNorm, cap, Array.from(votesOut.subarray(0, v)), s.minTrainVotes);
        const m = topByLogitAfterVotes(t, s, v, cap, rowNorm, bias, xNorm, votesOut, v, out);
        assert.equal(sets(m), want.slice().sort((a, b) => a - b).join(), `query ${q} ${tally}: ${half} by votes, ${cap} by estimate`);
      }
    }
  }
  t.tally = 'dense';
  // where L / 2^K rounds to 1, training's estimates read labels of 2 votes or more (inference's
  // floor: 0.63 + 0.79 -> 2 too)
  const p1 = params({ L: 20, K: 5, capacity: 3000, rangePow: 5 });
  const v1 = arena.carve([LshTables.declare('t', p1), QueryScratch.declare('q', { L: p1.L, capacity: p1.capacity, maxCandidates: p1.capacity }, true)]);
  const t1 = new LshTables(p1, { views: v1.block('t'), kernels });
  t1.rebuild(p1.capacity, iota(p1.capacity), randomCodes(rng, p1.capacity, p1.K * p1.L));
  const s1 = new QueryScratch(t1, v1.block('q'));
  assert.deepEqual([s1.minLogitVotes, s1.minTrainVotes], [2, 2], '20 / 2^5 = 0.63 chance votes');
  // where chance gives far fewer, one vote is signal for training too
  // 40 / 2^4 = 2.5 chance votes: inference from 2.5 + 1.58 -> 5, training from 4
  assert.deepEqual([new QueryScratch(new LshTables(params({ L: 20, K: 6, rangePow: 6 }))).minTrainVotes, s.minLogitVotes, s.minTrainVotes], [1, 5, 4]);
  // codes of 8 bits folded into 16 buckets: chance is a bucket's, 40 / 16 = 2.5, not 40 / 2^8
  const folded = new QueryScratch(new LshTables(params({ L: 40, K: 8, rangePow: 4 })));
  assert.deepEqual([folded.minLogitVotes, folded.minTrainVotes], [5, 4]);
  // a few long rows, which one vote would rank high
  const norm1 = arena.f32(p1.capacity);
  for (let i = 0; i < p1.capacity; i++) norm1[i] = rng.nextFloat() < 0.05 ? 8 : 0.5;
  let differ = 0;
  for (let q = 0; q < 20; q++) {
    const qc = randomCodes(rng, 1, p1.K * p1.L);
    for (const tally of ['dense', 'sparse'] as const) {
      t1.tally = tally;
      const v = topByVotes(t1, qc, 0, s1, 20, votesOut);
      const held = Array.from(votesOut.subarray(0, v));
      const want = oracle(t1, qc, norm1, bias, 1, 50, held, 2);
      if (want.join() !== oracle(t1, qc, norm1, bias, 1, 50, held, 1).join()) differ++;
      const m = topByLogitAfterVotes(t1, s1, v, 50, norm1, bias, 1, votesOut, v, out);
      assert.equal(sets(m), want.slice().sort((a, b) => a - b).join(), `query ${q} ${tally}: 2 votes at least`);
    }
  }
  assert.ok(differ > 10, `the floor of 2 votes changed ${differ} of 40 selections`);
});
