import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { generateSynthetic, SYNTH_SHAPES, datasetStats } from '../data/synth.js';
import { writeXcFile } from '../data/xcWriter.js';
import { buildWordnetDataset, writeWordnetDataset } from '../data/wordnet.js';
import { ConfigError } from '../util/errors.js';

export async function runDataSynth(opts: { shape: string; seed: string; out: string }): Promise<void> {
  const shape = SYNTH_SHAPES[opts.shape];
  if (!shape) throw new ConfigError(`--shape: unknown shape ${JSON.stringify(opts.shape)}; known: ${Object.keys(SYNTH_SHAPES).join(', ')}`);
  const seed = Number(opts.seed);
  if (!Number.isInteger(seed) || seed < 0) throw new ConfigError(`--seed: expected a non-negative integer, found ${JSON.stringify(opts.seed)}`);
  const t0 = performance.now();
  const { train, test } = generateSynthetic({ ...shape, seed });
  mkdirSync(opts.out, { recursive: true });
  await writeXcFile(join(opts.out, 'train.txt'), train);
  await writeXcFile(join(opts.out, 'test.txt'), test);
  const st = datasetStats(train);
  process.stdout.write(
    `synthetic "${opts.shape}" (seed ${seed}) in ${opts.out}: ${train.n} train / ${test.n} test points, ${train.nFeatures} features, ${train.nLabels} labels, ` +
      `${st.avgNnz.toFixed(1)} non-zeros and ${st.avgLabels.toFixed(2)} labels a point, top label in ${(100 * st.topLabelFreq).toFixed(1)}% of points ` +
      `(${((performance.now() - t0) / 1000).toFixed(1)} s)\n`,
  );
}

export async function runDataWordnet(opts: { out: string }): Promise<void> {
  const t0 = performance.now();
  const ds = await buildWordnetDataset();
  mkdirSync(opts.out, { recursive: true });
  await writeWordnetDataset(opts.out, ds);
  const st = datasetStats(ds.train);
  const stt = datasetStats(ds.test);
  process.stdout.write(
    `WordNet 3.1 hypernyms in ${opts.out}: ${ds.train.n} train / ${ds.test.n} test points, ${ds.train.nFeatures} features, ${ds.train.nLabels} labels; ` +
      `train: ${st.avgLabels.toFixed(2)} labels and ${st.avgNnz.toFixed(2)} non-zeros a point, top label in ${(100 * st.topLabelFreq).toFixed(1)}% of points; ` +
      `test: ${stt.avgLabels.toFixed(2)} labels and ${stt.avgNnz.toFixed(2)} non-zeros a point (${((performance.now() - t0) / 1000).toFixed(1)} s)\n`,
  );
}
