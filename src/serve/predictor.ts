/**
 * Inference over a loaded checkpoint, shared by `sublinear predict` and `sublinear serve`:
 * validation of queries (feature ids and values, k, text), text featurization with the saved
 * vocabulary, top-k through LSH tables or over every output neuron, label names.
 *
 * Queries run synchronously on the calling thread's scratch of the model (SlideModel.predictTop),
 * whose generator restarts from a fixed state for every query, so an answer depends on the query
 * alone, not on the requests before it (the LSH active set is padded with random neurons when the
 * tables return few candidates). The weights and tables are only read.
 */
import { MAX_K, type SlideModel } from '../training/model.js';
import type { LoadedModel } from '../checkpoint/checkpoint.js';
import { tokenize } from '../data/text/tokenize.js';
import { featurizeText } from '../data/text/tfidf.js';

export { MAX_K };

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

/** A bad value for a message, without serializing it (an array may be nested thousands deep). */
function describeValue(v: unknown): string {
  if (typeof v === 'number') return String(v);
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? v.slice(0, 40) + '...' : v);
  if (v === null || typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'object' ? 'an object' : typeof v;
}

/** Queries answered by an output layer in shard processes (src/cluster/serving.ts). */
export interface RemoteAnswerer {
  query(idx: Int32Array, val: Float32Array, k: number, exact: boolean): Promise<PredictResult>;
}

export class Predictor {
  readonly model: SlideModel;
  /** the output layer's shard processes, when the model's output layer is remote */
  remote: RemoteAnswerer | null = null;
  readonly labelNames: string[] | null;
  readonly featureNames: string[] | null;
  /** token -> feature id (present when the checkpoint has feature names and idf) */
  readonly vocab: Map<string, number> | null;
  readonly idf: Float32Array | null;

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
        throw new QueryError(`the value of feature ${f} must be a finite number, found ${describeValue(v)}`);
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

  /**
   * Top-k labels of many checked queries (see checkFeatures), in order, on the model's threads:
   * the answers of `predict` one by one (a query's answer depends on the query alone).
   */
  async predictMany(queries: readonly { idx: Int32Array; val: Float32Array; k: number; exact: boolean }[]): Promise<LabelScore[][]> {
    const out: LabelScore[][] = new Array(queries.length);
    for (const exact of [false, true]) {
      const at: number[] = [];
      queries.forEach((q, i) => {
        if (q.exact === exact) at.push(i);
      });
      if (at.length === 0) continue;
      let nnz = 0;
      let kMax = 1;
      for (const i of at) {
        nnz += queries[i]!.idx.length;
        kMax = Math.max(kMax, Predictor.checkK(queries[i]!.k));
      }
      const featPtr = new Int32Array(at.length + 1);
      const featIdx = new Int32Array(nnz);
      const featVal = new Float32Array(nnz);
      at.forEach((i, r) => {
        featIdx.set(queries[i]!.idx, featPtr[r]!);
        featVal.set(queries[i]!.val, featPtr[r]!);
        featPtr[r + 1] = featPtr[r]! + queries[i]!.idx.length;
      });
      const rows = { n: at.length, featPtr, featIdx, featVal, labelPtr: new Int32Array(at.length + 1), labelIdx: new Int32Array(0) };
      const answers = await this.model.predictBatch(rows, Math.min(kMax, this.nLabels), { exact });
      at.forEach((i, r) => {
        out[i] = answers[r]!.slice(0, queries[i]!.k).map(({ id, score }) => {
          const name = this.labelNames?.[id];
          return name === undefined ? { id, score } : { id, name, score };
        });
      });
    }
    return out;
  }

  /** predict, or through the shard processes when the output layer is remote. */
  async predictAsync(idx: Int32Array, val: Float32Array, k: number, exact: boolean): Promise<PredictResult> {
    if (this.remote === null) return this.predict(idx, val, k, exact);
    Predictor.checkK(k);
    const r = await this.remote.query(idx, val, Math.min(k, this.nLabels), exact);
    return { labels: r.labels.map(({ id, score }) => (this.labelNames?.[id] === undefined ? { id, score } : { id, name: this.labelNames[id]!, score })), candidates: r.candidates };
  }

  /** Top-k labels of a checked sparse query (see checkFeatures). */
  predict(idx: Int32Array, val: Float32Array, k: number, exact: boolean): PredictResult {
    Predictor.checkK(k);
    const r = this.model.predictTop({ indices: idx, values: val }, Math.min(k, this.nLabels), { exact });
    const labels: LabelScore[] = r.labels.map(({ id, score }) => {
      const name = this.labelNames?.[id];
      return name === undefined ? { id, score } : { id, name, score };
    });
    return { labels, candidates: r.candidates };
  }
}
