import { describe, expect, it } from 'vitest';
import {
  athenaBilledBytes,
  dynamoDbItemBytes,
  dynamoDbReadUnits,
  dynamoDbWriteUnits,
  eventBridgeEvents,
  eventEntryBytes,
  firehoseBilledBytes,
  KIB,
  lambdaBilledMs,
  lambdaGbSeconds,
  MIB,
  NO_USAGE,
  provisionedConcurrencyGbSeconds,
  s3RequestClass,
  sqsMessageBytes,
  sqsRequests,
} from '../../functions/core/billing-units';
import { priceUsage } from '../../functions/core/pricing';

describe('billing units, as AWS counts them', () => {
  it('EventBridge: each entry in 64 KB units, sized as PutEvents sizes it', () => {
    expect(eventBridgeEvents(0)).toBe(1);
    expect(eventBridgeEvents(64 * KIB)).toBe(1);
    expect(eventBridgeEvents(65 * KIB)).toBe(2);
    expect(eventBridgeEvents(256 * KIB)).toBe(4);
    // Time counts 14 bytes whatever its text; the other fields count their UTF-8 bytes.
    expect(
      eventEntryBytes({
        Time: '2025-01-01T00:00:00Z',
        Source: 'ab',
        DetailType: 'é',
        Detail: '{}',
        Resources: ['r'],
      }),
    ).toBe(14 + 2 + 2 + 2 + 1);
    expect(eventEntryBytes({ Source: 's' })).toBe(1);
  });

  it('SQS: a request per 64 KB chunk of its payload, at least one (empty receives too)', () => {
    expect(sqsRequests(0)).toBe(1);
    expect(sqsRequests(64 * KIB)).toBe(1);
    expect(sqsRequests(64 * KIB + 1)).toBe(2);
    expect(sqsRequests(256 * KIB)).toBe(4);
    expect(sqsMessageBytes('hé', { ERROR_CODE: { DataType: 'String', StringValue: 'X' } })).toBe(
      3 + 10 + 6 + 1,
    );
  });

  it('Lambda: duration rounded up to 1 ms at the configured memory', () => {
    expect(lambdaBilledMs(0.2)).toBe(1);
    expect(lambdaBilledMs(10.01)).toBe(11);
    expect(lambdaGbSeconds(999.5, 2048)).toBeCloseTo(2, 10);
    expect(provisionedConcurrencyGbSeconds(2, 1024, 60)).toBe(120);
  });

  it('Firehose: each record rounded up to 5 KB', () => {
    expect(firehoseBilledBytes(1)).toBe(5 * KIB);
    expect(firehoseBilledBytes(3 * KIB)).toBe(5 * KIB);
    expect(firehoseBilledBytes(12 * KIB)).toBe(15 * KIB);
  });

  it('S3: PUT, COPY, POST and LIST are class A, GET and HEAD class B, DELETE free', () => {
    expect(s3RequestClass('PUT', '/bucket/key')).toBe('A');
    expect(s3RequestClass('POST', '/bucket/key', 'uploads')).toBe('A');
    expect(s3RequestClass('GET', '/bucket', 'list-type=2&prefix=events/')).toBe('A');
    expect(s3RequestClass('GET', '/bucket/', 'list-type=2')).toBe('A');
    expect(s3RequestClass('GET', '/bucket/key')).toBe('B');
    expect(s3RequestClass('HEAD', '/bucket/key')).toBe('B');
    expect(s3RequestClass('DELETE', '/bucket/key')).toBe('free');
  });

  it('DynamoDB: 4 KB reads (half when eventually consistent), 1 KB writes of the larger item', () => {
    expect(dynamoDbReadUnits(3500, 'strong')).toBe(1);
    expect(dynamoDbReadUnits(8 * KIB, 'eventual')).toBe(1);
    expect(dynamoDbReadUnits(10 * KIB, 'strong')).toBe(3);
    // A read of an item that does not exist still costs a read.
    expect(dynamoDbReadUnits(0, 'strong')).toBe(1);
    expect(dynamoDbWriteUnits(500)).toBe(1);
    expect(dynamoDbWriteUnits(500, 1500)).toBe(2);
    expect(dynamoDbWriteUnits(2049)).toBe(3);
    expect(
      dynamoDbItemBytes({
        pk: { S: 'abc' },
        n: { N: '12345' },
        ok: { BOOL: true },
        m: { M: { k: { S: 'v' } } },
      }),
    ).toBe(2 + 3 + (1 + 4) + (2 + 1) + (1 + 3 + 1 + 1 + 1));
  });

  it('Athena: bytes scanned rounded up to the megabyte, with a 10 MB minimum per query', () => {
    expect(athenaBilledBytes(0)).toBe(10 * MIB);
    expect(athenaBilledBytes(10 * MIB + 1)).toBe(11 * MIB);
    expect(athenaBilledBytes(50 * MIB)).toBe(50 * MIB);
  });

  it('refuses sizes that are not sizes, naming what was wrong', () => {
    expect(() => sqsRequests(-1)).toThrow(
      /payload size in bytes must be a finite number of at least 0, got -1/,
    );
    expect(() => lambdaBilledMs(Number.NaN)).toThrow(/Lambda duration/);
    expect(() => athenaBilledBytes(-5)).toThrow(/bytes a query scanned/);
  });
});

describe('priceUsage', () => {
  it('prices each unit at the one list-price table', () => {
    const lines = priceUsage({
      ...NO_USAGE,
      eventBridgeEvents: 1e6,
      sqsRequests: 1e6,
      lambdaRequests: 1e6,
      lambdaOnDemandGbSeconds: 1,
      firehoseBilledBytes: 1024 ** 3,
      firehoseFormatConversionBytes: 1024 ** 3,
      s3ClassARequests: 1000,
      s3ClassBRequests: 1000,
      dynamoDbReadUnits: 1e6,
      dynamoDbWriteUnits: 1e6,
      athenaBilledBytes: 1024 ** 4,
    });
    const cost = Object.fromEntries(lines.map((l) => [l.service, l.dollars]));
    expect(cost).toEqual({
      EventBridge: 1,
      SQS: 0.4,
      Lambda: 0.2 + 0.0000133334,
      Firehose: 0.029 + 0.018,
      S3: 0.005 + 0.0004,
      DynamoDB: 0.125 + 0.625,
      Athena: 5,
    });
  });
});
