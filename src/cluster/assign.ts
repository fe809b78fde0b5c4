import type { NatsConnection } from '@nats-io/transport-node';
import { RequestError } from '@nats-io/transport-node';
import { decodeFrame, encodeFrame, header, jsonSection, Kind, readJson, readText, subjects } from './protocol.js';
import { ClusterError } from './client.js';
import type { SliceSpec } from './slice.js';
import type { SliceLoad } from '../checkpoint/slices.js';

/**
 * How a trainer or a serving process gets its shards: shard processes wait as members of one
 * queue group on `<prefix>.idle`, so a Claim request reaches exactly one idle process, which
 * leaves the group before it answers (the next Claim reaches another) and answers with its
 * instance id; the claimer then sends it the slice to hold (Assign) on its own subject. Claims
 * and assignments can go to any number of processes at once, each building its slice in parallel.
 */

/** An idle shard process that answered a Claim. */
export interface Claimed {
  id: string;
  host: string;
  pid: number;
  /** its --max-memory in bytes (null: none) */
  maxBytes: number | null;
}

export interface Assigned {
  /** bytes of the slice's memory */
  bytes: number;
  /** seconds to build or load it (and build its tables) */
  seconds: number;
  /** the slice's first neuron and neurons */
  lo: number;
  n: number;
}

/** What an Assign carries (JSON: configuration and bookkeeping). */
export interface AssignMessage {
  runId: number;
  slice: SliceSpec;
  /** fill the slice from a checkpoint instead of drawing it */
  load: SliceLoad | null;
  /** drop the slice when nothing of its run was heard for this long */
  leaseMs: number;
}

const CLAIM_TIMEOUT_MS = 2000;

/**
 * Claim one idle shard process, retrying until `deadline` (ms, performance.now()) while none is
 * idle: shard processes may start after the trainer.
 */
export async function claimShard(nc: NatsConnection, prefix: string, deadline: number): Promise<Claimed> {
  let why = 'no shard process waits on ' + subjects.idle(prefix);
  for (;;) {
    try {
      const m = await nc.request(subjects.idle(prefix), encodeFrame(header(Kind.Claim)), { timeout: CLAIM_TIMEOUT_MS });
      const f = decodeFrame(m.data);
      if (f.kind === Kind.Claimed) return readJson<Claimed>(f.sections[0], 'claimed');
      why = f.kind === Kind.Error ? readText(f.sections[0]) : `an idle shard answered a claim with a ${f.kind} message`;
    } catch (e) {
      if (!(e instanceof RequestError && e.isNoResponders())) why = (e as Error).message;
    }
    if (performance.now() > deadline) throw new ClusterError(`no idle shard process to claim (${why}); start one with \`sublinear shard --nats URL\``);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Claim `n` idle shard processes (waiting for them until `waitMs` have passed). */
export async function claimShards(nc: NatsConnection, prefix: string, n: number, waitMs: number): Promise<Claimed[]> {
  const deadline = performance.now() + waitMs;
  const out: Claimed[] = [];
  try {
    // one at a time: a claimed process leaves the idle group before it answers, so the next claim goes elsewhere
    for (let i = 0; i < n; i++) out.push(await claimShard(nc, prefix, deadline));
  } catch (e) {
    if (out.length > 0 && e instanceof ClusterError) throw new ClusterError(`${e.message} (claimed ${out.length} of the ${n} needed within ${(waitMs / 1000).toFixed(0)} s)`);
    throw e;
  }
  return out;
}

/** Give a claimed process its slice; resolves when it is built (or loaded) and its tables are ready. */
export async function assignShard(nc: NatsConnection, prefix: string, who: Claimed, msg: AssignMessage, timeoutMs: number): Promise<Assigned> {
  const name = `shard ${msg.slice.shard} (${who.host}:${who.pid})`;
  let f;
  try {
    const m = await nc.request(subjects.instance(prefix, who.id), encodeFrame(header(Kind.Assign, { runId: msg.runId, shard: msg.slice.shard }), [jsonSection(msg)]), { timeout: timeoutMs });
    f = decodeFrame(m.data);
  } catch (e) {
    if (e instanceof RequestError && e.isNoResponders()) throw new ClusterError(`${name} is gone: it died after it was claimed`);
    throw new ClusterError(`${name} did not build its slice within ${(timeoutMs / 1000).toFixed(0)} s (${(e as Error).message})`);
  }
  if (f.kind === Kind.Error) throw new ClusterError(`${name} cannot hold its slice: ${readText(f.sections[0])}`);
  if (f.kind !== Kind.Assigned) throw new ClusterError(`${name} answered its assignment with a ${f.kind} message`);
  return readJson<Assigned>(f.sections[0], 'assigned');
}
