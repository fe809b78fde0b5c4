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
 *   count, stats                   the default commit scratch (CommitScratch), not state
 * with entCap = min(capacity, 2^rangePow * bucketSize).
 *
 * Life cycle: `setKeys` writes items' buckets; `commit` / `commitTable(t)` build each table's
 * CSR from the keys by a counting sort over item ids, enforcing bucketSize. A table is a pure
 * function of its keys, bucketSize, insertion policy, seed and epoch, so it does not matter how
 * the keys got there: all re-hashed at once or only those of items that moved (an incremental
 * rebuild), by one thread or several. Queries read committed data only.
 *
 * The commit sorts every item again, also after an incremental rebuild: a bucket that loses a
 * kept item refills from members the CSR does not store, and the reservoir's draws run over the
 * whole table; and on the Amazon-670K shape more than half the (item, table) keys changed between
 * two rebuilds of training (a development run of bench:throughput's configuration), so a commit
 * in proportion to the moved items would save little. The kernels commit such a table in about
 * 10 ms (a development measurement on a loaded machine).
 *
 * Full buckets keep, in id order (the reference inserts neurons in id order): 'fifo' the
 * bucketSize highest ids (the newest), 'reservoir' a uniform sample (Algorithm R in id order:
 * the c-th item of a bucket, c > bucketSize, replaces a random slot with probability
 * bucketSize / c; the reference uses 1/c, which biases towards early items), drawn from
 * Rng(seed, t, epoch) so that a table's content depends neither on L nor on the thread.
 *
 * Threads: `setKeys` of disjoint items may run concurrently, and `commitTable(t, scratch)` writes
 * only table t's offsets/entries (plus the caller's scratch, declared by declareCommitScratch in
 * the tables' memory), so threads may commit different tables at once. A table must not be
 * queried while it is being committed; training rebuilds between batches. Stats are counted per
 * instance (not shared).
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
/**
 * A committing thread's scratch (Kernels.bucketCommit): views in the tables' memory so that the
 * WebAssembly kernels reach them (elsewhere, the commit runs the TypeScript twin).
 */
export interface CommitScratch {
  /** (2^rangePow) bucket counts */
  count: Int32Array;
  /** (3) items present, items dropped, buckets over bucketSize */
  stats: Int32Array;
  /** the memory of the views (null: arrays of their own) */
  memory: WebAssembly.Memory | null;
}

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
  /** the default commit scratch (in the storage's block): one committing thread's; pass your own to commitTable from others */
  private readonly scratch: CommitScratch;
  /**
   * How topByVotes counts votes: 'sparse' stamps the items it meets (cost ~ the entries of the
   * query's buckets), 'dense' counts into an array over all items and scans it (cost ~ entries +
   * capacity, but branch-free: several times faster when the buckets hold a good share of all
   * items), 'auto' picks dense when the entries are at least 1/64 of the capacity (query.ts,
   * DENSE_TALLY_SHARE). Same results.
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
      .i32('epochs', [p.L], true)
      .i32('count', [R])
      .i32('stats', [3]);
  }

  /** A committing thread's own scratch, block `name` (bind it in the tables' memory: commitScratch). */
  static declareCommitScratch(name: string, p: LshTablesParams): BlockDecl {
    const { R } = sizes(p);
    return new BlockDecl(name).i32('count', [R]).i32('stats', [3]);
  }

  /** The scratch of declareCommitScratch over its views. */
  static commitScratch(views: BlockViews): CommitScratch {
    return { count: views.i32('count'), stats: views.i32('stats'), memory: views.memory };
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
    this.scratch = LshTables.commitScratch(views);
  }

  /** Bytes of the tables' storage if built with params p (nothing is allocated). */
  static estimateMemoryBytes(p: LshTablesParams): number {
    const { R, entCap } = sizes(p);
    return 4 * (p.L * p.capacity + p.L * (R + 1) + p.L * entCap + p.L + R + 3);
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
    for (let t = 0; t < this.L; t++) this.commitTable(t, this.scratch);
  }

  /**
   * Build table t's CSR from its keys by a counting sort over item ids, keeping at most
   * bucketSize items a bucket (see the file comment). scratch: one per committing thread, in the
   * tables' memory for the WebAssembly kernels (declareCommitScratch); a plain Int32Array of
   * 2^rangePow counts also serves, through the TypeScript twin (same tables).
   */
  commitTable(t: number, scratch: CommitScratch | Int32Array = this.scratch): void {
    if (!isInt(t, 0, this.L - 1)) throw new RangeError(`LshTables.commitTable: t must be an integer in [0, ${this.L}), found ${t}`);
    const sc: CommitScratch = scratch instanceof Int32Array ? { count: scratch, stats: new Int32Array(3), memory: null } : scratch;
    if (sc.count.length < this.numBuckets || sc.stats.length < 3) {
      throw new RangeError(`LshTables.commitTable: the scratch needs ${this.numBuckets} counts and 3 stats, found ${sc.count.length} and ${sc.stats.length}`);
    }
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

    // the kernels' general commit when the scratch is in their memory; otherwise, when every item
    // is present and no bucket over its capacity, their stable counting sort (ids in order: what
    // the general commit makes of such keys), else the general commit's TypeScript twin
    const inMemory = sc.memory === this.memory;
    if (!inMemory && this.kernels.bucketSort(keys, kb, null, N, R, S, off, ob, ent, eb) >= 0) {
      this.stats.inserts += N;
      return;
    }
    // FIFO, or the reservoir with its generator continued from Rng(seed, t, epoch)'s state
    const k = inMemory ? this.kernels : jsKernels;
    let s0 = 0;
    let s1 = 0;
    let s2 = 0;
    let s3 = 0;
    if (this.insertion === 'reservoir') {
      const st = new Rng((this.seed ^ Math.imul(epoch + 1, 0x9e3779b1)) | 0, t + 1).getState();
      s0 = st[0]!;
      s1 = st[1]!;
      s2 = st[2]!;
      s3 = st[3]!;
    }
    k.bucketCommit(keys, kb, N, R, S, this.insertion === 'reservoir' ? 1 : 0, s0, s1, s2, s3, off, ob, ent, eb, sc.count, sc.stats);
    this.stats.inserts += sc.stats[0]!;
    this.stats.insertsDropped += sc.stats[1]!;
    this.stats.overflowingBuckets += sc.stats[2]!;
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
