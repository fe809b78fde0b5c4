import { basename } from 'node:path';
import { loadModel } from '../checkpoint/checkpoint.js';
import { Predictor } from '../serve/predictor.js';
import { ConfigError, errnoCode } from '../util/errors.js';
import { checkInputFile } from './paths.js';
import { candidatesFlag, maxMemoryFlag } from './configArgs.js';
import { connectNats, prefixFlag, secondsFlag } from './cluster.js';
import type { KernelChoice } from '../kernels/index.js';

interface ServeFlags {
  model: string;
  /** the output layer in shard processes reached through these NATS servers */
  nats?: string;
  prefix?: string;
  replicas?: string;
  shardTimeout?: string;
  shardWait?: string;
  port: string;
  host: string;
  kernels?: KernelChoice;
  quiet?: boolean;
  /** seconds that requests in progress get after SIGINT / SIGTERM */
  shutdownTimeout?: string;
  maxMemory?: string;
  candidates?: string;
}

/** A failed listen as one line naming the address and what to do (or the error itself when unexpected). */
export function listenError(e: unknown, host: string, port: number): unknown {
  const code = errnoCode(e);
  const where = `${host}:${port}`;
  switch (code) {
    case 'EADDRINUSE':
      return new ConfigError(`--port ${port}: ${where} is already in use by another program; choose another --port (0 = any free port) or stop that program`);
    case 'EACCES':
    case 'EPERM':
      return new ConfigError(`--port ${port}: not allowed to listen on ${where} (ports below 1024 need privileges); choose a port from 1024 up`);
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'EAI_NONAME':
    case 'EAI_FAIL':
      return new ConfigError(`--host ${host}: cannot resolve this host name (${code}); give an address of this machine, e.g. 127.0.0.1 (the default) or 0.0.0.0 for every interface`);
    case 'EADDRNOTAVAIL':
      return new ConfigError(`--host ${host}: not an address of this machine (EADDRNOTAVAIL); give one of its addresses, e.g. 127.0.0.1 or 0.0.0.0`);
    case 'EAFNOSUPPORT':
      return new ConfigError(`--host ${host}: this address family is not supported here (EAFNOSUPPORT); try 127.0.0.1`);
    default:
      return e;
  }
}

/** `sublinear serve`: load a checkpoint, listen, print the URL; stops on SIGINT / SIGTERM. */
export async function runServe(flags: ServeFlags): Promise<void> {
  const port = Number(flags.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new ConfigError(`--port: expected an integer in 0..65535, found ${JSON.stringify(flags.port)}`);
  const grace = Number(flags.shutdownTimeout ?? '5');
  if (!Number.isFinite(grace) || grace < 0 || grace > 3600) throw new ConfigError(`--shutdown-timeout: expected seconds in 0..3600, found ${JSON.stringify(flags.shutdownTimeout)}`);
  checkInputFile(flags.model, '--model');
  const t0 = performance.now();
  const loaded = await loadModel(flags.model, { kernels: flags.kernels ?? 'auto', maxMemoryBytes: maxMemoryFlag(flags.maxMemory), queryCandidates: candidatesFlag(flags.candidates) });
  const predictor = new Predictor(loaded);
  if (loaded.manifest && !flags.nats) throw new ConfigError(`--model ${flags.model}: its output layer is in ${loaded.manifest.shards} slices held by shard processes; serve it with --nats URL`);
  if (!loaded.manifest && flags.nats) throw new ConfigError(`--nats: ${flags.model} holds its whole model; serve it without --nats`);
  let closeRemote = async (): Promise<void> => undefined;
  if (loaded.manifest && flags.nats) {
    const replicas = Number(flags.replicas ?? '1');
    if (!Number.isInteger(replicas) || replicas < 1 || replicas > 64) throw new ConfigError(`--replicas: expected an integer in 1..64, found ${JSON.stringify(flags.replicas)}`);
    const nc = await connectNats(flags.nats, `sublinear-serve-${process.pid}`);
    const { RemoteQueries } = await import('../cluster/serving.js');
    let rq;
    try {
      rq = await RemoteQueries.start(nc, loaded.model, loaded.manifest, {
        prefix: prefixFlag(flags.prefix), replicas, timeoutMs: secondsFlag(flags.shardTimeout, '--shard-timeout', 2), waitMs: secondsFlag(flags.shardWait, '--shard-wait', 30),
        leaseMs: 60_000, kernels: flags.kernels ?? 'auto', log: flags.quiet ? undefined : (l) => process.stderr.write(l + '\n'),
      });
    } catch (e) {
      await nc.close();
      throw e;
    }
    predictor.remote = rq;
    closeRemote = async () => {
      await rq.close();
      await nc.close();
    };
  }
  // fastify is loaded only by this command (the others start faster without it)
  const { buildServer, startServer, stopServer } = await import('../serve/server.js');
  const app = buildServer(predictor, { log: flags.quiet ? undefined : process.stderr, modelName: basename(flags.model) });
  let url: string;
  try {
    url = await startServer(app, flags.host, port);
  } catch (e) {
    await app.close().catch(() => undefined);
    await closeRemote();
    throw listenError(e, flags.host, port);
  }
  const m = predictor.model;
  process.stderr.write(
    `loaded ${flags.model} in ${((performance.now() - t0) / 1000).toFixed(1)} s: ${m.nFeatures} features -> ${m.config.hidden.join(' -> ')} -> ${m.nLabels} labels, ` +
      `${predictor.hasLsh ? 'LSH output' : 'dense output (no LSH tables: every answer uses exact inference)'}${loaded.manifest ? ` in ${loaded.manifest.shards} slices on shard processes` : ''}, ${predictor.hasVocabulary ? 'with' : 'without'} vocabulary, kernels ${m.kernelsName}\n`,
  );
  process.stdout.write(`sublinear: serving at ${url} (POST ${url}predict, GET ${url}health); Ctrl-C stops\n`);
  await new Promise<void>((resolve) => {
    const stop = (signal: NodeJS.Signals): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      process.stderr.write(`${signal}: stopping (requests in progress get ${grace} s)\n`);
      stopServer(app, grace * 1000)
        .then(({ forced }) => {
          if (forced) process.stderr.write(`closed the connections still open after ${grace} s\n`);
        }, () => undefined)
        .then(closeRemote)
        .then(() => resolve(), () => resolve());
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}
