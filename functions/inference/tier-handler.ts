import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { S3Client } from '@aws-sdk/client-s3';
import { SQSClient } from '@aws-sdk/client-sqs';
import middy from '@middy/core';
import type { Context, SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { QueueUrls } from '../core/queue-names';
import { ResultCache } from '../core/result-cache';
import { S3ClaimResolver } from '../shared/claims';
import { SqsDeadLetterSink } from '../shared/dead-letters';
import { type HandlerEnv, readHandlerEnv, readTenantPolicies } from '../shared/env';
import {
  injectHandlerError,
  injectHandlerTimeout,
  injectInitFailure,
  withPublishFaults,
} from '../shared/faults';
import { PutEventsPublisher } from '../shared/publisher';
import { SqsRequeuer } from '../shared/requeue';
import { DynamoTenantState } from '../shared/tenant-state';
import { guardInvocation } from './invocation-guard';
import { loadManifest, loadModel } from './model';
import { type BatchReport, processBatch, type Scorer } from './process-batch';
import type { Tenancy } from './tenant-gate';

export interface TierHandlerOptions {
  readonly tier: number;
  /** The last tier always answers; earlier tiers escalate when unsure. */
  readonly lastTier: boolean;
}

interface TierRuntime {
  readonly scorer: Scorer;
  readonly threshold: number;
}

/**
 * Builds a tier's Lambda handler. Everything expensive happens once per container, at module
 * load: environment validation, SDK clients, manifest, sha256 check, session creation and a
 * warm-up run. (The bundle is CommonJS, so loading finishes on the first invocation's await if
 * init is still running.)
 */
export function createTierHandler(options: TierHandlerOptions) {
  const env = readHandlerEnv();
  const serviceName = `inferbus-tier${options.tier}`;
  const logger = new Logger({ serviceName });
  const metrics = new Metrics({ namespace: 'inferbus', serviceName });
  const publisher = withPublishFaults(new PutEventsPublisher(new EventBridgeClient({}), env.EVENT_BUS_NAME));
  const sqs = new SQSClient({});
  // Every queue URL is derived from the record's queue ARN by the naming rule the CDK app uses.
  const queueUrls = new QueueUrls(env.AWS_ENDPOINT_URL_SQS ?? env.AWS_ENDPOINT_URL);
  const deadLetters = new SqsDeadLetterSink(sqs, (arn) => queueUrls.deadLetterQueue(arn), options.tier);
  // Quota and ordering run where the CDK app gave the function the tenant-state table (tier 1).
  const tenancy: Tenancy | undefined = env.TENANT_STATE_TABLE
    ? {
        store: new DynamoTenantState(new DynamoDBClient({}), env.TENANT_STATE_TABLE),
        requeuer: new SqsRequeuer(sqs, (arn) => queueUrls.workQueue(arn)),
        policies: readTenantPolicies(env.TENANT_POLICIES_FILE),
      }
    : undefined;
  const claims = new S3ClaimResolver(new S3Client({}));
  const cache = new ResultCache();
  const ready = loadRuntime(env, options);
  // Surface init failures (bad model file, bad manifest) in the logs at once, not only on invoke.
  ready.catch((error) => logger.error('tier initialisation failed', error as Error));

  const processRecords = async (
    event: SQSEvent,
    context: Context,
    signal: AbortSignal,
  ): Promise<SQSBatchResponse> => {
    const runtime = await ready;
    signal.throwIfAborted(); // init ran past the deadline: the guard has answered for the batch
    injectHandlerError();
    await injectHandlerTimeout(context.getRemainingTimeInMillis());
    signal.throwIfAborted();
    const { response, report } = await processBatch(event.Records, {
      tier: options.tier,
      lastTier: options.lastTier,
      threshold: runtime.threshold,
      maxReceiveCount: env.MAX_RECEIVE_COUNT,
      scorer: runtime.scorer,
      publisher,
      deadLetters,
      claims,
      cache,
      tenancy,
    });
    record(metrics, report);
    logger.info('batch processed', { ...report });
    return response;
  };

  const handle = async (event: SQSEvent, context: Context): Promise<SQSBatchResponse> => {
    const outcome = await guardInvocation(event.Records, (signal) => processRecords(event, context, signal), {
      deadLetters,
      maxReceiveCount: env.MAX_RECEIVE_COUNT,
      remainingMs: () => context.getRemainingTimeInMillis(),
    });
    if (outcome.ended) {
      logger.error(`batch ended early (${outcome.ended})`, {
        reason: outcome.reason,
        records: event.Records.length,
        deadLettered: outcome.deadLettered,
        handedBack: outcome.response.batchItemFailures.length,
      });
      metrics.addMetric(outcome.ended === 'error' ? 'BatchErrors' : 'BatchTimeouts', MetricUnit.Count, 1);
      metrics.addMetric('DeadLettered', MetricUnit.Count, outcome.deadLettered);
    }
    return outcome.response;
  };
  return middy(handle).use(injectLambdaContext(logger)).use(logMetrics(metrics));
}

async function loadRuntime(env: HandlerEnv, options: TierHandlerOptions): Promise<TierRuntime> {
  injectInitFailure();
  const manifest = await loadManifest(env.MODELS_DIR);
  const name = env.MODEL_NAME ?? `tier${options.tier}`;
  const model = await loadModel({
    modelsDir: env.MODELS_DIR,
    name,
    manifest,
    intraOpNumThreads: env.ORT_INTRA_OP_THREADS,
  });
  const entry = manifest.models.find((m) => m.name === name);
  const cascade = manifest.cascades.find((c) => c.tier1 === name) ?? manifest.cascades[0];
  const threshold =
    env.CASCADE_THRESHOLD === 'manifest' ? (cascade?.threshold ?? 0.5) : env.CASCADE_THRESHOLD;
  return {
    threshold,
    scorer: {
      modelName: name,
      modelVersion: (entry?.sha256 ?? 'unknown').slice(0, 12),
      scoreBatch: (texts) => model.scoreBatch(texts),
    },
  };
}

function record(metrics: Metrics, report: BatchReport): void {
  metrics.addMetric('Events', MetricUnit.Count, report.records);
  metrics.addMetric('Completed', MetricUnit.Count, report.completed);
  metrics.addMetric('Escalations', MetricUnit.Count, report.escalated);
  metrics.addMetric('Duplicates', MetricUnit.Count, report.duplicates);
  metrics.addMetric('Poison', MetricUnit.Count, report.poison);
  metrics.addMetric('Retried', MetricUnit.Count, report.retried);
  metrics.addMetric('DeadLettered', MetricUnit.Count, report.deadLettered);
  metrics.addMetric('BatchSize', MetricUnit.Count, report.records);
  metrics.addMetric('InferenceLatency', MetricUnit.Milliseconds, report.inferenceMs);
  metrics.addMetric('QuotaDelayed', MetricUnit.Count, report.quotaDelayed);
  metrics.addMetric('OrderingHeld', MetricUnit.Count, report.held);
  metrics.addMetric('SequenceDuplicates', MetricUnit.Count, report.sequenceDuplicates);
  metrics.addMetric('OutOfOrder', MetricUnit.Count, report.outOfOrder);
  metrics.addMetric('SequenceReused', MetricUnit.Count, report.sequenceReused);
  metrics.addMetric('SequenceGaps', MetricUnit.Count, report.sequenceGaps);
}
