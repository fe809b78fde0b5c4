/**
 * How much memory a model needs, from its declaration alone (nothing is allocated), and the
 * refusal of a model that does not fit: the machine's memory (or a limit the user sets) and the
 * 4 GiB of one WebAssembly memory.
 *
 * The declared bytes are exact (memory/layout.ts places them); what lives outside the memories
 * is estimated: each thread's copy of the hash functions and its query marks, and the process
 * itself.
 */
import { totalmem } from 'node:os';
import type { Config } from '../config.js';
import { ConfigError } from '../util/errors.js';
import { MAX_MEMORY_BYTES } from '../memory/arena.js';
import { DTYPE_BYTES, place } from '../memory/layout.js';
import { planModel, type ModelPlan } from './network.js';
import { planRun, type RunSpec } from './run.js';

/** A model (or a checkpoint about to be loaded) that the memory cannot hold. */
export class MemoryLimitError extends ConfigError {
  constructor(message: string) {
    super(message);
    this.name = 'MemoryLimitError';
  }
}

/** Bytes a node process takes before any model (code, heap, buffers): measured ~60-90 MB here. */
const PROCESS_BYTES = 128 * 2 ** 20;

export interface MemoryEstimate {
  /** all of it */
  bytes: number;
  /** each WebAssembly memory: the model's blocks and the run's */
  memories: number[];
  /** the output layer's parameters, optimizer state and tables, over its shards */
  outputBytes: number;
  /** the input layer's block */
  inputBytes: number;
  /** per thread, outside the memories */
  perThreadBytes: number;
}

/** Sizes for messages: 1.5 GiB, 320 MiB. */
export function formatBytes(b: number): string {
  if (b >= 2 ** 30) return `${(b / 2 ** 30).toFixed(1)} GiB`;
  if (b >= 2 ** 20) return `${(b / 2 ** 20).toFixed(0)} MiB`;
  return `${(b / 1024).toFixed(0)} KiB`;
}

/** Parse a size like 8G, 512M, 2.5GiB or a number of bytes (--max-memory); throws naming `flag`. */
export function parseBytes(v: string, flag: string, min = 2 ** 20): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*$/i.exec(v);
  if (!m) throw new ConfigError(`${flag}: expected a size such as 8G, 512M or 2.5GiB, found ${JSON.stringify(v)}`);
  const mult = { '': 1, k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40 }[m[2]!.toLowerCase() as '' | 'k' | 'm' | 'g' | 't'];
  const bytes = Math.round(Number(m[1]) * mult);
  if (!(bytes >= min)) throw new ConfigError(`${flag}: ${JSON.stringify(v)} is below ${formatBytes(min)}`);
  return bytes;
}

/** What a model of this plan takes with a run of `spec`. */
export function estimatePlan(plan: ModelPlan, spec: RunSpec, held = plan.memories.length): MemoryEstimate {
  const run = planRun(plan, spec, held);
  const memories = plan.memories.slice(0, held).map((blocks, m) => {
    const model = place(blocks, 64);
    return place(run[m]!, model.end).end;
  });
  const sum = (blocks: ModelPlan['memories'][number], names: (n: string) => boolean): number =>
    blocks.reduce((a, b) => a + (names(b.name) ? b.views.reduce((x, v) => x + 64 + v.shape.reduce((p, d) => p * d, 1) * DTYPE_BYTES[v.dtype], 0) : 0), 0);
  const out = plan.layers[plan.layers.length - 1]!;
  const outNames = new Set(out.shards.map((s) => s.param.name));
  let outputBytes = 0;
  for (const blocks of plan.memories.slice(0, held)) outputBytes += sum(blocks, (n) => [...outNames].some((o) => n === o || n.startsWith(`${o}.`)));
  const inputBytes = sum(plan.memories[0]!, (n) => n === 'input');
  // outside the memories, each thread: the query marks of every sampled layer (item stamps and
  // votes, candidate buffers: ~20 bytes an item) and its copy of the hash functions (SimHash's
  // projection matrix is the large one: dim x hashes floats)
  let perThreadBytes = 0;
  for (const l of plan.layers) {
    for (const sh of l.shards) {
      if (!sh.sampler || sh.memory >= held) continue;
      const h = sh.sampler.cfg.hash;
      const hashes = h.pool > 0 ? h.pool : h.K * h.L;
      perThreadBytes += 20 * sh.n + 4 * hashes * (h.family === 'simhash' && h.projection !== 'hadamard' ? sh.sampler.nIn : 16);
    }
  }
  const bytes = memories.reduce((a, b) => a + b, 0) + spec.threads * perThreadBytes + PROCESS_BYTES;
  return { bytes, memories, outputBytes, inputBytes, perThreadBytes };
}

/**
 * Refuse, before anything is allocated, a model that needs more than `limit` bytes (default:
 * 90% of this machine's memory) or more than one WebAssembly memory holds in one of its
 * memories, with the estimate and what to change. Returns the estimate.
 */
export function checkModelMemory(cfg: Config, nFeatures: number, nLabels: number, spec: RunSpec, limit?: number, what = 'the model', remoteOutput = false): MemoryEstimate {
  const plan = planModel(cfg, nFeatures, nLabels, { remoteOutput });
  // a remote output layer's slices are checked by their shard processes (src/cluster/slice.ts)
  const est = estimatePlan(plan, spec, remoteOutput ? 1 : plan.memories.length);
  const h = cfg.hidden;
  const out = plan.layers[plan.layers.length - 1]!;
  const arrays = cfg.optimizer.type === 'adam' ? 'weights, gradients and Adam moments: 16 bytes a weight' : 'weights and gradients: 8 bytes a weight';
  if (est.memories[0]! > MAX_MEMORY_BYTES) {
    throw new MemoryLimitError(
      `${what} needs ${formatBytes(est.memories[0]!)} for its input and hidden layers (the input layer: ${nFeatures.toLocaleString('en-US')} features x hidden ${h[0]} = ${formatBytes(est.inputBytes)}, ${arrays}), ` +
        `and they live in one WebAssembly memory, which holds at most 4 GiB: lower the first hidden width (--hidden) or the number of features`,
    );
  }
  for (let m = 1; m < est.memories.length; m++) {
    if (est.memories[m]! > MAX_MEMORY_BYTES) {
      throw new MemoryLimitError(
        `${what} needs ${formatBytes(est.memories[m]!)} in output memory ${m} of ${out.shards.length}, above the 4 GiB one WebAssembly memory holds: ` +
          `raise outputShards (--set outputShards=${Math.ceil((out.shards.length * est.memories[m]!) / (3 * 2 ** 30))}) or leave it 0 (automatic)`,
      );
    }
  }
  const max = limit ?? Math.floor(0.9 * totalmem());
  if (est.bytes > max) {
    const source = limit === undefined ? `90% of this machine's ${formatBytes(totalmem())}; --max-memory sets another limit` : 'the --max-memory limit';
    throw new MemoryLimitError(
      `${what} needs about ${formatBytes(est.bytes)} (the output layer: ${nLabels.toLocaleString('en-US')} labels x hidden ${h[h.length - 1]}, ${arrays}, with its tables: ${formatBytes(est.outputBytes)}; ` +
        `the input layer: ${formatBytes(est.inputBytes)}), more than ${formatBytes(max)} (${source}). ` +
        `Lower the hidden width (--hidden), use SGD (--set optimizer.type=sgd: half the bytes a weight), use fewer tables (--L), ` +
        `or spread the output layer over several machines (--nats URL --remote-shards N)`,
    );
  }
  return est;
}
