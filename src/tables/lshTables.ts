/**
 * L locality-sensitive hash tables over items 0 .. capacity-1 (the neurons of a layer).
 *
 * An item's K*L codes come from a HashFamily with numHashes = K*L; table t uses codes
 * [t*K, t*K + K). The K codes of a table are combined into a bucket index in [0, 2^rangePow):
 *  - K*bitsPerHash <= rangePow: plain concatenation, code k shifted by exactly
 *    (K-1-k)*bitsPerHash bits, so distinct code tuples land in distinct buckets. (The reference
 *    shifts 3-bit DWTA codes by floor(ln 8) = 2 bits and adds them: the codes overlap and only
 *    ~9.6K of 2^18 buckets are reachable.)
 *  - K*bitsPerHash > rangePow: the concatenation is cut into 32-bit words, each folded into a
 *    running state with the murmur3 finalizer (mix32), and the top rangePow bits of the final mix
 *    are kept. Equal tuples still share a bucket; unequal ones collide with probability ~2^-rangePow.
 *
 * Storage (no L * 2^rangePow * bucketSize preallocation; the reference's is 7.2 GB):
 *   meta      (kMetaSlots + L)         staged count (slot kStagedField), then a commit epoch per table
 *   stagedIds (stagingCapacity)        ids in insertion order
 *   keys      (L, stagingCapacity)     bucket of staged item i in table t, table-major
 *   offsets   (L, 2^rangePow + 1)      CSR: bucket b of table t is entries[t*entCap + offsets[t*(R+1)+b] ..
 *   entries   (L, entCap)                                             t*entCap + offsets[t*(R+1)+b+1])
 * with entCap = min(stagingCapacity, 2^rangePow * bucketSize). Every array comes from the optional
 * allocator, in exactly this order, so that a worker given the same arena offsets (or an
 * allocator that replays them) sees the same tables.
 *
 * Life cycle: insert() appends (id, buckets) to the staging list; commit() / commitTable(t)
 * build each table's CSR from the staging list by counting sort, enforcing bucketSize. Queries
 * read committed data only: staged items are invisible until their table is committed, and
 * clear() empties the staging list without touching the committed tables. The staging list
 * persists after a commit, so insert() + commit() without clear() adds to what was there.
 *
 * Threads: insert() reserves its staging range with Atomics.add, so several threads may insert
 * at once into tables in shared memory. commitTable(t) writes only table t's offsets/entries
 * (plus a caller-supplied count scratch), so different threads may commit different tables at the
 * same time. A table must not be queried while it is being committed (its offsets are rewritten
 * in place); training rebuilds between batches. Stats are counted per instance (not shared).
 */
import { ConfigError } from '../util/errors.js';
import { mix32, Rng } from '../util/rng.js';
import { jsKernels } from '../kernels/js.js';
import type { Kernels } from '../kernels/js.js';

/** Where the tables' Int32 storage comes from (e.g. an Arena); default: `n => new Int32Array(n)`. */
export interface Int32Allocator {
  i32(n: number): Int32Array;
}

export interface LshTablesParams {
  /** number of tables */
  L: number;
  /** codes per table */
  K: number;
  /** bits of one code (the family's bitsPerHash), 1..30 */
  bitsPerHash: number;
  /** bucket index bits per table (2^rangePow buckets), 1..28 */
  rangePow: number;
  /** most items kept per bucket */
  bucketSize: number;
  /** which items a full bucket keeps: the newest ('fifo') or a uniform sample ('reservoir') */
  insertion: 'fifo' | 'reservoir';
  /** items are ids in [0, capacity) */
  capacity: number;
  /** seeds the reservoir sampling */
  seed: number;
  /** most (item) inserts staged between clear() calls; default capacity */
  stagingCapacity?: number;
  alloc?: Int32Allocator;
  /**
   * The kernels of the memory `alloc` draws from (e.g. the arena's WebAssembly kernels):
   * topByVotes counts votes with them when the query scratch lives in that memory too
   * (createScratch(alloc)); otherwise with the TypeScript kernels. Same results either way.
   */
  kernels?: Kernels;
}

/** Counters since construction or the last resetStats(). Insert counters count (item, table) pairs. */
export interface LshTablesStats {
  /** (item, table) pairs presented to commit */
  inserts: number;
  /** (item, table) pairs not kept because their bucket was full */
  insertsDropped: number;
  /** buckets (over all tables and commits) that received more than bucketSize items */
  overflowingBuckets: number;
  /** queryUnion / queryVotes / topByVotes calls */
  queries: number;
  /** candidates those calls returned */
  candidatesReturned: number;
}

// meta slots
const kStagedField = 0;
const kMetaSlots = 1; // then one commit epoch per table

const defaultAlloc: Int32Allocator = { i32: (n) => new Int32Array(n) };

/** Stamps are reset (marks cleared) before they pass this. */
const kStampLimit = 0x3fffffff;

/**
 * Per-thread query scratch; create with tables.createScratch(). Candidate i is new in a query iff
 * mark[i] < the query's base stamp, so marks never need clearing between queries.
 */
export class QueryScratch {
  /** (capacity) last stamp that saw item i */
  readonly mark: Int32Array;
  /** (capacity) votes of item i in the current query (valid where mark[i] >= base) */
  readonly votes: Int32Array;
  /** last stamp used */
  stamp = 0;
  /** (maxCandidates) candidate ids and their votes, for topByVotes */
  readonly cand: Int32Array;
  /**
   * (maxCandidates) topByVotes' output and its votes when the kernels place it (they write only
   * their memory): copied to the caller's arrays unless those are these
   */
  readonly top: Int32Array;
  readonly topVotes: Int32Array;
  readonly candVotes: Int32Array;
  /** (maxCandidates) boundary group of topByVotes */
  readonly tmp: Int32Array;
  /** (L + 2) vote histogram */
  readonly hist: Int32Array;
  /** votes at the cut of the last dense topByVotes (0 = none yet): where the next query starts collecting */
  lastCut = 0;
  /** (capacity) votes of every item, for topByVotes' dense counting */
  readonly tally: Uint16Array;
  /** whether tally, hist, cand and the bucket ranges came from the tables' allocator (their kernels can count into them) */
  readonly inTablesMemory: boolean;
  /** (L) the query's bucket range in each table */
  readonly bStart: Int32Array;
  readonly bEnd: Int32Array;

  /** With `alloc` (the tables' allocator), the arrays the vote kernel writes come from it. */
  constructor(capacity: number, maxCandidates: number, L: number, alloc: Int32Allocator | null = null) {
    const a = alloc ?? defaultAlloc;
    const t = a.i32(Math.ceil(capacity / 2));
    this.tally = new Uint16Array(t.buffer, t.byteOffset, capacity);
    this.bStart = a.i32(L);
    this.bEnd = a.i32(L);
    this.cand = a.i32(maxCandidates);
    this.top = a.i32(maxCandidates);
    this.topVotes = a.i32(maxCandidates);
    this.hist = a.i32(L + 2);
    this.inTablesMemory = alloc !== null;
    this.mark = new Int32Array(capacity);
    this.votes = new Int32Array(capacity);
    this.candVotes = new Int32Array(maxCandidates);
    this.tmp = new Int32Array(maxCandidates);
  }

  /** Reserve `span` consecutive stamps; returns the first. */
  begin(span: number): number {
    if (this.stamp + span > kStampLimit) {
      this.mark.fill(0);
      this.stamp = 0;
    }
    const base = this.stamp + 1;
    this.stamp += span;
    return base;
  }

  memoryBytes(): number {
    return (
      this.mark.byteLength + this.votes.byteLength + this.cand.byteLength + this.top.byteLength + this.topVotes.byteLength + this.candVotes.byteLength + this.tmp.byteLength + this.hist.byteLength +
      this.tally.byteLength + this.bStart.byteLength + this.bEnd.byteLength
    );
  }
}

function check(ok: boolean, field: string, expected: string, found: unknown): void {
  if (!ok) throw new ConfigError(`LshTables: ${field} must be ${expected}, found ${JSON.stringify(found)}`);
}

function isInt(x: unknown, lo: number, hi: number): boolean {
  return typeof x === 'number' && Number.isInteger(x) && x >= lo && x <= hi;
}

/**
 * Bucket index of the K codes codes[start .. start+K) in [0, 2^rangePow): concatenation with
 * shifts of exactly bitsPerHash when K*bitsPerHash <= rangePow, else a mix32 fold of the
 * concatenation (see the file comment). Codes are masked to bitsPerHash bits.
 */
export function combineCodes(codes: Int32Array, start: number, K: number, bitsPerHash: number, rangePow: number): number {
  const mask = (1 << bitsPerHash) - 1;
  if (K * bitsPerHash <= rangePow) {
    let idx = 0;
    for (let k = 0; k < K; k++) idx = (idx << bitsPerHash) | (codes[start + k]! & mask);
    return idx;
  }
  let h = 0x9e3779b9;
  let word = 0;
  let used = 0;
  for (let k = 0; k < K; k++) {
    if (used + bitsPerHash > 32) {
      h = mix32(h ^ word);
      word = 0;
      used = 0;
    }
    word = (word << bitsPerHash) | (codes[start + k]! & mask);
    used += bitsPerHash;
  }
  h = mix32(h ^ word);
  return h >>> (32 - rangePow);
}

export class LshTables {
  readonly L: number;
  readonly K: number;
  readonly bitsPerHash: number;
  readonly rangePow: number;
  /** 2^rangePow buckets per table */
  readonly numBuckets: number;
  readonly bucketSize: number;
  readonly insertion: 'fifo' | 'reservoir';
  readonly capacity: number;
  readonly seed: number;
  readonly stagingCapacity: number;
  /** entries slots per table */
  readonly entCap: number;
  /** most distinct candidates one query can return: min(capacity, L * bucketSize) */
  readonly maxCandidates: number;

  readonly meta: Int32Array; // (META_SLOTS + L)
  readonly stagedIds: Int32Array; // (stagingCapacity)
  readonly keys: Int32Array; // (L, stagingCapacity)
  readonly offsets: Int32Array; // (L, numBuckets + 1)
  readonly entries: Int32Array; // (L, entCap)
  /** default commit scratch (numBuckets); pass your own to commitTable from another thread */
  private readonly count: Int32Array;
  /**
   * (capacity) staging round + 1 in which each item was last staged, and (1) the round (clear()
   * counts rounds). Staging an item twice in one round is refused, so every bucket holds a set
   * (what the vote counting of queries relies on). Transient: not part of a checkpoint.
   */
  private readonly stagedRound: Int32Array;
  private readonly round: Int32Array;
  /**
   * How topByVotes counts votes: 'sparse' stamps the items it meets (cost ~ the entries of the
   * query's buckets), 'dense' counts into an array over all items and scans it (cost ~ entries +
   * capacity, but branch-free: several times faster when the buckets hold a good share of all
   * items), 'auto' picks dense when the entries are at least half the capacity. Same results.
   */
  tally: 'auto' | 'sparse' | 'dense' = 'auto';

  stats: LshTablesStats = { inserts: 0, insertsDropped: 0, overflowingBuckets: 0, queries: 0, candidatesReturned: 0 };

  constructor(p: LshTablesParams) {
    check(p !== null && typeof p === 'object', 'params', 'an object', p);
    check(isInt(p.L, 1, 1 << 20), 'L', 'an integer >= 1', p.L);
    check(isInt(p.K, 1, 1 << 20), 'K', 'an integer >= 1', p.K);
    check(isInt(p.bitsPerHash, 1, 30), 'bitsPerHash', 'an integer in [1, 30]', p.bitsPerHash);
    check(isInt(p.rangePow, 1, 28), 'rangePow', 'an integer in [1, 28]', p.rangePow);
    check(isInt(p.bucketSize, 1, 2 ** 31 - 1), 'bucketSize', 'an integer >= 1', p.bucketSize);
    check(p.insertion === 'fifo' || p.insertion === 'reservoir', 'insertion', "'fifo' or 'reservoir'", p.insertion);
    check(isInt(p.capacity, 1, 2 ** 31 - 1), 'capacity', 'an integer >= 1', p.capacity);
    check(Number.isInteger(p.seed), 'seed', 'an integer', p.seed);
    const stagingCapacity = p.stagingCapacity ?? p.capacity;
    check(isInt(stagingCapacity, 1, 2 ** 31 - 1), 'stagingCapacity', 'an integer >= 1', stagingCapacity);
    this.L = p.L;
    this.K = p.K;
    this.bitsPerHash = p.bitsPerHash;
    this.rangePow = p.rangePow;
    this.numBuckets = 2 ** p.rangePow;
    this.bucketSize = p.bucketSize;
    this.insertion = p.insertion;
    this.capacity = p.capacity;
    this.seed = p.seed | 0;
    this.stagingCapacity = stagingCapacity;
    this.entCap = Math.min(stagingCapacity, this.numBuckets * p.bucketSize);
    this.maxCandidates = Math.min(p.capacity, p.L * p.bucketSize);
    check(this.L * this.stagingCapacity <= 2 ** 31 - 1 && this.L * (this.numBuckets + 1) <= 2 ** 31 - 1, 'L * stagingCapacity', 'below 2^31', this.L * this.stagingCapacity);

    const alloc = p.alloc ?? defaultAlloc;
    this.meta = alloc.i32(kMetaSlots + this.L);
    this.stagedIds = alloc.i32(stagingCapacity);
    this.keys = alloc.i32(this.L * stagingCapacity);
    this.offsets = alloc.i32(this.L * (this.numBuckets + 1));
    this.entries = alloc.i32(this.L * this.entCap);
    this.stagedRound = alloc.i32(this.capacity);
    this.round = alloc.i32(1);
    this.count = new Int32Array(this.numBuckets);
    this.kernels = p.kernels ?? null;
  }

  private readonly kernels: Kernels | null;

  /** Bytes of the tables' storage if built with params p (nothing is allocated). */
  static estimateMemoryBytes(p: LshTablesParams): number {
    const staging = p.stagingCapacity ?? p.capacity;
    const R = 2 ** p.rangePow;
    const entCap = Math.min(staging, R * p.bucketSize);
    return 4 * (1 + p.L + staging + p.L * staging + p.L * (R + 1) + p.L * entCap + R + p.capacity + 1);
  }

  /** Bytes held by this instance (all arrays; QueryScratch objects are separate: scratch.memoryBytes()). */
  memoryBytes(): number {
    return (
      this.meta.byteLength + this.stagedIds.byteLength + this.keys.byteLength + this.offsets.byteLength + this.entries.byteLength + this.count.byteLength +
      this.stagedRound.byteLength + this.round.byteLength
    );
  }

  /** Items staged since the last clear(). */
  get staged(): number {
    return Math.min(this.meta[kStagedField]!, this.stagingCapacity);
  }

  /** Bucket of the item whose K*L codes start at codes[off], in table `table`. */
  bucketIndex(codes: Int32Array, off: number, table: number): number {
    return combineCodes(codes, off + table * this.K, this.K, this.bitsPerHash, this.rangePow);
  }

  /** Items in bucket b of table t (committed data). */
  bucketCount(t: number, b: number): number {
    const o = t * (this.numBuckets + 1) + b;
    return this.offsets[o + 1]! - this.offsets[o]!;
  }

  /** Copy bucket b of table t into out; returns its size. */
  readBucket(t: number, b: number, out: Int32Array): number {
    const o = t * (this.numBuckets + 1) + b;
    const s = this.offsets[o]!;
    const e = this.offsets[o + 1]!;
    const eb = t * this.entCap;
    for (let i = s; i < e; i++) out[i - s] = this.entries[eb + i]!;
    return e - s;
  }

  /** Empty the staging list (the committed tables are untouched until the next commit). */
  clear(): void {
    this.meta[kStagedField] = 0;
    this.round[0]++;
  }

  /**
   * Stage n items: ids[i] with codes[i*codesStride .. +K*L) (row-major; codesStride defaults to
   * K*L, a larger stride lets these tables use a prefix of a bigger family's codes).
   */
  insert(n: number, ids: Int32Array, codes: Int32Array, codesStride: number = this.K * this.L): void {
    const L = this.L;
    const K = this.K;
    if (!Number.isInteger(n) || n < 0 || n > ids.length) throw new RangeError(`LshTables.insert: n must be an integer in [0, ids.length = ${ids.length}], found ${n}`);
    if (n === 0) return;
    if (codesStride < K * L) throw new RangeError(`LshTables.insert: codesStride must be >= K*L = ${K * L}, found ${codesStride}`);
    if ((n - 1) * codesStride + K * L > codes.length) {
      throw new RangeError(`LshTables.insert: codes holds ${codes.length} values, ${n} items need ${(n - 1) * codesStride + K * L}`);
    }
    const start = this.reserve(n, ids);
    const S = this.stagingCapacity;
    const keys = this.keys;
    const bits = this.bitsPerHash;
    const rp = this.rangePow;
    for (let i = 0; i < n; i++) {
      const row = i * codesStride;
      for (let t = 0; t < L; t++) keys[t * S + start + i] = combineCodes(codes, row + t * K, K, bits, rp);
    }
  }

  /**
   * Stage n items ids[0 .. n) whose keys the caller writes itself: returns their first staging
   * slot `start`; item i's bucket in table t goes to keys[t * stagingCapacity + start + i]
   * (what insert() writes from codes; a kernel may write it directly, e.g. Kernels.signKeys).
   * Threads may reserve concurrently (the slots come from Atomics.add).
   */
  reserve(n: number, ids: Int32Array): number {
    if (!Number.isInteger(n) || n < 0 || n > ids.length) throw new RangeError(`LshTables.reserve: n must be an integer in [0, ids.length = ${ids.length}], found ${n}`);
    const cap = this.capacity;
    const round = this.round[0]! + 1;
    const staged = this.stagedRound;
    for (let i = 0; i < n; i++) {
      const id = ids[i]!;
      if (!(id >= 0 && id < cap)) throw new RangeError(`LshTables.insert: ids[${i}] = ${id} is outside [0, capacity = ${cap})`);
      // threads stage disjoint items, so this read-then-write needs no atomics
      if (staged[id] === round) throw new RangeError(`LshTables.insert: item ${id} is already staged since the last clear()`);
      staged[id] = round;
    }
    const start = Atomics.add(this.meta, kStagedField, n);
    if (start + n > this.stagingCapacity) {
      Atomics.sub(this.meta, kStagedField, n);
      throw new RangeError(
        `LshTables.insert: staging is full (${start} staged + ${n} > stagingCapacity = ${this.stagingCapacity}); call clear() before re-inserting, or raise stagingCapacity`,
      );
    }
    for (let i = 0; i < n; i++) this.stagedIds[start + i] = ids[i]!;
    return start;
  }

  /** Whether an item's key is the plain concatenation of its K one-bit codes (what Kernels.signKeys computes). */
  get keysAreSignBits(): boolean {
    return this.bitsPerHash === 1 && this.K <= this.rangePow;
  }

  /** Build every table from the staging list. */
  commit(): void {
    for (let t = 0; t < this.L; t++) this.commitTable(t, this.count);
  }

  /**
   * Build table t's CSR from the staging list by counting sort, keeping at most bucketSize items
   * a bucket: FIFO keeps the bucketSize most recently inserted; reservoir keeps a uniform sample
   * (Algorithm R in insertion order: the c-th item of a bucket, c > bucketSize, replaces a random
   * slot with probability bucketSize / c; the reference uses 1/c, which biases towards early
   * items). The reservoir's Rng depends on (seed, t, how many times t was committed), so a table's
   * content does not depend on L or on which thread commits it.
   * count: scratch Int32Array(2^rangePow), one per committing thread.
   */
  commitTable(t: number, count: Int32Array = this.count): void {
    if (!isInt(t, 0, this.L - 1)) throw new RangeError(`LshTables.commitTable: t must be an integer in [0, ${this.L}), found ${t}`);
    if (count.length < this.numBuckets) throw new RangeError(`LshTables.commitTable: count scratch needs ${this.numBuckets} entries, found ${count.length}`);
    const R = this.numBuckets;
    const S = this.bucketSize;
    const m = this.staged;
    const keys = this.keys;
    const kb = t * this.stagingCapacity;
    const ids = this.stagedIds;
    const off = this.offsets;
    const ob = t * (R + 1);
    const ent = this.entries;
    const eb = t * this.entCap;

    // no bucket over its capacity (the usual case): a stable counting sort in the tables' kernels
    if (this.kernels !== null && this.kernels.bucketSort(keys, kb, ids, m, R, S, off, ob, ent, eb) >= 0) {
      this.meta[kMetaSlots + t]++;
      this.stats.inserts += m;
      return;
    }
    for (let b = 0; b < R; b++) count[b] = 0;
    for (let i = 0; i < m; i++) count[keys[kb + i]!]++;
    let total = 0;
    let dropped = 0;
    let overflowing = 0;
    for (let b = 0; b < R; b++) {
      const c = count[b]!;
      off[ob + b] = total;
      if (c > S) {
        total += S;
        dropped += c - S;
        overflowing++;
      } else {
        total += c;
      }
    }
    off[ob + R] = total;

    if (this.insertion === 'fifo') {
      // count[b] becomes the number of oldest items of b to skip; off[ob+b] serves as b's cursor
      // and is shifted back afterwards.
      for (let b = 0; b < R; b++) {
        const c = count[b]!;
        count[b] = c > S ? c - S : 0;
      }
      for (let i = 0; i < m; i++) {
        const b = keys[kb + i]!;
        if (count[b]! > 0) {
          count[b]--;
          continue;
        }
        ent[eb + off[ob + b]!] = ids[i]!;
        off[ob + b]++;
      }
      // after placement off[ob+b] = start of b+1
      for (let b = R; b > 0; b--) off[ob + b] = off[ob + b - 1]!;
      off[ob] = 0;
    } else {
      const epoch = this.meta[kMetaSlots + t]!;
      const rng = new Rng((this.seed ^ Math.imul(epoch + 1, 0x9e3779b1)) | 0, t + 1);
      for (let b = 0; b < R; b++) count[b] = 0;
      for (let i = 0; i < m; i++) {
        const b = keys[kb + i]!;
        const c = ++count[b]!;
        if (c <= S) {
          ent[eb + off[ob + b]! + c - 1] = ids[i]!;
        } else {
          const j = rng.nextInt(c);
          if (j < S) ent[eb + off[ob + b]! + j] = ids[i]!;
        }
      }
    }
    this.meta[kMetaSlots + t]++;
    this.stats.inserts += m;
    this.stats.insertsDropped += dropped;
    this.stats.overflowingBuckets += overflowing;
  }

  /** clear() + insert() + commit(). */
  rebuild(n: number, ids: Int32Array, codes: Int32Array, codesStride: number = this.K * this.L): void {
    this.clear();
    this.insert(n, ids, codes, codesStride);
    this.commit();
  }

  /**
   * A query scratch for one thread. With `alloc` drawing from the same memory as the tables'
   * (an arena over it), topByVotes counts votes with the tables' kernels.
   */
  createScratch(alloc: Int32Allocator | null = null): QueryScratch {
    return new QueryScratch(this.capacity, this.maxCandidates, this.L, alloc);
  }

  resetStats(): void {
    const s = this.stats;
    s.inserts = 0;
    s.insertsDropped = 0;
    s.overflowingBuckets = 0;
    s.queries = 0;
    s.candidatesReturned = 0;
  }

  /**
   * The distinct items of the query's L buckets (codes[codesOff .. +K*L)), in table order, at most
   * maxOut of them, into out[outOff ..]; returns how many.
   */
  queryUnion(codes: Int32Array, codesOff: number, scratch: QueryScratch, out: Int32Array, outOff: number, maxOut: number): number {
    const L = this.L;
    const ent = this.entries;
    this.bucketRanges(codes, codesOff, scratch);
    const mark = scratch.mark;
    const base = scratch.begin(1);
    let n = 0;
    outer: for (let t = 0; t < L; t++) {
      if (n >= maxOut) break;
      const e = scratch.bEnd[t]!;
      for (let j = scratch.bStart[t]!; j < e; j++) {
        const id = ent[j]!;
        if (mark[id]! < base) {
          mark[id] = base;
          out[outOff + n++] = id;
          if (n >= maxOut) break outer;
        }
      }
    }
    this.stats.queries++;
    this.stats.candidatesReturned += n;
    return n;
  }

  /**
   * The distinct items of the query's buckets with the number of tables each was found in
   * (outIds[i], outVotes[i]), in order of first discovery; returns how many. At most
   * min(outIds.length, outVotes.length) items (size them maxCandidates to get all).
   */
  queryVotes(codes: Int32Array, codesOff: number, scratch: QueryScratch, outIds: Int32Array, outVotes: Int32Array): number {
    this.bucketRanges(codes, codesOff, scratch);
    const n = this.collectVotes(scratch, outIds, Math.min(outIds.length, outVotes.length));
    const votes = scratch.votes;
    for (let i = 0; i < n; i++) outVotes[i] = votes[outIds[i]!]!;
    this.stats.queries++;
    this.stats.candidatesReturned += n;
    return n;
  }

  /**
   * The (at most) cap items with the most votes, ties to the smaller id, into out[0 ..) (and
   * their votes into outVotes if given), ordered by votes descending; returns how many.
   * Selection counts votes (votes <= L) instead of sorting; only the group at the cut is
   * ordered by id.
   */
  topByVotes(codes: Int32Array, codesOff: number, scratch: QueryScratch, cap: number, out: Int32Array, outVotes: Int32Array | null = null): number {
    const entries = this.bucketRanges(codes, codesOff, scratch);
    let m: number;
    if (this.tally !== 'sparse' && this.L <= 0xffff && (this.tally === 'dense' || 2 * entries >= this.capacity)) {
      m = this.topByVotesDense(scratch, cap, out, outVotes);
    } else {
      const n = this.collectVotes(scratch, scratch.cand, scratch.cand.length);
      const cand = scratch.cand;
      const cv = scratch.candVotes;
      const votes = scratch.votes;
      for (let i = 0; i < n; i++) cv[i] = votes[cand[i]!]!;
      m = selectTopByVotes(cand, cv, n, cap, this.L, scratch.hist, scratch.tmp, out, 0, outVotes);
    }
    this.stats.queries++;
    this.stats.candidatesReturned += m;
    return m;
  }

  /**
   * topByVotes by dense counting over the buckets in scratch.bStart/bEnd, with the voteTally and
   * voteCollect kernels (the tables' own kernels when the scratch lives in their memory): votes of
   * every item in scratch.tally (no branch per entry: every bucket holds a set), then the items
   * with at least `lo` votes in id order with their vote histogram, lo just below the previous
   * query's cut (measured on WordNet: ~1,600 of 19K items, so the scan skips most of them eight
   * at a time). When fewer than `cap` items reach lo, the cut is lower: collect again from one
   * vote. Selection then reads only the collected items: the groups above the cut vote placed by
   * vote, then the smallest ids of the group at it.
   */
  private topByVotesDense(scratch: QueryScratch, cap: number, out: Int32Array, outVotes: Int32Array | null): number {
    if (cap <= 0) return 0;
    const L = this.L;
    const N = this.capacity;
    const cnt = scratch.tally;
    const hist = scratch.hist;
    const cand = scratch.cand;
    const k = this.kernels !== null && scratch.inTablesMemory ? this.kernels : jsKernels;
    k.voteTally(this.entries, scratch.bStart, scratch.bEnd, L, cnt, N);
    const lo = Math.max(1, scratch.lastCut - 1);
    let nc = k.voteCollect(cnt, N, L, lo, hist, cand);
    // fewer than cap items with lo votes: the cut is below lo; every item with a vote instead
    if (nc < cap && lo > 1) nc = k.voteCollect(cnt, N, L, 1, hist, cand);
    if (nc === 0) return 0;
    // with nc >= cap the cut is at lo or above, where hist is complete; otherwise (lo = 1) it is
    // 0 and every collected item is taken
    const vt = cutVotes(hist, L, 1, cap);
    scratch.lastCut = vt;
    const above = hist[L + 1]!;
    const take = Math.min(nc, cap);
    // every item with at least vt votes is in cand, ids ascending: the group at the cut keeps its
    // smallest ids. The WebAssembly kernels write only their memory: into scratch.top, copied out
    // unless the caller's arrays are those.
    if (k === jsKernels) {
      k.votePlace(cand, nc, cnt, hist, vt, above, take - above, out, outVotes);
      return take;
    }
    const top = scratch.top;
    const tv = outVotes !== null ? scratch.topVotes : null;
    k.votePlace(cand, nc, cnt, hist, vt, above, take - above, top, tv);
    if (out !== top) for (let i = 0; i < take; i++) out[i] = top[i]!;
    if (outVotes !== null && outVotes !== tv) for (let i = 0; i < take; i++) outVotes[i] = tv![i]!;
    return take;
  }

  private checkScratch(s: QueryScratch): void {
    if (s.mark.length < this.capacity || s.hist.length < this.L + 2 || s.cand.length < this.maxCandidates) {
      throw new RangeError('LshTables: this QueryScratch was made for smaller tables; use tables.createScratch()');
    }
  }

  /**
   * The query's bucket in each table as an entries range, into scratch.bStart / bEnd (checking
   * that the scratch fits these tables); returns the total entries of those buckets.
   */
  private bucketRanges(codes: Int32Array, codesOff: number, scratch: QueryScratch): number {
    this.checkScratch(scratch);
    const L = this.L;
    const K = this.K;
    const R1 = this.numBuckets + 1;
    const off = this.offsets;
    const bs = scratch.bStart;
    const be = scratch.bEnd;
    let entries = 0;
    for (let t = 0; t < L; t++) {
      const o = t * R1 + combineCodes(codes, codesOff + t * K, K, this.bitsPerHash, this.rangePow);
      const eb = t * this.entCap;
      bs[t] = eb + off[o]!;
      be[t] = eb + off[o + 1]!;
      entries += be[t]! - bs[t]!;
    }
    return entries;
  }

  /** Distinct candidates of the buckets in scratch.bStart/bEnd into outIds (at most maxOut), votes per id in scratch.votes. */
  private collectVotes(scratch: QueryScratch, outIds: Int32Array, maxOut: number): number {
    const L = this.L;
    const ent = this.entries;
    const mark = scratch.mark;
    const votes = scratch.votes;
    // stamps base .. base+L-1: mark[id] = base + (last table that saw id); an id listed twice in
    // one bucket is counted once.
    const base = scratch.begin(L);
    let n = 0;
    for (let t = 0; t < L; t++) {
      const e = scratch.bEnd[t]!;
      const st = base + t;
      for (let j = scratch.bStart[t]!; j < e; j++) {
        const id = ent[j]!;
        const mk = mark[id]!;
        if (mk < base) {
          if (n >= maxOut) continue;
          mark[id] = st;
          votes[id] = 1;
          outIds[n++] = id;
        } else if (mk !== st) {
          mark[id] = st;
          votes[id]++;
        }
      }
    }
    return n;
  }
}

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
