import { openSync, writeSync, fsyncSync, closeSync, renameSync, unlinkSync, existsSync } from 'node:fs';
import { dirname, basename, join } from 'node:path';

/**
 * Write a file so that readers see either the old file or the complete new one, never a
 * half-written one: write a temporary file beside the target, fsync it, rename it over the
 * target, fsync the directory. On any error the temporary file is removed and the target is
 * left untouched.
 */
export function writeFileAtomic(path: string, data: string | Uint8Array | Iterable<string | Uint8Array>): void {
  const w = openAtomic(path);
  try {
    if (typeof data === 'string' || data instanceof Uint8Array) w.write(data);
    else for (const chunk of data) w.write(chunk);
    w.commit();
  } catch (e) {
    w.abort();
    throw e;
  }
}

export interface AtomicWriter {
  readonly tmpPath: string;
  write(chunk: string | Uint8Array): void;
  /** fsync, close, rename over the target, fsync the directory */
  commit(): void;
  /** close and remove the temporary file (safe to call twice, or after commit) */
  abort(): void;
}

export function openAtomic(path: string): AtomicWriter {
  const dir = dirname(path);
  const tmpPath = join(dir, `.${basename(path)}.tmp-${process.pid}-${Math.floor(performance.now() * 1000)}`);
  let fd: number | null = openSync(tmpPath, 'w', 0o644);
  let done = false;
  return {
    tmpPath,
    write(chunk) {
      if (fd === null) throw new Error(`write after close of ${tmpPath}`);
      const buf = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
      let off = 0;
      while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
    },
    commit() {
      if (fd === null) throw new Error(`commit after close of ${tmpPath}`);
      fsyncSync(fd);
      closeSync(fd);
      fd = null;
      renameSync(tmpPath, path);
      done = true;
      try {
        const dfd = openSync(dir, 'r');
        try {
          fsyncSync(dfd);
        } finally {
          closeSync(dfd);
        }
      } catch {
        // some file systems do not allow fsync on directories; the rename is still atomic
      }
    },
    abort() {
      if (fd !== null) {
        try {
          closeSync(fd);
        } catch {
          /* already closed */
        }
        fd = null;
      }
      if (!done && existsSync(tmpPath)) unlinkSync(tmpPath);
      done = true;
    },
  };
}
