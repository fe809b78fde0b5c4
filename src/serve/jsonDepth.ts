/**
 * Nesting depth of JSON text, measured before it is parsed. JSON.parse itself copes with deep
 * nesting, but every recursive walk of the result afterwards (schema validation, messages that
 * serialize a bad value, a deep merge) can overflow the stack: 8 KB of `[` is 4,000 levels.
 * A query is at most two levels deep ({"features": {"12": 0.5}}), so the service and `predict`
 * refuse anything deeper than MAX_QUERY_DEPTH before parsing.
 *
 * The scan is one loop over the characters (it cannot overflow the stack itself) and only
 * counts brackets outside strings; it does not validate: JSON.parse does that next.
 */

/** Deepest nesting a query may have (2 are needed; the rest is room for mistakes that get a clear message). */
export const MAX_QUERY_DEPTH = 8;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_OBJECT = 0x7b;
const OPEN_ARRAY = 0x5b;
const CLOSE_OBJECT = 0x7d;
const CLOSE_ARRAY = 0x5d;

/** The first depth above `max` reached by `text` (so the message can say "at least"), or 0 if none. */
export function jsonDepthOver(text: string, max: number): number {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === BACKSLASH) i++; // skip the escaped character (\" does not end the string)
      else if (c === QUOTE) inString = false;
    } else if (c === QUOTE) {
      inString = true;
    } else if (c === OPEN_OBJECT || c === OPEN_ARRAY) {
      if (++depth > max) return depth;
    } else if (c === CLOSE_OBJECT || c === CLOSE_ARRAY) {
      depth--;
    }
  }
  return 0;
}

/** The message for text nested deeper than `max`. */
export function tooDeepMessage(max: number): string {
  return `JSON nested more than ${max} levels deep; a query is {"features": {"<id>": value}} or {"text": "..."}`;
}
