import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeSafetensors, encodeSafetensors, type SafeDtype } from '../src/checkpoint/safetensors.js';
import { loadModel } from '../src/checkpoint/checkpoint.js';
import { SlideModel } from '../src/training/model.js';
import { MemoryLimitError, parseBytes } from '../src/network/estimate.js';
import { assertCleanFailure, cli, inProcess, writeModel } from './adversarial.helpers.js';

/**
 * Impossible sizes are refused before anything is allocated, with the estimate and what to
 * change: a data file whose header claims 10^8 labels, 5 million labels with hidden 1024, a
 * hidden width whose input layer exceeds one WebAssembly memory, a --max-memory below the
 * model, and a (checksummed) checkpoint whose metadata claims 2 x 10^8 labels over small tensors.
 * Each is answered in well under a second: nothing was built.
 */
const dir = mkdtempSync(join(tmpdir(), 'adv-mem-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

const file = (name: string, header: string): string => {
  const p = join(dir, name);
  writeFileSync(p, `${header}\n1 3:1\n0 5:0.5\n`);
  return p;
};

test('train: a header of 10^8 labels, 5 million labels at hidden 1024, an input layer beyond 4 GiB, a --max-memory below the model: one line with the estimate, exit 1, at once', async () => {
  const huge = file('huge.txt', '2 1000 100000000');
  const t0 = performance.now();
  let r = await inProcess(['train', '--train', huge, '--threads', '1']);
  assertCleanFailure(r, /the model needs about \d+\.\d GiB \(the output layer: 100,000,000 labels x hidden 128.*more than .* --max-memory sets another limit\)\. Lower the hidden width/);
  r = await inProcess(['train', '--train', file('five.txt', '2 1000 5000000'), '--hidden', '1024', '--threads', '1']);
  assertCleanFailure(r, /needs about \d+\.\d GiB \(the output layer: 5,000,000 labels x hidden 1024/);
  r = await inProcess(['train', '--train', file('wide.txt', '2 1000 50'), '--hidden', '1000000', '--threads', '1']);
  assertCleanFailure(r, /needs 1\d\.\d GiB for its input and hidden layers \(the input layer: 1,000 features x hidden 1000000 = .*at most 4 GiB: lower the first hidden width/);
  r = await inProcess(['train', '--train', file('cap.txt', '2 1000 5000000'), '--hidden', '16', '--threads', '1', '--max-memory', '1G']);
  assertCleanFailure(r, /needs about \d\.\d GiB .* more than 1\.0 GiB \(the --max-memory limit\)/);
  assert.ok(performance.now() - t0 < 5000, 'refused before building anything');
  // the same from the real bin
  assertCleanFailure(await cli(['train', '--train', huge]), /the model needs about/);
});

test('--max-memory: sizes with units; nonsense and sizes below 1 MiB are refused naming the flag', async () => {
  assert.equal(parseBytes('8G', 'x'), 8 * 2 ** 30);
  assert.equal(parseBytes('512m', 'x'), 512 * 2 ** 20);
  assert.equal(parseBytes('2.5GiB', 'x'), 2.5 * 2 ** 30);
  assert.equal(parseBytes(String(3 * 2 ** 20), 'x'), 3 * 2 ** 20);
  const small = file('small.txt', '2 100 20');
  for (const bad of ['lots', '-1G', '10K', '']) {
    assertCleanFailure(await inProcess(['train', '--train', small, '--max-memory', bad, '--threads', '1']), /--max-memory: /);
  }
  // the library refuses with a typed error
  assert.throws(() => new SlideModel({ nFeatures: 10, nLabels: 1e7, config: { hidden: [64] }, maxMemoryBytes: 2 ** 30 }), MemoryLimitError);
});

test('a checkpoint whose checksummed metadata claims 2 x 10^8 labels over small tensors is refused before anything is built', async () => {
  const good = join(dir, 'good.safetensors');
  await writeModel(good);
  const { metadata, tensors } = decodeSafetensors(readFileSync(good));
  const meta = JSON.parse(metadata.sublinear!);
  meta.nLabels = 200_000_000;
  const metaJson = JSON.stringify(meta);
  const md: Record<string, string> = { ...metadata, sublinear: metaJson };
  // a header checksum that matches (the file is "valid"; what it claims is not what it holds)
  md['sublinear.sha256'] = createHash('sha256').update(metaJson).update('\n').update('').update('\n').update('').digest('hex');
  const lying = join(dir, 'lying.safetensors');
  writeFileSync(lying, encodeSafetensors([...tensors].map(([name, t]) => ({ name, dtype: t.dtype as SafeDtype, shape: t.shape, data: t.data })), md));
  const t0 = performance.now();
  const rss0 = process.memoryUsage().rss;
  await assert.rejects(loadModel(lying), /lying\.safetensors: its metadata describes a model of 200 features and 200000000 labels, whose tensors take \d+ bytes; the file holds \d+ bytes of tensors/);
  assert.ok(performance.now() - t0 < 3000 && process.memoryUsage().rss - rss0 < 200 * 2 ** 20, 'nothing was built');
  assertCleanFailure(await inProcess(['eval', '--model', lying, '--test', file('t.txt', '2 200 40')]), /lying\.safetensors: its metadata describes a model of 200 features and 200000000 labels/);
  // and a checkpoint of a model above the limit: refused with the estimate before building
  assertCleanFailure(await inProcess(['eval', '--model', good, '--test', file('t2.txt', '2 200 40'), '--max-memory', '1M']), /the model of .*good\.safetensors needs about .* more than 1 MiB \(the --max-memory limit\)/);
});
