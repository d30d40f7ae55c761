import {
  athenaBilledBytes,
  type BillableUsage,
  eventBridgeEvents,
  firehoseBilledBytes,
  lambdaGbSeconds,
  provisionedConcurrencyGbSeconds,
  type S3RequestClass,
  sqsRequests,
} from '../../functions/core/billing-units';
import type { MetricSample } from '../server';

interface FunctionUsage {
  requests: number;
  onDemandGbSeconds: number;
  provisionedDurationGbSeconds: number;
  /** Of the on-demand GB-seconds: cold starts' init phases. */
  initGbSeconds: number;
}

interface ProvisionedFunction {
  readonly memoryMiB: number;
  readonly instances: number;
  readonly since: number;
  until?: number;
}

/**
 * The billable units of everything the local runtime emulates, counted as AWS bills them (the rules
 * are in `functions/core/billing-units.ts`). Components report what they did (an entry accepted, an
 * SQS call with its payload, an invocation with its duration...); nothing here knows what a request
 * or a pack is, so a packed event is metered by its size like any other entry.
 */
export class UsageMeter {
  private eventBridgeEntries = 0;
  private eventBridgeUnits = 0;
  /** `<queue>\0<action>` → requests. */
  private readonly sqs = new Map<string, number>();
  /** Queue → ReceiveMessage calls that returned messages, and that returned none. */
  private readonly receives = new Map<string, { withMessages: number; empty: number }>();
  private readonly lambda = new Map<string, FunctionUsage>();
  private readonly provisioned = new Map<string, ProvisionedFunction>();
  private readonly firehose = new Map<string, { records: number; billedBytes: number }>();
  private readonly s3 = { A: 0, B: 0 };
  private readonly dynamoDb = new Map<string, { read: number; write: number }>();
  private readonly athena = { queries: 0, scannedBytes: 0, billedBytes: 0 };
  /** `<service>\0<operation>` → calls that cost something but that no rule here meters. */
  private readonly unmetered = new Map<string, number>();

  constructor(private readonly now: () => number = () => Date.now()) {}

  /** One PutEvents entry EventBridge accepted, of `bytes` as PutEvents sizes it. */
  eventBridgeEntry(bytes: number): void {
    this.eventBridgeEntries++;
    this.eventBridgeUnits += eventBridgeEvents(bytes);
  }

  /** One SQS API call that succeeded; `payloadBytes`: the messages it sent or received. */
  sqsCall(queue: string, action: string, payloadBytes = 0): void {
    const key = `${queue}\0${action}`;
    this.sqs.set(key, (this.sqs.get(key) ?? 0) + sqsRequests(payloadBytes));
    if (action === 'ReceiveMessage') {
      const calls = this.receives.get(queue) ?? { withMessages: 0, empty: 0 };
      if (payloadBytes === 0) calls.empty++;
      else calls.withMessages++;
      this.receives.set(queue, calls);
    }
  }

  /** One invocation; `onProvisioned`: it ran on a provisioned instance (billed at that duration price). */
  lambdaInvocation(
    functionName: string,
    memoryMiB: number,
    durationMs: number,
    onProvisioned: boolean,
    /** Of `durationMs`: an on-demand cold start's init phase. */
    initMs = 0,
  ): void {
    const usage = this.lambda.get(functionName) ?? {
      requests: 0,
      onDemandGbSeconds: 0,
      provisionedDurationGbSeconds: 0,
      initGbSeconds: 0,
    };
    usage.requests++;
    const gbSeconds = lambdaGbSeconds(durationMs, memoryMiB);
    if (onProvisioned) usage.provisionedDurationGbSeconds += gbSeconds;
    else usage.onDemandGbSeconds += gbSeconds;
    if (initMs > 0) usage.initGbSeconds += (initMs / 1000) * (memoryMiB / 1024);
    this.lambda.set(functionName, usage);
  }

  /** Provisioned concurrency of a function is billed from now until {@link stopProvisionedConcurrency}. */
  startProvisionedConcurrency(functionName: string, instances: number, memoryMiB: number): void {
    if (instances <= 0 || this.provisioned.has(functionName)) return;
    this.provisioned.set(functionName, { memoryMiB, instances, since: this.now() });
  }

  stopProvisionedConcurrency(): void {
    const now = this.now();
    for (const entry of this.provisioned.values()) entry.until ??= now;
  }

  /** One record a delivery stream ingested. */
  firehoseRecord(stream: string, bytes: number): void {
    const usage = this.firehose.get(stream) ?? { records: 0, billedBytes: 0 };
    usage.records++;
    usage.billedBytes += firehoseBilledBytes(bytes);
    this.firehose.set(stream, usage);
  }

  s3Request(requestClass: S3RequestClass): void {
    if (requestClass !== 'free') this.s3[requestClass]++;
  }

  dynamoDbUnits(table: string, read: number, write: number): void {
    const usage = this.dynamoDb.get(table) ?? { read: 0, write: 0 };
    usage.read += read;
    usage.write += write;
    this.dynamoDb.set(table, usage);
  }

  /** One query Athena bills (a successful SELECT); DDL and failed queries are free. */
  athenaQuery(scannedBytes: number): void {
    this.athena.queries++;
    this.athena.scannedBytes += scannedBytes;
    this.athena.billedBytes += athenaBilledBytes(scannedBytes);
  }

  /** A call that costs something in AWS but that no rule here can meter: shown, never guessed. */
  unmeteredCall(service: string, operation: string): void {
    const key = `${service}\0${operation}`;
    this.unmetered.set(key, (this.unmetered.get(key) ?? 0) + 1);
  }

  /** Every service's units so far, totals only. */
  usage(): BillableUsage {
    const sum = <T>(map: Map<string, T>, of: (value: T) => number) =>
      [...map.values()].reduce((total, value) => total + of(value), 0);
    const firehoseBytes = sum(this.firehose, (f) => f.billedBytes);
    return {
      eventBridgeEvents: this.eventBridgeUnits,
      sqsRequests: sum(this.sqs, (n) => n),
      lambdaRequests: sum(this.lambda, (f) => f.requests),
      lambdaOnDemandGbSeconds: sum(this.lambda, (f) => f.onDemandGbSeconds),
      lambdaProvisionedDurationGbSeconds: sum(this.lambda, (f) => f.provisionedDurationGbSeconds),
      lambdaProvisionedConcurrencyGbSeconds: sum(this.provisioned, (p) => this.provisionedGbSeconds(p)),
      firehoseRecords: sum(this.firehose, (f) => f.records),
      firehoseBilledBytes: firehoseBytes,
      // Every delivery stream of the template converts to Parquet (the local Firehose writes nothing else).
      firehoseFormatConversionBytes: firehoseBytes,
      s3ClassARequests: this.s3.A,
      s3ClassBRequests: this.s3.B,
      dynamoDbReadUnits: sum(this.dynamoDb, (d) => d.read),
      dynamoDbWriteUnits: sum(this.dynamoDb, (d) => d.write),
      athenaQueries: this.athena.queries,
      athenaBilledBytes: this.athena.billedBytes,
    };
  }

  private provisionedGbSeconds(p: ProvisionedFunction): number {
    return provisionedConcurrencyGbSeconds(
      p.instances,
      p.memoryMiB,
      ((p.until ?? this.now()) - p.since) / 1000,
    );
  }

  /** The units as `/metrics` samples, one counter per unit, labelled by resource. */
  samples(): MetricSample[] {
    const samples: MetricSample[] = [];
    const counter = (name: string, help: string, value: number, labels?: Record<string, string>) =>
      samples.push({ name, help, type: 'counter', value, ...(labels && { labels }) });
    counter(
      'inferbus_billed_eventbridge_entries_total',
      'PutEvents entries accepted (billed in 64 KB units)',
      this.eventBridgeEntries,
    );
    counter(
      'inferbus_billed_eventbridge_events_total',
      'EventBridge custom events billed: each entry in 64 KB units',
      this.eventBridgeUnits,
    );
    for (const [key, requests] of this.sqs) {
      const [queue = '', action = ''] = key.split('\0');
      counter(
        'inferbus_billed_sqs_requests_total',
        'SQS requests billed: each call in 64 KB chunks of its payload',
        requests,
        { queue, action },
      );
    }
    for (const [queue, calls] of this.receives) {
      for (const outcome of ['withMessages', 'empty'] as const) {
        counter(
          'inferbus_sqs_receive_calls_total',
          'ReceiveMessage calls, those that returned messages and empty ones (billed too)',
          calls[outcome],
          { queue, outcome: outcome === 'empty' ? 'empty' : 'messages' },
        );
      }
    }
    for (const [fn, usage] of this.lambda) {
      counter('inferbus_billed_lambda_requests_total', 'Lambda invocations billed', usage.requests, {
        function: fn,
      });
      counter(
        'inferbus_billed_lambda_init_gb_seconds_total',
        'Of the on-demand GB-seconds: init phases of on-demand cold starts (billed since August 2025)',
        usage.initGbSeconds,
        { function: fn },
      );
      counter(
        'inferbus_billed_lambda_gb_seconds_total',
        'Lambda duration GB-seconds (1 ms granularity, configured memory)',
        usage.onDemandGbSeconds,
        { function: fn, instance: 'on-demand' },
      );
      counter(
        'inferbus_billed_lambda_gb_seconds_total',
        'Lambda duration GB-seconds (1 ms granularity, configured memory)',
        usage.provisionedDurationGbSeconds,
        { function: fn, instance: 'provisioned' },
      );
    }
    for (const [fn, p] of this.provisioned) {
      counter(
        'inferbus_billed_lambda_provisioned_concurrency_gb_seconds_total',
        'Provisioned concurrency GB-seconds while the runtime ran',
        this.provisionedGbSeconds(p),
        { function: fn },
      );
    }
    for (const [stream, usage] of this.firehose) {
      counter('inferbus_billed_firehose_records_total', 'Firehose records ingested', usage.records, {
        stream,
      });
      counter(
        'inferbus_billed_firehose_bytes_total',
        'Firehose ingested bytes billed: each record rounded up to 5 KB',
        usage.billedBytes,
        { stream },
      );
      counter(
        'inferbus_billed_firehose_format_conversion_bytes_total',
        'Firehose bytes converted to Parquet, in 5 KB increments',
        usage.billedBytes,
        { stream },
      );
    }
    counter(
      'inferbus_billed_s3_requests_total',
      'S3 requests billed by class (A: PUT, COPY, POST, LIST; B: GET and others)',
      this.s3.A,
      { class: 'A' },
    );
    counter(
      'inferbus_billed_s3_requests_total',
      'S3 requests billed by class (A: PUT, COPY, POST, LIST; B: GET and others)',
      this.s3.B,
      { class: 'B' },
    );
    for (const [table, usage] of this.dynamoDb) {
      counter(
        'inferbus_billed_dynamodb_read_request_units_total',
        'DynamoDB read request units (4 KB, half when eventually consistent)',
        usage.read,
        { table },
      );
      counter(
        'inferbus_billed_dynamodb_write_request_units_total',
        'DynamoDB write request units (1 KB)',
        usage.write,
        { table },
      );
    }
    counter(
      'inferbus_billed_athena_queries_total',
      'Athena queries billed (successful SELECTs)',
      this.athena.queries,
    );
    counter(
      'inferbus_billed_athena_scanned_bytes_total',
      'Bytes Athena queries scanned',
      this.athena.scannedBytes,
    );
    counter(
      'inferbus_billed_athena_bytes_total',
      'Athena bytes billed: each query rounded up to the MB, 10 MB at least',
      this.athena.billedBytes,
    );
    for (const [key, calls] of this.unmetered) {
      const [service = '', operation = ''] = key.split('\0');
      counter(
        'inferbus_unmetered_calls_total',
        'Calls that cost something in AWS but that the local meter has no rule for',
        calls,
        { service, operation },
      );
    }
    return samples;
  }
}
