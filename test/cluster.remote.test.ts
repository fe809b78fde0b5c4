import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { Objm } from '@nats-io/obj';
import { SlideModel } from '../src/training/model.js';
import type { ConfigInput } from '../src/config.js';
import { generateSynthetic } from '../src/data/synth.js';
import { writeXcFile } from '../src/data/xcWriter.js';
import { decodeSafetensors } from '../src/checkpoint/safetensors.js';
import { RemoteOutput } from '../src/cluster/remoteOutput.js';
import { ClusterError } from '../src/cluster/errors.js';
import { decodeFrame, encodeFrame, header, IDLE_QUEUE, jsonSection, Kind, readJson, subjects } from '../src/cluster/protocol.js';
import type { AssignMessage } from '../src/cluster/assign.js';
import { natsServerMissing, run, startNatsServer, startShard, stopProcess, uniquePrefix, waitFor, type NatsServer, type Proc } from './cluster.helpers.js';

/**
 * The output layer in shard processes on a real nats-server (started here on loopback): N remote
 * shards train the same model as the in-process split into N memories (losses, metrics and
 * weights bit for bit), a killed, stopped or lying shard stops the run with an error naming it,
 * checkpoints hold consistent slices (a resumed run with restarted shards continues exactly;
 * mixed slices are refused), and serving survives the loss of a replica.
 */
const skip = natsServerMissing();
const { train, test: testSet } = generateSynthetic({ nTrain: 1200, nTest: 300, nFeatures: 800, nLabels: 300, featuresPerPoint: 15, labelsPerPoint: 2, seed: 5 });
/** padding draws (20 a slice of 150), rebuilds with new hash functions, hidden dropout: every source of randomness */
const CFG: ConfigInput = {
  seed: 11, hidden: [24], epochs: 2, batchSize: 64, threads: 1, outputShards: 2, evalEvery: 1,
  output: { mode: 'lsh', hash: { family: 'simhash', K: 4, L: 12, bucketSize: 32 }, activeSet: { minActive: 40 } },
  rebuild: { schedule: 'fixed', period: 5, rehashEvery: 10 }, dropout: { hidden: 0.1 },
};

describe('output layer in shard processes over NATS', { skip: skip ?? false }, () => {
  let nats: NatsServer;
  let nc: NatsConnection;
  let dir: string;
  const procs: Proc[] = [];
  const shard = async (prefix: string, extra: string[] = []): Promise<Proc> => {
    const s = await startShard(nats.url, prefix, dir, extra);
    procs.push(s);
    return s;
  };

  before(async () => {
    nats = await startNatsServer();
    nc = await connect({ servers: nats.url });
    dir = mkdtempSync(join(tmpdir(), 'sublinear-cluster-'));
    await writeXcFile(join(dir, 'train.txt'), train);
    await writeXcFile(join(dir, 'test.txt'), testSet);
  });

  after(async () => {
    for (const p of procs) await stopProcess(p.p);
    await nc.close();
    await nats.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('2 remote shards train the same model as the in-process split into 2 memories: losses, metrics and weights bit for bit', async () => {
    const prefix = uniquePrefix('eq');
    await Promise.all([shard(prefix), shard(prefix)]);
    const local = new SlideModel({ nFeatures: train.nFeatures, nLabels: train.nLabels, config: CFG });
    const remote = new SlideModel({ nFeatures: train.nFeatures, nLabels: train.nLabels, config: CFG, remoteOutput: true });
    const link = await RemoteOutput.start(nc, remote, { prefix, timeoutMs: 10_000, waitMs: 10_000, assignTimeoutMs: 30_000, kernels: 'auto', resume: null, leaseMs: 30_000, maxLabels: 64 });
    remote.attachOutput(link);
    try {
      const a = await local.fit(train, { test: testSet });
      const b = await remote.fit(train, { test: testSet });
      assert.equal(b.length, 2);
      for (let e = 0; e < 2; e++) {
        for (const k of ['loss', 'trainP1', 'activePerSample', 'points'] as const) assert.equal(b[e]![k], a[e]![k], `epoch ${e + 1} ${k}`);
        assert.deepEqual({ ...b[e]!.eval, exact: { ...b[e]!.eval!.exact, seconds: 0 }, lsh: { ...b[e]!.eval!.lsh, seconds: 0 } }, { ...a[e]!.eval, exact: { ...a[e]!.eval!.exact, seconds: 0 }, lsh: { ...a[e]!.eval!.lsh, seconds: 0 } }, `epoch ${e + 1} evaluation`);
      }
      assert.ok(a[1]!.eval!.exact!.p1 > 0.3, 'it learned something');
      assert.deepEqual(remote.network.input.W, local.network.input.W, 'input layer weights');
      assert.equal(remote.step, local.step);
      // the slices as their processes hold them: written to files, equal to the in-process shards
      const manifest = await link.saveSlices(['eq.s0.safetensors', 'eq.s1.safetensors'], { kind: 'file' });
      assert.equal(manifest.step, local.step);
      for (let s = 0; s < 2; s++) {
        const t = decodeSafetensors(readFileSync(join(dir, manifest.slices[s]!.name))).tensors;
        const p = local.network.output.shards[s]!.p;
        for (const [view, want] of [['W', p.W], ['b', p.b], ['M', p.M!], ['V', p.V!]] as const) assert.deepEqual(t.get(`fc.0.shard${s}.${view}`)!.data, want, `slice ${s} ${view}`);
        assert.deepEqual(t.get(`fc.0.shard${s}.tables.keys`)!.data, local.network.views[s + 1]!.i32(`fc.0.shard${s}.tables.keys`), `slice ${s} tables`);
      }
      // the same slices to a JetStream object store
      const inStore = await link.saveSlices(['eq.s0.obj', 'eq.s1.obj'], { kind: 'object', bucket: 'sublinear-test' });
      const os = await new Objm(nc).open('sublinear-test');
      for (let s = 0; s < 2; s++) {
        const blob = await os.getBlob(inStore.slices[s]!.name);
        assert.ok(blob, `object ${inStore.slices[s]!.name}`);
        assert.deepEqual(decodeSafetensors(blob).tensors.get(`fc.0.shard${s}.W`)!.data, local.network.output.shards[s]!.p.W, `slice ${s} in the object store`);
        assert.equal(inStore.slices[s]!.dataSha256, manifest.slices[s]!.dataSha256);
      }
      const tr = link.traffic();
      assert.ok(tr.messagesPerBatch >= 8, 'forward and backward: a request and a reply per slice each');
      assert.ok(tr.bytesPerSample > 24 * 4 * 2 * 2, 'activations out and input gradients back, per slice');
    } finally {
      await link.close();
    }
  });

  test('a shard process refuses a slice larger than its --max-memory, and the trainer says which and why', async () => {
    const prefix = uniquePrefix('cap');
    await shard(prefix, ['--max-memory', '50K']);
    const t = run(['train', '--train', join(dir, 'train.txt'), '--epochs', '1', '--threads', '1', '--hidden', '24', '--mode', 'lsh', '--nats', nats.url, '--remote-shards', '1', '--prefix', prefix]);
    assert.equal(await t.exited, 1);
    assert.match(t.stderr(), /sublinear: shard 0 \([^)]+\) cannot hold its slice: slice 0 \(300 neurons x 24\) declares [\d.]+ KiB of parameters, optimizer state and tables; this shard process may hold 50 KiB \(--max-memory\)/);
  });

  test('a shard killed mid-run stops training within 10 s with an error naming it, and nothing waits', async () => {
    const prefix = uniquePrefix('kill');
    const [s0, s1] = await Promise.all([shard(prefix), shard(prefix)]);
    const t = run(['train', '--train', join(dir, 'train.txt'), '--epochs', '500', '--threads', '1', '--hidden', '24', '--batch-size', '64', '--nats', nats.url, '--remote-shards', '2', '--prefix', prefix, '--shard-timeout', '3']);
    await waitFor(t, /data: /, 20_000);
    await new Promise((r) => setTimeout(r, 300));
    const victim = s1!.p.pid!;
    s1!.p.kill('SIGKILL');
    const t0 = performance.now();
    const code = await Promise.race([t.exited, new Promise<'hung'>((r) => setTimeout(() => r('hung'), 10_000))]);
    if (code === 'hung') t.p.kill('SIGKILL');
    assert.notEqual(code, 'hung', `the trainer still ran 10 s after the shard died: ${t.stderr()}`);
    assert.equal(code, 1, t.stderr());
    assert.match(t.stderr(), new RegExp(`sublinear: shard \\d \\([^)]*:${victim}\\) (is gone|did not answer)[^\\n]*last completed: [^\\n]*batch \\d+`));
    assert.ok(performance.now() - t0 < 10_000);
    // the survivor was told the run ended and waits for the next
    await waitFor(s0!, /ended: dropped slice|no word of run/, 5_000);
  });

  test('a stopped shard (SIGSTOP) is an error naming it after the timeout', async () => {
    const prefix = uniquePrefix('stop');
    const [, s1] = await Promise.all([shard(prefix), shard(prefix)]);
    const t = run(['train', '--train', join(dir, 'train.txt'), '--epochs', '500', '--threads', '1', '--hidden', '24', '--batch-size', '64', '--nats', nats.url, '--remote-shards', '2', '--prefix', prefix, '--shard-timeout', '1']);
    await waitFor(t, /data: /, 20_000);
    await new Promise((r) => setTimeout(r, 300));
    s1!.p.kill('SIGSTOP');
    const code = await Promise.race([t.exited, new Promise<'hung'>((r) => setTimeout(() => r('hung'), 10_000))]);
    s1!.p.kill('SIGCONT');
    if (code === 'hung') t.p.kill('SIGKILL');
    assert.equal(code, 1, t.stderr());
    assert.match(t.stderr(), new RegExp(`shard \\d \\([^)]*:${s1!.p.pid}\\) did not answer .* within 1\\.0 s`));
  });

  test('a shard answering garbage stops training with an error naming it', async () => {
    const prefix = uniquePrefix('junk');
    await shard(prefix);
    // a fake shard process: claims and assignments answered properly, then bytes that are no frame
    const subs = [nc.subscribe(subjects.idle(prefix), { queue: IDLE_QUEUE }), nc.subscribe(subjects.instance(prefix, 'fake'))];
    void (async () => {
      for await (const m of subs[0]!) m.respond(encodeFrame(header(Kind.Claimed), [jsonSection({ id: 'fake', host: 'fake-host', pid: 4242, maxBytes: null })]));
    })();
    void (async () => {
      for await (const m of subs[1]!) {
        const a = readJson<AssignMessage>(decodeFrame(m.data).sections[0], 'assign');
        const sub = nc.subscribe(subjects.slice(prefix, a.runId, a.slice.shard));
        subs.push(sub);
        void (async () => {
          for await (const q of sub) q.respond(new Uint8Array(200).fill(7));
        })();
        m.respond(encodeFrame(header(Kind.Assigned, { runId: a.runId, shard: a.slice.shard }), [jsonSection({ bytes: 0, seconds: 0, lo: 0, n: 150 })]));
      }
    })();
    const remote = new SlideModel({ nFeatures: train.nFeatures, nLabels: train.nLabels, config: CFG, remoteOutput: true });
    const link = await RemoteOutput.start(nc, remote, { prefix, timeoutMs: 3000, waitMs: 10_000, assignTimeoutMs: 30_000, kernels: 'auto', resume: null, leaseMs: 30_000, maxLabels: 64 });
    remote.attachOutput(link);
    try {
      await assert.rejects(remote.fit(train), (e: Error) => e instanceof ClusterError && /shard \d \(fake-host:4242\) answered the forward of batch 1 with garbage: not a sublinear frame/.test(e.message));
    } finally {
      await link.close();
      for (const s of subs) s.unsubscribe();
    }
  });

  test('checkpoints: a resumed run with restarted shard processes continues as the in-process split resumed does; mixed slices are refused; serving survives a killed replica', async () => {
    const prefix = uniquePrefix('ck');
    const common = ['--test', join(dir, 'test.txt'), '--threads', '1', '--hidden', '24', '--batch-size', '64', '--nats', nats.url, '--prefix', prefix, '--quiet'];
    const trainer = async (args: string[]): Promise<string> => {
      const t = run(['train', '--train', join(dir, 'train.txt'), ...common, ...args]);
      const code = await t.exited;
      assert.equal(code, 0, t.stderr());
      return t.stderr();
    };
    // the oracle: the in-process split into 2 memories, saved after epoch 1 and resumed
    const local = ['--test', join(dir, 'test.txt'), '--threads', '1', '--quiet'];
    for (const args of [[...local, '--hidden', '24', '--batch-size', '64', '--set', 'outputShards=2', '--epochs', '1', '--save', join(dir, 'local1.safetensors')], [...local, '--resume', join(dir, 'local1.safetensors'), '--epochs', '2', '--metrics-out', join(dir, 'whole.json')]]) {
      const t = run(['train', '--train', join(dir, 'train.txt'), ...args]);
      assert.equal(await t.exited, 0, t.stderr());
    }
    let shards = await Promise.all([shard(prefix), shard(prefix)]);
    await trainer(['--epochs', '1', '--remote-shards', '2', '--save', join(dir, 'ck1.safetensors')]);
    // every shard process restarted: the resumed run gets new ones
    for (const s of shards) await stopProcess(s.p);
    shards = await Promise.all([shard(prefix), shard(prefix)]);
    await trainer(['--resume', join(dir, 'ck1.safetensors'), '--epochs', '2', '--metrics-out', join(dir, 'resumed.json'), '--save', join(dir, 'ck2.safetensors')]);
    const whole = JSON.parse(readFileSync(join(dir, 'whole.json'), 'utf8'));
    const resumed = JSON.parse(readFileSync(join(dir, 'resumed.json'), 'utf8'));
    assert.equal(resumed.epochs[0].loss, whole.epochs[0].loss, 'epoch 2 loss');
    assert.deepEqual({ ...resumed.final.exact, seconds: 0 }, { ...whole.final.exact, seconds: 0 });
    assert.deepEqual({ ...resumed.final.lsh, seconds: 0 }, { ...whole.final.lsh, seconds: 0 });
    // a slice of ck2 in place of ck1's: refused, naming both checkpoints
    const files = readdirSync(dir);
    const ck1s1 = files.find((f) => f.startsWith('ck1.safetensors.') && f.includes('shard1-of-2'))!;
    const ck2s1 = files.find((f) => f.startsWith('ck2.safetensors.') && f.includes('shard1-of-2'))!;
    assert.ok(ck1s1 && ck2s1, files.join(' '));
    copyFileSync(join(dir, ck2s1), join(dir, ck1s1));
    const t = run(['train', '--train', join(dir, 'train.txt'), ...common, '--resume', join(dir, 'ck1.safetensors'), '--epochs', '2']);
    assert.equal(await t.exited, 1);
    assert.match(t.stderr(), /sublinear: shard 1 \([^)]*\) cannot hold its slice: mixed slices: .* belongs to checkpoint \d+-\d+ \(batch 38\), the manifest to \d+-19 \(batch 19\)/);

    // serving ck2 with 2 replicas of each slice; one replica killed while queries run
    await Promise.all([shard(prefix), shard(prefix)]);
    const sv = run(['serve', '--model', join(dir, 'ck2.safetensors'), '--port', '0', '--nats', nats.url, '--prefix', prefix, '--replicas', '2', '--shard-timeout', '1']);
    procs.push(sv);
    await waitFor(sv, /serving at (http:\S+)/, 20_000);
    await waitFor(sv, /slice 0: replica 2[^]*slice 1: replica 2|slice 1: replica 2[^]*slice 0: replica 2/, 10_000);
    const url = /serving at (http:\S+)/.exec(sv.stderr())![1]!;
    const query = async (r: number): Promise<{ status: number; body: string }> => {
      const f: Record<string, number> = {};
      for (let i = testSet.featPtr[r]!; i < testSet.featPtr[r + 1]!; i++) f[String(testSet.featIdx[i])] = testSet.featVal[i]!;
      const res = await fetch(`${url}predict`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ features: f, k: 3 }) });
      return { status: res.status, body: await res.text() };
    };
    const first = await Promise.all(Array.from({ length: 20 }, (_, r) => query(r)));
    for (const a of first) assert.equal(a.status, 200, a.body);
    // kill one replica of some slice, and keep asking
    const held = /replica 2 on [^:]+:(\d+)/.exec(sv.stderr())!;
    const victim = procs.find((p) => p.p.pid === Number(held[1]))!;
    const during = Promise.all(Array.from({ length: 40 }, (_, i) => query(i % 20)));
    victim.p.kill('SIGKILL');
    const later = await during;
    for (const [i, a] of later.entries()) {
      assert.equal(a.status, 200, a.body);
      assert.deepEqual(JSON.parse(a.body).labels, JSON.parse(first[i % 20]!.body).labels, `query ${i % 20} answered as before`);
    }
    await stopProcess(sv.p);
  });
});
