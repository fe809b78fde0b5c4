/**
 * A third real data set, with few labels: subject-field tagging over GCIDE, the Collaborative
 * International Dictionary of English (Webster's 1913 with later additions), from the Debian
 * package `dict-gcide` (dictd format: /usr/share/dictd/gcide.index and gcide.dict.dz).
 *
 * The dictionary marks a sense's field of use in parentheses: "(Zool.) A genus of ...",
 * "{Abundant number} (Math.), a number ...". Given an entry's words, predict its fields: a text
 * tagger's task with a few dozen tags, mostly one an entry, and a head (zoology and botany) that
 * dominates; unlike WordNet and FOLDOC, where labels number in the thousands.
 *
 * - Points: one per dictionary entry (a block of gcide.dict that index headwords point to),
 *   named by its first headword in index order, made unique in dictionary order; the
 *   dictionary's own entries (00-database-*, 00-gcide-*, ...) are skipped.
 * - Labels: the fields the entry names, "(Word.)" or "(Word. Word.)" with the final dots dropped
 *   ("Zool", "Physiol. Chem", "Law"), in order of first mention; a field is a label when at least
 *   MIN_FIELD_ENTRIES entries name it (89 of them in version 0.48): rarer ones have too few points
 *   to learn and to test, and include citations ("(Thucyd.)") rather than fields. Entries without
 *   a label are dropped by the importer (counted).
 * - Features: the entry's text without its field marks (they are the labels) and without its
 *   bracketed spans (etymologies, "[Obs.]", source marks such as "[1913 Webster]"); then the text
 *   importer's tokenizer and term weighting (text/importer.ts), exactly as `sublinear data text`.
 * - Split: test iff murmur3_32(UTF-8 of the entry's name) / 2^32 < 0.2 (text/split.ts).
 */
import { importRecords, type TextRecord, type ImportResult } from './text/importer.js';
import { DEFAULT_WEIGHTING, type Weighting } from './text/tfidf.js';
import { readDictd } from './dictd.js';

export const GCIDE_DICT_DIR = '/usr/share/dictd';
export const GCIDE_TEST_FRACTION = 0.2;
/** Entries that must name a field for it to be a label. */
export const MIN_FIELD_ENTRIES = 30;

const FIELD = /\(([A-Z][a-z]+\.?(?: [A-Z][a-z]+\.)?)\)/g;
const BRACKETED = /\[[^\]]*\]/g;

export interface GcideEntry {
  name: string;
  /** the entry's text without field marks and bracketed spans */
  text: string;
  /** its fields that are labels, in order of first mention */
  labels: string[];
}

export interface GcideSource {
  /** the 00-database-short entry, e.g. "The Collaborative International Dictionary of English v.0.48" */
  title: string;
  indexFile: string;
  dictFile: string;
  entries: GcideEntry[];
  /** every field named, with the number of entries naming it (labels or not), most named first */
  fields: { name: string; entries: number }[];
}

/** Read and parse GCIDE from a dictd directory. */
export function readGcide(dir = GCIDE_DICT_DIR): GcideSource {
  const { indexFile, dictFile, dict, lines, title } = readDictd(dir, 'gcide', 'dict-gcide', (h) => h.startsWith('00-') || h.startsWith('00database'), 'GCIDE');
  const blocks = new Map<number, { head: string; offset: number; length: number }>();
  for (const { head, offset, length } of lines) if (!blocks.has(offset)) blocks.set(offset, { head, offset, length });
  const order = [...blocks.values()].sort((a, b) => a.offset - b.offset);

  const used = new Set<string>();
  const parsed: { name: string; text: string; fields: string[] }[] = [];
  const named = new Map<string, number>();
  for (const b of order) {
    const raw = dict.toString('utf8', b.offset, b.offset + b.length);
    let name = b.head;
    for (let n = 2; used.has(name); n++) name = `${b.head} (${n})`;
    used.add(name);
    const fields: string[] = [];
    const text = raw
      .replace(FIELD, (_m, f: string) => {
        const field = f.replace(/\.$/, '');
        if (!fields.includes(field)) fields.push(field);
        return ' ';
      })
      .replace(BRACKETED, ' ');
    for (const f of fields) named.set(f, (named.get(f) ?? 0) + 1);
    parsed.push({ name, text, fields });
  }
  const entries = parsed.map((p) => ({ name: p.name, text: p.text, labels: p.fields.filter((f) => named.get(f)! >= MIN_FIELD_ENTRIES) }));
  const fields = [...named].map(([name, n]) => ({ name, entries: n })).sort((a, b) => b.entries - a.entries || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return { title, indexFile, dictFile, entries, fields };
}

/** The GCIDE data set into `outDir` through the text importer (same outputs as `data text`). */
export function buildGcideDataset(outDir: string, dir = GCIDE_DICT_DIR, weighting: Weighting = DEFAULT_WEIGHTING): ImportResult & { source: GcideSource } {
  const source = readGcide(dir);
  const labels = source.fields.filter((f) => f.entries >= MIN_FIELD_ENTRIES);
  const records = source.entries.map((e): TextRecord => ({ text: e.text, labels: e.labels, key: e.name }));
  const result = importRecords(outDir, records, { testFraction: GCIDE_TEST_FRACTION, weighting }, (emptyText) => ({
    source: `${source.title}: Debian package dict-gcide, ${source.indexFile} and ${source.dictFile}`,
    points: 'one per dictionary entry (a block of gcide.dict that index headwords point to), named by its first headword in index order; the dictionary\'s own 00-* entries skipped',
    text: 'the entry without its field marks "(Word.)" and without bracketed spans (etymologies, usage and source marks)',
    labelRule: `the fields the entry names, "(Word.)" or "(Word. Word.)" without the final dots, that at least ${MIN_FIELD_ENTRIES} entries name`,
    split: `test iff murmur3_32(UTF-8 bytes of the entry name, seed 0) / 2^32 < ${GCIDE_TEST_FRACTION}`,
    entries: source.entries.length,
    entriesWithoutWords: emptyText,
    fields: { named: source.fields.length, labels: labels.length, rarestLabel: labels[labels.length - 1] ?? null },
  }));
  return { ...result, source };
}
