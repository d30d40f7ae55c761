/**
 * The local runtime's view of a synthesized stack: what `local/template` extracts from
 * `cdk.out/<stack>.template.json`, with every intrinsic (Ref, Fn::GetAtt, Fn::Join, Fn::Sub,
 * Fn::Select, Fn::Split, pseudo parameters) resolved to local values. Every other part of the
 * local runtime consumes this model and nothing else from the template, so there is exactly one
 * reader of CloudFormation.
 *
 * Local naming (stable across restarts, so state on disk keeps matching):
 * - account `000000000000`, region from the stack's environment (else `us-east-1`)
 * - physical names default to `<stackName>-<logicalId>` (S3 buckets lowercased) unless the
 *   template names the resource (`Name`, `QueueName`, `FunctionName`, `BucketName`...)
 * - queue URL `<endpoint>/000000000000/<queueName>`; ARNs as AWS formats them
 */
export const LOCAL_ACCOUNT = '000000000000';

export interface BusModel {
  readonly logicalId: string;
  readonly name: string;
  readonly arn: string;
}

export interface QueueModel {
  readonly logicalId: string;
  readonly name: string;
  readonly arn: string;
  readonly url: string;
  readonly visibilityTimeoutSeconds: number;
  readonly messageRetentionSeconds: number;
  /** Present when the queue has a RedrivePolicy. */
  readonly redrive?: { readonly deadLetterTargetArn: string; readonly maxReceiveCount: number };
  /** The template's SqsManagedSseEnabled; absent reads as false. */
  readonly sqsManagedSseEnabled?: boolean;
}

export interface InputTransformerModel {
  readonly inputPathsMap?: Record<string, string>;
  readonly inputTemplate: string;
}

export interface TargetModel {
  readonly id: string;
  /** Resolved target ARN: an SQS queue or a Firehose delivery stream here. */
  readonly arn: string;
  readonly input?: string;
  readonly inputPath?: string;
  readonly inputTransformer?: InputTransformerModel;
  readonly deadLetterArn?: string;
  /** The role EventBridge assumes to call the target (Firehose and other role-based targets). */
  readonly roleArn?: string;
  readonly retryPolicy?: {
    readonly maximumRetryAttempts?: number;
    readonly maximumEventAgeInSeconds?: number;
  };
}

export interface RuleModel {
  readonly logicalId: string;
  readonly name: string;
  readonly arn: string;
  readonly eventBusName: string;
  /** Parsed JSON event pattern, exactly as in the template. */
  readonly eventPattern: unknown;
  readonly enabled: boolean;
  readonly targets: readonly TargetModel[];
}

export interface FunctionModel {
  readonly logicalId: string;
  readonly name: string;
  readonly arn: string;
  /** Absolute path of the asset folder (`cdk.out/asset.<hash>`): the bytes `cdk deploy` uploads. */
  readonly assetDir: string;
  /** `file.export`, e.g. `index.handler`. */
  readonly handler: string;
  readonly runtime: string;
  readonly environment: Record<string, string>;
  readonly timeoutSeconds: number;
  readonly memoryMiB: number;
  /** ARN of the execution role, when the template names one of its own roles. */
  readonly roleArn?: string;
  /** Absolute asset folders of the function's layers, in order (each is a layer root = /opt). */
  readonly layerDirs: readonly string[];
  /**
   * Execution environments the template keeps initialised (its aliases' ProvisionedConcurrencyConfig,
   * summed); the local runtime starts them before it polls. @default 0
   */
  readonly provisionedConcurrency?: number;
}

export interface EventSourceMappingModel {
  readonly logicalId: string;
  readonly queueArn: string;
  /** Logical id of the function (the alias is resolved to its function). */
  readonly functionLogicalId: string;
  readonly aliasName?: string;
  readonly batchSize: number;
  readonly maxBatchingWindowSeconds: number;
  readonly maxConcurrency?: number;
  readonly reportBatchItemFailures: boolean;
  readonly enabled: boolean;
}

export interface DeliveryStreamModel {
  readonly logicalId: string;
  readonly name: string;
  readonly arn: string;
  readonly bucketName: string;
  /** Raw Firehose prefixes, with `!{timestamp:...}` / `!{firehose:error-output-type}` expressions. */
  readonly prefix: string;
  readonly errorOutputPrefix: string;
  readonly bufferingIntervalSeconds: number;
  readonly bufferingSizeMiB: number;
  /** The role Firehose assumes to write to the bucket (the destination's RoleARN). */
  readonly roleArn?: string;
  /** Present when the stream converts records to Parquet against a Glue table. */
  readonly parquet?: {
    readonly databaseName: string;
    readonly tableName: string;
    readonly compression: string;
  };
}

export interface GlueColumnModel {
  readonly name: string;
  readonly type: string;
}

export interface GlueTableModel {
  readonly databaseName: string;
  readonly name: string;
  readonly columns: readonly GlueColumnModel[];
  readonly partitionKeys: readonly GlueColumnModel[];
  /** `s3://bucket/prefix/` */
  readonly location: string;
  readonly parameters: Record<string, string>;
}

export interface WorkGroupModel {
  readonly name: string;
  /** `s3://bucket/prefix/` where query results are written as CSV. */
  readonly outputLocation: string;
  readonly bytesScannedCutoffPerQuery?: number;
}

export interface NamedQueryModel {
  readonly id: string;
  readonly name: string;
  readonly description: string;
  readonly database: string;
  readonly workGroup: string;
  readonly queryString: string;
}

export interface BucketModel {
  readonly logicalId: string;
  readonly name: string;
}

/** An `AWS::DynamoDB::Table`, created empty in the local DynamoDB-compatible server. */
export interface TableModel {
  readonly logicalId: string;
  readonly name: string;
  readonly arn: string;
  /** KeySchema, as CloudFormation writes it: HASH first, then an optional RANGE. */
  readonly keySchema: readonly { readonly AttributeName: string; readonly KeyType: 'HASH' | 'RANGE' }[];
  readonly attributeDefinitions: readonly {
    readonly AttributeName: string;
    readonly AttributeType: 'S' | 'N' | 'B';
  }[];
  /** The TTL attribute, when enabled. The local server never expires items: handlers check it. */
  readonly timeToLiveAttribute?: string;
}

export interface TemplateModel {
  readonly stackName: string;
  readonly account: string;
  readonly region: string;
  readonly buses: readonly BusModel[];
  readonly buckets: readonly BucketModel[];
  readonly queues: readonly QueueModel[];
  readonly rules: readonly RuleModel[];
  readonly functions: readonly FunctionModel[];
  readonly eventSourceMappings: readonly EventSourceMappingModel[];
  readonly deliveryStreams: readonly DeliveryStreamModel[];
  readonly glueTables: readonly GlueTableModel[];
  readonly workGroups: readonly WorkGroupModel[];
  readonly namedQueries: readonly NamedQueryModel[];
  readonly tables: readonly TableModel[];
  readonly iam: IamModel;
}

/** What the template says about authorization, resolved to local ARNs. */
export interface IamModel {
  /** Role ARN → the statements of its identity policies, and the managed policies it names. */
  readonly roles: ReadonlyMap<
    string,
    {
      readonly statements: readonly import('./iam/policy-document.js').PolicyStatement[];
      readonly managedPolicyArns: readonly string[];
    }
  >;
  /** Queue, topic, bucket, key or event bus ARN → the statements of its resource policy. */
  readonly resourcePolicies: ReadonlyMap<
    string,
    readonly import('./iam/policy-document.js').PolicyStatement[]
  >;
}

/** An SQS message as the SQS API and Lambda's SQS event both describe it. */
export interface SqsMessageAttribute {
  readonly DataType: string;
  readonly StringValue?: string;
  readonly BinaryValue?: string;
}

export interface ReceivedMessage {
  readonly messageId: string;
  readonly receiptHandle: string;
  readonly body: string;
  readonly md5OfBody: string;
  /** SentTimestamp, ApproximateReceiveCount, ApproximateFirstReceiveTimestamp, SenderId. */
  readonly attributes: Record<string, string>;
  readonly messageAttributes: Record<string, SqsMessageAttribute>;
}

/** What the EventBridge, Lambda and CLI parts need from the local SQS. */
export interface QueueService {
  /** `queue` is a queue ARN, URL or name. Throws a typed error for an unknown queue. */
  send(
    queue: string,
    body: string,
    messageAttributes?: Record<string, SqsMessageAttribute>,
  ): Promise<{ messageId: string }>;
  receive(
    queue: string,
    options: { maxMessages: number; waitTimeSeconds?: number; visibilityTimeoutSeconds?: number },
  ): Promise<ReceivedMessage[]>;
  delete(queue: string, receiptHandle: string): Promise<void>;
  changeVisibility(queue: string, receiptHandle: string, visibilityTimeoutSeconds: number): Promise<void>;
  /** Visible, in flight and delayed counts. */
  counts(queue: string): { visible: number; inFlight: number; delayed: number };
}

/** What EventBridge needs from the local Firehose. */
export interface FirehoseSink {
  putRecord(streamArn: string, data: string): Promise<void>;
}

/** Result of one Lambda invocation in the local runner. */
export type InvocationResult =
  | { readonly ok: true; readonly payload: unknown; readonly durationMs: number }
  | {
      readonly ok: false;
      /** `Handled` (the handler threw), `Timeout`, `Crash` (the worker died), `InitError`. */
      readonly errorType: 'Handled' | 'Timeout' | 'Crash' | 'InitError';
      readonly errorMessage: string;
      readonly durationMs: number;
    };

export interface LambdaInvoker {
  /**
   * `plainJsonEvent`: the event is plain JSON data already (strings, finite numbers, booleans,
   * null, arrays and plain objects; no undefined), so it can reach the worker by structured clone
   * instead of JSON text, with the same result for the handler and less work on both sides.
   */
  invoke(
    functionLogicalId: string,
    event: unknown,
    options?: { readonly plainJsonEvent?: boolean },
  ): Promise<InvocationResult>;
}
