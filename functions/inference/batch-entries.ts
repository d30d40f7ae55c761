import { type Envelope, tenantIdSchema } from '../core/envelope';
import { DetailType, RESULT_SOURCE } from '../core/events';
import {
  type CascadeDecision,
  type InferenceFailurePayload,
  type InferenceRequest,
  type InferenceResultPayload,
  type OrderingMark,
  resultEventId,
} from '../core/inference';
import type { PutEventsEntry } from '../core/put-events';
import type { PendingLetter } from './batch-failures';
import type { ProcessDecision } from './tenant-gate';

/** A validated record, as far as the events published for it need it. */
export interface ResultSource {
  readonly request: InferenceRequest;
  readonly envelope: Envelope;
  readonly text?: string;
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

/** The tier's answer for one record; `model` is `name@version`, `inferenceMs` the batch's model run. */
export function resultPayload(
  item: ResultSource,
  decision: CascadeDecision,
  probability: number,
  duplicate: boolean,
  tier: number,
  model: string,
  inferenceMs: number,
): InferenceResultPayload {
  return {
    sourceEventId: sourceIdOf(item),
    tier,
    label: decision.label,
    score: round(decision.confidence),
    spamProbability: round(probability),
    modelVersion: model,
    latencyMs: duplicate ? 0 : round(inferenceMs),
    duplicate,
    ...(item.request.expectedLabel ? { expectedLabel: item.request.expectedLabel } : {}),
    ...orderingOf(item),
  };
}

/** InferenceCompleted, or EscalationRequested carrying the text (or its claim) on to the next tier. */
export function resultEntry(
  item: ResultSource,
  result: InferenceResultPayload,
  kind: ResultKind,
  time: Date,
): PutEventsEntry {
  const escalate = kind === 'escalated';
  const payload = escalate
    ? { ...result, ...(item.request.claim ? { claim: item.request.claim } : { text: item.text }) }
    : result;
  return entry(
    escalate ? DetailType.EscalationRequested : DetailType.InferenceCompleted,
    {
      ...item.envelope,
      id: resultEventId(item.envelope.tenant, result.sourceEventId, result.tier, kind),
      type: `inference.${kind}`,
      payload,
    },
    time,
  );
}

/** A gap given up after the hold: published once, with an id derived from the gap for de-duplication. */
export function sequenceGapEntry(
  item: ResultSource,
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
  tier: number,
  time: Date,
): PutEventsEntry {
  const payload: InferenceFailurePayload = {
    sourceEventId: sourceId ?? `sqs:${record.messageId}`,
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
