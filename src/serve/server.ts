/**
 * The HTTP service (fastify):
 *   POST /predict  {"features": {"<feature id>": value, ...}, "k"?: 5, "exact"?: false}
 *                  or, when the checkpoint has a vocabulary, {"text": "...", "k"?: 5, "exact"?: false}
 *                  -> {"labels": [{"id": n, "name"?: "...", "score": x}, ...], "inference": "lsh"|"exact",
 *                      "candidates": n, "tokens"?: {"known": [...], "unknown": [...]}}
 *   GET /health    -> {"status": "ok", "features", "labels", "hidden", "lsh", "vocabulary", "labelNames", ...}
 *   GET /          a page to try the model (page.ts)
 * Bodies are validated by a JSON schema (fastify's ajv, with type coercion and the removal of
 * unknown fields turned off, so "5" is not a k and a misspelt field is an error), then by range
 * checks (feature ids, finite values). Every bad request gets a 4xx with {"error": message};
 * a body over `bodyLimit` gets 413. Nothing but the read-only model is shared between requests
 * (see predictor.ts on scratch buffers).
 */
import Fastify, { type FastifyError, type FastifyInstance } from 'fastify';
import { Predictor, QueryError, MAX_K } from './predictor.js';
import { PAGE_CSP, PAGE_HTML } from './page.js';

export interface ServerOptions {
  /** largest request body in bytes (default 64 KiB) */
  bodyLimit?: number;
  /** largest text in characters (default 10,000) */
  maxTextLength?: number;
  /** one line per request on this stream (default: none) */
  log?: NodeJS.WritableStream;
  /** shown by /health */
  modelName?: string;
}

interface PredictBody {
  features?: Record<string, number>;
  text?: string;
  k?: number;
  exact?: boolean;
}

export function buildServer(predictor: Predictor, opts: ServerOptions = {}): FastifyInstance {
  const bodyLimit = opts.bodyLimit ?? 64 * 1024;
  const maxText = opts.maxTextLength ?? 10_000;
  const app = Fastify({
    logger: false,
    bodyLimit,
    // a misspelt field or "k": "5" must be an error, not silently dropped or converted
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, useDefaults: true, allErrors: false } },
    return503OnClosing: true,
  });

  const bodySchema = {
    type: 'object',
    additionalProperties: false,
    properties: {
      features: {
        type: 'object',
        maxProperties: 10_000,
        propertyNames: { pattern: '^(0|[1-9][0-9]{0,9})$' },
        // values are checked by the handler, which says "finite number" (ajv rejects 1e999 = Infinity as "must be number")
        additionalProperties: true,
      },
      text: { type: 'string', maxLength: maxText },
      k: { type: 'integer', minimum: 1, maximum: MAX_K, default: 5 },
      exact: { type: 'boolean', default: false },
    },
  } as const;

  app.addHook('onSend', async (_req, reply, payload) => {
    reply.header('x-content-type-options', 'nosniff');
    reply.header('cache-control', 'no-store');
    return payload;
  });
  if (opts.log) {
    const out = opts.log;
    app.addHook('onResponse', async (req, reply) => {
      out.write(`${new Date().toISOString()} ${req.method} ${req.url} ${reply.statusCode} ${reply.elapsedTime.toFixed(1)} ms\n`);
    });
  }

  app.setErrorHandler((err: FastifyError, _req, reply) => {
    if (err instanceof QueryError) return reply.code(err.status).send({ error: err.message });
    if (err.validation) {
      const v = err.validation[0];
      const where = v?.instancePath ? `body${v.instancePath.replace(/\//g, '.')}` : 'body';
      let msg = `${where} ${v?.message ?? 'is invalid'}`;
      if (v?.keyword === 'additionalProperties') msg = `unknown field ${JSON.stringify((v.params as { additionalProperty?: string }).additionalProperty)} in ${where} (expected features or text, k, exact)`;
      if (v?.keyword === 'propertyNames' || v?.keyword === 'pattern') msg = `${where}: feature ids must be non-negative integers written as strings, e.g. {"12": 0.5}`;
      return reply.code(400).send({ error: msg });
    }
    const code = typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
    if (code === 500) {
      opts.log?.write(`error: ${err.stack ?? err.message}\n`);
      return reply.code(500).send({ error: 'internal error' });
    }
    return reply.code(code).send({ error: err.message });
  });
  app.setNotFoundHandler((req, reply) => reply.code(404).send({ error: `no route ${req.method} ${req.url.slice(0, 100)}; try GET /, GET /health, POST /predict` }));

  const model = predictor.model;
  const health = {
    status: 'ok',
    model: opts.modelName ?? null,
    features: predictor.nFeatures,
    labels: predictor.nLabels,
    hidden: model.config.hidden,
    lsh: predictor.hasLsh,
    vocabulary: predictor.hasVocabulary,
    labelNames: predictor.labelNames !== null,
    maxK: MAX_K,
    bodyLimit,
    kernels: model.kernelsName,
    trainedEpochs: model.epochsDone,
  };
  app.get('/health', async () => health);
  app.get('/', async (_req, reply) => {
    reply.header('content-security-policy', PAGE_CSP).type('text/html; charset=utf-8');
    return PAGE_HTML;
  });
  app.get('/favicon.ico', async (_req, reply) => reply.code(204).send());

  app.post<{ Body: PredictBody }>('/predict', { schema: { body: bodySchema } }, async (req) => {
    const b = req.body;
    const k = b.k ?? 5;
    const exact = b.exact === true;
    if ((b.features === undefined) === (b.text === undefined)) {
      throw new QueryError(b.features === undefined ? 'send "features" ({"<id>": value}) or "text"' : 'send either "features" or "text", not both');
    }
    if (b.features !== undefined) {
      if (Object.keys(b.features).length === 0) throw new QueryError('features is empty: give at least one {"<id>": value}');
      const { idx, val } = predictor.featuresFromObject(b.features);
      const r = predictor.predict(idx, val, k, exact);
      return { labels: r.labels, inference: exact || !predictor.hasLsh ? 'exact' : 'lsh', candidates: r.candidates };
    }
    const f = predictor.featurize(b.text!);
    const r = predictor.predict(f.idx, f.val, k, exact);
    return { labels: r.labels, inference: exact || !predictor.hasLsh ? 'exact' : 'lsh', candidates: r.candidates, tokens: { known: f.known, unknown: f.unknown } };
  });

  return app;
}

/** Listen and return the base URL (port 0 = any free port). */
export async function startServer(app: FastifyInstance, host: string, port: number): Promise<string> {
  await app.listen({ host, port });
  const addr = app.server.address();
  const p = typeof addr === 'object' && addr !== null ? addr.port : port;
  const h = host.includes(':') ? `[${host}]` : host;
  return `http://${h}:${p}/`;
}
