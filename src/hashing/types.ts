/**
 * The interface every LSH family implements. A family instance holds `numHashes` elementary
 * hash functions (K per table times L tables) over inputs of dimension `dim`. Each elementary
 * hash yields a small integer code in [0, 2^bitsPerHash). Tables combine K codes into a bucket.
 *
 * All calls write into caller-owned output arrays and allocate nothing.
 * A vector given densely and the same vector given sparsely (its non-zeros) hash identically.
 */
export interface HashFamily {
  readonly name: string;
  readonly dim: number;
  readonly numHashes: number;
  /** every code is in [0, 2^bitsPerHash) */
  readonly bitsPerHash: number;

  /** Hash one dense vector x[xOff .. xOff+dim) into out[outOff .. outOff+numHashes). */
  hashDenseRow(x: Float32Array, xOff: number, out: Int32Array, outOff: number): void;

  /** Hash one sparse vector (idx[k], val[k]) for k in [start, end) into out[outOff .. +numHashes). Indices are distinct, in [0, dim), any order. */
  hashSparseRow(idx: Int32Array, val: Float32Array, start: number, end: number, out: Int32Array, outOff: number): void;

  /** Batched dense: row r is data[offset + r*stride .. +dim); codes to out[r*numHashes ..]. */
  hashDense(n: number, data: Float32Array, offset: number, stride: number, out: Int32Array): void;

  /** Batched sparse CSR: row r is idx/val[indptr[r] .. indptr[r+1]); codes to out[r*numHashes ..]. */
  hashSparse(n: number, indptr: Int32Array, idx: Int32Array, val: Float32Array, out: Int32Array): void;

  /**
   * How the SIMD kernels compute these codes for dense vectors (the sampler's path for table
   * keys and queries), or null when only this TypeScript implementation does. The kernels must
   * give exactly hashDenseRow's codes.
   */
  kernelPlan(): KernelPlan | null;
}

/**
 * A family's codes as SIMD kernel work over dense inputs. The kernels compute `numHashes` codes
 * of a vector; the code the tables read as code i is kernel code select[i] (select null: code i).
 *  - 'projection': one-bit codes, the signs of projections by a matrix, proj (dim, numHashes)
 *    feature-major (Kernels.projectRows / dotRows over its transpose);
 *  - 'hadamard': one-bit codes, the signs of structured projections (Kernels.hadamardRows) with
 *    blocks of `blockWidth`, `rounds` rounds of the random signs `signs` (blocks * rounds, blockWidth);
 *  - 'wta': code h = the position of the largest of the binSize coordinates coords[h*binSize ..]
 *    (Kernels.wtaCodes);
 *  - 'dwta': the same over non-zero values only, empty bins densified through the probing
 *    sequence probes (numHashes, PROBE_CAP) with the rotation fallback (Kernels.densifyCodes).
 */
export type KernelPlan =
  | { kind: 'projection'; numHashes: number; select: Int32Array | null; proj: Float32Array }
  | { kind: 'hadamard'; numHashes: number; select: Int32Array | null; blockWidth: number; rounds: number; signs: Float32Array }
  | { kind: 'wta'; numHashes: number; select: Int32Array | null; binSize: number; coords: Int32Array }
  | { kind: 'dwta'; numHashes: number; select: Int32Array | null; binSize: number; coords: Int32Array; probes: Int32Array };

/** Options common to all families plus family-specific ones (ignored where they do not apply). */
export interface HashFamilyOptions {
  dim: number;
  numHashes: number;
  seed: number;
  /** WTA / DWTA: coordinates compared per hash (power of two, 2..256). Default 8. */
  binSize?: number;
  /**
   * SimHash: 'sparse' = entries in {-1, 0, +1} with P(nonzero) = density; 'gaussian' = N(0,1);
   * 'hadamard' = rows of pseudo-random rotations H D H D H D (structured, O(p log p) a block of p).
   * Default 'sparse'.
   */
  projection?: 'sparse' | 'gaussian' | 'hadamard';
  /** SimHash sparse projection: fraction of non-zero entries. Default 1/3. */
  density?: number;
  /** DOPH: bits kept per code. Default 8. */
  bits?: number;
}

export type HashFamilyName = 'simhash' | 'wta' | 'dwta' | 'doph';
export type HashFamilyFactory = (opts: HashFamilyOptions) => HashFamily;
