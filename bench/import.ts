// Text import throughput: `sublinear data text` on synthetic JSONL of two sizes.
//   npm run bench:import                 # 100 MB and 1 GB
//   BENCH_QUICK=1 npm run bench:import   # 10 MB and 100 MB
//   BENCH_SIZES_MB=50,200 npm run bench:import
// 1. A deterministic JSONL per size (seeded Rng): {"id", "text", "tags"} rows whose words follow a
//    Zipf law over a 200,000-word vocabulary (a fifth of them from the row's topic), whose tags are
//    the topic's (1,000 topics, Zipf) plus 0-3 tags from a power-law over 20,000. Cached under
//    build/bench/import/ (generation is not what is measured).
// 2. Each size is imported in a child process of its own (`--child`), so the peak RSS
//    (process.resourceUsage().maxRSS) is that run's alone; the child times importTextFiles.
// Writes bench/results/import.json ({runs: [{sizeMB, bytes, rows, seconds, mbPerSec, rowsPerSec,
// maxRssMB, ...}]}) and prints a table. BENCH_OUT=dir writes elsewhere. Run it on a quiet machine.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, openSync, writeSync, closeSync, renameSync, rmSync, writeFileSync, statSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Rng } from '../src/util/rng.js';
import { importTextFiles } from '../src/data/text/importText.js';
import { envPrefix, outDirFromEnv } from './env.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, existsSync(resolve(here, '../package.json')) ? '..' : '../..');
const GENERATOR_VERSION = 1;

/** Cumulative Zipf(s) distribution over n ranks, for sampling by binary search. */
function zipfCdf(n: number, s: number): Float64Array {
  const cdf = new Float64Array(n);
  let sum = 0;
  for (let i = 0; i < n; i++) {
    sum += 1 / (i + 1) ** s;
    cdf[i] = sum;
  }
  for (let i = 0; i < n; i++) cdf[i]! /= sum;
  return cdf;
}

function sample(cdf: Float64Array, u: number): number {
  let lo = 0;
  let hi = cdf.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (cdf[mid]! < u) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Pronounceable pseudo-words of 2-11 letters, distinct. */
function makeWords(n: number, rng: Rng): string[] {
  const cons = 'bcdfghjklmnprstvwz';
  const vow = 'aeiou';
  const seen = new Set<string>();
  const out: string[] = [];
  while (out.length < n) {
    const syll = 1 + rng.nextInt(4);
    let w = '';
    for (let k = 0; k < syll; k++) w += cons[rng.nextInt(cons.length)]! + vow[rng.nextInt(vow.length)]! + (rng.nextFloat() < 0.3 ? cons[rng.nextInt(cons.length)]! : '');
    if (!seen.has(w)) {
      seen.add(w);
      out.push(w);
    }
  }
  return out;
}

/** Write `bytes` (at least) of synthetic JSONL to `path` (via a temporary file). */
function generate(path: string, bytes: number): void {
  const rng = new Rng(2024, 11);
  const words = makeWords(200_000, rng);
  const wordCdf = zipfCdf(words.length, 1.05);
  const nTopics = 1000;
  const topicCdf = zipfCdf(nTopics, 1.0);
  const tagCdf = zipfCdf(20_000, 1.1);
  // each topic draws its words from its own 500-word slice of the vocabulary
  const tmp = `${path}.tmp-${process.pid}`;
  const fd = openSync(tmp, 'w');
  let written = 0;
  let chunk = '';
  let row = 0;
  while (written + chunk.length < bytes) {
    const topic = sample(topicCdf, rng.nextFloat());
    const n = 20 + rng.nextInt(120);
    let text = '';
    for (let i = 0; i < n; i++) {
      const w = rng.nextFloat() < 0.2 ? words[(topic * 500 + sample(wordCdf, rng.nextFloat()) % 500) % words.length]! : words[sample(wordCdf, rng.nextFloat())]!;
      text += i === 0 ? w : (i % 13 === 0 ? '. ' : ' ') + w;
    }
    const tags = [`topic-${topic}`];
    for (let k = rng.nextInt(4); k > 0; k--) tags.push(`tag-${sample(tagCdf, rng.nextFloat())}`);
    chunk += JSON.stringify({ id: `r${row++}`, text: text + '.', tags }) + '\n';
    if (chunk.length >= 1 << 20) {
      writeSync(fd, chunk);
      written += chunk.length;
      chunk = '';
    }
  }
  writeSync(fd, chunk);
  closeSync(fd);
  renameSync(tmp, path);
}

interface ChildResult {
  seconds: number;
  /** user + system CPU time of the import (the wall time also counts waiting for the disk, or for other processes) */
  cpuSeconds: number;
  bytes: number;
  rows: number;
  maxRssMB: number;
  nTrain: number;
  nTest: number;
  nFeatures: number;
  nLabels: number;
  /** seconds of the import's phases (importer.ts) */
  phases: Record<string, number>;
}

async function child(input: string, out: string): Promise<void> {
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  const r = await importTextFiles({ input, out, fields: { text: ['text'], labels: 'tags', id: 'id', labelSep: ',' }, skipBad: false, options: {} });
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(c0);
  const res: ChildResult = {
    seconds,
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    bytes: r.bytes,
    rows: r.rows,
    maxRssMB: process.resourceUsage().maxRSS / 1024,
    nTrain: r.stats.nTrain,
    nTest: r.stats.nTest,
    nFeatures: r.stats.nFeatures,
    nLabels: r.stats.nLabels,
    phases: r.phases,
  };
  process.stdout.write(JSON.stringify(res) + '\n');
}

async function main(): Promise<void> {
  const quick = process.env.BENCH_QUICK === '1';
  const sizesMB = process.env.BENCH_SIZES_MB ? process.env.BENCH_SIZES_MB.split(',').map(Number) : quick ? [10, 100] : [100, 1000];
  if (sizesMB.some((s) => !(s > 0))) throw new RangeError(`BENCH_SIZES_MB: expected positive numbers, found ${process.env.BENCH_SIZES_MB}`);
  const dataDir = join(root, 'build/bench/import');
  mkdirSync(dataDir, { recursive: true });
  const runs = [];
  for (const mb of sizesMB) {
    const file = join(dataDir, `synthetic-v${GENERATOR_VERSION}-${mb}MB.jsonl`);
    if (!existsSync(file)) {
      process.stderr.write(`generating ${file} ...\n`);
      generate(file, mb * 1e6);
    }
    const out = join(dataDir, `out-${mb}MB`);
    rmSync(out, { recursive: true, force: true });
    process.stderr.write(`importing ${mb} MB in a child process ...\n`);
    const r = spawnSync(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--child', file, out], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 20 });
    if (r.status !== 0) throw new Error(`the import of ${file} failed (exit ${r.status})`);
    const res = JSON.parse(r.stdout.trim().split('\n').pop()!) as ChildResult;
    rmSync(out, { recursive: true, force: true });
    runs.push({
      sizeMB: mb,
      fileBytes: statSync(file).size,
      ...res,
      mbPerSec: Math.round((res.bytes / 1e6 / res.seconds) * 10) / 10,
      rowsPerSec: Math.round(res.rows / res.seconds),
    });
    const x = runs[runs.length - 1]!;
    process.stderr.write(`  ${x.mbPerSec} MB/s, ${x.rowsPerSec} rows/s, peak RSS ${x.maxRssMB.toFixed(0)} MB, ${x.nFeatures} features, ${x.nLabels} labels\n`);
  }
  const outDir = outDirFromEnv(process.env.BENCH_OUT) ?? join(root, 'bench/results');
  mkdirSync(outDir, { recursive: true });
  const result = {
    command: `${envPrefix(['BENCH_QUICK', 'BENCH_SIZES_MB', 'BENCH_OUT'])}npm run bench:import`,
    date: new Date().toISOString(),
    node: process.version,
    cpu: cpus()[0]?.model ?? 'unknown',
    what: 'sublinear data text on synthetic JSONL (id, text, tags), --test-fraction 0.2, one core; the peak RSS is the child process that imported',
    runs,
  };
  writeFileSync(join(outDir, 'import.json'), JSON.stringify(result, null, 2) + '\n');
  console.log('| input | rows | seconds | MB/s | rows/s | peak RSS MB | features | labels |');
  console.log('|---|---|---|---|---|---|---|---|');
  for (const x of runs) {
    console.log(`| ${x.sizeMB} MB | ${x.rows} | ${x.seconds.toFixed(1)} | ${x.mbPerSec} | ${x.rowsPerSec} | ${x.maxRssMB.toFixed(0)} | ${x.nFeatures} | ${x.nLabels} |`);
  }
  console.log(`written to ${join(outDir, 'import.json')}`);
}

if (process.argv[2] === '--child') await child(process.argv[3]!, process.argv[4]!);
else await main();
