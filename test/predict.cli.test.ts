import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadModel, saveModel } from '../src/checkpoint/checkpoint.js';
import { writeXcFile } from '../src/data/xcWriter.js';
import type { SlideModel } from '../src/training/model.js';
import { runCli as run, saveTextModel, tinyData, tinyModel } from './checkpoint.helpers.js';

/**
 * `sublinear predict`: one JSON line per input line, in order; --exact scores equal the softmax
 * computed here from the saved weights with plain float64 loops (the oracle); LSH by default.
 */
const dir = mkdtempSync(join(tmpdir(), 'predict-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

const textFile = join(dir, 'text.safetensors');
const task = await saveTextModel(textFile);

/** Softmax over every output neuron of a model, from its weights: the dense computation. */
function oracle(m: SlideModel, idx: ArrayLike<number>, val: ArrayLike<number>): Float64Array {
  const net = m.network;
  const h0 = net.hidden[0]!;
  let x = new Float64Array(h0);
  for (let j = 0; j < h0; j++) x[j] = net.input.b[j]!;
  for (let i = 0; i < idx.length; i++) for (let j = 0; j < h0; j++) x[j]! += val[i]! * net.input.W[idx[i]! * h0 + j]!;
  x = x.map((v) => Math.max(0, v));
  for (const layer of net.fc) {
    const y = new Float64Array(layer.nOut);
    const p = layer.shards[0]!.p;
    for (let j = 0; j < layer.nOut; j++) {
      let s = p.b[j]!;
      for (let i = 0; i < layer.nIn; i++) s += p.W[j * layer.nIn + i]! * x[i]!;
      y[j] = layer.isOutput ? s : Math.max(0, s);
    }
    x = y;
  }
  const mx = Math.max(...x);
  let z = 0;
  for (const v of x) z += Math.exp(v - mx);
  return x.map((v) => Math.exp(v - mx) / z);
}

function readLines(p: string): any[] {
  return readFileSync(p, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
}

function assertScoresEqualOracle(labels: { id: number; score: number }[], exp: Float64Array, k: number, what: string): void {
  assert.equal(labels.length, k, `${what}: k labels`);
  const order = Array.from(exp.keys()).sort((a, b) => exp[b]! - exp[a]!);
  for (let i = 0; i < k; i++) {
    const l = labels[i]!;
    assert.ok(Math.abs(l.score - exp[l.id]!) <= 1e-5 * Math.max(1e-3, exp[l.id]!) + 1e-7, `${what}: label ${l.id} score ${l.score} vs oracle ${exp[l.id]}`);
    // rank i holds the oracle's i-th score (ties aside)
    assert.ok(Math.abs(exp[l.id]! - exp[order[i]!]!) <= 1e-6, `${what}: rank ${i} is ${l.id}, oracle's is ${order[i]}`);
  }
}

test('--exact: scores equal the dense computation from the weights; names included; text, JSON and XC lines', async () => {
  const input = join(dir, 'in.txt');
  const out = join(dir, 'out.jsonl');
  const queries = ['a large cat with a mane', 'wings, a beak and feathers', 'the truck needs fuel', '{"text": "ripe apple juice"}', '{"features": {"3": 0.5, "10": 0.7}, "k": 2}'];
  writeFileSync(input, queries.join('\n') + '\n');
  const r = await run('predict', '--model', textFile, '--input', input, '--k', '12', '--exact', '--out', out);
  assert.equal(r.code, 0, r.stderr);
  const lines = readLines(out);
  assert.equal(lines.length, queries.length);
  const { model } = await loadModel(textFile);
  const vocab = new Map(task.featureNames.map((w, i) => [w, i]));
  const { featurizeText } = await import('../src/data/text/tfidf.js');
  for (let i = 0; i < 4; i++) {
    const text = i === 3 ? 'ripe apple juice' : queries[i]!;
    const f = featurizeText(text, vocab, task.idf);
    assertScoresEqualOracle(lines[i].labels, oracle(model, f.idx, f.val), 12, `line ${i + 1}`);
    for (const l of lines[i].labels) assert.equal(l.name, task.labelNames[l.id]);
  }
  assert.deepEqual(new Set(lines[0].labels.slice(0, 3).map((l: { name: string }) => l.name)), new Set(['big_cat', 'mammal', 'animal']));
  assertScoresEqualOracle(lines[4].labels, oracle(model, [3, 10], [0.5, 0.7]), 2, 'JSON features line');
});

test('XC input (header skipped), a model without names: ids only, exact equals the oracle on every row; LSH by default', async () => {
  const data = tinyData();
  const m = tinyModel(data);
  await m.fit(data.train, { epochs: 1 });
  const f = join(dir, 'plain.safetensors');
  await saveModel(m, f);
  const test50 = { ...data.test, n: 50, featPtr: data.test.featPtr.subarray(0, 51), labelPtr: data.test.labelPtr.subarray(0, 51) };
  const input = join(dir, 'test.txt');
  await writeXcFile(input, test50);
  const out = join(dir, 'xc.jsonl');
  assert.equal((await run('predict', '--model', f, '--input', input, '--exact', '--out', out)).code, 0);
  const lines = readLines(out);
  assert.equal(lines.length, 50);
  const t = data.test;
  for (let r = 0; r < 50; r++) {
    for (const l of lines[r].labels) assert.deepEqual(Object.keys(l), ['id', 'score']);
    const s = t.featPtr[r]!;
    const e = t.featPtr[r + 1]!;
    assertScoresEqualOracle(lines[r].labels, oracle(m, t.featIdx.subarray(s, e), t.featVal.subarray(s, e)), 5, `row ${r}`);
  }
  const lsh = join(dir, 'lsh.jsonl');
  assert.equal((await run('predict', '--model', f, '--input', input, '--k', '3', '--out', lsh)).code, 0);
  const ll = readLines(lsh);
  assert.equal(ll.length, 50);
  let agree = 0;
  for (let r = 0; r < 50; r++) {
    assert.ok(ll[r].labels.length >= 1 && ll[r].labels.length <= 3);
    if (ll[r].labels[0].id === lines[r].labels[0].id) agree++;
  }
  assert.ok(agree >= 25, `LSH top-1 agrees with exact on ${agree} of 50 rows`);
});

test('--threads: predict and eval give the same answers and metrics on 1 and 2 threads (byte for byte)', async () => {
  const data = tinyData(9, 1200);
  const m = tinyModel(data);
  await m.fit(data.train, { epochs: 1 });
  const f = join(dir, 'threads.safetensors');
  await saveModel(m, f);
  const input = join(dir, 'threads-test.txt');
  await writeXcFile(input, data.test);
  const outs = [];
  for (const threads of ['1', '2']) {
    const o = join(dir, `threads-${threads}.jsonl`);
    assert.equal((await run('predict', '--model', f, '--input', input, '--k', '5', '--threads', threads, '--out', o)).code, 0);
    const mo = join(dir, `threads-${threads}.json`);
    assert.equal((await run('eval', '--model', f, '--test', input, '--threads', threads, '--metrics-out', mo)).code, 0);
    const metrics = JSON.parse(readFileSync(mo, 'utf8'));
    for (const k of ['exact', 'lsh']) metrics[k].seconds = 0;
    outs.push({ predictions: readFileSync(o, 'utf8'), metrics });
  }
  assert.equal(outs[0]!.predictions.split('\n').length, data.test.n + 1);
  assert.equal(outs[1]!.predictions, outs[0]!.predictions);
  assert.deepEqual(outs[1]!.metrics, outs[0]!.metrics);
  assert.equal((await run('eval', '--model', f, '--test', input, '--threads', '0')).code, 1, '--threads 0 is refused');
});

test('bad lines get an {"error"} line in place and exit code 1; bad flags are refused', async () => {
  const input = join(dir, 'bad.txt');
  const out = join(dir, 'bad.jsonl');
  // line 7: 4,200 levels of arrays (8.4 KB), refused by its depth before it is parsed
  const deep = `{"features":{"5":${'['.repeat(4200)}1${']'.repeat(4200)}}}`;
  writeFileSync(input, `a large cat\n\n{"features": {"999": 1}}\nzebra quantum\n1:0.5 2:abc\nhammer\n${deep}\n`);
  const r = await run('predict', '--model', textFile, '--input', input, '--out', out, '--k', '2');
  assert.equal(r.code, 1);
  assert.match(r.stderr, /bad\.txt:2: expected a query on every line, found empty line \(5 of the lines/);
  const lines = readLines(out);
  assert.equal(lines.length, 7);
  assert.ok(lines[0].labels);
  assert.match(lines[1].error, /bad\.txt:2: empty line/);
  assert.match(lines[2].error, /bad\.txt:3: unknown feature id 999/);
  assert.match(lines[3].error, /bad\.txt:4: none of the words .* \(zebra, quantum\)/);
  assert.match(lines[4].error, /bad\.txt:5: the value of feature 2 must be a finite number, found NaN/);
  assert.ok(lines[5].labels);
  assert.match(lines[6].error, /bad\.txt:7: JSON nested more than 8 levels deep/);
  assert.match((await run('predict', '--model', textFile, '--input', input, '--k', '0')).stderr, /--k: expected an integer in 1\.\.100/);
  assert.match((await run('predict', '--model', join(dir, 'none.safetensors'), '--input', input)).stderr, /--model \S*none\.safetensors: no such file/);
});
