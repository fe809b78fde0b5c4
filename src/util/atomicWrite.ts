import { openSync, writeSync, fsyncSync, closeSync, renameSync, unlinkSync, existsSync, readdirSync, mkdirSync, rmSync } from 'node:fs';
import { dirname, basename, join } from 'node:path';
import { FileError, fileErrorOf } from './errors.js';

/**
 * Write a file so that readers see either the old file or the complete new one, never a
 * half-written one: write a temporary file beside the target, fsync it, rename it over the
 * target, fsync the directory. On any error the temporary file is removed and the target is
 * left untouched. OS errors (no space, a directory in the way, ...) come out as a FileError
 * naming the target.
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

const TMP_MARK = '.tmp-';

/**
 * The temporary file an atomic write of `path` goes through: `.<name>.tmp-<pid>-<n>` beside it
 * (hidden, in the same directory so that the rename is atomic; the pid lets removeStaleTemps
 * tell a dead writer's leftovers from a live one's).
 */
export function tempPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}${TMP_MARK}${process.pid}-${Math.floor(performance.now() * 1000)}`);
}

/**
 * Remove temporary files that earlier writes of `path` left when their process died mid-write
 * (kill -9, power loss: a killed 1 GB checkpoint save leaves 1 GB behind). Only files of
 * processes that no longer exist are removed; a concurrent write by a live process (or one we
 * may not signal) is left alone. Runs before every atomic write, and commands call it for their
 * outputs when they start. Returns the names removed.
 */
export function removeStaleTemps(path: string): string[] {
  const dir = dirname(path);
  const prefix = `.${basename(path)}${TMP_MARK}`;
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    if (!name.startsWith(prefix)) continue;
    const pid = Number(name.slice(prefix.length).split('-')[0]);
    if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid) continue;
    try {
      process.kill(pid, 0);
      continue; // alive (or not ours to signal): leave it
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ESRCH') continue;
    }
    try {
      // a staging directory of writeFilesAtomic, or a file
      rmSync(join(dir, name), { recursive: true, force: true });
      removed.push(name);
    } catch {
      /* gone already, or not ours to remove */
    }
  }
  return removed;
}

export function openAtomic(path: string): AtomicWriter {
  const dir = dirname(path);
  removeStaleTemps(path);
  const tmpPath = tempPathFor(path);
  let fd: number | null;
  try {
    fd = openSync(tmpPath, 'w', 0o644);
  } catch (e) {
    throw fileErrorOf(e, path, 'write');
  }
  let done = false;
  return {
    tmpPath,
    write(chunk) {
      if (fd === null) throw new Error(`write after close of ${tmpPath}`);
      const buf = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
      let off = 0;
      try {
        while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
      } catch (e) {
        throw fileErrorOf(e, path, 'write');
      }
    },
    commit() {
      if (fd === null) throw new Error(`commit after close of ${tmpPath}`);
      try {
        fsyncSync(fd);
        closeSync(fd);
        fd = null;
        renameSync(tmpPath, path);
      } catch (e) {
        throw fileErrorOf(e, path, 'write');
      }
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
      if (!done && existsSync(tmpPath)) {
        try {
          unlinkSync(tmpPath);
        } catch {
          // the error that made us abort is the one to report; removeStaleTemps gets this later
        }
      }
      done = true;
    },
  };
}

/** Name (inside the target directory) of writeFilesAtomic's staging directories: `.staging.tmp-<pid>-<n>`. */
export const STAGING_NAME = 'staging';

/**
 * Write several files of one set (a data set's train.txt and test.txt) so that `dir` holds the
 * old set or the whole new one, never new train.txt beside old test.txt after a failure (no
 * space left half way): `write` puts every file of `names` into a staging directory inside
 * `dir`, and only when all are written are they renamed into place (a rename per file, each
 * atomic; a crash between two renames is the one window left). On any error the staging
 * directory is removed and `dir` is as it was. A killed run's staging directory is removed by
 * the next write (removeStaleTemps on `dir`/staging).
 */
export async function writeFilesAtomic(dir: string, names: readonly string[], write: (stageDir: string) => Promise<void>): Promise<void> {
  const target = join(dir, STAGING_NAME);
  removeStaleTemps(target);
  const stage = tempPathFor(target);
  try {
    mkdirSync(stage, { recursive: true });
  } catch (e) {
    throw fileErrorOf(e, dir, 'create');
  }
  try {
    try {
      await write(stage);
    } catch (e) {
      // name the file the user asked for, not its staged twin
      if (e instanceof FileError && e.path.startsWith(stage)) {
        const fe = new FileError(dir + e.path.slice(stage.length), e.message.split(stage).join(dir), e.code);
        fe.cause = e.cause;
        throw fe;
      }
      throw e;
    }
    for (const name of names) {
      try {
        renameSync(join(stage, name), join(dir, name));
      } catch (e) {
        throw fileErrorOf(e, join(dir, name), 'write');
      }
    }
  } finally {
    rmSync(stage, { recursive: true, force: true });
  }
}
