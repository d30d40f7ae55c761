import type { RemovalPolicy } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { MAX_EVENT_PATTERN_CHARS, unroutedRequestPatterns } from '../../functions/core/routing';
import { DeadLetterQueue } from './dead-letter-queue';
import { RULE_TARGET_RETRY } from './inference-tier';

export interface UnroutedRequestsProps {
  readonly bus: events.IEventBus;
  /** Every tenant that has entry-tier rules: their requests are routed, everything else lands here. */
  readonly tenantIds: readonly string[];
  /** Every task of the stage, the first taking requests that name none; other tasks land here. */
  readonly taskIds: readonly string[];
  /** Largest event pattern per rule; more tenants than fit make more rules. @default 2,048 (EventBridge's default quota) */
  readonly maxPatternChars?: number;
  /** @default - the CDK default (retain) */
  readonly removalPolicy?: RemovalPolicy;
}

/**
 * Catches every InferenceRequested event that no entry rule takes (an unconfigured tenant, a
 * `source` that does not match `detail.tenant`, no tenant at all, a task the stage does not
 * serve) and keeps it in a queue that is
 * a dead-letter queue in all but name: encrypted, TLS-only, 14 days, alarmed, listed by
 * `inferbus dlq`. EventBridge would otherwise accept such an event and drop it in silence.
 *
 * One rule covers about 9 tenants (about 230 pattern characters each with two tasks, 2,048 by quota); beyond that the patterns are
 * split over more rules, whose matches are disjoint, so the rules-per-bus quota grows by one rule
 * per chunk rather than by one per tenant.
 */
export class UnroutedRequests extends Construct {
  public readonly queue: sqs.Queue;
  /** Where EventBridge puts events it could not deliver to `queue`. */
  public readonly ruleDeadLetterQueue: sqs.Queue;
  public readonly rules: readonly events.Rule[];

  constructor(scope: Construct, id: string, props: UnroutedRequestsProps) {
    super(scope, id);
    this.queue = new DeadLetterQueue(this, 'Queue', { removalPolicy: props.removalPolicy }).queue;
    this.ruleDeadLetterQueue = new DeadLetterQueue(this, 'RuleDlq', {
      removalPolicy: props.removalPolicy,
    }).queue;
    const patterns = unroutedRequestPatterns(
      { tenants: props.tenantIds, tasks: props.taskIds },
      props.maxPatternChars ?? MAX_EVENT_PATTERN_CHARS,
    );
    this.rules = patterns.map(
      (pattern, index) =>
        new events.Rule(this, patterns.length === 1 ? 'Rule' : `Rule${index + 1}`, {
          eventBus: props.bus,
          description: `InferenceRequested events no task and tenant rule takes${patterns.length > 1 ? ` (part ${index + 1} of ${patterns.length})` : ''}`,
          // `$or` and `detail-type` pass through the CDK's rendering unchanged; its EventPattern type
          // only lacks `$or`.
          eventPattern: pattern as events.EventPattern,
          targets: [
            new targets.SqsQueue(this.queue, {
              deadLetterQueue: this.ruleDeadLetterQueue,
              retryAttempts: RULE_TARGET_RETRY.attempts,
              maxEventAge: RULE_TARGET_RETRY.maxEventAge,
            }),
          ],
        }),
    );
  }
}
