/**
 * The page served at GET /: one self-contained HTML document (inline style and script, no
 * external assets) where a person types a description and sees the predicted labels. It asks
 * GET /health what the model accepts: text when the checkpoint has a vocabulary, otherwise
 * "id:value" pairs. The Content-Security-Policy allows exactly these inline blocks (by hash) and
 * requests to this origin.
 */
import { createHash } from 'node:crypto';

const STYLE = `
:root { color-scheme: light dark; --accent: #2f6fdf; --muted: #7a7a7a; }
* { box-sizing: border-box; }
body { font: 16px/1.45 system-ui, sans-serif; max-width: 46rem; margin: 2rem auto; padding: 0 1rem; }
h1 { font-size: 1.4rem; margin: 0 0 .2rem; }
#info { color: var(--muted); font-size: .9rem; margin-bottom: 1.2rem; }
form { display: flex; flex-wrap: wrap; gap: .5rem; align-items: center; }
#q { flex: 1 1 100%; font: inherit; padding: .55rem .7rem; border: 1px solid #999; border-radius: .4rem; }
label { font-size: .9rem; }
button { font: inherit; padding: .4rem 1rem; border-radius: .4rem; border: 0; background: var(--accent); color: #fff; cursor: pointer; }
#status { min-height: 1.4rem; font-size: .9rem; color: var(--muted); margin: .8rem 0 .3rem; }
#status.error { color: #c0392b; }
ol { padding: 0; list-style: none; margin: 0; }
li { display: grid; grid-template-columns: 1fr 8rem 4.5rem; gap: .6rem; align-items: center; padding: .3rem 0; border-bottom: 1px solid #8883; }
.name { overflow-wrap: anywhere; }
.id { color: var(--muted); font-size: .8rem; margin-left: .4rem; }
.bar { height: .5rem; background: var(--accent); border-radius: .25rem; }
.score { text-align: right; font-variant-numeric: tabular-nums; }
.words { font-size: .85rem; color: var(--muted); }
`;

const SCRIPT = `
'use strict';
const $ = (id) => document.getElementById(id);
let textMode = true;
let seq = 0;
let timer = 0;
function setStatus(msg, isError) {
  $('status').textContent = msg;
  $('status').className = isError ? 'error' : '';
}
function parsePairs(s) {
  const features = {};
  for (const tok of s.trim().split(/\\s+/)) {
    if (!tok) continue;
    const m = /^(\\d+):(\\S+)$/.exec(tok);
    if (!m) throw new Error('write features as id:value pairs, e.g. 12:0.5 40:1 (found "' + tok.slice(0, 20) + '")');
    features[m[1]] = Number(m[2]);
  }
  return features;
}
function render(res) {
  const ol = $('labels');
  ol.replaceChildren();
  const top = res.labels.length ? res.labels[0].score : 1;
  for (const l of res.labels) {
    const li = document.createElement('li');
    const name = document.createElement('span');
    name.className = 'name';
    name.textContent = l.name !== undefined ? l.name : 'label ' + l.id;
    const id = document.createElement('span');
    id.className = 'id';
    id.textContent = '#' + l.id;
    name.append(id);
    const bar = document.createElement('div');
    bar.className = 'bar';
    bar.style.width = Math.max(2, Math.round(100 * l.score / (top || 1))) + '%';
    const score = document.createElement('span');
    score.className = 'score';
    score.textContent = l.score.toFixed(4);
    li.append(name, bar, score);
    ol.append(li);
  }
  const words = res.tokens ? ('words used: ' + (res.tokens.known.join(', ') || 'none') + (res.tokens.unknown.length ? ' \\u2014 not in the vocabulary: ' + res.tokens.unknown.join(', ') : '')) : '';
  $('words').textContent = words;
  setStatus(res.labels.length + ' labels, ' + res.inference + ' inference, ' + res.candidates + ' output neurons scored, ' + res.ms.toFixed(1) + ' ms');
}
async function predict() {
  const q = $('q').value;
  if (!q.trim()) { setStatus(textMode ? 'type a description' : 'type id:value pairs'); $('labels').replaceChildren(); $('words').textContent = ''; return; }
  const body = { k: Number($('k').value), exact: $('exact').checked };
  try {
    if (textMode) body.text = q; else body.features = parsePairs(q);
  } catch (e) { setStatus(e.message, true); return; }
  const my = ++seq;
  const t0 = performance.now();
  setStatus('\\u2026');
  try {
    const r = await fetch('predict', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const res = await r.json();
    if (my !== seq) return;
    if (!r.ok) { $('labels').replaceChildren(); $('words').textContent = ''; setStatus(res.error || ('HTTP ' + r.status), true); return; }
    res.ms = performance.now() - t0;
    render(res);
  } catch (e) {
    if (my === seq) setStatus('request failed: ' + e.message, true);
  }
}
$('form').addEventListener('submit', (e) => { e.preventDefault(); clearTimeout(timer); predict(); });
$('q').addEventListener('input', () => { clearTimeout(timer); timer = setTimeout(predict, 250); });
$('k').addEventListener('change', predict);
$('exact').addEventListener('change', predict);
fetch('health').then((r) => r.json()).then((h) => {
  textMode = h.vocabulary;
  $('info').textContent = h.features + ' features \\u2192 ' + h.hidden.join(' \\u2192 ') + ' \\u2192 ' + h.labels + ' labels; ' +
    (h.lsh ? 'LSH output layer' : 'dense output layer') + (h.vocabulary ? '' : '; no vocabulary: enter id:value pairs');
  $('q').placeholder = textMode ? 'describe something, e.g. a large cat with a mane' : 'feature id:value pairs, e.g. 12:0.5 40:1';
  $('exact').disabled = !h.lsh;
  $('q').disabled = false;
  $('q').focus();
  if ($('q').value) predict();
}).catch((e) => setStatus('cannot reach the service: ' + e.message, true));
`;

function sha256b64(s: string): string {
  return createHash('sha256').update(s, 'utf8').digest('base64');
}

export const PAGE_CSP = [
  "default-src 'none'",
  `script-src 'sha256-${sha256b64(SCRIPT)}'`,
  `style-src 'sha256-${sha256b64(STYLE)}'`,
  "connect-src 'self'",
  "img-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

export const PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>sublinear: predict labels</title>
<style>${STYLE}</style>
</head>
<body>
<h1>sublinear</h1>
<div id="info">loading the model description&hellip;</div>
<form id="form" autocomplete="off">
  <input id="q" name="q" type="text" disabled aria-label="query">
  <label>top <select id="k"><option>3</option><option selected>5</option><option>10</option><option>20</option></select></label>
  <label><input id="exact" type="checkbox"> exact (score every label)</label>
  <button type="submit">Predict</button>
</form>
<div id="status" role="status"></div>
<ol id="labels"></ol>
<p id="words" class="words"></p>
<script>${SCRIPT}</script>
</body>
</html>
`;
