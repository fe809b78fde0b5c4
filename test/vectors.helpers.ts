/**
 * Test vectors with a known geometry, shared by the hashing and table tests (not a test file
 * itself: node --test runs only *.test.js): pairs at a given angle, and clustered points with
 * their brute-force cosine neighbours.
 */
import type { Rng } from '../src/util/rng.js';

export function unit(v: Float64Array): Float64Array {
  let s = 0;
  for (const x of v) s += x * x;
  const r = 1 / Math.sqrt(s);
  return v.map((x) => x * r);
}

/** A random pair (x, y) of unit vectors at angle theta: y = cos(theta) x + sin(theta) z, z unit and orthogonal to x. */
export function pairAtAngle(rng: Rng, dim: number, theta: number): [Float32Array, Float32Array] {
  const x = unit(Float64Array.from({ length: dim }, () => rng.nextGaussian()));
  const g = Float64Array.from({ length: dim }, () => rng.nextGaussian());
  let d = 0;
  for (let i = 0; i < dim; i++) d += g[i]! * x[i]!;
  const z = unit(g.map((v, i) => v - d * x[i]!));
  const y = x.map((v, i) => Math.cos(theta) * v + Math.sin(theta) * z[i]!);
  return [Float32Array.from(x), Float32Array.from(y)];
}

export interface ClusteredSet {
  /** (n, dim) points: a random centre plus Gaussian noise */
  data: Float32Array;
  /** (nq, dim) queries: a random point plus Gaussian noise */
  queries: Float32Array;
  /** for each query, its k nearest points by cosine, nearest first */
  truth: number[][];
}

/**
 * n points around `centres` random centres (so that neighbours are meaningful), nq queries near
 * random points, and each query's k brute-force cosine neighbours.
 */
export function clusteredSet(rng: Rng, o: { n: number; dim: number; centres: number; noise: number; nq: number; queryNoise: number; k: number }): ClusteredSet {
  const { n, dim, nq, k } = o;
  const centres = Float32Array.from({ length: o.centres * dim }, () => rng.nextGaussian());
  const data = new Float32Array(n * dim);
  for (let i = 0; i < n; i++) {
    const c = rng.nextInt(o.centres);
    for (let d = 0; d < dim; d++) data[i * dim + d] = centres[c * dim + d]! + o.noise * rng.nextGaussian();
  }
  const norms = Float64Array.from({ length: n }, (_, i) => {
    let s = 0;
    for (let d = 0; d < dim; d++) s += data[i * dim + d]! ** 2;
    return Math.sqrt(s);
  });
  const queries = new Float32Array(nq * dim);
  const truth: number[][] = [];
  for (let q = 0; q < nq; q++) {
    const src = rng.nextInt(n);
    let qn = 0;
    for (let d = 0; d < dim; d++) {
      const v = data[src * dim + d]! + o.queryNoise * rng.nextGaussian();
      queries[q * dim + d] = v;
      qn += v * v;
    }
    const sims = Array.from({ length: n }, (_, i) => {
      let s = 0;
      for (let d = 0; d < dim; d++) s += queries[q * dim + d]! * data[i * dim + d]!;
      return [i, s / (norms[i]! * Math.sqrt(qn))] as const;
    });
    sims.sort((a, b) => b[1] - a[1]);
    truth.push(sims.slice(0, k).map((s) => s[0]));
  }
  return { data, queries, truth };
}
