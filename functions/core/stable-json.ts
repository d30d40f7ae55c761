/**
 * JSON laid out the way the repository's formatter (Biome, line width 110) lays it out, so generated
 * files pass `biome check` unchanged: objects always expanded; arrays of primitives on one line when
 * they fit, else one item per line.
 */
const LINE_WIDTH = 110;

export function stableJson(value: unknown): string {
  return `${format(value, '', 0)}\n`;
}

/** `prefixWidth`: characters before the value on its line; the trailing comma is counted by the caller. */
function format(value: unknown, indent: string, prefixWidth: number, suffixWidth = 0): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  const inner = `${indent}  `;
  if (Array.isArray(value)) {
    if (value.length === 0) return '[]';
    if (value.every((v) => v === null || typeof v !== 'object')) {
      const flat = `[${value.map((v) => JSON.stringify(v)).join(', ')}]`;
      if (prefixWidth + flat.length + suffixWidth <= LINE_WIDTH) return flat;
    }
    const items = value.map(
      (v, i) => `${inner}${format(v, inner, inner.length, i < value.length - 1 ? 1 : 0)}`,
    );
    return `[\n${items.join(',\n')}\n${indent}]`;
  }
  const entries = Object.entries(value).filter(([, v]) => v !== undefined);
  if (entries.length === 0) return '{}';
  const lines = entries.map(([k, v], i) => {
    const key = `${inner}${JSON.stringify(k)}: `;
    return `${key}${format(v, inner, key.length, i < entries.length - 1 ? 1 : 0)}`;
  });
  return `{\n${lines.join(',\n')}\n${indent}}`;
}
