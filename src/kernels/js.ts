/**
 * The hot loops of the engine behind one interface, with two implementations:
 *  - `js.ts`: plain TypeScript, the readable oracle and fallback;
 *  - `wasm.ts`: AssemblyScript compiled to WebAssembly SIMD (see `assembly/`).
 * Tests run both on random inputs and compare.
 *
 * Conventions. Every array argument is a typed-array view; `xxxOff` arguments are element
 * offsets into it. The WebAssembly implementation requires all arrays of one call to be views
 * of the one WebAssembly.Memory its instance imports (the model shard's arena); it addresses
 * `array.byteOffset + 4 * off`. Shapes are written as (rows, cols), row-major.
 *
 * This file is the plain TypeScript implementation, the oracle for the WebAssembly one and the
 * fallback, and its signatures are the interface (`Kernels`). Loops are monomorphic (one
 * typed-array type per parameter), accumulate in a number and take lengths as arguments
 * (measured here: `i < n` beats `i < a.length` by 2x). A new kernel is its function here, its
 * AssemblyScript twin in assembly/kernels.ts and one line in table.ts.
 */
import { EMPTY_INPUT_CODE, PROBE_CAP } from '../hashing/common.js';
import { ZERO_KEY_DWTA as KEY_MIN } from '../hashing/wtaKernel.js';
import { mix32, Rng } from '../util/rng.js';

/** x rounded to the nearest integer, ties to the even one (WebAssembly's nearest; Math.round sends ties up) */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

// float32 <-> int32 pun for the bits of a value (wtaCodes)
const punF32 = new Float32Array(1);
const punI32 = new Int32Array(punF32.buffer);

export const jsKernels = {
  name: 'js' as string,

  /** sum_i a[aOff+i] * b[bOff+i], i < n */
  dot(a: Float32Array, aOff: number, b: Float32Array, bOff: number, n: number): number {
    let s = 0;
    for (let i = 0; i < n; i++) s += a[aOff + i]! * b[bOff + i]!;
    return s;
  },

  /** y[yOff+i] += alpha * x[xOff+i], i < n */
  axpy(alpha: number, x: Float32Array, xOff: number, y: Float32Array, yOff: number, n: number): void {
    for (let i = 0; i < n; i++) y[yOff + i] = y[yOff + i]! + alpha * x[xOff + i]!;
  },

  /**
   * Forward of active neurons of a neuron-major layer.
   * W: (nOut, n) row-major; bias: (nOut). For i < nRows, r = rows[rowsOff+i]:
   *   out[outOff+i] = bias[r] + dot(W[r*n .. r*n+n), x[xOff .. xOff+n))
   */
  dotRows(W: Float32Array, bias: Float32Array, n: number, rows: Int32Array, rowsOff: number, nRows: number, x: Float32Array, xOff: number, out: Float32Array, outOff: number): void {
    for (let i = 0; i < nRows; i++) {
      const r = rows[rowsOff + i]!;
      const base = r * n;
      let s = 0;
      for (let k = 0; k < n; k++) s += W[base + k]! * x[xOff + k]!;
      out[outOff + i] = s + bias[r]!;
    }
  },

  /**
   * 8-bit copies of rows [r0, r1) of W (_, n), for scoring many rows at a quarter of the bytes
   * (scoreRowsQ8): scale[r] = max_k |W[r,k]| / 127 (float32), Q[r,k] = W[r,k] / scale[r] rounded
   * half to even, qL1[r] = sum_k |Q[r,k]|. A row of zeros (or of values too small for a nonzero
   * scale) gets scale 0 and zeros.
   */
  quantizeRows(W: Float32Array, n: number, r0: number, r1: number, Q: Int8Array, scale: Float32Array, qL1: Int32Array): void {
    const f = Math.fround;
    for (let r = r0; r < r1; r++) {
      const base = r * n;
      let mx = 0;
      for (let k = 0; k < n; k++) mx = Math.max(mx, Math.abs(W[base + k]!));
      const s = f(mx / 127);
      let l1 = 0;
      for (let k = 0; k < n; k++) {
        const q = s === 0 ? 0 : Math.max(-127, Math.min(127, roundHalfEven(f(W[base + k]! / s))));
        Q[base + k] = q;
        l1 += Math.abs(q);
      }
      scale[r] = s;
      qL1[r] = l1;
    }
  },

  /**
   * A query's 16-bit copy into xq[xqOff ..) (scale xs = max |x| / qmax, values rounded half to
   * even) and the coefficients of scoreRowsQ8's bound into out: [xs, A, B, C], the bound
   * e = scale[r] (A + B qL1[r]) + C |b| (network/quantized.ts derives it; 2^-8 of slack for the
   * float32 steps that compute it). Returns 0 (nothing written) when x has no nonzero or a
   * non-finite value (score in float32 then), else 1.
   */
  quantizeQuery(x: Float32Array, nIn: number, xq: Int16Array, xqOff: number, out: Float64Array): number {
    let mx = 0;
    let l1 = 0;
    for (let i = 0; i < nIn; i++) {
      const a = Math.abs(x[i]!);
      if (a > mx) mx = a;
      l1 += a;
    }
    if (!(mx > 0 && l1 < Infinity)) return 0;
    // |d| <= nIn * 127 * qmax must stay an int32 in the kernel's sums
    const qmax = Math.min(32767, Math.floor(0x7fffffff / (127 * nIn)));
    const xs = Math.fround(mx / qmax);
    for (let i = 0; i < nIn; i++) xq[xqOff + i] = Math.max(-qmax, Math.min(qmax, roundHalfEven(x[i]! / xs)));
    const slack = 1 + 2 ** -8;
    const fp = (nIn + 8) * 2 ** -22;
    out[0] = xs;
    out[1] = 0.5 * slack * l1 + fp * 128 * (l1 + nIn * xs);
    out[2] = 0.5 * slack * xs;
    out[3] = fp;
    return 1;
  },

  /**
   * Bounds on the logits of the rows rows[rowsOff .. +nRows) from their 8-bit copies (quantizeRows)
   * and a 16-bit query xq (n) of scale xs: with d the integer dot product of row r's copy and xq,
   *   a = float32(d) * (xs * scale[r]) + bias[r],   e = scale[r] * (A + B * qL1[r]) + C * |bias[r]|
   *   lo[loOff+i] = a - e,   hi[hiOff+i] = a + e
   * every operation in float32 (Math.fround here; the WebAssembly twin gives the same bits). The
   * caller picks A, B, C so that [lo, hi] holds the float32 logit (network/quantized.ts).
   */
  scoreRowsQ8(
    Q: Int8Array, scale: Float32Array, qL1: Int32Array, bias: Float32Array, n: number, rows: Int32Array, rowsOff: number, nRows: number,
    xq: Int16Array, xs: number, A: number, B: number, C: number, lo: Float32Array, loOff: number, hi: Float32Array, hiOff: number,
  ): void {
    const f = Math.fround;
    const xs32 = f(xs);
    const A32 = f(A);
    const B32 = f(B);
    const C32 = f(C);
    for (let i = 0; i < nRows; i++) {
      const r = rows[rowsOff + i]!;
      const base = r * n;
      let d = 0;
      for (let k = 0; k < n; k++) d += Q[base + k]! * xq[k]!;
      const s = scale[r]!;
      const b = bias[r]!;
      const a = f(f(f(d) * f(xs32 * s)) + b);
      const e = f(f(s * f(A32 + f(B32 * f(qL1[r]!)))) + f(C32 * Math.abs(b)));
      lo[loOff + i] = f(a - e);
      hi[hiOff + i] = f(a + e);
    }
  },

  /**
   * scoreRowsQ8 for four queries at once over the contiguous rows [r0, r1) (exact inference
   * scores every row: each row's bytes are read once for four queries). Query j: xq[j*n .. +n),
   * its xs, A, B, C at prm[4j .. 4j+4); row r's bounds to lo[j*stride + r] and hi[j*stride + r],
   * the same float32 steps as scoreRowsQ8.
   */
  scoreRowsQ8x4(Q: Int8Array, scale: Float32Array, qL1: Int32Array, bias: Float32Array, n: number, r0: number, r1: number, xq: Int16Array, prm: Float32Array, lo: Float32Array, hi: Float32Array, stride: number): void {
    const f = Math.fround;
    for (let r = r0; r < r1; r++) {
      const base = r * n;
      const s = scale[r]!;
      const b = bias[r]!;
      const l1 = f(qL1[r]!);
      for (let j = 0; j < 4; j++) {
        let d = 0;
        for (let k = 0; k < n; k++) d += Q[base + k]! * xq[j * n + k]!;
        const a = f(f(f(d) * f(prm[4 * j]! * s)) + b);
        const e = f(f(s * f(prm[4 * j + 1]! + f(prm[4 * j + 2]! * l1))) + f(prm[4 * j + 3]! * Math.abs(b)));
        lo[j * stride + r] = f(a - e);
        hi[j * stride + r] = f(a + e);
      }
    }
  },

  /**
   * The candidates that can be in the top K of logits bounded by [lo[j], hi[j]], j < n: theta =
   * the K-th largest lo (tmp: K floats of scratch), then act[j] for every j with hi[j] >= theta,
   * in order, into sel; returns how many. (1 <= K <= n.)
   */
  rankCut(lo: Float32Array, hi: Float32Array, n: number, K: number, act: Int32Array, sel: Int32Array, tmp: Float32Array): number {
    let m = 0;
    for (let j = 0; j < n; j++) {
      const v = lo[j]!;
      if (m === K && !(v > tmp[K - 1]!)) continue;
      let p = m < K ? m++ : K - 1;
      for (; p > 0 && tmp[p - 1]! < v; p--) tmp[p] = tmp[p - 1]!;
      tmp[p] = v;
    }
    const theta = tmp[K - 1]!;
    let r = 0;
    for (let j = 0; j < n; j++) if (hi[j]! >= theta) sel[r++] = act[j]!;
    return r;
  },

  /**
   * Projections of m contiguous rows against every row of P (a small matrix product: the hashing
   * of a table rebuild, every neuron against every SimHash projection). P: (H, n); bias: (H);
   * rows r < m are X[xOff + r*n .. +n); out: (m, H) from outOff:
   *   out[outOff + r*H + h] = bias[h] + dot(P[h*n .. +n), X[xOff + r*n .. +n))
   */
  projectRows(P: Float32Array, bias: Float32Array, n: number, H: number, X: Float32Array, xOff: number, m: number, out: Float32Array, outOff: number): void {
    for (let r = 0; r < m; r++) {
      for (let h = 0; h < H; h++) out[outOff + r * H + h] = jsKernels.dot(P, h * n, X, xOff + r * n, n) + bias[h]!;
    }
  },

  /**
   * Structured SimHash projections (pseudo-random rotations: Ailon & Chazelle's HD blocks, as in
   * Andoni et al. 2015): O(p log p) a block of p projections instead of the O(n p) of
   * projectRows. p is a power of two, at least 8 and at least n; S: (blocks * rounds, p) of +-1
   * with blocks = ceil(H / p); buf: p floats of scratch. For rows r < m (X[xOff + r*n .. +n)) and
   * blocks b: y = [x, 0 ...] (p floats); for t < rounds: y = Hadamard_p (S[(b*rounds + t)*p ..) .* y),
   * unnormalised, computed stage by stage (h = 1, 2, 4, ..: y[j], y[j+h] <- y[j] + y[j+h],
   * y[j] - y[j+h]) in float32; then
   *   out[outOff + r*H + b*p + i] = y[i] + bias[b*p + i]   for b*p + i < H.
   * Every value is one float32 rounding of two float32 operands, so both implementations agree
   * bit for bit.
   */
  hadamardRows(S: Float32Array, bias: Float32Array, n: number, p: number, rounds: number, H: number, X: Float32Array, xOff: number, m: number, buf: Float32Array, out: Float32Array, outOff: number): void {
    // buf is a Float32Array: every stored sum or difference of two float32 values is rounded to
    // float32 once (float64 then float32 rounds + and - correctly), as in the SIMD kernel
    const blocks = Math.ceil(H / p);
    for (let r = 0; r < m; r++) {
      const x = xOff + r * n;
      for (let b = 0; b < blocks; b++) {
        for (let t = 0; t < rounds; t++) {
          const s = (b * rounds + t) * p;
          if (t === 0) for (let i = 0; i < p; i++) buf[i] = i < n ? X[x + i]! * S[s + i]! : 0;
          else for (let i = 0; i < p; i++) buf[i] = buf[i]! * S[s + i]!;
          for (let h = 1; h < p; h <<= 1) {
            for (let g = 0; g < p; g += h << 1) {
              for (let j = g; j < g + h; j++) {
                const u = buf[j]!;
                const v = buf[j + h]!;
                buf[j] = u + v;
                buf[j + h] = u - v;
              }
            }
          }
        }
        const len = Math.min(p, H - b * p);
        const o = outOff + r * H + b * p;
        for (let i = 0; i < len; i++) out[o + i] = buf[i]! + bias[b * p + i]!;
      }
    }
  },

  /**
   * SimHash table keys of m hashed rows (a rebuild's staging; LshTables' key of K one-bit codes
   * when K <= rangePow): proj (m, H) from projOff holds each row's projections; table t's key of
   * row r concatenates code k = (proj[projOff + r*H + sel[t*K + k]] >= 0), k < K, the first in
   * the most significant bit:
   *   keys[keysOff + t*stride + r] = sum_k code_k << (K - 1 - k),   r < m, t < L
   */
  signKeys(proj: Float32Array, projOff: number, H: number, m: number, sel: Int32Array, K: number, L: number, keys: Int32Array, keysOff: number, stride: number): void {
    for (let r = 0; r < m; r++) {
      const row = projOff + r * H;
      for (let t = 0; t < L; t++) {
        let key = 0;
        for (let k = 0; k < K; k++) key = (key << 1) | (proj[row + sel[t * K + k]!]! >= 0 ? 1 : 0);
        keys[keysOff + t * stride + r] = key;
      }
    }
  },

  /**
   * The ids with lo <= votes < hi (lo >= 1) (LshTables' topByLogit, dense tally): appended to
   * cand[n ..), ascending, until max, with their estimated logits
   *   score[i] = cosv[v] * rowNorm[id] * xNorm + bias[id],   v = tally[id], id = cand[i]
   * in float64, in that order; returns the new n.
   */
  voteScores(tally: Uint8Array | Uint16Array, N: number, lo: number, hi: number, cosv: Float64Array, rowNorm: Float32Array, bias: Float32Array, xNorm: number, cand: Int32Array, score: Float64Array, n: number, max: number): number {
    for (let id = 0; id < N && n < max; id++) {
      const v = tally[id]!;
      if (v < lo || v >= hi) continue;
      cand[n] = id;
      score[n++] = cosv[v]! * rowNorm[id]! * xNorm + bias[id]!;
    }
    return n;
  },

  /**
   * The items of ids / score [from, n) whose score is at least floor, kept in order from `from`;
   * returns the new end. The slots past it hold what the items moved left behind (the kernel's,
   * equal).
   */
  scoreKeep(ids: Int32Array, score: Float64Array, from: number, n: number, floor: number): number {
    let m = from;
    for (let i = from; i < n; i++) {
      const v = score[i]!;
      ids[m] = ids[i]!;
      score[m] = v;
      if (v >= floor) m++;
    }
    return m;
  },

  /**
   * The cut of a top-cap selection by score (LshTables' topByLogit; n > cap > 0), at the bin of
   * scoreCut below: in input order, the ids of the bins before it into out[0 ..) and the ids and
   * scores of its own into tmpIds / tmpScore. Returns how many went to out; hist[0] = how many
   * went to tmpIds. The slot past each holds an item that did not go there (the kernel's, equal).
   */
  scoreSplit(ids: Int32Array, score: Float64Array, n: number, cap: number, hist: Int32Array, out: Int32Array, tmpIds: Int32Array, tmpScore: Float64Array): number {
    const cut = scoreCut(score, n, cap, hist);
    const hi = cutOf[0]!;
    const scale = cutOf[1]!;
    let m = 0;
    let g = 0;
    for (let i = 0; i < n; i++) {
      const b = ((hi - score[i]!) * scale) | 0;
      out[m] = tmpIds[g] = ids[i]!;
      tmpScore[g] = score[i]!;
      if (b < cut) m++;
      else if (b === cut) g++;
    }
    hist[0] = g;
    return m;
  },

  /**
   * A floor under the cap-th largest of score[0 .. n) (n >= cap > 0; topByLogit's first pass):
   * the least score in the bin of scoreCut below, above which (with it) lie at least cap.
   */
  scoreFloor(score: Float64Array, n: number, cap: number, hist: Int32Array): number {
    const cut = scoreCut(score, n, cap, hist);
    const hi = cutOf[0]!;
    const scale = cutOf[1]!;
    let f = Infinity;
    for (let i = 0; i < n; i++) if ((((hi - score[i]!) * scale) | 0) === cut && score[i]! < f) f = score[i]!;
    return f;
  },

  /**
   * Lengths of m rows after centring (LshSampler's rows for activeSet.queryRank 'logit'):
   * out[outOff + r] = |X[xOff + r*n .. +n) - mean[0 .. n)|, r < m. The kernels sum in float32
   * lanes: equal to this within rounding.
   */
  centredNorms(X: Float32Array, xOff: number, n: number, m: number, mean: Float32Array, out: Float32Array, outOff: number): void {
    for (let r = 0; r < m; r++) {
      const base = xOff + r * n;
      let s = 0;
      for (let k = 0; k < n; k++) {
        const d = X[base + k]! - mean[k]!;
        s += d * d;
      }
      out[outOff + r] = Math.sqrt(s);
    }
  },

  /**
   * Column sums of m rows in float64, row after row (the mean row a rebuild centres on, as
   * LshSampler.prepareRebuild sums it): acc[k] += X[xOff + r*n + k] for r = 0, 1, .. m-1, k < n.
   * Each addition is one float64 rounding in that order, so both implementations agree bit for bit.
   */
  colSums(X: Float32Array, xOff: number, n: number, m: number, acc: Float64Array): void {
    for (let r = 0; r < m; r++) {
      const base = xOff + r * n;
      for (let k = 0; k < n; k++) acc[k] += X[base + k]!;
    }
  },

  /**
   * WTA / DWTA codes of m dense rows, before densification (Wta.hashDenseRow, and Dwta's arg-max
   * step): row r < m is X[xOff + r*n .. +n), minus mean[0 .. n) when mean is given (each
   * difference rounded to float32, as a Float32Array stores it). Each value v becomes an int32
   * key whose signed order is the float order, key = b ^ ((b >> 31) & 0x7fffffff) for its bits b
   * (wtaKernel.ts), except zeros (+0 and -0): key 0 when dwta = 0, INT32_MIN (below every value)
   * when dwta = 1. Code h of row r is the position p < binSize of the largest key among the
   * coordinates coords[h*binSize + p], ties to the first position; -1 instead when that key is
   * INT32_MIN (an empty DWTA bin). Codes are hash-major (a hash's codes of the m rows are
   * contiguous, ld >= m apart):
   *   codes[codesOff + h*ld + r],   h < H, r < m
   * Returns the number of empty bins (codes -1: 0 unless dwta). buf: 8*n int32 of scratch. NaN
   * inputs give unspecified codes.
   */
  wtaCodes(coords: Int32Array, H: number, binSize: number, dwta: number, X: Float32Array, xOff: number, n: number, m: number, mean: Float32Array | null, buf: Int32Array, codes: Int32Array, codesOff: number, ld: number): number {
    const zeroKey = dwta !== 0 ? KEY_MIN : 0;
    let empty = 0;
    for (let r = 0; r < m; r++) {
      const x = xOff + r * n;
      for (let i = 0; i < n; i++) {
        punF32[0] = mean !== null ? X[x + i]! - mean[i]! : X[x + i]!;
        const b = punI32[0]!;
        buf[i] = (b & 0x7fffffff) === 0 ? zeroKey : b ^ ((b >> 31) & 0x7fffffff);
      }
      for (let h = 0; h < H; h++) {
        let best = KEY_MIN;
        let pos = 0;
        for (let p = 0; p < binSize; p++) {
          const k = buf[coords[h * binSize + p]!]!;
          if (k > best) {
            best = k;
            pos = p;
          }
        }
        codes[codesOff + h * ld + r] = best === KEY_MIN ? -1 : pos;
        if (best === KEY_MIN) empty++;
      }
    }
    return empty;
  },

  /**
   * DWTA densification (Densifier in hashing/common.ts), in place on hash-major codes as
   * wtaCodes writes them: for each row r < m (codes[codesOff + h*ld + r], h < H, -1 for an empty
   * bin): no empty bin, nothing changes; every bin empty (a zero input), every code becomes 0
   * (EMPTY_INPUT_CODE); else an empty bin h takes the code of the first non-empty bin among
   * probes[h*16 + a], a < 16 (PROBE_CAP), and if none is, that of the first non-empty bin after h,
   * circularly. Borrowed codes are read from the row as it was (a filled bin lends nothing).
   * buf: 2*H int32 of scratch.
   */
  densifyCodes(codes: Int32Array, codesOff: number, ld: number, m: number, H: number, probes: Int32Array, buf: Int32Array): void {
    for (let r = 0; r < m; r++) {
      const o = codesOff + r;
      let nonEmpty = 0;
      for (let h = 0; h < H; h++) if (codes[o + h * ld]! >= 0) nonEmpty++;
      if (nonEmpty === H) continue;
      if (nonEmpty === 0) {
        for (let h = 0; h < H; h++) codes[o + h * ld] = EMPTY_INPUT_CODE;
        continue;
      }
      // buf[0 .. H): the row as it was; buf[H + h]: the first non-empty bin after h, circularly
      for (let h = 0; h < H; h++) buf[h] = codes[o + h * ld]!;
      let nxt = 0;
      while (buf[nxt]! < 0) nxt++;
      for (let h = H - 1; h >= 0; h--) {
        buf[H + h] = nxt;
        if (buf[h]! >= 0) nxt = h;
      }
      for (let h = 0; h < H; h++) {
        if (buf[h]! >= 0) continue;
        let found = -1;
        for (let a = 0; a < PROBE_CAP && found < 0; a++) found = buf[probes[h * PROBE_CAP + a]!]!;
        codes[o + h * ld] = found >= 0 ? found : buf[buf[H + h]!]!;
      }
    }
  },

  /**
   * Table keys of m rows from their codes (LshTables' combineCodes, a rebuild's staging): codes
   * hash-major as wtaCodes writes them, codes[codesOff + h*ld + r], h < H; table t's key of row r
   * combines code k = codes[codesOff + sel[t*K + k]*ld + r] & (2^bits - 1), k < K: their
   * concatenation, the first in the highest bits, when K*bits <= rangePow; else the concatenation
   * cut into 32-bit words folded by mix32 from 0x9e3779b9, the top rangePow bits kept:
   *   keys[keysOff + t*stride + r],   r < m, t < L
   */
  codeKeys(codes: Int32Array, codesOff: number, ld: number, H: number, m: number, sel: Int32Array, K: number, L: number, bits: number, rangePow: number, keys: Int32Array, keysOff: number, stride: number): void {
    const mask = (1 << bits) - 1;
    for (let r = 0; r < m; r++) {
      for (let t = 0; t < L; t++) {
        let key = 0;
        if (K * bits <= rangePow) {
          for (let k = 0; k < K; k++) key = (key << bits) | (codes[codesOff + sel[t * K + k]! * ld + r]! & mask);
        } else {
          let h = 0x9e3779b9 | 0;
          let word = 0;
          let used = 0;
          for (let k = 0; k < K; k++) {
            if (used + bits > 32) {
              h = mix32(h ^ word);
              word = 0;
              used = 0;
            }
            word = (word << bits) | (codes[codesOff + sel[t * K + k]! * ld + r]! & mask);
            used += bits;
          }
          key = mix32(h ^ word) >>> (32 - rangePow);
        }
        keys[keysOff + t * stride + r] = key;
      }
    }
  },

  /**
   * One table's CSR from its items' keys (LshTables.commitTable) when every item is present and
   * no bucket overflows: a stable counting sort of items i < m, ids[i] (i itself when ids is
   * null), by keys[keysOff + i]. If every key is in [0, R) and no bucket has more than S items:
   * off[offOff .. + R] = the bucket offsets (off[offOff] = 0, off[offOff + R] = m) and
   * ent[entOff + off[offOff + b] ..) the ids of bucket b in item order; returns m. Otherwise
   * returns -1, ent untouched (off then holds partial counts: the caller rebuilds it).
   */
  bucketSort(keys: Int32Array, keysOff: number, ids: Int32Array | null, m: number, R: number, S: number, off: Int32Array, offOff: number, ent: Int32Array, entOff: number): number {
    off.fill(0, offOff, offOff + R + 1);
    for (let i = 0; i < m; i++) {
      const k = keys[keysOff + i]!;
      if (!(k >= 0 && k < R)) return -1;
      off[offOff + k + 1]++;
    }
    for (let b = 0; b < R; b++) {
      const c = off[offOff + b + 1]!;
      if (c > S) return -1;
      off[offOff + b + 1] = c + off[offOff + b]!;
    }
    // off[b] serves as bucket b's cursor (it ends at the start of b + 1) and is shifted back
    for (let i = 0; i < m; i++) ent[entOff + off[offOff + keys[keysOff + i]!]!++] = ids !== null ? ids[i]! : i;
    off.copyWithin(offOff + 1, offOff, offOff + R);
    off[offOff] = 0;
    return m;
  },

  /**
   * One table's CSR from its keys in the general case (LshTables.commitTable when an item is
   * absent or a bucket holds more than S items): items i < m with keys[keysOff + i] (-1 =
   * absent). off[offOff .. + R] = the bucket offsets, ent[entOff + off[offOff + b] ..) the ids
   * kept in bucket b (at most S), in id order, except that a full bucket's reservoir slots hold
   * their replacements: full buckets keep the S highest ids (reservoir = 0) or Algorithm R's
   * sample in id order (reservoir = 1: the c-th item, c > S, replaces slot j = rng.nextInt(c)
   * when j < S; one generator over the table's items, with xoshiro128** state (s0, s1, s2, s3)).
   * count: scratch (R). stats[0 .. 3) = items present, items dropped, buckets over S.
   */
  bucketCommit(keys: Int32Array, keysOff: number, m: number, R: number, S: number, reservoir: number, s0: number, s1: number, s2: number, s3: number, off: Int32Array, offOff: number, ent: Int32Array, entOff: number, count: Int32Array, stats: Int32Array): void {
    count.fill(0, 0, R);
    let present = 0;
    for (let i = 0; i < m; i++) {
      const k = keys[keysOff + i]!;
      if (k >= 0) {
        count[k]++;
        present++;
      }
    }
    let total = 0;
    let dropped = 0;
    let overflowing = 0;
    for (let b = 0; b < R; b++) {
      const c = count[b]!;
      off[offOff + b] = total;
      if (c > S) {
        total += S;
        dropped += c - S;
        overflowing++;
      } else {
        total += c;
      }
    }
    off[offOff + R] = total;
    if (reservoir === 0) {
      // count[b] becomes the number of lowest ids of b to skip; off[b] serves as b's cursor and
      // is shifted back afterwards
      for (let b = 0; b < R; b++) {
        const c = count[b]!;
        count[b] = c > S ? c - S : 0;
      }
      for (let i = 0; i < m; i++) {
        const b = keys[keysOff + i]!;
        if (b < 0) continue;
        if (count[b]! > 0) {
          count[b]--;
          continue;
        }
        ent[entOff + off[offOff + b]!] = i;
        off[offOff + b]++;
      }
      off.copyWithin(offOff + 1, offOff, offOff + R);
      off[offOff] = 0;
    } else {
      const rng = new Rng(0);
      rng.setState(Uint32Array.of(s0 >>> 0, s1 >>> 0, s2 >>> 0, s3 >>> 0, 0, 0, 0));
      count.fill(0, 0, R);
      for (let i = 0; i < m; i++) {
        const b = keys[keysOff + i]!;
        if (b < 0) continue;
        const c = ++count[b]!;
        if (c <= S) {
          ent[entOff + off[offOff + b]! + c - 1] = i;
        } else {
          const j = rng.nextInt(c);
          if (j < S) ent[entOff + off[offOff + b]! + j] = i;
        }
      }
    }
    stats[0] = present;
    stats[1] = dropped;
    stats[2] = overflowing;
  },

  /**
   * The counting half of a top-by-votes query over L bucket ranges of a table set's entries
   * (LshTables.topByVotes, dense tally): tally is zeroed, then
   *   tally[id] (id < N) = how many ranges [bStart[t], bEnd[t]) of `entries` hold id (t < L).
   * A Uint8Array tally holds counts up to 255 (L < 256), a Uint16Array up to 65,535.
   */
  voteTally(entries: Int32Array, bStart: Int32Array, bEnd: Int32Array, L: number, tally: Uint8Array | Uint16Array, N: number): void {
    tally.fill(0, 0, N);
    for (let t = 0; t < L; t++) {
      const e = bEnd[t]!;
      for (let j = bStart[t]!; j < e; j++) tally[entries[j]!]++;
    }
  },

  /**
   * The ids with lo <= votes < hi (lo >= 1), appended after the first n of cand:
   *   cand[n ..) = the ids id < N with lo <= tally[id] < hi, ascending, until n reaches max
   *   (the first ids of the band: the scan stops there);
   *   hist[v] += how many of them have v votes (hist: at least hi entries);
   * returns the new n. Bands collected one after another (lo..hi, then a lower lo..lo) keep
   * each vote group ascending in cand.
   */
  voteCollect(tally: Uint8Array | Uint16Array, N: number, lo: number, hi: number, hist: Int32Array, cand: Int32Array, n: number, max: number): number {
    for (let id = 0; id < N && n < max; id++) {
      const v = tally[id]!;
      if (v >= lo && v < hi) {
        hist[v]++;
        cand[n++] = id;
      }
    }
    return n;
  },

  /**
   * The placement of a top-by-votes selection (LshTables.topByVotes, dense tally): cand[0 .. nc)
   * are ids (ascending within each vote group) with votes tally[id]; hist[v] is the first output slot of vote group v
   * for every v > vt (the votes at the cut). In order, an id with v > vt votes goes to
   * out[hist[v]++]; the first `need` ids with exactly vt votes go to out[above], out[above + 1],
   * ...; the rest are dropped. outVotes, when given, receives the votes at the same slots.
   */
  votePlace(cand: Int32Array, nc: number, tally: Uint8Array | Uint16Array, hist: Int32Array, vt: number, above: number, need: number, out: Int32Array, outVotes: Int32Array | null): void {
    let g = 0;
    for (let i = 0; i < nc; i++) {
      const c = cand[i]!;
      const v = tally[c]!;
      let p = -1;
      if (v > vt) p = hist[v]!++;
      else if (v === vt && g < need) p = above + g++;
      if (p < 0) continue;
      out[p] = c;
      if (outVotes !== null) outVotes[p] = v;
    }
  },

  /**
   * Backward of `dotRows`, accumulating (HOGWILD-safe: plain += on shared memory).
   * For i < nRows, r = rows[rowsOff+i], g = grad[gradOff+i]:
   *   dx[dxOff .. +n)   += g * W[r*n .. +n)      (skipped when dx is null)
   *   G[r*n .. +n)      += g * x[xOff .. +n)
   *   gBias[r]          += g
   */
  rowsBackward(W: Float32Array, G: Float32Array, gBias: Float32Array, n: number, rows: Int32Array, rowsOff: number, nRows: number, grad: Float32Array, gradOff: number, x: Float32Array, xOff: number, dx: Float32Array | null, dxOff: number): void {
    for (let i = 0; i < nRows; i++) {
      const g = grad[gradOff + i]!;
      if (g === 0) continue;
      const r = rows[rowsOff + i]!;
      const base = r * n;
      if (dx !== null) for (let k = 0; k < n; k++) dx[dxOff + k] = dx[dxOff + k]! + g * W[base + k]!;
      for (let k = 0; k < n; k++) G[base + k] = G[base + k]! + g * x[xOff + k]!;
      gBias[r] = gBias[r]! + g;
    }
  },

  /**
   * The input half of `rowsBackward` alone (its weight half deferred, see `gradRows`). For
   * i < nRows, r = rows[rowsOff+i], g = grad[gradOff+i] (skipped when g == 0):
   *   dx[dxOff .. +n) += g * W[r*n .. +n)
   */
  rowsDx(W: Float32Array, n: number, rows: Int32Array, rowsOff: number, nRows: number, grad: Float32Array, gradOff: number, dx: Float32Array, dxOff: number): void {
    for (let i = 0; i < nRows; i++) {
      const g = grad[gradOff + i]!;
      if (g === 0) continue;
      const base = rows[rowsOff + i]! * n;
      for (let k = 0; k < n; k++) dx[dxOff + k] = dx[dxOff + k]! + g * W[base + k]!;
    }
  },

  /**
   * The weight half of `rowsBackward`, deferred to the update: each touched row sums its
   * samples' contributions at once. For i in [rowsOff, rowsOff + nRows), r = rows[i], and
   * k in [ptr[i], ptr[i+1]) in order, c = coef[k]:
   *   G[r*n .. +n) += c * X[src[k]*n .. +n);   gBias[r] += c   (gBias skipped when null)
   * X: (slots, n), one vector per sample slot of the batch.
   */
  gradRows(G: Float32Array, gBias: Float32Array | null, n: number, rows: Int32Array, rowsOff: number, nRows: number, ptr: Int32Array, src: Int32Array, coef: Float32Array, X: Float32Array): void {
    for (let i = rowsOff; i < rowsOff + nRows; i++) {
      const r = rows[i]!;
      const base = r * n;
      for (let k = ptr[i]!; k < ptr[i + 1]!; k++) {
        const c = coef[k]!;
        const xb = src[k]! * n;
        for (let j = 0; j < n; j++) G[base + j] = G[base + j]! + c * X[xb + j]!;
        if (gBias !== null) gBias[r] = gBias[r]! + c;
      }
    }
  },

  /**
   * The weight half of `rowsBackward` deferred for a layer whose every row is active in every
   * sample (dense layers): sample slot s recorded its gradients in coef[s*stride .. +rows) and its
   * input in X[s*n .. +n). For i in [rowsOff, rowsOff + nRows), r = rows[i], and the slots
   * s = used[u], u < nUsed, in that order, c = coef[s*stride + r]:
   *   G[r*n .. +n) += c * X[s*n .. +n);   gBias[r] += c
   */
  gradRowsDense(G: Float32Array, gBias: Float32Array, n: number, rows: Int32Array, rowsOff: number, nRows: number, coef: Float32Array, stride: number, used: Int32Array, nUsed: number, X: Float32Array): void {
    for (let i = rowsOff; i < rowsOff + nRows; i++) {
      const r = rows[i]!;
      const base = r * n;
      for (let u = 0; u < nUsed; u++) {
        const s = used[u]!;
        const c = coef[s * stride + r]!;
        const xb = s * n;
        for (let j = 0; j < n; j++) G[base + j] = G[base + j]! + c * X[xb + j]!;
        gBias[r] = gBias[r]! + c;
      }
    }
  },

  /**
   * Forward of the feature-major sparse input layer. W: (nIn, nOut) row-major (one row per
   * input feature, so a sample reads nnz contiguous rows); bias: (nOut).
   *   out[outOff+j] = bias[j] + sum_{k in [start,end)} val[k] * W[idx[k]*nOut + j],  j < nOut
   */
  sparseInputForward(W: Float32Array, bias: Float32Array, nOut: number, idx: Int32Array, val: Float32Array, start: number, end: number, out: Float32Array, outOff: number): void {
    for (let j = 0; j < nOut; j++) out[outOff + j] = bias[j]!;
    for (let k = start; k < end; k++) {
      const v = val[k]!;
      const base = idx[k]! * nOut;
      for (let j = 0; j < nOut; j++) out[outOff + j] = out[outOff + j]! + v * W[base + j]!;
    }
  },

  /**
   * Backward of `sparseInputForward` (the input gradient is not needed).
   *   G[idx[k]*nOut + j] += val[k] * delta[deltaOff+j];  gBias[j] += delta[deltaOff+j]
   */
  sparseInputBackward(G: Float32Array, gBias: Float32Array, nOut: number, idx: Int32Array, val: Float32Array, start: number, end: number, delta: Float32Array, deltaOff: number): void {
    for (let j = 0; j < nOut; j++) gBias[j] = gBias[j]! + delta[deltaOff + j]!;
    for (let k = start; k < end; k++) {
      const v = val[k]!;
      const base = idx[k]! * nOut;
      for (let j = 0; j < nOut; j++) G[base + j] = G[base + j]! + v * delta[deltaOff + j]!;
    }
  },

  /**
   * Lazy Adam over touched rows, then zero their gradients. W, M, V, G: (rows, n); row r is
   * [r*n, r*n+n). lrT is the bias-corrected step lr * sqrt(1-b2^t) / (1-b1^t); `decay` (default 1)
   * is decoupled weight decay as a factor 1 - lr * weightDecay (AdamW, Loshchilov & Hutter 2019).
   *   m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2;  w = decay * w - lrT * m / (sqrt(v) + eps);  g = 0
   */
  adamRows(W: Float32Array, M: Float32Array, V: Float32Array, G: Float32Array, n: number, rows: Int32Array, rowsOff: number, nRows: number, lrT: number, b1: number, b2: number, eps: number, decay: number = 1): void {
    const c1 = 1 - b1;
    const c2 = 1 - b2;
    for (let i = 0; i < nRows; i++) {
      const base = rows[rowsOff + i]! * n;
      for (let k = base; k < base + n; k++) {
        const g = G[k]!;
        const m = b1 * M[k]! + c1 * g;
        const v = b2 * V[k]! + c2 * g * g;
        M[k] = m;
        V[k] = v;
        W[k] = decay * W[k]! - (lrT * m) / (Math.sqrt(v) + eps);
        G[k] = 0;
      }
    }
  },

  /**
   * The rows of deferred gradient pairs as touched rows (ParamBlock's marks and list): for each
   * pair row r of pRow (slots, budget; slot b holding pCnt[b] pairs), in slot and pair order, if
   * mark[r] == 0 then mark[r] = 1 and r is appended to touched[n ..). Returns the new length.
   */
  markPairs(pRow: Int32Array, pCnt: Int32Array, slots: number, budget: number, mark: Int32Array, touched: Int32Array, n: number): number {
    for (let b = 0; b < slots; b++) {
      for (let k = b * budget; k < b * budget + pCnt[b]!; k++) {
        const r = pRow[k]!;
        if (mark[r] === 0) {
          mark[r] = 1;
          touched[n++] = r;
        }
      }
    }
    return n;
  },

  /** The rows r < n with mark[r] != 0, ascending, into out[0 ..); returns how many. */
  markedRows(mark: Int32Array, n: number, out: Int32Array): number {
    let k = 0;
    for (let r = 0; r < n; r++) if (mark[r] !== 0) out[k++] = r;
    return k;
  },

  /**
   * Group the deferred gradient pairs of a batch's sample slots by touched row, a counting sort
   * stable in slot order (see DeferredGrads). pRow, pCoef: (slots, budget), slot b holding
   * pCnt[b] pairs; every pair's row must be among touched[0 .. nTouched). Writes
   * pos[touched[i]] = i + 1 (the index of its cursor in ptr); ptr[0 .. nTouched] with position
   * i's pairs at [ptr[i], ptr[i+1]) of src (their slots, ascending) and coef (their values);
   * zeroes pCnt[0 .. slots). Returns the number of pairs (0: nothing else written but pCnt).
   */
  groupPairs(touched: Int32Array, nTouched: number, pos: Int32Array, ptr: Int32Array, pRow: Int32Array, pCoef: Float32Array, pCnt: Int32Array, slots: number, budget: number, src: Int32Array, coef: Float32Array): number {
    let total = 0;
    for (let b = 0; b < slots; b++) total += pCnt[b]!;
    if (total === 0) return 0;
    for (let i = 0; i < nTouched; i++) pos[touched[i]!] = i + 1;
    ptr.fill(0, 0, nTouched + 1);
    // each position's count at its cursor ptr[i + 1], then turned into its start
    for (let b = 0; b < slots; b++) for (let k = b * budget; k < b * budget + pCnt[b]!; k++) ptr[pos[pRow[k]!]!]++;
    let run = 0;
    for (let i = 1; i <= nTouched; i++) {
      const c = ptr[i]!;
      ptr[i] = run;
      run += c;
    }
    for (let b = 0; b < slots; b++) {
      for (let k = b * budget; k < b * budget + pCnt[b]!; k++) {
        const p = ptr[pos[pRow[k]!]!]++;
        src[p] = b;
        coef[p] = pCoef[k]!;
      }
      pCnt[b] = 0;
    }
    return total;
  },

  /**
   * The first step of grouping pairs in one thread's part [r0, r1) of the rows: the pairs of
   * pRow (slots x budget, pCnt[b] pairs in slot b) whose rows lie in the part, as indices into
   * pRow, into list[0 ..) in slot and pair order, slot b's ending at slotEnd[b]. Returns the
   * pairs of rows below r0.
   */
  selectPairs(pRow: Int32Array, pCnt: Int32Array, slots: number, budget: number, r0: number, r1: number, list: Int32Array, slotEnd: Int32Array): number {
    let below = 0;
    let m = 0;
    for (let b = 0; b < slots; b++) {
      for (let k = b * budget; k < b * budget + pCnt[b]!; k++) {
        const r = pRow[k]!;
        if (r >= r0 && r < r1) list[m++] = k;
        else if (r < r0) below++;
      }
      slotEnd[b] = m;
    }
    return below;
  },

  /** The counting half of grouping pairs when no row is marked yet: mark[pRow[list[j]]] += 1 for j < m (selectPairs' list). */
  countPairs(pRow: Int32Array, list: Int32Array, m: number, mark: Int32Array): void {
    for (let j = 0; j < m; j++) mark[pRow[list[j]!]!]++;
  },

  /**
   * After countPairs, one thread's part [r0, r1) listed at its own place: the k-th row r of the
   * part with mark[r] != 0 (ascending) goes to touched[r0 + k] and ptr[r0 + k + 1] = where its
   * pairs end (base + the part's pairs up to it); its count in mark[r] becomes where its pairs
   * start (placePairs' cursor). Returns the part's count.
   */
  listCounted(mark: Int32Array, r0: number, r1: number, touched: Int32Array, ptr: Int32Array, base: number): number {
    let k = r0;
    let run = base;
    for (let r = r0; r < r1; r++) {
      const c = mark[r]!;
      if (c === 0) continue;
      mark[r] = run;
      run += c;
      touched[k++] = r;
      ptr[k] = run;
    }
    return k - r0;
  },

  /**
   * The placing half of grouping pairs: each listed pair (selectPairs' list, slot b's ending at
   * slotEnd[b]) of slot b goes to src/coef[mark[row]++] with src = b (listCounted leaves in
   * mark[row] the start of the row's pairs).
   */
  placePairs(mark: Int32Array, pRow: Int32Array, pCoef: Float32Array, list: Int32Array, slotEnd: Int32Array, slots: number, src: Int32Array, coef: Float32Array): void {
    let j = 0;
    for (let b = 0; b < slots; b++) {
      for (; j < slotEnd[b]!; j++) {
        const k = list[j]!;
        const p = mark[pRow[k]!]!++;
        src[p] = b;
        coef[p] = pCoef[k]!;
      }
    }
  },

  /**
   * `gradRows` and `adamRows` fused, for rows whose G holds nothing: for i in [rowsOff,
   * rowsOff + nRows), r = rows[i], the row's gradient g = sum over k in [ptr[i], ptr[i+1]) of
   * coef[k] * X[src[k]*n .. +n) (in that order, from 0) takes the Adam step of adamRows on
   * W, M, V row r without passing through G; gBias[r] += sum of coef[k] (skipped when gBias is null).
   */
  adamRowsPairs(W: Float32Array, M: Float32Array, V: Float32Array, gBias: Float32Array | null, n: number, rows: Int32Array, rowsOff: number, nRows: number, ptr: Int32Array, src: Int32Array, coef: Float32Array, X: Float32Array, lrT: number, b1: number, b2: number, eps: number, decay: number = 1): void {
    const c1 = 1 - b1;
    const c2 = 1 - b2;
    for (let i = rowsOff; i < rowsOff + nRows; i++) {
      const r = rows[i]!;
      const base = r * n;
      const k0 = ptr[i]!;
      const k1 = ptr[i + 1]!;
      for (let j = 0; j < n; j++) {
        // rounded to float32 at every addition, as G would hold it: gradRows + adamRows exactly
        let g = 0;
        for (let k = k0; k < k1; k++) g = Math.fround(g + coef[k]! * X[src[k]! * n + j]!);
        const m = b1 * M[base + j]! + c1 * g;
        const v = b2 * V[base + j]! + c2 * g * g;
        M[base + j] = m;
        V[base + j] = v;
        W[base + j] = decay * W[base + j]! - (lrT * m) / (Math.sqrt(v) + eps);
      }
      if (gBias !== null) for (let k = k0; k < k1; k++) gBias[r] = gBias[r]! + coef[k]!;
    }
  },

  /** Plain SGD over touched rows, then zero their gradients: w = decay * w - lr * g; g = 0 (decay default 1) */
  sgdRows(W: Float32Array, G: Float32Array, n: number, rows: Int32Array, rowsOff: number, nRows: number, lr: number, decay: number = 1): void {
    for (let i = 0; i < nRows; i++) {
      const base = rows[rowsOff + i]! * n;
      for (let k = base; k < base + n; k++) {
        W[k] = decay * W[k]! - lr * G[k]!;
        G[k] = 0;
      }
    }
  },

  /** x[off+i] = max(0, x[off+i]) */
  relu(x: Float32Array, off: number, n: number): void {
    for (let i = off; i < off + n; i++) if (!(x[i]! > 0)) x[i] = 0;
  },

  /**
   * In-place softmax over x[off .. off+n); writes log(sum exp(x - max)) + max (the log
   * partition, so log p_i = x_i - logZ) to logZ[0]. (Written to an array, not returned: a double
   * returned across the wasm wrapper is boxed on the heap, an allocation per sample.)
   */
  softmax(x: Float32Array, off: number, n: number, logZ: Float64Array): void {
    let mx = -Infinity;
    for (let i = off; i < off + n; i++) if (x[i]! > mx) mx = x[i]!;
    let s = 0;
    for (let i = off; i < off + n; i++) {
      const e = Math.exp(x[i]! - mx);
      x[i] = e;
      s += e;
    }
    const inv = 1 / s;
    for (let i = off; i < off + n; i++) x[i] = x[i]! * inv;
    logZ[0] = Math.log(s) + mx;
  },
};

export type Kernels = typeof jsKernels;

/**
 * A histogram hist[0 .. 1024) of score[0 .. n), score s in bin (hi - s) * 1023 / (hi - lo)
 * truncated (lo, hi their least and largest; every score in bin 0 when they are equal), and the bin
 * the cut of a top-cap selection falls in (the bins before it hold fewer than cap, with it at least
 * cap; n >= cap > 0): scoreSplit's and scoreFloor's. Returns the bin; hi and the scale into cutOf.
 */
function scoreCut(score: Float64Array, n: number, cap: number, hist: Int32Array): number {
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < n; i++) {
    const v = score[i]!;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  const scale = hi > lo ? 1023 / (hi - lo) : 0;
  hist.fill(0, 0, 1024);
  for (let i = 0; i < n; i++) hist[((hi - score[i]!) * scale) | 0]++;
  let cut = 0;
  let above = 0;
  while (above + hist[cut]! < cap) above += hist[cut++]!;
  cutOf[0] = hi;
  cutOf[1] = scale;
  return cut;
}

/** scoreCut's hi and scale (one module, one thread) */
const cutOf = new Float64Array(2);
