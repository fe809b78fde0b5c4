/**
 * Shared by the adversarial tests: the `sublinear` command as a user runs it (the built bin in a
 * child process: exit codes and output are what is checked), small fixtures, and the check that
 * a failure is one clean line. (Not a test file itself: node --test runs only *.test.js.)
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SlideModel } from '../src/training/model.js';
import { saveModel } from '../src/checkpoint/checkpoint.js';
import { generateSynthetic } from '../src/data/synth.js';
import { writeXcFile } from '../src/data/xcWriter.js';
import type { ConfigInput } from '../src/config.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = [here, join(here, '..'), join(here, '../..')].find((d) => existsSync(join(d, 'package.json')) && existsSync(join(d, 'dist/src/cli/main.js')));
if (!root) throw new Error('adversarial tests need the built CLI (npm run build): dist/src/cli/main.js not found');
export const BIN = join(root, 'dist/src/cli/main.js');

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Run `sublinear ...args` in a child process; `timeoutMs` kills it (a hang is a failure, reported as signal SIGKILL). */
export function cli(args: string[], opts: { env?: Record<string, string>; timeoutMs?: number; cwd?: string } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: opts.cwd,
      env: { ...process.env, CI: 'true', SUBLINEAR_DEBUG: '', ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 30_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

let mainQueue: Promise<unknown> = Promise.resolve();

/**
 * Run the CLI's main() in this process, capturing stderr: the exit code main() returns is the
 * one the bin sets (`process.exitCode = await main(argv)`), and the stderr is the same text. For
 * the many cases that fail before any work this is a hundred times cheaper than a child process
 * (each costs ~0.4 s of start-up); every test file also runs some of its cases as real child
 * processes. Runs one at a time (stderr is captured by replacing process.stderr.write); stdout
 * is not captured (the test runner reports through it), so it is '' here.
 */
export function inProcess(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  const run = async (): Promise<CliResult> => {
    const { main } = await import('../src/cli/main.js');
    const write = process.stderr.write.bind(process.stderr);
    const saved = Object.fromEntries(Object.keys({ SUBLINEAR_DEBUG: '', ...env }).map((k) => [k, process.env[k]]));
    let stderr = '';
    process.stderr.write = ((s: string | Uint8Array) => {
      stderr += String(s);
      return true;
    }) as typeof process.stderr.write;
    Object.assign(process.env, { SUBLINEAR_DEBUG: '', ...env });
    try {
      return { code: await main(['node', 'sublinear', ...args]), signal: null, stdout: '', stderr };
    } finally {
      process.stderr.write = write;
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
  };
  const result = mainQueue.then(run, run);
  mainQueue = result.catch(() => undefined);
  return result;
}

/** A stack frame line as Node prints them. */
const FRAME = /^\s+at .+(:\d+:\d+\)?|\(native\)|<anonymous>\)?)$/m;

/**
 * The run failed cleanly: exit code `code`, exactly one `sublinear: ` line, the last one on
 * stderr, matching `message`, and no stack trace anywhere.
 */
export function assertCleanFailure(r: CliResult, message: RegExp, code = 1): void {
  const shown = `exit ${r.code} (${r.signal ?? 'no signal'})\nstderr:\n${r.stderr}`;
  assert.equal(r.signal, null, `not killed (a hang or a crash): ${shown}`);
  assert.equal(r.code, code, shown);
  assert.doesNotMatch(r.stderr, FRAME, `no stack trace: ${shown}`);
  const lines = r.stderr.split('\n').filter((l) => l.trim() !== '');
  const errors = lines.filter((l) => l.startsWith('sublinear: '));
  assert.equal(errors.length, 1, `one error line: ${shown}`);
  assert.equal(lines[lines.length - 1], errors[0], `the error line comes last: ${shown}`);
  assert.match(errors[0]!, message, shown);
}

/** The run succeeded (exit 0, no stack). */
export function assertSuccess(r: CliResult): void {
  assert.equal(r.code, 0, `exit ${r.code} (${r.signal ?? 'no signal'})\nstderr:\n${r.stderr}`);
  assert.doesNotMatch(r.stderr, FRAME);
}

/** Files in `dir` that atomic writes leave while they run (or after a kill): `.<name>.tmp-<pid>-<n>`. */
export function tempsIn(dir: string): string[] {
  return readdirSync(dir).filter((f) => f.includes('.tmp-'));
}

/** The pid of a process that has exited (for stale temporary files "of a dead process"). */
export function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  const pid = Number(r.stdout);
  assert.ok(Number.isInteger(pid) && pid > 0);
  // the child has been reaped when spawnSync returns; kill(pid, 0) must now fail with ESRCH
  assert.throws(() => process.kill(pid, 0), /ESRCH/);
  return pid;
}

/** A small data set (train.txt, test.txt in `dir`): 300 train / 100 test points, 200 features, 40 labels. */
export async function writeData(dir: string): Promise<{ train: string; test: string }> {
  const { train, test } = generateSynthetic({ nTrain: 300, nTest: 100, nFeatures: 200, nLabels: 40, featuresPerPoint: 8, labelsPerPoint: 2, seed: 5 });
  const paths = { train: join(dir, 'train.txt'), test: join(dir, 'test.txt') };
  await writeXcFile(paths.train, train);
  await writeXcFile(paths.test, test);
  return paths;
}

/** Flags of a quick CLI training run on writeData's set (one thread, a tiny network; add --epochs). */
export const QUICK_TRAIN = ['--threads', '1', '--hidden', '8', '--quiet', '--K', '3', '--L', '4'];

/** A small checkpoint (untrained: what is checked is how files are handled, not accuracy); `dense` = no LSH tables. */
export async function writeModel(path: string, dense = false): Promise<void> {
  const config: ConfigInput = {
    threads: 1,
    hidden: [8],
    output: dense ? { mode: 'dense' } : { mode: 'lsh', hash: { family: 'simhash', K: 3, L: 4 }, activeSet: { minActive: 4 } },
  };
  await saveModel(new SlideModel({ nFeatures: 200, nLabels: 40, config, kernels: 'auto' }), path);
}
