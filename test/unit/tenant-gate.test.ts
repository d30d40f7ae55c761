import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Envelope } from '../../functions/core/envelope';
import type { TenantPolicy } from '../../functions/core/tenant-policy';
import { type GateItem, gate, type Tenancy } from '../../functions/inference/tenant-gate';
import { DynamoTenantState } from '../../functions/shared/tenant-state';
import type { LocalDynamoDb } from '../../local/dynamodb';
import { dynaliteClient, startDynalite } from '../support/dynalite';
import { requestEvent, sqsRecord } from '../support/sqs-records';

/**
 * The tenant gate against the real DynamoDB tenant state (dynalite), counting the SDK commands
 * it sends: one read per batch, whatever the number of tenants in it.
 */
const TABLE = 'tenant-gate-test';
let dynamo: LocalDynamoDb;
let client: DynamoDBClient;
let store: DynamoTenantState;
/** Command names sent since the last reset, e.g. `BatchGetItemCommand`. */
const sent: string[] = [];
const faults = { batchGet: undefined as Error | undefined };
const sleeps: number[] = [];

beforeAll(async () => {
  dynamo = await startDynalite(TABLE);
  client = dynaliteClient(dynamo);
  client.middlewareStack.add(
    (next, context) => async (args) => {
      sent.push(context.commandName ?? 'unknown');
      if (faults.batchGet && context.commandName === 'BatchGetItemCommand') throw faults.batchGet;
      return next(args);
    },
    { step: 'initialize', name: 'countCommands' },
  );
  store = new DynamoTenantState(client, TABLE, {
    sleep: async (ms) => {
      sleeps.push(ms);
    },
  });
});
afterAll(async () => {
  client.destroy();
  await dynamo.stop();
});
beforeEach(() => {
  faults.batchGet = undefined;
  sleeps.length = 0;
});

const policy: TenantPolicy = { ratePerSecond: 1000, burst: 1000, ordering: 'flag', maxHoldSeconds: 60 };

function tenancy(...tenants: string[]): Tenancy {
  return {
    store,
    requeuer: { requeue: async () => new Set() },
    policies: Object.fromEntries(tenants.map((tenant) => [tenant, policy])),
  };
}

function item(tenant: string, stream: string, seq: number): GateItem {
  const record = sqsRecord(requestEvent(`${tenant}-${stream}-${seq}`, 'hello', tenant));
  const envelope = { ...JSON.parse(record.body).detail, stream, seq } as Envelope;
  return { record, envelope };
}

/** Marks `seq` processed in the stream's state by item(tenant, stream, seq), as an earlier batch would have. */
const seed = (tenant: string, stream: string, seq: number) =>
  store.updateStream(tenant, stream, () => ({
    state: { contiguous: seq, ahead: [] },
    givenUp: [],
    ids: { from: seq, ids: [`${tenant}-${stream}-${seq}`] },
  }));

const count = (command: string) => sent.filter((name) => name === command).length;
const ids = (items: readonly { readonly item: GateItem }[]) =>
  items.map(({ item }) => item.envelope.id).sort();
const resetCounts = () => {
  sent.length = 0;
};

describe('tenant gate reads (real dynalite)', () => {
  it('reads every policy tenant of a batch in one BatchGetItem, then takes once per tenant', async () => {
    await seed('acme', 'inbox', 2);
    resetCounts();
    const duplicate = item('acme', 'inbox', 2);
    const rest = [
      item('acme', 'inbox', 3),
      item('globex', 'inbox', 1),
      item('globex', 'orders', 1),
      item('initech', 'inbox', 0),
      item('initech', 'orders', 1),
      item('umbrella', 'inbox', 5),
    ];
    const outcome = await gate([duplicate, ...rest], tenancy('acme', 'globex', 'initech'), Date.now());

    expect(count('BatchGetItemCommand')).toBe(1);
    expect(count('GetItemCommand')).toBe(0);
    expect(count('PutItemCommand')).toBe(3);
    expect(outcome.duplicates).toEqual([duplicate]);
    expect(ids(outcome.proceed)).toEqual(rest.map((i) => i.envelope.id).sort());
    expect(outcome.unavailable).toEqual([]);
    expect(outcome.requeue).toEqual([]);
    // Only sequenced streams have state: initech's unsequenced inbox was not read.
    expect([...outcome.streams.values()].map(({ tenant, stream }) => `${tenant}/${stream}`).sort()).toEqual([
      'acme/inbox',
      'globex/inbox',
      'globex/orders',
      'initech/orders',
    ]);
    expect(outcome.streams.get(JSON.stringify(['acme', 'inbox']))?.base.state.contiguous).toBe(2);
  });

  it('makes no read for a batch without policy tenants', async () => {
    resetCounts();
    const items = [item('umbrella', 'inbox', 1), item('umbrella', 'inbox', 2)];
    const outcome = await gate(items, tenancy('acme'), Date.now());
    expect(sent).toEqual([]);
    expect(outcome.proceed).toEqual(items.map((i) => ({ item: i })));
  });

  it('marks every record of every policy tenant unavailable when the one read fails', async () => {
    resetCounts();
    faults.batchGet = new Error('tenant table unreachable');
    const gated = [
      item('acme', 'inbox', 7),
      item('acme', 'inbox', 0),
      item('globex', 'inbox', 1),
      item('initech', 'orders', 4),
    ];
    const free = item('umbrella', 'inbox', 1);
    const outcome = await gate([...gated, free], tenancy('acme', 'globex', 'initech'), Date.now());

    expect(sent).toEqual(['BatchGetItemCommand']);
    expect(outcome.unavailable).toEqual(gated.map((i) => ({ item: i, message: 'tenant table unreachable' })));
    expect(outcome.proceed).toEqual([{ item: free }]);
    expect(outcome.streams.size).toBe(0);
  });

  it('splits a read past 100 keys into as few BatchGetItems as needed, without waiting between them', async () => {
    // 3 buckets + 3 x 40 streams = 123 keys; the last stream's key falls into the second request.
    const tenants = ['split-a', 'split-b', 'split-c'];
    await seed('split-c', 's39', 1);
    resetCounts();
    const items = tenants.flatMap((tenant) => Array.from({ length: 40 }, (_, i) => item(tenant, `s${i}`, 1)));
    const outcome = await gate(items, tenancy(...tenants), Date.now());

    expect(count('BatchGetItemCommand')).toBe(2);
    expect(sleeps).toEqual([]);
    expect(outcome.duplicates.map((i) => i.envelope.id)).toEqual(['split-c-s39-1']);
    expect(outcome.proceed).toHaveLength(119);
    expect(outcome.streams.size).toBe(120);
  });
});
