/**
 * The output layer in shard processes over NATS, on loopback (src/cluster):
 *  1. Amazon-670K shape (bench/configs.ts's LSH_CONFIG, as bench:throughput): training samples/s
 *     in one process (2 threads, the output layer in one memory) against a trainer (1 thread) with
 *     the output layer over 2 and 4 shard processes; messages, round trips a batch, bytes a sample,
 *     and the bytes the math needs (h floats out and back per slice, a logit and its gradient per
 *     candidate, the labels).
 *  2. An output layer larger than any one process may hold: 4,000,000 labels x hidden 128 with
 *     Adam (weights, two moments and the gradient buffer: 8 GiB, over 6 GiB of state) over 4 shard
 *     processes, each capped by --max-memory below the whole layer; samples/s of a few batches.
 *  3. Serving (the Amazon-shaped model of 1, saved with its slices): POST /predict requests/s
 *     through `serve --nats` with 1 and 2 replicas of each of 2 slices (autocannon, 8 connections).
 * Every process is a child of this script (nats-server on a free port, shards, trainer, server).
 *
 *   npm run bench:distributed     (BENCH_QUICK=1: small sizes, a minute or two)
 * Writes bench/results/distributed.json (BENCH_OUT: another directory).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect as tcpConnect } from 'node:net';
import { cpus, tmpdir, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateSynthetic, SYNTH_SHAPES } from '../src/data/synth.js';
import { writeXcFile } from '../src/data/xcWriter.js';
import { writeFileAtomic } from '../src/util/atomicWrite.js';
import { parseConfig, type ConfigInput } from '../src/config.js';
import { sliceModelBytes } from '../src/cluster/slice.js';
import { outDirFromEnv } from './env.js';
import { LSH_CONFIG } from './configs.js';

interface AutocannonResult {
  requests: { average: number };
  latency: { p50: number; p99: number };
  errors: number;
  non2xx: number;
}
// autocannon ships no type declarations: a string-typed specifier keeps the import untyped
const autocannon = ((await import('autocannon' as string)) as { default: (opts: Record<string, unknown>) => Promise<AutocannonResult> }).default;

const QUICK = process.env.BENCH_QUICK === '1';
const here = fileURLToPath(import.meta.url);
const root = join(dirname(here), here.includes('/dist/') ? '../..' : '..');
const CLI = join(root, 'dist/src/cli/main.js');
const work = mkdtempSync(join(tmpdir(), 'sublinear-distributed-'));
const children: ChildProcess[] = [];

function log(s: string): void {
  process.stderr.write(s + '\n');
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => resolve(typeof a === 'object' && a !== null ? a.port : 0));
    });
  });
}

async function until(ok: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const t0 = performance.now();
  while (!(await ok())) {
    if (performance.now() - t0 > ms) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

interface Child {
  p: ChildProcess;
  out: () => string;
  exited: Promise<number | null>;
}

function start(cmd: string, args: string[]): Child {
  const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(p);
  let out = '';
  p.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  p.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  return { p, out: () => out, exited: new Promise((r) => p.once('exit', (c) => r(c))) };
}

async function stop(c: Child): Promise<void> {
  if (c.p.exitCode !== null || c.p.signalCode !== null) return;
  c.p.kill('SIGTERM');
  const t = setTimeout(() => c.p.kill('SIGKILL'), 3000);
  await c.exited;
  clearTimeout(t);
}

async function natsServer(): Promise<{ url: string; c: Child }> {
  const port = await freePort();
  // max_payload at its ceiling, so that a batch's request to a slice is one message
  const conf = join(work, 'nats.conf');
  writeFileSync(conf, `listen: 127.0.0.1:${port}\nmax_payload: 67108864\njetstream { store_dir: "${join(work, 'js')}" }\n`);
  const c = start('nats-server', ['-c', conf]);
  await until(
    () => new Promise<boolean>((r) => {
      const s = tcpConnect(port, '127.0.0.1', () => (s.end(), r(true)));
      s.once('error', () => r(false));
    }),
    10_000,
    'nats-server',
  );
  return { url: `nats://127.0.0.1:${port}`, c };
}

async function shards(url: string, prefix: string, n: number, extra: string[] = []): Promise<Child[]> {
  const out = Array.from({ length: n }, () => start(process.execPath, [CLI, 'shard', '--nats', url, '--prefix', prefix, '--dir', work, ...extra]));
  await until(() => out.every((c) => /waits for work/.test(c.out())), 30_000, 'shard processes');
  return out;
}

interface TrainRun {
  what: string;
  samplesPerSec: number;
  trainSeconds: number;
  samples: number;
  /** output neurons computed a sample (the candidates whose logits and gradients travel) */
  activePerSample: number;
  remote: { shards: number; messagesPerBatch: number; roundTripsPerBatch: number; bytesPerSample: number } | null;
}

async function trainRun(what: string, args: string[]): Promise<TrainRun> {
  const metrics = join(work, `m-${Math.random().toString(36).slice(2)}.json`);
  const t = start(process.execPath, [CLI, 'train', ...args, '--metrics-out', metrics, '--quiet']);
  const code = await t.exited;
  if (code !== 0) throw new Error(`${what}: exit ${code}: ${t.out()}`);
  const m = JSON.parse(readFileSync(metrics, 'utf8'));
  const samples = m.epochs.reduce((a: number, e: { points: number }) => a + e.points, 0);
  const active = m.epochs.reduce((a: number, e: { points: number; activePerSample: number }) => a + e.points * e.activePerSample, 0) / Math.max(1, samples);
  const r: TrainRun = { what, samplesPerSec: samples / m.trainSeconds, trainSeconds: m.trainSeconds, samples, activePerSample: active, remote: m.remote ? { shards: m.remote.shards, messagesPerBatch: m.remote.messagesPerBatch, roundTripsPerBatch: m.remote.roundTripsPerBatch, bytesPerSample: m.remote.bytesPerSample } : null };
  log(`${what}: ${r.samplesPerSec.toFixed(0)} samples/s${r.remote ? `, ${r.remote.messagesPerBatch.toFixed(1)} messages and ${r.remote.roundTripsPerBatch.toFixed(2)} round trips a batch, ${r.remote.bytesPerSample.toFixed(0)} bytes a sample` : ''}`);
  return r;
}

/**
 * Bytes a sample needs on the wire: the output layer's input to every slice and its gradient back
 * (4 h each), a logit and its gradient per candidate (8), the sample's labels (4 each).
 */
function neededBytes(h: number, slices: number, candidates: number, labels: number): number {
  return slices * 8 * h + 8 * candidates + 4 * labels;
}

async function main(): Promise<void> {
  if (spawnSync('nats-server', ['--version']).status !== 0) throw new Error('nats-server is not installed (Debian package nats-server)');
  const nats = await natsServer();
  const results: Record<string, unknown> = {
    machine: { cpus: cpus().length, model: cpus()[0]?.model, memoryGiB: totalmem() / 2 ** 30, node: process.version },
    quick: QUICK,
    note: 'loopback: one nats-server, every process on this machine',
  };

  // 1. Amazon-670K shape
  const shape = QUICK ? { ...SYNTH_SHAPES['amazon-670k'], nTrain: 3000, nTest: 500, nLabels: 100_000 } : { ...SYNTH_SHAPES['amazon-670k'], nTrain: 30_000, nTest: 2000 };
  log(`data: ${shape.nTrain} points of the Amazon-670K shape (${shape.nLabels} labels)`);
  const { train, test } = generateSynthetic({ ...shape, seed: 1 });
  await writeXcFile(join(work, 'train.txt'), train);
  await writeXcFile(join(work, 'test.txt'), test);
  const cfgFile = join(work, 'amazon.json');
  writeFileSync(cfgFile, JSON.stringify({ ...LSH_CONFIG, epochs: 1 }));
  const base = ['--train', join(work, 'train.txt'), '--config', cfgFile];
  const runs: TrainRun[] = [];
  runs.push(await trainRun('in-process, 2 threads', [...base, '--threads', '2']));
  runs.push(await trainRun('in-process, 1 thread', [...base, '--threads', '1']));
  for (const n of [2, 4]) {
    const prefix = `bench${n}`;
    const sh = await shards(nats.url, prefix, n);
    runs.push(await trainRun(`trainer (1 thread) + ${n} shard processes`, [...base, '--threads', '1', '--nats', nats.url, '--remote-shards', String(n), '--prefix', prefix, '--shard-timeout', '60']));
    for (const c of sh) await stop(c);
  }
  const cfg = parseConfig(LSH_CONFIG as ConfigInput);
  const labelsPerSample = train.labelIdx.length / train.n;
  const h = cfg.hidden[cfg.hidden.length - 1]!;
  results.amazon = {
    shape: { nTrain: shape.nTrain, nFeatures: shape.nFeatures, nLabels: shape.nLabels, hidden: cfg.hidden, batchSize: cfg.batchSize },
    runs: runs.map((r) => {
      if (!r.remote) return { ...r, vsInProcess2Threads: r.samplesPerSec / runs[0]!.samplesPerSec };
      // what the math needs: h floats to and from every slice, a logit and its gradient per candidate, the labels
      const need = neededBytes(h, r.remote.shards, r.activePerSample, labelsPerSample);
      return { ...r, vsInProcess2Threads: r.samplesPerSec / runs[0]!.samplesPerSec, neededBytesPerSample: need, sentOverNeeded: r.remote.bytesPerSample / need };
    }),
  };

  // 3. serving the Amazon-shaped model (trained on 2 slices, saved), 1 and 2 replicas a slice
  {
    const prefix = 'benchserve';
    const sh = await shards(nats.url, prefix, 4);
    const ck = join(work, 'served.safetensors');
    await trainRun('model to serve (2 slices)', [...base, '--threads', '1', '--epochs', QUICK ? '0.2' : '0.5', '--nats', nats.url, '--remote-shards', '2', '--prefix', prefix, '--save', ck, '--shard-timeout', '60']);
    const row = 0;
    const features: Record<string, number> = {};
    for (let i = test.featPtr[row]!; i < test.featPtr[row + 1]!; i++) features[String(test.featIdx[i])] = test.featVal[i]!;
    const serving: unknown[] = [];
    for (const replicas of [1, 2]) {
      const port = await freePort();
      const sv = start(process.execPath, [CLI, 'serve', '--model', ck, '--port', String(port), '--nats', nats.url, '--prefix', prefix, '--replicas', String(replicas), '--quiet']);
      await until(() => /serving at/.test(sv.out()), 60_000, 'serve');
      // let every replica load its slice
      await new Promise((r) => setTimeout(r, replicas > 1 ? 4000 : 500));
      const r = await autocannon({
        url: `http://127.0.0.1:${port}/predict`, method: 'POST', connections: 8, duration: QUICK ? 3 : 10,
        headers: { 'content-type': 'application/json' }, body: JSON.stringify({ features, k: 5 }),
      });
      serving.push({ replicas, requestsPerSec: r.requests.average, latencyMsP50: r.latency.p50, latencyMsP99: r.latency.p99, non2xx: r.non2xx, errors: r.errors });
      log(`serving, ${replicas} replica(s) a slice: ${r.requests.average.toFixed(0)} requests/s, p50 ${r.latency.p50} ms, ${r.non2xx} non-2xx`);
      await stop(sv);
      await new Promise((r2) => setTimeout(r2, 1500));
    }
    results.serving = serving;
    for (const c of sh) await stop(c);
  }

  // 2. a layer larger than one process may hold
  {
    const nLabels = QUICK ? 400_000 : 4_000_000;
    const big: ConfigInput = { ...LSH_CONFIG, batchSize: 256, epochs: 1, outputShards: 4 };
    const bigCfg = parseConfig(big);
    const perShard = Array.from({ length: 4 }, (_, s) => sliceModelBytes({ config: bigCfg, nFeatures: 135_909, nLabels, shard: s, slots: 256, maxLabels: 64, kernels: 'auto' }));
    const whole = perShard.reduce((a, b) => a + b, 0);
    const cap = Math.ceil((Math.max(...perShard) * 1.25) / 2 ** 20);
    log(`layer of ${nLabels} labels: ${(whole / 2 ** 30).toFixed(2)} GiB declared over 4 slices; each shard process capped at ${cap} MiB`);
    const d = generateSynthetic({ ...SYNTH_SHAPES['amazon-670k'], nLabels, nTrain: QUICK ? 1024 : 5120, nTest: 10, seed: 2 });
    await writeXcFile(join(work, 'big.txt'), d.train);
    const bigFile = join(work, 'big.json');
    writeFileSync(bigFile, JSON.stringify(big));
    const sh = await shards(nats.url, 'benchbig', 4, ['--max-memory', `${cap}M`]);
    const r = await trainRun(`${nLabels} labels over 4 capped shard processes`, ['--train', join(work, 'big.txt'), '--config', bigFile, '--threads', '1', '--nats', nats.url, '--remote-shards', '4', '--prefix', 'benchbig', '--shard-timeout', '120']);
    results.large = { nLabels, hidden: 128, adam: true, declaredBytes: whole, declaredBytesPerShard: perShard, shardCapBytes: cap * 2 ** 20, run: r };
    for (const c of sh) await stop(c);
  }

  await stop(nats.c);
  const outDir = outDirFromEnv(process.env.BENCH_OUT) ?? join(root, 'bench/results');
  mkdirSync(outDir, { recursive: true });
  writeFileAtomic(join(outDir, 'distributed.json'), JSON.stringify(results, null, 2) + '\n');
  log(`written to ${join(outDir, 'distributed.json')}`);
}

main()
  .catch((e: unknown) => {
    process.stderr.write(`bench:distributed: ${(e as Error).stack ?? String(e)}\n`);
    process.exitCode = 1;
  })
  .finally(() => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    rmSync(work, { recursive: true, force: true });
  });
