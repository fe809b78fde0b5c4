// Helpers of the kernel tests: random problems copied into an arena once for each
// implementation (WebAssembly SIMD and the plain TypeScript oracle), compared with a tolerance.
import assert from 'node:assert/strict';
import { loadWasmKernels, type Kernels } from '../src/kernels/index.js';
import type { Arena } from '../src/memory/arena.js';
import type { Rng } from '../src/util/rng.js';

export const LENGTHS = [1, 3, 5, 17, 128, 130];
export const OFFSETS = [0, 1, 3];
/** float32 results whose summation order differs: |a - b| <= ABS + REL * scale */
export const REL = 1e-5;
export const ABS = 1e-6;

export type Arr = Float32Array | Int32Array;

/** A random problem: named arrays, copied into an arena once for each implementation. */
export class Twins {
  readonly js: Record<string, Arr> = {};
  readonly wasm: Record<string, Arr> = {};
  constructor(private readonly arena: Arena) {}

  f32(name: string, src: Float32Array): void {
    // subarray(1) so that byteOffset is not a multiple of 16 (arena allocations are 64-aligned)
    const a = this.arena.f32(src.length + 1).subarray(1);
    const b = this.arena.f32(src.length + 1).subarray(1);
    a.set(src);
    b.set(src);
    this.js[name] = a;
    this.wasm[name] = b;
  }

  i32(name: string, src: Int32Array): void {
    const a = this.arena.i32(src.length);
    const b = this.arena.i32(src.length);
    a.set(src);
    b.set(src);
    this.js[name] = a;
    this.wasm[name] = b;
  }

  /** Every array of the two copies agrees (outputs within tolerance, the rest exactly). */
  compare(label: string, scales: Record<string, Float32Array> = {}): void {
    for (const name of Object.keys(this.js)) {
      const e = this.js[name]!;
      const a = this.wasm[name]!;
      if (e instanceof Int32Array) {
        assert.deepEqual(Array.from(a), Array.from(e), `${label}: ${name} changed`);
        continue;
      }
      close(a as Float32Array, e, `${label}: ${name}`, scales[name]);
    }
  }
}

export function close(actual: Float32Array, expected: Float32Array, label: string, scale?: Float32Array): void {
  assert.equal(actual.length, expected.length, `${label}: length`);
  for (let i = 0; i < expected.length; i++) {
    const e = expected[i]!;
    const a = actual[i]!;
    if (Number.isNaN(e) && Number.isNaN(a)) continue;
    const s = Math.max(Math.abs(e), scale === undefined ? 0 : Math.abs(scale[i]!));
    if (!(Math.abs(a - e) <= ABS + REL * s)) {
      assert.fail(`${label}[${i}]: wasm ${a} vs js ${e} (diff ${Math.abs(a - e)}, scale ${s})`);
    }
  }
}

export function rand(rng: Rng, n: number, lo = -1, hi = 1): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = lo + (hi - lo) * rng.nextFloat();
  return a;
}

/** Row ids in [0, nMatrixRows), with repeats (few matrix rows) and an explicit duplicate. */
export function randRows(rng: Rng, count: number, nMatrixRows: number): Int32Array {
  const r = new Int32Array(count);
  for (let i = 0; i < count; i++) r[i] = rng.nextInt(nMatrixRows);
  if (count >= 2) r[count - 1] = r[0]!;
  return r;
}

export const abs = (a: Float32Array): Float32Array => a.map(Math.abs);

export function newWasm(arena: Arena): Kernels {
  return loadWasmKernels(arena.memory, { checkViews: true });
}

