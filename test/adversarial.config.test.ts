import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mergeConfig, parseConfig, setPath } from '../src/config.js';
import { configFromFlags } from '../src/cli/configArgs.js';
import { describeEpochs } from '../src/cli/commands.js';
import { describeError } from '../src/cli/main.js';
import { ConfigError, FileError } from '../src/util/errors.js';
import { QUICK_TRAIN, assertCleanFailure, assertSuccess, cli, inProcess, writeData } from './adversarial.helpers.js';
import type { EpochSummary } from '../src/training/model.js';

/**
 * Configuration under attack: flags with bad values, --set paths into JavaScript's object
 * internals, configuration files that are not objects, not files, endless or huge; and the
 * messages of the runs themselves (fractional epochs, a dense model asked for LSH inference,
 * bugs against expected errors).
 */
const dir = mkdtempSync(join(tmpdir(), 'adv-config-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));
const data = await writeData(dir);
const file = (name: string, text: string): string => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};

/** Every own property of Object.prototype with its descriptor (what pollution would change). */
function prototypeSnapshot(): string {
  return JSON.stringify(Object.getOwnPropertyNames(Object.prototype).sort().map((k) => [k, typeof Object.getOwnPropertyDescriptor(Object.prototype, k)?.value]));
}

test('--set through __proto__, constructor or prototype is refused by name and Object.prototype stays unchanged', () => {
  const before = prototypeSnapshot();
  for (const path of ['__proto__.epochs', 'constructor.prototype.epochs', 'optimizer.__proto__.lr', 'output.prototype', '__proto__']) {
    assert.throws(
      () => configFromFlags({ set: [`${path}=0`] }),
      (e: unknown) => e instanceof ConfigError && e.message.includes(JSON.stringify(path)) && /is not a configuration field/.test(e.message),
      path,
    );
  }
  const o: Record<string, unknown> = {};
  assert.throws(() => setPath(o, '__proto__.polluted', 1), ConfigError);
  assert.deepEqual(o, {});
  assert.equal(prototypeSnapshot(), before);
  assert.equal(({} as Record<string, unknown>).epochs, undefined);
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
});

test('mergeConfig refuses a parsed "__proto__" key (JSON.parse makes it an own property) without touching any prototype', () => {
  const before = prototypeSnapshot();
  const evil = JSON.parse('{"optimizer": {"__proto__": {"lr": 7}}}') as unknown;
  assert.throws(() => mergeConfig({ optimizer: { lr: 1 } }, evil), (e: unknown) => e instanceof ConfigError && /field "optimizer\.__proto__"/.test(e.message));
  const merged = mergeConfig({ a: { b: 1 } }, JSON.parse('{"a": {"c": 2}}')) as Record<string, Record<string, number>>;
  assert.deepEqual(merged, { a: { b: 1, c: 2 } });
  assert.equal(Object.getPrototypeOf(merged.a), Object.prototype);
  assert.equal(prototypeSnapshot(), before);
});

test('setPath: empty segments are refused, an inherited name is never walked into', () => {
  assert.throws(() => setPath({}, 'optimizer..lr', 1), /empty field name/);
  assert.throws(() => setPath({}, '.lr', 1), /empty field name/);
  const o: Record<string, unknown> = {};
  setPath(o, 'toString.x', 1); // "toString" is inherited, not own: a fresh object is made
  assert.deepEqual(o, { toString: { x: 1 } });
  assert.equal(typeof ({} as { toString: unknown }).toString, 'function');
});

test('parseConfig: null, arrays, numbers, strings and booleans are not a configuration; undefined is the defaults', () => {
  for (const [v, kind] of [[null, 'null'], [[], 'an array'], [5, 'number 5'], ['x', 'a string "x"'], [true, 'boolean true']] as const) {
    assert.throws(() => parseConfig(v, 'cfg.json'), (e: unknown) => e instanceof ConfigError && e.message === `cfg.json: the configuration must be a JSON object ({"field": value, ...}), found ${kind}`);
  }
  assert.equal(parseConfig(undefined).epochs, 5);
});

test('describeEpochs says how much of an epoch a fractional run trained', () => {
  const ep = (rows: number): EpochSummary => ({ epoch: 1, seconds: 2, samplesPerSec: rows / 2, loss: 0, trainP1: 0, activePerSample: 0, points: rows });
  assert.equal(describeEpochs([ep(200)], 2000), '0.1 epochs (200 of 2000 points)');
  assert.equal(describeEpochs([ep(2000), ep(2000), ep(1000)], 2000), '2.5 epochs (2 full, then 1000 of 2000 points)');
  assert.equal(describeEpochs([ep(2000)], 2000), '1 epoch');
  assert.equal(describeEpochs([ep(2000), ep(2000)], 2000), '2 epochs');
});

test('describeError: expected errors are their message (exit 1), bugs are one line with the place and the --debug hint (exit 2)', () => {
  assert.deepEqual(describeError(new ConfigError('--lr: bad')), { line: '--lr: bad', code: 1 });
  assert.deepEqual(describeError(new FileError('/x', 'cannot write "/x": no space')), { line: 'cannot write "/x": no space', code: 1 });
  const raw = Object.assign(new Error('EACCES: permission denied, open \'/etc/x\''), { code: 'EACCES', syscall: 'open', path: '/etc/x' });
  assert.deepEqual(describeError(raw), { line: 'cannot read "/etc/x": permission denied', code: 1 });
  const bug = describeError(new TypeError("Cannot read properties of undefined (reading 'x')"));
  assert.equal(bug.code, 2);
  assert.match(bug.line, /^internal error: TypeError: Cannot read properties of undefined \(reading 'x'\) \(at .*adversarial\.config\.test\.[jt]s:\d+:\d+\); this is a bug: .* --debug$/);
  assert.equal(describeError(new RangeError('Maximum call stack size exceeded')).code, 2);
  assert.equal(describeError(new RangeError('--resume: the data has 9 features')).code, 1);
});

/** CLI cases: [name, args, expected message]; each exits 1 with that one line and no stack. */
const failures: [string, string[], RegExp][] = [
  ['--K abc names --K, not ---k', ['train', '--train', data.train, '--K', 'abc'], /^sublinear: --K: expected a number, found "abc"$/],
  ['--L x names --L', ['train', '--train', data.train, '--L', 'x'], /^sublinear: --L: expected a number, found "x"$/],
  ['--batch-size names the kebab flag', ['train', '--train', data.train, '--batch-size', '1e'], /^sublinear: --batch-size: expected a number/],
  ['--epochs 0', ['train', '--train', data.train, '--epochs', '0'], /field "epochs": .*>0/],
  ['--epochs -1', ['train', '--train', data.train, '--epochs', '-1'], /field "epochs"/],
  ['--lr NaN', ['train', '--train', data.train, '--lr', 'NaN'], /--lr: expected a number, found "NaN"/],
  ['--hidden 8,,4', ['train', '--train', data.train, '--hidden', '8,,4'], /--hidden: expected comma-separated positive integers/],
  ['--set __proto__.epochs=0', ['train', '--train', data.train, '--set', '__proto__.epochs=0'], /^sublinear: --set "__proto__\.epochs": "__proto__" is not a configuration field/],
  ['--set constructor.prototype.x=1', ['train', '--train', data.train, '--set', 'constructor.prototype.x=1'], /--set "constructor\.prototype\.x": "constructor" is not a configuration field/],
  ['--set without =', ['train', '--train', data.train, '--set', 'epochs'], /--set: expected path=value/],
  ['--set unknown field', ['train', '--train', data.train, '--set', 'optimizer.lrr=1'], /unknown field "optimizer\.lrr"/],
  ['config file null', ['train', '--train', data.train, '--config', file('null.json', 'null')], /null\.json: the configuration must be a JSON object .* found null$/],
  ['config file array', ['train', '--train', data.train, '--config', file('arr.json', '[{"epochs": 1}]')], /arr\.json: the configuration must be a JSON object .* found an array$/],
  ['config file number', ['train', '--train', data.train, '--config', file('num.json', '42')], /num\.json: the configuration must be a JSON object .* found number 42$/],
  ['config file string', ['train', '--train', data.train, '--config', file('str.json', '"epochs"')], /str\.json: the configuration must be a JSON object .* found a string "epochs"$/],
  ['config file empty', ['train', '--train', data.train, '--config', file('empty.json', '')], /empty\.json: not valid JSON/],
  ['config file not JSON', ['train', '--train', data.train, '--config', file('bad.json', '{"epochs": 1,}')], /bad\.json: not valid JSON/],
  ['config file with "__proto__"', ['train', '--train', data.train, '--config', file('proto.json', '{"__proto__": {"epochs": 0}}')], /proto\.json: unknown field "__proto__"/],
  ['config file 20,000 levels deep', ['train', '--train', data.train, '--config', file('deep.json', '{"output":' + '['.repeat(20_000) + ']'.repeat(20_000) + '}')], /deep\.json: field "output": /],
  ['config file over 1 MiB', ['train', '--train', data.train, '--config', file('big.json', ' '.repeat((1 << 20) + 1) + '{}')], /--config \S*big\.json: 1048579 bytes; a configuration file is at most 1048576 bytes/],
  ['config /dev/zero (endless)', ['train', '--train', data.train, '--config', '/dev/zero'], /--config \/dev\/zero: a character device, not a regular file/],
  ['config a directory', ['train', '--train', data.train, '--config', dir], /--config \S+: it is a directory; give a file/],
  ['config missing', ['train', '--train', data.train, '--config', join(dir, 'none.json')], /--config \S*none\.json: no such file/],
  ['--mode dense --inference lsh', ['train', '--train', data.train, '--mode', 'dense', '--inference', 'lsh'], /--inference lsh: the output layer is dense .* use --inference exact/],
  ['--threads -1', ['train', '--train', data.train, '--threads', '-1'], /field "threads"/],
  ['rangePow 24 with 1,024 tables: the product is reported, not a part of it', ['train', '--train', data.train, '--mode', 'lsh', '--set', 'output.hash.rangePow=24', '--L', '1024'], /L \* \(2\^rangePow \+ 1\) must be below 2\^31 \(L = 1024, rangePow = 24\), found 17179870208$/],
];

// a FIFO with no writer: opening it would block forever; refused from its stat
const fifo = join(dir, 'cfg.fifo');
execFileSync('mkfifo', [fifo]);
failures.push(['config a FIFO (no writer: would block)', ['train', '--train', data.train, '--config', fifo], /--config \S*cfg\.fifo: a FIFO \(named pipe\), not a regular file/]);

test('CLI configuration errors: one line naming the flag, field or file, exit code 1, no stack', async (t) => {
  for (const [name, args, re] of failures) await t.test(name, async () => assertCleanFailure(await inProcess(args), re));
});

/** Cases run again as real child processes of the bin: its exit code and stderr are main()'s. */
const AS_CHILD = ['--K abc names --K, not ---k', '--set __proto__.epochs=0', 'config file null', 'config /dev/zero (endless)', 'config a FIFO (no writer: would block)'];

test('the same errors from the real bin in a child process', { concurrency: 3 }, async (t) => {
  const cases = failures.filter(([name]) => AS_CHILD.includes(name));
  assert.equal(cases.length, AS_CHILD.length);
  await Promise.all(cases.map(([name, args, re]) => t.test(name, async () => assertCleanFailure(await cli(args, { timeoutMs: 20_000 }), re))));
});

test('--debug and SUBLINEAR_DEBUG=1 add the stack to the one line', { concurrency: 2 }, async (t) => {
  const args = ['train', '--train', data.train, '--config', join(dir, 'null.json')];
  await Promise.all([
    t.test('--debug', async () => {
      const r = await cli(['--debug', ...args]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /^sublinear: \S*null\.json: the configuration must be a JSON object/);
      assert.match(r.stderr, /\n\s+at parseConfig \(/);
    }),
    t.test('SUBLINEAR_DEBUG=1', async () => {
      const r = await cli(args, { env: { SUBLINEAR_DEBUG: '1' } });
      assert.equal(r.code, 1);
      assert.match(r.stderr, /\n\s+at parseConfig \(/);
    }),
  ]);
});

test('--epochs 0.1 reports the fraction it trained; a dense run reports exact inference only', { concurrency: 2 }, async (t) => {
  const base = QUICK_TRAIN;
  await Promise.all([
    t.test('0.1 epochs', async () => {
      const r = await cli(['train', '--train', data.train, ...base, '--epochs', '0.1']);
      assertSuccess(r);
      assert.match(r.stdout, /^trained 0\.1 epochs \(30 of 300 points\) in /m);
    }),
    t.test('1.5 epochs', async () => {
      const r = await cli(['train', '--train', data.train, ...base, '--epochs', '1.5']);
      assertSuccess(r);
      assert.match(r.stdout, /^trained 1\.5 epochs \(1 full, then 150 of 300 points\) in /m);
    }),
    t.test('dense', async () => {
      const r = await cli(['train', '--train', data.train, '--test', data.test, ...base, '--mode', 'dense']);
      assertSuccess(r);
      assert.match(r.stdout, /^test exact inference: P@1/m);
      assert.doesNotMatch(r.stdout, /LSH/);
    }),
  ]);
});

test('field errors name their source: the --config file, or "command line" for flags and --set', async () => {
  mkdirSync(join(dir, 'sub'), { recursive: true });
  const p = file('sub/typo.json', '{"optimizer": {"lr": "fast"}}');
  assertCleanFailure(await cli(['train', '--train', data.train, '--config', p]), /typo\.json: field "optimizer\.lr"/);
  assertCleanFailure(await cli(['train', '--train', data.train, '--set', 'optimizer.lr="fast"']), /command line: field "optimizer\.lr"/);
});
