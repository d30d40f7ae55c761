import type { SqsMessageAttribute } from '../model.js';

/** Message attributes as the store keeps them: only the fields SQS keeps, and none rather than an empty set. */
export function normalizeAttributes(
  attributes: Record<string, SqsMessageAttribute> | undefined,
): Record<string, SqsMessageAttribute> | undefined {
  if (attributes === undefined) return undefined;
  const names = Object.keys(attributes);
  if (names.length === 0) return undefined;
  const out: Record<string, SqsMessageAttribute> = {};
  for (const name of names) {
    const a = attributes[name] as SqsMessageAttribute;
    out[name] =
      a.StringValue !== undefined
        ? { DataType: a.DataType, StringValue: a.StringValue }
        : { DataType: a.DataType, BinaryValue: a.BinaryValue ?? '' };
  }
  return out;
}
