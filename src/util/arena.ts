/**
 * One buffer, many views. All parameters, optimizer state, tables and per-thread scratch of a
 * model shard are carved out of one shared WebAssembly.Memory, so that
 *  - worker threads rebuild the very same views from the memory object (HOGWILD sharing), and
 *  - the WebAssembly SIMD kernels address the same bytes as the TypeScript twins.
 * A wasm32 memory holds at most 4 GiB; a model larger than that is split into shards, each with
 * its own arena.
 *
 * Views stay valid when the memory grows: a shared memory's buffer is never detached.
 */
export const PAGE_BYTES = 65536;
export const MAX_PAGES = 65536; // 4 GiB

export interface ArenaAllocation {
  /** byte offset of the allocation in the memory */
  byteOffset: number;
  byteLength: number;
}

export class Arena {
  readonly memory: WebAssembly.Memory;
  /** next free byte; allocations are 64-byte aligned (a cache line) */
  private top: number;

  constructor(memory?: WebAssembly.Memory, top = 64) {
    this.memory = memory ?? new WebAssembly.Memory({ initial: 1, maximum: MAX_PAGES, shared: true });
    this.top = top;
  }

  get bytesUsed(): number {
    return this.top;
  }

  /** Reserve `bytes` (64-byte aligned), growing the memory as needed. */
  alloc(bytes: number): ArenaAllocation {
    // not (top + 63) & ~63: JavaScript's bitwise operators work on int32, and offsets past 2 GiB
    // (up to the 4 GiB of a memory) would turn negative
    const start = Math.ceil(this.top / 64) * 64;
    const end = start + bytes;
    if (end > MAX_PAGES * PAGE_BYTES) {
      throw new RangeError(
        `Arena: ${(end / 2 ** 30).toFixed(2)} GiB exceeds the 4 GiB of one wasm32 memory; split the layer into more shards (option outputShards)`,
      );
    }
    const needPages = Math.ceil(end / PAGE_BYTES);
    const havePages = this.memory.buffer.byteLength / PAGE_BYTES;
    if (needPages > havePages) this.memory.grow(needPages - havePages);
    this.top = end;
    return { byteOffset: start, byteLength: bytes };
  }

  /** Mark bytes up to `end` as used (another Arena carved them from this memory). */
  reserveTo(end: number): void {
    if (end > this.top) this.top = end;
  }

  f32(n: number): Float32Array {
    const a = this.alloc(n * 4);
    return new Float32Array(this.memory.buffer, a.byteOffset, n);
  }

  i32(n: number): Int32Array {
    const a = this.alloc(n * 4);
    return new Int32Array(this.memory.buffer, a.byteOffset, n);
  }

  u8(n: number): Uint8Array {
    const a = this.alloc(n);
    return new Uint8Array(this.memory.buffer, a.byteOffset, n);
  }
}

/** Rebuild a Float32Array view of an arena allocation in another thread. */
export function viewF32(memory: WebAssembly.Memory, byteOffset: number, length: number): Float32Array {
  return new Float32Array(memory.buffer, byteOffset, length);
}

export function viewI32(memory: WebAssembly.Memory, byteOffset: number, length: number): Int32Array {
  return new Int32Array(memory.buffer, byteOffset, length);
}
