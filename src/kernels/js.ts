import type { Kernels } from './types.js';

/**
 * Plain TypeScript kernels: the oracle for the WebAssembly ones and the fallback.
 * Loops are monomorphic (one typed-array type per parameter), accumulate in a number and take
 * lengths as arguments (measured here: `i < n` beats `i < a.length` by 2x).
 */
export const jsKernels: Kernels = {
  name: 'js',

  dot(a, aOff, b, bOff, n) {
    let s = 0;
    for (let i = 0; i < n; i++) s += a[aOff + i]! * b[bOff + i]!;
    return s;
  },

  axpy(alpha, x, xOff, y, yOff, n) {
    for (let i = 0; i < n; i++) y[yOff + i] = y[yOff + i]! + alpha * x[xOff + i]!;
  },

  dotRows(W, bias, n, rows, rowsOff, nRows, x, xOff, out, outOff) {
    for (let i = 0; i < nRows; i++) {
      const r = rows[rowsOff + i]!;
      const base = r * n;
      let s = 0;
      for (let k = 0; k < n; k++) s += W[base + k]! * x[xOff + k]!;
      out[outOff + i] = s + bias[r]!;
    }
  },

  projectRows(P, bias, n, H, X, xOff, m, out, outOff) {
    for (let r = 0; r < m; r++) {
      for (let h = 0; h < H; h++) out[outOff + r * H + h] = jsKernels.dot(P, h * n, X, xOff + r * n, n) + bias[h]!;
    }
  },

  hadamardRows(S, bias, n, p, rounds, H, X, xOff, m, buf, out, outOff) {
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

  signKeys(proj, projOff, H, m, sel, K, L, keys, keysOff, stride) {
    for (let r = 0; r < m; r++) {
      const row = projOff + r * H;
      for (let t = 0; t < L; t++) {
        let key = 0;
        for (let k = 0; k < K; k++) key = (key << 1) | (proj[row + sel[t * K + k]!]! >= 0 ? 1 : 0);
        keys[keysOff + t * stride + r] = key;
      }
    }
  },

  bucketSort(keys, keysOff, ids, m, R, S, off, offOff, ent, entOff) {
    off.fill(0, offOff, offOff + R + 1);
    for (let i = 0; i < m; i++) off[offOff + keys[keysOff + i]! + 1]++;
    for (let b = 0; b < R; b++) {
      const c = off[offOff + b + 1]!;
      if (c > S) return -1;
      off[offOff + b + 1] = c + off[offOff + b]!;
    }
    // off[b] serves as bucket b's cursor (it ends at the start of b + 1) and is shifted back
    for (let i = 0; i < m; i++) ent[entOff + off[offOff + keys[keysOff + i]!]!++] = ids[i]!;
    off.copyWithin(offOff + 1, offOff, offOff + R);
    off[offOff] = 0;
    return m;
  },

  voteTally(entries, bStart, bEnd, L, tally, N) {
    tally.fill(0, 0, N);
    for (let t = 0; t < L; t++) {
      const e = bEnd[t]!;
      for (let j = bStart[t]!; j < e; j++) tally[entries[j]!]++;
    }
  },

  voteCollect(tally, N, L, lo, hist, cand) {
    hist.fill(0, 0, L + 2);
    let n = 0;
    for (let id = 0; id < N; id++) {
      const v = tally[id]!;
      if (v >= lo) {
        hist[v]++;
        cand[n++] = id;
      }
    }
    return n;
  },

  votePlace(cand, nc, tally, hist, vt, above, need, out, outVotes) {
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

  rowsBackward(W, G, gBias, n, rows, rowsOff, nRows, grad, gradOff, x, xOff, dx, dxOff) {
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

  rowsDx(W, n, rows, rowsOff, nRows, grad, gradOff, dx, dxOff) {
    for (let i = 0; i < nRows; i++) {
      const g = grad[gradOff + i]!;
      if (g === 0) continue;
      const base = rows[rowsOff + i]! * n;
      for (let k = 0; k < n; k++) dx[dxOff + k] = dx[dxOff + k]! + g * W[base + k]!;
    }
  },

  gradRows(G, gBias, n, rows, rowsOff, nRows, ptr, src, coef, X) {
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

  sparseInputForward(W, bias, nOut, idx, val, start, end, out, outOff) {
    for (let j = 0; j < nOut; j++) out[outOff + j] = bias[j]!;
    for (let k = start; k < end; k++) {
      const v = val[k]!;
      const base = idx[k]! * nOut;
      for (let j = 0; j < nOut; j++) out[outOff + j] = out[outOff + j]! + v * W[base + j]!;
    }
  },

  sparseInputBackward(G, gBias, nOut, idx, val, start, end, delta, deltaOff) {
    for (let j = 0; j < nOut; j++) gBias[j] = gBias[j]! + delta[deltaOff + j]!;
    for (let k = start; k < end; k++) {
      const v = val[k]!;
      const base = idx[k]! * nOut;
      for (let j = 0; j < nOut; j++) G[base + j] = G[base + j]! + v * delta[deltaOff + j]!;
    }
  },

  adamRows(W, M, V, G, n, rows, rowsOff, nRows, lrT, b1, b2, eps, decay = 1) {
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

  markPairs(pRow, pCnt, slots, budget, mark, touched, n) {
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

  groupPairs(touched, nTouched, pos, ptr, pRow, pCoef, pCnt, slots, budget, src, coef) {
    let total = 0;
    for (let b = 0; b < slots; b++) total += pCnt[b]!;
    if (total === 0) return 0;
    for (let i = 0; i < nTouched; i++) pos[touched[i]!] = i;
    ptr.fill(0, 0, nTouched + 1);
    for (let b = 0; b < slots; b++) for (let k = b * budget; k < b * budget + pCnt[b]!; k++) ptr[pos[pRow[k]!]! + 1]++;
    for (let i = 0; i < nTouched; i++) ptr[i + 1] += ptr[i]!;
    // ptr[i] serves as position i's cursor (it ends at the start of i + 1) and is shifted back
    for (let b = 0; b < slots; b++) {
      for (let k = b * budget; k < b * budget + pCnt[b]!; k++) {
        const p = ptr[pos[pRow[k]!]!]++;
        src[p] = b;
        coef[p] = pCoef[k]!;
      }
      pCnt[b] = 0;
    }
    ptr.copyWithin(1, 0, nTouched);
    ptr[0] = 0;
    return total;
  },

  adamRowsPairs(W, M, V, gBias, n, rows, rowsOff, nRows, ptr, src, coef, X, lrT, b1, b2, eps, decay = 1) {
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
      for (let k = k0; k < k1; k++) gBias[r] = gBias[r]! + coef[k]!;
    }
  },

  sgdRows(W, G, n, rows, rowsOff, nRows, lr, decay = 1) {
    for (let i = 0; i < nRows; i++) {
      const base = rows[rowsOff + i]! * n;
      for (let k = base; k < base + n; k++) {
        W[k] = decay * W[k]! - lr * G[k]!;
        G[k] = 0;
      }
    }
  },

  relu(x, off, n) {
    for (let i = off; i < off + n; i++) if (!(x[i]! > 0)) x[i] = 0;
  },

  softmax(x, off, n, logZ) {
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
