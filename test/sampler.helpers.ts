import { Arena } from '../src/memory/arena.js';
import { LshSampler, type SamplerScratch } from '../src/layers/sampler.js';
import { getKernels, type KernelChoice } from '../src/kernels/index.js';
import type { LayerSampling } from '../src/config.js';
import type { Rng } from '../src/util/rng.js';

/**
 * A sampler alone in a memory of its own (its declared blocks and one thread's scratch), as a
 * layer of a network would hold it. `kernelScratch()` is the scratch in that memory (kernel
 * hashing when the family has a plan); `plainScratch()` one outside it (TypeScript hashing).
 */
export function standaloneSampler(cfg: LayerSampling, nIn: number, nOut: number, rng: Rng, kernels: KernelChoice = 'js') {
  const spec = { name: 'layer', cfg, nIn, nOut };
  const arena = new Arena();
  const views = arena.carve([...LshSampler.declare(spec), ...LshSampler.declareScratch(spec, 'scratch')]);
  const sampler = new LshSampler(spec, views, getKernels(arena.memory, kernels), rng);
  return {
    sampler,
    arena,
    kernelScratch: (): SamplerScratch => sampler.createScratch(views, 'scratch'),
    plainScratch: (): SamplerScratch => sampler.createScratch(),
  };
}
