import type { SqsMessageAttribute } from '../model.js';
import { isWellFormed } from '../unicode.js';
import { invalidMessageContents, invalidParameter, missingParameter } from './errors.js';
import { isBinaryDataType } from './md5.js';

/** SQS raised the message size limit from 256 KiB to 1 MiB (body plus attribute names, types, values). */
export const MAX_MESSAGE_BYTES = 1_048_576;
export const MAX_DELAY_SECONDS = 900;
export const MAX_VISIBILITY_TIMEOUT_SECONDS = 43_200;
export const MAX_WAIT_TIME_SECONDS = 20;
const MAX_ATTRIBUTES = 10;

// Characters SQS accepts in a body: #x9 | #xA | #xD | #x20-#xD7FF | #xE000-#xFFFD | #x10000-#x10FFFF.
// That is: no lone surrogate (`isWellFormed`, which costs next to nothing) and none of these units.
// A positive class of the few bad units scans about three times faster than the negated allowed ranges.
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding these characters is the point.
const INVALID_UNIT = /[\0-\x08\x0B\x0C\x0E-\x1F\uFFFE\uFFFF]/;
const ATTRIBUTE_NAME = /^[A-Za-z0-9_\-.]{1,256}$/;
const DATA_TYPE = /^(String|Number|Binary)(\.[^\s]{1,250})?$/;
const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

export interface MessageSize {
  /** Body plus attributes, as SQS counts against its limit. */
  readonly total: number;
  /** The body's UTF-8 bytes. */
  readonly body: number;
}

/**
 * Refuses a MessageBody of another JSON type than string: a malformed request (the JSON protocol
 * cannot read it as the string the API declares), not a message that could be sent.
 */
export function checkMessageBodyType(body: unknown, field = 'MessageBody'): void {
  if (body !== undefined && body !== null && typeof body !== 'string') {
    throw invalidParameter(`${field} must be a string.`);
  }
}

/** Validates a message as SendMessage does; returns its size in bytes. */
export function validateMessage(
  body: unknown,
  attributes: Record<string, SqsMessageAttribute> | undefined,
): MessageSize {
  checkMessageBodyType(body);
  if (typeof body !== 'string' || body.length === 0) throw missingParameter('MessageBody');
  if (!isWellFormed(body) || INVALID_UNIT.test(body)) {
    throw invalidMessageContents(
      'Invalid characters found in MessageBody. Allowed: #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF.',
    );
  }
  const bodyBytes = Buffer.byteLength(body, 'utf8');
  const total = bodyBytes + (attributes === undefined ? 0 : validateAttributes(attributes));
  if (total > MAX_MESSAGE_BYTES) {
    throw invalidParameter(
      `One or more parameters are invalid. Reason: Message must be shorter than ${MAX_MESSAGE_BYTES} bytes (this one is ${total}). Store large payloads in S3 and send a pointer.`,
    );
  }
  return { total, body: bodyBytes };
}

function validateAttributes(attributes: Record<string, SqsMessageAttribute>): number {
  if (typeof attributes !== 'object' || attributes === null) {
    throw invalidParameter(
      'MessageAttributes must be a map of name to { DataType, StringValue | BinaryValue }.',
    );
  }
  const names = Object.keys(attributes);
  if (names.length > MAX_ATTRIBUTES) {
    throw invalidParameter(
      `Number of message attributes [${names.length}] exceeds the allowed maximum [10].`,
    );
  }
  let size = 0;
  for (const name of names) {
    const attr = attributes[name];
    if (
      !ATTRIBUTE_NAME.test(name) ||
      name.startsWith('.') ||
      name.endsWith('.') ||
      name.includes('..') ||
      /^(aws|amazon)\./i.test(name)
    ) {
      throw invalidParameter(
        `Message attribute name '${name}' is invalid: use up to 256 of A-Z a-z 0-9 _ - . (no leading, trailing or double '.', no 'AWS.' or 'Amazon.' prefix).`,
      );
    }
    if (typeof attr !== 'object' || attr === null || typeof attr.DataType !== 'string') {
      throw invalidParameter(`The message attribute '${name}' must contain a DataType.`);
    }
    if (!DATA_TYPE.test(attr.DataType)) {
      throw invalidParameter(
        `The message attribute '${name}' has an invalid message attribute type '${attr.DataType}': use String, Number or Binary, optionally with a custom '.suffix'.`,
      );
    }
    size += Buffer.byteLength(name, 'utf8') + Buffer.byteLength(attr.DataType, 'utf8');
    if (isBinaryDataType(attr.DataType)) {
      if (typeof attr.BinaryValue !== 'string' || attr.BinaryValue.length === 0) {
        throw invalidParameter(`The message attribute '${name}' with type 'Binary' must use field 'Binary'.`);
      }
      size += Buffer.byteLength(attr.BinaryValue, 'base64');
    } else {
      if (typeof attr.StringValue !== 'string' || attr.StringValue.length === 0) {
        throw invalidParameter(
          `The message attribute '${name}' must contain a non-empty message attribute value.`,
        );
      }
      if (attr.DataType.startsWith('Number') && !NUMBER.test(attr.StringValue)) {
        throw invalidParameter(`Can't cast the value of message attribute '${name}' to a number.`);
      }
      size += Buffer.byteLength(attr.StringValue, 'utf8');
    }
  }
  return size;
}

/** Checks an integer parameter against SQS's documented range. */
export function intInRange(name: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw invalidParameter(
      `Value ${String(value)} for parameter ${name} is invalid. Reason: Must be an integer from ${min} to ${max}.`,
    );
  }
  return value;
}
