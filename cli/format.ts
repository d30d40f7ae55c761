/** Rows as an aligned table, CSV (RFC 4180) or JSON lines. */
export type OutputFormat = 'table' | 'csv' | 'json';

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
    v === null || v === undefined ? 'NULL' : v.replace(/\s+/g, ' ');
  const widths = columns.map((c) => Math.min(60, Math.max(c.length, ...rows.map((r) => text(r[c]).length))));
  const pad = (value: string, i: number) => {
    const width = widths[i] as number;
    const clipped = value.length > width ? `${value.slice(0, width - 1)}…` : value;
    return numeric[i] ? clipped.padStart(width) : clipped.padEnd(width);
  };
  const lines = [
    columns
      .map((c, i) => pad(c, i))
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
