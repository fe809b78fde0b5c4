import { basename } from 'node:path';
import { loadModel } from '../checkpoint/checkpoint.js';
import { Predictor } from '../serve/predictor.js';
import { ConfigError } from '../util/errors.js';
import type { KernelChoice } from '../kernels/index.js';

/** `sublinear serve`: load a checkpoint, listen, print the URL; stops on SIGINT / SIGTERM. */
export async function runServe(flags: { model: string; port: string; host: string; kernels?: KernelChoice; quiet?: boolean }): Promise<void> {
  const port = Number(flags.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new ConfigError(`--port: expected an integer in 0..65535, found ${JSON.stringify(flags.port)}`);
  const t0 = performance.now();
  const loaded = await loadModel(flags.model, { kernels: flags.kernels ?? 'auto' });
  const predictor = new Predictor(loaded);
  // fastify is loaded only by this command (the others start faster without it)
  const { buildServer, startServer } = await import('../serve/server.js');
  const app = buildServer(predictor, { log: flags.quiet ? undefined : process.stderr, modelName: basename(flags.model) });
  const url = await startServer(app, flags.host, port);
  const m = predictor.model;
  process.stderr.write(
    `loaded ${flags.model} in ${((performance.now() - t0) / 1000).toFixed(1)} s: ${m.nFeatures} features -> ${m.config.hidden.join(' -> ')} -> ${m.nLabels} labels, ` +
      `${predictor.hasLsh ? 'LSH' : 'dense'} output, ${predictor.hasVocabulary ? 'with' : 'without'} vocabulary, kernels ${m.kernelsName}\n`,
  );
  process.stdout.write(`sublinear: serving at ${url} (POST ${url}predict, GET ${url}health); Ctrl-C stops\n`);
  await new Promise<void>((resolve) => {
    const stop = (): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      app.close().then(() => resolve(), () => resolve());
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}
