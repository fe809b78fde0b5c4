import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatFloat32, formatXcString, writeXcFile, XcRowWriter } from '../src/data/xcWriter.js';
import { parseXcString, readXcFile } from '../src/data/xcReader.js';
import { generateSynthetic } from '../src/data/synth.js';
import type { XcDataset } from '../src/data/csr.js';
import { Rng } from '../src/util/rng.js';
import { FileError } from '../src/util/errors.js';

async function withTmp<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'xcwriter-'));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const HAND: XcDataset = {
  n: 3,
  nFeatures: 10,
  nLabels: 5,
  featPtr: Int32Array.of(0, 2, 3, 3),
  featIdx: Int32Array.of(1, 4, 9),
  featVal: Float32Array.of(0.5, 0.1, -2.5e-7),
  labelPtr: Int32Array.of(0, 2, 2, 3),
  labelIdx: Int32Array.of(0, 3, 4),
};

test('formatXcString writes the XC format (no-label row starts with a space)', () => {
  assert.equal(formatXcString(HAND), '3 10 5\n0,3 1:0.5 4:0.1\n 9:-2.5e-7\n4\n');
  assert.deepEqual(parseXcString(formatXcString(HAND)), HAND);
});

test('formatFloat32: shortest text that reads back to the same float32', () => {
  const cases: [number, string][] = [
    [0, '0'],
    [-0, '-0'],
    [1, '1'],
    [0.5, '0.5'],
    [0.1, '0.1'],
    [-0.25, '-0.25'],
    [123456, '123456'],
    [0.00012, '0.00012'],
    [1e-7, '1e-7'],
    [1e10, '1e10'],
    [16777216, '16777216'],
    [3.4028234663852886e38, '3.4028235e38'],
    [1.5e-9, '1.5e-9'],
    [-2.5e11, '-2.5e11'],
    [1234, '1234'],
    [12340, '12340'],
    [0.001234, '0.001234'],
    [0.00001234, '0.00001234'],
    [0.000001234, '1.234e-6'],
    [1.401298464324817e-45, '1e-45'],
  ];
  for (const [v, s] of cases) assert.equal(formatFloat32(v), s, `value ${v}`);
  // random bit patterns (normals, subnormals, huge and tiny exponents) and random uniforms
  const rng = new Rng(2);
  const f = new Float32Array(1);
  const u = new Uint32Array(f.buffer);
  for (let i = 0; i < 100_000; i++) {
    if (i % 2 === 0) u[0] = rng.nextU32();
    else f[0] = rng.nextFloat();
    const v = f[0]!;
    if (!Number.isFinite(v)) continue;
    const s = formatFloat32(v);
    assert.ok(Object.is(Math.fround(parseFloat(s)), v), `${v} printed as ${s}`);
    assert.match(s, /^-?\d+(\.\d+)?(e-?\d+)?$/);
  }
});

test('round trip write -> read gives identical arrays (multi-chunk file)', async () => {
  const { train, test: tst } = generateSynthetic({
    nTrain: 4000,
    nTest: 10,
    nFeatures: 5000,
    nLabels: 3000,
    featuresPerPoint: 40,
    labelsPerPoint: 3,
    seed: 4,
  });
  // add rows without labels and without features
  const d: XcDataset = { ...train };
  d.labelPtr = train.labelPtr.slice();
  d.labelIdx = new Int32Array(train.labelIdx.length - (train.labelPtr[2]! - train.labelPtr[1]!));
  d.labelIdx.set(train.labelIdx.subarray(0, train.labelPtr[1]));
  d.labelIdx.set(train.labelIdx.subarray(train.labelPtr[2]), train.labelPtr[1]);
  for (let r = 2; r <= train.n; r++) d.labelPtr[r] = train.labelPtr[r]! - (train.labelPtr[2]! - train.labelPtr[1]!);
  await withTmp(async (dir) => {
    const p = join(dir, 'train.txt');
    await writeXcFile(p, d);
    assert.deepEqual(await readXcFile(p), d);
    assert.deepEqual(await readdir(dir), ['train.txt']);
    const text = await readFile(p, 'utf8');
    assert.ok(text.length > 1 << 20, 'spans several write chunks');
    assert.ok(text.split('\n')[2]!.startsWith(' '), 'the no-label row starts with a space');
    assert.equal(text, formatXcString(d));
    const q = join(dir, 'test.txt');
    await writeXcFile(q, tst);
    assert.deepEqual(await readXcFile(q), tst);
  });
});

test('atomic write: no temp file left, failure does not clobber the target', async () => {
  await withTmp(async (dir) => {
    const p = join(dir, 'data.txt');
    await writeFile(p, 'precious\n');
    await writeXcFile(p, HAND);
    assert.equal(await readFile(p, 'utf8'), formatXcString(HAND));
    assert.deepEqual(await readdir(dir), ['data.txt']);

    // a data set that fails validation in its last row, after bytes were written to the temp file
    const n = 50_000;
    const bad: XcDataset = {
      n,
      nFeatures: 10,
      nLabels: 5,
      featPtr: Int32Array.from({ length: n + 1 }, (_, i) => i),
      featIdx: new Int32Array(n),
      featVal: new Float32Array(n).fill(0.123456),
      labelPtr: new Int32Array(n + 1),
      labelIdx: new Int32Array(0),
    };
    bad.featVal[n - 1] = NaN;
    await assert.rejects(writeXcFile(p, bad), /row 49999: feature 0 has non-finite value NaN/);
    assert.equal(await readFile(p, 'utf8'), formatXcString(HAND), 'target untouched');
    assert.deepEqual(await readdir(dir), ['data.txt'], 'temp file removed');

    bad.featVal[n - 1] = 1;
    bad.featIdx[7] = 10;
    await assert.rejects(writeXcFile(p, bad), /row 7: feature index 10 outside \[0, 10\)/);
    bad.featIdx[7] = 0;
    bad.labelPtr.fill(1, 1);
    bad.labelIdx = Int32Array.of(5);
    await assert.rejects(writeXcFile(p, bad), /row 0: label id 5 outside \[0, 5\)/);
    await assert.rejects(writeXcFile(p, { ...HAND, n: 0, featPtr: Int32Array.of(0), labelPtr: Int32Array.of(0) }), /n must be a positive integer/);
    assert.deepEqual(await readdir(dir), ['data.txt']);
    assert.equal(await readFile(p, 'utf8'), formatXcString(HAND));

    // unwritable location: rejects, nothing created
    await assert.rejects(writeXcFile(join(dir, 'no-such-dir', 'x.txt'), HAND), (e: unknown) => e instanceof FileError && e.code === 'ENOENT' && /no-such-dir\/x\.txt": its directory does not exist/.test(e.message));
    assert.deepEqual(await readdir(dir), ['data.txt']);
  });
});

test('formatting is byte-identical to the writer as first committed (golden digest of 500,000 values: uniforms and random bit patterns)', () => {
  // the digest was computed with src/data/xcWriter.ts of commit cea8a4b, before the int32 digits and floorLog10
  const n = 20_000;
  const per = 25;
  const rng = new Rng(5);
  const featPtr = new Int32Array(n + 1);
  const featIdx = new Int32Array(n * per);
  const featVal = new Float32Array(n * per);
  const f = new Float32Array(1);
  const u = new Uint32Array(f.buffer);
  for (let r = 0; r < n; r++) {
    featPtr[r + 1] = (r + 1) * per;
    for (let k = 0; k < per; k++) {
      let v: number;
      if (k % 2 === 1) {
        do u[0] = rng.nextU32();
        while (!Number.isFinite(f[0]!));
        v = f[0]!;
      } else v = rng.nextFloat();
      featIdx[r * per + k] = k * 3;
      featVal[r * per + k] = v;
    }
  }
  const d = { n, nFeatures: 100, nLabels: 1, featPtr, featIdx, featVal, labelPtr: new Int32Array(n + 1), labelIdx: new Int32Array(0) };
  assert.equal(createHash('sha256').update(formatXcString(d)).digest('hex'), 'e7e181c4025044254ca6a85ac4e6909d6e63322309f3444bd4357eec2679f37d');
});

test('XcRowWriter writes the bytes writeXcFile writes; a wrong row count or an abort leaves no file', async () => {
  await withTmp(async (dir) => {
    const { train } = generateSynthetic({ nTrain: 3000, nTest: 1, nFeatures: 500, nLabels: 200, featuresPerPoint: 20, labelsPerPoint: 3, seed: 4 });
    const a = join(dir, 'a.txt');
    const b = join(dir, 'b.txt');
    await writeXcFile(a, train);
    const w = new XcRowWriter(b, { n: train.n, nFeatures: train.nFeatures, nLabels: train.nLabels });
    for (let r = 0; r < train.n; r++) {
      const labels = train.labelIdx.slice(train.labelPtr[r]!, train.labelPtr[r + 1]!);
      const idx = train.featIdx.slice(train.featPtr[r]!, train.featPtr[r + 1]!);
      const val = train.featVal.slice(train.featPtr[r]!, train.featPtr[r + 1]!);
      w.writeRow(labels, labels.length, idx, val, idx.length);
    }
    w.commit();
    assert.equal(await readFile(b, 'utf8'), await readFile(a, 'utf8'));
    const short = new XcRowWriter(join(dir, 'c.txt'), { n: 2, nFeatures: 10, nLabels: 3 });
    short.writeRow(Int32Array.of(1), 1, Int32Array.of(4), Float32Array.of(0.5), 1);
    assert.throws(() => short.commit(), /1 rows written, the header says 2/);
    short.abort();
    const aborted = new XcRowWriter(join(dir, 'd.txt'), { n: 1, nFeatures: 10, nLabels: 3 });
    assert.throws(() => aborted.writeRow(Int32Array.of(5), 1, Int32Array.of(4), Float32Array.of(0.5), 1), /label id 5 outside \[0, 3\)/);
    aborted.abort();
    assert.deepEqual((await readdir(dir)).sort(), ['a.txt', 'b.txt']);
  });
});
