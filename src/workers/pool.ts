import { Worker, MessageChannel, receiveMessageOnPort, type MessagePort } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import type { Placement } from '../memory/layout.js';
import type { Config } from '../config.js';
import type { KernelChoice } from '../kernels/index.js';
import type { RunSpec } from '../network/run.js';
import { Phase, kCommand, kError, kGeneration, kPending, kReady, STAT_SLOTS } from '../training/executor.js';

/** What a worker needs to attach to the model and the run (structured-clone safe). */
export interface WorkerInit {
  index: number;
  threads: number;
  /** the model's memories (0: main, s >= 1: output shards) */
  memories: WebAssembly.Memory[];
  /** where the model's and the run's views are in each memory: the worker declares the same and checks */
  modelPlacements: Placement[];
  runPlacements: Placement[];
  runSpec: RunSpec;
  control: SharedArrayBuffer;
  stats: SharedArrayBuffer;
  /** the model's configuration (validated) and dimensions */
  config: Config;
  nFeatures: number;
  nLabels: number;
  kernels: KernelChoice;
  profile: boolean;
  /** seed of the training samples' generators */
  runSeed: number;
  /** the port on which the worker reports an exception (read synchronously by the coordinator) */
  errorPort: MessagePort;
}

export type PoolSetup = Omit<WorkerInit, 'index' | 'threads' | 'control' | 'stats' | 'errorPort'> & { control: Int32Array };

/**
 * N worker threads that run the phases of each batch (executor.ts) on the model's shared
 * memories. The coordinating thread only sequences: it starts a phase through the control block
 * and awaits the barrier with Atomics.waitAsync (so worker 'error'/'exit' events are still
 * delivered: a worker that dies stops the run with its error instead of hanging it).
 */
export class WorkerPool {
  private readonly ctrl: Int32Array;
  /** per worker: PROF_SLOTS seconds, then busy seconds (executor.ts, STAT_SLOTS) */
  readonly stats: Float64Array;
  private readonly workers: Worker[] = [];
  private readonly ports: MessagePort[] = [];
  private failure: Error | null = null;
  private readonly failed: Promise<never>;
  private rejectFailed!: (e: Error) => void;
  private closed = false;
  readonly threads: number;

  private constructor(setup: PoolSetup, threads: number) {
    this.threads = threads;
    this.ctrl = setup.control;
    this.stats = new Float64Array(new SharedArrayBuffer(8 * STAT_SLOTS * threads));
    this.failed = new Promise<never>((_, rej) => {
      this.rejectFailed = rej;
    });
    this.failed.catch(() => undefined); // observed through race() only
    Atomics.store(this.ctrl, kReady, 0);
    Atomics.store(this.ctrl, kError, 0);
    const { control, ...rest } = setup;
    const url = workerScript(new URL(import.meta.url.endsWith('.ts') ? './worker.ts' : './worker.js', import.meta.url));
    for (let w = 0; w < threads; w++) {
      const { port1, port2 } = new MessageChannel();
      const init: WorkerInit = { ...rest, index: w, threads, control: control.buffer as SharedArrayBuffer, stats: this.stats.buffer as SharedArrayBuffer, errorPort: port2 };
      const worker = new Worker(url.file, { workerData: init, transferList: [port2], execArgv: url.execArgv });
      worker.on('error', (e) => this.fail(new Error(`training worker ${w} crashed: ${e.stack ?? e.message}`)));
      worker.on('exit', (code) => {
        if (!this.closed) this.fail(new Error(`training worker ${w} exited unexpectedly (code ${code})`));
      });
      this.workers.push(worker);
      this.ports.push(port1);
    }
  }

  /** Start `threads` workers on the model's memories and wait until they have attached. */
  static async create(setup: PoolSetup, threads: number): Promise<WorkerPool> {
    const pool = new WorkerPool(setup, threads);
    try {
      await pool.waitFor(kReady, threads, 'up');
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
  async run(phase: Phase): Promise<void> {
    if (this.closed) throw new Error('WorkerPool: used after close()');
    if (this.failure) throw this.failure;
    Atomics.store(this.ctrl, kCommand, phase);
    Atomics.store(this.ctrl, kPending, this.threads);
    Atomics.add(this.ctrl, kGeneration, 1);
    Atomics.notify(this.ctrl, kGeneration);
    await this.waitFor(kPending, 0, 'down');
    this.checkError();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    if (!this.failure) {
      try {
        await this.run(Phase.Exit);
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
 * How to start a worker on the module at `url`: the compiled JS file itself or, when it is
 * TypeScript source run under tsx (development, benchmarks), a small ES module that registers
 * tsx and imports it.
 */
export function workerScript(url: URL): { file: string | URL; execArgv: string[] } {
  if (!url.pathname.endsWith('.ts')) return { file: fileURLToPath(url), execArgv: [] };
  const tsxApi = import.meta.resolve('tsx/esm/api');
  const src = `import { register } from ${JSON.stringify(tsxApi)}; register(); await import(${JSON.stringify(url.href)});`;
  return { file: new URL('data:text/javascript,' + encodeURIComponent(src)), execArgv: [] };
}
