import type { SQSBatchResponse, SQSRecord } from 'aws-lambda';
import { type Envelope, tenantIdSchema } from '../core/envelope';
import { DetailType, RESULT_SOURCE } from '../core/events';
import {
  decide,
  type InferenceFailurePayload,
  type InferenceRequest,
  type InferenceResultPayload,
  type OrderingMark,
  resultEventId,
} from '../core/inference';
import { entrySize, MAX_ENTRY_BYTES, type PutEventsEntry } from '../core/put-events';
import { parseRecordBody } from '../core/records';
import { ResultCache } from '../core/result-cache';
import { ClaimMissingError, type ClaimResolver } from '../shared/claims';
import type { DeadLetter, DeadLetterSink } from '../shared/dead-letters';
import type { EventPublisher } from '../shared/publisher';
import { gate, type ProcessDecision, recordProcessed, type Tenancy } from './tenant-gate';

/** A model as the handler sees it: whole batches in, P(spam) per text out. */
export interface Scorer {
  readonly modelName: string;
  /** Short sha256 of the model file: results say exactly which bytes produced them. */
  readonly modelVersion: string;
  scoreBatch(texts: readonly string[]): Promise<Float32Array>;
}

export interface BatchDeps {
  readonly tier: number;
  readonly lastTier: boolean;
  readonly threshold: number;
  readonly maxReceiveCount: number;
  readonly scorer: Scorer;
  readonly publisher: EventPublisher;
  readonly deadLetters: DeadLetterSink;
  readonly claims: ClaimResolver;
  readonly cache: ResultCache;
  /** Quota and ordering per tenant (the entry tier only); absent: every record runs as it comes. */
  readonly tenancy?: Tenancy;
  readonly now?: () => Date;
}

export interface BatchReport {
  readonly records: number;
  readonly completed: number;
  readonly escalated: number;
  readonly duplicates: number;
  readonly poison: number;
  readonly retried: number;
  readonly deadLettered: number;
  readonly inferenceMs: number;
  /** Over quota: re-queued with a delay (handled, not failed). */
  readonly quotaDelayed: number;
  /** Out of order under the hold policy: re-queued until the gap fills or the hold runs out. */
  readonly held: number;
  /** Sequence numbers already processed: skipped without a model run or a result. */
  readonly sequenceDuplicates: number;
  /** Processed with a gap before them (flag policy), or late after their gap was given up. */
  readonly outOfOrder: number;
  /** SequenceGap events published (a hold ran out). */
  readonly sequenceGaps: number;
}

/** What is known of a failed record besides its body, to attribute it (and place it in its stream). */
type FailureHint = { tenant?: string; sourceId?: string; envelope?: Envelope };

type Work = {
  readonly record: SQSRecord;
  readonly eventId: string;
  readonly request: InferenceRequest;
  readonly envelope: Envelope;
  text?: string;
  ordering?: ProcessDecision;
};

/**
 * One SQS batch through one tier: validate every record, run the model once for the whole batch,
 * publish results, and account for every record: published, dead-lettered with its reason, or
 * handed back to SQS as a batch item failure. Nothing is dropped.
 */
export async function processBatch(
  records: readonly SQSRecord[],
  deps: BatchDeps,
): Promise<{ response: SQSBatchResponse; report: BatchReport }> {
  const now = deps.now ?? (() => new Date());
  const retry = new Set<string>();
  const letters: ({ letter: DeadLetter; record: SQSRecord } & FailureHint)[] = [];
  const attemptsOf = (record: SQSRecord) => Number(record.attributes.ApproximateReceiveCount ?? '1');
  const fail = (
    record: SQSRecord,
    code: string,
    message: string,
    transient: boolean,
    hint: FailureHint = {},
  ) => {
    const attempts = attemptsOf(record);
    if (transient && attempts < deps.maxReceiveCount) {
      retry.add(record.messageId);
      return;
    }
    letters.push({
      record,
      ...hint,
      letter: {
        body: record.body,
        sourceQueueArn: record.eventSourceARN,
        errorCode: transient ? `RetriesExhausted.${code}` : code,
        errorMessage: message,
        attempts,
      },
    });
  };

  // 1. Validate: malformed input is poison and goes to the DLQ at once.
  let work: Work[] = [];
  let poison = 0;
  for (const record of records) {
    const parsed = parseRecordBody(record.body);
    if (!parsed.ok) {
      poison++;
      fail(record, parsed.errorCode, parsed.errorMessage, false, {
        tenant: parsed.tenant,
        sourceId: parsed.envelopeId,
        envelope: parsed.envelope,
      });
      continue;
    }
    work.push({
      record,
      eventId: parsed.eventId,
      request: parsed.request,
      envelope: parsed.envelope,
      text: parsed.request.text,
    });
  }

  // 1b. Tenants (entry tier): skip duplicates, flag or hold out-of-order records, and take quota
  // tokens; records over quota or held go back to their queue with a delay (never dropped).
  let quotaDelayed = 0;
  let held = 0;
  let sequenceDuplicates = 0;
  const gated = deps.tenancy ? await gate(work, deps.tenancy, now().getTime()) : undefined;
  if (deps.tenancy && gated) {
    for (const { item, message } of gated.unavailable) {
      fail(item.record, 'TenantStateUnavailable', message, true, hintOf(item));
    }
    sequenceDuplicates = gated.duplicates.length;
    const unsent = await deps.tenancy.requeuer.requeue(gated.requeue);
    gated.requeue.forEach(({ item, reason }, index) => {
      if (unsent.has(index)) {
        fail(
          item.record,
          'RequeueFailed',
          `could not re-queue the ${reason}-delayed record`,
          true,
          hintOf(item),
        );
      } else if (reason === 'quota') quotaDelayed++;
      else held++;
    });
    work = gated.proceed.map(({ item, decision }) => {
      item.ordering = decision;
      return item;
    });
  }

  // 2. Resolve claim checks (payloads too large for an EventBridge entry).
  await Promise.all(
    work.map(async (item) => {
      if (item.text !== undefined || !item.request.claim) return;
      try {
        item.text = await deps.claims.resolve(item.request.claim);
      } catch (error) {
        const missing = error instanceof ClaimMissingError;
        if (missing) poison++;
        fail(
          item.record,
          missing ? 'ClaimMissing' : 'ClaimUnavailable',
          (error as Error).message,
          !missing,
          hintOf(item),
        );
      }
    }),
  );
  work = work.filter((item) => item.text !== undefined);

  // 3. One model run for every text not already scored by this container.
  const keys = work.map((item) =>
    ResultCache.key(
      deps.scorer.modelVersion,
      { tenant: item.envelope.tenant, id: item.request.sourceEventId ?? item.envelope.id },
      item.text as string,
    ),
  );
  const cached = keys.map((key) => deps.cache.get(key));
  const misses = work.filter((_, i) => cached[i] === undefined);
  let scores: Float32Array = new Float32Array(0);
  let inferenceMs = 0;
  if (misses.length > 0) {
    const started = performance.now();
    try {
      scores = await deps.scorer.scoreBatch(misses.map((item) => item.text as string));
    } catch (error) {
      for (const item of misses)
        fail(item.record, 'InferenceFailed', (error as Error).message, true, hintOf(item));
      work = work.filter((_, i) => cached[i] !== undefined);
    }
    inferenceMs = performance.now() - started;
  }

  // 4. Results: final answers, or escalations to the next tier.
  const entries: PutEventsEntry[] = [];
  const owners: SQSRecord[] = [];
  let missIndex = 0;
  let completed = 0;
  let escalated = 0;
  let duplicates = 0;
  let outOfOrder = 0;
  let sequenceGaps = 0;
  work.forEach((item, i) => {
    const hit = cached[i];
    const probability = hit ?? (scores[missIndex++] as number);
    if (hit === undefined) deps.cache.set(keys[i] as string, probability);
    else duplicates++;
    const decision = decide(probability, deps.threshold, deps.lastTier);
    const sourceEventId = item.request.sourceEventId ?? item.envelope.id;
    const result: InferenceResultPayload = {
      sourceEventId,
      tier: deps.tier,
      label: decision.label,
      score: round(decision.confidence),
      spamProbability: round(probability),
      modelVersion: `${deps.scorer.modelName}@${deps.scorer.modelVersion}`,
      latencyMs: hit === undefined ? round(inferenceMs) : 0,
      duplicate: hit !== undefined,
      ...(item.request.expectedLabel ? { expectedLabel: item.request.expectedLabel } : {}),
      ...orderingOf(item),
    };
    if (result.ordering) outOfOrder++;
    const kind = decision.escalate ? 'escalated' : 'completed';
    decision.escalate ? escalated++ : completed++;
    const payload = decision.escalate
      ? { ...result, ...(item.request.claim ? { claim: item.request.claim } : { text: item.text }) }
      : result;
    const entry = resultEntry(
      decision.escalate ? DetailType.EscalationRequested : DetailType.InferenceCompleted,
      {
        ...item.envelope,
        id: resultEventId(sourceEventId, deps.tier, kind),
        type: `inference.${kind}`,
        payload,
      },
      now(),
    );
    if (entrySize(entry) > MAX_ENTRY_BYTES) {
      fail(
        item.record,
        'ResultTooLarge',
        `the ${kind} event would exceed ${MAX_ENTRY_BYTES} bytes`,
        false,
        hintOf(item),
      );
      return;
    }
    entries.push(entry);
    owners.push(item.record);
    const release = item.ordering?.release;
    if (release) {
      // Owned by the record whose hold ran out: if it cannot be published, the record is retried.
      entries.push(sequenceGapEntry(item, release, now()));
      owners.push(item.record);
      sequenceGaps++;
    }
  });

  // 5. Dead letters first (the DLQ copy is what guarantees nothing is lost), then their
  // InferenceFailed events ride along with the results so the archive shows them.
  const unsaved = await deps.deadLetters.send(letters.map((l) => l.letter));
  letters.forEach(({ record }, index) => {
    if (unsaved.has(index)) retry.add(record.messageId);
  });
  const stored = letters.filter((_, index) => !unsaved.has(index));
  const failureEntries = stored.map(({ letter, record, tenant, sourceId }) =>
    failureEntry(letter, record, deps.tier, tenant, sourceId, now()),
  );

  const outcome = await deps.publisher.publish([...entries, ...failureEntries]);
  const unpublished: { record: SQSRecord; error: string }[] = [];
  for (const [index, error] of outcome.failed) {
    // A result that cannot be published is retried by SQS; an unpublished failure notice is not
    // worth a retry, since the DLQ already holds the record with its reason.
    if (index < owners.length) unpublished.push({ record: owners[index] as SQSRecord, error });
  }
  // On its last receive a record goes to the DLQ here, with the reason, rather than being moved
  // there by SQS's redrive, which attaches none.
  const exhausted = unpublished.filter(({ record }) => attemptsOf(record) >= deps.maxReceiveCount);
  const lateUnsaved = await deps.deadLetters.send(
    exhausted.map(({ record, error }) => ({
      body: record.body,
      sourceQueueArn: record.eventSourceARN,
      errorCode: 'RetriesExhausted.PublishFailed',
      errorMessage: `the result could not be published: ${error}`,
      attempts: attemptsOf(record),
    })),
  );
  const lateLettered = new Set(
    exhausted.filter((_, i) => !lateUnsaved.has(i)).map(({ record }) => record.messageId),
  );
  for (const { record } of unpublished) if (!lateLettered.has(record.messageId)) retry.add(record.messageId);

  // 6. Only now record the sequence numbers whose results are out: a crash before this point
  // re-processes (a duplicate result with the same id) rather than skips an unpublished event.
  // The numbers of records now stored in the DLQ are given up, so they do not hold their stream
  // back for ever; a redrive of one is processed late.
  if (deps.tenancy && gated) {
    const lettered = new Set([...letters.map(({ record }) => record.messageId), ...lateLettered]);
    const published = work
      .filter(
        (item) => item.ordering && !retry.has(item.record.messageId) && !lettered.has(item.record.messageId),
      )
      .map((item) => ({ item, decision: item.ordering as ProcessDecision }));
    const deadLettered = [
      ...stored.flatMap(({ record, envelope }) => (envelope ? [{ record, envelope }] : [])),
      ...work.filter((item) => lateLettered.has(item.record.messageId)),
    ];
    const unrecorded = await recordProcessed(deps.tenancy, gated.streams, published, deadLettered);
    for (const item of unrecorded) retry.add(item.record.messageId);
  }

  return {
    response: { batchItemFailures: [...retry].map((itemIdentifier) => ({ itemIdentifier })) },
    report: {
      records: records.length,
      completed,
      escalated,
      duplicates,
      poison,
      retried: retry.size,
      deadLettered: letters.length - unsaved.size + lateLettered.size,
      inferenceMs: round(inferenceMs),
      quotaDelayed,
      held,
      sequenceDuplicates,
      outOfOrder,
      sequenceGaps,
    },
  };
}

/** The result's mark in its stream's order: a flagged gap, a hold that ran out, a late arrival. */
function orderingOf(item: Work): { ordering?: OrderingMark } {
  const decision = item.ordering;
  if (decision?.gap) return { ordering: { gap: [decision.gap[0], decision.gap[1]] } };
  if (decision?.release) {
    const { missingFrom, missingTo, heldForMs } = decision.release;
    return { ordering: { gap: [missingFrom, missingTo], heldMs: heldForMs } };
  }
  if (decision?.late) return { ordering: { late: true } };
  // Escalations carry the entry tier's mark through to the final result.
  return item.request.ordering ? { ordering: item.request.ordering } : {};
}

/** A gap given up after the hold: published once, with an id derived from the gap for de-duplication. */
function sequenceGapEntry(
  item: Work,
  release: NonNullable<ProcessDecision['release']>,
  time: Date,
): PutEventsEntry {
  const { tenant, stream } = item.envelope;
  return resultEntry(
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

function hintOf(item: Work): FailureHint {
  return {
    tenant: item.envelope.tenant,
    sourceId: item.request.sourceEventId ?? item.envelope.id,
    envelope: item.envelope,
  };
}

function resultEntry(detailType: string, detail: object, time: Date): PutEventsEntry {
  return {
    Source: RESULT_SOURCE,
    DetailType: detailType,
    Detail: JSON.stringify({ ...detail, time: time.toISOString() }),
  };
}

function failureEntry(
  letter: DeadLetter,
  record: SQSRecord,
  tier: number,
  tenant: string | undefined,
  sourceId: string | undefined,
  time: Date,
): PutEventsEntry {
  const payload: InferenceFailurePayload = {
    sourceEventId: sourceId ?? `sqs:${record.messageId}`,
    tier,
    errorCode: letter.errorCode,
    errorMessage: letter.errorMessage.slice(0, 1000),
    attempts: letter.attempts,
  };
  const knownTenant = tenant && tenantIdSchema.safeParse(tenant).success ? tenant : 'unknown';
  return resultEntry(
    DetailType.InferenceFailed,
    {
      id: resultEventId(payload.sourceEventId, tier, 'failed'),
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

const round = (value: number) => Math.round(value * 1e6) / 1e6;
