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

export type RecordConversion =
  | { readonly ok: true; readonly rows: Record<string, RowValue>[] }
  | { readonly ok: false; readonly code: string; readonly message: string };

/**
 * A record's rows. Firehose's format conversion reads several JSON documents concatenated in one
 * record as one row each (`{"a":1}{"a":2}`), and documents an array of them as invalid input
 * (`[{"a":1},{"a":2}]`): the "Convert input data format in Amazon Data Firehose" guide. An array
 * record fails conversion, naming the format to use. What AWS does with a record of which only
 * some documents convert is not documented: here the whole record fails, so it is loud.
 */
export function convertRecordRows(columns: readonly ColumnCodec[], data: string): RecordConversion {
  const single = convertRecord(columns, data);
  if (single.ok) return { ok: true, rows: [single.row] };
  if (/^\s*\[/.test(data)) {
    return malformed(
      'The record is a JSON array; several rows in one record go as JSON documents one after another ({"a":1}{"a":2}), not as an array ([{"a":1},{"a":2}])',
    ) as RecordConversion;
  }
  const documents = jsonDocuments(data);
  if (!documents || documents.length < 2) return single as RecordConversion;
  const rows: Record<string, RowValue>[] = [];
  for (const [index, document] of documents.entries()) {
    const converted = convertRecord(columns, document);
    if (!converted.ok) {
      return {
        ok: false,
        code: converted.code,
        message: `JSON document ${index + 1} of the ${documents.length} in the record: ${converted.message}`,
      };
    }
    rows.push(converted.row);
  }
  return { ok: true, rows };
}

/**
 * The JSON objects or arrays concatenated in `text` (whitespace between them allowed), or
 * undefined when it is not such a sequence (a bare scalar, unbalanced brackets).
 */
export function jsonDocuments(text: string): string[] | undefined {
  const documents: string[] = [];
  let depth = 0;
  let start = -1;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    if (inString) {
      if (ch === 0x5c)
        i++; // backslash: skip the escaped character
      else if (ch === 0x22) inString = false;
      continue;
    }
    if (ch === 0x22) {
      if (depth === 0) return undefined;
      inString = true;
    } else if (ch === 0x7b || ch === 0x5b) {
      if (depth === 0) start = i;
      depth++;
    } else if (ch === 0x7d || ch === 0x5d) {
      depth--;
      if (depth < 0) return undefined;
      if (depth === 0) documents.push(text.slice(start, i + 1));
    } else if (depth === 0 && !(ch === 0x20 || ch === 0x0a || ch === 0x0d || ch === 0x09)) {
      return undefined;
    }
  }
  return depth === 0 && !inString ? documents : undefined;
}
