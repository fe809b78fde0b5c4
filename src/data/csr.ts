/**
 * Compact CSR storage of samples: no object per line.
 *
 * Row r's features are featIdx[featPtr[r] .. featPtr[r+1]) with values featVal[same];
 * its labels are labelIdx[labelPtr[r] .. labelPtr[r+1]). Ids are 0-based.
 */
export interface CsrBatch {
  /** number of rows */
  n: number;
  featPtr: Int32Array; // (n + 1)
  featIdx: Int32Array; // (nnz)
  featVal: Float32Array; // (nnz)
  labelPtr: Int32Array; // (n + 1)
  labelIdx: Int32Array; // (number of labels over all rows)
}

/** A whole data set: the header's dimensions plus all rows. */
export interface XcDataset extends CsrBatch {
  nFeatures: number;
  nLabels: number;
}

/** Rows [start, end) of a data set as a batch sharing (subarray) storage. */
export function sliceRows(d: CsrBatch, start: number, end: number): CsrBatch {
  const f0 = d.featPtr[start]!;
  const f1 = d.featPtr[end]!;
  const l0 = d.labelPtr[start]!;
  const l1 = d.labelPtr[end]!;
  const featPtr = new Int32Array(end - start + 1);
  const labelPtr = new Int32Array(end - start + 1);
  for (let r = 0; r <= end - start; r++) {
    featPtr[r] = d.featPtr[start + r]! - f0;
    labelPtr[r] = d.labelPtr[start + r]! - l0;
  }
  return {
    n: end - start,
    featPtr,
    featIdx: d.featIdx.subarray(f0, f1),
    featVal: d.featVal.subarray(f0, f1),
    labelPtr,
    labelIdx: d.labelIdx.subarray(l0, l1),
  };
}

/** The L2 length of one row's values val[start, end), its sum of squares in float64. */
export function rowLength(val: Float32Array, start: number, end: number): number {
  let ss = 0;
  for (let i = start; i < end; i++) ss += val[i]! * val[i]!;
  return Math.sqrt(ss);
}

/** Gather the given rows (e.g. a shuffled order) into a caller-owned batch. */
export function gatherRows(d: CsrBatch, rows: Int32Array, start: number, end: number, out: CsrBatchBuffer): CsrBatch {
  let nnz = 0;
  let nl = 0;
  for (let i = start; i < end; i++) {
    const r = rows[i]!;
    nnz += d.featPtr[r + 1]! - d.featPtr[r]!;
    nl += d.labelPtr[r + 1]! - d.labelPtr[r]!;
  }
  out.reserve(end - start, nnz, nl);
  fillRows(d, rows, start, end, out.batch);
  return out.batch;
}

/** Copy rows[start..end) of d into b, whose arrays must be large enough; sets b.n. */
export function fillRows(d: CsrBatch, rows: Int32Array, start: number, end: number, b: CsrBatch): void {
  let fp = 0;
  let lp = 0;
  b.featPtr[0] = 0;
  b.labelPtr[0] = 0;
  for (let i = start; i < end; i++) {
    const r = rows[i]!;
    for (let k = d.featPtr[r]!; k < d.featPtr[r + 1]!; k++) {
      b.featIdx[fp] = d.featIdx[k]!;
      b.featVal[fp] = d.featVal[k]!;
      fp++;
    }
    for (let k = d.labelPtr[r]!; k < d.labelPtr[r + 1]!; k++) b.labelIdx[lp++] = d.labelIdx[k]!;
    b.featPtr[i - start + 1] = fp;
    b.labelPtr[i - start + 1] = lp;
  }
  b.n = end - start;
}

/** Reusable storage for batches: grows geometrically, never shrinks, so a training loop allocates only while warming up. */
export class CsrBatchBuffer {
  batch: CsrBatch = {
    n: 0,
    featPtr: new Int32Array(1),
    featIdx: new Int32Array(0),
    featVal: new Float32Array(0),
    labelPtr: new Int32Array(1),
    labelIdx: new Int32Array(0),
  };

  reserve(rows: number, nnz: number, labels: number): void {
    const b = this.batch;
    if (b.featPtr.length < rows + 1) {
      const c = grow(b.featPtr.length, rows + 1);
      b.featPtr = new Int32Array(c);
      b.labelPtr = new Int32Array(c);
    }
    if (b.featIdx.length < nnz) {
      const c = grow(b.featIdx.length, nnz);
      b.featIdx = new Int32Array(c);
      b.featVal = new Float32Array(c);
    }
    if (b.labelIdx.length < labels) b.labelIdx = new Int32Array(grow(b.labelIdx.length, labels));
  }
}

function grow(have: number, need: number): number {
  let c = Math.max(16, have);
  while (c < need) c *= 2;
  return c;
}

/** Throw a RangeError naming `what` if a feature or label id of b is outside a model's dimensions. */
export function checkBatchIds(b: CsrBatch, nFeatures: number, nLabels: number, what: string): void {
  const nf = b.featPtr[b.n]!;
  for (let i = 0; i < nf; i++) {
    const f = b.featIdx[i]!;
    if (f < 0 || f >= nFeatures) throw new RangeError(`${what}: feature id ${f} is outside the model's ${nFeatures} features`);
  }
  const nl = b.labelPtr[b.n]!;
  for (let i = 0; i < nl; i++) {
    const l = b.labelIdx[i]!;
    if (l < 0 || l >= nLabels) throw new RangeError(`${what}: label id ${l} is outside the model's ${nLabels} labels`);
  }
}
