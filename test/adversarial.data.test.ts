import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readXcFile } from '../src/data/xcReader.js';
import { BIN, QUICK_TRAIN, assertCleanFailure, assertSuccess, cli, inProcess, tempsIn, writeData, writeModel, type CliResult } from './adversarial.helpers.js';

/**
 * Files the user names, wrong in every way we could think of: data files that are empty,
 * binary, truncated, directories, devices or FIFOs; outputs that are directories, devices, in
 * missing directories, under a file, the same as an input or as each other; data set
 * directories that are files. Each run fails before any work with one line naming the flag and
 * the path, and writes nothing.
 */
const dir = mkdtempSync(join(tmpdir(), 'adv-data-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));
const data = await writeData(dir);
const model = join(dir, 'model.safetensors');
await writeModel(model);
const file = (name: string, content: string | Buffer): string => {
  const p = join(dir, name);
  writeFileSync(p, content);
  return p;
};
const aFile = file('plain.txt', 'I am a file\n');
const fifo = join(dir, 'data.fifo');
execFileSync('mkfifo', [fifo]);
const missing = join(dir, 'no-such-dir');
const queries = file('queries.txt', '0:1 5:0.5\n7:1\n');

/** [name, args, expected message] of runs that must fail cleanly (exit 1, one line, no stack). */
const failures: [string, string[], RegExp][] = [
  // inputs
  ['--train missing', ['train', '--train', join(dir, 'none.txt')], /^sublinear: --train \S*none\.txt: no such file$/],
  ['--train a directory', ['train', '--train', dir], /^sublinear: --train \S+: it is a directory; give a file$/],
  ['--train /dev/zero (endless, no newline)', ['train', '--train', '/dev/zero'], /--train \/dev\/zero: a character device, not a regular file/],
  ['--train a FIFO (would block)', ['train', '--train', fifo], /--train \S*data\.fifo: a FIFO \(named pipe\), not a regular file/],
  ['--train empty', ['train', '--train', file('empty.txt', ''), ...QUICK_TRAIN, '--epochs', '0.5'], /empty\.txt:1: expected/],
  ['--train binary', ['train', '--train', file('binary.txt', Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 1, 2, 3, 10, 255, 254])), ...QUICK_TRAIN, '--epochs', '0.5'], /binary\.txt:1: expected/],
  ['--train header only, promising points', ['train', '--train', file('header.txt', '10 5 3\n'), ...QUICK_TRAIN, '--epochs', '0.5'], /header\.txt:\d+: expected/],
  ['--train truncated', ['train', '--train', file('trunc.txt', readFileSync(data.train, 'utf8').slice(0, 500)), ...QUICK_TRAIN, '--epochs', '0.5'], /trunc\.txt:\d+: expected/],
  ['--train header of letters', ['train', '--train', file('letters.txt', 'a b c\n1 0:1\n'), ...QUICK_TRAIN, '--epochs', '0.5'], /letters\.txt:1: expected/],
  ['--train feature id past the header', ['train', '--train', file('range.txt', '1 5 3\n0 7:1\n'), ...QUICK_TRAIN, '--epochs', '0.5'], /range\.txt:2: expected/],
  ['--test a directory', ['train', '--train', data.train, '--test', dir], /--test \S+: it is a directory/],
  ['--vocab-dir a file', ['train', '--train', data.train, '--vocab-dir', aFile], /--vocab-dir \S*plain\.txt: a file, not a directory/],
  ['--vocab-dir missing', ['train', '--train', data.train, '--vocab-dir', missing], /--vocab-dir \S*no-such-dir: no such directory/],
  ['eval --test missing', ['eval', '--model', model, '--test', join(dir, 'none.txt')], /--test \S*none\.txt: no such file/],
  ['predict --input a directory', ['predict', '--model', model, '--input', dir], /--input \S+: it is a directory/],
  ['predict --input missing', ['predict', '--model', model, '--input', join(dir, 'none.txt')], /--input \S*none\.txt: no such file/],
  ['predict --input /dev/zero', ['predict', '--model', model, '--input', '/dev/zero'], /--input \/dev\/zero: a character device, not a regular file/],
  // outputs
  ['--save a directory', ['train', '--train', data.train, '--save', dir], /--save \S+: it is a directory; give a file name inside it/],
  ['--save with a trailing slash', ['train', '--train', data.train, '--save', join(dir, 'new') + '/'], /--save \S+\/: a directory name; give a file name/],
  ['--save in a missing directory', ['train', '--train', data.train, '--save', join(missing, 'm.st')], /--save \S*no-such-dir\/m\.st: the directory \S*no-such-dir does not exist \(create it first\)/],
  ['--save under a file', ['train', '--train', data.train, '--save', join(aFile, 'm.st')], /--save \S*plain\.txt\/m\.st: a part of the path that should be a directory is a file/],
  ['--save with a 300-byte name', ['train', '--train', data.train, '--save', join(dir, 'm'.repeat(300) + '.st')], /--save \S+\.st: the path is too long$/],
  ['--save /dev/null (would be replaced)', ['train', '--train', data.train, '--save', '/dev/null'], /--save \/dev\/null: it exists and is a character device; an output must be a regular file/],
  ['--save onto --train', ['train', '--train', data.train, '--save', data.train], /--save and --train name the same file/],
  ['--metrics-out onto --save', ['train', '--train', data.train, '--save', join(dir, 'x.st'), '--metrics-out', join(dir, 'x.st')], /--metrics-out and --save name the same file/],
  ['--metrics-out onto --test (another spelling)', ['train', '--train', data.train, '--test', data.test, '--metrics-out', join(dir, '.', 'test.txt')], /--metrics-out and --test name the same file/],
  ['--metrics-out in a missing directory (before training)', ['train', '--train', data.train, ...QUICK_TRAIN, '--epochs', '0.5', '--metrics-out', join(missing, 'm.json')], /--metrics-out \S*m\.json: the directory \S*no-such-dir does not exist/],
  ['--metrics-out a FIFO', ['train', '--train', data.train, '--metrics-out', fifo], /--metrics-out \S*data\.fifo: it exists and is a FIFO \(named pipe\)/],
  ['eval --metrics-out a directory', ['eval', '--model', model, '--test', data.test, '--metrics-out', dir], /--metrics-out \S+: it is a directory/],
  ['eval --metrics-out onto --model', ['eval', '--model', model, '--test', data.test, '--metrics-out', model], /--metrics-out and --model name the same file/],
  ['predict --out in a missing directory', ['predict', '--model', model, '--input', queries, '--out', join(missing, 'p.jsonl')], /--out \S*p\.jsonl: the directory \S*no-such-dir does not exist/],
  ['predict --out a directory', ['predict', '--model', model, '--input', queries, '--out', dir], /--out \S+: it is a directory/],
  ['predict --out onto --input', ['predict', '--model', model, '--input', queries, '--out', queries], /--out and --input name the same file/],
  ['data synth --out an existing file (EEXIST)', ['data', 'synth', '--shape', 'tiny', '--out', aFile], /--out \S*plain\.txt: it exists and is a file, not a directory; remove it or choose another path/],
  ['data synth --out under a file', ['data', 'synth', '--shape', 'tiny', '--out', join(aFile, 'sub')], /--out \S*plain\.txt\/sub: a part of the path that should be a directory is a file/],
  ['data synth --out under a file, deeper', ['data', 'synth', '--shape', 'tiny', '--out', join(aFile, 'a', 'b')], /--out \S*plain\.txt\/a\/b: a part of the path/],
  ['data wordnet --out an existing file', ['data', 'wordnet', '--out', aFile], /--out \S*plain\.txt: it exists and is a file, not a directory/],
  ['demo --data-dir a file', ['demo', '--data-dir', aFile], /--data-dir \S*plain\.txt: it exists and is a file, not a directory/],
  ['demo --save in a missing directory (before building WordNet)', ['demo', '--data-dir', join(dir, 'wn'), '--save', join(missing, 'm.st')], /--save \S*m\.st: the directory \S*no-such-dir does not exist/],
  ['demo --metrics-out a directory', ['demo', '--data-dir', join(dir, 'wn'), '--metrics-out', dir], /--metrics-out \S+: it is a directory/],
];

function assertFailedFirst(r: CliResult, re: RegExp): void {
  assertCleanFailure(r, re);
  // the path checks come first: no training, no WordNet build, no output
  assert.doesNotMatch(r.stdout, /trained|synthetic/);
  assert.doesNotMatch(r.stderr, /building the WordNet|^model: /m);
}

function assertNothingWritten(before: string[]): void {
  assert.deepEqual(readdirSync(dir).sort(), before, 'no file created or left behind');
  assert.equal(readFileSync(aFile, 'utf8'), 'I am a file\n');
  assert.equal(existsSync(missing), false);
}

test('bad inputs and outputs: one line naming the flag and the path, exit 1, before any work, nothing written', async (t) => {
  const before = readdirSync(dir).sort();
  for (const [name, args, re] of failures) await t.test(name, async () => assertFailedFirst(await inProcess(args), re));
  assertNothingWritten(before);
});

/** Cases run again as real child processes of the bin: its exit code and stderr are main()'s. */
const AS_CHILD = ['--train a directory', '--save in a missing directory', '--metrics-out in a missing directory (before training)', 'predict --out onto --input', 'data synth --out an existing file (EEXIST)', 'demo --save in a missing directory (before building WordNet)'];

test('the same errors from the real bin in a child process', { concurrency: 3 }, async (t) => {
  const before = readdirSync(dir).sort();
  const cases = failures.filter(([name]) => AS_CHILD.includes(name));
  assert.equal(cases.length, AS_CHILD.length);
  await Promise.all(cases.map(([name, args, re]) => t.test(name, async () => assertFailedFirst(await cli(args, { timeoutMs: 20_000 }), re))));
  assertNothingWritten(before);
});

test('data synth creates missing parent directories, and a second run replaces the set whole', async () => {
  const out = join(dir, 'made', 'deep', 'syn');
  assertSuccess(await cli(['data', 'synth', '--shape', 'tiny', '--seed', '1', '--out', out]));
  const first = readFileSync(join(out, 'train.txt'));
  assertSuccess(await cli(['data', 'synth', '--shape', 'tiny', '--seed', '2', '--out', out]));
  assert.notDeepEqual(readFileSync(join(out, 'train.txt')), first);
  assert.deepEqual(readdirSync(out).sort(), ['test.txt', 'train.txt'], 'no staging directory or temporary file left');
  const tr = await readXcFile(join(out, 'train.txt'));
  const te = await readXcFile(join(out, 'test.txt'));
  assert.equal(tr.nFeatures, te.nFeatures);
});

test('predict --input from a FIFO is streamed (a FIFO is refused only where a whole file is needed)', async () => {
  const p = join(dir, 'q.fifo');
  execFileSync('mkfifo', [p]);
  const run = cli(['predict', '--model', model, '--input', p, '--k', '2']);
  // the writer: open the FIFO once the reader has (this blocks until then), write, close
  const { createWriteStream } = await import('node:fs');
  await new Promise<void>((resolve, reject) => {
    const w = createWriteStream(p);
    w.on('error', reject);
    w.end('0:1 5:0.5\n3:1\n', () => resolve());
  });
  const r = await run;
  assertSuccess(r);
  assert.equal(r.stdout.trim().split('\n').length, 2);
  for (const line of r.stdout.trim().split('\n')) assert.equal(JSON.parse(line).labels.length, 2);
  rmSync(p);
});

test('outputs that pass the checks are written: eval --metrics-out, predict --out, train --save and --metrics-out together', async () => {
  const sub = join(dir, 'ok');
  mkdirSync(sub);
  assertSuccess(await cli(['eval', '--model', model, '--test', data.test, '--metrics-out', join(sub, 'eval.json')]));
  assert.ok(JSON.parse(readFileSync(join(sub, 'eval.json'), 'utf8')).exact);
  assertSuccess(await cli(['predict', '--model', model, '--input', queries, '--out', join(sub, 'p.jsonl')]));
  assert.equal(readFileSync(join(sub, 'p.jsonl'), 'utf8').trim().split('\n').length, 2);
  const r = await cli(['train', '--train', data.train, ...QUICK_TRAIN, '--epochs', '0.5', '--save', join(sub, 'm.st'), '--metrics-out', join(sub, 'm.json')]);
  assertSuccess(r);
  // the model is written first (a failing metrics file must not cost it)
  assert.ok(r.stderr.indexOf('model saved to') < r.stderr.indexOf('metrics written to'), r.stderr);
  assert.deepEqual(readdirSync(sub).sort(), ['eval.json', 'm.json', 'm.st', 'p.jsonl']);
  assert.deepEqual(tempsIn(sub), []);
});

test('predict | head: a reader that stops early ends the run quietly (exit 0, no EPIPE stack)', async () => {
  const big = join(dir, 'big-input.txt');
  writeFileSync(big, readFileSync(data.test, 'utf8').repeat(20));
  const r = await new Promise<{ code: number | null; stderr: string; got: number }>((resolve) => {
    const child = spawn(process.execPath, [BIN, 'predict', '--model', model, '--input', big, '--k', '40'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    let got = 0;
    child.stderr.on('data', (d) => (stderr += d));
    // like head -c: take the first chunk, then close the pipe
    child.stdout.once('data', (d: Buffer) => {
      got = d.length;
      child.stdout.destroy();
    });
    child.on('close', (code) => resolve({ code, stderr, got }));
  });
  assert.ok(r.got > 0);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, '');
  rmSync(big);
});
