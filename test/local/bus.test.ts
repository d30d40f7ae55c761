import { describe, expect, it } from 'vitest';
import { LocalEventBus } from '../../local/eventbridge/bus';
import {
  checkEntry,
  entrySize,
  formatEventTime,
  MAX_REQUEST_ENTRY_BYTES,
  toEvent,
} from '../../local/eventbridge/event';
import { arn, BUS, FakeFirehose, FakeQueues, testModel } from './bus-fakes';

const NOW = new Date('2026-11-28T12:00:00.123Z');

function makeBus(
  options: { now?: () => Date; sleep?: (ms: number) => Promise<void>; backoff?: (n: number) => number } = {},
) {
  const queues = new FakeQueues();
  const firehose = new FakeFirehose();
  const logs: string[] = [];
  const sleeps: number[] = [];
  const bus = new LocalEventBus({
    model: testModel(),
    queues,
    firehose,
    log: (l) => logs.push(l),
    now: options.now ?? (() => NOW),
    sleep:
      options.sleep ??
      (async (ms) => {
        sleeps.push(ms);
      }),
    backoff: options.backoff ?? ((n) => n * 10),
  });
  return { bus, queues, firehose, logs, sleeps };
}

const request = (detail: unknown, source = 'inferbus.acme') => ({
  Source: source,
  DetailType: 'InferenceRequested',
  Detail: JSON.stringify(detail),
  EventBusName: BUS,
});

describe('PutEvents entries', () => {
  it('builds the event EventBridge delivers, time without milliseconds', () => {
    const event = toEvent(
      request({ a: 1 }),
      { a: 1 },
      { account: '000000000000', region: 'eu-west-1', now: NOW, id: 'x' },
    );
    expect(event).toEqual({
      version: '0',
      id: 'x',
      'detail-type': 'InferenceRequested',
      source: 'inferbus.acme',
      account: '000000000000',
      time: '2026-11-28T12:00:00Z',
      region: 'eu-west-1',
      resources: [],
      detail: { a: 1 },
    });
    expect(formatEventTime(new Date(0))).toBe('1970-01-01T00:00:00Z');
    // The SDK sends Time as epoch seconds.
    const timed = toEvent(
      { ...request({}), Time: 1_700_000_000 },
      {},
      { account: 'a', region: 'r', now: NOW },
    );
    expect(timed.time).toBe('2023-11-14T22:13:20Z');
  });

  it('sizes entries as the user guide documents', () => {
    expect(entrySize({ Source: 'é', DetailType: 'ab', Detail: '{}', Resources: ['xyz'] })).toBe(
      2 + 2 + 2 + 3,
    );
    expect(entrySize({ Source: 'a', DetailType: 'b', Time: 0 })).toBe(14 + 2);
  });

  it('answers invalid entries with the AWS codes and messages', () => {
    expect(checkEntry({ DetailType: 'd', Detail: '{}' })).toEqual({
      ok: false,
      result: {
        ErrorCode: 'InvalidArgument',
        ErrorMessage: 'Parameter Source is not valid. Reason: Source is a required argument.',
      },
    });
    expect(checkEntry({ Source: 's', Detail: '{}' })).toMatchObject({
      result: {
        ErrorMessage: 'Parameter DetailType is not valid. Reason: DetailType is a required argument.',
      },
    });
    expect(checkEntry({ Source: 's', DetailType: 'd' })).toMatchObject({
      result: { ErrorMessage: 'Parameter Detail is not valid. Reason: Detail is a required argument.' },
    });
    for (const Detail of ['{oops', '[1]', '"text"', '42']) {
      expect(checkEntry({ Source: 's', DetailType: 'd', Detail })).toEqual({
        ok: false,
        result: { ErrorCode: 'MalformedDetail', ErrorMessage: 'Detail is malformed.' },
      });
    }
  });
});

describe('LocalEventBus', () => {
  it('accepts events, routes them to matching rules and transforms the input', async () => {
    const { bus, queues, firehose } = makeBus();
    const result = bus.putEvents(undefined, [
      request({ id: 'e1', tenant: 'acme' }),
      request({ id: 'e2', tenant: 'other' }),
    ]);
    expect(result.FailedEntryCount).toBe(0);
    expect(result.Entries.map((e) => e.EventId)).toEqual([expect.any(String), expect.any(String)]);
    await bus.drain();
    const work = queues.to(arn.work);
    expect(work).toHaveLength(1);
    expect(JSON.parse(work[0]?.body as string)).toEqual({
      id: 'e1',
      tenant: 'acme',
      rule: 'tier1-acme',
      ruleArn: `arn:aws:events:eu-west-1:000000000000:rule/${BUS}/tier1-acme`,
      at: NOW.toISOString(),
    });
    expect(firehose.records.map((r) => JSON.parse(r.data))).toEqual([
      { source: 'inferbus.acme' },
      { source: 'inferbus.acme' },
    ]);
    expect(bus.metrics()).toMatchObject({
      eventsAccepted: 2,
      matchedByRule: { 'tier1-acme': 1, archive: 2 },
      deliveriesOk: 3,
      deadLettered: 0,
      inFlight: 0,
    });
  });

  it('answers PutEvents only once the SQS target holds the message, so an acknowledged event survives a kill', async () => {
    const { bus, queues } = makeBus();
    let open = () => {};
    queues.gates.set(arn.work, new Promise<void>((resolve) => (open = resolve)));
    let answered = false;
    const answer = bus.putEventsDurably(undefined, [request({ id: 'e1', tenant: 'acme' })]).then((result) => {
      answered = true;
      return result;
    });
    await new Promise((r) => setTimeout(r, 20));
    expect(answered).toBe(false);
    expect(queues.to(arn.work)).toHaveLength(0);

    open();
    expect((await answer).FailedEntryCount).toBe(0);
    expect(queues.to(arn.work)).toHaveLength(1);
  });

  it('sends the whole event, an InputPath or a constant Input, and skips disabled rules', async () => {
    const { bus, queues } = makeBus();
    const [entry] = bus.putEvents(BUS, [
      { Source: 'raw', DetailType: 'T', Detail: '{"payload":{"x":1}}' },
    ]).Entries;
    await bus.drain();
    const bodies = queues.to(arn.raw).map((s) => JSON.parse(s.body));
    expect(bodies).toHaveLength(3);
    expect(bodies).toContainEqual(
      expect.objectContaining({ id: entry?.EventId, source: 'raw', detail: { payload: { x: 1 } } }),
    );
    expect(bodies).toContainEqual({ x: 1 });
    expect(bodies).toContainEqual({ fixed: true });
    expect(queues.to(arn.work)).toHaveLength(0);
  });

  it('retries a failing target with backoff and delivers once it recovers', async () => {
    const { bus, queues, sleeps } = makeBus();
    queues.failNext(arn.work, 2);
    bus.putEvents(BUS, [request({ id: 'e1', tenant: 'acme' })]);
    await bus.drain();
    expect(queues.to(arn.work)).toHaveLength(1);
    expect(sleeps).toEqual([10, 20]);
    expect(bus.metrics()).toMatchObject({ deliveriesFailed: 2, deadLettered: 0 });
  });

  it('sends the event to the target DLQ with the EventBridge attributes once retries run out', async () => {
    const { bus, queues } = makeBus();
    queues.failNext(arn.work, 10, () =>
      Object.assign(new Error('Slow down'), { name: 'ThrottlingException' }),
    );
    const [entry] = bus.putEvents(BUS, [request({ id: 'e1', tenant: 'acme' })]).Entries;
    await bus.drain();
    const [dead] = queues.to(arn.ruleDlq);
    expect(JSON.parse(dead?.body as string)).toMatchObject({ id: entry?.EventId, detail: { id: 'e1' } });
    const values = Object.fromEntries(
      Object.entries(dead?.attributes ?? {}).map(([k, v]) => [k, v.StringValue]),
    );
    expect(values).toEqual({
      RULE_ARN: `arn:aws:events:eu-west-1:000000000000:rule/${BUS}/tier1-acme`,
      TARGET_ARN: arn.work,
      ERROR_CODE: 'THROTTLING',
      ERROR_MESSAGE: 'Slow down',
      RETRY_ATTEMPTS: '3',
      EXHAUSTED_RETRY_CONDITION: 'MaximumRetryAttempts',
    });
    expect(Object.values(dead?.attributes ?? {}).every((a) => a.DataType === 'String')).toBe(true);
    expect(bus.metrics()).toMatchObject({ deliveriesFailed: 4, deadLettered: 1 });
  });

  it('dead-letters an event whose transformed input a missing path leaves invalid JSON, never a silent null', async () => {
    const { bus, queues, sleeps } = makeBus();
    // tier1-acme's template places <id> ($.detail.id) outside quotes; this request has no id.
    const [entry] = bus.putEvents(BUS, [request({ tenant: 'acme' })]).Entries;
    await bus.drain();
    expect(queues.to(arn.work)).toEqual([]);
    const [dead] = queues.to(arn.ruleDlq);
    expect(JSON.parse(dead?.body as string)).toMatchObject({
      id: entry?.EventId,
      detail: { tenant: 'acme' },
    });
    expect(dead?.attributes?.ERROR_CODE?.StringValue).toBe('INVALID_PARAMETER');
    expect(dead?.attributes?.ERROR_MESSAGE?.StringValue).toMatch(
      /<id> \(\$\.detail\.id\) had no value in this event/,
    );
    expect(dead?.attributes?.RETRY_ATTEMPTS?.StringValue).toBe('0');
    expect(sleeps).toEqual([]);
    expect(bus.metrics()).toMatchObject({ deadLettered: 1, deliveriesFailed: 0 });
  });

  it('dead-letters at once when the target does not exist', async () => {
    const { bus, queues, sleeps } = makeBus();
    queues.failNext(arn.work, 1, () =>
      Object.assign(new Error('The specified queue does not exist.'), { name: 'QueueDoesNotExist' }),
    );
    bus.putEvents(BUS, [request({ id: 'e1', tenant: 'acme' })]);
    await bus.drain();
    const attributes = queues.to(arn.ruleDlq)[0]?.attributes;
    expect(attributes?.ERROR_CODE?.StringValue).toBe('NO_RESOURCE');
    expect(attributes?.RETRY_ATTEMPTS?.StringValue).toBe('0');
    expect(attributes?.EXHAUSTED_RETRY_CONDITION).toBeUndefined();
    expect(sleeps).toEqual([]);
  });

  it('stops retrying when the event gets older than MaximumEventAgeInSeconds', async () => {
    let clock = NOW.getTime();
    const { bus, queues } = makeBus({
      now: () => new Date(clock),
      sleep: async (ms) => {
        clock += ms;
      },
      backoff: () => 2_000_000,
    });
    queues.failNext(arn.work, 10);
    bus.putEvents(BUS, [request({ id: 'e1', tenant: 'acme' })]);
    await bus.drain();
    const attributes = queues.to(arn.ruleDlq)[0]?.attributes;
    // 3600 s allowed, 2000 s per backoff: the first retry fits, the second would not.
    expect(attributes?.EXHAUSTED_RETRY_CONDITION?.StringValue).toBe('MaximumEventAgeInSeconds');
    expect(attributes?.RETRY_ATTEMPTS?.StringValue).toBe('1');
  });

  it('counts and logs an event dropped for want of a DLQ', async () => {
    const { bus, queues, logs } = makeBus();
    queues.failWhen = (_queue, body) =>
      body.includes('"version"') ? new Error('queue unavailable') : undefined;
    bus.putEvents(BUS, [{ Source: 'raw', DetailType: 'T', Detail: '{"payload":1}' }]);
    await bus.drain();
    expect(bus.metrics().dropped).toBe(1);
    expect(logs.some((l) => l.includes('rule raw target Whole') && l.includes('no dead-letter queue'))).toBe(
      true,
    );
  });

  it('returns from PutEvents before delivery finishes; drain waits for it', async () => {
    const { bus, queues } = makeBus();
    let open: () => void = () => {};
    queues.gates.set(
      arn.work,
      new Promise<void>((resolve) => {
        open = resolve;
      }),
    );
    const result = bus.putEvents(BUS, [request({ id: 'e1', tenant: 'acme' })]);
    expect(result.FailedEntryCount).toBe(0);
    expect(bus.metrics().inFlight).toBeGreaterThan(0);
    let drained = false;
    const draining = bus.drain().then(() => {
      drained = true;
    });
    await new Promise((r) => setTimeout(r, 10));
    expect(drained).toBe(false);
    open();
    await draining;
    expect(queues.to(arn.work)).toHaveLength(1);
  });

  it('close() cuts a long backoff short and dead-letters the event', async () => {
    const queues = new FakeQueues();
    const bus = new LocalEventBus({
      model: testModel(),
      queues,
      firehose: new FakeFirehose(),
      backoff: () => 60_000,
    });
    queues.failNext(arn.work, 5);
    bus.putEvents(BUS, [request({ id: 'e1', tenant: 'acme' })]);
    await new Promise((r) => setTimeout(r, 10));
    const started = Date.now();
    await bus.close();
    expect(Date.now() - started).toBeLessThan(1000);
    expect(queues.to(arn.ruleDlq)).toHaveLength(1);
  });

  it('once closed, refuses PutEvents with 503 ServiceUnavailable instead of accepting what it cannot deliver', async () => {
    const { bus } = makeBus();
    await bus.close();
    const refusal = { code: 'ServiceUnavailable', status: 503 };
    expect(() => bus.putEvents(BUS, [request({ id: 'late', tenant: 'acme' })])).toThrow(
      expect.objectContaining(refusal),
    );
    await expect(bus.putEventsDurably(BUS, [request({ id: 'late' })])).rejects.toMatchObject(refusal);
    expect(bus.metrics()).toMatchObject({ eventsAccepted: 0, dropped: 0 });
  });

  it('fails the entry for an unknown bus, and the whole request for too many entries or too many bytes', () => {
    const { bus } = makeBus();
    expect(bus.putEvents('nope', [{ Source: 's', DetailType: 'd', Detail: '{}' }])).toEqual({
      FailedEntryCount: 1,
      Entries: [{ ErrorCode: 'ResourceNotFoundException', ErrorMessage: 'Event bus nope does not exist.' }],
    });
    expect(() =>
      bus.putEvents(
        BUS,
        Array.from({ length: 11 }, () => request({})),
      ),
    ).toThrow(/less than or equal to 10/);
    const big = 'x'.repeat(MAX_REQUEST_ENTRY_BYTES);
    expect(() => bus.putEvents(BUS, [request({ big })])).toThrow(
      'Total size of the entries in the request is over the limit.',
    );
    expect(bus.metrics().eventsAccepted).toBe(0);
  });

  it('tests patterns and lists rules', () => {
    const { bus } = makeBus();
    expect(bus.testEventPattern({ source: ['a'] }, { source: 'a' })).toBe(true);
    expect(bus.testEventPattern({ source: ['a'] }, { source: 'b' })).toBe(false);
    expect(() => bus.testEventPattern({ source: 'a' }, { source: 'a' })).toThrow(
      /Event pattern is not valid/,
    );
    expect(bus.listRules(BUS).map((r) => r.name)).toEqual(['tier1-acme', 'raw', 'archive', 'disabled']);
    expect(bus.listRules(BUS, 'ar').map((r) => r.name)).toEqual(['archive']);
    expect(bus.listRules(undefined)).toEqual([]);
  });
});
