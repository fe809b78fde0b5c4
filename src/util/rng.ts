/**
 * The one seeded random generator of the engine: xoshiro128** (32-bit state words, Math.imul
 * only, so it is exact and fast in V8). Every random choice (weight init, hash functions,
 * shuffles, padding of active sets) draws from an Rng derived from the run's seed, so a
 * single-threaded run is reproducible bit for bit.
 */
export class Rng {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;
  private spareGaussian = 0;
  private hasSpare = false;

  constructor(seed: number, stream = 0) {
    this.s0 = this.s1 = this.s2 = this.s3 = 0;
    this.reseed(seed, stream);
  }

  /**
   * Restart as `new Rng(seed, stream)` would, in place (no allocation): the per-sample
   * generators of training and evaluation start from (run seed, batch, row) this way.
   */
  reseed(seed: number, stream = 0): void {
    // splitmix32 expands (seed, stream) into four non-zero state words. int32 arithmetic (| 0,
    // not >>> 0): the same bits, and values V8 never boxes (this runs for every sample)
    let x = (seed ^ Math.imul(stream + 1, 0x9e3779b9)) | 0;
    x = (x + 0x9e3779b9) | 0;
    this.s0 = splitmixOut(x);
    x = (x + 0x9e3779b9) | 0;
    this.s1 = splitmixOut(x);
    x = (x + 0x9e3779b9) | 0;
    this.s2 = splitmixOut(x);
    x = (x + 0x9e3779b9) | 0;
    this.s3 = splitmixOut(x);
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1;
    this.hasSpare = false;
    this.spareGaussian = 0;
  }

  /** Uniform 32-bit unsigned integer. */
  nextU32(): number {
    const r = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0;
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return r;
  }

  /** Uniform float in [0, 1) with 32 bits of randomness. */
  nextFloat(): number {
    return this.nextU32() / 4294967296;
  }

  /** Uniform integer in [0, n), n <= 2^32, without modulo bias. */
  nextInt(n: number): number {
    if (n <= 0) throw new RangeError(`Rng.nextInt: n must be positive, got ${n}`);
    const limit = 4294967296 - (4294967296 % n);
    let u = this.nextU32();
    while (u >= limit) u = this.nextU32();
    return u % n;
  }

  /** Standard normal sample (Box-Muller, caching the second value). */
  nextGaussian(): number {
    if (this.hasSpare) {
      this.hasSpare = false;
      return this.spareGaussian;
    }
    let u = 0;
    while (u === 0) u = this.nextFloat();
    const v = this.nextFloat();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spareGaussian = r * Math.sin(2 * Math.PI * v);
    this.hasSpare = true;
    return r * Math.cos(2 * Math.PI * v);
  }

  /** In-place Fisher-Yates shuffle of the first n entries. */
  shuffle(a: Int32Array | Uint32Array | number[], n = a.length): void {
    for (let i = n - 1; i > 0; i--) {
      const j = this.nextInt(i + 1);
      const t = a[i]!;
      a[i] = a[j]!;
      a[j] = t;
    }
  }

  /** A new independent generator for a named sub-stream (e.g. one per layer or worker). */
  fork(stream: number): Rng {
    return new Rng(this.nextU32() ^ Math.imul(stream + 0x51ed27, 0x27d4eb2d), stream);
  }

  /** Snapshot of the generator state (for checkpoints). */
  getState(): Uint32Array {
    return Uint32Array.of(this.s0 >>> 0, this.s1 >>> 0, this.s2 >>> 0, this.s3 >>> 0, this.hasSpare ? 1 : 0, floatBits(this.spareGaussian)[0]!, floatBits(this.spareGaussian)[1]!);
  }

  setState(s: Uint32Array): void {
    if (s.length !== 7) throw new RangeError(`Rng.setState: expected 7 words, got ${s.length}`);
    this.s0 = s[0]! | 0;
    this.s1 = s[1]! | 0;
    this.s2 = s[2]! | 0;
    this.s3 = s[3]! | 0;
    this.hasSpare = s[4] === 1;
    const f = new Float64Array(new Uint32Array([s[5]!, s[6]!]).buffer);
    this.spareGaussian = f[0]!;
  }
}

/** The splitmix32 output of state x, as an int32 (the state words are only used as bit patterns; int32 stays unboxed in V8). */
function splitmixOut(x: number): number {
  let z = x;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return z ^ (z >>> 16);
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

function floatBits(x: number): Uint32Array {
  return new Uint32Array(new Float64Array([x]).buffer);
}

/** 32-bit integer mix (murmur3 finalizer): used to spread hash codes over buckets. */
export function mix32(h: number): number {
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}
