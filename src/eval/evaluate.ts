import type { CsrBatch } from '../data/csr.js';
import { fillRows } from '../data/csr.js';
import { MetricsAccumulator, evalRow, type RankingMetrics } from './metrics.js';
import { EVAL_TOP, type RunArea } from '../network/run.js';
import { Phase, kBatchRows, kEvalExact, kEvalK, kEvalRank, kEvalRecall, kNextRow } from '../training/executor.js';

export interface EvalOptions {
  inference?: 'lsh' | 'exact' | 'both';
  /**
   * evaluate only maxPoints rows spread evenly over the set (rows floor(i * n / maxPoints)), so that
   * a part of a file sorted by topic still samples every topic (0 = all)
   */
  maxPoints?: number;
}

export interface EvalResult {
  points: number;
  exact?: RankingMetrics & { seconds: number };
  lsh?: RankingMetrics & { seconds: number; avgCandidates: number };
  /** with 'both': fraction of exact inference's top-5 found in LSH inference's candidate set */
  lshRecallOfExactTop5?: number;
}

/**
 * The phases of an evaluation (Eval, executor.ts): the chosen rows go through the run's batch
 * area a chunk at a time; each chunk runs exact inference, then LSH inference (which counts how
 * much of the exact top 5 its candidates hold), on every thread; the metrics are then added in
 * row order, so the result does not depend on the number of threads. Labels are ranked by logit
 * (ties to the smaller id), first making the copies that ranking reads (Phase.Quantize). A model
 * without sampled output layer answers LSH inference exactly (every neuron is a candidate).
 * Yields the phases to run (the caller runs them on its threads); returns the metrics.
 */
export function* evalPhases(run: RunArea, ctrl: Int32Array, d: CsrBatch, opts: EvalOptions): Generator<Phase, EvalResult, void> {
  const mode = opts.inference ?? 'both';
  const n = opts.maxPoints && opts.maxPoints > 0 ? Math.min(opts.maxPoints, d.n) : d.n;
  const doExact = mode === 'exact' || mode === 'both';
  const doLsh = mode === 'lsh' || mode === 'both';
  const K = run.spec.topK;
  const rows = run.rows;
  const exactAcc = new MetricsAccumulator();
  const lshAcc = new MetricsAccumulator();
  let exactSec = 0;
  let lshSec = 0;
  let cands = 0;
  let found = 0;
  let wanted = 0;
  const order = new Int32Array(Math.min(run.spec.slots, Math.max(1, n)));
  // the labels alone are wanted: ranked by logit through 8-bit copies of the output rows, made
  // now from the current weights (the same labels as every row in float32, quantized.ts)
  const t0 = performance.now();
  yield Phase.Quantize;
  const quantSec = (performance.now() - t0) / 1000;
  ctrl[kEvalRank] = 1;
  for (let i0 = 0; i0 < n; ) {
    // as many rows as the batch area holds
    let m = 0;
    let nnz = 0;
    let nl = 0;
    const capNnz = run.batch.featIdx.length;
    const capLab = run.batch.labelIdx.length;
    while (i0 + m < n && m < order.length) {
      const r = evalRow(i0 + m, n, d.n);
      const a = d.featPtr[r + 1]! - d.featPtr[r]!;
      const b = d.labelPtr[r + 1]! - d.labelPtr[r]!;
      if (m > 0 && (nnz + a > capNnz || nl + b > capLab)) break;
      order[m++] = r;
      nnz += a;
      nl += b;
    }
    fillRows(d, order, 0, m, run.batch);
    ctrl[kBatchRows] = m;
    ctrl[kEvalK] = EVAL_TOP;
    for (const exact of [true, false]) {
      if (exact ? !doExact : !doLsh) continue;
      ctrl[kEvalExact] = exact ? 1 : 0;
      ctrl[kEvalRecall] = !exact && doExact ? 1 : 0;
      ctrl[kNextRow] = 0;
      const t0 = performance.now();
      yield Phase.Eval;
      const sec = (performance.now() - t0) / 1000;
      const acc = exact ? exactAcc : lshAcc;
      for (let j = 0; j < m; j++) {
        const r = order[j]!;
        acc.add(rows.top.subarray(j * K, j * K + EVAL_TOP), rows.nTop[j]!, d.labelIdx, d.labelPtr[r]!, d.labelPtr[r + 1]!);
        if (!exact) {
          cands += rows.cands[j]!;
          if (doExact) {
            found += rows.found[j]!;
            wanted += rows.exactN[j]!;
          }
        }
      }
      if (exact) exactSec += sec;
      else lshSec += sec;
    }
    i0 += m;
  }
  const res: EvalResult = { points: n };
  // each inference's time includes the copies it needs
  if (doExact) res.exact = { ...exactAcc.result(), seconds: quantSec + exactSec };
  if (doLsh) res.lsh = { ...lshAcc.result(), seconds: quantSec + lshSec, avgCandidates: cands / Math.max(1, n) };
  if (doExact && doLsh) res.lshRecallOfExactTop5 = found / Math.max(1, wanted);
  return res;
}
