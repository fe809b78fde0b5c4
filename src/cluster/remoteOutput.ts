import { randomInt } from 'node:crypto';
import type { NatsConnection } from '@nats-io/transport-node';
import type { SlideModel } from '../training/model.js';
import { Phase, kBatchRows, kEvalExact, kEvalK, kEvalRecall, kLrHorizon, kNextRow, kStep, type LinkContext, type OutputExchange, type OutputLink } from '../training/executor.js';
import { addShardDx, type ShardLogits } from '../network/sample.js';
import { topK } from '../network/topk.js';
import { EVAL_TOP, type RunArea } from '../network/run.js';
import type { KernelChoice } from '../kernels/index.js';
import type { Rng } from '../util/rng.js';
import { encodeFrame, header, jsonSection, Kind, PROBE, readJson, subjects, UPDATE_AFTER, type FrameHeader } from './protocol.js';
import { ClusterError, SliceClient, checkFinite, sectionOf, type TrafficStats } from './client.js';
import { assignShard, claimShards, type Assigned, type AssignMessage } from './assign.js';
import type { Manifest, SliceLoad, SliceRecord } from '../checkpoint/slices.js';
import { configSha256 } from '../checkpoint/slices.js';
import type { PredictOut } from './slice.js';

/**
 * The trainer's side of an output layer held by shard processes (an OutputLink of the model,
 * executor.ts). Per batch, by phases:
 *   OutputIn (here)  each row's hidden forward: the output layer's input h (rows x h)
 *   Forward          ONE request per slice (more when a batch exceeds the server's max_payload):
 *                    h, which rows train, the rows' labels inside the slice; answered by each
 *                    row's label count, active-list length and logits
 *   Loss (here)      per row the slices' logits gathered in the in-process split's order, one
 *                    softmax over all of them, the gradients written back in the same order
 *   Backward         ONE request per slice with its gradients (and "then update": the slice's
 *                    optimizer step runs after its answer is on the way); answered by its part of
 *                    each row's input gradient (rows x h), added here in slice order
 *   OutputBack (here) the hidden layers' backward
 * then the trainer's own update; rebuilds ask every slice at the same steps (with the redraw
 * seeds drawn here in unit order). Two round trips a batch, whatever the number of slices.
 *
 * Every request has a timeout, a dead slice fails at once (no responders), an answer is checked
 * for its kind, run, slice, step and rows, its sizes, the label counts each row must have and
 * finite values: anything else stops training with a ClusterError naming the slice and what was
 * last completed with it.
 */

export interface RemoteOutputOptions {
  /** subject prefix of the deployment */
  prefix: string;
  /** ms an answer to a batch's request may take */
  timeoutMs: number;
  /** ms to wait for enough idle shard processes */
  waitMs: number;
  /** ms a slice may take to build or load */
  assignTimeoutMs: number;
  kernels: KernelChoice;
  /** slices from a checkpoint's manifest (resume), or null: drawn fresh */
  resume: Manifest | null;
  /** a shard process drops its slice after this long without a word of the run */
  leaseMs: number;
  /** most labels of a training row (the slices' slot budgets, as the model's run area takes them) */
  maxLabels: number;
  log?: (line: string) => void;
}

/** Per-slice state of a batch: the answers' logits (then gradients) and where each row's are. */
interface SliceBatch {
  vals: Float32Array;
  off: Int32Array;
  nForced: Int32Array;
  n: Int32Array;
  /** (rows, h) its part of the input gradient */
  dx: Float32Array;
  /** (chunk) value offsets of each chunk's first row */
  chunkVals: number[];
}

/** Traffic of the run, for the report: messages and payload bytes, batches and samples. */
export interface RemoteStats extends TrafficStats {
  batches: number;
  samples: number;
  /** request-reply round trips to all slices at once (concurrent requests count once) */
  roundTrips: number;
}

export class RemoteOutput implements OutputLink, OutputExchange {
  readonly runId: number;
  readonly stats: RemoteStats;
  readonly clients: SliceClient[];
  readonly slices: Assigned[];
  // OutputExchange
  h: Float32Array;
  live: Int32Array;
  stream: Int32Array;
  seed = 0;
  dx: Float32Array;
  private readonly batch: SliceBatch[];
  private readonly partsBuf: ShardLogits[];
  private readonly hLast: number;
  private readonly chunkRows: number;
  private redrawSeeds: number[] | null = null;
  private rebuilding: Promise<void> | null = null;
  private readonly rebuildSeconds: number[];
  private readonly heartbeat: NodeJS.Timeout;
  private closed = false;

  private constructor(
    private readonly nc: NatsConnection,
    private readonly model: SlideModel,
    private readonly opts: RemoteOutputOptions,
    runId: number,
    clients: SliceClient[],
    slices: Assigned[],
    stats: RemoteStats,
  ) {
    this.runId = runId;
    this.stats = stats;
    this.clients = clients;
    this.slices = slices;
    const net = model.network;
    const slots = model.config.batchSize;
    this.hLast = net.fc[net.fc.length - 1]!.nIn;
    this.h = new Float32Array(slots * this.hLast);
    this.dx = new Float32Array(slots * this.hLast);
    this.live = new Int32Array(slots);
    this.stream = new Int32Array(slots);
    this.batch = clients.map(() => ({ vals: new Float32Array(0), off: new Int32Array(slots), nForced: new Int32Array(slots), n: new Int32Array(slots), dx: new Float32Array(0), chunkVals: [] }));
    this.partsBuf = clients.map(() => ({ vals: new Float32Array(0), off: 0, nForced: 0, n: 0 }));
    this.rebuildSeconds = slices.map((s) => s.seconds);
    this.chunkRows = chunkRowsFor(nc.info?.max_payload ?? 1 << 20, this.hLast, model.config, slices);
    // a shard process drops a slice it has not heard of for leaseMs: say the run is alive
    this.heartbeat = setInterval(() => {
      if (!this.closed && !nc.isClosed()) nc.publish(subjects.control(opts.prefix, runId), encodeFrame(header(Kind.Alive, { runId })));
    }, 1000);
    this.heartbeat.unref();
  }

  /**
   * Claim config.outputShards idle shard processes and give each its slice (built from the seed,
   * or loaded from the manifest's slices), in parallel.
   */
  static async start(nc: NatsConnection, model: SlideModel, opts: RemoteOutputOptions): Promise<RemoteOutput> {
    if (!model.network.output.remote) throw new Error('RemoteOutput: the model was not built with remoteOutput');
    const cfg = model.config;
    const N = cfg.outputShards;
    const runId = randomInt(1, 2 ** 31);
    const claimed = await claimShards(nc, opts.prefix, N, opts.waitMs);
    // the clients count messages and bytes into the run's stats
    const stats: RemoteStats = { messages: 0, bytesOut: 0, bytesIn: 0, batches: 0, samples: 0, roundTrips: 0 };
    const maxLabels = Math.max(1, opts.maxLabels);
    // every assignment settled before deciding: a slice still building when another failed must
    // hear the End (it subscribes to the run's control subject once built)
    const settled = await Promise.allSettled(
      claimed.map((c, s) => {
        const load = opts.resume ? sliceLoad(opts.resume, s) : null;
        const msg: AssignMessage = {
          runId, leaseMs: opts.leaseMs, load,
          slice: { config: cfg, nFeatures: model.nFeatures, nLabels: model.nLabels, shard: s, slots: cfg.batchSize, maxLabels, kernels: opts.kernels },
        };
        return assignShard(nc, opts.prefix, c, msg, opts.assignTimeoutMs);
      }),
    );
    const failed = settled.find((r) => r.status === 'rejected');
    if (failed) {
      nc.publish(subjects.control(opts.prefix, runId), encodeFrame(header(Kind.End, { runId })));
      await nc.flush().catch(() => undefined);
      throw (failed as PromiseRejectedResult).reason;
    }
    const assigned = settled.map((r) => (r as PromiseFulfilledResult<Assigned>).value);
    const clients = claimed.map((c, s) => new SliceClient(nc, subjects.slice(opts.prefix, runId, s), runId, s, `${c.host}:${c.pid}`, stats));
    const link = new RemoteOutput(nc, model, opts, runId, clients, assigned, stats);
    opts.log?.(`run ${runId}: ${N} slices on ${claimed.map((c, s) => `${c.host}:${c.pid} (${assigned[s]!.n} neurons, ${(assigned[s]!.bytes / 2 ** 20).toFixed(0)} MiB, ${assigned[s]!.seconds.toFixed(1)} s)`).join(', ')}`);
    return link;
  }

  get sampled(): boolean {
    return this.model.network.output.sampled;
  }

  parts(r: number): readonly ShardLogits[] {
    for (let s = 0; s < this.batch.length; s++) {
      const b = this.batch[s]!;
      const p = this.partsBuf[s]!;
      p.vals = b.vals;
      p.off = b.off[r]!;
      p.nForced = b.nForced[r]!;
      p.n = b.n[r]!;
    }
    return this.partsBuf;
  }

  redraw(rng: Rng): void {
    if (!this.sampled) return;
    // LshSampler.redraw's draw, one per slice in unit order
    this.redrawSeeds = this.clients.map(() => rng.nextU32() | 0);
  }

  async runPhase(phase: Phase, at: LinkContext): Promise<void> {
    at.exec.exchange = this;
    const local = async (p: Phase): Promise<void> => {
      at.ctrl[kNextRow] = 0;
      await at.local(p);
    };
    switch (phase) {
      case Phase.Train: {
        const n = at.ctrl[kBatchRows]!;
        const step = at.ctrl[kStep]!;
        await local(Phase.OutputIn);
        await this.forward(at.run, n, step);
        await local(Phase.Loss);
        await this.backward(n, step, at.ctrl[kLrHorizon]!);
        await local(Phase.OutputBack);
        this.stats.batches++;
        this.stats.samples += n;
        return;
      }
      case Phase.Stage:
        this.rebuilding = this.rebuild(this.model.step);
        // observed at Commit; a handler now, so that a failure before then is not an unhandled rejection
        this.rebuilding.catch(() => undefined);
        // let the requests go out before this thread is busy with its own part
        await new Promise((r) => setImmediate(r));
        await local(phase);
        return;
      case Phase.Commit: {
        await local(phase);
        const p = this.rebuilding;
        this.rebuilding = null;
        if (p) await p;
        return;
      }
      case Phase.Eval:
        await this.eval(at);
        return;
      default:
        await local(phase);
    }
  }

  /** The Forward of rows [0, n) of the batch to every slice, chunk by chunk, all at once. */
  private async forward(run: RunArea, n: number, step: number): Promise<void> {
    const b = run.batch;
    const hL = this.hLast;
    const sampled = this.sampled;
    const jobs: Promise<void>[] = [];
    const plans = this.model.network.plan.layers[this.model.network.plan.layers.length - 1]!.shards;
    type Reply = { counts: Int32Array; logits: Float32Array; row0: number; rows: number };
    const replies: Reply[][] = this.clients.map(() => []);
    const what = `the forward of batch ${step}`;
    for (let s = 0; s < this.clients.length; s++) {
      const c = this.clients[s]!;
      const lo = plans[s]!.lo;
      const hi = lo + plans[s]!.n;
      for (let row0 = 0; row0 < n; row0 += this.chunkRows) {
        const rows = Math.min(this.chunkRows, n - row0);
        // the rows' labels inside the slice, and how many each row must report forced
        const ptr = new Int32Array(rows + 1);
        let m = 0;
        for (let i = 0; i < rows; i++) {
          const r = row0 + i;
          for (let j = b.labelPtr[r]!; j < b.labelPtr[r + 1]!; j++) if (b.labelIdx[j]! >= lo && b.labelIdx[j]! < hi) m++;
          ptr[i + 1] = m;
        }
        const labels = new Int32Array(m);
        const want = new Int32Array(rows);
        m = 0;
        for (let i = 0; i < rows; i++) {
          const r = row0 + i;
          for (let j = b.labelPtr[r]!; j < b.labelPtr[r + 1]!; j++) if (b.labelIdx[j]! >= lo && b.labelIdx[j]! < hi) labels[m++] = b.labelIdx[j]!;
          want[i] = sampled && this.live[r] !== 0 ? ptr[i + 1]! - ptr[i]! : 0;
        }
        const h: FrameHeader = header(Kind.Forward, { runId: this.runId, shard: s, step, seed: this.seed, row0, rows });
        jobs.push(
          c.request(h, [this.h.subarray(row0 * hL, (row0 + rows) * hL), this.live.subarray(row0, row0 + rows), ptr, labels], Kind.Forwarded, this.opts.timeoutMs, what).then((f) => {
            const counts = sectionOf(c, f, 0, Int32Array, 2 * rows, what, 'counts');
            const logits = sectionOf(c, f, 1, Float32Array, null, what, 'logits');
            let total = 0;
            for (let i = 0; i < rows; i++) {
              const nf = counts[2 * i]!;
              const na = counts[2 * i + 1]!;
              const dead = this.live[row0 + i] === 0;
              if (dead ? na !== 0 : nf !== want[i] || na < nf || na > plans[s]!.n) {
                throw c.garbage(what, `row ${row0 + i} reports ${nf} labels among ${na} candidates (expected ${dead ? 'none' : `${want[i]} labels among at most ${plans[s]!.n}`})`);
              }
              total += na;
            }
            if (logits.length !== total) throw c.garbage(what, `${logits.length} logits for ${total} candidates`);
            checkFinite(c, what, 'logits', logits);
            replies[s]!.push({ counts, logits, row0, rows });
          }),
        );
      }
    }
    await settleAll(jobs);
    this.stats.roundTrips++;
    for (let s = 0; s < this.clients.length; s++) {
      const sb = this.batch[s]!;
      const rs = replies[s]!.sort((a, z) => a.row0 - z.row0);
      let total = 0;
      for (const rp of rs) total += rp.logits.length;
      if (sb.vals.length < total) sb.vals = new Float32Array(total);
      let o = 0;
      sb.chunkVals = [];
      for (const rp of rs) {
        sb.chunkVals.push(o);
        sb.vals.set(rp.logits, o);
        for (let i = 0; i < rp.rows; i++) {
          const r = rp.row0 + i;
          sb.off[r] = o;
          sb.nForced[r] = rp.counts[2 * i]!;
          sb.n[r] = rp.counts[2 * i + 1]!;
          o += sb.n[r]!;
        }
      }
      sb.chunkVals.push(o);
      this.clients[s]!.lastDone = what;
    }
  }

  /** The Backward of the batch: each slice's gradients (written by Loss in place of its logits), its part of dx back; then each slice updates. */
  private async backward(n: number, step: number, horizon: number): Promise<void> {
    const hL = this.hLast;
    const chunks = Math.ceil(n / this.chunkRows);
    const jobs: Promise<void>[] = [];
    for (let s = 0; s < this.clients.length; s++) {
      const c = this.clients[s]!;
      const sb = this.batch[s]!;
      if (sb.dx.length < n * hL) sb.dx = new Float32Array(this.model.config.batchSize * hL);
      for (let k = 0; k < chunks; k++) {
        const row0 = k * this.chunkRows;
        const rows = Math.min(this.chunkRows, n - row0);
        const last = k === chunks - 1;
        const h = header(Kind.Backward, { runId: this.runId, shard: s, step, row0, rows, arg0: last ? UPDATE_AFTER : 0, arg1: horizon });
        const what = `the backward of batch ${step}`;
        jobs.push(
          c.request(h, [sb.vals.subarray(sb.chunkVals[k]!, sb.chunkVals[k + 1]!)], Kind.BackwardDone, this.opts.timeoutMs, what).then((f) => {
            const dx = sectionOf(c, f, 0, Float32Array, rows * hL, what, 'dx');
            checkFinite(c, what, 'dx', dx);
            sb.dx.set(dx, row0 * hL);
          }),
        );
      }
    }
    await settleAll(jobs);
    this.stats.roundTrips++;
    // the slices' parts added in slice order (as the in-process split adds them)
    const dx = this.dx;
    dx.fill(0, 0, n * hL);
    for (let r = 0; r < n; r++) {
      if (this.live[r] === 0) continue;
      const row = dx.subarray(r * hL, (r + 1) * hL);
      for (let s = 0; s < this.batch.length; s++) addShardDx(row, this.batch[s]!.dx, r * hL, hL);
    }
    for (const c of this.clients) c.lastDone = `batch ${step} (forward, backward, update)`;
  }

  /** Every slice rebuilds its tables (first drawing new hash functions when the schedule redrew). */
  private async rebuild(step: number): Promise<void> {
    if (!this.sampled) return;
    const seeds = this.redrawSeeds;
    this.redrawSeeds = null;
    await Promise.all(
      this.clients.map(async (c, s) => {
        const what = `the table rebuild after batch ${step}`;
        // a rebuild takes longer than a batch: allow a few times the slice's last one on top
        const timeout = this.opts.timeoutMs + 4000 * this.rebuildSeconds[s]!;
        const f = await c.request(header(Kind.Rebuild, { runId: this.runId, shard: s, step, seed: seeds ? seeds[s]! : 0, arg0: seeds ? 1 : 0 }), [], Kind.Rebuilt, timeout, what);
        const sec = sectionOf(c, f, 0, Float64Array, 1, what, 'seconds');
        checkFinite(c, what, 'seconds', sec);
        this.rebuildSeconds[s] = Math.max(sec[0]!, 0.01);
        c.lastDone = what;
      }),
    );
  }

  /**
   * The Eval phase: each query's hidden forward here (EvalIn), its candidates' top-k at every
   * slice, merged: the softmax normaliser from the slices' log-sum-exps, the k best of the
   * slices' top-k by probability (ties to the smaller id, as topK). The probabilities equal the
   * in-process split's up to rounding (there the normaliser is summed over all candidates at once).
   */
  private async eval(at: LinkContext): Promise<void> {
    at.ctrl[kNextRow] = 0;
    await at.local(Phase.EvalIn);
    const n = at.ctrl[kBatchRows]!;
    const k = at.ctrl[kEvalK]!;
    const exact = at.ctrl[kEvalExact] === 1;
    const recall = at.ctrl[kEvalRecall] === 1;
    const rows = at.run.rows;
    const probe = new Int32Array(n * PROBE).fill(-1);
    if (recall) for (let r = 0; r < n; r++) for (let i = 0; i < rows.exactN[r]!; i++) probe[r * PROBE + i] = rows.exactTop[r * EVAL_TOP + i]!;
    const answers = await this.predictRows(n, k, exact, probe, 0);
    mergeTopK(answers, n, k, at.run, exact, recall);
  }

  /** Predict requests for rows [0, n) of this.h / this.stream to every slice (used by evaluation). */
  async predictRows(n: number, k: number, exact: boolean, probe: Int32Array, step: number): Promise<SliceAnswer[]> {
    const hL = this.hLast;
    const out: SliceAnswer[] = [];
    await Promise.all(
      this.clients.map(async (c, s) => {
        const parts: SliceAnswer[] = [];
        for (let row0 = 0; row0 < n; row0 += this.chunkRows) {
          const rows = Math.min(this.chunkRows, n - row0);
          const h = header(Kind.Predict, { runId: this.runId, shard: s, step, seed: this.seed, row0, rows, arg0: k, arg1: exact ? 1 : 0 });
          const f = await c.request(h, [this.h.subarray(row0 * hL, (row0 + rows) * hL), this.stream.subarray(row0, row0 + rows), probe.subarray(row0 * PROBE, (row0 + rows) * PROBE)], Kind.Predicted, this.opts.timeoutMs, 'a prediction');
          parts.push(checkPredicted(c, f, rows, k, this.model.network.plan.layers[this.model.network.plan.layers.length - 1]!.shards[s]!, 'a prediction', row0));
        }
        out[s] = concatAnswers(parts, n, k);
      }),
    );
    this.stats.roundTrips++;
    return out;
  }

  /**
   * Every slice writes its state at this batch (to its --dir as `names[s]`, or to the object
   * store `bucket`); returns the manifest once all are written. The caller then writes the
   * trainer's checkpoint with it.
   */
  async saveSlices(names: string[], store: Manifest['store']): Promise<Manifest> {
    const step = this.model.step;
    const checkpoint = `${this.runId}-${step}`;
    const cfgSha = configSha256(this.model.config);
    const slices = await Promise.all(
      this.clients.map(async (c, s) => {
        const what = `the checkpoint of batch ${step}`;
        const timeout = this.opts.timeoutMs + 60_000;
        const f = await c.request(header(Kind.Save, { runId: this.runId, shard: s, step }), [jsonSection({ name: names[s], store, checkpoint, configSha256: cfgSha })], Kind.Saved, timeout, what);
        const rec = readJson<SliceRecord>(f.sections[0], 'saved');
        if (rec.checkpoint !== checkpoint || rec.shard !== s || rec.step !== step || rec.configSha256 !== cfgSha) throw c.garbage(what, `it reports slice ${rec.shard} of checkpoint ${rec.checkpoint}`);
        c.lastDone = what;
        return rec;
      }),
    );
    return { checkpoint, step, shards: this.clients.length, store, slices };
  }

  /** Tell the slices the run is over (they wait for the next one) and stop the heartbeat. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.heartbeat);
    if (!this.nc.isClosed()) {
      this.nc.publish(subjects.control(this.opts.prefix, this.runId), encodeFrame(header(Kind.End, { runId: this.runId })));
      await this.nc.flush().catch(() => undefined);
    }
  }

  /** Bytes a sample sent and received, and messages and round trips a batch, over the run so far. */
  traffic(): { bytesPerSample: number; messagesPerBatch: number; roundTripsPerBatch: number } {
    const st = this.stats;
    return {
      bytesPerSample: (st.bytesOut + st.bytesIn) / Math.max(1, st.samples),
      messagesPerBatch: st.messages / Math.max(1, st.batches),
      roundTripsPerBatch: st.roundTrips / Math.max(1, st.batches),
    };
  }
}

/** One slice's answers to a Predict, rows in order: what the slice computed (slice.ts), as it arrives. */
export type SliceAnswer = PredictOut;

/** Check a Predicted frame: sizes, ids inside the slice, finite logits. */
export function checkPredicted(c: SliceClient, f: import('./protocol.js').Frame, rows: number, k: number, plan: { lo: number; n: number }, what: string, row0 = 0): SliceAnswer {
  const a: SliceAnswer = {
    nTop: sectionOf(c, f, 0, Int32Array, rows, what, 'nTop'),
    cands: sectionOf(c, f, 1, Int32Array, rows, what, 'candidates'),
    lse: sectionOf(c, f, 2, Float64Array, rows, what, 'lse'),
    ids: sectionOf(c, f, 3, Int32Array, rows * k, what, 'ids'),
    logits: sectionOf(c, f, 4, Float32Array, rows * k, what, 'logits'),
    found: sectionOf(c, f, 5, Int32Array, rows, what, 'found'),
  };
  for (let i = 0; i < rows; i++) {
    const m = a.nTop[i]!;
    if (m < 0 || m > k || a.cands[i]! < m || a.cands[i]! > plan.n || a.found[i]! < 0 || a.found[i]! > PROBE) throw c.garbage(what, `row ${row0 + i}: ${m} labels of ${a.cands[i]} candidates`);
    if (m > 0 && !Number.isFinite(a.lse[i]!)) throw c.garbage(what, `row ${row0 + i}: log-sum-exp ${a.lse[i]}`);
    for (let j = 0; j < m; j++) {
      const id = a.ids[i * k + j]!;
      if (id < plan.lo || id >= plan.lo + plan.n) throw c.garbage(what, `row ${row0 + i}: label ${id} is outside the slice's ${plan.lo}..${plan.lo + plan.n - 1}`);
      if (!Number.isFinite(a.logits[i * k + j]!)) throw c.garbage(what, `row ${row0 + i}: logit ${a.logits[i * k + j]}`);
    }
  }
  return a;
}

function concatAnswers(parts: SliceAnswer[], n: number, k: number): SliceAnswer {
  if (parts.length === 1) return parts[0]!;
  const out: SliceAnswer = { nTop: new Int32Array(n), cands: new Int32Array(n), lse: new Float64Array(n), ids: new Int32Array(n * k), logits: new Float32Array(n * k), found: new Int32Array(n) };
  let r = 0;
  for (const p of parts) {
    out.nTop.set(p.nTop, r);
    out.cands.set(p.cands, r);
    out.lse.set(p.lse, r);
    out.ids.set(p.ids, r * k);
    out.logits.set(p.logits, r * k);
    out.found.set(p.found, r);
    r += p.nTop.length;
  }
  return out;
}

/**
 * Merge the slices' answers for row r into the k best (ids, probabilities): the normaliser from
 * the slices' log-sum-exps (max-shifted), each candidate's probability exp(z - logZ) as float32,
 * the k best by topK (ties to the smaller id). Returns how many; writes them to ids / scores.
 */
export function mergeRow(answers: readonly SliceAnswer[], r: number, k: number, ids: Int32Array, scores: Float32Array, candIds: Int32Array, candP: Float32Array): number {
  let mx = -Infinity;
  for (const a of answers) if (a.nTop[r]! > 0 && a.lse[r]! > mx) mx = a.lse[r]!;
  let sum = 0;
  for (const a of answers) if (a.nTop[r]! > 0) sum += Math.exp(a.lse[r]! - mx);
  const logZ = Math.log(sum) + mx;
  let c = 0;
  for (const a of answers) {
    for (let j = 0; j < a.nTop[r]!; j++) {
      candIds[c] = a.ids[r * k + j]!;
      candP[c++] = Math.exp(a.logits[r * k + j]! - logZ);
    }
  }
  return topK(candIds, candP, c, k, ids, scores);
}

/** The merged answers of an Eval chunk into the run's row slots, as the Eval phase writes them. */
function mergeTopK(answers: SliceAnswer[], n: number, k: number, run: RunArea, exact: boolean, recall: boolean): void {
  const rows = run.rows;
  const K = run.spec.topK;
  const ids = new Int32Array(k);
  const scores = new Float32Array(k);
  const candIds = new Int32Array(k * answers.length);
  const candP = new Float32Array(k * answers.length);
  for (let r = 0; r < n; r++) {
    const m = mergeRow(answers, r, k, ids, scores, candIds, candP);
    for (let i = 0; i < m; i++) {
      rows.top[r * K + i] = ids[i]!;
      rows.score[r * K + i] = scores[i]!;
    }
    rows.nTop[r] = m;
    let cands = 0;
    let found = 0;
    for (const a of answers) {
      cands += a.cands[r]!;
      found += a.found[r]!;
    }
    rows.cands[r] = cands;
    if (exact) {
      const e = Math.min(m, EVAL_TOP);
      for (let i = 0; i < e; i++) rows.exactTop[r * EVAL_TOP + i] = ids[i]!;
      rows.exactN[r] = e;
    } else if (recall) {
      rows.found[r] = found;
    }
  }
}

/**
 * Rows a frame may carry so that a request and its answer stay under the server's max_payload:
 * a Forward sends h floats, a flag, a pointer and the labels of a row, its answer 2 counts and
 * the row's logits (at most the slot budget the slices reported), Backward the reverse.
 */
function chunkRowsFor(maxPayload: number, h: number, cfg: SlideModel['config'], slices: Assigned[]): number {
  const as = cfg.output.activeSet;
  let most = 0;
  for (const s of slices) {
    // a query may take more candidates than a training step (queryMaxActive), also beside an uncapped union
    const cap = cfg.output.mode === 'dense' ? s.n : Math.min(s.n, Math.max(as.maxActive > 0 ? as.maxActive : 2048, as.queryMaxActive, 4 * as.minActive + 64));
    most = Math.max(most, cap);
  }
  const perRow = Math.max(4 * h + 12 + 4 * 64, 8 + 4 * most);
  return Math.max(1, Math.min(cfg.batchSize, Math.floor((maxPayload - 4096) / perRow)));
}

/**
 * Wait for every request of a phase (none is left running when one fails: a later phase must not
 * meet an answer of this one), then throw the first failure in slice order.
 */
async function settleAll(jobs: Promise<void>[]): Promise<void> {
  const settled = await Promise.allSettled(jobs);
  const failed = settled.find((r) => r.status === 'rejected');
  if (failed) throw (failed as PromiseRejectedResult).reason;
}

function sliceLoad(m: Manifest, s: number): SliceLoad {
  const rec = m.slices[s]!;
  return m.store.kind === 'file' ? { kind: 'file', name: rec.name, expect: rec } : { kind: 'object', bucket: m.store.bucket, name: rec.name, expect: rec };
}

export { ClusterError };
