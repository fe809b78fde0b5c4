import { randomInt } from 'node:crypto';
import type { NatsConnection } from '@nats-io/transport-node';
import type { SlideModel } from '../training/model.js';
import { evalSampleSeed } from '../training/executor.js';
import { predictToOutput } from '../network/sample.js';
import type { Manifest } from '../checkpoint/slices.js';
import type { KernelChoice } from '../kernels/index.js';
import { encodeFrame, header, Kind, PROBE, subjects } from './protocol.js';
import { ClusterError } from './errors.js';
import { SliceClient, type TrafficStats } from './client.js';
import { assignShard, claimShard, type AssignMessage, type Claimed } from './assign.js';
import { checkPredicted, mergeRow, type SliceAnswer } from './remoteOutput.js';

/**
 * Serving a model whose output layer is in shard processes (`sublinear serve --nats URL`): this
 * process holds the input and hidden layers (the trainer's checkpoint); each slice of the output
 * layer is loaded from the checkpoint's manifest by one or more shard processes, which subscribe
 * to the slice's subject as one queue group, so that NATS gives each query to one replica of
 * each slice. A query: the hidden forward here, one Predict to every slice (its top k by logit
 * and the log-sum-exp of its candidates), merged into the k most probable (remoteOutput.ts,
 * mergeRow). A request that fails (its replica died: no responders or no answer in time) is sent
 * again, and reaches another replica: losing a replica loses no query while one is left.
 * Replicas: `replicas` per slice are claimed at start (at least one is waited for); more idle
 * shard processes are adopted while a slice has fewer, so that starting another shard process
 * adds a replica.
 */

export interface ServingOptions {
  prefix: string;
  /** replicas wanted per slice */
  replicas: number;
  /** ms a slice may take to answer one query */
  timeoutMs: number;
  /** ms to wait for one shard process per slice at start */
  waitMs: number;
  leaseMs: number;
  kernels: KernelChoice;
  /** attempts per slice and query (each after a failure reaches another replica) */
  attempts?: number;
  log?: (line: string) => void;
}

export interface RemoteAnswer {
  labels: { id: number; score: number }[];
  candidates: number;
}

export class RemoteQueries {
  readonly runId = randomInt(1, 2 ** 31);
  readonly traffic: TrafficStats = { messages: 0, bytesOut: 0, bytesIn: 0 };
  /** shard processes holding each slice (host:pid) */
  readonly holders: string[][];
  private readonly clients: SliceClient[];
  private readonly heartbeat: NodeJS.Timeout;
  private readonly adopt: NodeJS.Timeout;
  private adopting = false;
  private closed = false;
  private readonly seed: number;
  /** queries answered, and retries after a failed replica */
  readonly counts = { queries: 0, retries: 0 };

  private constructor(
    private readonly nc: NatsConnection,
    private readonly model: SlideModel,
    private readonly manifest: Manifest,
    private readonly opts: ServingOptions,
  ) {
    this.holders = manifest.slices.map(() => []);
    this.clients = manifest.slices.map((_, s) => new SliceClient(nc, subjects.slice(opts.prefix, this.runId, s), this.runId, s, 'replicas', this.traffic));
    this.seed = evalSampleSeed(model.config.seed);
    this.heartbeat = setInterval(() => {
      if (!this.closed && !nc.isClosed()) nc.publish(subjects.control(opts.prefix, this.runId), encodeFrame(header(Kind.Alive, { runId: this.runId })));
    }, 1000);
    this.heartbeat.unref();
    this.adopt = setInterval(() => void this.adoptIdle(), 1000);
    this.adopt.unref();
  }

  /** Load every slice in one shard process (waiting for them), then adopt replicas in the background. */
  static async start(nc: NatsConnection, model: SlideModel, manifest: Manifest, opts: ServingOptions): Promise<RemoteQueries> {
    const rq = new RemoteQueries(nc, model, manifest, opts);
    try {
      const deadline = performance.now() + opts.waitMs;
      const first: Claimed[] = [];
      for (let s = 0; s < manifest.shards; s++) first.push(await claimShard(nc, opts.prefix, deadline));
      // all settled before closing on a failure (close's End must reach every slice built)
      const settled = await Promise.allSettled(first.map((c, s) => rq.assign(c, s)));
      const failed = settled.find((r) => r.status === 'rejected');
      if (failed) throw (failed as PromiseRejectedResult).reason;
      await rq.adoptIdle();
    } catch (e) {
      await rq.close();
      throw e;
    }
    return rq;
  }

  private async assign(c: Claimed, s: number): Promise<void> {
    const cfg = this.model.config;
    const rec = this.manifest.slices[s]!;
    const load = this.manifest.store.kind === 'file' ? { kind: 'file' as const, name: rec.name, expect: rec } : { kind: 'object' as const, bucket: this.manifest.store.bucket, name: rec.name, expect: rec };
    const msg: AssignMessage = {
      runId: this.runId, leaseMs: this.opts.leaseMs, load,
      slice: { config: cfg, nFeatures: this.model.nFeatures, nLabels: this.model.nLabels, shard: s, slots: cfg.batchSize, maxLabels: 64, kernels: this.opts.kernels },
    };
    const a = await assignShard(this.nc, this.opts.prefix, c, msg, 120_000);
    this.holders[s]!.push(`${c.host}:${c.pid}`);
    this.opts.log?.(`slice ${s}: replica ${this.holders[s]!.length} on ${c.host}:${c.pid} (loaded in ${a.seconds.toFixed(1)} s)`);
  }

  /** Claim idle shard processes while a slice has fewer than the replicas wanted. */
  private async adoptIdle(): Promise<void> {
    if (this.adopting || this.closed) return;
    this.adopting = true;
    try {
      for (;;) {
        let s = 0;
        for (let i = 1; i < this.holders.length; i++) if (this.holders[i]!.length < this.holders[s]!.length) s = i;
        if (this.holders[s]!.length >= this.opts.replicas) return;
        let c: Claimed;
        try {
          c = await claimShard(this.nc, this.opts.prefix, 0);
        } catch {
          return; // none idle now
        }
        await this.assign(c, s).catch((e: Error) => this.opts.log?.(`slice ${s}: ${e.message}`));
      }
    } finally {
      this.adopting = false;
    }
  }

  /** Top k of one checked query: the hidden forward here, every slice's top k, merged. */
  async query(idx: Int32Array, val: Float32Array, k: number, exact: boolean): Promise<RemoteAnswer> {
    const net = this.model.network;
    const s = this.model.scratch;
    const nnz = idx.length;
    if (nnz > s.inIdx.length) throw new RangeError(`a query of ${nnz} features exceeds the ${s.inIdx.length} this service holds`);
    // synchronous up to the copies: the scratch is free again before the first await
    const stream = predictToOutput(net, s, idx, val, 0, nnz, exact, this.seed);
    const h = Float32Array.from(s.acts[net.fc.length - 1]!);
    const probe = new Int32Array(PROBE).fill(-1);
    const plans = net.plan.layers[net.plan.layers.length - 1]!.shards;
    const answers: SliceAnswer[] = await Promise.all(
      this.clients.map(async (c, si) => {
        const attempts = this.opts.attempts ?? 3;
        for (let a = 1; ; a++) {
          try {
            const f = await c.request(header(Kind.Predict, { runId: this.runId, shard: si, seed: this.seed, rows: 1, arg0: k, arg1: exact ? 1 : 0 }), [h, Int32Array.of(stream), probe], Kind.Predicted, this.opts.timeoutMs, 'a query');
            return checkPredicted(c, f, 1, k, plans[si]!, 'a query');
          } catch (e) {
            if (a >= attempts || !(e instanceof ClusterError)) throw e;
            this.counts.retries++;
          }
        }
      }),
    );
    const ids = new Int32Array(k);
    const scores = new Float32Array(k);
    const m = mergeRow(answers, 0, k, ids, scores, new Int32Array(k * answers.length), new Float32Array(k * answers.length));
    const labels: { id: number; score: number }[] = [];
    for (let i = 0; i < m; i++) labels.push({ id: ids[i]!, score: scores[i]! });
    let candidates = 0;
    for (const a of answers) candidates += a.cands[0]!;
    this.counts.queries++;
    return { labels, candidates };
  }

  /** Tell the shard processes the service is over (they wait for the next run). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.heartbeat);
    clearInterval(this.adopt);
    if (!this.nc.isClosed()) {
      this.nc.publish(subjects.control(this.opts.prefix, this.runId), encodeFrame(header(Kind.End, { runId: this.runId })));
      await this.nc.flush().catch(() => undefined);
    }
  }
}
