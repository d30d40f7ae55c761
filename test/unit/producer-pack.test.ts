import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { describe, expect, it } from 'vitest';
import { createPackCodec } from '../../functions/core/packing/codec';
import { expandPack, isPackedDetail } from '../../functions/core/packing/pack';
import { entrySize } from '../../functions/core/put-events';
import { createProducer } from '../../functions/producer';

interface Sent {
  Source: string;
  DetailType: string;
  Detail: string;
  EventBusName?: string;
}

/**
 * A fake EventBridge client: keeps every request's entries; `answer` decides each entry's fate
 * (undefined accepts it, an error code fails it).
 */
function fakeClient(answer: (entry: Sent, call: number) => string | undefined = () => undefined) {
  const calls: Sent[][] = [];
  const client = {
    send: async (command: { input: { Entries: Sent[] } }) => {
      const entries = command.input.Entries;
      calls.push(entries);
      return {
        FailedEntryCount: 0,
        Entries: entries.map((entry) => {
          const code = answer(entry, calls.length);
          return code ? { ErrorCode: code, ErrorMessage: `fake ${code}` } : { EventId: 'id' };
        }),
      };
    },
  } as never as EventBridgeClient;
  return { client, calls };
}

const codec = await createPackCodec();
/** Every request a list of entries carries, in order, expanded from packs. */
const requestsIn = (entries: readonly Sent[]) =>
  entries.flatMap((entry) => {
    const detail = JSON.parse(entry.Detail);
    return isPackedDetail(detail) ? expandPack(detail, codec).envelopes.map((e) => e.envelope) : [detail];
  });

const text = (i: number) => `message ${i} about an invoice and a meeting `.repeat(20);

describe('producer packing', () => {
  it('packs requests emitted together into one zstd pack; each keeps its own id, stream, seq and hlc', async () => {
    const { client, calls } = fakeClient();
    const producer = createProducer({ busName: 'b', tenant: 'acme', client, node: 'n', task: 'spam' });
    const emitted = [];
    for (let i = 0; i < 25; i++) emitted.push(await producer.emit('message.received', { text: text(i) }));
    const report = await producer.close();
    expect(report).toMatchObject({ sent: 25, entries: 1, failed: [] });
    expect(calls).toHaveLength(1);
    const [entry] = calls[0] as Sent[];
    expect(entry).toMatchObject({
      Source: 'inferbus.acme',
      DetailType: 'InferenceRequested',
      EventBusName: 'b',
    });
    const detail = JSON.parse(entry?.Detail ?? '{}');
    expect(detail).toMatchObject({ tenant: 'acme', task: 'spam', type: 'message.received', count: 25 });
    expect(detail.data).toMatch(/^zstd-json-1:/);
    expect(requestsIn(calls[0] as Sent[])).toEqual(emitted);
  });

  it('sends a request alone in its wait window as a plain single event, byte for byte as without packing', async () => {
    const packed = fakeClient();
    const plain = fakeClient();
    const options = { busName: 'b', tenant: 'acme', node: 'n', now: () => 1_765_094_400_000 };
    const a = createProducer({ ...options, client: packed.client });
    const b = createProducer({ ...options, client: plain.client, pack: false });
    await a.emit('t', { text: 'hello' }, { id: 'e1' });
    await b.emit('t', { text: 'hello' }, { id: 'e1' });
    await a.close();
    await b.close();
    expect(packed.calls).toEqual(plain.calls);
    expect(isPackedDetail(JSON.parse(packed.calls[0]?.[0]?.Detail ?? '{}'))).toBe(false);
  });

  it('keeps packs within the policy: requests per pack, entry bytes, one task per pack', async () => {
    const { client, calls } = fakeClient();
    const producer = createProducer({
      busName: 'b',
      tenant: 'acme',
      client,
      pack: { maxItems: 4, codec: 'json' },
    });
    for (let i = 0; i < 10; i++) {
      await producer.emit('t', { text: text(i) }, { task: i % 2 === 0 ? 'spam' : 'sensor' });
    }
    await producer.close();
    const details = (calls.flat() as Sent[]).map((e) => JSON.parse(e.Detail));
    // The fifth of each task is left alone in its group: a plain single event, not a pack of one.
    expect(details.map((d) => [d.task, d.count ?? `single seq ${d.seq}`])).toEqual([
      ['spam', 4],
      ['sensor', 4],
      ['spam', 'single seq 9'],
      ['sensor', 'single seq 10'],
    ]);
    expect(details[0].items).toHaveLength(4);
    const big = fakeClient();
    const bytes = createProducer({
      busName: 'b',
      tenant: 'acme',
      client: big.client,
      pack: { maxEntryBytes: 4096, codec: 'json' },
    });
    for (let i = 0; i < 20; i++) await bytes.emit('t', { text: text(i) });
    const report = await bytes.close();
    expect(report.sent).toBe(20);
    for (const entry of big.calls.flat()) expect(entrySize(entry)).toBeLessThanOrEqual(4096);
    expect(requestsIn(big.calls.flat()).map((e) => e.seq)).toEqual(
      Array.from({ length: 20 }, (_, i) => i + 1),
    );
  });

  it('retries a failed pack whole, with the same pack and the same request ids', async () => {
    const { client, calls } = fakeClient((_, call) => (call === 1 ? 'ThrottlingException' : undefined));
    const producer = createProducer({ busName: 'b', tenant: 'acme', client, sleep: async () => {} });
    for (let i = 0; i < 12; i++) await producer.emit('t', { text: text(i) });
    const report = await producer.close();
    expect(report).toMatchObject({ sent: 12, entries: 1, failed: [] });
    expect(calls).toHaveLength(2);
    expect(calls[1]).toEqual(calls[0]);
  });

  it('reports a pack that failed for good with the number of requests it carried', async () => {
    const failures: number[] = [];
    const { client } = fakeClient(() => 'MalformedDetail');
    const producer = createProducer({
      busName: 'b',
      tenant: 'acme',
      client,
      onFailed: (_entry, _failure, requests) => failures.push(requests),
    });
    for (let i = 0; i < 7; i++) await producer.emit('t', { text: text(i) });
    const report = await producer.close();
    expect(report.sent).toBe(0);
    expect(report.failed.map((f) => [f.requests, f.failure.kind])).toEqual([[7, 'permanent']]);
    expect(failures).toEqual([7]);
  });

  it('keeps the outbox per request: requests left unsent by an outage are packed and sent after a restart', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'inferbus-pack-outbox-'));
    const down = fakeClient(() => 'InternalException');
    const first = createProducer({
      busName: 'b',
      tenant: 'acme',
      client: down.client,
      outbox: dir,
      lingerMs: 60_000,
    });
    for (let i = 0; i < 6; i++) await first.emit('t', { text: text(i) }, { id: `r${i}` });
    // Not flushed: the process "dies" with six requests on disk and nothing sent.
    const up = fakeClient();
    const second = createProducer({ busName: 'b', tenant: 'acme', client: up.client, outbox: dir });
    expect(second.pending).toBe(6);
    await second.emit('t', { text: text(6) }, { id: 'r6' });
    const report = await second.close();
    expect(report.sent).toBe(7);
    expect(requestsIn(up.calls.flat()).map((e) => [e.id, e.seq])).toEqual(
      Array.from({ length: 7 }, (_, i) => [`r${i}`, i + 1]),
    );
  });

  it('refuses a policy out of range, naming the setting', () => {
    const { client } = fakeClient();
    expect(() => createProducer({ busName: 'b', tenant: 'acme', client, pack: { maxItems: 0 } })).toThrow(
      'pack.maxItems must be a whole number from 1 to 100000',
    );
    expect(() =>
      createProducer({ busName: 'b', tenant: 'acme', client, pack: { maxEntryBytes: 2_000_000 } }),
    ).toThrow('pack.maxEntryBytes must be a whole number from 1024 to 1048576');
    expect(() =>
      createProducer({ busName: 'b', tenant: 'acme', client, pack: { codec: 'gzip' as never } }),
    ).toThrow('pack.codec must be "json" or "zstd", got "gzip"');
  });
});
