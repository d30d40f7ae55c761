import { createHash, hash } from 'node:crypto';
import type { SqsMessageAttribute } from '../model.js';

/** MD5 of the text's UTF-8 bytes (or of the bytes), hex: one-shot `crypto.hash` builds no Hash object. */
export function md5Hex(text: string | Buffer): string {
  return hash('md5', text, 'hex');
}

/** Transport type of a data type: `Binary` and `Binary.*` are binary, everything else a string. */
function isBinary(dataType: string): boolean {
  return dataType === 'Binary' || dataType.startsWith('Binary.');
}

function pushLengthPrefixed(parts: Buffer[], bytes: Buffer): void {
  const len = Buffer.allocUnsafe(4);
  len.writeUInt32BE(bytes.length, 0);
  parts.push(len, bytes);
}

/**
 * MD5OfMessageAttributes as SQS computes it: attributes sorted by name; for each, the name, the data
 * type, one transport byte (1 string/number, 2 binary) and the value, every variable part prefixed with
 * its 4-byte big-endian length; MD5 of the concatenation. `BinaryValue` is base64 (the JSON wire form).
 */
export function md5OfMessageAttributes(attributes: Record<string, SqsMessageAttribute>): string | undefined {
  const names = Object.keys(attributes).sort();
  if (names.length === 0) return undefined;
  const parts: Buffer[] = [];
  for (const name of names) {
    const attr = attributes[name] as SqsMessageAttribute;
    pushLengthPrefixed(parts, Buffer.from(name, 'utf8'));
    pushLengthPrefixed(parts, Buffer.from(attr.DataType, 'utf8'));
    if (isBinary(attr.DataType)) {
      parts.push(Buffer.of(2));
      pushLengthPrefixed(parts, Buffer.from(attr.BinaryValue ?? '', 'base64'));
    } else {
      parts.push(Buffer.of(1));
      pushLengthPrefixed(parts, Buffer.from(attr.StringValue ?? '', 'utf8'));
    }
  }
  return createHash('md5').update(Buffer.concat(parts)).digest('hex');
}

export { isBinary as isBinaryDataType };
