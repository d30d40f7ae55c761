import { describe, expect, it } from 'vitest';
import type { PutEventsEntry } from '../../functions/core/put-events';
import { ResultCache } from '../../functions/core/result-cache';
import { type BatchDeps, processBatch } from '../../functions/inference/process-batch';
import { acceptedWithIds, acceptingArchive } from '../support/archive-stub';
import { escalationEvent, sqsRecord } from '../support/sqs-records';
import { binaryScorer, SPAM_TASK, textOf } from '../support/stub-scorer';

/** A batch mixing redeliveries (answered from the result cache) with new records, tier 2 (no tenancy). */
function harness() {
  const published: PutEventsEntry[] = [];
  const control = { scorerDown: false };
  const deps: BatchDeps = {
    task: SPAM_TASK,
    tier: 2,
    lastTier: true,
    threshold: 0.5,
    maxReceiveCount: 3,
    scorer: binaryScorer((input) => (textOf(input).includes('spam') ? 0.95 : 0.05), {
      down: () => control.scorerDown,
    }),
    publisher: {
      async publish(entries) {
        published.push(...entries);
        return acceptedWithIds(entries);
      },
    },
    archive: acceptingArchive().archive,
    deadLetters: { send: async () => new Set() },
    claims: {
      async resolve() {
        throw new Error('no claims here');
      },
    },
    cache: new ResultCache(),
  };
  const payloadOf = (sourceId: string) =>
    published
      .map((entry) => JSON.parse(entry.Detail as string).payload)
      .filter((payload) => payload.sourceEventId === sourceId);
  return { deps, control, payloadOf };
}

describe('processBatch with the result cache', () => {
  it('answers redeliveries from the cache when the model run for the rest of the batch fails', async () => {
    const { deps, control, payloadOf } = harness();
    const spam = escalationEvent('spam-1', 'buy spam now');
    const ham = escalationEvent('ham-1', 'lunch at noon');
    await processBatch([sqsRecord(spam), sqsRecord(ham)], deps);

    // The same two events again, around two new ones, while the model is down.
    control.scorerDown = true;
    const fresh = [
      sqsRecord(escalationEvent('new-1', 'more spam')),
      sqsRecord(escalationEvent('new-2', 'hello')),
    ];
    const { response } = await processBatch(
      [fresh[0], sqsRecord(spam, 2), fresh[1], sqsRecord(ham, 2)].filter((r) => r !== undefined),
      deps,
    );

    // The new records go back to SQS; each redelivery gets its own cached answer.
    expect(response.batchItemFailures.map((f) => f.itemIdentifier).sort()).toEqual(
      fresh.map((r) => r?.messageId).sort(),
    );
    for (const [id, probability] of [
      ['spam-1', 0.95],
      ['ham-1', 0.05],
    ] as const) {
      const [first, again] = payloadOf(id);
      expect(again).toMatchObject({
        duplicate: true,
        label: first.label,
        probabilities: first.probabilities,
      });
      expect(again.probabilities.spam).toBeCloseTo(probability, 6);
    }
    expect(payloadOf('new-1')).toEqual([]);
    expect(payloadOf('new-2')).toEqual([]);
  });
});
