// Summarises the runs of bench/before-after.sh (a directory of demo-<build>-<i>.json and
// tp-<build>-<i>/throughput.quick.json) as one JSON document on stdout.
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';

const [dir, oldCommit] = process.argv.slice(2);
const out = { oldCommit, demo: { old: [], new: [] }, throughputQuick: { old: [], new: [] } };
for (const build of ['old', 'new']) {
  for (let i = 1; existsSync(join(dir, `demo-${build}-${i}.json`)); i++) {
    const d = JSON.parse(readFileSync(join(dir, `demo-${build}-${i}.json`), 'utf8'));
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
    const t = JSON.parse(readFileSync(join(dir, `tp-${build}-${i}`, 'throughput.quick.json'), 'utf8'));
    out.throughputQuick[build].push(t.runs.map((r) => ({ mode: r.mode, threads: r.threads, outputShards: r.outputShards, samplesPerSec: r.samplesPerSec })));
  }
}
process.stdout.write(JSON.stringify(out, null, 2) + '\n');
