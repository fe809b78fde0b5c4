/**
 * Ranking metrics of extreme classification, accumulated one point at a time.
 * P@k = |top-k ∩ labels| / k; nDCG@k = DCG@k / IDCG@k with DCG = sum_i [top_i in labels] / log2(i + 1)
 * and IDCG over min(k, |labels|) ideal hits. Every point counts, including points without
 * labels (they score 0), as in the Extreme Classification Repository's tools.
 */
export interface RankingMetrics {
  points: number;
  p1: number;
  p3: number;
  p5: number;
  ndcg5: number;
}

const INV_LOG2 = Array.from({ length: 64 }, (_, i) => 1 / Math.log2(i + 2));

export class MetricsAccumulator {
  private n = 0;
  private hits1 = 0;
  private hits3 = 0;
  private hits5 = 0;
  private ndcg = 0;

  /** Add one point: predicted ids in rank order (top[0..nTop)), true labels labels[lStart..lEnd). */
  add(top: Int32Array, nTop: number, labels: Int32Array, lStart: number, lEnd: number): void {
    this.n++;
    const nl = lEnd - lStart;
    if (nl === 0) return;
    let dcg = 0;
    const m = Math.min(nTop, 5);
    for (let i = 0; i < m; i++) {
      const id = top[i]!;
      let hit = false;
      for (let j = lStart; j < lEnd; j++) {
        if (labels[j] === id) {
          hit = true;
          break;
        }
      }
      if (hit) {
        dcg += INV_LOG2[i]!;
        if (i < 1) this.hits1++;
        if (i < 3) this.hits3++;
        this.hits5++;
      }
    }
    let idcg = 0;
    for (let i = 0; i < Math.min(5, nl); i++) idcg += INV_LOG2[i]!;
    this.ndcg += dcg / idcg;
  }

  result(): RankingMetrics {
    const n = Math.max(1, this.n);
    return {
      points: this.n,
      p1: this.hits1 / n,
      p3: this.hits3 / (3 * n),
      p5: this.hits5 / (5 * n),
      ndcg5: this.ndcg / n,
    };
  }
}

/** P@1 of always predicting the most frequent training label: the baseline to beat. */
export function majorityBaselineP1(trainLabels: Int32Array, nLabels: number, testLabelPtr: Int32Array, testLabels: Int32Array, nTest: number): { label: number; p1: number } {
  const freq = new Int32Array(nLabels);
  for (let i = 0; i < trainLabels.length; i++) freq[trainLabels[i]!]!++;
  let best = 0;
  for (let j = 1; j < nLabels; j++) if (freq[j]! > freq[best]!) best = j;
  let hits = 0;
  for (let r = 0; r < nTest; r++) {
    for (let k = testLabelPtr[r]!; k < testLabelPtr[r + 1]!; k++) {
      if (testLabels[k] === best) {
        hits++;
        break;
      }
    }
  }
  return { label: best, p1: hits / Math.max(1, nTest) };
}

/**
 * Row of the i-th of n evaluation points spread evenly over a set of `total` rows (i itself when
 * n >= total): a part of a file sorted by topic still samples every topic.
 */
export function evalRow(i: number, n: number, total: number): number {
  return n >= total ? i : Math.floor((i * total) / n);
}
