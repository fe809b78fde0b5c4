import type { Arena } from '../memory/arena.js';
import type { Network, ThreadScratch } from '../network/network.js';
import type { CsrBatch, XcDataset } from '../data/csr.js';
import { Rng } from '../util/rng.js';

/**
 * The pool's part of the arena, allocated by the main thread and replayed, in the same order,
 * by each worker from the same base offset, so every thread holds views of the same bytes:
 *   batch:     the current batch in CSR (capacity maxRows / maxNnz / maxLabels)
 *   scratches: one ThreadScratch per worker (activations, active sets, sample copy; the parts
 *              of a split output layer in the shards' memories, from their own base offsets)
 */
export interface PoolViews {
  batch: CsrBatch;
  scratches: ThreadScratch[];
}

export function allocatePoolViews(net: Network, arena: Arena, shardArenas: Arena[], threads: number, maxRows: number, maxNnz: number, maxLabels: number, seed: number): PoolViews {
  const batch: CsrBatch = {
    n: 0,
    featPtr: arena.i32(maxRows + 1),
    featIdx: arena.i32(Math.max(1, maxNnz)),
    featVal: arena.f32(Math.max(1, maxNnz)),
    labelPtr: arena.i32(maxRows + 1),
    labelIdx: arena.i32(Math.max(1, maxLabels)),
  };
  const rowNnz = Math.max(1, Math.min(maxNnz, 1 << 20));
  const scratches: ThreadScratch[] = [];
  for (let w = 0; w < threads; w++) scratches.push(net.createScratch(new Rng(seed, 1000 + w), 100, rowNnz, arena, shardArenas));
  return { batch, scratches };
}

/** Largest row non-zeros and labels of a data set (the pool's per-sample capacities). */
export function rowMaxima(d: XcDataset): { maxRowNnz: number; maxRowLabels: number } {
  let a = 0;
  let b = 0;
  for (let r = 0; r < d.n; r++) {
    a = Math.max(a, d.featPtr[r + 1]! - d.featPtr[r]!);
    b = Math.max(b, d.labelPtr[r + 1]! - d.labelPtr[r]!);
  }
  return { maxRowNnz: a, maxRowLabels: b };
}
