import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadModel } from '../src/checkpoint/checkpoint.js';
import { BIN, QUICK_TRAIN, assertCleanFailure, assertSuccess, cli, tempsIn, writeData, writeModel } from './adversarial.helpers.js';

/**
 * A full disk: a 2 MiB tmpfs is mounted (root only; the tests are skipped with the reason
 * otherwise) and filled with a filler file until only a little room is left. Every write that
 * runs out of space (checkpoints from --save, --save-every and --resume, metrics, predictions,
 * data sets) must fail with one line naming the path and ENOSPC, exit 1, leave no temporary file,
 * and leave what was at the path before unchanged; a metrics file that does not fit must not
 * cost the model saved elsewhere. A read-only tmpfs beside it: outputs there are refused before
 * any work.
 */
const base = mkdtempSync(join(tmpdir(), 'adv-disk-'));
const full = join(base, 'full');
mkdirSync(full);
const FILLER = join(full, 'filler');
const ro = join(base, 'ro');
mkdirSync(ro);
const PREVIOUS = 'the previous file at this path\n';

function tryMount(): string | null {
  if (process.getuid?.() !== 0) return 'not root: mounting a small tmpfs needs root';
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', full], { encoding: 'utf8' });
  if (r.error) return `mount not available: ${r.error.message}`;
  if (r.status !== 0) return `mount -t tmpfs refused (${r.stderr.trim() || `exit ${r.status}`}), e.g. in a container without CAP_SYS_ADMIN`;
  const r2 = spawnSync('mount', ['-t', 'tmpfs', '-o', 'ro,size=64k', 'tmpfs', ro], { encoding: 'utf8' });
  if (r2.status !== 0) {
    spawnSync('umount', [full]);
    return `mount -o ro refused (${r2.stderr.trim()})`;
  }
  return null;
}
const skip = tryMount();
test.after(() => {
  if (!skip) for (const m of [full, ro]) spawnSync('umount', [m]);
  rmSync(base, { recursive: true, force: true });
});

const data = await writeData(base);
const model = join(base, 'model.safetensors');
await writeModel(model);

/** Refill the disk so that `bytes` stay free (tmpfs counts whole pages). */
function leaveFree(bytes: number): void {
  rmSync(FILLER, { force: true });
  const st = statfsSync(full);
  const free = st.bavail * st.bsize;
  writeFileSync(FILLER, Buffer.alloc(Math.max(0, free - bytes)));
}

/** Nothing but the filler and the files the case put there before; no temporary file. */
function assertUntouched(before: Record<string, string>): void {
  assert.deepEqual(tempsIn(full), [], 'no temporary file left');
  assert.deepEqual(readdirSync(full).filter((f) => f !== 'filler').sort(), Object.keys(before).sort(), 'no new file');
  for (const [f, text] of Object.entries(before)) assert.equal(readFileSync(join(full, f), 'utf8'), text, `${f} unchanged`);
}

function reset(files: Record<string, string> = {}): void {
  for (const f of readdirSync(full)) rmSync(join(full, f), { recursive: true, force: true });
  for (const [f, text] of Object.entries(files)) writeFileSync(join(full, f), text);
}

const ENOSPC = (name: string): RegExp => new RegExp(`^sublinear: cannot write "\\S*full/${name.replace(/\./g, '\\.')}": no space left on the device \\(ENOSPC\\); free some space or choose another location`);

test('full disk: train --save fails with one line, the previous checkpoint stays', { skip: skip ?? false }, async () => {
  reset({ 'm.st': PREVIOUS });
  leaveFree(64 * 1024);
  const r = await cli(['train', '--train', data.train, ...QUICK_TRAIN, '--hidden', '128', '--epochs', '0.3', '--save', join(full, 'm.st')]);
  assertCleanFailure(r, ENOSPC('m.st'));
  assertUntouched({ 'm.st': PREVIOUS });
});

test('full disk: --save-every fails at the first checkpoint, the previous one stays', { skip: skip ?? false }, async () => {
  reset({ 'm.st': PREVIOUS });
  leaveFree(64 * 1024);
  const r = await cli(['train', '--train', data.train, ...QUICK_TRAIN, '--hidden', '128', '--epochs', '1', '--batch-size', '50', '--save-every', '2', '--save', join(full, 'm.st')]);
  assertCleanFailure(r, ENOSPC('m.st'));
  assert.doesNotMatch(r.stdout, /trained/, 'stopped at the failed checkpoint, not after training');
  assertUntouched({ 'm.st': PREVIOUS });
});

test('full disk: train --resume with --save on the full disk', { skip: skip ?? false }, async () => {
  const ck = join(base, 'resume.st');
  assertSuccess(await cli(['train', '--train', data.train, ...QUICK_TRAIN, '--hidden', '128', '--epochs', '1', '--save', ck]));
  reset();
  leaveFree(64 * 1024);
  const r = await cli(['train', '--train', data.train, '--resume', ck, '--epochs', '2', '--quiet', '--save', join(full, 'r.st')]);
  assertCleanFailure(r, ENOSPC('r.st'));
  assertUntouched({});
  assert.equal((await loadModel(ck)).model.epochsDone, 1, 'the checkpoint resumed from is untouched');
});

test('full disk: --metrics-out does not fit; the model, saved first elsewhere, is kept', { skip: skip ?? false }, async () => {
  reset();
  leaveFree(0);
  const save = join(base, 'kept.st');
  const r = await cli(['train', '--train', data.train, ...QUICK_TRAIN, '--epochs', '0.5', '--save', save, '--metrics-out', join(full, 'metrics.json')]);
  assertCleanFailure(r, ENOSPC('metrics.json'));
  assert.match(r.stderr, /model saved to \S*kept\.st/);
  assert.equal((await loadModel(save)).model.epochsDone, 1);
  assertUntouched({});
});

test('full disk: eval --metrics-out, predict --out', { skip: skip ?? false }, async () => {
  reset({ 'p.jsonl': PREVIOUS });
  leaveFree(0);
  assertCleanFailure(await cli(['eval', '--model', model, '--test', data.test, '--metrics-out', join(full, 'e.json')]), ENOSPC('e.json'));
  assertUntouched({ 'p.jsonl': PREVIOUS });
  leaveFree(16 * 1024);
  // 100 lines of 40 labels: ~160 KB of answers
  const r = await cli(['predict', '--model', model, '--input', data.test, '--k', '40', '--out', join(full, 'p.jsonl')]);
  assertCleanFailure(r, ENOSPC('p.jsonl'));
  assertUntouched({ 'p.jsonl': PREVIOUS });
});

test('full disk: data synth writes the whole set or nothing (no train.txt without test.txt)', { skip: skip ?? false }, async () => {
  reset();
  mkdirSync(join(full, 'syn'));
  writeFileSync(join(full, 'syn', 'train.txt'), PREVIOUS);
  writeFileSync(join(full, 'syn', 'test.txt'), PREVIOUS);
  // room for train.txt (~620 KB) but not for test.txt as well: the set must not be replaced by halves
  leaveFree(700 * 1024);
  const r = await cli(['data', 'synth', '--shape', 'tiny', '--out', join(full, 'syn')]);
  assertCleanFailure(r, /^sublinear: cannot write "\S*full\/syn\/(train|test)\.txt": no space left on the device \(ENOSPC\)/);
  assert.deepEqual(readdirSync(join(full, 'syn')).sort(), ['test.txt', 'train.txt'], 'no staging directory or temporary file left');
  for (const f of ['train.txt', 'test.txt']) assert.equal(readFileSync(join(full, 'syn', f), 'utf8'), PREVIOUS, `${f}: the old set is whole`);
});

test('full disk: predict to a standard output redirected onto the full disk: one line, exit 1', { skip: skip ?? false }, async () => {
  reset();
  leaveFree(8 * 1024);
  const fd = openSync(join(full, 'stdout.jsonl'), 'w');
  const r = await new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, [BIN, 'predict', '--model', model, '--input', data.test, '--k', '40'], { stdio: ['ignore', fd, 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (d) => (stderr += d));
    child.on('close', (code, signal) => resolve({ code, signal, stderr }));
  });
  closeSync(fd);
  assertCleanFailure({ ...r, stdout: '' }, /^sublinear: cannot write the standard output \(ENOSPC: no space left on device, write\); the output is incomplete$/);
});

test('a read-only file system: refused before any work, naming the directory', { skip: skip ?? false }, async () => {
  const r = await cli(['train', '--train', data.train, ...QUICK_TRAIN, '--epochs', '0.5', '--save', join(ro, 'm.st')]);
  assertCleanFailure(r, /^sublinear: --save \S*ro\/m\.st: the directory \S*ro is on a read-only file system$/);
  assert.doesNotMatch(r.stdout, /trained/);
  assertCleanFailure(await cli(['data', 'synth', '--shape', 'tiny', '--out', join(ro, 'syn')]), /^sublinear: --out \S*ro\/syn: the directory \S*ro is on a read-only file system$/);
  assert.deepEqual(readdirSync(ro), []);
});
