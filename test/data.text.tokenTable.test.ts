import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { TokenTable } from '../src/data/text/tokenTable.js';
import { tokenize } from '../src/data/text/tokenize.js';

const text = fc.oneof(
  fc.string({ unit: fc.constantFrom('a', 'b', 'C', 'd', 'E', 'x', 'y', 'z', '0', '7', ' ', ' ', '-', '.', ',', "'", 'é', 'Я', '東', 'ﬁ', '😀', 'The', 'of'), maxLength: 60 }),
  fc.string({ unit: fc.integer({ min: 32, max: 126 }).map((c) => String.fromCharCode(c)), maxLength: 60 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
);

test('the token table gives the tokens tokenize() gives: names[ids] equal tokenize(text), same token same id', () => {
  fc.assert(
    fc.property(fc.array(text, { maxLength: 12 }), (texts) => {
      const table = new TokenTable();
      const idOf = new Map<string, number>();
      for (const t of texts) {
        const n = table.lookup(t, true);
        const ids = Array.from(table.ids.subarray(0, n));
        const expected = tokenize(t);
        assert.deepEqual(
          ids.map((id) => table.names[id]),
          expected,
        );
        assert.equal(table.count, expected.length);
        ids.forEach((id, k) => {
          const tok = expected[k]!;
          const prev = idOf.get(tok);
          if (prev === undefined) idOf.set(tok, id);
          else assert.equal(id, prev, `token ${tok} got two ids`);
          assert.ok(!table.isStopword(id));
        });
      }
    }),
    { numRuns: 300 },
  );
});

test('without growing, unknown tokens are skipped but counted; an ASCII token met in a Unicode text has its ASCII id', () => {
  const table = new TokenTable();
  table.lookup('Big cats and small DOGS', true);
  const big = table.names.indexOf('big');
  const dogs = table.names.indexOf('dogs');
  const n = table.lookup('big unknown dogs — café', false); // the dash and é send it through the Unicode path
  assert.deepEqual(Array.from(table.ids.subarray(0, n)), [big, dogs]);
  assert.equal(table.count, 4);
  assert.equal(table.lookup('of the and', true), 0);
  assert.equal(table.count, 0);
});

test('the table survives many distinct tokens (rehashing) with ids in first-seen order', () => {
  const table = new TokenTable();
  const base = table.size; // stopwords come first
  const words: string[] = [];
  for (let i = 0; i < 50_000; i++) words.push(`w${i.toString(36)}x`);
  for (let i = 0; i < words.length; i += 100) table.lookup(words.slice(i, i + 100).join(' '), true);
  assert.equal(table.size, base + words.length);
  for (let i = 0; i < words.length; i += 997) {
    assert.equal(table.lookup(words[i]!.toUpperCase(), false), 1);
    assert.equal(table.ids[0], base + i);
  }
  // a token longer than the slot's inline bytes
  const long = 'supercalifragilisticexpialidocious';
  table.lookup(long, true);
  assert.equal(table.lookup(`${long} ${long.slice(0, -1)}z`, false), 1);
  assert.equal(table.names[table.ids[0]!], long);
});
