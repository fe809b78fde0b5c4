import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { createInterface } from 'node:readline';
import { loadModel, saveModel } from '../src/checkpoint/checkpoint.js';
import { SlideModel } from '../src/training/model.js';
import { assertSameModel, childExecArgv, moduleUrl } from './checkpoint.helpers.js';

/**
 * Kill during save: a child process saves a ~123 MB model to the same path in a loop; it is
 * SIGKILLed while writing, when a random fraction of the next file is on disk. The file at the
 * path must then still load (no truncation, no checksum failure) and equal the known model: the
 * previous checkpoint (or, if the kill came just after the rename, the new one).
 */
const N_FEATURES = 80_000; // input block 80,000 x 128: W, M, V = 3 x 41 MB
const CONFIG = { seed: 9, hidden: [128], output: { mode: 'dense' as const }, epochs: 1 };

const dir = mkdtempSync(join(tmpdir(), 'ckpt-kill-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

const script = join(dir, 'saver.mjs');
writeFileSync(
  script,
  `import { SlideModel } from ${JSON.stringify(moduleUrl('../src/training/model.js'))};
import { saveModel } from ${JSON.stringify(moduleUrl('../src/checkpoint/checkpoint.js'))};
const path = process.argv[2];
const m = new SlideModel({ nFeatures: ${N_FEATURES}, nLabels: 64, config: ${JSON.stringify(CONFIG)}, kernels: 'js' });
for (let i = 1; ; i++) {
  m.step = i;
  process.stdout.write('begin ' + i + '\\n');
  const t0 = performance.now();
  await saveModel(m, path);
  process.stdout.write('saved ' + i + ' ' + (performance.now() - t0).toFixed(1) + '\\n');
}
`,
);

/**
 * Run the saver and SIGKILL it in the middle of writing a checkpoint: once a save has completed
 * (so the size of a whole file is known), poll the temporary file of the save in progress and
 * kill as soon as it holds `frac` of that size. Returns the last save announced complete.
 */
function runAndKill(path: string, frac: number): Promise<{ lastSaved: number; killedAtBytes: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...childExecArgv(), script, path], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    let lastSaved = 0;
    let killedAtBytes = -1;
    let poll: NodeJS.Timeout | null = null;
    const prefix = `.${basename(path)}.tmp-${child.pid}-`;
    const lines = createInterface({ input: child.stdout });
    lines.on('line', (line) => {
      const [what, n] = line.split(' ');
      if (what !== 'saved') return;
      lastSaved = Number(n);
      if (poll) return;
      const target = frac * statSync(path).size;
      poll = setInterval(() => {
        for (const f of readdirSync(dir)) {
          if (!f.startsWith(prefix)) continue;
          let size = 0;
          try {
            size = statSync(join(dir, f)).size;
          } catch {
            continue; // renamed in between
          }
          if (size >= target && killedAtBytes < 0) {
            killedAtBytes = size;
            child.kill('SIGKILL');
          }
        }
      }, 1);
    });
    child.on('exit', (code, signal) => {
      if (poll) clearInterval(poll);
      if (signal === 'SIGKILL') resolve({ lastSaved, killedAtBytes });
      else reject(new Error(`saver exited with ${code} before the kill: ${stderr}`));
    });
  });
}

test('SIGKILL during a save leaves the previous (or the new) complete checkpoint at the path', async (t) => {
  const known = new SlideModel({ nFeatures: N_FEATURES, nLabels: 64, config: CONFIG, kernels: 'js' });
  const path = join(dir, 'model.safetensors');
  let interrupted = 0;
  let cleaned = false;
  for (let trial = 0; trial < 3; trial++) {
    const frac = 0.05 + 0.9 * Math.random();
    const { lastSaved, killedAtBytes } = await runAndKill(path, frac);
    const leftovers = readdirSync(dir).filter((f) => f.includes('.tmp-'));
    if (leftovers.length > 0) interrupted++;
    const { model } = await loadModel(path, { kernels: 'js' });
    assert.ok(model.step === lastSaved || model.step === lastSaved + 1, `trial ${trial}: step ${model.step} after ${lastSaved} saves`);
    known.step = model.step;
    assertSameModel(known, model, `trial ${trial} (killed with ${killedAtBytes} bytes of the next file written)`);
    if (leftovers.length > 0 && !cleaned) {
      // the next save removes the temporary file the killed process left behind
      await saveModel(known, path);
      assert.deepEqual(readdirSync(dir).filter((f) => f.includes('.tmp-')), []);
      cleaned = true;
    }
    for (const f of readdirSync(dir).filter((f) => f.includes('.tmp-'))) rmSync(join(dir, f));
  }
  t.diagnostic(`${interrupted} of 3 kills left a partly written temporary file`);
  assert.ok(cleaned, 'at least one kill landed mid-write');
});
