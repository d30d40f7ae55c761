import type { SqsEvent, SqsRecord } from './sqs-event.js';

/** Lambda's limit on a synchronous invocation's payload, which also caps an SQS batch. */
export const MAX_INVOCATION_PAYLOAD_BYTES = 6 * 1024 * 1024;

/** Bytes of `{"Records":[]}`: the event around its records. */
export const SQS_EVENT_ENVELOPE_BYTES = Buffer.byteLength(JSON.stringify({ Records: [] }));

/** The control characters JSON writes as `\u00XX`: six bytes from one. Every other character at most doubles. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding these characters is the point.
const SIX_BYTE_ESCAPES = /[\u0000-\u0007\u000b\u000e-\u001f]/;

/** The most bytes JSON writes for one UTF-16 code unit (`\u001f`). */
const MAX_BYTES_PER_UNIT = 6;

/** What a record adds to the event's JSON: its text and a comma (the first has none: one byte spare). */
export function recordBytes(record: SqsRecord): number {
  return Buffer.byteLength(JSON.stringify(record)) + 1;
}

/**
 * Never less than `recordBytes`, and reads no text at all: every code unit of every string counts
 * as six bytes. Far too high for a body, but costs next to nothing.
 */
export function recordBytesLoose(record: SqsRecord): number {
  return jsonBytesAtMost(record) + 1;
}

/**
 * Never less than `recordBytes`, and several times cheaper for large bodies: the body at twice
 * its UTF-8 bytes (the rest of the record as `recordBytesLoose` counts it), exact when the body
 * has characters JSON writes as `\u00XX`.
 */
export function recordBytesBound(record: SqsRecord): number {
  const { body } = record;
  if (SIX_BYTE_ESCAPES.test(body)) return recordBytes(record);
  return recordBytesLoose(record) - MAX_BYTES_PER_UNIT * body.length + 2 * Buffer.byteLength(body);
}

/** At least the UTF-8 bytes of `JSON.stringify(value)` for the strings, arrays and plain objects of a record. */
function jsonBytesAtMost(value: unknown): number {
  if (typeof value === 'string') return 2 + MAX_BYTES_PER_UNIT * value.length;
  if (Array.isArray(value)) {
    let bytes = 2;
    for (const item of value) bytes += jsonBytesAtMost(item) + 1;
    return bytes;
  }
  if (typeof value === 'object' && value !== null) {
    let bytes = 2;
    // `for...in` is the quickest walk; an inherited key it adds only makes the count larger.
    for (const key in value) {
      bytes += jsonBytesAtMost(key) + jsonBytesAtMost((value as Record<string, unknown>)[key]) + 2;
    }
    return bytes;
  }
  return Buffer.byteLength(JSON.stringify(value) ?? 'null');
}

/**
 * The payload of an SQS event being filled, held to Lambda's cap. A record first counts by its
 * loose size; only while the sizes add up past the cap are records measured more closely, oldest
 * first: by their bound, then exactly. So an ordinary batch reads few of its bodies and never
 * serialises them, and a large one is cut exactly where Lambda would cut it.
 */
export class EventPayload {
  private readonly records_: SqsRecord[] = [];
  private readonly sizes: number[] = [];
  private bytes = SQS_EVENT_ENVELOPE_BYTES;
  /** Records before this index are sized by `recordBytesBound` or exactly. */
  private bounded = 0;
  /** Records before this index are sized exactly. */
  private exact = 0;

  constructor(private readonly maxBytes = MAX_INVOCATION_PAYLOAD_BYTES) {}

  /** The event of the records admitted so far (it shares their list: add no more once it is sent). */
  event(): SqsEvent {
    return { Records: this.records_ };
  }

  /** Adds the record unless it would take the event past the cap; the first record always fits. */
  tryAdd(record: SqsRecord): boolean {
    const size = recordBytesLoose(record);
    this.records_.push(record);
    this.sizes.push(size);
    this.bytes += size;
    if (this.records_.length === 1 || this.tighten()) return true;
    this.removeLast();
    return false;
  }

  /** Measures records more closely, cheapest way first, until the sizes fit; false if exact ones do not. */
  private tighten(): boolean {
    while (this.bytes > this.maxBytes) {
      if (this.bounded < this.records_.length) this.resize(this.bounded++, recordBytesBound);
      else if (this.exact < this.records_.length) this.resize(this.exact++, recordBytes);
      else return false;
    }
    return true;
  }

  private resize(index: number, measure: (record: SqsRecord) => number): void {
    const size = measure(this.records_[index] as SqsRecord);
    this.bytes += size - (this.sizes[index] as number);
    this.sizes[index] = size;
  }

  private removeLast(): void {
    this.records_.pop();
    this.bytes -= this.sizes.pop() as number;
    this.bounded = Math.min(this.bounded, this.records_.length);
    this.exact = Math.min(this.exact, this.records_.length);
  }
}
