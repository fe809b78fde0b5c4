import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { generateSynthetic, SYNTH_SHAPES, datasetStats } from '../data/synth.js';
import { writeXcFile } from '../data/xcWriter.js';
import { STAGING_NAME, writeFilesAtomic } from '../util/atomicWrite.js';
import { buildWordnetDataset, writeWordnetDataset, type WordnetDataset } from '../data/wordnet.js';
import { ConfigError, fileErrorOf } from '../util/errors.js';
import { checkOutputDir } from './paths.js';

/** Files `data wordnet` (and the demo, when its set is missing) writes into the directory (see writeWordnetDataset). */
export const WORDNET_FILES = ['train.txt', 'test.txt', 'features.txt', 'labels.txt', 'idf.txt', 'meta.json'] as const;

/** mkdir -p, with an OS error (a file in the way, no permission) as one line naming the directory. */
function makeDir(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true });
  } catch (e) {
    throw fileErrorOf(e, dir, 'create');
  }
}

/** The WordNet set into `dir`, all six files or none (see writeFilesAtomic). */
export async function writeWordnetSet(dir: string, ds: WordnetDataset): Promise<void> {
  makeDir(dir);
  await writeFilesAtomic(dir, WORDNET_FILES, (stage) => writeWordnetDataset(stage, ds));
}

export async function runDataSynth(opts: { shape: string; seed: string; out: string }): Promise<void> {
  const shape = SYNTH_SHAPES[opts.shape];
  if (!shape) throw new ConfigError(`--shape: unknown shape ${JSON.stringify(opts.shape)}; known: ${Object.keys(SYNTH_SHAPES).join(', ')}`);
  const seed = Number(opts.seed);
  if (!Number.isInteger(seed) || seed < 0) throw new ConfigError(`--seed: expected a non-negative integer, found ${JSON.stringify(opts.seed)}`);
  checkOutputDir(opts.out, '--out', ['train.txt', 'test.txt', STAGING_NAME]);
  const t0 = performance.now();
  const { train, test } = generateSynthetic({ ...shape, seed });
  makeDir(opts.out);
  await writeFilesAtomic(opts.out, ['train.txt', 'test.txt'], async (stage) => {
    await writeXcFile(join(stage, 'train.txt'), train);
    await writeXcFile(join(stage, 'test.txt'), test);
  });
  const st = datasetStats(train);
  process.stdout.write(
    `synthetic "${opts.shape}" (seed ${seed}) in ${opts.out}: ${train.n} train / ${test.n} test points, ${train.nFeatures} features, ${train.nLabels} labels, ` +
      `${st.avgNnz.toFixed(1)} non-zeros and ${st.avgLabels.toFixed(2)} labels a point, top label in ${(100 * st.topLabelFreq).toFixed(1)}% of points ` +
      `(${((performance.now() - t0) / 1000).toFixed(1)} s)\n`,
  );
}

export async function runDataWordnet(opts: { out: string }): Promise<void> {
  checkOutputDir(opts.out, '--out', [...WORDNET_FILES, STAGING_NAME]);
  const t0 = performance.now();
  const ds = await buildWordnetDataset();
  await writeWordnetSet(opts.out, ds);
  const st = datasetStats(ds.train);
  const stt = datasetStats(ds.test);
  process.stdout.write(
    `WordNet 3.1 hypernyms in ${opts.out}: ${ds.train.n} train / ${ds.test.n} test points, ${ds.train.nFeatures} features, ${ds.train.nLabels} labels; ` +
      `train: ${st.avgLabels.toFixed(2)} labels and ${st.avgNnz.toFixed(2)} non-zeros a point, top label in ${(100 * st.topLabelFreq).toFixed(1)}% of points; ` +
      `test: ${stt.avgLabels.toFixed(2)} labels and ${stt.avgNnz.toFixed(2)} non-zeros a point (${((performance.now() - t0) / 1000).toFixed(1)} s)\n`,
  );
}
