import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { tokenize, tokenizeInto, tokenizeUnicode, STOPWORDS, MIN_TOKEN_LENGTH } from '../src/data/text/tokenize.js';

/** The rule the project used before the tokenizer was Unicode-aware: the oracle for ASCII text. */
function asciiOracle(text: string): string[] {
  return text
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter((t) => t.length >= 2 && !STOPWORDS.has(t));
}

const ascii = fc.string({ unit: fc.integer({ min: 0, max: 127 }).map((c) => String.fromCharCode(c)), maxLength: 80 });
const anyText = fc.string({ unit: 'binary', maxLength: 60 });
const wordish = fc.string({ unit: fc.constantFrom('a', 'B', 'é', 'e\u0301', 'ß', 'Я', 'д', '東', 'の', 'タ', 'ー', '1', '１', 'ﬁ', '😀', ' ', '-', ',', '_', '\u0301', 'Σ', 'İ'), maxLength: 30 });

test('on ASCII text the tokenizer equals the previous rule (lowercase, split on [^a-z0-9]+, length >= 2, no stopwords)', () => {
  fc.assert(fc.property(ascii, (s) => assert.deepEqual(tokenize(s), asciiOracle(s))));
  assert.deepEqual(tokenize('A large cat with a mane'), ['large', 'cat', 'mane']);
  assert.deepEqual(tokenize("Pallas's_cat"), ['pallas', 'cat']);
  assert.deepEqual(tokenize('medium-sized wildcat of Central America; "x-ray 3D"'), ['medium', 'sized', 'wildcat', 'central', 'america', 'ray', '3d']);
});

test('the ASCII fast path gives what the general Unicode path gives', () => {
  fc.assert(
    fc.property(ascii, (s) => {
      const out: string[] = [];
      const n = tokenizeUnicode(s.toLowerCase(), out);
      assert.deepEqual(tokenize(s), out.slice(0, n));
    }),
  );
});

test('every token is lowercase letters, digits and inner marks, with enough letters, and not a stopword', () => {
  fc.assert(
    fc.property(fc.oneof(anyText, wordish), (s) => {
      for (const t of tokenize(s)) {
        assert.match(t, /^[\p{L}\p{N}][\p{L}\p{N}\p{M}]*$/u, JSON.stringify(t));
        assert.equal(t.toLowerCase(), t);
        assert.ok(!STOPWORDS.has(t));
        const letters = [...t].filter((c) => !/\p{M}/u.test(c)).length;
        assert.ok(letters >= MIN_TOKEN_LENGTH || /^\p{sc=Han}$/u.test(t), JSON.stringify(t));
      }
    }),
  );
});

test('tokenizing is idempotent and a space separates: tokens(a + " " + b) = tokens(a) ++ tokens(b)', () => {
  fc.assert(fc.property(fc.oneof(anyText, wordish), (s) => assert.deepEqual(tokenize(tokenize(s).join(' ')), tokenize(s))));
  fc.assert(fc.property(wordish, wordish, (a, b) => assert.deepEqual(tokenize(a + ' ' + b), [...tokenize(a), ...tokenize(b)])));
});

test('composed and decomposed accents give the same token; NFKC folds ligatures, full-width and superscript forms', () => {
  assert.deepEqual(tokenize('Café'), ['café']);
  assert.deepEqual(tokenize('Cafe\u0301'), ['café']); // e + combining acute -> é
  assert.deepEqual(tokenize('naïve NAÏVE'), ['naïve', 'naïve']);
  assert.deepEqual(tokenize('Straße STRASSE'), ['straße', 'strasse']); // lowercase, not case folding
  assert.deepEqual(tokenize('ﬁsh ﬂow'), ['fish', 'flow']);
  assert.deepEqual(tokenize('１２３ ＡＢＣ'), ['123', 'abc']);
  assert.deepEqual(tokenize('m² H₂O'), ['m2', 'h2o']);
  assert.deepEqual(tokenize('①②'), ['12']);
});

test('Cyrillic, Greek, Devanagari and Hangul words survive whole', () => {
  assert.deepEqual(tokenize('Привет, мир! Я здесь.'), ['привет', 'мир', 'здесь']); // one-letter "я" dropped
  assert.deepEqual(tokenize('ΟΔΟΣ Αθήνα'), ['οδος', 'αθήνα']);
  assert.deepEqual(tokenize('हिन्दी भाषा'), ['हिन्दी', 'भाषा']); // vowel signs and virama are marks inside the word
  assert.deepEqual(tokenize('한국어 사전'), ['한국어', '사전']);
});

test('Han ideographs are one-character tokens, single hiragana are dropped, katakana runs stay whole', () => {
  assert.deepEqual(tokenize('東京タワーへ行きました'), ['東', '京', 'タワー', '行']);
  assert.deepEqual(tokenize('我喜欢猫'), ['我', '喜', '欢', '猫']);
  assert.deepEqual(tokenize('コンピュータ'), ['コンピュータ']);
});

test('emoji, symbols and punctuation separate tokens and are dropped', () => {
  assert.deepEqual(tokenize('I ❤️ pizza 🍕🍕 and café☕latte'), ['pizza', 'café', 'latte']);
  assert.deepEqual(tokenize('e-mail, x_y; foo/bar (baz)! «quoted» — “curly” don’t'), ['mail', 'foo', 'bar', 'baz', 'quoted', 'curly', 'don']);
  assert.deepEqual(tokenize('😀😀😀 ... !!!'), []);
  assert.deepEqual(tokenize(''), []);
});

test('length counts letters and digits by code point: one letter is dropped however it is encoded', () => {
  assert.deepEqual(tokenize('é e\u0301 я 𐌰 7'), []); // composed, decomposed, Cyrillic, a Gothic (astral) letter, a digit
  assert.deepEqual(tokenize('𐌰𐌱'), ['𐌰𐌱']); // two astral letters: 4 UTF-16 units, 2 letters
  assert.deepEqual(tokenize('\u0301\u0301ab'), ['ab']); // marks with no letter before them separate
});

test('tokenizeInto reuses the caller array and reports the count', () => {
  const out = ['stale', 'stale', 'stale', 'stale'];
  assert.equal(tokenizeInto('big cat', out), 2);
  assert.deepEqual(out.slice(0, 2), ['big', 'cat']);
  assert.equal(tokenizeInto('東 é', out), 1);
  assert.equal(out[0], '東');
});
