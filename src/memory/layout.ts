/**
 * The memory layout, declared once.
 *
 * Every block of shared state (a parameter block with its optimizer state, a layer's hash tables,
 * the deferred-gradient slots of a batch, a thread's scratch) declares its views here: a name, an
 * element type and a shape. Nothing else decides where bytes go:
 *  - the arena carves a memory from the declaration (`Arena.carve`), in declaration order, 64-byte
 *    aligned, and records where each view went (a `Placement`);
 *  - a worker thread (or, later, a process holding one output shard) builds the same declaration
 *    from the same configuration, checks it against the placement it was sent (names, types,
 *    shapes and offsets, view by view) and binds views to the same bytes (`bindPlacement`);
 *  - checkpoints save and load the views marked `persist` under their names (the state dict).
 *
 * Names are `block.view`; a block's name says where it sits in the model (`input`, `fc.1`,
 * `fc.1.shard2`, `fc.1.tables`, `run.thread0`, ...).
 */
import { ConfigError } from '../util/errors.js';

export type DType = 'f32' | 'i32' | 'u16' | 'i16' | 'i8' | 'f64';

export const DTYPE_BYTES: Readonly<Record<DType, number>> = { f32: 4, i32: 4, u16: 2, i16: 2, i8: 1, f64: 8 };

export interface ViewDecl {
  /** the block's name and the view's, joined by '.' */
  readonly name: string;
  readonly dtype: DType;
  readonly shape: readonly number[];
  /** part of the model's state: saved in checkpoints and loaded back */
  readonly persist: boolean;
}

export type TypedView = Float32Array | Int32Array | Uint16Array | Int16Array | Int8Array | Float64Array;

/** One component's views, in the order it declares them. */
export class BlockDecl {
  readonly views: ViewDecl[] = [];

  constructor(readonly name: string) {}

  /** Declare a view `name` of `shape`; `persist`: part of the saved model state. */
  add(view: string, dtype: DType, shape: readonly number[], persist = false): this {
    for (const d of shape) {
      if (!Number.isSafeInteger(d) || d < 0) throw new ConfigError(`layout: view ${this.name}.${view} has an invalid dimension ${d} in [${shape.join(', ')}]`);
    }
    this.views.push({ name: `${this.name}.${view}`, dtype, shape: shape.slice(), persist });
    return this;
  }

  f32(view: string, shape: readonly number[], persist = false): this {
    return this.add(view, 'f32', shape, persist);
  }

  i32(view: string, shape: readonly number[], persist = false): this {
    return this.add(view, 'i32', shape, persist);
  }

  u16(view: string, shape: readonly number[], persist = false): this {
    return this.add(view, 'u16', shape, persist);
  }

  i16(view: string, shape: readonly number[], persist = false): this {
    return this.add(view, 'i16', shape, persist);
  }

  i8(view: string, shape: readonly number[], persist = false): this {
    return this.add(view, 'i8', shape, persist);
  }

  f64(view: string, shape: readonly number[], persist = false): this {
    return this.add(view, 'f64', shape, persist);
  }
}

export function elementsOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function bytesOf(v: ViewDecl): number {
  return elementsOf(v.shape) * DTYPE_BYTES[v.dtype];
}

/** A view and the byte offset the arena gave it. Structured-clone safe (sent to workers). */
export interface PlacedView extends ViewDecl {
  readonly offset: number;
}

/** Where a declaration went in one memory: the views in order and the first free byte after them. */
export interface Placement {
  readonly views: readonly PlacedView[];
  readonly start: number;
  readonly end: number;
}

/** Cache-line alignment of every view. */
export const VIEW_ALIGN = 64;

/**
 * Offsets for `blocks` laid out from byte `start`: each view 64-byte aligned, in declaration
 * order. A pure function of the declaration, so two threads that declare the same blocks from
 * the same start agree on every offset.
 */
export function place(blocks: readonly BlockDecl[], start: number): Placement {
  const views: PlacedView[] = [];
  let top = start;
  const seen = new Set<string>();
  for (const b of blocks) {
    for (const v of b.views) {
      if (seen.has(v.name)) throw new Error(`layout: view ${v.name} is declared twice`);
      seen.add(v.name);
      // not (top + 63) & ~63: JavaScript's bitwise operators are int32 and offsets reach 4 GiB
      const offset = Math.ceil(top / VIEW_ALIGN) * VIEW_ALIGN;
      views.push({ ...v, offset });
      top = offset + bytesOf(v);
    }
  }
  return { views, start, end: top };
}

/** Bytes a declaration needs from `start` (what `place` would end at), without placing anything. */
export function layoutBytes(blocks: readonly BlockDecl[], start = 0): number {
  return place(blocks, start).end - start;
}

/**
 * Throws unless `mine` (what this thread declared) is exactly `theirs` (what the owner placed):
 * same views in the same order with the same types, shapes and offsets. The message names the
 * first difference, which is where two builds of the layout went apart.
 */
export function checkSamePlacement(mine: Placement, theirs: Placement, what: string): void {
  const a = mine.views;
  const b = theirs.views;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (x.name !== y.name || x.dtype !== y.dtype || x.offset !== y.offset || x.shape.join() !== y.shape.join()) {
      throw new Error(
        `${what}: layout mismatch at view ${i}: here ${x.name} ${x.dtype} [${x.shape.join(', ')}] at byte ${x.offset}, ` +
          `the owner's ${y.name} ${y.dtype} [${y.shape.join(', ')}] at byte ${y.offset}`,
      );
    }
  }
  if (a.length !== b.length || mine.end !== theirs.end || mine.start !== theirs.start) {
    throw new Error(`${what}: layout mismatch: ${a.length} views ending at byte ${mine.end} here, ${b.length} ending at byte ${theirs.end} at the owner`);
  }
}

/** The typed-array class of each element type. */
const VIEW_CTOR = {
  f32: Float32Array, i32: Int32Array, u16: Uint16Array, i16: Int16Array, i8: Int8Array, f64: Float64Array,
} as const satisfies Record<DType, new (buf: ArrayBufferLike, offset: number, n: number) => TypedView>;

/** Typed views over one memory, by full name. */
export class BoundViews {
  private readonly map = new Map<string, TypedView>();

  constructor(
    readonly memory: WebAssembly.Memory,
    readonly placement: Placement,
  ) {
    const buf = memory.buffer;
    for (const v of placement.views) {
      const n = elementsOf(v.shape);
      this.map.set(v.name, new VIEW_CTOR[v.dtype](buf, v.offset, n));
    }
  }

  has(name: string): boolean {
    return this.map.has(name);
  }

  private get(name: string): TypedView {
    const v = this.map.get(name);
    if (v === undefined) throw new Error(`layout: no view named ${name}`);
    return v;
  }

  /** The view `name`, which must have been declared with `dtype`. */
  private typed<D extends DType>(name: string, dtype: D): InstanceType<(typeof VIEW_CTOR)[D]> {
    const v = this.get(name);
    if (!(v instanceof VIEW_CTOR[dtype])) throw new Error(`layout: view ${name} is not ${dtype}`);
    return v as InstanceType<(typeof VIEW_CTOR)[D]>;
  }

  f32(name: string): Float32Array {
    return this.typed(name, 'f32');
  }

  i32(name: string): Int32Array {
    return this.typed(name, 'i32');
  }

  u16(name: string): Uint16Array {
    return this.typed(name, 'u16');
  }

  i16(name: string): Int16Array {
    return this.typed(name, 'i16');
  }

  i8(name: string): Int8Array {
    return this.typed(name, 'i8');
  }

  f64(name: string): Float64Array {
    return this.typed(name, 'f64');
  }

  /** The views of one block, addressed by their short names. */
  block(name: string): BlockViews {
    return new BlockViews(this, name);
  }

  /** Every persistent view (the state dict of this memory), in placement order. */
  persistent(): { decl: PlacedView; data: TypedView }[] {
    return this.placement.views.filter((v) => v.persist).map((decl) => ({ decl, data: this.get(decl.name) }));
  }
}

/** One block's views by their short names (`W`, not `fc.1.W`). */
export class BlockViews {
  constructor(
    private readonly all: BoundViews,
    readonly name: string,
  ) {}

  f32(view: string): Float32Array {
    return this.all.f32(`${this.name}.${view}`);
  }

  i32(view: string): Int32Array {
    return this.all.i32(`${this.name}.${view}`);
  }

  u16(view: string): Uint16Array {
    return this.all.u16(`${this.name}.${view}`);
  }

  i16(view: string): Int16Array {
    return this.all.i16(`${this.name}.${view}`);
  }

  i8(view: string): Int8Array {
    return this.all.i8(`${this.name}.${view}`);
  }

  f64(view: string): Float64Array {
    return this.all.f64(`${this.name}.${view}`);
  }

  has(view: string): boolean {
    return this.all.has(`${this.name}.${view}`);
  }

  get memory(): WebAssembly.Memory {
    return this.all.memory;
  }
}
