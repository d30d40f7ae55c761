import { Duration } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import {
  HANDLER_DETAIL_TYPES,
  PRODUCER_DETAIL_TYPES,
  RESULT_SOURCE,
  tenantSource,
} from '../../functions/core/events';

export interface TenantPublisher {
  readonly tenantId: string;
  /** Account ids or IAM principal ARNs that publish for this tenant. */
  readonly principals: readonly string[];
}

export interface InferenceBusProps {
  /** Name of the custom bus. */
  readonly busName: string;
  /** Days the bus archive keeps every event for replay; 0 keeps them forever. @default 7 */
  readonly replayRetentionDays?: number;
  /** Outside publishers, each restricted to its tenant's `source`. @default none */
  readonly tenantPublishers?: readonly TenantPublisher[];
}

/**
 * The custom EventBridge bus of a stage, its resource policy and an archive for replay.
 *
 * The policy lets this account publish, and each tenant's principals publish only requests
 * (InferenceRequested) whose `source` is `inferbus.<tenant>`, so a tenant cannot publish as
 * another one. Results are reserved to the handlers with `reserveResultsTo`.
 */
export class InferenceBus extends Construct {
  public readonly bus: events.EventBus;
  public readonly archive: events.Archive;

  constructor(scope: Construct, id: string, props: InferenceBusProps) {
    super(scope, id);
    this.bus = new events.EventBus(this, 'Bus', { eventBusName: props.busName });

    this.bus.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'ThisAccountPublishes',
        principals: [new iam.AccountRootPrincipal()],
        actions: ['events:PutEvents'],
        resources: [this.bus.eventBusArn],
      }),
    );
    for (const publisher of props.tenantPublishers ?? []) {
      if (publisher.principals.length === 0) continue;
      this.bus.addToResourcePolicy(
        new iam.PolicyStatement({
          sid: `Tenant${pascal(publisher.tenantId)}PublishesOwnSource`,
          principals: publisher.principals.map(toPrincipal),
          actions: ['events:PutEvents'],
          resources: [this.bus.eventBusArn],
          conditions: {
            StringEquals: {
              'events:source': [tenantSource(publisher.tenantId)],
              'events:detail-type': [...PRODUCER_DETAIL_TYPES],
            },
          },
        }),
      );
    }

    const retentionDays = props.replayRetentionDays ?? 7;
    this.archive = this.bus.archive('Archive', {
      description: `Every event on ${props.busName}, kept for replay`,
      // An empty prefix matches every source: the archive keeps all events on the bus.
      eventPattern: { source: events.Match.prefix('') },
      retention: retentionDays === 0 ? undefined : Duration.days(retentionDays),
    });
  }

  /**
   * Only the handler roles may publish what handlers publish: the results source and the result
   * detail-types (InferenceCompleted, EscalationRequested, InferenceFailed, SequenceGap). Explicit
   * denies, because an explicit deny in a resource policy binds this account's own principals too,
   * whatever their identity policies allow: an operator or producer role with `events:PutEvents`
   * on the bus still cannot forge a result into the archive or an escalation into tier 2.
   * `aws:PrincipalArn` is the role's ARN (not the session's) for a Lambda execution role.
   */
  reserveResultsTo(handlerRoles: readonly iam.IRole[]): void {
    if (handlerRoles.length === 0) throw new Error('InferenceBus.reserveResultsTo: no handler roles given');
    const notHandlers = { ArnNotEquals: { 'aws:PrincipalArn': handlerRoles.map((role) => role.roleArn) } };
    const deny = (sid: string, condition: Record<string, string[]>) =>
      this.bus.addToResourcePolicy(
        new iam.PolicyStatement({
          sid,
          effect: iam.Effect.DENY,
          principals: [new iam.AnyPrincipal()],
          actions: ['events:PutEvents'],
          resources: [this.bus.eventBusArn],
          conditions: { StringEquals: condition, ...notHandlers },
        }),
      );
    deny('OnlyHandlersUseResultSource', { 'events:source': [RESULT_SOURCE] });
    deny('OnlyHandlersPublishResultTypes', { 'events:detail-type': [...HANDLER_DETAIL_TYPES] });
  }
}

export function toPrincipal(principal: string): iam.IPrincipal {
  return /^\d{12}$/.test(principal) ? new iam.AccountPrincipal(principal) : new iam.ArnPrincipal(principal);
}

export function pascal(value: string): string {
  return value
    .split(/[^a-zA-Z0-9]+/)
    .filter(Boolean)
    .map((part) => part[0]?.toUpperCase() + part.slice(1))
    .join('');
}
