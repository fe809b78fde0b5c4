import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHashFamily, knownHashFamilies, registerHashFamily } from '../src/hashing/registry.js';
import { ConfigError } from '../src/util/errors.js';
import { SimHash } from '../src/hashing/simhash.js';
import type { HashFamilyOptions } from '../src/hashing/types.js';

const base: HashFamilyOptions = { dim: 10, numHashes: 4, seed: 1 };

test('registry: the four built-ins are registered and created by name', () => {
  for (const n of ['simhash', 'wta', 'dwta', 'doph']) assert.ok(knownHashFamilies().includes(n));
  for (const n of ['simhash', 'wta', 'dwta', 'doph'] as const) assert.equal(createHashFamily(n, base).name, n);
});

test('registry: an unknown name throws, listing the known names', () => {
  assert.throws(
    () => createHashFamily('minhash', base),
    (e: unknown) => e instanceof ConfigError && /unknown hash family "minhash"/.test(e.message) && /'simhash', 'wta', 'dwta', 'doph'/.test(e.message),
  );
});

test('registry: registering a duplicate name throws; a new name works', () => {
  assert.throws(() => registerHashFamily('dwta', (o) => new SimHash(o)), /already registered/);
  registerHashFamily('test-simhash-alias', (o) => new SimHash(o));
  assert.equal(createHashFamily('test-simhash-alias', base).name, 'simhash');
  assert.throws(() => registerHashFamily('test-simhash-alias', (o) => new SimHash(o)), /already registered/);
});

test('options are validated with messages naming the option', () => {
  const cases: [string, Partial<HashFamilyOptions>, RegExp][] = [
    ['wta', { binSize: 6 }, /'binSize' must be a power of two in \[2, 256\], found 6/],
    ['dwta', { binSize: 512 }, /'binSize'/],
    ['dwta', { binSize: 1 }, /'binSize'/],
    ['simhash', { numHashes: 0 }, /'numHashes' must be an integer >= 1, found 0/],
    ['doph', { dim: 0 }, /'dim' must be an integer >= 1/],
    ['wta', { dim: 2.5 }, /'dim'/],
    ['dwta', { seed: 1.5 }, /'seed' must be an integer/],
    ['simhash', { density: 0 }, /'density' must be a number in \(0, 1\]/],
    ['simhash', { density: 1.5 }, /'density'/],
    ['simhash', { projection: 'uniform' as 'sparse' }, /'projection' must be 'sparse', 'gaussian' or 'hadamard'/],
    ['doph', { bits: 0 }, /'bits' must be an integer in \[1, 30\]/],
    ['doph', { bits: 31 }, /'bits'/],
  ];
  for (const [name, o, re] of cases) {
    assert.throws(() => createHashFamily(name, { ...base, ...o }), (e: unknown) => e instanceof ConfigError && re.test(e.message) && e.message.startsWith(name), `${name} ${JSON.stringify(o)}`);
  }
});

test('batched calls check their buffers once per batch, with messages naming the call', () => {
  for (const n of ['simhash', 'wta', 'dwta', 'doph'] as const) {
    const f = createHashFamily(n, base);
    assert.throws(() => f.hashDense(2, new Float32Array(15), 0, 10, new Int32Array(8)), new RegExp(`${n}.hashDense: rows need data\\[0 .. 20\\)`));
    assert.throws(() => f.hashDense(2, new Float32Array(20), 0, 10, new Int32Array(7)), /out needs 2 x 4 = 8 codes/);
    assert.throws(() => f.hashSparse(2, Int32Array.of(0, 1), new Int32Array(1), new Float32Array(1), new Int32Array(8)), /indptr needs 3 entries/);
    assert.throws(() => f.hashSparse(1, Int32Array.of(0, 3), new Int32Array(2), new Float32Array(3), new Int32Array(4)), /indptr\[1\] = 3 exceeds/);
    f.hashDense(0, new Float32Array(0), 0, 10, new Int32Array(0));
  }
});
