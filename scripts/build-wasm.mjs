#!/usr/bin/env node
// Builds the WebAssembly SIMD kernels: assembly/kernels.ts -> build/kernels.wasm (+ .wat text).
// Equivalent command line:
//   npx asc assembly/kernels.ts -o build/kernels.wasm --enable simd --enable threads \
//     --importMemory --sharedMemory --maximumMemory 65536 -O3 --noAssert --runtime stub
// Then checks the module is safe to instantiate on a model arena: it imports only its memory
// (plus possibly env.abort), and has no data segment and no start function, so instantiating it
// writes nothing into the (shared) memory.
import { mkdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import asc from 'assemblyscript/asc';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'build', 'kernels.wasm');
mkdirSync(dirname(out), { recursive: true });

const args = [
  join(root, 'assembly', 'kernels.ts'),
  '-o', out,
  '-t', join(root, 'build', 'kernels.wat'),
  '--enable', 'simd',
  '--enable', 'threads',
  '--importMemory',
  '--sharedMemory',
  '--maximumMemory', '65536',
  '-O3',
  '--noAssert',
  '--runtime', 'stub',
];

const { error, stderr } = await asc.main(args);
if (error) {
  process.stderr.write(stderr.toString());
  process.stderr.write(`build-wasm: ${error.message}\n`);
  process.exit(1);
}

// --- post-build checks -------------------------------------------------------------------------
const bytes = readFileSync(out);
const module = new WebAssembly.Module(bytes);
const imports = WebAssembly.Module.imports(module);
for (const imp of imports) {
  const ok = imp.module === 'env' && ((imp.name === 'memory' && imp.kind === 'memory') || (imp.name === 'abort' && imp.kind === 'function'));
  if (!ok) fail(`unexpected import ${imp.module}.${imp.name} (${imp.kind})`);
}
if (!imports.some((i) => i.kind === 'memory')) fail('the module does not import its memory');

// Walk the sections: 8 = start, 11 = data; both would touch the arena at instantiation.
let p = 8;
const leb = () => {
  let result = 0;
  let shift = 0;
  for (;;) {
    const b = bytes[p++];
    result += (b & 0x7f) * 2 ** shift;
    if ((b & 0x80) === 0) return result;
    shift += 7;
  }
};
while (p < bytes.length) {
  const id = bytes[p++];
  const size = leb();
  if (id === 8) fail('the module has a start function');
  if (id === 11) {
    const save = p;
    const count = leb();
    p = save;
    if (count > 0) fail(`the module has ${count} data segment(s) (static data would be written into the arena)`);
  }
  p += size;
}

const exported = WebAssembly.Module.exports(module).map((e) => e.name);
process.stdout.write(`build-wasm: ${out} (${bytes.length} bytes; exports ${exported.join(', ')})\n`);

function fail(msg) {
  process.stderr.write(`build-wasm: ${msg}\n`);
  process.exit(1);
}
