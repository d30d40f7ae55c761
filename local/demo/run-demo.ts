import { AthenaClient } from '@aws-sdk/client-athena';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { DetailType } from '../../functions/core/events';
import { createPackCodec } from '../../functions/core/packing/codec';
import { DEFAULT_PRODUCER_PACK_POLICY } from '../../functions/core/packing/policy';
import { type PutEventsEntry, planRequests } from '../../functions/core/put-events';
import { envelopeOfEntry, packRequests } from '../../functions/producer/packer';
import type { LocalRuntime } from '../runtime';
import { LOCAL_S3_CREDENTIALS } from '../s3';
import { namedQueries, type QueryRows, runQuery } from './athena-client';
import { meteredCostLines } from './metered-cost';
import { loadTaskSamples, type SampleEntry, sampleEntries, servedTasks } from './sample-events';
import { formatTaskFigures, type TaskFigures, taskFigures } from './task-summary';

export interface DemoOptions {
  readonly events: number;
  readonly out: (line: string) => void;
  readonly progress: (line: string) => void;
  /** Give up waiting for the pipeline after this long. @default 300 s */
  readonly timeoutMs?: number;
}

export interface DemoOutcome {
  readonly accepted: number;
  readonly rejected: number;
  readonly accountedFor: number;
  readonly missing: string[];
}

/**
 * `npm start`: sample traffic through the real endpoints with the real SDK, a wait until every
 * accepted event is accounted for (a result in the archive, or a DLQ message with its reason),
 * then the named queries, printed as a summary.
 */
export async function runDemo(runtime: LocalRuntime, options: DemoOptions): Promise<DemoOutcome> {
  const started = Date.now();
  const { model, endpoint } = runtime;
  const clientConfig = { endpoint, region: model.region, credentials: LOCAL_S3_CREDENTIALS };
  const events = new EventBridgeClient(clientConfig);
  const busName = model.buses.find((b) => b.name !== 'default')?.name ?? 'default';
  const tasks = servedTasks(model.functions);
  const samples = sampleEntries({
    count: options.events,
    busName,
    tenants: tenantsOf(runtime),
    tasks: await loadTaskSamples(tasks),
  });

  options.progress(
    `sending ${samples.length} entries to ${busName} (${options.events} requests for ${tasks.join(', ')} + rejected probes)`,
  );
  const { accepted, rejected } = await send(events, samples, options.progress);

  options.progress('waiting until every accepted event is accounted for ...');
  await settle(runtime, options, started);

  const athena = new AthenaClient(clientConfig);
  const workGroup = model.workGroups[0]?.name ?? 'primary';
  const database = model.glueTables[0]?.databaseName ?? 'default';
  const today = new Date().toISOString().slice(0, 10);
  const params = [`'${today}'`, `'${today}'`];
  const queries = await namedQueries(athena, workGroup);
  const run = async (name: string) => {
    const query = queries.get(name);
    if (!query) throw new Error(`named query ${name} is missing from the template`);
    return runQuery(athena, workGroup, query.database || database, query.sql, params);
  };

  const accounted = await runQuery(
    athena,
    workGroup,
    database,
    `SELECT DISTINCT source_event_id FROM events WHERE dt = ? AND detail_type IN ('${DetailType.InferenceCompleted}', '${DetailType.InferenceFailed}')`,
    [`'${today}'`],
  );
  const seen = new Set(accounted.rows.map((r) => r.source_event_id));
  const expected = accepted.filter((s) => s.id !== undefined);
  const missing = expected.filter((s) => !seen.has(s.id as string)).map((s) => s.id as string);

  const archived = await runQuery(
    athena,
    workGroup,
    database,
    `SELECT source_event_id, tier, label, detail_type FROM events WHERE dt = ? AND detail_type IN ('${DetailType.InferenceCompleted}', '${DetailType.EscalationRequested}')`,
    [`'${today}'`],
  );
  const tasksSummary = taskFigures(
    accepted.flatMap((s) =>
      s.kind === 'valid' && s.id && s.task
        ? [{ id: s.id, task: s.task, ...(s.expectedLabel ? { expectedLabel: s.expectedLabel } : {}) }]
        : [],
    ),
    archived.rows.flatMap((r) =>
      r.detail_type === DetailType.InferenceCompleted && r.source_event_id && r.label
        ? [{ sourceEventId: r.source_event_id, tier: Number(r.tier), label: r.label }]
        : [],
    ),
    new Set(
      archived.rows.flatMap((r) =>
        r.detail_type === DetailType.EscalationRequested && r.source_event_id ? [r.source_event_id] : [],
      ),
    ),
  );

  const tiers = await run('hourly-tier-volume');
  const latency = await run('latency-percentiles');
  const accuracy = await run('accuracy-per-tier');
  const failures = await run('dlq-bound-failures');
  const dlq = await deadLetterSummary(runtime, new SQSClient(clientConfig));

  printSummary(options.out, {
    seconds: (Date.now() - started) / 1000,
    requested: options.events,
    accepted: accepted.length,
    rejected,
    tasks: tasksSummary,
    tiers,
    latency,
    accuracy,
    failures,
    dlq,
    accountedFor: expected.length - missing.length,
    expected: expected.length,
    parquetDir: `${runtime.s3.directory}/${model.deliveryStreams[0]?.bucketName ?? ''}/events/`,
  });
  options.out('');
  // Metered after the queries, so their Athena scans are in it too.
  for (const line of meteredCostLines(runtime.meter.usage(), expected.length)) options.out(line);
  return {
    accepted: accepted.length,
    rejected: rejected.size,
    accountedFor: expected.length - missing.length,
    missing,
  };
}

/** Tenants and their weights, read from the tier-1 rules and their event source concurrency. */
function tenantsOf(runtime: LocalRuntime): { id: string; weight: number }[] {
  const tenants: { id: string; weight: number }[] = [];
  for (const rule of runtime.model.rules) {
    const pattern = rule.eventPattern as { 'detail-type'?: string[]; detail?: { tenant?: unknown[] } };
    const tenant = pattern.detail?.tenant?.[0];
    // Archive rules match InferenceRequested too, with `{"exists": true}` for the tenant: not a tenant rule.
    if (typeof tenant !== 'string' || !pattern['detail-type']?.includes(DetailType.InferenceRequested))
      continue;
    // One entry rule per task and tenant: a tenant counts once.
    if (tenants.some((t) => t.id === tenant)) continue;
    const queueArn = rule.targets[0]?.arn;
    const share = runtime.model.eventSourceMappings.find((m) => m.queueArn === queueArn)?.maxConcurrency ?? 1;
    tenants.push({ id: tenant, weight: share / 10 });
  }
  if (tenants.length === 0)
    throw new Error('no tier-1 rule with a detail.tenant pattern found in the template');
  return tenants;
}

/** One PutEvents entry of the demo and the samples it carries (a pack carries many). */
interface DemoEntry {
  readonly entry: PutEventsEntry;
  readonly samples: readonly SampleEntry[];
}

/**
 * The demo's entries as a producer sends them: the requests (valid and poison) packed with the
 * producers' default policy, the probes that must be refused (malformed detail, oversized) alone.
 */
async function packSamples(samples: readonly SampleEntry[]): Promise<DemoEntry[]> {
  const requests = samples.filter((s) => s.kind === 'valid' || s.kind === 'poison');
  const plain = (s: SampleEntry) => ({ ...s.entry, Resources: undefined });
  const units = packRequests(
    requests.map((s) => ({ entry: plain(s), envelope: envelopeOfEntry(s.entry) })),
    DEFAULT_PRODUCER_PACK_POLICY,
    await createPackCodec(),
  );
  return [
    ...units.map((u) => ({ entry: u.entry, samples: u.members.map((m) => requests[m] as SampleEntry) })),
    ...samples.filter((s) => !requests.includes(s)).map((s) => ({ entry: plain(s), samples: [s] })),
  ];
}

async function send(
  client: EventBridgeClient,
  samples: readonly SampleEntry[],
  progress: (line: string) => void,
): Promise<{ accepted: SampleEntry[]; rejected: Map<string, number> }> {
  const accepted: SampleEntry[] = [];
  const rejected = new Map<string, number>();
  const entries = await packSamples(samples);
  const packs = entries.filter((e) => e.samples.length > 1);
  progress(
    `  packed: ${packs.reduce((sum, e) => sum + e.samples.length, 0)} requests in ${packs.length} packs (${DEFAULT_PRODUCER_PACK_POLICY.codec}), ${entries.length} entries in all`,
  );
  // Requests of at most 10 entries and 1 MB; an oversized entry makes AWS reject its whole request, so it goes alone.
  const fits = entries.filter((e) => e.samples[0]?.kind !== 'oversized');
  const batches: DemoEntry[][] = [
    ...planRequests(fits.map((e) => e.entry)).map((request) => request.map((i) => fits[i] as DemoEntry)),
    ...entries.filter((e) => e.samples[0]?.kind === 'oversized').map((e) => [e]),
  ];
  let done = 0;
  let lastReport = Date.now();
  const worker = async () => {
    for (let batch = batches.shift(); batch; batch = batches.shift()) {
      try {
        const response = await client.send(
          new PutEventsCommand({ Entries: batch.map(({ entry: { Resources: _, ...e } }) => e) }),
        );
        response.Entries?.forEach((result, i) => {
          const { samples: carried } = batch[i] as DemoEntry;
          if (result.EventId) accepted.push(...carried);
          else {
            const code = result.ErrorCode ?? 'Unknown';
            rejected.set(code, (rejected.get(code) ?? 0) + carried.length);
          }
        });
      } catch (error) {
        const code = (error as Error).name;
        const carried = batch.reduce((sum, e) => sum + e.samples.length, 0);
        rejected.set(code, (rejected.get(code) ?? 0) + carried);
      }
      done += batch.reduce((sum, e) => sum + e.samples.length, 0);
      if (Date.now() - lastReport > 1000) {
        lastReport = Date.now();
        progress(`  sent ${done}/${samples.length}`);
      }
    }
  };
  await Promise.all(Array.from({ length: 4 }, worker));
  progress(
    `  sent ${samples.length}: ${accepted.length} accepted, ${[...rejected.values()].reduce((a, b) => a + b, 0)} rejected`,
  );
  return { accepted, rejected };
}

/** Waits until every accepted event is processed and archived, reporting progress every second. */
async function settle(runtime: LocalRuntime, options: DemoOptions, started: number): Promise<void> {
  let lastReport = 0;
  const report = () => {
    if (Date.now() - lastReport < 1000) return;
    lastReport = Date.now();
    const processed = runtime.pollers.reduce((sum, p) => sum + p.stats().deleted, 0);
    const backlog = runtime
      .queueCounts()
      .reduce((sum, q) => sum + (q.name.includes('Dlq') ? 0 : q.visible + q.inFlight), 0);
    options.progress(
      `  ${((Date.now() - started) / 1000).toFixed(0)} s: ${processed} records processed, ${backlog} queued`,
    );
  };
  await runtime.settle({
    quietMs: 1500,
    timeoutMs: options.timeoutMs ?? 300_000,
    pollMs: 200,
    onPoll: report,
  });
}

/** DLQ depth and reasons, read through the SQS API without hiding the messages (visibility 0). */
async function deadLetterSummary(
  runtime: LocalRuntime,
  sqs: SQSClient,
): Promise<{ queue: string; count: number; reasons: Map<string, number> }[]> {
  const dlqArns = new Set(
    runtime.model.queues.flatMap((q) => (q.redrive ? [q.redrive.deadLetterTargetArn] : [])),
  );
  for (const rule of runtime.model.rules)
    for (const t of rule.targets) if (t.deadLetterArn) dlqArns.add(t.deadLetterArn);
  const summary = [];
  for (const queue of runtime.model.queues.filter((q) => dlqArns.has(q.arn))) {
    const count = runtime.queues.counts(queue.arn).visible;
    if (count === 0) continue;
    const reasons = new Map<string, number>();
    const response = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: queue.url,
        MaxNumberOfMessages: 10,
        VisibilityTimeout: 0,
        MessageAttributeNames: ['All'],
      }),
    );
    for (const message of response.Messages ?? []) {
      const code = message.MessageAttributes?.ERROR_CODE?.StringValue ?? 'no reason attached';
      reasons.set(code, (reasons.get(code) ?? 0) + 1);
    }
    summary.push({ queue: queue.name, count, reasons });
  }
  return summary;
}

interface Summary {
  seconds: number;
  requested: number;
  accepted: number;
  rejected: Map<string, number>;
  tasks: readonly TaskFigures[];
  tiers: QueryRows;
  latency: QueryRows;
  accuracy: QueryRows;
  failures: QueryRows;
  dlq: { queue: string; count: number; reasons: Map<string, number> }[];
  accountedFor: number;
  expected: number;
  parquetDir: string;
}

function printSummary(out: (line: string) => void, s: Summary): void {
  const sum = (rows: QueryRows, column: string) =>
    rows.rows.reduce((total, r) => total + Number(r[column] ?? 0), 0);
  const requests = sum(s.tiers, 'requests');
  const escalations = sum(s.tiers, 'escalations');
  const tier1 = sum(s.tiers, 'tier1_results');
  out('');
  out(`inferbus local demo: ${s.requested} requests in ${s.seconds.toFixed(1)} s`);
  out(`  accepted by PutEvents   ${s.accepted}`);
  out(`  rejected by PutEvents   ${[...s.rejected].map(([code, n]) => `${n} ${code}`).join(', ') || 'none'}`);
  out(
    `  accounted for           ${s.accountedFor}/${s.expected} (a result in the archive, or a DLQ message with its reason)`,
  );
  out('');
  out('  per task (final answers from the archive; accuracy against the expected labels sent):');
  for (const line of formatTaskFigures(s.tasks)) out(`    ${line}`);
  out('');
  out(`  requests archived       ${requests}`);
  out(`  tier-1 answers          ${tier1}`);
  out(
    `  escalated to tier 2     ${escalations} (${requests ? ((escalations / (tier1 + escalations || 1)) * 100).toFixed(2) : '0.00'}%)`,
  );
  out(`  tier-2 answers          ${sum(s.tiers, 'tier2_results')}`);
  const labelled = sum(s.accuracy, 'labelled_results');
  if (labelled > 0) {
    out(
      `  accuracy, cascade       ${((sum(s.accuracy, 'correct') / labelled) * 100).toFixed(2)}% of ${labelled} labelled results`,
    );
  }
  // The named queries give a row per task and tier (the task column where the archive has one).
  const of = (row: Record<string, string | null>) => (row.task ? `${row.task}, ` : '');
  for (const row of s.accuracy.rows) {
    out(
      `  accuracy, ${of(row)}tier ${row.tier}  ${(Number(row.accuracy) * 100).toFixed(2)}% of ${row.labelled_results} labelled results`,
    );
  }
  for (const row of s.latency.rows) {
    out(
      `  inference latency, ${of(row)}tier ${row.tier}: p50 ${Number(row.p50_ms).toFixed(2)} ms, p99 ${Number(row.p99_ms).toFixed(2)} ms (${row.results} results; per batch run)`,
    );
  }
  out('');
  if (s.dlq.length === 0) out('  dead-letter queues      empty');
  for (const d of s.dlq) {
    out(
      `  DLQ ${d.queue}: ${d.count} (${[...d.reasons].map(([code, n]) => `${code} x${n}`).join(', ')}${d.count > 10 ? ', first 10 shown' : ''})`,
    );
  }
  for (const row of s.failures.rows)
    out(`  archived failure: tenant ${row.tenant}, ${row.error_code} x${row.events}: ${row.example_message}`);
  out('');
  out(`  Parquet archive         ${s.parquetDir}`);
}
