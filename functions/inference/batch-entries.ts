import { type Envelope, tenantIdSchema } from '../core/envelope';
import { DetailType, RESULT_SOURCE } from '../core/events';
import {
  type InferenceFailurePayload,
  type InferenceRequest,
  type InferenceResultPayload,
  type OrderingMark,
  resultEventId,
} from '../core/inference';
import type { PutEventsEntry } from '../core/put-events';
import { type Decision, probabilitiesByLabel } from '../core/task/decide';
import type { TaskInput } from '../core/task/inputs';
import type { PendingLetter } from './batch-failures';
import type { ServedTask } from './request-checks';
import type { ProcessDecision } from './tenant-gate';

/** A validated record, as far as the events published for it need it. */
export interface ResultSource {
  readonly request: InferenceRequest;
  readonly envelope: Envelope;
  /** The request's input, its claim resolved. */
  readonly input?: TaskInput;
  readonly ordering?: ProcessDecision;
}

export type ResultKind = 'completed' | 'escalated';

/**
 * The request a record answers: its own envelope id at tier 1, the original request's id when it
 * is an escalation (tier 1 refuses a request that names one: see checkProvenance). Result ids,
 * the result cache and failure notices all key on it, always beside the envelope's tenant.
 */
export function sourceIdOf(item: Pick<ResultSource, 'request' | 'envelope'>): string {
  return item.request.sourceEventId ?? item.envelope.id;
}

export const round = (value: number) => Math.round(value * 1e6) / 1e6;

/** What a tier found for one record. */
export interface TierAnswer {
  readonly task: ServedTask;
  readonly tier: number;
  /** The manifest's model name, and `<name>@<sha256 prefix>`. */
  readonly model: string;
  readonly modelVersion: string;
  readonly decision: Decision;
  /** The record's row of K label probabilities, in the task's label order. */
  readonly probabilities: ArrayLike<number>;
  readonly duplicate: boolean;
  /** The batch's model run. */
  readonly inferenceMs: number;
}

/** The tier's answer for one record, as results carry it. */
export function resultPayload(item: ResultSource, answer: TierAnswer): InferenceResultPayload {
  const { decision, duplicate } = answer;
  return {
    sourceEventId: sourceIdOf(item),
    task: answer.task.id,
    tier: answer.tier,
    model: answer.model,
    label: decision.label,
    score: round(decision.score),
    probabilities: probabilitiesByLabel(answer.probabilities, 0, answer.task.labels),
    modelVersion: answer.modelVersion,
    latencyMs: duplicate ? 0 : round(answer.inferenceMs),
    duplicate,
    ...(item.request.expectedLabel ? { expectedLabel: item.request.expectedLabel } : {}),
    ...orderingOf(item),
  };
}

/**
 * InferenceCompleted, or EscalationRequested carrying the input (the claim, the text or the
 * features) on to the next tier. Both name their task in the envelope, where routing reads it.
 */
export function resultEntry(
  item: ResultSource,
  result: InferenceResultPayload,
  kind: ResultKind,
  time: Date,
): PutEventsEntry {
  const escalate = kind === 'escalated';
  const payload = escalate ? { ...result, ...carriedInput(item) } : result;
  return entry(
    escalate ? DetailType.EscalationRequested : DetailType.InferenceCompleted,
    {
      ...item.envelope,
      task: result.task,
      id: resultEventId(item.envelope.tenant, result.sourceEventId, result.tier, kind),
      type: `inference.${kind}`,
      payload,
    },
    time,
  );
}

/** The input an escalation hands on: the claim check itself when there was one, never its text. */
function carriedInput(item: ResultSource): { claim: object } | TaskInput {
  if (item.request.claim) return { claim: item.request.claim };
  const input = item.input;
  if (!input) throw new Error(`escalation of ${sourceIdOf(item)}: its input was never resolved`);
  return 'text' in input ? { text: input.text } : { features: input.features };
}

/** A gap given up after the hold: published once, with an id derived from the gap for de-duplication. */
export function sequenceGapEntry(
  item: ResultSource,
  task: string,
  release: NonNullable<ProcessDecision['release']>,
  time: Date,
): PutEventsEntry {
  const { tenant, stream } = item.envelope;
  return entry(
    DetailType.SequenceGap,
    {
      id: `gap:${tenant}:${stream}:${release.missingFrom}-${release.missingTo}`,
      tenant,
      stream,
      seq: item.envelope.seq,
      hlc: item.envelope.hlc,
      type: 'sequence.gap',
      task,
      payload: {
        tenant,
        stream,
        missingFrom: release.missingFrom,
        missingTo: release.missingTo,
        releasedSeq: item.envelope.seq,
        releasedEventId: item.envelope.id,
        heldMs: release.heldForMs,
      },
      metadata: {},
    },
    time,
  );
}

/** InferenceFailed for a dead-lettered record, so the archive shows it beside the results. */
export function failureEntry(
  { letter, record, tenant, sourceId }: PendingLetter,
  task: string,
  tier: number,
  time: Date,
): PutEventsEntry {
  const payload: InferenceFailurePayload = {
    sourceEventId: sourceId ?? `sqs:${record.messageId}`,
    task,
    tier,
    errorCode: letter.errorCode,
    errorMessage: letter.errorMessage.slice(0, 1000),
    attempts: letter.attempts,
  };
  // `unknown` is a reserved tenant id (functions/core/events.ts), so it names no real tenant.
  const knownTenant = tenant && tenantIdSchema.safeParse(tenant).success ? tenant : 'unknown';
  return entry(
    DetailType.InferenceFailed,
    {
      id: resultEventId(knownTenant, payload.sourceEventId, tier, 'failed'),
      tenant: knownTenant,
      stream: 'failures',
      seq: 0,
      hlc: `${time.getTime()}-0-t${tier}`,
      type: 'inference.failed',
      task,
      payload,
      metadata: {},
    },
    time,
  );
}

/** The result's mark in its stream's order: a flagged gap, a hold that ran out, a late arrival, a reused number. */
function orderingOf(item: ResultSource): { ordering?: OrderingMark } {
  const decision = item.ordering;
  if (decision?.gap) return { ordering: { gap: [decision.gap[0], decision.gap[1]] } };
  if (decision?.release) {
    const { missingFrom, missingTo, heldForMs } = decision.release;
    return { ordering: { gap: [missingFrom, missingTo], heldMs: heldForMs } };
  }
  if (decision?.late) return { ordering: { late: true } };
  if (decision?.reused) {
    return { ordering: { reused: { seq: decision.reused.seq, earlierId: decision.reused.earlierId } } };
  }
  // Escalations carry the entry tier's mark through to the final result.
  return item.request.ordering ? { ordering: item.request.ordering } : {};
}

function entry(detailType: string, detail: object, time: Date): PutEventsEntry {
  return {
    Source: RESULT_SOURCE,
    DetailType: detailType,
    Detail: JSON.stringify({ ...detail, time: time.toISOString() }),
  };
}
