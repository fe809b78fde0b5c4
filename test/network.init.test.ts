import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SlideModel } from '../src/training/model.js';
import type { ConfigInput } from '../src/config.js';

/**
 * Oracle for `inputFanIn`: the init draws the same uniform stream either way, so the input layer's
 * weights are the default's scaled by exactly sqrt((features + hidden) / (fanIn + hidden)), every
 * later block is untouched, and the bound is Glorot's for that fan-in.
 */

const N_FEATURES = 5000;
const N_LABELS = 300;
const H = 64;

function model(config: ConfigInput): SlideModel {
  return new SlideModel({ nFeatures: N_FEATURES, nLabels: N_LABELS, config: { seed: 11, hidden: [H], output: { mode: 'dense' }, ...config }, kernels: 'js' });
}

function maxAbs(a: Float32Array): number {
  let m = 0;
  for (const x of a) m = Math.max(m, Math.abs(x));
  return m;
}

test('inputFanIn scales the input layer\'s Glorot bound alone', () => {
  const plain = model({});
  const sparse = model({ inputFanIn: 12 });
  const a0 = Math.sqrt(6 / (N_FEATURES + H));
  const a1 = Math.sqrt(6 / (12 + H));
  const w0 = plain.network.input.W;
  const w1 = sparse.network.input.W;
  assert.ok(maxAbs(w0) <= a0 && maxAbs(w0) > 0.99 * a0, `default bound ${a0}: max ${maxAbs(w0)}`);
  assert.ok(maxAbs(w1) <= a1 && maxAbs(w1) > 0.99 * a1, `fan-in 12 bound ${a1}: max ${maxAbs(w1)}`);
  const ratio = a1 / a0;
  for (let i = 0; i < w0.length; i += 97) assert.ok(Math.abs(w1[i]! - w0[i]! * ratio) <= 1e-6 * Math.abs(w1[i]!) + 1e-12, `weight ${i}`);
  const [o0, o1] = [plain.network.output.shards[0]!.p, sparse.network.output.shards[0]!.p];
  assert.deepEqual(o1.W, o0.W, 'the output layer draws the same values');
  assert.deepEqual(sparse.network.input.b, plain.network.input.b, 'zero biases');
});
