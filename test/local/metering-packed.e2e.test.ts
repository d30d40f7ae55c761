import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BillableUsage } from '../../functions/core/billing-units';
import {
  type CostModelInput,
  type PackingInput,
  packingInputs,
  predictUsage,
  sizeInputs,
} from '../../functions/core/cost-model';
import type { Envelope } from '../../functions/core/envelope';
import { createPackCodec } from '../../functions/core/packing/codec';
import { DEFAULT_PRODUCER_PACK_POLICY } from '../../functions/core/packing/policy';
import { loadTaskDefinition } from '../../functions/tasks/definition';
import type { LocalRuntime } from '../../local/runtime';
import { runCli, settle, startTestRuntime } from '../support/local-cli';
import { tierRunStats } from '../support/tier-run-stats';

/**
 * `inferbus cost`'s model for packed traffic against what the local runtime meters: the spam task's
 * held-out split sent by `inferbus put-events` as it packs by default, `/metrics` read over HTTP, the
 * model's packed prediction for those requests compared per service. The packing inputs are the
 * model's own (`packingInputs` with the producers' policy on the same requests); what depends on how
 * traffic arrived (batch and receive fill, idle polls, ms per invocation, which packs escalated) is
 * passed from the run, as in metering.e2e.test.ts.
 */
const TASK = 'spam';
const TOLERANCE = 0.05;

let rt: LocalRuntime;
let metered: Map<string, number>;
let predicted: BillableUsage;
let packing: PackingInput;
let summary: { accepted: number; busEntries: number; packs: number; billedUnits: number };

function parseMetrics(text: string) {
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
  return (name: string, labels: Record<string, string> = {}) =>
    rows
      .filter((r) => r.name === name && Object.entries(labels).every(([k, v]) => r.labels[k] === v))
      .reduce((sum, r) => sum + r.value, 0);
}

beforeAll(async () => {
  const heldOut = (await (await loadTaskDefinition(TASK)).loadSplits()).test;
  const requests = heldOut.length;
  // Provisioned concurrency is metered from the runtime's start: time the run from there.
  const startedAt = Date.now();
  rt = await startTestRuntime(mkdtempSync(join(tmpdir(), 'inferbus-metering-packed-')));
  const work = mkdtempSync(join(tmpdir(), 'inferbus-metering-packed-work-'));
  // The escalation rate of exactly these requests (the whole split) at the stage threshold.
  const cost = await runCli(rt, work, ['cost', '--task', TASK, '--no-pack', '--format', 'json']);
  expect(cost.code, cost.stderr).toBe(0);
  const escalationRate = JSON.parse(cost.stdout).tasks[0].measured.escalationRate as number;
  const samples = await runCli(rt, work, ['events', 'sample', '--task', TASK, '--count', String(requests)]);
  expect(samples.code, samples.stderr).toBe(0);
  const sent = await runCli(rt, work, ['put-events', '--json', '-'], {}, samples.stdout);
  expect(sent.code, sent.stderr).toBe(0);
  summary = JSON.parse(sent.stdout.trim().split('\n').at(-1) as string);
  await settle(rt, 180_000);
  const total = parseMetrics(await (await fetch(`${rt.endpoint}/metrics`)).text());
  const seconds = (Date.now() - startedAt) / 1000;

  const envelopes = samples.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Envelope);
  packing = packingInputs(envelopes, DEFAULT_PRODUCER_PACK_POLICY, await createPackCodec(), {
    keepTails: true,
  });

  const t1 = tierRunStats(rt, TASK, 1);
  const t2 = tierRunStats(rt, TASK, 2);
  const { queueMessageBytes: _, ...sizes } = sizeInputs(
    envelopes.map((e) => Buffer.byteLength(String(e.payload.text))),
  );
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
    escalationRate,
    requestsPerSecond: requests / seconds,
    archiveBufferingIntervalSeconds: 2,
    ...sizes,
    parquetBytesPerRow: 0,
    scanBytesPerRowPerQuery: [],
    packing,
    workload: {
      tier1RecordsPerInvocation: t1.records / t1.batches,
      tier2RecordsPerInvocation: t2.batches > 0 ? t2.records / t2.batches : t2.batchSize,
      messagesPerReceive:
        (t1.records + t2.records) / total('inferbus_sqs_receive_calls_total', { outcome: 'messages' }),
      emptyReceivesPerMillion:
        (total('inferbus_sqs_receive_calls_total', { outcome: 'empty' }) / requests) * 1e6,
      coldStartInitGbSecondsPerMillion:
        (total('inferbus_billed_lambda_init_gb_seconds_total') / requests) * 1e6,
      tier1MsPerInvocation: t1.meanMs,
      tier2MsPerInvocation: t2.meanMs,
      escalationPacksPerEntry: t2.records / t1.records,
    },
  };
  predicted = predictUsage(input, 'cascade', requests);
  metered = new Map([
    ['eventBridgeEvents', total('inferbus_billed_eventbridge_events_total')],
    ['sqsRequests', total('inferbus_billed_sqs_requests_total')],
    ['lambdaRequests', total('inferbus_billed_lambda_requests_total')],
    ['lambdaDurationGbSeconds', total('inferbus_billed_lambda_gb_seconds_total')],
    ['firehoseRecords', total('inferbus_billed_firehose_records_total')],
    ['firehoseBilledBytes', total('inferbus_billed_firehose_bytes_total')],
    ['dynamoDbReadUnits', total('inferbus_billed_dynamodb_read_request_units_total')],
    ['dynamoDbWriteUnits', total('inferbus_billed_dynamodb_write_request_units_total')],
  ]);
}, 420_000);

afterAll(async () => {
  await rt?.stop();
});

describe('inferbus cost agrees with the units the local runtime metered for packed traffic', () => {
  const within = (what: string, model: number, meter: number) => {
    expect(meter, `${what}: nothing metered`).toBeGreaterThan(0);
    const gap = Math.abs(model - meter) / meter;
    expect(gap, `${what}: model ${model.toFixed(3)} vs metered ${meter.toFixed(3)}`).toBeLessThanOrEqual(
      TOLERANCE,
    );
  };

  it("packs as put-events did: the model's packing inputs are the entries that were sent", () => {
    expect(summary.accepted).toBeGreaterThan(0);
    expect(summary.busEntries * packing.requestsPerEntry).toBeCloseTo(summary.accepted, 6);
    expect(summary.busEntries * packing.entryBillingUnits).toBeCloseTo(summary.billedUnits, 6);
  });

  it('EventBridge: request packs in 64 KB units plus result and escalation packs', () => {
    within('EventBridge events', predicted.eventBridgeEvents, metered.get('eventBridgeEvents') ?? 0);
  });

  it('SQS: packs sent, received and deleted in 64 KB chunks', () => {
    within('SQS requests', predicted.sqsRequests, metered.get('sqsRequests') ?? 0);
  });

  it('Lambda: requests and duration GB-seconds (a batch of packs is hundreds of requests)', () => {
    within('Lambda requests', predicted.lambdaRequests, metered.get('lambdaRequests') ?? 0);
    within(
      'Lambda duration GB-s',
      predicted.lambdaOnDemandGbSeconds + predicted.lambdaProvisionedDurationGbSeconds,
      metered.get('lambdaDurationGbSeconds') ?? 0,
    );
    // Provisioned concurrency is time, not traffic: packing leaves it as metering.e2e.test.ts checks it.
  });

  it("Firehose: the handlers' rows, concatenated into few records, billed in 5 KB increments", () => {
    within('Firehose records', predicted.firehoseRecords, metered.get('firehoseRecords') ?? 0);
    within('Firehose billed bytes', predicted.firehoseBilledBytes, metered.get('firehoseBilledBytes') ?? 0);
  });

  it('DynamoDB: tenant-state reads and writes per invocation', () => {
    within('DynamoDB read units', predicted.dynamoDbReadUnits, metered.get('dynamoDbReadUnits') ?? 0);
    within('DynamoDB write units', predicted.dynamoDbWriteUnits, metered.get('dynamoDbWriteUnits') ?? 0);
  });
});
