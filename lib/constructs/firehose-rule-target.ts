import type { Duration } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import type * as iam from 'aws-cdk-lib/aws-iam';
import type * as firehose from 'aws-cdk-lib/aws-kinesisfirehose';
import type * as sqs from 'aws-cdk-lib/aws-sqs';

export interface FirehoseRuleTargetProps {
  /** The role EventBridge assumes to put records; it needs firehose:PutRecord(Batch) on the stream. */
  readonly role: iam.IRole;
  readonly input: events.RuleTargetInput;
  /**
   * Events that cannot be delivered after the retries land here. Its resource policy must let
   * EventBridge send from the rule (the caller adds that once for all the rules that share it).
   */
  readonly deadLetterQueue: sqs.IQueue;
  readonly retryAttempts: number;
  readonly maxEventAge: Duration;
}

/**
 * A Firehose rule target with a retry policy and a dead-letter queue. The stock
 * `FirehoseDeliveryStream` target has neither, and an archive that drops events silently when
 * Firehose throttles would break the promise that nothing is lost.
 */
export class FirehoseRuleTarget implements events.IRuleTarget {
  constructor(
    private readonly stream: firehose.IDeliveryStream,
    private readonly props: FirehoseRuleTargetProps,
  ) {}

  bind(): events.RuleTargetConfig {
    return {
      arn: this.stream.deliveryStreamArn,
      role: this.props.role,
      input: this.props.input,
      deadLetterConfig: { arn: this.props.deadLetterQueue.queueArn },
      retryPolicy: {
        maximumRetryAttempts: this.props.retryAttempts,
        maximumEventAgeInSeconds: this.props.maxEventAge.toSeconds(),
      },
    };
  }
}

/** An input transformer given as EventBridge spells it: a paths map and a template. */
export class RawInputTransformer extends events.RuleTargetInput {
  constructor(
    private readonly inputPathsMap: Record<string, string>,
    private readonly inputTemplate: string,
  ) {
    super();
  }

  bind(): events.RuleTargetInputProperties {
    return { inputPathsMap: this.inputPathsMap, inputTemplate: this.inputTemplate };
  }
}
