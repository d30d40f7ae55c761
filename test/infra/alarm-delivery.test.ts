import { beforeAll, describe, expect, it } from 'vitest';
import { authorize, type PolicyStatement } from '../../local/iam';
import type { TemplateModel } from '../../local/model';
import { loadTemplateModel } from '../../local/template';
import { synth } from './synth';

// CloudWatch publishes alarm notifications as the service principal cloudwatch.amazonaws.com, so
// what lets it is the topic's policy and the topic key's policy, read here as IAM evaluates them.
let model: TemplateModel;
let topicArn: string;
let keyArn: string;

beforeAll(() => {
  model = loadTemplateModel(synth().outdir, undefined, { endpoint: 'http://127.0.0.1:1' });
  topicArn = [...model.iam.resourcePolicies.keys()].find((arn) => arn.includes(':sns:')) as string;
  keyArn = [...model.iam.resourcePolicies.keys()].find((arn) => arn.includes(':kms:')) as string;
});

const alarmContext = (overrides: Record<string, string> = {}) => ({
  'aws:SecureTransport': 'true',
  'aws:SourceAccount': model.account,
  'aws:SourceArn': `arn:aws:cloudwatch:${model.region}:${model.account}:alarm:inferbus-dev-spam-tier1-acme-dead-letters`,
  ...overrides,
});

const publish = (policy: readonly PolicyStatement[] | undefined, context = alarmContext()) =>
  authorize(
    { identity: [], resource: policy ?? [] },
    {
      principal: { kind: 'service', service: 'cloudwatch.amazonaws.com' },
      action: 'sns:Publish',
      resource: topicArn,
      context,
    },
  );

describe('alarm notifications can be delivered', () => {
  it('lets CloudWatch alarms of this account publish to the alarm topic over TLS', () => {
    expect(topicArn).toBeDefined();
    expect(publish(model.iam.resourcePolicies.get(topicArn))).toEqual({ allowed: true, by: 'resource' });
  });

  it('lets CloudWatch use the topic key to encrypt what it publishes', () => {
    for (const action of ['kms:GenerateDataKey', 'kms:Decrypt']) {
      const decision = authorize(
        { identity: [], resource: model.iam.resourcePolicies.get(keyArn) ?? [] },
        {
          principal: { kind: 'service', service: 'cloudwatch.amazonaws.com' },
          action,
          resource: keyArn,
          context: alarmContext(),
        },
      );
      expect(decision.allowed, action).toBe(true);
    }
  });

  it('still refuses publishing without TLS, and alarms of another account', () => {
    const policy = model.iam.resourcePolicies.get(topicArn);
    expect(publish(policy, alarmContext({ 'aws:SecureTransport': 'false' }))).toMatchObject({
      allowed: false,
      reason: 'explicit-deny',
    });
    expect(publish(policy, alarmContext({ 'aws:SourceAccount': '999999999999' })).allowed).toBe(false);
  });

  it('would be refused by a topic policy holding only the TLS deny (what enforceSSL alone gives)', () => {
    const tlsOnly = model.iam.resourcePolicies.get(topicArn)?.filter((s) => s.Effect === 'Deny');
    expect(publish(tlsOnly)).toEqual({ allowed: false, reason: 'implicit-deny' });
  });
});
