import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CheckpointError, loadModel, readCheckpointMeta } from '../src/checkpoint/checkpoint.js';
import { removeStaleTemps, writeFileAtomic } from '../src/util/atomicWrite.js';
import { QUICK_TRAIN, assertCleanFailure, assertSuccess, cli, deadPid, inProcess, tempsIn, writeData, writeModel } from './adversarial.helpers.js';

/**
 * Checkpoints named wrongly (a directory, a device, a FIFO, a text file, a missing file) and the
 * temporary files that writers killed with SIGKILL leave: every command removes those of dead
 * processes for its outputs when it starts, every atomic write for its target, and a live
 * process's are never touched.
 */
const dir = mkdtempSync(join(tmpdir(), 'adv-ckpt-'));
// a process that stays alive for the whole file: its temporary files must survive every cleanup
const live = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
test.after(() => {
  live.kill();
  rmSync(dir, { recursive: true, force: true });
});
const data = await writeData(dir);
const model = join(dir, 'model.safetensors');
await writeModel(model);
const fifo = join(dir, 'model.fifo');
execFileSync('mkfifo', [fifo]);
const text = join(dir, 'notes.txt');
writeFileSync(text, 'not a checkpoint\n');
const queries = join(dir, 'q.txt');
writeFileSync(queries, '0:1 3:0.5\n');
const dead = deadPid();

test('loadModel and readCheckpointMeta refuse a directory at open (it would fail at the first read with EISDIR)', async () => {
  await assert.rejects(loadModel(dir), (e: unknown) => e instanceof CheckpointError && /not a regular file \(a directory or a device\)/.test(e.message));
  assert.throws(() => readCheckpointMeta(dir), CheckpointError);
});

const failures: [string, string[], RegExp][] = [
  ['eval --model a directory', ['eval', '--model', dir, '--test', data.test], /^sublinear: --model \S+: it is a directory; give a file$/],
  ['eval --model /dev/zero', ['eval', '--model', '/dev/zero', '--test', data.test], /--model \/dev\/zero: a character device, not a regular file/],
  ['eval --model a FIFO (would block)', ['eval', '--model', fifo, '--test', data.test], /--model \S*model\.fifo: a FIFO \(named pipe\), not a regular file/],
  ['eval --model missing', ['eval', '--model', join(dir, 'none.st'), '--test', data.test], /--model \S*none\.st: no such file/],
  ['eval --model a text file', ['eval', '--model', text, '--test', data.test], /notes\.txt is not a sublinear checkpoint/],
  ['predict --model a directory', ['predict', '--model', dir, '--input', queries], /--model \S+: it is a directory/],
  ['serve --model a directory', ['serve', '--model', dir, '--port', '0'], /--model \S+: it is a directory/],
  ['train --resume a directory', ['train', '--train', data.train, '--resume', dir], /--resume \S+: it is a directory/],
  ['train --resume /dev/zero', ['train', '--train', data.train, '--resume', '/dev/zero'], /--resume \/dev\/zero: a character device/],
  ['train --save a directory', ['train', '--train', data.train, '--save', dir], /--save \S+: it is a directory; give a file name inside it/],
  ['train --save in a missing directory', ['train', '--train', data.train, '--save', join(dir, 'nope', 'm.st')], /--save \S*m\.st: the directory \S*nope does not exist/],
  ['train --save-every without --save', ['train', '--train', data.train, '--save-every', '2'], /--save-every needs --save/],
];

test('checkpoint paths that are not checkpoint files: one line naming the flag and path, exit 1', async (t) => {
  for (const [name, args, re] of failures) await t.test(name, async () => assertCleanFailure(await inProcess(args), re));
});

/** Cases run again as real child processes of the bin: its exit code and stderr are main()'s. */
const AS_CHILD = ['eval --model a directory', 'eval --model a FIFO (would block)', 'train --save a directory'];

test('the same errors from the real bin in a child process', { concurrency: 3 }, async (t) => {
  const cases = failures.filter(([name]) => AS_CHILD.includes(name));
  assert.equal(cases.length, AS_CHILD.length);
  await Promise.all(cases.map(([name, args, re]) => t.test(name, async () => assertCleanFailure(await cli(args, { timeoutMs: 20_000 }), re))));
});

/** Leftovers of writes of `target`: one of a dead process, one of the live one, and names that are not ours. */
function plantTemps(target: string): { deadTemp: string; liveTemp: string; others: string[] } {
  const d = join(target, '..');
  const name = target.slice(d.length + 1);
  const deadTemp = join(d, `.${name}.tmp-${dead}-12345`);
  const liveTemp = join(d, `.${name}.tmp-${live.pid}-12345`);
  writeFileSync(deadTemp, Buffer.alloc(64 * 1024, 1));
  writeFileSync(liveTemp, 'in progress');
  const others = [join(d, `.${name}.tmp-notapid`), join(d, `.other-${name}.tmp-${dead}-1`)];
  for (const o of others) writeFileSync(o, 'keep');
  return { deadTemp, liveTemp, others };
}

function assertCleaned(p: { deadTemp: string; liveTemp: string; others: string[] }, what: string): void {
  assert.equal(existsSync(p.deadTemp), false, `${what}: the dead process's temporary file is removed`);
  assert.equal(readFileSync(p.liveTemp, 'utf8'), 'in progress', `${what}: the live process's is kept`);
  for (const o of p.others) assert.equal(readFileSync(o, 'utf8'), 'keep', `${what}: ${o} is not a temporary file of the target`);
  for (const f of [p.liveTemp, ...p.others]) rmSync(f);
}

test('removeStaleTemps removes only temporary files of dead processes for that target (and their staging directories)', () => {
  const sub = join(dir, 'unit');
  mkdirSync(sub);
  const target = join(sub, 'x.json');
  const planted = plantTemps(target);
  const own = join(sub, `.x.json.tmp-${process.pid}-1`);
  writeFileSync(own, 'mine');
  const staging = join(sub, `.staging.tmp-${dead}-7`);
  mkdirSync(staging);
  writeFileSync(join(staging, 'train.txt'), 'half');
  assert.deepEqual(removeStaleTemps(target), [planted.deadTemp.slice(sub.length + 1)]);
  assertCleaned(planted, 'removeStaleTemps');
  assert.ok(existsSync(own), "this process's own temporary file is kept");
  assert.deepEqual(removeStaleTemps(join(sub, 'staging')), [`.staging.tmp-${dead}-7`]);
  assert.equal(existsSync(staging), false);
  assert.deepEqual(removeStaleTemps(join(dir, 'missing-dir', 'x')), []);
});

test('every atomic write cleans its target first', () => {
  const target = join(dir, 'atomic.json');
  const planted = plantTemps(target);
  writeFileAtomic(target, '{}\n');
  assertCleaned(planted, 'writeFileAtomic');
  assert.equal(readFileSync(target, 'utf8'), '{}\n');
});

test('commands remove stale temporary files of their outputs when they start, even when the run then fails', { concurrency: 2 }, async (t) => {
  await Promise.all([
    t.test('train --save and --metrics-out, failing on its configuration', async () => {
      const save = join(dir, 'run.st');
      const metrics = join(dir, 'run.json');
      const a = plantTemps(save);
      const b = plantTemps(metrics);
      const nullCfg = join(dir, 'null.json');
      writeFileSync(nullCfg, 'null');
      assertCleanFailure(await cli(['train', '--train', data.train, '--save', save, '--metrics-out', metrics, '--config', nullCfg]), /the configuration must be a JSON object/);
      assertCleaned(a, '--save');
      assertCleaned(b, '--metrics-out');
    }),
    t.test('eval --metrics-out and predict --out', async () => {
      const m = join(dir, 'eval.json');
      const p = join(dir, 'pred.jsonl');
      const a = plantTemps(m);
      const b = plantTemps(p);
      assertSuccess(await cli(['eval', '--model', model, '--test', data.test, '--metrics-out', m]));
      assertSuccess(await cli(['predict', '--model', model, '--input', queries, '--out', p]));
      assertCleaned(a, 'eval --metrics-out');
      assertCleaned(b, 'predict --out');
    }),
    t.test('data synth --out: the files and a killed run staging directory', async () => {
      const out = join(dir, 'syn');
      mkdirSync(out);
      const a = plantTemps(join(out, 'train.txt'));
      const staging = join(out, `.staging.tmp-${dead}-3`);
      mkdirSync(staging);
      writeFileSync(join(staging, 'train.txt'), 'half of a set');
      assertSuccess(await cli(['data', 'synth', '--shape', 'tiny', '--out', out]));
      assertCleaned(a, 'data synth');
      assert.deepEqual(readdirSync(out).sort(), ['test.txt', 'train.txt']);
    }),
  ]);
});

test('train --resume and --save on the same file continue in place; the saved model loads', async () => {
  const ck = join(dir, 'resume.st');
  assertSuccess(await cli(['train', '--train', data.train, ...QUICK_TRAIN, '--epochs', '1', '--save', ck]));
  const r = await cli(['train', '--train', data.train, '--resume', ck, '--save', ck, '--epochs', '2', '--quiet']);
  assertSuccess(r);
  assert.match(r.stderr, /resuming \S+: 1 epochs and \d+ batches done/);
  const { model: m } = await loadModel(ck);
  assert.equal(m.epochsDone, 2);
  assert.deepEqual(tempsIn(dir).filter((f) => !f.includes(String(live.pid))), []);
});
