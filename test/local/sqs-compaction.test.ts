import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { QueueModel } from '../../local/model.js';
import { QueueStore, type QueueStoreOptions } from '../../local/sqs/store.js';

const ARN = 'arn:aws:sqs:us-east-1:000000000000:';
const queue = (name: string, extra: Partial<QueueModel> = {}): QueueModel => ({
  logicalId: name,
  name,
  arn: ARN + name,
  url: `http://127.0.0.1:4566/000000000000/${name}`,
  visibilityTimeoutSeconds: 30,
  messageRetentionSeconds: 345_600,
  ...extra,
});
const QUEUES = [
  queue('work', { redrive: { deadLetterTargetArn: `${ARN}dlq`, maxReceiveCount: 1 } }),
  queue('dlq'),
  queue('other'),
  queue('scratch'),
];
const body = (i: number) => `{"i":${i},"text":"quoted \\"${'x'.repeat(200)}\\" \u00e9"}`;

const dirs: string[] = [];
const stores: QueueStore[] = [];

function open(dir: string, options: Partial<QueueStoreOptions> = {}) {
  const clock = { t: 1_700_000_000_000 };
  const store = new QueueStore(QUEUES, { stateDir: dir, now: () => clock.t, warn: () => {}, ...options });
  stores.push(store);
  return store;
}

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'inferbus-sqs-compaction-'));
  dirs.push(dir);
  return dir;
}

afterEach(() => {
  for (const s of stores.splice(0)) s.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** Log traffic that leaves no message behind: makes the log outgrow 4x the live state. */
async function churn(store: QueueStore, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    await store.send('scratch', body(-i));
    const [m] = await store.receive('scratch', { maxMessages: 1 });
    await store.delete('scratch', m?.receiptHandle as string);
  }
}

async function bodiesOf(store: QueueStore, name: string): Promise<string[]> {
  const out: string[] = [];
  for (;;) {
    const got = await store.receive(name, { maxMessages: 10, visibilityTimeoutSeconds: 60 });
    if (got.length === 0) return out.sort();
    out.push(...got.map((m) => m.body));
  }
}

describe('SQS log compaction while the store keeps working', () => {
  // One snapshot record per turn, bodies read back from the log: traffic interleaves with every step.
  const options = { compactMinBytes: 8_192, compactSliceMs: 0, memoryBodyBytes: 0 };

  it('keeps every send, receive, delete and dead-letter move made during a compaction', async () => {
    const dir = tempDir();
    const a = open(dir, options);
    const file = join(dir, 'sqs', 'queues.log');
    const expected = { other: new Set<string>(), dlq: new Set<string>() };
    let compactions = 0;
    for (let i = 0; i < 300; i++) {
      await churn(a, 3);
      await a.send('other', body(i));
      expected.other.add(body(i));
      if (i % 3 === 0) {
        const [m] = await a.receive('other', { maxMessages: 1 });
        if (m) {
          await a.delete('other', m.receiptHandle);
          expected.other.delete(m.body);
        }
      }
      if (i % 10 === 0) {
        // maxReceiveCount 1: the second receive moves the message to the DLQ.
        await a.send('work', body(1000 + i));
        await a.receive('work', { maxMessages: 1, visibilityTimeoutSeconds: 0 });
        await a.receive('work', { maxMessages: 1 });
        expected.dlq.add(body(1000 + i));
      }
      if (existsSync(`${file}.tmp`)) compactions++;
    }
    expect(compactions).toBeGreaterThan(0);
    await a.flush();
    // About 100 KB live: compaction keeps the log below 4x that.
    expect(statSync(file).size).toBeLessThan(450_000);
    expect(a.counts('dlq').visible).toBe(expected.dlq.size);
    a.close();
    // Every body is read back from the log (none is kept in memory).
    const b = open(dir, options);
    expect(await bodiesOf(b, 'other')).toEqual([...expected.other].sort());
    expect(await bodiesOf(b, 'dlq')).toEqual([...expected.dlq].sort());
    expect(b.counts('work')).toEqual({ visible: 0, inFlight: 0, delayed: 0 });
  });

  it('reads batches of dropped bodies back right, before and after a compaction moved them', async () => {
    const dir = tempDir();
    const a = open(dir, options);
    const file = join(dir, 'sqs', 'queues.log');
    // Two queues interleaved, and some bodies large enough to be read apart from their neighbours.
    const sized = (i: number) => `${body(i)} ${i % 7 === 0 ? 'L'.repeat(40_000) : ''}\u{1F600}`;
    const expected = new Map<string, string>();
    for (let i = 0; i < 60; i++) {
      const name = i % 2 === 0 ? 'other' : 'dlq';
      expected.set((await a.send(name, sized(i))).messageId, sized(i));
    }
    const receiveAndCheck = async (name: string) => {
      const got = await a.receive(name, { maxMessages: 10 });
      for (const m of got) expect(m.body).toBe(expected.get(m.messageId));
      for (const m of got) await a.delete(name, m.receiptHandle);
      return got.length;
    };
    expect(await receiveAndCheck('other')).toBe(10);
    let started = false;
    while (!started || existsSync(`${file}.tmp`)) {
      await churn(a, 1);
      started ||= existsSync(`${file}.tmp`);
    }
    while ((await receiveAndCheck('other')) > 0);
    a.close();
    // The compacted log replays; the other queue's bodies are read back from it.
    const b = open(dir, options);
    const got: string[] = [];
    for (let batch = await b.receive('dlq', { maxMessages: 10 }); batch.length > 0; ) {
      for (const m of batch) {
        expect(m.body).toBe(expected.get(m.messageId));
        got.push(m.messageId);
      }
      batch = await b.receive('dlq', { maxMessages: 10 });
    }
    expect(got.length).toBe(30);
  });

  it('drops a compaction still running at close; the old log is whole', async () => {
    const dir = tempDir();
    const a = open(dir, options);
    const file = join(dir, 'sqs', 'queues.log');
    for (let i = 0; !existsSync(`${file}.tmp`); i++) {
      await a.send('other', body(i));
      await churn(a, 3);
    }
    const sent = readFileSync(file).length;
    a.close();
    expect(existsSync(`${file}.tmp`)).toBe(false);
    expect(readFileSync(file).length).toBe(sent);
    const b = open(dir, options);
    expect((await bodiesOf(b, 'other')).length).toBeGreaterThan(0);
  });

  it('keeps working when the compaction cannot write: the log stays as it is, with a warning', async () => {
    const dir = tempDir();
    const warnings: string[] = [];
    const a = open(dir, { ...options, warn: (m) => warnings.push(m) });
    const file = join(dir, 'sqs', 'queues.log');
    mkdirSync(`${file}.tmp`); // the compaction's temp file cannot be opened
    await a.send('other', 'before');
    await churn(a, 200);
    await a.send('other', 'after');
    expect(warnings.filter((w) => /compacting .*queues\.log failed/.test(w))).toHaveLength(1);
    a.close();
    rmSync(`${file}.tmp`, { recursive: true });
    const b = open(dir, options);
    expect((await bodiesOf(b, 'other')).sort()).toEqual(['after', 'before']);
  });
});
