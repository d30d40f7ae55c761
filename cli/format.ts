/**
 * Characters that change how a terminal shows a line rather than showing themselves: C0 and C1
 * controls (ESC starts colour and cursor sequences, CR rewrites the line), DEL, the bidirectional
 * overrides, embeddings, isolates and marks (U+202E turns the rest of a line around, so a hostile
 * payload can make `spam` read as `maps` or hide a column), and the Unicode line separators.
 */
const TERMINAL_CONTROLS =
  // biome-ignore lint/suspicious/noControlCharactersInRegex: finding these characters is the point.
  /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]/g;

/**
 * Text for a terminal: each control character shown as its escape (`\u202e`), so what a line
 * shows is what it holds. Tabs and newlines stay (our own layout); tables collapse them first.
 * Idempotent: an escape is plain ASCII.
 */
export function escapeControls(text: string): string {
  return text.replace(TERMINAL_CONTROLS, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

export type OutputFormat = 'table' | 'csv' | 'json';

/**
 * Rows as an aligned table, CSV (RFC 4180) or JSON lines. Tables are for people, so their cells
 * have control characters escaped; CSV and JSON keep the data as it is (JSON escapes C0 itself).
 */
export function formatRows(
  columns: readonly string[],
  rows: readonly Record<string, string | null>[],
  format: OutputFormat,
  numeric: readonly boolean[] = [],
): string[] {
  if (format === 'json') return rows.map((row) => JSON.stringify(row));
  if (format === 'csv') {
    const cell = (v: string | null) =>
      v === null ? '' : /[",\n\r]/.test(v) ? `"${v.replaceAll('"', '""')}"` : v;
    return [
      columns.map(cell).join(','),
      ...rows.map((row) => columns.map((c) => cell(row[c] ?? null)).join(',')),
    ];
  }
  const text = (v: string | null | undefined) =>
    v === null || v === undefined ? 'NULL' : escapeControls(v.replace(/[\t\n\r\f\v ]+/g, ' '));
  const widths = columns.map((c) =>
    Math.min(60, Math.max(text(c).length, ...rows.map((r) => text(r[c]).length))),
  );
  const pad = (value: string, i: number) => {
    const width = widths[i] as number;
    const clipped = value.length > width ? `${value.slice(0, width - 1)}…` : value;
    return numeric[i] ? clipped.padStart(width) : clipped.padEnd(width);
  };
  const lines = [
    columns
      .map((c, i) => pad(text(c), i))
      .join('  ')
      .trimEnd(),
    widths.map((w) => '-'.repeat(w)).join('  '),
    ...rows.map((row) =>
      columns
        .map((c, i) => pad(text(row[c]), i))
        .join('  ')
        .trimEnd(),
    ),
  ];
  return lines;
}

const NUMERIC_TYPES = /^(tinyint|smallint|integer|int|bigint|double|float|real|decimal)/i;
export const isNumericType = (type: string) => NUMERIC_TYPES.test(type);
