/**
 * Training settings derived from the data's shape and the machine (issue 13). This file is the
 * seam the accuracy benchmark and `train` call; the rule itself is being written.
 */
import { availableParallelism, totalmem } from 'node:os';
import { parseConfig, type Config, type ConfigInput } from '../config.js';
import type { XcDataset } from '../data/csr.js';

/** What the rule reads of a data set. */
export interface DataShape {
  points: number;
  features: number;
  labels: number;
  /** mean labels and non-zero features a training point */
  labelsPerPoint: number;
  nnzPerPoint: number;
}

export interface MachineShape {
  cores: number;
  memoryBytes: number;
}

/** One setting of the derived configuration: its dotted path, value and why. */
export interface DerivedSetting {
  path: string;
  value: unknown;
  reason: string;
  /** the user gave it (it wins over the rule) */
  given: boolean;
}

export function dataShapeOf(d: XcDataset): DataShape {
  const nnz = d.featPtr[d.n]!;
  const nl = d.labelPtr[d.n]!;
  return { points: d.n, features: d.nFeatures, labels: d.nLabels, labelsPerPoint: nl / Math.max(1, d.n), nnzPerPoint: nnz / Math.max(1, d.n) };
}

export function currentMachine(): MachineShape {
  return { cores: availableParallelism(), memoryBytes: totalmem() };
}

/** The configuration for data of this shape: `given` settings win, the rest come from the rule. */
export function deriveConfig(_shape: DataShape, given: ConfigInput = {}, _machine: MachineShape = currentMachine()): { config: Config; settings: DerivedSetting[] } {
  return { config: parseConfig(given), settings: [] };
}
