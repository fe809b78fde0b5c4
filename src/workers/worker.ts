import { workerData } from 'node:worker_threads';
import { availableParallelism } from 'node:os';
import { Network } from '../network/network.js';
import { RunArea } from '../network/run.js';
import { getKernels } from '../kernels/index.js';
import { Executor, Phase, kCommand, kError, kGeneration, kPending, kReady, kStatBusy, kStatProf, STAT_SLOTS } from '../training/executor.js';
import type { WorkerInit } from './pool.js';

/**
 * A worker thread: attaches to the model and the run in the shared memories (the same
 * declarations as the coordinator's, checked view by view), then runs its part of each phase
 * (executor.ts) until Exit.
 *
 * What threads share, phase by phase, and why it is safe:
 *  - Train: workers read weights and tables (nobody writes them in this phase) and write only
 *    their own scratch and the slots of the rows they claimed (each row is claimed once, by
 *    Atomics.add): every gradient is recorded, none is added to shared G. No race.
 *  - Replay: worker 0 alone.
 *  - Group: each worker groups the recorded gradients of its own part of the rows, writing only
 *    that part's marks, list entries and pair positions: no race.
 *  - Update: the coordinator joined the parts' lists (ParamBlock.prepareUpdate); each worker
 *    updates the runs of touched rows it claimed: no race.
 *  - Stage: workers hash disjoint neuron ranges and write those neurons' keys: no race.
 *  - Commit: each table is built by exactly one worker.
 *  - Eval: as Train, reading only; results to the claimed rows' slots.
 * Phases are separated by the coordinator's barrier (kPending reaching 0).
 */
const init = workerData as WorkerInit;
const ctrl = new Int32Array(init.control);
const stats = new Float64Array(init.stats);
const w = init.index;
const T = init.threads;
/**
 * Reads of the generation a worker makes before it sleeps in Atomics.wait (~0.1-0.15 ms here):
 * the next phase of a batch usually follows within the coordinator's short serial step, and a
 * worker that has gone to sleep starts the phase later than one that is still reading (and
 * the other has claimed its rows meanwhile). Measured at the Amazon-670K shape on 2 threads
 * (7 alternated pairs of one-epoch runs): 1.8-7.1% more samples/s in 6 of 7 pairs (the
 * seventh, slower in every phase, lost 12.6%), and less waiting at the update's barriers. Not
 * with more workers than cores: a worker that reads then holds a core that one still computing
 * its part needs.
 */
const SPIN_READS = T <= availableParallelism() ? 20_000 : 0;

function main(): void {
  const kernelsFor = (m: WebAssembly.Memory) => getKernels(m, init.kernels);
  const net = Network.attach(init.config, init.nFeatures, init.nLabels, kernelsFor, init.memories, init.modelPlacements);
  net.profile = init.profile;
  const run = RunArea.attach(net, init.runSpec, init.runPlacements);
  const exec = new Executor(net, run, ctrl, init.runSeed);
  const s = run.scratches[w]!;

  // the generation before the first phase, read before saying ready: the coordinator starts
  // the first phase (bumps it) as soon as every worker is ready, and a worker that read it after
  // would wait for the phase after that one
  let gen = Atomics.load(ctrl, kGeneration);
  Atomics.add(ctrl, kReady, 1);
  Atomics.notify(ctrl, kReady);

  for (;;) {
    // wait for the next generation, and only for it: Atomics.wait also returns without a new
    // phase (measured: about 1 run in 70 of the golden runs on 3 workers woke a worker with the
    // generation unchanged), and a worker that then ran its phase again updated its slice twice
    // and gave the barrier one decrement too many
    let g = Atomics.load(ctrl, kGeneration);
    for (let spin = 0; g === gen && spin < SPIN_READS; spin++) g = Atomics.load(ctrl, kGeneration);
    while (g === gen) {
      Atomics.wait(ctrl, kGeneration, gen);
      g = Atomics.load(ctrl, kGeneration);
    }
    gen = g;
    const cmd = Atomics.load(ctrl, kCommand) as Phase;
    const t0 = performance.now();
    try {
      exec.runPhase(cmd, w, T);
    } catch (e) {
      const err = e as Error;
      init.errorPort.postMessage({ message: err?.message ?? String(e), stack: err?.stack ?? String(e) });
      Atomics.store(ctrl, kError, w + 1);
    }
    const base = w * STAT_SLOTS;
    stats[base + kStatBusy] = stats[base + kStatBusy]! + (performance.now() - t0) / 1000;
    for (let i = 0; i < s.prof.length; i++) stats[base + kStatProf + i] = s.prof[i]!;
    if (Atomics.sub(ctrl, kPending, 1) === 1) Atomics.notify(ctrl, kPending);
    if (cmd === Phase.Exit) break;
  }
  init.errorPort.close();
}

try {
  main();
} catch (e) {
  // failure while attaching: report it the same way, then let the coordinator see kReady
  const err = e as Error;
  init.errorPort.postMessage({ message: err?.message ?? String(e), stack: err?.stack ?? String(e) });
  Atomics.store(ctrl, kError, w + 1);
  Atomics.add(ctrl, kReady, 1);
  Atomics.notify(ctrl, kReady);
}
