import {
  type BatchGetItemCommand,
  type BatchGetItemCommandOutput,
  type DynamoDBClient,
  GetItemCommand,
} from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  applyProcessed,
  EMPTY_TRACKED,
  type OrderingDecision,
  planStream,
  type TrackedStream,
} from '../../functions/core/stream-gate';
import { MAX_REMEMBERED_IDS } from '../../functions/core/stream-ids';
import { holdDelaySeconds, quotaDelaySeconds } from '../../functions/core/tenant-policy';
import { DynamoTenantState, TenantStateError } from '../../functions/shared/tenant-state';
import type { LocalDynamoDb } from '../../local/dynamodb';
import { dynaliteClient, startDynalite } from '../support/dynalite';

const TABLE = 'tenant-state-test';
let dynamo: LocalDynamoDb;
let client: DynamoDBClient;

beforeAll(async () => {
  dynamo = await startDynalite(TABLE);
  client = dynaliteClient(dynamo);
});
afterAll(async () => {
  client.destroy();
  await dynamo.stop();
});

const store = (nowMs: () => number) => new DynamoTenantState(client, TABLE, { now: nowMs, maxAttempts: 50 });

describe('DynamoDB tenant state (real dynalite)', () => {
  it('never over-grants: 4 concurrent takers on a burst of 50 get exactly 50 at t=0', async () => {
    // Retries after a lost conditional write, counted to show the takers really raced. (Which
    // takers get tokens is up to scheduling: under load one of them can take all 50.)
    let retries = 0;
    const bucket = new DynamoTenantState(client, TABLE, {
      now: () => 0,
      maxAttempts: 50,
      sleep: (ms) => {
        retries++;
        return new Promise((resolve) => setTimeout(resolve, ms));
      },
    });
    const limits = { ratePerSecond: 0.001, burst: 50 };
    const taker = async () => {
      let granted = 0;
      for (;;) {
        const result = await bucket.take('race', 1, limits);
        if (result.granted === 0) return granted;
        granted += result.granted;
      }
    };
    const grants = await Promise.all([taker(), taker(), taker(), taker()]);
    expect(grants.reduce((a, b) => a + b, 0)).toBe(50);
    expect(retries).toBeGreaterThan(0);
  });

  it('refills at the rate and says when the next token is due', async () => {
    let now = 1_000_000;
    const bucket = store(() => now);
    const limits = { ratePerSecond: 10, burst: 5 };
    expect(await bucket.take('refill', 8, limits)).toEqual({ granted: 5, retryAfterMs: 100 });
    now += 300;
    expect((await bucket.take('refill', 8, limits)).granted).toBe(3);
  });

  it('treats an expired bucket as full (dynalite has no TTL)', async () => {
    let now = 2_000_000;
    const bucket = store(() => now);
    const limits = { ratePerSecond: 1, burst: 2 };
    expect((await bucket.take('expiry', 2, limits)).granted).toBe(2);
    now += 3600_000;
    expect((await bucket.take('expiry', 2, limits)).granted).toBe(2);
  });

  it('updates stream state atomically under concurrent writers', async () => {
    const state = store(() => 5_000);
    await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        state.updateStream('acme', 'inbox', (current) =>
          applyProcessed(current ?? EMPTY_TRACKED, [{ seq: i + 1, decision: { kind: 'process' } }]),
        ),
      ),
    );
    const read = await state.readStream('acme', 'inbox');
    expect(read.tracked?.state).toEqual({ contiguous: 20, ahead: [] });
  });

  it('reports stream state past its expiry as expired', async () => {
    let now = 10_000;
    const state = store(() => now);
    await state.updateStream('acme', 'old', () => ({ state: { contiguous: 7, ahead: [] }, givenUp: [] }));
    now += 16 * 24 * 3600_000;
    expect(await state.readStream('acme', 'old')).toMatchObject({ expired: true, tracked: undefined });
  });

  it('keeps the ids that took the recent numbers, and reads a full window back within the item limit', async () => {
    const state = store(() => 30_000);
    const ids = Array.from({ length: MAX_REMEMBERED_IDS }, (_, i) => `${'x'.repeat(120)}-${i}`);
    await state.updateStream('ids', 'a', () => ({
      state: { contiguous: MAX_REMEMBERED_IDS, ahead: [] },
      givenUp: [],
      ids: { from: 1, ids },
    }));
    const read = await state.readStream('ids', 'a');
    expect(read.tracked?.ids).toEqual({ from: 1, ids });
    const item = await client.send(
      new GetItemCommand({ TableName: TABLE, Key: { pk: { S: 'stream#ids#a' } } }),
    );
    // Ids of the envelope's maximum length: the window stays far inside DynamoDB's 400 KB item.
    expect(JSON.stringify(item.Item).length).toBeLessThan(40_000);
    // State written before ids were kept reads as no window: nothing can be proven a duplicate.
    await state.updateStream('ids', 'legacy', () => ({ state: { contiguous: 3, ahead: [] }, givenUp: [] }));
    expect((await state.readStream('ids', 'legacy')).tracked).toEqual({
      state: { contiguous: 3, ahead: [] },
      givenUp: [],
    });
  });

  it('reads the bucket and several streams in one go, absent ones as never seen', async () => {
    const state = store(() => 20_000);
    await state.take('batch', 3, { ratePerSecond: 1, burst: 10 });
    await state.updateStream('batch', 'a', () => ({ state: { contiguous: 4, ahead: [6] }, givenUp: [] }));
    const read = (await state.readTenants([{ tenant: 'batch', streams: ['a', 'b'] }])).get('batch');
    if (!read) throw new Error('no read of tenant batch');
    expect(read.bucket.state).toEqual({ tokens: 7, updatedAtMs: 20_000 });
    expect(read.streams.get('a')).toMatchObject({
      expired: false,
      tracked: { state: { contiguous: 4, ahead: [6] } },
    });
    expect(read.streams.get('b')).toEqual({ expired: false, tracked: undefined });
  });

  it('reads several tenants in one call, each with its own bucket and streams', async () => {
    const state = store(() => 40_000);
    await state.take('multi-a', 2, { ratePerSecond: 1, burst: 10 });
    await state.updateStream('multi-b', 'a', () => ({ state: { contiguous: 9, ahead: [] }, givenUp: [] }));
    const reads = await state.readTenants([
      { tenant: 'multi-a', streams: ['a'] },
      { tenant: 'multi-b', streams: ['a', 'b'] },
    ]);
    expect([...reads.keys()]).toEqual(['multi-a', 'multi-b']);
    expect(reads.get('multi-a')?.bucket.state).toEqual({ tokens: 8, updatedAtMs: 40_000 });
    expect(reads.get('multi-a')?.streams.get('a')).toEqual({ expired: false, tracked: undefined });
    expect(reads.get('multi-b')?.bucket).toEqual({});
    expect(reads.get('multi-b')?.streams.get('a')?.tracked?.state.contiguous).toBe(9);
    expect([...(reads.get('multi-b')?.streams.keys() ?? [])]).toEqual(['a', 'b']);
  });

  it('writes from an earlier read, and starts over from a fresh read when another writer came first', async () => {
    const state = store(() => 30_000);
    const advance = (seq: number) => (current: TrackedStream | undefined) =>
      applyProcessed(current ?? EMPTY_TRACKED, [{ seq, decision: { kind: 'process' } }]);
    const first = await state.readStream('acme', 'race');
    const second = await state.readStream('acme', 'race');
    await state.updateStream('acme', 'race', advance(1), first);
    // `second` is stale now: the write must not overwrite seq 1.
    await state.updateStream('acme', 'race', advance(2), second);
    expect((await state.readStream('acme', 'race')).tracked?.state).toEqual({ contiguous: 2, ahead: [] });

    const limits = { ratePerSecond: 0.001, burst: 5 };
    const bucket = (await state.readTenants([{ tenant: 'acme', streams: [] }])).get('acme')?.bucket;
    expect(await state.take('acme', 3, limits, bucket)).toMatchObject({ granted: 3 });
    // The same (stale) read again: the second take sees the 2 tokens left, never 5.
    expect(await state.take('acme', 3, limits, bucket)).toMatchObject({ granted: 2 });
  });
});

describe('DynamoDB tenant state reads (stub client)', () => {
  /** A client that answers BatchGetItem with no items, leaving unprocessed what `unprocess` picks. */
  function stubClient(unprocess: (keys: string[], call: number) => string[]) {
    const requests: string[][] = [];
    const client = {
      async send(command: BatchGetItemCommand): Promise<Partial<BatchGetItemCommandOutput>> {
        const keys = (command.input.RequestItems?.[TABLE]?.Keys ?? []).map((key) => key.pk?.S as string);
        requests.push(keys);
        const left = unprocess(keys, requests.length);
        return {
          Responses: { [TABLE]: [] },
          UnprocessedKeys: left.length ? { [TABLE]: { Keys: left.map((pk) => ({ pk: { S: pk } })) } } : {},
        };
      },
    } as unknown as DynamoDBClient;
    return { client, requests };
  }
  const manyStreams = (count: number) => [
    { tenant: 'a', streams: Array.from({ length: count }, (_, i) => `s${i}`) },
    { tenant: 'b', streams: [] },
  ];

  it('splits past 100 keys into requests sent together, with no wait in between', async () => {
    const { client, requests } = stubClient(() => []);
    const sleeps: number[] = [];
    const state = new DynamoTenantState(client, TABLE, { sleep: async (ms) => void sleeps.push(ms) });
    const reads = await state.readTenants(manyStreams(248));
    expect(requests.map((keys) => keys.length)).toEqual([100, 100, 50]);
    expect(new Set(requests.flat()).size).toBe(250);
    expect(sleeps).toEqual([]);
    expect(reads.get('a')?.streams.size).toBe(248);
    expect(reads.get('b')).toEqual({ bucket: {}, streams: new Map() });
  });

  it('retries only the keys left unprocessed, after a backoff', async () => {
    const { client, requests } = stubClient((keys, call) => (call === 1 ? keys.slice(0, 2) : []));
    const sleeps: number[] = [];
    const state = new DynamoTenantState(client, TABLE, { sleep: async (ms) => void sleeps.push(ms) });
    await state.readTenants(manyStreams(3));
    expect(requests).toEqual([
      ['bucket#a', 'stream#a#s0', 'stream#a#s1', 'stream#a#s2', 'bucket#b'],
      ['bucket#a', 'stream#a#s0'],
    ]);
    expect(sleeps).toHaveLength(1);
  });

  it('gives up with the keys still unprocessed after maxAttempts rounds', async () => {
    const { client, requests } = stubClient((keys) => keys.slice(0, 1));
    const state = new DynamoTenantState(client, TABLE, { maxAttempts: 3, sleep: async () => {} });
    const read = state.readTenants(manyStreams(1));
    await expect(read).rejects.toThrow(TenantStateError);
    await expect(read).rejects.toThrow('tenant state bucket#a could not be read (unprocessed keys)');
    expect(requests).toHaveLength(3);
  });
});

describe('stream gate', () => {
  const hold = { ordering: 'hold' as const, maxHoldSeconds: 60 };
  const flag = { ordering: 'flag' as const, maxHoldSeconds: 60 };
  const items = (...seqs: number[]) => seqs.map((seq) => ({ id: `e${seq}`, eventId: `e${seq}`, seq }));
  const kinds = (decisions: Map<string, OrderingDecision>) =>
    Object.fromEntries([...decisions].map(([id, d]) => [id, d.kind]));

  it('processes a swap in order within a batch and skips a repeat', () => {
    const decisions = planStream(EMPTY_TRACKED, items(2, 1, 2), hold, 0);
    expect(kinds(decisions)).toEqual({ e1: 'process', e2: 'duplicate' });
  });

  it('flags a gap under flag, holds it under hold, and releases it once the hold runs out', () => {
    expect(planStream(EMPTY_TRACKED, items(1, 4), flag, 0).get('e4')).toEqual({
      kind: 'process',
      gap: [2, 3],
    });
    expect(planStream(EMPTY_TRACKED, items(1, 4), hold, 0).get('e4')).toMatchObject({
      kind: 'hold',
      firstHeldAtMs: 0,
      missingFrom: 2,
      missingTo: 3,
    });
    const released = planStream(
      EMPTY_TRACKED,
      [{ id: 'e4', eventId: 'e4', seq: 4, firstHeldAtMs: 0 }, ...items(5)],
      hold,
      60_000,
    );
    expect(released.get('e4')).toEqual({
      kind: 'process',
      release: { missingFrom: 1, missingTo: 3, heldForMs: 60_000 },
    });
    expect(released.get('e5')).toEqual({ kind: 'process' });
  });

  it('processes an event that arrives after its gap was given up, instead of calling it a duplicate', () => {
    const after = applyProcessed(EMPTY_TRACKED, [
      {
        seq: 4,
        eventId: 'e4',
        decision: { kind: 'process', release: { missingFrom: 1, missingTo: 3, heldForMs: 1 } },
      },
    ]);
    expect(after).toMatchObject({ state: { contiguous: 4, ahead: [] }, givenUp: [[1, 3]] });
    expect(planStream(after, items(2, 4), hold, 0)).toEqual(
      new Map([
        ['e2', { kind: 'process', late: true }],
        ['e4', { kind: 'duplicate' }],
      ]),
    );
  });

  it('never orders or skips sequence number 0 (unsequenced events)', () => {
    const tracked = applyProcessed(EMPTY_TRACKED, [{ seq: 0, decision: { kind: 'process' } }]);
    expect(tracked).toEqual(EMPTY_TRACKED);
    expect(
      kinds(planStream(tracked, [...items(0), { id: 'again', eventId: 'again', seq: 0 }], hold, 0)),
    ).toEqual({
      e0: 'process',
      again: 'process',
    });
  });

  it('bounds delays by the SQS maximum and the hold', () => {
    expect(quotaDelaySeconds(0)).toBe(1);
    expect(quotaDelaySeconds(2500)).toBe(3);
    expect(quotaDelaySeconds(10_000_000)).toBe(900);
    const policy = { ratePerSecond: 1, burst: 1, ordering: 'hold' as const, maxHoldSeconds: 60 };
    expect(holdDelaySeconds(policy, 0)).toBe(15);
    expect(holdDelaySeconds(policy, 58_500)).toBe(2);
  });
});
