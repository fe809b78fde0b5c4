import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadModel } from '../src/checkpoint/checkpoint.js';
import { Predictor } from '../src/serve/predictor.js';
import { buildServer, startServer } from '../src/serve/server.js';
import { saveTextModel } from './checkpoint.helpers.js';

/**
 * The page at GET / in a real browser (Debian's chromium through playwright-core): a person
 * types a description and sees labels with scores. SCREENSHOT=1 saves bench/results/serve-page.png.
 * Skipped only when /usr/bin/chromium is missing (apt-get install -y chromium).
 */
const CHROMIUM = '/usr/bin/chromium';
const LAUNCH_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

test('typing a description on the page shows the predicted labels', { skip: existsSync(CHROMIUM) ? false : `${CHROMIUM} is missing (apt-get install -y chromium)`, timeout: 60_000 }, async () => {
  const { chromium } = await import('playwright-core');
  const dir = mkdtempSync(join(tmpdir(), 'serve-page-'));
  const file = join(dir, 'text.safetensors');
  await saveTextModel(file);
  const app = buildServer(new Predictor(await loadModel(file)));
  const base = await startServer(app, '127.0.0.1', 0);
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: LAUNCH_ARGS });
  try {
    const page = await browser.newPage({ viewport: { width: 900, height: 640 } });
    const problems: string[] = [];
    page.on('console', (m) => {
      // the browser logs every 4xx answer itself; the page shows those (checked below)
      if (m.type() === 'error' && !/Failed to load resource: .* status of 4\d\d/.test(m.text())) problems.push(m.text());
    });
    page.on('pageerror', (e) => problems.push(e.message));
    const external: string[] = [];
    page.on('request', (r) => {
      if (!r.url().startsWith(base)) external.push(r.url());
    });
    await page.goto(base);
    const q = page.locator('#q');
    await q.waitFor({ state: 'visible' });
    await page.waitForFunction(() => !(document.getElementById('q') as HTMLInputElement).disabled);
    assert.match(await page.locator('#info').innerText(), /\d+ features .* 12 labels/);
    await q.pressSequentially('a large cat with a mane', { delay: 5 });
    await page.waitForFunction(() => document.querySelectorAll('#labels li').length >= 3);
    const names = await page.locator('#labels li .name').allInnerTexts();
    const top3 = names.slice(0, 3).map((s) => s.replace(/#\d+$/, '').trim());
    assert.deepEqual(new Set(top3), new Set(['big_cat', 'mammal', 'animal']), `labels shown: ${names.join(' | ')}`);
    const scores = (await page.locator('#labels li .score').allInnerTexts()).map(Number);
    assert.ok(scores.every((s) => s > 0 && s <= 1), `scores ${scores}`);
    assert.match(await page.locator('#words').innerText(), /words used: large, cat, mane/);
    // exact inference lists up to k labels; the status line says which inference answered
    await page.locator('#exact').check();
    await page.waitForFunction(() => /exact inference/.test(document.getElementById('status')!.textContent ?? ''));
    assert.equal(await page.locator('#labels li').count(), 5);
    if (process.env.SCREENSHOT === '1') {
      const png = fileURLToPath(new URL('../bench/results/serve-page.png', import.meta.url)).replace(/\/dist\/bench\//, '/bench/');
      mkdirSync(dirname(png), { recursive: true });
      await page.screenshot({ path: png, fullPage: true });
    }
    // a word the model does not know: a clear message instead of labels
    await q.fill('zebra');
    await page.waitForFunction(() => document.getElementById('status')!.classList.contains('error'));
    assert.match(await page.locator('#status').innerText(), /none of the words .* vocabulary \(zebra\)/);
    assert.equal(await page.locator('#labels li').count(), 0);
    assert.deepEqual(problems, [], 'no console errors (CSP violations included)');
    assert.deepEqual(external, [], 'no request leaves the origin');
  } finally {
    await browser.close();
    await app.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
