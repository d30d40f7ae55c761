import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { tenantPoliciesSchema } from '../../functions/core/tenant-policy';
import { loadStageConfig, stages } from '../../lib/config';
import { TENANT_STATE_ACTIONS } from '../../lib/constructs/tenant-state-table';
import { type Synthesized, synth, tierOf } from './synth';

type Resource = { Type: string; Properties: Record<string, any>; DeletionPolicy?: string };

let s: Synthesized;
const dev = loadStageConfig('dev');

beforeAll(() => {
  s = synth();
});

const resources = (template: Synthesized['template'], type: string): [string, Resource][] =>
  Object.entries(template.findResources(type)) as [string, Resource][];
const logicalId = (construct: { node: { defaultChild?: unknown } }) =>
  s.stack.getLogicalId(construct.node.defaultChild as never);
const tableId = () => logicalId(s.stack.tenantState.table);
const envOf = (tier: 'tier1' | 'tier2') =>
  (resources(s.template, 'AWS::Lambda::Function').find(
    ([id]) => id === logicalId(tierOf(s.stack, 'spam', Number(tier.slice(4))).function),
  )?.[1].Properties.Environment.Variables ?? {}) as Record<string, any>;
const statementsOf = (tier: 'tier1' | 'tier2') => {
  const role = logicalId(tierOf(s.stack, 'spam', Number(tier.slice(4))).function.role as never);
  return resources(s.template, 'AWS::IAM::Policy')
    .filter(([, p]) => p.Properties.Roles.some((r: any) => r.Ref === role))
    .flatMap(([, p]) => p.Properties.PolicyDocument.Statement as any[]);
};
const actions = (st: any): string[] => [st.Action].flat();
/** The tier-1 policies as synthesized: the file at TENANT_POLICIES_FILE in one of its layers' assets. */
const policiesOf = (synthesized: Synthesized) => {
  const tier1 = synthesized.stack.getLogicalId(
    tierOf(synthesized.stack, 'spam', 1).function.node.defaultChild as never,
  );
  const fn = resources(synthesized.template, 'AWS::Lambda::Function').find(
    ([id]) => id === tier1,
  )?.[1] as Resource;
  const file = relative('/opt', fn.Properties.Environment.Variables.TENANT_POLICIES_FILE);
  const layers = resources(synthesized.template, 'AWS::Lambda::LayerVersion');
  const found = fn.Properties.Layers.map((ref: any) => layers.find(([id]) => id === ref.Ref)?.[1])
    .map((layer: Resource) =>
      join(synthesized.outdir, `asset.${layer.Properties.Content.S3Key.replace(/\.zip$/, '')}`, file),
    )
    .filter((path: string) => existsSync(path));
  expect(found).toHaveLength(1);
  return tenantPoliciesSchema.parse(JSON.parse(readFileSync(found[0], 'utf8')));
};

describe('tenant state table', () => {
  it('is one on-demand, encrypted table with point-in-time recovery and TTL on expiresAt', () => {
    const tables = resources(s.template, 'AWS::DynamoDB::Table');
    expect(tables).toHaveLength(1);
    const [, table] = tables[0] as [string, Resource];
    expect(table.Properties).toMatchObject({
      BillingMode: 'PAY_PER_REQUEST',
      KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
      AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      SSESpecification: { SSEEnabled: true },
      TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
    });
    expect(table.DeletionPolicy).toBe('Delete');
  });

  it('is retained with the stack in prod', () => {
    const prod = synth({ stage: 'prod' });
    const [[, table]] = resources(prod.template, 'AWS::DynamoDB::Table') as [[string, Resource]];
    expect(table.DeletionPolicy).toBe('Retain');
  });
});

describe('entry tier access', () => {
  it('tier 1 may only get (one or a batch) and put items of that table', () => {
    const dynamo = statementsOf('tier1').filter((st) => actions(st).some((a) => a.startsWith('dynamodb:')));
    expect(dynamo).toHaveLength(1);
    expect(actions(dynamo[0]).sort()).toEqual([...TENANT_STATE_ACTIONS].sort());
    expect(dynamo[0].Resource).toEqual({ 'Fn::GetAtt': [tableId(), 'Arn'] });
    expect(JSON.stringify(statementsOf('tier1'))).not.toMatch(/dynamodb:\*|"dynamodb:(Scan|Query|Delete)/);
  });

  it('tier 1 may send only to its own work queues and DLQs, never sqs:*', () => {
    const lanes = tierOf(s.stack, 'spam', 1).lanes;
    const own = new Set(
      lanes.flatMap((l) => [logicalId(l.queue), logicalId(l.deadLetterQueue)]).map((id) => `${id}.Arn`),
    );
    const send = statementsOf('tier1').filter((st) => actions(st).includes('sqs:SendMessage'));
    const targets = send.flatMap((st) => [st.Resource].flat()).map((r: any) => r['Fn::GetAtt'].join('.'));
    expect(new Set(targets)).toEqual(own);
    expect(JSON.stringify(statementsOf('tier1'))).not.toContain('"sqs:*"');
  });

  it('tier 2 (escalations only, already counted and ordered) gets no table access and no state variables', () => {
    expect(JSON.stringify(statementsOf('tier2'))).not.toContain('dynamodb:');
    expect(envOf('tier2')).not.toHaveProperty('TENANT_STATE_TABLE');
  });

  it('tier 1 gets the table name and each tenant policy in its tenant-config layer', () => {
    const env = envOf('tier1');
    expect(env.TENANT_STATE_TABLE).toEqual({ Ref: tableId() });
    expect(policiesOf(s)).toEqual(
      Object.fromEntries(
        dev.tenants.map((t) => [
          t.id,
          { ...t.quota, ordering: t.ordering.policy, maxHoldSeconds: t.ordering.maxHoldSeconds },
        ]),
      ),
    );
  });

  it('carries a tenant ordering policy from a config file into the handler environment', () => {
    const dir = mkdtempSync(join(tmpdir(), 'inferbus-config-'));
    const path = join(dir, 'tenants.json');
    const [acme] = structuredClone(stages.dev.tenants);
    writeFileSync(
      path,
      JSON.stringify({
        tenants: [
          { ...acme, quota: { ratePerSecond: 2, burst: 3 }, ordering: { policy: 'hold', maxHoldSeconds: 5 } },
        ],
      }),
    );
    const custom = synth({ stage: 'dev', config: path });
    expect(policiesOf(custom)).toEqual({
      acme: { ratePerSecond: 2, burst: 3, ordering: 'hold', maxHoldSeconds: 5 },
    });
  });
});
