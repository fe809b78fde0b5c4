/**
 * The arg-max kernel shared by WTA and DWTA, written without data-dependent branches.
 *
 * A plain `if (v > best)` arg-max mispredicts a branch about once per bin on real data (which
 * of 8 random values wins is random); measured here, that tripled the cost of hashing a
 * 128-dim vector with 300 bins of 8 (about 13 us instead of 4). So values are first mapped to
 * int32 keys whose signed order is the float order, and the running max and its position are
 * selected with masks.
 *
 * Keys: for float bits b, key = b ^ ((b >> 31) & 0x7fffffff) is order-preserving over non-NaN
 * floats (negative floats have their magnitude bits flipped) and never equals INT32_MIN.
 *  - WTA:  +0 and -0 both map to 0 (they are equal values), so a sparse row's absent
 *          coordinates (0) compare exactly like the dense form's zeros.
 *  - DWTA: zeros map to INT32_MIN, below every real value, so they never win; a bin whose best
 *          key is INT32_MIN is empty.
 * NaN inputs give unspecified (but in-range) codes.
 */

/** INT32_MIN: the DWTA key of a zero, and the start of every running max. */
export const ZERO_KEY_DWTA = -2147483648;

// one float <-> int32 pun for reading float bits (module-level: one isolate runs one call at a time)
const punF = new Float32Array(1);
const punI = new Int32Array(punF.buffer);

/** WTA key of a value (exactly order-preserving; -0 -> 0). */
export function wtaKey(v: number): number {
  punF[0] = v;
  const bits = punI[0]!;
  const z = ((bits & 0x7fffffff) - 1) >> 31; // -1 iff +-0
  return (bits ^ ((bits >> 31) & 0x7fffffff)) & ~z;
}

/** DWTA key of a value (zeros -> INT32_MIN). */
export function dwtaKey(v: number): number {
  punF[0] = v;
  const bits = punI[0]!;
  const z = ((bits & 0x7fffffff) - 1) >> 31; // -1 iff +-0
  return ((bits ^ ((bits >> 31) & 0x7fffffff)) & ~z) | (z & ZERO_KEY_DWTA);
}

/** keys[i] = WTA key of x[xOff + i], i < dim. */
export function wtaKeys(x: Float32Array, xOff: number, dim: number, keys: Int32Array): void {
  const pf = punF;
  const pi = punI;
  for (let i = 0; i < dim; i++) {
    pf[0] = x[xOff + i]!;
    const bits = pi[0]!;
    const z = ((bits & 0x7fffffff) - 1) >> 31;
    keys[i] = (bits ^ ((bits >> 31) & 0x7fffffff)) & ~z;
  }
}

/** keys[i] = DWTA key of x[xOff + i], i < dim. */
export function dwtaKeys(x: Float32Array, xOff: number, dim: number, keys: Int32Array): void {
  const pf = punF;
  const pi = punI;
  for (let i = 0; i < dim; i++) {
    pf[0] = x[xOff + i]!;
    const bits = pi[0]!;
    const z = ((bits & 0x7fffffff) - 1) >> 31;
    keys[i] = ((bits ^ ((bits >> 31) & 0x7fffffff)) & ~z) | (z & ZERO_KEY_DWTA);
  }
}

/**
 * For each bin h < numHashes: the position p < binSize of the largest keys[coords[h*binSize+p]],
 * ties to the first, into out[outOff + h]; -1 instead if that largest key is INT32_MIN (an empty
 * DWTA bin; with WTA keys it never is, for non-NaN input). Returns how many bins are not empty.
 */
export function argmaxBins(keys: Int32Array, coords: Int32Array, numHashes: number, binSize: number, out: Int32Array, outOff: number): number {
  let nonEmpty = 0;
  for (let h = 0; h < numHashes; h++) {
    const base = h * binSize;
    let best = ZERO_KEY_DWTA;
    let pos = 0;
    for (let p = 0; p < binSize; p++) {
      const k = keys[coords[base + p]!]!;
      // lt = -1 iff best < k, overflow-safe: the sign of the wrapped difference, corrected when
      // best and k have different signs and the subtraction overflowed
      const d = (best - k) | 0;
      const lt = (d ^ ((best ^ k) & (d ^ best))) >> 31;
      best = (best & ~lt) | (k & lt);
      pos = (pos & ~lt) | (p & lt);
    }
    // empty -> -1 without a branch on the data: e = -1 iff best === INT32_MIN
    const x = best ^ ZERO_KEY_DWTA;
    const e = ~((x | -x) >> 31);
    out[outOff + h] = pos | e;
    nonEmpty += 1 + e;
  }
  return nonEmpty;
}
