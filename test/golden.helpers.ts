import { createHash } from 'node:crypto';
import { SlideModel } from '../src/training/model.js';
import { generateSynthetic } from '../src/data/synth.js';
import type { ConfigInput } from '../src/config.js';

/**
 * Golden runs: fixed data, fixed seeds, fixed configurations. What one run produces (losses and
 * training P@1 per epoch, the final metrics, a digest of every parameter) is written down in
 * golden.test.ts; the engine must keep producing exactly that on one thread, and the same on
 * N threads (workers.determinism.test.ts).
 */
export const GOLDEN_DATA = generateSynthetic({
  nTrain: 1500, nTest: 400, nFeatures: 800, nLabels: 300, featuresPerPoint: 18, labelsPerPoint: 2, seed: 21,
});

const BASE: ConfigInput = {
  seed: 9, hidden: [32], epochs: 3, batchSize: 32, evalEvery: 0, inference: 'both',
  optimizer: { lr: 5e-3, weightDecay: 0.02, schedule: 'cosine', minLrFactor: 0.1 },
  rebuild: { n0: 3, lambda: 0.2 },
};

export const GOLDEN_CONFIGS: Record<string, ConfigInput> = {
  /** SimHash with structured projections, the 40 candidates found in most tables: no random draws per sample */
  'lsh-topk': {
    ...BASE,
    output: { hash: { family: 'simhash', projection: 'hadamard', K: 4, L: 24, bucketSize: 256 }, activeSet: { policy: 'topk', maxActive: 40, minActive: 0 } },
  },
  /** the same over 3 output memories */
  'lsh-topk-3mem': {
    ...BASE,
    outputShards: 3,
    output: { hash: { family: 'simhash', projection: 'hadamard', K: 4, L: 24, bucketSize: 256 }, activeSet: { policy: 'topk', maxActive: 40, minActive: 0 } },
  },
  /**
   * the same tables, half of a step's candidates ranked by estimated logit (activeSet.trainRank)
   * and the queries too (queryRank): a selection whose passes depend on the thread's last query
   * in inference, and on the query alone in training
   */
  'lsh-mixed': {
    ...BASE,
    output: {
      hash: { family: 'simhash', projection: 'hadamard', K: 4, L: 24, bucketSize: 256 },
      activeSet: { policy: 'topk', maxActive: 40, queryMaxActive: 60, minActive: 0, topBias: 4, queryRank: 'logit', trainRank: 'mixed' },
    },
  },
  /** DWTA union of buckets padded with random neurons, two hidden layers, dropout: draws per sample */
  'lsh-union-dropout': {
    ...BASE,
    hidden: [32, 24],
    dropout: { hidden: 0.1, input: 0.1 },
    output: { hash: { family: 'dwta', K: 3, L: 16 }, activeSet: { policy: 'union', minActive: 50, maxActive: 120 } },
  },
  /** dense output, two hidden layers */
  dense: { ...BASE, hidden: [32, 24], output: { mode: 'dense' } },
};

export interface GoldenRecord {
  epochs: { loss: number; trainP1: number; active: number }[];
  exact: { p1: number; p3: number; p5: number; ndcg5: number };
  lsh: { p1: number; p3: number; p5: number; ndcg5: number; avgCandidates: number } | null;
  /** sha256 of every parameter block's W and b, in block order */
  params: string;
}

export async function goldenRun(name: string, threads = 1): Promise<GoldenRecord> {
  const { train, test } = GOLDEN_DATA;
  const m = new SlideModel({ nFeatures: train.nFeatures, nLabels: train.nLabels, config: { ...GOLDEN_CONFIGS[name]!, threads }, kernels: 'wasm' });
  const eps = await m.fit(train, { test });
  const ev = eps[eps.length - 1]!.eval!;
  const h = createHash('sha256');
  for (const b of m.network.blocks()) {
    h.update(new Uint8Array(b.W.buffer, b.W.byteOffset, b.W.byteLength));
    h.update(new Uint8Array(b.b.buffer, b.b.byteOffset, b.b.byteLength));
  }
  const mt = (r: { p1: number; p3: number; p5: number; ndcg5: number }) => ({ p1: r.p1, p3: r.p3, p5: r.p5, ndcg5: r.ndcg5 });
  return {
    epochs: eps.map((e) => ({ loss: e.loss, trainP1: e.trainP1, active: e.activePerSample })),
    exact: mt(ev.exact!),
    lsh: ev.lsh ? { ...mt(ev.lsh), avgCandidates: ev.lsh.avgCandidates } : null,
    params: h.digest('hex'),
  };
}
