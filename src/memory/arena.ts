/**
 * One buffer, many views. All parameters, optimizer state, hash tables and per-thread scratch of
 * a model shard live in one shared WebAssembly.Memory, so that
 *  - worker threads bind the very same views from the memory object (shared without locks; the
 *    phases give each thread its own rows or slots to write), and
 *  - the WebAssembly SIMD kernels address the same bytes as the TypeScript twins.
 * What goes where is declared once (layout.ts); the arena carves a declaration into the memory.
 * A wasm32 memory holds at most 4 GiB; a larger model splits its output layer over several
 * memories (config outputShards), each with its own arena.
 *
 * Views stay valid when the memory grows: a shared memory's buffer is never detached.
 */
import { BoundViews, place, type BlockDecl, type Placement } from './layout.js';

export const PAGE_BYTES = 65536;
export const MAX_PAGES = 65536; // 4 GiB
export const MAX_MEMORY_BYTES = MAX_PAGES * PAGE_BYTES;

export class Arena {
  readonly memory: WebAssembly.Memory;
  /** next free byte */
  private top: number;

  /** A fresh shared memory, or (a worker) the memory another thread made. Byte 0 is never handed out: address 0 means "no array" to the kernels. */
  constructor(memory?: WebAssembly.Memory, top = 64) {
    this.memory = memory ?? new WebAssembly.Memory({ initial: 1, maximum: MAX_PAGES, shared: true });
    this.top = top;
  }

  get bytesUsed(): number {
    return this.top;
  }

  /** Place `blocks` after everything carved so far, grow the memory to hold them, bind their views. */
  carve(blocks: readonly BlockDecl[]): BoundViews {
    const p = place(blocks, this.top);
    this.reserve(p.end);
    this.top = p.end;
    return new BoundViews(this.memory, p);
  }

  /** Bind views another thread placed in this memory (the memory already holds them). */
  bind(p: Placement): BoundViews {
    if (p.end > this.memory.buffer.byteLength) throw new RangeError(`Arena.bind: the placement ends at byte ${p.end}, the memory holds ${this.memory.buffer.byteLength}`);
    if (p.end > this.top) this.top = p.end;
    return new BoundViews(this.memory, p);
  }

  /** Forget everything carved past byte `top` (a run's area carved again for other sizes). */
  releaseTo(top: number): void {
    if (top > this.top) throw new RangeError(`Arena.releaseTo: ${top} is past the top ${this.top}`);
    this.top = top;
  }

  private reserve(end: number): void {
    if (end > MAX_MEMORY_BYTES) {
      throw new RangeError(`Arena: ${(end / 2 ** 30).toFixed(2)} GiB exceeds the 4 GiB of one wasm32 memory; split the output layer over more memories (option outputShards)`);
    }
    const need = Math.ceil(end / PAGE_BYTES);
    const have = this.memory.buffer.byteLength / PAGE_BYTES;
    if (need > have) this.memory.grow(need - have);
  }

  /** Reserve `bytes` for an unnamed array (tests, benchmarks), 64-byte aligned; returns its byte offset. */
  alloc(bytes: number): number {
    const start = Math.ceil(this.top / 64) * 64;
    this.reserve(start + bytes);
    this.top = start + bytes;
    return start;
  }

  f32(n: number): Float32Array {
    const at = this.alloc(n * 4); // first: it may grow the memory (a new buffer object)
    return new Float32Array(this.memory.buffer, at, n);
  }

  i32(n: number): Int32Array {
    const at = this.alloc(n * 4);
    return new Int32Array(this.memory.buffer, at, n);
  }

  u16(n: number): Uint16Array {
    const at = this.alloc(n * 2);
    return new Uint16Array(this.memory.buffer, at, n);
  }
}
