import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnSync } from 'node:child_process';

/** The `sublinear` command as a user runs it (the built bin, in a child process). */
const here = dirname(fileURLToPath(import.meta.url));
const root = [here, join(here, '..'), join(here, '../..')].find((d) => existsSync(join(d, 'package.json')) && existsSync(join(d, 'dist/src/cli/main.js')))!;
const bin = join(root, 'dist/src/cli/main.js');
const dir = mkdtempSync(join(tmpdir(), 'sublinear-cli-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

function cli(...args: string[]) {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', timeout: 180_000, env: { ...process.env, CI: 'true' } });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

test('data synth -> train (metrics JSON, checkpoint) -> eval on the saved model', () => {
  const d = join(dir, 'tiny');
  const g = cli('data', 'synth', '--shape', 'tiny', '--seed', '3', '--out', d);
  assert.equal(g.code, 0, g.err);
  assert.match(g.out, /2000 train \/ 500 test points, 1000 features, 200 labels/);
  const metrics = join(dir, 'metrics.json');
  const model = join(dir, 'model.safetensors');
  // 200 labels would be dense by default: LSH asked for, to test both inferences
  const t = cli('train', '--train', join(d, 'train.txt'), '--test', join(d, 'test.txt'), '--threads', '1', '--epochs', '10', '--hidden', '32', '--mode', 'lsh',
    '--metrics-out', metrics, '--save', model);
  assert.equal(t.code, 0, t.err);
  assert.match(t.out, /test exact inference: P@1 [\d.]+/);
  assert.match(t.out, /most-frequent-label baseline: P@1 [\d.]+/);
  // not a TTY: plain progress lines and a per-epoch summary on stderr
  assert.match(t.err, /epoch 10: [\d.]+ s, \d+ samples\/s/);
  const m = JSON.parse(readFileSync(metrics, 'utf8'));
  assert.equal(m.epochs.length, 10);
  assert.ok(m.final.lsh.p1 > m.baselineP1 + 0.2, `LSH P@1 ${m.final.lsh.p1} vs baseline ${m.baselineP1}`);
  assert.equal(m.config.threads, 1);
  const e = cli('eval', '--model', model, '--test', join(d, 'test.txt'), '--inference', 'both');
  assert.equal(e.code, 0, e.err);
  const p1 = Number(/LSH inference: +P@1 ([\d.]+)/.exec(e.out)?.[1]);
  assert.ok(Math.abs(p1 - m.final.lsh.p1) < 1e-9, `eval of the saved model gives the same LSH P@1: ${p1} vs ${m.final.lsh.p1}`);
  // queries of the rule's size (twice the training step's 128: all 200 labels here, less those no table finds), or as many as asked
  const cands = Number(/\(\S+ s, (\d+) candidates\/point\)/.exec(e.out)?.[1]);
  assert.ok(cands > 128 && cands <= 200, e.out);
  const few = cli('eval', '--model', model, '--test', join(d, 'test.txt'), '--inference', 'both', '--candidates', '20');
  assert.equal(few.code, 0, few.err);
  assert.match(few.out, /\(\S+ s, 20 candidates\/point\)/);
  const recall = (out: string): number => Number(/retrieved ([\d.]+)%/.exec(out)?.[1]);
  assert.ok(recall(few.out) < recall(e.out), `20 candidates find less of the exact top 5: ${recall(few.out)}% vs ${recall(e.out)}%`);
  assert.equal(/exact inference: .*\n/.exec(few.out)?.[0].replace(/\(.*\)/, ''), /exact inference: .*\n/.exec(e.out)?.[0].replace(/\(.*\)/, ''), 'the same model');
  const bad = cli('eval', '--model', model, '--test', join(d, 'test.txt'), '--candidates', '0');
  assert.equal(bad.code, 1);
  assert.match(bad.err, /^sublinear: --candidates: expected an integer in 1\.\.100000000, found "0"/);
});

test('bad input: file:line message, exit code 1, no metrics file written', () => {
  const bad = join(dir, 'bad.txt');
  writeFileSync(bad, '2 10 5\n1,2 3:0.5 4:1\n0 3:1 3:2\n');
  const metrics = join(dir, 'never.json');
  const r = cli('train', '--train', bad, '--metrics-out', metrics);
  assert.equal(r.code, 1);
  assert.match(r.err, /bad\.txt:3: expected distinct feature indices on a line, found duplicate feature 3/);
  assert.equal(existsSync(metrics), false);
  const c = join(dir, 'c.json');
  writeFileSync(c, JSON.stringify({ output: { hash: { K: 0 } }, typo: 1 }));
  const rc = cli('train', '--train', bad, '--config', c);
  assert.equal(rc.code, 1);
  assert.match(rc.err, /c\.json: field "output\.hash\.K"/);
  assert.match(rc.err, /unknown field "typo"/);
  const h = cli('train', '--help');
  assert.equal(h.code, 0);
  assert.match(h.out, /--threads <n>/);
});

test('train --explain-config prints each setting the data decides and why, given ones marked, and trains nothing', () => {
  const d = join(dir, 'explain');
  assert.equal(cli('data', 'synth', '--shape', 'tiny', '--seed', '4', '--out', d).code, 0);
  const metrics = join(dir, 'explain.json');
  const r = cli('train', '--train', join(d, 'train.txt'), '--test', join(d, 'test.txt'), '--explain-config', '--epochs', '7', '--metrics-out', metrics);
  assert.equal(r.code, 0, r.err);
  const lines = r.out.trim().split('\n');
  assert.ok(lines.every((l) => /^[\w.]+ = \S+  \(.+\)$/.test(l)), r.out);
  // 200 labels: above DENSE_MAX_LABELS, so tables and 128 candidates, 512 wide, and the given epochs
  assert.ok(lines.includes('output.mode = "lsh"  (200 labels: compute only the candidates the hash tables find)'), r.out);
  assert.ok(lines.some((l) => l.startsWith('output.activeSet.maxActive = 128  ')), r.out);
  assert.ok(lines.includes('hidden = [512]  (128 output neurons a sample: 512 wide keeps their multiply-adds near WordNet\'s 600 x 256 (a power of two, 128 to 512))'), r.out);
  assert.ok(lines.includes('epochs = 7  (given)'), r.out);
  assert.equal(existsSync(metrics), false, 'nothing trained, nothing written');
  // a training run prints the same settings on stderr before it starts
  const t = cli('train', '--train', join(d, 'train.txt'), '--epochs', '1', '--threads', '1');
  assert.equal(t.code, 0, t.err);
  assert.match(t.err, /settings for 2000 points, 1000 features, 200 labels:\n  threads = 1  \(given\)\n/);
  for (const l of lines.filter((x) => !x.startsWith('threads') && !x.startsWith('epochs'))) assert.ok(t.err.includes(`  ${l}\n`), l);
});
