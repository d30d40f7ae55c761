import { FirehoseClient } from '@aws-sdk/client-firehose';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { FirehoseRecordSink } from '../../functions/shared/firehose-sink';
import { AwsStub } from '../support/aws-stub';

/** The archive's Firehose sink through the real SDK client, on the wire to a stub endpoint. */
const stub = new AwsStub();
let sink: FirehoseRecordSink;

beforeAll(async () => {
  const endpoint = await stub.start();
  const client = new FirehoseClient({
    endpoint,
    region: 'eu-west-1',
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    maxAttempts: 1,
  });
  sink = new FirehoseRecordSink(client, 'inferbus-dev-archive');
});

afterAll(() => stub.stop());

beforeEach(() => {
  stub.calls.length = 0;
  stub.failFirehoseRecord = () => undefined;
  stub.failFirehoseCall = undefined;
  stub.firehoseResponses = undefined;
});

describe('FirehoseRecordSink', () => {
  it('sends every record to the named stream in one PutRecordBatch, data as sent', async () => {
    const records = ['{"a":1}{"a":2}', '{"a":3}'];
    expect(await sink.putRecordBatch(records)).toEqual([undefined, undefined]);
    expect(stub.calls.map((c) => [c.target, c.body.DeliveryStreamName])).toEqual([
      ['Firehose_20150804.PutRecordBatch', 'inferbus-dev-archive'],
    ]);
    expect(stub.firehoseRecords()).toEqual(records);
  });

  it("reports each refused record by index with Firehose's ErrorCode and ErrorMessage", async () => {
    stub.failFirehoseRecord = (data) => (data.includes('2') ? 'ServiceUnavailableException' : undefined);
    expect(await sink.putRecordBatch(['{"a":1}', '{"a":2}', '{"a":3}'])).toEqual([
      undefined,
      'ServiceUnavailableException: stub refused ServiceUnavailableException',
      undefined,
    ]);
  });

  it('reports every record failed when the call fails as a whole, naming the error', async () => {
    stub.failFirehoseCall = { status: 400, type: 'ResourceNotFoundException' };
    expect(await sink.putRecordBatch(['{"a":1}', '{"a":2}'])).toEqual([
      'ResourceNotFoundException: stub failure',
      'ResourceNotFoundException: stub failure',
    ]);
  });

  it('reports every record failed when Firehose answers fewer responses than records', async () => {
    stub.firehoseResponses = 1;
    const errors = await sink.putRecordBatch(['{"a":1}', '{"a":2}']);
    expect(errors).toHaveLength(2);
    for (const error of errors) expect(error).toMatch(/answered 1 record responses for 2 records/);
  });
});
