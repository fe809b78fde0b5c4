/**
 * An independent implementation of the text importer's documented rules (importer.ts), written
 * plainly with Maps and sorts over rows held in memory: the oracle the import tests compare the
 * streamed, spooled import with.
 */
import { readFileSync, existsSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tokenize } from '../src/data/text/tokenize.js';
import { isTestKey } from '../src/data/text/split.js';
import { readXcFile } from '../src/data/xcReader.js';
import type { XcDataset } from '../src/data/csr.js';

export interface OracleRow {
  text: string;
  labels: string[];
  key: string;
  /** from a separate test file */
  testFile?: boolean;
}

export interface OraclePoint {
  labels: number[];
  idx: number[];
  val: number[];
}

export interface OracleResult {
  features: string[];
  labels: string[];
  idf: number[];
  train: OraclePoint[];
  test: OraclePoint[];
}

export function oracleImport(
  rows: OracleRow[],
  o: { testFraction: number; minDf?: number; maxFeatures?: number; minLabelCount?: number; weighting?: 'logtf' | 'tfidf' },
): OracleResult {
  const minDf = o.minDf ?? 1;
  const maxFeatures = o.maxFeatures ?? 0;
  const minLabelCount = o.minLabelCount ?? 1;
  const docs = rows
    .map((r) => ({ tokens: tokenize(r.text), labels: [...new Set(r.labels)], test: r.testFile === true || isTestKey(r.key, r.testFile === undefined ? o.testFraction : 0) }))
    .filter((d) => d.tokens.length > 0 && d.labels.length > 0);
  const trainDocs = docs.filter((d) => !d.test);
  const df = new Map<string, number>();
  const lc = new Map<string, number>();
  for (const d of trainDocs) {
    for (const t of new Set(d.tokens)) df.set(t, (df.get(t) ?? 0) + 1);
    for (const l of d.labels) lc.set(l, (lc.get(l) ?? 0) + 1);
  }
  let features = [...df.keys()].filter((t) => df.get(t)! >= minDf);
  features.sort((a, b) => df.get(b)! - df.get(a)! || (a < b ? -1 : a > b ? 1 : 0));
  if (maxFeatures > 0) features = features.slice(0, maxFeatures);
  const fid = new Map(features.map((t, i) => [t, i]));
  // logtf (the default) weighs by 1 + ln tf alone: its idf.txt holds 1 for every feature
  const idf = features.map((t) => (o.weighting === 'tfidf' ? Math.fround(Math.log((1 + trainDocs.length) / (1 + df.get(t)!)) + 1) : 1));
  const eligible = (l: string): boolean => (lc.get(l) ?? 0) >= minLabelCount;
  const hasFeature = (d: { tokens: string[] }): boolean => d.tokens.some((t) => fid.has(t));
  const trainPoints = trainDocs.filter((d) => d.labels.some(eligible) && hasFeature(d));
  const pc = new Map<string, number>();
  for (const d of trainPoints) for (const l of d.labels) if (eligible(l)) pc.set(l, (pc.get(l) ?? 0) + 1);
  const labels = [...pc.keys()].sort((a, b) => pc.get(b)! - pc.get(a)! || (a < b ? -1 : a > b ? 1 : 0));
  const lid = new Map(labels.map((l, i) => [l, i]));
  const point = (d: { tokens: string[]; labels: string[] }): OraclePoint => {
    const tf = new Map<number, number>();
    for (const t of d.tokens) if (fid.has(t)) tf.set(fid.get(t)!, (tf.get(fid.get(t)!) ?? 0) + 1);
    const idx = [...tf.keys()].sort((a, b) => a - b);
    const w = idx.map((f) => (1 + Math.log(tf.get(f)!)) * idf[f]!);
    const norm = Math.sqrt(w.reduce((s, x) => s + x * x, 0));
    return { labels: d.labels.filter((l) => lid.has(l)).map((l) => lid.get(l)!).sort((a, b) => a - b), idx, val: w.map((x) => Math.fround(x / norm)) };
  };
  const testPoints = docs.filter((d) => d.test && hasFeature(d) && d.labels.some((l) => lid.has(l)));
  return { features, labels, idf, train: trainPoints.map(point), test: testPoints.map(point) };
}

/** The repository root (tests run from dist/test/). */
export function repoRoot(): string {
  let d = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i++) {
    if (existsSync(join(d, 'package.json')) && existsSync(join(d, 'test/fixtures'))) return d;
    d = dirname(d);
  }
  throw new Error('repository root not found');
}

export function readLines(path: string): string[] {
  const lines = readFileSync(path, 'utf8').split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  return lines;
}

/** Compare an imported directory with the oracle: vocabularies exactly, idf as float32, rows exactly in ids and within 2e-7 in values. */
export async function assertMatchesOracle(dir: string, exp: OracleResult, assert: typeof import('node:assert/strict')): Promise<void> {
  assert.deepEqual(readLines(join(dir, 'features.txt')), exp.features);
  assert.deepEqual(readLines(join(dir, 'labels.txt')), exp.labels);
  assert.deepEqual(
    readLines(join(dir, 'idf.txt')).map((l) => Math.fround(Number(l))),
    exp.idf,
  );
  for (const [name, pts] of [
    ['train.txt', exp.train],
    ['test.txt', exp.test],
  ] as const) {
    const d: XcDataset = await readXcFile(join(dir, name));
    assert.equal(d.n, pts.length, `${name}: points`);
    assert.equal(d.nFeatures, exp.features.length);
    assert.equal(d.nLabels, exp.labels.length);
    for (let r = 0; r < d.n; r++) {
      const p = pts[r]!;
      assert.deepEqual(Array.from(d.labelIdx.subarray(d.labelPtr[r]!, d.labelPtr[r + 1]!)), p.labels, `${name} row ${r} labels`);
      assert.deepEqual(Array.from(d.featIdx.subarray(d.featPtr[r]!, d.featPtr[r + 1]!)), p.idx, `${name} row ${r} features`);
      const vals = d.featVal.subarray(d.featPtr[r]!, d.featPtr[r + 1]!);
      for (let k = 0; k < vals.length; k++) if (Math.abs(vals[k]! - p.val[k]!) > 2e-7) assert.fail(`${name} row ${r}: value ${vals[k]} vs ${p.val[k]}`);
    }
  }
}
