/**
 * Deterministic train/test split of text rows: a row is in the test split when
 * murmur3_32(UTF-8 bytes of its key, seed 0) / 2^32 < testFraction. The key is whatever identifies
 * the row (an id field, an entry name, or the text and labels), so the same row always falls on
 * the same side, whatever the order or the other rows of the file, and the rule can be reproduced
 * outside this project (e.g. Python's mmh3.hash(key.encode(), signed=False)).
 */

import { mix32 } from '../../util/rng.js';

const encoder = new TextEncoder();
let scratch = new Uint8Array(1024);

/** MurmurHash3 x86 32-bit of bytes[0..len). */
export function murmur3(bytes: Uint8Array, len: number, seed = 0): number {
  const c1 = 0xcc9e2d51;
  const c2 = 0x1b873593;
  let h = seed >>> 0;
  const nBlocks = len >> 2;
  for (let i = 0; i < nBlocks; i++) {
    const o = i << 2;
    let k = bytes[o]! | (bytes[o + 1]! << 8) | (bytes[o + 2]! << 16) | (bytes[o + 3]! << 24);
    k = Math.imul(k, c1);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, c2);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  const t = nBlocks << 2;
  const rem = len & 3;
  if (rem > 0) {
    let k = 0;
    if (rem === 3) k ^= bytes[t + 2]! << 16;
    if (rem >= 2) k ^= bytes[t + 1]! << 8;
    k ^= bytes[t]!;
    k = Math.imul(k, c1);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, c2);
    h ^= k;
  }
  // the murmur3 finalizer
  return mix32(h ^ len);
}

/** murmur3 of the UTF-8 encoding of a string (through a reused buffer). */
export function murmur3String(key: string, seed = 0): number {
  // UTF-8 needs at most 3 bytes per UTF-16 unit
  if (scratch.length < key.length * 3) scratch = new Uint8Array(key.length * 3);
  const { written } = encoder.encodeInto(key, scratch);
  return murmur3(scratch, written, seed);
}

/** Whether a row with this key belongs to the test split. */
export function isTestKey(key: string, testFraction: number): boolean {
  return murmur3String(key) / 4294967296 < testFraction;
}
