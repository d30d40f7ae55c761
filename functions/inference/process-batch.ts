import type { SQSBatchResponse, SQSRecord } from 'aws-lambda';
import type { Envelope } from '../core/envelope';
import { claimKeyPrefix, decide, type InferenceRequest } from '../core/inference';
import { entrySize, MAX_ENTRY_BYTES, type PutEventsEntry } from '../core/put-events';
import { parseTierRecord } from '../core/records';
import { ResultCache } from '../core/result-cache';
import { ClaimMissingError, type ClaimResolver } from '../shared/claims';
import type { DeadLetterSink } from '../shared/dead-letters';
import type { EventPublisher } from '../shared/publisher';
import {
  failureEntry,
  type ResultKind,
  resultEntry,
  resultPayload,
  round,
  sequenceGapEntry,
  sourceIdOf,
} from './batch-entries';
import { BatchFailures, type FailureHint, type PendingLetter, type Unpublished } from './batch-failures';
import { type GateOutcome, gate, type ProcessDecision, recordProcessed, type Tenancy } from './tenant-gate';

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
  /** Events already processed at their sequence number (same event id): skipped, their result is out. */
  readonly sequenceDuplicates: number;
  /** Processed although another event had taken their sequence number before (flagged `ordering.reused`). */
  readonly sequenceReused: number;
  /** Processed with a gap before them (flag policy), or late after their gap was given up. */
  readonly outOfOrder: number;
  /** SequenceGap events published (a hold ran out). */
  readonly sequenceGaps: number;
}

/** A record that passed validation; `text` is set once a claim is resolved, `ordering` once gated. */
type BatchItem = {
  readonly record: SQSRecord;
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
  const failures = new BatchFailures(deps.maxReceiveCount);

  const valid = validate(records, deps.tier, failures);
  const admitted = deps.tenancy
    ? await admitByTenant(valid.work, deps.tenancy, now().getTime(), failures)
    : undefined;
  const resolved = await resolveClaims(admitted?.work ?? valid.work, deps.claims, failures);
  const scoring = await scoreTexts(resolved.work, deps, failures);
  const results = buildResults(scoring, deps, now, failures);

  // 5. Dead letters first (the DLQ copy is what guarantees nothing is lost), then their
  // InferenceFailed events ride along with the results so the archive shows them.
  const { stored, unsaved } = await failures.storeLetters(deps.deadLetters);
  const notices = stored.map((pending) => failureEntry(pending, deps.tier, now()));
  const unpublished = await publishAll(results, notices, deps.publisher);
  const lateLettered = await failures.retryOrDeadLetter(unpublished, deps.deadLetters);

  // 6. Only now record the sequence numbers whose results are out: a crash before this point
  // re-processes (a duplicate result with the same id) rather than skips an unpublished event.
  // The numbers of records now stored in the DLQ are given up, so they do not hold their stream
  // back for ever; a redrive of one is processed late.
  if (deps.tenancy && admitted) {
    await recordSequences(deps.tenancy, admitted.streams, scoring.work, failures, stored, lateLettered);
  }

  return {
    response: { batchItemFailures: [...failures.retry].map((itemIdentifier) => ({ itemIdentifier })) },
    report: {
      records: records.length,
      completed: results.completed,
      escalated: results.escalated,
      duplicates: results.duplicates,
      poison: valid.poison + resolved.missing,
      retried: failures.retry.size,
      deadLettered: failures.letters.length - unsaved.size + lateLettered.size,
      inferenceMs: round(scoring.inferenceMs),
      quotaDelayed: admitted?.quotaDelayed ?? 0,
      held: admitted?.held ?? 0,
      sequenceDuplicates: admitted?.sequenceDuplicates ?? 0,
      outOfOrder: results.outOfOrder,
      sequenceReused: results.sequenceReused,
      sequenceGaps: results.sequenceGaps,
    },
  };
}

/** 1. Validate: malformed input, or input this tier does not take, is poison and goes to the DLQ at once. */
function validate(
  records: readonly SQSRecord[],
  tier: number,
  failures: BatchFailures,
): { work: BatchItem[]; poison: number } {
  const work: BatchItem[] = [];
  let poison = 0;
  for (const record of records) {
    const parsed = parseTierRecord(record.body, tier);
    if (!parsed.ok) {
      poison++;
      failures.fail(record, parsed.errorCode, parsed.errorMessage, false, {
        tenant: parsed.tenant,
        sourceId: parsed.envelopeId,
        envelope: parsed.envelope,
      });
      continue;
    }
    work.push({
      record,
      request: parsed.request,
      envelope: parsed.envelope,
      text: parsed.request.text,
    });
  }
  return { work, poison };
}

interface Admission {
  /** The records to run now, each with its ordering verdict. */
  readonly work: BatchItem[];
  readonly streams: GateOutcome<BatchItem>['streams'];
  readonly quotaDelayed: number;
  readonly held: number;
  readonly sequenceDuplicates: number;
}

/**
 * 1b. Tenants (entry tier): skip proven duplicates, flag reused numbers, flag or hold out-of-order records, and take quota
 * tokens; records over quota or held go back to their queue with a delay (never dropped).
 */
async function admitByTenant(
  work: BatchItem[],
  tenancy: Tenancy,
  nowMs: number,
  failures: BatchFailures,
): Promise<Admission> {
  const gated = await gate(work, tenancy, nowMs);
  for (const { item, message } of gated.unavailable) {
    failures.fail(item.record, 'TenantStateUnavailable', message, true, hintOf(item));
  }
  const sequenceDuplicates = gated.duplicates.length;
  const unsent = await tenancy.requeuer.requeue(gated.requeue);
  let quotaDelayed = 0;
  let held = 0;
  gated.requeue.forEach(({ item, reason }, index) => {
    if (unsent.has(index)) {
      failures.fail(
        item.record,
        'RequeueFailed',
        `could not re-queue the ${reason}-delayed record`,
        true,
        hintOf(item),
      );
    } else if (reason === 'quota') quotaDelayed++;
    else held++;
  });
  const proceed = gated.proceed.map(({ item, decision }) => {
    item.ordering = decision;
    return item;
  });
  return { work: proceed, streams: gated.streams, quotaDelayed, held, sequenceDuplicates };
}

/** 2. Resolve claim checks (payloads too large for an EventBridge entry); a missing object is poison. */
async function resolveClaims(
  work: BatchItem[],
  claims: ClaimResolver,
  failures: BatchFailures,
): Promise<{ work: BatchItem[]; missing: number }> {
  let missing = 0;
  await Promise.all(
    work.map(async (item) => {
      if (item.text !== undefined || !item.request.claim) return;
      // The role may read every claim; the envelope's tenant may read only its own.
      const prefix = claimKeyPrefix(item.envelope.tenant);
      if (!item.request.claim.key.startsWith(prefix)) {
        missing++;
        failures.fail(
          item.record,
          'InvalidPayload',
          `detail.payload.claim.key: a claim of tenant ${item.envelope.tenant} lies under ${prefix}, not at ${item.request.claim.key}; put-events claim-checks large texts under the right key`,
          false,
          hintOf(item),
        );
        return;
      }
      try {
        item.text = await claims.resolve(item.request.claim);
      } catch (error) {
        const isMissing = error instanceof ClaimMissingError;
        if (isMissing) missing++;
        failures.fail(
          item.record,
          isMissing ? 'ClaimMissing' : 'ClaimUnavailable',
          (error as Error).message,
          !isMissing,
          hintOf(item),
        );
      }
    }),
  );
  return { work: work.filter((item) => item.text !== undefined), missing };
}

interface Scoring {
  readonly work: BatchItem[];
  /** Per record of the work as it came in: its result-cache key, and its cached probability if any. */
  readonly keys: string[];
  readonly cached: (number | undefined)[];
  /** The model's output for the cache misses, in their order. */
  readonly scores: Float32Array;
  readonly inferenceMs: number;
}

/** 3. One model run for every text not already scored by this container. */
async function scoreTexts(work: BatchItem[], deps: BatchDeps, failures: BatchFailures): Promise<Scoring> {
  const keys = work.map((item) =>
    ResultCache.key(
      deps.scorer.modelVersion,
      { tenant: item.envelope.tenant, id: sourceIdOf(item) },
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
        failures.fail(item.record, 'InferenceFailed', (error as Error).message, true, hintOf(item));
      // The cache hits still get their answers: keep their keys and cached values beside them.
      const hit = (_: unknown, i: number) => cached[i] !== undefined;
      inferenceMs = performance.now() - started;
      return {
        work: work.filter(hit),
        keys: keys.filter(hit),
        cached: cached.filter(hit),
        scores,
        inferenceMs,
      };
    }
    inferenceMs = performance.now() - started;
  }
  return { work, keys, cached, scores, inferenceMs };
}

interface Results {
  readonly entries: PutEventsEntry[];
  /** The record behind each entry, index for index: it is retried if its entry is not published. */
  readonly owners: SQSRecord[];
  readonly completed: number;
  readonly escalated: number;
  readonly duplicates: number;
  readonly outOfOrder: number;
  readonly sequenceReused: number;
  readonly sequenceGaps: number;
}

/** 4. Results: final answers, or escalations to the next tier. */
function buildResults(
  { work, keys, cached, scores, inferenceMs }: Scoring,
  deps: BatchDeps,
  now: () => Date,
  failures: BatchFailures,
): Results {
  const model = `${deps.scorer.modelName}@${deps.scorer.modelVersion}`;
  const entries: PutEventsEntry[] = [];
  const owners: SQSRecord[] = [];
  let missIndex = 0;
  let completed = 0;
  let escalated = 0;
  let duplicates = 0;
  let outOfOrder = 0;
  let sequenceReused = 0;
  let sequenceGaps = 0;
  work.forEach((item, i) => {
    const hit = cached[i];
    const probability = hit ?? (scores[missIndex++] as number);
    if (hit === undefined) deps.cache.set(keys[i] as string, probability);
    else duplicates++;
    const decision = decide(probability, deps.threshold, deps.lastTier);
    const result = resultPayload(
      item,
      decision,
      probability,
      hit !== undefined,
      deps.tier,
      model,
      inferenceMs,
    );
    if (result.ordering?.reused) sequenceReused++;
    else if (result.ordering) outOfOrder++;
    const kind: ResultKind = decision.escalate ? 'escalated' : 'completed';
    decision.escalate ? escalated++ : completed++;
    const entry = resultEntry(item, result, kind, now());
    if (entrySize(entry) > MAX_ENTRY_BYTES) {
      failures.fail(
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
  return { entries, owners, completed, escalated, duplicates, outOfOrder, sequenceReused, sequenceGaps };
}

/** Publishes results and failure notices together; returns the results that were not published. */
async function publishAll(
  { entries, owners }: Results,
  notices: PutEventsEntry[],
  publisher: EventPublisher,
): Promise<Unpublished[]> {
  const outcome = await publisher.publish([...entries, ...notices]);
  const unpublished: Unpublished[] = [];
  for (const [index, error] of outcome.failed) {
    // A result that cannot be published is retried by SQS; an unpublished failure notice is not
    // worth a retry, since the DLQ already holds the record with its reason.
    if (index < owners.length) unpublished.push({ record: owners[index] as SQSRecord, error });
  }
  return unpublished;
}

/**
 * Marks published records processed in their streams and gives up the numbers of dead-lettered
 * ones; records whose stream could not be saved are retried.
 */
async function recordSequences(
  tenancy: Tenancy,
  streams: Admission['streams'],
  work: BatchItem[],
  failures: BatchFailures,
  stored: PendingLetter[],
  lateLettered: Set<string>,
): Promise<void> {
  const { letters, retry } = failures;
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
  const unrecorded = await recordProcessed(tenancy, streams, published, deadLettered);
  for (const item of unrecorded) retry.add(item.record.messageId);
}

function hintOf(item: BatchItem): FailureHint {
  return {
    tenant: item.envelope.tenant,
    sourceId: sourceIdOf(item),
    envelope: item.envelope,
  };
}
