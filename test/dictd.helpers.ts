import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

/** The dictd index's base64 numbers, written independently of the parser (most significant digit first). */
export function b64(n: number): string {
  const A = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  let s = '';
  do {
    s = A[n % 64]! + s;
    n = Math.floor(n / 64);
  } while (n > 0);
  return s;
}

/** A dictionary in the dict-* packages' format: NAME.dict (entries one after another, or NAME.dict.dz gzipped) and NAME.index (lowercased headwords, sorted). */
export function writeDict(dir: string, name: string, entries: { heads: string[]; text: string }[], gzip: boolean, lowercase = true): void {
  mkdirSync(dir, { recursive: true });
  let dict = '';
  const index: string[] = [];
  for (const e of entries) {
    const start = Buffer.byteLength(dict);
    dict += e.text;
    const len = Buffer.byteLength(dict) - start;
    for (const h of e.heads) index.push(`${lowercase ? h.toLowerCase() : h}\t${b64(start)}\t${b64(len)}`);
  }
  index.sort();
  writeFileSync(join(dir, `${name}.index`), index.join('\n') + '\n');
  if (gzip) writeFileSync(join(dir, `${name}.dict.dz`), gzipSync(Buffer.from(dict)));
  else writeFileSync(join(dir, `${name}.dict`), dict);
}
