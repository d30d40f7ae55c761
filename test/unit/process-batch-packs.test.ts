import { describe, expect, it } from 'vitest';
import { archiveRowOf } from '../../functions/core/archive/rows';
import { createPackCodec } from '../../functions/core/packing/codec';
import { expandPack, itemOf } from '../../functions/core/packing/pack';
import type { PutEventsEntry } from '../../functions/core/put-events';
import { ResultCache } from '../../functions/core/result-cache';
import { type BatchDeps, processBatch } from '../../functions/inference/process-batch';
import { ArchiveWriter } from '../../functions/shared/archive-writer';
import { ClaimMissingError } from '../../functions/shared/claims';
import type { DeadLetter } from '../../functions/shared/dead-letters';
import { requestEvent, sqsRecord } from '../support/sqs-records';
import { binaryScorer, SPAM_TASK, textOf } from '../support/stub-scorer';

const codec = await createPackCodec();

/** Confident ham for most texts, unsure for "maybe", confident spam for "spam". */
const scorer = binaryScorer((input) => {
  const text = textOf(input);
  return text.includes('maybe') ? 0.5 : text.includes('spam') ? 0.99 : 0.01;
});

function harness(options: Partial<BatchDeps> = {}) {
  const published: PutEventsEntry[] = [];
  const letters: DeadLetter[] = [];
  const deps: BatchDeps = {
    task: SPAM_TASK,
    tier: 1,
    lastTier: false,
    threshold: 0.8,
    maxReceiveCount: 3,
    scorer,
    publisher: {
      async publish(entries) {
        published.push(...entries);
        return { failed: new Map() };
      },
    },
    deadLetters: {
      async send(batch) {
        letters.push(...batch);
        return new Set();
      },
    },
    claims: { resolve: async () => 'claimed text' },
    cache: new ResultCache(),
    decoder: codec,
    encoder: codec,
    ...options,
  };
  return { deps, published, letters };
}

/** A pack of `texts` as the tier-1 rule delivers it: the requests' own envelopes, packed. */
function packEvent(
  texts: readonly (string | Record<string, unknown>)[],
  options: { encoded?: boolean; count?: number } = {},
): string {
  const items = texts.map((text, i) => {
    if (typeof text !== 'string') return text;
    const detail = JSON.parse(requestEvent(`r${i + 1}`, text)).detail;
    return itemOf(detail);
  });
  const event = JSON.parse(requestEvent('r0', 'unused'));
  event.id = 'eb-pack-1';
  event.detail = {
    packId: 'r1..rN#3',
    tenant: 'acme',
    type: 'message.received',
    time: '2026-11-28T12:00:00Z',
    count: options.count ?? items.length,
    ...(options.encoded ? { data: codec.encode(items) } : { items }),
  };
  return JSON.stringify(event);
}

const detailOf = (entry: PutEventsEntry) => JSON.parse(entry.Detail as string);
/** The items of a published pack, or the single event's detail. */
const resultsOf = (entry: PutEventsEntry) => {
  const detail = detailOf(entry);
  return detail.packId ? expandPack(detail, codec).envelopes.map((e) => e.envelope) : [detail];
};

describe('a pack through a tier: one work item per request', () => {
  it('answers every request of a pack with one result pack per kind, each result under its own id', async () => {
    const h = harness();
    const { response, report } = await processBatch(
      [sqsRecord(packEvent(['hello', 'buy spam', 'maybe', 'maybe not']))],
      h.deps,
    );
    expect(response.batchItemFailures).toEqual([]);
    expect(report.records).toBe(4);
    // No archive writer here: the 4 request rows and 4 result rows are counted as unwritten.
    expect(report.unarchivedRows).toBe(8);
    const byType = Object.fromEntries(h.published.map((e) => [e.DetailType, e]));
    const completed = byType.InferenceCompleted as PutEventsEntry;
    const escalated = byType.EscalationRequested as PutEventsEntry;
    expect(h.published).toHaveLength(2);
    expect(detailOf(completed)).toMatchObject({ tenant: 'acme', task: 'spam', count: 2 });
    expect(resultsOf(completed).map((r) => [r.id, (r.payload as { label: string }).label])).toEqual([
      ['acme:r1:t1:completed', 'ham'],
      ['acme:r2:t1:completed', 'spam'],
    ]);
    expect(detailOf(escalated)).toMatchObject({ tenant: 'acme', task: 'spam', count: 2 });
    expect(resultsOf(escalated).map((r) => [r.id, (r.payload as { text: string }).text])).toEqual([
      ['acme:r3:t1:escalated', 'maybe'],
      ['acme:r4:t1:escalated', 'maybe not'],
    ]);
  });

  it('answers an encoded pack with encoded results, and a single event with a single result', async () => {
    const h = harness();
    await processBatch(
      [sqsRecord(packEvent(['hello', 'buy spam'], { encoded: true })), sqsRecord(requestEvent('solo', 'hi'))],
      h.deps,
    );
    const packed = h.published.map(detailOf).filter((d) => d.packId);
    expect(packed).toHaveLength(1);
    expect(packed[0].data).toMatch(/^zstd-json-1:/);
    expect(packed[0].items).toBeUndefined();
    expect(resultsOf(h.published.find((e) => detailOf(e).packId) as PutEventsEntry).map((r) => r.id)).toEqual(
      ['acme:r1:t1:completed', 'acme:r2:t1:completed'],
    );
    const single = h.published.map(detailOf).filter((d) => !d.packId);
    expect(single.map((d) => d.id)).toEqual(['acme:solo:t1:completed']);
  });

  it('dead-letters only the poison request of a pack, as a plain single event with its reason', async () => {
    const h = harness();
    const poison = { id: 'bad', stream: 'inbox', seq: 2, tenant: 'globex' };
    const { response } = await processBatch([sqsRecord(packEvent(['hello', poison, 'spam again']))], h.deps);
    expect(response.batchItemFailures).toEqual([]);
    expect(h.letters).toHaveLength(1);
    const letter = h.letters[0] as DeadLetter;
    expect(letter.errorCode).toBe('InvalidEnvelope');
    expect(letter.errorMessage).toContain('item 1 of pack r1..rN#3 sets tenant="globex"');
    const body = JSON.parse(letter.body);
    // Completed with the pack's routing fields it left out, so it reads like any request.
    expect(body.detail).toEqual({ ...poison, type: 'message.received' });
    expect(body['detail-type']).toBe('InferenceRequested');
    expect(body.detail.packId).toBeUndefined();
    // The others are answered, in one pack.
    const results = h.published.filter((e) => e.DetailType !== 'InferenceFailed');
    expect(results.flatMap(resultsOf).map((r) => r.id)).toEqual([
      'acme:r1:t1:completed',
      'acme:r3:t1:completed',
    ]);
  });

  it('dead-letters a request whose payload is wrong as a single event that redrives like any request', async () => {
    const h = harness();
    const { envelope } = { envelope: itemOf(JSON.parse(requestEvent('r2', 'x')).detail) };
    const wrong = { ...envelope, payload: { nothing: true } };
    await processBatch([sqsRecord(packEvent(['hello', wrong]))], h.deps);
    expect(h.letters.map((l) => l.errorCode)).toEqual(['InvalidPayload']);
    const body = JSON.parse((h.letters[0] as DeadLetter).body);
    expect(body.detail).toMatchObject({ id: 'r2', tenant: 'acme', type: 'message.received' });
    // A lone result of a pack goes out as a plain event.
    const results = h.published.filter((e) => e.DetailType !== 'InferenceFailed');
    expect(results.map(detailOf).map((d) => [d.packId, d.id])).toEqual([[undefined, 'acme:r1:t1:completed']]);
  });

  it('dead-letters an unreadable pack whole, with the reason and its body byte for byte', async () => {
    const h = harness();
    const body = packEvent(['a', 'b'], { count: 3 });
    const { response } = await processBatch([sqsRecord(body)], h.deps);
    expect(response.batchItemFailures).toEqual([]);
    expect(h.letters.map((l) => [l.errorCode, l.body])).toEqual([['InvalidPack', body]]);
    expect(h.letters[0]?.errorMessage).toContain('says it holds 3 items, its packed part holds 2');
    expect(h.published.map((e) => e.DetailType)).toEqual(['InferenceFailed']);
  });

  it("hands a pack's message back once when one of its requests must be retried; the others are answered", async () => {
    const h = harness({
      claims: {
        resolve: async (claim) => {
          if (claim.key.endsWith('missing')) throw new ClaimMissingError('no such object');
          throw new Error('S3 is slow today');
        },
      },
    });
    const claimed = (seq: number) => ({
      ...itemOf(JSON.parse(requestEvent(`r${seq}`, 'x')).detail),
      payload: {
        claim: { bucket: 'claims-bucket', key: `claims/acme/r${seq}${seq === 2 ? '-missing' : ''}` },
      },
    });
    const record = sqsRecord(packEvent(['hello', claimed(2), claimed(3), 'spam']));
    const { response } = await processBatch([record], h.deps);
    // r3's claim is transiently unreadable: the message comes back, once; r2's is missing: poison.
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: record.messageId }]);
    expect(h.letters.map((l) => [l.errorCode, JSON.parse(l.body).detail.id])).toEqual([
      ['ClaimMissing', 'r2'],
    ]);
    const results = h.published.filter((e) => e.DetailType !== 'InferenceFailed');
    expect(results.flatMap(resultsOf).map((r) => r.id)).toEqual([
      'acme:r1:t1:completed',
      'acme:r4:t1:completed',
    ]);
  });

  it('retries the whole pack when its result pack cannot be published', async () => {
    const h = harness({
      publisher: {
        async publish(entries) {
          return { failed: new Map(entries.map((_, i) => [i, 'ThrottlingException: slow down'])) };
        },
      },
    });
    const record = sqsRecord(packEvent(['hello', 'spam']));
    const { response } = await processBatch([record], h.deps);
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: record.messageId }]);
  });

  it('takes a pack of escalations at tier 2', async () => {
    const tier1 = harness();
    await processBatch([sqsRecord(packEvent(['maybe', 'maybe so'], { encoded: true }))], tier1.deps);
    const escalation = tier1.published.find((e) => e.DetailType === 'EscalationRequested') as PutEventsEntry;
    const delivered = JSON.parse(packEvent([]));
    Object.assign(delivered, {
      'detail-type': escalation.DetailType,
      source: escalation.Source,
      detail: detailOf(escalation),
    });
    const tier2 = harness({ tier: 2, lastTier: true });
    const { response } = await processBatch([sqsRecord(JSON.stringify(delivered))], tier2.deps);
    expect(response.batchItemFailures).toEqual([]);
    expect(tier2.letters).toEqual([]);
    expect(tier2.published.flatMap(resultsOf).map((r) => r.id)).toEqual([
      'acme:r1:t2:completed',
      'acme:r2:t2:completed',
    ]);
  });
});

describe('archive rows of packs: one per request, written by the handler', () => {
  function archived(options: { failFirst?: number } = {}) {
    const calls: string[][] = [];
    let failures = options.failFirst ?? 0;
    const writer = new ArchiveWriter(
      {
        async putRecordBatch(records) {
          calls.push([...records]);
          if (failures > 0) {
            failures--;
            return records.map(() => 'ServiceUnavailableException: slow down');
          }
          return records.map(() => undefined);
        },
      },
      { sleep: async () => {}, maxAttempts: 2 },
    );
    let next = 0;
    const h = harness({
      archive: writer,
      publisher: {
        async publish(entries) {
          h.published.push(...entries);
          return { failed: new Map(), eventIds: new Map(entries.map((_, i) => [i, `eb-out-${next++}`])) };
        },
      },
    });
    /** The rows of the last successful call, split back into JSON documents. */
    const rows = () =>
      (calls.at(-1) ?? []).flatMap((data) => data.replace(/}{"event_id"/g, '}\n{"event_id"').split('\n'));
    return { h, calls, rows };
  }

  it("writes each request's row and each result's row, the very rows the rules make for single events", async () => {
    const { h, calls, rows } = archived();
    const poison = { id: 'bad', stream: 'inbox', seq: 9 };
    const body = packEvent(['hello', 'maybe', poison, 'spam']);
    await processBatch([sqsRecord(body)], h.deps);
    // Rows travel concatenated in one Firehose record, not one record each.
    expect(calls).toHaveLength(1);
    expect(calls[0]).toHaveLength(1);
    const written = rows().map((row) => JSON.parse(row));
    const pack = JSON.parse(body);
    const requestRows = written.filter((r) => r.detail_type === 'InferenceRequested');
    // The poison item lacks envelope fields: its rule (NoEnvelope) writes the event's columns only.
    expect(requestRows.map((r) => r.envelope_id)).toEqual(['r1', 'r2', undefined, 'r4']);
    expect(requestRows.map((r) => r.event_id)).toEqual(Array(4).fill('eb-pack-1'));
    // Byte for byte the row of the request as a single event (its rule's transformer's output).
    const r1 = { ...pack, detail: expandPack(pack.detail).envelopes[0]?.envelope };
    expect(rows()[0]).toBe(archiveRowOf(r1, new Date(pack.time).toISOString()));
    const completed = h.published.find((e) => e.DetailType === 'InferenceCompleted') as PutEventsEntry;
    const completedRows = written.filter((r) => r.detail_type === 'InferenceCompleted');
    expect(completedRows.map((r) => [r.envelope_id, r.source_event_id, r.label, r.event_id])).toEqual([
      ['acme:r1:t1:completed', 'r1', 'ham', completedRows[0]?.event_id],
      ['acme:r4:t1:completed', 'r4', 'spam', completedRows[0]?.event_id],
    ]);
    expect(completedRows[0]?.event_time).toBe(`${(completed.Time as Date).toISOString().slice(0, 19)}Z`);
    expect(completedRows[0]).toMatchObject({ account: '000000000000', region: 'eu-west-1', task: 'spam' });
    // The lone escalation went as a single event: the rule archives it, the handler does not.
    expect(written.filter((r) => r.detail_type === 'EscalationRequested')).toEqual([]);
  });

  it('writes no row for single events (the rules archive them)', async () => {
    const { h, calls } = archived();
    const { report } = await processBatch([sqsRecord(requestEvent('solo', 'hi'))], h.deps);
    expect(report.unarchivedRows).toBe(0);
    expect(calls).toEqual([]);
    expect(h.published).toHaveLength(1);
  });

  it('retries a record Firehose refuses, and hands the pack back when it is still refused', async () => {
    const once = archived({ failFirst: 1 });
    const record = sqsRecord(packEvent(['hello', 'spam']));
    expect((await processBatch([record], once.h.deps)).response.batchItemFailures).toEqual([]);
    expect(once.calls).toHaveLength(2);
    const always = archived({ failFirst: 99 });
    const again = sqsRecord(packEvent(['hello', 'spam']));
    expect((await processBatch([again], always.h.deps)).response.batchItemFailures).toEqual([
      { itemIdentifier: again.messageId },
    ]);
  });
});
