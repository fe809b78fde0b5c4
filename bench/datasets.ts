/**
 * The data sets the accuracy benchmark can run on (BENCH_DATASET), each built by the same
 * in-process functions as `sublinear data ...` into `data/<name>/` (train.txt, test.txt, and
 * optionally features.txt, a token a line, which the fastText baseline then uses as its words).
 *
 * Adding a data set is one entry in DATASETS: its title, how to build it into a directory, and
 * the engine recipe tuned for it if there is one. Without a recipe the benchmark measures the
 * engine through `sublinear-defaults` only (settings derived from the data): a set nobody tuned for.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import type { ConfigInput } from '../src/config.js';
import { runDataFoldoc, runDataGcide, runDataSynth, runDataWordnet } from '../src/cli/dataCommands.js';
import { generateSynthetic, SYNTH_SHAPES, type SynthOptions } from '../src/data/synth.js';
import { writeXcFile } from '../src/data/xcWriter.js';
import { WORDNET_RECIPE } from '../src/training/recipes.js';

export interface DatasetEntry {
  /** what results and plots call the set */
  title: string;
  /** write train.txt and test.txt (optionally features.txt) into `dir` */
  build(dir: string): Promise<void>;
  /** the engine configuration tuned for this set (the `sublinear-lsh` system), if any */
  recipe?: ConfigInput;
}

/** synthetic sets of `sublinear data synth --shape NAME` (default seed 1) */
const synth = (shape: string): DatasetEntry => ({ title: `synthetic ${shape}`, build: (out) => runDataSynth({ shape, seed: '1', out }) });

export const DATASETS: Readonly<Record<string, DatasetEntry>> = {
  wordnet: { title: 'wordnet-3.1', build: (out) => runDataWordnet({ out }), recipe: WORDNET_RECIPE },
  foldoc: { title: 'foldoc', build: (out) => runDataFoldoc({ out }) },
  gcide: { title: 'gcide-fields', build: (out) => runDataGcide({ out }) },
  'synth-tiny': synth('tiny'),
  'synth-small': synth('small'),
  'synth-amazon-670k': synth('amazon-670k'),
};

/** BENCH_DATASET's name for a synthetic shape given by parameters (BENCH_SYNTH). */
export const SYNTH_CUSTOM = 'synth-custom';
/** BENCH_DATASET=dir:PATH: a directory of the user's own (train.txt, test.txt, e.g. from `sublinear data text`) */
export const DIR_PREFIX = 'dir:';
export const DEFAULT_DATASET = 'wordnet';

/** Parameters BENCH_SYNTH may set, over the `small` shape and seed 1. */
const SYNTH_KEYS = ['nTrain', 'nTest', 'nFeatures', 'nLabels', 'featuresPerPoint', 'labelsPerPoint', 'signatureSize', 'zipf', 'noise', 'seed'] as const;

/** A data set chosen by name: where it lives and how to build it. */
export interface ResolvedDataset extends DatasetEntry {
  /** BENCH_DATASET's value, or for a custom synthetic shape a name made of its parameters */
  name: string;
  /** directory under data/, or an absolute path (BENCH_DATASET=dir:PATH) */
  dirName: string;
  /** the synthetic generator's options (synthetic sets given by parameters) */
  synth?: SynthOptions;
  /** the user's own directory (BENCH_DATASET=dir:PATH): used as it is, never built or created */
  own?: boolean;
}

/**
 * The shape BENCH_SYNTH gives (JSON, e.g. '{"nLabels":50000,"nTrain":100000}') over the small
 * shape with seed 1; unknown keys and non-numbers are refused here, ranges by the generator.
 */
export function parseSynthShape(raw: string | undefined): { opts: SynthOptions; given: [string, number][] } {
  let over: unknown = {};
  if (raw !== undefined && raw !== '') {
    try {
      over = JSON.parse(raw);
    } catch (e) {
      throw new RangeError(`BENCH_SYNTH is not valid JSON: ${(e as Error).message}`);
    }
  }
  if (over === null || typeof over !== 'object' || Array.isArray(over)) throw new RangeError('BENCH_SYNTH must be a JSON object of synthetic-shape parameters');
  const given: [string, number][] = [];
  const opts: SynthOptions = { ...SYNTH_SHAPES['small']!, seed: 1 };
  for (const [k, v] of Object.entries(over)) {
    if (!(SYNTH_KEYS as readonly string[]).includes(k)) throw new RangeError(`BENCH_SYNTH: unknown parameter "${k}" (known: ${SYNTH_KEYS.join(', ')})`);
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new RangeError(`BENCH_SYNTH.${k} must be a number, got ${JSON.stringify(v)}`);
    (opts as unknown as Record<string, number>)[k] = v;
    given.push([k, v]);
  }
  given.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return { opts, given };
}

/** The data set BENCH_DATASET names (BENCH_SYNTH for `synth-custom`); unknown names are refused. */
export function resolveDataset(name: string, synthRaw?: string): ResolvedDataset {
  if (name === SYNTH_CUSTOM) {
    const { opts, given } = parseSynthShape(synthRaw);
    // the directory and result names carry the parameters, so two shapes never share a directory
    const full = given.length ? `synth-${given.map(([k, v]) => `${k}${v}`).join('-')}` : 'synth-custom';
    return {
      name: full, dirName: full, synth: opts, title: `synthetic ${JSON.stringify(Object.fromEntries(given))} over small`,
      build: async (dir) => {
        const { train, test } = generateSynthetic(opts);
        await writeXcFile(join(dir, 'train.txt'), train);
        await writeXcFile(join(dir, 'test.txt'), test);
      },
    };
  }
  if (synthRaw !== undefined && synthRaw !== '') throw new RangeError(`BENCH_SYNTH is only read with BENCH_DATASET=${SYNTH_CUSTOM}`);
  if (name.startsWith(DIR_PREFIX)) {
    const dir = resolve(name.slice(DIR_PREFIX.length));
    return {
      name: `dir-${basename(dir)}`, dirName: dir, title: dir, own: true,
      build: () => Promise.reject(new Error(`BENCH_DATASET=${name}: ${dir} holds no train.txt and test.txt (write them with \`sublinear data text ... --out ${dir}\`)`)),
    };
  }
  const e = DATASETS[name];
  if (!e) throw new RangeError(`BENCH_DATASET: unknown data set "${name}" (known: ${[...Object.keys(DATASETS), SYNTH_CUSTOM, DIR_PREFIX + 'PATH'].join(', ')})`);
  return { ...e, name, dirName: name };
}

/** Build the set into `dir` unless train.txt and test.txt are there already. Returns whether it built. */
export async function ensureDataset(ds: ResolvedDataset, dir: string, log: (s: string) => void): Promise<boolean> {
  if (existsSync(join(dir, 'train.txt')) && existsSync(join(dir, 'test.txt'))) return false;
  // one's own directory is never written: its build() only says what is missing
  if (ds.own) return ds.build(dir).then(() => false);
  log(`building the data set ${ds.name} into ${dir} ...`);
  mkdirSync(dir, { recursive: true });
  await ds.build(dir);
  return true;
}

/** Base name of the result files: accuracy.json / .svg for WordNet, as before; accuracy-<name> for others. */
export function resultBaseName(name: string): string {
  return name === DEFAULT_DATASET ? 'accuracy' : `accuracy-${name}`;
}
