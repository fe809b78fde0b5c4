import { Arena } from '../util/arena.js';
import { Rng } from '../util/rng.js';
import type { Kernels } from '../kernels/types.js';
import type { Config, LayerSampling } from '../config.js';
import { ConfigError } from '../util/errors.js';
import { ParamBlock } from '../layers/params.js';
import { LshSampler, type SamplerScratch, type RebuildScratch } from '../layers/sampler.js';
import { topK } from './topk.js';

/**
 * A SLIDE network: sparse input -> hidden ReLU layers -> softmax output.
 *
 *   layer 0 (input):  ParamBlock W (nFeatures, h0) FEATURE-major, so a sample reads its ~nnz
 *                     contiguous rows; always dense (all h0 neurons active).
 *   layer l >= 1:     ParamBlock W (h_l, h_{l-1}) NEURON-major; optionally LSH-sampled.
 *   output:           ParamBlock W (nLabels, h_last) neuron-major; LSH-sampled or dense.
 *
 * Every neuron-major layer computes only its active list (identity list in dense mode):
 * dense mode is the same code with every neuron active, which makes it the exactness oracle.
 *
 * Per-thread state lives in a ThreadScratch; parameters are shared (HOGWILD).
 */
export interface FcLayer {
  readonly nIn: number;
  readonly nOut: number;
  readonly p: ParamBlock;
  readonly sampler: LshSampler | null;
  /** 0..nOut-1, the active list of dense mode */
  readonly all: Int32Array;
  readonly isOutput: boolean;
}

/** Profile slots (seconds), accumulated when Network.profile is on. */
export const PROF_HASH = 0;
export const PROF_LOOKUP = 1;
export const PROF_FORWARD = 2;
export const PROF_BACKWARD = 3;
export const PROF_UPDATE = 4;
export const PROF_REBUILD = 5;
export const PROF_SLOTS = 6;

export interface ThreadScratch {
  rng: Rng;
  /** (PROF_SLOTS) time spent per part, when profiling */
  prof: Float64Array;
  /** per hidden layer: dense activations after ReLU (h_l) */
  acts: Float32Array[];
  /** per hidden layer: gradient w.r.t. the activations (h_l) */
  dActs: Float32Array[];
  /** per neuron-major layer (index l-1 for hidden l >= 1, last = output): active ids, count, compact values */
  active: Int32Array[];
  nActive: Int32Array;
  vals: Float32Array[];
  sampler: (SamplerScratch | null)[];
  /** top-k output */
  topIds: Int32Array;
  topScores: Float32Array;
  /** the current sample's features, copied into the arena so that WebAssembly kernels see them */
  inIdx: Int32Array;
  inVal: Float32Array;
  /** set by trainSample: 1 if the highest-scoring active output neuron is a true label */
  lastHit: number;
  /**
   * (3) running sums over trained samples, reset by the caller: [loss, hits, active output
   * neurons]. A typed array, so that reporting the loss allocates nothing (a double returned
   * from a function is boxed on V8's heap: 16 bytes a sample).
   */
  sums: Float64Array;
  /** (1) log partition of the last softmax */
  logZ: Float64Array;
}

export class Network {
  readonly arena: Arena;
  readonly input: ParamBlock;
  readonly fc: FcLayer[];
  readonly hidden: number[];
  readonly kernels: Kernels;
  /** accumulate per-part timings into ThreadScratch.prof (costs a clock read per part) */
  profile = false;

  constructor(
    readonly cfg: Config,
    readonly nFeatures: number,
    readonly nLabels: number,
    kernelsFor: (memory: WebAssembly.Memory) => Kernels,
    rng: Rng,
    arena: Arena = new Arena(),
    /** a worker thread's view of a network the main thread built in `arena`: write nothing */
    attach = false,
  ) {
    if (cfg.hidden.length < 1) throw new ConfigError('config: field "hidden": at least one hidden layer is required');
    if (cfg.hiddenSampling.length > cfg.hidden.length) {
      throw new ConfigError(`config: field "hiddenSampling": ${cfg.hiddenSampling.length} entries for ${cfg.hidden.length} hidden layers`);
    }
    if (cfg.hiddenSampling[0] && cfg.hiddenSampling[0].mode === 'lsh') {
      throw new ConfigError('config: field "hiddenSampling.0.mode": the first hidden layer reads the sparse input feature-major and is always dense; sample layers after it or the output');
    }
    this.arena = arena;
    this.kernels = kernelsFor(arena.memory);
    this.hidden = cfg.hidden.slice();
    const adam = cfg.optimizer.type === 'adam';
    const h0 = cfg.hidden[0]!;
    const initRng = rng.fork(1);
    this.input = new ParamBlock(arena, nFeatures, h0, h0, adam, true);
    if (!attach) this.input.init(initRng, nFeatures, h0, cfg.initScale);
    this.fc = [];
    const widths = [...cfg.hidden, nLabels];
    for (let l = 1; l < widths.length; l++) {
      const nIn = widths[l - 1]!;
      const nOut = widths[l]!;
      const isOutput = l === widths.length - 1;
      const sampling: LayerSampling | undefined = isOutput ? cfg.output : cfg.hiddenSampling[l];
      const p = new ParamBlock(arena, nOut, nIn, nOut, adam);
      if (!attach) p.init(initRng, nIn, nOut, cfg.initScale);
      const all = arena.i32(nOut);
      if (!attach) for (let j = 0; j < nOut; j++) all[j] = j;
      const sampler = sampling && sampling.mode === 'lsh' ? new LshSampler(sampling, nIn, nOut, rng.fork(100 + l), arena, attach) : null;
      this.fc.push({ nIn, nOut, p, sampler, all, isOutput });
    }
  }

  get output(): FcLayer {
    return this.fc[this.fc.length - 1]!;
  }

  /** All parameter blocks, input first. */
  blocks(): ParamBlock[] {
    return [this.input, ...this.fc.map((l) => l.p)];
  }

  /** Scratch for one thread, carved from the arena (the kernels must see it). */
  createScratch(rng: Rng, maxK = 100, maxNnz = 1024, a: Arena = this.arena): ThreadScratch {
    return {
      rng,
      prof: new Float64Array(PROF_SLOTS),
      acts: this.hidden.map((h) => a.f32(h)),
      dActs: this.hidden.map((h) => a.f32(h)),
      active: this.fc.map((l) => a.i32(l.nOut)),
      nActive: new Int32Array(this.fc.length),
      vals: this.fc.map((l) => a.f32(l.nOut)),
      sampler: this.fc.map((l) => (l.sampler ? l.sampler.createScratch() : null)),
      topIds: a.i32(maxK),
      topScores: a.f32(maxK),
      lastHit: 0,
      sums: new Float64Array(3),
      logZ: new Float64Array(1),
      inIdx: a.i32(maxNnz),
      inVal: a.f32(maxNnz),
    };
  }

  createRebuildScratch(): RebuildScratch[] {
    return this.fc.map((l) => (l.sampler ? l.sampler.createRebuildScratch() : { ids: new Int32Array(0), codes: new Int32Array(0), rows: new Float32Array(0) }));
  }

  /** Re-insert the neurons of every sampled layer into its tables. */
  rebuildTables(scratch: RebuildScratch[]): void {
    for (let l = 0; l < this.fc.length; l++) {
      const layer = this.fc[l]!;
      if (layer.sampler) layer.sampler.rebuild(layer.p.W, layer.p.b, scratch[l]!);
    }
  }

  /** Draw new hash functions for every sampled layer (then rebuild). */
  redrawHashes(rng: Rng): void {
    for (const l of this.fc) l.sampler?.redraw(rng);
  }

  /**
   * Forward through the hidden layers for one sparse input; fills s.acts.
   * `mode`: 'sampled' uses each layer's sampler where it has one, 'exact' computes all neurons.
   */
  private forwardHidden(s: ThreadScratch, idx: Int32Array, val: Float32Array, start: number, end: number, exact: boolean): void {
    const k = this.kernels;
    const h0 = this.hidden[0]!;
    const nnz = end - start;
    if (nnz > s.inIdx.length) {
      // rare: a sample with more non-zeros than any before; the arena only grows
      let c = s.inIdx.length;
      while (c < nnz) c *= 2;
      s.inIdx = this.arena.i32(c);
      s.inVal = this.arena.f32(c);
    }
    const inIdx = s.inIdx;
    const inVal = s.inVal;
    for (let i = 0; i < nnz; i++) {
      inIdx[i] = idx[start + i]!;
      inVal[i] = val[start + i]!;
    }
    k.sparseInputForward(this.input.W, this.input.b, h0, inIdx, inVal, 0, nnz, s.acts[0]!, 0);
    k.relu(s.acts[0]!, 0, h0);
    for (let l = 0; l < this.fc.length - 1; l++) {
      const layer = this.fc[l]!;
      const x = s.acts[l]!;
      const y = s.acts[l + 1]!;
      const n = this.layerActive(s, l, x, null, 0, 0, exact);
      const act = s.active[l]!;
      const vals = s.vals[l]!;
      k.dotRows(layer.p.W, layer.p.b, layer.nIn, act, 0, n, x, 0, vals, 0);
      k.relu(vals, 0, n);
      if (n !== layer.nOut) y.fill(0);
      for (let i = 0; i < n; i++) y[act[i]!] = vals[i]!;
    }
  }

  /** Active list of neuron-major layer l for input x; returns its size (also in s.nActive[l]). */
  private layerActive(
    s: ThreadScratch,
    l: number,
    x: Float32Array,
    forced: Int32Array | null,
    fStart: number,
    fEnd: number,
    exact: boolean,
  ): number {
    const layer = this.fc[l]!;
    const act = s.active[l]!;
    let n: number;
    if (layer.sampler === null || exact) {
      // plain loop: TypedArray.set on shared memory takes a slow path that allocates
      const all = layer.all;
      n = layer.nOut;
      for (let j = 0; j < n; j++) act[j] = all[j]!;
    } else if (this.profile) {
      const t0 = performance.now();
      layer.sampler.hashInput(s.sampler[l]!, x, 0);
      const t1 = performance.now();
      n = layer.sampler.collect(s.sampler[l]!, forced, fStart, fEnd, s.rng, act);
      s.prof[PROF_HASH] += (t1 - t0) / 1000;
      s.prof[PROF_LOOKUP] += (performance.now() - t1) / 1000;
    } else {
      n = layer.sampler.activeSet(s.sampler[l]!, x, 0, forced, fStart, fEnd, s.rng, act);
    }
    s.nActive[l] = n;
    return n;
  }

  /**
   * One training sample: forward (sampled), softmax cross-entropy with the target mass spread
   * evenly over the sample's labels, backward, gradients accumulated into the shared G
   * buffers scaled by `gradScale` (1 / batch size). Adds the loss, the hit and the active
   * output neurons to s.sums (a sample without labels adds nothing and contributes no gradient).
   */
  trainSample(
    s: ThreadScratch,
    idx: Int32Array,
    val: Float32Array,
    fStart: number,
    fEnd: number,
    labels: Int32Array,
    lStart: number,
    lEnd: number,
    gradScale: number,
  ): void {
    const nl = lEnd - lStart;
    s.lastHit = 0;
    if (nl === 0) return;
    const k = this.kernels;
    const prof = this.profile;
    const tStart = prof ? performance.now() : 0;
    const hl0 = prof ? s.prof[PROF_HASH]! + s.prof[PROF_LOOKUP]! : 0;
    this.forwardHidden(s, idx, val, fStart, fEnd, false);
    const L = this.fc.length - 1;
    const out = this.fc[L]!;
    const hLast = s.acts[L]!;
    const n = this.layerActive(s, L, hLast, labels, lStart, lEnd, false);
    const act = s.active[L]!;
    const z = s.vals[L]!;
    k.dotRows(out.p.W, out.p.b, out.nIn, act, 0, n, hLast, 0, z, 0);
    // True labels are active and come first when sampled; in dense mode find them by id.
    let zl = 0;
    if (out.sampler !== null) {
      // labels were forced first and are distinct (the reader rejects duplicates)
      for (let i = 0; i < nl; i++) zl += z[i]!;
    } else {
      for (let i = lStart; i < lEnd; i++) zl += z[labels[i]!]!;
    }
    // running training P@1: is the arg-max a label?
    let best = 0;
    for (let i = 1; i < n; i++) if (z[i]! > z[best]!) best = i;
    if (out.sampler !== null) s.lastHit = best < nl ? 1 : 0;
    else {
      s.lastHit = 0;
      for (let i = lStart; i < lEnd; i++) if (labels[i] === best) s.lastHit = 1;
    }
    k.softmax(z, 0, n, s.logZ);
    const logZ = s.logZ[0]!;
    const loss = logZ - zl / nl;
    const tBack = prof ? performance.now() : 0;
    if (prof) s.prof[PROF_FORWARD] += (tBack - tStart) / 1000 - (s.prof[PROF_HASH]! + s.prof[PROF_LOOKUP]! - hl0);
    // dL/dz_i = p_i - y_i, y = 1/nl on labels; scaled for the batch mean
    for (let i = 0; i < n; i++) z[i] = z[i]! * gradScale;
    const yv = gradScale / nl;
    if (out.sampler !== null) for (let i = 0; i < nl; i++) z[i] = z[i]! - yv;
    else for (let i = lStart; i < lEnd; i++) z[labels[i]!] = z[labels[i]!]! - yv;
    // backward through the layers
    for (let l = L; l >= 0; l--) {
      const layer = this.fc[l]!;
      const nA = s.nActive[l]!;
      const a = s.active[l]!;
      const g = s.vals[l]!;
      if (l < L) {
        // g = dL/dy on active neurons, masked by ReLU
        const y = s.acts[l + 1]!;
        const dy = s.dActs[l + 1]!;
        for (let i = 0; i < nA; i++) {
          const j = a[i]!;
          g[i] = y[j]! > 0 ? dy[j]! : 0;
        }
      }
      const dx = s.dActs[l]!;
      dx.fill(0);
      k.rowsBackward(layer.p.W, layer.p.G, layer.p.gb, layer.nIn, a, 0, nA, g, 0, s.acts[l]!, 0, dx, 0);
      for (let i = 0; i < nA; i++) {
        layer.p.touchRow(a[i]!);
      }
    }
    // input layer: delta = dAct0 masked by ReLU
    const h0 = this.hidden[0]!;
    const d0 = s.dActs[0]!;
    const a0 = s.acts[0]!;
    for (let j = 0; j < h0; j++) if (!(a0[j]! > 0)) d0[j] = 0;
    k.sparseInputBackward(this.input.G, this.input.gb, h0, s.inIdx, s.inVal, 0, fEnd - fStart, d0, 0);
    for (let i = fStart; i < fEnd; i++) this.input.touchRow(idx[i]!);
    if (prof) s.prof[PROF_BACKWARD] += (performance.now() - tBack) / 1000;
    const sums = s.sums;
    sums[0] += loss;
    sums[1] += s.lastHit;
    sums[2] += n;
  }

  /** Apply the optimizer to everything touched since the last update. `step` counts from 1. */
  update(step: number): void {
    const opt = this.cfg.optimizer;
    this.input.update(this.kernels, opt, step);
    for (const l of this.fc) l.p.update(this.kernels, opt, step);
  }

  /**
   * Score one sample's output neurons and select the top k into s.topIds / s.topScores
   * (scores are softmax probabilities over the neurons computed). Returns the number selected.
   * `exact`: compute every output neuron; otherwise query the tables (LSH inference).
   * The computed set stays in s.active[last] / s.nActive[last] (for recall measurements).
   */
  predict(s: ThreadScratch, idx: Int32Array, val: Float32Array, start: number, end: number, k: number, exact: boolean): number {
    if (k > s.topIds.length) throw new RangeError(`predict: k = ${k} exceeds the scratch's ${s.topIds.length}`);
    this.forwardHidden(s, idx, val, start, end, exact);
    const L = this.fc.length - 1;
    const out = this.fc[L]!;
    const hLast = s.acts[L]!;
    const n = this.layerActive(s, L, hLast, null, 0, 0, exact);
    const z = s.vals[L]!;
    this.kernels.dotRows(out.p.W, out.p.b, out.nIn, s.active[L]!, 0, n, hLast, 0, z, 0);
    this.kernels.softmax(z, 0, n, s.logZ);
    return topK(s.active[L]!, z, n, k, s.topIds, s.topScores);
  }

  /** Number of parameters (weights and biases). */
  parameterCount(): number {
    let c = 0;
    for (const b of this.blocks()) c += b.W.length + b.b.length;
    return c;
  }
}
