import { type PolicyStatement, parsePolicyDocument } from '../iam/policy-document.js';
import type { IamModel } from '../model.js';
import type { ExtractContext } from './context.js';
import { at, TemplateError } from './errors.js';
import { type CfnResource, isRecord } from './template.js';

/** Resource policy types: the property holding the document, and the one naming what it guards. */
const RESOURCE_POLICIES: Record<
  string,
  { document: string; targets: string; kind: 'queue' | 'topic' | 'bucket' }
> = {
  'AWS::SQS::QueuePolicy': { document: 'PolicyDocument', targets: 'Queues', kind: 'queue' },
  'AWS::SNS::TopicPolicy': { document: 'PolicyDocument', targets: 'Topics', kind: 'topic' },
  'AWS::S3::BucketPolicy': { document: 'PolicyDocument', targets: 'Bucket', kind: 'bucket' },
};

/**
 * Every role's identity policies (inline `Policies` and the `AWS::IAM::Policy` resources attached to
 * it) and every resource policy (queue, topic, bucket, KMS key, event bus), resolved, keyed by ARN. Managed
 * policies are only named: their documents are not in the template (the authorizer refuses a role
 * that has them rather than guess what they allow).
 */
export function extractIam(ctx: ExtractContext): IamModel {
  const names = ctx.resolver.names;
  const roles = new Map<string, { statements: PolicyStatement[]; managedPolicyArns: string[] }>();
  const roleArnOf = new Map<string, string>();
  for (const [logicalId, role] of ctx.resources('AWS::IAM::Role')) {
    const arn = names.arn(logicalId, logicalId);
    roleArnOf.set(logicalId, arn);
    const managed = ctx.prop(logicalId, role, 'ManagedPolicyArns');
    const inline = ctx.prop(logicalId, role, 'Policies');
    const statements = (Array.isArray(inline) ? inline : []).flatMap(
      (p, i) =>
        parsePolicyDocument(
          isRecord(p) ? p.PolicyDocument : undefined,
          at(logicalId, `Properties.Policies[${i}]`),
        ).Statement,
    );
    roles.set(arn, { statements, managedPolicyArns: Array.isArray(managed) ? managed.map(String) : [] });
  }
  for (const [logicalId, policy] of ctx.resources('AWS::IAM::Policy')) {
    const document = parsePolicyDocument(
      ctx.prop(logicalId, policy, 'PolicyDocument'),
      at(logicalId, 'Properties.PolicyDocument'),
    );
    const attached = (policy.Properties?.Roles ?? []) as unknown[];
    for (const ref of attached) {
      const roleId = isRecord(ref) && typeof ref.Ref === 'string' ? ref.Ref : undefined;
      const arn = roleId ? roleArnOf.get(roleId) : undefined;
      if (!arn) {
        throw new TemplateError(
          `${at(logicalId, 'Properties.Roles')}: ${JSON.stringify(ref)} is not a role of this template.`,
        );
      }
      roles.get(arn)?.statements.push(...document.Statement);
    }
  }

  const resourcePolicies = new Map<string, PolicyStatement[]>();
  const add = (arn: string, statements: readonly PolicyStatement[]) =>
    resourcePolicies.set(arn, [...(resourcePolicies.get(arn) ?? []), ...statements]);
  for (const [type, spec] of Object.entries(RESOURCE_POLICIES)) {
    for (const [logicalId, resource] of ctx.resources(type)) {
      const document = parsePolicyDocument(
        ctx.prop(logicalId, resource, spec.document),
        at(logicalId, `Properties.${spec.document}`),
      );
      const targets = [ctx.prop(logicalId, resource, spec.targets)].flat();
      for (const target of targets) add(guardedArn(spec.kind, String(target), ctx), document.Statement);
    }
  }
  for (const [logicalId, key] of ctx.resources('AWS::KMS::Key')) {
    const document = ctx.prop(logicalId, key, 'KeyPolicy');
    if (document !== undefined)
      add(
        names.arn(logicalId, logicalId),
        parsePolicyDocument(document, at(logicalId, 'Properties.KeyPolicy')).Statement,
      );
  }
  for (const [logicalId, policy] of ctx.resources('AWS::Events::EventBusPolicy')) {
    add(...eventBusPolicy(ctx, logicalId, policy));
  }
  return { roles, resourcePolicies };
}

/**
 * An `AWS::Events::EventBusPolicy`: one statement on the bus it names. The older form (Action,
 * Principal and Condition properties instead of Statement) is refused rather than translated.
 */
function eventBusPolicy(
  ctx: ExtractContext,
  logicalId: string,
  policy: CfnResource,
): [string, readonly PolicyStatement[]] {
  const statement = ctx.prop(logicalId, policy, 'Statement');
  if (statement === undefined) {
    throw new TemplateError(
      `${at(logicalId, 'Properties')}: the local IAM reads an EventBusPolicy's Statement only, not the older ` +
        "Action/Principal/Condition form; write the policy with a Statement (CDK's EventBus.addToResourcePolicy does).",
    );
  }
  const bus = ctx.resolver.names.busNameOf(ctx.string(logicalId, policy, 'EventBusName'));
  const arn = `arn:aws:events:${ctx.env.region}:${ctx.env.account}:event-bus/${bus}`;
  return [
    arn,
    parsePolicyDocument({ Statement: statement }, at(logicalId, 'Properties.Statement')).Statement,
  ];
}

/** A queue policy names queue URLs, a topic policy topic ARNs, a bucket policy a bucket name. */
function guardedArn(kind: 'queue' | 'topic' | 'bucket', value: string, ctx: ExtractContext): string {
  if (kind === 'topic') return value;
  if (kind === 'bucket') return value.startsWith('arn:') ? value : `arn:aws:s3:::${value}`;
  const name = value.split('/').at(-1) as string;
  return `arn:aws:sqs:${ctx.env.region}:${ctx.env.account}:${name}`;
}
