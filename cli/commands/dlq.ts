import {
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  ListMessageMoveTasksCommand,
  ListQueuesCommand,
  type Message,
  ReceiveMessageCommand,
  StartMessageMoveTaskCommand,
} from '@aws-sdk/client-sqs';
import type { PutEventsEntry } from '../../functions/core/put-events';
import { parseWorkQueueName } from '../../functions/core/queue-names';
import { unroutedReason } from '../../functions/core/routing';
import { sendEntries } from '../../functions/producer/sender';
import type { AwsContext } from '../context';
import { CliError, ExitCode } from '../errors';
import { formatRows, type OutputFormat } from '../format';
import type { CliIO } from '../io';
import { Progress } from '../progress';

export interface QueueInfo {
  readonly name: string;
  readonly short: string;
  readonly url: string;
  readonly arn: string;
  readonly visible: number;
  readonly inFlight: number;
  readonly redrive?: { deadLetterTargetArn: string; maxReceiveCount: number };
}

export interface DeadLetterQueue extends QueueInfo {
  /**
   * `queue`: a queue's redrive target (handler DLQ); `rule-target`: an EventBridge rule target's DLQ;
   * `unrouted`: requests no tenant rule took (a DLQ in all but name, filled by its own rule).
   */
  readonly kind: 'queue' | 'rule-target' | 'unrouted';
  /** For queue DLQs: the queues that redrive into it. */
  readonly sources: QueueInfo[];
}

/**
 * `inferbus-dev-spam-t1-acme-dlq` → `spam-t1-acme-dlq`;
 * `inferbus-dev-UnroutedRequestsQueueEBD7441D(-RANDOM)` → `UnroutedRequests`.
 */
export function shortQueueName(name: string, stackName: string): string {
  const withoutStack = name.startsWith(`${stackName}-`) ? name.slice(stackName.length + 1) : name;
  // Work queues and their DLQs carry fixed names (`<task>-t<N>-<tenant>[-dlq]`): nothing to strip,
  // and a tenant id must not be mistaken for CloudFormation's random suffix.
  if (parseWorkQueueName(withoutStack)) return withoutStack;
  return withoutStack.replace(/(-[A-Za-z0-9]{6,})$/, '').replace(/(Queue)?[0-9A-F]{8}$/, '');
}

/** Every queue of the stage (ListQueues by the stack's name prefix) with its counts and redrive policy. */
export async function listStageQueues(ctx: AwsContext): Promise<QueueInfo[]> {
  const sqs = ctx.sqs();
  const urls: string[] = [];
  let token: string | undefined;
  do {
    const page = await sqs.send(
      new ListQueuesCommand({ QueueNamePrefix: ctx.names.stackName, NextToken: token, MaxResults: 1000 }),
    );
    urls.push(...(page.QueueUrls ?? []));
    token = page.NextToken;
  } while (token);
  const queues: QueueInfo[] = [];
  for (const url of urls) {
    const { Attributes: a = {} } = await sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['All'] }),
    );
    const name = url.slice(url.lastIndexOf('/') + 1);
    queues.push({
      name,
      short: shortQueueName(name, ctx.names.stackName),
      url,
      arn: a.QueueArn ?? '',
      visible: Number(a.ApproximateNumberOfMessages ?? 0),
      inFlight: Number(a.ApproximateNumberOfMessagesNotVisible ?? 0),
      redrive: a.RedrivePolicy ? JSON.parse(a.RedrivePolicy) : undefined,
    });
  }
  return queues.sort((x, y) => x.name.localeCompare(y.name));
}

/**
 * DLQs: redrive targets of other queues, the queues named as DLQs that nothing redrives into (rule
 * targets), and the unrouted-requests queue.
 */
export function deadLetterQueues(queues: readonly QueueInfo[]): DeadLetterQueue[] {
  const dlqs: DeadLetterQueue[] = [];
  for (const q of queues) {
    const sources = queues.filter((s) => s.redrive?.deadLetterTargetArn === q.arn);
    if (sources.length > 0) dlqs.push({ ...q, kind: 'queue', sources });
    else if (q.redrive) continue;
    else if (/dlq|dead-?letter/i.test(q.name)) dlqs.push({ ...q, kind: 'rule-target', sources: [] });
    else if (/unrouted/i.test(q.name)) dlqs.push({ ...q, kind: 'unrouted', sources: [] });
  }
  return dlqs;
}

/**
 * Why an event in the unrouted queue reached no task and tenant rule: EventBridge cannot attach a
 * reason to an SQS message, so it is derived from the event itself (its `source`, `detail.tenant`
 * and `detail.task`).
 */
export function unroutedEventReason(body: string | undefined): { code: string; message: string } {
  let event: { source?: unknown; detail?: { tenant?: unknown; task?: unknown } };
  try {
    event = JSON.parse(body ?? '');
  } catch {
    return { code: 'NotAnEvent', message: 'the message is not an EventBridge event (not JSON)' };
  }
  return (
    unroutedReason(event?.source, event?.detail?.tenant, event?.detail?.task) ?? {
      code: 'NoTenantRule',
      message: 'no tenant rule matched when it arrived',
    }
  );
}

export function findQueue<T extends QueueInfo>(
  queues: readonly T[],
  name: string,
  what = 'dead-letter queue',
): T {
  const lower = name.toLowerCase();
  const match =
    queues.find((q) => q.name === name || q.url === name || q.arn === name) ??
    queues.find((q) => q.short.toLowerCase() === lower) ??
    (() => {
      const partial = queues.filter((q) => q.name.toLowerCase().includes(lower));
      return partial.length === 1 ? partial[0] : undefined;
    })();
  if (!match) {
    throw new CliError(
      `no ${what} ${JSON.stringify(name)}; known: ${queues.map((q) => q.short).join(', ') || '(none)'} (inferbus dlq list)`,
      ExitCode.Usage,
    );
  }
  return match;
}

export async function dlqList(ctx: AwsContext, io: CliIO, format: OutputFormat): Promise<ExitCode> {
  await ctx.preflight();
  const dlqs = deadLetterQueues(await listStageQueues(ctx).catch((e) => Promise.reject(ctx.explain(e))));
  if (dlqs.length === 0) {
    throw new CliError(
      `no dead-letter queues found for stage ${ctx.flags.stage} (queues named ${ctx.names.stackName}-*)`,
      ExitCode.Failed,
    );
  }
  const rows = dlqs.map((d) => ({
    name: d.short,
    kind: d.kind,
    messages: String(d.visible),
    in_flight: String(d.inFlight),
    redrives_to: d.kind === 'queue' ? d.sources.map((s) => s.short).join(',') : 'the bus (PutEvents)',
  }));
  const columns = ['name', 'kind', 'messages', 'in_flight', 'redrives_to'];
  for (const line of formatRows(columns, rows, format, [false, false, true, true, false])) io.out(line);
  if (format === 'table') {
    io.err(`${dlqs.reduce((n, d) => n + d.visible, 0)} message(s) in ${dlqs.length} dead-letter queues`);
  }
  return ExitCode.Ok;
}

interface ShownMessage {
  readonly messageId: string;
  readonly sentAt: string | null;
  readonly receiveCount: number;
  readonly attributes: Record<string, string>;
  readonly eventId: string | null;
  readonly tenant: string | null;
  /** Why the message is here: its error attributes, or what SQS's redrive tells when there are none. */
  readonly reason: string;
  readonly body: string;
}

/**
 * The reason a DLQ message carries. Handlers and EventBridge attach ERROR_CODE and ERROR_MESSAGE;
 * a message moved by SQS's own redrive has none, only the system attribute naming its source.
 */
export function dlqReason(
  attributes: Readonly<Record<string, string>>,
  system: Readonly<Record<string, string>> = {},
): string {
  const code = attributes.ERROR_CODE;
  if (code) return attributes.ERROR_MESSAGE ? `${code}: ${attributes.ERROR_MESSAGE}` : code;
  const source = system.DeadLetterQueueSourceArn;
  if (source) {
    const queue = source.slice(source.lastIndexOf(':') + 1);
    return (
      `moved here by SQS from ${queue} after its receives ran out, with no reason recorded: ` +
      'the invocation crashed or was killed before the handler could store one; see the function logs'
    );
  }
  return 'no reason recorded';
}

/** Reads up to `limit` messages and makes them visible again at once (a peek; nothing is deleted). */
export async function peekMessages(ctx: AwsContext, queueUrl: string, limit: number): Promise<Message[]> {
  const sqs = ctx.sqs();
  const seen: Message[] = [];
  const ids = new Set<string>();
  try {
    for (let empty = 0; seen.length < limit && empty < 2; ) {
      const { Messages = [] } = await sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: queueUrl,
          MaxNumberOfMessages: Math.min(10, limit - seen.length),
          VisibilityTimeout: 30,
          MessageAttributeNames: ['All'],
          MessageSystemAttributeNames: ['All'],
        }),
      );
      if (Messages.length === 0) empty++;
      for (const m of Messages) {
        if (m.MessageId && !ids.has(m.MessageId)) {
          ids.add(m.MessageId);
          seen.push(m);
        }
      }
    }
  } finally {
    await release(ctx, queueUrl, seen);
  }
  return seen;
}

async function release(ctx: AwsContext, queueUrl: string, messages: readonly Message[]): Promise<void> {
  for (let i = 0; i < messages.length; i += 10) {
    const chunk = messages.slice(i, i + 10);
    await ctx.sqs().send(
      new ChangeMessageVisibilityBatchCommand({
        QueueUrl: queueUrl,
        Entries: chunk.map((m, j) => ({
          Id: String(j),
          ReceiptHandle: m.ReceiptHandle as string,
          VisibilityTimeout: 0,
        })),
      }),
    );
  }
}

function describeMessage(m: Message, kind: DeadLetterQueue['kind']): ShownMessage {
  const attributes: Record<string, string> = {};
  for (const [k, v] of Object.entries(m.MessageAttributes ?? {})) attributes[k] = v.StringValue ?? '';
  let eventId: string | null = null;
  let tenant: string | null = null;
  try {
    const body = JSON.parse(m.Body ?? '');
    const detail = body.detail ?? body; // rule-target DLQs hold the event; handler DLQs the SQS body (the event too)
    eventId = typeof detail?.id === 'string' ? detail.id : null;
    tenant = typeof detail?.tenant === 'string' ? detail.tenant : null;
  } catch {
    // Not JSON: shown as text.
  }
  // The unrouted queue's reason is derived from the event, shown as if the bus had attached it.
  const unrouted = kind === 'unrouted' ? unroutedEventReason(m.Body) : undefined;
  if (unrouted) {
    attributes.ERROR_CODE = unrouted.code;
    attributes.ERROR_MESSAGE = unrouted.message;
  }
  const sent = m.Attributes?.SentTimestamp;
  return {
    messageId: m.MessageId ?? '',
    sentAt: sent ? new Date(Number(sent)).toISOString() : null,
    receiveCount: Number(m.Attributes?.ApproximateReceiveCount ?? 0),
    attributes,
    eventId,
    tenant,
    reason: dlqReason(attributes, m.Attributes),
    body: m.Body ?? '',
  };
}

export async function dlqShow(
  ctx: AwsContext,
  io: CliIO,
  name: string,
  limit: number,
  format: OutputFormat,
): Promise<ExitCode> {
  await ctx.preflight();
  const dlq = findQueue(
    deadLetterQueues(await listStageQueues(ctx).catch((e) => Promise.reject(ctx.explain(e)))),
    name,
  );
  const messages = (await peekMessages(ctx, dlq.url, limit)).map((m) => describeMessage(m, dlq.kind));
  if (format === 'json') {
    for (const m of messages) io.out(JSON.stringify(m));
  } else {
    io.out(`${dlq.name} (${dlq.kind} DLQ): ${dlq.visible} message(s), showing ${messages.length}`);
    const keys =
      dlq.kind === 'queue'
        ? ['ERROR_CODE', 'ATTEMPTS', 'TIER', 'ERROR_MESSAGE']
        : dlq.kind === 'unrouted'
          ? ['ERROR_CODE', 'ERROR_MESSAGE']
          : ['ERROR_CODE', 'RETRY_ATTEMPTS', 'RULE_ARN', 'ERROR_MESSAGE'];
    const rows = messages.map((m) => ({
      event_id: m.eventId,
      tenant: m.tenant,
      sent_at: m.sentAt,
      ...Object.fromEntries(keys.map((k) => [k.toLowerCase(), m.attributes[k] ?? null])),
      ...(m.attributes.ERROR_CODE ? {} : { error_message: m.reason }),
    }));
    const lines = formatRows(
      ['event_id', 'tenant', 'sent_at', ...keys.map((k) => k.toLowerCase())],
      rows,
      format,
    );
    for (const line of lines) io.out(line);
  }
  return ExitCode.Ok;
}

export async function dlqRedrive(
  ctx: AwsContext,
  io: CliIO,
  name: string,
  options: { to?: string; rate?: number },
): Promise<ExitCode> {
  await ctx.preflight();
  const queues = await listStageQueues(ctx).catch((e) => Promise.reject(ctx.explain(e)));
  const dlq = findQueue(deadLetterQueues(queues), name);
  if (dlq.visible === 0) {
    io.out(`${dlq.short}: empty, nothing to redrive`);
    return ExitCode.Ok;
  }
  return dlq.kind === 'queue'
    ? redriveQueue(ctx, io, dlq, queues, options)
    : redriveToBus(ctx, io, dlq, options.to);
}

/** Handler DLQs: an SQS message-move task back to the work queue. */
async function redriveQueue(
  ctx: AwsContext,
  io: CliIO,
  dlq: DeadLetterQueue,
  queues: readonly QueueInfo[],
  options: { to?: string; rate?: number },
): Promise<ExitCode> {
  let destination: QueueInfo;
  if (options.to) destination = findQueue(queues, options.to, 'queue');
  else if (dlq.sources.length === 1) destination = dlq.sources[0] as QueueInfo;
  else {
    throw new CliError(
      `${dlq.short} is the DLQ of ${dlq.sources.map((s) => s.short).join(', ')}; pass --to QUEUE`,
      ExitCode.Usage,
    );
  }
  const sqs = ctx.sqs();
  const { TaskHandle } = await sqs
    .send(
      new StartMessageMoveTaskCommand({
        SourceArn: dlq.arn,
        DestinationArn: destination.arn,
        MaxNumberOfMessagesPerSecond: options.rate,
      }),
    )
    .catch((e) => Promise.reject(ctx.explain(e)));
  io.err(`redriving ${dlq.short} → ${destination.short} (message-move task ${TaskHandle})`);
  const progress = new Progress(io, dlq.visible, 'redrive');
  for (;;) {
    const { Results = [] } = await sqs.send(
      new ListMessageMoveTasksCommand({ SourceArn: dlq.arn, MaxResults: 10 }),
    );
    const task = Results.find((r) => r.TaskHandle === TaskHandle) ?? Results[0];
    const moved = task?.ApproximateNumberOfMessagesMoved ?? 0;
    progress.update(moved);
    if (task?.Status === 'COMPLETED') {
      progress.update(moved, '', true);
      progress.done();
      io.out(`redrive ${dlq.short} → ${destination.short}: ${moved} message(s) moved`);
      return ExitCode.Ok;
    }
    if (task?.Status === 'FAILED' || task?.Status === 'CANCELLED') {
      progress.done();
      io.out(
        `redrive ${dlq.short}: ${task.Status} after ${moved} message(s): ${task.FailureReason ?? 'no reason given'}`,
      );
      return ExitCode.Failed;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

/**
 * Rule-target DLQs hold events EventBridge could not deliver; they have no source queue, so each
 * event goes back on the bus with `detail.metadata.redriven = "true"` (rules match as before) and
 * is deleted from the DLQ only after PutEvents accepted it.
 */
async function redriveToBus(
  ctx: AwsContext,
  io: CliIO,
  dlq: DeadLetterQueue,
  to?: string,
): Promise<ExitCode> {
  const sqs = ctx.sqs();
  const progress = new Progress(io, dlq.visible, 'redrive');
  let accepted = 0;
  let failed = 0;
  let unreadable = 0;
  for (let processed = 0; processed < dlq.visible; ) {
    const { Messages = [] } = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: dlq.url,
        MaxNumberOfMessages: 10,
        VisibilityTimeout: 60,
        MessageAttributeNames: ['All'],
      }),
    );
    if (Messages.length === 0) break;
    processed += Messages.length;
    const entries: PutEventsEntry[] = [];
    const sources: Message[] = [];
    const keep: Message[] = [];
    for (const m of Messages) {
      const entry = redrivenEntry(
        m,
        to ?? busFromRuleArn(m.MessageAttributes?.RULE_ARN?.StringValue) ?? ctx.names.busName,
      );
      if (entry) {
        entries.push(entry);
        sources.push(m);
      } else {
        unreadable++;
        keep.push(m);
      }
    }
    const report = await sendEntries(ctx.events(), entries, { maxAttempts: 4 });
    const failedIndexes = new Set(report.failed.map((f) => f.index));
    for (const f of report.failed) io.err(`redrive: event not accepted, kept in the DLQ: ${f.error}`);
    const done = sources.filter((_, i) => !failedIndexes.has(i));
    keep.push(...sources.filter((_, i) => failedIndexes.has(i)));
    for (let i = 0; i < done.length; i += 10) {
      const chunk = done.slice(i, i + 10);
      await sqs.send(
        new DeleteMessageBatchCommand({
          QueueUrl: dlq.url,
          Entries: chunk.map((m, j) => ({ Id: String(j), ReceiptHandle: m.ReceiptHandle as string })),
        }),
      );
    }
    if (keep.length > 0) await release(ctx, dlq.url, keep);
    accepted += done.length;
    failed += failedIndexes.size;
    progress.update(accepted + failed + unreadable);
    if (keep.length === Messages.length) break; // nothing moves: stop rather than spin on the same messages
  }
  progress.done();
  io.out(
    `redrive ${dlq.short} → bus: ${accepted} event(s) put back on the bus (metadata.redriven=true) and deleted from the DLQ` +
      `${failed ? `, ${failed} not accepted (kept)` : ''}${unreadable ? `, ${unreadable} not EventBridge events (kept)` : ''}`,
  );
  return failed + unreadable > 0 ? ExitCode.Failed : ExitCode.Ok;
}

/** `arn:aws:events:REGION:ACCOUNT:rule/BUS/NAME` → BUS (rules on the default bus have no BUS part). */
export function busFromRuleArn(arn: string | undefined): string | undefined {
  const match = /:rule\/([^/]+)\/[^/]+$/.exec(arn ?? '');
  return match?.[1];
}

/** The PutEvents entry that re-publishes a dead-lettered EventBridge event, marked as redriven. */
export function redrivenEntry(message: Message, busName: string): PutEventsEntry | undefined {
  let event: {
    source?: unknown;
    'detail-type'?: unknown;
    detail?: unknown;
    resources?: unknown;
    time?: unknown;
  };
  try {
    event = JSON.parse(message.Body ?? '');
  } catch {
    return undefined;
  }
  if (typeof event.source !== 'string' || typeof event['detail-type'] !== 'string') return undefined;
  let detail = event.detail;
  if (detail && typeof detail === 'object' && !Array.isArray(detail)) {
    const d = detail as { metadata?: unknown };
    const metadata = d.metadata && typeof d.metadata === 'object' ? d.metadata : {};
    detail = { ...d, metadata: { ...metadata, redriven: 'true' } };
  }
  return {
    EventBusName: busName,
    Source: event.source,
    DetailType: event['detail-type'],
    Detail: JSON.stringify(detail ?? {}),
    Resources: Array.isArray(event.resources) ? (event.resources as string[]) : undefined,
    Time: typeof event.time === 'string' ? new Date(event.time) : undefined,
  };
}
