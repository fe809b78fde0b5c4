/**
 * The one tokenizer of the project: the WordNet builder, the text importer and the FOLDOC builder
 * featurize their documents with it, and predict / serve featurize a query with it, so a query
 * lands in exactly the feature space the model was trained on.
 *
 * Rules, in order:
 * 1. Unicode NFKC normalisation (compatibility forms fold: the ligature "ﬁ" -> "fi", full-width
 *    "１２３" -> "123", "²" -> "2"; composed and decomposed accents become the same code points).
 * 2. Lowercase with String.prototype.toLowerCase, which uses Unicode's default (locale-independent)
 *    mapping: "Straße" -> "straße" (ß is kept, not folded to "ss"), "ΟΔΟΣ" -> "οδος".
 * 3. Tokens: maximal runs of letters (\p{L}) and digits (\p{N}) of any script, with combining
 *    marks (\p{M}) allowed after the first character (so Devanagari vowel signs and decomposed
 *    accents stay inside their word). Everything else separates tokens: punctuation, spaces,
 *    symbols and emoji, `_`, and a mark that follows no letter.
 *    Exception: every Han ideograph and every hiragana character is a token on its own (the
 *    word-boundary rules of Unicode's UAX #29 do the same), because Chinese and Japanese are
 *    written without spaces and a run would be a whole phrase. Katakana, Hangul and other scripts
 *    form runs like Latin (Thai, Lao, Khmer and Burmese, written without spaces, are not segmented:
 *    a phrase stays one token).
 * 4. A token is kept when it has at least MIN_TOKEN_LENGTH letters and digits (code points,
 *    combining marks not counted: "é" counts 1 whether composed or not, an astral letter counts 1),
 *    or when it is a single Han ideograph (one ideograph is a word or a morpheme; one kana is a
 *    syllable, so single hiragana are dropped), and when it is not in STOPWORDS.
 *
 * On ASCII input the rules reduce to: lowercase, split on [^a-z0-9]+, keep tokens of length >= 2
 * that are not stopwords. That case takes a fast path (no normalisation, no regular expression);
 * a property test checks that it equals the general path.
 */

/** A small English stopword list (function words); tokens shorter than MIN_TOKEN_LENGTH are dropped separately. */
export const STOPWORDS: ReadonlySet<string> = new Set([
  'an', 'the', 'and', 'or', 'nor', 'but', 'if', 'then', 'than', 'so', 'as', 'of', 'in', 'on', 'at',
  'to', 'for', 'by', 'with', 'from', 'into', 'onto', 'about', 'over', 'under', 'up', 'down', 'out',
  'off', 'through', 'between', 'among', 'after', 'before', 'during', 'without', 'within', 'upon',
  'is', 'are', 'was', 'were', 'be', 'been', 'being', 'am', 'has', 'have', 'had', 'having', 'do',
  'does', 'did', 'it', 'its', 'this', 'that', 'these', 'those', 'which', 'who', 'whom', 'whose',
  'what', 'when', 'where', 'how', 'why', 'he', 'she', 'his', 'her', 'him', 'they', 'them', 'their',
  'we', 'us', 'our', 'you', 'your', 'my', 'me', 'not', 'no', 'can', 'could', 'will', 'would',
  'shall', 'should', 'may', 'might', 'must', 'also', 'such', 'there', 'here', 'very', 'too', 'any',
  'all', 'some', 'each', 'both', 'either', 'neither', 'other', 'only', 'own', 'same', 'etc',
]);

/** Fewest letters and digits a token needs (a single Han ideograph is kept regardless). */
export const MIN_TOKEN_LENGTH = 2;

/** Longest stopword: longer tokens skip the set lookup. */
const MAX_STOPWORD_LENGTH = Math.max(...[...STOPWORDS].map((w) => w.length));

/** One line of text describing these rules, for the meta.json of the data sets. */
export const TOKENIZER_DESCRIPTION =
  'NFKC, lowercase (locale-independent), tokens = runs of letters and digits of any script with combining marks inside, ' +
  `each Han ideograph and hiragana character a token of its own; kept if at least ${MIN_TOKEN_LENGTH} letters/digits ` +
  '(or one Han ideograph) and not a stopword';

const NON_ASCII = /[^\x00-\x7f]/;

/**
 * Letters and digits of other scripts in runs (marks allowed after the first character); each Han
 * ideograph or hiragana letter alone. The `v` flag gives the set difference and intersection.
 */
const UNICODE_TOKEN = new RegExp(
  '[[\\p{sc=Han}\\p{sc=Hiragana}]&&[\\p{L}\\p{N}]]' + '|[[\\p{L}\\p{N}]--[\\p{sc=Han}\\p{sc=Hiragana}]][[\\p{L}\\p{N}\\p{M}]--[\\p{sc=Han}\\p{sc=Hiragana}]]*',
  'gv',
);
const HAN = /^\p{sc=Han}$/u;
const MARK = /\p{M}/u;

/** ASCII letters and digits (after lowercasing only a-z and 0-9 occur, A-Z is listed for safety). */
const ASCII_WORD = new Uint8Array(128);
for (let c = 48; c <= 57; c++) ASCII_WORD[c] = 1;
for (let c = 65; c <= 90; c++) ASCII_WORD[c] = 1;
for (let c = 97; c <= 122; c++) ASCII_WORD[c] = 1;

/**
 * Tokens of `text` into out[0..n), returning n (out is a scratch array the caller reuses: no array
 * per call; entries past n are stale).
 */
export function tokenizeInto(text: string, out: string[]): number {
  if (!NON_ASCII.test(text)) return tokenizeAscii(text.toLowerCase(), out);
  return tokenizeUnicode(text.normalize('NFKC').toLowerCase(), out);
}

/** Tokens of `text` (a new array). */
export function tokenize(text: string): string[] {
  const out: string[] = [];
  out.length = tokenizeInto(text, out);
  return out;
}

function keep(t: string): boolean {
  return t.length > MAX_STOPWORD_LENGTH || !STOPWORDS.has(t);
}

/** The fast path: lowercased ASCII, runs of [a-z0-9]. */
function tokenizeAscii(s: string, out: string[]): number {
  const len = s.length;
  let n = 0;
  let i = 0;
  while (i < len) {
    if (ASCII_WORD[s.charCodeAt(i)] === 0) {
      i++;
      continue;
    }
    const start = i;
    i++;
    while (i < len && ASCII_WORD[s.charCodeAt(i)] === 1) i++;
    if (i - start >= MIN_TOKEN_LENGTH) {
      const t = s.slice(start, i);
      if (keep(t)) out[n++] = t;
    }
  }
  return n;
}

/** The general path, on NFKC-normalised lowercase text. Exported for the test of the fast path. */
export function tokenizeUnicode(s: string, out: string[]): number {
  let n = 0;
  UNICODE_TOKEN.lastIndex = 0;
  for (let m = UNICODE_TOKEN.exec(s); m !== null; m = UNICODE_TOKEN.exec(s)) {
    const t = m[0];
    if (letterCountAtLeast(t, MIN_TOKEN_LENGTH) ? keep(t) : HAN.test(t)) out[n++] = t;
  }
  return n;
}

/** Whether t has at least `min` code points that are not combining marks. */
function letterCountAtLeast(t: string, min: number): boolean {
  // common case: no surrogate pair and no mark, so UTF-16 units = letters
  let count = 0;
  for (const ch of t) {
    if (ch.length === 1 && ch.charCodeAt(0) < 0x300) count++;
    else if (!MARK.test(ch)) count++;
    if (count >= min) return true;
  }
  return false;
}
