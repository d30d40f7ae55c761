import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  DescribeEventBusCommand,
  EventBridgeClient,
  ListEventBusesCommand,
  ListRulesCommand,
  PutEventsCommand,
  TestEventPatternCommand,
} from '@aws-sdk/client-eventbridge';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { handleEventBridgeRequest } from '../../local/eventbridge/api';
import { LocalEventBus } from '../../local/eventbridge/bus';
import { MAX_REQUEST_ENTRY_BYTES } from '../../local/eventbridge/event';
import { arn, BUS, FakeFirehose, FakeQueues, testModel } from './bus-fakes';

let server: Server;
let client: EventBridgeClient;
let bus: LocalEventBus;
let queues: FakeQueues;

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      const target = req.headers['x-amz-target'];
      const answer = await handleEventBridgeRequest(
        bus,
        typeof target === 'string' ? target : undefined,
        Buffer.concat(chunks).toString('utf8'),
      );
      res.writeHead(answer.status, answer.headers).end(answer.body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  client = new EventBridgeClient({
    endpoint: `http://127.0.0.1:${port}`,
    region: 'eu-west-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    maxAttempts: 1,
  });
});

afterAll(async () => {
  client.destroy();
  await new Promise((resolve) => server.close(resolve));
});

beforeEach(() => {
  queues = new FakeQueues();
  bus = new LocalEventBus({
    model: testModel(),
    queues,
    firehose: new FakeFirehose(),
    sleep: async () => {},
    backoff: () => 1,
  });
});

const good = (id: string) => ({
  EventBusName: BUS,
  Source: 'inferbus.acme',
  DetailType: 'InferenceRequested',
  Detail: JSON.stringify({ id, tenant: 'acme' }),
});

describe('EventBridge API with the AWS SDK v3', () => {
  it('answers PutEvents per entry like AWS and delivers the good ones, transformed', async () => {
    const out = await client.send(
      new PutEventsCommand({
        Entries: [
          good('e1'),
          { ...good('x'), Detail: '{not json' },
          { ...good('x'), Source: undefined },
          { ...good('e2'), Time: new Date('2026-11-28T12:00:00Z') },
        ],
      }),
    );
    expect(out.FailedEntryCount).toBe(2);
    expect(out.Entries?.[0]?.EventId).toMatch(/^[0-9a-f-]{36}$/);
    expect(out.Entries?.[1]).toEqual({ ErrorCode: 'MalformedDetail', ErrorMessage: 'Detail is malformed.' });
    expect(out.Entries?.[2]).toEqual({
      ErrorCode: 'InvalidArgument',
      ErrorMessage: 'Parameter Source is not valid. Reason: Source is a required argument.',
    });
    expect(out.Entries?.[3]?.EventId).toBeDefined();
    await bus.drain();
    const bodies = queues.to(arn.work).map((s) => JSON.parse(s.body));
    expect(bodies.map((b) => b.id)).toEqual(['e1', 'e2']);
    expect(bodies[0]).toMatchObject({ tenant: 'acme', rule: 'tier1-acme' });
  });

  it('keeps the entry Time the SDK sends (epoch seconds on the wire)', async () => {
    const Time = new Date('2026-11-28T12:00:00.750Z');
    await client.send(
      new PutEventsCommand({
        Entries: [{ EventBusName: BUS, Source: 'raw', DetailType: 'T', Detail: '{}', Time }],
      }),
    );
    await bus.drain();
    const whole = queues
      .to(arn.raw)
      .map((s) => JSON.parse(s.body))
      .find((b) => b.version === '0');
    expect(whole).toMatchObject({
      time: '2026-11-28T12:00:00Z',
      account: '000000000000',
      region: 'eu-west-1',
      resources: [],
    });
  });

  it('fails only the entry for an unknown bus and delivers the others', async () => {
    const out = await client.send(
      new PutEventsCommand({
        Entries: [
          good('before'),
          { ...good('lost'), EventBusName: 'missing' },
          { ...good('lost-arn'), EventBusName: 'arn:aws:events:eu-west-1:000000000000:event-bus/gone' },
          good('after'),
        ],
      }),
    );
    expect(out.FailedEntryCount).toBe(2);
    expect(out.Entries?.[1]).toEqual({
      ErrorCode: 'ResourceNotFoundException',
      ErrorMessage: 'Event bus missing does not exist.',
    });
    expect(out.Entries?.[2]?.ErrorMessage).toBe('Event bus gone does not exist.');
    expect(out.Entries?.[3]?.EventId).toMatch(/^[0-9a-f-]{36}$/);
    await bus.drain();
    const ids = queues.to(arn.work).map((s) => JSON.parse(s.body).id);
    expect(ids).toEqual(expect.arrayContaining(['before', 'after']));
    expect(ids).not.toContain('lost');
  });

  it('refuses an oversized request as a whole', async () => {
    const big = { ...good('big'), Detail: JSON.stringify({ pad: 'x'.repeat(MAX_REQUEST_ENTRY_BYTES) }) };
    await expect(client.send(new PutEventsCommand({ Entries: [good('ok'), big] }))).rejects.toMatchObject({
      name: 'ValidationException',
      message: 'Total size of the entries in the request is over the limit.',
      $metadata: { httpStatusCode: 400 },
    });
    expect(bus.metrics().eventsAccepted).toBe(0);
  });

  it('retries a failing target, then dead-letters with the EventBridge attributes', async () => {
    queues.failNext(arn.work, 4);
    const out = await client.send(new PutEventsCommand({ Entries: [good('e1')] }));
    expect(out.FailedEntryCount).toBe(0);
    await bus.drain();
    expect(queues.to(arn.work)).toHaveLength(0);
    const [dead] = queues.to(arn.ruleDlq);
    expect(JSON.parse(dead?.body as string)).toMatchObject({
      id: out.Entries?.[0]?.EventId,
      source: 'inferbus.acme',
    });
    expect(dead?.attributes).toMatchObject({
      RULE_ARN: {
        DataType: 'String',
        StringValue: expect.stringContaining(':rule/inferbus-test/tier1-acme'),
      },
      TARGET_ARN: { StringValue: arn.work },
      ERROR_CODE: { StringValue: expect.any(String) },
      ERROR_MESSAGE: { StringValue: 'queue unavailable' },
      RETRY_ATTEMPTS: { StringValue: '3' },
      EXHAUSTED_RETRY_CONDITION: { StringValue: 'MaximumRetryAttempts' },
    });
    expect(bus.metrics()).toMatchObject({ deliveriesFailed: 4, deadLettered: 1 });
  });

  it('answers TestEventPattern true, false and invalid', async () => {
    const event = JSON.stringify({
      id: '1',
      account: '000000000000',
      source: 'inferbus.acme',
      time: '2026-11-28T12:00:00Z',
      region: 'eu-west-1',
      'detail-type': 'InferenceRequested',
      detail: { tenant: 'acme' },
    });
    const test = (EventPattern: string) =>
      client.send(new TestEventPatternCommand({ EventPattern, Event: event }));
    expect((await test('{"detail":{"tenant":["acme"]}}')).Result).toBe(true);
    expect((await test('{"detail":{"tenant":["globex"]}}')).Result).toBe(false);
    await expect(test('{"detail":{"tenant":"acme"}}')).rejects.toMatchObject({
      name: 'InvalidEventPatternException',
      message: expect.stringMatching(/^Event pattern is not valid\. Reason: /),
    });
    // AWS requires the envelope fields of the event it tests (all but resources).
    const { id: _id, region: _region, ...partial } = JSON.parse(event);
    await expect(
      client.send(
        new TestEventPatternCommand({
          EventPattern: '{"source":["inferbus.acme"]}',
          Event: JSON.stringify(partial),
        }),
      ),
    ).rejects.toMatchObject({
      name: 'ValidationException',
      message: expect.stringMatching(/^Parameter Event is not valid\. .*missing: id, region\)$/),
    });
    await expect(
      client.send(new TestEventPatternCommand({ EventPattern: '{"source":["a"]}', Event: '{"source":"a"}' })),
    ).rejects.toMatchObject({ name: 'ValidationException' });
  });

  it('lists rules and buses, and describes a bus', async () => {
    const rules = await client.send(new ListRulesCommand({ EventBusName: BUS }));
    expect(rules.Rules?.map((r) => r.Name)).toEqual(['tier1-acme', 'raw', 'archive', 'disabled']);
    expect(rules.Rules?.[3]).toMatchObject({ State: 'DISABLED', EventBusName: BUS });
    expect(JSON.parse(rules.Rules?.[1]?.EventPattern as string)).toEqual({ source: ['raw'] });
    const prefixed = await client.send(new ListRulesCommand({ EventBusName: BUS, NamePrefix: 'tier' }));
    expect(prefixed.Rules?.map((r) => r.Name)).toEqual(['tier1-acme']);
    const paged = await client.send(new ListRulesCommand({ EventBusName: BUS, Limit: 3 }));
    expect(paged.Rules).toHaveLength(3);
    expect(paged.NextToken).toBeDefined();

    const buses = await client.send(new ListEventBusesCommand({}));
    expect(buses.EventBuses?.map((b) => b.Name)).toEqual(['default', BUS]);
    const described = await client.send(new DescribeEventBusCommand({ Name: BUS }));
    expect(described.Arn).toBe(`arn:aws:events:eu-west-1:000000000000:event-bus/${BUS}`);
    await expect(client.send(new DescribeEventBusCommand({ Name: 'nope' }))).rejects.toMatchObject({
      name: 'ResourceNotFoundException',
    });
  });
});
