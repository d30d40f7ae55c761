import { beforeAll, describe, expect, it } from 'vitest';
import { tenantSource } from '../../functions/core/events';
import { loadStageConfig } from '../../lib/config';
import { RULE_TARGET_RETRY } from '../../lib/constructs/inference-tier';
import { matchesPattern, validatePattern } from '../../local/eventbridge/pattern';
import { type Synthesized, synth, tierOf } from './synth';

type Resource = { Type: string; Properties: Record<string, any> };

let s: Synthesized;
const tenants = loadStageConfig('dev').tenants.map((t) => t.id);

beforeAll(() => {
  s = synth();
});

const logicalId = (construct: { node: { defaultChild?: unknown } }) =>
  s.stack.getLogicalId(construct.node.defaultChild as never);
const rules = () => Object.entries(s.template.findResources('AWS::Events::Rule')) as [string, Resource][];
const unroutedRuleIds = () => s.stack.unrouted.rules.map((r) => logicalId(r));

describe('unrouted requests', () => {
  it('keeps them in an encrypted queue with a DLQ retention, as long as the other DLQs', () => {
    const queues = s.template.findResources('AWS::SQS::Queue');
    for (const queue of [s.stack.unrouted.queue, s.stack.unrouted.ruleDeadLetterQueue]) {
      expect(queues[logicalId(queue)]?.Properties).toMatchObject({
        SqsManagedSseEnabled: true,
        MessageRetentionPeriod: 14 * 86_400,
      });
      expect(queues[logicalId(queue)]?.Properties.RedrivePolicy).toBeUndefined();
    }
  });

  it('delivers with a rule on the stage bus, retried as long as EventBridge allows, then to its own DLQ', () => {
    expect(unroutedRuleIds()).toHaveLength(1);
    const [, rule] = rules().find(([id]) => id === unroutedRuleIds()[0]) ?? [];
    expect(rule?.Properties).toMatchObject({
      EventBusName: { Ref: logicalId(s.stack.bus.bus) },
      State: 'ENABLED',
      Targets: [
        {
          Arn: { 'Fn::GetAtt': [logicalId(s.stack.unrouted.queue), 'Arn'] },
          DeadLetterConfig: {
            Arn: { 'Fn::GetAtt': [logicalId(s.stack.unrouted.ruleDeadLetterQueue), 'Arn'] },
          },
          RetryPolicy: {
            MaximumRetryAttempts: RULE_TARGET_RETRY.attempts,
            MaximumEventAgeInSeconds: RULE_TARGET_RETRY.maxEventAge.toSeconds(),
          },
        },
      ],
    });
  });

  it('lets EventBridge send to the queue only from its own rule', () => {
    const policies = Object.values(s.template.findResources('AWS::SQS::QueuePolicy')) as Resource[];
    const policy = policies.find((p) =>
      p.Properties.Queues.some((q: any) => q.Ref === logicalId(s.stack.unrouted.queue)),
    );
    const allows = policy?.Properties.PolicyDocument.Statement.filter((st: any) => st.Effect === 'Allow');
    expect(allows).toEqual([
      expect.objectContaining({
        Principal: { Service: 'events.amazonaws.com' },
        Action: expect.arrayContaining(['sqs:SendMessage']),
        Condition: { ArnEquals: { 'aws:SourceArn': { 'Fn::GetAtt': [unroutedRuleIds()[0], 'Arn'] } } },
      }),
    ]);
  });

  describe('with the local pattern engine, every InferenceRequested event reaches exactly one rule', () => {
    const event = (source: string, detailType: string, detail: Record<string, unknown>) => ({
      version: '0',
      id: 'e1',
      'detail-type': detailType,
      source,
      account: '123456789012',
      time: '2026-11-29T00:00:00Z',
      region: 'eu-west-1',
      resources: [],
      detail,
    });
    const request = (source: string, detail: Record<string, unknown>) =>
      event(source, 'InferenceRequested', { id: 'r1', ...detail });
    /** Which of the template's request rules match: a tier-1 tenant rule's tenant, or "unrouted". */
    const routes = (e: unknown) =>
      rules()
        .filter(([, r]) => JSON.stringify(r.Properties.EventPattern).includes('InferenceRequested'))
        .filter(([, r]) => matchesPattern(r.Properties.EventPattern, e))
        .map(([id]) =>
          unroutedRuleIds().includes(id)
            ? 'unrouted'
            : (tierOf(s.stack, 'spam', 1).lanes.find((l) => logicalId(l.rule) === id)?.tenantId ?? id),
        );

    it('accepts the unrouted pattern as EventBridge would', () => {
      for (const [id, rule] of rules()) {
        if (unroutedRuleIds().includes(id))
          expect(() => validatePattern(rule.Properties.EventPattern)).not.toThrow();
      }
    });

    it.each(tenants)('routes %s to its own tier-1 rule only', (tenant) => {
      expect(routes(request(tenantSource(tenant), { tenant }))).toEqual([tenant]);
    });

    it.each([
      ['an unconfigured tenant', request('inferbus.umbrella', { tenant: 'umbrella' })],
      ['another tenant under acme’s source', request('inferbus.acme', { tenant: 'globex' })],
      ['no tenant', request('inferbus.acme', {})],
      ['a tenant that is a number', request('inferbus.acme', { tenant: 7 })],
      ['a tenant that is an object', request('inferbus.acme', { tenant: { id: 'acme' } })],
      ['a tenant in another case', request('inferbus.acme', { tenant: 'ACME' })],
      ['a source outside inferbus', request('myapp', { tenant: 'acme' })],
      ['the results source', request('inferbus.results', { tenant: 'acme' })],
    ])('sends %s to the unrouted queue only', (_, e) => {
      expect(routes(e)).toEqual(['unrouted']);
    });

    it('leaves every other detail type alone', () => {
      for (const type of ['EscalationRequested', 'InferenceCompleted', 'InferenceFailed', 'SequenceGap']) {
        expect(routes(event('inferbus.results', type, { tenant: 'umbrella' }))).toEqual([]);
      }
    });
  });
});
