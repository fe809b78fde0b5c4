import type { NatsConnection } from '@nats-io/transport-node';
import { RequestError, TimeoutError } from '@nats-io/transport-node';
import { ClusterError } from './errors.js';
import { decodeFrame, encodeFrame, FrameError, Kind, KIND_NAMES, readText, type Frame, type FrameHeader, type Section } from './protocol.js';

export { ClusterError };

/** Messages and payload bytes exchanged, counted per request and reply. */
export interface TrafficStats {
  messages: number;
  bytesOut: number;
  bytesIn: number;
}

/**
 * The requests to one slice of a run, as its client sees them: every request has a timeout;
 * no responders (the slice's process is gone) fails at once; a reply is decoded and checked to be
 * the answer expected (kind, run, shard, step, first row and rows) before the caller checks its
 * sections. Every failure is a ClusterError naming the slice, its process and what was last
 * completed.
 */
export class SliceClient {
  /** what was last completed with this slice ("the backward of step 41") */
  lastDone = 'nothing yet';

  constructor(
    private readonly nc: NatsConnection,
    readonly subject: string,
    readonly runId: number,
    readonly shard: number,
    /** who holds it (host and pid, from its claim), for messages */
    public holder: string,
    private readonly traffic: TrafficStats,
  ) {}

  get name(): string {
    return `shard ${this.shard} (${this.holder})`;
  }

  /** Send a frame and wait for its answer; `what` names the request in messages ("the forward of step 42"). */
  async request(h: FrameHeader, sections: readonly Section[], expect: Kind, timeoutMs: number, what: string): Promise<Frame> {
    const payload = encodeFrame(h, sections);
    this.traffic.messages++;
    this.traffic.bytesOut += payload.byteLength;
    let data: Uint8Array;
    try {
      const m = await this.nc.request(this.subject, payload, { timeout: timeoutMs });
      data = m.data;
    } catch (e) {
      throw this.failure(e, what, timeoutMs);
    }
    this.traffic.messages++;
    this.traffic.bytesIn += data.byteLength;
    let f: Frame;
    try {
      f = decodeFrame(data);
    } catch (e) {
      throw this.garbage(what, (e as Error).message);
    }
    if (f.kind === Kind.Error) throw new ClusterError(`${this.name} failed ${what}: ${readText(f.sections[0])} (last completed: ${this.lastDone})`);
    if (f.kind !== expect) throw this.garbage(what, `a ${KIND_NAMES[f.kind]} message instead of ${KIND_NAMES[expect]}`);
    if (f.runId !== h.runId >>> 0 || f.shard !== h.shard || f.step !== h.step >>> 0 || f.row0 !== h.row0 || f.rows !== h.rows) {
      throw this.garbage(what, `the answer is for run ${f.runId} slice ${f.shard} step ${f.step} rows ${f.row0}+${f.rows}, not run ${h.runId} slice ${h.shard} step ${h.step} rows ${h.row0}+${h.rows}`);
    }
    return f;
  }

  /** A ClusterError for an answer that is not what it must be. */
  garbage(what: string, detail: string): ClusterError {
    return new ClusterError(`${this.name} answered ${what} with garbage: ${detail} (last completed: ${this.lastDone})`);
  }

  private failure(e: unknown, what: string, timeoutMs: number): ClusterError {
    const err = e as Error;
    const noResponders = err instanceof RequestError && err.isNoResponders();
    const timeout = err instanceof TimeoutError || (err instanceof RequestError && err.cause instanceof TimeoutError) || err?.name === 'TimeoutError';
    if (noResponders) return new ClusterError(`${this.name} is gone: no process answers on ${this.subject} for ${what} (it died or was stopped; last completed: ${this.lastDone})`);
    if (timeout) return new ClusterError(`${this.name} did not answer ${what} within ${(timeoutMs / 1000).toFixed(1)} s (stopped, overloaded or cut off; last completed: ${this.lastDone})`);
    if (e instanceof FrameError) return this.garbage(what, e.message);
    return new ClusterError(`${this.name}: ${what} failed: ${err?.message ?? String(e)} (last completed: ${this.lastDone})`);
  }
}

/** Throws (a ClusterError from `c`) unless every value of `a` is finite. */
export function checkFinite(c: SliceClient, what: string, name: string, a: Float32Array | Float64Array): void {
  for (let i = 0; i < a.length; i++) {
    if (!Number.isFinite(a[i]!)) throw c.garbage(what, `${name}[${i}] is ${a[i]}`);
  }
}

/** The section `i` of `f` as the type and length expected, or a ClusterError from `c`. */
export function sectionOf<T extends Section>(c: SliceClient, f: Frame, i: number, type: new (n: number) => T, length: number | null, what: string, name: string): T {
  const s = f.sections[i];
  if (!(s instanceof type)) throw c.garbage(what, `section ${name} is missing or of the wrong type`);
  if (length !== null && s.length !== length) throw c.garbage(what, `section ${name} has ${s.length} values, expected ${length}`);
  return s;
}
