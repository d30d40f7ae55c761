import type { Duration } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as firehose from 'aws-cdk-lib/aws-kinesisfirehose';
import type * as sqs from 'aws-cdk-lib/aws-sqs';

export interface FirehoseRuleTargetProps {
  readonly input: events.RuleTargetInput;
  /** Events that cannot be delivered after the retries land here. */
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

  bind(rule: events.IRuleRef): events.RuleTargetConfig {
    const ruleArn = rule.ruleRef.ruleArn;
    const role = new iam.Role(this.stream, 'EventsRole', {
      assumedBy: new iam.ServicePrincipal('events.amazonaws.com'),
      description: 'Lets the archive rule put records into the archive delivery stream',
    });
    this.stream.grantPutRecords(role);
    this.props.deadLetterQueue.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'AllowArchiveRuleDeadLetters',
        principals: [new iam.ServicePrincipal('events.amazonaws.com')],
        actions: ['sqs:SendMessage'],
        resources: [this.props.deadLetterQueue.queueArn],
        conditions: { ArnEquals: { 'aws:SourceArn': ruleArn } },
      }),
    );
    return {
      arn: this.stream.deliveryStreamArn,
      role,
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
