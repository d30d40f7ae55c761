import { Duration, type RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';

export interface DeadLetterQueueProps {
  /** @default a name CloudFormation generates */
  readonly queueName?: string;
  /** How long failed messages are kept for inspection and redrive. @default 14 days (the SQS maximum) */
  readonly retentionPeriod?: Duration;
  /** @default RemovalPolicy.DESTROY for the construct's default; set from stage config */
  readonly removalPolicy?: RemovalPolicy;
}

/**
 * A dead-letter queue with the house defaults: SSE, TLS-only access and the longest retention,
 * so a failure can be inspected and redriven long after it happened.
 */
export class DeadLetterQueue extends Construct {
  public readonly queue: sqs.Queue;

  constructor(scope: Construct, id: string, props: DeadLetterQueueProps = {}) {
    super(scope, id);
    this.queue = new sqs.Queue(this, 'Queue', {
      queueName: props.queueName,
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: props.retentionPeriod ?? Duration.days(14),
      removalPolicy: props.removalPolicy,
    });
    Validations.of(this.queue).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason:
        'This queue is itself a dead-letter queue (of a work queue or of an EventBridge rule target). ' +
        'cdk-nag only recognises DLQs named in a RedrivePolicy, not rule-target DLQs; a DLQ of a DLQ would hide failures.',
    });
  }
}
