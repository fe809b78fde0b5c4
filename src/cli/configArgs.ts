import { mergeConfig, parseConfig, setPath, type Config, type ConfigInput } from '../config.js';
import { ConfigError } from '../util/errors.js';
import { parseBytes } from '../network/estimate.js';
import { readBoundedText } from './paths.js';

/** Command-line options that map onto configuration fields. */
export interface ConfigFlags {
  config?: string;
  /** not a configuration field: the memory a model may need (--max-memory) */
  maxMemory?: string;
  epochs?: string;
  batchSize?: string;
  lr?: string;
  hidden?: string;
  seed?: string;
  threads?: string;
  mode?: string;
  family?: string;
  K?: string;
  L?: string;
  inference?: string;
  set?: string[];
}

/** ConfigFlags field -> configuration path, for the flags that take a number. */
const NUMERIC: Record<string, string> = {
  epochs: 'epochs',
  batchSize: 'batchSize',
  lr: 'optimizer.lr',
  seed: 'seed',
  threads: 'threads',
  K: 'output.hash.K',
  L: 'output.hash.L',
};

/**
 * The flag as the user typed it, from commander's attribute name: `batchSize` -> `--batch-size`.
 * Single letters are flags of their own case (`--K`, `--L`), not kebab-cased (`---k`).
 */
export function flagName(attr: string): string {
  if (attr.length === 1) return '--' + attr;
  return '--' + attr.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase());
}

/**
 * Build the run's configuration: defaults <- base (e.g. a command's preset) <- --config file
 * <- individual flags <- --set path=value. Validation names the offending field and source.
 */
export function configFromFlags(flags: ConfigFlags, base: unknown = {}): Config {
  return parseConfig(givenConfig(flags, base), 'command line');
}

/**
 * The settings the user gave (base <- --config <- flags <- --set), validated but not completed
 * with defaults: what deriveConfig (src/training/autoConfig.ts) must leave as given.
 */
export function givenConfig(flags: ConfigFlags, base: unknown = {}): ConfigInput {
  let cfg: unknown = base;
  if (flags.config) {
    const text = readBoundedText(flags.config, '--config');
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (e) {
      throw new ConfigError(`${flags.config}: not valid JSON: ${(e as Error).message}`);
    }
    parseConfig(parsed, flags.config); // report file errors against the file's name
    cfg = mergeConfig(cfg, parsed);
  }
  const over: Record<string, unknown> = {};
  for (const [flag, path] of Object.entries(NUMERIC)) {
    const v = (flags as Record<string, unknown>)[flag];
    if (v === undefined) continue;
    const num = Number(v);
    if (typeof v !== 'string' || v.trim() === '' || !Number.isFinite(num)) {
      throw new ConfigError(`${flagName(flag)}: expected a number, found ${JSON.stringify(v)}`);
    }
    setPath(over, path, num);
  }
  if (flags.hidden !== undefined) {
    const parts = flags.hidden.split(',').map((x) => Number(x.trim()));
    if (parts.length === 0 || parts.some((x) => !Number.isInteger(x) || x <= 0)) {
      throw new ConfigError(`--hidden: expected comma-separated positive integers, found ${JSON.stringify(flags.hidden)}`);
    }
    over.hidden = parts;
  }
  if (flags.mode !== undefined) setPath(over, 'output.mode', flags.mode);
  if (flags.family !== undefined) setPath(over, 'output.hash.family', flags.family);
  if (flags.inference !== undefined) over.inference = flags.inference;
  for (const kv of flags.set ?? []) {
    const eq = kv.indexOf('=');
    if (eq <= 0) throw new ConfigError(`--set: expected path=value, found ${JSON.stringify(kv)}`);
    const path = kv.slice(0, eq);
    const raw = kv.slice(eq + 1);
    let value: unknown = raw;
    try {
      value = JSON.parse(raw);
    } catch {
      /* a bare string */
    }
    setPath(over, path, value);
  }
  const given = mergeConfig(cfg, over) as ConfigInput;
  parseConfig(given, 'command line');
  return given;
}

/** The integer a flag gives, in lo..hi (a one-line error naming the flag otherwise). */
function integerFlag(v: string, flag: string, lo: number, hi: number): number {
  const n = Number(v);
  if (v.trim() === '' || !Number.isInteger(n) || n < lo || n > hi) throw new ConfigError(`${flag}: expected an integer in ${lo}..${hi}, found ${JSON.stringify(v)}`);
  return n;
}

/** --threads of eval and predict: a positive integer, or (unset) every core. */
export function threadsFlag(v: string | undefined): number {
  return v === undefined ? 0 : integerFlag(v, '--threads', 1, 256);
}

/** --candidates: the candidates of an LSH query, or undefined for the model's own. */
export function candidatesFlag(v: string | undefined): number | undefined {
  return v === undefined ? undefined : integerFlag(v, '--candidates', 1, 100_000_000);
}

/** --max-memory: bytes, or undefined for the default (90% of the machine's memory). */
export function maxMemoryFlag(v: string | undefined): number | undefined {
  return v === undefined ? undefined : parseBytes(v, '--max-memory');
}
