/**
 * The command line of the cluster (src/cluster): `sublinear shard`, and the flags with which
 * `train` and `serve` use shard processes.
 *
 * The NATS client is `@nats-io/transport-node` (3.x), not the older `nats` package (2.x): the 3.x
 * modules are the maintained line of the official JavaScript client (the 2.x package gets fixes
 * only), split so that a process loads only what it uses (core request/reply here; JetStream and
 * the object store only for checkpoints to a store), and they install from the registry alone.
 */
import { basename } from 'node:path';
import type { NatsConnection } from '@nats-io/transport-node';
import { ConfigError } from '../util/errors.js';
import type { KernelChoice } from '../kernels/index.js';
import { checkInputDir } from './paths.js';
import { parseBytes } from '../network/estimate.js';

export interface ClusterFlags {
  nats?: string;
  prefix?: string;
  /** seconds an answer to a batch's request may take */
  shardTimeout?: string;
  /** seconds to wait for enough idle shard processes */
  shardWait?: string;
  /** seconds without a word of the run after which a shard process drops its slice */
  lease?: string;
}

export const DEFAULT_PREFIX = 'sublinear';

/** A positive number of seconds from a flag, in ms. */
export function secondsFlag(v: string | undefined, flag: string, dflt: number): number {
  if (v === undefined) return dflt * 1000;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0 || n > 86_400) throw new ConfigError(`${flag}: expected seconds (a positive number up to 86400), found ${JSON.stringify(v)}`);
  return n * 1000;
}

/** A subject prefix: NATS tokens of letters, digits, '-' and '_', separated by dots. */
export function prefixFlag(v: string | undefined): string {
  const p = v ?? DEFAULT_PREFIX;
  if (!/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/.test(p)) throw new ConfigError(`--prefix: expected NATS subject tokens (letters, digits, - and _, separated by dots), found ${JSON.stringify(p)}`);
  return p;
}

/** Connect to the NATS server(s) of --nats (comma-separated URLs), or say which and why not. */
export async function connectNats(url: string, name: string): Promise<NatsConnection> {
  const { connect } = await import('@nats-io/transport-node');
  const servers = url.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
  if (servers.length === 0) throw new ConfigError('--nats: expected a server URL such as nats://127.0.0.1:4222');
  try {
    // reconnect briefly after a server restart; a run's own timeouts bound every wait
    return await connect({ servers, name, timeout: 5000, maxReconnectAttempts: 10, reconnectTimeWait: 500 });
  } catch (e) {
    throw new ConfigError(`--nats ${url}: cannot connect to the NATS server (${(e as Error).message}); start one (nats-server -a 127.0.0.1 -p 4222) or give its URL`);
  }
}

interface ShardFlags {
  nats: string;
  prefix?: string;
  maxMemory?: string;
  dir?: string;
  quiet?: boolean;
  kernels?: KernelChoice;
}

/** `sublinear shard`: serve slices until SIGINT / SIGTERM. */
export async function runShard(flags: ShardFlags): Promise<void> {
  const prefix = prefixFlag(flags.prefix);
  const maxBytes = flags.maxMemory !== undefined ? parseBytes(flags.maxMemory, '--max-memory', 1024) : Infinity;
  const dir = flags.dir ?? '.';
  checkInputDir(dir, '--dir');
  const nc = await connectNats(flags.nats, `sublinear-shard-${process.pid}`);
  const { ShardService } = await import('../cluster/shardService.js');
  const log = (line: string): void => {
    if (!flags.quiet) process.stderr.write(`${new Date().toISOString()} ${line}\n`);
  };
  const svc = new ShardService(nc, { prefix, maxBytes, dir, log, kernels: flags.kernels ?? 'auto' });
  await svc.start();
  const stop = (signal: NodeJS.Signals): void => {
    log(`${signal}: stopping`);
    void svc.stop();
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  // the server went away for good: nothing more to serve
  void nc.closed().then((err) => {
    if (err) log(`connection closed: ${(err as Error).message}`);
    void svc.stop();
  });
  await svc.finished;
}

/** A checkpoint's base name for slice files (they are written into each shard process's --dir). */
export function sliceBase(save: string): string {
  return basename(save);
}
