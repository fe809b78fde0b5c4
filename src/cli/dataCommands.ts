import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { generateSynthetic, SYNTH_SHAPES, datasetStats } from '../data/synth.js';
import { writeXcFile } from '../data/xcWriter.js';
import { STAGING_NAME, writeFilesAtomic } from '../util/atomicWrite.js';
import { buildWordnetDataset, writeWordnetDataset, type WordnetDataset } from '../data/wordnet.js';
import { ConfigError, fileErrorOf } from '../util/errors.js';
import { checkInputDir, checkInputFile, checkOutputDir } from './paths.js';
import { importTextFiles, inputBytes } from '../data/text/importText.js';
import { buildFoldocDataset, FOLDOC_DICT_DIR } from '../data/foldoc.js';
import { buildGcideDataset, GCIDE_DICT_DIR } from '../data/gcide.js';
import { ImportProgress } from '../data/text/progress.js';
import type { TextFormat } from '../data/text/sources.js';
import type { ImportResult } from '../data/text/importer.js';
import type { Weighting } from '../data/text/tfidf.js';

/** Files a data set built from texts (`data wordnet`, `data text`, `data foldoc`, the demo's) has in its directory. */
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

export async function runDataWordnet(opts: { out: string; weighting?: Weighting }): Promise<void> {
  checkOutputDir(opts.out, '--out', [...WORDNET_FILES, STAGING_NAME]);
  const t0 = performance.now();
  const ds = await buildWordnetDataset({ weighting: opts.weighting });
  await writeWordnetSet(opts.out, ds);
  const st = datasetStats(ds.train);
  const stt = datasetStats(ds.test);
  process.stdout.write(
    `WordNet 3.1 hypernyms in ${opts.out}: ${ds.train.n} train / ${ds.test.n} test points, ${ds.train.nFeatures} features, ${ds.train.nLabels} labels; ` +
      `train: ${st.avgLabels.toFixed(2)} labels and ${st.avgNnz.toFixed(2)} non-zeros a point, top label in ${(100 * st.topLabelFreq).toFixed(1)}% of points; ` +
      `test: ${stt.avgLabels.toFixed(2)} labels and ${stt.avgNnz.toFixed(2)} non-zeros a point (${((performance.now() - t0) / 1000).toFixed(1)} s)\n`,
  );
}

export interface DataTextFlags {
  input: string;
  test?: string;
  testFraction?: string;
  text: string;
  labels: string;
  id?: string;
  format?: TextFormat;
  labelSep: string;
  minDf: string;
  maxFeatures: string;
  minLabelCount: string;
  weighting?: Weighting;
  skipBad?: boolean;
  out: string;
  quiet?: boolean;
}

function intFlag(name: string, v: string, min: number): number {
  const n = Number(v);
  if (v.trim() === '' || !Number.isInteger(n) || n < min) throw new ConfigError(`--${name}: expected an integer >= ${min}, found ${JSON.stringify(v)}`);
  return n;
}

export async function runDataText(flags: DataTextFlags): Promise<void> {
  let testFraction: number | undefined;
  if (flags.testFraction !== undefined) {
    testFraction = Number(flags.testFraction);
    if (flags.testFraction.trim() === '' || !(testFraction > 0 && testFraction < 1)) {
      throw new ConfigError(`--test-fraction: expected a number between 0 and 1 (exclusive), found ${JSON.stringify(flags.testFraction)}`);
    }
  }
  const files = flags.test === undefined ? [flags.input] : [flags.input, flags.test];
  if (flags.input !== '-') checkInputFile(flags.input, '--input', { stream: true });
  if (flags.test !== undefined) checkInputFile(flags.test, '--test', { stream: true });
  checkOutputDir(flags.out, '--out', WORDNET_FILES);
  const progress = flags.quiet ? null : new ImportProgress(inputBytes(files));
  const t0 = performance.now();
  let r;
  try {
    r = await importTextFiles({
      input: flags.input,
      test: flags.test,
      format: flags.format,
      fields: {
        text: flags.text.split(',').map((f) => f.trim()).filter((f) => f.length > 0),
        labels: flags.labels,
        id: flags.id,
        labelSep: flags.labelSep,
      },
      out: flags.out,
      skipBad: flags.skipBad === true,
      options: {
        testFraction,
        minDf: intFlag('min-df', flags.minDf, 1),
        maxFeatures: intFlag('max-features', flags.maxFeatures, 0),
        minLabelCount: intFlag('min-label-count', flags.minLabelCount, 1),
        weighting: flags.weighting,
      },
      onProgress: progress?.update,
      onReadDone: progress?.readDone,
    });
  } finally {
    progress?.stop();
  }
  const sec = (performance.now() - t0) / 1000;
  const s = r.stats;
  const nBad = Object.values(r.bad).reduce((a, b) => a + b, 0);
  const d = s.dropped;
  const nDropped = d.noLabels + d.trainNoFeatures + d.trainNoEligibleLabels + d.testNoFeatures + d.testNoKnownLabels;
  process.stdout.write(
    `${flags.out}: ${s.nTrain} train / ${s.nTest} test points, ${s.nFeatures} features, ${s.nLabels} labels; ` +
      `train: ${s.avgLabelsTrain.toFixed(2)} labels and ${s.avgNnzTrain.toFixed(2)} non-zeros a point; ` +
      `${r.rows} rows read (${nBad} bad${flags.skipBad ? ', skipped' : ''}, ${nDropped} dropped: see meta.json), ` +
      `${(r.bytes / 1e6).toFixed(1)} MB in ${sec.toFixed(1)} s (${(r.bytes / 1e6 / sec).toFixed(1)} MB/s, ${Math.round(r.rows / sec)} rows/s)\n`,
  );
}

/** A data set built from a dictd dictionary (`data foldoc`, `data gcide`): `build` writes it, `what` names its task in the summary line. */
function runDictData(
  opts: DictDataFlags,
  defaultDir: string,
  what: string,
  build: (out: string, dir: string, weighting?: Weighting) => ImportResult & { source: { title: string } },
): void {
  const dir = opts.dictDir ?? defaultDir;
  checkInputDir(dir, '--dict-dir');
  checkOutputDir(opts.out, '--out', WORDNET_FILES);
  const t0 = performance.now();
  const r = build(opts.out, dir, opts.weighting);
  const s = r.stats;
  process.stdout.write(
    `${r.source.title} ${what} in ${opts.out}: ${s.nTrain} train / ${s.nTest} test points, ${s.nFeatures} features, ${s.nLabels} labels; ` +
      `train: ${s.avgLabelsTrain.toFixed(2)} labels and ${s.avgNnzTrain.toFixed(2)} non-zeros a point, top label ${JSON.stringify(s.topLabels[0]?.name)} on ${s.topLabels[0]?.count} points; ` +
      `test: ${s.avgLabelsTest.toFixed(2)} labels and ${s.avgNnzTest.toFixed(2)} non-zeros a point (${((performance.now() - t0) / 1000).toFixed(1)} s)\n`,
  );
}

export interface DictDataFlags {
  out: string;
  dictDir?: string;
  weighting?: Weighting;
}

export async function runDataFoldoc(opts: DictDataFlags): Promise<void> {
  runDictData(opts, FOLDOC_DICT_DIR, 'cross-references', buildFoldocDataset);
}

export async function runDataGcide(opts: DictDataFlags): Promise<void> {
  runDictData(opts, GCIDE_DICT_DIR, 'subject fields', buildGcideDataset);
}
