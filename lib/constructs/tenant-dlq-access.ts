import * as iam from 'aws-cdk-lib/aws-iam';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { pascal, toPrincipal } from './inference-bus';

export interface TenantDeadLetters {
  readonly tenantId: string;
  /** Every DLQ that holds this tenant's events (work-queue and rule-target DLQs of each tier). */
  readonly queues: readonly sqs.IQueue[];
  /** Principals that may inspect these queues. */
  readonly readers: readonly string[];
  /** Every outside principal of this tenant (publishers and readers): denied on other tenants' DLQs. */
  readonly principals: readonly string[];
}

export interface TenantDeadLetterAccessProps {
  readonly tenants: readonly TenantDeadLetters[];
}

/** What a DLQ reader may do: look, not delete or redrive (those stay with this account's operators). */
export const DLQ_READ_ACTIONS = [
  'sqs:ReceiveMessage',
  'sqs:ChangeMessageVisibility',
  'sqs:GetQueueAttributes',
  'sqs:GetQueueUrl',
];

/**
 * Resource policies on every tenant's dead-letter queues: the tenant's readers may inspect them,
 * and every other tenant's principals are denied all SQS actions on them. The deny is explicit so
 * that a broad identity policy in a shared account (`sqs:*` on `*`) still cannot cross tenants.
 */
export class TenantDeadLetterAccess extends Construct {
  constructor(scope: Construct, id: string, props: TenantDeadLetterAccessProps) {
    super(scope, id);
    for (const tenant of props.tenants) {
      const others = props.tenants.filter((t) => t.tenantId !== tenant.tenantId).flatMap((t) => t.principals);
      const name = pascal(tenant.tenantId);
      for (const queue of tenant.queues) {
        if (tenant.readers.length > 0) {
          queue.addToResourcePolicy(
            new iam.PolicyStatement({
              sid: `Tenant${name}ReadsOwnDeadLetters`,
              principals: tenant.readers.map(toPrincipal),
              actions: DLQ_READ_ACTIONS,
              resources: [queue.queueArn],
            }),
          );
        }
        if (others.length > 0) {
          queue.addToResourcePolicy(
            new iam.PolicyStatement({
              sid: `OtherTenantsDenied`,
              effect: iam.Effect.DENY,
              principals: [...new Set(others)].map(toPrincipal),
              actions: ['sqs:*'],
              resources: [queue.queueArn],
            }),
          );
        }
      }
    }
  }
}
