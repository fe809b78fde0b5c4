import { Worker, MessageChannel, receiveMessageOnPort, type MessagePort } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import type { Network } from '../network/network.js';
import type { Config } from '../config.js';
import type { KernelChoice } from '../kernels/index.js';
import { Arena } from '../memory/arena.js';
import type { CsrBatch } from '../data/csr.js';
import { fillRows } from '../data/csr.js';
import { allocatePoolViews, type PoolViews } from './layout.js';
import {
  Command, CONTROL_SLOTS, kBatchRows, kCommand, kError, kGeneration, kPending, kReady, kStatActive, kStatHits, kStatLoss, kStatProf, kStep, kLrHorizon, kNextRow,
  STAT_SLOTS, type WorkerInit,
} from './protocol.js';

export interface PoolOptions {
  threads: number;
  kernels: KernelChoice;
  maxRows: number;
  maxRowNnz: number;
  maxRowLabels: number;
}

export interface PoolBatchStats {
  lossSum: number;
  hits: number;
  activeSum: number;
}

/**
 * N worker threads that run the samples of each batch, the parameter update and the table
 * rebuilds on the model's shared memory. The main thread only coordinates: it writes the batch
 * into the shared batch buffer, starts a phase through the control block and awaits the
 * barrier with Atomics.waitAsync (so worker 'error'/'exit' events are still delivered: a worker
 * that dies stops the run with its error instead of hanging it).
 */
export class WorkerPool {
  private readonly ctrl: Int32Array;
  private readonly stats: Float64Array;
  private readonly workers: Worker[] = [];
  private readonly ports: MessagePort[] = [];
  private failure: Error | null = null;
  private failed: Promise<never>;
  private rejectFailed!: (e: Error) => void;
  private closed = false;
  readonly views: PoolViews;
  readonly threads: number;
  private readonly caps: { rows: number; nnz: number; labels: number };

  private constructor(
    private readonly net: Network,
    cfg: Config,
    opts: PoolOptions,
  ) {
    this.threads = opts.threads;
    this.ctrl = new Int32Array(new SharedArrayBuffer(4 * CONTROL_SLOTS));
    this.stats = new Float64Array(new SharedArrayBuffer(8 * STAT_SLOTS * opts.threads));
    this.failed = new Promise<never>((_, rej) => {
      this.rejectFailed = rej;
    });
    this.failed.catch(() => undefined); // observed through race() only
    const maxNnz = opts.maxRows * opts.maxRowNnz;
    const maxLabels = opts.maxRows * Math.max(1, opts.maxRowLabels);
    this.caps = { rows: opts.maxRows, nnz: maxNnz, labels: maxLabels };
    const arena = net.arena;
    const poolBase = arena.bytesUsed;
    const shardPoolBases = net.shardArenas.map((a) => a.bytesUsed);
    this.views = allocatePoolViews(net, arena, net.shardArenas, opts.threads, opts.maxRows, maxNnz, maxLabels, cfg.seed);
    const url = workerUrl();
    for (let w = 0; w < opts.threads; w++) {
      const { port1, port2 } = new MessageChannel();
      const init: WorkerInit = {
        index: w, threads: opts.threads, memory: arena.memory, shardMemories: net.shardArenas.map((a) => a.memory),
        shardPoolBases, layoutBytes: net.layoutBytes, control: this.ctrl.buffer as SharedArrayBuffer,
        stats: this.stats.buffer as SharedArrayBuffer, config: cfg, nFeatures: net.nFeatures, nLabels: net.nLabels,
        kernels: opts.kernels, profile: net.profile, poolBase, maxRows: opts.maxRows, maxNnz, maxLabels, errorPort: port2,
      };
      const worker = new Worker(url.file, { workerData: init, transferList: [port2], execArgv: url.execArgv });
      worker.on('error', (e) => this.fail(new Error(`training worker ${w} crashed: ${e.stack ?? e.message}`)));
      worker.on('exit', (code) => {
        if (!this.closed) this.fail(new Error(`training worker ${w} exited unexpectedly (code ${code})`));
      });
      this.workers.push(worker);
      this.ports.push(port1);
    }
  }

  /** Start `threads` workers on the network's memory and wait until they have attached. */
  static async create(net: Network, cfg: Config, opts: PoolOptions): Promise<WorkerPool> {
    const pool = new WorkerPool(net, cfg, opts);
    try {
      await pool.waitFor(kReady, opts.threads, 'up');
      pool.checkError();
    } catch (e) {
      await pool.close();
      throw e;
    }
    return pool;
  }

  private fail(e: Error): void {
    if (this.failure) return;
    this.failure = e;
    this.rejectFailed(e);
  }

  /** Wait (without blocking the event loop) until ctrl[slot] counts up to `target` (kReady) or down to 0 (kPending). */
  private async waitFor(slot: number, target: number, dir: 'up' | 'down'): Promise<void> {
    for (;;) {
      if (this.failure) throw this.failure;
      const v = Atomics.load(this.ctrl, slot);
      if (dir === 'up' ? v >= target : v <= 0) return;
      const r = Atomics.waitAsync(this.ctrl, slot, v, 1000);
      if (r.async) await Promise.race([r.value, this.failed]);
    }
  }

  private checkError(): void {
    const bad = Atomics.load(this.ctrl, kError);
    if (bad === 0) return;
    const msg = receiveMessageOnPort(this.ports[bad - 1]!)?.message as { message: string; stack: string } | undefined;
    const e = new Error(`training worker ${bad - 1} failed: ${msg?.stack ?? 'no details'}`);
    this.fail(e);
    throw e;
  }

  /** Run one phase on every worker and wait for all of them. */
  private async phase(cmd: Command): Promise<void> {
    if (this.closed) throw new Error('WorkerPool: used after close()');
    if (this.failure) throw this.failure;
    Atomics.store(this.ctrl, kCommand, cmd);
    Atomics.store(this.ctrl, kPending, this.threads);
    Atomics.add(this.ctrl, kGeneration, 1);
    Atomics.notify(this.ctrl, kGeneration);
    await this.waitFor(kPending, 0, 'down');
    this.checkError();
  }

  /**
   * Train on rows order[start..end) of d: samples split over the workers, then the update split
   * over them. Returns the batch's summed loss, hits and active neurons.
   */
  async trainBatch(d: CsrBatch, order: Int32Array, start: number, end: number, step: number, lrHorizon = 0): Promise<PoolBatchStats> {
    const b = this.views.batch;
    if (end - start > this.caps.rows) throw new RangeError(`WorkerPool: batch of ${end - start} rows exceeds the pool's ${this.caps.rows}`);
    let nnz = 0;
    let nl = 0;
    for (let i = start; i < end; i++) {
      const r = order[i]!;
      nnz += d.featPtr[r + 1]! - d.featPtr[r]!;
      nl += d.labelPtr[r + 1]! - d.labelPtr[r]!;
    }
    if (nnz > this.caps.nnz || nl > this.caps.labels) throw new RangeError(`WorkerPool: batch needs ${nnz} non-zeros / ${nl} labels, the pool holds ${this.caps.nnz} / ${this.caps.labels}`);
    fillRows(d, order, start, end, b);
    Atomics.store(this.ctrl, kBatchRows, b.n);
    Atomics.store(this.ctrl, kNextRow, 0);
    await this.phase(Command.Train);
    let lossSum = 0;
    let hits = 0;
    let activeSum = 0;
    for (let w = 0; w < this.threads; w++) {
      lossSum += this.stats[w * STAT_SLOTS + kStatLoss]!;
      hits += this.stats[w * STAT_SLOTS + kStatHits]!;
      activeSum += this.stats[w * STAT_SLOTS + kStatActive]!;
    }
    Atomics.store(this.ctrl, kStep, step);
    Atomics.store(this.ctrl, kLrHorizon, lrHorizon);
    const t0 = performance.now();
    for (const blk of this.net.blocks()) blk.prepareUpdate();
    await this.phase(Command.Update);
    for (const blk of this.net.blocks()) blk.finishUpdate();
    this.updateSec += (performance.now() - t0) / 1000;
    return { lossSum, hits, activeSum };
  }

  /** wall-clock seconds spent in update and rebuild phases */
  updateSec = 0;
  rebuildSec = 0;

  /** Sum of the workers' cumulative profiles (thread-seconds per part, PROF_* slots). */
  workerProfile(out: Float64Array): void {
    for (let w = 0; w < this.threads; w++) for (let i = 0; i < out.length; i++) out[i] = out[i]! + this.stats[w * STAT_SLOTS + kStatProf + i]!;
  }

  /** Rebuild every sampled layer's tables: hashing split by neuron ranges, tables split by index. */
  async rebuildTables(): Promise<void> {
    const t0 = performance.now();
    for (const u of this.net.sampledUnits()) {
      u.sampler.tables.clear();
      u.sampler.prepareRebuild(u.p.W, u.p.b);
    }
    await this.phase(Command.Stage);
    await this.phase(Command.Commit);
    this.rebuildSec += (performance.now() - t0) / 1000;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    if (!this.failure) {
      try {
        await this.phase(Command.Exit);
      } catch {
        /* terminating anyway */
      }
    }
    this.closed = true;
    await Promise.all(this.workers.map((w) => w.terminate()));
    for (const p of this.ports) p.close();
  }
}

/**
 * The worker script: the compiled JS next to this file or, when this module runs as TypeScript
 * source under tsx (development), a small ES module that registers tsx and imports worker.ts.
 */
function workerUrl(): { file: string | URL; execArgv: string[] } {
  const here = import.meta.url;
  if (!here.endsWith('.ts')) return { file: fileURLToPath(new URL('./worker.js', here)), execArgv: [] };
  const tsxApi = import.meta.resolve('tsx/esm/api');
  const src = `import { register } from ${JSON.stringify(tsxApi)}; register(); await import(${JSON.stringify(new URL('./worker.ts', here).href)});`;
  return { file: new URL('data:text/javascript,' + encodeURIComponent(src)), execArgv: [] };
}
