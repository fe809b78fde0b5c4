import { workerData } from 'node:worker_threads';
import { Arena } from '../memory/arena.js';
import { Rng } from '../util/rng.js';
import { Network } from '../network/network.js';
import { getKernels } from '../kernels/index.js';
import { parseConfig } from '../config.js';
import { allocatePoolViews } from './layout.js';
import {
  Command, kBatchRows, kCommand, kError, kGeneration, kPending, kReady, kStatActive, kStatHits, kStatLoss, kStatProf, kStep, kLrHorizon, kNextRow, STAT_SLOTS,
  type WorkerInit,
} from './protocol.js';

/**
 * A training worker: attaches to the model in the shared memory (rebuilding the same views, in
 * the same order, as the main thread allocated them) and then serves phases until Exit.
 *
 * HOGWILD, and why each race is safe enough:
 *  - Train: workers read weights and tables (nobody writes them in this phase). A sampled layer
 *    in one memory (the output layer, as a rule) records its weight gradients in the slot of
 *    the batch row (DeferredGrads): rows of a batch are claimed once, so no two workers write
 *    the same slot, and these layers train as on one thread, bit for bit. The other layers (the
 *    sparse input layer, dense hidden layers, split output layers) accumulate into the shared
 *    G / gb rows with plain `+=`. Two workers updating the same row at once can lose one
 *    addition: for the popular input features and the input biases that every sample writes,
 *    the loss is a small noise on a mean gradient, which SGD tolerates (Recht et al., 2011),
 *    measured in the benchmark as P@1 within 0.01 of one thread. The touched-row lists are
 *    exact: rows are claimed with Atomics.exchange and list slots with Atomics.add.
 *  - Update: the main thread orders the touched rows and groups the deferred gradients by them
 *    (ParamBlock.prepareUpdate), then each worker updates a disjoint slice of the touched rows:
 *    no race.
 *  - Stage: workers hash disjoint neuron ranges and reserve staging slots with Atomics.add.
 *  - Commit: each table is built by exactly one worker.
 * Phases are separated by the main thread's barrier (kPending reaching 0).
 */
const init = workerData as WorkerInit;
const ctrl = new Int32Array(init.control);
const stats = new Float64Array(init.stats);
const w = init.index;
const T = init.threads;

function main(): void {
  const cfg = parseConfig(init.config);
  const arena = new Arena(init.memory);
  const shardArenas = init.shardMemories.map((m) => new Arena(m));
  const net = new Network(cfg, init.nFeatures, init.nLabels, (m) => getKernels(m, init.kernels), new Rng(cfg.seed), arena, true, shardArenas);
  // the attach must have replayed exactly the main thread's allocations, or every view is off
  if (net.layoutBytes.join() !== init.layoutBytes.join()) {
    throw new Error(`worker attach: layout mismatch: arenas end at ${net.layoutBytes.join(', ')}, the main thread's at ${init.layoutBytes.join(', ')}`);
  }
  const views = allocatePoolViews(
    net, new Arena(init.memory, init.poolBase), init.shardMemories.map((m, i) => new Arena(m, init.shardPoolBases[i])),
    T, init.maxRows, init.maxNnz, init.maxLabels, cfg.seed,
  );
  const s = views.scratches[w]!;
  const batch = views.batch;
  const rebuildScratch = net.createRebuildScratch();
  const units = net.sampledUnits();
  const unitScratch = net.unitSamplerScratch(s);
  const countScratch = units.map((u) => new Int32Array(u.sampler.tables.numBuckets));
  net.profile = init.profile;

  Atomics.add(ctrl, kReady, 1);
  Atomics.notify(ctrl, kReady);

  let gen = 0;
  for (;;) {
    Atomics.wait(ctrl, kGeneration, gen);
    gen = Atomics.load(ctrl, kGeneration);
    const cmd = Atomics.load(ctrl, kCommand) as Command;
    try {
      switch (cmd) {
        case Command.Train: {
          const n = ctrl[kBatchRows]!;
          const scale = 1 / Math.max(1, n);
          net.syncFamilies();
          s.sums.fill(0);
          // rows claimed one at a time, so that no worker waits at the barrier while the other
          // still has a share of slow samples
          for (let r = Atomics.add(ctrl, kNextRow, 1); r < n; r = Atomics.add(ctrl, kNextRow, 1)) {
            net.trainSample(s, batch.featIdx, batch.featVal, batch.featPtr[r]!, batch.featPtr[r + 1]!, batch.labelIdx, batch.labelPtr[r]!, batch.labelPtr[r + 1]!, scale, r);
          }
          stats[w * STAT_SLOTS + kStatLoss] = s.sums[0]!;
          stats[w * STAT_SLOTS + kStatHits] = s.sums[1]!;
          stats[w * STAT_SLOTS + kStatActive] = s.sums[2]!;
          for (let i = 0; i < s.prof.length; i++) stats[w * STAT_SLOTS + kStatProf + i] = s.prof[i]!;
          break;
        }
        case Command.Update: {
          const step = ctrl[kStep]!;
          for (const b of net.blocks()) b.updatePart(cfg.optimizer, step, w, T, ctrl[kLrHorizon]!);
          break;
        }
        case Command.Stage: {
          units.forEach((u, i) => {
            u.sampler.syncFamily();
            const n = u.sampler.nOut;
            u.sampler.stageRange(u.p.W, u.p.b, rebuildScratch[i]!, Math.floor((n * w) / T), Math.floor((n * (w + 1)) / T), unitScratch[i]!);
          });
          break;
        }
        case Command.Commit: {
          units.forEach((u, i) => {
            for (let t = w; t < u.sampler.L; t += T) u.sampler.tables.commitTable(t, countScratch[i]!);
          });
          break;
        }
        case Command.Exit:
          break;
        default:
          throw new Error(`unknown command ${cmd}`);
      }
    } catch (e) {
      const err = e as Error;
      init.errorPort.postMessage({ message: err?.message ?? String(e), stack: err?.stack ?? String(e) });
      Atomics.store(ctrl, kError, w + 1);
    }
    if (Atomics.sub(ctrl, kPending, 1) === 1) Atomics.notify(ctrl, kPending);
    if (cmd === Command.Exit) break;
  }
  init.errorPort.close();
}

try {
  main();
} catch (e) {
  // failure while attaching: report it the same way, then let the main thread see kReady
  const err = e as Error;
  init.errorPort.postMessage({ message: err?.message ?? String(e), stack: err?.stack ?? String(e) });
  Atomics.store(ctrl, kError, w + 1);
  Atomics.add(ctrl, kReady, 1);
  Atomics.notify(ctrl, kReady);
}
