import type { SQSBatchResponse, SQSRecord } from 'aws-lambda';
import type { DeadLetter, DeadLetterSink } from '../shared/dead-letters';

export interface GuardDeps {
  readonly deadLetters: DeadLetterSink;
  readonly maxReceiveCount: number;
  /** Milliseconds left before the function timeout (Lambda's `context.getRemainingTimeInMillis`). */
  readonly remainingMs: () => number;
  /** Time kept back before the timeout to store dead letters and answer. @default 10% of the time left, 500 ms to 3 s */
  readonly marginMs?: number;
}

/** What ended the invocation early: an exception out of the batch, or the deadline. */
export interface GuardOutcome {
  readonly response: SQSBatchResponse;
  readonly ended?: 'error' | 'deadline';
  /** Records stored in the DLQ with the reason because this was their last receive. */
  readonly deadLettered: number;
  /** Why the invocation ended early, as stored on the dead letters. */
  readonly reason?: string;
}

/**
 * Runs one batch so that a failure of the whole invocation still leaves a reason on every record
 * that SQS would otherwise move to the DLQ bare. Without this, a batch that throws or hangs past
 * the function timeout is retried as a whole, and on the last receive SQS's redrive moves the
 * records with no reason attached. Here, records on their last receive are dead-lettered with the
 * error (or `Timeout`) and the rest are handed back as batch item failures.
 *
 * An exception with no record on its last receive is rethrown, so Lambda counts the error as usual.
 * At the deadline `run`'s signal is aborted; `run` should check it between steps, since JavaScript
 * cannot stop it otherwise. Work already past its last check still finishes: a result may then
 * appear for a record already dead-lettered, which readers see as a duplicate.
 */
export async function guardInvocation(
  records: readonly SQSRecord[],
  run: (signal: AbortSignal) => Promise<SQSBatchResponse>,
  deps: GuardDeps,
): Promise<GuardOutcome> {
  const left = deps.remainingMs();
  const marginMs = deps.marginMs ?? defaultMarginMs(left);
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<'deadline'>((resolve) => {
    timer = setTimeout(
      () => {
        controller.abort(new Error('the invocation reached its deadline'));
        resolve('deadline');
      },
      Math.max(0, left - marginMs),
    );
  });
  try {
    const first = await Promise.race([run(controller.signal), deadline]);
    if (first !== 'deadline') return { response: first, deadLettered: 0 };
    const seconds = (left / 1000).toFixed(1);
    return await handBack(records, deps, {
      errorCode: 'RetriesExhausted.Timeout',
      errorMessage: `the invocation was about to run out of its ${seconds} s with ${records.length} record(s) unfinished`,
      ended: 'deadline',
    });
  } catch (error) {
    const e = error instanceof Error ? error : new Error(String(error));
    const outcome = await handBack(records, deps, {
      errorCode: 'RetriesExhausted.HandlerError',
      errorMessage: `${e.name}: ${e.message}`,
      ended: 'error',
    });
    if (outcome.deadLettered === 0) throw error;
    return outcome;
  } finally {
    clearTimeout(timer);
  }
}

/** Time kept back for the dead letters and the answer: 10% of the budget, at least 500 ms, at most 3 s. */
export function defaultMarginMs(budgetMs: number): number {
  return Math.min(3000, Math.max(500, budgetMs * 0.1));
}

/**
 * Hands records back to SQS as batch item failures, except those on their last receive: those are
 * dead-lettered with the reason, so SQS's redrive never moves one there bare.
 */
export async function handBack(
  records: readonly SQSRecord[],
  deps: Pick<GuardDeps, 'deadLetters' | 'maxReceiveCount'>,
  reason: { errorCode: string; errorMessage: string; ended: 'error' | 'deadline' },
): Promise<GuardOutcome> {
  const attemptsOf = (record: SQSRecord) => Number(record.attributes.ApproximateReceiveCount ?? '1');
  const last = records.filter((record) => attemptsOf(record) >= deps.maxReceiveCount);
  const letters: DeadLetter[] = last.map((record) => ({
    body: record.body,
    sourceQueueArn: record.eventSourceARN,
    errorCode: reason.errorCode,
    errorMessage: reason.errorMessage,
    attempts: attemptsOf(record),
  }));
  const unsaved = letters.length ? await deps.deadLetters.send(letters) : new Set<number>();
  const stored = new Set(last.filter((_, i) => !unsaved.has(i)).map((record) => record.messageId));
  const retry = records.filter((record) => !stored.has(record.messageId));
  return {
    response: { batchItemFailures: retry.map((record) => ({ itemIdentifier: record.messageId })) },
    ended: reason.ended,
    deadLettered: stored.size,
    reason: `${reason.errorCode}: ${reason.errorMessage}`,
  };
}
