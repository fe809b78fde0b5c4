/**
 * Inference over a loaded checkpoint, shared by `sublinear predict` and `sublinear serve`:
 * validation of queries (feature ids and values, k, text), text featurization with the saved
 * vocabulary, top-k through LSH tables or over every output neuron, label names.
 *
 * Scratch: the network's forward pass needs per-call buffers (activations, active sets, the
 * padding generator). The Predictor never touches the model's training scratch: each call takes
 * a scratch from a small pool and returns it. Calls are synchronous and JS runs them one at a
 * time on this thread, so in practice the pool holds a single scratch that requests use in turn
 * (sharing one would be just as safe; the pool says the intent, and stays correct if predict ever
 * becomes asynchronous). Scratches come from the model's arena and are never freed, hence a pool
 * rather than one per call. Before each call the scratch's generator is reset to a fixed state, so
 * an answer depends on the query alone, not on the requests before it: the LSH active set is padded
 * with random neurons when the tables return few candidates. The weights and tables are only read.
 */
import type { SlideModel } from '../training/model.js';
import type { ThreadScratch } from '../network/network.js';
import type { LoadedModel } from '../checkpoint/checkpoint.js';
import { Rng } from '../util/rng.js';
import { tokenize } from '../data/text/tokenize.js';
import { featurizeText } from '../data/text/tfidf.js';

export const MAX_K = 100;

export interface LabelScore {
  id: number;
  /** present when the checkpoint has label names */
  name?: string;
  score: number;
}

export interface PredictResult {
  labels: LabelScore[];
  /** output neurons scored (all of them with exact inference) */
  candidates: number;
}

/** A query the caller got wrong; `status` is the HTTP status the server answers with. */
export class QueryError extends Error {
  constructor(
    message: string,
    readonly status = 400,
  ) {
    super(message);
    this.name = 'QueryError';
  }
}

export class Predictor {
  readonly model: SlideModel;
  readonly labelNames: string[] | null;
  readonly featureNames: string[] | null;
  /** token -> feature id (present when the checkpoint has feature names and idf) */
  readonly vocab: Map<string, number> | null;
  readonly idf: Float32Array | null;
  private readonly pool: ThreadScratch[] = [];
  private readonly rngState: Uint32Array;

  constructor(loaded: LoadedModel) {
    this.model = loaded.model;
    this.labelNames = loaded.labelNames ?? null;
    this.featureNames = loaded.featureNames ?? null;
    this.idf = loaded.idf ?? null;
    if (loaded.featureNames && loaded.idf) {
      const v = new Map<string, number>();
      loaded.featureNames.forEach((t, i) => v.set(t, i));
      this.vocab = v;
    } else {
      this.vocab = null;
    }
    this.rngState = new Rng(this.model.config.seed, 0x5e7e).getState();
  }

  get nFeatures(): number {
    return this.model.nFeatures;
  }

  get nLabels(): number {
    return this.model.nLabels;
  }

  /** Whether text queries are possible (the checkpoint holds feature names and idf). */
  get hasVocabulary(): boolean {
    return this.vocab !== null;
  }

  /** Whether LSH inference is possible (the output layer is sampled); otherwise it is exact anyway. */
  get hasLsh(): boolean {
    return this.model.network.output.sampled;
  }

  private acquire(): ThreadScratch {
    const s = this.pool.pop() ?? this.model.network.createScratch(new Rng(0), MAX_K);
    s.rng.setState(this.rngState);
    return s;
  }

  private release(s: ThreadScratch): void {
    this.pool.push(s);
  }

  static checkK(k: unknown): number {
    if (typeof k !== 'number' || !Number.isInteger(k) || k < 1 || k > MAX_K) throw new QueryError(`k must be an integer in 1..${MAX_K}, found ${JSON.stringify(k)}`);
    return k;
  }

  /**
   * Validate a sparse query: ids integers in 0..nFeatures-1 and distinct, values finite.
   * Returns them as typed arrays.
   */
  checkFeatures(ids: ArrayLike<number>, vals: ArrayLike<number>): { idx: Int32Array; val: Float32Array } {
    const n = ids.length;
    if (vals.length !== n) throw new QueryError(`${n} feature ids but ${vals.length} values`);
    const idx = new Int32Array(n);
    const val = new Float32Array(n);
    const seen = new Set<number>();
    for (let i = 0; i < n; i++) {
      const f = ids[i]!;
      const v = vals[i]!;
      if (!Number.isInteger(f) || f < 0 || f >= this.nFeatures) throw new QueryError(`unknown feature id ${f}: this model has features 0..${this.nFeatures - 1}`);
      if (seen.has(f)) throw new QueryError(`feature id ${f} is given twice`);
      seen.add(f);
      if (typeof v !== 'number' || !Number.isFinite(v)) {
        throw new QueryError(`the value of feature ${f} must be a finite number, found ${typeof v === 'number' ? String(v) : String(JSON.stringify(v)).slice(0, 40)}`);
      }
      if (!Number.isFinite(Math.fround(v))) throw new QueryError(`the value of feature ${f} (${v}) overflows 32-bit floats`);
      idx[i] = f;
      val[i] = v;
    }
    return { idx, val };
  }

  /** A `{"<id>": value}` object (the service's and JSON lines' form) as a checked sparse query. */
  featuresFromObject(obj: Record<string, unknown>): { idx: Int32Array; val: Float32Array } {
    const keys = Object.keys(obj);
    const ids: number[] = [];
    const vals: number[] = [];
    for (const key of keys) {
      if (!/^(0|[1-9][0-9]{0,9})$/.test(key)) throw new QueryError(`feature ids must be non-negative integers, found ${JSON.stringify(key.slice(0, 40))}`);
      ids.push(Number(key));
      vals.push(obj[key] as number);
    }
    return this.checkFeatures(ids, vals);
  }

  /** Text -> sparse features with the saved vocabulary and idf; also which words were known. Refuses text without a known word (422). */
  featurize(text: string): { idx: Int32Array; val: Float32Array; known: string[]; unknown: string[] } {
    if (!this.vocab || !this.idf) throw new QueryError('this model has no vocabulary (it was saved without feature names and idf): send "features" instead of "text"');
    if (text.trim() === '') throw new QueryError('text is empty');
    const { idx, val } = featurizeText(text, this.vocab, this.idf);
    const known: string[] = [];
    const unknown: string[] = [];
    for (const t of new Set(tokenize(text))) (this.vocab.has(t) ? known : unknown).push(t);
    if (idx.length === 0) {
      const shown = unknown.length ? ` (${unknown.slice(0, 10).join(', ')}${unknown.length > 10 ? ', ...' : ''})` : ' (only stopwords and one-letter tokens)';
      throw new QueryError(`none of the words of the text are in the model's vocabulary${shown}`, 422);
    }
    return { idx, val, known, unknown };
  }

  /** Top-k labels of a checked sparse query (see checkFeatures). */
  predict(idx: Int32Array, val: Float32Array, k: number, exact: boolean): PredictResult {
    Predictor.checkK(k);
    const net = this.model.network;
    const s = this.acquire();
    try {
      const m = net.predict(s, idx, val, 0, idx.length, Math.min(k, net.nLabels), exact);
      const labels: LabelScore[] = [];
      for (let i = 0; i < m; i++) {
        const id = s.topIds[i]!;
        const name = this.labelNames?.[id];
        labels.push(name === undefined ? { id, score: s.topScores[i]! } : { id, name, score: s.topScores[i]! });
      }
      return { labels, candidates: s.nActive[net.fc.length - 1]! };
    } finally {
      this.release(s);
    }
  }
}
