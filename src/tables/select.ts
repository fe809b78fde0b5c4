/**
 * Selection helpers of top-by-votes and top-by-logit queries: the cut of a selection from a vote
 * histogram, and allocation-free quickselect and sort over Int32Arrays and over (score, id) pairs.
 */
/**
 * The (at most) cap entries of ids[0 .. n) with the largest votes[i] (1 <= votes <= maxVote),
 * ties to the smaller id, into out[outOff ..) ordered by votes descending (within a vote value:
 * input order, except the value at the cut, which is ordered by id); votes into outVotes if given.
 * hist: scratch Int32Array(maxVote + 2); tmp: scratch Int32Array(>= n). Returns min(n, cap).
 */
export function selectTopByVotes(
  ids: Int32Array,
  votes: Int32Array,
  n: number,
  cap: number,
  maxVote: number,
  hist: Int32Array,
  tmp: Int32Array,
  out: Int32Array,
  outOff: number,
  outVotes: Int32Array | null,
): number {
  if (cap <= 0 || n === 0) return 0;
  for (let v = 0; v <= maxVote + 1; v++) hist[v] = 0;
  for (let i = 0; i < n; i++) {
    let v = votes[i]!;
    if (v > maxVote) v = maxVote;
    hist[v]++;
  }
  const vt = cutVotes(hist, maxVote, 0, cap);
  const above = hist[maxVote + 1]!;
  const take = Math.min(n, cap);
  let g = 0;
  for (let i = 0; i < n; i++) {
    let v = votes[i]!;
    if (v > maxVote) v = maxVote;
    if (v > vt) {
      const p = hist[v]!++;
      out[outOff + p] = ids[i]!;
      if (outVotes !== null) outVotes[p] = votes[i]!;
    } else if (v === vt) {
      tmp[g++] = ids[i]!;
    }
  }
  const need = take - above;
  if (need > 0 && need < g) selectSmallest(tmp, g, need);
  sortRange(tmp, 0, need);
  for (let i = 0; i < need; i++) {
    out[outOff + above + i] = tmp[i]!;
    if (outVotes !== null) outVotes[above + i] = vt;
  }
  return take;
}

/**
 * The (at most) cap of ids[0 .. n) with the largest score[i], ties to the smaller id, into
 * out[outOff ..) ordered by score descending; returns min(n, cap). Reorders ids and score (in step).
 */
export function selectTopByScore(ids: Int32Array, score: Float64Array, n: number, cap: number, out: Int32Array, outOff = 0): number {
  const take = Math.min(n, cap);
  if (take <= 0) return 0;
  if (take < n) selectPairs(ids, score, 0, n - 1, take);
  sortPairs(ids, score, 0, take - 1);
  for (let i = 0; i < take; i++) out[outOff + i] = ids[i]!;
  return take;
}

/** Whether (score sa, id ia) comes before (sb, ib): larger score first, then smaller id. */
function before(sa: number, ia: number, sb: number, ib: number): boolean {
  return sa > sb || (sa === sb && ia < ib);
}

/** Swap entries i and j of the parallel arrays. */
function swapPairs(ids: Int32Array, score: Float64Array, i: number, j: number): void {
  const t = ids[i]!;
  ids[i] = ids[j]!;
  ids[j] = t;
  const u = score[i]!;
  score[i] = score[j]!;
  score[j] = u;
}

/**
 * Partition [lo, hi] around the middle entry (Lomuto, pivot moved to hi); returns its final
 * position: entries before it come first in the order of `before`.
 */
function partitionPairs(ids: Int32Array, score: Float64Array, lo: number, hi: number): number {
  swapPairs(ids, score, (lo + hi) >>> 1, hi);
  const ps = score[hi]!;
  const pi = ids[hi]!;
  let p = lo;
  for (let i = lo; i < hi; i++) {
    if (before(score[i]!, ids[i]!, ps, pi)) swapPairs(ids, score, i, p++);
  }
  swapPairs(ids, score, p, hi);
  return p;
}

/** Rearrange [lo, hi] so that its first k entries in the order of `before` are in [lo, lo + k). */
function selectPairs(ids: Int32Array, score: Float64Array, lo: number, hi: number, k: number): void {
  const target = lo + k - 1;
  while (hi > lo) {
    const p = partitionPairs(ids, score, lo, hi);
    if (p === target) return;
    if (p < target) lo = p + 1;
    else hi = p - 1;
  }
}

/** Sort [lo, hi] in the order of `before` (quicksort on the smaller side, insertion sort below 16). */
function sortPairs(ids: Int32Array, score: Float64Array, lo: number, hi: number): void {
  while (hi - lo > 16) {
    const p = partitionPairs(ids, score, lo, hi);
    if (p - lo < hi - p) {
      sortPairs(ids, score, lo, p - 1);
      lo = p + 1;
    } else {
      sortPairs(ids, score, p + 1, hi);
      hi = p - 1;
    }
  }
  for (let i = lo + 1; i <= hi; i++) {
    const s = score[i]!;
    const id = ids[i]!;
    let j = i - 1;
    while (j >= lo && before(s, id, score[j]!, ids[j]!)) {
      score[j + 1] = score[j]!;
      ids[j + 1] = ids[j]!;
      j--;
    }
    score[j + 1] = s;
    ids[j + 1] = id;
  }
}

/**
 * The cut of a top-`cap` selection from a histogram hist[lowest .. maxVote] of votes: returns
 * the vote vt whose group is cut (the groups above it fit entirely; 0 when everything from
 * `lowest` up fits). Turns hist[v] for v > vt into the write cursor of group v (groups in
 * descending vote order) and leaves the number of items above vt in hist[maxVote + 1].
 */
export function cutVotes(hist: Int32Array, maxVote: number, lowest: number, cap: number): number {
  let above = 0;
  let vt = 0;
  for (let v = maxVote; v >= lowest; v--) {
    if (above + hist[v]! >= cap) {
      vt = v;
      break;
    }
    above += hist[v]!;
  }
  let pos = 0;
  for (let v = maxVote; v > vt; v--) {
    const c = hist[v]!;
    hist[v] = pos;
    pos += c;
  }
  hist[maxVote + 1] = pos;
  return vt;
}

/** Rearrange a[0 .. n) so that its k smallest values are in a[0 .. k) (quickselect, no allocation). */
export function selectSmallest(a: Int32Array, n: number, k: number): void {
  let lo = 0;
  let hi = n - 1;
  while (hi > lo) {
    const mid = (lo + hi) >>> 1;
    // median of three as pivot
    let x = a[lo]!;
    let y = a[mid]!;
    const z = a[hi]!;
    if (x > y) {
      const s = x;
      x = y;
      y = s;
    }
    const pivot = z < x ? x : z > y ? y : z;
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (a[i]! < pivot) i++;
      while (a[j]! > pivot) j--;
      if (i <= j) {
        const s = a[i]!;
        a[i] = a[j]!;
        a[j] = s;
        i++;
        j--;
      }
    }
    // a[lo..j] <= pivot <= a[i..hi], elements between j and i equal pivot
    if (k - 1 <= j) hi = j;
    else if (k - 1 >= i) lo = i;
    else return;
  }
}

/** Ascending sort of a[lo .. hi) in place (quicksort + insertion sort, no allocation). */
export function sortRange(a: Int32Array, lo: number, hi: number): void {
  while (hi - lo > 16) {
    const mid = (lo + hi) >>> 1;
    let x = a[lo]!;
    let y = a[mid]!;
    const z = a[hi - 1]!;
    if (x > y) {
      const s = x;
      x = y;
      y = s;
    }
    const pivot = z < x ? x : z > y ? y : z;
    let i = lo;
    let j = hi - 1;
    while (i <= j) {
      while (a[i]! < pivot) i++;
      while (a[j]! > pivot) j--;
      if (i <= j) {
        const s = a[i]!;
        a[i] = a[j]!;
        a[j] = s;
        i++;
        j--;
      }
    }
    // recurse into the smaller side, loop on the larger
    if (j + 1 - lo < hi - i) {
      sortRange(a, lo, j + 1);
      lo = i;
    } else {
      sortRange(a, i, hi);
      hi = j + 1;
    }
  }
  for (let i = lo + 1; i < hi; i++) {
    const v = a[i]!;
    let j = i - 1;
    while (j >= lo && a[j]! > v) {
      a[j + 1] = a[j]!;
      j--;
    }
    a[j + 1] = v;
  }
}
