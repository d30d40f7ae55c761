// Each durable writer with an injected write failure (a full disk, a failing device): requests
// that needed the write fail having changed nothing, the writer recovers by itself once writes
// work again, and nothing accepted before is lost.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { LocalEventBus } from '../../local/eventbridge/bus';
import { FirehoseWal } from '../../local/firehose';
import type { QueueModel } from '../../local/model';
import { handleSqsRequest } from '../../local/sqs/api';
import { SqsStorageError } from '../../local/sqs/errors';
import { WRITE_RETRY_MS } from '../../local/sqs/log';
import { QueueStore } from '../../local/sqs/store';
import { StorageHealth, StorageUnavailableError } from '../../local/storage-health';
import { FailingDisk } from '../support/failing-disk';
import { arn, BUS, FakeFirehose, FakeQueues, testModel } from './bus-fakes';

const dirs: string[] = [];
const closers: (() => void)[] = [];
afterEach(() => {
  for (const close of closers.splice(0)) close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'inferbus-durable-'));
  dirs.push(dir);
  return dir;
}

const QUEUE: QueueModel = {
  logicalId: 'work',
  name: 'work',
  arn: 'arn:aws:sqs:us-east-1:000000000000:work',
  url: 'http://127.0.0.1:4566/000000000000/work',
  visibilityTimeoutSeconds: 30,
  messageRetentionSeconds: 345_600,
};

function openStore(dir: string, disk: FailingDisk, fsync = false) {
  const clock = { t: 1_700_000_000_000 };
  const lines: string[] = [];
  const health = new StorageHealth((line) => lines.push(line));
  const store = new QueueStore([QUEUE], {
    stateDir: dir,
    now: () => clock.t,
    warn: () => {},
    writes: disk,
    health,
    fsync,
  });
  closers.push(() => store.close());
  return { store, clock, health, lines };
}

async function drain(store: QueueStore): Promise<string[]> {
  const bodies: string[] = [];
  for (;;) {
    const got = await store.receive('work', { maxMessages: 10, visibilityTimeoutSeconds: 600 });
    if (got.length === 0) return bodies.sort();
    bodies.push(...got.map((m) => m.body));
  }
}

describe('local SQS log: a failed write', () => {
  for (const [failing, fsync] of [
    ['ENOSPC', false],
    ['EIO', true],
  ] as const) {
    it(`fails the requests of its batch having changed nothing, and recovers by itself (${failing}${fsync ? ', fsync' : ''})`, async () => {
      const dir = tempDir();
      const disk = new FailingDisk();
      const { store, clock, health, lines } = openStore(dir, disk, fsync);
      await store.send('work', 'kept-1');
      const [received] = await store.receive('work', { maxMessages: 1 });
      disk.failing = failing;
      // A send, a delete and a second send in one batch: all fail, none is applied.
      const results = await Promise.allSettled([
        store.send('work', 'lost-1'),
        store.delete('work', received?.receiptHandle as string),
        store.send('work', 'lost-2'),
      ]);
      for (const r of results) {
        expect(r.status).toBe('rejected');
        expect((r as PromiseRejectedResult).reason).toBeInstanceOf(SqsStorageError);
        expect(String((r as PromiseRejectedResult).reason)).toMatch(
          new RegExp(`${failing}.*nothing of this request was applied.*Free disk space`),
        );
      }
      expect(health.condition()).toMatchObject({ ok: false, error: expect.stringContaining(failing) });
      // Within the retry delay requests fail at once, without a write.
      const writes = disk.failedWrites;
      await expect(store.send('work', 'lost-3')).rejects.toBeInstanceOf(SqsStorageError);
      expect(disk.failedWrites).toBe(writes);
      // After it, a write is tried (and fails again while the disk is full).
      clock.t += WRITE_RETRY_MS;
      await expect(store.send('work', 'lost-4')).rejects.toBeInstanceOf(SqsStorageError);
      expect(disk.failedWrites).toBeGreaterThan(writes);
      expect(store.counts('work')).toEqual({ visible: 0, inFlight: 1, delayed: 0 });

      disk.failing = undefined;
      clock.t += WRITE_RETRY_MS;
      await store.send('work', 'kept-2');
      expect(health.condition()).toEqual({ ok: true });
      expect(lines.filter((l) => /^storage: writing .* failed \(/.test(l))).toHaveLength(1);
      expect(lines.filter((l) => /works again/.test(l))).toHaveLength(1);
      // The receipt handle issued before the failure still deletes: the delete was not half-applied.
      await store.delete('work', received?.receiptHandle as string);
      expect(store.counts('work')).toEqual({ visible: 1, inFlight: 0, delayed: 0 });
      store.close();

      // The file holds exactly what was acknowledged: no partial batch (it would be a torn tail or damage).
      const reopened = openStore(dir, new FailingDisk(), fsync);
      expect(await drain(reopened.store)).toEqual(['kept-2']);
    });
  }

  it('fails a receive whose write fails; the message is received again later with its count', async () => {
    const dir = tempDir();
    const disk = new FailingDisk();
    const { store, clock } = openStore(dir, disk);
    await store.send('work', 'm');
    disk.failing = 'ENOSPC';
    await expect(store.receive('work', { maxMessages: 1 })).rejects.toBeInstanceOf(SqsStorageError);
    disk.failing = undefined;
    clock.t += WRITE_RETRY_MS;
    const [again] = await store.receive('work', { maxMessages: 1 });
    expect(again?.body).toBe('m');
    expect(again?.attributes.ApproximateReceiveCount).toBe('1');
  });

  it('answers SendMessage with HTTP 500 InternalError and a batch entry with InternalError, SenderFault false', async () => {
    const dir = tempDir();
    const disk = new FailingDisk();
    const { store, clock } = openStore(dir, disk);
    disk.failing = 'ENOSPC';
    const single = await handleSqsRequest(store, 'AmazonSQS.SendMessage', {
      QueueUrl: QUEUE.url,
      MessageBody: 'x',
    });
    expect(single.status).toBe(500);
    expect(single.body).toMatchObject({ __type: 'com.amazonaws.sqs#InternalError' });
    expect(single.headers['x-amzn-query-error']).toBe('InternalError;Receiver');
    clock.t += WRITE_RETRY_MS;
    const batch = await handleSqsRequest(store, 'AmazonSQS.SendMessageBatch', {
      QueueUrl: QUEUE.url,
      Entries: [
        { Id: 'a', MessageBody: 'x' },
        { Id: 'b', MessageBody: 'y' },
      ],
    });
    expect(batch.status).toBe(200);
    const body = batch.body as { Successful: unknown[]; Failed: { Code: string; SenderFault: boolean }[] };
    expect(body.Successful).toEqual([]);
    expect(body.Failed.map((f) => [f.Code, f.SenderFault])).toEqual([
      ['InternalError', false],
      ['InternalError', false],
    ]);
  });
});

describe('Firehose write-ahead log: a failed write', () => {
  it('is cut off the segment; its records are not counted; later appends work and replay', async () => {
    const dir = tempDir();
    const disk = new FailingDisk();
    const clock = { t: 0 };
    const health = new StorageHealth();
    const { wal } = FirehoseWal.open(dir, () => {}, { writes: disk, health, now: () => clock.t });
    const arrival = new Date('2026-01-02T03:04:05Z');
    wal.append(arrival, 'kept-1');
    await wal.commit();
    disk.failing = 'ENOSPC';
    wal.append(arrival, 'lost-1');
    await expect(wal.commit()).rejects.toBeInstanceOf(StorageUnavailableError);
    expect(health.condition().ok).toBe(false);
    expect(() => wal.append(arrival, 'lost-2')).toThrow(/ENOSPC.*not accepted.*Free disk space/);
    disk.failing = undefined;
    clock.t += 1_000;
    wal.append(arrival, 'kept-2');
    await wal.commit();
    expect(health.condition()).toEqual({ ok: true });
    wal.close();
    const reopened = FirehoseWal.open(dir, () => {});
    expect(reopened.replayed.map((r) => r.data)).toEqual(['kept-1', 'kept-2']);
    reopened.wal.close();
  });

  it('keeps a segment whose seal failed active and seals it at the next rotation', async () => {
    const dir = tempDir();
    const disk = new FailingDisk();
    const clock = { t: 0 };
    const { wal } = FirehoseWal.open(dir, () => {}, { writes: disk, now: () => clock.t });
    const arrival = new Date('2026-01-02T03:04:05Z');
    wal.append(arrival, 'a');
    await wal.commit();
    disk.failing = 'ENOSPC';
    wal.rotate();
    disk.failing = undefined;
    clock.t += 1_000;
    wal.append(arrival, 'b');
    await wal.commit();
    wal.rotate();
    expect(readdirSync(dir)).toEqual(['0000000001.wal']);
    wal.close();
    // One sealed segment holding both records, and nothing torn (a warning would say so).
    const warnings: string[] = [];
    const reopened = FirehoseWal.open(dir, (w) => warnings.push(w));
    expect(reopened.replayed.map((r) => r.data)).toEqual(['a', 'b']);
    expect(warnings).toEqual([]);
    expect(readFileSync(join(dir, '0000000001.wal')).length).toBeGreaterThan(0);
    reopened.wal.close();
  });
});

describe('local EventBridge: targets that cannot store', () => {
  const full = () => new StorageUnavailableError('ENOSPC: no space left on device, write');
  const request = (id: string) => ({
    Source: 'inferbus.acme',
    DetailType: 'InferenceRequested',
    Detail: JSON.stringify({ id, tenant: 'acme' }),
    EventBusName: BUS,
  });

  function makeBus() {
    const queues = new FakeQueues();
    const firehose = new StoringFirehose();
    const bus = new LocalEventBus({
      model: testModel(),
      queues,
      firehose,
      log: () => {},
      sleep: async () => {},
      backoff: () => 0,
    });
    return { bus, queues, firehose };
  }

  it('fails an entry with InternalFailure when no target stored it, and never delivers it later', async () => {
    const { bus, queues, firehose } = makeBus();
    firehose.failing = true;
    queues.failWhen = (_queue, body) => (body.includes('"lost"') ? full() : undefined);
    const result = await bus.putEventsDurably(BUS, [request('lost')]);
    expect(result.FailedEntryCount).toBe(1);
    expect(result.Entries[0]).toEqual({
      ErrorCode: 'InternalFailure',
      ErrorMessage: expect.stringContaining('ENOSPC'),
    });
    firehose.failing = false;
    queues.failWhen = undefined;
    await bus.drain();
    expect(queues.sent).toEqual([]);
    expect(firehose.records).toEqual([]);
    expect(bus.metrics()).toMatchObject({ eventsAccepted: 0, entriesFailed: 1, dropped: 0 });
  });

  it('accepts an entry one target stored; the other waits for the disk, past its retry policy, and is delivered', async () => {
    const { bus, queues, firehose } = makeBus();
    let attempts = 0;
    // The work target allows 3 retries: the disk stays full for 10 attempts.
    queues.failWhen = () => (++attempts <= 10 ? full() : undefined);
    const result = await bus.putEventsDurably(BUS, [request('kept')]);
    expect(result.FailedEntryCount).toBe(0);
    expect(result.Entries[0]?.EventId).toEqual(expect.any(String));
    await bus.drain();
    expect(firehose.records).toHaveLength(1);
    expect(queues.to(arn.work)).toHaveLength(1);
    expect(queues.to(arn.ruleDlq)).toEqual([]);
    expect(bus.metrics()).toMatchObject({ deadLettered: 0, dropped: 0 });
  });

  it('sends to the DLQ once the disk has room rather than drop the event', async () => {
    const { bus, queues } = makeBus();
    let dlqAttempts = 0;
    queues.failWhen = (queue) => {
      if (queue === arn.work) return Object.assign(new Error('gone'), { code: 'QueueDoesNotExist' });
      return ++dlqAttempts <= 5 ? full() : undefined;
    };
    await bus.putEventsDurably(BUS, [request('dead')]);
    await bus.drain();
    expect(queues.to(arn.ruleDlq)).toHaveLength(1);
    expect(bus.metrics()).toMatchObject({ deadLettered: 1, dropped: 0 });
  });
});

/** A Firehose sink whose records can fail like a full disk. */
class StoringFirehose extends FakeFirehose {
  failing = false;
  override async putRecord(stream: string, data: string): Promise<void> {
    if (this.failing) throw new StorageUnavailableError('ENOSPC: no space left on device, write');
    await super.putRecord(stream, data);
  }
}
