import type { SQSBatchResponse, SQSRecord } from 'aws-lambda';
import type { Envelope } from '../core/envelope';
import { claimKeyPrefix, type InferenceRequest } from '../core/inference';
import type { PackDecoder, PackEncoder } from '../core/packing/pack';
import { entrySize, MAX_ENTRY_BYTES, type PutEventsEntry } from '../core/put-events';
import { parseTierEvent, parseTierRecord } from '../core/records';
import { ResultCache } from '../core/result-cache';
import { type Decision, DecisionError, decide } from '../core/task/decide';
import type { TaskInput } from '../core/task/inputs';
import type { ArchiveWriter } from '../shared/archive-writer';
import { ClaimMissingError, type ClaimResolver } from '../shared/claims';
import type { DeadLetterSink } from '../shared/dead-letters';
import type { EventPublisher } from '../shared/publisher';
import { publishedPackRows, receivedPackRows } from './archive-rows';
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
import { type ExpandedRecords, expandedEventOf, expandRecords, messageIdOf } from './pack-records';
import { requestProblem, type ServedTask } from './request-checks';
import { type PackedEntries, packResults } from './result-packs';
import { type GateOutcome, gate, type ProcessDecision, recordProcessed, type Tenancy } from './tenant-gate';

/**
 * A model as the handler sees it: whole batches of task inputs in, [N, K] label probabilities out
 * (`ModelScorer.score`), with the inputs its encoder refused and why.
 */
export interface Scorer {
  /** The manifest's model name. */
  readonly modelName: string;
  /** Short sha256 of the model file: results say exactly which bytes produced them. */
  readonly modelVersion: string;
  score(inputs: readonly TaskInput[]): Promise<{
    readonly probabilities: Float32Array;
    readonly rejected: ReadonlyMap<number, string>;
  }>;
}

export interface BatchDeps {
  /** The task this function serves: requests for another task, or of another shape, are refused. */
  readonly task: ServedTask;
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
  /** Decodes packs whose requests are encoded (`data`); created once per container. */
  readonly decoder?: PackDecoder;
  /** Encodes the results of packs that came encoded (the same codec). */
  readonly encoder?: PackEncoder;
  /**
   * Writes the archive rows of what travels in packs (the archive rules leave packs out); absent:
   * no rows are written, which is right only where no packs travel.
   */
  readonly archive?: ArchiveWriter;
  readonly now?: () => Date;
}

export interface BatchReport {
  /** Requests: a plain record is one, a pack as many as it holds. */
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
  /** Archive rows of packs left unwritten because the tier has no archive writer (see BatchDeps.archive). */
  readonly unarchivedRows: number;
}

/**
 * A record that passed validation, and what became of it so far: `input` is set once a claim is
 * resolved, `ordering` once gated, `probabilities` (its row of K) once scored or found in the cache.
 */
type BatchItem = {
  readonly record: SQSRecord;
  readonly request: InferenceRequest;
  readonly envelope: Envelope;
  input?: TaskInput;
  ordering?: ProcessDecision;
  cacheKey?: string;
  probabilities?: Float32Array;
  duplicate?: boolean;
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
  return processExpanded(expandRecords(records, deps.decoder), deps);
}

/** {@link processBatch} on records already expanded into one per request (see pack-records.ts). */
export async function processExpanded(
  expanded: ExpandedRecords,
  deps: BatchDeps,
): Promise<{ response: SQSBatchResponse; report: BatchReport }> {
  const now = deps.now ?? (() => new Date());
  const failures = new BatchFailures(deps.maxReceiveCount);
  const { records } = expanded;
  for (const { record, errorCode, errorMessage, tenant, sourceId } of expanded.poison) {
    failures.fail(record, errorCode, errorMessage, false, { tenant, sourceId });
  }

  const valid = validate(records, deps, failures);
  const admitted = deps.tenancy
    ? await admitByTenant(valid.work, deps.tenancy, now().getTime(), failures)
    : undefined;
  const resolved = await resolveClaims(admitted?.work ?? valid.work, deps.claims, failures);
  const scoring = await scoreInputs(resolved.work, deps, failures);
  const results = buildResults(scoring, deps, now, failures);

  // 5. Dead letters first (the DLQ copy is what guarantees nothing is lost), then their
  // InferenceFailed events ride along with the results so the archive shows them.
  const { stored, unsaved } = await failures.storeLetters(deps.deadLetters);
  const notices = stored.map((pending) => failureEntry(pending, deps.task.id, deps.tier, now()));
  const encoded = new Set(expanded.packs.filter((p) => p.encoded).map((p) => p.record.messageId));
  const outgoing = packResults(results, encoded, deps.encoder, now);
  const { unpublished, unarchivedRows } = await publishAll(
    outgoing,
    notices,
    deps.publisher,
    deps.archive,
    expanded,
  );
  const lateLettered = await failures.retryOrDeadLetter(unpublished, deps.deadLetters);

  // 6. Only now record the sequence numbers whose results are out: a crash before this point
  // re-processes (a duplicate result with the same id) rather than skips an unpublished event.
  // The numbers of records now stored in the DLQ are given up, so they do not hold their stream
  // back for ever; a redrive of one is processed late.
  if (deps.tenancy && admitted) {
    await recordSequences(deps.tenancy, admitted.streams, scoring.work, failures, stored, lateLettered);
  }

  return {
    response: messageFailures([...failures.retry]),
    report: {
      records: records.length + expanded.poison.length,
      completed: results.completed,
      escalated: results.escalated,
      duplicates: results.duplicates,
      poison: expanded.poison.length + valid.poison + resolved.missing + scoring.refused,
      retried: failures.retry.size,
      deadLettered: failures.letters.length - unsaved.size + lateLettered.size,
      inferenceMs: round(scoring.inferenceMs),
      quotaDelayed: admitted?.quotaDelayed ?? 0,
      held: admitted?.held ?? 0,
      sequenceDuplicates: admitted?.sequenceDuplicates ?? 0,
      outOfOrder: results.outOfOrder,
      sequenceReused: results.sequenceReused,
      sequenceGaps: results.sequenceGaps,
      unarchivedRows,
    },
  };
}

/** Batch item failures name SQS messages: a pack's message once, whichever of its requests failed. */
export function messageFailures(recordIds: readonly string[]): SQSBatchResponse {
  const ids = [...new Set(recordIds.map((messageId) => messageIdOf({ messageId })))];
  return { batchItemFailures: ids.map((itemIdentifier) => ({ itemIdentifier })) };
}

/**
 * 1. Validate: malformed input, or input this tier does not take (another task's request, an
 * input of the wrong shape, an expected label the task does not have), is poison and goes to the
 * DLQ at once with its reason.
 */
function validate(
  records: readonly SQSRecord[],
  deps: Pick<BatchDeps, 'tier' | 'task'>,
  failures: BatchFailures,
): { work: BatchItem[]; poison: number } {
  const work: BatchItem[] = [];
  let poison = 0;
  for (const record of records) {
    const expandedEvent = expandedEventOf(record);
    const parsed = expandedEvent
      ? parseTierEvent(expandedEvent, deps.tier)
      : parseTierRecord(record.body, deps.tier);
    if (!parsed.ok) {
      poison++;
      failures.fail(record, parsed.errorCode, parsed.errorMessage, false, {
        tenant: parsed.tenant,
        sourceId: parsed.envelopeId,
        envelope: parsed.envelope,
      });
      continue;
    }
    const item: BatchItem = { record, request: parsed.request, envelope: parsed.envelope };
    const problem = requestProblem(parsed.envelope, parsed.request, deps.task);
    if (problem) {
      poison++;
      failures.fail(record, problem.errorCode, problem.errorMessage, false, hintOf(item));
      continue;
    }
    const { text, features } = parsed.request;
    if (text !== undefined) item.input = { text };
    else if (features !== undefined) item.input = { features };
    work.push(item);
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
      if (item.input !== undefined || !item.request.claim) return;
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
        item.input = { text: await claims.resolve(item.request.claim) };
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
  return { work: work.filter((item) => item.input !== undefined), missing };
}

interface Scoring {
  /** The records with their probabilities, from the model or the cache, in the batch's order. */
  readonly work: BatchItem[];
  readonly inferenceMs: number;
  /** Records the encoder or the model could not score (dead-lettered with the reason). */
  readonly refused: number;
}

/**
 * 3. One model run for every input not already scored by this container. An input the encoder
 * refuses (it encodes to nothing) or whose output is not a distribution is dead-lettered with the
 * reason, never scored as an empty vector; a failed run hands its records back to SQS.
 */
async function scoreInputs(work: BatchItem[], deps: BatchDeps, failures: BatchFailures): Promise<Scoring> {
  for (const item of work) {
    item.cacheKey = ResultCache.key(
      deps.scorer.modelVersion,
      { tenant: item.envelope.tenant, id: sourceIdOf(item) },
      item.input as TaskInput,
    );
    item.probabilities = deps.cache.get(item.cacheKey);
    item.duplicate = item.probabilities !== undefined;
  }
  const misses = work.filter((item) => item.probabilities === undefined);
  if (misses.length === 0) return { work, inferenceMs: 0, refused: 0 };
  const started = performance.now();
  let scored: Awaited<ReturnType<Scorer['score']>>;
  try {
    scored = await deps.scorer.score(misses.map((item) => item.input as TaskInput));
  } catch (error) {
    for (const item of misses)
      failures.fail(item.record, 'InferenceFailed', (error as Error).message, true, hintOf(item));
    // The cache hits still get their answers.
    return {
      work: work.filter((item) => item.duplicate),
      inferenceMs: performance.now() - started,
      refused: 0,
    };
  }
  const inferenceMs = performance.now() - started;
  const k = deps.task.labels.length;
  let refused = 0;
  misses.forEach((item, index) => {
    const reason = scored.rejected.get(index);
    const row = scored.probabilities.subarray(index * k, (index + 1) * k);
    if (reason !== undefined) {
      refused++;
      failures.fail(
        item.record,
        'Unencodable',
        `${reason}; model ${deps.scorer.modelName} cannot score it, so it is not scored as an empty input`,
        false,
        hintOf(item),
      );
      return;
    }
    if (!row.every(Number.isFinite)) {
      refused++;
      failures.fail(
        item.record,
        'InvalidModelOutput',
        `model ${deps.scorer.modelName} returned no probability distribution for this input (${Array.from(row).join(', ')}); check the model's output kind in its manifest`,
        false,
        hintOf(item),
      );
      return;
    }
    item.probabilities = row;
    deps.cache.set(item.cacheKey as string, row);
  });
  return { work: work.filter((item) => item.probabilities !== undefined), inferenceMs, refused };
}

interface Results {
  readonly entries: PutEventsEntry[];
  /** The records behind each entry, index for index: they are retried if it is not published. */
  readonly owners: SQSRecord[][];
  readonly completed: number;
  readonly escalated: number;
  readonly duplicates: number;
  readonly outOfOrder: number;
  readonly sequenceReused: number;
  readonly sequenceGaps: number;
}

/** 4. Results: final answers, or escalations to the next tier, by the one cascade rule. */
function buildResults(
  { work, inferenceMs }: Scoring,
  deps: BatchDeps,
  now: () => Date,
  failures: BatchFailures,
): Results {
  const entries: PutEventsEntry[] = [];
  const owners: SQSRecord[][] = [];
  let completed = 0;
  let escalated = 0;
  let duplicates = 0;
  let outOfOrder = 0;
  let sequenceReused = 0;
  let sequenceGaps = 0;
  for (const item of work) {
    const probabilities = item.probabilities as Float32Array;
    let decision: Decision;
    try {
      decision = decide(probabilities, 0, deps.task.labels, deps.threshold, deps.lastTier);
    } catch (error) {
      // Rows are checked when scored; a cached row that is not a distribution would land here.
      if (!(error instanceof DecisionError)) throw error;
      failures.fail(item.record, 'InvalidModelOutput', error.message, false, hintOf(item));
      continue;
    }
    if (item.duplicate) duplicates++;
    const result = resultPayload(item, {
      task: deps.task,
      tier: deps.tier,
      model: deps.scorer.modelName,
      modelVersion: `${deps.scorer.modelName}@${deps.scorer.modelVersion}`,
      decision,
      probabilities,
      duplicate: item.duplicate === true,
      inferenceMs,
    });
    const kind: ResultKind = decision.escalate ? 'escalated' : 'completed';
    const entry = resultEntry(item, result, kind, now());
    if (entrySize(entry) > MAX_ENTRY_BYTES) {
      failures.fail(
        item.record,
        'ResultTooLarge',
        `the ${kind} event would exceed ${MAX_ENTRY_BYTES} bytes`,
        false,
        hintOf(item),
      );
      continue;
    }
    if (result.ordering?.reused) sequenceReused++;
    else if (result.ordering) outOfOrder++;
    decision.escalate ? escalated++ : completed++;
    entries.push(entry);
    owners.push([item.record]);
    const release = item.ordering?.release;
    if (release) {
      // Owned by the record whose hold ran out: if it cannot be published, the record is retried.
      entries.push(sequenceGapEntry(item, deps.task.id, release, now()));
      owners.push([item.record]);
      sequenceGaps++;
    }
  }
  return { entries, owners, completed, escalated, duplicates, outOfOrder, sequenceReused, sequenceGaps };
}

/**
 * Publishes results and failure notices together, then writes the archive rows of the packs
 * received and published (before the messages are deleted: a row that cannot be written hands
 * its messages back, so each row is written at least once); returns the records to retry.
 */
async function publishAll(
  outgoing: PackedEntries,
  notices: PutEventsEntry[],
  publisher: EventPublisher,
  archive: ArchiveWriter | undefined,
  expanded: ExpandedRecords,
): Promise<{ unpublished: Unpublished[]; unarchivedRows: number }> {
  const { entries, owners } = outgoing;
  const outcome = await publisher.publish([...entries, ...notices]);
  const unpublished: Unpublished[] = [];
  for (const [index, error] of outcome.failed) {
    // A result that cannot be published is retried by SQS; an unpublished failure notice is not
    // worth a retry, since the DLQ already holds the record with its reason.
    if (index < owners.length) for (const record of owners[index] ?? []) unpublished.push({ record, error });
  }
  if (!archive) {
    const received = receivedPackRows(expanded.packs).length;
    const sent = outgoing.packed.reduce(
      (sum, items, i) => sum + (items && !outcome.failed.has(i) ? items.length : 0),
      0,
    );
    return { unpublished, unarchivedRows: received + sent };
  }
  const published = publishedPackRows(outgoing, outcome.eventIds ?? new Map(), outcome.failed);
  const rows = [...receivedPackRows(expanded.packs), ...published.rows];
  for (const { owners: missingOwners, error } of published.missing) {
    for (const record of missingOwners) unpublished.push({ record, error });
  }
  if (rows.length > 0) {
    const unwritten = await archive.write(rows.map((r) => r.row));
    for (const [index, error] of unwritten) {
      for (const record of rows[index]?.owners ?? []) {
        unpublished.push({ record, error: `its archive row could not be written to Firehose: ${error}` });
      }
    }
  }
  // A record behind several failed entries or rows is retried (or dead-lettered) once.
  const seen = new Set<string>();
  return {
    unpublished: unpublished.filter(
      ({ record }) => !seen.has(record.messageId) && seen.add(record.messageId),
    ),
    unarchivedRows: 0,
  };
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
