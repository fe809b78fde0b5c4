import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadModel, saveModel } from '../src/checkpoint/checkpoint.js';
import { readXcFile } from '../src/data/xcReader.js';
import { writeXcFile } from '../src/data/xcWriter.js';
import { parseConfig } from '../src/config.js';
import { assertSameModel, runCli as run, tinyData, tinyModel, trainUntil, TINY_CONFIG } from './checkpoint.helpers.js';

/** `sublinear train --save --save-every --resume --vocab-dir`, run in-process. */
const dir = mkdtempSync(join(tmpdir(), 'ckpt-cli-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

const trainPath = join(dir, 'train.txt');
const testPath = join(dir, 'test.txt');
const cfgPath = join(dir, 'config.json');
{
  const d = tinyData();
  await writeXcFile(trainPath, d.train);
  await writeXcFile(testPath, d.test);
  // every field given: the CLI derives nothing from the data, so it trains the library's model
  writeFileSync(cfgPath, JSON.stringify(parseConfig(TINY_CONFIG)));
}
// the library's uninterrupted run on the same files
const data = { train: await readXcFile(trainPath), test: await readXcFile(testPath) };
const full = tinyModel(data);
await full.fit(data.train, { test: data.test });

test('train --save-every writes a checkpoint every N batches; the final one equals the library run', async () => {
  const ck = join(dir, 'every.safetensors');
  const r = await run('train', '--train', trainPath, '--test', testPath, '--config', cfgPath, '--save', ck, '--save-every', '7');
  assert.equal(r.code, 0, r.stderr);
  const saved = [...r.stderr.matchAll(/checkpoint at batch (\d+) written/g)].map((m) => Number(m[1]));
  assert.deepEqual(saved, [7, 14, 21, 28, 35, 42, 49, 56, 63, 70, 77, 84]);
  assertSameModel(full, (await loadModel(ck)).model, 'CLI final checkpoint');
});

test('train --resume from a mid-epoch checkpoint finishes bit for bit like the uninterrupted run', async () => {
  const mid = join(dir, 'mid.safetensors');
  await trainUntil(tinyModel(data), data.train, 37, (m) => saveModel(m, mid), data.test);
  const fin = join(dir, 'resumed.safetensors');
  const r = await run('train', '--train', trainPath, '--test', testPath, '--resume', mid, '--save', fin, '--lr', '0.5');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /resuming .*mid\.safetensors: 1 epochs and 37 batches done \(mid-epoch, at row 350 of 1500\)/);
  assert.match(r.stderr, /ignoring --lr/);
  assertSameModel(full, (await loadModel(fin)).model, 'CLI resumed');
});

test('train --resume of a finished run trains nothing; --epochs raises the total', async () => {
  const done = join(dir, 'done.safetensors');
  await saveModel(full, done);
  const r = await run('train', '--train', trainPath, '--test', testPath, '--resume', done);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /already trained 3 of 3 epochs; nothing to train/);
  const more = join(dir, 'more.safetensors');
  const r2 = await run('train', '--train', trainPath, '--test', testPath, '--resume', done, '--epochs', '4', '--save', more);
  assert.equal(r2.code, 0, r2.stderr);
  const lib = (await loadModel(done)).model;
  await lib.fit(data.train, { epochs: 1, test: data.test });
  assertSameModel(lib, (await loadModel(more)).model, 'one more epoch');
  assert.equal(lib.epochsDone, 4);
});

test('train --vocab-dir stores the vocabularies; bad flag combinations are refused', async () => {
  const vd = join(dir, 'vocab');
  const { mkdirSync } = await import('node:fs');
  mkdirSync(vd);
  const feats = Array.from({ length: data.train.nFeatures }, (_, i) => `word${i}`);
  const labels = Array.from({ length: data.train.nLabels }, (_, i) => `thing.n.${i}`);
  writeFileSync(join(vd, 'features.txt'), feats.join('\n') + '\n');
  writeFileSync(join(vd, 'labels.txt'), labels.join('\n') + '\n');
  writeFileSync(join(vd, 'idf.txt'), feats.map((_, i) => String(1 + i / 100)).join('\n') + '\n');
  const ck = join(dir, 'vocab.safetensors');
  const r = await run('train', '--train', trainPath, '--config', cfgPath, '--epochs', '0.2', '--save', ck, '--vocab-dir', vd, '--quiet');
  assert.equal(r.code, 0, r.stderr);
  const l = await loadModel(ck);
  assert.deepEqual(l.featureNames, feats);
  assert.deepEqual(l.labelNames, labels);
  assert.equal(l.idf![100], Math.fround(2));
  const bad = await run('train', '--train', trainPath, '--save-every', '5');
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /--save-every needs --save/);
  assert.match((await run('train', '--train', trainPath, '--save', ck, '--save-every', 'x')).stderr, /--save-every: expected a positive integer/);
  assert.match((await run('train', '--train', trainPath, '--resume', join(dir, 'nope.safetensors'))).stderr, /--resume \S*nope\.safetensors: no such file/);
  writeFileSync(join(vd, 'idf.txt'), 'nan\n');
  assert.match((await run('train', '--train', trainPath, '--vocab-dir', vd)).stderr, /idf\.txt:1: expected a non-negative number/);
});
