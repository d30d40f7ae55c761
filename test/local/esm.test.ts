import { afterEach, describe, expect, it } from 'vitest';
import { MAX_INVOCATION_PAYLOAD_BYTES } from '../../local/lambda/event-payload.js';
import { type DeletedMessage, SqsEventSourcePoller } from '../../local/lambda/event-source-mapping.js';
import { LambdaRunner } from '../../local/lambda/runner.js';
import { buildSqsEvent, readBatchItemFailures, type SqsEvent } from '../../local/lambda/sqs-event.js';
import type {
  EventSourceMappingModel,
  InvocationResult,
  LambdaInvoker,
  ReceivedMessage,
} from '../../local/model.js';
import { makeLambdaLayout } from './fixtures/lambda/layout.js';
import { MemoryQueue } from './fixtures/lambda/memory-queue.js';

const QUEUE_ARN = 'arn:aws:sqs:eu-west-1:000000000000:inferbus-dev-Tier1Queue';
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function mapping(overrides: Partial<EventSourceMappingModel> = {}): EventSourceMappingModel {
  return {
    logicalId: 'Tier1Esm',
    queueArn: QUEUE_ARN,
    functionLogicalId: 'Tier1Function',
    batchSize: 10,
    maxBatchingWindowSeconds: 0,
    reportBatchItemFailures: true,
    enabled: true,
    ...overrides,
  };
}

/** An invoker that records each batch and answers with `respond`. */
function fakeInvoker(
  respond: (event: SqsEvent) => Promise<InvocationResult> | InvocationResult = () => ok(null),
) {
  const batches: { at: number; event: SqsEvent }[] = [];
  let concurrent = 0;
  let maxConcurrent = 0;
  const invoker: LambdaInvoker = {
    async invoke(_id, event) {
      concurrent++;
      maxConcurrent = Math.max(maxConcurrent, concurrent);
      batches.push({ at: Date.now(), event: event as SqsEvent });
      try {
        return await respond(event as SqsEvent);
      } finally {
        concurrent--;
      }
    },
  };
  return { invoker, batches, maxConcurrent: () => maxConcurrent };
}

const ok = (payload: unknown): InvocationResult => ({ ok: true, payload, durationMs: 1 });

async function until(condition: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(10);
  }
}

const pollers: SqsEventSourcePoller[] = [];
function poller(model: EventSourceMappingModel, queue: MemoryQueue, invoker: LambdaInvoker, extra = {}) {
  const created = new SqsEventSourcePoller(model, {
    queues: queue,
    invoker,
    receiveWaitSeconds: 0,
    idlePollIntervalMs: 10,
    scaleUpIntervalMs: 10,
    log: () => {},
    ...extra,
  });
  pollers.push(created);
  return created;
}

afterEach(async () => {
  await Promise.all(pollers.splice(0).map((p) => p.stop()));
});

describe('SqsEventSourcePoller', () => {
  it('builds batches of at most BatchSize with Lambda-shaped SQS records', async () => {
    const queue = new MemoryQueue(QUEUE_ARN);
    for (let i = 0; i < 25; i++) {
      await queue.send(QUEUE_ARN, `m${i}`, { tenant: { DataType: 'String', StringValue: 'acme' } });
    }
    const fake = fakeInvoker();
    const esm = poller(mapping({ maxConcurrency: 1, maxBatchingWindowSeconds: 0.2 }), queue, fake.invoker);
    esm.start();
    await until(() => queue.deletedIds.length === 25);
    expect(fake.batches.map((b) => b.event.Records.length)).toEqual([10, 10, 5]);
    const record = fake.batches[0]?.event.Records[0];
    expect(record).toMatchObject({
      body: 'm0',
      eventSource: 'aws:sqs',
      eventSourceARN: QUEUE_ARN,
      awsRegion: 'eu-west-1',
      messageAttributes: {
        tenant: { stringValue: 'acme', stringListValues: [], binaryListValues: [], dataType: 'String' },
      },
    });
    expect(record?.md5OfBody).toMatch(/^[0-9a-f]{32}$/);
    expect(record?.attributes.ApproximateReceiveCount).toBe('1');
    expect(esm.stats()).toMatchObject({ batches: 3, records: 25, deleted: 25, failedRecords: 0 });
  });

  it('stops filling a batch at the 6 MB payload limit and runs the rest next, received once', async () => {
    const queue = new MemoryQueue(QUEUE_ARN);
    for (let i = 0; i < 10; i++) await queue.send(QUEUE_ARN, `${i}`.padEnd(1_000_000, 'x'));
    const fake = fakeInvoker();
    const esm = poller(mapping({ batchSize: 100, maxBatchingWindowSeconds: 0.2 }), queue, fake.invoker);
    esm.start();
    await until(() => queue.deletedIds.length === 10);
    expect(fake.batches.map((b) => b.event.Records.length)).toEqual([6, 4]);
    for (const { event } of fake.batches) {
      expect(Buffer.byteLength(JSON.stringify(event))).toBeLessThanOrEqual(MAX_INVOCATION_PAYLOAD_BYTES);
    }
    const records = fake.batches.flatMap((b) => b.event.Records);
    expect(records.map((r) => r.body[0])).toEqual(['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
    expect(records.every((r) => r.attributes.ApproximateReceiveCount === '1')).toBe(true);
  });

  it('invokes with the event buildSqsEvent makes of the received messages, carried ones too', async () => {
    const queue = new MemoryQueue(QUEUE_ARN);
    const received = new Map<string, ReceivedMessage>();
    const receive = queue.receive.bind(queue);
    queue.receive = async (...args) => {
      const messages = await receive(...args);
      for (const message of messages) received.set(message.messageId, message);
      return messages;
    };
    const attributes = {
      tenant: { DataType: 'String', StringValue: 'acme' },
      raw: { DataType: 'Binary', BinaryValue: 'AQI=' },
    };
    for (let i = 0; i < 7; i++) {
      await queue.send(QUEUE_ARN, `{"n":${i},"text":"\u0001é"}`.padEnd(1_000, ' '), attributes);
    }
    const fake = fakeInvoker();
    // Room for two records (about 1.7 KB each) per event: later batches start with carried messages.
    const esm = poller(mapping({ batchSize: 10, maxConcurrency: 1 }), queue, fake.invoker, {
      maxPayloadBytes: 3_600,
    });
    esm.start();
    await until(() => queue.deletedIds.length === 7);
    expect(fake.batches.map((b) => b.event.Records.length)).toEqual([2, 2, 2, 1]);
    for (const { event } of fake.batches) {
      const messages = event.Records.map((r) => received.get(r.messageId) as ReceivedMessage);
      expect(JSON.stringify(event)).toBe(JSON.stringify(buildSqsEvent(messages, QUEUE_ARN, 'eu-west-1')));
    }
    expect(Object.keys(fake.batches[0]?.event.Records[0] ?? {})).toEqual([
      'messageId',
      'receiptHandle',
      'body',
      'attributes',
      'messageAttributes',
      'md5OfBody',
      'eventSource',
      'eventSourceARN',
      'awsRegion',
    ]);
  });

  it('hands back the messages that did not fit when it stops, without deleting them', async () => {
    const queue = new MemoryQueue(QUEUE_ARN);
    for (let i = 0; i < 5; i++) await queue.send(QUEUE_ARN, `m${i}`.padEnd(1_000, 'x'));
    let release = () => {};
    const fake = fakeInvoker(
      () => new Promise<InvocationResult>((resolve) => (release = () => resolve(ok(null)))),
    );
    // Room for two records (about 1.5 KB each) per event: a receive of five carries three over.
    const esm = poller(mapping({ batchSize: 10, maxConcurrency: 1 }), queue, fake.invoker, {
      maxPayloadBytes: 3_200,
    });
    esm.start();
    await until(() => fake.batches.length === 1);
    const stopped = esm.stop();
    release();
    await stopped;
    expect(fake.batches.map((b) => b.event.Records.length)).toEqual([2]);
    expect(queue.deletedIds).toHaveLength(2);
    expect(queue.counts()).toEqual({ visible: 3, inFlight: 0, delayed: 0 });
  });

  it('when stopping, hands back at once what the last invocations did not process, not after the timeout', async () => {
    const queue = new MemoryQueue(QUEUE_ARN);
    for (let i = 0; i < 4; i++) await queue.send(QUEUE_ARN, `m${i}`);
    let release = (_result: InvocationResult) => {};
    const fake = fakeInvoker(() => new Promise<InvocationResult>((resolve) => (release = resolve)));
    const esm = poller(mapping({ maxConcurrency: 1 }), queue, fake.invoker);
    esm.start();
    await until(() => fake.batches.length === 1);
    expect(esm.stats()).toMatchObject({ inFlight: 1, inFlightRecords: 4 });
    const stopped = esm.stop();
    const [first, second] = fake.batches[0]?.event.Records ?? [];
    release(
      ok({
        batchItemFailures: [{ itemIdentifier: first?.messageId }, { itemIdentifier: second?.messageId }],
      }),
    );
    await stopped;
    expect(queue.deletedIds).toHaveLength(2);
    expect(queue.counts()).toEqual({ visible: 2, inFlight: 0, delayed: 0 });
  });

  it('handBackInFlight makes the messages of the invocations in flight visible at once', async () => {
    const queue = new MemoryQueue(QUEUE_ARN);
    for (let i = 0; i < 3; i++) await queue.send(QUEUE_ARN, `m${i}`);
    let release = (_result: InvocationResult) => {};
    const fake = fakeInvoker(() => new Promise<InvocationResult>((resolve) => (release = resolve)));
    const esm = poller(mapping({ maxConcurrency: 1 }), queue, fake.invoker);
    esm.start();
    await until(() => fake.batches.length === 1);
    expect(queue.counts()).toEqual({ visible: 0, inFlight: 3, delayed: 0 });
    expect(await esm.handBackInFlight()).toBe(3);
    expect(queue.counts()).toEqual({ visible: 3, inFlight: 0, delayed: 0 });
    const stopped = esm.stop();
    release({ ok: false, errorType: 'Crash', errorMessage: 'killed', durationMs: 1 });
    await stopped;
  });

  it('a forced exit during a stop hands each message back once, and the stop does not hand it back again', async () => {
    const queue = new MemoryQueue(QUEUE_ARN);
    for (let i = 0; i < 3; i++) await queue.send(QUEUE_ARN, `m${i}`);
    const changed: string[] = [];
    const change = queue.changeVisibility.bind(queue);
    queue.changeVisibility = async (arn, handle, seconds) => {
      changed.push(handle);
      await change(arn, handle, seconds);
    };
    let release = (_result: InvocationResult) => {};
    const fake = fakeInvoker(() => new Promise<InvocationResult>((resolve) => (release = resolve)));
    const logged: string[] = [];
    const esm = poller(mapping({ maxConcurrency: 1 }), queue, fake.invoker, {
      log: (l: string) => logged.push(l),
    });
    esm.start();
    await until(() => fake.batches.length === 1);
    const stopped = esm.stop();
    expect(await esm.handBackInFlight()).toBe(3);
    release({ ok: false, errorType: 'Crash', errorMessage: 'killed', durationMs: 1 });
    await stopped;
    expect(changed).toHaveLength(3);
    expect(new Set(changed).size).toBe(3);
    expect(logged.filter((l) => l.includes('could not hand back'))).toEqual([]);
    expect(queue.counts()).toEqual({ visible: 3, inFlight: 0, delayed: 0 });
  });

  it('handBackInFlight waits for a receive under way and hands back what it took', async () => {
    const queue = new MemoryQueue(QUEUE_ARN);
    await queue.send(QUEUE_ARN, 'm0');
    const receive = queue.receive.bind(queue);
    let taken = () => {};
    const took = new Promise<void>((resolve) => (taken = resolve));
    // The message is taken in flight first; the answer reaches the poller only later.
    queue.receive = async (arn, options) => {
      const got = await receive(arn, options);
      if (got.length > 0) {
        taken();
        await sleep(100);
      }
      return got;
    };
    const esm = poller(mapping({ maxConcurrency: 1 }), queue, fakeInvoker().invoker);
    esm.start();
    await took;
    expect(queue.counts()).toMatchObject({ inFlight: 1 });
    expect(await esm.handBackInFlight()).toBe(1);
    expect(queue.counts()).toMatchObject({ visible: 1, inFlight: 0 });
    esm.stop();
  });

  it('handBackInFlight also hands back messages received into a batch still filling its window', async () => {
    const queue = new MemoryQueue(QUEUE_ARN);
    for (let i = 0; i < 2; i++) await queue.send(QUEUE_ARN, `m${i}`);
    const fake = fakeInvoker();
    const esm = poller(mapping({ batchSize: 10, maxBatchingWindowSeconds: 30 }), queue, fake.invoker);
    esm.start();
    await until(() => queue.counts().inFlight === 2);
    await sleep(50); // the receive has returned into the batch
    expect(fake.batches).toHaveLength(0);
    queue.endReceives(); // as the runtime does first: the poller's next long poll is under way
    expect(await esm.handBackInFlight()).toBe(2);
    expect(queue.counts()).toMatchObject({ visible: 2 });
    await esm.stop();
  });

  it('waits up to the batching window to fill a batch, and not at all with window 0', async () => {
    for (const [windowSeconds, min, max] of [
      [0.4, 350, 1_500],
      [0, 0, 200],
    ] as const) {
      const queue = new MemoryQueue(QUEUE_ARN);
      for (let i = 0; i < 3; i++) await queue.send(QUEUE_ARN, `m${i}`);
      const fake = fakeInvoker();
      const started = Date.now();
      poller(
        mapping({ batchSize: 10, maxBatchingWindowSeconds: windowSeconds }),
        queue,
        fake.invoker,
      ).start();
      await until(() => fake.batches.length === 1);
      const waited = (fake.batches[0]?.at ?? 0) - started;
      expect(fake.batches[0]?.event.Records).toHaveLength(3);
      expect(waited).toBeGreaterThanOrEqual(min);
      expect(waited).toBeLessThan(max);
    }
  });

  it('never runs more than MaximumConcurrency invocations at once, and scales up to it', async () => {
    const queue = new MemoryQueue(QUEUE_ARN);
    for (let i = 0; i < 40; i++) await queue.send(QUEUE_ARN, `m${i}`);
    const fake = fakeInvoker(async () => {
      await sleep(30);
      return ok(null);
    });
    const esm = poller(mapping({ batchSize: 1, maxConcurrency: 3 }), queue, fake.invoker);
    esm.start();
    await until(() => queue.deletedIds.length === 40);
    expect(fake.maxConcurrent()).toBe(3);
    expect(esm.stats().maxInFlight).toBe(3);
    await until(() => esm.stats().pollers === 1);
  });

  it('deletes only the records not listed in batchItemFailures', async () => {
    const queue = new MemoryQueue(QUEUE_ARN);
    const ids = [];
    for (const body of ['good-1', 'bad-1', 'good-2', 'bad-2'])
      ids.push((await queue.send(QUEUE_ARN, body)).messageId);
    const fake = fakeInvoker((event) =>
      ok({
        batchItemFailures: event.Records.filter((r) => r.body.startsWith('bad')).map((r) => ({
          itemIdentifier: r.messageId,
        })),
      }),
    );
    const esm = poller(mapping(), queue, fake.invoker);
    esm.start();
    await until(() => esm.stats().batches === 1 && esm.stats().inFlight === 0);
    await until(() => queue.deletedIds.length === 2);
    expect(queue.deletedIds.sort()).toEqual([ids[0], ids[2]].sort());
    expect(queue.counts()).toEqual({ visible: 0, inFlight: 2, delayed: 0 });
    expect(esm.stats()).toMatchObject({ failedRecords: 2, failedBatches: 0 });
  });

  it('deletes nothing when the invocation fails, whatever the error type', async () => {
    for (const errorType of ['Handled', 'Timeout', 'Crash', 'InitError'] as const) {
      const queue = new MemoryQueue(QUEUE_ARN);
      for (let i = 0; i < 3; i++) await queue.send(QUEUE_ARN, `m${i}`);
      const fake = fakeInvoker(() => ({ ok: false, errorType, errorMessage: 'boom', durationMs: 1 }));
      const esm = poller(mapping({ reportBatchItemFailures: errorType === 'Handled' }), queue, fake.invoker);
      esm.start();
      await until(() => esm.stats().batches === 1 && esm.stats().inFlight === 0);
      await esm.stop();
      expect(queue.deletedIds).toEqual([]);
      expect(esm.stats().invocationErrors[errorType]).toBe(1);
      expect(esm.stats()).toMatchObject({ failedBatches: 1, failedRecords: 3 });
    }
  });

  it('fails the whole batch for an itemIdentifier that is unknown, empty or null', async () => {
    for (const bad of [
      { itemIdentifier: 'not-in-batch' },
      { itemIdentifier: '' },
      { itemIdentifier: null },
    ]) {
      const queue = new MemoryQueue(QUEUE_ARN);
      for (let i = 0; i < 3; i++) await queue.send(QUEUE_ARN, `m${i}`);
      const lines: string[] = [];
      const fake = fakeInvoker((event) =>
        ok({ batchItemFailures: [{ itemIdentifier: event.Records[0]?.messageId }, bad] }),
      );
      const esm = poller(mapping(), queue, fake.invoker, { log: (line: string) => lines.push(line) });
      esm.start();
      await until(() => esm.stats().batches === 1 && esm.stats().inFlight === 0);
      await esm.stop();
      expect(queue.deletedIds).toEqual([]);
      expect(lines.join('\n')).toMatch(/whole batch of 3 failed/);
    }
  });

  it('without ReportBatchItemFailures, ignores the response and deletes the whole batch', async () => {
    const queue = new MemoryQueue(QUEUE_ARN);
    for (let i = 0; i < 3; i++) await queue.send(QUEUE_ARN, `m${i}`);
    const fake = fakeInvoker(() => ok({ batchItemFailures: [{ itemIdentifier: 'whatever' }] }));
    poller(mapping({ reportBatchItemFailures: false }), queue, fake.invoker).start();
    await until(() => queue.deletedIds.length === 3);
  });

  it('stop() waits for in-flight invocations and reports send-to-delete latency', async () => {
    const queue = new MemoryQueue(QUEUE_ARN);
    await queue.send(QUEUE_ARN, 'slow');
    const deleted: DeletedMessage[] = [];
    const fake = fakeInvoker(async () => {
      await sleep(150);
      return ok(null);
    });
    const esm = poller(mapping(), queue, fake.invoker, { onDeleted: (d: DeletedMessage) => deleted.push(d) });
    esm.start();
    await until(() => esm.stats().inFlight === 1);
    await esm.stop();
    expect(queue.deletedIds).toHaveLength(1);
    expect(deleted[0]?.latencyMs).toBeGreaterThanOrEqual(140);
    expect(esm.stats()).toMatchObject({ inFlight: 0, pollers: 0 });
  });

  it('does nothing for a disabled mapping and rejects an impossible batch size', async () => {
    const queue = new MemoryQueue(QUEUE_ARN);
    await queue.send(QUEUE_ARN, 'm');
    const fake = fakeInvoker();
    poller(mapping({ enabled: false }), queue, fake.invoker).start();
    await sleep(50);
    expect(fake.batches).toHaveLength(0);
    expect(() => poller(mapping({ batchSize: 0 }), queue, fake.invoker)).toThrow(
      /BatchSize 0 is outside 1-10000/,
    );
  });

  it('drives a real worker: partial batch failures from a CommonJS handler', async () => {
    const layout = makeLambdaLayout();
    const fn = layout.fn('index.sqs', { logicalId: 'Tier1Function' });
    const runner = new LambdaRunner([fn], { logSink: () => {} });
    try {
      const queue = new MemoryQueue(QUEUE_ARN);
      for (const body of ['ok-1', 'bad-1', 'ok-2']) await queue.send(QUEUE_ARN, body);
      const esm = poller(mapping(), queue, runner);
      esm.start();
      await until(() => queue.deletedIds.length === 2);
      await esm.stop();
      expect(queue.messages.map((m) => m.body)).toEqual(['bad-1']);
    } finally {
      await runner.close();
      layout.cleanup();
    }
  });
});

describe('readBatchItemFailures', () => {
  const ids = ['a', 'b'];
  it.each([
    [null, 'partial'],
    [undefined, 'partial'],
    [{}, 'partial'],
    [{ batchItemFailures: null }, 'partial'],
    [{ batchItemFailures: [] }, 'partial'],
    [{ batchItemFailures: [{ itemIdentifier: 'b' }] }, 'partial'],
    [{ batchItemFailures: [{ itemIdentifier: 'c' }] }, 'all-failed'],
    [{ batchItemFailures: [{ itemIdentifier: '' }] }, 'all-failed'],
    [{ batchItemFailures: [{ itemIdentifier: null }] }, 'all-failed'],
    [{ batchItemFailures: [{ itemId: 'a' }] }, 'all-failed'],
    [{ batchItemFailures: 'a' }, 'all-failed'],
    ['done', 'all-failed'],
  ])('%j -> %s', (payload, kind) => {
    expect(readBatchItemFailures(payload, ids).kind).toBe(kind);
  });
});
