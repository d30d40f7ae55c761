import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { FirehoseClient } from '@aws-sdk/client-firehose';
import { S3Client } from '@aws-sdk/client-s3';
import { SQSClient } from '@aws-sdk/client-sqs';
import middy from '@middy/core';
import type { Context, SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { modelNamed } from '../core/manifest';
import { createPackCodec, type PackCodec } from '../core/packing/codec';
import { QueueUrls } from '../core/queue-names';
import { ResultCache } from '../core/result-cache';
import { ArchiveWriter } from '../shared/archive-writer';
import { S3ClaimResolver } from '../shared/claims';
import { SqsDeadLetterSink } from '../shared/dead-letters';
import {
  ConfigurationError,
  cascadeThreshold,
  type HandlerEnv,
  readHandlerEnv,
  readTenantPolicies,
} from '../shared/env';
import {
  injectHandlerError,
  injectHandlerTimeout,
  injectInitFailure,
  withPublishFaults,
} from '../shared/faults';
import { FirehoseRecordSink } from '../shared/firehose-sink';
import { PutEventsPublisher } from '../shared/publisher';
import { DELAYED_FOR_ATTRIBUTE, SqsRequeuer } from '../shared/requeue';
import { DynamoTenantState } from '../shared/tenant-state';
import { type BatchChunk, chunkBatch, requestsOf, runInChunks } from './chunks';
import { guardInvocation, handBack } from './invocation-guard';
import { loadManifest, loadModel } from './model';
import { expandRecords } from './pack-records';
import { type BatchReport, messageFailures, processExpanded, type Scorer } from './process-batch';
import type { ServedTask } from './request-checks';
import type { Tenancy } from './tenant-gate';

export interface TierHandlerOptions {
  /**
   * `entry`: a task's first tier, which takes producers' requests (functions/tier1/handler.ts);
   * `escalation`: every later tier, which takes escalations (functions/tier2/handler.ts). Which tier
   * it is, whether it is the last, its task and model come from the environment.
   */
  readonly role: 'entry' | 'escalation';
}

interface TierRuntime {
  readonly task: ServedTask;
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
  checkRole(env, options);
  const tier = env.INFERBUS_TIER;
  const serviceName = `inferbus-${env.INFERBUS_TASK}-tier${tier}`;
  const logger = new Logger({ serviceName });
  const metrics = new Metrics({ namespace: 'inferbus', serviceName });
  const publisher = withPublishFaults(new PutEventsPublisher(new EventBridgeClient({}), env.EVENT_BUS_NAME));
  const sqs = new SQSClient({});
  // Every queue URL is derived from the record's queue ARN by the naming rule the CDK app uses.
  const queueUrls = new QueueUrls(env.AWS_ENDPOINT_URL_SQS ?? env.AWS_ENDPOINT_URL);
  const deadLetters = new SqsDeadLetterSink(sqs, (arn) => queueUrls.deadLetterQueue(arn), tier);
  // Quota and ordering run where the CDK app gave the function the tenant-state table (tier 1).
  const tenancy: Tenancy | undefined = env.TENANT_STATE_TABLE
    ? {
        store: new DynamoTenantState(new DynamoDBClient({}), env.TENANT_STATE_TABLE),
        requeuer: new SqsRequeuer(sqs, (arn) => queueUrls.workQueue(arn)),
        policies: readTenantPolicies(env.TENANT_POLICIES_FILE),
      }
    : undefined;
  const claims = new S3ClaimResolver(new S3Client({}));
  // The archive rules leave packs out: the rows of packed requests and results are written here.
  const archive = new ArchiveWriter(new FirehoseRecordSink(new FirehoseClient({}), env.ARCHIVE_STREAM_NAME));
  const cache = new ResultCache();
  const ready = loadRuntime(env);
  // Packs' encoded requests and results: the zstd wasm compiles once per container.
  const codecReady = createPackCodec();
  codecReady.catch((error) => logger.error('pack codec initialisation failed', error as Error));
  // Surface init failures (bad model file, bad manifest) in the logs at once, not only on invoke.
  ready.catch((error) => logger.error('tier initialisation failed', error as Error));

  const processRecords = async (
    expanded: ReturnType<typeof expandRecords>,
    codec: PackCodec,
    context: Context,
    signal: AbortSignal,
  ): Promise<SQSBatchResponse> => {
    const runtime = await ready;
    signal.throwIfAborted(); // init ran past the deadline: the guard has answered for the batch
    injectHandlerError();
    await injectHandlerTimeout(context.getRemainingTimeInMillis());
    signal.throwIfAborted();
    const { response, report } = await processExpanded(expanded, {
      task: runtime.task,
      tier,
      lastTier: env.INFERBUS_LAST_TIER,
      threshold: runtime.threshold,
      maxReceiveCount: env.MAX_RECEIVE_COUNT,
      scorer: runtime.scorer,
      publisher,
      deadLetters,
      claims,
      cache,
      tenancy,
      decoder: codec,
      encoder: codec,
      archive,
    });
    record(metrics, report);
    logger.info('batch processed', { ...report });
    if (report.unarchivedRows > 0) {
      logger.error(
        `${report.unarchivedRows} archive row(s) of packs were refused by Firehose stream ${env.ARCHIVE_STREAM_NAME} after retries: their SQS messages are handed back (retried, dead-lettered on their last receive); check the stream's throttling and the role's firehose:PutRecordBatch grant`,
      );
    }
    return response;
  };

  /** One chunk through the invocation guard: its failures, and whether it hit the deadline. */
  const runChunk = async (chunk: BatchChunk, codec: PackCodec, context: Context) => {
    // Packs become one record per request before anything else, so that even a batch that ends
    // early dead-letters each request on its own (a plain single event) rather than a whole pack.
    const guarded = await guardInvocation(
      requestsOf([chunk]),
      (signal) => processRecords(chunk.expanded, codec, context, signal),
      {
        deadLetters,
        maxReceiveCount: env.MAX_RECEIVE_COUNT,
        remainingMs: () => context.getRemainingTimeInMillis(),
      },
    );
    if (guarded.ended) {
      logger.error(`batch ended early (${guarded.ended})`, {
        reason: guarded.reason,
        records: chunk.messages.length,
        deadLettered: guarded.deadLettered,
        handedBack: messageFailures(guarded.response.batchItemFailures.map((f) => f.itemIdentifier))
          .batchItemFailures.length,
      });
      metrics.addMetric(guarded.ended === 'error' ? 'BatchErrors' : 'BatchTimeouts', MetricUnit.Count, 1);
      metrics.addMetric('DeadLettered', MetricUnit.Count, guarded.deadLettered);
    }
    return {
      failed: guarded.response.batchItemFailures.map((f) => f.itemIdentifier),
      ...(guarded.ended ? { ended: guarded.ended } : {}),
    };
  };

  /**
   * Chunks the invocation has no time left for. With time to spare (`no-time`) the entry tier
   * re-queues their messages as new messages, byte for byte: received again at once instead of after
   * the visibility timeout, with a fresh receive count. Whatever is not re-queued (a later tier may
   * not send to its queues, a send failed, or the deadline came) is handed back as the invocation
   * guard does: a record on its last receive is dead-lettered with the reason rather than moved bare.
   */
  const defer = async (rest: readonly BatchChunk[], why: 'no-time' | 'deadline'): Promise<string[]> => {
    let left = rest.flatMap((c) => c.messages);
    const requests = rest.reduce((n, c) => n + c.requests, 0);
    if (tenancy && why === 'no-time') {
      const unsent = await tenancy.requeuer.requeue(
        left.map((record) => ({
          record,
          delaySeconds: 0,
          attributes: { [DELAYED_FOR_ATTRIBUTE]: 'deadline' },
        })),
      );
      left = left.filter((_, index) => unsent.has(index));
    }
    logger.warn(`batch deferred to a later invocation (${why})`, {
      messages: rest.reduce((n, c) => n + c.messages.length, 0),
      requests,
      handedBack: left.length,
    });
    metrics.addMetric('Deferred', MetricUnit.Count, requests);
    if (left.length === 0) return [];
    const outcome = await handBack(
      requestsOf(rest, new Set(left.map((m) => m.messageId))),
      { deadLetters, maxReceiveCount: env.MAX_RECEIVE_COUNT },
      {
        errorCode: 'RetriesExhausted.Timeout',
        errorMessage: `the invocation had no time left for this record (${requests} request(s) deferred) on its last receive`,
        ended: 'deadline',
      },
    );
    return outcome.response.batchItemFailures.map((f) => f.itemIdentifier);
  };

  const handle = async (event: SQSEvent, context: Context): Promise<SQSBatchResponse> => {
    const codec = await codecReady;
    const chunks = chunkBatch(event.Records, expandRecords(event.Records, codec));
    const failed = await runInChunks(chunks, {
      run: (chunk) => runChunk(chunk, codec, context),
      defer,
      remainingMs: () => context.getRemainingTimeInMillis(),
    });
    return messageFailures(failed);
  };
  return middy(handle).use(injectLambdaContext(logger)).use(logMetrics(metrics));
}

/** The entry handler runs tier 1 only, the escalation handler tiers 2 and up. */
function checkRole(env: HandlerEnv, options: TierHandlerOptions): void {
  const entry = env.INFERBUS_TIER === 1;
  if (entry !== (options.role === 'entry')) {
    throw new ConfigurationError(
      `INFERBUS_TIER=${env.INFERBUS_TIER}: functions/${entry ? 'tier2' : 'tier1'}/handler.ts serves ${
        options.role === 'entry' ? 'tier 1 (the entry tier)' : 'tiers 2 and up (escalations)'
      }; deploy functions/${entry ? 'tier1' : 'tier2'}/handler.ts for tier ${env.INFERBUS_TIER}`,
    );
  }
}

async function loadRuntime(env: HandlerEnv): Promise<TierRuntime> {
  injectInitFailure();
  const manifest = await loadManifest(env.MODELS_DIR, env.INFERBUS_TASK);
  // Checked before the model loads: a bad threshold fails at once, naming the task's range.
  const threshold = cascadeThreshold(env, manifest);
  const model = await loadModel({
    modelsDir: env.MODELS_DIR,
    task: env.INFERBUS_TASK,
    name: env.MODEL_NAME,
    manifest,
    intraOpNumThreads: env.ORT_INTRA_OP_THREADS,
  });
  const { id, labels, input } = manifest.task;
  return {
    threshold,

    task: { id, labels, input },
    scorer: {
      modelName: env.MODEL_NAME,
      modelVersion: modelNamed(manifest, env.MODEL_NAME).sha256.slice(0, 12),
      score: (inputs) => model.score(inputs),
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
  metrics.addMetric('UnarchivedPackRows', MetricUnit.Count, report.unarchivedRows);
}
