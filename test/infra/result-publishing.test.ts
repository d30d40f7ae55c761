import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { DetailType, HANDLER_DETAIL_TYPES, RESULT_SOURCE } from '../../functions/core/events';
import { stages } from '../../lib/config';
import { authorize, type CallerPrincipal, type PolicyStatement } from '../../local/iam';
import { parsePolicyDocument } from '../../local/iam/policy-document';
import type { TemplateModel } from '../../local/model';
import { IntrinsicResolver, loadTemplateModel } from '../../local/template';
import type { CfnTemplate } from '../../local/template/template';
import { type Synthesized, synth } from './synth';

// The bus policy and the archive rule's DLQ policy, read from the synthesized template as IAM
// evaluates them (local/iam): who may put results on the bus, and who may read every tenant's
// undeliverable events.
const acmePublisher = 'arn:aws:iam::210987654321:role/acme-publisher';
const acmeReader = 'arn:aws:iam::210987654321:role/acme-dlq-reader';
const globexPublisher = 'arn:aws:iam::345678901234:role/globex-publisher';

let synthesized: Synthesized;
let model: TemplateModel;
let resolver: IntrinsicResolver;
let busArn: string;
let busPolicy: PolicyStatement[];
let handlerRoles: string[];

beforeAll(() => {
  const path = join(mkdtempSync(join(tmpdir(), 'inferbus-results-')), 'tenants.json');
  const [acme, globex, initech] = structuredClone(stages.dev.tenants);
  if (!acme || !globex || !initech) throw new Error('dev has three tenants');
  writeFileSync(
    path,
    JSON.stringify({
      tenants: [
        { ...acme, publisherPrincipals: [acmePublisher], dlqReaderPrincipals: [acmeReader] },
        { ...globex, publisherPrincipals: [globexPublisher] },
        initech,
      ],
    }),
  );
  synthesized = synth({ stage: 'dev', config: path });
  model = loadTemplateModel(synthesized.outdir, undefined, { endpoint: 'http://127.0.0.1:1' });
  const template = synthesized.template.toJSON() as CfnTemplate;
  resolver = new IntrinsicResolver(template, {
    stackName: model.stackName,
    region: model.region,
    account: model.account,
    endpoint: 'http://127.0.0.1:1',
  });
  const arnOf = (construct: { node: { defaultChild?: unknown } }) => {
    const id = synthesized.stack.getLogicalId(construct.node.defaultChild as never);
    return resolver.resolveString({ 'Fn::GetAtt': [id, 'Arn'] }, id, 'Arn');
  };
  busArn = arnOf(synthesized.stack.bus.bus);
  handlerRoles = synthesized.stack.tasks
    .flatMap((task) => task.tiers)
    .map((tier) => arnOf(tier.function.role as never));
  // Each AWS::Events::EventBusPolicy carries one statement.
  busPolicy = Object.entries(template.Resources)
    .filter(([, r]) => r.Type === 'AWS::Events::EventBusPolicy')
    .flatMap(
      ([id, r]) =>
        parsePolicyDocument(
          { Version: '2012-10-17', Statement: [resolver.resolve(r.Properties?.Statement, id, 'Statement')] },
          id,
        ).Statement,
    );
});

type RoleCaller = Extract<CallerPrincipal, { kind: 'role' }>;
const role = (arn: string): RoleCaller => ({
  kind: 'role',
  arn,
  account: arn.split(':')[4] as string,
});

/** PutEvents of one entry on the bus, as `principal` with its identity policies. */
const putEvents = (
  principal: RoleCaller,
  source: string,
  detailType: string,
  identity: readonly PolicyStatement[] = [],
) =>
  authorize(
    { identity, resource: busPolicy },
    {
      principal,
      action: 'events:PutEvents',
      resource: busArn,
      context: {
        'aws:PrincipalArn': principal.arn,
        'events:source': source,
        'events:detail-type': detailType,
      },
    },
  );

describe('only the handlers publish results', () => {
  it("lets a tenant's publisher put its own requests", () => {
    expect(putEvents(role(acmePublisher), 'inferbus.acme', DetailType.InferenceRequested)).toEqual({
      allowed: true,
      by: 'resource',
    });
  });

  it("denies a tenant's publisher every result detail-type, even under its own source", () => {
    for (const detailType of HANDLER_DETAIL_TYPES) {
      expect(putEvents(role(acmePublisher), 'inferbus.acme', detailType), detailType).toMatchObject({
        allowed: false,
        reason: 'explicit-deny',
        statement: 'resource policy cdk-OnlyHandlersPublishResultTypes',
      });
    }
  });

  it("denies a tenant's publisher the results source, whatever the detail-type", () => {
    expect(putEvents(role(acmePublisher), RESULT_SOURCE, DetailType.InferenceRequested)).toMatchObject({
      allowed: false,
      reason: 'explicit-deny',
      statement: 'resource policy cdk-OnlyHandlersUseResultSource',
    });
  });

  it('denies a role of this account results even when its identity policy allows every PutEvents', () => {
    const operator = role(`arn:aws:iam::${model.account}:role/operator`);
    const anything: PolicyStatement[] = [{ Effect: 'Allow', Action: ['events:PutEvents'], Resource: ['*'] }];
    expect(putEvents(operator, 'inferbus.acme', DetailType.InferenceRequested, anything).allowed).toBe(true);
    expect(putEvents(operator, RESULT_SOURCE, DetailType.InferenceCompleted, anything)).toMatchObject({
      allowed: false,
      reason: 'explicit-deny',
    });
  });

  it("lets every tier's handler role publish every result detail-type under the results source", () => {
    // one role per tier of every task
    expect(handlerRoles).toHaveLength(stages.dev.tasks.flatMap((task) => task.tiers).length);
    for (const arn of handlerRoles) {
      const identity = model.iam.roles.get(arn)?.statements;
      expect(identity, arn).toBeDefined();
      for (const detailType of HANDLER_DETAIL_TYPES) {
        expect(putEvents(role(arn), RESULT_SOURCE, detailType, identity), `${arn} ${detailType}`).toEqual({
          allowed: true,
          by: 'identity',
        });
      }
    }
  });
});

describe("the archive rule's DLQ", () => {
  it("denies every tenant's principals: it holds every tenant's events", () => {
    const id = synthesized.stack.getLogicalId(
      synthesized.stack.archive.ruleDeadLetterQueue.node.defaultChild as never,
    );
    const queueArn = resolver.resolveString({ 'Fn::GetAtt': [id, 'Arn'] }, id, 'Arn');
    const policy = model.iam.resourcePolicies.get(queueArn);
    expect(policy).toBeDefined();
    for (const principal of [acmePublisher, acmeReader, globexPublisher]) {
      for (const action of ['sqs:ReceiveMessage', 'sqs:PurgeQueue']) {
        const decision = authorize(
          {
            identity: [{ Effect: 'Allow', Action: ['sqs:*'], Resource: ['*'] }],
            resource: policy ?? [],
          },
          {
            principal: role(principal),
            action,
            resource: queueArn,
            context: { 'aws:SecureTransport': 'true' },
          },
        );
        expect(decision, `${principal} ${action}`).toMatchObject({
          allowed: false,
          reason: 'explicit-deny',
          statement: 'resource policy TenantsDenied',
        });
      }
    }
  });
});
