/** JSON.stringify with 2-space indentation and a final newline; keys in insertion order. */
export function stableJson(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}
