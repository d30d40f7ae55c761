import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BillableUsage } from '../../functions/core/billing-units';
import { type CostModelInput, predictUsage, sizeInputs } from '../../functions/core/cost-model';
import type { LocalRuntime } from '../../local/runtime';
import { runCli, settle, startTestRuntime } from '../support/local-cli';
import { tierRunStats } from '../support/tier-run-stats';

/**
 * `inferbus cost`'s model against what the local runtime meters for the same workload: held-out
 * messages sent through the real pipeline, `/metrics` read over HTTP, the model's prediction for
 * those requests compared per service. What depends on how traffic arrived rather than on the code
 * (batch fill, receive fill, idle polls, this machine's speed, how long the runtime ran) is passed
 * to the model explicitly from the run; everything else is the model's own.
 */
const REQUESTS = 600;
const TOLERANCE = 0.05;
/**
 * The cost model prices one task's cascade (`inferbus cost --task`); dev also serves another task,
 * whose idle functions (and their provisioned concurrency) are no part of this workload.
 */
const TASK = 'spam';

let rt: LocalRuntime;
let startedAt: number;
let metered: Map<string, number>;
let predicted: BillableUsage;

/** Prometheus text → sum of each metric over its labels (label filter optional). */
function parseMetrics(text: string): { total: (name: string, labels?: Record<string, string>) => number } {
  const rows = text
    .split('\n')
    .filter((line) => line && !line.startsWith('#'))
    .map((line) => {
      const match = /^([a-zA-Z0-9_:]+)(?:\{(.*)\})? (\S+)$/.exec(line);
      if (!match) throw new Error(`unreadable /metrics line: ${line}`);
      const labels = Object.fromEntries(
        [...(match[2] ?? '').matchAll(/([a-z_]+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1], m[2]]),
      );
      return { name: match[1] as string, labels, value: Number(match[3]) };
    });
  return {
    total: (name, labels = {}) =>
      rows
        .filter((r) => r.name === name && Object.entries(labels).every(([k, v]) => r.labels[k] === v))
        .reduce((sum, r) => sum + r.value, 0),
  };
}

beforeAll(async () => {
  rt = await startTestRuntime(mkdtempSync(join(tmpdir(), 'inferbus-metering-')));
  startedAt = Date.now();
  const work = mkdtempSync(join(tmpdir(), 'inferbus-metering-work-'));
  const samples = await runCli(rt, work, ['events', 'sample', '--task', TASK, '--count', String(REQUESTS)]);
  expect(samples.code, samples.stderr).toBe(0);
  // One request per entry: the model's unpacked case (packed traffic: metering-packed.e2e.test.ts).
  const sent = await runCli(rt, work, ['put-events', '--no-pack', '--json', '-'], {}, samples.stdout);
  expect(sent.code, sent.stderr).toBe(0);
  await settle(rt, 180_000);
  const text = await (await fetch(`${rt.endpoint}/metrics`)).text();
  const seconds = (Date.now() - startedAt) / 1000;
  const m = parseMetrics(text);

  // The workload as it arrived, from the runtime's own counters (not from the billed units).
  const t1 = tierRunStats(rt, TASK, 1);
  const t2 = tierRunStats(rt, TASK, 2);
  /** A Lambda counter summed over this task's functions. */
  const lambdaTotal = (name: string) =>
    [t1.fn.name, t2.fn.name].reduce((sum, fn) => sum + m.total(name, { function: fn }), 0);
  const texts = JSON.parse(`[${samples.stdout.trim().split('\n').join(',')}]`) as {
    payload: { text: string };
  }[];
  const { queueMessageBytes, ...sizes } = sizeInputs(texts.map((e) => Buffer.byteLength(e.payload.text)));
  const nonEmptyReceives = m.total('inferbus_sqs_receive_calls_total', { outcome: 'messages' });
  const input: CostModelInput = {
    tier1: {
      memoryMiB: t1.fn.memoryMiB,
      batchSize: t1.batchSize,
      provisionedConcurrencyMin: t1.fn.provisionedConcurrency ?? 0,
      msPerEvent: 0,
    },
    tier2: {
      memoryMiB: t2.fn.memoryMiB,
      batchSize: t2.batchSize,
      provisionedConcurrencyMin: t2.fn.provisionedConcurrency ?? 0,
      msPerEvent: 0,
    },
    escalationRate: t2.records / REQUESTS,
    requestsPerSecond: REQUESTS / seconds,
    archiveBufferingIntervalSeconds: 2,
    ...sizes,
    parquetBytesPerRow: 0,
    scanBytesPerRowPerQuery: [],
    workload: {
      queueMessageBytes,
      tier1RecordsPerInvocation: t1.records / t1.batches,
      tier2RecordsPerInvocation: t2.batches > 0 ? t2.records / t2.batches : t2.batchSize,
      messagesPerReceive: (t1.records + t2.records) / nonEmptyReceives,
      emptyReceivesPerMillion:
        (m.total('inferbus_sqs_receive_calls_total', { outcome: 'empty' }) / REQUESTS) * 1e6,
      coldStartInitGbSecondsPerMillion:
        (lambdaTotal('inferbus_billed_lambda_init_gb_seconds_total') / REQUESTS) * 1e6,
      tier1MsPerInvocation: t1.meanMs,
      tier2MsPerInvocation: t2.meanMs,
    },
  };
  predicted = predictUsage(input, 'cascade', REQUESTS);
  metered = new Map([
    ['eventBridgeEvents', m.total('inferbus_billed_eventbridge_events_total')],
    ['sqsRequests', m.total('inferbus_billed_sqs_requests_total')],
    ['lambdaRequests', lambdaTotal('inferbus_billed_lambda_requests_total')],
    ['lambdaDurationGbSeconds', lambdaTotal('inferbus_billed_lambda_gb_seconds_total')],
    [
      'lambdaProvisionedConcurrencyGbSeconds',
      lambdaTotal('inferbus_billed_lambda_provisioned_concurrency_gb_seconds_total'),
    ],
    ['firehoseRecords', m.total('inferbus_billed_firehose_records_total')],
    ['firehoseBilledBytes', m.total('inferbus_billed_firehose_bytes_total')],
    ['dynamoDbReadUnits', m.total('inferbus_billed_dynamodb_read_request_units_total')],
    ['dynamoDbWriteUnits', m.total('inferbus_billed_dynamodb_write_request_units_total')],
  ]);
}, 300_000);

afterAll(async () => {
  await rt?.stop();
});

describe('inferbus cost agrees with the units the local runtime metered for the same workload', () => {
  const within = (what: string, model: number, meter: number) => {
    expect(meter, `${what}: nothing metered`).toBeGreaterThan(0);
    const gap = Math.abs(model - meter) / meter;
    expect(gap, `${what}: model ${model.toFixed(3)} vs metered ${meter.toFixed(3)}`).toBeLessThanOrEqual(
      TOLERANCE,
    );
  };

  it('EventBridge: request entries in 64 KB units plus one result per tier answer', () => {
    within('EventBridge events', predicted.eventBridgeEvents, metered.get('eventBridgeEvents') ?? 0);
  });

  it('SQS: sends, receives (empty ones included) and batch deletes in 64 KB chunks', () => {
    within('SQS requests', predicted.sqsRequests, metered.get('sqsRequests') ?? 0);
  });

  it('Lambda: requests, duration GB-seconds and provisioned concurrency', () => {
    within('Lambda requests', predicted.lambdaRequests, metered.get('lambdaRequests') ?? 0);
    within(
      'Lambda duration GB-s',
      predicted.lambdaOnDemandGbSeconds + predicted.lambdaProvisionedDurationGbSeconds,
      metered.get('lambdaDurationGbSeconds') ?? 0,
    );
    within(
      'provisioned concurrency GB-s',
      predicted.lambdaProvisionedConcurrencyGbSeconds,
      metered.get('lambdaProvisionedConcurrencyGbSeconds') ?? 0,
    );
  });

  it('Firehose: one record per request and per result, each billed in 5 KB increments', () => {
    within('Firehose records', predicted.firehoseRecords, metered.get('firehoseRecords') ?? 0);
    within('Firehose billed bytes', predicted.firehoseBilledBytes, metered.get('firehoseBilledBytes') ?? 0);
  });

  it('DynamoDB: tenant-state reads and writes per invocation', () => {
    within('DynamoDB read units', predicted.dynamoDbReadUnits, metered.get('dynamoDbReadUnits') ?? 0);
    within('DynamoDB write units', predicted.dynamoDbWriteUnits, metered.get('dynamoDbWriteUnits') ?? 0);
  });
});
