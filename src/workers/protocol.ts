/**
 * The shared control block between the main thread and the training workers: one Int32Array
 * over a SharedArrayBuffer, slots named here. No message round-trips per batch: the main
 * thread writes a command, bumps kGeneration and notifies; each worker runs its part and
 * decrements kPending; the last one notifies the main thread.
 */
export const kGeneration = 0; // bumped by the main thread to start a phase
export const kCommand = 1; // what the phase does (Command)
export const kPending = 2; // workers still busy in this phase
export const kError = 3; // 1 + index of a worker that threw (0 = none)
export const kBatchRows = 4; // rows of the shared batch
export const kStep = 5; // optimizer step of UPDATE
export const kReady = 6; // workers that finished attaching
export const kLrHorizon = 7; // batches of the learning-rate schedule (UPDATE)
export const kNextRow = 8; // next row of the batch to claim (TRAIN: workers take rows one at a time)
export const CONTROL_SLOTS = 9;

/** per-worker statistics of a TRAIN phase, Float64Array slots (worker w at w * STAT_SLOTS) */
export const kStatLoss = 0;
export const kStatHits = 1;
export const kStatActive = 2;
/** cumulative profile of the worker (PROF_SLOTS values from network.ts) */
export const kStatProf = 4;
export const STAT_SLOTS = 10;

export const enum Command {
  Train = 1,
  Update = 2,
  Stage = 3,
  Commit = 4,
  Exit = 5,
}

/** What a worker needs to rebuild the same views of the model (structured-clone safe). */
export interface WorkerInit {
  index: number;
  threads: number;
  memory: WebAssembly.Memory;
  /** the output shards' memories when the output layer is split (else empty) */
  shardMemories: WebAssembly.Memory[];
  control: SharedArrayBuffer;
  stats: SharedArrayBuffer;
  /** the model's configuration (validated) and dimensions */
  config: unknown;
  nFeatures: number;
  nLabels: number;
  kernels: 'wasm' | 'js' | 'auto';
  /** accumulate per-part timings (Network.profile) */
  profile: boolean;
  /** arena offset where the pool's allocations start, and their sizes (replayed in order) */
  poolBase: number;
  /** the same per output shard memory */
  shardPoolBases: number[];
  /** Network.layoutBytes of the main thread's network (a worker's attach must reproduce it) */
  layoutBytes: number[];
  maxRows: number;
  maxNnz: number;
  maxLabels: number;
  /** the port on which the worker reports an exception (read synchronously by the main thread) */
  errorPort: import('node:worker_threads').MessagePort;
}
