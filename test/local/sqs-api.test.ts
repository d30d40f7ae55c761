import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageBatchCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  ListDeadLetterSourceQueuesCommand,
  ListMessageMoveTasksCommand,
  ListQueuesCommand,
  PurgeQueueCommand,
  QueueDoesNotExist,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SendMessageCommand,
  SQSClient,
  StartMessageMoveTaskCommand,
} from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { QueueModel } from '../../local/model.js';
import { handleSqsRequest } from '../../local/sqs/api.js';
import { md5OfMessageAttributes } from '../../local/sqs/md5.js';
import { QueueStore } from '../../local/sqs/store.js';

const ARN = 'arn:aws:sqs:us-east-1:000000000000:';
let server: Server;
let store: QueueStore;
let sqs: SQSClient;
let dir: string;
let url: (name: string) => string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'inferbus-sqs-api-'));
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const out = await handleSqsRequest(
        store,
        String(req.headers['x-amz-target']),
        text ? JSON.parse(text) : {},
      );
      res.writeHead(out.status, out.headers);
      res.end(JSON.stringify(out.body));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  url = (name) => `${endpoint}/000000000000/${name}`;
  const model = (name: string, extra: Partial<QueueModel> = {}): QueueModel => ({
    logicalId: name,
    name,
    arn: ARN + name,
    url: url(name),
    visibilityTimeoutSeconds: 30,
    messageRetentionSeconds: 345_600,
    ...extra,
  });
  store = new QueueStore(
    [
      model('tier1', {
        redrive: { deadLetterTargetArn: `${ARN}tier1-dlq`, maxReceiveCount: 1 },
        sqsManagedSseEnabled: true,
      }),
      model('tier1-dlq'),
      model('plain'),
    ],
    { stateDir: dir, warn: () => {} },
  );
  sqs = new SQSClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    maxAttempts: 1,
  });
});

afterAll(async () => {
  sqs.destroy();
  store.close();
  await new Promise((resolve) => server.close(resolve));
  rmSync(dir, { recursive: true, force: true });
});

describe('SQS JSON protocol with the real SDK', () => {
  it('sends, receives with attributes (MD5s checked) and deletes', async () => {
    const attributes = {
      tenant: { DataType: 'String', StringValue: 'acme' },
      seq: { DataType: 'Number', StringValue: '42' },
      blob: { DataType: 'Binary', BinaryValue: new Uint8Array([0, 1, 2, 255]) },
    };
    const sent = await sqs.send(
      new SendMessageCommand({
        QueueUrl: url('plain'),
        MessageBody: '{"hello":"wörld"}',
        MessageAttributes: attributes,
      }),
    );
    const expectedMd5 = md5OfMessageAttributes({
      tenant: { DataType: 'String', StringValue: 'acme' },
      seq: { DataType: 'Number', StringValue: '42' },
      blob: { DataType: 'Binary', BinaryValue: Buffer.from([0, 1, 2, 255]).toString('base64') },
    });
    expect(sent.MD5OfMessageAttributes).toBe(expectedMd5);
    const got = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: url('plain'),
        MaxNumberOfMessages: 10,
        MessageAttributeNames: ['All'],
        MessageSystemAttributeNames: ['ApproximateReceiveCount', 'SentTimestamp'],
      }),
    );
    const [m] = got.Messages ?? [];
    expect(m?.Body).toBe('{"hello":"wörld"}');
    expect(m?.MessageId).toBe(sent.MessageId);
    expect(m?.Attributes).toEqual({ ApproximateReceiveCount: '1', SentTimestamp: expect.any(String) });
    expect(m?.MessageAttributes?.tenant?.StringValue).toBe('acme');
    expect(Array.from(m?.MessageAttributes?.blob?.BinaryValue ?? [])).toEqual([0, 1, 2, 255]);
    expect(m?.MD5OfMessageAttributes).toBe(expectedMd5);
    await sqs.send(new DeleteMessageCommand({ QueueUrl: url('plain'), ReceiptHandle: m?.ReceiptHandle }));
    const empty = await sqs.send(new ReceiveMessageCommand({ QueueUrl: url('plain') }));
    expect(empty.Messages ?? []).toEqual([]);
  });

  it('reports batch partial failures per entry and batch-level errors as SDK exceptions', async () => {
    const out = await sqs.send(
      new SendMessageBatchCommand({
        QueueUrl: url('plain'),
        Entries: [
          { Id: 'ok-1', MessageBody: 'a' },
          { Id: 'bad', MessageBody: 'nul \u0000 inside' },
          { Id: 'ok-2', MessageBody: 'b', DelaySeconds: 0 },
        ],
      }),
    );
    expect(out.Successful?.map((s) => s.Id).sort()).toEqual(['ok-1', 'ok-2']);
    expect(out.Failed).toEqual([
      expect.objectContaining({ Id: 'bad', SenderFault: true, Code: 'InvalidMessageContents' }),
    ]);

    await expect(
      sqs.send(
        new SendMessageBatchCommand({
          QueueUrl: url('plain'),
          Entries: [
            { Id: 'x', MessageBody: 'a' },
            { Id: 'x', MessageBody: 'b' },
          ],
        }),
      ),
    ).rejects.toMatchObject({ name: 'BatchEntryIdsNotDistinct' });
    await expect(
      sqs.send(new SendMessageBatchCommand({ QueueUrl: url('plain'), Entries: [] })),
    ).rejects.toMatchObject({ name: 'EmptyBatchRequest' });
    await expect(
      sqs.send(
        new SendMessageBatchCommand({
          QueueUrl: url('plain'),
          Entries: [{ Id: 'bad id!', MessageBody: 'a' }],
        }),
      ),
    ).rejects.toMatchObject({ name: 'InvalidBatchEntryId' });

    const got = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl: url('plain'), MaxNumberOfMessages: 10 }),
    );
    expect(got.Messages).toHaveLength(2);
    const handles = got.Messages?.map((m) => m.ReceiptHandle as string) ?? [];
    const vis = await sqs.send(
      new ChangeMessageVisibilityBatchCommand({
        QueueUrl: url('plain'),
        Entries: [
          { Id: 'a', ReceiptHandle: handles[0], VisibilityTimeout: 60 },
          { Id: 'b', ReceiptHandle: 'not-a-handle', VisibilityTimeout: 60 },
        ],
      }),
    );
    expect(vis.Successful?.map((s) => s.Id)).toEqual(['a']);
    expect(vis.Failed?.[0]).toMatchObject({ Id: 'b', Code: 'ReceiptHandleIsInvalid' });
    const del = await sqs.send(
      new DeleteMessageBatchCommand({
        QueueUrl: url('plain'),
        Entries: [
          { Id: 'a', ReceiptHandle: handles[0] },
          { Id: 'b', ReceiptHandle: handles[1] },
          { Id: 'c', ReceiptHandle: '' },
        ],
      }),
    );
    expect(del.Successful?.map((s) => s.Id).sort()).toEqual(['a', 'b']);
    expect(del.Failed?.[0]).toMatchObject({ Id: 'c', Code: 'MissingParameter' });
  });

  it('answers queue metadata calls', async () => {
    await sqs.send(new SendMessageCommand({ QueueUrl: url('plain'), MessageBody: 'count me' }));
    const attrs = await sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: url('tier1'), AttributeNames: ['All'] }),
    );
    expect(attrs.Attributes).toMatchObject({
      QueueArn: `${ARN}tier1`,
      VisibilityTimeout: '30',
      RedrivePolicy: JSON.stringify({ deadLetterTargetArn: `${ARN}tier1-dlq`, maxReceiveCount: 1 }),
      SqsManagedSseEnabled: 'true',
    });
    const unencrypted = await sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: url('plain'), AttributeNames: ['SqsManagedSseEnabled'] }),
    );
    expect(unencrypted.Attributes).toEqual({ SqsManagedSseEnabled: 'false' });
    const plain = await sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl: url('plain'),
        AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
      }),
    );
    expect(plain.Attributes).toEqual({
      ApproximateNumberOfMessages: '1',
      ApproximateNumberOfMessagesNotVisible: '0',
    });
    expect((await sqs.send(new GetQueueUrlCommand({ QueueName: 'tier1' }))).QueueUrl).toBe(url('tier1'));
    expect((await sqs.send(new ListQueuesCommand({ QueueNamePrefix: 'tier1' }))).QueueUrls).toEqual([
      url('tier1'),
      url('tier1-dlq'),
    ]);
    expect(
      (await sqs.send(new ListDeadLetterSourceQueuesCommand({ QueueUrl: url('tier1-dlq') }))).queueUrls,
    ).toEqual([url('tier1')]);
    await sqs.send(new PurgeQueueCommand({ QueueUrl: url('plain') }));
  });

  it('throws QueueDoesNotExist and validation errors the SDK way', async () => {
    const err = await sqs
      .send(new SendMessageCommand({ QueueUrl: url('missing'), MessageBody: 'x' }))
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(QueueDoesNotExist);
    expect((err as QueueDoesNotExist).message).toMatch(/does not exist/);
    await expect(sqs.send(new GetQueueUrlCommand({ QueueName: 'missing' }))).rejects.toBeInstanceOf(
      QueueDoesNotExist,
    );
    await expect(
      sqs.send(new SendMessageCommand({ QueueUrl: url('plain'), MessageBody: 'x'.repeat(1_048_577) })),
    ).rejects.toMatchObject({
      name: 'InvalidParameterValue',
      message: expect.stringMatching(/1048576 bytes/),
    });
    await expect(
      sqs.send(new ReceiveMessageCommand({ QueueUrl: url('plain'), MaxNumberOfMessages: 11 })),
    ).rejects.toMatchObject({ name: 'InvalidParameterValue' });
  });

  it('redrives to the DLQ and moves messages back with a message move task', async () => {
    for (const body of ['p1', 'p2'])
      await sqs.send(new SendMessageCommand({ QueueUrl: url('tier1'), MessageBody: body }));
    await sqs.send(
      new ReceiveMessageCommand({ QueueUrl: url('tier1'), MaxNumberOfMessages: 10, VisibilityTimeout: 0 }),
    );
    const none = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl: url('tier1'), MaxNumberOfMessages: 10 }),
    );
    expect(none.Messages ?? []).toEqual([]);
    const dead = await sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl: url('tier1-dlq'),
        AttributeNames: ['ApproximateNumberOfMessages'],
      }),
    );
    expect(dead.Attributes?.ApproximateNumberOfMessages).toBe('2');

    const { TaskHandle } = await sqs.send(new StartMessageMoveTaskCommand({ SourceArn: `${ARN}tier1-dlq` }));
    expect(TaskHandle).toBeTruthy();
    let status: string | undefined;
    for (let i = 0; i < 100 && status !== 'COMPLETED'; i++) {
      const list = await sqs.send(new ListMessageMoveTasksCommand({ SourceArn: `${ARN}tier1-dlq` }));
      status = list.Results?.[0]?.Status;
      if (status === 'COMPLETED') expect(list.Results?.[0]?.ApproximateNumberOfMessagesMoved).toBe(2);
      else await new Promise((r) => setTimeout(r, 10));
    }
    expect(status).toBe('COMPLETED');
    const back = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: url('tier1'),
        MaxNumberOfMessages: 10,
        MessageSystemAttributeNames: ['All'],
      }),
    );
    expect(back.Messages?.map((m) => m.Body).sort()).toEqual(['p1', 'p2']);
    expect(back.Messages?.every((m) => m.Attributes?.ApproximateReceiveCount === '1')).toBe(true);
  });

  it('long-polls through the protocol', async () => {
    const started = Date.now();
    const pending = sqs.send(new ReceiveMessageCommand({ QueueUrl: url('plain'), WaitTimeSeconds: 5 }));
    setTimeout(() => void store.send('plain', 'wake up'), 50);
    const got = await pending;
    expect(got.Messages?.[0]?.Body).toBe('wake up');
    expect(Date.now() - started).toBeLessThan(2_000);
  });
});
