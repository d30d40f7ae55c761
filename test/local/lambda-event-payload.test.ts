import { describe, expect, it } from 'vitest';
import {
  EventPayload,
  recordBytes,
  recordBytesBound,
  SQS_EVENT_ENVELOPE_BYTES,
} from '../../local/lambda/event-payload.js';
import { type SqsRecord, toSqsRecord } from '../../local/lambda/sqs-event.js';

const QUEUE_ARN = 'arn:aws:sqs:eu-west-1:000000000000:inferbus-dev-Tier1Queue';

function record(body: string, id = 'm1'): SqsRecord {
  return toSqsRecord(
    {
      messageId: id,
      receiptHandle: `r-${id}`,
      body,
      md5OfBody: '0'.repeat(32),
      attributes: { ApproximateReceiveCount: '1', SentTimestamp: '1764377000000' },
      messageAttributes: { tenant: { DataType: 'String', StringValue: 'acme "a\\b"' } },
    },
    QUEUE_ARN,
    'eu-west-1',
  );
}

describe('recordBytes', () => {
  it('is what the record adds to the event JSON, with one byte spare for the first comma', () => {
    const a = record('{"a":"é"}');
    const b = record('{"b":"\\n"}', 'm2');
    const event = Buffer.byteLength(JSON.stringify({ Records: [a, b] }));
    expect(SQS_EVENT_ENVELOPE_BYTES + recordBytes(a) + recordBytes(b)).toBe(event + 1);
  });
});

describe('recordBytesBound', () => {
  it.each([
    ['plain ASCII', 'hello world'],
    ['quotes and backslashes only', '"\\'.repeat(500)],
    ['JSON with escaped text', JSON.stringify({ detail: { text: 'line 1\nline "2"\t\\' } })],
    ['newlines and tabs', '\n\r\t\b\f'.repeat(100)],
    ['non-ASCII', 'é漢字🙂'.repeat(100)],
    ['a lone surrogate', `a\ud800b`],
    ['rare control characters', '\u0001\u001f'.repeat(100)],
    ['empty', ''],
  ])('never undercounts: %s', (_, body) => {
    const r = record(body);
    expect(recordBytesBound(r)).toBeGreaterThanOrEqual(recordBytes(r));
  });
});

describe('EventPayload', () => {
  it('admits records while the event stays within the cap, measured exactly near it', () => {
    // Bounds (twice the body) would stop at two records of 1,000 'x'; exact sizes fit three.
    const r = (id: string) => record('x'.repeat(1_000), id);
    const exactThree = SQS_EVENT_ENVELOPE_BYTES + 3 * recordBytes(r('a'));
    const payload = new EventPayload(exactThree);
    expect(['a', 'b', 'c', 'd'].map((id) => payload.tryAdd(r(id)))).toEqual([true, true, true, false]);
  });

  it('always admits the first record, even one larger than the cap', () => {
    const payload = new EventPayload(10);
    expect(payload.tryAdd(record('too big for ten bytes'))).toBe(true);
    expect(payload.tryAdd(record('next', 'm2'))).toBe(false);
  });
});
