import { compositeMemberText, scanJson } from '../json-members.js';
import type { ColumnCodec } from './glue-types';

export type RowValue = string | number | boolean | null;

export type ConversionResult =
  | { readonly ok: true; readonly row: Record<string, RowValue> }
  | { readonly ok: false; readonly code: string; readonly message: string };

const malformed = (message: string): ConversionResult => ({
  ok: false,
  code: 'DataFormatConversion.MalformedData',
  message,
});

function convertValue(codec: ColumnCodec, value: unknown): RowValue | { error: string } {
  if (value === null || value === undefined) return null;
  switch (codec.kind) {
    case 'string':
      // OpenX stores nested JSON in a string column as its JSON text (convertRecord passes the
      // text as written when it has it).
      return typeof value === 'string' ? value : JSON.stringify(value);
    case 'integer': {
      const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
      if (typeof n !== 'number' || !Number.isInteger(n)) {
        return { error: `cannot convert ${JSON.stringify(value)} to ${codec.glueType}` };
      }
      const [min, max] = codec.range ?? [-Infinity, Infinity];
      if (n < min || n > max) return { error: `value ${n} out of range for ${codec.glueType}` };
      return n;
    }
    case 'double': {
      const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
      if (typeof n !== 'number' || Number.isNaN(n)) {
        return { error: `cannot convert ${JSON.stringify(value)} to ${codec.glueType}` };
      }
      return n;
    }
    case 'boolean':
      if (typeof value === 'boolean') return value;
      if (typeof value === 'string' && /^(true|false)$/i.test(value)) return value.toLowerCase() === 'true';
      return { error: `cannot convert ${JSON.stringify(value)} to boolean` };
  }
}

/**
 * One record → one row, with the OpenX JSON SerDe semantics that matter for the archive: keys
 * match columns case-insensitively, missing keys are NULL, unknown keys are ignored, objects and
 * arrays in string columns keep their JSON text. Anything else unconvertible fails the record.
 *
 * That text is the member's text as written when the record is minified (the archive rule's input
 * transformer writes it so), and JSON.stringify's otherwise: the same value either way, only
 * escapes and number spellings may differ. Re-serialising the payload (a whole email, escapes
 * throughout) cost twice the parse of the record.
 */
export function convertRecord(columns: readonly ColumnCodec[], data: string): ConversionResult {
  let parsed: unknown;
  try {
    parsed = JSON.parse(data);
  } catch (error) {
    return malformed(`The record is not valid JSON: ${(error as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    return malformed('The record is not a JSON object');
  }
  // Column names are lower case: when every key is too (the usual case), look columns up directly.
  const object = parsed as Record<string, unknown>;
  let byLowerKey: Map<string, unknown> | undefined;
  for (const key in object) {
    if (key !== key.toLowerCase()) {
      byLowerKey = new Map<string, unknown>();
      for (const [k, value] of Object.entries(object)) byLowerKey.set(k.toLowerCase(), value);
      break;
    }
  }
  const row: Record<string, RowValue> = {};
  let members: readonly number[] | undefined;
  for (const codec of columns) {
    const value = byLowerKey
      ? byLowerKey.get(codec.name)
      : Object.hasOwn(object, codec.name)
        ? object[codec.name]
        : undefined;
    if (codec.kind === 'string' && typeof value === 'object' && value !== null && !byLowerKey) {
      members ??= scanJson(data).members;
      const written = compositeMemberText(data, members, codec.name);
      if (written !== undefined) {
        row[codec.name] = written;
        continue;
      }
    }
    const converted = convertValue(codec, value);
    if (converted !== null && typeof converted === 'object') {
      return malformed(`Column ${codec.name}: ${converted.error}`);
    }
    row[codec.name] = converted;
  }
  return { ok: true, row };
}
