import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EMPTY_TRACKED } from '../../functions/core/stream-gate';
import { DynamoTenantState } from '../../functions/shared/tenant-state';
import type { LocalDynamoDb } from '../../local/dynamodb';
import { authorize, type PolicyStatement } from '../../local/iam';
import type { TemplateModel } from '../../local/model';
import { loadTemplateModel } from '../../local/template';
import { dynaliteClient, startDynalite } from '../support/dynalite';
import { synth } from './synth';

// The calls are recorded from the real tenant-state client against a real DynamoDB API (dynalite),
// then authorized against tier 1's role as the synthesized template grants it: a list of grants
// checked against itself could not catch a call nobody granted (BatchGetItem was one).
let model: TemplateModel;
let dynamo: LocalDynamoDb;
let client: DynamoDBClient;
const calls: string[] = [];

beforeAll(async () => {
  model = loadTemplateModel(synth().outdir, undefined, { endpoint: 'http://127.0.0.1:1' });
  const table = model.tables[0];
  if (!table) throw new Error('the template has no DynamoDB table');
  dynamo = await startDynalite(table.name);
  client = dynaliteClient(dynamo);
  client.middlewareStack.add(
    (next, context) => (args) => {
      calls.push(`dynamodb:${String(context.commandName).replace(/Command$/, '')}`);
      return next(args);
    },
    { step: 'initialize', name: 'recordCalls' },
  );
});
afterAll(async () => {
  client?.destroy();
  await dynamo?.stop();
});

/** Every call the tier-1 tenant gate makes: batch read, quota take, stream read and update. */
async function exerciseTenantState(): Promise<string[]> {
  calls.length = 0;
  const table = model.tables[0]?.name as string;
  const state = new DynamoTenantState(client, table);
  const limits = { ratePerSecond: 10, burst: 20 };
  const read = await state.readTenants([{ tenant: 'acme', streams: ['inbox'] }]);
  await state.take('acme', 5, limits, read.get('acme')?.bucket);
  await state.take('acme', 5, limits);
  await state.updateStream('acme', 'inbox', () => ({
    ...EMPTY_TRACKED,
    state: { contiguous: 1, ahead: [] },
  }));
  await state.readStream('acme', 'inbox');
  return [...new Set(calls)].sort();
}

const tier1 = () => {
  const fn = model.functions.find((f) => f.environment.INFERBUS_TIER === '1');
  const role = fn?.roleArn ? model.iam.roles.get(fn.roleArn) : undefined;
  if (!fn?.roleArn || !role) throw new Error('tier 1 has no role of the template');
  return { arn: fn.roleArn, statements: role.statements };
};

const denied = (actions: readonly string[], identity: readonly PolicyStatement[], roleArn: string) =>
  actions.filter(
    (action) =>
      !authorize(
        { identity },
        {
          principal: { kind: 'role', arn: roleArn, account: model.account },
          action,
          resource: model.tables[0]?.arn as string,
        },
      ).allowed,
  );

describe('tier 1 may make every DynamoDB call its tenant state makes', () => {
  it('grants each call the real client sends, BatchGetItem included', async () => {
    const made = await exerciseTenantState();
    expect(made).toContain('dynamodb:BatchGetItem');
    const { arn, statements } = tier1();
    expect(denied(made, statements, arn)).toEqual([]);
  });

  it('grants nothing the calls do not need: removing any granted DynamoDB action denies a call', async () => {
    const made = await exerciseTenantState();
    const { arn, statements } = tier1();
    const granted = statements.flatMap((s) => s.Action ?? []).filter((a) => a.startsWith('dynamodb:'));
    expect(granted.length).toBeGreaterThan(0);
    for (const action of granted) {
      const without = statements.map((s) => ({ ...s, Action: s.Action?.filter((a) => a !== action) }));
      expect(denied(made, without, arn), `without ${action}`).not.toEqual([]);
    }
  });
});
