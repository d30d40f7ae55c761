import type { SqsRecord } from './sqs-event.js';

/** Lambda's limit on a synchronous invocation's payload, which also caps an SQS batch. */
export const MAX_INVOCATION_PAYLOAD_BYTES = 6 * 1024 * 1024;

/** Bytes of `{"Records":[]}`: the event around its records. */
export const SQS_EVENT_ENVELOPE_BYTES = Buffer.byteLength(JSON.stringify({ Records: [] }));

/** The control characters JSON writes as `\u00XX`: six bytes from one. Every other character at most doubles. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding these characters is the point.
const SIX_BYTE_ESCAPES = /[\u0000-\u0007\u000b\u000e-\u001f]/;

/** What a record adds to the event's JSON: its text and a comma (the first has none: one byte spare). */
export function recordBytes(record: SqsRecord): number {
  return Buffer.byteLength(JSON.stringify(record)) + 1;
}

/**
 * Never less than `recordBytes`, and several times cheaper for large bodies: the record without
 * its body measured exactly, plus twice the body's UTF-8 bytes.
 */
export function recordBytesBound(record: SqsRecord): number {
  if (SIX_BYTE_ESCAPES.test(record.body)) return recordBytes(record);
  return recordBytes({ ...record, body: '' }) + 2 * Buffer.byteLength(record.body);
}

/**
 * The payload of an SQS event being filled, held to Lambda's cap. Records count by their cheap
 * bound until the bounds would pass the cap; from then on the batch is measured exactly, so an
 * ordinary batch never serialises its bodies and a large one is cut where Lambda would cut it.
 */
export class EventPayload {
  private readonly records: SqsRecord[] = [];
  private bytes = SQS_EVENT_ENVELOPE_BYTES;
  private exact = false;

  constructor(private readonly maxBytes = MAX_INVOCATION_PAYLOAD_BYTES) {}

  /** Adds the record unless it would take the event past the cap; the first record always fits. */
  tryAdd(record: SqsRecord): boolean {
    if (!this.exact) {
      const bound = recordBytesBound(record);
      if (this.fits(bound)) return this.add(record, bound);
      this.exact = true;
      this.bytes = this.records.reduce((sum, r) => sum + recordBytes(r), SQS_EVENT_ENVELOPE_BYTES);
    }
    const size = recordBytes(record);
    return this.fits(size) && this.add(record, size);
  }

  private fits(size: number): boolean {
    return this.records.length === 0 || this.bytes + size <= this.maxBytes;
  }

  private add(record: SqsRecord, size: number): true {
    this.records.push(record);
    this.bytes += size;
    return true;
  }
}
