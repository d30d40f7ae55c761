import { type Message, ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { ARCHIVE_TABLE_NAME } from '../../functions/core/archive/columns';
import { TENANT_ID_PATTERN } from '../../functions/core/envelope';
import { RESULT_SOURCE } from '../../functions/core/events';
import { parseResultEventId } from '../../functions/core/inference';
import { QueryFailedError, runQuery, sqlLiteral } from '../../functions/shared/athena-query';
import type { AwsContext } from '../context';
import { parseDay } from '../dates';
import { CliError, ExitCode } from '../errors';
import { escapeControls, formatRows } from '../format';
import type { CliIO } from '../io';
import { type DeadLetterQueue, deadLetterQueues, listStageQueues, unroutedEventReason } from './dlq';

export interface TraceOptions {
  readonly format: 'text' | 'json';
  /** The request's tenant; needed when several tenants used the same envelope id. */
  readonly tenant?: string;
  /** First archive partition (dt) searched, yyyy-MM-dd. @default 7 days ago */
  readonly since?: string;
  /** At most this many messages read from each DLQ. */
  readonly dlqScan: number;
  readonly database?: string;
  readonly workgroup?: string;
}

/** Archive columns a trace shows (the payload only as a summary). */
const TRACE_COLUMNS = [
  'event_id',
  'event_time',
  'ingestion_time',
  'detail_type',
  'source',
  'envelope_id',
  'source_event_id',
  'tenant',
  'task',
  'stream',
  'seq',
  'tier',
  'label',
  'score',
  'expected_label',
  'model_version',
  'latency_ms',
  'duplicate',
  'error_code',
  'error_message',
  'payload',
  'dt',
  'hour',
] as const;

/**
 * The event's own row and every row that points at it (results, escalations, failures), of one
 * tenant when it is known. Rows that point at it count only when the handlers published them
 * (RESULT_SOURCE): anyone else's look-alike result is not part of the path.
 */
export function traceSql(byTenant: boolean): string {
  return `SELECT ${TRACE_COLUMNS.join(', ')}
FROM ${ARCHIVE_TABLE_NAME}
WHERE dt >= ? AND (envelope_id = ? OR (source_event_id = ? AND source = '${RESULT_SOURCE}'))${byTenant ? ' AND tenant = ?' : ''}
ORDER BY event_time, detail_type`;
}

type Row = Record<string, string | null>;

export interface TraceStep {
  readonly time: string | null;
  readonly step: string;
  readonly tier: number | null;
  readonly summary: string;
  /** How many archive rows said the same thing (delivery is at-least-once). */
  readonly copies: number;
  readonly origin: 'archive' | 'dlq';
}

export interface DlqMatch {
  readonly queue: string;
  readonly kind: DeadLetterQueue['kind'];
  readonly messageId: string;
  readonly sentAt: string | null;
  readonly receiveCount: number;
  readonly errorCode: string | null;
  readonly errorMessage: string | null;
  readonly attempts: string | null;
  readonly tier: string | null;
  /** `detail.tenant` of the dead-lettered event, when it has one. */
  readonly tenant: string | null;
  readonly attributes: Record<string, string>;
}

/**
 * The request an id names: `acme:abc:t1:completed` (a result's own id) → tenant acme, id abc, so
 * either id can be traced; any other id is a request id, of `tenant` when given.
 */
export function requestOf(id: string, tenant: string | undefined): { id: string; tenant?: string } {
  const result = parseResultEventId(id);
  if (!result) return { id, tenant };
  if (tenant !== undefined && tenant !== result.tenant) {
    throw new CliError(
      `${id} is a result of tenant ${result.tenant}, not ${tenant}: drop --tenant or trace ${result.sourceId} --tenant ${tenant}`,
      ExitCode.Usage,
    );
  }
  return { id: result.sourceId, tenant: result.tenant };
}

export async function traceCommand(
  eventIdArg: string,
  options: TraceOptions,
  ctx: AwsContext,
  io: CliIO,
): Promise<ExitCode> {
  if (options.tenant !== undefined && !TENANT_ID_PATTERN.test(options.tenant)) {
    throw new CliError(
      `--tenant ${JSON.stringify(options.tenant)} is not a tenant id: 1-32 characters, lowercase letters, digits and "-", starting with a letter`,
      ExitCode.Usage,
    );
  }
  const { id: eventId, tenant } = requestOf(eventIdArg.trim(), options.tenant);
  if (eventId.length === 0 || eventId.length > 512) {
    throw new CliError('EVENT_ID must be 1-512 characters (an envelope id)', ExitCode.Usage);
  }
  const since = options.since === undefined ? daysAgo(7) : parseDay('--since', options.since);
  await ctx.preflight();
  const workGroup = options.workgroup ?? ctx.names.workGroupName;
  const database = options.database ?? ctx.names.databaseName;

  const [archive, dlq] = await Promise.all([
    runQuery(ctx.athena(), workGroup, database, traceSql(tenant !== undefined), [
      sqlLiteral(since),
      sqlLiteral(eventId),
      sqlLiteral(eventId),
      ...(tenant === undefined ? [] : [sqlLiteral(tenant)]),
    ]).catch((error) => {
      if (error instanceof QueryFailedError) throw new CliError(error.message, ExitCode.Failed);
      throw ctx.explain(error);
    }),
    searchDeadLetterQueues(ctx, eventId, options.dlqScan, tenant).catch((error) =>
      Promise.reject(ctx.explain(error)),
    ),
  ]);
  if (tenant === undefined) refuseAmbiguous(eventId, archive.rows, dlq.matches);

  const timeline = buildTimeline(archive.rows, dlq.matches);
  const outcome = describeOutcome(archive.rows, dlq.matches);
  const where =
    `archive ${database}.${ARCHIVE_TABLE_NAME} (dt >= ${since}, workgroup ${workGroup}) and ` +
    `${dlq.searched.length} dead-letter queue(s) of stage ${ctx.flags.stage}` +
    (dlq.searched.some((q) => q.messages > 0)
      ? ` (messages read: ${dlq.searched
          .filter((q) => q.messages > 0)
          .map((q) => `${q.queue} ${q.scanned}/${q.messages}`)
          .join(', ')}; the others are empty)`
      : ', all empty');
  const found = archive.rows.length > 0 || dlq.matches.length > 0;

  if (options.format === 'json') {
    io.out(
      JSON.stringify({
        eventId,
        tenant: tenant ?? tenantsOf(archive.rows, dlq.matches)[0] ?? null,
        found,
        outcome,
        timeline,
        archiveRows: archive.rows.map(({ payload, ...rest }) => ({
          ...rest,
          payload: summarizePayload(payload),
        })),
        dlqMessages: dlq.matches,
        searched: {
          archive: {
            database,
            table: ARCHIVE_TABLE_NAME,
            workGroup,
            since,
            queryExecutionId: archive.queryExecutionId,
          },
          deadLetterQueues: dlq.searched,
        },
      }),
    );
  } else if (found) {
    printTimeline(io, eventId, archive.rows, timeline, outcome, dlq.matches);
    io.out('');
    io.out(`searched: ${where}`);
  }
  if (!found) {
    throw new CliError(
      `nothing found for event ${JSON.stringify(eventId)}: looked in ${where}. ` +
        'Check the id (inferbus query "SELECT envelope_id FROM events WHERE dt = ?" --param DAY), ' +
        'search older partitions with --since yyyy-MM-dd, or the stage with --stage',
      ExitCode.Failed,
    );
  }
  return ExitCode.Ok;
}

/** The tenants whose events carry this id, in the archive or the DLQs. */
function tenantsOf(rows: readonly Row[], dlq: readonly DlqMatch[]): string[] {
  const named = [...rows.map((r) => r.tenant), ...dlq.map((m) => m.tenant)];
  return [...new Set(named.filter((t): t is string => !!t && t !== 'unknown'))].sort();
}

/** Envelope ids are unique per tenant only: an id two tenants used names two requests. */
function refuseAmbiguous(eventId: string, rows: readonly Row[], dlq: readonly DlqMatch[]): void {
  const tenants = tenantsOf(rows, dlq);
  if (tenants.length < 2) return;
  throw new CliError(
    `event id ${JSON.stringify(eventId)} is used by ${tenants.length} tenants (${tenants.join(', ')}): ` +
      `say which with --tenant, e.g. inferbus trace ${eventId} --tenant ${tenants[0]}`,
    ExitCode.Usage,
  );
}

/**
 * Reads each non-empty DLQ of the stage with VisibilityTimeout 0 (a peek: the messages stay visible,
 * nothing is deleted) and keeps the messages whose event is this one: `detail.id`, or
 * `detail.payload.sourceEventId` for escalations.
 */
export async function searchDeadLetterQueues(
  ctx: AwsContext,
  eventId: string,
  maxPerQueue: number,
  tenant?: string,
): Promise<{ matches: DlqMatch[]; searched: { queue: string; messages: number; scanned: number }[] }> {
  const dlqs = deadLetterQueues(await listStageQueues(ctx));
  const matches: DlqMatch[] = [];
  const searched = await Promise.all(
    dlqs.map(async (q) => {
      const messages = q.visible > 0 ? await peekAll(ctx, q.url, Math.min(q.visible, maxPerQueue)) : [];
      for (const m of messages) if (matchesEvent(m.Body, eventId, tenant)) matches.push(describeMatch(q, m));
      return { queue: q.short, messages: q.visible, scanned: messages.length };
    }),
  );
  return { matches, searched };
}

async function peekAll(ctx: AwsContext, queueUrl: string, want: number): Promise<Message[]> {
  const seen = new Map<string, Message>();
  // With VisibilityTimeout 0 every receive may return messages already seen: stop when all are in
  // hand, or after a few receives that brought nothing new.
  for (let stale = 0; seen.size < want && stale < 3; ) {
    const { Messages = [] } = await ctx.sqs().send(
      new ReceiveMessageCommand({
        QueueUrl: queueUrl,
        MaxNumberOfMessages: 10,
        VisibilityTimeout: 0,
        WaitTimeSeconds: 0,
        MessageAttributeNames: ['All'],
        MessageSystemAttributeNames: ['All'],
      }),
    );
    let fresh = 0;
    for (const m of Messages) {
      if (m.MessageId && !seen.has(m.MessageId)) {
        seen.set(m.MessageId, m);
        fresh++;
      }
    }
    stale = fresh === 0 ? stale + 1 : 0;
  }
  return [...seen.values()];
}

/** Whether a DLQ message body is this event (of `tenant`, when given), or an escalation of it. */
export function matchesEvent(body: string | undefined, eventId: string, tenant?: string): boolean {
  try {
    const parsed = JSON.parse(body ?? '');
    const detail = parsed?.detail ?? parsed;
    if (tenant !== undefined && detail?.tenant !== tenant) return false;
    return (
      detail?.id === eventId ||
      (parsed?.source === RESULT_SOURCE && detail?.payload?.sourceEventId === eventId)
    );
  } catch {
    return false;
  }
}

function tenantOfBody(body: string | undefined): string | null {
  try {
    const parsed = JSON.parse(body ?? '');
    const tenant = (parsed?.detail ?? parsed)?.tenant;
    return typeof tenant === 'string' ? tenant : null;
  } catch {
    return null;
  }
}

function describeMatch(q: DeadLetterQueue, m: Message): DlqMatch {
  const attributes: Record<string, string> = {};
  for (const [k, v] of Object.entries(m.MessageAttributes ?? {})) attributes[k] = v.StringValue ?? '';
  const sent = m.Attributes?.SentTimestamp;
  // EventBridge attaches no reason to what the unrouted rule delivers: it is derived from the event.
  const unrouted = q.kind === 'unrouted' ? unroutedEventReason(m.Body) : undefined;
  return {
    queue: q.short,
    kind: q.kind,
    messageId: m.MessageId ?? '',
    sentAt: attributes.FAILED_AT ?? (sent ? new Date(Number(sent)).toISOString() : null),
    receiveCount: Number(m.Attributes?.ApproximateReceiveCount ?? 0),
    errorCode: unrouted?.code ?? attributes.ERROR_CODE ?? null,
    errorMessage: unrouted?.message ?? attributes.ERROR_MESSAGE ?? null,
    attempts: attributes.ATTEMPTS ?? attributes.RETRY_ATTEMPTS ?? null,
    tier: attributes.TIER ?? null,
    tenant: tenantOfBody(m.Body),
    attributes,
  };
}

export function buildTimeline(rows: readonly Row[], dlq: readonly DlqMatch[]): TraceStep[] {
  const steps = new Map<string, TraceStep>();
  for (const row of rows) {
    const key = `${row.detail_type}|${row.envelope_id}|${row.tier}`;
    const existing = steps.get(key);
    if (existing) {
      steps.set(key, { ...existing, copies: existing.copies + 1 });
      continue;
    }
    steps.set(key, { ...describeRow(row), copies: 1, origin: 'archive' });
  }
  const timeline = [...steps.values()];
  for (const m of dlq) {
    if (m.kind === 'unrouted') {
      timeline.push({
        time: m.sentAt,
        step: 'unrouted',
        tier: null,
        summary: `in ${m.queue}: ${m.errorMessage ?? 'no tenant rule matched'}`,
        copies: 1,
        origin: 'dlq',
      });
      continue;
    }
    timeline.push({
      time: m.sentAt,
      step: 'dead-lettered',
      tier: m.tier ? Number(m.tier) : null,
      summary:
        `in DLQ ${m.queue} (${m.kind === 'queue' ? 'handler' : 'rule target'} DLQ): ${m.errorCode ?? 'no error code'}` +
        `${m.errorMessage ? `: ${m.errorMessage}` : ''}${m.attempts ? ` (attempts ${m.attempts})` : ''}`,
      copies: 1,
      origin: 'dlq',
    });
  }
  // Archive times have whole seconds: within a second, order by the step's place in the flow.
  const second = (t: string | null) => Math.floor((Date.parse(t ?? '') || 0) / 1000);
  const rank = (s: TraceStep) =>
    s.step === 'accepted'
      ? 0
      : s.step === 'unrouted'
        ? 1
        : (s.tier ?? 9) * 10 + (s.origin === 'dlq' ? 3 : /failed/.test(s.step) ? 2 : 1);
  return timeline.sort((a, b) => second(a.time) - second(b.time) || rank(a) - rank(b));
}

function describeRow(row: Row): Omit<TraceStep, 'copies' | 'origin'> {
  const tier = row.tier === null || row.tier === undefined ? null : Number(row.tier);
  const time = row.event_time ?? row.ingestion_time ?? null;
  const score = scoreNote(row);
  const model = row.model_version ? `, ${row.model_version}` : '';
  const latency = row.latency_ms === null ? '' : `, ${Number(row.latency_ms).toFixed(2)} ms`;
  const duplicate = row.duplicate === 'true' ? ', served from cache' : '';
  switch (row.detail_type) {
    case 'InferenceRequested':
      return {
        time,
        step: 'accepted',
        tier: null,
        summary:
          `InferenceRequested from ${row.source ?? '?'}: ${row.task ? `task ${row.task}` : "no task (the stage's first)"}, ` +
          `tenant ${row.tenant}, stream ${row.stream}, seq ${row.seq}, ` +
          `${summarizePayload(row.payload)}${row.expected_label ? `, expected ${row.expected_label}` : ''}`,
      };
    case 'EscalationRequested':
      return {
        time,
        step: `tier ${tier ?? '?'} escalated`,
        tier,
        summary: `unsure: ${row.label}${score} below the threshold${model}${latency}${duplicate}${orderingNote(row.payload)}`,
      };
    case 'InferenceCompleted':
      return {
        time,
        step: `tier ${tier ?? '?'} result`,
        tier,
        summary: `${row.label}${score}${model}${latency}${duplicate}${orderingNote(row.payload)}`,
      };
    case 'InferenceFailed':
      return {
        time,
        step: `tier ${tier ?? '?'} failed`,
        tier,
        summary: `${row.error_code ?? 'no error code'}: ${row.error_message ?? ''}`,
      };
    default:
      return { time, step: row.detail_type ?? 'event', tier, summary: summarizePayload(row.payload) };
  }
}

export function describeOutcome(rows: readonly Row[], dlq: readonly DlqMatch[]): string {
  const completed = rows
    .filter((r) => r.detail_type === 'InferenceCompleted')
    .sort((a, b) => Number(b.tier ?? 0) - Number(a.tier ?? 0))[0];
  if (completed) {
    return (
      `completed by tier ${completed.tier}${completed.task ? ` of task ${completed.task}` : ''}: ${completed.label}${scoreNote(completed)}` +
      orderingNote(completed.payload) +
      sentAgainNote(rows)
    );
  }
  const unrouted = dlq.find((m) => m.kind === 'unrouted');
  if (unrouted) return `unrouted: ${unrouted.errorMessage ?? 'no tenant rule matched'}`;
  if (dlq.length > 0) {
    const first = dlq[0] as DlqMatch;
    return `dead-lettered in ${first.queue}: ${first.errorCode ?? 'no error code'}`;
  }
  const failed = rows.find((r) => r.detail_type === 'InferenceFailed');
  if (failed)
    return `failed at tier ${failed.tier}: ${failed.error_code} (no longer in a DLQ: redriven or expired?)`;
  const escalatedAt = Math.max(
    0,
    ...rows.filter((r) => r.detail_type === 'EscalationRequested').map((r) => Number(r.tier ?? 1)),
  );
  if (escalatedAt > 0)
    return `escalated by tier ${escalatedAt}; no tier-${escalatedAt + 1} result archived yet`;
  if (rows.some((r) => r.detail_type === 'InferenceRequested'))
    return 'accepted; no result archived yet (in flight, or the archive has not been flushed)';
  return 'no request row archived';
}

/**
 * ` (score 0.9876; ham 0.0124, spam 0.9876)`: the answer's score and every label's probability
 * (the result payload's `probabilities`), '' when the row has neither.
 */
export function scoreNote(row: Row): string {
  const parts: string[] = [];
  if (row.score !== null && row.score !== undefined) parts.push(`score ${Number(row.score).toFixed(4)}`);
  const probabilities = probabilitiesOf(row.payload);
  if (probabilities.length > 0) parts.push(probabilities.map(([l, p]) => `${l} ${p.toFixed(4)}`).join(', '));
  return parts.length > 0 ? ` (${parts.join('; ')})` : '';
}

/** `payload.probabilities` of a result row as [label, p] pairs in the payload's (label) order. */
export function probabilitiesOf(payload: string | null | undefined): [string, number][] {
  let probabilities: unknown;
  try {
    probabilities = JSON.parse(payload ?? '{}')?.probabilities;
  } catch {
    return [];
  }
  if (!probabilities || typeof probabilities !== 'object') return [];
  return Object.entries(probabilities as Record<string, unknown>).flatMap(([label, p]) =>
    typeof p === 'number' && Number.isFinite(p) ? [[label, p] as [string, number]] : [],
  );
}

/** How a result stood in its stream's order (`payload.ordering`), as a clause; '' when in order. */
export function orderingNote(payload: string | null | undefined): string {
  let ordering: {
    gap?: [number, number];
    late?: boolean;
    reused?: { seq?: number; earlierId?: string | null };
  };
  try {
    ordering = JSON.parse(payload ?? '{}')?.ordering ?? {};
  } catch {
    return '';
  }
  if (ordering.reused) {
    const { seq, earlierId } = ordering.reused;
    const by = earlierId ? `event ${earlierId}` : 'an event whose id is no longer remembered';
    return `; seq ${seq} reused: taken before by ${by}, processed all the same (ordering.reused)`;
  }
  if (ordering.late) return '; late: its number had been given up (ordering.late)';
  if (ordering.gap) return `; seq ${ordering.gap[0]}-${ordering.gap[1]} missing before it (ordering.gap)`;
  return '';
}

/** The request accepted more than once (distinct EventBridge ids): the copies were the same event. */
function sentAgainNote(rows: readonly Row[]): string {
  const accepted = new Set(
    rows.filter((r) => r.detail_type === 'InferenceRequested').map((r) => r.event_id ?? r.event_time),
  );
  if (accepted.size < 2) return '';
  return `; the same event (same id) was accepted ${accepted.size} times: one event, this one outcome`;
}

/** `text 1234 chars`, `features 7 numbers` or `claim s3://bucket/key`, never the input itself. */
export function summarizePayload(payload: string | null | undefined): string {
  if (!payload) return 'no payload';
  try {
    const p = JSON.parse(payload) as {
      text?: unknown;
      features?: unknown;
      claim?: { bucket?: string; key?: string; bytes?: number };
    };
    if (typeof p.text === 'string') return `text ${p.text.length} chars`;
    if (Array.isArray(p.features)) return `features ${p.features.length} numbers`;
    if (p.claim) {
      return `claim s3://${p.claim.bucket}/${p.claim.key}${p.claim.bytes ? ` (${p.claim.bytes} bytes)` : ''}`;
    }
    return `payload ${payload.length} chars`;
  } catch {
    return `payload ${payload.length} chars (not JSON)`;
  }
}

function printTimeline(
  terminal: CliIO,
  eventId: string,
  rows: readonly Row[],
  timeline: readonly TraceStep[],
  outcome: string,
  dlq: readonly DlqMatch[],
): void {
  // Ids, streams, labels and error messages come from producers' events: escape what would steer the terminal.
  const io = { ...terminal, out: (line: string) => terminal.out(escapeControls(line)) };
  const request = rows.find((r) => r.detail_type === 'InferenceRequested');
  io.out(
    `event ${eventId}${request ? ` (${request.task ? `task ${request.task}, ` : ''}tenant ${request.tenant}, stream ${request.stream}, seq ${request.seq})` : ''}`,
  );
  const stepWidth = Math.max(...timeline.map((s) => s.step.length));
  for (const s of timeline) {
    io.out(
      `  ${(s.time ?? '(no time)').padEnd(24)}  ${s.step.padEnd(stepWidth)}  ${s.summary}${s.copies > 1 ? ` [${s.copies} copies archived]` : ''}`,
    );
  }
  io.out(`outcome: ${outcome}`);
  if (dlq.length > 0) {
    io.out('');
    io.out(`dead-letter queue entries (${dlq.length}; peeked, not deleted):`);
    const table = dlq.map((m) => ({
      queue: m.queue,
      kind: m.kind,
      error_code: m.errorCode,
      attempts: m.attempts,
      sent_at: m.sentAt,
      error_message: m.errorMessage,
    }));
    for (const line of formatRows(
      ['queue', 'kind', 'error_code', 'attempts', 'sent_at', 'error_message'],
      table,
      'table',
    ))
      io.out(`  ${line}`);
  }
  if (rows.length > 0) {
    io.out('');
    io.out(`archive rows (${rows.length}):`);
    const columns = [
      'event_time',
      'detail_type',
      'envelope_id',
      'task',
      'tier',
      'label',
      'score',
      'error_code',
      'dt',
      'hour',
    ];
    for (const line of formatRows(columns, rows as Row[], 'table')) io.out(`  ${line}`);
  }
}

function daysAgo(days: number): string {
  return new Date(Date.now() - days * 86_400_000).toISOString().slice(0, 10);
}
