import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseXcString, readXcBatches, readXcFile, readXcHeader } from '../src/data/xcReader.js';
import type { CsrBatch, XcDataset } from '../src/data/csr.js';
import { InputError } from '../src/util/errors.js';
import { Rng } from '../src/util/rng.js';

const SMALL = ['4 10 5', '0,3 1:0.5 4:2', ' 2:1.25 9:-3e-2', '', '4 0:+7 5:.5 6:1.', ''].join('\n');

function rows(d: CsrBatch): { labels: number[]; feats: [number, number][] }[] {
  const out = [];
  for (let r = 0; r < d.n; r++) {
    const labels = Array.from(d.labelIdx.subarray(d.labelPtr[r], d.labelPtr[r + 1]));
    const feats: [number, number][] = [];
    for (let k = d.featPtr[r]!; k < d.featPtr[r + 1]!; k++) feats.push([d.featIdx[k]!, d.featVal[k]!]);
    out.push({ labels, feats });
  }
  return out;
}

/** Copy a batch (only the used parts) so it survives the next one. */
function concat(batches: CsrBatch[], nFeatures: number, nLabels: number): XcDataset {
  const n = batches.reduce((s, b) => s + b.n, 0);
  const nnz = batches.reduce((s, b) => s + b.featPtr[b.n]!, 0);
  const nl = batches.reduce((s, b) => s + b.labelPtr[b.n]!, 0);
  const d: XcDataset = {
    n,
    nFeatures,
    nLabels,
    featPtr: new Int32Array(n + 1),
    featIdx: new Int32Array(nnz),
    featVal: new Float32Array(nnz),
    labelPtr: new Int32Array(n + 1),
    labelIdx: new Int32Array(nl),
  };
  let r = 0;
  let f = 0;
  let l = 0;
  for (const b of batches) {
    d.featIdx.set(b.featIdx.subarray(0, b.featPtr[b.n]), f);
    d.featVal.set(b.featVal.subarray(0, b.featPtr[b.n]), f);
    d.labelIdx.set(b.labelIdx.subarray(0, b.labelPtr[b.n]), l);
    for (let i = 1; i <= b.n; i++) {
      d.featPtr[r + i] = f + b.featPtr[i]!;
      d.labelPtr[r + i] = l + b.labelPtr[i]!;
    }
    r += b.n;
    f += b.featPtr[b.n]!;
    l += b.labelPtr[b.n]!;
  }
  return d;
}

async function withTmp<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'xcreader-'));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** A random but valid XC text: empty lines, no-label lines, CRLF, odd spacing, many float spellings. */
function randomXcText(rng: Rng, n: number, nFeatures: number, nLabels: number): string {
  const lines = [`${n} ${nFeatures} ${nLabels}`];
  for (let r = 0; r < n; r++) {
    const kind = rng.nextInt(10);
    if (kind === 0) {
      lines.push('');
      continue;
    }
    const nl = kind === 1 ? 0 : 1 + rng.nextInt(4);
    const labs = new Set<number>();
    while (labs.size < Math.min(nl, nLabels)) labs.add(rng.nextInt(nLabels));
    const feats = new Set<number>();
    const nf = rng.nextInt(12);
    while (feats.size < Math.min(nf, nFeatures)) feats.add(rng.nextInt(nFeatures));
    const toks = [...feats].map((f) => `${f}:${randomNumber(rng)}`);
    const sep = rng.nextInt(5) === 0 ? '\t' : rng.nextInt(5) === 0 ? '  ' : ' ';
    let line: string;
    if (labs.size > 0) line = [...labs].join(',') + (toks.length > 0 ? sep + toks.join(sep) : '');
    else line = (rng.nextInt(2) === 0 ? '' : ' ') + toks.join(sep); // no labels: features first, maybe after a space
    if (rng.nextInt(8) === 0) line += ' ';
    if (rng.nextInt(8) === 0) line += '\r';
    lines.push(line);
  }
  return lines.join('\n') + (rng.nextInt(2) === 0 ? '\n' : '');
}

function randomNumber(rng: Rng): string {
  const sign = ['', '', '-', '+'][rng.nextInt(4)]!;
  switch (rng.nextInt(7)) {
    case 0:
      return sign + rng.nextInt(1000);
    case 1:
      return sign + (rng.nextFloat() * 10).toFixed(rng.nextInt(9));
    case 2:
      return sign + (rng.nextFloat() * 100).toExponential(rng.nextInt(10));
    case 3:
      return sign + String(rng.nextFloat()); // 16-17 significant digits: slow path
    case 4:
      return sign + '.' + rng.nextInt(100000);
    case 5:
      return sign + rng.nextInt(100) + 'e' + (rng.nextInt(60) - 30);
    default:
      return sign + '0.000' + rng.nextInt(1000000) + 'E-' + rng.nextInt(5);
  }
}

test('parses a small file incl. a no-label line and an empty line', () => {
  const d = parseXcString(SMALL);
  assert.equal(d.n, 4);
  assert.equal(d.nFeatures, 10);
  assert.equal(d.nLabels, 5);
  assert.deepEqual(rows(d), [
    { labels: [0, 3], feats: [[1, 0.5], [4, 2]] },
    { labels: [], feats: [[2, 1.25], [9, Math.fround(-0.03)]] },
    { labels: [], feats: [] },
    { labels: [4], feats: [[0, 7], [5, 0.5], [6, 1]] },
  ]);
  // exact array lengths (trimmed)
  assert.equal(d.featIdx.length, 7);
  assert.equal(d.featVal.length, 7);
  assert.equal(d.labelIdx.length, 3);
  assert.equal(d.featPtr.length, 5);
});

test('line-level variants: features first, labels only, CRLF, no final newline, trailing blank lines, tabs', () => {
  const d = parseXcString('5 10 5\r\n3:1 7:2\r\n1,2\r\n2\t0:1\t1:2 \r\n \r\n0 9:4\n\n\n  \n');
  assert.deepEqual(rows(d), [
    { labels: [], feats: [[3, 1], [7, 2]] },
    { labels: [1, 2], feats: [] },
    { labels: [2], feats: [[0, 1], [1, 2]] },
    { labels: [], feats: [] },
    { labels: [0], feats: [[9, 4]] },
  ]);
  const e = parseXcString('1 3 3\n2 1:1');
  assert.deepEqual(rows(e), [{ labels: [2], feats: [[1, 1]] }]);
  assert.equal(parseXcString('\ufeff1 3 3\n0\n').n, 1, 'a UTF-8 BOM is skipped');
});

test('floats equal parseFloat after float32 rounding (fast and slow paths)', () => {
  const rng = new Rng(11);
  const tokens: string[] = [];
  for (let i = 0; i < 3000; i++) tokens.push(randomNumber(rng));
  tokens.push('1e-3', '-1E+2', '123456789012345678', '0.1000000000000000055511151231257827', '3.4028234e38', '1e-45', '-0', '4.9e-324');
  const text = `${tokens.length} 1 1\n` + tokens.map((t) => `0:${t}`).join('\n') + '\n';
  const d = parseXcString(text);
  for (let i = 0; i < tokens.length; i++) {
    assert.ok(Object.is(d.featVal[i], Math.fround(parseFloat(tokens[i]!))), `token ${tokens[i]}: got ${d.featVal[i]}`);
  }
});

function fails(text: string, message: string): void {
  assert.throws(
    () => parseXcString(text, 'f.txt'),
    (e: unknown) => {
      assert.ok(e instanceof InputError, `not an InputError: ${String(e)}`);
      assert.equal(e.message, message);
      return true;
    },
  );
}

const HDR = 'header "N_points N_features N_labels" (3 positive integers)';

test('bad header', () => {
  fails('', `f.txt:1: expected ${HDR}, found end of file`);
  fails('\n1 0:1\n', `f.txt:1: expected ${HDR}, found an empty line`);
  fails('3 10\n', `f.txt:1: expected ${HDR}, found "3 10"`);
  fails('3 10 5 7\n', `f.txt:1: expected ${HDR}, found "3 10 5 7"`);
  fails('0 10 5\n', `f.txt:1: expected ${HDR}, found "0 10 5"`);
  fails('3 -10 5\n', `f.txt:1: expected ${HDR}, found "3 -10 5"`);
  fails('3 ten 5\n', `f.txt:1: expected ${HDR}, found "3 ten 5"`);
  fails('3 10 5x\n', `f.txt:1: expected ${HDR}, found "3 10 5x"`);
  fails('3 1.5 5\n', `f.txt:1: expected ${HDR}, found "3 1.5 5"`);
});

test('bad label tokens', () => {
  fails('2 10 5\n1 0:1\nx 5:1\n', 'f.txt:3: expected label id (non-negative integer), found "x"');
  fails('1 10 5\n1,b 5:1\n', 'f.txt:2: expected label id (non-negative integer), found "b"');
  fails('1 10 5\n-1 5:1\n', 'f.txt:2: expected label id (non-negative integer), found "-1"');
  fails('1 10 5\n1,,2 5:1\n', 'f.txt:2: expected comma-separated label ids, found "1,,2"');
  fails('1 10 5\n1, 5:1\n', 'f.txt:2: expected comma-separated label ids, found "1,"');
  fails('1 10 5\n5 0:1\n', 'f.txt:2: expected label id in [0, 5), found 5');
  fails('1 10 5\n99999999999 0:1\n', 'f.txt:2: expected label id in [0, 5), found 99999999999');
  fails('1 10 5\n1,3,1 0:1\n', 'f.txt:2: expected distinct label ids on a line, found duplicate label 1');
});

test('bad feature tokens', () => {
  const FT = 'feature token "index:value"';
  fails('1 10 5\n1 5:\n', `f.txt:2: expected ${FT}, found "5:"`);
  fails('1 10 5\n1 :3\n', `f.txt:2: expected ${FT}, found ":3"`);
  fails('1 10 5\n1 5:3:2\n', `f.txt:2: expected ${FT}, found "5:3:2"`);
  fails('1 10 5\n1 a:1\n', `f.txt:2: expected ${FT}, found "a:1"`);
  fails('1 10 5\n1 2:1 5\n', `f.txt:2: expected ${FT}, found "5"`);
  fails('1 10 5\n1 -2:1\n', `f.txt:2: expected ${FT}, found "-2:1"`);
  fails('1 10 5\n1 5:abc\n', 'f.txt:2: expected numeric value in feature token "index:value", found "5:abc"');
  fails('1 10 5\n1 5:1.2.3\n', 'f.txt:2: expected numeric value in feature token "index:value", found "5:1.2.3"');
  fails('1 10 5\n1 5:1e\n', 'f.txt:2: expected numeric value in feature token "index:value", found "5:1e"');
  fails('1 10 5\n1 5:.\n', 'f.txt:2: expected numeric value in feature token "index:value", found "5:."');
  fails('1 10 5\n1 10:1\n', 'f.txt:2: expected feature index in [0, 10), found 10');
  fails('1 10 5\n1 3:1 7:1 3:2\n', 'f.txt:2: expected distinct feature indices on a line, found duplicate feature 3');
});

test('non-finite values', () => {
  fails('1 10 5\n1 5:nan\n', 'f.txt:2: expected finite feature value, found "nan"');
  fails('1 10 5\n1 5:NaN\n', 'f.txt:2: expected finite feature value, found "NaN"');
  fails('1 10 5\n1 5:inf\n', 'f.txt:2: expected finite feature value, found "inf"');
  fails('1 10 5\n1 5:-Infinity\n', 'f.txt:2: expected finite feature value, found "-Infinity"');
  fails('1 10 5\n1 5:1e999\n', 'f.txt:2: expected finite feature value (within float32 range), found "1e999"');
  fails('1 10 5\n1 5:1e39\n', 'f.txt:2: expected finite feature value (within float32 range), found "1e39"');
});

test('truncated and over-long files', () => {
  fails('3 10 5\n1 0:1\n', 'f.txt:3: expected 3 data lines, found 1');
  fails('3 10 5\n1 0:1\n2 0:1', 'f.txt:4: expected 3 data lines, found 2');
  fails('2 10 5', 'f.txt:2: expected 2 data lines, found 0');
  fails('1 10 5\n1 0:1\n2 0:1\n', 'f.txt:3: expected end of file after 1 data line, found an extra line "2 0:1"');
  fails('2 10 5\n1 0:1\n2 0:1\n\n\n3\n', 'f.txt:6: expected end of file after 2 data lines, found an extra line "3"');
  // trailing blank lines after the last data line are fine
  assert.equal(parseXcString('1 10 5\n1 0:1\n\n \n').n, 1);
});

test('missing file: clear error naming the path', async () => {
  const path = join(tmpdir(), 'definitely-missing-xc-file.txt');
  await assert.rejects(readXcFile(path), (e: unknown) => {
    assert.ok(e instanceof InputError);
    assert.equal(e.message, `${path}:1: expected a readable XC data file, found no such file (ENOENT)`);
    return true;
  });
  await assert.rejects(async () => {
    for await (const _ of readXcBatches(path, 10)) void _;
  }, /no such file/);
  await withTmp(async (dir) => {
    await assert.rejects(readXcFile(dir), new RegExp(`expected a readable XC data file, found a directory`));
  });
});

test('readXcFile equals parseXcString, across chunk sizes (lines split over reads, lines longer than a chunk)', async () => {
  const rng = new Rng(5);
  const text = randomXcText(rng, 300, 50, 20);
  const want = parseXcString(text);
  await withTmp(async (dir) => {
    const p = join(dir, 'a.txt');
    await writeFile(p, text);
    for (const chunkBytes of [1, 7, 64, 1000, undefined]) {
      const d = await readXcFile(p, chunkBytes === undefined ? {} : { chunkBytes });
      assert.deepEqual(d, want, `chunkBytes ${chunkBytes}`);
    }
    assert.deepEqual(await readXcHeader(p), { nPoints: 300, nFeatures: 50, nLabels: 20 });
  });
});

test('file errors carry the path and line', async () => {
  await withTmp(async (dir) => {
    const p = join(dir, 'bad.txt');
    await writeFile(p, '3 10 5\n1 0:1\n1 0:1 0:2\n1 0:1\n');
    await assert.rejects(readXcFile(p, { chunkBytes: 5 }), { message: `${p}:3: expected distinct feature indices on a line, found duplicate feature 0` });
    await writeFile(p, '3 10 5\n1 0:1\n');
    await assert.rejects(readXcFile(p), { message: `${p}:3: expected 3 data lines, found 1` });
    await writeFile(p, 'x y z\n1 0:1\n');
    await assert.rejects(async () => {
      for await (const _ of readXcBatches(p, 1)) assert.fail('no batch before the header is checked');
    }, { message: `${p}:1: expected ${HDR}, found "x y z"` });
  });
});

test('streaming batches concatenated equal readXcFile', async () => {
  const rng = new Rng(9);
  const text = randomXcText(rng, 257, 40, 15);
  await withTmp(async (dir) => {
    const p = join(dir, 'b.txt');
    await writeFile(p, text);
    const want = await readXcFile(p);
    for (const [batchSize, chunkBytes] of [
      [1, 13],
      [16, 100],
      [64, undefined],
      [257, 9],
      [1000, undefined],
    ] as const) {
      const copies: CsrBatch[] = [];
      let first: CsrBatch | null = null;
      for await (const b of readXcBatches(p, batchSize, chunkBytes === undefined ? {} : { chunkBytes })) {
        assert.ok(b.n >= 1 && b.n <= batchSize);
        first ??= b;
        assert.equal(b, first, 'the same batch object is reused');
        copies.push({
          n: b.n,
          featPtr: b.featPtr.slice(0, b.n + 1),
          featIdx: b.featIdx.slice(0, b.featPtr[b.n]),
          featVal: b.featVal.slice(0, b.featPtr[b.n]),
          labelPtr: b.labelPtr.slice(0, b.n + 1),
          labelIdx: b.labelIdx.slice(0, b.labelPtr[b.n]),
        });
      }
      assert.equal(copies.length, Math.ceil(257 / batchSize));
      assert.deepEqual(concat(copies, want.nFeatures, want.nLabels), want, `batchSize ${batchSize}`);
    }
    // stopping early closes the file without error
    for await (const b of readXcBatches(p, 10)) {
      assert.equal(b.n, 10);
      break;
    }
  });
});

test('streaming: a truncated file fails when the last batch is requested', async () => {
  await withTmp(async (dir) => {
    const p = join(dir, 't.txt');
    await writeFile(p, '5 10 5\n1 0:1\n1 0:1\n1 0:1\n');
    const seen: number[] = [];
    await assert.rejects(
      async () => {
        for await (const b of readXcBatches(p, 2)) seen.push(b.n);
      },
      { message: `${p}:5: expected 5 data lines, found 3` },
    );
    assert.deepEqual(seen, [2]);
  });
});

test('streaming: a batch larger than the initial storage grows it (70,000 rows in one batch)', async () => {
  const n = 70_000;
  let text = `${n} 100 7\n`;
  for (let r = 0; r < n; r++) text += `${r % 7} ${r % 100}:${r % 13}.5\n`;
  await withTmp(async (dir) => {
    const p = join(dir, 'big.txt');
    await writeFile(p, text);
    const want = await readXcFile(p);
    const got: CsrBatch[] = [];
    for await (const b of readXcBatches(p, 100_000)) got.push(b);
    assert.equal(got.length, 1);
    assert.equal(got[0]!.n, n);
    assert.deepEqual(concat(got, 100, 7), want);
    assert.equal(want.featVal[69_999], (69_999 % 13) + 0.5);
  });
});
