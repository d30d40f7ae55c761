import { Duration, RemovalPolicy, type Size, Stack } from 'aws-cdk-lib';
import * as athena from 'aws-cdk-lib/aws-athena';
import * as events from 'aws-cdk-lib/aws-events';
import * as glue from 'aws-cdk-lib/aws-glue';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as firehose from 'aws-cdk-lib/aws-kinesisfirehose';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import {
  ARCHIVE_COLUMNS,
  ARCHIVE_DATA_PREFIX,
  ARCHIVE_ERROR_PREFIX,
  ARCHIVE_PARTITIONS,
  ARCHIVE_TABLE_NAME,
} from '../../functions/core/archive/columns';
import type { NamedQueryDefinition } from '../../functions/core/archive/named-queries';
import { archiveRules } from '../../functions/core/archive/rules';
import { DeadLetterQueue } from './dead-letter-queue';
import { FirehoseRuleTarget, RawInputTransformer } from './firehose-rule-target';
import { RULE_TARGET_RETRY } from './inference-tier';

export interface EventArchiveProps {
  readonly bus: events.IEventBus;
  /** Glue database name (lowercase, underscores). */
  readonly databaseName: string;
  readonly workGroupName: string;
  readonly bufferingInterval: Duration;
  readonly bufferingSize: Size;
  /** Days before archived objects expire; 0 keeps them. */
  readonly retentionDays: number;
  readonly athenaResultsRetentionDays: number;
  readonly athenaBytesScannedCutoffPerQuery: number;
  readonly namedQueries: readonly NamedQueryDefinition[];
  /** Bucket for server access logs of the archive buckets. */
  readonly accessLogsBucket: s3.IBucket;
  readonly logRetention: logs.RetentionDays;
  readonly removalPolicy: RemovalPolicy;
}

/** First day partition projection enumerates; queries always bound `dt`, so it only caps ranges. */
export const PROJECTION_START_DATE = '2026-01-01';

/**
 * Every event on the bus, flattened and stored as Parquet in S3, queryable with Athena:
 * rules whose patterns partition the bus, each with an input transformer that names only paths
 * its pattern guarantees (functions/core/archive/rules.ts) → Firehose (JSON → Parquet against the Glue table, partitioned by
 * arrival `dt`/`hour`, failures under an error prefix) → S3, with a Glue table that uses
 * partition projection (no crawler, no MSCK REPAIR) and an Athena workgroup with enforced
 * settings and the operator's named queries.
 */
export class EventArchive extends Construct {
  public readonly bucket: s3.Bucket;
  public readonly resultsBucket: s3.Bucket;
  public readonly database: glue.CfnDatabase;
  public readonly table: glue.CfnTable;
  public readonly deliveryStream: firehose.DeliveryStream;
  /** One per shape of event; their patterns partition the bus, so each event is archived once. */
  public readonly rules: events.Rule[];
  public readonly ruleDeadLetterQueue: sqs.Queue;
  public readonly workGroup: athena.CfnWorkGroup;

  constructor(scope: Construct, id: string, props: EventArchiveProps) {
    super(scope, id);
    const stack = Stack.of(this);
    const autoDelete = props.removalPolicy === RemovalPolicy.DESTROY;

    this.bucket = new s3.Bucket(this, 'Bucket', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      versioned: true,
      serverAccessLogsBucket: props.accessLogsBucket,
      serverAccessLogsPrefix: 'archive/',
      removalPolicy: props.removalPolicy,
      autoDeleteObjects: autoDelete,
      lifecycleRules: [
        {
          id: 'tier-down',
          transitions: [
            { storageClass: s3.StorageClass.INTELLIGENT_TIERING, transitionAfter: Duration.days(30) },
          ],
        },
        { id: 'old-versions', noncurrentVersionExpiration: Duration.days(7) },
        { id: 'incomplete-uploads', abortIncompleteMultipartUploadAfter: Duration.days(1) },
        ...(props.retentionDays > 0
          ? [{ id: 'retention', expiration: Duration.days(props.retentionDays) }]
          : []),
      ],
    });

    this.resultsBucket = new s3.Bucket(this, 'AthenaResults', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      serverAccessLogsBucket: props.accessLogsBucket,
      serverAccessLogsPrefix: 'athena-results/',
      removalPolicy: props.removalPolicy,
      autoDeleteObjects: autoDelete,
      lifecycleRules: [{ id: 'results', expiration: Duration.days(props.athenaResultsRetentionDays) }],
    });

    this.database = new glue.CfnDatabase(this, 'Database', {
      catalogId: stack.account,
      databaseInput: { name: props.databaseName, description: 'inferbus event archive' },
    });
    this.table = this.createTable(props.databaseName);
    this.table.node.addDependency(this.database);

    const firehoseLogs = new logs.LogGroup(this, 'DeliveryLogs', {
      retention: props.logRetention,
      removalPolicy: props.removalPolicy,
    });
    this.deliveryStream = new firehose.DeliveryStream(this, 'Delivery', {
      encryption: firehose.StreamEncryption.awsOwnedKey(),
      destination: new firehose.S3Bucket(this.bucket, {
        dataOutputPrefix: `${ARCHIVE_DATA_PREFIX}dt=!{timestamp:yyyy-MM-dd}/hour=!{timestamp:HH}/`,
        errorOutputPrefix: `${ARCHIVE_ERROR_PREFIX}!{firehose:error-output-type}/dt=!{timestamp:yyyy-MM-dd}/`,
        bufferingInterval: props.bufferingInterval,
        bufferingSize: props.bufferingSize,
        loggingConfig: new firehose.EnableLogging(firehoseLogs),
        dataFormatConversion: {
          schemaConfiguration: firehose.SchemaConfiguration.fromCfnTable(this.table),
          inputFormat: firehose.InputFormat.OPENX_JSON,
          outputFormat: new firehose.ParquetOutputFormat({ compression: firehose.ParquetCompression.SNAPPY }),
        },
      }),
    });

    this.ruleDeadLetterQueue = new DeadLetterQueue(this, 'RuleDlq', {
      removalPolicy: props.removalPolicy,
    }).queue;
    const role = new iam.Role(this, 'RulesRole', {
      assumedBy: new iam.ServicePrincipal('events.amazonaws.com'),
      description: 'Lets the archive rules put records into the archive delivery stream',
    });
    this.deliveryStream.grantPutRecords(role);
    this.rules = archiveRules().map(
      (definition) =>
        new events.Rule(this, `Rule${definition.id}`, {
          eventBus: props.bus,
          description: definition.description,
          eventPattern: definition.eventPattern as events.EventPattern,
          targets: [
            new FirehoseRuleTarget(this.deliveryStream, {
              role,
              input: new RawInputTransformer(definition.inputPathsMap, definition.inputTemplate),
              deadLetterQueue: this.ruleDeadLetterQueue,
              retryAttempts: RULE_TARGET_RETRY.attempts,
              maxEventAge: RULE_TARGET_RETRY.maxEventAge,
            }),
          ],
        }),
    );
    this.ruleDeadLetterQueue.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'AllowArchiveRuleDeadLetters',
        principals: [new iam.ServicePrincipal('events.amazonaws.com')],
        actions: ['sqs:SendMessage'],
        resources: [this.ruleDeadLetterQueue.queueArn],
        conditions: { ArnEquals: { 'aws:SourceArn': this.rules.map((rule) => rule.ruleArn) } },
      }),
    );

    this.workGroup = new athena.CfnWorkGroup(this, 'WorkGroup', {
      name: props.workGroupName,
      description: 'inferbus archive queries',
      state: 'ENABLED',
      recursiveDeleteOption: props.removalPolicy === RemovalPolicy.DESTROY,
      workGroupConfiguration: {
        enforceWorkGroupConfiguration: true,
        publishCloudWatchMetricsEnabled: true,
        bytesScannedCutoffPerQuery: props.athenaBytesScannedCutoffPerQuery,
        engineVersion: { selectedEngineVersion: 'Athena engine version 3' },
        resultConfiguration: {
          outputLocation: this.resultsBucket.s3UrlForObject('results/'),
          encryptionConfiguration: { encryptionOption: 'SSE_S3' },
        },
      },
    });

    for (const query of props.namedQueries) {
      const named = new athena.CfnNamedQuery(this, `Query-${query.name}`, {
        name: query.name,
        description: `${query.description}. Parameters: ${query.params.map((p) => p.name).join(', ') || 'none'}`,
        database: props.databaseName,
        workGroup: this.workGroup.ref,
        queryString: query.sql,
      });
      named.node.addDependency(this.workGroup, this.database);
    }
  }

  private createTable(databaseName: string): glue.CfnTable {
    const location = this.bucket.s3UrlForObject(ARCHIVE_DATA_PREFIX);
    return new glue.CfnTable(this, 'Table', {
      catalogId: Stack.of(this).account,
      databaseName,
      tableInput: {
        name: ARCHIVE_TABLE_NAME,
        description: 'One row per event on the bus (see functions/core/archive/columns.ts)',
        tableType: 'EXTERNAL_TABLE',
        parameters: {
          classification: 'parquet',
          'parquet.compression': 'SNAPPY',
          'projection.enabled': 'true',
          'projection.dt.type': 'date',
          'projection.dt.format': 'yyyy-MM-dd',
          'projection.dt.range': `${PROJECTION_START_DATE},NOW`,
          'projection.dt.interval': '1',
          'projection.dt.interval.unit': 'DAYS',
          'projection.hour.type': 'integer',
          'projection.hour.range': '0,23',
          'projection.hour.digits': '2',
          'storage.location.template': `${location}dt=\${dt}/hour=\${hour}/`,
        },
        partitionKeys: ARCHIVE_PARTITIONS.map(({ name, type, comment }) => ({ name, type, comment })),
        storageDescriptor: {
          location,
          columns: ARCHIVE_COLUMNS.map(({ name, type, comment }) => ({ name, type, comment })),
          inputFormat: 'org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat',
          outputFormat: 'org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat',
          serdeInfo: { serializationLibrary: 'org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe' },
        },
      },
    });
  }
}
