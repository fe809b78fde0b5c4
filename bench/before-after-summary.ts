/**
 * Summarises the runs of bench/before-after.sh (a directory of demo-<build>-<i>.json and
 * tp-<build>-<i>/throughput.quick.json) as one JSON document on stdout.
 *   node --import tsx bench/before-after-summary.ts <dir> <old commit>
 */
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';

type Build = 'old' | 'new';
interface Eval { p1: number; seconds: number }
interface Demo { trainSeconds: number; epochs: { samplesPerSec: number }[]; final: { lsh: Eval; exact: Eval } }
interface Throughput { runs: { mode: string; threads: number; outputShards: number; samplesPerSec: number }[] }

const [dir, oldCommit] = process.argv.slice(2);
if (!dir || !oldCommit) throw new Error('usage: before-after-summary.ts <dir> <old commit>');
const read = <T>(file: string): T => JSON.parse(readFileSync(file, 'utf8')) as T;
const out = {
  oldCommit,
  demo: { old: [] as object[], new: [] as object[] },
  throughputQuick: { old: [] as object[][], new: [] as object[][] },
};
for (const build of ['old', 'new'] as Build[]) {
  for (let i = 1; existsSync(join(dir, `demo-${build}-${i}.json`)); i++) {
    const d = read<Demo>(join(dir, `demo-${build}-${i}.json`));
    out.demo[build].push({
      trainSeconds: d.trainSeconds,
      samplesPerSecByEpoch: d.epochs.map((e) => e.samplesPerSec),
      lshP1: d.final.lsh.p1,
      exactP1: d.final.exact.p1,
      exactEvalSeconds: d.final.exact.seconds,
      lshEvalSeconds: d.final.lsh.seconds,
    });
  }
  for (let i = 1; existsSync(join(dir, `tp-${build}-${i}`, 'throughput.quick.json')); i++) {
    const t = read<Throughput>(join(dir, `tp-${build}-${i}`, 'throughput.quick.json'));
    out.throughputQuick[build].push(t.runs.map((r) => ({ mode: r.mode, threads: r.threads, outputShards: r.outputShards, samplesPerSec: r.samplesPerSec })));
  }
}
process.stdout.write(JSON.stringify(out, null, 2) + '\n');
