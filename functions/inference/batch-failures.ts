import type { SQSRecord } from 'aws-lambda';
import type { Envelope } from '../core/envelope';
import type { DeadLetter, DeadLetterSink } from '../shared/dead-letters';
import { messageIdOf } from './pack-records';

/** What is known of a failed record besides its body, to attribute it (and place it in its stream). */
export type FailureHint = { tenant?: string; sourceId?: string; envelope?: Envelope };

/** A letter bound for the DLQ, with the record it came from. */
export type PendingLetter = { letter: DeadLetter; record: SQSRecord } & FailureHint;

/** A result that could not be published, and why. */
export type Unpublished = { record: SQSRecord; error: string };

const attemptsOf = (record: SQSRecord) => Number(record.attributes.ApproximateReceiveCount ?? '1');

/**
 * The records of one batch that did not make it: those handed back to SQS to be received again
 * (batch item failures), and those bound for the DLQ with their reason.
 */
export class BatchFailures {
  readonly retry = new Set<string>();
  readonly letters: PendingLetter[] = [];

  constructor(private readonly maxReceiveCount: number) {}

  /** A transient failure is retried while receives remain; anything else is dead-lettered. */
  fail(record: SQSRecord, code: string, message: string, transient: boolean, hint: FailureHint = {}): void {
    const attempts = attemptsOf(record);
    if (transient && attempts < this.maxReceiveCount) {
      this.retry.add(record.messageId);
      return;
    }
    this.letters.push({
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
  }

  /** Sends every pending letter; a record whose letter could not be stored is retried instead. */
  async storeLetters(sink: DeadLetterSink): Promise<{ stored: PendingLetter[]; unsaved: Set<number> }> {
    const unsaved = await sink.send(this.letters.map((l) => l.letter));
    this.letters.forEach(({ record }, index) => {
      if (unsaved.has(index)) this.retry.add(record.messageId);
    });
    return { stored: this.letters.filter((_, index) => !unsaved.has(index)), unsaved };
  }

  /**
   * Takes out the letters of requests that came in packs. A pack handed back comes again whole and
   * would dead-letter its poison requests again, so their letters wait until the pack's message is
   * known to be deleted ({@link storeHeldLetters}).
   */
  holdPackLetters(): PendingLetter[] {
    const held: PendingLetter[] = [];
    const kept: PendingLetter[] = [];
    for (const pending of this.letters) {
      (messageIdOf(pending.record) === pending.record.messageId ? kept : held).push(pending);
    }
    this.letters.splice(0, this.letters.length, ...kept);
    return held;
  }

  /**
   * Stores the held letters of packs whose message is not handed back (their requests come again
   * with it otherwise); a letter that could not be stored hands its message back. The letters stored.
   */
  async storeHeldLetters(held: readonly PendingLetter[], sink: DeadLetterSink): Promise<PendingLetter[]> {
    const handedBack = new Set([...this.retry].map((messageId) => messageIdOf({ messageId })));
    const due = held.filter(({ record }) => !handedBack.has(messageIdOf(record)));
    if (due.length === 0) return [];
    const unsaved = await sink.send(due.map((pending) => pending.letter));
    due.forEach(({ record }, index) => {
      if (unsaved.has(index)) this.retry.add(record.messageId);
    });
    return due.filter((_, index) => !unsaved.has(index));
  }

  /** Retries the records of unpublished results; returns the ids of those dead-lettered instead. */
  async retryOrDeadLetter(unpublished: readonly Unpublished[], sink: DeadLetterSink): Promise<Set<string>> {
    // On its last receive a record goes to the DLQ here, with the reason, rather than being moved
    // there by SQS's redrive, which attaches none.
    const exhausted = unpublished.filter(({ record }) => attemptsOf(record) >= this.maxReceiveCount);
    const lateUnsaved = await sink.send(
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
    for (const { record } of unpublished)
      if (!lateLettered.has(record.messageId)) this.retry.add(record.messageId);
    return lateLettered;
  }
}
