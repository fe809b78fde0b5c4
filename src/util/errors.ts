/**
 * Errors that carry where bad input was found. Messages read
 * `file:line: expected <what>, found <what>` so a user can jump straight to the spot.
 */
export class InputError extends Error {
  constructor(
    readonly file: string,
    readonly line: number,
    readonly expected: string,
    readonly found: string,
  ) {
    super(`${file}:${line}: expected ${expected}, found ${found}`);
    this.name = 'InputError';
  }
}

/** A configuration value that fails validation; names the field. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/** Shorten a token for an error message. */
export function quote(token: string, max = 40): string {
  const t = token.length > max ? token.slice(0, max) + '...' : token;
  return JSON.stringify(t);
}

/**
 * An operating-system error on a file the user named (a path given on the command line or
 * derived from one): the message names the path, says what went wrong in words and what to do.
 * The original error stays in `cause` (and its stack is shown with --debug).
 */
export class FileError extends Error {
  constructor(
    readonly path: string,
    message: string,
    readonly code?: string,
  ) {
    super(message);
    this.name = 'FileError';
  }
}

/** What a failed operation was doing to the path, for the message. */
export type FileAction = 'read' | 'write' | 'create';

/** Node's error shape for system calls (fs, net, dns). */
export function errnoCode(e: unknown): string | undefined {
  const c = (e as NodeJS.ErrnoException | null)?.code;
  return typeof c === 'string' && /^E[A-Z0-9]+$/.test(c) ? c : undefined;
}

/**
 * What went wrong, in words, for an expected OS error (the part of the message after the path),
 * or undefined for codes this does not know (the caller then treats the error as unexpected).
 */
export function fileErrorReason(code: string, action: FileAction): string | undefined {
  switch (code) {
    case 'ENOENT':
      return action === 'read' ? 'no such file' : 'its directory does not exist (create it first)';
    case 'ENOTDIR':
      return 'a part of the path that should be a directory is a file';
    case 'EISDIR':
      return 'it is a directory; give a file name';
    case 'EEXIST':
      return 'a file of that name exists where a directory is needed; remove it or choose another path';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'ENOSPC':
    case 'EDQUOT':
      return `no space left on the device (${code}); free some space or choose another location (nothing was written: an earlier file there is unchanged)`;
    case 'EROFS':
      return 'the file system is read-only';
    case 'EFBIG':
      return "the file would exceed the file system's size limit (EFBIG)";
    case 'ENAMETOOLONG':
      return 'the path is too long';
    case 'ELOOP':
      return 'too many levels of symbolic links';
    case 'EMFILE':
    case 'ENFILE':
      return `too many open files (${code}); raise the limit (ulimit -n) or close other programs`;
    case 'EIO':
      return 'input/output error from the device (EIO)';
    case 'EBUSY':
    case 'ETXTBSY':
      return `the file is busy (${code})`;
    case 'ENXIO':
    case 'ENODEV':
      return `no such device (${code})`;
    case 'EXDEV':
      return 'the temporary file and the target are on different file systems (EXDEV)';
    default:
      return undefined;
  }
}

/**
 * One line for an expected OS error on `path` (`cannot write "<path>": <reason>`), or undefined
 * for codes fileErrorReason does not know. `path` is the target the user named, not a temporary
 * file beside it.
 */
export function describeFileError(code: string, path: string, action: FileAction): string | undefined {
  const reason = fileErrorReason(code, action);
  const verb = action === 'read' ? 'cannot read' : action === 'create' ? 'cannot create' : 'cannot write';
  return reason === undefined ? undefined : `${verb} ${JSON.stringify(path)}: ${reason}`;
}

/**
 * A FileError for an OS error on `path`, or the error itself when it is not an expected OS error
 * (a bug must stay visible as one). Already-described errors pass through unchanged.
 */
export function fileErrorOf(e: unknown, path: string, action: FileAction): unknown {
  if (e instanceof FileError || e instanceof InputError || e instanceof ConfigError) return e;
  const code = errnoCode(e);
  const msg = code ? describeFileError(code, path, action) : undefined;
  if (!msg) return e;
  const fe = new FileError(path, msg, code);
  fe.cause = e;
  return fe;
}
