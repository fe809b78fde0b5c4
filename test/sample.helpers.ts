import type { SlideModel } from '../src/training/model.js';
import { trainSample } from '../src/network/sample.js';

/**
 * One sample through the immediate path (slot -1: its gradients added to G at once) on the
 * model's calling-thread scratch, its gradient scaled by 1 / batchRows; returns its loss (0 for a
 * sample without labels). The oracle
 * of the batch path, and what gradient checks probe.
 */
export function immediateSample(
  m: SlideModel, idx: Int32Array, val: Float32Array, fStart: number, fEnd: number, labels: Int32Array, lStart: number, lEnd: number, batchRows: number,
): number {
  const s = m.scratch;
  s.out[0] = 0;
  trainSample(m.network, s, idx, val, fStart, fEnd, labels, lStart, lEnd, batchRows, -1);
  return s.out[0]!;
}

/** The optimizer step on every block, on this thread (what the Update phase does over its threads). */
export function updateAll(m: SlideModel, step: number): void {
  for (const b of m.network.blocks()) b.update(m.config.optimizer, step, m.lrHorizon);
}
