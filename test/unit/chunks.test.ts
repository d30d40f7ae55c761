import { describe, expect, it } from 'vitest';
import { chunkBatch, requestsOf, runInChunks, timeForNextChunk } from '../../functions/inference/chunks';
import { expandRecords } from '../../functions/inference/pack-records';
import { requestEvent, sqsRecord } from '../support/sqs-records';

/** A plain (unencoded) pack of `count` requests as the SQS record Lambda delivers. */
function packRecord(prefix: string, count: number) {
  const event = JSON.parse(requestEvent('unused', 'x'));
  const items = Array.from({ length: count }, (_, i) => {
    const { tenant: _t, type: _y, ...item } = JSON.parse(requestEvent(`${prefix}-${i}`, `text ${i}`)).detail;
    return item;
  });
  event.detail = {
    packId: `${prefix}-pack`,
    tenant: 'acme',
    type: event.detail.type,
    time: '2026-12-07T00:00:00Z',
    count,
    items,
  };
  return sqsRecord(JSON.stringify(event));
}

const single = (id: string) => sqsRecord(requestEvent(id, 'hello'));

describe('chunkBatch', () => {
  it('keeps a batch of single events in one chunk, as it came', () => {
    const messages = Array.from({ length: 200 }, (_, i) => single(`s-${i}`));
    const expanded = expandRecords(messages);
    const chunks = chunkBatch(messages, expanded, 2_000);
    expect(chunks).toHaveLength(1);
    expect(chunks[0]?.expanded).toBe(expanded);
    expect(chunks[0]?.requests).toBe(200);
  });

  it('splits packs into chunks of whole messages in order, closing a chunk once it holds the maximum', () => {
    const messages = [packRecord('a', 30), single('b'), packRecord('c', 50), packRecord('d', 5), single('e')];
    const expanded = expandRecords(messages);
    const chunks = chunkBatch(messages, expanded, 40);
    expect(chunks.map((c) => c.messages.map((m) => m.messageId))).toEqual([
      [messages[0]?.messageId, messages[1]?.messageId, messages[2]?.messageId],
      [messages[3]?.messageId, messages[4]?.messageId],
    ]);
    expect(chunks.map((c) => c.requests)).toEqual([81, 6]);
    // Every request, and every pack, is in exactly one chunk: the chunk of its message.
    expect(chunks.flatMap((c) => c.expanded.records)).toEqual(expanded.records);
    expect(chunks.map((c) => c.expanded.packs.length)).toEqual([2, 1]);
  });

  it('puts a poison request in the chunk of its pack, and counts it', () => {
    const pack = packRecord('p', 3);
    const event = JSON.parse(pack.body);
    event.detail.items[1] = { id: 'p-bad' };
    const messages = [single('first'), { ...pack, body: JSON.stringify(event) }];
    const chunks = chunkBatch(messages, expandRecords(messages), 1);
    expect(chunks.map((c) => c.requests)).toEqual([1, 3]);
    expect(chunks[1]?.expanded.poison).toHaveLength(1);
    expect(chunks[1]?.expanded.records).toHaveLength(2);
  });
});

describe('requestsOf', () => {
  it('lists every request of the chunks, poison included, or only those of the messages named', () => {
    const pack = packRecord('q', 3);
    const event = JSON.parse(pack.body);
    event.detail.items[2] = { id: 'q-bad' };
    const messages = [single('one'), { ...pack, body: JSON.stringify(event) }];
    const chunks = chunkBatch(messages, expandRecords(messages), 1);
    expect(requestsOf(chunks)).toHaveLength(4);
    const ofPack = requestsOf(chunks, new Set([pack.messageId]));
    expect(ofPack.map((r) => r.messageId).sort()).toEqual([0, 1, 2].map((i) => `${pack.messageId}#${i}`));
  });
});

describe('timeForNextChunk', () => {
  it('wants twice the time the requests took so far, plus the guard margin', () => {
    // 1,000 requests in 2 s: 2 ms each; 1,000 more need 4 s, and the margin is 500 ms to 3 s.
    const progress = { elapsedMs: 2_000, requestsDone: 1_000, nextRequests: 1_000 };
    expect(timeForNextChunk({ ...progress, remainingMs: 4_400 })).toBe(false);
    expect(timeForNextChunk({ ...progress, remainingMs: 5_000 })).toBe(true);
    expect(timeForNextChunk({ ...progress, remainingMs: 20_000 })).toBe(true);
  });
});

describe('runInChunks', () => {
  const chunksOf = (sizes: number[]) =>
    sizes.map((requests, i) => {
      const message = single(`m-${i}`);
      return { messages: [message], expanded: expandRecords([message]), requests };
    });

  it('runs every chunk while time is left', async () => {
    const ran: number[] = [];
    const failed = await runInChunks(chunksOf([10, 10, 10]), {
      run: async (chunk) => {
        ran.push(chunk.requests);
        return { failed: [] };
      },
      defer: async () => {
        throw new Error('nothing should be deferred');
      },
      remainingMs: () => 30_000,
    });
    expect(ran).toEqual([10, 10, 10]);
    expect(failed).toEqual([]);
  });

  it('defers the chunks the time left cannot cover, and reports what could not be deferred', async () => {
    const chunks = chunksOf([1_000, 500, 1_000]);
    let clock = 0;
    let remaining = 30_000;
    const deferred: string[] = [];
    const failed = await runInChunks(chunks, {
      // 10 ms per request: after the first chunk 20 s are left and the second needs 2 x 5 s plus the
      // margin; after it 15 s are left, and the third needs 2 x 10 s.
      run: async (chunk) => {
        clock += chunk.requests * 10;
        remaining -= chunk.requests * 10;
        return { failed: chunk === chunks[0] ? ['m-0-failed'] : [] };
      },
      defer: async (rest, why) => {
        expect(why).toBe('no-time');
        const messages = rest.flatMap((c) => c.messages);
        deferred.push(...messages.map((m) => m.messageId));
        return [messages[0]?.messageId as string];
      },
      remainingMs: () => remaining,
      now: () => clock,
    });
    expect(deferred).toEqual(chunks[2]?.messages.map((m) => m.messageId));
    expect(failed).toEqual(['m-0-failed', chunks[2]?.messages[0]?.messageId]);
  });

  it('always runs the first chunk, and defers the rest when a chunk reached its deadline', async () => {
    const chunks = chunksOf([10, 10, 10]);
    const deferred: unknown[] = [];
    const failed = await runInChunks(chunks, {
      run: async () => ({ failed: ['first-request'], ended: 'deadline' }),
      defer: async (rest, why) => {
        deferred.push(rest, why);
        return rest.flatMap((c) => c.messages.map((m) => m.messageId));
      },
      remainingMs: () => 0,
    });
    expect(deferred).toEqual([chunks.slice(1), 'deadline']);
    expect(failed).toEqual([
      'first-request',
      ...chunks.slice(1).flatMap((c) => c.messages.map((m) => m.messageId)),
    ]);
  });

  it('defers nothing after a deadline in the last chunk', async () => {
    const failed = await runInChunks(chunksOf([10]), {
      run: async () => ({ failed: ['only'], ended: 'deadline' }),
      defer: async () => {
        throw new Error('nothing is left to defer');
      },
      remainingMs: () => 0,
    });
    expect(failed).toEqual(['only']);
  });
});
