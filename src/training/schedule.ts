import type { RebuildConfig } from '../config.js';

/**
 * When to re-insert neurons into the hash tables.
 *  - exponential (the paper): rebuild i (i = 1, 2, ...) comes N0 * e^(lambda * i) batches after
 *    rebuild i-1, so rebuilds thin out as weights settle;
 *  - fixed: every `period` batches (the reference code).
 * Separately, new hash functions are drawn every `rehashEvery` batches (0 = never).
 * The schedule is a pure function of the batch counter, so a resumed run continues it exactly.
 */
export class RebuildSchedule {
  /** rebuilds done so far */
  count = 0;
  /** batch index (1-based, counted over the whole run) at which the next rebuild happens */
  nextAt: number;

  constructor(readonly cfg: RebuildConfig) {
    this.nextAt = this.gap(1);
  }

  private gap(i: number): number {
    if (this.cfg.schedule === 'fixed') return this.cfg.period;
    return Math.max(1, Math.round(this.cfg.n0 * Math.exp(this.cfg.lambda * i)));
  }

  /** Called after batch `batch` (1-based) is applied; says whether to rebuild now. */
  shouldRebuild(batch: number): boolean {
    if (batch < this.nextAt) return false;
    this.count++;
    this.nextAt = batch + this.gap(this.count + 1);
    return true;
  }

  shouldRedraw(batch: number): boolean {
    return this.cfg.rehashEvery > 0 && batch % this.cfg.rehashEvery === 0;
  }

  /** The batch indices of the first `n` rebuilds (for tests and docs). */
  static preview(cfg: RebuildConfig, n: number): number[] {
    const s = new RebuildSchedule(cfg);
    const out: number[] = [];
    for (let b = 1; out.length < n; b++) if (s.shouldRebuild(b)) out.push(b);
    return out;
  }
}
