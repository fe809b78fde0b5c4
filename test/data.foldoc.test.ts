import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readFoldoc, buildFoldocDataset, FOLDOC_DICT_DIR, FOLDOC_TEST_FRACTION } from '../src/data/foldoc.js';
import { dictdNumber } from '../src/data/dictd.js';
import { ConfigError, InputError } from '../src/util/errors.js';
import { oracleImport, assertMatchesOracle } from './data.text.helpers.js';
import { writeDict as writeDictd } from './dictd.helpers.js';

const work = mkdtempSync(join(tmpdir(), 'foldoc-'));
test.after(() => rmSync(work, { recursive: true, force: true }));

function writeDict(dir: string, entries: { heads: string[]; text: string }[], gzip: boolean): void {
  writeDictd(dir, 'foldoc', entries, gzip);
}

const CORE = [
  { heads: ['00-database-short'], text: '00-database-short\n     The Free On-line Dictionary of Computing (1 January 2000)\n\n' },
  {
    heads: ['abstract data type', 'ADT'],
    text:
      'abstract data type\nADT\n\n   <programming> (ADT) A kind of {data abstraction} where a\n   type\'s form is hidden behind {access\n   functions}; see {ADTs} and {objects}.\n\n   (2003-07-03)\n\n',
  },
  {
    heads: ['access function'],
    text: 'access function\n\n   <programming> A {function} that reads a field of an {abstract data type}, or {ADT}. {More (http://example.org/x.html)}, http://example.org/y.\n\n   (1999-01-01)\n\n',
  },
  {
    heads: ['data abstraction'],
    text: 'data abstraction\n\n   <programming> Hiding the {data} of an {object (objects)} behind {access functions} and {abstract data types}. See {data abstraction}.\n\n   (2000-02-02)\n\n',
  },
  { heads: ['function'], text: 'function\n\n   <mathematics> A rule from arguments to results; {functions}, {wanted term}.\n\n   (2000-03-03)\n\n' },
  { heads: ['pop'], text: 'POP\n\n   <protocol> {Post Office Protocol}; see also {pop}.\n\n   (2000-03-04)\n\n' },
  { heads: ['pop'], text: 'pop\n\n   <programming> To take the top of a stack; not {POP}.\n\n   (2000-03-05)\n\n' },
  { heads: ['object'], text: 'object\n\n   <programming> Data and the {functions (function)} on it, as in {Smalltalk}; see {Café (object)}.\n\n   (2000-04-04)\n\n' },
];

test('dictd base64 numbers', () => {
  assert.equal(dictdNumber('B'), 1);
  assert.equal(dictdNumber('BA'), 64);
  assert.equal(dictdNumber('Gb9L'), 6 * 64 ** 3 + 27 * 64 ** 2 + 61 * 64 + 11);
  assert.equal(dictdNumber('a-b'), -1);
});

test('entries, their text as shown, and their labels: links resolved by headword, case, alias and plural', () => {
  const dir = join(work, 'core');
  writeDict(dir, CORE, false);
  const s = readFoldoc(dir);
  assert.equal(s.title, 'The Free On-line Dictionary of Computing (1 January 2000)');
  assert.deepEqual(
    s.entries.map((e) => [e.name, e.labels]),
    [
      ['abstract data type', ['data abstraction', 'access function', 'object']], // {ADTs} is itself
      ['access function', ['function', 'abstract data type']], // {ADT} repeats it; the URL is external
      ['data abstraction', ['object', 'access function', 'abstract data type']], // {data}: no such entry
      ['function', []],
      ['POP', ['pop']], // exact case first: the index says "pop" for both
      ['pop', ['POP']],
      ['object', ['function']], // {Café (object)} shows "Café" and links to itself
    ],
  );
  const adt = s.entries[0]!.text;
  assert.match(adt, /^abstract data type\nADT\n/);
  assert.match(adt, /a kind of data abstraction where a\s+type's form is hidden behind access\s+functions; see ADTs and objects\./i);
  assert.doesNotMatch(adt, /2003|[{}]/);
  assert.doesNotMatch(s.entries[1]!.text, /http|example\.org/);
  assert.match(s.entries[1]!.text, /or ADT\. More, /);
  assert.match(s.entries[6]!.text, /see Café\./);
  assert.deepEqual(s.links, { total: 21, labels: 11, external: 1, unresolved: 4, self: 4, repeated: 1 });
});

test('the data set goes through the text importer: outputs equal the import rules applied to the entries; .dz reads as the plain file', async () => {
  // the core entries and 60 more that link to them, so that both splits have points
  const more = Array.from({ length: 60 }, (_, i) => ({
    heads: [`term${i}`],
    text: `term${i}\n\n   <misc> Term ${i} uses {${['function', 'object', 'ADT', 'pop'][i % 4]}} and {${['data abstraction', 'access function'][i % 2]}}${i % 5 === 0 ? ' and {term' + (i + 1) + '}' : ''}, word${i % 7}.\n\n   (2001-01-01)\n\n`,
  }));
  const plain = join(work, 'more');
  const dz = join(work, 'more-dz');
  writeDict(plain, [...CORE, ...more], false);
  writeDict(dz, [...CORE, ...more], true);
  const outA = join(work, 'out-a');
  const outB = join(work, 'out-b');
  const r = buildFoldocDataset(outA, plain);
  buildFoldocDataset(outB, dz);
  const s = readFoldoc(plain);
  const rows = s.entries.map((e) => ({ text: e.text, labels: e.labels, key: e.name }));
  const exp = oracleImport(rows, { testFraction: FOLDOC_TEST_FRACTION });
  assert.ok(exp.train.length > 30 && exp.test.length > 3);
  await assertMatchesOracle(outA, exp, assert);
  for (const f of ['train.txt', 'test.txt', 'features.txt', 'labels.txt', 'idf.txt']) assert.equal(readFileSync(join(outA, f), 'utf8'), readFileSync(join(outB, f), 'utf8'), f);
  const outC = join(work, 'out-tfidf');
  buildFoldocDataset(outC, plain, 'tfidf');
  await assertMatchesOracle(outC, oracleImport(rows, { testFraction: FOLDOC_TEST_FRACTION, weighting: 'tfidf' }), assert);
  assert.equal(r.stats.dropped.noLabels, 1, '"function" links nowhere else');
  const meta = JSON.parse(readFileSync(join(outA, 'meta.json'), 'utf8')) as { source: string; links: unknown; entries: number };
  assert.match(meta.source, /^The Free On-line Dictionary of Computing \(1 January 2000\): Debian package dict-foldoc/);
  assert.equal(meta.entries, 67);
});

test('a missing dictionary names the package to install; a broken index line is reported with file:line', () => {
  assert.throws(() => readFoldoc(join(work, 'nowhere')), (e: unknown) => e instanceof ConfigError && /apt-get install dict-foldoc/.test(e.message));
  const dir = join(work, 'broken');
  writeDict(dir, CORE.slice(0, 3), false);
  writeFileSync(join(dir, 'foldoc.index'), readFileSync(join(dir, 'foldoc.index'), 'utf8') + 'zzz\tnot base64!\tB\n');
  assert.throws(() => readFoldoc(dir), (e: unknown) => e instanceof InputError && /foldoc\.index:5: expected "headword<TAB>offset<TAB>length"/.test(e.message));
});

const installed = existsSync(join(FOLDOC_DICT_DIR, 'foldoc.index'));
test('the installed dict-foldoc package: ~12,000 entries, thousands of labels, known links', { skip: installed ? false : `dict-foldoc is not installed in ${FOLDOC_DICT_DIR} (apt-get install dict-foldoc; .ci/run installs it)` }, () => {
  const s = readFoldoc();
  assert.ok(s.entries.length > 10_000 && s.entries.length < 20_000, `${s.entries.length} entries`);
  const byName = new Map(s.entries.map((e) => [e.name, e]));
  const adt = byName.get('abstract data type')!;
  for (const l of ['data abstraction', 'stack', 'push', 'pop']) assert.ok(adt.labels.includes(l), `abstract data type links to ${l}: ${adt.labels.join(', ')}`);
  const distinct = new Set(s.entries.flatMap((e) => e.labels));
  assert.ok(distinct.size > 5000, `${distinct.size} labels`);
  assert.ok(s.links.labels / s.entries.length > 3, 'several links an entry');
});
