import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SlideModel } from '../src/training/model.js';
import type { ConfigInput } from '../src/config.js';
import type { KernelChoice } from '../src/kernels/index.js';
import { immediateSample, updateAll } from './sample.helpers.js';

/**
 * Oracles for the network's arithmetic:
 *  - finite differences of the loss against the analytic gradient, for every layer type
 *    (feature-major sparse input, dense hidden, LSH-sampled hidden, LSH-sampled and dense output);
 *  - the sampled path with every neuron active equals dense mode (values and gradients).
 */

const N_FEATURES = 12;
const N_LABELS = 9;

function sample() {
  return {
    idx: Int32Array.of(1, 4, 7, 10),
    val: Float32Array.of(0.5, -1.0, 0.8, 0.3),
    labels: Int32Array.of(2, 5),
  };
}

/** every neuron active: padding to all neurons makes the sampled path deterministic */
const ALL_ACTIVE = { mode: 'lsh' as const, hash: { family: 'simhash' as const, K: 2, L: 3 }, activeSet: { minActive: 1000 } };

function makeModel(config: ConfigInput, kernels: KernelChoice = 'js'): SlideModel {
  return new SlideModel({ nFeatures: N_FEATURES, nLabels: N_LABELS, config: { seed: 3, initScale: 2, ...config }, kernels });
}

/** generator state each loss evaluation starts from: the same dropout masks and padding every time */
const rngStates = new WeakMap<SlideModel, Uint32Array>();

function loss(m: SlideModel): number {
  const s = sample();
  if (!rngStates.has(m)) rngStates.set(m, m.scratch.rng.getState());
  m.scratch.rng.setState(rngStates.get(m)!);
  // the sample also accumulates gradients; callers snapshot G before probing
  return immediateSample(m, s.idx, s.val, 0, s.idx.length, s.labels, 0, s.labels.length, 1);
}

function clearGrads(m: SlideModel): void {
  for (const b of m.network.blocks()) {
    b.G.fill(0);
    b.gb.fill(0);
  }
}

/** Compare analytic gradients (G, gb of every block) with central differences in float64 of the loss. */
function checkGradients(m: SlideModel, what: string): void {
  clearGrads(m);
  loss(m);
  const analytic = m.network.blocks().map((b) => ({ G: Float64Array.from(b.G), gb: Float64Array.from(b.gb) }));
  const eps = 1e-2;
  let checked = 0;
  m.network.blocks().forEach((b, bi) => {
    const probe = (arr: Float32Array, grad: Float64Array, name: string) => {
      // probe a spread of entries (all of small arrays)
      const step = Math.max(1, Math.floor(arr.length / 40));
      for (let i = 0; i < arr.length; i += step) {
        const old = arr[i]!;
        arr[i] = old + eps;
        const lp = loss(m);
        arr[i] = old - eps;
        const lm = loss(m);
        arr[i] = old;
        const fd = (lp - lm) / (2 * eps);
        const an = grad[i]!;
        const tol = 2e-3 + 2e-2 * Math.abs(fd);
        assert.ok(Math.abs(fd - an) <= tol, `${what}: block ${bi} ${name}[${i}]: finite difference ${fd} vs analytic ${an}`);
        checked++;
      }
    };
    probe(b.W, analytic[bi]!.G, 'W');
    probe(b.b, analytic[bi]!.gb, 'b');
  });
  assert.ok(checked > 50, `${what}: only ${checked} entries checked`);
}

for (const kernels of ['js', 'wasm'] as const) {
  test(`finite differences: dense output, two dense hidden layers (${kernels} kernels)`, () => {
    checkGradients(makeModel({ hidden: [6, 5], output: { mode: 'dense' } }, kernels), 'dense');
  });

  test(`finite differences: training-time dropout on the input features and hidden activations, masks held fixed (${kernels} kernels)`, () => {
    const m = makeModel({ hidden: [6, 5], output: { mode: 'dense' }, dropout: { input: 0.25, hidden: 0.3 } }, kernels);
    const plain = makeModel({ hidden: [6, 5], output: { mode: 'dense' } }, kernels);
    assert.deepEqual(m.network.input.W, plain.network.input.W, 'same weights');
    assert.ok(Math.abs(loss(m) - loss(plain)) > 1e-3, 'the masks drop something');
    checkGradients(m, 'dropout');
  });

  test(`finite differences: output layer split over 3 memories (${kernels} kernels)`, () => {
    const m = makeModel({ hidden: [6, 5], output: { mode: 'dense' }, outputShards: 3 }, kernels);
    assert.equal(m.network.output.shards.length, 3);
    checkGradients(m, 'split output');
  });

  test(`finite differences: LSH output and LSH-sampled second hidden layer, all neurons active (${kernels} kernels)`, () => {
    checkGradients(makeModel({ hidden: [6, 5], hiddenSampling: [{ mode: 'dense' }, ALL_ACTIVE], output: ALL_ACTIVE }, kernels), 'sampled');
  });
}

test('finite differences of the loss alone: softmax cross-entropy with labels spread evenly', () => {
  // loss = logsumexp(z) - mean(z_labels); check d loss / d bias of the output layer exactly
  const m = makeModel({ hidden: [4], output: { mode: 'dense' } });
  clearGrads(m);
  const l = loss(m);
  assert.ok(Number.isFinite(l) && l > 0);
  const out = m.network.output.shards[0]!.p;
  // dL/db_j = p_j - y_j: sums to zero over j
  let sum = 0;
  for (let j = 0; j < N_LABELS; j++) sum += out.gb[j]!;
  assert.ok(Math.abs(sum) < 1e-6, `bias gradients sum to ${sum}`);
  assert.ok(out.gb[2]! < 0 && out.gb[5]! < 0, 'label neurons get negative gradient');
});

test('sampled path with every neuron active equals dense mode: loss, activations and every gradient', () => {
  for (const kernels of ['js', 'wasm'] as const) {
    const dense = makeModel({ hidden: [6, 5], output: { mode: 'dense' } }, kernels);
    const sampled = makeModel({ hidden: [6, 5], hiddenSampling: [{ mode: 'dense' }, ALL_ACTIVE], output: ALL_ACTIVE }, kernels);
    // same seed => same initial weights
    dense.network.blocks().forEach((b, i) => assert.deepEqual(b.W, sampled.network.blocks()[i]!.W));
    clearGrads(dense);
    clearGrads(sampled);
    const ld = loss(dense);
    const ls = loss(sampled);
    assert.ok(Math.abs(ld - ls) < 1e-5 * Math.max(1, Math.abs(ld)), `loss ${ld} vs ${ls}`);
    for (let l = 0; l < dense.network.hidden.length; l++) {
      const a = dense.scratch.acts[l]!;
      const b = sampled.scratch.acts[l]!;
      for (let j = 0; j < a.length; j++) assert.ok(Math.abs(a[j]! - b[j]!) < 1e-5, `activation ${l}.${j}`);
    }
    dense.network.blocks().forEach((b, bi) => {
      const o = sampled.network.blocks()[bi]!;
      for (let i = 0; i < b.G.length; i++) assert.ok(Math.abs(b.G[i]! - o.G[i]!) < 1e-5, `${kernels}: block ${bi} G[${i}] ${b.G[i]} vs ${o.G[i]}`);
      for (let i = 0; i < b.gb.length; i++) assert.ok(Math.abs(b.gb[i]! - o.gb[i]!) < 1e-5, `${kernels}: block ${bi} gb[${i}]`);
    });
    // and exact prediction is the same
    const s = sample();
    const pd = dense.predict({ indices: s.idx, values: s.val }, 5, { exact: true });
    const ps = sampled.predict({ indices: s.idx, values: s.val }, 5, { exact: false });
    assert.deepEqual(pd.map((p) => p.id), ps.map((p) => p.id));
  }
});

test('an update changes only touched rows (lazy Adam): untouched features and their moments stay put', () => {
  const m = makeModel({ hidden: [4], output: { mode: 'dense' } });
  const before = Float32Array.from(m.network.input.W);
  clearGrads(m);
  loss(m);
  updateAll(m, 1);
  const h = 4;
  const touched = new Set([1, 4, 7, 10]);
  for (let f = 0; f < N_FEATURES; f++) {
    for (let j = 0; j < h; j++) {
      const changed = m.network.input.W[f * h + j] !== before[f * h + j];
      if (!touched.has(f)) assert.equal(changed, false, `feature ${f} row changed`);
      if (!touched.has(f)) assert.equal(m.network.input.M![f * h + j], 0);
    }
  }
  let moved = 0;
  for (const f of touched) for (let j = 0; j < h; j++) if (m.network.input.W[f * h + j] !== before[f * h + j]) moved++;
  assert.ok(moved > 0, 'touched rows move');
  // gradients of touched rows are zeroed after the update
  assert.ok(m.network.input.G.every((g) => g === 0));
});
