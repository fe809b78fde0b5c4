// WebAssembly SIMD twins of the kernels in src/kernels/js.ts (semantics: src/kernels/types.ts).
//
// Build (scripts/build-wasm.mjs):
//   asc assembly/kernels.ts -o build/kernels.wasm --enable simd --enable threads --importMemory
//       --sharedMemory --maximumMemory 65536 -O3 --noAssert --runtime stub
//
// Conventions.
//  - Every pointer is a byte address in the imported (shared) memory; it only needs 4-byte
//    alignment (v128 loads and stores accept any alignment). Lengths are element counts of any
//    value (not only multiples of 4): each loop has a SIMD body and a scalar tail.
//  - Arithmetic is float32 throughout (the JS twin accumulates in float64, so results agree to
//    float32 rounding, not bit for bit), except the softmax normaliser, summed in float64.
//  - Nothing here allocates, and the module has NO data segment and no start function: it must
//    never write to the memory it imports at instantiation (that memory is a model arena).
//    That is why `Mathf.exp` (which reads lookup tables stored in linear memory) is not used:
//    `expv` below is a polynomial exp computed in registers.
//  - Plain loads and stores: concurrent calls on shared rows race benignly (HOGWILD).
//  - Row kernels read the rows of the next group ahead of use (see "Software prefetch"); those
//    extra reads stay inside the rows named by the call, so row ids must be valid (as in JS).

// ---------------------------------------------------------------------------------------------
// helpers

// @ts-ignore: decorator
@inline function hsum(v: v128): f32 {
  return (f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 2)) +
    (f32x4.extract_lane(v, 1) + f32x4.extract_lane(v, 3));
}

/** sum_i a[i] * b[i], 4 independent accumulators over 16 floats a step, then 4 a step, then scalar. */
// @ts-ignore: decorator
@inline function dotImpl(a: usize, b: usize, n: i32): f32 {
  let s0 = f32x4.splat(0);
  let s1 = f32x4.splat(0);
  let s2 = f32x4.splat(0);
  let s3 = f32x4.splat(0);
  let i: i32 = 0;
  for (; i + 16 <= n; i += 16) {
    s0 = f32x4.add(s0, f32x4.mul(v128.load(a, 0, 4), v128.load(b, 0, 4)));
    s1 = f32x4.add(s1, f32x4.mul(v128.load(a, 16, 4), v128.load(b, 16, 4)));
    s2 = f32x4.add(s2, f32x4.mul(v128.load(a, 32, 4), v128.load(b, 32, 4)));
    s3 = f32x4.add(s3, f32x4.mul(v128.load(a, 48, 4), v128.load(b, 48, 4)));
    a += 64;
    b += 64;
  }
  for (; i + 4 <= n; i += 4) {
    s0 = f32x4.add(s0, f32x4.mul(v128.load(a, 0, 4), v128.load(b, 0, 4)));
    a += 16;
    b += 16;
  }
  let s = hsum(f32x4.add(f32x4.add(s0, s1), f32x4.add(s2, s3)));
  for (; i < n; i++) {
    s += load<f32>(a) * load<f32>(b);
    a += 4;
    b += 4;
  }
  return s;
}

/** y[i] += alpha * x[i] */
// @ts-ignore: decorator
@inline function axpyImpl(alpha: f32, x: usize, y: usize, n: i32): void {
  const av = f32x4.splat(alpha);
  let i: i32 = 0;
  for (; i + 8 <= n; i += 8) {
    v128.store(y, f32x4.add(v128.load(y, 0, 4), f32x4.mul(av, v128.load(x, 0, 4))), 0, 4);
    v128.store(y, f32x4.add(v128.load(y, 16, 4), f32x4.mul(av, v128.load(x, 16, 4))), 16, 4);
    x += 32;
    y += 32;
  }
  for (; i + 4 <= n; i += 4) {
    v128.store(y, f32x4.add(v128.load(y, 0, 4), f32x4.mul(av, v128.load(x, 0, 4))), 0, 4);
    x += 16;
    y += 16;
  }
  for (; i < n; i++) {
    store<f32>(y, load<f32>(y) + alpha * load<f32>(x));
    x += 4;
    y += 4;
  }
}

// Software prefetch. Random rows of a big matrix come from DRAM, and one row's dot product is
// enough work to fill the out-of-order window, so row-at-a-time code has about one row in
// flight (measured here: ~7.5 M rows/s for 128-float rows). WebAssembly has no prefetch
// instruction; instead each row loop runs in groups of rows: first touch (one dropped load per
// 64-byte line) every row of the NEXT group, all independent loads, then compute the current
// group, whose lines were touched one group earlier (~15 M rows/s; touching bias[r] as well
// matters: it is one more random miss a row). A group spans about PF_BYTES bytes of rows over
// all the matrices a kernel streams (W, or W M V G for Adam); 4-16 KiB measured alike.
// @ts-ignore: decorator
@inline const PF_BYTES: i32 = 8192;
// @ts-ignore: decorator
@inline const PF_MAX_ROWS: i32 = 16;

/** Rows per prefetch group when each row streams `bytesPerRow` bytes (all matrices together). */
// @ts-ignore: decorator
@inline function groupRows(bytesPerRow: i32): i32 {
  return bytesPerRow <= 0 ? PF_MAX_ROWS : max(1, min(PF_MAX_ROWS, PF_BYTES / bytesPerRow));
}

/** Start loading the cache lines of [p, p + bytes): one load per 64-byte line, value dropped. */
// @ts-ignore: decorator
@inline function touch(p: usize, bytes: usize): void {
  if (bytes == 0) return;
  const last = p + bytes - 1;
  for (; p < last; p += 64) load<u8>(p);
  load<u8>(last);
}

/** byte offset of row rows[i] of a (_, n) float32 matrix */
// @ts-ignore: decorator
@inline function rowOff(rows: usize, i: i32, n: i32): usize {
  return (<usize>load<i32>(rows + (<usize>i << 2)) * <usize>n) << 2;
}

/** byte address of row r of a (rows, n) float32 matrix at base */
// @ts-ignore: decorator
@inline function rowAddr(base: usize, r: i32, n: i32): usize {
  return base + ((<usize>r * <usize>n) << 2);
}

// ---------------------------------------------------------------------------------------------
// kernels

/** sum_i a[i] * b[i], i < n */
export function dot(a: usize, b: usize, n: i32): f32 {
  return dotImpl(a, b, n);
}

/** y[i] += alpha * x[i], i < n */
export function axpy(alpha: f32, x: usize, y: usize, n: i32): void {
  axpyImpl(alpha, x, y, n);
}

/** out[i] = bias[r] + dot(W[r*n ..), x), r = rows[i], i < nRows */
export function dotRows(
  W: usize, bias: usize, n: i32,
  rows: usize, nRows: i32,
  x: usize, out: usize,
): void {
  const rowBytes = <usize>n << 2;
  const group = groupRows(n << 2);
  // the first pass only touches group 0
  for (let g: i32 = -group; g < nRows; g += group) {
    const gEnd = min(g + group, nRows);
    const nEnd = min(gEnd + group, nRows);
    for (let j = gEnd; j < nEnd; j++) {
      const r = load<i32>(rows + (<usize>j << 2));
      touch(rowAddr(W, r, n), rowBytes);
      load<u8>(bias + (<usize>r << 2)); // a random bias read is one more miss a row
    }
    for (let i = max(g, 0); i < gEnd; i++) {
      const r = load<i32>(rows + (<usize>i << 2));
      store<f32>(out + (<usize>i << 2), dotImpl(rowAddr(W, r, n), x, n) + load<f32>(bias + (<usize>r << 2)));
    }
  }
}

/**
 * 8-bit copies of rows [r0, r1) of W (_, n): scale[r] = max|W[r,k]| / 127, Q[r,k] = W[r,k] /
 * scale[r] rounded half to even, qL1[r] = sum |Q[r,k]| (a row of zeros: scale 0, zeros). Four
 * values a step: divide, round, saturate to int32, narrow to int16 then int8 (|q| <= 127 needs no
 * clamp beyond the narrowing's saturation).
 */
export function quantizeRows(W: usize, n: i32, r0: i32, r1: i32, Q: usize, scale: usize, qL1: usize): void {
  const n4 = n & ~3;
  for (let r = r0; r < r1; r++) {
    const w = rowAddr(W, r, n);
    const q = Q + <usize>r * <usize>n;
    let mv = f32x4.splat(0);
    let k: i32 = 0;
    for (; k < n4; k += 4) mv = f32x4.max(mv, f32x4.abs(v128.load(w + (<usize>k << 2))));
    let mx: f32 = max(max(f32x4.extract_lane(mv, 0), f32x4.extract_lane(mv, 1)), max(f32x4.extract_lane(mv, 2), f32x4.extract_lane(mv, 3)));
    for (; k < n; k++) mx = max(mx, abs<f32>(load<f32>(w + (<usize>k << 2))));
    const sc: f32 = mx / 127;
    let l1: i32 = 0;
    if (sc == 0) {
      memory.fill(q, 0, <usize>n);
    } else {
      const sv = f32x4.splat(sc);
      let acc = i32x4.splat(0);
      for (k = 0; k < n4; k += 4) {
        const v = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.div(v128.load(w + (<usize>k << 2)), sv)));
        acc = i32x4.add(acc, i32x4.abs(v));
        const h = i16x8.narrow_i32x4_s(v, v);
        const b = i8x16.narrow_i16x8_s(h, h);
        store<i32>(q + <usize>k, i32x4.extract_lane(b, 0));
      }
      l1 = i32x4.extract_lane(acc, 0) + i32x4.extract_lane(acc, 1) + i32x4.extract_lane(acc, 2) + i32x4.extract_lane(acc, 3);
      for (; k < n; k++) {
        const v = <i32>nearest<f32>(load<f32>(w + (<usize>k << 2)) / sc);
        store<i8>(q + <usize>k, <i8>v);
        l1 += abs<i32>(v);
      }
    }
    store<f32>(scale + (<usize>r << 2), sc);
    store<i32>(qL1 + (<usize>r << 2), l1);
  }
}

/**
 * A query's 16-bit copy for scoreRowsQ8 and its bound's coefficients (src/kernels/js.ts
 * quantizeQuery; equal bit for bit: the same float64 steps in the same order). Returns 0 (nothing
 * written) for a query of no nonzero or a non-finite value.
 */
export function quantizeQuery(x: usize, nIn: i32, xq: usize, out: usize): i32 {
  let mx: f64 = 0;
  let l1: f64 = 0;
  for (let i: i32 = 0; i < nIn; i++) {
    const a = abs<f64>(<f64>load<f32>(x + (<usize>i << 2)));
    if (a > mx) mx = a;
    l1 += a;
  }
  if (!(mx > 0 && l1 < Infinity)) return 0;
  const qmax: f64 = min<f64>(32767, floor(<f64>0x7fffffff / <f64>(127 * nIn)));
  const xs: f64 = <f64><f32>(mx / qmax);
  for (let i: i32 = 0; i < nIn; i++) {
    const q = max<f64>(-qmax, min<f64>(qmax, nearest<f64>(<f64>load<f32>(x + (<usize>i << 2)) / xs)));
    store<i16>(xq + (<usize>i << 1), <i16><i32>q);
  }
  const slack: f64 = 1 + 1.0 / 256;
  const fp: f64 = <f64>(nIn + 8) * (1.0 / 4194304);
  store<f64>(out, xs);
  store<f64>(out, 0.5 * slack * l1 + fp * 128 * (l1 + <f64>nIn * xs), 8);
  store<f64>(out, 0.5 * slack * xs, 16);
  store<f64>(out, fp, 24);
  return 1;
}

/**
 * Bounds on the logits of rows rows[0 .. nRows) from their 8-bit copies (quantizeRows) and a
 * 16-bit query xq (n) of scale xs, written to lo / hi (the TypeScript twin in js.ts states the
 * formula; every step here is the same float32 operation in the same order). The integer dot
 * product: 8 values a step, the row's bytes widened to int16 and multiplied pairwise into int32
 * lanes (dot_i16x8_s); the caller keeps |d| below 2^31. A quarter of dotRows' bytes a row, and
 * the rows are prefetched a group ahead the same way.
 */
export function scoreRowsQ8(
  Q: usize, scale: usize, qL1: usize, bias: usize, n: i32,
  rows: usize, nRows: i32,
  xq: usize, xs: f32, A: f32, B: f32, C: f32, lo: usize, hi: usize,
): void {
  const n8 = n & ~7;
  const group = groupRows(n);
  for (let g: i32 = -group; g < nRows; g += group) {
    const gEnd = min(g + group, nRows);
    const nEnd = min(gEnd + group, nRows);
    for (let j = gEnd; j < nEnd; j++) {
      const r = load<i32>(rows + (<usize>j << 2));
      touch(Q + <usize>r * <usize>n, <usize>n);
      load<u8>(scale + (<usize>r << 2));
      load<u8>(bias + (<usize>r << 2));
    }
    let i = max(g, 0);
    // two rows a step share the query's loads
    for (; i + 2 <= gEnd; i += 2) {
      const r0 = load<i32>(rows + (<usize>i << 2));
      const r1 = load<i32>(rows + (<usize>i << 2), 4);
      let p0 = Q + <usize>r0 * <usize>n;
      let p1 = Q + <usize>r1 * <usize>n;
      let px = xq;
      const pEnd = p0 + <usize>n8;
      let a0 = i32x4.splat(0);
      let a1 = i32x4.splat(0);
      let b0 = i32x4.splat(0);
      let b1 = i32x4.splat(0);
      for (; p0 + 16 <= pEnd; p0 += 16, p1 += 16, px += 32) {
        const x0 = v128.load(px);
        const x1 = v128.load(px, 16);
        a0 = i32x4.add(a0, i32x4.dot_i16x8_s(v128.load8x8_s(p0), x0));
        b0 = i32x4.add(b0, i32x4.dot_i16x8_s(v128.load8x8_s(p1), x0));
        a1 = i32x4.add(a1, i32x4.dot_i16x8_s(v128.load8x8_s(p0, 8), x1));
        b1 = i32x4.add(b1, i32x4.dot_i16x8_s(v128.load8x8_s(p1, 8), x1));
      }
      if (p0 < pEnd) {
        const x0 = v128.load(px);
        a0 = i32x4.add(a0, i32x4.dot_i16x8_s(v128.load8x8_s(p0), x0));
        b0 = i32x4.add(b0, i32x4.dot_i16x8_s(v128.load8x8_s(p1), x0));
      }
      a0 = i32x4.add(a0, a1);
      b0 = i32x4.add(b0, b1);
      let d0: i32 = i32x4.extract_lane(a0, 0) + i32x4.extract_lane(a0, 1) + i32x4.extract_lane(a0, 2) + i32x4.extract_lane(a0, 3);
      let d1: i32 = i32x4.extract_lane(b0, 0) + i32x4.extract_lane(b0, 1) + i32x4.extract_lane(b0, 2) + i32x4.extract_lane(b0, 3);
      const q0 = Q + <usize>r0 * <usize>n;
      const q1 = Q + <usize>r1 * <usize>n;
      for (let k = n8; k < n; k++) {
        const xk = <i32>load<i16>(xq + (<usize>k << 1));
        d0 += <i32>load<i8>(q0 + <usize>k) * xk;
        d1 += <i32>load<i8>(q1 + <usize>k) * xk;
      }
      boundRow(d0, r0, i, scale, qL1, bias, xs, A, B, C, lo, hi);
      boundRow(d1, r1, i + 1, scale, qL1, bias, xs, A, B, C, lo, hi);
    }
    for (; i < gEnd; i++) {
      const r = load<i32>(rows + (<usize>i << 2));
      const q = Q + <usize>r * <usize>n;
      let a0 = i32x4.splat(0);
      let k: i32 = 0;
      for (; k < n8; k += 8) a0 = i32x4.add(a0, i32x4.dot_i16x8_s(v128.load8x8_s(q + <usize>k), v128.load(xq + (<usize>k << 1))));
      let d: i32 = i32x4.extract_lane(a0, 0) + i32x4.extract_lane(a0, 1) + i32x4.extract_lane(a0, 2) + i32x4.extract_lane(a0, 3);
      for (; k < n; k++) d += <i32>load<i8>(q + <usize>k) * <i32>load<i16>(xq + (<usize>k << 1));
      boundRow(d, r, i, scale, qL1, bias, xs, A, B, C, lo, hi);
    }
  }
}

/**
 * scoreRowsQ8 for four queries over the contiguous rows [r0, r1) (js.ts states the layout): each
 * row's bytes are widened 32 at a time into four int16 vectors, kept in registers while the four
 * queries' products accumulate, so exact inference reads every row once for four queries.
 */
export function scoreRowsQ8x4(
  Q: usize, scale: usize, qL1: usize, bias: usize, n: i32, r0: i32, r1: i32,
  xq: usize, prm: usize, lo: usize, hi: usize, stride: i32,
): void {
  const n32 = n & ~31;
  const x1 = xq + (<usize>n << 1);
  const x2 = x1 + (<usize>n << 1);
  const x3 = x2 + (<usize>n << 1);
  const loStride = <usize>stride << 2;
  for (let r = r0; r < r1; r++) {
    const q = Q + <usize>r * <usize>n;
    let a0 = i32x4.splat(0);
    let a1 = i32x4.splat(0);
    let a2 = i32x4.splat(0);
    let a3 = i32x4.splat(0);
    let k: i32 = 0;
    for (; k < n32; k += 32) {
      const w0 = v128.load8x8_s(q + <usize>k);
      const w1 = v128.load8x8_s(q + <usize>k, 8);
      const w2 = v128.load8x8_s(q + <usize>k, 16);
      const w3 = v128.load8x8_s(q + <usize>k, 24);
      const o = <usize>k << 1;
      a0 = i32x4.add(a0, i32x4.add(i32x4.add(i32x4.dot_i16x8_s(w0, v128.load(xq + o)), i32x4.dot_i16x8_s(w1, v128.load(xq + o, 16))), i32x4.add(i32x4.dot_i16x8_s(w2, v128.load(xq + o, 32)), i32x4.dot_i16x8_s(w3, v128.load(xq + o, 48)))));
      a1 = i32x4.add(a1, i32x4.add(i32x4.add(i32x4.dot_i16x8_s(w0, v128.load(x1 + o)), i32x4.dot_i16x8_s(w1, v128.load(x1 + o, 16))), i32x4.add(i32x4.dot_i16x8_s(w2, v128.load(x1 + o, 32)), i32x4.dot_i16x8_s(w3, v128.load(x1 + o, 48)))));
      a2 = i32x4.add(a2, i32x4.add(i32x4.add(i32x4.dot_i16x8_s(w0, v128.load(x2 + o)), i32x4.dot_i16x8_s(w1, v128.load(x2 + o, 16))), i32x4.add(i32x4.dot_i16x8_s(w2, v128.load(x2 + o, 32)), i32x4.dot_i16x8_s(w3, v128.load(x2 + o, 48)))));
      a3 = i32x4.add(a3, i32x4.add(i32x4.add(i32x4.dot_i16x8_s(w0, v128.load(x3 + o)), i32x4.dot_i16x8_s(w1, v128.load(x3 + o, 16))), i32x4.add(i32x4.dot_i16x8_s(w2, v128.load(x3 + o, 32)), i32x4.dot_i16x8_s(w3, v128.load(x3 + o, 48)))));
    }
    let d0: i32 = i32x4.extract_lane(a0, 0) + i32x4.extract_lane(a0, 1) + i32x4.extract_lane(a0, 2) + i32x4.extract_lane(a0, 3);
    let d1: i32 = i32x4.extract_lane(a1, 0) + i32x4.extract_lane(a1, 1) + i32x4.extract_lane(a1, 2) + i32x4.extract_lane(a1, 3);
    let d2: i32 = i32x4.extract_lane(a2, 0) + i32x4.extract_lane(a2, 1) + i32x4.extract_lane(a2, 2) + i32x4.extract_lane(a2, 3);
    let d3: i32 = i32x4.extract_lane(a3, 0) + i32x4.extract_lane(a3, 1) + i32x4.extract_lane(a3, 2) + i32x4.extract_lane(a3, 3);
    for (; k < n; k++) {
      const w = <i32>load<i8>(q + <usize>k);
      const o = <usize>k << 1;
      d0 += w * <i32>load<i16>(xq + o);
      d1 += w * <i32>load<i16>(x1 + o);
      d2 += w * <i32>load<i16>(x2 + o);
      d3 += w * <i32>load<i16>(x3 + o);
    }
    const off = <usize>r << 2;
    boundQuery(d0, r, prm, scale, qL1, bias, lo + off, hi + off);
    boundQuery(d1, r, prm + 16, scale, qL1, bias, lo + off + loStride, hi + off + loStride);
    boundQuery(d2, r, prm + 32, scale, qL1, bias, lo + off + 2 * loStride, hi + off + 2 * loStride);
    boundQuery(d3, r, prm + 48, scale, qL1, bias, lo + off + 3 * loStride, hi + off + 3 * loStride);
  }
}

/** boundRow for one query of scoreRowsQ8x4: its xs, A, B, C at p[0 .. 4), the bounds to *lo and *hi. */
// @ts-ignore: decorator
@inline function boundQuery(d: i32, r: i32, p: usize, scale: usize, qL1: usize, bias: usize, lo: usize, hi: usize): void {
  const s = load<f32>(scale + (<usize>r << 2));
  const b = load<f32>(bias + (<usize>r << 2));
  const a: f32 = <f32>d * (load<f32>(p) * s) + b;
  const e: f32 = s * (load<f32>(p, 4) + load<f32>(p, 8) * <f32>load<i32>(qL1 + (<usize>r << 2))) + load<f32>(p, 12) * abs<f32>(b);
  store<f32>(lo, a - e);
  store<f32>(hi, a + e);
}

/** lo[i] / hi[i] of row r from its integer dot product d (scoreRowsQ8's float32 steps, in the twin's order). */
// @ts-ignore: decorator
@inline function boundRow(d: i32, r: i32, i: i32, scale: usize, qL1: usize, bias: usize, xs: f32, A: f32, B: f32, C: f32, lo: usize, hi: usize): void {
  const s = load<f32>(scale + (<usize>r << 2));
  const b = load<f32>(bias + (<usize>r << 2));
  const a: f32 = <f32>d * (xs * s) + b;
  const e: f32 = s * (A + B * <f32>load<i32>(qL1 + (<usize>r << 2))) + C * abs<f32>(b);
  store<f32>(lo + (<usize>i << 2), a - e);
  store<f32>(hi + (<usize>i << 2), a + e);
}

/**
 * The candidates that can be in the top K of logits bounded by [lo[j], hi[j]] (scoreRowsQ8):
 * theta = the K-th largest lo (an insertion list in tmp, K floats), then act[j] for every j with
 * hi[j] >= theta, in order, into sel; returns how many. Four upper bounds compared at a time:
 * most are below theta (WordNet: ~6 of 1,000 candidates are kept).
 */
export function rankCut(lo: usize, hi: usize, n: i32, K: i32, act: usize, sel: usize, tmp: usize): i32 {
  let m: i32 = 0;
  for (let j: i32 = 0; j < n; j++) {
    const v = load<f32>(lo + (<usize>j << 2));
    if (m == K && !(v > load<f32>(tmp + (<usize>(K - 1) << 2)))) continue;
    let p = m < K ? m++ : K - 1;
    for (; p > 0 && load<f32>(tmp + (<usize>(p - 1) << 2)) < v; p--) store<f32>(tmp + (<usize>p << 2), load<f32>(tmp + (<usize>(p - 1) << 2)));
    store<f32>(tmp + (<usize>p << 2), v);
  }
  const theta = load<f32>(tmp + (<usize>(K - 1) << 2));
  const tv = f32x4.splat(theta);
  let r: i32 = 0;
  let j: i32 = 0;
  for (; j + 4 <= n; j += 4) {
    let bits = i32x4.bitmask(f32x4.ge(v128.load(hi + (<usize>j << 2)), tv));
    while (bits != 0) {
      const i = j + ctz(bits);
      bits &= bits - 1;
      store<i32>(sel + (<usize>r << 2), load<i32>(act + (<usize>i << 2)));
      r++;
    }
  }
  for (; j < n; j++) {
    if (load<f32>(hi + (<usize>j << 2)) >= theta) {
      store<i32>(sel + (<usize>r << 2), load<i32>(act + (<usize>j << 2)));
      r++;
    }
  }
  return r;
}

/**
 * Projections of a block of contiguous rows against every row of P (a small matrix product, the
 * hashing half of a table rebuild: every neuron against every SimHash projection). P: (H, n),
 * bias: (H), X: (m, n), out: (m, H), all row-major:
 *   out[r*H + h] = bias[h] + dot(P[h*n ..), X[r*n ..)),  r < m, h < H
 * Tiles of 4 rows x 2 projections keep 8 accumulators in registers and load each projection
 * once per 4 rows (dotRows row by row would stream all of P once per row); rows and projections
 * left over go through dotImpl.
 */
export function projectRows(
  P: usize, bias: usize, n: i32, H: i32,
  X: usize, m: i32, out: usize,
): void {
  const rowBytes = <usize>n << 2;
  const n4 = n & ~3;
  let r: i32 = 0;
  for (; r + 4 <= m; r += 4) {
    const x0 = X + <usize>r * rowBytes;
    const x1 = x0 + rowBytes;
    const x2 = x1 + rowBytes;
    const x3 = x2 + rowBytes;
    const o0 = out + ((<usize>r * <usize>H) << 2);
    const o1 = o0 + (<usize>H << 2);
    const o2 = o1 + (<usize>H << 2);
    const o3 = o2 + (<usize>H << 2);
    let h: i32 = 0;
    for (; h + 2 <= H; h += 2) {
      const p0 = P + <usize>h * rowBytes;
      const p1 = p0 + rowBytes;
      let a00 = f32x4.splat(0), a01 = f32x4.splat(0), a10 = f32x4.splat(0), a11 = f32x4.splat(0);
      let a20 = f32x4.splat(0), a21 = f32x4.splat(0), a30 = f32x4.splat(0), a31 = f32x4.splat(0);
      for (let k: usize = 0; k < <usize>n4 << 2; k += 16) {
        const q0 = v128.load(p0 + k, 0, 4);
        const q1 = v128.load(p1 + k, 0, 4);
        const y0 = v128.load(x0 + k, 0, 4);
        a00 = f32x4.add(a00, f32x4.mul(q0, y0));
        a01 = f32x4.add(a01, f32x4.mul(q1, y0));
        const y1 = v128.load(x1 + k, 0, 4);
        a10 = f32x4.add(a10, f32x4.mul(q0, y1));
        a11 = f32x4.add(a11, f32x4.mul(q1, y1));
        const y2 = v128.load(x2 + k, 0, 4);
        a20 = f32x4.add(a20, f32x4.mul(q0, y2));
        a21 = f32x4.add(a21, f32x4.mul(q1, y2));
        const y3 = v128.load(x3 + k, 0, 4);
        a30 = f32x4.add(a30, f32x4.mul(q0, y3));
        a31 = f32x4.add(a31, f32x4.mul(q1, y3));
      }
      let s00 = hsum(a00), s01 = hsum(a01), s10 = hsum(a10), s11 = hsum(a11);
      let s20 = hsum(a20), s21 = hsum(a21), s30 = hsum(a30), s31 = hsum(a31);
      for (let k: usize = <usize>n4 << 2; k < rowBytes; k += 4) {
        const q0 = load<f32>(p0 + k);
        const q1 = load<f32>(p1 + k);
        s00 += q0 * load<f32>(x0 + k); s01 += q1 * load<f32>(x0 + k);
        s10 += q0 * load<f32>(x1 + k); s11 += q1 * load<f32>(x1 + k);
        s20 += q0 * load<f32>(x2 + k); s21 += q1 * load<f32>(x2 + k);
        s30 += q0 * load<f32>(x3 + k); s31 += q1 * load<f32>(x3 + k);
      }
      const b0 = load<f32>(bias + (<usize>h << 2));
      const b1 = load<f32>(bias + (<usize>h << 2), 4);
      const oh = <usize>h << 2;
      store<f32>(o0 + oh, s00 + b0); store<f32>(o0 + oh, s01 + b1, 4);
      store<f32>(o1 + oh, s10 + b0); store<f32>(o1 + oh, s11 + b1, 4);
      store<f32>(o2 + oh, s20 + b0); store<f32>(o2 + oh, s21 + b1, 4);
      store<f32>(o3 + oh, s30 + b0); store<f32>(o3 + oh, s31 + b1, 4);
    }
    for (; h < H; h++) {
      const ph = P + <usize>h * rowBytes;
      const b = load<f32>(bias + (<usize>h << 2));
      const oh = <usize>h << 2;
      store<f32>(o0 + oh, dotImpl(ph, x0, n) + b);
      store<f32>(o1 + oh, dotImpl(ph, x1, n) + b);
      store<f32>(o2 + oh, dotImpl(ph, x2, n) + b);
      store<f32>(o3 + oh, dotImpl(ph, x3, n) + b);
    }
  }
  for (; r < m; r++) {
    const xr = X + <usize>r * rowBytes;
    const or = out + ((<usize>r * <usize>H) << 2);
    for (let h: i32 = 0; h < H; h++) {
      store<f32>(or + (<usize>h << 2), dotImpl(P + <usize>h * rowBytes, xr, n) + load<f32>(bias + (<usize>h << 2)));
    }
  }
}

/**
 * Structured SimHash projections: for each row r < m of X (n floats, rows contiguous) and each
 * block b < ceil(H / p), the row zero-padded to p (a power of two, >= 8, >= n) goes through
 * `rounds` of (sign flip by S_bt, then an unnormalised Walsh-Hadamard transform), and
 *   out[r*H + b*p + i] = y[i] + bias[b*p + i]   for b*p + i < H.
 * S: (blocks * rounds, p) of +-1, S_bt = S[(b*rounds + t)*p ..). buf: p floats of scratch.
 * The transform runs stage by stage (h = 1, 2, 4, ...: y[j], y[j+h] <- y[j]+y[j+h], y[j]-y[j+h])
 * in float32; each output is one rounding of two float32 values, so the TypeScript twin, doing
 * the same operations in the same stages, agrees bit for bit. O(p log p) a block instead of the
 * O(n p) of projectRows.
 */
export function hadamardRows(
  S: usize, bias: usize, n: i32, p: i32, rounds: i32, H: i32,
  X: usize, m: i32, buf: usize, out: usize,
): void {
  const pBytes = <usize>p << 2;
  const nBytes = <usize>n << 2;
  const n4Bytes = <usize>(n & ~3) << 2;
  const blocks = (H + p - 1) / p;
  for (let r: i32 = 0; r < m; r++) {
    const x = X + <usize>r * nBytes;
    const o = out + ((<usize>r * <usize>H) << 2);
    for (let b: i32 = 0; b < blocks; b++) {
      // round 0 reads the row: buf = s .* [x, 0 ...]
      const s0 = S + <usize>(b * rounds) * pBytes;
      let k: usize = 0;
      for (; k < n4Bytes; k += 16) v128.store(buf + k, f32x4.mul(v128.load(x + k, 0, 4), v128.load(s0 + k, 0, 4)), 0, 4);
      for (; k < nBytes; k += 4) store<f32>(buf + k, load<f32>(x + k) * load<f32>(s0 + k));
      for (; k < pBytes; k += 4) store<f32>(buf + k, 0);
      fwhtImpl(buf, p);
      for (let t: i32 = 1; t < rounds; t++) {
        const st = S + <usize>(b * rounds + t) * pBytes;
        for (k = 0; k < pBytes; k += 16) v128.store(buf + k, f32x4.mul(v128.load(buf + k, 0, 4), v128.load(st + k, 0, 4)), 0, 4);
        fwhtImpl(buf, p);
      }
      const base = b * p;
      const len = min(p, H - base);
      const ob = o + (<usize>base << 2);
      const bb = bias + (<usize>base << 2);
      let i: i32 = 0;
      for (; i + 4 <= len; i += 4) {
        const ib = <usize>i << 2;
        v128.store(ob + ib, f32x4.add(v128.load(buf + ib, 0, 4), v128.load(bb + ib, 0, 4)), 0, 4);
      }
      for (; i < len; i++) {
        const ib = <usize>i << 2;
        store<f32>(ob + ib, load<f32>(buf + ib) + load<f32>(bb + ib));
      }
    }
  }
}

/**
 * In-place unnormalised Walsh-Hadamard transform of y[0 .. p), p a power of two >= 8. Stages 1
 * and 2 inside each 4-float vector (shuffles, negation by sign-bit xor), then stages h and 2h
 * together over 4 vectors (radix 4: each value is loaded and stored once per two stages), then
 * a last single stage when log2(p) is odd. Every stage's outputs are the same float32 sums and
 * differences as the plain stage-by-stage loop.
 */
// @ts-ignore: decorator
@inline function fwhtImpl(y: usize, p: i32): void {
  const pBytes = <usize>p << 2;
  const neg13 = i32x4(0, 0x80000000, 0, 0x80000000);
  const neg23 = i32x4(0, 0, 0x80000000, 0x80000000);
  for (let k: usize = 0; k < pBytes; k += 16) {
    const v = v128.load(y + k, 0, 4);
    // h = 1: [v0 + v1, v0 - v1, v2 + v3, v2 - v3]
    const w = f32x4.add(v128.shuffle<f32>(v, v, 0, 0, 2, 2), v128.xor(v128.shuffle<f32>(v, v, 1, 1, 3, 3), neg13));
    // h = 2: [w0 + w2, w1 + w3, w0 - w2, w1 - w3]
    v128.store(y + k, f32x4.add(v128.shuffle<f32>(w, w, 0, 1, 0, 1), v128.xor(v128.shuffle<f32>(w, w, 2, 3, 2, 3), neg23)), 0, 4);
  }
  let h: usize = 16; // bytes: stage h = 4 floats
  for (; (h << 2) <= pBytes; h <<= 2) {
    // stages h and 2h: groups of 4h bytes, quads (a, b, c, d) at j, j+h, j+2h, j+3h
    const h2 = h << 1;
    const h3 = h2 + h;
    for (let g: usize = 0; g < pBytes; g += h << 2) {
      for (let j = g; j < g + h; j += 16) {
        const a = v128.load(y + j, 0, 4);
        const b = v128.load(y + j + h, 0, 4);
        const c = v128.load(y + j + h2, 0, 4);
        const d = v128.load(y + j + h3, 0, 4);
        const a1 = f32x4.add(a, b);
        const b1 = f32x4.sub(a, b);
        const c1 = f32x4.add(c, d);
        const d1 = f32x4.sub(c, d);
        v128.store(y + j, f32x4.add(a1, c1), 0, 4);
        v128.store(y + j + h, f32x4.add(b1, d1), 0, 4);
        v128.store(y + j + h2, f32x4.sub(a1, c1), 0, 4);
        v128.store(y + j + h3, f32x4.sub(b1, d1), 0, 4);
      }
    }
  }
  if (h < pBytes) {
    // one stage left (h = p / 2)
    for (let j: usize = 0; j < h; j += 16) {
      const a = v128.load(y + j, 0, 4);
      const b = v128.load(y + j + h, 0, 4);
      v128.store(y + j, f32x4.add(a, b), 0, 4);
      v128.store(y + j + h, f32x4.sub(a, b), 0, 4);
    }
  }
}

/**
 * Backward of dotRows. For i < nRows, r = rows[i], g = grad[i] (skipped when g == 0):
 *   dx += g * W[r]  (only when dx != 0);  G[r] += g * x;  gBias[r] += g
 */
export function rowsBackward(
  W: usize, G: usize, gBias: usize, n: i32,
  rows: usize, nRows: i32,
  grad: usize, x: usize,
  dx: usize,
): void {
  const hasDx = dx != 0;
  const rowBytes = <usize>n << 2;
  const group = groupRows(hasDx ? n << 3 : n << 2);
  // the first pass only touches group 0
  for (let gi: i32 = -group; gi < nRows; gi += group) {
    const gEnd = min(gi + group, nRows);
    const nEnd = min(gEnd + group, nRows);
    for (let j = gEnd; j < nEnd; j++) {
      const r = load<i32>(rows + (<usize>j << 2));
      const off = (<usize>r * <usize>n) << 2;
      touch(G + off, rowBytes);
      if (hasDx) touch(W + off, rowBytes);
      load<u8>(gBias + (<usize>r << 2));
    }
    for (let i = max(gi, 0); i < gEnd; i++) {
      const g = load<f32>(grad + (<usize>i << 2));
      if (g == 0) continue;
      const r = load<i32>(rows + (<usize>i << 2));
      const off = (<usize>r * <usize>n) << 2;
      if (hasDx) {
        // fused: one pass over the row updates both dx and G
        const gv = f32x4.splat(g);
        let w = W + off;
        let gr = G + off;
        let xp = x;
        let d = dx;
        let k: i32 = 0;
        for (; k + 4 <= n; k += 4) {
          v128.store(d, f32x4.add(v128.load(d, 0, 4), f32x4.mul(gv, v128.load(w, 0, 4))), 0, 4);
          v128.store(gr, f32x4.add(v128.load(gr, 0, 4), f32x4.mul(gv, v128.load(xp, 0, 4))), 0, 4);
          w += 16;
          gr += 16;
          xp += 16;
          d += 16;
        }
        for (; k < n; k++) {
          store<f32>(d, load<f32>(d) + g * load<f32>(w));
          store<f32>(gr, load<f32>(gr) + g * load<f32>(xp));
          w += 4;
          gr += 4;
          xp += 4;
          d += 4;
        }
      } else {
        axpyImpl(g, x, G + off, n);
      }
      const bp = gBias + (<usize>r << 2);
      store<f32>(bp, load<f32>(bp) + g);
    }
  }
}

/**
 * The input gradient of dotRows alone (the weight gradients deferred to the update, see
 * ParamBlock): for i < nRows, g = grad[i] (skipped when g == 0):  dx += g * W[rows[i]]
 */
export function rowsDx(
  W: usize, n: i32,
  rows: usize, nRows: i32,
  grad: usize, dx: usize,
): void {
  const rowBytes = <usize>n << 2;
  const group = groupRows(n << 2);
  // the first pass only touches group 0
  for (let gi: i32 = -group; gi < nRows; gi += group) {
    const gEnd = min(gi + group, nRows);
    const nEnd = min(gEnd + group, nRows);
    for (let j = gEnd; j < nEnd; j++) touch(rowAddr(W, load<i32>(rows + (<usize>j << 2)), n), rowBytes);
    for (let i = max(gi, 0); i < gEnd; i++) {
      const g = load<f32>(grad + (<usize>i << 2));
      if (g == 0) continue;
      axpyImpl(g, rowAddr(W, load<i32>(rows + (<usize>i << 2)), n), dx, n);
    }
  }
}

/**
 * The weight half of rowsBackward, deferred to the update (see ParamBlock): for i < nRows,
 * r = rows[i], k in [ptr[i], ptr[i+1]) in order, c = coef[k]:
 *   G[r] += c * X[src[k]];  gBias[r] += c  (when gBias != 0)
 * X: (slots, n). Each G row is read and written once however many samples touched it.
 */
export function gradRows(
  G: usize, gBias: usize, n: i32,
  rows: usize, nRows: i32,
  ptr: usize, src: usize, coef: usize, X: usize,
): void {
  const rowBytes = <usize>n << 2;
  const group = groupRows(n << 2);
  // the first pass only touches group 0
  for (let gi: i32 = -group; gi < nRows; gi += group) {
    const gEnd = min(gi + group, nRows);
    const nEnd = min(gEnd + group, nRows);
    for (let j = gEnd; j < nEnd; j++) touch(rowAddr(G, load<i32>(rows + (<usize>j << 2)), n), rowBytes);
    for (let i = max(gi, 0); i < gEnd; i++) {
      const r = load<i32>(rows + (<usize>i << 2));
      const k0 = load<i32>(ptr + (<usize>i << 2));
      const k1 = load<i32>(ptr + (<usize>(i + 1) << 2));
      if (k0 == k1) continue;
      const gr = rowAddr(G, r, n);
      // 32 columns at a time in 8 registers, over every pair of the row: G is read and written once
      let j: i32 = 0;
      for (; j + 32 <= n; j += 32) {
        const gp = gr + (<usize>j << 2);
        let a0 = v128.load(gp, 0, 4);
        let a1 = v128.load(gp, 16, 4);
        let a2 = v128.load(gp, 32, 4);
        let a3 = v128.load(gp, 48, 4);
        let a4 = v128.load(gp, 64, 4);
        let a5 = v128.load(gp, 80, 4);
        let a6 = v128.load(gp, 96, 4);
        let a7 = v128.load(gp, 112, 4);
        for (let k = k0; k < k1; k++) {
          const c = f32x4.splat(load<f32>(coef + (<usize>k << 2)));
          const xp = rowAddr(X, load<i32>(src + (<usize>k << 2)), n) + (<usize>j << 2);
          a0 = f32x4.add(a0, f32x4.mul(c, v128.load(xp, 0, 4)));
          a1 = f32x4.add(a1, f32x4.mul(c, v128.load(xp, 16, 4)));
          a2 = f32x4.add(a2, f32x4.mul(c, v128.load(xp, 32, 4)));
          a3 = f32x4.add(a3, f32x4.mul(c, v128.load(xp, 48, 4)));
          a4 = f32x4.add(a4, f32x4.mul(c, v128.load(xp, 64, 4)));
          a5 = f32x4.add(a5, f32x4.mul(c, v128.load(xp, 80, 4)));
          a6 = f32x4.add(a6, f32x4.mul(c, v128.load(xp, 96, 4)));
          a7 = f32x4.add(a7, f32x4.mul(c, v128.load(xp, 112, 4)));
        }
        v128.store(gp, a0, 0, 4);
        v128.store(gp, a1, 16, 4);
        v128.store(gp, a2, 32, 4);
        v128.store(gp, a3, 48, 4);
        v128.store(gp, a4, 64, 4);
        v128.store(gp, a5, 80, 4);
        v128.store(gp, a6, 96, 4);
        v128.store(gp, a7, 112, 4);
      }
      // columns left over (n not a multiple of 32), one at a time
      for (; j < n; j++) {
        const gp = gr + (<usize>j << 2);
        let a = load<f32>(gp);
        for (let k = k0; k < k1; k++) a += load<f32>(coef + (<usize>k << 2)) * load<f32>(rowAddr(X, load<i32>(src + (<usize>k << 2)), n) + (<usize>j << 2));
        store<f32>(gp, a);
      }
      if (gBias != 0) {
        const bp = gBias + (<usize>r << 2);
        let b = load<f32>(bp);
        for (let k = k0; k < k1; k++) b += load<f32>(coef + (<usize>k << 2));
        store<f32>(bp, b);
      }
    }
  }
}

/**
 * The weight half of rowsBackward for a layer whose every row is active in every sample (dense
 * layers), deferred to the update: for i < nRows, r = rows[i], and the slots s = used[u],
 * u < nUsed, in that order, c = coef[s * stride + r]:
 *   G[r] += c * X[s];  gBias[r] += c
 * X: (slots, n); coef: (slots, stride).
 */
export function gradRowsDense(
  G: usize, gBias: usize, n: i32,
  rows: usize, nRows: i32,
  coef: usize, stride: i32, used: usize, nUsed: i32, X: usize,
): void {
  const rowBytes = <usize>n << 2;
  const group = groupRows(n << 2);
  // the first pass only touches group 0
  for (let gi: i32 = -group; gi < nRows; gi += group) {
    const gEnd = min(gi + group, nRows);
    const nEnd = min(gEnd + group, nRows);
    for (let j = gEnd; j < nEnd; j++) touch(rowAddr(G, load<i32>(rows + (<usize>j << 2)), n), rowBytes);
    for (let i = max(gi, 0); i < gEnd; i++) {
      const r = load<i32>(rows + (<usize>i << 2));
      const gr = rowAddr(G, r, n);
      const bp = gBias + (<usize>r << 2);
      let b = load<f32>(bp);
      for (let u: i32 = 0; u < nUsed; u++) {
        const s = load<i32>(used + (<usize>u << 2));
        const c = load<f32>(coef + ((<usize>s * <usize>stride + <usize>r) << 2));
        axpyImpl(c, rowAddr(X, s, n), gr, n);
        b += c;
      }
      store<f32>(bp, b);
    }
  }
}

/**
 * Forward of the feature-major sparse input layer, over nnz = end - start non-zeros
 * (idx and val already point at element `start`):
 *   out[j] = bias[j] + sum_k val[k] * W[idx[k]*nOut + j],  j < nOut
 * Blocks of 16 outputs stay in registers while the nnz rows stream past.
 */
export function sparseInputForward(
  W: usize, bias: usize, nOut: i32,
  idx: usize, val: usize, nnz: i32,
  out: usize,
): void {
  // Touch every row first (nnz independent row loads, ~75 x 512 bytes for Amazon-670K), then
  // sum them block by block from cache.
  const rowBytes = <usize>nOut << 2;
  for (let k: i32 = 0; k < nnz; k++) touch(W + rowOff(idx, k, nOut), rowBytes);
  let j: i32 = 0;
  for (; j + 16 <= nOut; j += 16) {
    const jb = <usize>j << 2;
    let a0 = v128.load(bias + jb, 0, 4);
    let a1 = v128.load(bias + jb, 16, 4);
    let a2 = v128.load(bias + jb, 32, 4);
    let a3 = v128.load(bias + jb, 48, 4);
    for (let k: i32 = 0; k < nnz; k++) {
      const ko = <usize>k << 2;
      const v = f32x4.splat(load<f32>(val + ko));
      const p = rowAddr(W, load<i32>(idx + ko), nOut) + jb;
      a0 = f32x4.add(a0, f32x4.mul(v, v128.load(p, 0, 4)));
      a1 = f32x4.add(a1, f32x4.mul(v, v128.load(p, 16, 4)));
      a2 = f32x4.add(a2, f32x4.mul(v, v128.load(p, 32, 4)));
      a3 = f32x4.add(a3, f32x4.mul(v, v128.load(p, 48, 4)));
    }
    v128.store(out + jb, a0, 0, 4);
    v128.store(out + jb, a1, 16, 4);
    v128.store(out + jb, a2, 32, 4);
    v128.store(out + jb, a3, 48, 4);
  }
  for (; j + 4 <= nOut; j += 4) {
    const jb = <usize>j << 2;
    let a0 = v128.load(bias + jb, 0, 4);
    for (let k: i32 = 0; k < nnz; k++) {
      const ko = <usize>k << 2;
      const v = f32x4.splat(load<f32>(val + ko));
      a0 = f32x4.add(a0, f32x4.mul(v, v128.load(rowAddr(W, load<i32>(idx + ko), nOut) + jb, 0, 4)));
    }
    v128.store(out + jb, a0, 0, 4);
  }
  for (; j < nOut; j++) {
    const jb = <usize>j << 2;
    let a = load<f32>(bias + jb);
    for (let k: i32 = 0; k < nnz; k++) {
      const ko = <usize>k << 2;
      a += load<f32>(val + ko) * load<f32>(rowAddr(W, load<i32>(idx + ko), nOut) + jb);
    }
    store<f32>(out + jb, a);
  }
}

/**
 * Backward of sparseInputForward (idx and val already point at element `start`):
 *   gBias[j] += delta[j];  G[idx[k]*nOut + j] += val[k] * delta[j]
 */
export function sparseInputBackward(
  G: usize, gBias: usize, nOut: i32,
  idx: usize, val: usize, nnz: i32,
  delta: usize,
): void {
  axpyImpl(1, delta, gBias, nOut);
  const rowBytes = <usize>nOut << 2;
  const group = groupRows(nOut << 2);
  // the first pass only touches group 0
  for (let g: i32 = -group; g < nnz; g += group) {
    const gEnd = min(g + group, nnz);
    const nEnd = min(gEnd + group, nnz);
    for (let j = gEnd; j < nEnd; j++) touch(G + rowOff(idx, j, nOut), rowBytes);
    for (let k = max(g, 0); k < gEnd; k++) {
      axpyImpl(load<f32>(val + (<usize>k << 2)), delta, G + rowOff(idx, k, nOut), nOut);
    }
  }
}

/**
 * Lazy Adam over touched rows, then zero their gradients (c1 = 1 - b1, c2 = 1 - b2):
 *   m = b1 m + c1 g;  v = b2 v + c2 g g;  w -= lrT m / (sqrt(v) + eps);  g = 0
 */
export function adamRows(
  W: usize, M: usize, V: usize, G: usize, n: i32,
  rows: usize, nRows: i32,
  lrT: f32, b1: f32, c1: f32, b2: f32, c2: f32, eps: f32, decay: f32,
): void {
  const rowBytes = <usize>n << 2;
  const group = groupRows(n << 4);
  // the first pass only touches group 0
  for (let gi: i32 = -group; gi < nRows; gi += group) {
    const gEnd = min(gi + group, nRows);
    const nEnd = min(gEnd + group, nRows);
    for (let j = gEnd; j < nEnd; j++) {
      const off = rowOff(rows, j, n);
      touch(W + off, rowBytes);
      touch(M + off, rowBytes);
      touch(V + off, rowBytes);
      touch(G + off, rowBytes);
    }
    for (let i = max(gi, 0); i < gEnd; i++) adamRow(W, M, V, G, rowOff(rows, i, n), n, lrT, b1, c1, b2, c2, eps, decay);
  }
}

// @ts-ignore: decorator
@inline function adamRow(
  W: usize, M: usize, V: usize, G: usize, off: usize, n: i32,
  lrT: f32, b1: f32, c1: f32, b2: f32, c2: f32, eps: f32, decay: f32,
): void {
  const vdecay = f32x4.splat(decay);
  const vb1 = f32x4.splat(b1);
  const vc1 = f32x4.splat(c1);
  const vb2 = f32x4.splat(b2);
  const vc2 = f32x4.splat(c2);
  const vlr = f32x4.splat(lrT);
  const veps = f32x4.splat(eps);
  const zero = f32x4.splat(0);
  let w = W + off;
  let m = M + off;
  let v = V + off;
  let g = G + off;
  let k: i32 = 0;
  for (; k + 4 <= n; k += 4) {
    const gv = v128.load(g, 0, 4);
    const mv = f32x4.add(f32x4.mul(vb1, v128.load(m, 0, 4)), f32x4.mul(vc1, gv));
    const vv = f32x4.add(f32x4.mul(vb2, v128.load(v, 0, 4)), f32x4.mul(f32x4.mul(vc2, gv), gv));
    v128.store(m, mv, 0, 4);
    v128.store(v, vv, 0, 4);
    const step = f32x4.div(f32x4.mul(vlr, mv), f32x4.add(f32x4.sqrt(vv), veps));
    v128.store(w, f32x4.sub(f32x4.mul(vdecay, v128.load(w, 0, 4)), step), 0, 4);
    v128.store(g, zero, 0, 4);
    w += 16;
    m += 16;
    v += 16;
    g += 16;
  }
  for (; k < n; k++) {
    const gs = load<f32>(g);
    const ms = b1 * load<f32>(m) + c1 * gs;
    const vs = b2 * load<f32>(v) + c2 * gs * gs;
    store<f32>(m, ms);
    store<f32>(v, vs);
    store<f32>(w, decay * load<f32>(w) - (lrT * ms) / (sqrt<f32>(vs) + eps));
    store<f32>(g, 0);
    w += 4;
    m += 4;
    v += 4;
    g += 4;
  }
}

/**
 * Mark the rows of the sample slots' pairs as touched: each row of pRow (slots, budget; pCnt[b]
 * pairs in slot b) with mark[row] == 0 gets mark[row] = 1 and is appended to touched[n ..), in
 * slot and pair order. Returns the new length of touched.
 */
export function markPairs(pRow: usize, pCnt: usize, slots: i32, budget: i32, mark: usize, touched: usize, n: i32): i32 {
  for (let b: i32 = 0; b < slots; b++) {
    const c = load<i32>(pCnt + (<usize>b << 2));
    const base = pRow + ((<usize>b * <usize>budget) << 2);
    for (let k: i32 = 0; k < c; k++) {
      const r = load<i32>(base + (<usize>k << 2));
      const q = mark + (<usize>r << 2);
      if (load<i32>(q) == 0) {
        store<i32>(q, 1);
        store<i32>(touched + (<usize>n << 2), r);
        n++;
      }
    }
  }
  return n;
}

/**
 * The rows r < n with mark[r] != 0, ascending, into out[0 ..); returns how many. Four marks a
 * step compared at once: at the Amazon-670K shape a batch touches about a fifth of the 670K
 * output rows, and this scan ran on the coordinating thread in TypeScript at 2-3 ms a batch.
 */
export function markedRows(mark: usize, n: i32, out: usize): i32 {
  let k: i32 = 0;
  let r: i32 = 0;
  const zero = i32x4.splat(0);
  for (; r + 4 <= n; r += 4) {
    let bits = i32x4.bitmask(i32x4.ne(v128.load(mark + (<usize>r << 2), 0, 4), zero));
    while (bits != 0) {
      store<i32>(out + (<usize>k << 2), r + ctz(bits));
      bits &= bits - 1;
      k++;
    }
  }
  for (; r < n; r++) {
    if (load<i32>(mark + (<usize>r << 2)) != 0) {
      store<i32>(out + (<usize>k << 2), r);
      k++;
    }
  }
  return k;
}

/**
 * The first step of grouping pairs in one thread's part [r0, r1) of the rows: the pairs of pRow
 * (slots, budget; pCnt[b] pairs in slot b) whose rows lie in the part, as indices into pRow,
 * into list[0 ..) in slot and pair order, slot b's ending at slotEnd[b]. Returns the pairs of
 * rows below r0 (where the part's pairs start in the grouped order). Without branches: every
 * pair is stored and the list advances by the comparison's result, since rows in and out of the
 * part alternate at random, and a branch on them missed about half the time (grouping half the
 * rows took 1.6x as long as all of them).
 */
export function selectPairs(pRow: usize, pCnt: usize, slots: i32, budget: i32, r0: i32, r1: i32, list: usize, slotEnd: usize): i32 {
  let below: i32 = 0;
  let m: i32 = 0;
  const span = <u32>(r1 - r0);
  for (let b: i32 = 0; b < slots; b++) {
    const c = load<i32>(pCnt + (<usize>b << 2));
    const k0 = b * budget;
    const base = pRow + (<usize>k0 << 2);
    for (let k: i32 = 0; k < c; k++) {
      const r = load<i32>(base + (<usize>k << 2));
      store<i32>(list + (<usize>m << 2), k0 + k);
      m += i32(<u32>(r - r0) < span);
      below += i32(r < r0);
    }
    store<i32>(slotEnd + (<usize>b << 2), m);
  }
  return below;
}

/**
 * The counting half of grouping pairs when no row is marked yet (no immediate-path gradient):
 * mark[r] += 1 for the row r = pRow[list[j]] of every listed pair j < m (selectPairs), so that
 * mark[r] ends as row r's number of pairs (non-zero: touched).
 */
export function countPairs(pRow: usize, list: usize, m: i32, mark: usize): void {
  for (let j: i32 = 0; j < m; j++) {
    const q = mark + (<usize>load<i32>(pRow + (<usize>load<i32>(list + (<usize>j << 2)) << 2)) << 2);
    store<i32>(q, load<i32>(q) + 1);
  }
}

/**
 * After countPairs, one thread's part [r0, r1) of the rows, listed at its own place (so that parts
 * need not wait for each other): the k-th row r of the part with mark[r] != 0 (ascending) goes to
 * touched[r0 + k] and ptr[r0 + k + 1] = where its pairs end (`base` + the part's pairs up to it);
 * its count in mark[r] becomes where its pairs start, the cursor of placePairs. Returns the
 * part's count. One pass in address order, four marks a step compared at once.
 */
export function listCounted(mark: usize, r0: i32, r1: i32, touched: usize, ptr: usize, base: i32): i32 {
  let k: i32 = r0;
  let run: i32 = base;
  let r: i32 = r0;
  const zero = i32x4.splat(0);
  for (; r < r1; r += 4) {
    let bits: i32 = 0;
    if (r + 4 <= r1) bits = i32x4.bitmask(i32x4.ne(v128.load(mark + (<usize>r << 2), 0, 4), zero));
    else for (let j = r; j < r1; j++) if (load<i32>(mark + (<usize>j << 2)) != 0) bits |= 1 << (j - r);
    while (bits != 0) {
      const row = r + ctz(bits);
      bits &= bits - 1;
      const q = mark + (<usize>row << 2);
      const c = load<i32>(q);
      store<i32>(q, run);
      run += c;
      store<i32>(touched + (<usize>k << 2), row);
      k++;
      store<i32>(ptr + (<usize>k << 2), run);
    }
  }
  return k - r0;
}

/**
 * The placing half of grouping pairs: each listed pair (list and slotEnd as selectPairs leaves
 * them: slot b's pairs end at slotEnd[b]) of slot b goes to src/coef[mark[row]++] with src = b,
 * mark[row] holding where the row's next pair goes (listCounted leaves the start of its pairs):
 * one random read-modify-write a pair, besides the pair's own writes.
 */
export function placePairs(mark: usize, pRow: usize, pCoef: usize, list: usize, slotEnd: usize, slots: i32, src: usize, coef: usize): void {
  let j: i32 = 0;
  for (let b: i32 = 0; b < slots; b++) {
    const e = load<i32>(slotEnd + (<usize>b << 2));
    for (; j < e; j++) {
      const k = <usize>load<i32>(list + (<usize>j << 2)) << 2;
      const q = mark + (<usize>load<i32>(pRow + k) << 2);
      const p = load<i32>(q);
      store<i32>(q, p + 1);
      store<i32>(src + (<usize>p << 2), b);
      store<f32>(coef + (<usize>p << 2), load<f32>(pCoef + k));
    }
  }
}

/**
 * Group the pairs of the sample slots by touched row (a counting sort, stable in slot order):
 * pRow/pCoef: (slots, budget) with pCnt[b] pairs in slot b; touched[0 .. nT) the rows. Writes
 * pos[touched[i]] = i + 1, ptr[0 .. nT] (position i's pairs are [ptr[i], ptr[i+1])), src (their
 * slots) and coef (their values); zeroes pCnt. Every row of a pair must be in touched. Returns
 * the pairs.
 */
export function groupPairs(
  touched: usize, nT: i32, pos: usize, ptr: usize,
  pRow: usize, pCoef: usize, pCnt: usize, slots: i32, budget: i32,
  src: usize, coef: usize,
): i32 {
  let total: i32 = 0;
  for (let b: i32 = 0; b < slots; b++) total += load<i32>(pCnt + (<usize>b << 2));
  if (total == 0) return 0;
  for (let i: i32 = 0; i < nT; i++) {
    store<i32>(pos + (<usize>load<i32>(touched + (<usize>i << 2)) << 2), i + 1);
    store<i32>(ptr + (<usize>(i + 1) << 2), 0);
  }
  store<i32>(ptr, 0);
  // each position's count at its cursor ptr[i + 1], then turned into its start
  for (let b: i32 = 0; b < slots; b++) {
    const c = load<i32>(pCnt + (<usize>b << 2));
    const base = pRow + ((<usize>b * <usize>budget) << 2);
    for (let k: i32 = 0; k < c; k++) {
      const q = ptr + (<usize>load<i32>(pos + (<usize>load<i32>(base + (<usize>k << 2)) << 2)) << 2);
      store<i32>(q, load<i32>(q) + 1);
    }
  }
  let run: i32 = 0;
  for (let i: i32 = 1; i <= nT; i++) {
    const q = ptr + (<usize>i << 2);
    const c = load<i32>(q);
    store<i32>(q, run);
    run += c;
  }
  for (let b: i32 = 0; b < slots; b++) {
    const c = load<i32>(pCnt + (<usize>b << 2));
    const off = (<usize>b * <usize>budget) << 2;
    for (let k: i32 = 0; k < c; k++) {
      const q = ptr + (<usize>load<i32>(pos + (<usize>load<i32>(pRow + off + (<usize>k << 2)) << 2)) << 2);
      const p = load<i32>(q);
      store<i32>(q, p + 1);
      store<i32>(src + (<usize>p << 2), b);
      store<f32>(coef + (<usize>p << 2), load<f32>(pCoef + off + (<usize>k << 2)));
    }
    store<i32>(pCnt + (<usize>b << 2), 0);
  }
  return total;
}

/**
 * gradRows and adamRows in one pass, for rows whose G holds nothing (every contribution
 * deferred): for i < nRows, r = rows[i], the gradient g = sum over k in [ptr[i], ptr[i+1]) of
 * coef[k] * X[src[k]] (in that order, from 0) is built in registers 32 columns at a time and goes
 * straight into the Adam step of adamRows; gBias[r] += sum of coef[k] (when gBias != 0). G is neither read nor
 * written, so a row costs W, M and V (3 KB at 256 columns) instead of those plus G twice.
 */
export function adamRowsPairs(
  W: usize, M: usize, V: usize, gBias: usize, n: i32,
  rows: usize, nRows: i32,
  ptr: usize, src: usize, coef: usize, X: usize,
  lrT: f32, b1: f32, c1: f32, b2: f32, c2: f32, eps: f32, decay: f32,
): void {
  const rowBytes = <usize>n << 2;
  const group = groupRows(n * 12);
  // the first pass only touches group 0
  for (let gi: i32 = -group; gi < nRows; gi += group) {
    const gEnd = min(gi + group, nRows);
    const nEnd = min(gEnd + group, nRows);
    for (let j = gEnd; j < nEnd; j++) {
      const off = rowOff(rows, j, n);
      touch(W + off, rowBytes);
      touch(M + off, rowBytes);
      touch(V + off, rowBytes);
    }
    for (let i = max(gi, 0); i < gEnd; i++) {
      const r = load<i32>(rows + (<usize>i << 2));
      const off = (<usize>r * <usize>n) << 2;
      const k0 = load<i32>(ptr + (<usize>i << 2));
      const k1 = load<i32>(ptr + (<usize>(i + 1) << 2));
      let j: i32 = 0;
      for (; j + 32 <= n; j += 32) {
        const zero = f32x4.splat(0);
        let a0 = zero, a1 = zero, a2 = zero, a3 = zero, a4 = zero, a5 = zero, a6 = zero, a7 = zero;
        for (let k = k0; k < k1; k++) {
          const c = f32x4.splat(load<f32>(coef + (<usize>k << 2)));
          const xp = rowAddr(X, load<i32>(src + (<usize>k << 2)), n) + (<usize>j << 2);
          a0 = f32x4.add(a0, f32x4.mul(c, v128.load(xp, 0, 4)));
          a1 = f32x4.add(a1, f32x4.mul(c, v128.load(xp, 16, 4)));
          a2 = f32x4.add(a2, f32x4.mul(c, v128.load(xp, 32, 4)));
          a3 = f32x4.add(a3, f32x4.mul(c, v128.load(xp, 48, 4)));
          a4 = f32x4.add(a4, f32x4.mul(c, v128.load(xp, 64, 4)));
          a5 = f32x4.add(a5, f32x4.mul(c, v128.load(xp, 80, 4)));
          a6 = f32x4.add(a6, f32x4.mul(c, v128.load(xp, 96, 4)));
          a7 = f32x4.add(a7, f32x4.mul(c, v128.load(xp, 112, 4)));
        }
        const o = off + (<usize>j << 2);
        adamVec(W + o, M + o, V + o, a0, lrT, b1, c1, b2, c2, eps, decay);
        adamVec(W + o + 16, M + o + 16, V + o + 16, a1, lrT, b1, c1, b2, c2, eps, decay);
        adamVec(W + o + 32, M + o + 32, V + o + 32, a2, lrT, b1, c1, b2, c2, eps, decay);
        adamVec(W + o + 48, M + o + 48, V + o + 48, a3, lrT, b1, c1, b2, c2, eps, decay);
        adamVec(W + o + 64, M + o + 64, V + o + 64, a4, lrT, b1, c1, b2, c2, eps, decay);
        adamVec(W + o + 80, M + o + 80, V + o + 80, a5, lrT, b1, c1, b2, c2, eps, decay);
        adamVec(W + o + 96, M + o + 96, V + o + 96, a6, lrT, b1, c1, b2, c2, eps, decay);
        adamVec(W + o + 112, M + o + 112, V + o + 112, a7, lrT, b1, c1, b2, c2, eps, decay);
      }
      for (; j + 4 <= n; j += 4) {
        let a = f32x4.splat(0);
        for (let k = k0; k < k1; k++) {
          const xp = rowAddr(X, load<i32>(src + (<usize>k << 2)), n) + (<usize>j << 2);
          a = f32x4.add(a, f32x4.mul(f32x4.splat(load<f32>(coef + (<usize>k << 2))), v128.load(xp, 0, 4)));
        }
        const o = off + (<usize>j << 2);
        adamVec(W + o, M + o, V + o, a, lrT, b1, c1, b2, c2, eps, decay);
      }
      for (; j < n; j++) {
        let gs: f32 = 0;
        for (let k = k0; k < k1; k++) gs += load<f32>(coef + (<usize>k << 2)) * load<f32>(rowAddr(X, load<i32>(src + (<usize>k << 2)), n) + (<usize>j << 2));
        const o = off + (<usize>j << 2);
        const ms = b1 * load<f32>(M + o) + c1 * gs;
        const vs = b2 * load<f32>(V + o) + c2 * gs * gs;
        store<f32>(M + o, ms);
        store<f32>(V + o, vs);
        store<f32>(W + o, decay * load<f32>(W + o) - (lrT * ms) / (sqrt<f32>(vs) + eps));
      }
      if (gBias != 0) {
        const bp = gBias + (<usize>r << 2);
        let b = load<f32>(bp);
        for (let k = k0; k < k1; k++) b += load<f32>(coef + (<usize>k << 2));
        store<f32>(bp, b);
      }
    }
  }
}

/** One vector of adamRow: m, v and w at these addresses, gradient gv (the same operations, in the same order). */
// @ts-ignore: decorator
@inline function adamVec(w: usize, m: usize, v: usize, gv: v128, lrT: f32, b1: f32, c1: f32, b2: f32, c2: f32, eps: f32, decay: f32): void {
  const mv = f32x4.add(f32x4.mul(f32x4.splat(b1), v128.load(m, 0, 4)), f32x4.mul(f32x4.splat(c1), gv));
  const vv = f32x4.add(f32x4.mul(f32x4.splat(b2), v128.load(v, 0, 4)), f32x4.mul(f32x4.mul(f32x4.splat(c2), gv), gv));
  v128.store(m, mv, 0, 4);
  v128.store(v, vv, 0, 4);
  const step = f32x4.div(f32x4.mul(f32x4.splat(lrT), mv), f32x4.add(f32x4.sqrt(vv), f32x4.splat(eps)));
  v128.store(w, f32x4.sub(f32x4.mul(f32x4.splat(decay), v128.load(w, 0, 4)), step), 0, 4);
}

/** Plain SGD over touched rows, then zero their gradients: w -= lr g; g = 0 */
export function sgdRows(
  W: usize, G: usize, n: i32,
  rows: usize, nRows: i32,
  lr: f32, decay: f32,
): void {
  const rowBytes = <usize>n << 2;
  const group = groupRows(n << 3);
  // the first pass only touches group 0
  for (let gi: i32 = -group; gi < nRows; gi += group) {
    const gEnd = min(gi + group, nRows);
    const nEnd = min(gEnd + group, nRows);
    for (let j = gEnd; j < nEnd; j++) {
      const off = rowOff(rows, j, n);
      touch(W + off, rowBytes);
      touch(G + off, rowBytes);
    }
    for (let i = max(gi, 0); i < gEnd; i++) sgdRow(W, G, rowOff(rows, i, n), n, lr, decay);
  }
}

// @ts-ignore: decorator
@inline function sgdRow(W: usize, G: usize, off: usize, n: i32, lr: f32, decay: f32): void {
  const vlr = f32x4.splat(lr);
  const vdecay = f32x4.splat(decay);
  const zero = f32x4.splat(0);
  let w = W + off;
  let g = G + off;
  let k: i32 = 0;
  for (; k + 4 <= n; k += 4) {
    v128.store(w, f32x4.sub(f32x4.mul(vdecay, v128.load(w, 0, 4)), f32x4.mul(vlr, v128.load(g, 0, 4))), 0, 4);
    v128.store(g, zero, 0, 4);
    w += 16;
    g += 16;
  }
  for (; k < n; k++) {
    store<f32>(w, decay * load<f32>(w) - lr * load<f32>(g));
    store<f32>(g, 0);
    w += 4;
    g += 4;
  }
}

/** x[i] = max(0, x[i]); NaN and -0 become +0 (as `!(x > 0) -> 0` in the JS twin) */
export function relu(x: usize, n: i32): void {
  const zero = f32x4.splat(0);
  let i: i32 = 0;
  for (; i + 4 <= n; i += 4) {
    const v = v128.load(x, 0, 4);
    v128.store(x, v128.and(v, f32x4.gt(v, zero)), 0, 4);
    x += 16;
  }
  for (; i < n; i++) {
    if (!(load<f32>(x) > 0)) store<f32>(x, 0);
    x += 4;
  }
}

/** max of x[0 .. n), NaNs ignored, -Infinity when n == 0 (first step of softmax) */
export function vmax(x: usize, n: i32): f32 {
  let m0 = f32x4.splat(-Infinity);
  let m1 = f32x4.splat(-Infinity);
  let i: i32 = 0;
  for (; i + 8 <= n; i += 8) {
    // pmax(a, b) = a < b ? b : a: a NaN in x never replaces the running max
    m0 = f32x4.pmax(m0, v128.load(x, 0, 4));
    m1 = f32x4.pmax(m1, v128.load(x, 16, 4));
    x += 32;
  }
  for (; i + 4 <= n; i += 4) {
    m0 = f32x4.pmax(m0, v128.load(x, 0, 4));
    x += 16;
  }
  m0 = f32x4.pmax(m0, m1);
  let mx: f32 = -Infinity;
  const l0 = f32x4.extract_lane(m0, 0);
  const l1 = f32x4.extract_lane(m0, 1);
  const l2 = f32x4.extract_lane(m0, 2);
  const l3 = f32x4.extract_lane(m0, 3);
  if (l0 > mx) mx = l0;
  if (l1 > mx) mx = l1;
  if (l2 > mx) mx = l2;
  if (l3 > mx) mx = l3;
  for (; i < n; i++) {
    const v = load<f32>(x);
    if (v > mx) mx = v;
    x += 4;
  }
  return mx;
}

// exp on 4 lanes (Cephes expf: range reduction by ln 2, degree-5 polynomial, 2^k through the
// exponent bits); about 1 ulp for x in [-87.3, 88.7]. Below -87.3 the result is 0 (the JS twin
// gives a denormal < 1.2e-38 there); NaN stays NaN. Only called with x <= 0 (x - max).
// @ts-ignore: decorator
@inline function expv(x: v128): v128 {
  const lo = f32x4.splat(-87.33654);
  const xc = f32x4.max(x, lo); // max keeps NaN
  const k = f32x4.nearest(f32x4.mul(xc, f32x4.splat(1.44269504088896341)));
  let r = f32x4.sub(xc, f32x4.mul(k, f32x4.splat(0.693359375)));
  r = f32x4.sub(r, f32x4.mul(k, f32x4.splat(-2.12194440e-4)));
  const z = f32x4.mul(r, r);
  let p = f32x4.splat(1.9875691500e-4);
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(1.3981999507e-3));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(8.3334519073e-3));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(4.1665795894e-2));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(1.6666665459e-1));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(5.0000001201e-1));
  p = f32x4.add(f32x4.add(f32x4.mul(p, z), r), f32x4.splat(1));
  const pow2k = i32x4.shl(i32x4.add(i32x4.trunc_sat_f32x4_s(k), i32x4.splat(127)), 23);
  const e = f32x4.mul(p, pow2k);
  return v128.andnot(e, f32x4.lt(x, lo));
}

/**
 * Second step of softmax: x[i] = exp(x[i] - mx), then x[i] /= sum; returns the sum (float64).
 * The caller computes the log partition log(sum) + mx.
 */
export function softmaxExp(x: usize, n: i32, mx: f32): f64 {
  const mv = f32x4.splat(mx);
  let s0 = f64x2.splat(0);
  let s1 = f64x2.splat(0);
  let p = x;
  let i: i32 = 0;
  for (; i + 4 <= n; i += 4) {
    const e = expv(f32x4.sub(v128.load(p, 0, 4), mv));
    v128.store(p, e, 0, 4);
    s0 = f64x2.add(s0, f64x2.promote_low_f32x4(e));
    s1 = f64x2.add(s1, f64x2.promote_low_f32x4(v128.shuffle<f32>(e, e, 2, 3, 2, 3)));
    p += 16;
  }
  s0 = f64x2.add(s0, s1);
  let s: f64 = f64x2.extract_lane(s0, 0) + f64x2.extract_lane(s0, 1);
  if (i < n) {
    // tail: pad a vector with -Infinity lanes (exp -> 0) so the same exp is used
    const t = n - i;
    let v = f32x4.splat(-Infinity);
    v = f32x4.replace_lane(v, 0, load<f32>(p));
    if (t > 1) v = f32x4.replace_lane(v, 1, load<f32>(p, 4));
    if (t > 2) v = f32x4.replace_lane(v, 2, load<f32>(p, 8));
    const e = expv(f32x4.sub(v, mv));
    const e0 = f32x4.extract_lane(e, 0);
    store<f32>(p, e0);
    s += <f64>e0;
    if (t > 1) {
      const e1 = f32x4.extract_lane(e, 1);
      store<f32>(p, e1, 4);
      s += <f64>e1;
    }
    if (t > 2) {
      const e2 = f32x4.extract_lane(e, 2);
      store<f32>(p, e2, 8);
      s += <f64>e2;
    }
  }
  const inv = <f32>(1.0 / s);
  const iv = f32x4.splat(inv);
  p = x;
  i = 0;
  for (; i + 4 <= n; i += 4) {
    v128.store(p, f32x4.mul(v128.load(p, 0, 4), iv), 0, 4);
    p += 16;
  }
  for (; i < n; i++) {
    store<f32>(p, load<f32>(p) * inv);
    p += 4;
  }
  return s;
}

/**
 * SimHash table keys of m hashed rows (a rebuild's staging): proj (m, H) holds each row's
 * projections; table t's key of row r concatenates the signs of its K projections
 * proj[r*H + sel[t*K + k]], k < K, first k in the most significant bit (code = proj >= 0, so -0
 * counts as 0 and sets the bit). keys[t*stride + r] = key, r < m, t < L.
 */
export function signKeys(proj: usize, H: i32, m: i32, sel: usize, K: i32, L: i32, keys: usize, stride: i32): void {
  for (let r: i32 = 0; r < m; r++) {
    const row = proj + ((<usize>r * <usize>H) << 2);
    let s = sel;
    let out = keys + (<usize>r << 2);
    for (let t: i32 = 0; t < L; t++) {
      let key: i32 = 0;
      for (let k: i32 = 0; k < K; k++) {
        key = (key << 1) | <i32>(load<f32>(row + (<usize>load<i32>(s) << 2)) >= 0);
        s += 4;
      }
      store<i32>(out, key);
      out += <usize>stride << 2;
    }
  }
}

/**
 * One table's CSR from its staged keys by a stable counting sort, when no bucket holds more than
 * S items: keys, ids (m staged items); off (R + 1) receives the bucket offsets and ent the ids,
 * bucket by bucket in staging order. Returns m, or -1 (off holding counts, ent untouched) when a
 * bucket has more than S items: the caller then applies its FIFO or reservoir policy.
 */
export function bucketSort(keys: usize, ids: usize, m: i32, R: i32, S: i32, off: usize, ent: usize): i32 {
  memory.fill(off, 0, <usize>(R + 1) << 2);
  for (let i: i32 = 0; i < m; i++) {
    const k = load<i32>(keys + (<usize>i << 2));
    // an absent item (-1) or a key out of range: the caller's general path
    if (<u32>k >= <u32>R) return -1;
    const q = off + ((<usize>k + 1) << 2);
    store<i32>(q, load<i32>(q) + 1);
  }
  for (let b: i32 = 0; b < R; b++) {
    const q = off + (<usize>b << 2);
    const c = load<i32>(q, 4);
    if (c > S) return -1;
    store<i32>(q, c + load<i32>(q), 4);
  }
  // off[b] serves as bucket b's cursor (it ends at the start of b + 1) and is shifted back
  for (let i: i32 = 0; i < m; i++) {
    const q = off + (<usize>load<i32>(keys + (<usize>i << 2)) << 2);
    const p = load<i32>(q);
    store<i32>(q, p + 1);
    store<i32>(ent + (<usize>p << 2), ids != 0 ? load<i32>(ids + (<usize>i << 2)) : i);
  }
  for (let b = R; b > 0; b--) store<i32>(off + (<usize>b << 2), load<i32>(off + (<usize>(b - 1) << 2)));
  store<i32>(off, 0);
  return m;
}

/**
 * One table's CSR from its keys in the general case (LshTables.commitTable when an item is
 * absent or a bucket has more than S items): keys (m items, -1 = absent); off (R + 1) receives
 * the bucket offsets and ent the kept ids (at most S a bucket); count: scratch (R). Full buckets
 * keep, in id order, the S highest ids (reservoir = 0) or Algorithm R's sample (reservoir = 1):
 * the c-th item of a bucket, c > S, replaces slot j = nextInt(c) when j < S, drawn from the
 * xoshiro128** generator whose state is (s0, s1, s2, s3), exactly as util/rng.ts draws them
 * (one stream over the table's items in id order). stats (3) receives the items present, the
 * items dropped and the buckets over S.
 */
export function bucketCommit(
  keys: usize, m: i32, R: i32, S: i32, reservoir: i32,
  s0: u32, s1: u32, s2: u32, s3: u32,
  off: usize, ent: usize, count: usize, stats: usize,
): void {
  memory.fill(count, 0, <usize>R << 2);
  let present: i32 = 0;
  for (let i: i32 = 0; i < m; i++) {
    const k = load<i32>(keys + (<usize>i << 2));
    if (k < 0) continue;
    const q = count + (<usize>k << 2);
    store<i32>(q, load<i32>(q) + 1);
    present++;
  }
  let total: i32 = 0;
  let dropped: i32 = 0;
  let overflowing: i32 = 0;
  for (let b: i32 = 0; b < R; b++) {
    const c = load<i32>(count + (<usize>b << 2));
    store<i32>(off + (<usize>b << 2), total);
    if (c > S) {
      total += S;
      dropped += c - S;
      overflowing++;
    } else {
      total += c;
    }
  }
  store<i32>(off + (<usize>R << 2), total);
  if (reservoir == 0) {
    // count[b] becomes the number of lowest ids of b to skip; off[b] serves as b's cursor and
    // is shifted back afterwards
    for (let b: i32 = 0; b < R; b++) {
      const q = count + (<usize>b << 2);
      const c = load<i32>(q);
      store<i32>(q, c > S ? c - S : 0);
    }
    for (let i: i32 = 0; i < m; i++) {
      const b = load<i32>(keys + (<usize>i << 2));
      if (b < 0) continue;
      const q = count + (<usize>b << 2);
      const skip = load<i32>(q);
      if (skip > 0) {
        store<i32>(q, skip - 1);
        continue;
      }
      const p = off + (<usize>b << 2);
      const at = load<i32>(p);
      store<i32>(ent + (<usize>at << 2), i);
      store<i32>(p, at + 1);
    }
    for (let b = R; b > 0; b--) store<i32>(off + (<usize>b << 2), load<i32>(off + (<usize>(b - 1) << 2)));
    store<i32>(off, 0);
  } else {
    memory.fill(count, 0, <usize>R << 2);
    for (let i: i32 = 0; i < m; i++) {
      const b = load<i32>(keys + (<usize>i << 2));
      if (b < 0) continue;
      const q = count + (<usize>b << 2);
      const c = load<i32>(q) + 1;
      store<i32>(q, c);
      const base = load<i32>(off + (<usize>b << 2));
      if (c <= S) {
        store<i32>(ent + (<usize>(base + c - 1) << 2), i);
        continue;
      }
      // nextInt(c): xoshiro128** outputs below the largest multiple of c under 2^32, modulo c
      const limit: u64 = 0x100000000 - (0x100000000 % <u64>c);
      let u: u64 = 0;
      do {
        u = <u64>(rotl<u32>(s1 * 5, 7) * 9);
        const t = s1 << 9;
        s2 ^= s0;
        s3 ^= s1;
        s1 ^= s2;
        s0 ^= s3;
        s2 ^= t;
        s3 = rotl<u32>(s3, 11);
      } while (u >= limit);
      const j = <i32>(u % <u64>c);
      if (j < S) store<i32>(ent + (<usize>(base + j) << 2), i);
    }
  }
  store<i32>(stats, present);
  store<i32>(stats, dropped, 4);
  store<i32>(stats, overflowing, 8);
}

/**
 * The counting half of a top-by-votes query over L bucket ranges of a table set's entries:
 *   tally[id] (N of them, zeroed first) = the number of ranges [bStart[t], bEnd[t]) holding id.
 * width: bytes a tally (1: u8, where every count fits a byte, L < 256; 2: u16). A byte tally of
 * WordNet's 19K labels (19 KB) fits a 32 KB first-level data cache, a u16 one (38 KB) does not;
 * on this machine's 48 KB cache both fit and bench:kernels counts 2% more queries/s with bytes.
 * Four entries a step: their addresses are independent (a range holds distinct ids).
 */
export function voteTally(
  entries: usize, bStart: usize, bEnd: usize, L: i32,
  tally: usize, N: i32, width: i32,
): void {
  if (width == 1) tallyInto<u8>(entries, bStart, bEnd, L, tally, N);
  else tallyInto<u16>(entries, bStart, bEnd, L, tally, N);
}

// @ts-ignore: decorator
@inline function tallyInto<T>(entries: usize, bStart: usize, bEnd: usize, L: i32, tally: usize, N: i32): void {
  memory.fill(tally, 0, <usize>N * sizeof<T>());
  // Start loading the first lines of every range (random places of a large array, each missing
  // the cache until the hardware prefetcher has seen a few lines of it) before counting: the
  // lookup of the WordNet recipe took 5-15% less time with 4 lines a range (8: no better).
  for (let t: i32 = 0; t < L; t++) {
    const p = entries + (<usize>load<i32>(bStart + (<usize>t << 2)) << 2);
    const e = entries + (<usize>load<i32>(bEnd + (<usize>t << 2)) << 2);
    for (let q = p; q < min(e, p + 256); q += 64) load<u8>(q);
  }
  for (let t: i32 = 0; t < L; t++) {
    let p = entries + (<usize>load<i32>(bStart + (<usize>t << 2)) << 2);
    const e = entries + (<usize>load<i32>(bEnd + (<usize>t << 2)) << 2);
    for (; p + 16 <= e; p += 16) {
      const a0 = tally + <usize>load<i32>(p) * sizeof<T>();
      const a1 = tally + <usize>load<i32>(p, 4) * sizeof<T>();
      const a2 = tally + <usize>load<i32>(p, 8) * sizeof<T>();
      const a3 = tally + <usize>load<i32>(p, 12) * sizeof<T>();
      store<T>(a0, load<T>(a0) + 1);
      store<T>(a1, load<T>(a1) + 1);
      store<T>(a2, load<T>(a2) + 1);
      store<T>(a3, load<T>(a3) + 1);
    }
    for (; p < e; p += 4) {
      const a = tally + <usize>load<i32>(p) * sizeof<T>();
      store<T>(a, load<T>(a) + 1);
    }
  }
}

/**
 * The placement of a top-by-votes selection: cand[0 .. nc) ids (voteCollect's: ascending
 * within each vote group) with votes tally[id] (width bytes each, as voteTally); hist[v] (i32)
 * the first output slot of vote group v for v > vt (vt: the votes at the cut), advanced as the
 * group fills. Items above the cut go to out[hist[v]++], the first `need` items with exactly vt
 * votes to out[above ..); outVotes (when not 0) gets their votes at the same slots.
 */
export function votePlace(cand: usize, nc: i32, tally: usize, hist: usize, vt: i32, above: i32, need: i32, out: usize, outVotes: usize, width: i32): void {
  if (width == 1) placeFrom<u8>(cand, nc, tally, hist, vt, above, need, out, outVotes);
  else placeFrom<u16>(cand, nc, tally, hist, vt, above, need, out, outVotes);
}

// @ts-ignore: decorator
@inline function placeFrom<T>(cand: usize, nc: i32, tally: usize, hist: usize, vt: i32, above: i32, need: i32, out: usize, outVotes: usize): void {
  let g: i32 = 0;
  for (let i: i32 = 0; i < nc; i++) {
    const c = load<i32>(cand + (<usize>i << 2));
    const v = <i32>load<T>(tally + <usize>c * sizeof<T>());
    let p: i32 = -1;
    if (v > vt) {
      const h = hist + (<usize>v << 2);
      p = load<i32>(h);
      store<i32>(h, p + 1);
    } else if (v == vt && g < need) {
      p = above + g;
      g++;
    }
    if (p >= 0) {
      store<i32>(out + (<usize>p << 2), c);
      if (outVotes != 0) store<i32>(outVotes + (<usize>p << 2), v);
    }
  }
}

/** Bit j set where vLo <= tally byte p[j] <= vHi, j < 16 (the lanes' unsigned bytes). */
// @ts-ignore: decorator
@inline function bandMask16(p: usize, vLo: v128, vHi: v128): i32 {
  const x = v128.load(p);
  return i8x16.bitmask(v128.and(i8x16.ge_u(x, vLo), i8x16.le_u(x, vHi)));
}

/**
 * bandMask16 of 64 bytes at once: the scans of voteCollect and voteScores go through the set bits
 * of 64 tallies a step, so that the loop over them ends (a branch the predictor misses: how many
 * are set varies) once a 64 instead of once a 16. WordNet's LSH evaluation of its saved model on
 * 1 thread: voteScores' time in a CPU profile 0.53 -> 0.23 s (19,113 queries).
 */
// @ts-ignore: decorator
@inline function bandMask64(p: usize, vLo: v128, vHi: v128): u64 {
  return <u64>bandMask16(p, vLo, vHi) | (<u64>bandMask16(p + 16, vLo, vHi) << 16) |
    (<u64>bandMask16(p + 32, vLo, vHi) << 32) | (<u64>bandMask16(p + 48, vLo, vHi) << 48);
}

/**
 * The ids with lo <= votes < hi (1 <= lo) in tally (N of them, width bytes each, as voteTally),
 * ascending, appended at cand[n ..) until n reaches max (the scan stops there: the first ids of a
 * band); hist[v] (i32) += how many of them have v votes; returns the new n. Sixteen (u8) or eight (u16) tallies a step compared at once: only the steps with a kept
 * id (a few percent in training) go through the ids one by one.
 */
export function voteCollect(tally: usize, N: i32, lo: i32, hi: i32, hist: usize, cand: usize, n: i32, max: i32, width: i32): i32 {
  if (hi <= lo || n >= max) return n;
  let id: i32 = 0;
  if (width == 1) {
    if (lo > 255) return n;
    const vLo = i8x16.splat(<i8>lo);
    const vHi = i8x16.splat(<i8>(min(hi, 256) - 1));
    for (; id + 64 <= N; id += 64) {
      let bits = bandMask64(tally + <usize>id, vLo, vHi);
      while (bits != 0) {
        const i = id + <i32>ctz(bits);
        bits &= bits - 1;
        const h = hist + (<usize>load<u8>(tally + <usize>i) << 2);
        store<i32>(h, load<i32>(h) + 1);
        store<i32>(cand + (<usize>n << 2), i);
        if (++n >= max) return n;
      }
    }
    for (; id + 16 <= N; id += 16) {
      let bits = bandMask16(tally + <usize>id, vLo, vHi);
      while (bits != 0) {
        const i = id + ctz(bits);
        bits &= bits - 1;
        const h = hist + (<usize>load<u8>(tally + <usize>i) << 2);
        store<i32>(h, load<i32>(h) + 1);
        store<i32>(cand + (<usize>n << 2), i);
        if (++n >= max) return n;
      }
    }
  } else {
    if (lo > 65535) return n;
    const floor = i16x8.splat(<i16>(lo - 1));
    const ceil = i16x8.splat(<i16>(min(hi, 65536) - 1));
    for (; id + 8 <= N; id += 8) {
      const v = v128.load(tally + (<usize>id << 1), 0, 2);
      let bits = i16x8.bitmask(v128.and(i16x8.gt_u(v, floor), i16x8.le_u(v, ceil)));
      while (bits != 0) {
        const i = id + ctz(bits);
        bits &= bits - 1;
        const h = hist + (<usize>load<u16>(tally + (<usize>i << 1)) << 2);
        store<i32>(h, load<i32>(h) + 1);
        store<i32>(cand + (<usize>n << 2), i);
        if (++n >= max) return n;
      }
    }
  }
  for (; id < N; id++) {
    const v = width == 1 ? <i32>load<u8>(tally + <usize>id) : <i32>load<u16>(tally + (<usize>id << 1));
    if (v >= lo && v < hi) {
      const h = hist + (<usize>v << 2);
      store<i32>(h, load<i32>(h) + 1);
      store<i32>(cand + (<usize>n << 2), id);
      if (++n >= max) return n;
    }
  }
  return n;
}

// the histogram of scoreCut's last call: scores s in bin (cutHi - s) * cutScale truncated
let cutHi: f64 = 0;
let cutScale: f64 = 0;

/**
 * A histogram of 1024 bins over [lo, hi] of score[0 .. n) (lo, hi: their least and largest), bin
 * (hi - s) * 1023 / (hi - lo) truncated (every score in bin 0 when they are equal), into hist;
 * returns the bin the cut of a top-cap selection falls in (the bins before it hold fewer than
 * cap, with it at least cap; n >= cap > 0), setting cutHi / cutScale (scoreSplit, scoreFloor).
 */
function scoreCut(score: usize, n: i32, cap: i32, hist: usize): i32 {
  // two lanes, so that each min / max waits on its own lane's last (the result is the same)
  let lo2 = f64x2.splat(Infinity);
  let hi2 = f64x2.splat(-Infinity);
  let j: i32 = 0;
  for (; j + 2 <= n; j += 2) {
    const v = v128.load(score + (<usize>j << 3));
    lo2 = f64x2.pmin(v, lo2);
    hi2 = f64x2.pmax(v, hi2);
  }
  let lo = min(f64x2.extract_lane(lo2, 0), f64x2.extract_lane(lo2, 1));
  let hi = max(f64x2.extract_lane(hi2, 0), f64x2.extract_lane(hi2, 1));
  if (j < n) {
    const v = load<f64>(score + (<usize>j << 3));
    lo = min(lo, v);
    hi = max(hi, v);
  }
  const scale: f64 = hi > lo ? 1023.0 / (hi - lo) : 0.0;
  memory.fill(hist, 0, 1024 << 2);
  for (let i: i32 = 0; i < n; i++) {
    const h = hist + (<usize>(<i32>((hi - load<f64>(score + (<usize>i << 3))) * scale)) << 2);
    store<i32>(h, load<i32>(h) + 1);
  }
  let cut: i32 = 0;
  let above: i32 = 0;
  while (above + load<i32>(hist + (<usize>cut << 2)) < cap) {
    above += load<i32>(hist + (<usize>cut << 2));
    cut++;
  }
  cutHi = hi;
  cutScale = scale;
  return cut;
}

/**
 * The split of a top-cap selection by score (src/kernels/js.ts scoreSplit; n > cap > 0), at
 * scoreCut's bin: the ids of the bins before it into out[0 ..) in input order, its ids and
 * scores into tmpIds / tmpScore; returns how many went to out; hist[0] = how many went to tmp.
 * The slot past each holds an item that did not go there (out has room: fewer than cap go there).
 */
export function scoreSplit(ids: usize, score: usize, n: i32, cap: i32, hist: usize, out: usize, tmpIds: usize, tmpScore: usize): i32 {
  const cut = scoreCut(score, n, cap, hist);
  const hi = cutHi;
  const scale = cutScale;
  let m: i32 = 0;
  let g: i32 = 0;
  // no branch on the bin (which side an item falls is a coin toss: on WordNet ~1,000 of ~1,700
  // go to out): every item is written to both, and each count advances where it belongs
  for (let i: i32 = 0; i < n; i++) {
    const v = load<f64>(score + (<usize>i << 3));
    const b = <i32>((hi - v) * scale);
    const id = load<i32>(ids + (<usize>i << 2));
    store<i32>(out + (<usize>m << 2), id);
    store<i32>(tmpIds + (<usize>g << 2), id);
    store<f64>(tmpScore + (<usize>g << 3), v);
    m += <i32>(b < cut);
    g += <i32>(b == cut);
  }
  store<i32>(hist, g);
  return m;
}

/**
 * A floor under the cap-th largest of score[0 .. n) (n >= cap > 0; src/kernels/js.ts
 * scoreFloor): the least score in scoreCut's bin, above which (with it) lie at least cap.
 */
export function scoreFloor(score: usize, n: i32, cap: i32, hist: usize): f64 {
  const cut = scoreCut(score, n, cap, hist);
  const hi = cutHi;
  const scale = cutScale;
  let f = Infinity;
  for (let i: i32 = 0; i < n; i++) {
    const v = load<f64>(score + (<usize>i << 3));
    f = select<f64>(min(f, v), f, <i32>((hi - v) * scale) == cut);
  }
  return f;
}

/** cand[n] = id, score[n] = cosv[v] * rowNorm[id] * xNorm + bias[id] (voteScores) */
// @ts-ignore: decorator
@inline function putScore(cand: usize, score: usize, n: i32, id: i32, v: usize, cosv: usize, rowNorm: usize, bias: usize, xNorm: f64): void {
  store<i32>(cand + (<usize>n << 2), id);
  store<f64>(score + (<usize>n << 3), load<f64>(cosv + (v << 3)) * <f64>load<f32>(rowNorm + (<usize>id << 2)) * xNorm + <f64>load<f32>(bias + (<usize>id << 2)));
}

/**
 * The ids with lo <= votes < hi (1 <= lo) in tally (N of them, width bytes each, as voteTally),
 * ascending, appended to cand[n ..) until max, with their estimated logits into score (f64):
 *   score[i] = cosv[v] * rowNorm[id] * xNorm + bias[id],   v = tally[id]
 * in that order of operations, in f64 (src/kernels/js.ts voteScores; equal bit for bit); returns
 * the new n. The SIMD skipping of voteCollect: sixteen (u8) or eight (u16) tallies a step.
 */
export function voteScores(tally: usize, N: i32, lo: i32, hi: i32, cosv: usize, rowNorm: usize, bias: usize, xNorm: f64, cand: usize, score: usize, n: i32, max: i32, width: i32): i32 {
  if (n >= max) return n;
  const top = min(hi - 1, width == 1 ? 255 : 65535);
  if (lo > top) return n;
  let id: i32 = 0;
  if (width == 1) {
    const vLo = i8x16.splat(<i8>lo);
    const vHi = i8x16.splat(<i8>top);
    for (; id + 64 <= N; id += 64) {
      let bits = bandMask64(tally + <usize>id, vLo, vHi);
      while (bits != 0) {
        const i = id + <i32>ctz(bits);
        bits &= bits - 1;
        putScore(cand, score, n, i, <usize>load<u8>(tally + <usize>i), cosv, rowNorm, bias, xNorm);
        if (++n >= max) return n;
      }
    }
    for (; id + 16 <= N; id += 16) {
      let bits = bandMask16(tally + <usize>id, vLo, vHi);
      while (bits != 0) {
        const i = id + ctz(bits);
        bits &= bits - 1;
        putScore(cand, score, n, i, <usize>load<u8>(tally + <usize>i), cosv, rowNorm, bias, xNorm);
        if (++n >= max) return n;
      }
    }
  } else {
    const vLo = i16x8.splat(<i16>lo);
    const vHi = i16x8.splat(<i16>top);
    for (; id + 8 <= N; id += 8) {
      const x = v128.load(tally + (<usize>id << 1), 0, 2);
      let bits = i16x8.bitmask(v128.and(i16x8.ge_u(x, vLo), i16x8.le_u(x, vHi)));
      while (bits != 0) {
        const i = id + ctz(bits);
        bits &= bits - 1;
        putScore(cand, score, n, i, <usize>load<u16>(tally + (<usize>i << 1)), cosv, rowNorm, bias, xNorm);
        if (++n >= max) return n;
      }
    }
  }
  for (; id < N; id++) {
    const v = width == 1 ? <i32>load<u8>(tally + <usize>id) : <i32>load<u16>(tally + (<usize>id << 1));
    if (v >= lo && v <= top) {
      putScore(cand, score, n, id, <usize>v, cosv, rowNorm, bias, xNorm);
      if (++n >= max) return n;
    }
  }
  return n;
}

/**
 * The items of ids / score [from, n) whose score is at least floor, kept in order from `from`;
 * returns the new end (src/kernels/js.ts scoreKeep; the slots past it equal too). No branch on
 * the comparison: the count advances on it (a second pass of topByLogit keeps ~1 in 6 on
 * WordNet).
 */
export function scoreKeep(ids: usize, score: usize, from: i32, n: i32, floor: f64): i32 {
  let m = from;
  for (let i = from; i < n; i++) {
    const v = load<f64>(score + (<usize>i << 3));
    store<i32>(ids + (<usize>m << 2), load<i32>(ids + (<usize>i << 2)));
    store<f64>(score + (<usize>m << 3), v);
    m += <i32>(v >= floor);
  }
  return m;
}

/**
 * Lengths of m rows X (m, n) after subtracting mean (n): out[r] = |X[r*n ..) - mean|
 * (src/kernels/js.ts centredNorms). Four lanes of float32 squares, summed across at the end.
 */
export function centredNorms(X: usize, n: i32, m: i32, mean: usize, out: usize): void {
  const n4 = n & ~3;
  for (let r: i32 = 0; r < m; r++) {
    let x = X + (<usize>r * <usize>n << 2);
    let c = mean;
    let s4 = f32x4.splat(0);
    let i: i32 = 0;
    for (; i < n4; i += 4) {
      const d = f32x4.sub(v128.load(x, 0, 4), v128.load(c, 0, 4));
      s4 = f32x4.add(s4, f32x4.mul(d, d));
      x += 16;
      c += 16;
    }
    let s = hsum(s4);
    for (; i < n; i++) {
      const d = load<f32>(x) - load<f32>(c);
      s += d * d;
      x += 4;
      c += 4;
    }
    store<f32>(out + (<usize>r << 2), sqrt<f32>(s));
  }
}

/**
 * Column sums of m rows X (m, n) into acc (n float64), row after row (src/kernels/js.ts colSums):
 * acc[k] += X[r*n + k] for r = 0, 1, .. m-1. Four rows a pass over acc, four columns a step as
 * two f64x2 (each float32 widened exactly); every column's additions stay in row order, so the
 * sums equal the TypeScript twin's bit for bit.
 */
export function colSums(X: usize, n: i32, m: i32, acc: usize): void {
  const rowBytes = <usize>n << 2;
  const n4Bytes = <usize>(n & ~3) << 2;
  let r: i32 = 0;
  for (; r + 4 <= m; r += 4) {
    const x0 = X + <usize>r * rowBytes;
    const x1 = x0 + rowBytes;
    const x2 = x1 + rowBytes;
    const x3 = x2 + rowBytes;
    let c: usize = 0;
    for (; c < n4Bytes; c += 16) {
      const a = acc + (c << 1);
      let lo = v128.load(a, 0, 8);
      let hi = v128.load(a, 16, 8);
      let v = v128.load(x0 + c, 0, 4);
      lo = f64x2.add(lo, f64x2.promote_low_f32x4(v));
      hi = f64x2.add(hi, f64x2.promote_low_f32x4(v128.shuffle<f32>(v, v, 2, 3, 2, 3)));
      v = v128.load(x1 + c, 0, 4);
      lo = f64x2.add(lo, f64x2.promote_low_f32x4(v));
      hi = f64x2.add(hi, f64x2.promote_low_f32x4(v128.shuffle<f32>(v, v, 2, 3, 2, 3)));
      v = v128.load(x2 + c, 0, 4);
      lo = f64x2.add(lo, f64x2.promote_low_f32x4(v));
      hi = f64x2.add(hi, f64x2.promote_low_f32x4(v128.shuffle<f32>(v, v, 2, 3, 2, 3)));
      v = v128.load(x3 + c, 0, 4);
      lo = f64x2.add(lo, f64x2.promote_low_f32x4(v));
      hi = f64x2.add(hi, f64x2.promote_low_f32x4(v128.shuffle<f32>(v, v, 2, 3, 2, 3)));
      v128.store(a, lo, 0, 8);
      v128.store(a, hi, 16, 8);
    }
    for (; c < rowBytes; c += 4) {
      const a = acc + (c << 1);
      store<f64>(a, load<f64>(a) + <f64>load<f32>(x0 + c) + <f64>load<f32>(x1 + c) + <f64>load<f32>(x2 + c) + <f64>load<f32>(x3 + c));
    }
  }
  for (; r < m; r++) {
    const x = X + <usize>r * rowBytes;
    for (let c: usize = 0; c < rowBytes; c += 4) {
      const a = acc + (c << 1);
      store<f64>(a, load<f64>(a) + <f64>load<f32>(x + c));
    }
  }
}

// ---------------------------------------------------------------------------------------------
// WTA / DWTA hashing (src/hashing/wta.ts, dwta.ts, wtaKernel.ts): comparisons and integer
// arithmetic only, so every code and key equals the TypeScript family's bit for bit.
//
// Rows go in the lanes: the keys of 8 (or 4) rows are stored coordinate-major, 8 int32 a
// coordinate, so one load of a bin's coordinate gives that coordinate's key in all 8 rows, and
// the arg-max runs with lane-wise compares and selects, no branch on the data. Codes come out
// hash-major (a hash's codes of consecutive rows contiguous), which is also what the keys want:
// a table's keys of 4 rows are one vector, stored at keys[t*stride + r .. r+4).

// @ts-ignore: decorator
@inline const KEY_MIN: i32 = -2147483648;
// Densifier's probes a bin (src/hashing/common.ts PROBE_CAP) and their log2
// @ts-ignore: decorator
@inline const PROBE_CAP: i32 = 16;
// @ts-ignore: decorator
@inline const PROBE_SHIFT: i32 = 4;

/**
 * Order-preserving int32 keys of 4 floats (src/hashing/wtaKernel.ts): b ^ ((b >> 31) & 0x7fffffff)
 * for the bits b, and zeroKey (0 for WTA, INT32_MIN for DWTA) for +0 and -0.
 */
// @ts-ignore: decorator
@inline function keysOf(x: v128, zeroKey: v128): v128 {
  const low = i32x4.splat(0x7fffffff);
  const z = i32x4.eq(v128.and(x, low), i32x4.splat(0));
  const key = v128.xor(x, v128.and(i32x4.shr_s(x, 31), low));
  return v128.or(v128.andnot(key, z), v128.and(z, zeroKey));
}

/** The same key of one float. */
// @ts-ignore: decorator
@inline function keyOf(v: f32, zeroKey: i32): i32 {
  const b = reinterpret<i32>(v);
  const z = ((b & 0x7fffffff) - 1) >> 31; // -1 iff +-0
  return ((b ^ ((b >> 31) & 0x7fffffff)) & ~z) | (z & zeroKey);
}

/**
 * Keys of 4 rows (at x0 .. x3, n floats each, minus mean[0 .. n) when mean != 0) into buf,
 * coordinate-major with `lanes` int32 a coordinate: buf[c*lanes + lane0 + i] = key of row i's
 * coordinate c. Four coordinates a step, the 4 x 4 block transposed by shuffles.
 */
// @ts-ignore: decorator
@inline function rowKeys4(x0: usize, x1: usize, x2: usize, x3: usize, n: i32, mean: usize, zeroKey: i32, buf: usize, lanes: i32, lane0: i32): void {
  const zk = i32x4.splat(zeroKey);
  const step = <usize>lanes << 2;
  let o = buf + (<usize>lane0 << 2);
  let c: i32 = 0;
  for (; c + 4 <= n; c += 4) {
    const cb = <usize>c << 2;
    let a = v128.load(x0 + cb, 0, 4);
    let b = v128.load(x1 + cb, 0, 4);
    let d = v128.load(x2 + cb, 0, 4);
    let e = v128.load(x3 + cb, 0, 4);
    if (mean != 0) {
      const mv = v128.load(mean + cb, 0, 4);
      a = f32x4.sub(a, mv);
      b = f32x4.sub(b, mv);
      d = f32x4.sub(d, mv);
      e = f32x4.sub(e, mv);
    }
    a = keysOf(a, zk);
    b = keysOf(b, zk);
    d = keysOf(d, zk);
    e = keysOf(e, zk);
    // transpose: column j = coordinate c + j of the 4 rows
    const t0 = v128.shuffle<i32>(a, b, 0, 4, 1, 5);
    const t1 = v128.shuffle<i32>(a, b, 2, 6, 3, 7);
    const t2 = v128.shuffle<i32>(d, e, 0, 4, 1, 5);
    const t3 = v128.shuffle<i32>(d, e, 2, 6, 3, 7);
    v128.store(o, v128.shuffle<i32>(t0, t2, 0, 1, 4, 5), 0, 4);
    v128.store(o + step, v128.shuffle<i32>(t0, t2, 2, 3, 6, 7), 0, 4);
    v128.store(o + 2 * step, v128.shuffle<i32>(t1, t3, 0, 1, 4, 5), 0, 4);
    v128.store(o + 3 * step, v128.shuffle<i32>(t1, t3, 2, 3, 6, 7), 0, 4);
    o += step << 2;
  }
  for (; c < n; c++) {
    const cb = <usize>c << 2;
    // without a mean, x - 0 is x (and -0 - 0 = -0, whose key is that of +0)
    const mv: f32 = mean != 0 ? load<f32>(mean + cb) : 0;
    store<i32>(o, keyOf(load<f32>(x0 + cb) - mv, zeroKey));
    store<i32>(o, keyOf(load<f32>(x1 + cb) - mv, zeroKey), 4);
    store<i32>(o, keyOf(load<f32>(x2 + cb) - mv, zeroKey), 8);
    store<i32>(o, keyOf(load<f32>(x3 + cb) - mv, zeroKey), 12);
    o += step;
  }
}

/**
 * WTA / DWTA codes of m dense rows X (m, n), before densification (src/kernels/js.ts wtaCodes):
 * the keys of row r (X row minus mean when mean != 0; zeros -> 0, or INT32_MIN when dwta), then
 * for each hash h the position p < binSize of the largest key among coords[h*binSize + p], ties to
 * the first, or -1 if that key is INT32_MIN (an empty DWTA bin):
 *   codes[h*ld + r],   h < H, r < m.
 * Returns the number of empty bins (codes -1; 0 unless dwta): densifyCodes has nothing to do
 * without one. Rows 8 at a time in the lanes of two vectors (see above), then 4, then one at a
 * time with the hashes in the lanes (a query). buf: 8*n int32 of scratch.
 */
export function wtaCodes(coords: usize, H: i32, binSize: i32, dwta: i32, X: usize, n: i32, m: i32, mean: usize, buf: usize, codes: usize, ld: i32): i32 {
  const zeroKey = dwta != 0 ? KEY_MIN : 0;
  // empty bins (codes -1) written, by lane, then in all
  let empty = i32x4.splat(0);
  let emptyBins: i32 = 0;
  const rowBytes = <usize>n << 2;
  const ldBytes = <usize>ld << 2;
  const binBytes = <usize>binSize << 2;
  const minv = i32x4.splat(KEY_MIN);
  const one = i32x4.splat(1);
  let r: i32 = 0;
  for (; r + 8 <= m; r += 8) {
    const x = X + <usize>r * rowBytes;
    rowKeys4(x, x + rowBytes, x + 2 * rowBytes, x + 3 * rowBytes, n, mean, zeroKey, buf, 8, 0);
    const y = x + 4 * rowBytes;
    rowKeys4(y, y + rowBytes, y + 2 * rowBytes, y + 3 * rowBytes, n, mean, zeroKey, buf, 8, 4);
    let cp = coords;
    let out = codes + (<usize>r << 2);
    for (let h: i32 = 0; h < H; h++) {
      let best0 = minv;
      let best1 = minv;
      let pos0 = i32x4.splat(0);
      let pos1 = i32x4.splat(0);
      let pv = i32x4.splat(0);
      const ce = cp + binBytes;
      for (; cp < ce; cp += 4) {
        const a = buf + (<usize>load<i32>(cp) << 5);
        const k0 = v128.load(a, 0, 4);
        const k1 = v128.load(a, 16, 4);
        // strictly greater: a tie keeps the first position. pv is above every position so far,
        // so max(pos, pv where greater, else 0) is a select in two operations instead of three
        pos0 = i32x4.max_s(pos0, v128.and(pv, i32x4.gt_s(k0, best0)));
        pos1 = i32x4.max_s(pos1, v128.and(pv, i32x4.gt_s(k1, best1)));
        best0 = i32x4.max_s(best0, k0);
        best1 = i32x4.max_s(best1, k1);
        pv = i32x4.add(pv, one);
      }
      const e0 = i32x4.eq(best0, minv);
      const e1 = i32x4.eq(best1, minv);
      v128.store(out, v128.or(pos0, e0), 0, 4);
      v128.store(out, v128.or(pos1, e1), 16, 4);
      empty = i32x4.sub(i32x4.sub(empty, e0), e1);
      out += ldBytes;
    }
  }
  for (; r + 4 <= m; r += 4) {
    const x = X + <usize>r * rowBytes;
    rowKeys4(x, x + rowBytes, x + 2 * rowBytes, x + 3 * rowBytes, n, mean, zeroKey, buf, 4, 0);
    let cp = coords;
    let out = codes + (<usize>r << 2);
    for (let h: i32 = 0; h < H; h++) {
      let best = minv;
      let pos = i32x4.splat(0);
      let pv = i32x4.splat(0);
      const ce = cp + binBytes;
      for (; cp < ce; cp += 4) {
        const k = v128.load(buf + (<usize>load<i32>(cp) << 4), 0, 4);
        pos = i32x4.max_s(pos, v128.and(pv, i32x4.gt_s(k, best)));
        best = i32x4.max_s(best, k);
        pv = i32x4.add(pv, one);
      }
      const e = i32x4.eq(best, minv);
      v128.store(out, v128.or(pos, e), 0, 4);
      empty = i32x4.sub(empty, e);
      out += ldBytes;
    }
  }
  for (; r < m; r++) {
    const x = X + <usize>r * rowBytes;
    for (let c: i32 = 0; c < n; c++) {
      const cb = <usize>c << 2;
      const v = mean != 0 ? load<f32>(x + cb) - load<f32>(mean + cb) : load<f32>(x + cb);
      store<i32>(buf + cb, keyOf(v, zeroKey));
    }
    emptyBins += wtaCodesRow(coords, H, binSize, buf, codes + (<usize>r << 2), ldBytes);
  }
  return emptyBins + i32x4.extract_lane(empty, 0) + i32x4.extract_lane(empty, 1) + i32x4.extract_lane(empty, 2) + i32x4.extract_lane(empty, 3);
}

/**
 * The codes of one row whose keys are buf[0 .. n), four hashes at a time in the lanes (the keys
 * gathered lane by lane), then the leftover hashes alone: out[h * ldBytes] (bytes), h < H.
 * Returns the number of empty bins.
 */
function wtaCodesRow(coords: usize, H: i32, binSize: i32, buf: usize, out: usize, ldBytes: usize): i32 {
  let emptyBins: i32 = 0;
  const minv = i32x4.splat(KEY_MIN);
  const one = i32x4.splat(1);
  const binBytes = <usize>binSize << 2;
  let h: i32 = 0;
  for (; h + 4 <= H; h += 4) {
    const c0 = coords + <usize>h * binBytes;
    const c1 = c0 + binBytes;
    const c2 = c1 + binBytes;
    const c3 = c2 + binBytes;
    let best = minv;
    let pos = i32x4.splat(0);
    let pv = i32x4.splat(0);
    for (let pb: usize = 0; pb < binBytes; pb += 4) {
      let k = i32x4.splat(load<i32>(buf + (<usize>load<i32>(c0 + pb) << 2)));
      k = v128.load32_lane(buf + (<usize>load<i32>(c1 + pb) << 2), k, 1);
      k = v128.load32_lane(buf + (<usize>load<i32>(c2 + pb) << 2), k, 2);
      k = v128.load32_lane(buf + (<usize>load<i32>(c3 + pb) << 2), k, 3);
      pos = i32x4.max_s(pos, v128.and(pv, i32x4.gt_s(k, best)));
      best = i32x4.max_s(best, k);
      pv = i32x4.add(pv, one);
    }
    const e = i32x4.eq(best, minv);
    emptyBins -= i32x4.extract_lane(e, 0) + i32x4.extract_lane(e, 1) + i32x4.extract_lane(e, 2) + i32x4.extract_lane(e, 3);
    const code = v128.or(pos, e);
    const o = out + <usize>h * ldBytes;
    store<i32>(o, i32x4.extract_lane(code, 0));
    store<i32>(o + ldBytes, i32x4.extract_lane(code, 1));
    store<i32>(o + 2 * ldBytes, i32x4.extract_lane(code, 2));
    store<i32>(o + 3 * ldBytes, i32x4.extract_lane(code, 3));
  }
  for (; h < H; h++) {
    const cp = coords + <usize>h * binBytes;
    let best: i32 = KEY_MIN;
    let pos: i32 = 0;
    for (let p: i32 = 0; p < binSize; p++) {
      const k = load<i32>(buf + (<usize>load<i32>(cp + (<usize>p << 2)) << 2));
      pos = k > best ? p : pos;
      best = max(best, k);
    }
    store<i32>(out + <usize>h * ldBytes, best == KEY_MIN ? -1 : pos);
    emptyBins += <i32>(best == KEY_MIN);
  }
  return emptyBins;
}

/**
 * DWTA densification in place (src/kernels/js.ts densifyCodes; src/hashing/common.ts Densifier):
 * hash-major codes codes[h*ld + r] of m rows, -1 for an empty bin. Rows without an empty bin are
 * found 4 at a time (the OR of their codes' sign bits) and left alone; a row with every bin empty
 * gets 0 everywhere; any other row goes through densifyRow. buf: 2*H int32 of scratch.
 */
export function densifyCodes(codes: usize, ld: i32, m: i32, H: i32, probes: usize, buf: usize): void {
  const ldBytes = <usize>ld << 2;
  let r: i32 = 0;
  for (; r + 4 <= m; r += 4) {
    let any = i32x4.splat(0);
    let all = i32x4.splat(-1);
    let p = codes + (<usize>r << 2);
    for (let h: i32 = 0; h < H; h++) {
      const v = v128.load(p, 0, 4);
      any = v128.or(any, v);
      all = v128.and(all, v);
      p += ldBytes;
    }
    let need = i32x4.bitmask(any);
    const empty = i32x4.bitmask(all);
    while (need != 0) {
      const i = ctz(need);
      need &= need - 1;
      densifyRow(codes + (<usize>(r + i) << 2), ldBytes, H, probes, buf, ((empty >> i) & 1) != 0);
    }
  }
  for (; r < m; r++) {
    let any: i32 = 0;
    let all: i32 = -1;
    let p = codes + (<usize>r << 2);
    for (let h: i32 = 0; h < H; h++) {
      const v = load<i32>(p);
      any |= v;
      all &= v;
      p += ldBytes;
    }
    if (any < 0) densifyRow(codes + (<usize>r << 2), ldBytes, H, probes, buf, all < 0);
  }
}

/** Densify one row with at least one empty bin: col[h * ldBytes] (bytes), h < H. */
function densifyRow(col: usize, ldBytes: usize, H: i32, probes: usize, buf: usize, allEmpty: bool): void {
  if (allEmpty) {
    // a zero input: EMPTY_INPUT_CODE (0) everywhere
    for (let h: i32 = 0; h < H; h++) store<i32>(col + <usize>h * ldBytes, 0);
    return;
  }
  // buf[0 .. H): the row as it was (borrowed codes come from non-empty bins only)
  for (let h: i32 = 0; h < H; h++) store<i32>(buf + (<usize>h << 2), load<i32>(col + <usize>h * ldBytes));
  const next = buf + (<usize>H << 2);
  let haveNext = false;
  for (let h: i32 = 0; h < H; h++) {
    if (load<i32>(buf + (<usize>h << 2)) >= 0) continue;
    let found: i32 = -1;
    const pb = probes + (<usize>(h << PROBE_SHIFT) << 2);
    for (let a: i32 = 0; a < PROBE_CAP; a++) {
      found = load<i32>(buf + (<usize>load<i32>(pb + (<usize>a << 2)) << 2));
      if (found >= 0) break;
    }
    if (found < 0) {
      // rotation fallback: next[h] = the first non-empty bin after h, circularly (built once a row)
      if (!haveNext) {
        let first: i32 = 0;
        while (load<i32>(buf + (<usize>first << 2)) < 0) first++;
        let nxt = first;
        for (let j = H - 1; j >= 0; j--) {
          store<i32>(next + (<usize>j << 2), nxt);
          if (load<i32>(buf + (<usize>j << 2)) >= 0) nxt = j;
        }
        haveNext = true;
      }
      found = load<i32>(buf + (<usize>load<i32>(next + (<usize>h << 2)) << 2));
    }
    store<i32>(col + <usize>h * ldBytes, found);
  }
}

/** murmur3's finalizer (src/util/rng.ts mix32) on 4 lanes */
// @ts-ignore: decorator
@inline function mix32x4(h: v128): v128 {
  h = i32x4.mul(v128.xor(h, i32x4.shr_u(h, 16)), i32x4.splat(<i32>0x85ebca6b));
  h = i32x4.mul(v128.xor(h, i32x4.shr_u(h, 13)), i32x4.splat(<i32>0xc2b2ae35));
  return v128.xor(h, i32x4.shr_u(h, 16));
}

// @ts-ignore: decorator
@inline function mix32x1(h: i32): i32 {
  h = (h ^ (h >>> 16)) * <i32>0x85ebca6b;
  h = (h ^ (h >>> 13)) * <i32>0xc2b2ae35;
  return h ^ (h >>> 16);
}

/**
 * Table keys of m rows from hash-major codes (src/kernels/js.ts codeKeys; LshTables'
 * combineCodes): table t's key of row r combines codes[sel[t*K + k]*ld + r] & (2^bits - 1),
 * k < K, by concatenation (first code highest) when K*bits <= rangePow, else by the mix32 fold of
 * the concatenation's 32-bit words, top rangePow bits kept: keys[t*stride + r]. Rows 8 or 4 at a
 * time in the lanes (where a word ends depends on K and bits only, the same in every lane).
 */
export function codeKeys(codes: usize, ld: i32, m: i32, sel: usize, K: i32, L: i32, bits: i32, rangePow: i32, keys: usize, stride: i32): void {
  const mask = (1 << bits) - 1;
  const maskv = i32x4.splat(mask);
  const concat = K * bits <= rangePow;
  const ldBytes = <usize>ld << 2;
  const fold = 32 - rangePow;
  for (let t: i32 = 0; t < L; t++) {
    const st = sel + (<usize>(t * K) << 2);
    const out = keys + ((<usize>t * <usize>stride) << 2);
    let r: i32 = 0;
    // 8 rows a step (two vectors a selection read), then 4
    for (; r + 8 <= m; r += 8) {
      const base = codes + (<usize>r << 2);
      let key0 = i32x4.splat(0);
      let key1 = i32x4.splat(0);
      if (concat) {
        for (let k: i32 = 0; k < K; k++) {
          const a = base + <usize>load<i32>(st + (<usize>k << 2)) * ldBytes;
          key0 = v128.or(i32x4.shl(key0, bits), v128.and(v128.load(a, 0, 4), maskv));
          key1 = v128.or(i32x4.shl(key1, bits), v128.and(v128.load(a, 16, 4), maskv));
        }
      } else {
        let h0 = i32x4.splat(<i32>0x9e3779b9);
        let h1 = h0;
        let used: i32 = 0;
        for (let k: i32 = 0; k < K; k++) {
          if (used + bits > 32) {
            h0 = mix32x4(v128.xor(h0, key0));
            h1 = mix32x4(v128.xor(h1, key1));
            key0 = i32x4.splat(0);
            key1 = i32x4.splat(0);
            used = 0;
          }
          const a = base + <usize>load<i32>(st + (<usize>k << 2)) * ldBytes;
          key0 = v128.or(i32x4.shl(key0, bits), v128.and(v128.load(a, 0, 4), maskv));
          key1 = v128.or(i32x4.shl(key1, bits), v128.and(v128.load(a, 16, 4), maskv));
          used += bits;
        }
        key0 = i32x4.shr_u(mix32x4(v128.xor(h0, key0)), fold);
        key1 = i32x4.shr_u(mix32x4(v128.xor(h1, key1)), fold);
      }
      v128.store(out + (<usize>r << 2), key0, 0, 4);
      v128.store(out + (<usize>r << 2), key1, 16, 4);
    }
    for (; r + 4 <= m; r += 4) {
      const base = codes + (<usize>r << 2);
      let key = i32x4.splat(0);
      if (concat) {
        for (let k: i32 = 0; k < K; k++) {
          const c = v128.load(base + <usize>load<i32>(st + (<usize>k << 2)) * ldBytes, 0, 4);
          key = v128.or(i32x4.shl(key, bits), v128.and(c, maskv));
        }
      } else {
        let h = i32x4.splat(<i32>0x9e3779b9);
        let used: i32 = 0;
        for (let k: i32 = 0; k < K; k++) {
          if (used + bits > 32) {
            h = mix32x4(v128.xor(h, key));
            key = i32x4.splat(0);
            used = 0;
          }
          const c = v128.load(base + <usize>load<i32>(st + (<usize>k << 2)) * ldBytes, 0, 4);
          key = v128.or(i32x4.shl(key, bits), v128.and(c, maskv));
          used += bits;
        }
        key = i32x4.shr_u(mix32x4(v128.xor(h, key)), fold);
      }
      v128.store(out + (<usize>r << 2), key, 0, 4);
    }
    for (; r < m; r++) {
      const base = codes + (<usize>r << 2);
      let key: i32 = 0;
      if (concat) {
        for (let k: i32 = 0; k < K; k++) key = (key << bits) | (load<i32>(base + <usize>load<i32>(st + (<usize>k << 2)) * ldBytes) & mask);
      } else {
        let h: i32 = <i32>0x9e3779b9;
        let used: i32 = 0;
        for (let k: i32 = 0; k < K; k++) {
          if (used + bits > 32) {
            h = mix32x1(h ^ key);
            key = 0;
            used = 0;
          }
          key = (key << bits) | (load<i32>(base + <usize>load<i32>(st + (<usize>k << 2)) * ldBytes) & mask);
          used += bits;
        }
        key = mix32x1(h ^ key) >>> fold;
      }
      store<i32>(out + (<usize>r << 2), key);
    }
  }
}
