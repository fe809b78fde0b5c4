import { test } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { saveModel, loadModel } from '../src/checkpoint/checkpoint.js';
import { assertSameModel, tinyData, tinyModel, trainUntil } from './checkpoint.helpers.js';
import type { SlideModel } from '../src/training/model.js';

/**
 * A one-thread run saved (mid-epoch or at an epoch's end), loaded and finished gives bit for bit
 * the weights, moments, tables and generator states of an uninterrupted run. The configuration
 * exercises every piece of state: a sampled hidden layer, reservoir tables, random padding, an
 * exponential rebuild schedule, hash redraws every 7 batches, and an evaluation (whose LSH
 * inference draws padding) every 2nd epoch. 1500 points / batch 50 = 30 batches an epoch.
 */
const data = tinyData();
const dir = mkdtempSync(join(tmpdir(), 'ckpt-resume-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

const full = tinyModel(data);
await full.fit(data.train, { test: data.test });

async function resumeAt(calls: number, name: string): Promise<SlideModel> {
  const file = join(dir, `${name}.safetensors`);
  await trainUntil(tinyModel(data), data.train, calls, (m) => saveModel(m, file), data.test);
  const { model } = await loadModel(file);
  await model.fit(data.train, { epochs: model.config.epochs - model.epochsDone, test: data.test });
  return model;
}

test('resume mid-epoch 1 equals the uninterrupted run bit for bit', async () => {
  assertSameModel(full, await resumeAt(13, 'mid1'), 'resumed after batch 13');
});

test('resume mid-epoch 2 (before an evaluation epoch) equals the uninterrupted run', async () => {
  assertSameModel(full, await resumeAt(45, 'mid2'), 'resumed after batch 45');
});

test('resume at the end of epoch 2 (after its evaluation) equals the uninterrupted run', async () => {
  assertSameModel(full, await resumeAt(60, 'end2'), 'resumed after epoch 2');
});

test('a chain of resumes (save, load, train a little, save ...) equals the uninterrupted run', async () => {
  const file = join(dir, 'chain.safetensors');
  let m = tinyModel(data);
  await trainUntil(m, data.train, 5, (x) => saveModel(x, file), data.test);
  for (const more of [20, 31, 9]) {
    m = (await loadModel(file)).model;
    await trainUntil(m, data.train, more, (x) => saveModel(x, file), data.test);
  }
  m = (await loadModel(file)).model;
  await m.fit(data.train, { epochs: m.config.epochs - m.epochsDone, test: data.test });
  assertSameModel(full, m, 'chain');
});
