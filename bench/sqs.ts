/**
 * Local SQS throughput: messages per second through send → receive → delete on a durable store (state
 * on a temp dir, group commit without fsync), in-process, with ~600-byte bodies like inferbus events.
 * Workers run concurrently the way Lambda pollers and EventBridge targets do; each cycles batches of 10.
 *
 * Run: npx tsx bench/sqs.ts [--quick]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { QueueModel } from '../local/model.js';
import { QueueStore } from '../local/sqs/store.js';

export interface SqsBenchResult {
  name: 'sqs';
  node: string;
  bodyBytes: number;
  workers: number;
  messages: number;
  seconds: number;
  /** Messages per second through send + receive + delete. */
  messagesPerSecond: number;
  /** Store operations per second (3 per message). */
  opsPerSecond: number;
}

const queue = (name: string): QueueModel => ({
  logicalId: name,
  name,
  arn: `arn:aws:sqs:us-east-1:000000000000:${name}`,
  url: `http://127.0.0.1:4566/000000000000/${name}`,
  visibilityTimeoutSeconds: 30,
  messageRetentionSeconds: 345_600,
});

export async function runSqsBench({ quick = false }: { quick?: boolean } = {}): Promise<SqsBenchResult> {
  const dir = mkdtempSync(join(tmpdir(), 'inferbus-sqs-bench-'));
  const store = new QueueStore([queue('bench')], { stateDir: dir, warn: () => {} });
  const body = JSON.stringify({ id: 'x'.repeat(36), tenant: 'acme', payload: { text: 'y'.repeat(480) } });
  const workers = 8;
  const perWorker = quick ? 2_000 : 25_000;
  const cycle = async () => {
    for (let i = 0; i < perWorker; i += 10) {
      const sends: Promise<unknown>[] = [];
      for (let j = 0; j < 10; j++) sends.push(store.send('bench', body));
      await Promise.all(sends);
      let left = 10;
      while (left > 0) {
        const got = await store.receive('bench', { maxMessages: left });
        await Promise.all(got.map((m) => store.delete('bench', m.receiptHandle)));
        left -= got.length;
      }
    }
  };
  try {
    // Warm-up.
    await Promise.all(Array.from({ length: 2 }, cycle));
    const start = process.hrtime.bigint();
    await Promise.all(Array.from({ length: workers }, cycle));
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    const messages = workers * perWorker;
    return {
      name: 'sqs',
      node: process.version,
      bodyBytes: Buffer.byteLength(body),
      workers,
      messages,
      seconds: Math.round(seconds * 1000) / 1000,
      messagesPerSecond: Math.round(messages / seconds),
      opsPerSecond: Math.round((3 * messages) / seconds),
    };
  } finally {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const result = await runSqsBench({ quick: process.argv.includes('--quick') });
  console.log(JSON.stringify(result, null, 2));
}
