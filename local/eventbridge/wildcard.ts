/**
 * Wildcard operands: `*` matches any run of characters (also none), `\*` a literal asterisk and
 * `\\` a literal backslash. Matching is greedy left-to-right over the literal pieces, which is
 * exact for `*`-only globs and linear-ish in practice (no regular expressions, no backtracking blowup).
 */
export interface WildcardPattern {
  readonly source: string;
  /** Literal pieces between wildcards; a single piece means no wildcard at all. */
  readonly pieces: readonly string[];
}

/** Byte position in the quoted UTF-8 value, as event-ruler's ParseException reports it. */
function bytePosition(value: string, index: number): number {
  return Buffer.byteLength(value.slice(0, index), 'utf8') + 1;
}

/** Parses a wildcard operand, or returns event-ruler's error reason. */
export function parseWildcard(value: string): WildcardPattern | string {
  const pieces: string[] = [];
  let current = '';
  for (let i = 0; i < value.length; i++) {
    const ch = value[i];
    if (ch === '*') {
      if (value[i + 1] === '*') return `Consecutive wildcard characters at pos ${bytePosition(value, i)}`;
      pieces.push(current);
      current = '';
    } else if (ch === '\\') {
      const next = value[i + 1];
      if (next !== '*' && next !== '\\') return `Invalid escape character at pos ${bytePosition(value, i)}`;
      current += next;
      i++;
    } else {
      current += ch;
    }
  }
  pieces.push(current);
  return { source: value, pieces };
}

export function matchWildcard(pattern: WildcardPattern, text: string): boolean {
  const { pieces } = pattern;
  const first = pieces[0] ?? '';
  if (pieces.length === 1) return text === first;
  const last = pieces[pieces.length - 1] ?? '';
  if (text.length < first.length + last.length) return false;
  if (!text.startsWith(first) || !text.endsWith(last)) return false;
  let at = first.length;
  const end = text.length - last.length;
  for (let i = 1; i < pieces.length - 1; i++) {
    const piece = pieces[i] ?? '';
    const found = text.indexOf(piece, at);
    if (found < 0 || found + piece.length > end) return false;
    at = found + piece.length;
  }
  return true;
}
