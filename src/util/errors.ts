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
