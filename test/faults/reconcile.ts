// The fault suite's building blocks: a fresh runtime with faults in its handlers, sample traffic
// through the real EventBridge SDK, and the reconciliation of accepted ids against the archive and DLQs.
import { AthenaClient } from '@aws-sdk/client-athena';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { DetailType, RESULT_SOURCE } from '../../functions/core/events';
import { sampleEntries, type TaskSamples } from '../../functions/producer/samples';
import { runQuery, sqlLiteral } from '../../functions/shared/athena-query';
import { FAULTS_ENV, type FaultConfig } from '../../functions/shared/faults';
import { PROJECT_ROOT } from '../../lib/app';
import { loadTaskSamples, servedTasks } from '../../local/demo/sample-events';
import type { TemplateModel } from '../../local/model';
import { LocalRuntime } from '../../local/runtime';
import { LOCAL_S3_CREDENTIALS } from '../../local/s3';

/** Accelerated clock for fault runs: failed batches come back after this many seconds (template: 181). */
export const FAULT_VISIBILITY_SECONDS = 2;
/**
 * The function timeout on that clock (template: 30 s and 60 s): below the visibility timeout, as AWS
 * requires, so a hung batch times out before its messages are received again. A batch takes well
 * under a second here; init (model load) has its own limit and does not count.
 */
export const FAULT_FUNCTION_TIMEOUT_SECONDS = 1.5;

/** Faults injected by the runtime itself rather than by the handlers. */
export interface RuntimeFaults {
  /** Share of the local Firehose's S3 objects whose writes fail (their records are kept for a later flush). */
  readonly firehoseWriteFailureRate?: number;
  /** Seeds its draws: a run writes only a few objects, so unseeded draws could all succeed. */
  readonly firehoseWriteFailureSeed?: number;
}

export function startRuntime(
  stateDir: string,
  faults: FaultConfig | undefined,
  log: (line: string) => void,
  runtimeFaults: RuntimeFaults = {},
): Promise<LocalRuntime> {
  return LocalRuntime.start({
    projectRoot: PROJECT_ROOT,
    stage: 'dev',
    port: 0,
    stateDir,
    log,
    firehoseIntervalSeconds: 1,
    visibilityTimeoutSeconds: FAULT_VISIBILITY_SECONDS,
    functionTimeoutSeconds: FAULT_FUNCTION_TIMEOUT_SECONDS,
    firehoseWriteFailureRate: runtimeFaults.firehoseWriteFailureRate,
    firehoseWriteFailureSeed: runtimeFaults.firehoseWriteFailureSeed,
    handlerEnvironment: faults ? { [FAULTS_ENV]: JSON.stringify(faults) } : undefined,
  });
}

export interface Target {
  readonly endpoint: string;
  readonly region: string;
}

const clientConfig = (t: Target) => ({
  endpoint: t.endpoint,
  region: t.region,
  credentials: LOCAL_S3_CREDENTIALS,
});

export const busNameOf = (model: TemplateModel) =>
  model.buses.find((b) => b.name !== 'default')?.name ?? 'default';

/** Tenants and weights from the tier-1 rules (as the demo does). */
export function tenantsOf(model: TemplateModel): { id: string; weight: number }[] {
  const tenants: { id: string; weight: number }[] = [];
  for (const rule of model.rules) {
    const pattern = rule.eventPattern as { 'detail-type'?: string[]; detail?: { tenant?: string[] } };
    const tenant = pattern.detail?.tenant?.[0];
    // A tier-1 tenant rule names its tenant exactly and feeds a work queue; the archive and
    // unrouted rules also match InferenceRequested, with operators (exists, anything-but) instead.
    if (typeof tenant !== 'string' || !pattern['detail-type']?.includes(DetailType.InferenceRequested))
      continue;
    const queueArn = rule.targets[0]?.arn;
    const mapping = model.eventSourceMappings.find((m) => m.queueArn === queueArn);
    if (!mapping) continue;
    const share = mapping.maxConcurrency ?? 1;
    tenants.push({ id: tenant, weight: share / 10 });
  }
  return tenants;
}

/**
 * A request's identity: envelope ids are unique only per tenant, so the reconciliation counts
 * (tenant, id) pairs, printed as `tenant/id`.
 */
/** Held-out examples of every task the template serves, as the demo sends them. */
export const sampleTasksOf = (model: TemplateModel): Promise<TaskSamples[]> =>
  loadTaskSamples(servedTasks(model.functions));

export const requestKey = (tenant: string, id: string): string => `${tenant}/${id}`;

/** The tenant of a `tenant/id` key (tenant ids hold no slash). */
export const tenantOfKey = (key: string): string => key.slice(0, Math.max(0, key.indexOf('/')));

/** Sends `count` sample requests (about 3% poison); resolves to the keys PutEvents accepted. */
export async function sendSamples(
  target: Target,
  model: TemplateModel,
  count: number,
  options: {
    /** Waits `ms` once `at` entries have gone out (so the first ones are processed before the rest arrive). */
    readonly pause?: { readonly at: number; readonly ms: number };
    /** Tenants and weights (default: every tenant of the template, as the demo spreads them). */
    readonly tenants?: readonly { readonly id: string; readonly weight: number }[];
    /** Only these tasks' requests (default: every task the template serves, in turn). */
    readonly tasks?: readonly string[];
  } = {},
): Promise<string[]> {
  const { pause } = options;
  const events = new EventBridgeClient(clientConfig(target));
  const samples = sampleEntries({
    count,
    busName: busNameOf(model),
    tenants: options.tenants ?? tenantsOf(model),
    tasks: (await sampleTasksOf(model)).filter((t) => !options.tasks || options.tasks.includes(t.task)),
    poisonShare: 0.03,
    rejected: 0,
  });
  const accepted: string[] = [];
  for (let i = 0; i < samples.length; i += 10) {
    if (pause && i > 0 && i >= pause.at && i - 10 < pause.at)
      await new Promise((resolve) => setTimeout(resolve, pause.ms));
    const group = samples.slice(i, i + 10);
    const response = await events.send(
      new PutEventsCommand({ Entries: group.map((s) => ({ ...s.entry, Resources: undefined })) }),
    );
    response.Entries?.forEach((result, j) => {
      const sample = group[j];
      if (result.EventId && sample?.id) accepted.push(requestKey(sample.tenant, sample.id));
    });
  }
  events.destroy();
  return accepted;
}

/**
 * Waits until nothing is queued, in flight or delivered for 1.5 s, then flushes Firehose until its
 * buffers and write-ahead logs are empty (a failed S3 write keeps records for a later flush).
 */
export async function waitUntilIdle(runtime: LocalRuntime, timeoutMs = 180_000): Promise<boolean> {
  try {
    await runtime.settle({ quietMs: 1500, timeoutMs, pollMs: 200 });
  } catch {
    return false;
  }
  return firehoseDrained(runtime);
}

function firehoseDrained(runtime: LocalRuntime): boolean {
  return Object.values(runtime.firehose.counters()).every(
    (c) => c.bufferedRecords === 0 && c.walSegments === 0,
  );
}

/** Firehose counters summed over its streams. */
export function firehoseTotals(runtime: LocalRuntime): { deliveryFailures: number; recordsReplayed: number } {
  const all = Object.values(runtime.firehose.counters());
  return {
    deliveryFailures: all.reduce((n, c) => n + c.deliveryFailures, 0),
    recordsReplayed: all.reduce((n, c) => n + c.recordsReplayed, 0),
  };
}

export interface DeadLetterRecord {
  /** `tenant/id` of the request the message stands for (see {@link requestKey}). */
  readonly id: string;
  readonly queue: string;
  readonly reason: string;
  /** The handler's ERROR_CODE attribute; absent when SQS redrove the message or nothing was attached. */
  readonly errorCode?: string;
}

export interface Collected {
  /** `tenant/source_event_id` of every archived InferenceCompleted row (not de-duplicated). */
  readonly completedRows: string[];
  readonly deadLetters: DeadLetterRecord[];
}

/** Reads the archive (Athena) and every DLQ (SQS API) of a running runtime. */
export async function collect(target: Target, model: TemplateModel): Promise<Collected> {
  const athena = new AthenaClient(clientConfig(target));
  const table = model.glueTables[0];
  const result = await runQuery(
    athena,
    model.workGroups[0]?.name ?? 'primary',
    table?.databaseName ?? 'default',
    // Only the handlers' results count (the named queries' rule): anyone else's is a forgery.
    'SELECT tenant, source_event_id FROM events WHERE detail_type = ? AND source = ?',
    [sqlLiteral(DetailType.InferenceCompleted), sqlLiteral(RESULT_SOURCE)],
  );
  athena.destroy();
  const completedRows = result.rows.map((r) => requestKey(String(r.tenant), String(r.source_event_id)));

  const dlqArns = new Set(model.queues.flatMap((q) => (q.redrive ? [q.redrive.deadLetterTargetArn] : [])));
  for (const rule of model.rules)
    for (const t of rule.targets) if (t.deadLetterArn) dlqArns.add(t.deadLetterArn);
  const nameOf = (arn: string) => model.queues.find((q) => q.arn === arn)?.name ?? arn;
  const sqs = new SQSClient(clientConfig(target));
  const deadLetters: DeadLetterRecord[] = [];
  for (const queue of model.queues.filter((q) => dlqArns.has(q.arn))) {
    for (;;) {
      // A long visibility timeout: each message is read once while the loop drains the queue.
      const { Messages = [] } = await sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: queue.url,
          MaxNumberOfMessages: 10,
          VisibilityTimeout: 600,
          WaitTimeSeconds: 0,
          MessageAttributeNames: ['All'],
          MessageSystemAttributeNames: ['All'],
        }),
      );
      if (Messages.length === 0) break;
      for (const message of Messages) {
        const attributes = message.MessageAttributes ?? {};
        const system = message.Attributes ?? {};
        const code = attributes.ERROR_CODE?.StringValue;
        const source = system.DeadLetterQueueSourceArn;
        const reason = code
          ? `${code} after ${attributes.ATTEMPTS?.StringValue ?? '?'} attempt(s): ${(attributes.ERROR_MESSAGE?.StringValue ?? '').slice(0, 80)}`
          : source
            ? `redriven after ${Number(system.ApproximateReceiveCount ?? 1) - 1} receives from ${nameOf(source)}`
            : 'no reason attached';
        deadLetters.push({
          id: envelopeIdOf(message.Body),
          queue: queue.name,
          reason,
          ...(code ? { errorCode: code } : {}),
        });
      }
    }
  }
  sqs.destroy();
  return { completedRows, deadLetters };
}

/** The request a DLQ body stands for (`tenant/id`): an escalation points at its source request. */
function envelopeIdOf(body: string | undefined): string {
  try {
    const detail = JSON.parse(body ?? '{}').detail ?? {};
    return requestKey(
      String(detail.tenant ?? '(no tenant)'),
      String(detail.payload?.sourceEventId ?? detail.id ?? '(no id)'),
    );
  } catch {
    return '(unparseable body)';
  }
}

export interface Reconciliation {
  readonly scenario: string;
  readonly accepted: number;
  readonly completed: number;
  readonly deadLettered: number;
  /** DLQ messages without a handler reason (no ERROR_CODE): redriven by SQS, or nothing attached. */
  readonly withoutHandlerReason: number;
  readonly missing: string[];
  /** Outcomes for a (tenant, id) that tenant never sent, even where another tenant sent that id. */
  readonly invented: string[];
  /** Invented outcomes per tenant, every tenant that sent or got an outcome listed (zeros too). */
  readonly inventedByTenant: ReadonlyMap<string, number>;
  /** Archived result rows beyond the first per source id (at-least-once; de-duplicated by readers). */
  readonly duplicateResults: number;
  /**
   * Ids both completed and dead-lettered: two outcomes. At-least-once allows it where a batch ran
   * past its deadline and its work still finished (`exactly-once-outcomes` then takes the result).
   */
  readonly conflicts: string[];
  /** Dead letters beyond the first per id (at least once, like duplicate results; same id). */
  readonly duplicateLetters: number;
  readonly reasons: Map<string, number>;
  /** Records the event source mappings handed back to their queue (proof the faults fired). */
  readonly handedBack?: number;
  readonly note?: string;
  /** False when the scenario injected faults and nothing shows they fired: its PASS would prove nothing. */
  readonly faultsFired: boolean;
  /** What else a scenario found wrong besides the ids (e.g. a shutdown that dropped events). */
  readonly problems: readonly string[];
  /** Nothing missing or invented, every DLQ message with its reason, the faults fired, no problems. */
  readonly ok: boolean;
}

export function reconcile(
  scenario: string,
  accepted: readonly string[],
  collected: Collected,
  note?: string,
  handedBack?: number,
  faultsFired = true,
  problems: readonly string[] = [],
): Reconciliation {
  const acceptedSet = new Set(accepted);
  const completed = new Set(collected.completedRows);
  const dlqIds = collected.deadLetters.map((d) => d.id);
  const dlq = new Set(dlqIds);
  const accounted = new Set([...completed, ...dlq]);
  const missing = accepted.filter((id) => !accounted.has(id));
  const invented = [...accounted].filter((id) => !acceptedSet.has(id));
  const inventedByTenant = new Map<string, number>();
  for (const key of [...acceptedSet, ...accounted]) inventedByTenant.set(tenantOfKey(key), 0);
  for (const key of invented)
    inventedByTenant.set(tenantOfKey(key), (inventedByTenant.get(tenantOfKey(key)) ?? 0) + 1);
  const conflicts = [...dlq].filter((id) => completed.has(id));
  const reasons = new Map<string, number>();
  for (const d of collected.deadLetters) {
    const key = `${d.queue}: ${d.reason.replace(/ from .*$/, '').replace(/ after \d+ attempt\(s\)/, '')}`;
    reasons.set(key, (reasons.get(key) ?? 0) + 1);
  }
  const withoutHandlerReason = collected.deadLetters.filter((d) => !d.errorCode).length;
  return {
    scenario,
    accepted: accepted.length,
    completed: completed.size,
    deadLettered: dlq.size,
    withoutHandlerReason,
    missing,
    invented,
    inventedByTenant: new Map([...inventedByTenant].sort(([a], [b]) => (a < b ? -1 : 1))),
    duplicateResults: collected.completedRows.length - completed.size,
    conflicts,
    duplicateLetters: dlqIds.length - dlq.size,
    reasons,
    handedBack,
    note,
    faultsFired,
    problems,
    ok:
      missing.length === 0 &&
      invented.length === 0 &&
      withoutHandlerReason === 0 &&
      faultsFired &&
      problems.length === 0,
  };
}

function verdictOf(r: Reconciliation): string {
  if (r.missing.length > 0 || r.invented.length > 0) return 'FAIL (lost)';
  if (r.withoutHandlerReason > 0) return 'FAIL (DLQ message without reason)';
  if (!r.faultsFired) return 'FAIL (fault never fired)';
  if (r.problems.length > 0) return `FAIL (${r.problems.join(', ')})`;
  if (!r.ok) return 'FAIL (see note)';
  return 'PASS';
}

/** The invented count, and the tenants it fell to when there are any. */
function inventedCell(r: Reconciliation): string {
  if (r.invented.length === 0) return '0';
  const by = [...r.inventedByTenant].filter(([, n]) => n > 0).map(([t, n]) => `${t} ${n}`);
  return `${r.invented.length} (${by.join(', ')})`;
}

export function formatTable(rows: readonly Reconciliation[]): string {
  const header = [
    'scenario',
    'accepted',
    'completed',
    'dead-lettered',
    'no-handler-reason',
    'missing',
    'invented',
    'dup-results',
    'dup-letters',
    'conflicts',
    'handed-back',
    'verdict',
  ];
  const body = rows.map((r) => [
    r.scenario,
    String(r.accepted),
    String(r.completed),
    String(r.deadLettered),
    String(r.withoutHandlerReason),
    String(r.missing.length),
    inventedCell(r),
    String(r.duplicateResults),
    String(r.duplicateLetters),
    String(r.conflicts.length),
    r.handedBack === undefined ? '-' : String(r.handedBack),
    verdictOf(r),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => (row[i] as string).length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i] as number)).join('  ');
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)].join('\n');
}
