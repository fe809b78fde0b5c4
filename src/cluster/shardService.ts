import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { unlinkSync, readdirSync } from 'node:fs';
import type { Msg, NatsConnection, Subscription } from '@nats-io/transport-node';
import { Objm, type ObjectStore } from '@nats-io/obj';
import { OutputSlice } from './slice.js';
import type { KernelChoice } from '../kernels/index.js';
import type { AssignMessage, Assigned, Claimed } from './assign.js';
import { decodeFrame, encodeFrame, errorFrame, header, IDLE_QUEUE, jsonSection, Kind, KIND_NAMES, PROBE, readJson, subjects, UPDATE_AFTER, type Frame } from './protocol.js';
import { encodeSlice, readSliceBytes, readSliceFile, writeSliceFile, type Manifest, type SliceRecord } from '../checkpoint/slices.js';

/**
 * A shard process (`sublinear shard --nats URL`): a generic service that waits, as a member of the
 * idle queue group, for a trainer or a serving process to claim it; then holds the slice it is
 * assigned (built from the model's seed, or loaded from a checkpoint) and answers its requests
 * one at a time, in the order they arrive; when the run ends (an End message, or no word of the
 * run for the lease), it drops the slice and waits for the next run.
 *
 * The slice subject is subscribed with a queue group, so that a second process holding the same
 * slice (a serving replica) takes its share of the requests.
 */

export interface ShardServiceOptions {
  prefix: string;
  /** refuse slices that declare more bytes than this */
  maxBytes: number;
  /** where slices are written and read (file checkpoints) */
  dir: string;
  log: (line: string) => void;
  /** compute kernels of this process (the slice's own choice, not the trainer's) */
  kernels: KernelChoice;
  /** after a claim, how long to wait for the assignment before going back to idle */
  claimLeaseMs?: number;
}

interface Held {
  runId: number;
  slice: OutputSlice;
  subs: Subscription[];
  leaseMs: number;
  lastHeard: number;
  timer: NodeJS.Timeout;
  /** slices this process wrote for the run (names), oldest first: older ones are removed after a newer one */
  written: string[];
  store: Manifest['store'] | null;
}

export class ShardService {
  readonly id = randomBytes(6).toString('hex');
  private idleSub: Subscription | null = null;
  private instSub: Subscription | null = null;
  private held: Held | null = null;
  private claimed: NodeJS.Timeout | null = null;
  private stopped = false;
  private done!: () => void;
  readonly finished = new Promise<void>((r) => {
    this.done = r;
  });

  constructor(
    private readonly nc: NatsConnection,
    private readonly opts: ShardServiceOptions,
  ) {}

  get who(): string {
    return `${hostname()}:${process.pid}`;
  }

  /** Subscribe (idle queue group, own instance subject) and serve until stop(). */
  async start(): Promise<void> {
    this.instSub = this.nc.subscribe(subjects.instance(this.opts.prefix, this.id));
    void this.loop(this.instSub, (m) => this.onInstance(m));
    this.goIdle();
    await this.nc.flush();
    this.opts.log(`shard ${this.who} (instance ${this.id}) waits for work on ${subjects.idle(this.opts.prefix)}`);
  }

  /** Messages of one subscription, one at a time (a slice's requests must not interleave). */
  private async loop(sub: Subscription, handle: (m: Msg) => Promise<void>): Promise<void> {
    for await (const m of sub) {
      try {
        await handle(m);
      } catch (e) {
        this.opts.log(`error: ${(e as Error).message}`);
      }
    }
  }

  private goIdle(): void {
    if (this.stopped || this.idleSub !== null) return;
    this.idleSub = this.nc.subscribe(subjects.idle(this.opts.prefix), { queue: IDLE_QUEUE });
    void this.loop(this.idleSub, (m) => this.onClaim(m));
  }

  private async onClaim(m: Msg): Promise<void> {
    let f: Frame;
    try {
      f = decodeFrame(m.data);
    } catch (e) {
      m.respond(errorFrame({ runId: 0, shard: 0, step: 0 }, (e as Error).message));
      return;
    }
    if (f.kind !== Kind.Claim || this.held !== null || this.claimed !== null) {
      m.respond(errorFrame(f, this.held ? 'busy: this shard process holds a slice' : `expected a claim, got ${KIND_NAMES[f.kind]}`));
      return;
    }
    // leave the idle group before answering: the claimer's next claim must reach another process
    const sub = this.idleSub;
    this.idleSub = null;
    sub?.unsubscribe();
    await this.nc.flush();
    this.claimed = setTimeout(() => {
      this.claimed = null;
      this.opts.log('claimed but not assigned in time: waiting for work again');
      this.goIdle();
    }, this.opts.claimLeaseMs ?? 30_000);
    const c: Claimed = { id: this.id, host: hostname(), pid: process.pid, maxBytes: Number.isFinite(this.opts.maxBytes) ? this.opts.maxBytes : null };
    m.respond(encodeFrame(header(Kind.Claimed), [jsonSection(c)]));
  }

  private async onInstance(m: Msg): Promise<void> {
    let f: Frame;
    try {
      f = decodeFrame(m.data);
      if (f.kind !== Kind.Assign) throw new Error(`expected an assignment, got ${KIND_NAMES[f.kind]}`);
    } catch (e) {
      m.respond(errorFrame({ runId: 0, shard: 0, step: 0 }, (e as Error).message));
      return;
    }
    if (this.claimed) clearTimeout(this.claimed);
    this.claimed = null;
    if (this.held !== null) {
      m.respond(errorFrame(f, `busy: holds slice ${this.held.slice.index} of run ${this.held.runId}`));
      return;
    }
    const msg = readJson<AssignMessage>(f.sections[0], 'assign');
    const t0 = performance.now();
    let slice: OutputSlice;
    try {
      slice = this.build(msg);
    } catch (e) {
      this.opts.log(`run ${msg.runId}: cannot hold slice ${msg.slice.shard}: ${(e as Error).message}`);
      m.respond(errorFrame(f, (e as Error).message));
      this.goIdle();
      return;
    }
    if (msg.load?.kind === 'object') await this.loadObject(msg, slice);
    const seconds = (performance.now() - t0) / 1000;
    const runId = msg.runId;
    const s = msg.slice.shard;
    const sliceSub = this.nc.subscribe(subjects.slice(this.opts.prefix, runId, s), { queue: subjects.slice(this.opts.prefix, runId, s) });
    const ctlSub = this.nc.subscribe(subjects.control(this.opts.prefix, runId));
    const held: Held = {
      runId, slice, subs: [sliceSub, ctlSub], leaseMs: msg.leaseMs, lastHeard: performance.now(), written: [], store: null,
      timer: setInterval(() => {
        if (performance.now() - held.lastHeard > held.leaseMs) this.drop(`no word of run ${runId} for ${(held.leaseMs / 1000).toFixed(0)} s`);
      }, Math.min(1000, msg.leaseMs)),
    };
    this.held = held;
    void this.loop(sliceSub, (q) => this.onRequest(held, q));
    void this.loop(ctlSub, async (q) => {
      held.lastHeard = performance.now();
      const c = decodeFrame(q.data);
      if (c.kind === Kind.End) this.drop(`run ${runId} ended`);
    });
    await this.nc.flush();
    const a: Assigned = { bytes: slice.bytes, seconds, lo: slice.sp.lo, n: slice.sp.n };
    this.opts.log(`run ${runId}: holds slice ${s} (neurons ${slice.sp.lo}..${slice.sp.lo + slice.sp.n - 1}, ${(slice.bytes / 2 ** 20).toFixed(0)} MiB), ${msg.load ? 'loaded' : 'built'} in ${seconds.toFixed(1)} s`);
    m.respond(encodeFrame(header(Kind.Assigned, { runId, shard: s }), [jsonSection(a)]));
  }

  private build(msg: AssignMessage): OutputSlice {
    const slice = new OutputSlice({ ...msg.slice, kernels: this.opts.kernels }, msg.load === null, this.opts.maxBytes);
    if (msg.load?.kind === 'file') {
      readSliceFile(join(this.opts.dir, msg.load.name), slice.views, msg.load.expect);
      slice.restored();
    }
    return slice;
  }

  private async loadObject(msg: AssignMessage, slice: OutputSlice): Promise<void> {
    const load = msg.load!;
    if (load.kind !== 'object') return;
    const os = await new Objm(this.nc).open(load.bucket);
    const data = await os.getBlob(load.name);
    if (data === null) throw new Error(`object store ${load.bucket} has no slice ${load.name}`);
    readSliceBytes(data, `${load.bucket}/${load.name}`, slice.views, load.expect);
    slice.restored();
  }

  private async onRequest(held: Held, m: Msg): Promise<void> {
    held.lastHeard = performance.now();
    let f: Frame;
    try {
      f = decodeFrame(m.data);
    } catch (e) {
      m.respond(errorFrame({ runId: held.runId, shard: held.slice.index, step: 0 }, (e as Error).message));
      return;
    }
    try {
      if (f.runId !== held.runId || f.shard !== held.slice.index) throw new Error(`a request for run ${f.runId} slice ${f.shard}; this process holds slice ${held.slice.index} of run ${held.runId}`);
      await this.answer(held, f, m);
    } catch (e) {
      m.respond(errorFrame(f, (e as Error).message));
    }
    held.lastHeard = performance.now();
  }

  private async answer(held: Held, f: Frame, m: Msg): Promise<void> {
    const sl = held.slice;
    const reply = (kind: Kind, sections: Parameters<typeof encodeFrame>[1]): void => {
      const data = encodeFrame(header(kind, { runId: f.runId, shard: f.shard, step: f.step, row0: f.row0, rows: f.rows }), sections);
      const max = this.nc.info?.max_payload ?? Infinity;
      if (data.byteLength > max) throw new Error(`the answer takes ${data.byteLength} bytes, over the server's max_payload of ${max}: raise max_payload in the nats-server configuration, or train with smaller batches`);
      m.respond(data);
    };
    const sec = <T>(i: number, type: new (n: number) => T, what: string): T => {
      const s = f.sections[i];
      if (!(s instanceof type)) throw new Error(`${KIND_NAMES[f.kind]}: section ${what} is missing`);
      return s;
    };
    switch (f.kind) {
      case Kind.Forward: {
        const h = sec(0, Float32Array, 'h');
        const live = sec(1, Int32Array, 'live');
        const ptr = sec(2, Int32Array, 'labelPtr');
        const labels = sec(3, Int32Array, 'labels');
        checkForward(sl, f.rows, h, live, ptr, labels);
        const out = sl.forward(f.step, f.seed, f.row0, f.rows, h, live, ptr, labels);
        reply(Kind.Forwarded, [out.counts, out.logits]);
        return;
      }
      case Kind.Backward: {
        const dx = sl.backward(f.step, f.row0, f.rows, sec(0, Float32Array, 'grads'));
        reply(Kind.BackwardDone, [dx]);
        if ((f.arg0 & UPDATE_AFTER) !== 0) {
          // the answer goes out first (written at the next turn of the event loop), then the
          // update overlaps with the trainer's own backward and update
          await new Promise((r) => setImmediate(r));
          sl.update(f.step, f.arg1);
        }
        return;
      }
      case Kind.Rebuild:
        reply(Kind.Rebuilt, [Float64Array.of(sl.rebuild(f.arg0 === 1 ? f.seed : null))]);
        return;
      case Kind.Predict: {
        const h = sec(0, Float32Array, 'h');
        const stream = sec(1, Int32Array, 'stream');
        const probe = sec(2, Int32Array, 'probe');
        if (h.length !== f.rows * sl.nIn || stream.length !== f.rows || probe.length !== f.rows * PROBE) throw new Error('predict: section sizes do not match the rows');
        const out = sl.predict(f.seed, f.rows, h, stream, probe, f.arg0, f.arg1 === 1);
        reply(Kind.Predicted, [out.nTop, out.cands, out.lse, out.ids, out.logits, out.found]);
        return;
      }
      case Kind.Save: {
        const spec = readJson<{ name: string; store: Manifest['store']; checkpoint: string; configSha256: string }>(f.sections[0], 'save');
        const rec = await this.save(held, f.step, spec);
        reply(Kind.Saved, [jsonSection(rec)]);
        return;
      }
      default:
        throw new Error(`unexpected ${KIND_NAMES[f.kind]} request`);
    }
  }

  private async save(held: Held, step: number, spec: { name: string; store: Manifest['store']; checkpoint: string; configSha256: string }): Promise<SliceRecord> {
    const sl = held.slice;
    if (!/^[A-Za-z0-9._-]+$/.test(spec.name)) throw new Error(`save: ${JSON.stringify(spec.name)} is not a plain file name`);
    const meta = { checkpoint: spec.checkpoint, shard: sl.index, shards: sl.spec.config.outputShards, lo: sl.sp.lo, n: sl.sp.n, step, configSha256: spec.configSha256 };
    let rec: SliceRecord;
    if (spec.store.kind === 'object') {
      const { data, record } = encodeSlice(spec.name, sl.views, meta);
      const os = await openOrCreate(new Objm(this.nc), spec.store.bucket);
      await os.putBlob({ name: spec.name }, data);
      rec = record;
    } else {
      rec = writeSliceFile(join(this.opts.dir, spec.name), spec.name, sl.views, meta);
    }
    // keep this slice and the one before it (the trainer's previous checkpoint names that one
    // until its new file is written); remove older ones of this run
    held.written.push(spec.name);
    held.store = spec.store;
    while (held.written.length > 2) await this.remove(held.written.shift()!, spec.store);
    return rec;
  }

  private async remove(name: string, store: Manifest['store']): Promise<void> {
    try {
      if (store.kind === 'object') await (await new Objm(this.nc).open(store.bucket)).delete(name);
      else if (readdirSync(this.opts.dir).includes(name)) unlinkSync(join(this.opts.dir, name));
    } catch (e) {
      this.opts.log(`could not remove the old slice ${name}: ${(e as Error).message}`);
    }
  }

  /** Drop the held slice (its memory goes with it) and wait for the next run. */
  private drop(why: string): void {
    const h = this.held;
    if (h === null) return;
    this.held = null;
    clearInterval(h.timer);
    for (const s of h.subs) s.unsubscribe();
    this.opts.log(`${why}: dropped slice ${h.slice.index}; waiting for work`);
    this.goIdle();
  }

  /** Stop serving (SIGINT / SIGTERM): leave every subject and drain the connection. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.claimed) clearTimeout(this.claimed);
    if (this.held) clearInterval(this.held.timer);
    this.held = null;
    await this.nc.drain().catch(() => undefined);
    this.done();
  }
}

/** A Forward's sections against the slice: sizes, pointers, labels inside the slice. */
function checkForward(sl: OutputSlice, rows: number, h: Float32Array, live: Int32Array, ptr: Int32Array, labels: Int32Array): void {
  if (h.length !== rows * sl.nIn) throw new Error(`forward: ${h.length} inputs for ${rows} rows of ${sl.nIn}`);
  if (live.length !== rows || ptr.length !== rows + 1 || ptr[0] !== 0 || ptr[rows] !== labels.length) {
    throw new Error(`forward: the row sections (${live.length} flags, ${ptr.length} label pointers ending at ${ptr[ptr.length - 1]}, ${labels.length} labels) do not match the ${rows} rows`);
  }
  for (let i = 0; i < rows; i++) {
    if (ptr[i + 1]! < ptr[i]!) throw new Error(`forward: label pointers go down at row ${i}`);
    if (ptr[i + 1]! - ptr[i]! > sl.spec.maxLabels) throw new Error(`forward: row ${i} has ${ptr[i + 1]! - ptr[i]!} labels in this slice, more than the ${sl.spec.maxLabels} it was sized for`);
  }
  const lo = sl.sp.lo;
  for (let j = 0; j < labels.length; j++) if (labels[j]! < lo || labels[j]! >= lo + sl.sp.n) throw new Error(`forward: label ${labels[j]} is not in this slice (${lo}..${lo + sl.sp.n - 1})`);
  for (let j = 0; j < h.length; j++) if (!Number.isFinite(h[j]!)) throw new Error(`forward: input ${j} is ${h[j]}`);
}

/**
 * The object store `bucket`, created if it does not exist yet. Every shard saves its first slice
 * at the same moment: two creating the bucket's stream at once, the slower one is refused
 * ("subjects overlap with an existing stream", seen in CI once), and then opens what the other
 * created. A refusal for any other reason leaves no bucket to open, and is the error reported.
 */
async function openOrCreate(objm: Objm, bucket: string): Promise<ObjectStore> {
  try {
    return await objm.create(bucket);
  } catch (e) {
    try {
      return await objm.open(bucket);
    } catch {
      throw e;
    }
  }
}
