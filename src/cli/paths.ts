/**
 * Checks of the files a command names, made before any work starts: a run of hours must not
 * end in "cannot write --save" or lose its model to a typo in --metrics-out. Inputs must exist
 * and be files (never a directory or a device: /dev/zero as --config or --train would be read
 * forever); outputs must go to an existing, writable directory and must not be a directory or
 * a device (an atomic write renames a new file over the target, which would replace /dev/null).
 * Each check throws a FileError whose message starts with the flag and the path.
 *
 * The checks cannot promise the later write succeeds (the disk may fill up meanwhile); those
 * errors are FileErrors from atomicWrite.ts, with the same kind of message.
 */
import { accessSync, closeSync, constants, fstatSync, openSync, readSync, statSync, type Stats } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { removeStaleTemps } from '../util/atomicWrite.js';
import { ConfigError, FileError, errnoCode, fileErrorReason, type FileAction } from '../util/errors.js';

/** Largest --config file read (a configuration is a few hundred bytes). */
export const MAX_CONFIG_BYTES = 1 << 20;

function kindOf(st: Stats): string {
  if (st.isFile()) return 'a file';
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a FIFO (named pipe)';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isSocket()) return 'a socket';
  return 'not a regular file';
}

function fail(flag: string, path: string, what: string, code?: string): never {
  throw new FileError(path, `${flag} ${path}: ${what}`, code);
}

/** An OS error of a check as a FileError naming the flag (unknown codes keep Node's wording). */
function osFail(flag: string, path: string, e: unknown, action: FileAction): never {
  const code = errnoCode(e);
  const why = (code ? fileErrorReason(code, action) : undefined) ?? (e as Error).message;
  const fe = new FileError(path, `${flag} ${path}: ${why}`, code);
  fe.cause = e;
  throw fe;
}

function statOrNull(path: string, flag: string, action: FileAction): Stats | null {
  try {
    return statSync(path);
  } catch (e) {
    if (errnoCode(e) === 'ENOENT') return null;
    osFail(flag, path, e, action);
  }
}

/**
 * An input file: exists, is a regular file (or, with `stream`, a FIFO or socket: predict reads
 * its --input line by line, so `--input <(...)` works), and is readable. stat, not open: opening
 * a FIFO blocks until a writer comes.
 */
export function checkInputFile(path: string, flag: string, opts: { stream?: boolean } = {}): void {
  const st = statOrNull(path, flag, 'read');
  if (!st) fail(flag, path, 'no such file', 'ENOENT');
  if (st.isDirectory()) fail(flag, path, 'it is a directory; give a file', 'EISDIR');
  if (!st.isFile() && !(opts.stream && (st.isFIFO() || st.isSocket()))) fail(flag, path, `${kindOf(st)}, not a regular file`);
  try {
    accessSync(path, constants.R_OK);
  } catch (e) {
    osFail(flag, path, e, 'read');
  }
}

/** An input directory (e.g. --vocab-dir): exists and is a directory. */
export function checkInputDir(path: string, flag: string): void {
  const st = statOrNull(path, flag, 'read');
  if (!st) fail(flag, path, 'no such directory', 'ENOENT');
  if (!st.isDirectory()) fail(flag, path, `${kindOf(st)}, not a directory`, 'ENOTDIR');
}

function checkWritableDir(dir: string, flag: string, path: string): void {
  try {
    accessSync(dir, constants.W_OK | constants.X_OK);
  } catch (e) {
    const code = errnoCode(e);
    if (code === 'EACCES' || code === 'EPERM') fail(flag, path, `the directory ${dir} is not writable (permission denied)`, code);
    if (code === 'EROFS') fail(flag, path, `the directory ${dir} is on a read-only file system`, code);
    osFail(flag, path, e, 'write');
  }
}

/**
 * An output file written atomically: not a directory, not a device or FIFO, in an existing
 * writable directory. Also removes temporary files that writers of this path left when they
 * were killed (see removeStaleTemps).
 */
export function checkOutputFile(path: string, flag: string): void {
  if (path === '' || /[/\\]$/.test(path)) fail(flag, path, 'a directory name; give a file name', 'EISDIR');
  const st = statOrNull(path, flag, 'write');
  if (st?.isDirectory()) fail(flag, path, 'it is a directory; give a file name inside it', 'EISDIR');
  if (st && !st.isFile()) fail(flag, path, `it exists and is ${kindOf(st)}; an output must be a regular file (it is replaced by renaming a new file over it)`);
  const dir = dirname(path);
  const dst = statOrNull(dir, flag, 'write');
  if (!dst) fail(flag, path, `the directory ${dir} does not exist (create it first)`, 'ENOENT');
  if (!dst.isDirectory()) fail(flag, path, `${dir} is not a directory`, 'ENOTDIR');
  checkWritableDir(dir, flag, path);
  removeStaleTemps(path);
}

/**
 * An output directory that the command creates if missing (mkdir -p): not an existing file,
 * and its nearest existing ancestor is a writable directory. `files` are the names the command
 * writes there (their stale temporary files are removed).
 */
export function checkOutputDir(dir: string, flag: string, files: readonly string[] = []): void {
  const st = statOrNull(dir, flag, 'create');
  if (st && !st.isDirectory()) fail(flag, dir, `it exists and is ${kindOf(st)}, not a directory; remove it or choose another path`, 'EEXIST');
  if (st) {
    checkWritableDir(dir, flag, dir);
    for (const f of files) removeStaleTemps(join(dir, f));
    return;
  }
  // walk up to the first part of the path that exists: it must be a directory we can create in
  let up = resolve(dir);
  for (;;) {
    const parent = dirname(up);
    const pst = statOrNull(parent, flag, 'create');
    if (pst) {
      if (!pst.isDirectory()) fail(flag, dir, `${parent} is ${kindOf(pst)}, not a directory`, 'ENOTDIR');
      checkWritableDir(parent, flag, dir);
      return;
    }
    if (parent === up) return; // the root exists; statSync said otherwise only in a race
    up = parent;
  }
}

/**
 * Outputs must differ from each other and from the inputs (`--save` onto `--train` would replace
 * the data by a checkpoint after the run). `allowed` lists pairs of flags that may share a path
 * (train --resume and --save: continue a run in place).
 */
export function checkDistinct(outputs: [flag: string, path: string | undefined][], inputs: [flag: string, path: string | undefined][], allowed: [string, string][] = []): void {
  const ok = (a: string, b: string): boolean => allowed.some(([x, y]) => (x === a && y === b) || (x === b && y === a));
  const seen: [string, string][] = [];
  for (const [flag, p] of outputs) {
    if (p === undefined) continue;
    const abs = resolve(p);
    for (const [other, q] of [...seen, ...inputs.filter((x): x is [string, string] => x[1] !== undefined && x[1] !== '-').map(([f, q]) => [f, resolve(q)] as [string, string])]) {
      if (q === abs && !ok(flag, other)) throw new ConfigError(`${flag} and ${other} name the same file ${p}; give ${flag} another path`);
    }
    seen.push([flag, abs]);
  }
}

/**
 * Read a configuration file: a regular file of at most `maxBytes` (checked on the open file, and
 * reading stops there, so a file that grows meanwhile cannot exhaust memory), as UTF-8.
 */
export function readBoundedText(path: string, flag: string, maxBytes = MAX_CONFIG_BYTES): string {
  checkInputFile(path, flag);
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    osFail(flag, path, e, 'read');
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) fail(flag, path, `${kindOf(st)}, not a regular file`);
    if (st.size > maxBytes) fail(flag, path, `${st.size} bytes; a configuration file is at most ${maxBytes} bytes`, 'EFBIG');
    const buf = Buffer.allocUnsafe(maxBytes + 1);
    let got = 0;
    for (;;) {
      let n: number;
      try {
        n = readSync(fd, buf, got, buf.length - got, got);
      } catch (e) {
        osFail(flag, path, e, 'read');
      }
      if (n === 0) break;
      got += n;
      if (got > maxBytes) fail(flag, path, `more than ${maxBytes} bytes; a configuration file is at most ${maxBytes} bytes`, 'EFBIG');
    }
    return buf.toString('utf8', 0, got);
  } finally {
    closeSync(fd);
  }
}
