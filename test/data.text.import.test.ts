import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { importTextFiles, type ImportTextOptions } from '../src/data/text/importText.js';
import { isTestKey, murmur3String } from '../src/data/text/split.js';
import { featurizeText } from '../src/data/text/tfidf.js';
import { readXcFile } from '../src/data/xcReader.js';
import { InputError, ConfigError } from '../src/util/errors.js';
import { makeTaggedDocs } from './fixtures/makeTaggedDocs.js';
import { oracleImport, assertMatchesOracle, repoRoot, readLines, type OracleRow } from './data.text.helpers.js';

const root = repoRoot();
const fixture = join(root, 'test/fixtures/tagged-docs.jsonl');
const work = mkdtempSync(join(tmpdir(), 'text-import-'));
test.after(() => rmSync(work, { recursive: true, force: true }));
let nDir = 0;
const newDir = (): string => join(work, `out${nDir++}`);

type Opts = Partial<Omit<ImportTextOptions, 'fields'>> & { fields?: Partial<ImportTextOptions['fields']> };
function run(input: string, o: Opts = {}): ReturnType<typeof importTextFiles> {
  return importTextFiles({
    input,
    out: o.out ?? newDir(),
    skipBad: o.skipBad ?? false,
    options: o.options ?? {},
    test: o.test,
    format: o.format,
    fields: { text: ['text'], labels: 'tags', labelSep: ',', ...o.fields },
  });
}

function fixtureRows(): OracleRow[] {
  return readLines(fixture).map((l) => {
    const o = JSON.parse(l) as { id: string; text: string; tags: string[] };
    return { text: o.text, labels: o.tags, key: o.id };
  });
}

function write(name: string, content: string): string {
  const p = join(work, name);
  writeFileSync(p, content);
  return p;
}

function sha(dir: string, f: string): string {
  return createHash('sha256').update(readFileSync(join(dir, f))).digest('hex');
}

const OUTPUTS = ['features.txt', 'idf.txt', 'labels.txt', 'meta.json', 'test.txt', 'train.txt'];

test('the committed fixture is what its generator writes', () => {
  assert.equal(readFileSync(fixture, 'utf8'), makeTaggedDocs());
});

test('round trip: the fixture imports to exactly what the documented rules compute from scratch, under either weighting', async () => {
  const values: number[][] = [];
  for (const weighting of [undefined, 'tfidf'] as const) {
    const out = newDir();
    const r = await run(fixture, { out, fields: { id: 'id' }, options: { weighting } });
    const exp = oracleImport(fixtureRows(), { testFraction: 0.2, weighting });
    await assertMatchesOracle(out, exp, assert);
    assert.equal(r.stats.nTrain, exp.train.length);
    assert.equal(r.rows, 400);
    assert.deepEqual(readdirSync(out).sort(), OUTPUTS, 'the six outputs, no temporary file left');
    const meta = JSON.parse(readFileSync(join(out, 'meta.json'), 'utf8')) as { options: { weighting: string }; idf: string };
    assert.equal(meta.options.weighting, weighting ?? 'logtf');
    assert.match(meta.idf, weighting === 'tfidf' ? /^ln\(\(1 \+ N\)/ : /^1 for every feature/);
    // a query is featurized exactly as its training row was (predict / serve use featurizeText)
    const vocab = new Map(exp.features.map((t, i) => [t, i]));
    const idf = Float32Array.from(readLines(join(out, 'idf.txt')).map(Number));
    const train = await readXcFile(join(out, 'train.txt'));
    const rows = fixtureRows().filter((row) => !isTestKey(row.key, 0.2));
    for (let r0 = 0; r0 < 20; r0++) {
      const f = featurizeText(rows[r0]!.text, vocab, idf);
      assert.deepEqual(f.idx, train.featIdx.slice(train.featPtr[r0]!, train.featPtr[r0 + 1]!));
      assert.deepEqual(f.val, train.featVal.slice(train.featPtr[r0]!, train.featPtr[r0 + 1]!));
    }
    values.push(Array.from(train.featVal));
  }
  assert.notDeepEqual(values[0], values[1], 'idf changes the values');
});

test('two runs write byte-identical files', async () => {
  const a = newDir();
  const b = newDir();
  await run(fixture, { out: a, fields: { id: 'id' }, options: { minDf: 2 } });
  await run(fixture, { out: b, fields: { id: 'id' }, options: { minDf: 2 } });
  for (const f of OUTPUTS) assert.equal(sha(a, f), sha(b, f), f);
});

test('--min-df, --max-features and --min-label-count follow the documented rules', async () => {
  for (const options of [{ minDf: 3 }, { maxFeatures: 50 }, { minLabelCount: 20 }, { minDf: 2, maxFeatures: 120, minLabelCount: 5, testFraction: 0.3, weighting: 'tfidf' as const }]) {
    const out = newDir();
    const r = await run(fixture, { out, fields: { id: 'id' }, options });
    const exp = oracleImport(fixtureRows(), { testFraction: 0.2, ...options });
    await assertMatchesOracle(out, exp, assert);
    if (options.maxFeatures) assert.equal(r.stats.nFeatures, options.maxFeatures);
    const meta = JSON.parse(readFileSync(join(out, 'meta.json'), 'utf8')) as { options: Record<string, unknown> };
    for (const [k, v] of Object.entries(options)) assert.equal(meta.options[k], v);
  }
});

test('the split is murmur3 of the key: the share is near the fraction, and shuffling the rows moves no row across', async () => {
  assert.equal(murmur3String(''), 0);
  assert.equal(murmur3String('hello'), 0x248bfa47); // published test vectors of MurmurHash3_x86_32, seed 0
  assert.equal(murmur3String('The quick brown fox jumps over the lazy dog'), 0x2e4ff723);
  let inTest = 0;
  for (let i = 0; i < 20_000; i++) if (isTestKey(`row-${i}`, 0.3)) inTest++;
  assert.ok(Math.abs(inTest / 20_000 - 0.3) < 0.01, `${inTest}`);
  // the same rows in reverse order: the same training and test rows (as sets), so the same vocabulary
  const lines = readLines(fixture);
  const reversed = write('reversed.jsonl', [...lines].reverse().join('\n') + '\n');
  const a = newDir();
  const b = newDir();
  await run(fixture, { out: a, fields: { id: 'id' } });
  await run(reversed, { out: b, fields: { id: 'id' } });
  for (const f of ['features.txt', 'labels.txt', 'idf.txt']) assert.equal(sha(a, f), sha(b, f), f);
  const rowSet = (d: Awaited<ReturnType<typeof readXcFile>>): string[] => {
    const out: string[] = [];
    for (let r = 0; r < d.n; r++) out.push(Array.from(d.featIdx.subarray(d.featPtr[r]!, d.featPtr[r + 1]!)).join(' ') + '|' + Array.from(d.labelIdx.subarray(d.labelPtr[r]!, d.labelPtr[r + 1]!)).join(','));
    return out.sort();
  };
  assert.deepEqual(rowSet(await readXcFile(join(a, 'test.txt'))), rowSet(await readXcFile(join(b, 'test.txt'))));
  // without --id the key is the text and the labels
  const c = newDir();
  await run(fixture, { out: c });
  const keyed = fixtureRows().map((row) => ({ ...row, key: row.text + '\n' + row.labels.join('\n') }));
  await assertMatchesOracle(c, oracleImport(keyed, { testFraction: 0.2 }), assert);
});

const CSV_ROWS: { id: string; text: string; tags: string[] }[] = [
  { id: 'a1', text: 'Bread, butter and "good" flour', tags: ['cooking', 'baking'] },
  { id: 'a2', text: 'A loaf\nof rye bread\r\nbaked slowly', tags: ['baking'] },
  { id: 'a3', text: 'Tomato sauce, pasta, basil', tags: ['cooking', 'pasta'] },
  { id: 'a4', text: 'Crème brûlée, café au lait', tags: ['dessert', 'cooking'] },
  { id: 'a5', text: 'Telescope mirrors and lenses', tags: ['astronomy'] },
  { id: 'a6', text: 'Saturn, its rings, its moons', tags: ['astronomy', 'planets'] },
  { id: 'a7', text: 'Rings of Saturn through a telescope', tags: ['astronomy', 'planets'] },
  { id: 'a8', text: 'Yeast dough rises; bake the bread', tags: ['baking', 'cooking'] },
];

function csvCell(s: string): string {
  return /[",\n\r]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

test('JSONL, CSV (quoted fields, embedded line breaks, commas, doubled quotes) and TSV of the same rows import to the same bytes', async () => {
  const jsonl = write('same.jsonl', CSV_ROWS.map((r) => JSON.stringify(r)).join('\n') + '\n');
  // CRLF line ends after a header ending in LF (files put together from two sources)
  const csv = write('same.csv', 'id,text,tags\n' + CSV_ROWS.map((r) => [r.id, csvCell(r.text), csvCell(r.tags.join(','))].join(',')).join('\r\n') + '\r\n');
  // TSV cells: a JSON array of labels; the text with line breaks quoted
  const tsv = write('same.tsv', 'tags\tid\ttext\n' + CSV_ROWS.map((r) => [JSON.stringify(r.tags).replaceAll('"', '""').replace(/^|$/g, '"'), r.id, /[\n\r"]/.test(r.text) ? `"${r.text.replaceAll('"', '""')}"` : r.text].join('\t')).join('\n'));
  const dirs = [];
  for (const f of [jsonl, csv, tsv]) {
    const out = newDir();
    dirs.push(out);
    await run(f, { out, fields: { id: 'id' }, options: { testFraction: 0.3 } });
  }
  const exp = oracleImport(
    CSV_ROWS.map((r) => ({ text: r.text, labels: r.tags, key: r.id })),
    { testFraction: 0.3 },
  );
  await assertMatchesOracle(dirs[0]!, exp, assert);
  for (const d of dirs.slice(1)) for (const f of ['features.txt', 'idf.txt', 'labels.txt', 'test.txt', 'train.txt']) assert.equal(sha(d, f), sha(dirs[0]!, f), `${d} ${f}`);
  assert.ok(exp.train.length >= 4 && exp.test.length >= 1, 'both splits have points');
});

test('labels: JSON arrays, JSON-array strings, --label-sep strings; trimmed, empty parts skipped, repeats counted once', async () => {
  const rows = [
    { text: 'alpha beta gamma', tags: [' x ', 'y', 'x'] },
    { text: 'beta gamma delta', tags: '["y", "z"]' },
    { text: 'gamma delta alpha', tags: 'x | z ||' },
    { text: 'delta alpha beta', tags: 'z' },
    { text: 'alpha gamma epsilon', tags: '' }, // no labels: dropped, counted
  ];
  const f = write('labels.jsonl', rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
  const out = newDir();
  const test2 = write('labels-test.jsonl', JSON.stringify({ text: 'alpha beta', tags: ['x', 'unseen'] }) + '\n');
  const r = await run(f, { out, test: test2, fields: { labelSep: '|' } });
  assert.deepEqual(readLines(join(out, 'labels.txt')), ['z', 'x', 'y']); // z on 3 points, x and y on 2 (then by string)
  assert.equal(r.stats.dropped.noLabels, 1);
  assert.equal(r.stats.dropped.testLabelOccurrences, 1); // "unseen"
  const train = await readXcFile(join(out, 'train.txt'));
  const labelsOf = (d: typeof train, i: number): string[] => Array.from(d.labelIdx.subarray(d.labelPtr[i]!, d.labelPtr[i + 1]!)).map((l) => ['z', 'x', 'y'][l]!);
  assert.deepEqual([0, 1, 2, 3].map((i) => labelsOf(train, i).sort()), [['x', 'y'], ['y', 'z'], ['x', 'z'], ['z']]);
});

const GOOD = (i: number): string => JSON.stringify({ text: `row ${i} about bread and flour number${i % 3}`, tags: ['baking', i % 2 ? 'odd' : 'even'] });

test('bad rows stop the import with file:line: expected ..., found ...; nothing is written', async () => {
  const cases: [string, RegExp][] = [
    ['{"text": "bread", "tags": ["a"]', /:3: expected a JSON object, found invalid JSON/],
    ['["bread", "a"]', /:3: expected a JSON object, found an array/],
    ['{"body": "bread", "tags": ["a"]}', /:3: expected a field "text", found only "body", "tags"/],
    ['{"text": 42, "tags": ["a"]}', /:3: expected field "text" to be a string, found a number \("42"\)/],
    ['{"text": "bread", "tags": ["a", 7]}', /:3: expected labels that are strings, found a number \("7"\) at index 1/],
    ['{"text": "bread", "tags": ["a", " "]}', /:3: expected non-empty labels, found an empty label at index 1/],
    ['{"text": "bread", "tags": {"a": 1}}', /:3: expected field "tags" to be an array of labels or a string, found an object/],
    ['{"text": "bread", "tags": "[\\"a\\""}', /:3: expected field "tags" to be a JSON array of labels \(it starts with "\["\), found invalid JSON/],
    ['{"text": "... !!! a I of the", "tags": ["a"]}', /:3: expected a text with a word \(2\+ letters or digits, not a stopword\), found "... !!! a I of the"/],
  ];
  for (const [line, re] of cases) {
    const f = write('bad.jsonl', [GOOD(1), GOOD(2), line, GOOD(4)].join('\n') + '\n');
    const out = newDir();
    await assert.rejects(run(f, { out }), (e: unknown) => {
      assert.ok(e instanceof InputError, String(e));
      assert.match(e.message, re);
      assert.ok(e.message.startsWith(f + ':3: '), e.message);
      return true;
    });
    assert.deepEqual(existsSync(out) ? readdirSync(out) : [], [], `no output and no spool left for ${line}`);
  }
});

test('--skip-bad skips bad rows and counts them by reason in meta.json', async () => {
  const lines = [];
  for (let i = 0; i < 60; i++) lines.push(GOOD(i));
  lines.splice(5, 0, '{oops');
  lines.splice(9, 0, '{"text": 1, "tags": ["a"]}', '{"text": "x", "tags": ["a"]}', '{"tags": ["a"]}', '{"text": "fine words", "tags": [null]}', '7', '');
  const f = write('skip.jsonl', lines.join('\n') + '\n');
  const out = newDir();
  const r = await run(f, { out, skipBad: true });
  const meta = JSON.parse(readFileSync(join(out, 'meta.json'), 'utf8')) as { badRows: Record<string, number>; badExamples: string[]; inputs: { rows: number; badRows: number }[] };
  assert.deepEqual(meta.badRows, { 'invalid-json': 1, 'wrong-type': 1, 'empty-text': 1, 'missing-field': 1, 'bad-label': 1, 'not-an-object': 1 });
  assert.deepEqual(r.bad, meta.badRows);
  assert.equal(meta.inputs[0]!.badRows, 6);
  assert.equal(meta.inputs[0]!.rows, 66, 'the blank line is not a row');
  assert.equal(r.stats.nTrain + r.stats.nTest, 60);
  assert.match(meta.badExamples[0]!, /skip\.jsonl:6: expected a JSON object, found invalid JSON/);
  assert.match(meta.badExamples[1]!, /skip\.jsonl:10: /);
});

test('CSV: a record with the wrong number of fields gives file:line (its first line); --skip-bad counts it and reads on; a missing column is named', async () => {
  const csv = 'id,text,tags\n1,"bread\nand butter",baking\n2,"a ""stray"" quote" and "another",baking,extra\n3,flour,baking\n';
  const f = write('bad.csv', csv);
  await assert.rejects(run(f), (e: unknown) => e instanceof InputError && /bad\.csv:4: expected well-formed CSV, found Invalid Record Length: columns length is 3, got 4/.test(e.message));
  const more = csv + Array.from({ length: 30 }, (_, i) => `${i + 4},flour and bread ${i},baking`).join('\n') + '\n';
  const r = await run(write('bad-more.csv', more), { skipBad: true });
  assert.deepEqual(r.bad, { 'invalid-csv': 1 });
  assert.equal(r.stats.nTrain + r.stats.nTest, 32, 'every well-formed row after the bad one is read');
  await assert.rejects(run(f, { fields: { labels: 'labels' } }), (e: unknown) => e instanceof ConfigError && /bad\.csv:1: no column "labels" in the header \(columns: "id", "text", "tags"\)/.test(e.message));
  const dup = write('dup.csv', 'text,text,tags\na,b,c\n');
  await assert.rejects(run(dup), (e: unknown) => e instanceof ConfigError && /names the column "text" twice/.test(e.message));
});

test('JSONL: BOM, CRLF line ends, blank lines, multibyte text and a line longer than a read chunk', async () => {
  const long = 'crème brûlée '.repeat(120_000) + 'bread'; // ~1.7 MB: spans reads of 1 MiB, cuts through é
  const rows = [
    { text: 'bread and butter', tags: ['baking'] },
    { text: long, tags: ['dessert', 'baking'] },
    { text: 'flour and yeast for bread', tags: ['baking'] },
    { text: 'crème and sugar', tags: ['dessert'] },
  ];
  const content = '\ufeff' + rows.map((r) => JSON.stringify(r)).join('\r\n\r\n') + '\r\n';
  const f = write('crlf.jsonl', content);
  const out = newDir();
  const keyed = rows.map((r) => ({ text: r.text, labels: r.tags, key: r.text + '\n' + r.tags.join('\n') }));
  const frac = 0.5;
  const exp = oracleImport(keyed, { testFraction: frac });
  if (exp.train.length === 0 || exp.test.length === 0) return assert.fail('choose rows that split both ways');
  const r = await run(f, { out, options: { testFraction: frac } });
  assert.equal(r.rows, 4);
  await assertMatchesOracle(out, exp, assert);
});

test('an empty test split, or --test with --test-fraction, is a configuration error', async () => {
  const f = write('one.jsonl', GOOD(1) + '\n');
  await assert.rejects(run(f, { options: { testFraction: 0.000001 } }), (e: unknown) => e instanceof ConfigError && /test split is empty/.test(e.message));
  await assert.rejects(run(f, { test: f, options: { testFraction: 0.2 } }), (e: unknown) => e instanceof ConfigError && /not both/.test(e.message));
  await assert.rejects(run(join(work, 'missing.jsonl')), (e: unknown) => e instanceof ConfigError && /cannot read/.test(e.message));
  await assert.rejects(run(write('x.txt', '')), (e: unknown) => e instanceof ConfigError && /--format/.test(e.message));
});

test('the CLI: stdin with --format, a summary line, exit 1 and file:line on a bad row, nothing left behind', () => {
  const cli = join(root, 'dist/src/cli/main.js');
  const out = newDir();
  const ok = spawnSync(process.execPath, [cli, 'data', 'text', '--input', '-', '--format', 'jsonl', '--text', 'text', '--labels', 'tags', '--id', 'id', '--out', out], { input: readFileSync(fixture), encoding: 'utf8' });
  assert.equal(ok.status, 0, ok.stderr);
  assert.match(ok.stdout, /\d+ train \/ \d+ test points, \d+ features, \d+ labels; .* 400 rows read \(0 bad, \d+ dropped: see meta.json\), [\d.]+ MB in [\d.]+ s \([\d.]+ MB\/s, \d+ rows\/s\)/);
  const fromFile = newDir();
  spawnSync(process.execPath, [cli, 'data', 'text', '--input', fixture, '--text', 'text', '--labels', 'tags', '--id', 'id', '--out', fromFile, '--quiet'], { encoding: 'utf8' });
  for (const f of ['train.txt', 'test.txt', 'features.txt']) assert.equal(sha(out, f), sha(fromFile, f), f);
  const badOut = newDir();
  const bad = write('cli-bad.jsonl', [GOOD(1), '{"text": 5, "tags": []}'].join('\n') + '\n');
  const r = spawnSync(process.execPath, [cli, 'data', 'text', '--input', bad, '--text', 'text', '--labels', 'tags', '--out', badOut], { encoding: 'utf8' });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /sublinear: .*cli-bad\.jsonl:2: expected field "text" to be a string, found a number/);
  assert.deepEqual(existsSync(badOut) ? readdirSync(badOut) : [], []);
  const flags = spawnSync(process.execPath, [cli, 'data', 'text', '--input', fixture, '--text', 'text', '--labels', 'tags', '--out', badOut, '--min-df', '0'], { encoding: 'utf8' });
  assert.equal(flags.status, 1);
  assert.match(flags.stderr, /--min-df: expected an integer >= 1, found "0"/);
  const weighting = spawnSync(process.execPath, [cli, 'data', 'text', '--input', fixture, '--text', 'text', '--labels', 'tags', '--out', badOut, '--weighting', 'idf'], { encoding: 'utf8' });
  assert.equal(weighting.status, 1);
  assert.match(weighting.stderr, /--weighting <w>' argument 'idf' is invalid\. Allowed choices are logtf, tfidf/);
  assert.deepEqual(existsSync(badOut) ? readdirSync(badOut) : [], []);
});
