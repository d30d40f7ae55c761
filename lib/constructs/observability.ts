import { ArnFormat, Duration, type RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as firehose from 'aws-cdk-lib/aws-kinesisfirehose';
import * as kms from 'aws-cdk-lib/aws-kms';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';

export interface WatchedQueue {
  /** Human name used in alarm descriptions and the dashboard, e.g. `tier1 acme`. */
  readonly label: string;
  readonly queue: sqs.IQueue;
}

export interface ObservabilityProps {
  readonly stage: string;
  /** Every DLQ: alarm as soon as one message is visible. */
  readonly deadLetterQueues: readonly WatchedQueue[];
  /** Work queues: alarm when the oldest message is older than `maxQueueAge`. */
  readonly workQueues: readonly WatchedQueue[];
  readonly maxQueueAge: Duration;
  readonly functions: readonly { readonly label: string; readonly fn: lambda.IFunction }[];
  readonly deliveryStream: firehose.IDeliveryStream;
  /** Subscribed to the alarm topic when given. @default no subscription */
  readonly alarmEmail?: string;
  readonly removalPolicy: RemovalPolicy;
}

/**
 * Alarms on everything that means "an event is stuck or lost" (DLQ depth, queue age, function
 * errors and throttles, archive delivery), sent to one encrypted SNS topic, and one dashboard.
 */
export class Observability extends Construct {
  public readonly topic: sns.Topic;
  public readonly alarms: cloudwatch.Alarm[] = [];
  public readonly dashboard: cloudwatch.Dashboard;

  constructor(scope: Construct, id: string, props: ObservabilityProps) {
    super(scope, id);
    // CloudWatch cannot publish to a topic under the AWS-managed SNS key, so the topic has its own.
    const key = new kms.Key(this, 'TopicKey', {
      description: `inferbus-${props.stage} alarm topic`,
      enableKeyRotation: true,
      removalPolicy: props.removalPolicy,
    });
    key.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'CloudWatchAlarmsPublish',
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        resources: ['*'],
      }),
    );
    this.topic = new sns.Topic(this, 'Topic', {
      displayName: `inferbus ${props.stage} alarms`,
      masterKey: key,
      enforceSSL: true,
    });
    // enforceSSL gives the topic a policy of its own, which replaces SNS's default one (the one that
    // lets the account's services publish): without this statement no alarm could be delivered.
    this.topic.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'CloudWatchAlarmsPublish',
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['sns:Publish'],
        resources: [this.topic.topicArn],
        conditions: {
          StringEquals: { 'aws:SourceAccount': Stack.of(this).account },
          ArnLike: {
            'aws:SourceArn': Stack.of(this).formatArn({
              service: 'cloudwatch',
              resource: 'alarm',
              resourceName: '*',
              arnFormat: ArnFormat.COLON_RESOURCE_NAME,
            }),
          },
        },
      }),
    );
    if (props.alarmEmail) this.topic.addSubscription(new subscriptions.EmailSubscription(props.alarmEmail));

    for (const { label, queue } of props.deadLetterQueues) {
      this.alarm(
        `${label} dead letters`,
        queue.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(1) }),
        {
          threshold: 0,
          description: `Messages in the ${label} dead-letter queue: inspect with \`inferbus dlq show\`, then redrive.`,
        },
      );
    }
    for (const { label, queue } of props.workQueues) {
      this.alarm(
        `${label} queue age`,
        queue.metricApproximateAgeOfOldestMessage({ period: Duration.minutes(1) }),
        {
          threshold: props.maxQueueAge.toSeconds(),
          evaluationPeriods: 3,
          description: `The ${label} queue's oldest message is older than ${props.maxQueueAge.toSeconds()} s: consumers are behind.`,
        },
      );
    }
    for (const { label, fn } of props.functions) {
      this.alarm(`${label} errors`, fn.metricErrors({ period: Duration.minutes(1), statistic: 'Sum' }), {
        threshold: 0,
        description: `${label} invocations failed (whole-batch failures, timeouts or crashes).`,
      });
      this.alarm(
        `${label} throttles`,
        fn.metricThrottles({ period: Duration.minutes(1), statistic: 'Sum' }),
        {
          threshold: 0,
          description: `${label} was throttled: raise reserved or provisioned concurrency.`,
        },
      );
    }
    const delivered = props.deliveryStream.metric('DeliveryToS3.Success', {
      period: Duration.minutes(5),
      statistic: 'Minimum',
    });
    this.alarm('archive delivery', delivered, {
      threshold: 1,
      comparison: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
      description: 'Firehose failed to deliver archive data to S3: look under errors/ in the archive bucket.',
    });
    // A record Firehose cannot convert to Parquet is written under the error prefix, and delivery
    // carries on: without this alarm those rows would be missing from every query, silently.
    const unconverted = props.deliveryStream.metric('FailedConversion.Records', {
      period: Duration.minutes(5),
      statistic: 'Sum',
    });
    this.alarm('archive format conversion', unconverted, {
      threshold: 0,
      description:
        'Firehose could not convert archive records to Parquet (they are not in the table): read them under errors/format-conversion-failed/ in the archive bucket, fix the archive rule or table, then re-ingest them.',
    });

    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      dashboardName: `inferbus-${props.stage}`,
      widgets: [
        [
          new cloudwatch.GraphWidget({
            title: 'Queue depth',
            width: 12,
            left: props.workQueues.map(({ label, queue }) =>
              queue.metricApproximateNumberOfMessagesVisible({ label }),
            ),
          }),
          new cloudwatch.GraphWidget({
            title: 'Oldest message age (s)',
            width: 12,
            left: props.workQueues.map(({ label, queue }) =>
              queue.metricApproximateAgeOfOldestMessage({ label }),
            ),
          }),
        ],
        [
          new cloudwatch.GraphWidget({
            title: 'Invocations and errors',
            width: 12,
            left: props.functions.flatMap(({ label, fn }) => [
              fn.metricInvocations({ label: `${label} invocations` }),
              fn.metricErrors({ label: `${label} errors` }),
            ]),
          }),
          new cloudwatch.GraphWidget({
            title: 'Duration p99 (ms)',
            width: 12,
            left: props.functions.map(({ label, fn }) => fn.metricDuration({ label, statistic: 'p99' })),
          }),
        ],
        [new cloudwatch.AlarmStatusWidget({ title: 'Alarms', width: 24, alarms: this.alarms })],
      ],
    });
  }

  private alarm(
    name: string,
    metric: cloudwatch.IMetric,
    options: {
      threshold: number;
      description: string;
      evaluationPeriods?: number;
      comparison?: cloudwatch.ComparisonOperator;
    },
  ): void {
    const alarm = new cloudwatch.Alarm(this, name.replace(/[^a-zA-Z0-9]+/g, '-'), {
      metric,
      threshold: options.threshold,
      evaluationPeriods: options.evaluationPeriods ?? 1,
      comparisonOperator: options.comparison ?? cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      alarmDescription: options.description,
    });
    alarm.addAlarmAction(new actions.SnsAction(this.topic));
    this.alarms.push(alarm);
  }
}
