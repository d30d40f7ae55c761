import { describe, expect, it } from 'vitest';
import {
  type AuthorizationRequest,
  authorize,
  type PolicyStatement,
  parsePolicyDocument,
} from '../../local/iam';

const ACCOUNT = '111122223333';
const ROLE = `arn:aws:iam::${ACCOUNT}:role/worker`;
const QUEUE = `arn:aws:sqs:eu-west-1:${ACCOUNT}:work`;
const RULE = `arn:aws:events:eu-west-1:${ACCOUNT}:rule/bus/route`;

const statements = (...s: unknown[]): PolicyStatement[] =>
  parsePolicyDocument({ Statement: s }, 'test').Statement;
const asRole = (action: string, resource: string, context = {}): AuthorizationRequest => ({
  principal: { kind: 'role', arn: ROLE, account: ACCOUNT },
  action,
  resource,
  context,
});
const asService = (
  service: string,
  action: string,
  resource: string,
  context = {},
): AuthorizationRequest => ({
  principal: { kind: 'service', service },
  action,
  resource,
  context,
});

// Cases follow the IAM user guide: "Policy evaluation logic", "IAM JSON policy elements: NotAction,
// NotResource, Condition operators", and "Conditions with multiple context keys or values".
describe('local IAM: policy evaluation', () => {
  it('denies by default: no statement allows the action', () => {
    const identity = statements({ Effect: 'Allow', Action: 'sqs:ReceiveMessage', Resource: QUEUE });
    expect(authorize({ identity }, asRole('sqs:SendMessage', QUEUE))).toEqual({
      allowed: false,
      reason: 'implicit-deny',
    });
  });

  it('lets an explicit deny override any allow, and names the statement', () => {
    const identity = statements(
      { Effect: 'Allow', Action: 'sqs:*', Resource: '*' },
      { Sid: 'NoPurge', Effect: 'Deny', Action: 'sqs:PurgeQueue', Resource: QUEUE },
    );
    expect(authorize({ identity }, asRole('sqs:SendMessage', QUEUE)).allowed).toBe(true);
    expect(authorize({ identity }, asRole('sqs:PurgeQueue', QUEUE))).toEqual({
      allowed: false,
      reason: 'explicit-deny',
      statement: 'identity policy NoPurge',
    });
  });

  it('matches actions case-insensitively with wildcards, resources case-sensitively', () => {
    const identity = statements({
      Effect: 'Allow',
      Action: 'SQS:Send*',
      Resource: 'arn:aws:sqs:*:111122223333:wor?',
    });
    expect(authorize({ identity }, asRole('sqs:SendMessage', QUEUE)).allowed).toBe(true);
    expect(authorize({ identity }, asRole('sqs:SendMessage', QUEUE.replace('work', 'Work'))).allowed).toBe(
      false,
    );
    expect(authorize({ identity }, asRole('sqs:ReceiveMessage', QUEUE)).allowed).toBe(false);
  });

  it('compares ARN segments one by one, a trailing * in a shortened ARN reaching past colons', () => {
    const allowed = (resource: string) =>
      authorize(
        { identity: statements({ Effect: 'Allow', Action: 'sqs:SendMessage', Resource: resource }) },
        asRole('sqs:SendMessage', QUEUE),
      ).allowed;
    expect(allowed('arn:aws:sqs:eu*:111122223333:work')).toBe(true);
    expect(allowed('arn:aws:sqs:*:999999999999:work')).toBe(false);
    // IAM user guide, Resource element: "If the * wildcard is the last character of a resource ARN
    // segment, it can expand to match beyond colon boundaries."
    expect(allowed('arn:aws:sqs:eu-west-1*')).toBe(true);
  });

  it('allows everything but the NotAction list, and every resource but NotResource', () => {
    const identity = statements({ Effect: 'Allow', NotAction: 'iam:*', NotResource: `${QUEUE}-secret` });
    expect(authorize({ identity }, asRole('sqs:SendMessage', QUEUE)).allowed).toBe(true);
    expect(authorize({ identity }, asRole('iam:CreateUser', QUEUE)).allowed).toBe(false);
    expect(authorize({ identity }, asRole('sqs:SendMessage', `${QUEUE}-secret`)).allowed).toBe(false);
  });

  it('lets a resource policy grant a service principal only from the source its condition names', () => {
    const resource = statements({
      Effect: 'Allow',
      Principal: { Service: 'events.amazonaws.com' },
      Action: 'sqs:SendMessage',
      Resource: QUEUE,
      Condition: { ArnEquals: { 'aws:SourceArn': RULE } },
    });
    const from = (sourceArn?: string) =>
      authorize(
        { identity: [], resource },
        asService(
          'events.amazonaws.com',
          'sqs:SendMessage',
          QUEUE,
          sourceArn ? { 'aws:SourceArn': sourceArn } : {},
        ),
      ).allowed;
    expect(from(RULE)).toBe(true);
    expect(from(`${RULE}-other`)).toBe(false);
    expect(from()).toBe(false);
    expect(
      authorize(
        { identity: [], resource },
        asService('sns.amazonaws.com', 'sqs:SendMessage', QUEUE, { 'aws:SourceArn': RULE }),
      ).allowed,
    ).toBe(false);
  });

  it('denies requests without TLS through a Bool condition, and only those', () => {
    const identity = statements({ Effect: 'Allow', Action: 'sqs:SendMessage', Resource: QUEUE });
    const resource = statements({
      Effect: 'Deny',
      Principal: { AWS: '*' },
      Action: 'sqs:*',
      Resource: QUEUE,
      Condition: { Bool: { 'aws:SecureTransport': 'false' } },
    });
    const tls = (secure?: string) =>
      authorize(
        { identity, resource },
        asRole('sqs:SendMessage', QUEUE, secure ? { 'aws:SecureTransport': secure } : {}),
      );
    expect(tls('true').allowed).toBe(true);
    expect(tls('false')).toMatchObject({ allowed: false, reason: 'explicit-deny' });
    // A key absent from the request makes a positive operator false: the deny does not apply.
    expect(tls().allowed).toBe(true);
  });

  it('treats an absent key as a match for negated operators and IfExists, and tests presence with Null', () => {
    const allowWhen = (Condition: unknown) =>
      statements({ Effect: 'Allow', Action: 'sqs:SendMessage', Resource: QUEUE, Condition });
    const decide = (Condition: unknown, context = {}) =>
      authorize({ identity: allowWhen(Condition) }, asRole('sqs:SendMessage', QUEUE, context)).allowed;
    expect(decide({ StringNotEquals: { 'aws:SourceAccount': '999999999999' } })).toBe(true);
    expect(decide({ StringEquals: { 'aws:SourceAccount': ACCOUNT } })).toBe(false);
    expect(decide({ StringEqualsIfExists: { 'aws:SourceAccount': ACCOUNT } })).toBe(true);
    expect(
      decide({ StringEqualsIfExists: { 'aws:SourceAccount': ACCOUNT } }, { 'aws:sourceaccount': '1' }),
    ).toBe(false);
    expect(decide({ Null: { 'aws:SourceArn': 'true' } })).toBe(true);
    expect(decide({ Null: { 'aws:SourceArn': 'false' } })).toBe(false);
  });

  it('ORs a key’s values, NORs them for a negated operator, and ANDs keys and operators', () => {
    const identity = statements({
      Effect: 'Allow',
      Action: 'events:PutEvents',
      Resource: '*',
      Condition: {
        StringEquals: { 'events:source': ['inferbus.acme', 'inferbus.globex'] },
        StringNotEquals: { 'events:detail-type': ['InferenceCompleted', 'EscalationRequested'] },
      },
    });
    const put = (source: string, detailType: string) =>
      authorize(
        { identity },
        asRole('events:PutEvents', 'arn:aws:events:eu-west-1:111122223333:event-bus/b', {
          'events:source': source,
          'events:detail-type': detailType,
        }),
      ).allowed;
    expect(put('inferbus.globex', 'InferenceRequested')).toBe(true);
    expect(put('inferbus.initech', 'InferenceRequested')).toBe(false);
    expect(put('inferbus.acme', 'InferenceCompleted')).toBe(false);
  });

  it('evaluates set operators over multi-valued keys (ForAllValues is true for an empty set)', () => {
    const decide = (Condition: unknown, tags?: string[]) =>
      authorize(
        { identity: statements({ Effect: 'Allow', Action: 's3:PutObject', Resource: '*', Condition }) },
        asRole('s3:PutObject', 'arn:aws:s3:::b/k', tags ? { 'aws:TagKeys': tags } : {}),
      ).allowed;
    expect(decide({ 'ForAllValues:StringEquals': { 'aws:TagKeys': ['a', 'b'] } }, ['a'])).toBe(true);
    expect(decide({ 'ForAllValues:StringEquals': { 'aws:TagKeys': ['a', 'b'] } }, ['a', 'c'])).toBe(false);
    expect(decide({ 'ForAllValues:StringEquals': { 'aws:TagKeys': ['a'] } })).toBe(true);
    expect(decide({ 'ForAnyValue:StringEquals': { 'aws:TagKeys': ['a'] } }, ['c', 'a'])).toBe(true);
    expect(decide({ 'ForAnyValue:StringEquals': { 'aws:TagKeys': ['a'] } })).toBe(false);
  });

  it('does not let a resource policy naming only the account grant by itself (it delegates to IAM)', () => {
    const resource = statements({
      Effect: 'Allow',
      Principal: { AWS: `arn:aws:iam::${ACCOUNT}:root` },
      Action: 'kms:*',
      Resource: '*',
    });
    expect(
      authorize({ identity: [], resource }, asRole('kms:Decrypt', 'arn:aws:kms:eu-west-1:111122223333:key/k'))
        .allowed,
    ).toBe(false);
    const identity = statements({ Effect: 'Allow', Action: 'kms:Decrypt', Resource: '*' });
    expect(
      authorize({ identity, resource }, asRole('kms:Decrypt', 'arn:aws:kms:eu-west-1:111122223333:key/k'))
        .allowed,
    ).toBe(true);
  });

  it('grants through a resource policy that names the role itself', () => {
    const resource = statements({
      Effect: 'Allow',
      Principal: { AWS: ROLE },
      Action: 'sqs:ReceiveMessage',
      Resource: QUEUE,
    });
    expect(authorize({ identity: [], resource }, asRole('sqs:ReceiveMessage', QUEUE))).toEqual({
      allowed: true,
      by: 'resource',
    });
  });

  it('refuses, when the policy is read, an operator or a policy variable it cannot evaluate', () => {
    expect(() =>
      statements({
        Effect: 'Allow',
        Action: '*',
        Resource: '*',
        Condition: { IpAddress: { 'aws:SourceIp': '10.0.0.0/8' } },
      }),
    ).toThrow(/Statement\[0\]: condition operator IpAddress is not supported by the local IAM/);
    expect(() =>
      statements({
        Effect: 'Allow',
        Action: '*',
        Resource: '*',
        // biome-ignore lint/suspicious/noTemplateCurlyInString: an IAM policy variable, not a template
        Condition: { StringEquals: { 'aws:username': '${aws:username}' } },
      }),
    ).toThrow(/policy variables/);
    expect(() => statements({ Effect: 'Allow', Resource: '*' })).toThrow(
      /exactly one of Action and NotAction/,
    );
  });
});
