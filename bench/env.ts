/**
 * Settings the benchmarks share, read from the environment: BENCH_CONFIG (JSON merged over a
 * benchmark's own engine configuration, to measure another recipe by the same code), BENCH_OUT
 * (directory of the result files, so that such a run does not overwrite the committed results)
 * and numeric settings with their checks.
 */
import { resolve } from 'node:path';
import { parseConfig, mergeConfig, type ConfigInput } from '../src/config.js';

/** `base` with the JSON of `raw` merged over it; validated now, so a bad value fails before any run. */
export function configWithOverride(base: ConfigInput, raw: string | undefined): ConfigInput {
  if (raw === undefined || raw === '') return base;
  let over: unknown;
  try {
    over = JSON.parse(raw);
  } catch (e) {
    throw new RangeError(`BENCH_CONFIG is not valid JSON: ${(e as Error).message}`);
  }
  const merged = mergeConfig(base, over) as ConfigInput;
  parseConfig(merged, 'BENCH_CONFIG');
  return merged;
}

/**
 * The number the environment variable `name` holds, or `dflt` when it is unset or empty; a value
 * that is not a number or fails `ok` is refused as `NAME must be <what>, found "value"`.
 */
export function numberFromEnv(name: string, dflt: number, what: string, ok: (v: number) => boolean, env: NodeJS.ProcessEnv = process.env): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return dflt;
  const v = Number(raw);
  if (!Number.isFinite(v) || !ok(v)) throw new RangeError(`${name} must be ${what}, found ${JSON.stringify(raw)}`);
  return v;
}

/** The absolute output directory BENCH_OUT names, or null for the benchmark's default. */
export function outDirFromEnv(raw: string | undefined): string | null {
  return raw !== undefined && raw !== '' ? resolve(raw) : null;
}

/**
 * The `NAME=value ` assignments of those of `names` set in env, in order, for the command line a
 * result file records (values other than plain words and numbers single-quoted, as for JSON).
 */
export function envPrefix(names: readonly string[], env: NodeJS.ProcessEnv = process.env): string {
  let out = '';
  for (const k of names) {
    const v = env[k];
    if (v === undefined || v === '') continue;
    out += /^[\w.,/-]+$/.test(v) ? `${k}=${v} ` : `${k}='${v.replaceAll("'", "'\\''")}' `;
  }
  return out;
}
