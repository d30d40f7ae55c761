import { describe, expect, it } from 'vitest';
import {
  EventPayload,
  recordBytes,
  recordBytesBound,
  recordBytesLoose,
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

const BODIES: [string, string][] = [
  ['plain ASCII', 'hello world'],
  ['quotes and backslashes only', '"\\'.repeat(500)],
  ['JSON with escaped text', JSON.stringify({ detail: { text: 'line 1\nline "2"\t\\' } })],
  ['newlines and tabs', '\n\r\t\b\f'.repeat(100)],
  ['non-ASCII', 'é漢字🙂'.repeat(100)],
  ['a lone surrogate', `a\ud800b`],
  ['rare control characters', '\u0001\u001f'.repeat(100)],
  ['empty', ''],
];

describe('recordBytesBound', () => {
  it.each(BODIES)('never undercounts: %s', (_, body) => {
    const r = record(body);
    expect(recordBytesBound(r)).toBeGreaterThanOrEqual(recordBytes(r));
  });
});

describe('recordBytesLoose', () => {
  it.each(BODIES)('never undercounts, and is never below the bound: %s', (_, body) => {
    const r = record(body);
    expect(recordBytesLoose(r)).toBeGreaterThanOrEqual(recordBytesBound(r));
  });

  it('counts control characters in names and attribute values too', () => {
    const r = toSqsRecord(
      {
        messageId: '\u0001',
        receiptHandle: '\u0002',
        body: '',
        md5OfBody: '\u0003',
        attributes: { '\u0004': '\u0005'.repeat(50) },
        messageAttributes: { '\u0006': { DataType: 'String', StringValue: '\u0007'.repeat(50) } },
      },
      '\u000b',
      '\u000e',
    );
    expect(recordBytesLoose(r)).toBeGreaterThanOrEqual(recordBytes(r));
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

  it('admits a record exactly when the event with it measures within the cap', () => {
    // Mixed bodies, so that loose sizes, bounds and exact sizes all come into play.
    const bodies = ['x'.repeat(3_000), '\u0001'.repeat(500), '"'.repeat(1_500), 'é'.repeat(800), 'short'];
    const records = Array.from({ length: 40 }, (_, i) =>
      record(bodies[i % bodies.length] as string, `m${i}`),
    );
    for (const cap of [2_000, 10_000, 25_000, 60_000, 150_000]) {
      const payload = new EventPayload(cap);
      const admitted: SqsRecord[] = [];
      let exactBytes = SQS_EVENT_ENVELOPE_BYTES;
      for (const r of records) {
        const fits = admitted.length === 0 || exactBytes + recordBytes(r) <= cap;
        expect(payload.tryAdd(r), `cap ${cap}, record ${r.messageId}`).toBe(fits);
        if (!fits) continue;
        admitted.push(r);
        exactBytes += recordBytes(r);
      }
      expect(payload.event().Records).toEqual(admitted);
    }
  });
});
