/**
 * Engine configurations the benchmarks share (a module of its own: importing a benchmark script
 * would run it).
 */
import type { ConfigInput } from '../src/config.js';

/**
 * The LSH configuration of the Amazon-670K-shaped runs (bench:throughput, bench:distributed): the
 * reference's tables (DWTA, binSize 8, K = 6, L = 50, 2^18 buckets of 128), reservoir buckets, active sets padded to 300 and cut at 1,000 (the union of 50 buckets reaches
 * ~1,750-2,100 neurons here; the reference's sparsity 0.005 is ~3,350), batch 256, and the
 * paper's exponential rebuild schedule from 100 batches.
 */
export const LSH_CONFIG: ConfigInput = {
  hidden: [128],
  batchSize: 256,
  optimizer: { lr: 1e-3 },
  output: {
    mode: 'lsh',
    hash: { family: 'dwta', K: 6, L: 50, binSize: 8, rangePow: 18, bucketSize: 128, insertion: 'reservoir' },
    activeSet: { policy: 'union', minActive: 300, maxActive: 1000 },
  },
  rebuild: { schedule: 'exponential', n0: 100, lambda: 0.1 },
  evalEvery: 0,
};
