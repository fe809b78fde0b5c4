import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { InputError } from '../util/errors.js';
import type { CheckpointExtra } from './checkpoint.js';

/**
 * Read the vocabularies that `sublinear data wordnet` writes beside a data set, to be saved in
 * a checkpoint: features.txt (line i = token of feature i), labels.txt (line i = name of label i),
 * idf.txt (line i = idf of feature i). Each file is optional; at least one must exist.
 */
export async function readVocabDir(dir: string): Promise<CheckpointExtra> {
  const names = async (file: string): Promise<string[] | undefined> => {
    const p = join(dir, file);
    if (!existsSync(p)) return undefined;
    const text = await readFile(p, 'utf8');
    const lines = text.split('\n');
    if (lines[lines.length - 1] === '') lines.pop();
    return lines.map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
  };
  const featureNames = await names('features.txt');
  const labelNames = await names('labels.txt');
  const idfLines = await names('idf.txt');
  if (!featureNames && !labelNames && !idfLines) {
    throw new InputError(dir, 0, 'a directory with features.txt, labels.txt or idf.txt', 'none of them');
  }
  const out: CheckpointExtra = {};
  if (featureNames) out.featureNames = featureNames;
  if (labelNames) out.labelNames = labelNames;
  if (idfLines) {
    const idf = new Float32Array(idfLines.length);
    idfLines.forEach((l, i) => {
      const v = Number(l);
      if (l.trim() === '' || !Number.isFinite(v) || v < 0) throw new InputError(join(dir, 'idf.txt'), i + 1, 'a non-negative number', JSON.stringify(l.slice(0, 40)));
      idf[i] = v;
    });
    if (featureNames && idf.length !== featureNames.length) {
      throw new InputError(join(dir, 'idf.txt'), idf.length, `${featureNames.length} lines (one per line of features.txt)`, `${idf.length}`);
    }
    out.idf = idf;
  }
  return out;
}
