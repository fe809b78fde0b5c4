import type { Network, LayerShard } from './network.js';
import type { ShardScratch, ThreadScratch } from './run.js';
import { PROF_BACKWARD, PROF_FORWARD, PROF_HASH, PROF_LOOKUP } from './profile.js';
import { mix32, type Rng } from '../util/rng.js';
import type { SamplerScratch } from '../layers/sampler.js';
import { insertTop, topK } from './topk.js';
import { rankRows } from './quantized.js';
import { rowLength } from '../data/csr.js';

/**
 * One sample through a network, on one thread's scratch: forward, loss and backward beside each
 * other, then the two things a sample is for (trainSample, predictSample). Parameters are shared
 * and only read here; gradients go to the sample's slot of the batch (DeferredGrads) or, on the
 * immediate path (slot -1), into the shared G.
 */

/**
 * Restart the sample's generator (s.rng) from (seed, stream) and remember them: the shards of a
 * split output layer restart their own from the same pair (shardSampleSeed).
 */
export function startSample(s: ThreadScratch, seed: number, stream: number): void {
  s.rng.reseed(seed, stream);
  s.seed = seed;
  s.stream = stream;
}

/**
 * The seed of output shard `shard`'s generator for a sample whose generator starts from
 * (seed, stream) (the stream stays the sample's). A split output layer draws each shard's padding
 * from its own generator, not from the sample's, so that a shard held by another process, which
 * cannot continue the sample's stream, draws the same (src/cluster). An unsplit layer draws from
 * the sample's generator as before.
 */
export function shardSampleSeed(seed: number, shard: number): number {
  return mix32(seed ^ Math.imul(shard + 1, 0x632be5ab)) | 0;
}

/** trainSample's outcomes */
export const SAMPLE_DONE = 0;
/** no labels: nothing to learn, nothing recorded */
export const SAMPLE_SKIPPED = 1;
/** an active set larger than its slot: nothing recorded, replay it on the immediate path */
export const SAMPLE_REPLAY = 2;

// ---------------------------------------------------------------------------------------------
// forward

/** What an active set is for: a training step (the sampler's trainCap), an LSH query (its queryCap), every neuron. */
const FOR_TRAINING = 0;
const FOR_QUERY = 1;
const FOR_EXACT = 2;
type ActiveFor = typeof FOR_TRAINING | typeof FOR_QUERY | typeof FOR_EXACT;

function activeFor(exact: boolean, train: boolean): ActiveFor {
  return exact ? FOR_EXACT : train ? FOR_TRAINING : FOR_QUERY;
}

/**
 * The factor that gives val[start, end) unit L2 length (config.inputNorm 'l2'); 1 for a row of
 * length 0 or of infinite length. A row scaled by a power of two gets the same values after
 * scaling.
 */
export function unitScale(val: Float32Array, start: number, end: number): number {
  const len = rowLength(val, start, end);
  return len > 0 && len < Infinity ? 1 / len : 1;
}

/** config.inputTransform 'log' of one value: +-(1 + ln |v|) beyond +-1, v itself within. */
export function logValue(v: number): number {
  if (v > 1) return 1 + Math.log(v);
  if (v < -1) return -1 - Math.log(-v);
  return v;
}

/**
 * Forward through the hidden layers for the sparse input idx/val[start, end); fills s.acts and
 * s.inIdx/s.inVal/s.kept (the features kept). `exact` computes every neuron; otherwise each
 * layer's sampler is used where it has one. `train`: apply the configured dropout with s.rng.
 */
function forwardHidden(net: Network, s: ThreadScratch, idx: Int32Array, val: Float32Array, start: number, end: number, exact: boolean, train: boolean): void {
  const k = net.kernels;
  const h0 = net.hidden[0]!;
  const nnz = end - start;
  if (nnz > s.inIdx.length) throw new RangeError(`a sample has ${nnz} non-zeros; this run holds at most ${s.inIdx.length} a row`);
  const inIdx = s.inIdx;
  const inVal = s.inVal;
  const log = net.cfg.inputTransform === 'log';
  const presence = net.cfg.inputTransform === 'binary';
  for (let i = 0; i < nnz; i++) {
    inIdx[i] = idx[start + i]!;
    const v = val[start + i]!;
    inVal[i] = log ? logValue(v) : presence ? Math.sign(v) : v;
  }
  // every way into the model (training, evaluation, predict, serve) comes through here, so the
  // input transform and scaling apply to all alike; of the whole row, before dropout
  const scale = net.cfg.inputNorm === 'l2' ? unitScale(inVal, 0, nnz) : 1;
  let kept = nnz;
  const pIn = train ? net.cfg.dropout.input : 0;
  if (pIn > 0) {
    const keep = scale / (1 - pIn);
    kept = 0;
    for (let i = 0; i < nnz; i++) {
      if (s.rng.nextFloat() < pIn) continue;
      inIdx[kept] = inIdx[i]!;
      inVal[kept++] = inVal[i]! * keep;
    }
  } else if (scale !== 1) {
    for (let i = 0; i < nnz; i++) inVal[i] = inVal[i]! * scale;
  }
  s.kept = kept;
  const pH = train ? net.cfg.dropout.hidden : 0;
  k.sparseInputForward(net.input.W, net.input.b, h0, inIdx, inVal, 0, kept, s.acts[0]!, 0);
  k.relu(s.acts[0]!, 0, h0);
  if (pH > 0) dropout(s.acts[0]!, h0, pH, s.rng);
  for (let l = 0; l < net.fc.length - 1; l++) {
    const layer = net.fc[l]!;
    const sh = layer.shards[0]!;
    const x = s.acts[l]!;
    const y = s.acts[l + 1]!;
    const n = shardActive(sh, s.sampler[l]!, x, null, 0, 0, activeFor(exact, train), s.rng, s.active[l]!, net.profile ? s.prof : null);
    s.nActive[l] = n;
    const act = s.active[l]!;
    const vals = s.vals[l]!;
    k.dotRows(sh.p.W, sh.p.b, layer.nIn, act, 0, n, x, 0, vals, 0);
    k.relu(vals, 0, n);
    if (n !== layer.nOut) y.fill(0);
    for (let i = 0; i < n; i++) y[act[i]!] = vals[i]!;
    if (pH > 0) dropout(y, layer.nOut, pH, s.rng);
  }
}

/**
 * Active list of one shard for input x into `act` (its local ids); returns its size. The forced
 * ids are local too. `what`: a training step's set, a query's (each capped by the sampler's cap
 * for it) or every neuron. `prof`: the thread's timings to add hashing and lookup to (null: not
 * profiling).
 */
function shardActive(sh: LayerShard, ss: SamplerScratch | null, x: Float32Array, forced: Int32Array | null, fStart: number, fEnd: number, what: ActiveFor, rng: Rng, act: Int32Array, prof: Float64Array | null): number {
  const sampler = sh.sampler;
  if (sampler === null || ss === null || what === FOR_EXACT) {
    // plain loop: TypedArray.set on shared memory takes a slow path that allocates
    const all = sh.all;
    const n = sh.nOut;
    for (let j = 0; j < n; j++) act[j] = all[j]!;
    return n;
  }
  const cap = what === FOR_TRAINING ? sampler.trainCap : sampler.queryCap;
  // the biases let a query rank by estimated logit (activeSet.queryRank), a training step half its
  // candidates (activeSet.trainRank)
  const queryBias = what === FOR_TRAINING ? null : sh.p.b;
  const trainBias = what === FOR_TRAINING ? sh.p.b : null;
  if (prof !== null) {
    const t0 = performance.now();
    sampler.hashInput(ss, x, 0);
    const t1 = performance.now();
    const n = sampler.collect(ss, forced, fStart, fEnd, cap, rng, act, queryBias, trainBias);
    prof[PROF_HASH] += (t1 - t0) / 1000;
    prof[PROF_LOOKUP] += (performance.now() - t1) / 1000;
    return n;
  }
  return sampler.activeSet(ss, x, 0, forced, fStart, fEnd, cap, rng, act, queryBias, trainBias);
}

/**
 * One output shard's part of a sample (in this process or in a shard process): the layer input
 * x[xOff .. xOff + nIn) copied into the shard's memory, the sample's labels that fall in the
 * shard (labels[lStart, lEnd), global ids) forced in first, the active list (local ids) drawn from
 * the shard's own generator (shardSampleSeed(seed, shard), stream), its logits into ss.vals.
 */
export function shardForward(sh: LayerShard, ss: ShardScratch, shard: number, nIn: number, x: Float32Array, xOff: number, labels: Int32Array | null, lStart: number, lEnd: number, exact: boolean, seed: number, stream: number, prof: Float64Array | null): void {
  shardCandidates(sh, ss, shard, nIn, x, xOff, labels, lStart, lEnd, exact, seed, stream, prof);
  sh.kernels.dotRows(sh.p.W, sh.p.b, nIn, ss.act, 0, ss.n, ss.x, 0, ss.vals, 0);
}

/** shardForward without the logits: the input in the shard's memory, its labels forced in, its active list (ss.act, ss.n) drawn. */
function shardCandidates(sh: LayerShard, ss: ShardScratch, shard: number, nIn: number, x: Float32Array, xOff: number, labels: Int32Array | null, lStart: number, lEnd: number, exact: boolean, seed: number, stream: number, prof: Float64Array | null): void {
  const xs = ss.x;
  for (let i = 0; i < nIn; i++) xs[i] = x[xOff + i]!;
  let nf = 0;
  if (labels !== null && !exact && sh.sampler !== null) {
    const hi = sh.lo + sh.nOut;
    for (let i = lStart; i < lEnd; i++) {
      const y = labels[i]!;
      if (y >= sh.lo && y < hi) ss.forced[nf++] = y - sh.lo;
    }
  }
  ss.nForced = nf;
  ss.rng.reseed(shardSampleSeed(seed, shard), stream);
  ss.n = shardActive(sh, ss.sampler, xs, ss.forced, 0, nf, activeFor(exact, labels !== null), ss.rng, ss.act, prof);
}

/**
 * One output shard's backward of a sample: the gradient of its logits in ss.vals (in its active
 * list's order), its input ss.x; records its rows in the sample's slot (or, slot -1, adds into G)
 * and writes its part of the layer-input gradient to ss.dx.
 */
export function shardBackward(sh: LayerShard, ss: ShardScratch, nIn: number, slot: number): void {
  ss.dx.fill(0);
  rowsBackward(sh, nIn, ss.act, ss.n, ss.vals, ss.x, ss.dx, slot);
}

/** One shard's logits of one sample, where they are: vals[off ..), the nForced label logits first, n in all. */
export interface ShardLogits {
  vals: Float32Array;
  off: number;
  nForced: number;
  n: number;
}

/**
 * The one order of a split output layer's logits (here and across processes): every shard's
 * label logits first, shard by shard, then every shard's other logits, shard by shard (dense
 * mode: no labels forced, so every neuron in id order). Copies them into z; returns the count.
 */
export function gatherLogits(parts: readonly ShardLogits[], z: Float32Array): number {
  let c = 0;
  for (let si = 0; si < parts.length; si++) {
    const p = parts[si]!;
    for (let i = 0; i < p.nForced; i++) z[c++] = p.vals[p.off + i]!;
  }
  for (let si = 0; si < parts.length; si++) {
    const p = parts[si]!;
    for (let i = p.nForced; i < p.n; i++) z[c++] = p.vals[p.off + i]!;
  }
  return c;
}

/** gatherLogits backwards: g (in gather order) back into each shard's vals, in its active list's order. */
export function scatterLogits(g: Float32Array, parts: readonly ShardLogits[]): void {
  let c = 0;
  for (let si = 0; si < parts.length; si++) {
    const p = parts[si]!;
    for (let i = 0; i < p.nForced; i++) p.vals[p.off + i] = g[c++]!;
  }
  for (let si = 0; si < parts.length; si++) {
    const p = parts[si]!;
    for (let i = p.nForced; i < p.n; i++) p.vals[p.off + i] = g[c++]!;
  }
}

/**
 * Logits of the output layer's active neurons into s.active[L] (global ids) / s.vals[L];
 * returns their number (also in s.nActive[L]). Sampled training: the labels come first. A split
 * layer computes each shard in its own memory and gathers the shards' labels first, then the
 * rest, shard by shard (dense mode: every neuron in id order, as unsplit).
 */
function outputForward(net: Network, s: ThreadScratch, x: Float32Array, labels: Int32Array | null, lStart: number, lEnd: number, exact: boolean): number {
  const L = net.fc.length - 1;
  const out = net.fc[L]!;
  const z = s.vals[L]!;
  const split = s.split[L];
  const prof = net.profile ? s.prof : null;
  if (split === null) {
    const sh = out.shards[0]!;
    const n = shardActive(sh, s.sampler[L]!, x, labels, lStart, lEnd, activeFor(exact, labels !== null), s.rng, s.active[L]!, prof);
    s.nActive[L] = n;
    sh.kernels.dotRows(sh.p.W, sh.p.b, out.nIn, s.active[L]!, 0, n, x, 0, z, 0);
    return n;
  }
  for (let si = 0; si < out.shards.length; si++) shardForward(out.shards[si]!, split[si]!, si, out.nIn, x, 0, labels, lStart, lEnd, exact, s.seed, s.stream, prof);
  const c = gatherLogits(split, z);
  // the ids, in the same order
  const act = s.active[L]!;
  let k = 0;
  for (let si = 0; si < split.length; si++) {
    const ss = split[si]!;
    const lo = out.shards[si]!.lo;
    for (let i = 0; i < ss.nForced; i++) act[k++] = lo + ss.act[i]!;
  }
  for (let si = 0; si < split.length; si++) {
    const ss = split[si]!;
    const lo = out.shards[si]!.lo;
    for (let i = ss.nForced; i < ss.n; i++) act[k++] = lo + ss.act[i]!;
  }
  s.nActive[L] = c;
  return c;
}

// ---------------------------------------------------------------------------------------------
// loss

/**
 * Softmax cross-entropy over the n active logits s.vals[L] with the target mass spread evenly
 * over the sample's labels; turns the logits into the loss's gradient scaled by 1 / batchRows (the
 * batch mean). Writes the loss, whether the arg-max is a label, and n to s.out.
 */
export function softmaxLoss(net: Network, s: ThreadScratch, labels: Int32Array, lStart: number, lEnd: number, n: number, batchRows: number): void {
  const gradScale = 1 / Math.max(1, batchRows);
  const L = net.fc.length - 1;
  const sampled = net.fc[L]!.sampled;
  const z = s.vals[L]!;
  const nl = lEnd - lStart;
  // true labels are active and come first when sampled (distinct: the reader rejects
  // duplicates); in dense mode they are found by id
  let zl = 0;
  if (sampled) for (let i = 0; i < nl; i++) zl += z[i]!;
  else for (let i = lStart; i < lEnd; i++) zl += z[labels[i]!]!;
  let best = 0;
  for (let i = 1; i < n; i++) if (z[i]! > z[best]!) best = i;
  let hit = 0;
  if (sampled) hit = best < nl ? 1 : 0;
  else for (let i = lStart; i < lEnd; i++) if (labels[i] === best) hit = 1;
  net.kernels.softmax(z, 0, n, s.logZ);
  s.out[0] = s.logZ[0]! - zl / nl;
  s.out[1] = hit;
  s.out[2] = n;
  // dL/dz_i = p_i - y_i, y = 1/nl on labels
  for (let i = 0; i < n; i++) z[i] = z[i]! * gradScale;
  const yv = gradScale / nl;
  if (sampled) for (let i = 0; i < nl; i++) z[i] = z[i]! - yv;
  else for (let i = lStart; i < lEnd; i++) z[labels[i]!] = z[labels[i]!]! - yv;
}

// ---------------------------------------------------------------------------------------------
// backward

/**
 * Whether every sampled layer's active set fits the sample's slot (the dense ones and the input
 * always do: their slots are sized for them).
 */
function fitsSlot(net: Network, s: ThreadScratch): boolean {
  for (let l = 0; l < net.fc.length; l++) {
    const layer = net.fc[l]!;
    // a remote layer's shards keep their own slots (src/cluster/slice.ts)
    if (!layer.sampled || layer.remote) continue;
    const split = s.split[l];
    if (split === null) {
      const d = layer.shards[0]!.p.deferred;
      if (d !== null && !d.fits(s.nActive[l]!)) return false;
      continue;
    }
    for (let si = 0; si < split.length; si++) {
      const d = layer.shards[si]!.p.deferred;
      if (d !== null && !d.fits(split[si]!.n)) return false;
    }
  }
  return true;
}

/**
 * Backward through the active rows a[0 .. n) of a neuron-major shard, gradients g (of the rows'
 * outputs), input x: dx += the input gradient; the weight gradients are recorded in the sample's
 * slot, or (slot -1) added to G now, touching the rows.
 */
function rowsBackward(sh: LayerShard, nIn: number, a: Int32Array, n: number, g: Float32Array, x: Float32Array, dx: Float32Array, slot: number): void {
  const d = sh.p.deferred;
  if (d !== null && slot >= 0) {
    d.record(slot, a, 0, n, g, 0, x, 0);
    // the rows are listed as touched from the record before the update
    sh.kernels.rowsDx(sh.p.W, nIn, a, 0, n, g, 0, dx, 0);
    return;
  }
  if (d !== null) d.markImmediate();
  sh.kernels.rowsBackward(sh.p.W, sh.p.G, sh.p.gb, nIn, a, 0, n, g, 0, x, 0, dx, 0);
  for (let i = 0; i < n; i++) sh.p.touchRow(a[i]!);
}

/**
 * Backward of a split output layer: the gradient of the gathered logits (s.vals[L]) goes back to
 * each shard in gather order; each shard records its rows and its part of the input gradient,
 * which are summed into s.dActs[L].
 */
function outputBackwardSplit(net: Network, s: ThreadScratch, split: ShardScratch[], slot: number): void {
  const L = net.fc.length - 1;
  const out = net.fc[L]!;
  const nIn = out.nIn;
  scatterLogits(s.vals[L]!, split);
  const dx = s.dActs[L]!;
  dx.fill(0);
  for (let si = 0; si < split.length; si++) {
    const ss = split[si]!;
    shardBackward(out.shards[si]!, ss, nIn, slot);
    addShardDx(dx, ss.dx, 0, nIn);
  }
}

/** dx += part[off .. off + n): the shards' parts of the layer-input gradient are added in shard order, here and across processes. */
export function addShardDx(dx: Float32Array, part: Float32Array, off: number, n: number): void {
  for (let i = 0; i < n; i++) dx[i] = dx[i]! + part[off + i]!;
}

/**
 * Backward from layer `top` down to the input layer's weights: from the output gradient in
 * s.vals[L] (top = L), or from the output layer's input gradient in s.dActs[L] (top = L - 1: the
 * output layer is remote).
 */
function backward(net: Network, s: ThreadScratch, slot: number, top = net.fc.length - 1): void {
  // dropout: a dropped activation is 0, so the ReLU masks below also mask it; kept ones were scaled by dScale
  const dScale = 1 / (1 - net.cfg.dropout.hidden);
  const L = net.fc.length - 1;
  for (let l = top; l >= 0; l--) {
    const layer = net.fc[l]!;
    const split = s.split[l];
    if (split !== null) {
      outputBackwardSplit(net, s, split, slot);
      continue;
    }
    const sh = layer.shards[0]!;
    const nA = s.nActive[l]!;
    const a = s.active[l]!;
    const g = s.vals[l]!;
    if (l < L) {
      // g = dL/dy on active neurons, masked by ReLU
      const y = s.acts[l + 1]!;
      const dy = s.dActs[l + 1]!;
      for (let i = 0; i < nA; i++) {
        const j = a[i]!;
        g[i] = y[j]! > 0 ? dy[j]! * dScale : 0;
      }
    }
    const dx = s.dActs[l]!;
    dx.fill(0);
    rowsBackward(sh, layer.nIn, a, nA, g, s.acts[l]!, dx, slot);
  }
  // input layer: delta = dAct0 masked by ReLU; its rows are the sample's features
  const h0 = net.hidden[0]!;
  const d0 = s.dActs[0]!;
  const a0 = s.acts[0]!;
  for (let j = 0; j < h0; j++) d0[j] = a0[j]! > 0 ? d0[j]! * dScale : 0;
  const inp = net.input;
  const d = inp.deferred;
  if (d !== null && slot >= 0) {
    d.record(slot, s.inIdx, 0, s.kept, s.inVal, 0, d0, 0);
    return;
  }
  if (d !== null) d.markImmediate();
  net.kernels.sparseInputBackward(inp.G, inp.gb, h0, s.inIdx, s.inVal, 0, s.kept, d0, 0);
  for (let i = 0; i < s.kept; i++) inp.touchRow(s.inIdx[i]!);
}

// ---------------------------------------------------------------------------------------------
// what a sample is for

/**
 * One training sample (features idx/val[fStart, fEnd), labels labels[lStart, lEnd)): forward
 * (sampled, the labels forced in), loss, backward with gradients scaled by 1 / `batchRows` (the
 * batch mean; an integer, not the scale, so that no double is boxed per call). `slot`: the sample's row in the batch, whose slots receive its gradients; -1: the
 * immediate path (into G). Returns SAMPLE_DONE (loss, hit and active neurons in s.out),
 * SAMPLE_SKIPPED (no labels) or SAMPLE_REPLAY (an active set larger than its slot: nothing
 * recorded; replay with slot -1).
 */
export function trainSample(net: Network, s: ThreadScratch, idx: Int32Array, val: Float32Array, fStart: number, fEnd: number, labels: Int32Array, lStart: number, lEnd: number, batchRows: number, slot: number): number {
  if (lEnd === lStart) return SAMPLE_SKIPPED;
  const prof = net.profile;
  const tStart = prof ? performance.now() : 0;
  const hl0 = prof ? s.prof[PROF_HASH]! + s.prof[PROF_LOOKUP]! : 0;
  forwardHidden(net, s, idx, val, fStart, fEnd, false, true);
  const L = net.fc.length - 1;
  const n = outputForward(net, s, s.acts[L]!, labels, lStart, lEnd, false);
  if (slot >= 0 && !fitsSlot(net, s)) return SAMPLE_REPLAY;
  softmaxLoss(net, s, labels, lStart, lEnd, n, batchRows);
  const tBack = prof ? performance.now() : 0;
  if (prof) s.prof[PROF_FORWARD] += (tBack - tStart) / 1000 - (s.prof[PROF_HASH]! + s.prof[PROF_LOOKUP]! - hl0);
  backward(net, s, slot);
  if (prof) s.prof[PROF_BACKWARD] += (performance.now() - tBack) / 1000;
  return SAMPLE_DONE;
}

/**
 * The first half of a training sample whose output layer is remote: forward through the hidden
 * layers (the sample's generator restarted by the caller: startSample), leaving the output
 * layer's input in s.acts[L]. Returns SAMPLE_SKIPPED for a sample without labels (as trainSample).
 */
export function forwardToOutput(net: Network, s: ThreadScratch, idx: Int32Array, val: Float32Array, fStart: number, fEnd: number, lStart: number, lEnd: number): number {
  if (lEnd === lStart) return SAMPLE_SKIPPED;
  forwardHidden(net, s, idx, val, fStart, fEnd, false, true);
  return SAMPLE_DONE;
}

/**
 * The second half: the gradient of the output layer's input is in s.dActs[L] (the shards' parts
 * added in shard order, addShardDx); the hidden forward is made again from the same generator
 * restart (the same values: weights do not change within a batch) and backpropagated to the
 * input layer. The slot as in trainSample; a row whose active sets do not fit it takes the
 * immediate path (slot -1) at once.
 */
export function backwardFromOutput(net: Network, s: ThreadScratch, idx: Int32Array, val: Float32Array, fStart: number, fEnd: number, slot: number): void {
  // forwardHidden does not write dActs: the gradient stays
  forwardHidden(net, s, idx, val, fStart, fEnd, false, true);
  if (slot >= 0 && !fitsSlot(net, s)) slot = -1;
  backward(net, s, slot, net.fc.length - 2);
}

/**
 * Forward through the hidden layers for inference and restart the sample's generator from `seed`
 * and the query's own features (as predictSample): what a query sends to remote output shards.
 * Returns the stream (a hash of the features kept).
 */
export function predictToOutput(net: Network, s: ThreadScratch, idx: Int32Array, val: Float32Array, start: number, end: number, exact: boolean, seed: number): number {
  forwardHidden(net, s, idx, val, start, end, exact, false);
  const stream = queryHash(s);
  startSample(s, seed, stream);
  return stream;
}

/**
 * Score one sample's output neurons and select the top k into s.topIds / s.topScores (scores
 * are softmax probabilities over the neurons computed). Returns the number selected. `exact`:
 * compute every output neuron; otherwise query the tables (LSH inference). The computed set
 * stays in s.active[last] / s.nActive[last] (for recall measurements). The draws of LSH
 * inference (the padding of small candidate sets) come from a generator restarted from `seed`
 * and the query's own features, so an answer depends on the query alone: the same in an
 * evaluation of many rows, on any thread, and in a served request.
 */
export function predictSample(net: Network, s: ThreadScratch, idx: Int32Array, val: Float32Array, start: number, end: number, k: number, exact: boolean, seed: number): number {
  if (k > s.topIds.length) throw new RangeError(`predict: k = ${k} exceeds the scratch's ${s.topIds.length}`);
  predictToOutput(net, s, idx, val, start, end, exact, seed);
  const L = net.fc.length - 1;
  const n = outputForward(net, s, s.acts[L]!, null, 0, 0, exact);
  const z = s.vals[L]!;
  net.kernels.softmax(z, 0, n, s.logZ);
  return topK(s.active[L]!, z, n, k, s.topIds, s.topScores);
}

/** Whether rankSample can answer on this thread: the output layer here, every shard with its 8-bit row copies. */
export function canRank(net: Network, s: ThreadScratch): boolean {
  const L = net.fc.length - 1;
  const out = net.fc[L]!;
  if (out.remote || out.shards.length === 0) return false;
  const split = s.split[L];
  if (split === null) return s.rank !== null && out.shards[0]!.q8 !== null;
  return out.shards.every((sh, si) => sh.q8 !== null && split[si]!.rank !== null);
}

/**
 * The top k labels of one query by logit, ties to the smaller id (predictSample's order without
 * its softmax: an evaluation needs the labels alone), through the output layer's 8-bit row copies
 * (quantized.ts: the float32 answer, bit for bit). A split layer ranks each shard's candidates
 * in its own memory, then merges the shards' top k. The copies must be current
 * (Phase.Quantize): only evaluations call this, after making them, where canRank.
 */
export function rankSample(net: Network, s: ThreadScratch, idx: Int32Array, val: Float32Array, start: number, end: number, k: number, exact: boolean, seed: number): number {
  if (k > s.topIds.length) throw new RangeError(`predict: k = ${k} exceeds the scratch's ${s.topIds.length}`);
  predictToOutput(net, s, idx, val, start, end, exact, seed);
  const L = net.fc.length - 1;
  const out = net.fc[L]!;
  const x = s.acts[L]!;
  const act = s.active[L]!;
  const prof = net.profile ? s.prof : null;
  const split = s.split[L];
  if (split === null) {
    const sh = out.shards[0]!;
    const n = shardActive(sh, s.sampler[L]!, x, null, 0, 0, activeFor(exact, false), s.rng, act, prof);
    s.nActive[L] = n;
    return rankRows(sh.kernels, sh.p.W, sh.p.b, sh.q8!, out.nIn, x, act, n, k, s.rank!, s.vals[L]!, s.topIds, s.topScores);
  }
  // each shard's candidates as shardForward draws them (predictSample's), ranked in its memory
  let m = 0;
  let c = 0;
  for (let si = 0; si < split.length; si++) {
    const sh = out.shards[si]!;
    const ss = split[si]!;
    shardCandidates(sh, ss, si, out.nIn, x, 0, null, 0, 0, exact, s.seed, s.stream, prof);
    const n = ss.n;
    const ms = rankRows(sh.kernels, sh.p.W, sh.p.b, sh.q8!, out.nIn, ss.x, ss.act, n, k, ss.rank!, ss.vals, ss.topIds!, ss.topScores!);
    for (let i = 0; i < ms; i++) m = insertTop(sh.lo + ss.topIds![i]!, ss.topScores![i]!, m, k, s.topIds, s.topScores);
    // the candidates, global ids (an evaluation counts how many of the exact top 5 are among them)
    for (let i = 0; i < n; i++) act[c++] = sh.lo + ss.act[i]!;
  }
  s.nActive[L] = c;
  return m;
}

/** A 32-bit hash of the features forwardHidden kept (ids and the bits of the values), as an int32. */
function queryHash(s: ThreadScratch): number {
  const idx = s.inIdx;
  const bits = s.inValBits;
  let h = 0x9e3779b9 ^ s.kept;
  for (let i = 0; i < s.kept; i++) {
    h = Math.imul(h ^ idx[i]!, 0x85ebca6b);
    h = Math.imul(h ^ bits[i]!, 0xc2b2ae35);
    h ^= h >>> 15;
  }
  return h | 0;
}

/** Inverted dropout in place: each of x[0..n) becomes 0 with probability p, else x / (1 - p). */
function dropout(x: Float32Array, n: number, p: number, rng: Rng): void {
  const keep = 1 / (1 - p);
  for (let j = 0; j < n; j++) x[j] = rng.nextFloat() < p ? 0 : x[j]! * keep;
}
