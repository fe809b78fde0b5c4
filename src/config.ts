import { z } from 'zod';
import { ConfigError } from './util/errors.js';

/**
 * The one configuration object of a run, with defaults and validation at the edge.
 * Defaults start from the reference C++ SLIDE's Amazon-670K settings: K = 6,
 * L = 50 tables, buckets of 128, hidden 128 ReLU, Adam, random padding of small active sets;
 * and change what measurements here showed to be better:
 *  - SimHash instead of DWTA: on WordNet after 3 epochs, DWTA (K=6, L=50) retrieved 5% of the
 *    exact top-5 with ~170 candidates, SimHash 51% with ~1,350 (bench/lshdiag in the notes);
 *  - padding to 300 neurons, not 1,000 (the padding costs forward, backward and update time);
 *  - reservoir buckets (FIFO over neurons inserted in id order keeps only the highest ids);
 *  - learning rate 5e-3 with batch 128: the reference's 1e-4 never beat the most-frequent label
 *    in 5 epochs here, and 1e-3 with batch 256 learned WordNet ~10x slower.
 * Unknown keys are errors; every message names the field.
 */

const hashSchema = z
  .object({
    /** LSH family: 'dwta' (sparse/dense, the reference's choice), 'wta', 'simhash', 'doph' */
    family: z.enum(['dwta', 'wta', 'simhash', 'doph']).default('simhash'),
    /** elementary hashes per table */
    K: z.number().int().min(1).max(32).default(6),
    /** number of tables */
    L: z.number().int().min(1).max(1024).default(50),
    /**
     * draw each table's K functions from a shared pool of this many (0 = K * L functions of their
     * own; else at least K). Hashing costs `pool` elementary hashes instead of K * L, for queries
     * and for every neuron at every rebuild; each table keeps its collision probability, but tables
     * share functions, which costs recall. Measured on WordNet (bench/results/tuning, SimHash K=6,
     * L=150, 6 epochs): P@1 0.565 without, 0.559 with 512, 0.548 with 256, at 5-7% more samples/s.
     * Off by default.
     */
    pool: z.number().int().min(0).max(65536).default(0),
    /**
     * SimHash projections: 'sparse' (entries in {-1, 0, +1}, a third non-zero, as the reference),
     * 'gaussian', or 'hadamard': rows of pseudo-random rotations (three rounds of random signs and
     * a Walsh-Hadamard transform per block of p = next power of two >= the input's width), the
     * same 1 - theta / pi bits from p log p additions a block instead of a p x dim matrix product.
     * Measured with the WebAssembly kernels (npm run bench:kernels, 256 inputs, 900 hashes): 6x
     * faster at rebuilds, 16x for a query. Ignored by the other families.
     */
    projection: z.enum(['sparse', 'gaussian', 'hadamard']).default('sparse'),
    /** WTA/DWTA bin size (power of two) */
    binSize: z.number().int().min(2).max(256).default(8),
    /** bucket index bits per table; 0 = auto (min(18, K * bits per hash, ceil(log2(neurons)) + 2)) */
    rangePow: z.number().int().min(0).max(24).default(0),
    bucketSize: z.number().int().min(1).max(65536).default(128),
    /** full buckets: 'reservoir' keeps a uniform sample of the neurons hashed there (the default: FIFO
     *  with neurons inserted in id order keeps only the highest ids); 'fifo' keeps the newest */
    insertion: z.enum(['fifo', 'reservoir']).default('reservoir'),
    /**
     * hash for maximum inner product instead of angle: neurons keyed by [w, b, sqrt(M^2 - |w|^2 - b^2)] / M,
     * inputs by [x, 1, 0] / |[x, 1]| (Neyshabur & Srebro 2015), so the augmented angle orders neurons
     * by their logit w.x + b. Off by default: measured on WordNet (SimHash K=6 L=50, 3 epochs) it
     * retrieved 32% of the exact top-5 against 51% without, because one large norm M squeezes
     * every other neuron towards the extra axis.
     */
    mips: z.boolean().default(false),
    /**
     * key neurons by w_j - mean_j(w_j) instead of w_j. The logits w_j.x of one input shift by the
     * same mean.x, so their order is unchanged, but the component every neuron shares (large after
     * training) no longer dominates the angle. Measured on WordNet (SimHash K=8, L=50, 3 epochs):
     * LSH inference retrieved 76% of the exact top-5 (P@1 0.500 vs exact 0.518) against 25%
     * without (0.334 vs 0.478).
     */
    center: z.boolean().default(true),
    /**
     * incremental rebuilds: a scheduled rebuild re-hashes only the neurons whose weights changed
     * since they were last hashed, keyed with the centre (and MIPS norm) of the last full rebuild,
     * which become part of the hash function; full rebuilds (every neuron, a new centre) come with
     * new hash functions (rebuild.rehashEvery) and every rebuild.fullEvery-th rebuild. The tables
     * then hold exactly what a full re-hash with that centre would give. Off by default: on the
     * Amazon-670K shape most neurons are touched between two rebuilds (bench:throughput).
     */
    incremental: z.boolean().default(false),
  })
  .strict()
  .refine((h) => h.pool === 0 || h.pool >= h.K, { message: 'must be 0 or at least K (each table takes K distinct functions of the pool)', path: ['pool'] });

const activeSetSchema = z
  .object({
    /** 'union' = union of the L buckets; 'topk' = the `cap` candidates found in most tables */
    policy: z.enum(['union', 'topk']).default('union'),
    /** union: pad with random neurons up to this many (the reference pads to 1,000) */
    minActive: z.number().int().min(0).default(300),
    /** union: at most this many active neurons (0 = no cap); topk: the cap */
    maxActive: z.number().int().min(0).default(0),
    /**
     * the cap of LSH inference (evaluation, predict, serve); 0 = maxActive. A query only computes
     * its candidates' logits (no backward, no update), so it can afford more than a training
     * step, and the candidates a cap leaves out are the exact top-5's misses. Measured (a 31K-label
     * synthetic set trained with 750 candidates, one model, 11K test points): 750 candidates
     * held 71.5% of the exact top-5 (P@1 0.958 against exact 0.971), 1,000 74.4% (0.960), 1,550
     * 79.1% (0.964), 3,000 85.9% (0.968).
     */
    queryMaxActive: z.number().int().min(0).default(0),
    /**
     * also take, after the forced ids and before the tables' candidates, the this-many neurons with
     * the largest biases (chosen at every rebuild). Tables keyed by angle miss neurons whose logit
     * comes from their bias: in an output layer, the frequent labels, scored high for most inputs
     * with small weights. Measured on a synthetic set of 31K power-law labels, 5 a point (LSH
     * inference, 750 candidates, 3 epochs): 3,785 of the exact top-5's 10,000 labels on 2,000 test
     * points were missed, with a median bias rank of 5 among the 31K, and 3,212 of them among
     * the 100 largest biases. 0 = none.
     */
    topBias: z.number().int().min(0).max(65536).default(0),
    /**
     * how LSH inference ranks the voted labels for its cap: 'votes' (the tables a label shares
     * with the query), or 'logit': the logit those votes estimate. With SimHash codes of K bits a
     * label found in v of L tables has angle a = pi (1 - (v / L)^(1/K)) to the query x, and its
     * centred row w - mean scores |w - mean| |x| cos a + b (the shared mean . x left out: it moves
     * every label of a query alike); each rebuild writes the rows' centred lengths. Votes alone rank
     * a long row like a short one at the same angle. SimHash, without MIPS, with the 'topk' policy.
     */
    queryRank: z.enum(['votes', 'logit']).default('votes'),
    /**
     * how a training step ranks the voted labels for its cap (beyond the sample's labels and the
     * largest biases): 'votes', or 'mixed': half of them by votes, the other half by the logit
     * the votes estimate (as queryRank 'logit', from the same count of votes). The second half
     * are the labels that score high for this input without sharing many tables with it (long
     * rows at a wider angle): negatives a step by votes does not push away. Same conditions as
     * queryRank 'logit'.
     */
    trainRank: z.enum(['votes', 'mixed']).default('votes'),
  })
  .strict();

const layerSamplingSchema = z
  .object({
    /** 'lsh' = compute only neurons retrieved from the hash tables; 'dense' = all neurons */
    mode: z.enum(['lsh', 'dense']).default('lsh'),
    hash: hashSchema.default(hashSchema.parse({})),
    activeSet: activeSetSchema.default(activeSetSchema.parse({})),
  })
  .strict();

const optimizerSchema = z
  .object({
    type: z.enum(['adam', 'sgd']).default('adam'),
    lr: z.number().positive().max(10).default(5e-3),
    beta1: z.number().min(0).lt(1).default(0.9),
    beta2: z.number().min(0).lt(1).default(0.999),
    eps: z.number().positive().default(1e-8),
    /**
     * learning-rate schedule over the run: 'constant', or 'linear' / 'cosine' decay from lr to
     * lr * minLrFactor over `decaySteps` batches (0 = the batches the fit plans to run)
     */
    schedule: z.enum(['constant', 'linear', 'cosine']).default('constant'),
    decaySteps: z.number().int().min(0).default(0),
    minLrFactor: z.number().min(0).max(1).default(0),
    /**
     * decoupled weight decay (AdamW; plain L2 shrink for SGD): every weight row updated in a batch
     * is multiplied by 1 - lr * weightDecay first (lazily: rows without gradient are left alone;
     * biases never decay)
     */
    weightDecay: z.number().min(0).default(0),
  })
  .strict();

const rebuildSchema = z
  .object({
    /** 'exponential': rebuild i comes N0 * e^(lambda * i) batches after rebuild i-1 (the paper); 'fixed': every `period` batches */
    schedule: z.enum(['exponential', 'fixed']).default('exponential'),
    n0: z.number().positive().default(50),
    lambda: z.number().min(0).default(0.05),
    period: z.number().int().positive().default(50),
    /** draw new hash functions every this many batches (0 = never; the reference: every 1,000 batches of 128) */
    rehashEvery: z.number().int().min(0).default(0),
    /** with incremental rebuilds (hash.incremental): every this many-th rebuild is full and re-centres (0 = only with new hash functions) */
    fullEvery: z.number().int().min(0).default(4),
  })
  .strict();

const dropoutSchema = z
  .object({
    hidden: z.number().min(0).lt(1).default(0),
    input: z.number().min(0).lt(1).default(0),
  })
  .strict();

export const configSchema = z
  .object({
    seed: z.number().int().min(0).max(0xffffffff).default(42),
    /** hidden layer widths (ReLU); the reference uses [128] */
    hidden: z.array(z.number().int().positive()).default([128]),
    /** sampling of each hidden layer, by position; missing entries = dense */
    hiddenSampling: z.array(layerSamplingSchema).default([]),
    /** sampling of the output layer */
    output: layerSamplingSchema.default(layerSamplingSchema.parse({})),
    optimizer: optimizerSchema.default(optimizerSchema.parse({})),
    rebuild: rebuildSchema.default(rebuildSchema.parse({})),
    batchSize: z.number().int().positive().max(65536).default(128),
    epochs: z.number().positive().default(5),
    /**
     * training-time dropout (inverted: kept values scaled by 1 / (1 - p)): `hidden` on the hidden
     * activations, `input` on the non-zero input features of each sample. Inference never drops.
     */
    dropout: dropoutSchema.default(dropoutSchema.parse({})),
    /**
     * input rows as given ('none'), or each scaled to unit L2 length ('l2') wherever it enters the
     * model (training, evaluation, predict, serve): features in any units (counts, raw tf, dense
     * embeddings) then meet the rates and initial scales that were chosen on unit rows.
     */
    inputNorm: z.enum(['none', 'l2']).default('none'),
    /**
     * input values as given ('none'), or 'log': a value v beyond +-1 becomes +-(1 + ln |v|) (the
     * identity up to 1 and its slope there, so zeros stay zeros), or 'binary': every non-zero
     * becomes its sign, +-1 (a feature's presence, as fastText sees a token); wherever a row enters
     * the model and before inputNorm. 'log': term counts then weigh as sublinear tf, 1 + ln tf.
     * 'binary' is never derived: for values that carry noise rather than weight (measured on
     * synthetic sets whose values are jittered; on WordNet's tf-idf it loses, README)
     */
    inputTransform: z.enum(['none', 'log', 'binary']).default('none'),
    /** weight init: uniform in +-initScale * sqrt(6 / (fanIn + fanOut)) (Glorot) */
    initScale: z.number().positive().default(1),
    /**
     * the input layer's fanIn in that init; 0 = the feature count. A sparse row sums only its
     * non-zeros into a hidden unit, so the rule (src/training/autoConfig.ts) gives their mean
     * count a row: the feature count starts the hidden units ~17x smaller on WordNet, and an
     * output row's first steps then barely move its logit
     */
    inputFanIn: z.number().int().nonnegative().default(0),
    /**
     * memories the output layer is split into, by contiguous neuron ranges, each with its own
     * parameters, optimizer state and tables (one wasm32 memory holds at most 4 GiB); 0 = as few
     * as the layer needs (1 up to ~3 GiB of output-layer state)
     */
    outputShards: z.number().int().min(0).max(4096).default(0),
    /** worker threads (0 = number of cores) */
    threads: z.number().int().min(0).max(256).default(1),
    /** evaluation: 'lsh' (tables), 'exact' (all output neurons) or 'both' */
    inference: z.enum(['lsh', 'exact', 'both']).default('both'),
    /** evaluate on (a sample of) the test set every this many epochs (0 = only at the end) */
    evalEvery: z.number().min(0).default(1),
    /** test points used in intermediate evaluations, spread evenly over the test set (0 = all); the final evaluation uses all */
    evalSample: z.number().int().min(0).default(2000),
  })
  .strict();

export type Config = z.infer<typeof configSchema>;

/** The input layer's fan-in in its init for `nFeatures` features: cfg.inputFanIn, 0 meaning the feature count. */
export function inputFanInOf(cfg: Config, nFeatures: number): number {
  return cfg.inputFanIn || nFeatures;
}
export type ConfigInput = z.input<typeof configSchema>;
export type LayerSampling = z.infer<typeof layerSamplingSchema>;
export type HashConfig = z.infer<typeof hashSchema>;
export type ActiveSetConfig = z.infer<typeof activeSetSchema>;
export type OptimizerConfig = z.infer<typeof optimizerSchema>;
export type RebuildConfig = z.infer<typeof rebuildSchema>;

/** Validate and fill defaults; throws ConfigError naming every bad field. */
export function parseConfig(input: unknown, source = 'config'): Config {
  // undefined = "no settings"; anything else must be an object (a file holding null, [] or 5 is a mistake, not {})
  if (input !== undefined && !isPlain(input)) {
    throw new ConfigError(`${source}: the configuration must be a JSON object ({"field": value, ...}), found ${describeJson(input)}`);
  }
  const r = configSchema.safeParse(input ?? {});
  if (r.success) return r.data;
  const lines = r.error.issues.map((iss) => {
    const path = iss.path.length ? iss.path.join('.') : '(top level)';
    if (iss.code === 'unrecognized_keys') {
      const where = iss.path.length ? `${iss.path.join('.')}.` : '';
      return `${source}: unknown field ${iss.keys.map((k) => `"${where}${k}"`).join(', ')}`;
    }
    return `${source}: field "${path}": ${iss.message}`;
  });
  throw new ConfigError(lines.join('\n'));
}

/**
 * Keys that no configuration field has and that would reach Object.prototype (or a
 * constructor) through `o[key]` reads and writes: `o["__proto__"] = v` replaces o's prototype,
 * and a walk through `o["__proto__"]` writes onto the prototype every object shares.
 */
const FORBIDDEN_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

function refuseKey(key: string, where: string): void {
  if (FORBIDDEN_KEYS.has(key)) throw new ConfigError(`${where}: "${key}" is not a configuration field (refused: it names JavaScript's object internals)`);
}

/**
 * Deep-merge plain objects (later wins); arrays and scalars replace. Only own enumerable keys
 * are read, and __proto__ / constructor / prototype are refused (ConfigError naming the path).
 */
export function mergeConfig(base: unknown, over: unknown, path = ''): unknown {
  if (!isPlain(base) || !isPlain(over)) return over === undefined ? base : over;
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const at = path ? `${path}.${k}` : k;
    refuseKey(k, `field "${at}"`);
    out[k] = mergeConfig(Object.hasOwn(out, k) ? out[k] : undefined, v, at);
  }
  return out;
}

function isPlain(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/** A value's kind for a message, without serializing it (it may be huge or deeply nested). */
function describeJson(x: unknown): string {
  if (x === null) return 'null';
  if (Array.isArray(x)) return 'an array';
  if (typeof x === 'string') return `a string ${JSON.stringify(x.length > 40 ? x.slice(0, 40) + '...' : x)}`;
  if (typeof x === 'number' || typeof x === 'boolean') return `${typeof x} ${String(x)}`;
  return typeof x;
}

/**
 * Set a dotted path (`optimizer.lr`) in a plain object, creating objects on the way. Reads and
 * writes own properties only; an empty segment or __proto__ / constructor / prototype is a
 * ConfigError naming the path.
 */
export function setPath(obj: Record<string, unknown>, path: string, value: unknown): void {
  const parts = path.split('.');
  for (const p of parts) {
    if (p === '') throw new ConfigError(`--set ${JSON.stringify(path)}: empty field name in the path (expected e.g. optimizer.lr)`);
    refuseKey(p, `--set ${JSON.stringify(path)}`);
  }
  let o: Record<string, unknown> = obj;
  for (let i = 0; i < parts.length - 1; i++) {
    const p = parts[i]!;
    if (!Object.hasOwn(o, p) || !isPlain(o[p])) o[p] = {};
    o = o[p] as Record<string, unknown>;
  }
  o[parts[parts.length - 1]!] = value;
}

export const defaultConfig: Config = parseConfig({});
