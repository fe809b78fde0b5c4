import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LshSampler, WTA_BLOCK } from '../src/layers/sampler.js';
import { Arena } from '../src/memory/arena.js';
import { loadWasmKernels } from '../src/kernels/index.js';
import type { LayerSampling } from '../src/config.js';
import { standaloneSampler } from './sampler.helpers.js';
import { parseConfig } from '../src/config.js';
import { Rng } from '../src/util/rng.js';
import { PooledFamily } from '../src/hashing/pooled.js';

/**
 * WTA / DWTA keys and queries hashed by the kernels (wtaCodes on the rows minus the mean,
 * densifyCodes, codeKeys straight into the tables' keys) against the family's own TypeScript
 * hashing of the centred rows: comparisons and integer arithmetic only, so every key and every
 * query code is equal bit for bit.
 */
const nIn = 37;
/** not a multiple of the rebuild's blocks (WTA_BLOCK rows, 8 and 4 a group): every remainder path runs */
const nOut = 2003;
/** K = 6 codes of 3 bits: rangePow 18 concatenates them, rangePow 0 (auto: 9 bits here) folds them with mix32 */
const configOf = (family: 'wta' | 'dwta', pool: number, rangePow: number) =>
  parseConfig({ output: { hash: { family, K: 6, L: 12, pool, binSize: 8, rangePow, center: true, bucketSize: 4096 }, activeSet: { minActive: 0 } } }).output;

/** standaloneSampler with the WebAssembly kernels that check every call (loadWasmKernels checkViews). */
function checkedSampler(cfg: LayerSampling, rng: Rng) {
  const spec = { name: 'layer', cfg, nIn, nOut };
  const arena = new Arena();
  const views = arena.carve([...LshSampler.declare(spec), ...LshSampler.declareScratch(spec, 'scratch')]);
  const sampler = new LshSampler(spec, views, loadWasmKernels(arena.memory, { checkViews: true }), rng);
  return { sampler, arena, kernelScratch: () => sampler.createScratch(views, 'scratch') };
}

const CASES = [
  ['wasm-checked', 'dwta', 40, 18],
  ['wasm', 'dwta', 0, 18],
  ['js', 'dwta', 0, 18],
  ['wasm', 'dwta', 40, 0],
  ['wasm', 'wta', 0, 0],
  ['js', 'wta', 40, 18],
] as const;
for (const [kernels, family, pool, rangePow] of CASES) {
  test(`kernel ${family} (${kernels} kernels${pool ? `, pool of ${pool}` : ''}, ${rangePow ? 'concatenated' : 'folded'} keys): table keys of centred rows and query codes equal the family's TypeScript hashing bit for bit`, () => {
    const cfg = configOf(family, pool, rangePow);
    const rng = new Rng(21);
    // wasm-checked: every kernel call's arrays, extents and values checked against the kernel table
    const f = kernels === 'wasm-checked' ? checkedSampler(cfg, new Rng(4)) : standaloneSampler(cfg, nIn, nOut, new Rng(4), kernels);
    const p = standaloneSampler(cfg, nIn, nOut, new Rng(4), 'js');
    const arena = f.arena;
    const W = arena.f32(nOut * nIn);
    // a shared component (what centring removes), ties, and rows sparse enough for empty bins
    const common = Float32Array.from({ length: nIn }, () => rng.nextGaussian());
    for (let j = 0; j < nOut; j++) {
      for (let i = 0; i < nIn; i++) {
        const u = rng.nextFloat();
        W[j * nIn + i] = j % 7 === 0 ? (u < 0.9 ? common[i]! : 0.5) : u < 0.1 ? 0 : 3 * common[i]! + rng.nextGaussian();
      }
    }
    const b = arena.f32(nOut);
    const fast = f.sampler;
    const plain = p.sampler;
    assert.ok(fast.kernelHashing);
    assert.equal(fast.familySeed, plain.familySeed, 'same hash functions');
    const fs = f.kernelScratch();
    const ps = p.plainScratch();
    assert.ok(fs.hcodes.length > 0 && ps.hcodes.length === 0, 'kernel scratch in the sampler memory, TypeScript hashing without');
    assert.equal(fs.hcodes.length, fast.hashRows * WTA_BLOCK);
    if (pool > 0) assert.ok(fast.family instanceof PooledFamily && fast.hashRows === pool);
    for (let round = 0; round < 2; round++) {
      fast.rebuild(W, b, fast.createRebuildScratch(), fs);
      plain.rebuild(W, b, plain.createRebuildScratch(), null);
      assert.deepEqual(Array.from(fast.tables.keys), Array.from(plain.tables.keys), `round ${round}: every (table, neuron) key`);
      assert.ok(fast.tables.keys.every((k) => k >= 0), 'every neuron keyed');
      // queries: ReLU-like inputs (zeros), sparse ones (empty bins), and the zero input
      const x = arena.f32(nIn);
      for (let q = 0; q < 60; q++) {
        for (let i = 0; i < nIn; i++) x[i] = q === 0 ? 0 : q % 3 === 0 ? (rng.nextFloat() < 0.08 ? rng.nextGaussian() : 0) : Math.max(0, rng.nextGaussian());
        fast.hashInput(fs, x, 0);
        plain.hashInput(ps, x, 0);
        assert.deepEqual(Array.from(fs.codes), Array.from(ps.codes), `round ${round}, query ${q}`);
      }
      // new hash functions: the plan is rewritten and still equals the family
      fast.redraw(new Rng(50 + round));
      plain.redraw(new Rng(50 + round));
    }
    // the keys did depend on the hash functions
    const before = Array.from(fast.tables.keys);
    fast.rebuild(W, b, fast.createRebuildScratch(), fs);
    let changed = 0;
    for (let i = 0; i < before.length; i++) if (before[i] !== fast.tables.keys[i]) changed++;
    assert.ok(changed > before.length / 2, `the redraw changed ${changed} of ${before.length} keys`);
  });
}

test('kernel DWTA stages disjoint neuron ranges into the same keys as one whole rebuild (threads stage ranges)', () => {
  const cfg = configOf('dwta', 0, 18);
  const rng = new Rng(23);
  const f = standaloneSampler(cfg, nIn, nOut, new Rng(6), 'wasm');
  const W = f.arena.f32(nOut * nIn);
  for (let i = 0; i < W.length; i++) W[i] = rng.nextGaussian();
  const b = f.arena.f32(nOut);
  const s = f.sampler;
  const hs = f.kernelScratch();
  s.rebuild(W, b, s.createRebuildScratch(), hs);
  const whole = Array.from(s.tables.keys);
  s.tables.clear();
  s.prepareRebuild(W, b);
  const cuts = [0, 5, 6, 700, 1331, nOut];
  for (let i = cuts.length - 2; i >= 0; i--) s.stageRange(W, b, s.createRebuildScratch(), cuts[i]!, cuts[i + 1]!, hs);
  assert.deepEqual(Array.from(s.tables.keys), whole);
});
