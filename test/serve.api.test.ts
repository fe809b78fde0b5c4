import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadModel, saveModel } from '../src/checkpoint/checkpoint.js';
import { Predictor } from '../src/serve/predictor.js';
import { buildServer, startServer } from '../src/serve/server.js';
import { saveTextModel, tinyData, tinyModel } from './checkpoint.helpers.js';

/** The HTTP service on 127.0.0.1 (port 0): answers, validation (each bad case -> 4xx), a burst. */
const dir = mkdtempSync(join(tmpdir(), 'serve-api-'));
const file = join(dir, 'text.safetensors');
const task = await saveTextModel(file);
const predictor = new Predictor(await loadModel(file));
const app = buildServer(predictor, { modelName: 'text.safetensors' });
const base = await startServer(app, '127.0.0.1', 0);
test.after(async () => {
  await app.close();
  rmSync(dir, { recursive: true, force: true });
});

async function post(body: unknown, init: RequestInit = {}): Promise<{ status: number; json: any }> {
  const r = await fetch(base + 'predict', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
    ...init,
  });
  const text = await r.text();
  let json: unknown = null;
  try {
    json = JSON.parse(text);
  } catch {
    json = { raw: text };
  }
  return { status: r.status, json };
}

test('GET /health describes the model', async () => {
  const r = await fetch(base + 'health');
  assert.equal(r.status, 200);
  const h = await r.json();
  assert.equal(h.status, 'ok');
  assert.equal(h.features, task.featureNames.length);
  assert.equal(h.labels, task.labelNames.length);
  assert.deepEqual(h.hidden, [24]);
  assert.equal(h.vocabulary, true);
  assert.equal(h.lsh, true);
  assert.equal(h.model, 'text.safetensors');
});

test('GET / is a self-contained HTML page', async () => {
  const r = await fetch(base);
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type')!, /^text\/html/);
  assert.match(r.headers.get('content-security-policy')!, /default-src 'none'; script-src 'sha256-/);
  const html = await r.text();
  assert.match(html, /<script>/);
  assert.doesNotMatch(html, /(src|href)\s*=\s*["']?(https?:)?\/\//i, 'no external assets');
});

test('POST /predict with text answers named labels (LSH and exact)', async () => {
  const r = await post({ text: 'a large cat with a mane', k: 3 });
  assert.equal(r.status, 200, JSON.stringify(r.json));
  assert.equal(r.json.inference, 'lsh');
  assert.equal(r.json.labels.length, 3);
  assert.deepEqual(new Set(r.json.labels.map((l: { name: string }) => l.name)), new Set(['big_cat', 'mammal', 'animal']));
  for (const l of r.json.labels) assert.ok(Number.isInteger(l.id) && l.score > 0 && l.score <= 1 && typeof l.name === 'string');
  assert.deepEqual(r.json.tokens, { known: ['large', 'cat', 'mane'], unknown: [] });
  const e = await post({ text: 'a large cat with a mane', k: 12, exact: true });
  assert.equal(e.status, 200);
  assert.equal(e.json.inference, 'exact');
  assert.equal(e.json.candidates, task.labelNames.length);
  assert.equal(e.json.labels.length, 12);
  const sum = e.json.labels.reduce((a: number, l: { score: number }) => a + l.score, 0);
  assert.ok(Math.abs(sum - 1) < 1e-5, `exact scores are a softmax over all labels: sum ${sum}`);
  // the same request gives the same answer (nothing carries over between requests)
  assert.deepEqual((await post({ text: 'a large cat with a mane', k: 3 })).json, r.json);
});

test('POST /predict with features equals the library', async () => {
  const f = predictor.featurize('hammer nail metal');
  const features: Record<string, number> = {};
  f.idx.forEach((id, i) => (features[String(id)] = f.val[i]!));
  const r = await post({ features, k: 2 });
  assert.equal(r.status, 200);
  assert.deepEqual(r.json.labels, predictor.predict(f.idx, f.val, 2, false).labels);
  assert.deepEqual(r.json.labels.map((l: { name: string }) => l.name).sort(), ['artifact', 'tool']);
  assert.equal((await post({ features, exact: true })).json.labels.length, 5, 'k defaults to 5');
  // LSH inference ranks only the neurons the tables return: here fewer than 5 may come back
  assert.ok((await post({ features })).json.labels.length <= 5);
});

const BAD: [string, () => Promise<{ status: number; json: any }>, number, RegExp][] = [
  ['malformed JSON', () => post('{"text": "a cat"'), 400, /JSON/i],
  ['not JSON at all', () => post('hello'), 400, /JSON/i],
  ['empty body', () => post(''), 400, /empty/i],
  ['wrong content type', () => post('text=cat', { headers: { 'content-type': 'application/x-www-form-urlencoded' } }), 415, /unsupported media type|content-type/i],
  ['a JSON array', () => post([1, 2]), 400, /object/],
  ['JSON null', () => post('null'), 400, /./],
  ['k as a string', () => post({ text: 'cat', k: '5' }), 400, /body\.k must be integer/],
  ['k = 0', () => post({ text: 'cat', k: 0 }), 400, /body\.k must be >= 1/],
  ['k = 101', () => post({ text: 'cat', k: 101 }), 400, /body\.k must be <= 100/],
  ['k = 2.5', () => post({ text: 'cat', k: 2.5 }), 400, /body\.k must be integer/],
  ['exact not a boolean', () => post({ text: 'cat', exact: 'yes' }), 400, /body\.exact must be boolean/],
  ['unknown field', () => post({ text: 'cat', q: 1 }), 400, /unknown field "q"/],
  ['neither features nor text', () => post({ k: 3 }), 400, /send "features"/],
  ['both features and text', () => post({ text: 'cat', features: { '1': 1 } }), 400, /either "features" or "text"/],
  ['unknown feature id', () => post({ features: { '99999': 1 } }), 400, /unknown feature id 99999/],
  ['non-numeric feature id', () => post({ features: { abc: 1 } }), 400, /feature ids must be non-negative integers/],
  ['negative feature id', () => post({ features: { '-1': 1 } }), 400, /feature ids must be non-negative integers/],
  ['feature value a string', () => post({ features: { '1': 'x' } }), 400, /value of feature 1 must be a finite number, found "x"/],
  ['feature value null', () => post({ features: { '1': null } }), 400, /value of feature 1 must be a finite number, found null/],
  ['feature value infinite', () => post('{"features": {"1": 1e999}}'), 400, /value of feature 1 must be a finite number, found Infinity/],
  ['feature value overflows float32', () => post({ features: { '1': 1e300 } }), 400, /overflows 32-bit/],
  ['features empty', () => post({ features: {} }), 400, /features is empty/],
  ['features an array', () => post({ features: [1, 2] }), 400, /body\.features must be object/],
  ['__proto__ key', () => post('{"features": {"__proto__": {"x": 1}}}'), 400, /./],
  ['empty text', () => post({ text: '' }), 400, /text is empty/],
  ['blank text', () => post({ text: '   \n ' }), 400, /text is empty/],
  ['text of unknown words', () => post({ text: 'zebra quantum xylophone' }), 422, /none of the words .* vocabulary \(zebra, quantum, xylophone\)/],
  ['text too long', () => post({ text: 'cat '.repeat(3000) }), 400, /must NOT have more than 10000 characters/],
  ['body over 64 KiB', () => post({ text: 'cat', pad: 'x'.repeat(70_000) }), 413, /too large/i],
  ['GET /predict', async () => { const r = await fetch(base + 'predict'); return { status: r.status, json: await r.json() }; }, 404, /no route GET \/predict/],
];

for (const [name, run, status, re] of BAD) {
  test(`rejects: ${name} -> ${status}`, async () => {
    const r = await run();
    assert.equal(r.status, status, JSON.stringify(r.json));
    assert.equal(typeof r.json.error, 'string', JSON.stringify(r.json));
    assert.match(r.json.error, re);
  });
}

test('a model without vocabulary or label names: features only, ids without names', async () => {
  const data = tinyData();
  const m = tinyModel(data);
  await m.fit(data.train, { epochs: 0.2 });
  const f2 = join(dir, 'plain.safetensors');
  await saveModel(m, f2);
  const app2 = buildServer(new Predictor(await loadModel(f2)));
  try {
    const t = await app2.inject({ method: 'POST', url: '/predict', payload: { text: 'a cat' } });
    assert.equal(t.statusCode, 400);
    assert.match(t.json().error, /no vocabulary/);
    const r = await app2.inject({ method: 'POST', url: '/predict', payload: { features: { '3': 0.5, '17': 1 }, k: 4 } });
    assert.equal(r.statusCode, 200);
    assert.equal(r.json().labels.length, 4);
    for (const l of r.json().labels) assert.deepEqual(Object.keys(l), ['id', 'score']);
    assert.equal((await app2.inject({ url: '/health' })).json().vocabulary, false);
  } finally {
    await app2.close();
  }
});

test('survives a burst of 200 concurrent requests with bad ones mixed in', async () => {
  const queries = ['a large cat with a mane', 'wings and a beak', 'a ripe sweet apple', 'engine and wheels', 'swim with fins'];
  const expected = new Map<string, unknown>();
  for (const q of queries) for (const exact of [false, true]) expected.set(`${q}|${exact}`, (await post({ text: q, k: 3, exact })).json);
  const jobs: Promise<void>[] = [];
  let good = 0;
  let bad = 0;
  for (let i = 0; i < 200; i++) {
    if (i % 4 === 3) {
      const [, run, status] = BAD[(i * 7) % (BAD.length - 1)]!; // not the GET case
      jobs.push(run().then((r) => {
        assert.equal(r.status, status);
        bad++;
      }));
    } else {
      const q = queries[i % queries.length]!;
      const exact = i % 2 === 0;
      jobs.push(post({ text: q, k: 3, exact }).then((r) => {
        assert.equal(r.status, 200);
        assert.deepEqual(r.json, expected.get(`${q}|${exact}`), 'same answer as alone');
        good++;
      }));
    }
  }
  await Promise.all(jobs);
  assert.equal(good, 150);
  assert.equal(bad, 50);
  const h = await fetch(base + 'health');
  assert.equal(h.status, 200);
});
