/**
 * Seen-sets of ids as bits (an Int32Array of ceil(n / 32) words): 84 KB for 670K ids stays in
 * cache where an Int32Array of stamps (2.7 MB) does not. Kept at zero between uses by clearing
 * the words of the ids that were set (clearWords), which the caller has listed anyway.
 */

export function hasBit(bits: Int32Array, i: number): boolean {
  return (bits[i >>> 5]! & (1 << (i & 31))) !== 0;
}

export function setBit(bits: Int32Array, i: number): void {
  bits[i >>> 5] = bits[i >>> 5]! | (1 << (i & 31));
}

/** Zero the words of ids[from .. to): every bit set, when those are all the ids set. */
export function clearWords(bits: Int32Array, ids: Int32Array, from: number, to: number): void {
  for (let i = from; i < to; i++) bits[ids[i]! >>> 5] = 0;
}
