import type { SQSRecord } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { itemOf } from '../../functions/core/packing/pack';
import type { PutEventsEntry } from '../../functions/core/put-events';
import { ResultCache } from '../../functions/core/result-cache';
import type { TrackedStream } from '../../functions/core/stream-gate';
import type { TenantPolicy } from '../../functions/core/tenant-policy';
import { type BatchDeps, processBatch, type Scorer } from '../../functions/inference/process-batch';
import { ClaimMissingError } from '../../functions/shared/claims';
import type { DeadLetter } from '../../functions/shared/dead-letters';
import type {
  StreamRead,
  TenantRead,
  TenantReadRequest,
  TenantStateStore,
} from '../../functions/shared/tenant-state';
import { requestEvent, sqsRecord } from '../support/sqs-records';
import { binaryScorer, SPAM_TASK } from '../support/stub-scorer';

/**
 * Dead-lettered records in their stream's order, through the tier-1 batch handler with in-memory
 * doubles: a poison record gives up its number (after its DLQ copy is stored), so the stream
 * moves on, and a redrive of it is processed late rather than skipped.
 */
class MemoryTenantState implements TenantStateStore {
  readonly streams = new Map<string, TrackedStream>();
  readonly calls: string[] = [];

  async readTenants(requests: readonly TenantReadRequest[]): Promise<Map<string, TenantRead>> {
    this.calls.push('readTenants');
    return new Map(
      requests.map(({ tenant, streams }) => [
        tenant,
        { bucket: {}, streams: new Map(streams.map((stream) => [stream, this.readOf(tenant, stream)])) },
      ]),
    );
  }

  async take(_tenant: string, requested: number) {
    this.calls.push('take');
    return { granted: requested, retryAfterMs: 0 };
  }

  async readStream(tenant: string, stream: string): Promise<StreamRead> {
    this.calls.push('readStream');
    return this.readOf(tenant, stream);
  }

  async updateStream(
    tenant: string,
    stream: string,
    mutate: (current: TrackedStream | undefined) => TrackedStream,
  ): Promise<TrackedStream> {
    this.calls.push('updateStream');
    const next = mutate(this.streams.get(`${tenant}#${stream}`));
    this.streams.set(`${tenant}#${stream}`, next);
    return next;
  }

  tracked(stream = 'inbox') {
    return this.streams.get(`acme#${stream}`);
  }

  private readOf(tenant: string, stream: string): StreamRead {
    return { tracked: this.streams.get(`${tenant}#${stream}`), expired: false };
  }
}

const MAX_RECEIVE_COUNT = 3;
const flag: TenantPolicy = { ratePerSecond: 1000, burst: 1000, ordering: 'flag', maxHoldSeconds: 60 };
const hold: TenantPolicy = { ...flag, ordering: 'hold' };

function harness(policy: TenantPolicy) {
  const store = new MemoryTenantState();
  const published: PutEventsEntry[] = [];
  const letters: DeadLetter[] = [];
  const control = { scorerDown: false, dlqDown: false };
  const scorer: Scorer = binaryScorer(() => 0.01, { down: () => control.scorerDown });
  const deps: BatchDeps = {
    task: SPAM_TASK,
    tier: 1,
    lastTier: false,
    threshold: 0.9,
    maxReceiveCount: MAX_RECEIVE_COUNT,
    scorer,
    publisher: {
      async publish(entries) {
        published.push(...entries);
        return { failed: new Map() };
      },
    },
    deadLetters: {
      async send(batch) {
        if (control.dlqDown) return new Set(batch.map((_, index) => index));
        letters.push(...batch);
        return new Set();
      },
    },
    claims: {
      async resolve(claim) {
        throw new ClaimMissingError(`no ${claim.key}`);
      },
    },
    cache: new ResultCache(),
    tenancy: {
      store,
      requeuer: { requeue: async () => new Set() },
      policies: { acme: policy },
    },
    now: () => new Date(1_000_000),
  };
  const run = (...records: SQSRecord[]) => processBatch(records, deps);
  /** The result published for a source event, as its `detail`. */
  const resultOf = (sourceId: string) =>
    published
      .map((entry) => JSON.parse(entry.Detail as string))
      // A pack's results are its items (plain JSON here: the harness has no codec).
      .flatMap((detail) => (detail.packId ? detail.items : [detail]))
      .find((detail) => detail.payload.sourceEventId === sourceId && detail.type !== 'inference.failed');
  return { store, letters, control, run, resultOf };
}

const request = (seq: number, receiveCount = 1) =>
  sqsRecord(requestEvent(`req-${seq}`, `message ${seq}`), receiveCount);

describe('dead-lettered records in their stream (tier-1 batch)', () => {
  it('lets the stream move past a dead-lettered number, and processes its redrive late', async () => {
    const { store, letters, control, run, resultOf } = harness(flag);
    await run(request(1));

    // seq 2 on its last receive while the model is down: dead-lettered with the reason.
    control.scorerDown = true;
    const exhausted = request(2, MAX_RECEIVE_COUNT);
    const { response, report } = await run(exhausted);
    control.scorerDown = false;
    expect(response.batchItemFailures).toEqual([]);
    expect(report.deadLettered).toBe(1);
    expect(letters.map((l) => l.errorCode)).toEqual(['RetriesExhausted.InferenceFailed']);
    expect(store.tracked()).toEqual({
      state: { contiguous: 2, ahead: [] },
      givenUp: [[2, 2]],
      ids: { from: 1, ids: ['req-1'] },
    });

    const third = await run(request(3));
    expect(third.report).toMatchObject({ completed: 1, outOfOrder: 0 });
    expect(resultOf('req-3').payload.ordering).toBeUndefined();

    // The DLQ copy redriven: the same body, received afresh.
    const redrive = await run(sqsRecord(exhausted.body));
    expect(redrive.report).toMatchObject({ completed: 1, sequenceDuplicates: 0, outOfOrder: 1 });
    expect(resultOf('req-2').payload.ordering).toEqual({ late: true });
  });

  it('gives up the number of an InvalidPayload record, so the next one is not held', async () => {
    const { store, letters, run, resultOf } = harness(hold);
    await run(request(1));
    const poison = sqsRecord(requestEvent('req-2', 'x').replace('"text":"x"', '"text":42'));
    const { report } = await run(poison);
    expect(report).toMatchObject({ poison: 1, deadLettered: 1 });
    expect(letters.map((l) => l.errorCode)).toEqual(['InvalidPayload']);

    const third = await run(request(3));
    expect(third.report).toMatchObject({ completed: 1, held: 0, outOfOrder: 0 });
    expect(resultOf('req-3').payload.ordering).toBeUndefined();
    expect(store.tracked()).toEqual({
      state: { contiguous: 3, ahead: [] },
      givenUp: [[2, 2]],
      ids: { from: 1, ids: ['req-1', null, 'req-3'] },
    });
  });

  it('folds the given-up number into the batch write of its stream: one write per stream', async () => {
    const { store, run } = harness(flag);
    const claimed = sqsRecord(
      requestEvent('req-2', 'x').replace('"text":"x"', '"claim":{"bucket":"gone","key":"claims/acme/k"}'),
    );
    const { report } = await run(request(1), claimed, request(3));
    expect(report).toMatchObject({ completed: 2, deadLettered: 1, outOfOrder: 0 });
    expect(store.calls).toEqual(['readTenants', 'take', 'updateStream']);
    expect(store.tracked()).toEqual({
      state: { contiguous: 3, ahead: [] },
      givenUp: [[2, 2]],
      ids: { from: 1, ids: ['req-1', null, 'req-3'] },
    });
  });

  it('records nothing for a dead letter that could not be stored, and retries the record', async () => {
    const { store, control, run } = harness(flag);
    await run(request(1));
    control.scorerDown = true;
    control.dlqDown = true;
    const exhausted = request(2, MAX_RECEIVE_COUNT);
    const { response } = await run(exhausted);
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: exhausted.messageId }]);
    expect(store.tracked()).toEqual({
      state: { contiguous: 1, ahead: [] },
      givenUp: [],
      ids: { from: 1, ids: ['req-1'] },
    });
  });

  it('leaves the stream alone for poison without a trustworthy envelope', async () => {
    const { store, run } = harness(flag);
    await run(request(1));
    store.calls.length = 0;
    const noStream = sqsRecord(requestEvent('req-2', 'x').replace('"stream":"inbox",', ''));
    const { report } = await run(noStream, sqsRecord('{not json'));
    expect(report).toMatchObject({ poison: 2, deadLettered: 2 });
    expect(store.calls).toEqual([]);
    expect(store.tracked()).toEqual({
      state: { contiguous: 1, ahead: [] },
      givenUp: [],
      ids: { from: 1, ids: ['req-1'] },
    });
  });
});

describe('reused sequence numbers (tier-1 batch)', () => {
  it('processes another event at a used number and flags it; skips the same event sent again', async () => {
    const { store, run, resultOf } = harness(hold);
    await run(request(1), request(2));
    const before = store.tracked();

    const reuse = sqsRecord(requestEvent('other-2', 'another message'));
    const { report } = await run(reuse, request(2));
    expect(report).toMatchObject({ completed: 1, sequenceReused: 1, sequenceDuplicates: 1, outOfOrder: 0 });
    expect(resultOf('other-2').payload.ordering).toEqual({ reused: { seq: 2, earlierId: 'req-2' } });
    expect(store.tracked()).toEqual(before);
  });
});

describe('redrive after more than 100 given-up ranges (tier-1 batch)', () => {
  it('processes every redriven record late: no given-up number is forgotten', async () => {
    const { store, control, run, resultOf } = harness(flag);
    const lettered: SQSRecord[] = [];
    for (let seq = 1; seq <= 300; seq += 2) {
      await run(request(seq));
      control.scorerDown = true;
      const exhausted = request(seq + 1, MAX_RECEIVE_COUNT);
      await run(exhausted);
      control.scorerDown = false;
      lettered.push(exhausted);
    }
    expect(lettered).toHaveLength(150);
    expect(store.tracked()?.givenUp.length).toBeLessThanOrEqual(100);

    const { report } = await run(...lettered.map((r) => sqsRecord(r.body)));
    expect(report).toMatchObject({
      completed: 150,
      sequenceDuplicates: 0,
      sequenceReused: 0,
      outOfOrder: 150,
    });
    for (let seq = 2; seq <= 300; seq += 2)
      expect(resultOf(`req-${seq}`).payload.ordering).toEqual({ late: true });
    // A processed number inside the merged range (2 to beyond 51) is still the same event when sent again.
    const [merged] = store.tracked()?.givenUp ?? [];
    expect(merged?.[0]).toBe(2);
    expect(merged?.[1]).toBeGreaterThan(51);
    const again = await run(request(51));
    expect(again.report).toMatchObject({ completed: 0, sequenceDuplicates: 1 });
  });
});

describe('a pack in its streams (tier-1 batch)', () => {
  /** Requests 1..n of stream inbox in one pack; request 2 names a claim that does not exist. */
  const pack = (n: number, receiveCount = 1) => {
    const items = Array.from({ length: n }, (_, i) => {
      const detail = itemOf(JSON.parse(requestEvent(`req-${i + 1}`, `message ${i + 1}`)).detail);
      return i === 1
        ? { ...detail, payload: { claim: { bucket: 'claims-bucket', key: 'claims/acme/k2' } } }
        : detail;
    });
    const event = JSON.parse(requestEvent('pack', 'x'));
    event.detail = {
      packId: 'req-1..req-n',
      tenant: 'acme',
      type: 'message.received',
      time: event.time,
      count: n,
      items,
    };
    const record = sqsRecord(JSON.stringify(event), receiveCount);
    return { ...record, messageId: 'pack-message' };
  };

  it('retries the pack whole when one request must be retried: the others come back as sequence duplicates, answered once', async () => {
    const { store, letters, control, run, resultOf } = harness(flag);
    // Request 2 is poison, but the DLQ is down: it must be retried, so the pack's message comes back.
    control.dlqDown = true;
    const first = await run(pack(3));
    expect(first.response.batchItemFailures).toEqual([{ itemIdentifier: 'pack-message' }]);
    expect(resultOf('req-1')).toBeDefined();
    expect(resultOf('req-3')).toBeDefined();
    control.dlqDown = false;

    const second = await run(pack(3, 2));
    expect(second.response.batchItemFailures).toEqual([]);
    expect(second.report.sequenceDuplicates).toBe(2);
    expect(second.report.completed).toBe(0);
    expect(letters.map((l) => [JSON.parse(l.body).detail.id, l.errorCode])).toEqual([
      ['req-2', 'ClaimMissing'],
    ]);
    expect(store.tracked()?.state).toEqual({ contiguous: 3, ahead: [] });
  });
});
