import { Duration, type RemovalPolicy, Token } from 'aws-cdk-lib';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { deadLetterQueueName } from '../../functions/core/queue-names';
import { DeadLetterQueue } from './dead-letter-queue';

export interface WorkQueueProps {
  /** The queue's name; its DLQ is named by `deadLetterQueueName` (handlers derive URLs from both). */
  readonly queueName: string;
  /** Timeout of the function that consumes the queue; visibility is derived from it. */
  readonly consumerTimeout: Duration;
  /** Batching window of the event source mapping; added to the visibility timeout. @default none */
  readonly maxBatchingWindow?: Duration;
  /** Receives before a message moves to the DLQ. */
  readonly maxReceiveCount: number;
  /** @default - the CDK default (retain) */
  readonly removalPolicy?: RemovalPolicy;
}

/** AWS recommends a visibility timeout of at least six times the function timeout. */
export const VISIBILITY_TIMEOUT_FACTOR = 6;

/**
 * An SQS buffer in front of a Lambda function, with its own dead-letter queue: SSE, TLS-only,
 * visibility timeout of 6x the consumer timeout plus the batching window (so a message is never
 * redelivered while a slow batch is still running), redrive after `maxReceiveCount` receives.
 */
export class WorkQueue extends Construct {
  public readonly queue: sqs.Queue;
  public readonly deadLetterQueue: sqs.Queue;

  constructor(scope: Construct, id: string, props: WorkQueueProps) {
    super(scope, id);
    validateWorkQueueProps(props);
    this.deadLetterQueue = new DeadLetterQueue(this, 'Dlq', {
      queueName: deadLetterQueueName(props.queueName),
      removalPolicy: props.removalPolicy,
    }).queue;
    const visibility =
      props.consumerTimeout.toSeconds() * VISIBILITY_TIMEOUT_FACTOR +
      (props.maxBatchingWindow?.toSeconds() ?? 0);
    this.queue = new sqs.Queue(this, 'Queue', {
      queueName: props.queueName,
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      visibilityTimeout: Duration.seconds(visibility),
      retentionPeriod: Duration.days(4),
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount: props.maxReceiveCount },
      removalPolicy: props.removalPolicy,
    });
  }
}

function validateWorkQueueProps(props: WorkQueueProps): void {
  const receives = props.maxReceiveCount;
  if (!Token.isUnresolved(receives) && (!Number.isInteger(receives) || receives < 1 || receives > 1000)) {
    throw new Error(`maxReceiveCount must be an integer from 1 to 1000; got ${receives}`);
  }
  const visibility = props.consumerTimeout.toSeconds() * VISIBILITY_TIMEOUT_FACTOR;
  if (visibility > 43_200) {
    throw new Error(
      `consumerTimeout x ${VISIBILITY_TIMEOUT_FACTOR} must fit the SQS visibility limit of 43,200 s; ` +
        `got ${props.consumerTimeout.toSeconds()} s. Lower the function timeout to 7,200 s or less.`,
    );
  }
}
