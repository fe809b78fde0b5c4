/**
 * A second real extreme-classification data set: cross-reference prediction over FOLDOC, the
 * Free On-line Dictionary of Computing, from the Debian package `dict-foldoc` (dictd format:
 * /usr/share/dictd/foldoc.index and foldoc.dict.dz).
 *
 * The task is the dictionary's analogue of the Extreme Classification Repository's "see also"
 * sets (Wikipedia articles -> the articles they link to): given an entry's text, predict which
 * other entries it links to. FOLDOC's editor marks "any term which one might reasonably expect
 * to find" as a cross-reference, so the links are dense (~5 an entry), their targets follow a
 * power law (the Jargon File, Unix, C, ... head thousands of singletons), and the words of an
 * entry predict them.
 *
 * - Points: one per dictionary entry (a block of text in foldoc.dict that one or more headwords
 *   of the index point to), named by its first headword line; the "00-database-*" entries of the
 *   dictd format are skipped.
 * - Features: the headword lines and the body, with each link replaced by its displayed text
 *   ("{loops (loop)}" reads "loops"), URLs and the trailing "(YYYY-MM-DD)" date removed; then the
 *   text importer's tokenizer and term weighting (text/importer.ts), exactly as `sublinear data text`.
 * - Labels: the entries the body links to. A link "{text}" or "{text (target)}" names a target,
 *   which is resolved to the entry with that headword line (exact case first, then any case, as
 *   the index has it: aliases included), then as a plural ("ies" -> "y", "es", "s"); a target that is a URL or a file ("(about.html)",
 *   "(http://...)") is an external link, and a target that resolves to no entry (FOLDOC's list
 *   of wanted definitions) or to the entry itself is not a label. Entries without a label are
 *   dropped by the importer (counted).
 * - Split: test iff murmur3_32(UTF-8 of the entry's name) / 2^32 < 0.2 (text/split.ts).
 */
import { importRecords, type TextRecord, type ImportResult } from './text/importer.js';
import { DEFAULT_WEIGHTING, type Weighting } from './text/tfidf.js';
import { readDictd } from './dictd.js';
import { InputError, quote } from '../util/errors.js';

export const FOLDOC_DICT_DIR = '/usr/share/dictd';
export const FOLDOC_TEST_FRACTION = 0.2;

export interface FoldocEntry {
  name: string;
  /** headword lines, then the body (links as displayed text, URLs and date removed) */
  text: string;
  /** names of the linked entries, in order of first link */
  labels: string[];
}

export interface FoldocSource {
  /** "The Free On-line Dictionary of Computing (<date>)" from the 00-database-short entry */
  title: string;
  indexFile: string;
  dictFile: string;
  entries: FoldocEntry[];
  /** links seen, and why those that are not labels are not */
  links: { total: number; labels: number; external: number; unresolved: number; self: number; repeated: number };
}

const EXTERNAL = /:\/\/|^mailto:|\/|\.html?$/i;
const URL_IN_TEXT = /\b(?:https?|ftp|gopher|telnet|news|mailto):\/*[^\s)}]*/gi;
const DATE_AT_END = /\(\d{4}-\d\d-\d\d\)\s*$/;

/** Read and parse FOLDOC from a dictd directory. */
export function readFoldoc(dir = FOLDOC_DICT_DIR): FoldocSource {
  const { indexFile, dictFile, dict, lines, title } = readDictd(dir, 'foldoc', 'dict-foldoc', (h) => h.startsWith('00-database') || h.startsWith('00database'), 'The Free On-line Dictionary of Computing');

  // entries by offset, with their headwords; headword (lowercase) -> first entry in index order
  const byOffset = new Map<number, { offset: number; length: number; line: number }>();
  const headwordEntry = new Map<string, number>();
  for (const { head, offset, length, line } of lines) {
    if (!byOffset.has(offset)) byOffset.set(offset, { offset, length, line });
    const key = head.toLowerCase();
    if (!headwordEntry.has(key)) headwordEntry.set(key, offset);
  }

  // entries in dictionary order, named by their first line (made unique in that order)
  const order = [...byOffset.values()].sort((a, b) => a.offset - b.offset);
  const nameOf = new Map<number, string>();
  const bodies = new Map<number, { heads: string[]; body: string }>();
  const used = new Set<string>();
  for (const e of order) {
    const raw = dict.toString('utf8', e.offset, e.offset + e.length);
    const lines = raw.split('\n');
    let k = 0;
    const heads: string[] = [];
    while (k < lines.length && lines[k]!.trim() !== '' && !/^\s/.test(lines[k]!)) heads.push(lines[k++]!.trim());
    if (heads.length === 0) throw new InputError(dictFile, e.line, `an entry starting with its headword at byte ${e.offset} (index line ${e.line})`, quote(raw.slice(0, 40)));
    let name = heads[0]!;
    for (let n = 2; used.has(name); n++) name = `${heads[0]!} (${n})`;
    used.add(name);
    nameOf.set(e.offset, name);
    bodies.set(e.offset, { heads, body: lines.slice(k).join('\n') });
  }

  // the index lowercases its headwords ("pop" stands for the entries POP, PoP and pop); the
  // headword lines of the entries keep their case, and an exact match comes first
  const exactEntry = new Map<string, number>();
  for (const e of order) for (const h of bodies.get(e.offset)!.heads) if (!exactEntry.has(h)) exactEntry.set(h, e.offset);
  const resolve = (target: string): number | undefined => {
    const lower = target.toLowerCase();
    const candidates = [target];
    if (lower.endsWith('ies')) candidates.push(target.slice(0, -3) + 'y');
    if (lower.endsWith('es')) candidates.push(target.slice(0, -2));
    if (lower.endsWith('s')) candidates.push(target.slice(0, -1));
    for (const c of candidates) {
      const off = exactEntry.get(c) ?? headwordEntry.get(c.toLowerCase());
      if (off !== undefined) return off;
    }
    return undefined;
  };

  const links = { total: 0, labels: 0, external: 0, unresolved: 0, self: 0, repeated: 0 };
  const entries: FoldocEntry[] = [];
  for (const e of order) {
    const { heads, body } = bodies.get(e.offset)!;
    const labels: string[] = [];
    const seen = new Set<number>();
    const shown = body.replace(/\{([^{}]*)\}/g, (_m, inner: string) => {
      const ref = inner.replace(/\s+/g, ' ').trim();
      links.total++;
      const m = /^(.*\S)\s*\(([^()]+)\)$/.exec(ref);
      const display = m ? m[1]! : ref;
      const target = m ? m[2]!.trim() : ref;
      if (EXTERNAL.test(target)) {
        links.external++;
        return display;
      }
      const off = resolve(target);
      if (off === undefined) links.unresolved++;
      else if (off === e.offset) links.self++;
      else if (seen.has(off)) links.repeated++;
      else {
        seen.add(off);
        labels.push(nameOf.get(off)!);
        links.labels++;
      }
      return display;
    });
    const text = heads.join('\n') + '\n' + shown.replace(DATE_AT_END, '').replace(URL_IN_TEXT, ' ');
    entries.push({ name: nameOf.get(e.offset)!, text, labels });
  }
  return { title, indexFile, dictFile, entries, links };
}

/** The FOLDOC data set into `outDir` through the text importer (same outputs as `data text`). */
export function buildFoldocDataset(outDir: string, dir = FOLDOC_DICT_DIR, weighting: Weighting = DEFAULT_WEIGHTING): ImportResult & { source: FoldocSource } {
  const source = readFoldoc(dir);
  const records = source.entries.map((e): TextRecord => ({ text: e.text, labels: e.labels, key: e.name }));
  const result = importRecords(outDir, records, { testFraction: FOLDOC_TEST_FRACTION, weighting }, (emptyText) => ({
    source: `${source.title}: Debian package dict-foldoc, ${source.indexFile} and ${source.dictFile}`,
    points: 'one per dictionary entry (a block of foldoc.dict that index headwords point to), named by its first headword line; 00-database-* entries skipped',
    text: 'headword lines and body; a link {text} or {text (target)} reads as its text; URLs and the trailing (YYYY-MM-DD) date removed',
    labelRule:
      'entries the body links to: the target of {target} or {text (target)} resolved to the entry with that headword (exact case first, then any case), then as a plural (ies -> y, es, s); ' +
      'external targets (URLs, files), unresolved targets and links to the entry itself are not labels',
    split: `test iff murmur3_32(UTF-8 bytes of the entry name, seed 0) / 2^32 < ${FOLDOC_TEST_FRACTION}`,
    entries: source.entries.length,
    entriesWithoutWords: emptyText,
    links: source.links,
  }));
  return { ...result, source };
}
