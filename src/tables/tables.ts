/**
 * L locality-sensitive hash tables over items 0 .. capacity-1 (the neurons of a layer): storage
 * and commit. Queries are in query.ts, the selection helpers in select.ts.
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
 * Storage (no L * 2^rangePow * bucketSize preallocation; the reference's is 7.2 GB), declared in
 * `declare` (memory/layout.ts):
 *   keys      (L, capacity)        bucket of item i in table t, or -1 when the item is absent
 *   offsets   (L, 2^rangePow + 1)  CSR: bucket b of table t is entries[t*entCap + offsets[t*(R+1)+b] ..
 *   entries   (L, entCap)                                         t*entCap + offsets[t*(R+1)+b+1])
 *   epochs    (L)                  commits of each table so far (seeds its reservoir)
 * with entCap = min(capacity, 2^rangePow * bucketSize).
 *
 * Life cycle: `setKeys` writes items' buckets; `commit` / `commitTable(t)` build each table's
 * CSR from the keys by a counting sort over item ids, enforcing bucketSize. A table is a pure
 * function of its keys, bucketSize, insertion policy, seed and epoch, so it does not matter how
 * the keys got there: all re-hashed at once or only those of items that moved (an incremental
 * rebuild), by one thread or several. Queries read committed data only.
 *
 * Full buckets keep, in id order (the reference inserts neurons in id order): 'fifo' the
 * bucketSize highest ids (the newest), 'reservoir' a uniform sample (Algorithm R in id order:
 * the c-th item of a bucket, c > bucketSize, replaces a random slot with probability
 * bucketSize / c; the reference uses 1/c, which biases towards early items), drawn from
 * Rng(seed, t, epoch) so that a table's content depends neither on L nor on the thread.
 *
 * Threads: `setKeys` of disjoint items may run concurrently, and `commitTable(t, count)` writes
 * only table t's offsets/entries (plus the caller's count scratch), so threads may commit
 * different tables at once. A table must not be queried while it is being committed; training
 * rebuilds between batches. Stats are counted per instance (not shared).
 */
import { ConfigError } from '../util/errors.js';
import { mix32, Rng } from '../util/rng.js';
import { jsKernels, type Kernels } from '../kernels/js.js';
import { Arena } from '../memory/arena.js';
import { BlockDecl, type BlockViews } from '../memory/layout.js';

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
  /** which items a full bucket keeps: the highest ids ('fifo') or a uniform sample ('reservoir') */
  insertion: 'fifo' | 'reservoir';
  /** items are ids in [0, capacity) */
  capacity: number;
  /** seeds the reservoir sampling */
  seed: number;
}

/** Counters since construction or the last resetStats(). Insert counters count (item, table) pairs. */
export interface LshTablesStats {
  /** (item, table) pairs presented to commit */
  inserts: number;
  /** (item, table) pairs not kept because their bucket was full */
  insertsDropped: number;
  /** buckets (over all tables and commits) that received more than bucketSize items */
  overflowingBuckets: number;
  /** queries (query.ts) */
  queries: number;
  /** candidates those queries returned */
  candidatesReturned: number;
}

function check(ok: boolean, field: string, expected: string, found: unknown): void {
  if (!ok) throw new ConfigError(`LshTables: ${field} must be ${expected}, found ${JSON.stringify(found)}`);
}

function isInt(x: unknown, lo: number, hi: number): boolean {
  return typeof x === 'number' && Number.isInteger(x) && x >= lo && x <= hi;
}

/** Every parameter valid (messages name the field); returns the derived sizes. */
function sizes(p: LshTablesParams): { R: number; entCap: number; maxCandidates: number } {
  check(p !== null && typeof p === 'object', 'params', 'an object', p);
  check(isInt(p.L, 1, 1 << 20), 'L', 'an integer >= 1', p.L);
  check(isInt(p.K, 1, 1 << 20), 'K', 'an integer >= 1', p.K);
  check(isInt(p.bitsPerHash, 1, 30), 'bitsPerHash', 'an integer in [1, 30]', p.bitsPerHash);
  check(isInt(p.rangePow, 1, 28), 'rangePow', 'an integer in [1, 28]', p.rangePow);
  check(isInt(p.bucketSize, 1, 2 ** 31 - 1), 'bucketSize', 'an integer >= 1', p.bucketSize);
  check(p.insertion === 'fifo' || p.insertion === 'reservoir', 'insertion', "'fifo' or 'reservoir'", p.insertion);
  check(isInt(p.capacity, 1, 2 ** 31 - 1), 'capacity', 'an integer >= 1', p.capacity);
  check(Number.isInteger(p.seed), 'seed', 'an integer', p.seed);
  const R = 2 ** p.rangePow;
  const entCap = Math.min(p.capacity, R * p.bucketSize);
  check(p.L * p.capacity <= 2 ** 31 - 1, 'L * capacity', `below 2^31 (L = ${p.L}, capacity = ${p.capacity})`, p.L * p.capacity);
  check(p.L * (R + 1) <= 2 ** 31 - 1, 'L * (2^rangePow + 1)', `below 2^31 (L = ${p.L}, rangePow = ${p.rangePow})`, p.L * (R + 1));
  return { R, entCap, maxCandidates: Math.min(p.capacity, p.L * p.bucketSize) };
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
  /** entries slots per table */
  readonly entCap: number;
  /** most distinct candidates one query can return: min(capacity, L * bucketSize) */
  readonly maxCandidates: number;

  /** (L, capacity) bucket of each item in each table, -1 = absent */
  readonly keys: Int32Array;
  /** (L, numBuckets + 1) */
  readonly offsets: Int32Array;
  /** (L, entCap) */
  readonly entries: Int32Array;
  /** (L) commits of each table */
  readonly epochs: Int32Array;
  /** the memory the storage lives in, and its kernels (queries count votes with them) */
  readonly memory: WebAssembly.Memory;
  readonly kernels: Kernels;
  /** default commit scratch (numBuckets); pass your own to commitTable from another thread */
  private readonly count: Int32Array;
  /**
   * How topByVotes counts votes: 'sparse' stamps the items it meets (cost ~ the entries of the
   * query's buckets), 'dense' counts into an array over all items and scans it (cost ~ entries +
   * capacity, but branch-free: several times faster when the buckets hold a good share of all
   * items), 'auto' picks dense when the entries are at least half the capacity. Same results.
   */
  tally: 'auto' | 'sparse' | 'dense' = 'auto';

  stats: LshTablesStats = { inserts: 0, insertsDropped: 0, overflowingBuckets: 0, queries: 0, candidatesReturned: 0 };

  /** The storage's views, block `name`: keys, offsets and entries are the tables' state (saved in checkpoints). */
  static declare(name: string, p: LshTablesParams): BlockDecl {
    const { R, entCap } = sizes(p);
    return new BlockDecl(name)
      .i32('keys', [p.L, p.capacity], true)
      .i32('offsets', [p.L, R + 1], true)
      .i32('entries', [p.L, entCap], true)
      .i32('epochs', [p.L], true);
  }

  /**
   * Tables over the views of `bind` (declared by `declare`, in a model's memory, with that
   * memory's kernels), or over a memory of their own with the TypeScript kernels. Fresh views
   * are zero: call `clear()` before the first keys unless every item is set.
   */
  constructor(p: LshTablesParams, bind?: { views: BlockViews; kernels: Kernels }) {
    const { R, entCap, maxCandidates } = sizes(p);
    this.L = p.L;
    this.K = p.K;
    this.bitsPerHash = p.bitsPerHash;
    this.rangePow = p.rangePow;
    this.numBuckets = R;
    this.bucketSize = p.bucketSize;
    this.insertion = p.insertion;
    this.capacity = p.capacity;
    this.seed = p.seed | 0;
    this.entCap = entCap;
    this.maxCandidates = maxCandidates;
    let views = bind?.views;
    if (views === undefined) {
      views = new Arena().carve([LshTables.declare('tables', p)]).block('tables');
      views.i32('keys').fill(-1);
    }
    this.keys = views.i32('keys');
    this.offsets = views.i32('offsets');
    this.entries = views.i32('entries');
    this.epochs = views.i32('epochs');
    this.memory = views.memory;
    this.kernels = bind?.kernels ?? jsKernels;
    this.count = new Int32Array(R);
  }

  /** Bytes of the tables' storage if built with params p (nothing is allocated). */
  static estimateMemoryBytes(p: LshTablesParams): number {
    const { R, entCap } = sizes(p);
    return 4 * (p.L * p.capacity + p.L * (R + 1) + p.L * entCap + p.L);
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

  /** Every item absent (the committed tables are untouched until the next commit). */
  clear(): void {
    this.keys.fill(-1);
  }

  /**
   * The buckets of n items: ids[i] with codes[i*codesStride .. +K*L) (row-major; codesStride
   * defaults to K*L, a larger stride lets these tables use a prefix of a bigger family's codes).
   * Threads may set disjoint items at once.
   */
  setKeys(n: number, ids: Int32Array, codes: Int32Array, codesStride: number = this.K * this.L): void {
    const L = this.L;
    const K = this.K;
    if (!Number.isInteger(n) || n < 0 || n > ids.length) throw new RangeError(`LshTables.setKeys: n must be an integer in [0, ids.length = ${ids.length}], found ${n}`);
    if (n === 0) return;
    if (codesStride < K * L) throw new RangeError(`LshTables.setKeys: codesStride must be >= K*L = ${K * L}, found ${codesStride}`);
    if ((n - 1) * codesStride + K * L > codes.length) {
      throw new RangeError(`LshTables.setKeys: codes holds ${codes.length} values, ${n} items need ${(n - 1) * codesStride + K * L}`);
    }
    const cap = this.capacity;
    const keys = this.keys;
    const bits = this.bitsPerHash;
    const rp = this.rangePow;
    for (let i = 0; i < n; i++) {
      const id = ids[i]!;
      if (!(id >= 0 && id < cap)) throw new RangeError(`LshTables.setKeys: ids[${i}] = ${id} is outside [0, capacity = ${cap})`);
      const row = i * codesStride;
      for (let t = 0; t < L; t++) keys[t * cap + id] = combineCodes(codes, row + t * K, K, bits, rp);
    }
  }

  /** Whether an item's key is the plain concatenation of its K one-bit codes (what Kernels.signKeys computes). */
  get keysAreSignBits(): boolean {
    return this.bitsPerHash === 1 && this.K <= this.rangePow;
  }

  /** Build every table from the keys. */
  commit(): void {
    for (let t = 0; t < this.L; t++) this.commitTable(t, this.count);
  }

  /**
   * Build table t's CSR from its keys by a counting sort over item ids, keeping at most
   * bucketSize items a bucket (see the file comment). count: scratch Int32Array(2^rangePow), one
   * per committing thread.
   */
  commitTable(t: number, count: Int32Array = this.count): void {
    if (!isInt(t, 0, this.L - 1)) throw new RangeError(`LshTables.commitTable: t must be an integer in [0, ${this.L}), found ${t}`);
    if (count.length < this.numBuckets) throw new RangeError(`LshTables.commitTable: count scratch needs ${this.numBuckets} entries, found ${count.length}`);
    const R = this.numBuckets;
    const S = this.bucketSize;
    const N = this.capacity;
    const keys = this.keys;
    const kb = t * N;
    const off = this.offsets;
    const ob = t * (R + 1);
    const ent = this.entries;
    const eb = t * this.entCap;
    const epoch = this.epochs[t]!;
    this.epochs[t] = epoch + 1;

    // every item present and no bucket over its capacity (the usual case): a stable counting
    // sort in the kernels, ids in order
    if (this.kernels.bucketSort(keys, kb, null, N, R, S, off, ob, ent, eb) >= 0) {
      this.stats.inserts += N;
      return;
    }
    for (let b = 0; b < R; b++) count[b] = 0;
    let m = 0;
    for (let i = 0; i < N; i++) {
      const k = keys[kb + i]!;
      if (k >= 0) {
        count[k]++;
        m++;
      }
    }
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
      // count[b] becomes the number of lowest ids of b to skip; off[ob+b] serves as b's cursor
      // and is shifted back afterwards.
      for (let b = 0; b < R; b++) {
        const c = count[b]!;
        count[b] = c > S ? c - S : 0;
      }
      for (let i = 0; i < N; i++) {
        const b = keys[kb + i]!;
        if (b < 0) continue;
        if (count[b]! > 0) {
          count[b]--;
          continue;
        }
        ent[eb + off[ob + b]!] = i;
        off[ob + b]++;
      }
      // after placement off[ob+b] = start of b+1
      for (let b = R; b > 0; b--) off[ob + b] = off[ob + b - 1]!;
      off[ob] = 0;
    } else {
      const rng = new Rng((this.seed ^ Math.imul(epoch + 1, 0x9e3779b1)) | 0, t + 1);
      for (let b = 0; b < R; b++) count[b] = 0;
      for (let i = 0; i < N; i++) {
        const b = keys[kb + i]!;
        if (b < 0) continue;
        const c = ++count[b]!;
        if (c <= S) {
          ent[eb + off[ob + b]! + c - 1] = i;
        } else {
          const j = rng.nextInt(c);
          if (j < S) ent[eb + off[ob + b]! + j] = i;
        }
      }
    }
    this.stats.inserts += m;
    this.stats.insertsDropped += dropped;
    this.stats.overflowingBuckets += overflowing;
  }

  /** clear() + setKeys() + commit(). */
  rebuild(n: number, ids: Int32Array, codes: Int32Array, codesStride: number = this.K * this.L): void {
    this.clear();
    this.setKeys(n, ids, codes, codesStride);
    this.commit();
  }

  resetStats(): void {
    const s = this.stats;
    s.inserts = 0;
    s.insertsDropped = 0;
    s.overflowingBuckets = 0;
    s.queries = 0;
    s.candidatesReturned = 0;
  }
}
