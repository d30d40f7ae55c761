import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { Duration, type RemovalPolicy } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as firehose from 'aws-cdk-lib/aws-kinesisfirehose';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { ZSTD_WASM } from '../../functions/core/packing/codec';
import { workQueueName } from '../../functions/core/queue-names';
import { isValidThreshold } from '../../functions/core/task/decide';
import type { TenantPolicies } from '../../functions/core/tenant-policy';
import { TENANT_POLICIES_FILE } from '../../functions/shared/env';
import { DeadLetterQueue } from './dead-letter-queue';
import { pascal } from './inference-bus';
import type { TenantStateTable } from './tenant-state-table';
import type { TierModel } from './tier-model';
import { WorkQueue } from './work-queue';

export interface TierTenant {
  readonly id: string;
  /** Share of the tier's maximum concurrency this tenant's event source may use, (0, 1]. */
  readonly maxConcurrencyShare: number;
}

export interface InferenceTierProps {
  /** The stage: part of the function's and every queue's name (functions/core/queue-names.ts). */
  readonly stage: string;
  /** The model this tier runs, from its task's manifest; the task is the model's. */
  readonly model: TierModel;
  /** 1-based position in the task's tiers: 1 is the entry tier, which takes the producers' requests. */
  readonly tier: number;
  /** Whether this is the task's last tier, which answers every request it gets. */
  readonly lastTier: boolean;
  /**
   * Confidence at or above which this tier's answer is final (`manifest`: the manifest's calibrated
   * cascade). Required for every tier but the last; the last tier has none.
   */
  readonly threshold?: 'manifest' | number;
  /** Path of the handler module (bundled with esbuild, CommonJS). */
  readonly entry: string;
  /** Project root and lockfile for esbuild; bundling never uses Docker. */
  readonly projectRoot: string;
  readonly depsLockFilePath: string;
  readonly bus: events.IEventBus;
  /** Which events this tier consumes, per tenant: an EventBridge pattern builder. */
  readonly eventPatternFor: (tenantId: string) => events.EventPattern;
  readonly tenants: readonly TierTenant[];
  readonly layers: readonly lambda.ILayerVersion[];
  readonly architecture: lambda.Architecture;
  readonly memoryMiB: number;
  readonly timeout: Duration;
  readonly provisionedConcurrency: {
    readonly min: number;
    readonly max: number;
    readonly targetUtilization: number;
  };
  readonly batchSize: number;
  readonly maxBatchingWindow: Duration;
  /** Maximum concurrency of the whole tier; each tenant gets its share (at least 2, the SQS minimum). */
  readonly maxConcurrency: number;
  readonly maxReceiveCount: number;
  /** Bucket holding claim-checked payloads (payloads over the EventBridge entry limit). */
  readonly claimBucket: s3.IBucket;
  /**
   * The archive's delivery stream: the handler writes the archive rows of what travels in packs
   * (the archive rules leave packs out) with PutRecordBatch.
   */
  readonly archiveStream: firehose.IDeliveryStream;
  /**
   * Per-tenant quota and ordering, enforced by this tier (the entry tier) through the shared
   * table. The function may then read and write that table's items, and send to its own work
   * queues (records over quota or held for ordering are re-queued with a delay).
   * @default none: no quota, no ordering
   */
  readonly tenantState?: { readonly table: TenantStateTable; readonly policies: TenantPolicies };
  /** Extra environment for the handler. @default none */
  readonly environment?: Record<string, string>;
  readonly logRetention: logs.RetentionDays;
  readonly removalPolicy: RemovalPolicy;
}

/** Per-tenant wiring of one tier: the rule, its target DLQ, the work queue and its DLQ. */
export interface TenantLane {
  readonly tenantId: string;
  readonly rule: events.Rule;
  readonly ruleDeadLetterQueue: sqs.Queue;
  readonly queue: sqs.Queue;
  readonly deadLetterQueue: sqs.Queue;
  readonly eventSourceMaxConcurrency: number;
}

/** EventBridge retries delivery to SQS this long before using the target DLQ (its maximums). */
export const RULE_TARGET_RETRY = { attempts: 185, maxEventAge: Duration.hours(24) } as const;
export const ALIAS_NAME = 'live';

/**
 * One inference tier: a function behind the alias `live` (provisioned concurrency with target
 * tracking), and for every tenant its own rule, SQS buffer, DLQ and event-source concurrency
 * share, so one tenant's flood or poison cannot starve or fail another.
 */
export class InferenceTier extends Construct {
  public readonly task: string;
  public readonly tier: number;
  public readonly function: nodejs.NodejsFunction;
  public readonly alias: lambda.Alias;
  public readonly lanes: readonly TenantLane[];

  constructor(scope: Construct, id: string, props: InferenceTierProps) {
    super(scope, id);
    validateTierProps(props);
    const logGroup = new logs.LogGroup(this, 'Logs', {
      retention: props.logRetention,
      removalPolicy: props.removalPolicy,
    });

    const task = props.model.taskId;
    this.task = task;
    this.tier = props.tier;
    // An explicit role instead of AWSLambdaBasicExecutionRole: logs only to this tier's group.
    const role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `inferbus ${task} tier-${props.tier} function`,
    });
    logGroup.grantWrite(role);
    this.function = new nodejs.NodejsFunction(this, 'Function', {
      functionName: tierFunctionName(props.stage, task, props.tier),
      description: `inferbus ${task} tier-${props.tier} inference (${props.model.modelName})`,
      entry: props.entry,
      handler: 'handler',
      projectRoot: props.projectRoot,
      depsLockFilePath: props.depsLockFilePath,
      runtime: lambda.Runtime.NODEJS_22_X,
      architecture: props.architecture,
      memorySize: props.memoryMiB,
      timeout: props.timeout,
      layers: [...props.layers],
      role,
      logGroup,
      loggingFormat: lambda.LoggingFormat.JSON,
      applicationLogLevelV2: lambda.ApplicationLogLevel.INFO,
      systemLogLevelV2: lambda.SystemLogLevel.WARN,
      tracing: lambda.Tracing.ACTIVE,
      environment: {
        NODE_OPTIONS: '--enable-source-maps',
        INFERBUS_TASK: task,
        INFERBUS_TIER: String(props.tier),
        INFERBUS_LAST_TIER: String(props.lastTier),
        MODEL_NAME: props.model.modelName,
        ...(props.threshold === undefined ? {} : { CASCADE_THRESHOLD: String(props.threshold) }),
        EVENT_BUS_NAME: props.bus.eventBusName,
        // The task's models layer holds `models/<task>/`; the handler reads `<MODELS_DIR>/<task>/`.
        MODELS_DIR: '/opt/models',
        CLAIM_BUCKET: props.claimBucket.bucketName,
        ARCHIVE_STREAM_NAME: props.archiveStream.deliveryStreamName,
        ORT_INTRA_OP_THREADS: String(intraOpThreadsFor(props.memoryMiB)),
        POWERTOOLS_SERVICE_NAME: `inferbus-${task}-tier${props.tier}`,
        POWERTOOLS_METRICS_NAMESPACE: 'inferbus',
        ...props.environment,
      },
      bundling: {
        format: nodejs.OutputFormat.CJS,
        target: 'node22',
        minify: true,
        sourceMap: true,
        // The native runtime comes from the onnxruntime layer (/opt/nodejs/node_modules).
        externalModules: ['onnxruntime-node'],
        forceDockerBundling: false,
        // The pack codec's zstd runs as WebAssembly, read from `zstd.wasm` beside the bundle.
        commandHooks: {
          beforeBundling: () => [],
          beforeInstall: () => [],
          afterBundling: (inputDir, outputDir) => [
            `cp "${join(inputDir, ZSTD_WASM)}" "${join(outputDir, 'zstd.wasm')}"`,
          ],
        },
      },
    });

    const pc = props.provisionedConcurrency;
    this.alias = new lambda.Alias(this, 'Live', {
      aliasName: ALIAS_NAME,
      version: this.function.currentVersion,
      provisionedConcurrentExecutions: pc.min > 0 ? pc.min : undefined,
    });
    if (pc.min > 0) {
      this.alias
        .addAutoScaling({ minCapacity: pc.min, maxCapacity: pc.max })
        .scaleOnUtilization({ utilizationTarget: pc.targetUtilization });
    }

    props.bus.grantPutEventsTo(this.function);
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'ReadClaimCheckedPayloads',
        actions: ['s3:GetObject'],
        resources: [props.claimBucket.arnForObjects('*')],
      }),
    );
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'WriteArchiveRowsOfPacks',
        actions: ['firehose:PutRecordBatch'],
        resources: [props.archiveStream.deliveryStreamArn],
      }),
    );

    // Poison records, and records on their last receive, go straight to the DLQ of the queue they
    // came from with the reason attached; the handler derives the DLQ's URL from the record's
    // queue ARN by the naming rule, so nothing here grows with the number of tenants.
    this.lanes = props.tenants.map((tenant) => this.addTenantLane(tenant, props));
    this.function.addEnvironment('MAX_RECEIVE_COUNT', String(props.maxReceiveCount));

    if (props.tenantState) {
      props.tenantState.table.grantStateAccess(role);
      role.addToPrincipalPolicy(
        new iam.PolicyStatement({
          sid: 'RequeueDelayedRecords',
          actions: ['sqs:SendMessage'],
          resources: this.lanes.map((lane) => lane.queue.queueArn),
        }),
      );
      this.function.addEnvironment('TENANT_STATE_TABLE', props.tenantState.table.table.tableName);
      // The policies travel in a layer of their own: in the environment they would pass Lambda's
      // 4 KB limit at about a dozen tenants.
      this.function.addLayers(tenantConfigLayer(this, props.tenantState.policies));
      this.function.addEnvironment('TENANT_POLICIES_FILE', TENANT_POLICIES_FILE);
    }
  }

  private addTenantLane(tenant: TierTenant, props: InferenceTierProps): TenantLane {
    const scope = new Construct(this, `Tenant${pascal(tenant.id)}`);
    const work = new WorkQueue(scope, 'Work', {
      queueName: workQueueName(props.stage, this.task, props.tier, tenant.id),
      consumerTimeout: props.timeout,
      maxBatchingWindow: props.maxBatchingWindow,
      maxReceiveCount: props.maxReceiveCount,
      removalPolicy: props.removalPolicy,
    });
    const ruleDeadLetterQueue = new DeadLetterQueue(scope, 'RuleDlq', { removalPolicy: props.removalPolicy })
      .queue;
    const rule = new events.Rule(scope, 'Rule', {
      eventBus: props.bus,
      description: `${this.task} tier ${props.tier}: ${tenant.id}`,
      eventPattern: props.eventPatternFor(tenant.id),
      targets: [
        new targets.SqsQueue(work.queue, {
          deadLetterQueue: ruleDeadLetterQueue,
          retryAttempts: RULE_TARGET_RETRY.attempts,
          maxEventAge: RULE_TARGET_RETRY.maxEventAge,
        }),
      ],
    });
    const eventSourceMaxConcurrency = tenantConcurrency(props.maxConcurrency, tenant.maxConcurrencyShare);
    this.alias.addEventSource(
      new SqsEventSource(work.queue, {
        batchSize: props.batchSize,
        maxBatchingWindow: props.maxBatchingWindow.toSeconds() > 0 ? props.maxBatchingWindow : undefined,
        maxConcurrency: eventSourceMaxConcurrency,
        reportBatchItemFailures: true,
      }),
    );
    work.deadLetterQueue.grantSendMessages(this.function);
    return {
      tenantId: tenant.id,
      rule,
      ruleDeadLetterQueue,
      queue: work.queue,
      deadLetterQueue: work.deadLetterQueue,
      eventSourceMaxConcurrency,
    };
  }
}

/**
 * A layer holding only `/opt/inferbus/tenant-policies.json`. Its folder is named by the content's
 * digest, so the same policies give the same asset (and no new function version).
 */
function tenantConfigLayer(scope: Construct, policies: TenantPolicies): lambda.LayerVersion {
  const text = `${JSON.stringify(policies, null, 2)}\n`;
  const digest = createHash('sha256').update(text).digest('hex');
  const root = join(tmpdir(), 'inferbus-tenant-config', digest.slice(0, 24));
  const file = join(root, relative('/opt', TENANT_POLICIES_FILE));
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, text);
  return new lambda.LayerVersion(scope, 'TenantConfig', {
    description: `inferbus tenant policies, sha256 ${digest.slice(0, 12)}`,
    compatibleRuntimes: [lambda.Runtime.NODEJS_22_X],
    compatibleArchitectures: [lambda.Architecture.ARM_64, lambda.Architecture.X86_64],
    code: lambda.Code.fromAsset(root),
  });
}

/** `inferbus-<stage>-<task>-tier<N>`: at most 9 + 16 + 1 + 12 + 5 = 43 of Lambda's 64 characters. */
export const tierFunctionName = (stage: string, task: string, tier: number): string =>
  `inferbus-${stage}-${task}-tier${tier}`;

/** Each tenant gets its share of the tier's concurrency, never below the SQS minimum of 2. */
export function tenantConcurrency(tierMaxConcurrency: number, share: number): number {
  return Math.max(2, Math.floor(tierMaxConcurrency * share));
}

/** Lambda grants one vCPU per 1,769 MiB; more onnxruntime threads than vCPUs only adds contention. */
export function intraOpThreadsFor(memoryMiB: number): number {
  return Math.min(6, Math.max(1, Math.floor(memoryMiB / 1769)));
}

function validateTierProps(props: InferenceTierProps): void {
  const problems: string[] = [];
  if (props.tenants.length === 0) problems.push('tenants must list at least one tenant');
  if (props.batchSize > 10 && props.maxBatchingWindow.toSeconds() < 1) {
    problems.push(`batchSize ${props.batchSize} is above 10, so maxBatchingWindow must be at least 1 second`);
  }
  if (props.lastTier && props.threshold !== undefined) {
    problems.push('the last tier answers every request it gets, so it takes no threshold');
  }
  if (!props.lastTier && props.threshold === undefined) {
    problems.push('every tier but the last needs a threshold (a number in [1/K, 1] or "manifest")');
  }
  if (typeof props.threshold === 'number' && !isValidThreshold(props.threshold, props.model.labels.length)) {
    const k = props.model.labels.length;
    problems.push(
      `threshold ${props.threshold} is outside [1/${k}, 1] for task ${props.model.taskId}'s ${k} labels`,
    );
  }
  if (props.provisionedConcurrency.min > props.provisionedConcurrency.max) {
    problems.push(
      `provisionedConcurrency.min (${props.provisionedConcurrency.min}) must be <= max (${props.provisionedConcurrency.max})`,
    );
  }
  if (problems.length > 0)
    throw new Error(`InferenceTier ${props.model.taskId} tier ${props.tier}: ${problems.join('; ')}`);
}
