import { join } from 'node:path';
import { Duration, RemovalPolicy, Size, Stack, type StackProps } from 'aws-cdk-lib';
import type * as events from 'aws-cdk-lib/aws-events';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { NAMED_QUERIES } from '../../functions/core/archive/named-queries';
import { escalationPattern, tenantRequestPattern } from '../../functions/core/routing';
import { stageResourceNames } from '../../functions/core/stage-names';
import type { StageConfig } from '../config';
import { resolveTasks } from '../config/resolve-tasks';
import { EventArchive } from '../constructs/event-archive';
import { InferenceBus, pascal } from '../constructs/inference-bus';
import { InferenceLayers } from '../constructs/inference-layers';
import { InferenceTier } from '../constructs/inference-tier';
import { Observability } from '../constructs/observability';
import { TenantDeadLetterAccess } from '../constructs/tenant-dlq-access';
import { TenantStateTable } from '../constructs/tenant-state-table';
import { UnroutedRequests } from '../constructs/unrouted-requests';
import { acknowledgeNagFindings } from './nag-acknowledgements';

export interface InferbusStackProps extends StackProps {
  readonly config: StageConfig;
  /** Repository root: handlers, lockfile, `models/` and `layers/` are found from here. */
  readonly projectRoot: string;
  /** Holds one folder per task (`<task>/manifest.json` and its models). @default `<projectRoot>/models` */
  readonly modelsDir?: string;
}

/** Names that operators and the CLI derive from the stage alone (one definition, in functions/core). */
export const stageNames = stageResourceNames;

/** One task's pipeline: its tiers, cheapest first. */
export interface TaskPipeline {
  readonly id: string;
  readonly tiers: readonly InferenceTier[];
}

/**
 * The whole pipeline of one stage: bus → per-task, per-tenant rules → SQS → each task's tiers of
 * Lambda functions (tiered ONNX inference) → results back on the bus; every event archived as
 * Parquet for Athena; every failure in a DLQ with an alarm.
 */
export class InferbusStack extends Stack {
  public readonly bus: InferenceBus;
  /** In the stage's order: the first task takes requests that name no task. */
  public readonly tasks: readonly TaskPipeline[];
  public readonly archive: EventArchive;
  public readonly observability: Observability;
  public readonly claimBucket: s3.Bucket;
  public readonly tenantState: TenantStateTable;
  public readonly unrouted: UnroutedRequests;

  constructor(scope: Construct, id: string, props: InferbusStackProps) {
    super(scope, id, props);
    const { config, projectRoot } = props;
    const names = stageNames(config.stage);
    const modelsDir = props.modelsDir ?? join(projectRoot, 'models');
    // Every tier's model from its task's manifest; a bad model name or threshold fails synth here.
    const tasks = resolveTasks(config, modelsDir);
    const taskIds = tasks.map((task) => task.id);
    const removalPolicy = config.removalPolicy === 'retain' ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY;
    const logRetention = config.logRetentionDays as logs.RetentionDays;

    this.bus = new InferenceBus(this, 'Bus', {
      busName: names.busName,
      replayRetentionDays: config.archive.replayRetentionDays,
      tenantPublishers: config.tenants.map((t) => ({ tenantId: t.id, principals: t.publisherPrincipals })),
    });

    // Server access logs of the archive buckets land here.
    const accessLogs = new s3.Bucket(this, 'AccessLogs', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_PREFERRED,
      removalPolicy,
      autoDeleteObjects: removalPolicy === RemovalPolicy.DESTROY,
      lifecycleRules: [{ expiration: Duration.days(90) }],
    });

    // Payloads too large for an EventBridge entry are stored here and the event carries a pointer.
    // Kept as long as an event can wait in a DLQ (14 days), then expired.
    const claims = new s3.Bucket(this, 'Claims', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      serverAccessLogsBucket: accessLogs,
      serverAccessLogsPrefix: 'claims/',
      removalPolicy,
      autoDeleteObjects: removalPolicy === RemovalPolicy.DESTROY,
      lifecycleRules: [{ expiration: Duration.days(15) }],
    });
    this.claimBucket = claims;

    this.archive = new EventArchive(this, 'Archive', {
      bus: this.bus.bus,
      databaseName: names.databaseName,
      workGroupName: names.workGroupName,
      bufferingInterval: Duration.seconds(config.archive.bufferingIntervalSeconds),
      bufferingSize: Size.mebibytes(config.archive.bufferingSizeMiB),
      retentionDays: config.archive.retentionDays,
      athenaResultsRetentionDays: config.archive.athenaResultsRetentionDays,
      athenaBytesScannedCutoffPerQuery: config.archive.athenaBytesScannedCutoffPerQuery,
      namedQueries: NAMED_QUERIES,
      accessLogsBucket: accessLogs,
      logRetention,
      removalPolicy,
    });

    // Quota buckets and stream sequence state, shared by every execution of the entry tier.
    this.tenantState = new TenantStateTable(this, 'TenantState', { removalPolicy });
    const tenantPolicies = Object.fromEntries(
      config.tenants.map((t) => [
        t.id,
        {
          ratePerSecond: t.quota.ratePerSecond,
          burst: t.quota.burst,
          ordering: t.ordering.policy,
          maxHoldSeconds: t.ordering.maxHoldSeconds,
        },
      ]),
    );

    const layers = new InferenceLayers(this, 'Layers', {
      tasks: tasks.map((task) => ({ id: task.id, taskDir: join(modelsDir, task.id) })),
      layersDir: join(projectRoot, 'layers'),
    });
    const architecture =
      config.architecture === 'arm64' ? lambda.Architecture.ARM_64 : lambda.Architecture.X86_64;
    this.tasks = tasks.map((task) => {
      const scope = new Construct(this, `Task${pascal(task.id)}`);
      const tiers = task.tiers.map(({ tier, lastTier, model, threshold, settings: c }) => {
        const entryTier = tier === 1;
        return new InferenceTier(scope, `Tier${tier}`, {
          stage: config.stage,
          model,
          tier,
          lastTier,
          threshold,
          // The entry tier does quota and ordering; every later tier takes escalations only.
          entry: join(projectRoot, 'functions', entryTier ? 'tier1' : 'tier2', 'handler.ts'),
          projectRoot,
          depsLockFilePath: join(projectRoot, 'package-lock.json'),
          bus: this.bus.bus,
          tenants: config.tenants,
          layers: [layers.onnxRuntime, layers.modelsOf(task.id)],
          architecture,
          memoryMiB: c.memoryMiB,
          timeout: Duration.seconds(c.timeoutSeconds),
          provisionedConcurrency: c.provisionedConcurrency,
          batchSize: c.batchSize,
          maxBatchingWindow: Duration.seconds(c.maxBatchingWindowSeconds),
          maxConcurrency: c.maxConcurrency,
          maxReceiveCount: c.maxReceiveCount,
          claimBucket: claims,
          archiveStream: this.archive.deliveryStream,
          logRetention,
          removalPolicy,
          ...(entryTier
            ? {
                // Quota and ordering apply where events enter: later tiers only see escalations,
                // which were counted and ordered already, so they get no access to the table.
                tenantState: { table: this.tenantState, policies: tenantPolicies },
                // The unrouted rule below is built as the complement of these patterns, from the same module.
                eventPatternFor: (tenant: string) =>
                  tenantRequestPattern(tenant, task.id, taskIds) as events.EventPattern,
              }
            : {
                eventPatternFor: (tenant: string) =>
                  escalationPattern(tenant, task.id, tier) as events.EventPattern,
              }),
        });
      });
      return { id: task.id, tiers };
    });
    const allTiers = this.tasks.flatMap((task) => task.tiers);

    // Results and escalations are the handlers' alone: nobody else may publish them on the bus.
    this.bus.reserveResultsTo(
      allTiers.map((tier) => {
        if (!tier.function.role) throw new Error(`${tier.node.path}: the function has no role`);
        return tier.function.role;
      }),
    );

    // Requests no tenant rule takes: kept, with the reason derivable, instead of dropped by the bus.
    this.unrouted = new UnroutedRequests(this, 'UnroutedRequests', {
      bus: this.bus.bus,
      tenantIds: config.tenants.map((t) => t.id),
      taskIds,
      removalPolicy,
    });

    const tierList = allTiers.map((tier) => ({ tier, label: `${tier.task} tier${tier.tier}` }));
    this.observability = new Observability(this, 'Observability', {
      stage: config.stage,
      deadLetterQueues: [
        ...tierList.flatMap(({ tier, label }) =>
          tier.lanes.flatMap((lane) => [
            { label: `${label} ${lane.tenantId}`, queue: lane.deadLetterQueue },
            { label: `${label} ${lane.tenantId} rule`, queue: lane.ruleDeadLetterQueue },
          ]),
        ),
        { label: 'archive rule', queue: this.archive.ruleDeadLetterQueue },
        { label: 'unrouted requests', queue: this.unrouted.queue },
        { label: 'unrouted rule', queue: this.unrouted.ruleDeadLetterQueue },
      ],
      workQueues: tierList.flatMap(({ tier, label }) =>
        tier.lanes.map((lane) => ({ label: `${label} ${lane.tenantId}`, queue: lane.queue })),
      ),
      maxQueueAge: Duration.seconds(config.alarms.maxQueueAgeSeconds),
      functions: tierList.map(({ tier, label }) => ({ label, fn: tier.function })),
      deliveryStream: this.archive.deliveryStream,
      alarmEmail: config.alarms.email,
      removalPolicy,
    });

    new TenantDeadLetterAccess(this, 'TenantDeadLetterAccess', {
      tenants: config.tenants.map((tenant) => ({
        tenantId: tenant.id,
        queues: tierList.flatMap(({ tier }) =>
          tier.lanes
            .filter((lane) => lane.tenantId === tenant.id)
            .flatMap((lane) => [lane.deadLetterQueue, lane.ruleDeadLetterQueue]),
        ),
        readers: tenant.dlqReaderPrincipals,
        principals: [...tenant.publisherPrincipals, ...tenant.dlqReaderPrincipals],
      })),
      // Every tenant's events (and results) land here, so no tenant may read it.
      sharedQueues: [this.archive.ruleDeadLetterQueue],
    });

    acknowledgeNagFindings(this);
  }
}
