import type { IncomingHttpHeaders } from 'node:http';
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import { S3Client } from '@aws-sdk/client-s3';
import { eventEntryBytes } from '../functions/core/billing-units';
import { mulberry32 } from '../functions/core/prng';
import { stageResourceNames } from '../functions/core/stage-names';
import { type LocalDynamoDb, startLocalDynamoDb } from './dynamodb';
import { LocalEventBus } from './eventbridge/bus';
import { LocalFirehose } from './firehose';
import { LocalAuthorizer } from './iam/authorizer';
import { EndpointGuard } from './iam/endpoint-guard';
import { recordObservedCalls } from './iam/observed-log';
import { guardedEventBridge, guardedFirehose, guardedSqs } from './iam/routes';
import { callerFrom, Intake } from './intake';
import { type DeletedMessage, SqsEventSourcePoller } from './lambda/event-source-mapping';
import { LambdaRunner } from './lambda/runner';
import { DynamoDbUsage } from './metering/dynamodb-usage';
import { meteredTargets, meterS3Request, meterSqsCall, resourceName } from './metering/metered-services';
import { UsageMeter } from './metering/usage-meter';
import type { TemplateModel } from './model';
import {
  LOCAL_S3_CHECKSUM_ENV,
  LOCAL_S3_CREDENTIALS,
  type LocalS3,
  localS3Client,
  localS3ClientConfig,
  startLocalS3,
} from './s3';
import { LocalServer, type MetricSample } from './server';
import { MALFORMED_JSON } from './sqs/api';
import { handleSqsQueryRequest } from './sqs/query-protocol';
import { QueueStore } from './sqs/store';
import { type DurableWrites, StorageHealth } from './storage-health';
import { servedTasks } from './tasks';
import {
  ensureSynthesized,
  loadTemplateModel,
  readCloudAssembly,
  selectStack,
  TemplateError,
} from './template';

export interface SettleOptions {
  /** How long the pipeline must stay idle before the archive is flushed. @default 1000 */
  readonly quietMs?: number;
  /** @default 60000 */
  readonly timeoutMs?: number;
  /** @default 100 */
  readonly pollMs?: number;
  /** Called at every poll (progress reports, observations). */
  readonly onPoll?: () => void;
}

export interface LocalRuntimeOptions {
  readonly projectRoot: string;
  /** The stage to run: its stack `inferbus-<stage>` is synthesized when `cdk.out` holds another. */
  readonly stage: string;
  /** A stage configuration file for synth (`-c config=`), e.g. one that adds a task. */
  readonly configFile?: string;
  /** Port of the AWS-protocol endpoint on 127.0.0.1; 0 picks a free one. */
  readonly port: number;
  /** Port of the S3 endpoint on 127.0.0.1. @default 0 (a free one) */
  readonly s3Port?: number;
  /** Port of the DynamoDB endpoint on 127.0.0.1. @default 0 (a free one) */
  readonly dynamodbPort?: number;
  /** Relative to `projectRoot` (the CLI passes an absolute path, resolved against its working folder). */
  readonly stateDir: string;
  /** @default `<projectRoot>/cdk.out` */
  readonly cdkOutDir?: string;
  /** Firehose flush interval for local runs, instead of the template's (60 s or more). @default 2 */
  readonly firehoseIntervalSeconds?: number;
  readonly log: (line: string) => void;
  /** Function log lines (handlers' stdout/stderr); @default dropped unless `log` is given here. */
  readonly functionLog?: (line: string) => void;
  /** Called for every record an event source mapping finished (latency measurement). */
  readonly onProcessed?: (deleted: DeletedMessage) => void;
  /**
   * Most worker processes (execution environments) per function. The event source mappings'
   * MaximumConcurrency still caps each mapping; invocations beyond this many wait for a warm worker
   * instead of starting another process, since more processes than cores only add cold starts,
   * memory and context switches on one machine. @default max(2, available CPU cores)
   */
  readonly maxWorkersPerFunction?: number;
  /**
   * Extra environment variables for every handler (merged over the runtime's own endpoints and
   * credentials), e.g. `INFERBUS_FAULTS` for the fault suite.
   */
  readonly handlerEnvironment?: Record<string, string>;
  /**
   * Overrides every queue's visibility timeout: an accelerated clock for fault runs only, so failed
   * batches come back in seconds instead of the template's value (181 s). @default the template's value
   */
  readonly visibilityTimeoutSeconds?: number;
  /**
   * Overrides every function's timeout: with `visibilityTimeoutSeconds`, for fault runs only, so a
   * hung batch times out before its messages become visible again (as AWS requires). @default the template's
   */
  readonly functionTimeoutSeconds?: number;
  /** Fault runs only: the share of the local Firehose's S3 objects whose writes fail (kept for a later flush). @default 0 */
  readonly firehoseWriteFailureRate?: number;
  /** Seeds the draws behind `firehoseWriteFailureRate`, so a fault run reproduces. @default unseeded */
  readonly firehoseWriteFailureSeed?: number;
  /**
   * Authorize every call and delivery against the template's IAM policies. `false` is for measuring
   * what authorization costs, side by side, only: the start-up checks still run. @default true
   */
  readonly authorization?: boolean;
  /**
   * Tests and fault runs only: the writes of the SQS log and the Firehose write-ahead log, to make
   * them fail like a full disk. @default the disk
   */
  readonly durableWrites?: DurableWrites;
}

/** The synthesized template a runtime runs. */
export interface RunningTemplate {
  readonly stage: string;
  readonly stackName: string;
  /** Absolute path of `<stack>.template.json`. */
  readonly path: string;
}

/**
 * The whole synthesized app on one machine: the AWS-protocol endpoint (EventBridge, SQS, Athena),
 * an S3-compatible server, the bus with its rules, durable queues, Lambda workers fed by event
 * source mappings, and Firehose writing Parquet. Everything comes from the template model.
 */
export class LocalRuntime {
  /** Keeps `<stateDir>/iam/observed.json` (what preflight replays) current; written last at stop. */
  private observedCalls?: { stop(): void };

  private constructor(
    readonly model: TemplateModel,
    readonly endpoint: string,
    readonly s3: LocalS3,
    readonly queues: QueueStore,
    readonly bus: LocalEventBus,
    readonly firehose: LocalFirehose,
    readonly lambda: LambdaRunner,
    readonly pollers: readonly SqsEventSourcePoller[],
    readonly athena: import('./athena').LocalAthena,
    private readonly server: LocalServer,
    readonly template: RunningTemplate,
    /** Absolute path of the state folder. */
    readonly stateDir: string,
    /** Closed by {@link stop}: new events and messages from outside are refused from then on. */
    readonly intake: Intake,
    /** The template's DynamoDB tables (tenant quota and ordering state). */
    readonly dynamodb?: LocalDynamoDb,
    /** The local IAM: per-function credentials and every call's decision. */
    readonly iam?: LocalAuthorizer,
    /** Whether the durable writers can write (`/health`'s `storage`). */
    readonly storage?: StorageHealth,
    /** The billable units of everything this runtime emulated (`/metrics`' `inferbus_billed_*`). */
    readonly meter: UsageMeter = new UsageMeter(),
  ) {}

  static async start(options: LocalRuntimeOptions): Promise<LocalRuntime> {
    const projectRoot = resolve(options.projectRoot);
    const cdkOutDir = resolve(projectRoot, options.cdkOutDir ?? 'cdk.out');
    const stateDir = resolve(projectRoot, options.stateDir);
    const { stackName } = stageResourceNames(options.stage);
    await ensureSynthesized({
      projectRoot,
      cdkOutDir,
      stage: options.stage,
      stackName,
      log: options.log,
      ...(options.configFile === undefined ? {} : { configFile: options.configFile }),
    });
    const template: RunningTemplate = {
      stage: options.stage,
      stackName,
      path: selectStack(readCloudAssembly(cdkOutDir), stackName).templatePath,
    };

    // Routes are bound after the model is loaded: queue URLs need the endpoint's port first.
    let dispatch: LocalRuntime | undefined;
    const intake = new Intake();
    const meter = new UsageMeter();
    let guard: EndpointGuard | undefined;
    const sqs = (target: string, input: unknown, headers: IncomingHttpHeaders) =>
      intake.refuses(target, callerFrom(headers))
        ? Promise.resolve(intake.sqsRefusal())
        : guardedSqs(guard, ready().queues, target, input, headers).then((response) => {
            if (response.status === 200) meterSqsCall(meter, target, input, response.body);
            return response;
          });
    const server = new LocalServer({
      port: options.port,
      routes: [
        {
          targetPrefix: 'AWSEvents.',
          contentType: 'application/x-amz-json-1.1',
          handle: (target, body, headers) =>
            intake.refuses(target, callerFrom(headers))
              ? intake.eventBridgeRefusal()
              : guardedEventBridge(guard, ready().bus, target, body, headers),
        },
        {
          targetPrefix: 'AmazonSQS.',
          contentType: 'application/x-amz-json-1.0',
          handle: (target, body, headers) => sqs(target, parseJson(body), headers),
        },
        {
          // The tier handlers' archive rows of packs (PutRecordBatch), metered as records.
          targetPrefix: 'Firehose_20150804.',
          contentType: 'application/x-amz-json-1.1',
          handle: (target, body, headers) => {
            const r = ready();
            const sink = meteredTargets(r.queues, r.firehose, r.meter).firehose;
            return guardedFirehose(guard, { sink, account: r.model.account }, target, body, headers);
          },
        },
        {
          targetPrefix: 'AmazonAthena.',
          contentType: 'application/x-amz-json-1.1',
          handle: async (target, body) => {
            const { handleAthenaRequest } = await import('./athena');
            return handleAthenaRequest(ready().athena, target, body);
          },
        },
      ],
      queryProtocol: (body, headers) =>
        handleSqsQueryRequest((target, input) => sqs(target, input, headers), body),
      health: () => (dispatch ? dispatch.health() : { starting: true }),
      metrics: () => (dispatch ? dispatch.metrics() : []),
    });
    const ready = () => {
      if (!dispatch) throw new Error('the local runtime is still starting');
      return dispatch;
    };
    const endpoint = await server.start();
    // What has started so far, stopped in reverse if a later step fails: a failed start leaves no
    // server listening, no worker running and no file open.
    const started: { name: string; stop: () => unknown }[] = [];
    try {
      const loaded = loadTemplateModel(cdkOutDir, stackName, { endpoint });
      if (loaded.stackName !== stackName) {
        throw new TemplateError(
          `stage ${options.stage} runs stack ${stackName}, but ${template.path} holds ${loaded.stackName}; ` +
            `run \`npx cdk synth -c stage=${options.stage}\` or pass the stage that template was synthesized for`,
        );
      }
      const model = withFunctionTimeout(
        withVisibilityTimeout(loaded, options.visibilityTimeoutSeconds),
        options.functionTimeoutSeconds,
      );
      const iam = new LocalAuthorizer(model, { enabled: options.authorization ?? true });
      const endpointGuard = new EndpointGuard(iam, model, options.log);
      const s3 = await startLocalS3({
        stateDir,
        port: options.s3Port,
        buckets: model.buckets,
        guard: (method, url, headers) => {
          const denied = denialOf(endpointGuard.s3(method, url, headers));
          if (!denied) meterS3Request(meter, method, url);
          return denied;
        },
      });
      started.push({ name: 'the local S3', stop: () => s3.stop() });
      const dynamoDbUsage = new DynamoDbUsage(meter);
      const dynamodb = await startLocalDynamoDb({
        stateDir,
        port: options.dynamodbPort,
        tables: model.tables,
        region: model.region,
        credentials: LOCAL_S3_CREDENTIALS,
        guard: (target, body, headers) =>
          denialOf(
            endpointGuard.json(
              'dynamodb',
              target.slice(target.indexOf('.') + 1),
              body,
              typeof headers.authorization === 'string' ? headers.authorization : undefined,
            ),
          ),
        observe: (operation, request, status, response) =>
          dynamoDbUsage.observe(
            operation,
            request as Record<string, unknown>,
            status,
            response as Record<string, unknown>,
          ),
      });
      started.push({ name: 'the local DynamoDB', stop: () => dynamodb.stop() });
      const storage = new StorageHealth(options.log);
      const queues = new QueueStore(model.queues, {
        stateDir,
        warn: options.log,
        health: storage,
        writes: options.durableWrites,
      });
      started.push({ name: 'the queues', stop: () => queues.close() });
      const firehose = new LocalFirehose({
        streams: model.deliveryStreams,
        tables: model.glueTables,
        s3: localS3Client(s3.endpoint, model.region),
        s3ForStream: streamS3Clients(iam, s3.endpoint, model.region),
        bufferingIntervalSeconds: options.firehoseIntervalSeconds ?? 2,
        walDir: join(stateDir, 'firehose'),
        writeFailureRate: options.firehoseWriteFailureRate,
        ...(options.firehoseWriteFailureSeed === undefined
          ? {}
          : { random: mulberry32(options.firehoseWriteFailureSeed) }),
        onError: (error) => options.log(`firehose: ${error.message}`),
        warn: options.log,
        health: storage,
        writes: options.durableWrites,
      });
      started.push({ name: 'the local Firehose', stop: () => firehose.close() });
      const bus = new LocalEventBus({
        model,
        ...meteredTargets(queues, firehose, meter),
        log: options.log,
        onEntryAccepted: (entry) => meter.eventBridgeEntry(eventEntryBytes(entry)),
        ...(iam.enabled && { authorizeDelivery: (delivery) => iam.authorizeDelivery(delivery) }),
      });
      const workersPerFunction: Record<string, number> = {};
      for (const mapping of model.eventSourceMappings) {
        workersPerFunction[mapping.functionLogicalId] =
          (workersPerFunction[mapping.functionLogicalId] ?? 0) + (mapping.maxConcurrency ?? 10);
      }
      const workerCap = Math.max(1, options.maxWorkersPerFunction ?? Math.max(2, availableParallelism()));
      for (const id of Object.keys(workersPerFunction)) {
        workersPerFunction[id] = Math.min(workersPerFunction[id] as number, workerCap);
      }
      const lambda = new LambdaRunner(model.functions, {
        region: model.region,
        maxWorkersPerFunction: workersPerFunction,
        logSink: options.functionLog ? (line) => options.functionLog?.(line) : () => {},
        reportLines: false,
        onInvocation: ({ fn, billedMs, onProvisioned, initMs }) =>
          meter.lambdaInvocation(fn.name, fn.memoryMiB, billedMs, onProvisioned, initMs),
        extraEnvironment: {
          AWS_ENDPOINT_URL: endpoint,
          AWS_ENDPOINT_URL_S3: s3.endpoint,
          AWS_ENDPOINT_URL_DYNAMODB: dynamodb.endpoint,
          AWS_ACCESS_KEY_ID: LOCAL_S3_CREDENTIALS.accessKeyId,
          AWS_SECRET_ACCESS_KEY: LOCAL_S3_CREDENTIALS.secretAccessKey,
          // Lambda's credentials are session credentials; this token also lets the functions'
          // own calls through while the intake is closed (see Intake).
          AWS_SESSION_TOKEN: intake.functionSessionToken,
          AWS_REGION: model.region,
          ...LOCAL_S3_CHECKSUM_ENV,
          ...options.handlerEnvironment,
        },
        environmentOf: (fn) => {
          const { accessKeyId, secretAccessKey } = iam.credentialsOf(fn.logicalId);
          return { AWS_ACCESS_KEY_ID: accessKeyId, AWS_SECRET_ACCESS_KEY: secretAccessKey };
        },
      });
      started.push({ name: 'the Lambda workers', stop: () => lambda.close() });
      const pollers = model.eventSourceMappings
        .filter((mapping) => mapping.enabled)
        .map(
          (mapping) =>
            new SqsEventSourcePoller(mapping, {
              queues,
              invoker: lambda,
              log: options.log,
              onDeleted: options.onProcessed,
              onSqsCall: (queue, action, payloadBytes) =>
                meter.sqsCall(resourceName(queue), action, payloadBytes),
            }),
        );
      const { LocalAthena } = await import('./athena');
      const athena = new LocalAthena({
        tables: model.glueTables,
        workGroups: model.workGroups,
        namedQueries: model.namedQueries,
        objectPath: (bucket: string, key: string) => s3.objectPathOnDisk(bucket, key),
        s3: localS3Client(s3.endpoint, model.region),
        warn: options.log,
        onQueryBilled: (scannedBytes) => meter.athenaQuery(scannedBytes),
      });
      started.push({ name: 'the local Athena', stop: () => athena.close() });
      dispatch = new LocalRuntime(
        model,
        endpoint,
        s3,
        queues,
        bus,
        firehose,
        lambda,
        pollers,
        athena,
        server,
        template,
        stateDir,
        intake,
        dynamodb,
        iam,
        storage,
        meter,
      );
      guard = endpointGuard;
      dispatch.observedCalls = recordObservedCalls(stateDir, model.stackName, iam);
      // Provisioned concurrency: those execution environments are initialised before the first poll.
      await lambda.provision();
      for (const fn of model.functions)
        meter.startProvisionedConcurrency(fn.name, fn.provisionedConcurrency ?? 0, fn.memoryMiB);
      for (const poller of pollers) poller.start();
      return dispatch;
    } catch (error) {
      dispatch = undefined;
      for (const { name, stop } of started.reverse()) {
        try {
          await stop();
        } catch (cleanupError) {
          options.log(`while abandoning the start, stopping ${name} failed too: ${String(cleanupError)}`);
        }
      }
      await server.stop();
      throw error;
    }
  }

  /** Every queue in the template with its counts. */
  queueCounts(): { name: string; arn: string; visible: number; inFlight: number; delayed: number }[] {
    return this.model.queues.map((q) => ({ name: q.name, arn: q.arn, ...this.queues.counts(q.arn) }));
  }

  /**
   * Resolves once the pipeline has been {@link idle} for `quietMs` and every archive record is in
   * S3: Firehose is flushed, and flushed again while a failed write keeps records buffered. Rejects
   * after `timeoutMs` saying what is still pending. For the demo and tests, which read the archive
   * right after.
   */
  async settle({
    quietMs = 1000,
    timeoutMs = 60_000,
    pollMs = 100,
    onPoll,
  }: SettleOptions = {}): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const pause = () => new Promise((resolve) => setTimeout(resolve, pollMs));
    let idleSince = 0;
    for (;;) {
      onPoll?.();
      if (!this.idle()) idleSince = 0;
      else {
        idleSince ||= Date.now();
        if (Date.now() - idleSince >= quietMs) break;
      }
      if (Date.now() >= deadline) throw this.notSettled(timeoutMs);
      await pause();
    }
    for (;;) {
      await this.firehose.flush();
      if (this.archiveBuffered() === 0) return;
      if (Date.now() >= deadline) throw this.notSettled(timeoutMs);
      await pause();
    }
  }

  /** Archive records accepted and not yet written to S3, all streams together. */
  private archiveBuffered(): number {
    return Object.values(this.firehose.counters()).reduce((sum, c) => sum + c.bufferedRecords, 0);
  }

  private notSettled(timeoutMs: number): Error {
    const queued = this.workQueueCounts()
      .filter((q) => q.visible + q.inFlight + q.delayed > 0)
      .map((q) => `${q.name} (${q.visible} visible, ${q.inFlight} in flight, ${q.delayed} delayed)`);
    const pending = [
      ...queued,
      `${this.bus.metrics().inFlight} bus deliveries in flight`,
      `${this.archiveBuffered()} archive records not yet in S3`,
    ];
    return new Error(`the local pipeline did not settle within ${timeoutMs / 1000} s: ${pending.join('; ')}`);
  }

  /** True when nothing is queued, in flight, or being delivered. */
  idle(): boolean {
    const busy = this.workQueueCounts().some((q) => q.visible + q.inFlight + q.delayed > 0);
    return !busy && this.bus.metrics().inFlight === 0 && this.pollers.every((p) => p.stats().inFlight === 0);
  }

  /** The queues event source mappings read (dead-letter queues hold their messages for good). */
  private workQueueCounts(): ReturnType<LocalRuntime['queueCounts']> {
    const workQueues = new Set(this.model.eventSourceMappings.map((m) => m.queueArn));
    return this.queueCounts().filter((q) => workQueues.has(q.arn));
  }

  health(): Record<string, unknown> {
    return {
      stage: this.template.stage,
      stack: this.model.stackName,
      template: this.template.path,
      stateDir: this.stateDir,
      /** The AWS-protocol endpoint: EventBridge, SQS, Athena. */
      endpoint: this.endpoint,
      s3: this.s3.endpoint,
      dynamodb: this.dynamodb?.endpoint,
      queues: this.model.queues.length,
      rules: this.model.rules.length,
      functions: this.model.functions.length,
      /** Each task with its tiers' models, the default task (requests naming none) first. */
      tasks: servedTasks(this.model).map((task) => ({
        id: task.id,
        default: task.isDefault,
        tiers: task.tiers.map((t) => t.model),
      })),
      /** Whether the state folder takes writes; while not, writes fail with InternalFailure. */
      storage: this.storage?.condition() ?? { ok: true },
    };
  }

  metrics(): MetricSample[] {
    const samples: MetricSample[] = [];
    const bus = this.bus.metrics();
    samples.push(
      {
        name: 'inferbus_events_accepted_total',
        help: 'Events accepted by PutEvents',
        type: 'counter',
        value: bus.eventsAccepted,
      },
      {
        name: 'inferbus_entries_failed_total',
        help: 'PutEvents entries rejected',
        type: 'counter',
        value: bus.entriesFailed,
      },
      {
        name: 'inferbus_deliveries_total',
        help: 'Rule target deliveries',
        type: 'counter',
        value: bus.deliveriesOk,
        labels: { outcome: 'ok' },
      },
      {
        name: 'inferbus_deliveries_total',
        help: 'Rule target deliveries',
        type: 'counter',
        value: bus.deadLettered,
        labels: { outcome: 'dead-lettered' },
      },
      {
        name: 'inferbus_deliveries_total',
        help: 'Rule target deliveries',
        type: 'counter',
        value: bus.dropped,
        labels: { outcome: 'dropped' },
      },
    );
    for (const q of this.queueCounts()) {
      for (const state of ['visible', 'inFlight', 'delayed'] as const) {
        samples.push({
          name: 'inferbus_queue_messages',
          help: 'Messages per queue and state',
          type: 'gauge',
          value: q[state],
          labels: { queue: q.name, state },
        });
      }
    }
    for (const poller of this.pollers) {
      const stats = poller.stats();
      samples.push({
        name: 'inferbus_esm_records_total',
        help: 'Records delivered by event source mappings',
        type: 'counter',
        value: stats.records,
      });
      samples.push({
        name: 'inferbus_esm_failed_records_total',
        help: 'Records handed back to their queue',
        type: 'counter',
        value: stats.failedRecords,
      });
    }
    for (const row of this.iam?.counts() ?? []) {
      const labels = { principal: row.principal, service: row.service };
      samples.push(
        {
          name: 'iam_allowed_total',
          help: 'Calls and deliveries the local IAM allowed',
          type: 'counter',
          value: row.allowed,
          labels,
        },
        {
          name: 'iam_denied_total',
          help: 'Calls and deliveries the local IAM denied',
          type: 'counter',
          value: row.denied,
          labels,
        },
      );
    }
    samples.push(...this.meter.samples());
    samples.push({
      name: 'inferbus_process_resident_bytes',
      help: 'RSS of the runtime process',
      type: 'gauge',
      value: process.memoryUsage().rss,
    });
    return samples;
  }

  /**
   * Stops without losing anything, in this order:
   * 1. the intake closes: PutEvents and SendMessage from outside answer 503 ServiceUnavailable (the
   *    producer sees failed calls to retry, never accepted events that go nowhere);
   * 2. the event source mappings stop receiving; invocations in flight finish (the functions' own
   *    calls still pass the intake), what they processed is deleted and what they did not is handed
   *    back at once (visibility 0), as are batches gathered but not yet invoked;
   * 3. the Lambda workers stop;
   * 4. the bus finishes every delivery of every event it accepted, to queues and Firehose;
   * 5. Firehose writes what it buffered (a failed write stays in its log for the next start);
   * 6. the SQS log is flushed and closed, then S3, DynamoDB and the endpoint stop.
   */
  async stop(options: StopOptions = {}): Promise<void> {
    const progress = options.progress ?? (() => {});
    const interval = options.progressIntervalMs ?? 1000;
    const step = async (what: string, work: () => Promise<unknown>, pending?: () => string | undefined) => {
      const left = pending?.();
      progress(left ? `stopping: ${what} (${left}) ...` : `stopping: ${what} ...`);
      const timer = pending
        ? setInterval(() => {
            const still = pending();
            if (still) progress(`stopping: still ${what}: ${still}`);
          }, interval)
        : undefined;
      try {
        await work();
      } finally {
        clearInterval(timer);
      }
    };
    const failedBefore = this.pollers.reduce((n, p) => n + p.stats().failedBatches, 0);
    this.intake.close();
    progress(
      'stopping: intake closed; new PutEvents and SendMessage calls are refused (503 ServiceUnavailable)',
    );
    await step(
      'finishing the Lambda invocations in flight',
      () => Promise.all(this.pollers.map((p) => p.stop())),
      () => this.invocationsPending(),
    );
    await step('stopping the Lambda workers', () => this.lambda.close());
    this.meter.stopProvisionedConcurrency();
    await step(
      'delivering the events the bus accepted',
      async () => {
        await this.bus.drain();
        await this.bus.close();
      },
      () => this.deliveriesPending(),
    );
    await step(
      'writing the buffered archive records to S3',
      () => this.firehose.close(),
      () => this.archivePending(),
    );
    await this.athena.close();
    try {
      this.observedCalls?.stop();
    } catch (error) {
      progress(`stopping: could not write the observed AWS calls (${(error as Error).message})`);
    }
    const queued = this.workQueueCounts().reduce((n, q) => n + q.visible + q.inFlight + q.delayed, 0);
    await step('flushing the SQS log', () => this.queues.flush());
    this.queues.close();
    await this.s3.stop();
    await this.dynamodb?.stop();
    await this.server.stop();
    const stats = this.pollers.map((p) => p.stats());
    const handedBack = stats.reduce((n, s) => n + s.handedBack, 0);
    const failed = stats.reduce((n, s) => n + s.failedBatches, 0) - failedBefore;
    progress(
      `stopped: ${this.intake.refused} call(s) refused, ${handedBack} message(s) handed back to their queues${failed > 0 ? `, ${failed} invocation(s) failed while stopping` : ''}; ${queued} message(s) wait in the work queues for the next start`,
    );
  }

  /**
   * What an exit right now would leave unfinished, for the forced exit (a second Ctrl-C). Messages
   * in flight and archive records are in the durable logs (SQS, Firehose) and are delivered after
   * the next start; bus deliveries still being retried are in no log and would be lost.
   */
  unfinished(): { messagesInFlight: number; busDeliveries: number; archiveRecords: number } {
    return {
      messagesInFlight: this.pollers.reduce((n, p) => n + p.stats().inFlightRecords, 0),
      busDeliveries: this.bus.metrics().inFlight,
      archiveRecords: this.archiveBuffered(),
    };
  }

  /**
   * For an exit that cannot wait: the messages of the invocations in flight become visible again
   * at once (ChangeMessageVisibility 0) and the SQS log is flushed, so a restart receives them at
   * once instead of after their visibility timeout. Receives end first: a long poll still waiting
   * would otherwise take a handed-back message in flight again just before the exit. Resolves to
   * how many were handed back.
   */
  async handBackInFlight(): Promise<number> {
    // First no receiver may take a message any more: one handed back now must stay visible.
    this.queues.endReceives();
    const counts = await Promise.all(this.pollers.map((p) => p.handBackInFlight()));
    await this.queues.flush();
    return counts.reduce((n, c) => n + c, 0);
  }

  private invocationsPending(): string | undefined {
    const stats = this.pollers.map((p) => p.stats());
    const invocations = stats.reduce((n, s) => n + s.inFlight, 0);
    const records = stats.reduce((n, s) => n + s.inFlightRecords, 0);
    return invocations > 0 ? `${invocations} invocation(s), ${records} message(s)` : undefined;
  }

  private deliveriesPending(): string | undefined {
    const inFlight = this.bus.metrics().inFlight;
    return inFlight > 0 ? `${inFlight} deliveries in flight` : undefined;
  }

  private archivePending(): string | undefined {
    const buffered = this.archiveBuffered();
    return buffered > 0 ? `${buffered} record(s)` : undefined;
  }
}

export interface StopOptions {
  /** Receives a line per step of the stop, and what it still waits for, every `progressIntervalMs`. */
  readonly progress?: (line: string) => void;
  /** @default 1000 */
  readonly progressIntervalMs?: number;
}

/**
 * The model with every queue's visibility timeout replaced (fault runs only); as is when undefined.
 * The event source mappings' batching windows are scaled down with it: a window as long as the
 * shortened timeout lets a message come back into the very batch that holds it (received twice in
 * one invocation), so the first receipt handle is stale and the processed message is redriven.
 */
function withVisibilityTimeout(model: TemplateModel, seconds: number | undefined): TemplateModel {
  if (seconds === undefined) return model;
  const longestWindow = seconds / 4;
  return {
    ...model,
    queues: model.queues.map((q) => ({ ...q, visibilityTimeoutSeconds: seconds })),
    eventSourceMappings: model.eventSourceMappings.map((m) => ({
      ...m,
      maxBatchingWindowSeconds: Math.min(m.maxBatchingWindowSeconds, longestWindow),
    })),
  };
}

/** The model with every function's timeout replaced (fault runs only); as is when undefined. */
function withFunctionTimeout(model: TemplateModel, seconds: number | undefined): TemplateModel {
  if (seconds === undefined) return model;
  return { ...model, functions: model.functions.map((f) => ({ ...f, timeoutSeconds: seconds })) };
}

/** A guard's verdict as the response to send instead, or undefined to let the call through. */
function denialOf(verdict: ReturnType<EndpointGuard['json']>) {
  return verdict.go ? undefined : verdict.response;
}

/** One S3 client per delivery stream, signed with its role's credentials (the local IAM's). */
function streamS3Clients(iam: LocalAuthorizer, endpoint: string, region: string) {
  const clients = new Map<string, ReturnType<typeof localS3Client>>();
  return (stream: { logicalId: string }) => {
    let client = clients.get(stream.logicalId);
    if (!client) {
      const principal = iam.principalOf(stream.logicalId);
      client = principal
        ? new S3Client({ ...localS3ClientConfig(endpoint, region), credentials: principal.credentials })
        : localS3Client(endpoint, region);
      clients.set(stream.logicalId, client);
    }
    return client;
  };
}

function parseJson(text: string): unknown {
  try {
    return text.length === 0 ? {} : JSON.parse(text);
  } catch {
    return MALFORMED_JSON;
  }
}

export const DEFAULT_STATE_DIR = '.inferbus';
export const demoStateDir = (projectRoot: string) => join(projectRoot, DEFAULT_STATE_DIR, 'demo');
