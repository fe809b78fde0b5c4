import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Kernels } from './types.js';

/**
 * The WebAssembly SIMD kernels (source: `assembly/kernels.ts`, built into `build/kernels.wasm`
 * by `scripts/build-wasm.mjs`) behind the `Kernels` interface.
 *
 * One compiled WebAssembly.Module per process; one instance per WebAssembly.Memory (a model
 * shard's arena), since the module imports the memory it works on.
 *
 * PRECONDITION (not checked on the hot path): every array passed to a kernel is a view of the
 * memory the kernels were loaded for. The wrappers only turn (array, elementOffset) into the byte
 * address `array.byteOffset + 4 * offset`; an array of another buffer silently addresses the
 * wrong bytes of the arena. A cheap identity test (`array.buffer === memory.buffer`) cannot be
 * used: growing a shared memory hands out a new SharedArrayBuffer object over the same bytes, so
 * views made before a growth have a different `.buffer` yet are valid. Use
 * `loadWasmKernels(memory, { checkViews: true })` (tests, debugging) to assert the precondition,
 * offsets and row ids on every call.
 */

/** Raw exports of build/kernels.wasm: byte addresses and element counts. */
interface KernelExports {
  dot(a: number, b: number, n: number): number;
  axpy(alpha: number, x: number, y: number, n: number): void;
  dotRows(W: number, bias: number, n: number, rows: number, nRows: number, x: number, out: number): void;
  projectRows(P: number, bias: number, n: number, H: number, X: number, m: number, out: number): void;
  hadamardRows(S: number, bias: number, n: number, p: number, rounds: number, H: number, X: number, m: number, buf: number, out: number): void;
  signKeys(proj: number, H: number, m: number, sel: number, K: number, L: number, keys: number, stride: number): void;
  bucketSort(keys: number, ids: number, m: number, R: number, S: number, off: number, ent: number): number;
  voteTally(entries: number, bStart: number, bEnd: number, L: number, tally: number, N: number): void;
  voteCollect(tally: number, N: number, L: number, lo: number, hist: number, cand: number): number;
  votePlace(cand: number, nc: number, tally: number, hist: number, vt: number, above: number, need: number, out: number, outVotes: number): void;
  rowsBackward(
    W: number, G: number, gBias: number, n: number, rows: number, nRows: number,
    grad: number, x: number, dx: number, hasDx: number,
  ): void;
  rowsDx(W: number, n: number, rows: number, nRows: number, grad: number, dx: number): void;
  gradRows(G: number, gBias: number, n: number, rows: number, nRows: number, ptr: number, src: number, coef: number, X: number): void;
  sparseInputForward(W: number, bias: number, nOut: number, idx: number, val: number, nnz: number, out: number): void;
  sparseInputBackward(G: number, gBias: number, nOut: number, idx: number, val: number, nnz: number, delta: number): void;
  adamRows(
    W: number, M: number, V: number, G: number, n: number, rows: number, nRows: number,
    lrT: number, b1: number, c1: number, b2: number, c2: number, eps: number, decay: number,
  ): void;
  markPairs(pRow: number, pCnt: number, slots: number, budget: number, mark: number, touched: number, n: number): number;
  groupPairs(
    touched: number, nT: number, pos: number, ptr: number,
    pRow: number, pCoef: number, pCnt: number, slots: number, budget: number, src: number, coef: number,
  ): number;
  adamRowsPairs(
    W: number, M: number, V: number, gBias: number, n: number, rows: number, nRows: number,
    ptr: number, src: number, coef: number, X: number,
    lrT: number, b1: number, c1: number, b2: number, c2: number, eps: number, decay: number,
  ): void;
  sgdRows(W: number, G: number, n: number, rows: number, nRows: number, lr: number, decay: number): void;
  relu(x: number, n: number): void;
  vmax(x: number, n: number): number;
  softmaxExp(x: number, n: number, mx: number): number;
}

const EXPORT_NAMES: readonly (keyof KernelExports)[] = [
  'dot', 'axpy', 'dotRows', 'projectRows', 'hadamardRows', 'signKeys', 'bucketSort', 'voteTally', 'voteCollect', 'votePlace', 'rowsBackward', 'rowsDx', 'gradRows', 'sparseInputForward', 'sparseInputBackward',
  'adamRows', 'markPairs', 'groupPairs', 'adamRowsPairs', 'sgdRows', 'relu', 'vmax', 'softmaxExp',
];

export interface WasmKernelOptions {
  /**
   * A compiled module to instantiate instead of the one read from build/kernels.wasm (e.g. the
   * module posted to a worker thread: WebAssembly.Module objects are structured-cloneable).
   */
  module?: WebAssembly.Module;
  /**
   * Assert on every call that each array is a view of the memory and that offsets, lengths and
   * row ids stay inside their arrays (see `assertViewOf`). Slow; for tests and debugging only.
   */
  checkViews?: boolean;
}

const WASM_FILE = join('build', 'kernels.wasm');

let cachedModule: WebAssembly.Module | undefined;
let cachedLoadError: Error | undefined;
const exportsByMemory = new WeakMap<WebAssembly.Memory, KernelExports>();
const kernelsByMemory = new WeakMap<WebAssembly.Memory, Kernels>();

/**
 * Where build/kernels.wasm should be: under the package root, found by walking up from this
 * file to the nearest package.json (this file runs as src/kernels/wasm.ts under tsx and as
 * dist/src/kernels/wasm.js once compiled).
 */
export function wasmKernelsPath(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  let dir = here;
  for (;;) {
    if (existsSync(join(dir, 'package.json'))) return join(dir, WASM_FILE);
    const up = dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  // No package.json above (an unusual layout): assume src/kernels or dist/src/kernels.
  return join(here, '..', '..', WASM_FILE);
}

/** The compiled kernels module, read and compiled once per process (per thread). */
export function wasmKernelsModule(): WebAssembly.Module {
  if (cachedModule !== undefined) return cachedModule;
  if (cachedLoadError !== undefined) throw cachedLoadError;
  const path = wasmKernelsPath();
  try {
    if (!existsSync(path)) {
      throw new Error(`WebAssembly kernels not found at ${path}: run \`npm run build\` (or \`node scripts/build-wasm.mjs\`) to build them`);
    }
    const bytes = readFileSync(path);
    try {
      cachedModule = new WebAssembly.Module(bytes);
    } catch (e) {
      throw new Error(`WebAssembly kernels at ${path} do not compile (${(e as Error).message}); rebuild them with \`npm run build\``);
    }
    return cachedModule;
  } catch (e) {
    cachedLoadError = e as Error;
    throw cachedLoadError;
  }
}

function instantiate(memory: WebAssembly.Memory, module: WebAssembly.Module): KernelExports {
  if (!(memory.buffer instanceof SharedArrayBuffer)) {
    throw new TypeError(
      'WebAssembly kernels: the memory must be shared (new WebAssembly.Memory({ initial, maximum, shared: true }), as Arena makes it)',
    );
  }
  let instance: WebAssembly.Instance;
  try {
    instance = new WebAssembly.Instance(module, {
      env: {
        memory,
        abort: (): never => {
          throw new Error('WebAssembly kernels: abort');
        },
      },
    });
  } catch (e) {
    throw new Error(`WebAssembly kernels: cannot instantiate on this memory (${(e as Error).message})`);
  }
  const ex = instance.exports as unknown as KernelExports;
  for (const name of EXPORT_NAMES) {
    if (typeof ex[name] !== 'function') {
      throw new Error(`WebAssembly kernels: export ${name} missing from ${wasmKernelsPath()}; rebuild with \`npm run build\``);
    }
  }
  return ex;
}

/**
 * Kernels running WebAssembly SIMD on `memory`. Every array passed to them must be a view of
 * `memory` (see the precondition above). Instances are cached per memory; throws (with a hint)
 * when build/kernels.wasm is missing or the memory is not shared.
 */
export function loadWasmKernels(memory: WebAssembly.Memory, options: WasmKernelOptions = {}): Kernels {
  if (!options.checkViews && options.module === undefined) {
    const cached = kernelsByMemory.get(memory);
    if (cached !== undefined) return cached;
  }
  let ex: KernelExports;
  if (options.module !== undefined) {
    ex = instantiate(memory, options.module);
  } else {
    const cached = exportsByMemory.get(memory);
    if (cached !== undefined) {
      ex = cached;
    } else {
      ex = instantiate(memory, wasmKernelsModule());
      exportsByMemory.set(memory, ex);
    }
  }
  const kernels = wrap(ex);
  if (options.checkViews) return checked(memory, kernels);
  if (options.module === undefined) kernelsByMemory.set(memory, kernels);
  return kernels;
}

/** (array, element offset) -> byte address. */
function wrap(ex: KernelExports): Kernels {
  return {
    name: 'wasm',

    dot(a, aOff, b, bOff, n) {
      return ex.dot(a.byteOffset + 4 * aOff, b.byteOffset + 4 * bOff, n);
    },

    axpy(alpha, x, xOff, y, yOff, n) {
      ex.axpy(alpha, x.byteOffset + 4 * xOff, y.byteOffset + 4 * yOff, n);
    },

    dotRows(W, bias, n, rows, rowsOff, nRows, x, xOff, out, outOff) {
      ex.dotRows(
        W.byteOffset, bias.byteOffset, n,
        rows.byteOffset + 4 * rowsOff, nRows,
        x.byteOffset + 4 * xOff, out.byteOffset + 4 * outOff,
      );
    },

    projectRows(P, bias, n, H, X, xOff, m, out, outOff) {
      ex.projectRows(P.byteOffset, bias.byteOffset, n, H, X.byteOffset + 4 * xOff, m, out.byteOffset + 4 * outOff);
    },

    hadamardRows(S, bias, n, p, rounds, H, X, xOff, m, buf, out, outOff) {
      ex.hadamardRows(S.byteOffset, bias.byteOffset, n, p, rounds, H, X.byteOffset + 4 * xOff, m, buf.byteOffset, out.byteOffset + 4 * outOff);
    },

    signKeys(proj, projOff, H, m, sel, K, L, keys, keysOff, stride) {
      ex.signKeys(proj.byteOffset + 4 * projOff, H, m, sel.byteOffset, K, L, keys.byteOffset + 4 * keysOff, stride);
    },

    bucketSort(keys, keysOff, ids, m, R, S, off, offOff, ent, entOff) {
      return ex.bucketSort(keys.byteOffset + 4 * keysOff, ids.byteOffset, m, R, S, off.byteOffset + 4 * offOff, ent.byteOffset + 4 * entOff);
    },

    voteTally(entries, bStart, bEnd, L, tally, N) {
      ex.voteTally(entries.byteOffset, bStart.byteOffset, bEnd.byteOffset, L, tally.byteOffset, N);
    },

    voteCollect(tally, N, L, lo, hist, cand) {
      return ex.voteCollect(tally.byteOffset, N, L, lo, hist.byteOffset, cand.byteOffset);
    },

    votePlace(cand, nc, tally, hist, vt, above, need, out, outVotes) {
      ex.votePlace(cand.byteOffset, nc, tally.byteOffset, hist.byteOffset, vt, above, need, out.byteOffset, outVotes === null ? 0 : outVotes.byteOffset);
    },

    rowsBackward(W, G, gBias, n, rows, rowsOff, nRows, grad, gradOff, x, xOff, dx, dxOff) {
      ex.rowsBackward(
        W.byteOffset, G.byteOffset, gBias.byteOffset, n,
        rows.byteOffset + 4 * rowsOff, nRows,
        grad.byteOffset + 4 * gradOff, x.byteOffset + 4 * xOff,
        dx === null ? 0 : dx.byteOffset + 4 * dxOff, dx === null ? 0 : 1,
      );
    },

    rowsDx(W, n, rows, rowsOff, nRows, grad, gradOff, dx, dxOff) {
      ex.rowsDx(W.byteOffset, n, rows.byteOffset + 4 * rowsOff, nRows, grad.byteOffset + 4 * gradOff, dx.byteOffset + 4 * dxOff);
    },

    gradRows(G, gBias, n, rows, rowsOff, nRows, ptr, src, coef, X) {
      ex.gradRows(
        G.byteOffset, gBias === null ? 0 : gBias.byteOffset, n,
        rows.byteOffset + 4 * rowsOff, nRows, ptr.byteOffset + 4 * rowsOff,
        src.byteOffset, coef.byteOffset, X.byteOffset,
      );
    },

    sparseInputForward(W, bias, nOut, idx, val, start, end, out, outOff) {
      ex.sparseInputForward(
        W.byteOffset, bias.byteOffset, nOut,
        idx.byteOffset + 4 * start, val.byteOffset + 4 * start, end - start,
        out.byteOffset + 4 * outOff,
      );
    },

    sparseInputBackward(G, gBias, nOut, idx, val, start, end, delta, deltaOff) {
      ex.sparseInputBackward(
        G.byteOffset, gBias.byteOffset, nOut,
        idx.byteOffset + 4 * start, val.byteOffset + 4 * start, end - start,
        delta.byteOffset + 4 * deltaOff,
      );
    },

    adamRows(W, M, V, G, n, rows, rowsOff, nRows, lrT, b1, b2, eps, decay = 1) {
      ex.adamRows(
        W.byteOffset, M.byteOffset, V.byteOffset, G.byteOffset, n,
        rows.byteOffset + 4 * rowsOff, nRows,
        lrT, b1, 1 - b1, b2, 1 - b2, eps, decay,
      );
    },

    markPairs(pRow, pCnt, slots, budget, mark, touched, n) {
      return ex.markPairs(pRow.byteOffset, pCnt.byteOffset, slots, budget, mark.byteOffset, touched.byteOffset, n);
    },

    groupPairs(touched, nTouched, pos, ptr, pRow, pCoef, pCnt, slots, budget, src, coef) {
      return ex.groupPairs(
        touched.byteOffset, nTouched, pos.byteOffset, ptr.byteOffset,
        pRow.byteOffset, pCoef.byteOffset, pCnt.byteOffset, slots, budget, src.byteOffset, coef.byteOffset,
      );
    },

    adamRowsPairs(W, M, V, gBias, n, rows, rowsOff, nRows, ptr, src, coef, X, lrT, b1, b2, eps, decay = 1) {
      ex.adamRowsPairs(
        W.byteOffset, M.byteOffset, V.byteOffset, gBias.byteOffset, n,
        rows.byteOffset + 4 * rowsOff, nRows, ptr.byteOffset + 4 * rowsOff,
        src.byteOffset, coef.byteOffset, X.byteOffset,
        lrT, b1, 1 - b1, b2, 1 - b2, eps, decay,
      );
    },

    sgdRows(W, G, n, rows, rowsOff, nRows, lr, decay = 1) {
      ex.sgdRows(W.byteOffset, G.byteOffset, n, rows.byteOffset + 4 * rowsOff, nRows, lr, decay);
    },

    relu(x, off, n) {
      ex.relu(x.byteOffset + 4 * off, n);
    },

    softmax(x, off, n, logZ) {
      const p = x.byteOffset + 4 * off;
      const mx = ex.vmax(p, n);
      logZ[0] = Math.log(ex.softmaxExp(p, n, mx)) + mx;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Debug checks

/**
 * Throws unless `arr` is a view of `memory` (debug helper: see the precondition above).
 * A view made before the memory grew has another `.buffer` object than `memory.buffer` but the
 * same bytes, so when the buffers differ this probes: it flips one word through `arr`, looks for
 * the change through `memory.buffer`, and restores it. Not for use while other threads write the
 * same word (the probe is a brief write).
 */
export function assertViewOf(memory: WebAssembly.Memory, arr: Float32Array | Int32Array | Uint16Array, what = 'array'): void {
  const buf = memory.buffer;
  if (arr.byteOffset + arr.byteLength > buf.byteLength) {
    throw new RangeError(`${what}: bytes [${arr.byteOffset}, ${arr.byteOffset + arr.byteLength}) lie outside the memory (${buf.byteLength} bytes)`);
  }
  if (arr.buffer === buf) return;
  if (!(arr.buffer instanceof SharedArrayBuffer)) {
    throw new TypeError(`${what} is not a view of the kernels' WebAssembly.Memory (its buffer is not shared); carve it from the model's Arena`);
  }
  if (arr.length === 0) return;
  const mine = new Int32Array(arr.buffer, arr.byteOffset, 1);
  const theirs = new Int32Array(buf, arr.byteOffset, 1);
  const saved = mine[0]!;
  const flipped = saved ^ 0x5a5a5a5a;
  mine[0] = flipped;
  const seen = theirs[0] === flipped;
  mine[0] = saved;
  if (!seen) {
    throw new TypeError(`${what} is not a view of the kernels' WebAssembly.Memory (another SharedArrayBuffer); carve it from the model's Arena`);
  }
}

function assertRange(arr: Float32Array | Int32Array | Uint16Array, off: number, n: number, what: string): void {
  if (!Number.isInteger(off) || !Number.isInteger(n) || off < 0 || n < 0 || off + n > arr.length) {
    throw new RangeError(`${what}: elements [${off}, ${off}+${n}) outside an array of length ${arr.length}`);
  }
}

function assertRows(rows: Int32Array, rowsOff: number, nRows: number, nMatrixRows: number, what: string): void {
  assertRange(rows, rowsOff, nRows, `${what} rows`);
  for (let i = rowsOff; i < rowsOff + nRows; i++) {
    const r = rows[i]!;
    if (r < 0 || r >= nMatrixRows) throw new RangeError(`${what}: rows[${i}] = ${r} outside [0, ${nMatrixRows})`);
  }
}

/** The pair lists of positions [rowsOff, rowsOff + nRows): ptr ascending, src rows of X, coef in range. */
function assertPairs(ptr: Int32Array, src: Int32Array, coef: Float32Array, X: Float32Array, n: number, rowsOff: number, nRows: number, what: string): void {
  assertRange(ptr, rowsOff, nRows + 1, `${what} ptr`);
  for (let i = rowsOff; i < rowsOff + nRows; i++) {
    if (!(ptr[i]! <= ptr[i + 1]!)) throw new RangeError(`${what}: ptr[${i}] = ${ptr[i]} > ptr[${i + 1}] = ${ptr[i + 1]}`);
  }
  if (nRows === 0) return;
  const k0 = ptr[rowsOff]!;
  const k1 = ptr[rowsOff + nRows]!;
  assertRange(coef, k0, k1 - k0, `${what} coef`);
  assertRows(src, k0, k1 - k0, matrixRows(X, n), `${what} src`);
}

function matrixRows(W: Float32Array, n: number): number {
  return n > 0 ? Math.floor(W.length / n) : 0;
}

/** `k` with the precondition, offsets and row ids asserted before every call. */
function checked(memory: WebAssembly.Memory, k: Kernels): Kernels {
  const v = (arr: Float32Array | Int32Array | Uint16Array, what: string): void => assertViewOf(memory, arr, what);
  return {
    name: k.name,
    dot(a, aOff, b, bOff, n) {
      v(a, 'dot a'); v(b, 'dot b');
      assertRange(a, aOff, n, 'dot a'); assertRange(b, bOff, n, 'dot b');
      return k.dot(a, aOff, b, bOff, n);
    },
    axpy(alpha, x, xOff, y, yOff, n) {
      v(x, 'axpy x'); v(y, 'axpy y');
      assertRange(x, xOff, n, 'axpy x'); assertRange(y, yOff, n, 'axpy y');
      k.axpy(alpha, x, xOff, y, yOff, n);
    },
    dotRows(W, bias, n, rows, rowsOff, nRows, x, xOff, out, outOff) {
      v(W, 'dotRows W'); v(bias, 'dotRows bias'); v(rows, 'dotRows rows'); v(x, 'dotRows x'); v(out, 'dotRows out');
      assertRows(rows, rowsOff, nRows, Math.min(matrixRows(W, n), bias.length), 'dotRows');
      assertRange(x, xOff, n, 'dotRows x'); assertRange(out, outOff, nRows, 'dotRows out');
      k.dotRows(W, bias, n, rows, rowsOff, nRows, x, xOff, out, outOff);
    },
    projectRows(P, bias, n, H, X, xOff, m, out, outOff) {
      v(P, 'projectRows P'); v(bias, 'projectRows bias'); v(X, 'projectRows X'); v(out, 'projectRows out');
      assertRange(P, 0, n * H, 'projectRows P'); assertRange(bias, 0, H, 'projectRows bias');
      assertRange(X, xOff, n * m, 'projectRows X'); assertRange(out, outOff, H * m, 'projectRows out');
      k.projectRows(P, bias, n, H, X, xOff, m, out, outOff);
    },
    hadamardRows(S, bias, n, p, rounds, H, X, xOff, m, buf, out, outOff) {
      if (!(Number.isInteger(p) && p >= 8 && (p & (p - 1)) === 0 && p >= n)) throw new RangeError(`hadamardRows: p must be a power of two >= 8 and >= n (${n}), got ${p}`);
      if (!(Number.isInteger(rounds) && rounds >= 1)) throw new RangeError(`hadamardRows: rounds must be a positive integer, got ${rounds}`);
      v(S, 'hadamardRows S'); v(bias, 'hadamardRows bias'); v(X, 'hadamardRows X'); v(buf, 'hadamardRows buf'); v(out, 'hadamardRows out');
      assertRange(S, 0, Math.ceil(H / p) * rounds * p, 'hadamardRows S'); assertRange(bias, 0, H, 'hadamardRows bias');
      assertRange(X, xOff, n * m, 'hadamardRows X'); assertRange(buf, 0, p, 'hadamardRows buf'); assertRange(out, outOff, H * m, 'hadamardRows out');
      k.hadamardRows(S, bias, n, p, rounds, H, X, xOff, m, buf, out, outOff);
    },
    signKeys(proj, projOff, H, m, sel, K, L, keys, keysOff, stride) {
      v(proj, 'signKeys proj'); v(sel, 'signKeys sel'); v(keys, 'signKeys keys');
      if (!(Number.isInteger(K) && K >= 1 && K <= 30)) throw new RangeError(`signKeys: K must be an integer in [1, 30], got ${K}`);
      assertRange(proj, projOff, m * H, 'signKeys proj');
      assertRows(sel, 0, K * L, H, 'signKeys sel');
      if (m > 0 && L > 0) {
        if (!(stride >= m)) throw new RangeError(`signKeys: stride ${stride} < m ${m}`);
        assertRange(keys, keysOff, (L - 1) * stride + m, 'signKeys keys');
      }
      k.signKeys(proj, projOff, H, m, sel, K, L, keys, keysOff, stride);
    },
    bucketSort(keys, keysOff, ids, m, R, S, off, offOff, ent, entOff) {
      v(keys, 'bucketSort keys'); v(ids, 'bucketSort ids'); v(off, 'bucketSort off'); v(ent, 'bucketSort ent');
      assertRows(keys, keysOff, m, R, 'bucketSort keys');
      assertRange(ids, 0, m, 'bucketSort ids'); assertRange(off, offOff, R + 1, 'bucketSort off');
      // ent is written only when every bucket fits, so m <= R * S then
      assertRange(ent, entOff, Math.min(m, R * S), 'bucketSort ent');
      return k.bucketSort(keys, keysOff, ids, m, R, S, off, offOff, ent, entOff);
    },
    voteTally(entries, bStart, bEnd, L, tally, N) {
      v(entries, 'voteTally entries'); v(bStart, 'voteTally bStart'); v(bEnd, 'voteTally bEnd'); v(tally, 'voteTally tally');
      assertRange(bStart, 0, L, 'voteTally bStart'); assertRange(bEnd, 0, L, 'voteTally bEnd'); assertRange(tally, 0, N, 'voteTally tally');
      for (let t = 0; t < L; t++) {
        const s0 = bStart[t]!;
        const e0 = bEnd[t]!;
        assertRange(entries, s0, e0 - s0, `voteTally entries of range ${t}`);
        for (let j = s0; j < e0; j++) {
          if (!(entries[j]! >= 0 && entries[j]! < N)) throw new RangeError(`voteTally: entries[${j}] = ${entries[j]} outside [0, ${N})`);
        }
      }
      k.voteTally(entries, bStart, bEnd, L, tally, N);
    },
    voteCollect(tally, N, L, lo, hist, cand) {
      v(tally, 'voteCollect tally'); v(hist, 'voteCollect hist'); v(cand, 'voteCollect cand');
      if (!(Number.isInteger(lo) && lo >= 1)) throw new RangeError(`voteCollect: lo must be an integer >= 1, got ${lo}`);
      assertRange(tally, 0, N, 'voteCollect tally'); assertRange(hist, 0, L + 2, 'voteCollect hist');
      let kept = 0;
      for (let i = 0; i < N; i++) {
        if (tally[i]! > L) throw new RangeError(`voteCollect: tally[${i}] = ${tally[i]} exceeds L = ${L}`);
        if (tally[i]! >= lo) kept++;
      }
      assertRange(cand, 0, kept, 'voteCollect cand');
      return k.voteCollect(tally, N, L, lo, hist, cand);
    },
    votePlace(cand, nc, tally, hist, vt, above, need, out, outVotes) {
      v(cand, 'votePlace cand'); v(tally, 'votePlace tally'); v(hist, 'votePlace hist'); v(out, 'votePlace out');
      if (outVotes !== null) v(outVotes, 'votePlace outVotes');
      assertRows(cand, 0, nc, tally.length, 'votePlace cand');
      // the slots written: above + need at most at the cut, hist[v] + (ids with v votes) above it
      let slots = Math.max(0, above + need);
      const inGroup = new Map<number, number>();
      for (let i = 0; i < nc; i++) {
        const t = tally[cand[i]!]!;
        if (t > vt) inGroup.set(t, (inGroup.get(t) ?? 0) + 1);
      }
      for (const [t, c] of inGroup) {
        assertRange(hist, t, 1, 'votePlace hist');
        slots = Math.max(slots, hist[t]! + c);
      }
      assertRange(out, 0, slots, 'votePlace out');
      if (outVotes !== null) assertRange(outVotes, 0, slots, 'votePlace outVotes');
      k.votePlace(cand, nc, tally, hist, vt, above, need, out, outVotes);
    },
    rowsBackward(W, G, gBias, n, rows, rowsOff, nRows, grad, gradOff, x, xOff, dx, dxOff) {
      v(W, 'rowsBackward W'); v(G, 'rowsBackward G'); v(gBias, 'rowsBackward gBias'); v(rows, 'rowsBackward rows');
      v(grad, 'rowsBackward grad'); v(x, 'rowsBackward x');
      if (dx !== null) { v(dx, 'rowsBackward dx'); assertRange(dx, dxOff, n, 'rowsBackward dx'); }
      assertRows(rows, rowsOff, nRows, Math.min(matrixRows(W, n), matrixRows(G, n), gBias.length), 'rowsBackward');
      assertRange(grad, gradOff, nRows, 'rowsBackward grad'); assertRange(x, xOff, n, 'rowsBackward x');
      k.rowsBackward(W, G, gBias, n, rows, rowsOff, nRows, grad, gradOff, x, xOff, dx, dxOff);
    },
    rowsDx(W, n, rows, rowsOff, nRows, grad, gradOff, dx, dxOff) {
      v(W, 'rowsDx W'); v(rows, 'rowsDx rows'); v(grad, 'rowsDx grad'); v(dx, 'rowsDx dx');
      assertRows(rows, rowsOff, nRows, matrixRows(W, n), 'rowsDx');
      assertRange(grad, gradOff, nRows, 'rowsDx grad'); assertRange(dx, dxOff, n, 'rowsDx dx');
      k.rowsDx(W, n, rows, rowsOff, nRows, grad, gradOff, dx, dxOff);
    },
    gradRows(G, gBias, n, rows, rowsOff, nRows, ptr, src, coef, X) {
      v(G, 'gradRows G'); v(rows, 'gradRows rows'); v(ptr, 'gradRows ptr'); v(src, 'gradRows src'); v(coef, 'gradRows coef'); v(X, 'gradRows X');
      if (gBias !== null) v(gBias, 'gradRows gBias');
      assertRows(rows, rowsOff, nRows, Math.min(matrixRows(G, n), gBias === null ? Infinity : gBias.length), 'gradRows');
      assertPairs(ptr, src, coef, X, n, rowsOff, nRows, 'gradRows');
      k.gradRows(G, gBias, n, rows, rowsOff, nRows, ptr, src, coef, X);
    },
    sparseInputForward(W, bias, nOut, idx, val, start, end, out, outOff) {
      v(W, 'sparseInputForward W'); v(bias, 'sparseInputForward bias'); v(idx, 'sparseInputForward idx');
      v(val, 'sparseInputForward val'); v(out, 'sparseInputForward out');
      assertRows(idx, start, end - start, matrixRows(W, nOut), 'sparseInputForward idx');
      assertRange(val, start, end - start, 'sparseInputForward val');
      assertRange(bias, 0, nOut, 'sparseInputForward bias'); assertRange(out, outOff, nOut, 'sparseInputForward out');
      k.sparseInputForward(W, bias, nOut, idx, val, start, end, out, outOff);
    },
    sparseInputBackward(G, gBias, nOut, idx, val, start, end, delta, deltaOff) {
      v(G, 'sparseInputBackward G'); v(gBias, 'sparseInputBackward gBias'); v(idx, 'sparseInputBackward idx');
      v(val, 'sparseInputBackward val'); v(delta, 'sparseInputBackward delta');
      assertRows(idx, start, end - start, matrixRows(G, nOut), 'sparseInputBackward idx');
      assertRange(val, start, end - start, 'sparseInputBackward val');
      assertRange(gBias, 0, nOut, 'sparseInputBackward gBias'); assertRange(delta, deltaOff, nOut, 'sparseInputBackward delta');
      k.sparseInputBackward(G, gBias, nOut, idx, val, start, end, delta, deltaOff);
    },
    adamRows(W, M, V, G, n, rows, rowsOff, nRows, lrT, b1, b2, eps, decay = 1) {
      v(W, 'adamRows W'); v(M, 'adamRows M'); v(V, 'adamRows V'); v(G, 'adamRows G'); v(rows, 'adamRows rows');
      const nr = Math.min(matrixRows(W, n), matrixRows(M, n), matrixRows(V, n), matrixRows(G, n));
      assertRows(rows, rowsOff, nRows, nr, 'adamRows');
      k.adamRows(W, M, V, G, n, rows, rowsOff, nRows, lrT, b1, b2, eps, decay);
    },
    markPairs(pRow, pCnt, slots, budget, mark, touched, n) {
      v(pRow, 'markPairs pRow'); v(pCnt, 'markPairs pCnt'); v(mark, 'markPairs mark'); v(touched, 'markPairs touched');
      assertRange(pCnt, 0, slots, 'markPairs pCnt'); assertRange(pRow, 0, slots * budget, 'markPairs pRow');
      let fresh = 0;
      const seen = new Set<number>();
      for (let b = 0; b < slots; b++) {
        const c = pCnt[b]!;
        if (!(c >= 0 && c <= budget)) throw new RangeError(`markPairs: pCnt[${b}] = ${c} outside [0, ${budget}]`);
        assertRows(pRow, b * budget, c, mark.length, 'markPairs pRow');
        for (let k = b * budget; k < b * budget + c; k++) {
          const r = pRow[k]!;
          if (mark[r] === 0 && !seen.has(r)) {
            seen.add(r);
            fresh++;
          }
        }
      }
      assertRange(touched, 0, n + fresh, 'markPairs touched');
      return k.markPairs(pRow, pCnt, slots, budget, mark, touched, n);
    },
    groupPairs(touched, nTouched, pos, ptr, pRow, pCoef, pCnt, slots, budget, src, coef) {
      v(touched, 'groupPairs touched'); v(pos, 'groupPairs pos'); v(ptr, 'groupPairs ptr'); v(pRow, 'groupPairs pRow');
      v(pCoef, 'groupPairs pCoef'); v(pCnt, 'groupPairs pCnt'); v(src, 'groupPairs src'); v(coef, 'groupPairs coef');
      assertRows(touched, 0, nTouched, pos.length, 'groupPairs touched');
      assertRange(ptr, 0, nTouched + 1, 'groupPairs ptr'); assertRange(pCnt, 0, slots, 'groupPairs pCnt');
      assertRange(pRow, 0, slots * budget, 'groupPairs pRow'); assertRange(pCoef, 0, slots * budget, 'groupPairs pCoef');
      const listed = new Set(touched.subarray(0, nTouched));
      let total = 0;
      for (let b = 0; b < slots; b++) {
        const c = pCnt[b]!;
        if (!(c >= 0 && c <= budget)) throw new RangeError(`groupPairs: pCnt[${b}] = ${c} outside [0, ${budget}]`);
        for (let k = b * budget; k < b * budget + c; k++) {
          if (!listed.has(pRow[k]!)) throw new RangeError(`groupPairs: pRow[${k}] = ${pRow[k]} is not a touched row`);
        }
        total += c;
      }
      assertRange(src, 0, total, 'groupPairs src'); assertRange(coef, 0, total, 'groupPairs coef');
      return k.groupPairs(touched, nTouched, pos, ptr, pRow, pCoef, pCnt, slots, budget, src, coef);
    },
    adamRowsPairs(W, M, V, gBias, n, rows, rowsOff, nRows, ptr, src, coef, X, lrT, b1, b2, eps, decay = 1) {
      v(W, 'adamRowsPairs W'); v(M, 'adamRowsPairs M'); v(V, 'adamRowsPairs V'); v(gBias, 'adamRowsPairs gBias'); v(rows, 'adamRowsPairs rows');
      v(ptr, 'adamRowsPairs ptr'); v(src, 'adamRowsPairs src'); v(coef, 'adamRowsPairs coef'); v(X, 'adamRowsPairs X');
      assertRows(rows, rowsOff, nRows, Math.min(matrixRows(W, n), matrixRows(M, n), matrixRows(V, n), gBias.length), 'adamRowsPairs');
      assertPairs(ptr, src, coef, X, n, rowsOff, nRows, 'adamRowsPairs');
      k.adamRowsPairs(W, M, V, gBias, n, rows, rowsOff, nRows, ptr, src, coef, X, lrT, b1, b2, eps, decay);
    },
    sgdRows(W, G, n, rows, rowsOff, nRows, lr, decay = 1) {
      v(W, 'sgdRows W'); v(G, 'sgdRows G'); v(rows, 'sgdRows rows');
      assertRows(rows, rowsOff, nRows, Math.min(matrixRows(W, n), matrixRows(G, n)), 'sgdRows');
      k.sgdRows(W, G, n, rows, rowsOff, nRows, lr, decay);
    },
    relu(x, off, n) {
      v(x, 'relu x'); assertRange(x, off, n, 'relu x');
      k.relu(x, off, n);
    },
    softmax(x, off, n, logZ) {
      v(x, 'softmax x'); assertRange(x, off, n, 'softmax x');
      k.softmax(x, off, n, logZ);
    },
  };
}
