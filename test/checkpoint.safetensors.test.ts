import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeSafetensors, encodeSafetensors, encodeHeader, parseHeader, SafetensorsError } from '../src/checkpoint/safetensors.js';

/**
 * The safetensors codec against a byte layout written out by hand from the format's
 * specification: u64 LE header length, JSON header padded with spaces to a multiple of 8,
 * then the tensors' little-endian bytes, contiguous.
 */

const HEADER =
  '{"__metadata__":{"k":"v"},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"I32","shape":[1,1],"data_offsets":[8,12]}}';

function handMade(): Uint8Array {
  // 135 bytes of JSON + 1 space = 136, so that the data starts at 8 + 136 = 144, a multiple of 8
  assert.equal(HEADER.length, 135);
  const pad = 136 - HEADER.length;
  const bytes: number[] = [136, 0, 0, 0, 0, 0, 0, 0];
  for (const ch of HEADER) bytes.push(ch.charCodeAt(0));
  for (let i = 0; i < pad; i++) bytes.push(0x20);
  bytes.push(0x00, 0x00, 0x80, 0x3f); // a[0] = 1.0f
  bytes.push(0x00, 0x00, 0x00, 0xc0); // a[1] = -2.0f
  bytes.push(0xff, 0xff, 0xff, 0xff); // b[0][0] = -1
  return Uint8Array.from(bytes);
}

test('encode produces exactly the hand-made layout', () => {
  const enc = encodeSafetensors(
    [
      { name: 'a', dtype: 'F32', shape: [2], data: Float32Array.of(1, -2) },
      { name: 'b', dtype: 'I32', shape: [1, 1], data: Int32Array.of(-1) },
    ],
    { k: 'v' },
  );
  assert.deepEqual(Array.from(enc), Array.from(handMade()));
});

test('decode reads the hand-made layout', () => {
  const { metadata, tensors } = decodeSafetensors(handMade());
  assert.deepEqual(metadata, { k: 'v' });
  assert.deepEqual(tensors.get('a')!.shape, [2]);
  assert.deepEqual(Array.from(tensors.get('a')!.data), [1, -2]);
  assert.equal(tensors.get('b')!.dtype, 'I32');
  assert.deepEqual(tensors.get('b')!.shape, [1, 1]);
  assert.deepEqual(Array.from(tensors.get('b')!.data), [-1]);
});

test('header is padded with spaces to a multiple of 8 for every JSON length', () => {
  for (let len = 0; len < 12; len++) {
    const { bytes } = encodeHeader([{ name: 'x'.repeat(len + 1), dtype: 'U32', shape: [3], data: Uint32Array.of(1, 2, 0xffffffff) }], {});
    assert.equal(bytes.length % 8, 0);
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    assert.equal(n, bytes.length - 8);
    const text = Buffer.from(bytes.subarray(8)).toString('utf8');
    assert.match(text, /^\{.*\} *$/);
    const round = decodeSafetensors(encodeSafetensors([{ name: 'x'.repeat(len + 1), dtype: 'U32', shape: [3], data: Uint32Array.of(1, 2, 0xffffffff) }]));
    assert.deepEqual(Array.from(round.tensors.get('x'.repeat(len + 1))!.data), [1, 2, 0xffffffff]);
  }
});

test('tensors are ordered by offset regardless of JSON key order; zero-size tensors are fine', () => {
  const h = '{"late":{"dtype":"F32","shape":[1],"data_offsets":[4,8]},"empty":{"dtype":"F32","shape":[0,3],"data_offsets":[0,0]},"early":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}';
  const n = Math.ceil((8 + h.length) / 8) * 8 - 8;
  const buf = Buffer.alloc(8 + n + 8, 0x20);
  buf.writeBigUInt64LE(BigInt(n), 0);
  buf.write(h, 8, 'latin1');
  buf.writeFloatLE(3.5, 8 + n);
  buf.writeFloatLE(-7, 8 + n + 4);
  const { tensors } = decodeSafetensors(buf);
  assert.deepEqual(Array.from(tensors.get('early')!.data), [3.5]);
  assert.deepEqual(Array.from(tensors.get('late')!.data), [-7]);
  assert.equal(tensors.get('empty')!.data.length, 0);
});

function withHeader(h: string, dataBytes: number, extra = 0): Uint8Array {
  const n = Math.ceil((8 + h.length) / 8) * 8 - 8;
  const buf = Buffer.alloc(8 + n + dataBytes + extra, 0x20);
  buf.writeBigUInt64LE(BigInt(n), 0);
  buf.write(h, 8, 'latin1');
  buf.fill(0, 8 + n);
  return buf;
}

function refuses(buf: Uint8Array, kind: SafetensorsError['kind'], re: RegExp): void {
  assert.throws(
    () => decodeSafetensors(buf),
    (e: unknown) => e instanceof SafetensorsError && e.kind === kind && re.test(e.message),
  );
}

test('malformed files are refused with the reason', () => {
  const good = handMade();
  refuses(good.subarray(0, good.length - 1), 'truncated', /expected 156 bytes, found 155/);
  refuses(good.subarray(0, 100), 'truncated', /header alone needs 144 bytes, found 100/);
  refuses(good.subarray(0, 5), 'not-safetensors', /shorter than the 8-byte/);
  refuses(Buffer.concat([good, Buffer.from([0])]), 'invalid', /1 bytes after the last tensor/);
  refuses(Buffer.from('hello, this is a text file and not a tensor file\n'), 'not-safetensors', /header length/);
  refuses(withHeader('{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}', 8), 'invalid', /contiguous/);
  refuses(withHeader('{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}', 8), 'invalid', /starts at 4, expected 0/);
  refuses(withHeader('{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}', 8), 'invalid', /needs 12/);
  refuses(withHeader('{"a":{"dtype":"Q7","shape":[1],"data_offsets":[0,4]}}', 4), 'invalid', /unknown dtype/);
  refuses(withHeader('{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}', 4), 'invalid', /shape/);
  refuses(withHeader('{"__metadata__":{"n":3}}', 0), 'invalid', /must be a string/);
  refuses(withHeader('{"a":1,', 0), 'invalid', /not UTF-8 JSON/);
  refuses(withHeader('[1, 2]', 0), 'not-safetensors', /does not start/);
});

test('parseHeader reads only the header bytes it is asked for', () => {
  const good = handMade();
  const asked: number[] = [];
  const h = parseHeader(good.subarray(0, 8), good.length, (n) => {
    asked.push(n);
    return good.subarray(8, 8 + n);
  });
  assert.deepEqual(asked, [136]);
  assert.equal(h.dataStart, 144);
  assert.equal(h.dataBytes, 12);
  assert.equal(h.fileBytes, 156);
});

test("Python's safetensors reads our files (skipped unless python3 can import safetensors)", (t) => {
  const probe = spawnSync('python3', ['-c', 'import safetensors, numpy'], { encoding: 'utf8' });
  if (probe.status !== 0) {
    t.skip('python3 with the safetensors and numpy packages is not installed');
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'st-py-'));
  try {
    const file = join(dir, 'x.safetensors');
    const f = new Float32Array(6).map((_, i) => i / 4 - 0.5);
    writeFileSync(file, encodeSafetensors([
      { name: 'w', dtype: 'F32', shape: [2, 3], data: f },
      { name: 'i', dtype: 'I32', shape: [2], data: Int32Array.of(-5, 7) },
      { name: 'u', dtype: 'U32', shape: [1], data: Uint32Array.of(0xfffffffe) },
    ], { format: 'test', 'json': '{"a": [1, 2]}' }));
    const py = [
      'import sys, json',
      'from safetensors.numpy import load_file',
      'from safetensors import safe_open',
      't = load_file(sys.argv[1])',
      'with safe_open(sys.argv[1], "np") as f: md = f.metadata()',
      'print(json.dumps({k: {"dtype": str(v.dtype), "shape": list(v.shape), "data": v.ravel().tolist()} for k, v in t.items()} | {"__md__": md}))',
    ].join('\n');
    const r = spawnSync('python3', ['-c', py, file], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.deepEqual(out.w, { dtype: 'float32', shape: [2, 3], data: Array.from(f) });
    assert.deepEqual(out.i, { dtype: 'int32', shape: [2], data: [-5, 7] });
    assert.deepEqual(out.u, { dtype: 'uint32', shape: [1], data: [0xfffffffe] });
    assert.deepEqual(out.__md__, { format: 'test', json: '{"a": [1, 2]}' });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
