/**
 * Dictionaries in the dictd format of Debian's dict-* packages: NAME.index (lines
 * "headword<TAB>offset<TAB>length", the numbers in dictd's base64) and NAME.dict.dz (gzip-readable
 * dictzip) or NAME.dict. The data sets built from them (foldoc.ts, gcide.ts) read their entries here.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { ConfigError, InputError, quote } from '../util/errors.js';

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

/** A number in the dictd index's base64 (most significant digit first); -1 if not one. */
export function dictdNumber(s: string): number {
  let v = 0;
  for (let i = 0; i < s.length; i++) {
    const d = B64.indexOf(s[i]!);
    if (d < 0) return -1;
    v = v * 64 + d;
  }
  return v;
}

/** One index line: a headword and the block of the dictionary it points to. */
export interface DictdIndexLine {
  head: string;
  offset: number;
  length: number;
  /** 1-based line of the index */
  line: number;
}

export interface Dictd {
  indexFile: string;
  dictFile: string;
  /** the dictionary's text, uncompressed */
  dict: Buffer;
  /** the index lines in index order, the dictionary's own (meta) entries left out */
  lines: DictdIndexLine[];
  /** the short title (the 00-database-short entry's text), or `fallbackTitle` */
  title: string;
}

/**
 * Read dictionary `name` from `dir`. `meta` says which headwords are the dictionary's own entries
 * (00-database-short and the like): they give the title and are not entries. A missing
 * dictionary names the Debian package to install; a malformed index line its file and line.
 */
export function readDictd(dir: string, name: string, pkg: string, meta: (head: string) => boolean, fallbackTitle: string): Dictd {
  const indexFile = join(dir, `${name}.index`);
  const dz = join(dir, `${name}.dict.dz`);
  const plain = join(dir, `${name}.dict`);
  const dictFile = existsSync(dz) ? dz : plain;
  if (!existsSync(indexFile) || !existsSync(dictFile)) {
    throw new ConfigError(`${fallbackTitle} is not in ${dir} (${name}.index and ${name}.dict.dz): install the Debian package ${pkg} (apt-get install ${pkg}), or give --dict-dir`);
  }
  const dict = dictFile.endsWith('.dz') ? gunzipSync(readFileSync(dictFile)) : readFileSync(dictFile);
  const lines: DictdIndexLine[] = [];
  let title = fallbackTitle;
  readFileSync(indexFile, 'utf8')
    .split('\n')
    .forEach((line, i) => {
      if (line === '') return;
      const parts = line.split('\t');
      const offset = parts.length === 3 ? dictdNumber(parts[1]!) : -1;
      const length = parts.length === 3 ? dictdNumber(parts[2]!) : -1;
      if (offset < 0 || length < 0 || offset + length > dict.length) {
        throw new InputError(indexFile, i + 1, `"headword<TAB>offset<TAB>length" with base64 numbers inside ${dictFile}`, quote(line, 60));
      }
      const head = parts[0]!;
      if (meta(head)) {
        if (head === '00-database-short') title = dict.toString('utf8', offset, offset + length).split('\n').slice(1).join(' ').trim() || title;
        return;
      }
      lines.push({ head, offset, length, line: i + 1 });
    });
  return { indexFile, dictFile, dict, lines, title };
}
