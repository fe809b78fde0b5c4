/**
 * Top-k selection over (id, score) pairs without sorting everything: a k-slot insertion list.
 * Ties go to the smaller id, so results are deterministic.
 */
export function topK(
  ids: Int32Array | null,
  scores: Float32Array,
  n: number,
  k: number,
  outIds: Int32Array,
  outScores: Float32Array,
): number {
  let m = 0;
  for (let i = 0; i < n; i++) m = insertTop(ids === null ? i : ids[i]!, scores[i]!, m, k, outIds, outScores);
  return m;
}

/**
 * (id, s) into the list outIds / outScores of m entries (at most k), best first, ties to the
 * smaller id; returns the list's new length. topK's step, and the merge of several lists.
 */
export function insertTop(id: number, s: number, m: number, k: number, outIds: Int32Array, outScores: Float32Array): number {
  if (m === k) {
    const ls = outScores[m - 1]!;
    if (s < ls || (s === ls && id > outIds[m - 1]!)) return m;
  }
  const len = m < k ? m + 1 : m;
  let p = len - 1;
  while (p > 0) {
    const ps = outScores[p - 1]!;
    if (ps > s || (ps === s && outIds[p - 1]! < id)) break;
    outScores[p] = ps;
    outIds[p] = outIds[p - 1]!;
    p--;
  }
  outScores[p] = s;
  outIds[p] = id;
  return len;
}
