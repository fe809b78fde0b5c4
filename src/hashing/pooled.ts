/**
 * Hash functions shared out of a pool: table t's K codes are K distinct functions drawn from a
 * pool of P functions of an inner family, instead of K functions of its own. Hashing a vector then
 * costs P elementary hashes instead of K*L: with SimHash K=6, L=150 and P=256, 3.5x fewer
 * projections for every query and for every neuron at every rebuild.
 *
 * Each table is still K independent functions of the inner family (distinct pool members), so its
 * collision probability is unchanged: p^K for a family with per-code collision probability p.
 * What changes is that tables are no longer independent of one another (two tables share on
 * average K^2 / P functions); with P >> K that correlation is small, and the vote count of a
 * neuron over the L tables becomes a smooth function of how many of the P codes it shares with
 * the query.
 *
 * Selection: sel[t*K + k] is the pool member of code k of table t; the K members of a table are
 * distinct, drawn by a partial Fisher-Yates shuffle from Rng(seed, STREAM_POOL), so (seed, K, L, P)
 * fixes them.
 */
import type { HashFamily, KernelPlan } from './types.js';
import { Rng } from '../util/rng.js';
import { ConfigError } from '../util/errors.js';
import { RowHashFamily, STREAM_POOL } from './common.js';

/** sel (L*K): the pool members of each table's codes, distinct within a table. */
export function drawPoolSelection(seed: number, K: number, L: number, pool: number): Int32Array {
  if (!Number.isInteger(pool) || pool < K) throw new ConfigError(`hash pool: must be an integer >= K = ${K}, found ${JSON.stringify(pool)}`);
  const rng = new Rng(seed, STREAM_POOL);
  const perm = new Int32Array(pool);
  const sel = new Int32Array(K * L);
  for (let t = 0; t < L; t++) {
    for (let i = 0; i < pool; i++) perm[i] = i;
    for (let k = 0; k < K; k++) {
      const j = k + rng.nextInt(pool - k);
      const v = perm[j]!;
      perm[j] = perm[k]!;
      perm[k] = v;
      sel[t * K + k] = v;
    }
  }
  return sel;
}

export class PooledFamily extends RowHashFamily implements HashFamily {
  readonly name: string;
  readonly dim: number;
  /** K * L: the codes the tables read */
  readonly numHashes: number;
  readonly bitsPerHash: number;
  /** (L*K) pool member of each code */
  readonly sel: Int32Array;
  /** scratch (pool): the inner family's codes of the row being hashed */
  private readonly base: Int32Array;

  /** `inner` holds the pool (inner.numHashes = P); seed draws the selection. */
  constructor(
    readonly inner: HashFamily,
    readonly K: number,
    readonly L: number,
    seed: number,
  ) {
    super();
    this.name = `${inner.name}/pool${inner.numHashes}`;
    this.dim = inner.dim;
    this.numHashes = K * L;
    this.bitsPerHash = inner.bitsPerHash;
    this.sel = drawPoolSelection(seed, K, L, inner.numHashes);
    this.base = new Int32Array(inner.numHashes);
  }

  /** The pool's plan, each table code selecting its pool member. */
  override kernelPlan(): KernelPlan | null {
    const p = this.inner.kernelPlan();
    return p === null ? null : { ...p, select: this.sel };
  }

  hashDenseRow(x: Float32Array, xOff: number, out: Int32Array, outOff: number): void {
    this.inner.hashDenseRow(x, xOff, this.base, 0);
    gatherCodes(this.base, this.sel, out, outOff);
  }

  hashSparseRow(idx: Int32Array, val: Float32Array, start: number, end: number, out: Int32Array, outOff: number): void {
    this.inner.hashSparseRow(idx, val, start, end, this.base, 0);
    gatherCodes(this.base, this.sel, out, outOff);
  }
}

/** out[outOff + i] = base[sel[i]] for every code i. */
export function gatherCodes(base: Int32Array, sel: Int32Array, out: Int32Array, outOff: number): void {
  const n = sel.length;
  for (let i = 0; i < n; i++) out[outOff + i] = base[sel[i]!]!;
}
