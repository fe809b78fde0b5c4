import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { spawnSync } from 'node:child_process';

/** The README's library example, run exactly as written (only the package name is resolved to this checkout). */
test('the README library example runs and learns', () => {
  const here = dirname(fileURLToPath(import.meta.url));
  const root = [here, join(here, '..'), join(here, '../..')].find((d) => {
    try {
      return JSON.parse(readFileSync(join(d, 'package.json'), 'utf8')).name === 'sublinear';
    } catch {
      return false;
    }
  })!;
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const m = /<!-- readme-example -->\s*```js\n([\s\S]*?)```/.exec(readme);
  assert.ok(m, 'README has the marked example');
  const entry = pathToFileURL(join(root, 'dist/src/index.js')).href;
  const code = m[1]!.replace(/from 'sublinear'/g, `from ${JSON.stringify(entry)}`);
  assert.notEqual(code, m[1], 'the example imports sublinear');
  const dir = mkdtempSync(join(tmpdir(), 'sublinear-readme-'));
  try {
    const file = join(dir, 'example.mjs');
    writeFileSync(file, code);
    const r = spawnSync(process.execPath, [file], { encoding: 'utf8', timeout: 120_000 });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /epoch 4: loss \d/);
    const p = /P@1 with LSH inference ([\d.]+), exact ([\d.]+)/.exec(r.stdout);
    assert.ok(p, r.stdout);
    assert.ok(Number(p[1]) > 0.5 && Number(p[2]) > 0.5, `the example learns: ${p[0]}`);
    assert.match(r.stdout, /\{ id: \d+, score: [\d.e-]+ \}/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
