import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readGcide, buildGcideDataset, GCIDE_DICT_DIR, GCIDE_TEST_FRACTION, MIN_FIELD_ENTRIES } from '../src/data/gcide.js';
import { ConfigError } from '../src/util/errors.js';
import { oracleImport, assertMatchesOracle } from './data.text.helpers.js';
import { writeDict } from './dictd.helpers.js';
import { BIN } from './adversarial.helpers.js';

const work = mkdtempSync(join(tmpdir(), 'gcide-'));
test.after(() => rmSync(work, { recursive: true, force: true }));

const CORE = [
  { heads: ['00-database-short'], text: '00-database-short\n   The Collaborative International Dictionary of English v.0.48\n\n' },
  { heads: ['00-gcide-url'], text: '00-gcide-url\n   ftp://ftp.gnu.org/gnu/gcide\n\n' },
  {
    heads: ['Aardvark'],
    text: 'Aardvark \\Aard"vark`\\, n. [D. aarde earth + varken pig.]\n   (Zool.) An edentate mammal, of South Africa, living in burrows.\n   [1913 Webster]\n\n',
  },
  {
    heads: ['Abacus', 'Abaci'],
    text: 'Abacus \\Ab"a*cus\\, n.; pl. E. {Abacuses}, L. {Abaci}. [L.]\n   1. A table or tray strewn with sand, used for calculating.\n   2. (Arch.) The uppermost member of a column; (Law) a tablet (Thucyd.).\n   [1913 Webster]\n\n',
  },
  { heads: ['Abbey'], text: 'Abbey \\Ab"bey\\, n.\n   A monastery or convent of persons of either sex.\n   [1913 Webster]\n\n' },
];

/** 64 more entries: Zool / Bot alternately (32 each), Law on every third (22), Physiol. Chem on the first 30 (the threshold), Thucyd on the first 28 (with Abaci's, one short) */
const MORE = Array.from({ length: 64 }, (_, i) => ({
  heads: [`Term${i}`],
  text:
    `Term${i} \\Term${i}\\, n. [Gr. word${i % 5}.]\n   (${i % 2 === 0 ? 'Zool.' : 'Bot.'}) A ${i % 2 === 0 ? 'beast' : 'plant'} of kind ${i % 7}` +
    `${i % 3 === 0 ? '; (Law) a writ' : ''}${i < 30 ? '; (Physiol. Chem.) a ferment' : ''}${i < 28 ? ' (Thucyd.)' : ''}.\n   [1913 Webster]\n\n`,
}));

test('entries, their text without field marks and bracketed spans, and their fields: labels are the fields named by enough entries', () => {
  const dir = join(work, 'core');
  writeDict(dir, 'gcide', [...CORE, ...MORE], false, false);
  const s = readGcide(dir);
  assert.equal(s.title, 'The Collaborative International Dictionary of English v.0.48');
  assert.equal(MIN_FIELD_ENTRIES, 30);
  assert.equal(s.entries.length, 3 + 64, 'the 00-* entries are the dictionary\'s own');
  const byName = new Map(s.entries.map((e) => [e.name, e]));
  assert.deepEqual(byName.get('Aardvark')!.labels, ['Zool']);
  // two headwords for one block: the first in index order names it
  assert.ok(byName.has('Abaci') && !byName.has('Abacus'));
  assert.deepEqual(byName.get('Abaci')!.labels, [], 'Arch (1 entry) and Thucyd (29) are fields but not labels; Law is named by 23 entries');
  assert.deepEqual(byName.get('Term0')!.labels, ['Zool', 'Physiol. Chem'], 'in order of mention; Law (23 entries) and Thucyd (29) are not labels');
  assert.deepEqual(byName.get('Term31')!.labels, ['Bot']);
  assert.deepEqual(
    s.fields.map((f) => [f.name, f.entries]),
    [['Bot', 32], ['Zool', 33], ['Physiol. Chem', 30], ['Thucyd', 29], ['Law', 23], ['Arch', 1]].sort((a, b) => (b[1] as number) - (a[1] as number) || (a[0]! < b[0]! ? -1 : 1)),
  );
  const t = byName.get('Aardvark')!.text;
  assert.match(t, /An edentate mammal, of South Africa, living in burrows\./);
  assert.doesNotMatch(t, /Zool|Webster|aarde|varken/, 'field marks and bracketed spans (etymology, source) are gone');
  assert.match(byName.get('Abbey')!.text, /^Abbey \\Ab"bey\\, n\.\s+A monastery/);
});

test('the data set goes through the text importer: outputs equal the import rules applied to the entries; .dz reads as the plain file', async () => {
  const plain = join(work, 'more');
  const dz = join(work, 'more-dz');
  writeDict(plain, 'gcide', [...CORE, ...MORE], false, false);
  writeDict(dz, 'gcide', [...CORE, ...MORE], true, false);
  const outA = join(work, 'out-a');
  const outB = join(work, 'out-b');
  const r = buildGcideDataset(outA, plain);
  buildGcideDataset(outB, dz);
  const s = readGcide(plain);
  const exp = oracleImport(s.entries.map((e) => ({ text: e.text, labels: e.labels, key: e.name })), { testFraction: GCIDE_TEST_FRACTION });
  assert.ok(exp.train.length > 30 && exp.test.length > 3);
  await assertMatchesOracle(outA, exp, assert);
  for (const f of ['train.txt', 'test.txt', 'features.txt', 'labels.txt', 'idf.txt']) assert.equal(readFileSync(join(outA, f), 'utf8'), readFileSync(join(outB, f), 'utf8'), f);
  assert.equal(r.stats.dropped.noLabels, 2, 'Abaci and Abbey have no label');
  assert.equal(r.stats.nLabels, 3);
  const meta = JSON.parse(readFileSync(join(outA, 'meta.json'), 'utf8')) as { source: string; entries: number; fields: { named: number; labels: number } };
  assert.match(meta.source, /^The Collaborative International Dictionary of English v\.0\.48: Debian package dict-gcide/);
  assert.deepEqual([meta.entries, meta.fields.named, meta.fields.labels], [67, 6, 3]);
});

test('a missing dictionary names the package to install', () => {
  assert.throws(() => readGcide(join(work, 'nowhere')), (e: unknown) => e instanceof ConfigError && /apt-get install dict-gcide/.test(e.message));
});

test('the CLI: sublinear data gcide --dict-dir writes the set and one summary line; without the dictionary, exit 1 naming the package', () => {
  const dict = join(work, 'cli-dict');
  writeDict(dict, 'gcide', [...CORE, ...MORE], true, false);
  const out = join(work, 'cli-out');
  const ok = spawnSync(process.execPath, [BIN, 'data', 'gcide', '--dict-dir', dict, '--out', out], { encoding: 'utf8' });
  assert.equal(ok.status, 0, ok.stderr);
  assert.match(ok.stdout, /^The Collaborative International Dictionary of English v\.0\.48 subject fields in .*cli-out: \d+ train \/ \d+ test points, \d+ features, 3 labels; .*top label "Zool"/);
  for (const f of ['train.txt', 'test.txt', 'features.txt', 'labels.txt', 'idf.txt', 'meta.json']) assert.ok(existsSync(join(out, f)), f);
  const none = spawnSync(process.execPath, [BIN, 'data', 'gcide', '--dict-dir', work, '--out', join(work, 'cli-none')], { encoding: 'utf8' });
  assert.equal(none.status, 1);
  assert.match(none.stderr, /^sublinear: GCIDE is not in .*: install the Debian package dict-gcide \(apt-get install dict-gcide\), or give --dict-dir\n$/);
  assert.ok(!existsSync(join(work, 'cli-none', 'train.txt')), 'nothing written');
});

const installed = existsSync(join(GCIDE_DICT_DIR, 'gcide.index'));
test('the installed dict-gcide package: >100,000 entries, dozens of field labels, known fields', { skip: installed ? false : `dict-gcide is not installed in ${GCIDE_DICT_DIR} (apt-get install dict-gcide; .ci/run installs it)` }, () => {
  const s = readGcide();
  assert.ok(s.entries.length > 100_000, `${s.entries.length} entries`);
  const labels = new Set(s.entries.flatMap((e) => e.labels));
  assert.ok(labels.size > 50 && labels.size < 200, `${labels.size} labels`);
  for (const f of ['Zool', 'Bot', 'Law', 'Math', 'Naut']) assert.ok(labels.has(f), f);
  const aardvark = s.entries.find((e) => /^aardvark \\/i.test(e.text));
  assert.deepEqual(aardvark?.labels, ['Zool']);
  const tagged = s.entries.filter((e) => e.labels.length > 0).length;
  assert.ok(tagged > 25_000 && tagged < 60_000, `${tagged} entries with a label`);
});
