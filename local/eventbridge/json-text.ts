/**
 * JSON text of single values, written without JSON.stringify where that is cheaper (the per-event
 * hot paths write dozens of short strings and numbers) and always equal to what it writes.
 */

/** Characters JSON.stringify writes differently than they are (escapes; any surrogate, to be safe). */
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what JSON escapes
export const NEEDS_ESCAPE = /["\\\u0000-\u001f\ud800-\udfff]/;

export function jsonString(text: string): string {
  return NEEDS_ESCAPE.test(text) ? JSON.stringify(text) : `"${text}"`;
}

/** What JSON.stringify writes for a value, and `null` for a missing one. */
export function jsonOf(value: unknown): string {
  switch (typeof value) {
    case 'string':
      return jsonString(value);
    case 'number':
      return Number.isFinite(value) ? String(value) : 'null';
    case 'boolean':
      return value ? 'true' : 'false';
    case 'undefined':
      return 'null';
  }
  return JSON.stringify(value);
}
