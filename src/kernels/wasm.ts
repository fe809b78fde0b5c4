import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Kernels } from './js.js';
import { COMPOSITE_EXPORTS, KERNEL_TABLE } from './table.js';
import { assertRange, assertValues, rowsOf, SEMANTIC_CHECKS } from './checks.js';

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

/** Raw exports of build/kernels.wasm: byte addresses, element counts and scalars. */
type KernelExports = Record<string, (...args: number[]) => number>;

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
  for (const name of kernelExportNames()) {
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
  if (options.checkViews) return checked(memory, ex);
  if (options.module === undefined) kernelsByMemory.set(memory, kernels);
  return kernels;
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
export function assertViewOf(memory: WebAssembly.Memory, arr: Float32Array | Int32Array | Uint16Array | Int16Array | Int8Array | Uint8Array | Float64Array, what = 'array'): void {
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

// ---------------------------------------------------------------------------------------------
// Wrappers and checks, produced from the kernel table (table.ts)

const ELEM_BYTES: Readonly<Record<string, number>> = { f32: 4, i32: 4, u16: 2, i16: 2, i8: 1, uint: 0, f64: 8 };

/** One parameter of a kernel line. */
interface Param {
  name: string;
  /** 'num' (passed), 'hidden' (~name: not passed), or an array type */
  kind: 'num' | 'hidden' | 'js' | 'f32' | 'i32' | 'u16' | 'i16' | 'i8' | 'uint' | 'f64';
  nullable: boolean;
  /** name of the element-offset parameter folded into the address */
  offset: string | null;
  extent: string | null;
  bound: string | null;
  dflt: string | null;
}

interface ParsedLine {
  params: Param[];
  /** the export's arguments as JavaScript expressions over the parameters */
  exportArgs: string[];
  returns: boolean;
}

const parsed = new Map<string, ParsedLine>();

/** Parse one line of the table (see table.ts for the grammar). */
export function parseKernelLine(name: string, line: string): ParsedLine {
  const cached = parsed.get(name);
  if (cached) return cached;
  const tokens = line.trim().split(/\s+/);
  const params: Param[] = [];
  const exportArgs: string[] = [];
  let returns = false;
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!;
    if (t === '->') {
      returns = true;
      i++;
      continue;
    }
    if (t.startsWith('=')) {
      exportArgs.push(`(${t.slice(1)})`);
      continue;
    }
    if (t.startsWith('~')) {
      params.push({ name: t.slice(1), kind: 'hidden', nullable: false, offset: null, extent: null, bound: null, dflt: null });
      continue;
    }
    const m = /^(\w+)(?::(f32|i32|u16|i16|i8|uint|f64|js)(\?)?(?:([+@])(\w+))?)?(?:\[([^\]]+)\])?(?:<(.+))?(?:=(.+))?$/.exec(t);
    if (!m) throw new Error(`kernel table: ${name}: cannot read ${JSON.stringify(t)}`);
    const [, pname, type, q, how, off, extent, bound, dflt] = m;
    if (!type) {
      params.push({ name: pname!, kind: 'num', nullable: false, offset: null, extent: null, bound: null, dflt: dflt ?? null });
      exportArgs.push(pname!);
      continue;
    }
    const p: Param = { name: pname!, kind: type as Param['kind'], nullable: q === '?', offset: off ?? null, extent: extent ?? null, bound: bound ?? null, dflt: null };
    params.push(p);
    if (how === '+') params.push({ name: off!, kind: 'hidden', nullable: false, offset: null, extent: null, bound: null, dflt: null });
    if (type === 'js') continue;
    const bytes = type === 'uint' ? `${pname}.BYTES_PER_ELEMENT` : String(ELEM_BYTES[type]!);
    const addr = p.offset ? `${pname}.byteOffset + ${bytes} * ${p.offset}` : `${pname}.byteOffset`;
    exportArgs.push(p.nullable ? `(${pname} === null ? 0 : ${addr})` : addr);
  }
  const r = { params, exportArgs, returns };
  parsed.set(name, r);
  return r;
}

/** The parameter list of a line as JavaScript (defaults included). */
function paramList(p: ParsedLine): string {
  return p.params.map((x) => (x.dflt !== null ? `${x.name} = ${x.dflt}` : x.name)).join(', ');
}

/** Export names the module must have: every table line's and the composite kernels' parts. */
export function kernelExportNames(): string[] {
  const out: string[] = [];
  for (const name of Object.keys(KERNEL_TABLE)) out.push(...(COMPOSITE_EXPORTS[name] ?? [name]));
  return out;
}

/** Wrappers written by hand: kernels that call more than one export (table.ts, COMPOSITE_EXPORTS). */
function composite(ex: KernelExports): Partial<Kernels> {
  return {
    softmax(x: Float32Array, off: number, n: number, logZ: Float64Array): void {
      const p = x.byteOffset + 4 * off;
      const mx = ex.vmax!(p, n);
      logZ[0] = Math.log(ex.softmaxExp!(p, n, mx)) + mx;
    },
  };
}

/**
 * The wrappers, one generated function a kernel: (arrays, element offsets) -> byte addresses.
 * Generated as source (new Function) so that each is a small monomorphic function that V8
 * inlines, as hand-written wrappers were: no argument arrays, no allocation per call.
 */
function wrap(ex: KernelExports): Kernels {
  const parts: string[] = [];
  for (const [name, line] of Object.entries(KERNEL_TABLE)) {
    if (COMPOSITE_EXPORTS[name]) continue;
    const p = parseKernelLine(name, line);
    const call = `ex.${name}(${p.exportArgs.join(', ')})`;
    parts.push(`${name}(${paramList(p)}) { ${p.returns ? 'return ' : ''}${call}; }`);
  }
  const make = new Function('ex', `'use strict'; return { name: 'wasm', ${parts.join(',\n')} };`);
  return { ...(make(ex) as object), ...composite(ex) } as Kernels;
}

/**
 * Kernels with the table's argument checks before every call: every array a view of `memory`,
 * offsets and extents inside their arrays, row ids inside their matrices, then the checks a
 * line cannot state (checks.ts).
 */
function checked(memory: WebAssembly.Memory, ex: KernelExports): Kernels {
  const fast = wrap(ex);
  const out: Record<string, unknown> = { name: fast.name };
  const helpers = { assertRange, assertValues, assertViewOf, memory };
  for (const [name, line] of Object.entries(KERNEL_TABLE)) {
    const p = parseKernelLine(name, line);
    const body: string[] = [];
    for (const x of p.params) {
      if (x.kind === 'num' || x.kind === 'hidden' || x.kind === 'js') continue;
      const what = JSON.stringify(`${name} ${x.name}`);
      const guard = (s: string) => body.push(x.nullable ? `if (${x.name} !== null) { ${s} }` : s);
      guard(`h.assertViewOf(h.memory, ${x.name}, ${what});`);
      const off = x.offset ?? '0';
      if (x.extent !== null && x.bound !== null) guard(`h.assertValues(${x.name}, ${off}, ${x.extent}, ${x.bound}, ${what});`);
      else if (x.extent !== null) guard(`h.assertRange(${x.name}, ${off}, ${x.extent}, ${what});`);
      else if (x.offset !== null) guard(`h.assertRange(${x.name}, ${off}, 0, ${what});`);
    }
    const args = p.params.map((x) => x.name).join(', ');
    // table expressions call rowsOf by name
    const fn = new Function('h', 'k', 'semantic', 'rowsOf', `'use strict'; return function ${name}(${paramList(p)}) { ${body.join(' ')} if (semantic) semantic(${args}); return k.${name}(${args}); };`);
    out[name] = fn(helpers, fast, SEMANTIC_CHECKS[name] ?? null, rowsOf);
  }
  return out as unknown as Kernels;
}
