/**
 * Argument checks that a line of the kernel table cannot state (pair lists, vote groups, keys
 * strides), run by `loadWasmKernels(memory, { checkViews: true })` after the table's own view,
 * extent and value checks. Slow; for tests and debugging. Keyed by kernel name, taking the
 * twin's arguments.
 */
type Check = (...args: never[]) => void;

export function assertRange(arr: ArrayLike<number>, off: number, n: number, what: string): void {
  if (!Number.isInteger(off) || !Number.isInteger(n) || off < 0 || n < 0 || off + n > arr.length) {
    throw new RangeError(`${what}: elements [${off}, ${off}+${n}) outside an array of length ${arr.length}`);
  }
}

export function assertValues(arr: ArrayLike<number>, off: number, n: number, bound: number, what: string): void {
  assertRange(arr, off, n, what);
  for (let i = off; i < off + n; i++) {
    const r = arr[i]!;
    if (!(r >= 0 && r < bound)) throw new RangeError(`${what}[${i}] = ${r} outside [0, ${bound})`);
  }
}

/** Rows of a (_, n) matrix held in M. */
export function rowsOf(M: ArrayLike<number>, n: number): number {
  return n > 0 ? Math.floor(M.length / n) : 0;
}

/** The pair lists of positions [rowsOff, rowsOff + nRows): ptr ascending, src rows of X, coef in range. */
function assertPairs(ptr: Int32Array, src: Int32Array, coef: Float32Array, X: Float32Array, n: number, rowsOff: number, nRows: number, what: string): void {
  for (let i = rowsOff; i < rowsOff + nRows; i++) {
    if (!(ptr[i]! <= ptr[i + 1]!)) throw new RangeError(`${what}: ptr[${i}] = ${ptr[i]} > ptr[${i + 1}] = ${ptr[i + 1]}`);
  }
  if (nRows === 0) return;
  const k0 = ptr[rowsOff]!;
  const k1 = ptr[rowsOff + nRows]!;
  assertRange(coef, k0, k1 - k0, `${what} coef`);
  assertValues(src, k0, k1 - k0, rowsOf(X, n), `${what} src`);
}

export const SEMANTIC_CHECKS: Readonly<Record<string, Check>> = {
  hadamardRows(_S: Float32Array, _bias: Float32Array, n: number, p: number, rounds: number) {
    if (!(Number.isInteger(p) && p >= 8 && (p & (p - 1)) === 0 && p >= n)) throw new RangeError(`hadamardRows: p must be a power of two >= 8 and >= n (${n}), got ${p}`);
    if (!(Number.isInteger(rounds) && rounds >= 1)) throw new RangeError(`hadamardRows: rounds must be a positive integer, got ${rounds}`);
  },
  signKeys(_proj: Float32Array, _projOff: number, _H: number, m: number, _sel: Int32Array, K: number, L: number, keys: Int32Array, keysOff: number, stride: number) {
    if (!(Number.isInteger(K) && K >= 1 && K <= 30)) throw new RangeError(`signKeys: K must be an integer in [1, 30], got ${K}`);
    if (m > 0 && L > 0) {
      if (!(stride >= m)) throw new RangeError(`signKeys: stride ${stride} < m ${m}`);
      assertRange(keys, keysOff, (L - 1) * stride + m, 'signKeys keys');
    }
  },
  wtaCodes(_coords: Int32Array, H: number, binSize: number, dwta: number, _X: Float32Array, _xOff: number, n: number, m: number, _mean: Float32Array | null, _buf: Int32Array, _codes: Int32Array, _codesOff: number, ld: number) {
    if (!(Number.isInteger(H) && H >= 1)) throw new RangeError(`wtaCodes: H must be an integer >= 1, got ${H}`);
    if (!(Number.isInteger(binSize) && binSize >= 1)) throw new RangeError(`wtaCodes: binSize must be an integer >= 1, got ${binSize}`);
    if (dwta !== 0 && dwta !== 1) throw new RangeError(`wtaCodes: dwta must be 0 or 1, got ${dwta}`);
    if (!(n >= 1)) throw new RangeError(`wtaCodes: n must be >= 1, got ${n}`);
    if (!(ld >= m)) throw new RangeError(`wtaCodes: ld ${ld} < m ${m}`);
  },
  densifyCodes(_codes: Int32Array, _codesOff: number, ld: number, m: number, H: number) {
    if (!(Number.isInteger(H) && H >= 1)) throw new RangeError(`densifyCodes: H must be an integer >= 1, got ${H}`);
    if (!(ld >= m)) throw new RangeError(`densifyCodes: ld ${ld} < m ${m}`);
  },
  codeKeys(_codes: Int32Array, _codesOff: number, ld: number, _H: number, m: number, _sel: Int32Array, K: number, L: number, bits: number, rangePow: number, keys: Int32Array, keysOff: number, stride: number) {
    if (!(ld >= m)) throw new RangeError(`codeKeys: ld ${ld} < m ${m}`);
    if (!(Number.isInteger(bits) && bits >= 1 && bits <= 30)) throw new RangeError(`codeKeys: bits must be an integer in [1, 30], got ${bits}`);
    if (!(Number.isInteger(rangePow) && rangePow >= 1 && rangePow <= 28)) throw new RangeError(`codeKeys: rangePow must be an integer in [1, 28], got ${rangePow}`);
    if (!(Number.isInteger(K) && K >= 1)) throw new RangeError(`codeKeys: K must be an integer >= 1, got ${K}`);
    if (m > 0 && L > 0) {
      if (!(stride >= m)) throw new RangeError(`codeKeys: stride ${stride} < m ${m}`);
      assertRange(keys, keysOff, (L - 1) * stride + m, 'codeKeys keys');
    }
  },
  bucketSort(_keys: Int32Array, _keysOff: number, _ids: Int32Array | null, m: number, R: number, S: number, _off: Int32Array, _offOff: number, ent: Int32Array, entOff: number) {
    // ent is written only when every bucket fits, so m <= R * S then
    assertRange(ent, entOff, Math.min(m, R * S), 'bucketSort ent');
  },
  bucketCommit(keys: Int32Array, keysOff: number, m: number, R: number, S: number, reservoir: number, _s0: number, _s1: number, _s2: number, _s3: number, _off: Int32Array, _offOff: number, ent: Int32Array, entOff: number) {
    if (reservoir !== 0 && reservoir !== 1) throw new RangeError(`bucketCommit: reservoir must be 0 or 1, got ${reservoir}`);
    if (!(Number.isInteger(S) && S >= 1)) throw new RangeError(`bucketCommit: S must be an integer >= 1, got ${S}`);
    // the keys name buckets or -1; the kept ids fill ent up to the items present, at most S a bucket
    let present = 0;
    for (let i = 0; i < m; i++) {
      const k = keys[keysOff + i]!;
      if (!(k >= -1 && k < R)) throw new RangeError(`bucketCommit: keys[${keysOff + i}] = ${k} outside [-1, ${R})`);
      if (k >= 0) present++;
    }
    assertRange(ent, entOff, Math.min(present, R * S), 'bucketCommit ent');
  },
  voteTally(entries: Int32Array, bStart: Int32Array, bEnd: Int32Array, L: number, tally: Uint8Array | Uint16Array, N: number) {
    if (!(tally instanceof Uint8Array || tally instanceof Uint16Array)) throw new TypeError('voteTally: the tally must be a Uint8Array or a Uint16Array');
    if (L >= 1 << (8 * tally.BYTES_PER_ELEMENT)) throw new RangeError(`voteTally: ${L} ranges can overflow a ${8 * tally.BYTES_PER_ELEMENT}-bit tally`);
    for (let t = 0; t < L; t++) assertValues(entries, bStart[t]!, bEnd[t]! - bStart[t]!, N, `voteTally entries of range ${t}`);
  },
  voteCollect(tally: Uint8Array | Uint16Array, N: number, lo: number, hi: number, _hist: Int32Array, cand: Int32Array, n: number, max: number) {
    if (!(tally instanceof Uint8Array || tally instanceof Uint16Array)) throw new TypeError('voteCollect: the tally must be a Uint8Array or a Uint16Array');
    if (!(Number.isInteger(lo) && lo >= 1)) throw new RangeError(`voteCollect: lo must be an integer >= 1, got ${lo}`);
    if (!Number.isInteger(hi)) throw new RangeError(`voteCollect: hi must be an integer, got ${hi}`);
    if (!(Number.isInteger(n) && n >= 0)) throw new RangeError(`voteCollect: n must be an integer >= 0, got ${n}`);
    let kept = 0;
    for (let i = 0; i < N; i++) if (tally[i]! >= lo && tally[i]! < hi) kept++;
    assertRange(cand, 0, Math.max(n, Math.min(n + kept, max)), 'voteCollect cand');
  },
  votePlace(cand: Int32Array, nc: number, tally: Uint8Array | Uint16Array, hist: Int32Array, vt: number, above: number, need: number, out: Int32Array, outVotes: Int32Array | null) {
    // the slots written: above + need at most at the cut, hist[v] + (ids with v votes) above it
    let slots = Math.max(0, above + need);
    const inGroup = new Map<number, number>();
    for (let i = 0; i < nc; i++) {
      const t = tally[cand[i]!]!;
      if (t > vt) inGroup.set(t, (inGroup.get(t) ?? 0) + 1);
    }
    for (const [t, c] of inGroup) {
      assertRange(hist, t, 1, 'votePlace hist');
      slots = Math.max(slots, hist[t]! + c);
    }
    assertRange(out, 0, slots, 'votePlace out');
    if (outVotes !== null) assertRange(outVotes, 0, slots, 'votePlace outVotes');
  },
  rowsBackward(_W: Float32Array, _G: Float32Array, _gBias: Float32Array, n: number, _rows: Int32Array, _rowsOff: number, _nRows: number, _grad: Float32Array, _gradOff: number, _x: Float32Array, _xOff: number, dx: Float32Array | null, dxOff: number) {
    if (dx !== null) assertRange(dx, dxOff, n, 'rowsBackward dx');
  },
  gradRows(_G: Float32Array, _gBias: Float32Array | null, n: number, _rows: Int32Array, rowsOff: number, nRows: number, ptr: Int32Array, src: Int32Array, coef: Float32Array, X: Float32Array) {
    assertPairs(ptr, src, coef, X, n, rowsOff, nRows, 'gradRows');
  },
  adamRowsPairs(_W: Float32Array, _M: Float32Array, _V: Float32Array, gBias: Float32Array | null, n: number, rows: Int32Array, rowsOff: number, nRows: number, ptr: Int32Array, src: Int32Array, coef: Float32Array, X: Float32Array) {
    if (gBias !== null) assertValues(rows, rowsOff, nRows, gBias.length, 'adamRowsPairs rows (bias)');
    assertPairs(ptr, src, coef, X, n, rowsOff, nRows, 'adamRowsPairs');
  },
  gradRowsDense(_G: Float32Array, _gBias: Float32Array, n: number, _rows: Int32Array, _rowsOff: number, _nRows: number, _coef: Float32Array, _stride: number, _used: Int32Array, _nUsed: number, X: Float32Array) {
    if (rowsOf(X, n) < 1) throw new RangeError('gradRowsDense: X holds no slot');
  },
  markPairs(pRow: Int32Array, pCnt: Int32Array, slots: number, budget: number, mark: Int32Array, touched: Int32Array, n: number) {
    let fresh = 0;
    const seen = new Set<number>();
    for (let b = 0; b < slots; b++) {
      const c = pCnt[b]!;
      if (!(c >= 0 && c <= budget)) throw new RangeError(`markPairs: pCnt[${b}] = ${c} outside [0, ${budget}]`);
      assertValues(pRow, b * budget, c, mark.length, 'markPairs pRow');
      for (let k = b * budget; k < b * budget + c; k++) {
        const r = pRow[k]!;
        if (mark[r] === 0 && !seen.has(r)) {
          seen.add(r);
          fresh++;
        }
      }
    }
    assertRange(touched, 0, n + fresh, 'markPairs touched');
  },
  selectPairs(pRow: Int32Array, pCnt: Int32Array, slots: number, budget: number, r0: number, r1: number) {
    if (!(Number.isInteger(r0) && r0 >= 0 && r0 <= r1)) throw new RangeError(`selectPairs: rows [${r0}, ${r1}) are not a range of rows`);
    for (let b = 0; b < slots; b++) {
      const c = pCnt[b]!;
      if (!(c >= 0 && c <= budget)) throw new RangeError(`selectPairs: pCnt[${b}] = ${c} outside [0, ${budget}]`);
    }
  },
  countPairs(pRow: Int32Array, list: Int32Array, m: number, mark: Int32Array) {
    for (let j = 0; j < m; j++) assertValues(pRow, list[j]!, 1, mark.length, 'countPairs pRow');
  },
  listCounted(_mark: Int32Array, r0: number, r1: number) {
    if (!(Number.isInteger(r0) && r0 >= 0 && r0 <= r1)) throw new RangeError(`listCounted: rows [${r0}, ${r1}) are not a range of rows`);
  },
  placePairs(mark: Int32Array, pRow: Int32Array, _pCoef: Float32Array, list: Int32Array, slotEnd: Int32Array, slots: number, src: Int32Array, coef: Float32Array) {
    // the slots' list ends ascend inside list; every listed pair's cursor stays inside src and coef
    const cursor = new Map<number, number>();
    let j = 0;
    for (let b = 0; b < slots; b++) {
      const e = slotEnd[b]!;
      if (!(e >= j && e <= list.length)) throw new RangeError(`placePairs: slotEnd[${b}] = ${e} outside [${j}, ${list.length}]`);
      for (; j < e; j++) {
        const k = list[j]!;
        assertValues(pRow, k, 1, mark.length, 'placePairs pRow');
        const r = pRow[k]!;
        const p = cursor.get(r) ?? mark[r]!;
        if (!(p >= 0 && p < Math.min(src.length, coef.length))) throw new RangeError(`placePairs: the pair at pRow[${k}] (row ${r}) goes to ${p}, outside src/coef`);
        cursor.set(r, p + 1);
      }
    }
  },
  groupPairs(touched: Int32Array, nTouched: number, _pos: Int32Array, _ptr: Int32Array, pRow: Int32Array, _pCoef: Float32Array, pCnt: Int32Array, slots: number, budget: number, src: Int32Array, coef: Float32Array) {
    const listed = new Set(touched.subarray(0, nTouched));
    let total = 0;
    for (let b = 0; b < slots; b++) {
      const c = pCnt[b]!;
      if (!(c >= 0 && c <= budget)) throw new RangeError(`groupPairs: pCnt[${b}] = ${c} outside [0, ${budget}]`);
      for (let k = b * budget; k < b * budget + c; k++) {
        if (!listed.has(pRow[k]!)) throw new RangeError(`groupPairs: pRow[${k}] = ${pRow[k]} is not a touched row`);
      }
      total += c;
    }
    assertRange(src, 0, total, 'groupPairs src');
    assertRange(coef, 0, total, 'groupPairs coef');
  },
};
