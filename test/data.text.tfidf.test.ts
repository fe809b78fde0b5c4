import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { featurizeText, idfOf, weighIds } from '../src/data/text/tfidf.js';
import { tokenize } from '../src/data/text/tokenize.js';

/** The weighting written out plainly: count with a Map, weigh in float64, normalise, round to float32. */
function oracle(ids: number[], idf: Float32Array): Map<number, number> {
  const tf = new Map<number, number>();
  for (const id of ids) tf.set(id, (tf.get(id) ?? 0) + 1);
  const keys = [...tf.keys()].sort((a, b) => a - b);
  const w = keys.map((k) => (1 + Math.log(tf.get(k)!)) * idf[k]!);
  let ss = 0;
  for (const x of w) ss += x * x;
  const out = new Map<number, number>();
  keys.forEach((k, i) => out.set(k, Math.fround(w[i]! / Math.sqrt(ss))));
  return out;
}

test('weighIds equals the plain computation: distinct ids ascending, (1 + ln tf) * idf, unit L2 norm', () => {
  const idf = new Float32Array(50);
  for (let i = 0; i < idf.length; i++) idf[i] = idfOf(1000, 1 + ((i * 37) % 400));
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 0, max: 49 }), { maxLength: 60 }), (list) => {
      const ids = Int32Array.from(list);
      const idx = new Int32Array(list.length);
      const val = new Float32Array(list.length);
      const k = weighIds(ids, list.length, idf, idx, val);
      const exp = oracle(list, idf);
      assert.equal(k, exp.size);
      assert.deepEqual([...idx.subarray(0, k)], [...exp.keys()]);
      for (let j = 0; j < k; j++) {
        // the oracle divides by the norm where weighIds multiplies by its inverse: within an ulp or two
        assert.ok(Math.abs(val[j]! - exp.get(idx[j]!)!) <= 2e-7, `${val[j]} vs ${exp.get(idx[j]!)}`);
      }
      let ss = 0;
      for (let j = 0; j < k; j++) ss += val[j]! * val[j]!;
      if (k > 0) assert.ok(Math.abs(ss - 1) < 1e-5);
    }),
  );
});

test('featurizeText drops unknown tokens and weighs the rest like weighIds', () => {
  const vocab = new Map([
    ['café', 0],
    ['lion', 1],
    ['mane', 2],
    ['東', 3],
  ]);
  const idf = Float32Array.from([1.5, 2, 3, 4]);
  const f = featurizeText('Lion, LION, café and a mane; unknown words; 東京', vocab, idf);
  assert.deepEqual([...f.idx], [0, 1, 2, 3]);
  const exp = oracle([1, 1, 0, 2, 3], idf);
  for (let j = 0; j < 4; j++) assert.ok(Math.abs(f.val[j]! - exp.get(j)!) <= 2e-7);
  assert.deepEqual(tokenize('Lion, LION, café'), ['lion', 'lion', 'café']);
  const none = featurizeText('nothing known here', vocab, idf);
  assert.equal(none.idx.length, 0);
  assert.equal(none.val.length, 0);
});

test('idf is ln((1 + N) / (1 + df)) + 1', () => {
  assert.equal(idfOf(9, 9), 1);
  assert.ok(Math.abs(idfOf(99, 0) - (Math.log(100) + 1)) < 1e-12);
});
