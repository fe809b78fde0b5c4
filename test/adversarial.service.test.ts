import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { loadModel } from '../src/checkpoint/checkpoint.js';
import { Predictor } from '../src/serve/predictor.js';
import { buildServer, startServer } from '../src/serve/server.js';
import { jsonDepthOver } from '../src/serve/jsonDepth.js';
import { BIN, assertCleanFailure, cli, inProcess, writeModel } from './adversarial.helpers.js';

/**
 * The service under attack, as a real `sublinear serve` child process on 127.0.0.1: bodies
 * nested thousands deep, too large, of the wrong type, malformed in a burst (never a 5xx); slow
 * clients (a body that never ends, headers that never end, an idle keep-alive connection); a
 * SIGTERM or SIGINT with a slow client and with a request in progress (the process exits with
 * code 0 within its --shutdown-timeout; a request in progress is answered); a port in use and
 * hosts that do not resolve or are not ours (one line, exit 1).
 */
const dir = mkdtempSync(join(tmpdir(), 'adv-serve-'));
const model = join(dir, 'model.safetensors');
await writeModel(model);
const children = new Set<ChildProcessByStdio<null, Readable, Readable>>();
test.after(() => {
  for (const c of children) c.kill('SIGKILL'); // only if a test failed before its child exited
  rmSync(dir, { recursive: true, force: true });
});

interface Served {
  url: string;
  port: number;
  stderr: () => string;
  /** resolves when the child exits; rejects if it is still running `boundMs` after `kill` (a hang) */
  stop: (signal: NodeJS.Signals, boundMs?: number) => Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  waitFor: (re: RegExp) => Promise<void>;
}

async function serve(...args: string[]): Promise<Served> {
  const child = spawn(process.execPath, [BIN, 'serve', '--model', model, '--port', '0', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let err = '';
  let ended = false;
  const waiters: (() => void)[] = [];
  child.stderr.on('data', (d) => {
    err += d;
    for (const w of waiters.splice(0)) w();
  });
  child.stderr.on('close', () => {
    ended = true;
    for (const w of waiters.splice(0)) w();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => {
      children.delete(child);
      resolve({ code, signal });
    }),
  );
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      const m = /serving at (\S+) /.exec(out);
      if (m) resolve(m[1]!);
    });
    void exited.then(({ code }) => reject(new Error(`serve exited with ${code}: ${err}`)));
  });
  const waitFor = async (re: RegExp): Promise<void> => {
    while (!re.test(err)) {
      if (ended) throw new Error(`serve ended without printing ${re}: ${err}`);
      await new Promise<void>((r) => waiters.push(r));
    }
  };
  const stop = async (signal: NodeJS.Signals, boundMs = 15_000) => {
    child.kill(signal);
    let timer: NodeJS.Timeout | undefined;
    const hang = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`serve still running ${boundMs} ms after ${signal}: ${err}`)), boundMs);
    });
    try {
      return await Promise.race([exited, hang]);
    } finally {
      clearTimeout(timer);
    }
  };
  return { url, port: Number(new URL(url).port), stderr: () => err, stop, waitFor };
}

/** A raw connection: what it received, and a promise that resolves when the server closes it. */
function rawClient(port: number): Promise<{ sock: Socket; received: () => string; closed: Promise<void> }> {
  return new Promise((resolve, reject) => {
    const sock = connect(port, '127.0.0.1');
    let got = '';
    sock.on('data', (d) => (got += d));
    sock.on('error', () => {}); // a reset on forced close is expected
    const closed = new Promise<void>((r) => sock.on('close', () => r()));
    sock.once('connect', () => resolve({ sock, received: () => got, closed }));
    sock.once('error', reject);
  });
}

const HEAD = (len: number): string => `POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${len}\r\n\r\n`;

/**
 * Start a request and return once the server has read its headers and handed it on: with
 * "Expect: 100-continue" Node answers "100 Continue" at that point. A signal sent afterwards
 * finds the request in progress (sent before, the connection could still count as idle).
 */
async function startRequest(port: number, bodyLength: number, firstPart: string): Promise<Awaited<ReturnType<typeof rawClient>>> {
  const c = await rawClient(port);
  c.sock.write(HEAD(bodyLength).replace('Host: x', 'Host: x\r\nExpect: 100-continue') + firstPart);
  while (!/^HTTP\/1\.1 100 Continue/.test(c.received())) {
    if (c.sock.destroyed) throw new Error(`closed before 100 Continue: ${c.received()}`);
    await new Promise((r) => setTimeout(r, 10));
  }
  return c;
}

async function post(url: string, body: string | Uint8Array, contentType: string | null = 'application/json'): Promise<{ status: number; json: { error?: string; labels?: unknown[] } }> {
  const headers: Record<string, string> = contentType ? { 'content-type': contentType } : {};
  const r = await fetch(url + 'predict', { method: 'POST', headers, body: typeof body === 'string' ? body : Buffer.from(body) });
  const text = await r.text();
  let json: { error?: string } = {};
  try {
    json = JSON.parse(text);
  } catch {
    json = { error: `(not JSON) ${text.slice(0, 80)}` };
  }
  return { status: r.status, json };
}

const deep = (n: number, inner = ''): string => '['.repeat(n) + inner + ']'.repeat(n);

test('jsonDepthOver counts brackets outside strings only, in one loop', () => {
  assert.equal(jsonDepthOver('{"features": {"3": 1}}', 2), 0);
  assert.equal(jsonDepthOver('{"features": {"3": [1]}}', 2), 3);
  assert.equal(jsonDepthOver('{"text": "[[[[[[[[[[{{{{"}', 2), 0);
  assert.equal(jsonDepthOver('{"text": "\\"[[[[[[[[[["}', 2), 0, 'an escaped quote does not end the string');
  assert.equal(jsonDepthOver(deep(1_000_000), 8), 9, 'a million levels: no stack overflow');
});

test('bad bodies get a 4xx with a clear message, never a 5xx; the server keeps answering', async (t) => {
  const s = await serve('--quiet');
  const depth4200 = `{"features":{"5":${deep(4200)}}}`;
  assert.ok(depth4200.length > 8000 && depth4200.length < 9000);
  const cases: [string, string | Uint8Array, string | null, number, RegExp][] = [
    ['4,200 levels of arrays in a feature value (8.4 KB)', depth4200, 'application/json', 400, /JSON nested more than 8 levels deep/],
    ['30,000 levels at the top', deep(30_000), 'application/json', 400, /nested more than 8 levels/],
    ['9 levels', `{"features":{"5":${deep(7, '1')}}}`, 'application/json', 400, /nested more than 8 levels/],
    ['an array as a feature value', '{"features":{"5":[[1]]}}', 'application/json', 400, /the value of feature 5 must be a finite number, found an array/],
    ['an object as a feature value', '{"features":{"5":{"a":1}}}', 'application/json', 400, /found an object/],
    ['brackets inside a text are text', `{"text":"${'['.repeat(5000)}"}`, 'application/json', 400, /this model has no vocabulary/],
    ['a body over the limit (200 KB)', `{"text":"${'a'.repeat(200_000)}"}`, 'application/json', 413, /too large/],
    ['text/plain', '{"features":{"5":1}}', 'text/plain', 400, /body must be a JSON object, sent with content-type: application\/json/],
    ['application/xml', '<q/>', 'application/xml', 415, /Unsupported Media Type/],
    ['form-urlencoded', 'features=1', 'application/x-www-form-urlencoded', 415, /Unsupported Media Type/],
    ['multipart', '--b\r\n\r\nx\r\n--b--', 'multipart/form-data; boundary=b', 415, /Unsupported Media Type/],
    ['binary', new Uint8Array([0, 1, 2, 255]), 'application/octet-stream', 415, /Unsupported Media Type/],
    ['empty JSON body', '', 'application/json', 400, /Body cannot be empty/],
    ['not JSON', '{"features":', 'application/json', 400, /body is not valid JSON: /],
    ['"__proto__" key', '{"__proto__":{"k":1},"features":{"5":1}}', 'application/json', 400, /"__proto__" and "constructor" are not allowed/],
    ['"constructor" key', '{"constructor":{"prototype":{"k":1}},"features":{"5":1}}', 'application/json', 400, /not allowed/],
    ['a JSON array', '[1,2]', 'application/json', 400, /body must be a JSON object/],
    ['k as a string', '{"features":{"5":1},"k":"5"}', 'application/json', 400, /body\.k must be integer/],
    ['a feature id with a sign', '{"features":{"-1":1}}', 'application/json', 400, /feature ids must be non-negative integers/],
    ['a feature id past the model', '{"features":{"200":1}}', 'application/json', 400, /unknown feature id 200/],
    ['a value of 1e999', '{"features":{"5":1e999}}', 'application/json', 400, /finite number, found Infinity/],
  ];
  for (const [name, body, ct, status, re] of cases) {
    await t.test(name, async () => {
      const r = await post(s.url, body, ct);
      assert.equal(r.status, status, JSON.stringify(r.json));
      assert.match(r.json.error ?? '', re);
    });
  }
  await t.test('a burst of 300 requests, 20% malformed: no 5xx, every good one answered', async () => {
    const bad = cases.map((c) => c[1]);
    const results = await Promise.all(
      Array.from({ length: 300 }, (_, i) => (i % 5 === 0 ? post(s.url, bad[(i / 5) % bad.length]!) : post(s.url, `{"features":{"${i % 200}":1},"k":3}`))),
    );
    assert.deepEqual(results.filter((r) => r.status >= 500), []);
    assert.equal(results.filter((r, i) => i % 5 !== 0 && r.status === 200 && r.json.labels?.length === 3).length, 240);
  });
  await t.test('wrong methods and paths: 404 naming the routes', async () => {
    for (const [method, path] of [['PUT', 'predict'], ['GET', 'predict'], ['DELETE', 'health'], ['POST', 'nope']] as const) {
      const r = await fetch(s.url + path, { method, ...(method === 'GET' ? {} : { body: '{}', headers: { 'content-type': 'application/json' } }) });
      assert.equal(r.status, 404, `${method} /${path}`);
      assert.match(((await r.json()) as { error: string }).error, /try GET \/, GET \/health, POST \/predict/);
    }
  });
  await t.test('not HTTP at all: 400 and closed', async () => {
    const c = await rawClient(s.port);
    c.sock.write('\x00\x01 GARBAGE \xff\r\n\r\n');
    await c.closed;
    assert.match(c.received(), /^HTTP\/1\.1 400 /);
  });
  await t.test('headers over 16 KB: 431', async () => {
    const c = await rawClient(s.port);
    c.sock.write(`GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
    await c.closed;
    assert.match(c.received(), /^HTTP\/1\.1 431 /);
  });
  await t.test('a chunked body that grows past the limit: 413', async () => {
    const c = await rawClient(s.port);
    c.sock.write('POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n');
    const chunk = 'a'.repeat(16 * 1024);
    for (let i = 0; i < 6 && !c.sock.destroyed; i++) c.sock.write(`${chunk.length.toString(16)}\r\n${chunk}\r\n`);
    await c.closed;
    assert.match(c.received(), /^HTTP\/1\.1 413 /);
  });
  const ok = await post(s.url, '{"features":{"5":1}}');
  assert.equal(ok.status, 200);
  assert.deepEqual(await s.stop('SIGTERM'), { code: 0, signal: null });
});

test('slow clients are cut off: a body that never ends (408), headers that never end, an idle keep-alive connection', { concurrency: 5 }, async (t) => {
  const predictor = new Predictor(await loadModel(model));
  const app = buildServer(predictor, { requestTimeout: 600, headersTimeout: 400, idleTimeout: 1500, keepAliveTimeout: 300 });
  const url = await startServer(app, '127.0.0.1', 0);
  const port = Number(new URL(url).port);
  try {
    await Promise.all([
      t.test('half a body, then silence: 408 and closed', async () => {
        const c = await rawClient(port);
        c.sock.write(HEAD(100) + '{"features":');
        await c.closed;
        assert.match(c.received(), /^HTTP\/1\.1 408 /);
      }),
      t.test('a body sent a byte at a time, too slowly: closed', async () => {
        const c = await rawClient(port);
        c.sock.write(HEAD(1000));
        const drip = setInterval(() => c.sock.writable && c.sock.write(' '), 100);
        await c.closed;
        clearInterval(drip);
        assert.match(c.received(), /^HTTP\/1\.1 408 /);
      }),
      t.test('headers that never end: closed', async () => {
        const c = await rawClient(port);
        c.sock.write('POST /predict HTTP/1.1\r\nHost: x\r\nX-Slow: ');
        await c.closed;
        assert.doesNotMatch(c.received(), /HTTP\/1\.1 200/);
      }),
      t.test('a connection that sends nothing: closed', async () => {
        const c = await rawClient(port);
        await c.closed;
        assert.equal(c.received().includes('200 OK'), false);
      }),
      t.test('an answered keep-alive connection that stays idle: closed', async () => {
        const c = await rawClient(port);
        const body = '{"features":{"5":1}}';
        c.sock.write(HEAD(body.length).replace('Host: x', 'Host: x\r\nConnection: keep-alive') + body);
        await c.closed;
        assert.match(c.received(), /^HTTP\/1\.1 200 OK/);
      }),
    ]);
  } finally {
    await app.close();
  }
});

test('signals: the process stops accepting at once and exits 0 within --shutdown-timeout', { concurrency: 3 }, async (t) => {
  await Promise.all([
    t.test('SIGTERM with a slow client: stops listening at once, closes the client after --shutdown-timeout, exits 0', async () => {
      const s = await serve('--quiet', '--shutdown-timeout', '1');
      const c = await startRequest(s.port, 100, '{"features":');
      const exit = s.stop('SIGTERM');
      await s.waitFor(/SIGTERM: stopping/);
      await assert.rejects(fetch(s.url + 'health'), 'no new connections once stopping');
      assert.deepEqual(await exit, { code: 0, signal: null });
      await c.closed;
      assert.match(s.stderr(), /closed the connections still open after 1 s/);
    }),
    t.test('SIGTERM during a request in progress: the request is answered, then the process exits 0', async () => {
      const s = await serve('--quiet', '--shutdown-timeout', '10');
      const body = '{"features":{"5":1},"k":2}';
      const c = await startRequest(s.port, body.length, body.slice(0, 10));
      const exit = s.stop('SIGTERM');
      await s.waitFor(/SIGTERM: stopping/);
      c.sock.write(body.slice(10));
      await c.closed;
      assert.match(c.received(), /\r\n\r\nHTTP\/1\.1 200 OK/);
      assert.match(c.received(), /\r\nconnection: close\r\n/i, 'the answer closes its connection (no keep-alive wait)');
      assert.match(c.received(), /"labels":\[\{"id":\d+,"score":[\d.e-]+\},\{"id"/);
      assert.deepEqual(await exit, { code: 0, signal: null });
      assert.doesNotMatch(s.stderr(), /closed the connections still open/, 'finished in time, not cut');
    }),
    t.test('SIGINT with an idle keep-alive connection: closed at once, exit 0', async () => {
      const s = await serve('--quiet', '--shutdown-timeout', '30');
      const c = await rawClient(s.port);
      const body = '{"features":{"5":1}}';
      c.sock.write(HEAD(body.length) + body);
      while (!/\r\n\r\n\{/.test(c.received())) await new Promise((r) => setTimeout(r, 20));
      assert.deepEqual(await s.stop('SIGINT', 10_000), { code: 0, signal: null });
      await c.closed;
      assert.doesNotMatch(s.stderr(), /closed the connections still open/);
    }),
  ]);
});

test('listen errors and bad flags: one line naming the port or host, exit 1', { concurrency: 3 }, async (t) => {
  const busy = createServer();
  await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r));
  const port = (busy.address() as { port: number }).port;
  const cases: [string, string[], RegExp, 'child' | 'in process'][] = [
    ['port in use', ['--port', String(port)], new RegExp(`^sublinear: --port ${port}: 127\\.0\\.0\\.1:${port} is already in use by another program; choose another --port`), 'child'],
    ['unknown host', ['--host', 'nosuchhost.invalid'], /^sublinear: --host nosuchhost\.invalid: cannot resolve this host name \(E[A-Z_]+\); give an address of this machine/, 'child'],
    ['an address that is not ours', ['--host', '192.0.2.1'], /^sublinear: --host 192\.0\.2\.1: not an address of this machine \(EADDRNOTAVAIL\)/, 'child'],
    ['port out of range', ['--port', '70000'], /^sublinear: --port: expected an integer in 0\.\.65535, found "70000"$/, 'in process'],
    ['port not a number', ['--port', 'http'], /^sublinear: --port: expected an integer/, 'in process'],
    ['shutdown timeout not a number', ['--shutdown-timeout', 'soon'], /^sublinear: --shutdown-timeout: expected seconds in 0\.\.3600, found "soon"$/, 'in process'],
  ];
  try {
    await Promise.all(
      cases.map(([name, args, re, how]) =>
        t.test(`${name} (${how})`, async () => {
          const argv = ['serve', '--model', model, ...(args.includes('--port') ? args : ['--port', '0', ...args])];
          assertCleanFailure(how === 'child' ? await cli(argv, { timeoutMs: 30_000 }) : await inProcess(argv), re);
        }),
      ),
    );
  } finally {
    busy.close();
  }
});
