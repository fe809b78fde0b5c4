/**
 * Term weighting shared by every text data set and by predict / serve: the weight of feature f
 * in a document is (1 + ln tf) * idf[f], where idf[f] is 1 (weighting `logtf`, the default) or
 * the smooth idf ln((1 + N) / (1 + df)) + 1 over the training documents (`tfidf`), and each
 * document's vector is L2-normalised. The same function weighs a
 * training row and a query, in the same float64 order, so their float32 values are identical.
 */
import { tokenizeInto } from './tokenize.js';

/** Smooth idf used throughout: ln((1 + N) / (1 + df)) + 1. */
export function idfOf(nDocs: number, df: number): number {
  return Math.log((1 + nDocs) / (1 + df)) + 1;
}

/**
 * How a data set built from texts weighs a feature: `logtf` by 1 + ln tf alone, `tfidf` by that
 * times the idf. The factor beside 1 + ln tf is what idf.txt holds (1 for every feature under
 * `logtf`), so predict and serve weigh a query as the rows were weighed with either.
 */
export type Weighting = 'logtf' | 'tfidf';
export const WEIGHTINGS: readonly Weighting[] = ['logtf', 'tfidf'];
/**
 * `logtf`: the model learns each word's weight in its input layer, and idf's boost of rare words
 * (whose weights saw few training documents) cost P@1 on four of five text sets measured. `sublinear
 * train` with the defaults, LSH / exact P@1, tfidf -> logtf: FOLDOC 0.613 / 0.614 -> 0.626 /
 * 0.625, GCIDE (dense) 0.806 -> 0.812, WordNet 0.581 / 0.586 -> 0.583 / 0.587, and WordNet's
 * synsets tagged with their lexicographer file (45 labels, all four parts of speech, through
 * `data text`, `bench/wordnetTexts.ts`) 0.711 -> 0.722. It lost on WordNet's glosses tagged with
 * their own lemmas (20,688 labels of ~3 points), 0.065 / 0.075 -> 0.064 / 0.072.
 */
export const DEFAULT_WEIGHTING: Weighting = 'logtf';

/** The factor of a feature in df training documents of nDocs under a weighting. */
export function featureFactor(weighting: Weighting, nDocs: number, df: number): number {
  return weighting === 'tfidf' ? idfOf(nDocs, df) : 1;
}

/** meta.json's words for the weighting of a set's values and of its idf.txt. */
export function describeWeighting(weighting: Weighting, docs: string): { features: string; idf: string } {
  return weighting === 'tfidf'
    ? { features: '(1 + ln tf) * idf, L2-normalised', idf: `ln((1 + N) / (1 + df)) + 1, df and N over ${docs}` }
    : { features: '1 + ln tf, L2-normalised', idf: '1 for every feature (weighting logtf: no idf)' };
}

/**
 * Weigh a bag of feature ids: ids[0..n) in any order, a repeated id counting as term frequency.
 * Sorts ids[0..n) in place, writes the distinct ids ascending to outIdx and their L2-normalised
 * weights to outVal (each needs room for n), and returns how many were written. Allocates
 * nothing (the importer calls it once per row).
 */
export function weighIds(ids: Int32Array, n: number, idf: Float32Array, outIdx: Int32Array, outVal: Float32Array): number {
  if (n === 0) return 0;
  ids.subarray(0, n).sort();
  // outVal is float32 and cannot hold the float64 weights until the norm is known
  if (weights.length < n) weights = new Float64Array(Math.max(n, 2 * weights.length));
  const w = weights;
  let k = 0;
  let ss = 0;
  let i = 0;
  while (i < n) {
    const id = ids[i]!;
    let tf = 1;
    i++;
    while (i < n && ids[i] === id) {
      tf++;
      i++;
    }
    const x = (tf < LOG_TF.length ? LOG_TF[tf]! : 1 + Math.log(tf)) * idf[id]!;
    outIdx[k] = id;
    w[k++] = x;
    ss += x * x;
  }
  const inv = ss > 0 ? 1 / Math.sqrt(ss) : 0;
  for (let j = 0; j < k; j++) outVal[j] = w[j]! * inv;
  return k;
}

/** 1 + ln tf for small tf: the same doubles Math.log gives, looked up. */
const LOG_TF = new Float64Array(64);
for (let tf = 1; tf < LOG_TF.length; tf++) LOG_TF[tf] = 1 + Math.log(tf);

/** Scratch of weighIds (JavaScript runs it on one thread at a time). */
let weights = new Float64Array(1024);

/** Token ids of a text with a vocabulary (unknown tokens dropped), into a new Int32Array. */
export function tokenIds(text: string, vocab: ReadonlyMap<string, number>): Int32Array {
  const toks: string[] = [];
  const n = tokenizeInto(text, toks);
  const ids = new Int32Array(n);
  let m = 0;
  for (let i = 0; i < n; i++) {
    const id = vocab.get(toks[i]!);
    if (id !== undefined) ids[m++] = id;
  }
  return ids.subarray(0, m);
}

/**
 * Sparse vector of a text: tokens counted, out-of-vocabulary tokens dropped, weight
 * (1 + ln tf) * idf, L2-normalised, ids ascending. Empty when no token is known.
 */
export function featurizeText(text: string, vocab: ReadonlyMap<string, number>, idf: Float32Array): { idx: Int32Array; val: Float32Array } {
  const ids = tokenIds(text, vocab);
  const idx = new Int32Array(ids.length);
  const val = new Float32Array(ids.length);
  const k = weighIds(ids, ids.length, idf, idx, val);
  return { idx: idx.slice(0, k), val: val.slice(0, k) };
}
