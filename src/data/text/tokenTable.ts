/**
 * Token ids of texts without a string per token: the importer's vocabulary while it reads.
 *
 * tokenize() makes a string of every token and a Map then hashes it again; over a multi-GB input
 * that allocation and hashing were the largest cost of the import. Here, on ASCII text (the fast
 * path of tokenize.ts), the scan lowercases and hashes each token's characters as it goes and
 * looks the token up in an open-addressing table by hash and by comparing characters; a string is
 * made only for a token never seen before. Other text goes through tokenizeUnicode and its tokens
 * are looked up by the same hash. Stopwords are entered first, flagged, and skipped.
 *
 * The ids it gives are those of first sight; `names[id]` is the token, exactly as tokenize() would
 * produce it (a test compares the two on random text).
 */
import { STOPWORDS, MIN_TOKEN_LENGTH, tokenizeUnicode } from './tokenize.js';

const NON_ASCII = /[^\x00-\x7f]/;

/** ASCII letters and digits -> their lowercase code, other ASCII -> 0. */
const LOWER = new Uint8Array(128);
for (let c = 48; c <= 57; c++) LOWER[c] = c;
for (let c = 97; c <= 122; c++) LOWER[c] = c;
for (let c = 65; c <= 90; c++) LOWER[c] = c + 32;

const FNV_OFFSET = 0x811c9dc5 | 0;
const FNV_PRIME = 0x01000193;

/**
 * Slot layout of the open-addressing table of ASCII tokens: 8 int32 (32 bytes, half a cache line)
 *   [hash, id + 1 (0 = empty), length, unused, the first INLINE characters as bytes]
 * so a lookup reads one slot and compares the token with its inline bytes: one cache miss for a
 * token up to INLINE characters long (the rest of a longer token is compared with its string).
 * Measured on the 13M tokens of 90 MB of text over a 200,000-word vocabulary: a Map of sliced
 * strings took 3.2 s, this table about 1.0 s.
 */
const SLOT_INTS = 8;
const K_HASH = 0;
const K_ID = 1;
const K_LEN = 2;
const INLINE_BYTE_OFFSET = 16;
const INLINE = 16;

export class TokenTable {
  /** id -> token */
  readonly names: string[] = [];
  /** ids of the last text given to lookup */
  ids = new Int32Array(1024);
  /** tokens in the last text given to lookup, known or not */
  count = 0;
  private slots = new Int32Array((1 << 12) * SLOT_INTS);
  private bytes = new Uint8Array(this.slots.buffer);
  private mask = (1 << 12) - 1;
  /** tokens with a character outside ASCII (they never meet the ASCII scan) */
  private readonly other = new Map<string, number>();
  /** id -> 1 for stopwords */
  private stop = new Uint8Array(1024);
  private uni: string[] = [];
  /** scan results of lookup: token start, length, hash */
  private tokStart = new Int32Array(1024);
  private tokLen = new Int32Array(1024);
  private tokHash = new Int32Array(1024);
  /** sink of the touch loop (so that it is not optimised away) */
  private touched = 0;

  constructor() {
    for (const w of STOPWORDS) this.stop[this.insert(w)] = 1;
  }

  /** Number of ids given out (stopwords included). */
  get size(): number {
    return this.names.length;
  }

  /** Whether id is a stopword (never returned by lookup). */
  isStopword(id: number): boolean {
    return this.stop[id] === 1;
  }

  /**
   * The ids of text's tokens, in order, into `ids` (a buffer of the table, overwritten by the next
   * call); returns how many. With grow = false, tokens not in the table are skipped; with
   * grow = true they are added. `count` is set to the number of tokens in the text (known or not),
   * so a text without any token can be told from one whose tokens are all unknown.
   */
  lookup(text: string, grow: boolean): number {
    if (NON_ASCII.test(text)) return this.lookupUnicode(text, grow);
    const len = text.length;
    // an ASCII token has at least MIN_TOKEN_LENGTH characters and a separator
    if (this.ids.length < len) this.ids = new Int32Array(Math.max(len, 2 * this.ids.length));
    const out = this.ids;
    // 1. scan: where each token is, and its hash
    if (this.tokStart.length < len) {
      this.tokStart = new Int32Array(Math.max(len, 2 * this.tokStart.length));
      this.tokLen = new Int32Array(this.tokStart.length);
      this.tokHash = new Int32Array(this.tokStart.length);
    }
    const tokStart = this.tokStart;
    const tokLen = this.tokLen;
    const tokHash = this.tokHash;
    let m = 0;
    let i = 0;
    while (i < len) {
      let c = LOWER[text.charCodeAt(i)]!;
      if (c === 0) {
        i++;
        continue;
      }
      const start = i;
      let h = FNV_OFFSET;
      do {
        h = Math.imul(h ^ c, FNV_PRIME);
        i++;
        c = i < len ? LOWER[text.charCodeAt(i)]! : 0;
      } while (c !== 0);
      if (i - start < MIN_TOKEN_LENGTH) continue;
      tokStart[m] = start;
      tokLen[m] = i - start;
      tokHash[m] = h;
      m++;
    }
    // 2. touch every token's first slot in a loop of independent loads, so that the memory system
    //    fetches them in parallel; the lookups below then find them in cache (measured: 13M
    //    lookups in a 200,000-word table, too large for the cache, took 0.82-0.90 s against
    //    0.96-1.10 s without this loop)
    const slots = this.slots;
    const mask = this.mask;
    let touch = 0;
    for (let k = 0; k < m; k++) touch |= slots[(tokHash[k]! & mask) * SLOT_INTS + K_ID]!;
    this.touched = touch;
    // 3. look up
    let n = 0;
    let tokens = 0;
    for (let k = 0; k < m; k++) {
      const start = tokStart[k]!;
      let id = this.findAscii(tokHash[k]!, text, start, tokLen[k]!);
      if (id >= 0 && this.stop[id] === 1) continue;
      tokens++;
      if (id < 0) {
        if (!grow) continue;
        id = this.insert(text.slice(start, start + tokLen[k]!).toLowerCase());
      }
      out[n++] = id;
    }
    this.count = tokens;
    return n;
  }

  private lookupUnicode(text: string, grow: boolean): number {
    const uni = this.uni;
    // NFKC may lengthen the text, so the buffer is sized from the tokens found
    const nt = tokenizeUnicode(text.normalize('NFKC').toLowerCase(), uni);
    if (this.ids.length < nt) this.ids = new Int32Array(Math.max(nt, 2 * this.ids.length));
    const out = this.ids;
    let n = 0;
    for (let k = 0; k < nt; k++) {
      const t = uni[k]!;
      let id = NON_ASCII.test(t) ? (this.other.get(t) ?? -1) : this.findAscii(hashAscii(t), t, 0, t.length);
      if (id < 0) {
        if (!grow) continue;
        id = this.insert(t);
      }
      out[n++] = id;
    }
    this.count = nt;
    return n;
  }

  /** The id of the token whose lowercase characters are text[start, start + len), or -1. */
  private findAscii(h: number, text: string, start: number, len: number): number {
    const slots = this.slots;
    const bytes = this.bytes;
    const mask = this.mask;
    for (let s = h & mask; ; s = (s + 1) & mask) {
      const o = s * SLOT_INTS;
      const v = slots[o + K_ID]!;
      if (v === 0) return -1;
      if (slots[o + K_HASH] !== h || slots[o + K_LEN] !== len) continue;
      const b = o * 4 + INLINE_BYTE_OFFSET;
      const inl = len < INLINE ? len : INLINE;
      let k = 0;
      while (k < inl && bytes[b + k] === LOWER[text.charCodeAt(start + k)]) k++;
      if (k < inl) continue;
      if (len > INLINE) {
        const name = this.names[v - 1]!;
        while (k < len && name.charCodeAt(k) === LOWER[text.charCodeAt(start + k)]) k++;
        if (k < len) continue;
      }
      return v - 1;
    }
  }

  /** A new token (lowercase, not yet in the table): its id. */
  private insert(t: string): number {
    const id = this.names.length;
    this.names.push(t);
    if (id >= this.stop.length) {
      const b = new Uint8Array(this.stop.length * 2);
      b.set(this.stop);
      this.stop = b;
    }
    if (NON_ASCII.test(t)) {
      this.other.set(t, id);
      return id;
    }
    // keep the load factor under 1/2
    if (2 * (this.asciiCount + 1) > this.mask + 1) this.rehash(2 * (this.mask + 1));
    this.asciiCount++;
    this.place(hashAscii(t), id, t);
    return id;
  }

  private asciiCount = 0;

  private place(h: number, id: number, t: string): void {
    let s = h & this.mask;
    while (this.slots[s * SLOT_INTS + K_ID] !== 0) s = (s + 1) & this.mask;
    const o = s * SLOT_INTS;
    this.slots[o + K_HASH] = h;
    this.slots[o + K_ID] = id + 1;
    this.slots[o + K_LEN] = t.length;
    const b = o * 4 + INLINE_BYTE_OFFSET;
    for (let k = 0; k < t.length && k < INLINE; k++) this.bytes[b + k] = t.charCodeAt(k);
  }

  private rehash(nSlots: number): void {
    const old = this.slots;
    const slots = new Int32Array(nSlots * SLOT_INTS);
    const mask = nSlots - 1;
    // a slot's content does not depend on where it is: copy it whole (no token string is read)
    for (let o = 0; o < old.length; o += SLOT_INTS) {
      if (old[o + K_ID] === 0) continue;
      let s = old[o + K_HASH]! & mask;
      while (slots[s * SLOT_INTS + K_ID] !== 0) s = (s + 1) & mask;
      slots.set(old.subarray(o, o + SLOT_INTS), s * SLOT_INTS);
    }
    this.slots = slots;
    this.bytes = new Uint8Array(slots.buffer);
    this.mask = mask;
  }
}

/** FNV-1a of an ASCII token's characters (the hash the scan computes). */
function hashAscii(t: string): number {
  let h = FNV_OFFSET;
  for (let i = 0; i < t.length; i++) h = Math.imul(h ^ t.charCodeAt(i), FNV_PRIME);
  return h;
}
