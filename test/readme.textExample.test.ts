import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { repoRoot } from './data.text.helpers.js';

/**
 * The README's text example (data text -> train --vocab-dir -> predict on free text -> serve
 * answering a text query), run line by line in bash in a temporary directory holding the
 * fixture, with `npx sublinear` meaning this checkout's CLI. The line that starts the service in
 * the background runs on a free port (--port 0) and the query goes to that port; the service is
 * stopped at the end.
 */
test('the README text example runs: labels by name from predict and from the service', async () => {
  const root = repoRoot();
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const m = /<!-- readme-text-example -->\s*```sh\n([\s\S]*?)```/.exec(readme);
  assert.ok(m, 'README has the marked text example');
  const commands = m[1]!
    .replace(/\\\n\s*/g, '') // continuation lines
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
  assert.ok(commands.length >= 5, commands.join('\n'));
  const cli = `${JSON.stringify(process.execPath)} ${JSON.stringify(join(root, 'dist/src/cli/main.js'))}`;
  const dir = mkdtempSync(join(tmpdir(), 'sublinear-readme-text-'));
  mkdirSync(join(dir, 'test/fixtures'), { recursive: true });
  copyFileSync(join(root, 'test/fixtures/tagged-docs.jsonl'), join(dir, 'test/fixtures/tagged-docs.jsonl'));
  let server: ReturnType<typeof spawn> | null = null;
  let port = '';
  const outputs: string[] = [];
  try {
    for (const command of commands) {
      let sh = command.replaceAll('npx sublinear', cli);
      if (sh.endsWith('&')) {
        assert.match(sh, /\bserve\b.*--port \d+/);
        sh = 'exec ' + sh.slice(0, -1).replace(/--port \d+/, '--port 0');
        server = spawn('bash', ['-c', sh], { cwd: dir, stdio: ['ignore', 'pipe', 'inherit'] });
        const lines = createInterface({ input: server.stdout! });
        for await (const line of lines) {
          const u = /serving at http:\/\/[^:]+:(\d+)\//.exec(line);
          if (u) {
            port = u[1]!;
            break;
          }
        }
        assert.ok(port, 'the service printed its address');
        continue;
      }
      if (port) sh = sh.replace(/localhost:\d+/g, `127.0.0.1:${port}`);
      const r = spawnSync('bash', ['-c', sh], { cwd: dir, encoding: 'utf8', timeout: 120_000 });
      assert.equal(r.status, 0, `${command}\n${r.stderr}`);
      outputs.push(r.stdout);
    }
    for (const f of ['train.txt', 'test.txt', 'features.txt', 'labels.txt', 'idf.txt', 'meta.json']) assert.ok(existsSync(join(dir, 'data/docs', f)), f);
    // predict: the bread text gets baking and cooking by name
    const predicted = JSON.parse(outputs[2]!.trim()) as { labels: { name: string; score: number }[] };
    const names = predicted.labels.map((l) => l.name);
    assert.equal(names.length, 3);
    assert.ok(names.slice(0, 2).includes('baking') && names.slice(0, 2).includes('cooking'), names.join(', '));
    // the service: the telescope text gets astronomy first, and tells the words it knew
    const served = JSON.parse(outputs[3]!) as { labels: { name: string }[]; tokens: { known: string[] } };
    assert.equal(served.labels[0]!.name, 'astronomy');
    assert.ok(served.tokens.known.includes('telescope'));
  } finally {
    if (server && server.exitCode === null) {
      const exited = new Promise((res) => server!.once('exit', res));
      server.kill('SIGTERM');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  }
});
