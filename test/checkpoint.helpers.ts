import { main } from '../src/cli/main.js';
/**
 * Shared by the checkpoint, predict and serve tests: small models and exact comparisons.
 * (Not a test file itself: node --test runs only *.test.js.)
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { SlideModel } from '../src/training/model.js';
import { generateSynthetic } from '../src/data/synth.js';
import type { ConfigInput } from '../src/config.js';
import type { XcDataset } from '../src/data/csr.js';

export function tinyData(seed = 7, nTrain = 1500): { train: XcDataset; test: XcDataset } {
  return generateSynthetic({ nTrain, nTest: 300, nFeatures: 500, nLabels: 120, featuresPerPoint: 15, labelsPerPoint: 2, seed });
}

/** Two hidden layers, the second LSH-sampled, reservoir tables, padding, redraws: every kind of state. */
export const TINY_CONFIG: ConfigInput = {
  seed: 3,
  threads: 1, // the CLI defaults to every core; the tests that compare runs pick theirs
  hidden: [32, 48],
  hiddenSampling: [{ mode: 'dense' }, { mode: 'lsh', hash: { family: 'simhash', K: 3, L: 6 }, activeSet: { minActive: 16 } }],
  output: { mode: 'lsh', hash: { family: 'dwta', K: 3, L: 8, insertion: 'reservoir', bucketSize: 16 }, activeSet: { minActive: 30 } },
  epochs: 3,
  batchSize: 50,
  optimizer: { lr: 3e-3 },
  rebuild: { schedule: 'exponential', n0: 3, lambda: 0.2, rehashEvery: 7 },
  evalEvery: 2,
  evalSample: 100,
};

export function tinyModel(data: { train: XcDataset }, config: ConfigInput = TINY_CONFIG): SlideModel {
  return new SlideModel({ nFeatures: data.train.nFeatures, nLabels: data.train.nLabels, config, kernels: 'auto' });
}

type Arr = Float32Array | Int32Array | Uint32Array;

/** Every saved array of a model by name: its state dict (parameters, Adam moments, sampler seeds, tables). */
export function modelArrays(m: SlideModel): Map<string, Arr> {
  const out = new Map<string, Arr>();
  for (const v of m.network.views) {
    for (const { decl, data } of v.persistent()) {
      if (!(data instanceof Float32Array || data instanceof Int32Array)) throw new Error(`unexpected persistent ${decl.dtype} view ${decl.name}`);
      out.set(decl.name, data);
    }
  }
  return out;
}

function bytes(a: Arr): Buffer {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
}

/** Bit-for-bit equality of every array and of the state outside them. */
export function assertSameModel(a: SlideModel, b: SlideModel, what: string): void {
  const A = modelArrays(a);
  const B = modelArrays(b);
  assert.deepEqual([...A.keys()], [...B.keys()], `${what}: array names`);
  for (const [k, x] of A) {
    const y = B.get(k)!;
    assert.equal(x.length, y.length, `${what}: ${k} length`);
    if (bytes(x).compare(bytes(y)) !== 0) {
      let i = 0;
      while (x[i] === y[i] || (Number.isNaN(x[i]) && Number.isNaN(y[i]))) i++;
      assert.fail(`${what}: ${k} differs first at [${i}]: ${x[i]} vs ${y[i]}`);
    }
  }
  assert.equal(a.step, b.step, `${what}: step`);
  assert.equal(a.epochsDone, b.epochsDone, `${what}: epochsDone`);
  assert.equal(a.tablesStep, b.tablesStep, `${what}: tablesStep`);
  assert.deepEqual(a.rng.getState(), b.rng.getState(), `${what}: rng`);

  assert.deepEqual({ ...a.schedule, cfg: null }, { ...b.schedule, cfg: null }, `${what}: schedule`);
  assert.deepEqual(
    a.network.sampledUnits().map((u) => u.sampler.familySeed),
    b.network.sampledUnits().map((u) => u.sampler.familySeed),
    `${what}: family seeds`,
  );
}

/**
 * URL of a module of this package that a child process can import, both when the tests run
 * from TypeScript (tsx) and from the compiled dist/: `rel` is relative to this file, with .js.
 */
export function moduleUrl(rel: string): string {
  const js = new URL(rel, import.meta.url);
  if (existsSync(fileURLToPath(js))) return js.href;
  const ts = new URL(rel.replace(/\.js$/, '.ts'), import.meta.url);
  if (existsSync(fileURLToPath(ts))) return ts.href;
  throw new Error(`moduleUrl: neither ${js.href} nor its .ts twin exists`);
}

/** Node flags for a child process: this process's loader flags (tsx) without the test runner's. */
export function childExecArgv(): string[] {
  return process.execArgv.filter((a) => !a.startsWith('--test'));
}

class Stop extends Error {}

/**
 * Train until the `calls`-th afterBatch call (after that many batches, counting the extra call
 * at each epoch's end) and stop there, as a killed process would: the model is left exactly as
 * a checkpoint written by that call would hold it. `onStop` runs at that point (e.g. saves).
 */
export async function trainUntil(m: SlideModel, train: XcDataset, calls: number, onStop: (m: SlideModel) => void | Promise<void> = () => {}, test?: XcDataset): Promise<void> {
  let n = 0;
  try {
    await m.fit(train, {
      test,
      afterBatch: async (mm) => {
        if (++n === calls) {
          await onStop(mm);
          throw new Stop();
        }
      },
    });
  } catch (e) {
    if (!(e instanceof Stop)) throw e;
    return;
  }
  throw new Error(`trainUntil: training ended before afterBatch call ${calls} (${n} calls)`);
}

/**
 * A tiny text task in the WordNet demo's shape: descriptions of things -> the thing's class and
 * its ancestors. About 60 words, 12 labels; trains in well under a second.
 */
const CLASSES: { name: string; parents: string[]; words: string[] }[] = [
  { name: 'big_cat', parents: ['mammal', 'animal'], words: ['lion', 'tiger', 'mane', 'roar', 'savanna', 'predator', 'feline', 'cat', 'large'] },
  { name: 'dog', parents: ['mammal', 'animal'], words: ['dog', 'bark', 'loyal', 'pet', 'canine', 'leash', 'puppy'] },
  { name: 'bird', parents: ['animal'], words: ['feathers', 'wings', 'fly', 'beak', 'nest', 'song', 'eggs'] },
  { name: 'fish', parents: ['animal'], words: ['water', 'swim', 'fins', 'scales', 'gills', 'sea', 'river'] },
  { name: 'tree', parents: ['plant'], words: ['leaves', 'trunk', 'branches', 'wood', 'forest', 'roots', 'tall'] },
  { name: 'fruit', parents: ['plant'], words: ['sweet', 'juice', 'ripe', 'apple', 'seed', 'eat', 'orange'] },
  { name: 'vehicle', parents: ['artifact'], words: ['wheels', 'engine', 'road', 'drive', 'car', 'fuel', 'truck'] },
  { name: 'tool', parents: ['artifact'], words: ['hammer', 'handle', 'metal', 'nail', 'build', 'tool', 'wrench'] },
];
const NOISE = ['small', 'brown', 'kind', 'often', 'common', 'young', 'old', 'green'];

export interface TextTask {
  train: XcDataset;
  featureNames: string[];
  labelNames: string[];
  idf: Float32Array;
}

export async function textTask(seed = 1, nDocs = 600): Promise<TextTask> {
  const { Rng } = await import('../src/util/rng.js');
  const { featurizeText, idfOf } = await import('../src/data/text/tfidf.js');
  const rng = new Rng(seed);
  const labelNames = [...CLASSES.map((c) => c.name), 'mammal', 'animal', 'plant', 'artifact'];
  const featureNames = [...new Set([...CLASSES.flatMap((c) => c.words), ...NOISE])].sort();
  const vocab = new Map(featureNames.map((w, i) => [w, i]));
  const docs: { text: string; labels: number[] }[] = [];
  for (let d = 0; d < nDocs; d++) {
    const c = CLASSES[rng.nextInt(CLASSES.length)]!;
    const words: string[] = [];
    const n = 2 + rng.nextInt(4);
    for (let i = 0; i < n; i++) words.push(c.words[rng.nextInt(c.words.length)]!);
    if (rng.nextFloat() < 0.7) words.push(NOISE[rng.nextInt(NOISE.length)]!);
    docs.push({ text: 'a ' + words.join(' '), labels: [labelNames.indexOf(c.name), ...c.parents.map((p) => labelNames.indexOf(p))] });
  }
  const df = new Float64Array(featureNames.length);
  for (const d of docs) for (const w of new Set(d.text.split(' '))) if (vocab.has(w)) df[vocab.get(w)!]++;
  const idf = Float32Array.from(df, (x) => idfOf(nDocs, x));
  const featPtr = [0];
  const featIdx: number[] = [];
  const featVal: number[] = [];
  const labelPtr = [0];
  const labelIdx: number[] = [];
  for (const d of docs) {
    const f = featurizeText(d.text, vocab, idf);
    featIdx.push(...f.idx);
    featVal.push(...f.val);
    featPtr.push(featIdx.length);
    labelIdx.push(...d.labels);
    labelPtr.push(labelIdx.length);
  }
  const train: XcDataset = {
    n: docs.length, nFeatures: featureNames.length, nLabels: labelNames.length,
    featPtr: Int32Array.from(featPtr), featIdx: Int32Array.from(featIdx), featVal: Float32Array.from(featVal),
    labelPtr: Int32Array.from(labelPtr), labelIdx: Int32Array.from(labelIdx),
  };
  return { train, featureNames, labelNames, idf };
}

export const TEXT_CONFIG: ConfigInput = {
  seed: 4,
  hidden: [24],
  epochs: 12,
  batchSize: 20,
  optimizer: { lr: 0.01 },
  output: { mode: 'lsh', hash: { family: 'dwta', K: 2, L: 10, binSize: 4 }, activeSet: { minActive: 3 } },
  rebuild: { schedule: 'fixed', period: 10 },
};

/** Train the text task and save it with its vocabulary to `path`. */
export async function saveTextModel(path: string): Promise<TextTask & { model: SlideModel }> {
  const { saveModel } = await import('../src/checkpoint/checkpoint.js');
  const task = await textTask();
  const model = new SlideModel({ nFeatures: task.train.nFeatures, nLabels: task.train.nLabels, config: TEXT_CONFIG, kernels: 'auto' });
  await model.fit(task.train);
  await saveModel(model, path, { featureNames: task.featureNames, labelNames: task.labelNames, idf: task.idf });
  return { ...task, model };
}

/** Run the `sublinear` CLI in-process, capturing stderr (stdout is left alone: the test runner reports through it). */
export async function runCli(...args: string[]): Promise<{ code: number; stderr: string }> {
  const write = process.stderr.write.bind(process.stderr);
  let stderr = '';
  process.stderr.write = ((s: string | Uint8Array) => {
    stderr += String(s);
    return true;
  }) as typeof process.stderr.write;
  try {
    return { code: await main(['node', 'sublinear', ...args]), stderr };
  } finally {
    process.stderr.write = write;
  }
}
