import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { QueueModel } from '../../local/model';
import { LocalServer } from '../../local/server';
import { handleSqsRequest } from '../../local/sqs/api';
import { handleSqsQueryRequest, toJsonInput } from '../../local/sqs/query-protocol';
import { QueueStore } from '../../local/sqs/store';

/** Request bodies exactly as AWS CLI 2.9 (Debian 12) sends them, captured on loopback. */
const CLI_BODIES = {
  receive:
    'Action=ReceiveMessage&Version=2012-11-05&QueueUrl=http%3A%2F%2Fq%2F000000000000%2Fwork&AttributeName.1=All&MessageAttributeName.1=All&MaxNumberOfMessages=5&VisibilityTimeout=0&WaitTimeSeconds=1',
  send: 'Action=SendMessage&Version=2012-11-05&QueueUrl=http%3A%2F%2Fq%2F000000000000%2Fwork&MessageBody=hello&MessageAttribute.1.Name=ERR&MessageAttribute.1.Value.DataType=String&MessageAttribute.1.Value.StringValue=x',
  batch:
    'Action=SendMessageBatch&Version=2012-11-05&QueueUrl=u&SendMessageBatchRequestEntry.1.Id=a&SendMessageBatchRequestEntry.1.MessageBody=x&SendMessageBatchRequestEntry.2.Id=b&SendMessageBatchRequestEntry.2.MessageBody=y',
};

describe('SQS query protocol translation', () => {
  it('turns flattened lists, numbers and message attributes into the JSON 1.0 request', () => {
    expect(toJsonInput(new URLSearchParams(CLI_BODIES.receive))).toEqual({
      QueueUrl: 'http://q/000000000000/work',
      AttributeNames: ['All'],
      MessageAttributeNames: ['All'],
      MaxNumberOfMessages: 5,
      VisibilityTimeout: 0,
      WaitTimeSeconds: 1,
    });
    expect(toJsonInput(new URLSearchParams(CLI_BODIES.send))).toMatchObject({
      MessageBody: 'hello',
      MessageAttributes: { ERR: { DataType: 'String', StringValue: 'x' } },
    });
    expect(toJsonInput(new URLSearchParams(CLI_BODIES.batch))).toMatchObject({
      Entries: [
        { Id: 'a', MessageBody: 'x' },
        { Id: 'b', MessageBody: 'y' },
      ],
    });
  });

  it('answers errors as an XML ErrorResponse with the SQS error code', async () => {
    const response = await handleSqsQueryRequest(
      async () => ({
        status: 400,
        headers: { 'x-amzn-query-error': 'AWS.SimpleQueueService.NonExistentQueue;Sender' },
        body: {
          __type: 'com.amazonaws.sqs#QueueDoesNotExist',
          message: 'The specified queue does not exist: <q>',
        },
      }),
      'Action=GetQueueUrl&QueueName=q',
    );
    expect(response.status).toBe(400);
    expect(response.body).toContain('<Code>AWS.SimpleQueueService.NonExistentQueue</Code>');
    expect(response.body).toContain('does not exist: &#60;q&#62;');
  });

  describe('empty results, against a real store', () => {
    let dir: string;
    let store: QueueStore;
    const url = 'http://127.0.0.1:1/000000000000/empty';
    beforeAll(() => {
      dir = mkdtempSync(join(tmpdir(), 'inferbus-sqs-empty-'));
      store = new QueueStore(
        [
          {
            logicalId: 'Empty',
            name: 'empty',
            arn: 'arn:aws:sqs:ap-south-1:000000000000:empty',
            url,
            visibilityTimeoutSeconds: 30,
            messageRetentionSeconds: 345_600,
          },
        ],
        { stateDir: dir },
      );
    });
    afterAll(() => {
      store.close();
      rmSync(dir, { recursive: true, force: true });
    });
    const query = (body: string) =>
      handleSqsQueryRequest((target, input) => handleSqsRequest(store, target, input), body);

    // AWS always sends the result element; botocore's query parser reads it unconditionally.
    it.each([
      ['ReceiveMessage', `Action=ReceiveMessage&QueueUrl=${encodeURIComponent(url)}&WaitTimeSeconds=0`],
      ['ListQueues', 'Action=ListQueues&QueueNamePrefix=zzz'],
      ['ListDeadLetterSourceQueues', `Action=ListDeadLetterSourceQueues&QueueUrl=${encodeURIComponent(url)}`],
    ])('keeps the empty %sResult element', async (action, body) => {
      const response = await query(body);
      expect(response.status).toBe(200);
      expect(response.body).toMatch(
        new RegExp(`<${action}Response [^>]*><${action}Result></${action}Result><ResponseMetadata>`),
      );
    });

    it('answers an action without a result with ResponseMetadata alone', async () => {
      const response = await query(`Action=PurgeQueue&QueueUrl=${encodeURIComponent(url)}`);
      expect(response.status).toBe(200);
      expect(response.body).toMatch(/<PurgeQueueResponse [^>]*><ResponseMetadata>/);
    });
  });

  it('refuses a request without an Action', async () => {
    const response = await handleSqsQueryRequest(
      async () => ({ status: 200, headers: {}, body: {} }),
      'Version=1',
    );
    expect(response.body).toContain('<Code>MissingAction</Code>');
  });
});

// The real AWS CLI v2 from Debian (.ci/run installs it), against a store behind the shared endpoint.
const awsCli = '/usr/bin/aws';
describe.runIf(existsSync(awsCli))('the AWS CLI v2 against the local SQS', () => {
  let dir: string;
  let store: QueueStore;
  let server: LocalServer;
  let endpoint: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'inferbus-sqs-query-'));
    server = new LocalServer({
      port: 0,
      routes: [],
      queryProtocol: (body) =>
        handleSqsQueryRequest((target, input) => handleSqsRequest(store, target, input), body),
      health: () => ({}),
      metrics: () => [],
    });
    endpoint = await server.start();
    const queue = (name: string, extra: Partial<QueueModel> = {}): QueueModel => ({
      logicalId: name,
      name,
      arn: `arn:aws:sqs:eu-west-1:000000000000:${name}`,
      url: `${endpoint}/000000000000/${name}`,
      visibilityTimeoutSeconds: 30,
      messageRetentionSeconds: 345_600,
      ...extra,
    });
    store = new QueueStore(
      [
        queue('work-dlq'),
        queue('work', { redrive: { deadLetterTargetArn: queue('work-dlq').arn, maxReceiveCount: 3 } }),
      ],
      {
        stateDir: dir,
      },
    );
    expect((server as unknown as { server: { address(): AddressInfo } }).server.address().address).toBe(
      '127.0.0.1',
    );
  });

  afterAll(async () => {
    await server.stop();
    store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  // Asynchronous on purpose: the endpoint answers from this same process.
  const aws = async (...args: string[]) => {
    const { stdout } = await promisify(execFile)(
      awsCli,
      ['--endpoint-url', endpoint, '--output', 'json', 'sqs', ...args],
      {
        env: {
          ...process.env,
          AWS_ACCESS_KEY_ID: 'S3RVER',
          AWS_SECRET_ACCESS_KEY: 'S3RVER',
          AWS_REGION: 'eu-west-1',
          AWS_MAX_ATTEMPTS: '1',
        },
        encoding: 'utf8',
      },
    );
    return JSON.parse(stdout || '{}');
  };

  it('lists, sends, receives with attributes and reads queue attributes', async () => {
    expect((await aws('list-queues')).QueueUrls).toHaveLength(2);
    const url = (await aws('get-queue-url', '--queue-name', 'work')).QueueUrl;
    const sent = await aws(
      'send-message',
      '--queue-url',
      url,
      '--message-body',
      '{"a":"<b>"}',
      '--message-attributes',
      '{"ERROR_CODE":{"DataType":"String","StringValue":"Poison"}}',
    );
    expect(sent.MessageId).toBeTypeOf('string');
    const { Messages } = await aws(
      'receive-message',
      '--queue-url',
      url,
      '--attribute-names',
      'All',
      '--message-attribute-names',
      'All',
    );
    expect(Messages[0]).toMatchObject({
      Body: '{"a":"<b>"}',
      MessageAttributes: { ERROR_CODE: { StringValue: 'Poison' } },
    });
    expect(Messages[0].Attributes.ApproximateReceiveCount).toBe('1');
    await aws('delete-message', '--queue-url', url, '--receipt-handle', Messages[0].ReceiptHandle);
    const { Attributes } = await aws('get-queue-attributes', '--queue-url', url, '--attribute-names', 'All');
    expect(Attributes.ApproximateNumberOfMessages).toBe('0');
  });

  it('answers an empty receive and a prefix that matches nothing', async () => {
    const url = (await aws('get-queue-url', '--queue-name', 'work-dlq')).QueueUrl;
    expect(await aws('receive-message', '--queue-url', url, '--wait-time-seconds', '0')).toEqual({});
    expect(await aws('list-queues', '--queue-name-prefix', 'zzz')).toEqual({});
  });

  it('reports an unknown queue with the SQS error code', async () => {
    await expect(aws('get-queue-url', '--queue-name', 'missing')).rejects.toThrow(/NonExistentQueue/);
  });
});
