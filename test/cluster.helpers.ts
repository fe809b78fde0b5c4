import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The CLI entry point of the built package. */
export const CLI = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));

/** Why the cluster tests cannot run here (no nats-server on the PATH), or null. */
export function natsServerMissing(): string | null {
  const r = spawnSync('nats-server', ['--version'], { encoding: 'utf8' });
  return r.status === 0 ? null : 'nats-server is not installed (Debian package nats-server; .ci/run installs it)';
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      const port = typeof a === 'object' && a !== null ? a.port : 0;
      s.close(() => resolve(port));
    });
  });
}

async function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const c = tcpConnect(port, '127.0.0.1', () => {
      c.end();
      resolve(true);
    });
    c.once('error', () => resolve(false));
  });
}

export interface NatsServer {
  url: string;
  dir: string;
  stop(): Promise<void>;
}

/** A real nats-server on 127.0.0.1 (a free port, JetStream in a temporary directory). */
export async function startNatsServer(): Promise<NatsServer> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'sublinear-nats-'));
  const p = spawn('nats-server', ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', join(dir, 'js')], { stdio: 'ignore' });
  const t0 = performance.now();
  while (!(await accepts(port))) {
    if (p.exitCode !== null) throw new Error(`nats-server exited with code ${p.exitCode}`);
    if (performance.now() - t0 > 10_000) throw new Error('nats-server did not start within 10 s');
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url: `nats://127.0.0.1:${port}`,
    dir,
    stop: async () => {
      await stopProcess(p);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A process and what it wrote to stderr so far. */
export interface Proc {
  p: ChildProcess;
  stderr: () => string;
  exited: Promise<number | null>;
}

export function run(args: string[], opts: { cwd?: string } = {}): Proc {
  const p = spawn(process.execPath, [CLI, ...args], { cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  p.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  p.stdout!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((resolve) => p.once('exit', (code) => resolve(code)));
  return { p, stderr: () => err, exited };
}

/** A shard process that waits for work (resolves once it said so). */
export async function startShard(url: string, prefix: string, dir: string, extra: string[] = []): Promise<Proc> {
  const s = run(['shard', '--nats', url, '--prefix', prefix, '--dir', dir, ...extra]);
  await waitFor(s, /waits for work/, 15_000);
  return s;
}

/** Wait until the process's output matches `re`. */
export async function waitFor(proc: Proc, re: RegExp, ms: number): Promise<void> {
  const t0 = performance.now();
  while (!re.test(proc.stderr())) {
    if (proc.p.exitCode !== null) throw new Error(`process exited (${proc.p.exitCode}) before printing ${re}: ${proc.stderr()}`);
    if (performance.now() - t0 > ms) throw new Error(`no ${re} within ${ms} ms: ${proc.stderr()}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** SIGTERM, then SIGKILL after a second; resolves when it is gone. */
export async function stopProcess(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return;
  const gone = new Promise<void>((r) => p.once('exit', () => r()));
  p.kill('SIGTERM');
  const t = setTimeout(() => p.kill('SIGKILL'), 1000);
  await gone;
  clearTimeout(t);
}

/** A subject prefix of its own, so that tests do not claim each other's shard processes. */
export function uniquePrefix(tag: string): string {
  return `t${process.pid}${tag}${Math.floor(Math.random() * 1e6)}`;
}
