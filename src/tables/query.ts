/**
 * Queries of LshTables (tables.ts): the union of a query's buckets, the votes of each candidate
 * (the number of tables it shares a bucket with the query in), and the top candidates by votes.
 * Each thread queries with its own QueryScratch; nothing here allocates.
 */
import { jsKernels, type Kernels } from '../kernels/js.js';
import { Arena } from '../memory/arena.js';
import { BlockDecl, type BlockViews } from '../memory/layout.js';
import { combineCodes, type LshTables } from './tables.js';
import { cutVotes, selectTopByScore, selectTopByVotes } from './select.js';
import { clearWords, hasBit, setBit } from '../util/bits.js';

/** Stamps are reset (marks cleared) before they pass this. */
const kStampLimit = 0x3fffffff;

/**
 * Per-thread query scratch. The arrays the vote kernels write (tally, bucket ranges, candidates,
 * histogram, placed output) are declared views, so that they can live in the tables' memory where
 * the WebAssembly kernels reach them; the stamps of the sparse paths are the thread's own.
 * Candidate i is new in a query iff mark[i] < the query's base stamp, so marks never need
 * clearing between queries.
 */
export class QueryScratch {
  /**
   * (capacity) votes of every item, for topByVotes' dense counting: bytes where L < 256 (the
   * first half of the declared u16 view; half the cache footprint), else u16
   */
  readonly tally: Uint8Array | Uint16Array;
  /** (L) the query's bucket range in each table */
  readonly bStart: Int32Array;
  readonly bEnd: Int32Array;
  /** (maxCandidates) candidate ids */
  readonly cand: Int32Array;
  /**
   * (maxCandidates) topByVotes' output and its votes when the kernels place it (they write only
   * their memory): copied to the caller's arrays unless those are these
   */
  readonly top: Int32Array;
  readonly topVotes: Int32Array;
  /** (L + 2) vote histogram */
  readonly hist: Int32Array;
  /** the memory of the views above */
  readonly memory: WebAssembly.Memory;
  /** (capacity) last stamp that saw item i */
  readonly mark: Int32Array;
  /** (capacity / 32) one bit an item, zero between queries: queryUnion's (see unionInto) */
  readonly seen: Int32Array;
  /** (capacity) votes of item i in the current query (valid where mark[i] >= base) */
  readonly votes: Int32Array;
  /** (maxCandidates) votes of the candidates, and the boundary group of topByVotes */
  readonly candVotes: Int32Array;
  readonly tmp: Int32Array;
  /**
   * (maxCandidates) topByLogit's estimated logits of the candidates, and of the group at its cut:
   * declared views where the scratch was declared for it, else the thread's own, made by its
   * first query (logitArrays)
   */
  score: Float64Array;
  tmpScore: Float64Array;
  /** (maxCandidates) the ids of the group at topByLogit's cut (as score) */
  tmpIds: Int32Array;
  /**
   * the fewest votes topByLogit scores (fewer only to fill its cap): more than chance gives a label
   * at a right angle to the query by one standard deviation, c + sqrt(c) with c = L / 2^K (L /
   * buckets where codes are folded into fewer; its votes are binomial, nearly Poisson, of mean
   * c), rounded down, plus one (150 tables of 6 bits, as
   * WordNet's: 4; of 7 bits: 3; of 11 bits: 1). A label with fewer votes mostly has them by chance: its
   * estimate is a logit near its bias, and LSH inference takes the largest biases apart
   * (activeSet.topBias). With the mean alone as the floor (WordNet: 3) a WordNet query scored
   * ~6,800 of the 19K labels; saved models of WordNet (1 and 6 epochs), FOLDOC, the synthetic 31K,
   * 100K, product-search-like and AmazonCat-13K-like sets gave the same metrics to the last digit
   * with this floor, their LSH evaluation 3-26% faster on 2 threads (README).
   */
  readonly minLogitVotes: number;
  /**
   * the fewest votes a training step's estimates read (topByLogitAfterVotes): more than the L / 2^K
   * that chance gives a label at a right angle, rounded (inference asks a standard deviation more). Where
   * it rounds up a single vote is mostly chance (the 100K-label set's 150 tables of 8 bits: 0.59
   * a label, ~35,000 of a step's ~45,000 voted labels), and skipping those trained 1.3x as many
   * samples a second to the same model (1 thread, side by side: LSH / exact P@1 0.9522 / 0.9588
   * against 0.9525 / 0.9587). Where chance gives far less (the Amazon-670K shape's 11 bits: 0.07)
   * one vote is signal: skipping it there cost LSH P@1 0.070 -> 0.041 in bench:accuracy's 240 s.
   */
  readonly minTrainVotes: number;
  /** whether topByLogit's views (score, tmpScore, tmpIds, cosOfVotes, scoreHist) are declared ones */
  readonly logitViews: boolean;
  /** (SCORE_BINS) topByLogit's histogram of the scores (as score) */
  scoreHist: Int32Array;
  /** (L + 1) cos of the angle that v votes of L tables of K SimHash bits estimate (topByLogit; declared like score) */
  readonly cosOfVotes: Float64Array;
  /** last stamp used */
  stamp = 0;
  /** votes at the cut of the last dense topByVotes (0 = none yet): where the next query starts collecting */
  lastCut = 0;
  /** the entries of the last query's buckets (bucketRanges) */
  entries = 0;
  /** the vote band the last dense topByLogit's first pass began at (logitsAboveFloor) */
  logitTop: number;
  /** queries left that score every item in one pass (logitsAboveFloor) */
  onePass = 0;
  /** estimated logits topByLogit computed with this scratch, all queries together (its cost) */
  scored = 0;

  /**
   * The declared views of a scratch for tables `t`, block `name`; `logit`: with topByLogit's
   * scores and cosines (activeSet.queryRank 'logit'), which its kernel writes and reads.
   */
  static declare(name: string, t: { L: number; capacity: number; maxCandidates: number }, logit = false): BlockDecl {
    return new BlockDecl(name)
      .f64('score', [logit ? t.maxCandidates : 0])
      .f64('tmpScore', [logit ? t.maxCandidates : 0])
      .f64('cosOfVotes', [logit ? t.L + 1 : 0])
      .i32('tmpIds', [logit ? t.maxCandidates : 0])
      .i32('scoreHist', [logit ? SCORE_BINS : 0])
      .u16('tally', [t.capacity])
      .i32('bStart', [t.L])
      .i32('bEnd', [t.L])
      .i32('cand', [t.maxCandidates])
      .i32('top', [t.maxCandidates])
      .i32('topVotes', [t.maxCandidates])
      .i32('hist', [t.L + 2]);
  }

  /** A scratch for `t` over `views` (declared by `declare`), or over a memory of its own. */
  constructor(t: LshTables, views?: BlockViews) {
    const v = views ?? new Arena().carve([QueryScratch.declare('query', t)]).block('query');
    const tally = v.u16('tally');
    this.tally = t.L < 256 ? new Uint8Array(tally.buffer, tally.byteOffset, tally.length) : tally;
    this.bStart = v.i32('bStart');
    this.bEnd = v.i32('bEnd');
    this.cand = v.i32('cand');
    this.top = v.i32('top');
    this.topVotes = v.i32('topVotes');
    this.hist = v.i32('hist');
    this.memory = v.memory;
    this.mark = new Int32Array(t.capacity);
    this.seen = new Int32Array((t.capacity + 31) >>> 5);
    this.votes = new Int32Array(t.capacity);
    this.candVotes = new Int32Array(t.maxCandidates);
    this.tmp = new Int32Array(t.maxCandidates);
    this.score = v.f64('score');
    this.tmpScore = v.f64('tmpScore');
    this.tmpIds = v.i32('tmpIds');
    this.scoreHist = v.i32('scoreHist');
    this.logitViews = this.score.length > 0;
    const cosv = v.f64('cosOfVotes');
    this.cosOfVotes = cosv.length > t.L ? cosv : new Float64Array(t.L + 1);
    // a table's K bits all agree with probability (1 - a / pi)^K for an angle a, so v of L tables
    // estimate a = pi (1 - (v / L)^(1/K))
    for (let v = 0; v <= t.L; v++) this.cosOfVotes[v] = Math.cos(Math.PI * (1 - Math.pow(v / t.L, 1 / t.K)));
    // a label at a right angle agrees on all K bits of a table with probability 2^-K: c = L / 2^K
    // votes by chance (L / buckets where the codes are folded into fewer buckets than 2^K)
    const chance = t.L / Math.min(2 ** t.K, t.numBuckets);
    this.minLogitVotes = Math.min(t.L, Math.floor(chance + Math.sqrt(chance)) + 1);
    this.minTrainVotes = Math.min(t.L, Math.round(chance) + 1);
    this.logitTop = t.L;
  }

  /** topByLogit's arrays, the thread's own where none were declared (once, at the first query). */
  logitArrays(maxCandidates: number): void {
    if (this.score.length >= maxCandidates) return;
    this.score = new Float64Array(maxCandidates);
    this.tmpScore = new Float64Array(maxCandidates);
    this.tmpIds = new Int32Array(maxCandidates);
    this.scoreHist = new Int32Array(SCORE_BINS);
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
}

function checkScratch(t: LshTables, s: QueryScratch): void {
  if (s.mark.length < t.capacity || s.hist.length < t.L + 2 || s.cand.length < t.maxCandidates) {
    throw new RangeError('LshTables: this QueryScratch was made for smaller tables; make one for these tables');
  }
}

/**
 * The query's bucket in each table as an entries range, into scratch.bStart / bEnd (checking
 * that the scratch fits these tables); returns the total entries of those buckets (also kept in
 * scratch.entries, which topByLogitAfterVotes reads for the same query).
 */
function bucketRanges(t: LshTables, codes: Int32Array, codesOff: number, scratch: QueryScratch): number {
  checkScratch(t, scratch);
  const L = t.L;
  const K = t.K;
  const R1 = t.numBuckets + 1;
  const off = t.offsets;
  const bs = scratch.bStart;
  const be = scratch.bEnd;
  let entries = 0;
  for (let i = 0; i < L; i++) {
    const o = i * R1 + combineCodes(codes, codesOff + i * K, K, t.bitsPerHash, t.rangePow);
    const eb = i * t.entCap;
    bs[i] = eb + off[o]!;
    be[i] = eb + off[o + 1]!;
    entries += be[i]! - bs[i]!;
  }
  scratch.entries = entries;
  return entries;
}

/**
 * The distinct items of the query's L buckets (codes[codesOff .. +K*L)), in table order, at most
 * maxOut of them, into out[outOff ..]; returns how many.
 */
export function queryUnion(t: LshTables, codes: Int32Array, codesOff: number, scratch: QueryScratch, out: Int32Array, outOff: number, maxOut: number): number {
  const end = unionInto(t, codes, codesOff, scratch, scratch.seen, out, outOff, outOff + maxOut);
  clearWords(scratch.seen, out, outOff, end);
  return end - outOff;
}

/**
 * The items of the query's L buckets in table order, skipping those whose bit is set in `seen`
 * (one bit an item; it sets the bits of those it takes), appended to out[n ..) until `cap`;
 * returns the new end. With the caller's bits: a sampler adds the union straight behind the ids
 * it already holds, in one pass that stops at its cap (before, a union of every bucket was
 * deduplicated a second time: bench:throughput's lookup took half as long a sample after).
 * Bits, not stamps (util/bits.ts); the caller clears the bits of what it took.
 */
export function unionInto(t: LshTables, codes: Int32Array, codesOff: number, scratch: QueryScratch, seen: Int32Array, out: Int32Array, n: number, cap: number): number {
  const ent = t.entries;
  const n0 = n;
  bucketRanges(t, codes, codesOff, scratch);
  outer: for (let i = 0; i < t.L; i++) {
    if (n >= cap) break;
    const e = scratch.bEnd[i]!;
    for (let j = scratch.bStart[i]!; j < e; j++) {
      const id = ent[j]!;
      if (!hasBit(seen, id)) {
        setBit(seen, id);
        out[n++] = id;
        if (n >= cap) break outer;
      }
    }
  }
  t.stats.queries++;
  t.stats.candidatesReturned += n - n0;
  return n;
}

/**
 * The distinct items of the query's buckets with the number of tables each was found in
 * (outIds[i], outVotes[i]), in order of first discovery; returns how many. At most
 * min(outIds.length, outVotes.length) items (size them maxCandidates to get all).
 */
export function queryVotes(t: LshTables, codes: Int32Array, codesOff: number, scratch: QueryScratch, outIds: Int32Array, outVotes: Int32Array): number {
  bucketRanges(t, codes, codesOff, scratch);
  const n = collectVotes(t, scratch, outIds, Math.min(outIds.length, outVotes.length));
  const votes = scratch.votes;
  for (let i = 0; i < n; i++) outVotes[i] = votes[outIds[i]!]!;
  t.stats.queries++;
  t.stats.candidatesReturned += n;
  return n;
}

/**
 * 'auto' counts densely when the query's bucket entries are at least 1/DENSE_TALLY_SHARE of the
 * items. A sparse vote costs two random reads and writes of 4-byte stamps and counts spread over
 * all items (cache misses once the items number in the hundreds of thousands); a dense one a byte
 * increment, plus one clear and one SIMD scan of a byte an item. Measured at 670,091 items (the
 * Amazon-670K shape's defaults: 150 buckets of ~330 entries a query, 7% of the items), the first
 * 60 s of training on 2 threads: the lookup took 6.5 ms a sample sparse (the share was 2) and
 * 0.48 ms dense, 217 against 1,035 samples/s.
 */
const DENSE_TALLY_SHARE = 64;

/** Whether a query whose buckets hold `entries` entries counts its votes densely (t.tally, DENSE_TALLY_SHARE). */
function denseTally(t: LshTables, entries: number): boolean {
  return t.tally !== 'sparse' && t.L <= 0xffff && (t.tally === 'dense' || DENSE_TALLY_SHARE * entries >= t.capacity);
}

/**
 * The (at most) cap items with the most votes, ties to the smaller id, into out[0 ..) (and
 * their votes into outVotes if given), ordered by votes descending; returns how many.
 * Selection counts votes (votes <= L) instead of sorting; only the group at the cut is
 * ordered by id.
 */
export function topByVotes(t: LshTables, codes: Int32Array, codesOff: number, scratch: QueryScratch, cap: number, out: Int32Array, outVotes: Int32Array | null = null): number {
  const entries = bucketRanges(t, codes, codesOff, scratch);
  let m: number;
  if (denseTally(t, entries)) {
    m = topByVotesDense(t, scratch, cap, out, outVotes);
  } else {
    const n = collectVotes(t, scratch, scratch.cand, scratch.cand.length);
    const cand = scratch.cand;
    const cv = scratch.candVotes;
    const votes = scratch.votes;
    for (let i = 0; i < n; i++) cv[i] = votes[cand[i]!]!;
    m = selectTopByVotes(cand, cv, n, cap, t.L, scratch.hist, scratch.tmp, out, 0, outVotes);
  }
  t.stats.queries++;
  t.stats.candidatesReturned += m;
  return m;
}

/**
 * topByVotes by dense counting over the buckets in scratch.bStart/bEnd, with the voteTally and
 * voteCollect kernels (the tables' own kernels when the scratch lives in their memory): votes of
 * every item in scratch.tally (no branch per entry: every bucket holds a set), then the items
 * above the previous query's cut in id order with their vote histogram (the scan skips most
 * items eight or sixteen at a time), then one band below at a time until `cap` items are in,
 * the last band's scan stopping there (a collection from one vote once took a tenth of WordNet's
 * LSH evaluation: ~15K of 19K items have a vote). Each band is in id order, so each vote group
 * is. Selection then reads only the collected items: the groups above the cut placed by vote,
 * then the smallest ids of the group at it.
 */
function topByVotesDense(t: LshTables, scratch: QueryScratch, cap: number, out: Int32Array, outVotes: Int32Array | null): number {
  const L = t.L;
  const N = t.capacity;
  const cnt = scratch.tally;
  const hist = scratch.hist;
  const cand = scratch.cand;
  const k = scratch.memory === t.memory ? t.kernels : jsKernels;
  // counted even for no items: topByLogitAfterVotes reads the count
  k.voteTally(t.entries, scratch.bStart, scratch.bEnd, L, cnt, N);
  if (cap <= 0) return 0;
  hist.fill(0, 0, L + 2);
  // every item above the previous query's cut (most queries cut there or one vote away), then
  // the bands at and below it one at a time, each scan stopping once cap items are in: the band
  // that reaches cap is the group at the cut, and its first ids are the ones kept (WordNet: ~800
  // items above the cut, ~1,000 in the band at it, of which a few dozen are needed)
  let lo = Math.max(1, scratch.lastCut);
  let nc = k.voteCollect(cnt, N, lo + 1, L + 1, hist, cand, 0, cand.length);
  for (; nc < cap && lo >= 1; lo--) nc = k.voteCollect(cnt, N, lo, lo + 1, hist, cand, nc, cap);
  if (nc === 0) return 0;
  // with nc >= cap the cut is in the last band collected (the bands above it complete, its first
  // ids in); otherwise every band was collected, the cut is 0 and every item is taken
  const vt = cutVotes(hist, L, 1, cap);
  scratch.lastCut = vt;
  const above = hist[L + 1]!;
  const take = Math.min(nc, cap);
  // every item above vt votes is in cand, and the first ids of the group at vt: the group at the
  // cut keeps its smallest ids. The WebAssembly kernels write only their memory: into
  // scratch.top, copied out unless the caller's arrays are those.
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

/**
 * The (at most) cap items with the largest estimated logit, ties to the smaller id, into out[0 ..)
 * in no particular order (the caller computes their logits); returns how many. The ids
 * held[0 .. nHeld) are passed over: the caller holds them already. rowNorm and bias lie in the
 * tables' memory where the scratch does (the kernels read them there). Every
 * other item of the query's buckets with at least scratch.minLogitVotes votes (every one with a
 * vote, where those are fewer than cap) is scored: rowNorm[id] |x| cos(the angle its votes
 * estimate) + bias[id], the logit of a centred SimHash row (config.ts, activeSet.queryRank). All of
 * them, because the labels votes rank low are the long rows: a simulation on a saved model of 50,000
 * labels (300 test points, 2,000 candidates) found the exact first label in 0.537 of the points by
 * votes, 0.540 / 0.570 / 0.640 re-ranking the top 4,000 / 8,000 / 16,000 by votes, and 0.640
 * re-ranking every voted label (exact: 0.637). A dense tally passes over the items that cannot
 * be among the cap (logitsAboveFloor); the selection is the same.
 */
export function topByLogit(t: LshTables, codes: Int32Array, codesOff: number, scratch: QueryScratch, cap: number, rowNorm: Float32Array, bias: Float32Array, xNorm: number, held: Int32Array, nHeld: number, out: Int32Array): number {
  const entries = bucketRanges(t, codes, codesOff, scratch);
  const k = logitKernels(t, scratch);
  if (denseTally(t, entries)) k.voteTally(t.entries, scratch.bStart, scratch.bEnd, t.L, scratch.tally, t.capacity);
  return rankByLogit(t, k, scratch, entries, scratch.minLogitVotes, cap, rowNorm, bias, xNorm, held, nHeld, out);
}

/**
 * topByLogit for the query topByVotes just answered with this scratch (its buckets, and its count
 * of votes where that was dense), which returned `votesTaken` items: a training step's second
 * half (activeSet.trainRank 'mixed'). The first pass begins at that query's cut of votes and the
 * floor is always tried, so that the candidates come in an order that depends on the query alone:
 * a step's sums run in that order, and N threads must train as one.
 */
export function topByLogitAfterVotes(t: LshTables, scratch: QueryScratch, votesTaken: number, cap: number, rowNorm: Float32Array, bias: Float32Array, xNorm: number, held: Int32Array, nHeld: number, out: Int32Array): number {
  scratch.logitTop = votesTaken > 0 ? scratch.lastCut : t.L;
  scratch.onePass = 0;
  return rankByLogit(t, logitKernels(t, scratch), scratch, scratch.entries, scratch.minTrainVotes, cap, rowNorm, bias, xNorm, held, nHeld, out);
}

/** The kernels of topByLogit: the tables' own where the scratch (with the views declared for it) lives in their memory. */
function logitKernels(t: LshTables, scratch: QueryScratch): Kernels {
  scratch.logitArrays(scratch.cand.length);
  return scratch.memory === t.memory && scratch.logitViews ? t.kernels : jsKernels;
}

/**
 * topByLogit once the query's buckets are in scratch.bStart / bEnd (`entries` entries), counted
 * into scratch.tally where dense, reading the labels with at least vMin votes (fewer only to fill
 * the cap).
 */
function rankByLogit(t: LshTables, k: Kernels, scratch: QueryScratch, entries: number, vMin: number, cap: number, rowNorm: Float32Array, bias: Float32Array, xNorm: number, held: Int32Array, nHeld: number, out: Int32Array): number {
  const cand = scratch.cand;
  const score = scratch.score;
  let m: number;
  if (denseTally(t, entries)) {
    // the held ids' votes zeroed, so that the scans pass them over
    const tally = scratch.tally;
    for (let i = 0; i < nHeld; i++) tally[held[i]!] = 0;
    m = logitsAboveFloor(k, t, scratch, vMin, cap, rowNorm, bias, xNorm);
    if (m < cap && vMin > 1) {
      // too few: the cap is filled from the items with fewer votes, ranked the same way
      const n = k.voteScores(tally, t.capacity, 1, vMin, scratch.cosOfVotes, rowNorm, bias, xNorm, cand, scratch.score, m, cand.length);
      scratch.scored += n - m;
      m = n;
    }
  } else {
    const n = collectVotes(t, scratch, cand, cand.length);
    const votes = scratch.votes;
    // the held ids' votes zeroed (those not collected are not read)
    for (let i = 0; i < nHeld; i++) votes[held[i]!] = 0;
    // those with fewer votes set aside in tmp, for filling the cap as above
    const low = scratch.tmp;
    let g = 0;
    m = 0;
    for (let i = 0; i < n; i++) {
      const id = cand[i]!;
      const v = votes[id]!;
      if (v >= vMin) scoreOf((cand[m] = id), v, m++, scratch, rowNorm, bias, xNorm);
      else if (v > 0) low[g++] = id;
    }
    if (m < cap) for (let i = 0; i < g; i++) scoreOf((cand[m] = low[i]!), votes[low[i]!]!, m++, scratch, rowNorm, bias, xNorm);
  }
  const took = selectTopScores(k, cand, score, m, cap, scratch, out);
  t.stats.queries++;
  t.stats.candidatesReturned += took;
  return took;
}

/**
 * topByLogit's candidates from a dense tally: the items with at least vMin votes
 * that can be among the cap largest estimated logits, with those logits, into scratch.cand /
 * score; returns how many (fewer than cap: every item with enough votes). Two passes: the vote
 * bands from the top down until they hold cap items, scored, give a floor under the cap-th
 * largest logit (kernel scoreFloor: cap items lie at or above it); the bands below are scored
 * and only their items at or above it kept. The same selection as scoring every item. (Bounds
 * that passed whole bands over, from the longest row and the largest bias, passed none once the
 * floor of votes rose to chance and a standard deviation: measured on five saved models, WordNet
 * to 100K labels, and in training; they were removed.)
 * Where the floor keeps more than half of the second pass (the product-search-like set's rows,
 * ~60%), the floor costs more than it saves: the thread then scores every item in one pass for
 * the next ONE_PASS_SPAN queries before trying again. scratch.logitTop, the band the last first
 * pass began at, is where the next begins.
 */
function logitsAboveFloor(k: Kernels, t: LshTables, scratch: QueryScratch, vMin: number, cap: number, rowNorm: Float32Array, bias: Float32Array, xNorm: number): number {
  const L = t.L;
  const N = t.capacity;
  const tally = scratch.tally;
  const cosv = scratch.cosOfVotes;
  const cand = scratch.cand;
  const score = scratch.score;
  const max = cand.length;
  if (scratch.onePass > 0) {
    scratch.onePass--;
    const n = k.voteScores(tally, N, vMin, L + 1, cosv, rowNorm, bias, xNorm, cand, score, 0, max);
    scratch.scored += n;
    return n;
  }
  let v0 = Math.min(L, Math.max(vMin, scratch.logitTop));
  let m = k.voteScores(tally, N, v0, L + 1, cosv, rowNorm, bias, xNorm, cand, score, 0, max);
  // down a band, two, four ...: a few scans of the tally at most
  for (let step = 1; m < cap && v0 > vMin; step *= 2) {
    const lo = Math.max(vMin, v0 - step);
    m = k.voteScores(tally, N, lo, v0, cosv, rowNorm, bias, xNorm, cand, score, m, max);
    v0 = lo;
  }
  scratch.scored += m;
  // a first pass of more than twice the cap began too low: the next query begins a band higher
  scratch.logitTop = m > 2 * cap ? v0 + 1 : v0;
  if (m < cap || v0 <= vMin || cap <= 0) return m;
  const floor = k.scoreFloor(score, m, cap, scratch.scoreHist);
  const scanned = k.voteScores(tally, N, vMin, v0, cosv, rowNorm, bias, xNorm, cand, score, m, max);
  scratch.scored += scanned - m;
  const kept = k.scoreKeep(cand, score, m, scanned, floor);
  if (2 * (kept - m) > scanned - m) scratch.onePass = ONE_PASS_SPAN;
  return kept;
}

/** Queries a thread answers in one pass once topByLogit's floor has kept most of a second pass (logitsAboveFloor). */
const ONE_PASS_SPAN = 64;

/** score[i] of topByLogit's candidate id with v votes (the kernel voteScores' formula). */
function scoreOf(id: number, v: number, i: number, scratch: QueryScratch, rowNorm: Float32Array, bias: Float32Array, xNorm: number): void {
  scratch.score[i] = scratch.cosOfVotes[v]! * rowNorm[id]! * xNorm + bias[id]!;
  scratch.scored++;
}

/** Buckets of the score histogram of topByLogit's selection (kernel scoreSplit). */
const SCORE_BINS = 1024;

/**
 * The (at most) cap of ids[0 .. n) with the largest score[0 .. n) (ties to the smaller id) into
 * out, in no particular order; returns min(n, cap). Kernel scoreSplit finds the bin of a score
 * histogram the cut falls in and passes the bins above it whole; only that bin's items are ordered
 * (selectTopByScore), instead of a quickselect over all n (on 50,000 labels that took most of a
 * query). With the WebAssembly kernels (which write only their memory) the bins above go to
 * scratch.top first.
 */
function selectTopScores(k: Kernels, ids: Int32Array, score: Float64Array, n: number, cap: number, scratch: QueryScratch, out: Int32Array): number {
  if (cap <= 0 || n === 0) return 0;
  if (n <= cap) {
    for (let i = 0; i < n; i++) out[i] = ids[i]!;
    return n;
  }
  const dst = k === jsKernels ? out : scratch.top;
  const above = k.scoreSplit(ids, score, n, cap, scratch.scoreHist, dst, scratch.tmpIds, scratch.tmpScore);
  if (dst !== out) for (let i = 0; i < above; i++) out[i] = dst[i]!;
  selectTopByScore(scratch.tmpIds, scratch.tmpScore, scratch.scoreHist[0]!, cap - above, out, above);
  return cap;
}

/** Distinct candidates of the buckets in scratch.bStart/bEnd into outIds (at most maxOut), votes per id in scratch.votes. */
function collectVotes(t: LshTables, scratch: QueryScratch, outIds: Int32Array, maxOut: number): number {
  const L = t.L;
  const ent = t.entries;
  const mark = scratch.mark;
  const votes = scratch.votes;
  // stamps base .. base+L-1: mark[id] = base + (last table that saw id); an id listed twice in
  // one bucket is counted once.
  const base = scratch.begin(L);
  let n = 0;
  for (let i = 0; i < L; i++) {
    const e = scratch.bEnd[i]!;
    const st = base + i;
    for (let j = scratch.bStart[i]!; j < e; j++) {
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
