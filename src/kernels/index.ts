import { ConfigError, quote } from '../util/errors.js';
import { jsKernels } from './js.js';
import type { Kernels } from './js.js';
import { loadWasmKernels } from './wasm.js';

export type { Kernels } from './js.js';
export { jsKernels } from './js.js';
export {
  assertViewOf,
  loadWasmKernels,
  wasmKernelsModule,
  wasmKernelsPath,
  type WasmKernelOptions,
} from './wasm.js';

/** Which kernel implementation to use: WebAssembly SIMD, plain JS, or WebAssembly when it loads. */
export type KernelChoice = 'wasm' | 'js' | 'auto';

export const KERNEL_CHOICES: readonly KernelChoice[] = ['wasm', 'js', 'auto'];

let warnedFallback = false;

/**
 * The kernels for the arrays of one memory (a model shard's arena).
 *  - 'wasm': WebAssembly SIMD; throws if build/kernels.wasm is missing or the memory is not shared.
 *  - 'js':   the plain TypeScript kernels (work on any arrays).
 *  - 'auto': 'wasm' when it loads, else 'js' with a one-time warning on stderr.
 */
export function getKernels(memory: WebAssembly.Memory, which: KernelChoice = 'auto'): Kernels {
  switch (which) {
    case 'js':
      return jsKernels;
    case 'wasm':
      return loadWasmKernels(memory);
    case 'auto':
      try {
        return loadWasmKernels(memory);
      } catch (e) {
        if (!warnedFallback) {
          warnedFallback = true;
          process.stderr.write(`sublinear: warning: using the slower JS kernels: ${(e as Error).message}\n`);
        }
        return jsKernels;
      }
    default:
      throw new ConfigError(`kernels: expected one of ${KERNEL_CHOICES.join(', ')}, found ${quote(String(which))}`);
  }
}
