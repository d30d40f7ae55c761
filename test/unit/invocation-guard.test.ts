import type { SQSBatchResponse } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { defaultMarginMs, guardInvocation } from '../../functions/inference/invocation-guard';
import type { DeadLetter, DeadLetterSink } from '../../functions/shared/dead-letters';
import { injectHandlerTimeout } from '../../functions/shared/faults';
import { requestEvent, sqsRecord } from '../support/sqs-records';

/** A DLQ that keeps what it is given; `refuse` makes it report those indexes as unsaved. */
class MemorySink implements DeadLetterSink {
  readonly letters: DeadLetter[] = [];
  refuse = new Set<number>();
  async send(letters: readonly DeadLetter[]): Promise<Set<number>> {
    letters.forEach((letter, i) => {
      if (!this.refuse.has(i)) this.letters.push(letter);
    });
    return new Set(this.refuse);
  }
}

const batch = () => [
  sqsRecord(requestEvent('r1', 'a'), 1),
  sqsRecord(requestEvent('r2', 'b'), 3),
  sqsRecord(requestEvent('r3', 'c'), 2),
];
const ok: SQSBatchResponse = { batchItemFailures: [] };
const ids = (response: SQSBatchResponse) => response.batchItemFailures.map((f) => f.itemIdentifier);

describe('guardInvocation', () => {
  it('passes the batch answer through when the batch finishes in time', async () => {
    const sink = new MemorySink();
    const outcome = await guardInvocation(batch(), async () => ok, {
      deadLetters: sink,
      maxReceiveCount: 3,
      remainingMs: () => 30_000,
    });
    expect(outcome).toEqual({ response: ok, deadLettered: 0 });
    expect(sink.letters).toEqual([]);
  });

  it('on an exception, dead-letters last-receive records with the error and hands back the rest', async () => {
    const sink = new MemorySink();
    const records = batch();
    const outcome = await guardInvocation(
      records,
      async () => {
        throw new TypeError('cannot read properties of undefined');
      },
      { deadLetters: sink, maxReceiveCount: 3, remainingMs: () => 30_000 },
    );
    expect(outcome.ended).toBe('error');
    expect(outcome.deadLettered).toBe(1);
    expect(outcome.reason).toBe(
      'RetriesExhausted.HandlerError: TypeError: cannot read properties of undefined',
    );
    expect(ids(outcome.response)).toEqual([records[0]?.messageId, records[2]?.messageId]);
    expect(sink.letters).toEqual([
      {
        body: records[1]?.body,
        sourceQueueArn: records[1]?.eventSourceARN,
        errorCode: 'RetriesExhausted.HandlerError',
        errorMessage: 'TypeError: cannot read properties of undefined',
        attempts: 3,
      },
    ]);
  });

  it('rethrows an exception when no record is on its last receive, so Lambda counts the error', async () => {
    const sink = new MemorySink();
    await expect(
      guardInvocation(
        [sqsRecord(requestEvent('r1', 'a'), 1)],
        async () => {
          throw new Error('boom');
        },
        { deadLetters: sink, maxReceiveCount: 3, remainingMs: () => 30_000 },
      ),
    ).rejects.toThrow('boom');
    expect(sink.letters).toEqual([]);
  });

  it('rethrows when the DLQ cannot store the last-receive record (SQS redrive is then the fallback)', async () => {
    const sink = new MemorySink();
    sink.refuse = new Set([0]);
    await expect(
      guardInvocation(
        [sqsRecord(requestEvent('r1', 'a'), 3)],
        async () => {
          throw new Error('boom');
        },
        { deadLetters: sink, maxReceiveCount: 3, remainingMs: () => 30_000 },
      ),
    ).rejects.toThrow('boom');
  });

  it('answers before the deadline when the batch hangs: last receives dead-lettered as Timeout', async () => {
    const sink = new MemorySink();
    const records = batch();
    // A hang here would fail by the test timeout: the guard must answer on its own.
    const outcome = await guardInvocation(records, () => new Promise(() => {}), {
      deadLetters: sink,
      maxReceiveCount: 3,
      remainingMs: () => 400,
      marginMs: 100,
    });
    expect(outcome.ended).toBe('deadline');
    expect(ids(outcome.response)).toEqual([records[0]?.messageId, records[2]?.messageId]);
    expect(sink.letters.map((l) => [l.errorCode, l.attempts])).toEqual([['RetriesExhausted.Timeout', 3]]);
    expect(sink.letters[0]?.errorMessage).toMatch(
      /about to run out of its 0\.4 s with 3 record\(s\) unfinished/,
    );
  });

  it("aborts the batch's signal at the deadline, so its remaining steps can stop", async () => {
    let seen: AbortSignal | undefined;
    const outcome = await guardInvocation(
      batch(),
      (signal) => {
        seen = signal;
        return new Promise(() => {});
      },
      { deadLetters: new MemorySink(), maxReceiveCount: 3, remainingMs: () => 50, marginMs: 10 },
    );
    expect(outcome.ended).toBe('deadline');
    expect(seen?.aborted).toBe(true);
    expect(() => seen?.throwIfAborted()).toThrow(/deadline/);
  });

  it('keeps 10% of the budget back by default, at least 500 ms and at most 3 s', () => {
    expect(defaultMarginMs(1_500)).toBe(500);
    expect(defaultMarginMs(15_000)).toBe(1_500);
    expect(defaultMarginMs(900_000)).toBe(3_000);
  });

  it('keeps a record on the queue when its dead letter cannot be stored at the deadline', async () => {
    const sink = new MemorySink();
    sink.refuse = new Set([0]);
    const records = batch();
    const outcome = await guardInvocation(records, () => new Promise(() => {}), {
      deadLetters: sink,
      maxReceiveCount: 3,
      remainingMs: () => 50,
      marginMs: 10,
    });
    expect(outcome.deadLettered).toBe(0);
    expect(ids(outcome.response)).toEqual(records.map((r) => r.messageId));
  });
});

describe('injectHandlerTimeout', () => {
  it('returns at once without the fault and waits past the time left with it', async () => {
    // Both would wait a minute (past the test timeout) if they waited at all.
    await injectHandlerTimeout(60_000, undefined);
    await injectHandlerTimeout(60_000, { handlerTimeoutRate: 0.5 }, () => 0.9);
    let done = false;
    const waiting = injectHandlerTimeout(0, { handlerTimeoutRate: 0.5 }, () => 0.1).then(() => {
      done = true;
    });
    expect(done).toBe(false);
    await waiting;
    expect(done).toBe(true);
  });
});
