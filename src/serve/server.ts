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
 * a body over `bodyLimit` gets 413, JSON nested deeper than a query can be gets 400 before it
 * is parsed (jsonDepth.ts). Nothing but the read-only model is shared between requests (see
 * predictor.ts on scratch buffers).
 *
 * Slow clients cannot hold a connection: the headers must arrive within `headersTimeout`, the
 * whole request within `requestTimeout` (then Node answers 408 and closes), a connection idle
 * for `idleTimeout` is closed, and a keep-alive connection waits `keepAliveTimeout` for its
 * next request. Node checks the first two every `connectionsCheckingInterval` (default 30 s,
 * set to 1 s here so that the bounds hold to about a second). stopServer bounds the shutdown.
 */
import Fastify, { type FastifyError, type FastifyInstance } from 'fastify';
import { Predictor, QueryError, MAX_K } from './predictor.js';
import { PAGE_CSP, PAGE_HTML } from './page.js';
import { MAX_QUERY_DEPTH, jsonDepthOver, tooDeepMessage } from './jsonDepth.js';
import { ClusterError } from '../cluster/errors.js';

export interface ServerOptions {
  /** largest request body in bytes (default 64 KiB) */
  bodyLimit?: number;
  /** largest text in characters (default 10,000) */
  maxTextLength?: number;
  /** one line per request on this stream (default: none) */
  log?: NodeJS.WritableStream;
  /** shown by /health */
  modelName?: string;
  /** ms for a client to send the whole request, headers and body (default 10 s) */
  requestTimeout?: number;
  /** ms for a client to send the request headers (default 5 s; at most requestTimeout) */
  headersTimeout?: number;
  /** ms of silence after which a connection is closed (default 10 s) */
  idleTimeout?: number;
  /** ms a kept-alive connection waits for its next request (default 5 s) */
  keepAliveTimeout?: number;
}

export const SERVER_DEFAULTS = { requestTimeout: 10_000, headersTimeout: 5_000, idleTimeout: 10_000, keepAliveTimeout: 5_000 } as const;

interface PredictBody {
  features?: Record<string, number>;
  text?: string;
  k?: number;
  exact?: boolean;
}

export function buildServer(predictor: Predictor, opts: ServerOptions = {}): FastifyInstance {
  const bodyLimit = opts.bodyLimit ?? 64 * 1024;
  const maxText = opts.maxTextLength ?? 10_000;
  const requestTimeout = opts.requestTimeout ?? SERVER_DEFAULTS.requestTimeout;
  const app = Fastify({
    logger: false,
    bodyLimit,
    requestTimeout,
    connectionTimeout: opts.idleTimeout ?? SERVER_DEFAULTS.idleTimeout,
    keepAliveTimeout: opts.keepAliveTimeout ?? SERVER_DEFAULTS.keepAliveTimeout,
    http: {
      headersTimeout: Math.min(opts.headersTimeout ?? SERVER_DEFAULTS.headersTimeout, requestTimeout),
      connectionsCheckingInterval: 1000,
    },
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

  // JSON bodies: the nesting depth is bounded before parsing (fastify's own parser, which also
  // refuses __proto__ and constructor keys, does the rest)
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string', bodyLimit }, (req, body, done) => {
    const text = body as string;
    if (jsonDepthOver(text, MAX_QUERY_DEPTH)) {
      done(new QueryError(`body: ${tooDeepMessage(MAX_QUERY_DEPTH)}`), undefined);
      return;
    }
    parseJson(req, text, (err, value) => {
      if (!err) return done(null, value);
      // fastify's message says only "not valid JSON": say where, or that a forbidden key was refused
      try {
        JSON.parse(text);
        done(new QueryError('body: the keys "__proto__" and "constructor" are not allowed'), undefined);
      } catch (e) {
        done(text.length === 0 ? err : new QueryError(`body is not valid JSON: ${(e as Error).message}`), undefined);
      }
    });
  });

  app.addHook('onSend', async (_req, reply, payload) => {
    reply.header('x-content-type-options', 'nosniff');
    reply.header('cache-control', 'no-store');
    // stopping: a request that was in progress is answered, and its connection closes after the
    // answer instead of idling through keepAliveTimeout while the shutdown waits for it
    if (stopping.has(app)) reply.header('connection', 'close');
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
    // a slice of the output layer could not answer (every replica tried): the service, not the query, failed
    if (err instanceof ClusterError) {
      opts.log?.write(`error: ${err.message}\n`);
      return reply.code(503).send({ error: `unavailable: ${err.message}` });
    }
    if (err.validation) {
      const v = err.validation[0];
      const where = v?.instancePath ? `body${v.instancePath.replace(/\//g, '.')}` : 'body';
      let msg = `${where} ${v?.message ?? 'is invalid'}`;
      if (v?.keyword === 'additionalProperties') msg = `unknown field ${JSON.stringify((v.params as { additionalProperty?: string }).additionalProperty)} in ${where} (expected features or text, k, exact)`;
      if (v?.keyword === 'type' && !v.instancePath) msg = 'body must be a JSON object, sent with content-type: application/json';
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
      const r = await predictor.predictAsync(idx, val, k, exact);
      return { labels: r.labels, inference: exact || !predictor.hasLsh ? 'exact' : 'lsh', candidates: r.candidates };
    }
    const f = predictor.featurize(b.text!);
    const r = await predictor.predictAsync(f.idx, f.val, k, exact);
    return { labels: r.labels, inference: exact || !predictor.hasLsh ? 'exact' : 'lsh', candidates: r.candidates, tokens: { known: f.known, unknown: f.unknown } };
  });

  return app;
}

/** Servers that stopServer is stopping (their answers close their connections). */
const stopping = new WeakSet<FastifyInstance>();

/**
 * Stop: close the listening socket and the idle keep-alive connections at once (fastify's close;
 * a request arriving meanwhile on an open connection gets 503), let requests in progress finish
 * for up to `graceMs`, then close every connection left (a client still sending its body after
 * that has had its chance). Resolves when the server is closed; `forced` = connections were cut.
 */
export async function stopServer(app: FastifyInstance, graceMs: number): Promise<{ forced: boolean }> {
  stopping.add(app);
  const closed = app.close();
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((resolve) => {
    timer = setTimeout(() => resolve('late'), graceMs);
  });
  const first = await Promise.race([closed.then(() => 'closed' as const), late]);
  clearTimeout(timer);
  if (first === 'late') {
    app.server.closeAllConnections();
    await closed;
  }
  return { forced: first === 'late' };
}

/** Listen and return the base URL (port 0 = any free port). */
export async function startServer(app: FastifyInstance, host: string, port: number): Promise<string> {
  await app.listen({ host, port });
  const addr = app.server.address();
  const p = typeof addr === 'object' && addr !== null ? addr.port : port;
  const h = host.includes(':') ? `[${host}]` : host;
  return `http://${h}:${p}/`;
}
