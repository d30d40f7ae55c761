import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { appendFileSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import type { QueueModel } from '../../local/model.js';
import { QueueDoesNotExistError, type SqsError, SqsStateError } from '../../local/sqs/errors.js';
import { md5Hex, md5OfMessageAttributes } from '../../local/sqs/md5.js';
import { encodeRecord } from '../../local/sqs/records.js';
import { QueueStore, type QueueStoreOptions } from '../../local/sqs/store.js';

const ARN = 'arn:aws:sqs:us-east-1:000000000000:';
const URL_BASE = 'http://127.0.0.1:4566/000000000000/';

function queue(name: string, extra: Partial<QueueModel> = {}): QueueModel {
  return {
    logicalId: name,
    name,
    arn: ARN + name,
    url: URL_BASE + name,
    visibilityTimeoutSeconds: 30,
    messageRetentionSeconds: 345_600,
    ...extra,
  };
}

const QUEUES = [
  queue('work', { redrive: { deadLetterTargetArn: `${ARN}work-dlq`, maxReceiveCount: 2 } }),
  queue('work-dlq', { messageRetentionSeconds: 1_209_600 }),
  queue('short', { messageRetentionSeconds: 60 }),
  queue('other'),
];

const dirs: string[] = [];
const stores: QueueStore[] = [];

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'inferbus-sqs-test-'));
  dirs.push(dir);
  return dir;
}

/** A store on `dir` with a manual clock. */
function open(dir: string, clock = { t: 1_700_000_000_000 }, options: Partial<QueueStoreOptions> = {}) {
  const warnings: string[] = [];
  const store = new QueueStore(QUEUES, {
    stateDir: dir,
    now: () => clock.t,
    warn: (m) => warnings.push(m),
    ...options,
  });
  stores.push(store);
  return { store, clock, warnings };
}

afterEach(() => {
  for (const s of stores.splice(0)) s.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('MD5 digests', () => {
  it('matches the body digest the SDK checks and the published MD5OfMessageAttributes vectors', () => {
    expect(md5Hex('hello')).toBe('5d41402abc4b2a76b9719d911017c592');
    const s = { attribName1: { DataType: 'String', StringValue: 'attribValue 1' } };
    const n = {
      customNumberTypeAttrib: {
        DataType: 'Number.float',
        StringValue: '4563442423554324324264524243.32543234',
      },
    };
    const b = {
      binaryAttribute: {
        DataType: 'Binary',
        BinaryValue: Buffer.from('Hello binary world!').toString('base64'),
      },
    };
    expect(md5OfMessageAttributes(s)).toBe('19e27d4e946b072f3f58da80d94fd778');
    expect(md5OfMessageAttributes(n)).toBe('9fe1b90bbd9965bdf77bac517c7d2495');
    expect(md5OfMessageAttributes(b)).toBe('31a92b15d92f8db860eda32aceb656c3');
    expect(md5OfMessageAttributes({ ...s, ...n, ...b })).toBe('c932db14a896c663f83c260297d594ff');
  });
});

describe('QueueStore semantics', () => {
  it('sends, receives and deletes; finds queues by name, ARN, URL (any host)', async () => {
    const { store } = open(tempDir());
    const sent = await store.send('work', 'hello', { kind: { DataType: 'String', StringValue: 'greeting' } });
    expect(sent.md5OfMessageBody).toBe(md5Hex('hello'));
    expect(store.counts(`${ARN}work`)).toEqual({ visible: 1, inFlight: 0, delayed: 0 });
    const [m] = await store.receive('http://localhost:9999/000000000000/work', { maxMessages: 10 });
    expect(m?.body).toBe('hello');
    expect(m?.messageId).toBe(sent.messageId);
    expect(m?.attributes.ApproximateReceiveCount).toBe('1');
    expect(m?.messageAttributes.kind?.StringValue).toBe('greeting');
    expect(store.counts(`${URL_BASE}work`)).toEqual({ visible: 0, inFlight: 1, delayed: 0 });
    await store.delete('work', m?.receiptHandle as string);
    expect(store.counts('work')).toEqual({ visible: 0, inFlight: 0, delayed: 0 });
  });

  it('rejects an unknown queue with a typed error', async () => {
    const { store } = open(tempDir());
    await expect(store.send('nope', 'x')).rejects.toBeInstanceOf(QueueDoesNotExistError);
    expect(() => store.counts('nope')).toThrow(/does not exist: nope/);
    try {
      store.counts('nope');
    } catch (e) {
      expect((e as SqsError).code).toBe('AWS.SimpleQueueService.NonExistentQueue');
    }
  });

  it('hides received messages for the visibility timeout, counts receives, deletes only with the latest handle', async () => {
    const { store, clock } = open(tempDir());
    await store.send('other', 'a');
    const [first] = await store.receive('other', { maxMessages: 1 });
    expect(await store.receive('other', { maxMessages: 1 })).toEqual([]);
    clock.t += 29_999;
    expect(await store.receive('other', { maxMessages: 1 })).toEqual([]);
    clock.t += 1;
    const [second] = await store.receive('other', { maxMessages: 1, visibilityTimeoutSeconds: 5 });
    expect(second?.attributes.ApproximateReceiveCount).toBe('2');
    expect(second?.attributes.ApproximateFirstReceiveTimestamp).toBe(
      first?.attributes.ApproximateFirstReceiveTimestamp,
    );
    // The first handle is stale: the delete succeeds but removes nothing (as SQS documents).
    await store.delete('other', first?.receiptHandle as string);
    expect(store.counts('other').inFlight).toBe(1);
    clock.t += 5_000;
    expect(store.counts('other').visible).toBe(1);
    // The latest handle still deletes a message whose timeout ran out but nobody received again.
    await store.delete('other', second?.receiptHandle as string);
    expect(store.counts('other')).toEqual({ visible: 0, inFlight: 0, delayed: 0 });
    await expect(store.delete('other', 'garbage')).rejects.toMatchObject({ code: 'ReceiptHandleIsInvalid' });
  });

  it('changes visibility, including 0 (visible at once), and refuses messages not in flight', async () => {
    const { store, clock } = open(tempDir());
    await store.send('other', 'a');
    const [m] = await store.receive('other', { maxMessages: 1 });
    const handle = m?.receiptHandle as string;
    await store.changeVisibility('other', handle, 100);
    clock.t += 60_000;
    expect(store.counts('other').inFlight).toBe(1);
    await store.changeVisibility('other', handle, 0);
    expect(store.counts('other').visible).toBe(1);
    await expect(store.changeVisibility('other', handle, 10)).rejects.toMatchObject({
      code: 'AWS.SimpleQueueService.MessageNotInflight',
    });
    const [again] = await store.receive('other', { maxMessages: 1 });
    await expect(store.changeVisibility('other', handle, 10)).rejects.toMatchObject({
      code: 'InvalidParameterValue',
    });
    await store.delete('other', again?.receiptHandle as string);
    await expect(store.changeVisibility('other', again?.receiptHandle as string, 10)).rejects.toMatchObject({
      code: 'InvalidParameterValue',
    });
  });

  it('moves a message to the DLQ when a receive would exceed maxReceiveCount', async () => {
    const { store } = open(tempDir());
    const { messageId } = await store.send('work', 'poison');
    for (let i = 1; i <= 2; i++) {
      const [m] = await store.receive('work', { maxMessages: 1, visibilityTimeoutSeconds: 0 });
      expect(m?.attributes.ApproximateReceiveCount).toBe(String(i));
    }
    expect(await store.receive('work', { maxMessages: 1 })).toEqual([]);
    expect(store.counts('work')).toEqual({ visible: 0, inFlight: 0, delayed: 0 });
    const [dead] = await store.receive('work-dlq', { maxMessages: 1 });
    expect(dead?.messageId).toBe(messageId);
    expect(dead?.attributes.DeadLetterQueueSourceArn).toBe(`${ARN}work`);
    expect(dead?.attributes.ApproximateReceiveCount).toBe('3');
    expect(store.deadLetterSourceQueues('work-dlq').map((q) => q.name)).toEqual(['work']);
  });

  it('long polling answers as soon as a message arrives or becomes visible', async () => {
    const { store } = open(tempDir(), { t: Date.now() });
    const started = Date.now();
    const waiting = store.receive('other', { maxMessages: 5, waitTimeSeconds: 10 });
    setTimeout(() => void store.send('other', 'late'), 30);
    const got = await waiting;
    expect(got.map((m) => m.body)).toEqual(['late']);
    expect(Date.now() - started).toBeLessThan(2_000);

    const again = store.receive('other', { maxMessages: 1, waitTimeSeconds: 10 });
    await store.changeVisibility('other', got[0]?.receiptHandle as string, 0);
    expect((await again).map((m) => m.attributes.ApproximateReceiveCount)).toEqual(['2']);

    const t0 = Date.now();
    expect(await store.receive('short', { maxMessages: 1, waitTimeSeconds: 1 })).toEqual([]);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(900);
  });

  it('endReceives answers waiting long polls with none, so a message handed back afterwards stays visible', async () => {
    const { store } = open(tempDir(), { t: Date.now() });
    await store.send('other', 'in flight');
    const [m] = await store.receive('other', { maxMessages: 1 });
    const waiting = store.receive('other', { maxMessages: 1, waitTimeSeconds: 10 });
    store.endReceives();
    expect(await waiting).toEqual([]);
    await store.changeVisibility('other', m?.receiptHandle as string, 0);
    expect(await store.receive('other', { maxMessages: 1, waitTimeSeconds: 1 })).toEqual([]);
    expect(store.counts('other')).toEqual({ visible: 1, inFlight: 0, delayed: 0 });
  });

  it('long polling wakes when an in-flight message times out', async () => {
    const { store } = open(tempDir(), { t: 0 }, { now: Date.now });
    await store.send('other', 'x');
    await store.receive('other', { maxMessages: 1, visibilityTimeoutSeconds: 1 });
    const started = Date.now();
    const [m] = await store.receive('other', { maxMessages: 1, waitTimeSeconds: 5 });
    expect(m?.body).toBe('x');
    expect(Date.now() - started).toBeLessThan(2_500);
  });

  it('drops messages past the retention period and supports delays', async () => {
    const { store, clock } = open(tempDir());
    await store.send('short', 'old');
    clock.t += 30_000;
    await store.send('short', 'newer', undefined, { delaySeconds: 10 });
    expect(store.counts('short')).toEqual({ visible: 1, inFlight: 0, delayed: 1 });
    clock.t += 30_000;
    expect(store.counts('short')).toEqual({ visible: 1, inFlight: 0, delayed: 0 });
    const got = await store.receive('short', { maxMessages: 10 });
    expect(got.map((m) => m.body)).toEqual(['newer']);
  });

  it('purges a queue, in-flight messages included', async () => {
    const { store } = open(tempDir());
    for (let i = 0; i < 5; i++) await store.send('other', `m${i}`);
    await store.receive('other', { maxMessages: 2 });
    expect(await store.purge('other')).toBe(5);
    expect(store.counts('other')).toEqual({ visible: 0, inFlight: 0, delayed: 0 });
  });

  it('validates messages as SQS does', async () => {
    const { store } = open(tempDir());
    await expect(store.send('other', '')).rejects.toMatchObject({ code: 'MissingParameter' });
    await expect(store.send('other', 'a\u0000b')).rejects.toMatchObject({ code: 'InvalidMessageContents' });
    for (const invalid of [
      'lone \uD800 high',
      'lone \uDC00 low',
      'ends \uD83D',
      'nonchar \uFFFE',
      '\u000B',
    ]) {
      await expect(store.send('other', invalid)).rejects.toMatchObject({ code: 'InvalidMessageContents' });
    }
    const pair = await store.send('other', 'emoji \u{1F600}, tab\t, \uFFFD');
    expect(pair.md5OfMessageBody).toBe(
      createHash('md5').update('emoji \u{1F600}, tab\t, \uFFFD', 'utf8').digest('hex'),
    );
    await expect(store.send('other', 'x'.repeat(1_048_577))).rejects.toMatchObject({
      code: 'InvalidParameterValue',
    });
    await expect(store.send('other', 'x'.repeat(1_048_576))).resolves.toBeTruthy();
    await expect(
      store.send('other', 'x', { n: { DataType: 'Number', StringValue: 'abc' } }),
    ).rejects.toMatchObject({ code: 'InvalidParameterValue' });
    await expect(store.receive('other', { maxMessages: 11 })).rejects.toThrow(/MaxNumberOfMessages/);
  });
});

async function redriveToDlq(store: QueueStore, n: number): Promise<void> {
  for (let i = 0; i < n; i++) await store.send('work', `dead-${i}`);
  for (let round = 0; round < 3; round++) {
    for (;;) {
      const got = await store.receive('work', { maxMessages: 10, visibilityTimeoutSeconds: 0 });
      if (got.length === 0) break;
    }
  }
  expect(store.counts('work-dlq').visible).toBe(n);
}

async function waitFor(check: () => boolean, timeoutMs = 5_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('message move tasks', () => {
  it('moves the DLQ messages back to their source with the receive count reset', async () => {
    const { store } = open(tempDir());
    await redriveToDlq(store, 3);
    const { taskHandle } = await store.startMessageMoveTask({ sourceArn: `${ARN}work-dlq` });
    await store.send('work-dlq', 'arrived after the start');
    await waitFor(
      () => store.listMessageMoveTasks({ sourceArn: `${ARN}work-dlq` })[0]?.status === 'COMPLETED',
    );
    const [task] = store.listMessageMoveTasks({ sourceArn: `${ARN}work-dlq` });
    expect(task).toMatchObject({
      status: 'COMPLETED',
      approximateNumberOfMessagesMoved: 3,
      approximateNumberOfMessagesToMove: 3,
    });
    expect(task?.taskHandle).toBeUndefined();
    expect(taskHandle).toBeTruthy();
    expect(store.counts('work-dlq').visible).toBe(1);
    const back = await store.receive('work', { maxMessages: 10 });
    expect(back.map((m) => m.body).sort()).toEqual(['dead-0', 'dead-1', 'dead-2']);
    expect(back.every((m) => m.attributes.ApproximateReceiveCount === '1')).toBe(true);
  });

  it('honours the rate, can be cancelled, and refuses non-DLQ sources and a second running task', async () => {
    const { store } = open(tempDir());
    await redriveToDlq(store, 5);
    await expect(store.startMessageMoveTask({ sourceArn: `${ARN}other` })).rejects.toThrow(
      /dead-letter queue/,
    );
    await expect(store.startMessageMoveTask({ sourceArn: `${ARN}missing` })).rejects.toMatchObject({
      code: 'ResourceNotFoundException',
    });
    const { taskHandle } = await store.startMessageMoveTask({
      sourceArn: `${ARN}work-dlq`,
      destinationArn: `${ARN}other`,
      maxNumberOfMessagesPerSecond: 10,
    });
    await expect(store.startMessageMoveTask({ sourceArn: `${ARN}work-dlq` })).rejects.toThrow(
      /already a task running/,
    );
    await waitFor(() => store.counts('other').visible >= 1);
    const { approximateNumberOfMessagesMoved } = await store.cancelMessageMoveTask({ taskHandle });
    expect(approximateNumberOfMessagesMoved).toBeGreaterThanOrEqual(1);
    expect(approximateNumberOfMessagesMoved).toBeLessThan(5);
    const [task] = store.listMessageMoveTasks({ sourceArn: `${ARN}work-dlq`, maxResults: 10 });
    expect(task?.status).toBe('CANCELLED');
    // Every message is in exactly one queue.
    expect(store.counts('other').visible + store.counts('work-dlq').visible).toBe(5);
    await expect(store.cancelMessageMoveTask({ taskHandle })).rejects.toMatchObject({
      code: 'ResourceNotFoundException',
    });
  });
});

describe('durability', () => {
  it('a new store on the same folder sees the same messages, receipts and deadlines', async () => {
    const dir = tempDir();
    const a = open(dir);
    await a.store.send('other', 'one', {
      k: { DataType: 'Binary', BinaryValue: Buffer.from([1, 2]).toString('base64') },
    });
    await a.store.send('other', 'two');
    await a.store.send('other', 'three');
    const [inFlight] = await a.store.receive('other', { maxMessages: 1 });
    const [deleted] = await a.store.receive('other', { maxMessages: 1 });
    await a.store.delete('other', deleted?.receiptHandle as string);
    a.store.close();

    const b = open(dir, { t: a.clock.t });
    expect(b.store.counts('other')).toEqual({ visible: 1, inFlight: 1, delayed: 0 });
    const [visible] = await b.store.receive('other', { maxMessages: 10 });
    expect(visible?.body).toBe('three');
    // The receipt handle issued before the restart still works.
    await b.store.changeVisibility('other', inFlight?.receiptHandle as string, 0);
    const [again] = await b.store.receive('other', { maxMessages: 1 });
    expect(again?.body).toBe('one');
    expect(again?.attributes.ApproximateReceiveCount).toBe('2');
    expect(again?.messageAttributes.k?.BinaryValue).toBe('AQI=');
    expect(again?.md5OfMessageAttributes).toBe(inFlight?.md5OfMessageAttributes);
  });

  it('in-flight messages become visible after their deadline passes across a restart', async () => {
    const dir = tempDir();
    const a = open(dir);
    await a.store.send('other', 'x');
    await a.store.receive('other', { maxMessages: 1, visibilityTimeoutSeconds: 60 });
    a.store.close();
    const b = open(dir, { t: a.clock.t + 61_000 });
    expect(b.store.counts('other')).toEqual({ visible: 1, inFlight: 0, delayed: 0 });
  });

  it('tolerates a torn last record and reports a damaged one by file and byte', async () => {
    const dir = tempDir();
    const a = open(dir);
    await a.store.send('other', 'kept');
    a.store.close();
    const file = join(dir, 'sqs', 'queues.log');
    const torn = encodeRecord({ t: 's', q: 'other', id: 'torn', ts: 1, b: 'half' });
    appendFileSync(file, torn.subarray(0, torn.length - 3));
    const b = open(dir);
    expect(b.warnings.join('\n')).toMatch(/ended in an incomplete record at byte \d+/);
    expect(b.store.counts('other').visible).toBe(1);
    b.store.close();

    const text = readFileSync(file, 'utf8');
    const second = text.indexOf('\n') + 1;
    writeFileSync(file, `${text.slice(0, second)}{not json\n${text.slice(second)}`);
    expect(() => open(dir)).toThrow(SqsStateError);
    expect(() => open(dir)).toThrow(`queues.log is damaged at byte ${second}: no record checksum`);

    writeFileSync(file, encodeRecord({ t: 'd', q: 'other', id: 'x' }));
    expect(() => open(dir)).toThrow(/missing the inferbus-sqs-log header/);
  });

  it('compacts the log and keeps state and running move tasks across compaction and restart', async () => {
    const dir = tempDir();
    const a = open(dir, undefined, { compactMinBytes: 4_096 });
    await redriveToDlq(a.store, 4);
    for (let i = 0; i < 200; i++) {
      await a.store.send('other', `filler-${i}-${'x'.repeat(50)}`);
      const [m] = await a.store.receive('other', { maxMessages: 1 });
      await a.store.delete('other', m?.receiptHandle as string);
    }
    await a.store.send('other', 'survivor');
    await a.store.startMessageMoveTask({ sourceArn: `${ARN}work-dlq`, maxNumberOfMessagesPerSecond: 10 });
    await waitFor(() => a.store.counts('work').visible >= 1);
    for (let i = 0; i < 50; i++) await a.store.send('short', `pad-${i}-${'y'.repeat(100)}`);
    await a.store.purge('short');
    await a.store.flush();
    const file = join(dir, 'sqs', 'queues.log');
    expect(statSync(file).size).toBeLessThan(16_384);
    a.store.close();

    const b = open(dir, { t: a.clock.t }, { compactMinBytes: 4_096 });
    expect(b.store.counts('other').visible).toBe(1);
    expect(b.store.counts('work').visible + b.store.counts('work-dlq').visible).toBe(4);
    await waitFor(
      () => b.store.listMessageMoveTasks({ sourceArn: `${ARN}work-dlq` })[0]?.status === 'COMPLETED',
    );
    expect(b.store.counts('work').visible).toBe(4);
    expect(
      b.store.listMessageMoveTasks({ sourceArn: `${ARN}work-dlq` })[0]?.approximateNumberOfMessagesMoved,
    ).toBe(4);
  });

  it('reads bodies dropped from memory back from the log, across compaction, moves and restart', async () => {
    const dir = tempDir();
    const a = open(dir, undefined, { compactMinBytes: 4_096, memoryBodyBytes: 0 });
    const body = (i: number) => `body-${i} "quoted" \u00e9\u{1F600} ${'z'.repeat(i * 7)}`;
    const attributes = { k: { DataType: 'String', StringValue: 'v' } };
    for (let i = 0; i < 30; i++) await a.store.send('other', body(i), i % 3 === 0 ? attributes : undefined);
    // Filler traffic makes the log compact while dropped bodies are still queued.
    for (let i = 0; i < 100; i++) {
      await a.store.send('short', `filler-${i}-${'x'.repeat(80)}`);
      const [m] = await a.store.receive('short', { maxMessages: 1 });
      await a.store.delete('short', m?.receiptHandle as string);
    }
    const seen: string[] = [];
    for (let n = 0; n < 10; n++) {
      const got = await a.store.receive('other', { maxMessages: 3 });
      for (const m of got) {
        expect(m.md5OfBody).toBe(md5Hex(m.body));
        seen.push(m.body);
        await a.store.delete('other', m.receiptHandle);
      }
    }
    expect(seen).toEqual(Array.from({ length: 30 }, (_, i) => body(i)));

    // Dead-lettered (moved) messages keep their bodies, and so does a restart.
    await a.store.send('work', body(99));
    for (let i = 0; i < 2; i++) {
      await a.store.receive('work', { maxMessages: 1, visibilityTimeoutSeconds: 0 });
    }
    await a.store.receive('work', { maxMessages: 1 });
    expect(a.store.counts('work-dlq').visible).toBe(1);
    await a.store.send('other', body(7));
    await a.store.flush();
    a.store.close();
    const b = open(dir, { t: a.clock.t }, { memoryBodyBytes: 0 });
    expect((await b.store.receive('work-dlq', { maxMessages: 1 }))[0]?.body).toBe(body(99));
    expect((await b.store.receive('other', { maxMessages: 1 }))[0]?.body).toBe(body(7));
  });

  it('loses no acknowledged send when the process is SIGKILLed mid-sends', async () => {
    const dir = tempDir();
    const script = join(dir, 'child.mts');
    const storeUrl = pathToFileURL(join(import.meta.dirname, '../../local/sqs/store.ts')).href;
    writeFileSync(
      script,
      `import { QueueStore } from ${JSON.stringify(storeUrl)};
const q = { logicalId: 'other', name: 'other', arn: '${ARN}other', url: '${URL_BASE}other', visibilityTimeoutSeconds: 30, messageRetentionSeconds: 345600 };
const store = new QueueStore([q], { stateDir: process.argv[2], warn: () => {} });
let i = 0;
for (;;) {
  const batch = [];
  for (let j = 0; j < 20; j++) batch.push(store.send('other', 'm' + i++).then((r) => r.messageId));
  process.stdout.write((await Promise.all(batch)).join('\\n') + '\\n');
}
`,
    );
    const child = spawn(process.execPath, ['--import', 'tsx', script, join(dir, 'state')], {
      cwd: join(import.meta.dirname, '../..'),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const acked: string[] = [];
    let buffered = '';
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`child did not ack in time: ${stderr}`)), 15_000);
      child.stdout.on('data', (d: Buffer) => {
        buffered += d.toString();
        const lines = buffered.split('\n');
        buffered = lines.pop() ?? '';
        acked.push(...lines.filter(Boolean));
        if (acked.length >= 2_000 && !child.killed) {
          child.kill('SIGKILL');
          clearTimeout(timer);
        }
      });
      child.on('exit', () => resolve());
    });
    expect(acked.length).toBeGreaterThanOrEqual(2_000);
    const after = new QueueStore([queue('other')], { stateDir: join(dir, 'state'), warn: () => {} });
    stores.push(after);
    const present = new Set<string>();
    for (;;) {
      const got = await after.receive('other', { maxMessages: 10 });
      if (got.length === 0) break;
      for (const m of got) present.add(m.messageId);
    }
    const missing = acked.filter((id) => !present.has(id));
    expect(missing).toEqual([]);
  }, 20_000);
});
