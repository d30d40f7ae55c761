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
  /**
   * Queues that hold every tenant's events (the archive rule's DLQ): every tenant's principals are
   * denied all SQS actions on them; only this account's operators read them.
   */
  readonly sharedQueues?: readonly sqs.IQueue[];
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
 * and every other tenant's principals are denied all SQS actions on them; queues shared by all
 * tenants deny every tenant's principals. The deny is explicit so that a broad identity policy in
 * a shared account (`sqs:*` on `*`) still cannot cross tenants.
 */
export class TenantDeadLetterAccess extends Construct {
  constructor(scope: Construct, id: string, props: TenantDeadLetterAccessProps) {
    super(scope, id);
    for (const tenant of props.tenants) {
      const others = principalsOf(props.tenants.filter((t) => t.tenantId !== tenant.tenantId));
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
        denyAll(queue, 'OtherTenantsDenied', others);
      }
    }
    const everyTenant = principalsOf(props.tenants);
    for (const queue of props.sharedQueues ?? []) denyAll(queue, 'TenantsDenied', everyTenant);
  }
}

const principalsOf = (tenants: readonly TenantDeadLetters[]) => [
  ...new Set(tenants.flatMap((t) => t.principals)),
];

function denyAll(queue: sqs.IQueue, sid: string, principals: readonly string[]): void {
  if (principals.length === 0) return;
  queue.addToResourcePolicy(
    new iam.PolicyStatement({
      sid,
      effect: iam.Effect.DENY,
      principals: principals.map(toPrincipal),
      actions: ['sqs:*'],
      resources: [queue.queueArn],
    }),
  );
}
