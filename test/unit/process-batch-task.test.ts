import { describe, expect, it } from 'vitest';
import type { PutEventsEntry } from '../../functions/core/put-events';
import { ResultCache } from '../../functions/core/result-cache';
import { type BatchDeps, processBatch, type Scorer } from '../../functions/inference/process-batch';
import type { ServedTask } from '../../functions/inference/request-checks';
import type { DeadLetter } from '../../functions/shared/dead-letters';
import { acceptedWithIds, acceptingArchive } from '../support/archive-stub';
import { escalationEvent, requestEvent, sqsRecord } from '../support/sqs-records';
import { binaryScorer, SPAM_TASK, textOf } from '../support/stub-scorer';

/** What a tier does with requests that do not fit its task, and what its results say for any task. */
function harness(task: ServedTask, scorer: Scorer, options: Partial<BatchDeps> = {}) {
  const published: PutEventsEntry[] = [];
  const letters: DeadLetter[] = [];
  let runs = 0;
  const deps: BatchDeps = {
    task,
    tier: 1,
    lastTier: false,
    threshold: 0.8,
    maxReceiveCount: 3,
    scorer: {
      ...scorer,
      score: (inputs) => {
        runs++;
        return scorer.score(inputs);
      },
    },
    publisher: {
      async publish(entries) {
        published.push(...entries);
        return acceptedWithIds(entries);
      },
    },
    archive: acceptingArchive().archive,
    deadLetters: {
      async send(batch) {
        letters.push(...batch);
        return new Set();
      },
    },
    claims: { resolve: async () => 'claimed text' },
    cache: new ResultCache(),
    ...options,
  };
  const details = (type?: string) =>
    published.map((e) => JSON.parse(e.Detail as string)).filter((d) => !type || d.type === type);
  const reasons = () => Object.fromEntries(letters.map((l) => [l.body, [l.errorCode, l.errorMessage]]));
  return { deps, details, reasons, letters, runs: () => runs };
}

const withDetail = (body: string, change: (detail: Record<string, any>) => void) => {
  const event = JSON.parse(body);
  change(event.detail);
  return JSON.stringify(event);
};

describe('requests that do not fit the task are dead-lettered at once, with the reason', () => {
  it('refuses a request for another task, naming both tasks', async () => {
    const h = harness(
      SPAM_TASK,
      binaryScorer(() => 0.9),
    );
    const other = sqsRecord(withDetail(requestEvent('r1', 'hello'), (d) => (d.task = 'sensor')));

    const { response, report } = await processBatch([other], h.deps);

    expect(response.batchItemFailures).toEqual([]);
    expect(report.poison).toBe(1);
    expect(h.reasons()[other.body]).toEqual([
      'WrongTask',
      "detail.task: this function serves task spam, the request is for task sensor; check the stage's routing for task sensor",
    ]);
    expect(h.runs()).toBe(0);
    const [failure] = h.details('inference.failed');
    expect(failure).toMatchObject({
      task: 'spam',
      payload: { sourceEventId: 'r1', task: 'spam', errorCode: 'WrongTask' },
    });
  });

  it('takes a request that names no task (the stage routes those to its first task) or its own task', async () => {
    const h = harness(
      SPAM_TASK,
      binaryScorer(() => 0.9),
    );
    const own = sqsRecord(withDetail(requestEvent('r2', 'hello'), (d) => (d.task = 'spam')));
    await processBatch([sqsRecord(requestEvent('r1', 'hello')), own], h.deps);
    expect(h.letters).toEqual([]);
    expect(h.details('inference.completed').map((d) => d.payload.sourceEventId)).toEqual(['r1', 'r2']);
  });

  it('refuses input of the wrong kind or length for the task', async () => {
    const sensor: ServedTask = {
      id: 'sensor',
      labels: ['normal', 'anomaly'],
      input: { kind: 'features', length: 3 },
    };
    const h = harness(
      sensor,
      binaryScorer(() => 0.1),
    );
    const text = sqsRecord(requestEvent('t1', 'hello'));
    const short = sqsRecord(withDetail(requestEvent('t2', 'x'), (d) => (d.payload = { features: [1, 2] })));
    const claim = sqsRecord(
      withDetail(
        requestEvent('t3', 'x'),
        (d) => (d.payload = { claim: { bucket: 'bkt', key: 'claims/acme/k' } }),
      ),
    );

    await processBatch([text, short, claim], h.deps);

    expect(h.reasons()).toEqual({
      [text.body]: [
        'InputMismatch',
        'detail.payload: this task takes "features" (3 numbers), the request carries text (task sensor)',
      ],
      [short.body]: [
        'InputMismatch',
        'detail.payload: "features" holds 2 numbers, this task takes exactly 3 (task sensor)',
      ],
      [claim.body]: [
        'InputMismatch',
        'detail.payload: this task takes "features" (3 numbers), the request carries text (task sensor)',
      ],
    });
    expect(h.runs()).toBe(0);
  });

  it('refuses features sent to a text task', async () => {
    const h = harness(
      SPAM_TASK,
      binaryScorer(() => 0.9),
    );
    const vector = sqsRecord(withDetail(requestEvent('v1', 'x'), (d) => (d.payload = { features: [0.5] })));
    await processBatch([vector], h.deps);
    expect(h.reasons()[vector.body]).toEqual([
      'InputMismatch',
      'detail.payload: this task takes text ("text" or "claim"), the request carries "features" (task spam)',
    ]);
  });

  it('refuses an expected label the task does not have, listing the labels it has', async () => {
    const h = harness(
      SPAM_TASK,
      binaryScorer(() => 0.9),
    );
    const typo = sqsRecord(requestEvent('l1', 'hello', 'acme', { expectedLabel: 'Spam' }));
    await processBatch([typo], h.deps);
    expect(h.reasons()[typo.body]).toEqual([
      'UnknownLabel',
      'detail.payload.expectedLabel: "Spam" is not a label of task spam (ham, spam)',
    ]);
    expect(h.details('inference.completed')).toEqual([]);
  });

  it('dead-letters an input the encoder refuses instead of scoring an empty vector, and scores the rest', async () => {
    const scorer = binaryScorer(() => 0.95, {
      refuse: (input) => (textOf(input).trim() === '...' ? 'the text encodes to no features' : undefined),
    });
    const h = harness(SPAM_TASK, scorer);
    const empty = sqsRecord(requestEvent('e1', '...'));
    const fine = sqsRecord(requestEvent('e2', 'win cash now'));

    const { report } = await processBatch([empty, fine], h.deps);

    expect(h.reasons()[empty.body]).toEqual([
      'Unencodable',
      'the text encodes to no features; model test cannot score it, so it is not scored as an empty input',
    ]);
    expect(report).toMatchObject({ poison: 1, completed: 1, deadLettered: 1 });
    expect(h.details('inference.completed').map((d) => d.payload.sourceEventId)).toEqual(['e2']);
    // Nothing is cached for the refused input: a redrive is refused again, not answered.
    await processBatch([sqsRecord(empty.body, 2)], h.deps);
    expect(h.letters.map((l) => l.errorCode)).toEqual(['Unencodable', 'Unencodable']);
  });

  it("dead-letters an input whose output row is not a distribution, naming the manifest's output kind", async () => {
    const h = harness(
      SPAM_TASK,
      binaryScorer((input) => (textOf(input) === 'bad' ? Number.NaN : 0.9)),
    );
    const bad = sqsRecord(requestEvent('n1', 'bad'));
    await processBatch([bad, sqsRecord(requestEvent('n2', 'good'))], h.deps);
    expect(h.reasons()[bad.body]?.[0]).toBe('InvalidModelOutput');
    expect(h.reasons()[bad.body]?.[1]).toMatch(/output kind in its manifest/);
    expect(h.details('inference.completed')).toHaveLength(1);
  });
});

describe('results for any task', () => {
  const triage: ServedTask = {
    id: 'triage',
    labels: ['billing', 'bug', 'other'],
    input: { kind: 'features', length: 2 },
  };
  /** A 3-label model double: the first feature picks the favoured label, the second its probability. */
  const threeWay: Scorer = {
    modelName: 'mlp',
    modelVersion: 'def456',
    async score(inputs) {
      const probabilities = new Float32Array(inputs.length * 3);
      inputs.forEach((input, i) => {
        const [favoured, p] = 'features' in input ? input.features : [0, 0];
        for (let k = 0; k < 3; k++)
          probabilities[3 * i + k] = k === favoured ? (p as number) : (1 - (p as number)) / 2;
      });
      return { probabilities, rejected: new Map() };
    },
  };
  const vector = (id: string, features: number[], extra: Record<string, unknown> = {}) =>
    sqsRecord(withDetail(requestEvent(id, 'x'), (d) => (d.payload = { features, ...extra })));

  it('name the task, the label, its score and every label probability; escalations carry the features on', async () => {
    const h = harness(triage, threeWay);
    await processBatch(
      [vector('c1', [1, 0.9], { expectedLabel: 'bug' }), vector('c2', [2, 0.5]), vector('c3', [0, 0.8])],
      h.deps,
    );

    const [sure, atThreshold] = h.details('inference.completed');
    expect(sure).toMatchObject({
      id: 'acme:c1:t1:completed',
      task: 'triage',
      payload: {
        sourceEventId: 'c1',
        task: 'triage',
        tier: 1,
        model: 'mlp',
        modelVersion: 'mlp@def456',
        label: 'bug',
        score: 0.9,
        probabilities: { billing: 0.05, bug: 0.9, other: 0.05 },
        expectedLabel: 'bug',
        duplicate: false,
      },
    });
    expect(sure.payload).not.toHaveProperty('spamProbability');
    // The threshold is inclusive.
    expect(atThreshold.payload).toMatchObject({ sourceEventId: 'c3', label: 'billing', score: 0.8 });
    const [unsure] = h.details('inference.escalated');
    expect(unsure).toMatchObject({
      id: 'acme:c2:t1:escalated',
      task: 'triage',
      payload: { sourceEventId: 'c2', label: 'other', score: 0.5, features: [2, 0.5] },
    });
    expect(unsure.payload).not.toHaveProperty('text');
  });

  it('answers an escalation at the last tier whatever its confidence, and keeps the claim of a claimed text', async () => {
    const h = harness(
      SPAM_TASK,
      binaryScorer(() => 0.55),
      { tier: 2, lastTier: true },
    );
    const escalation = sqsRecord(escalationEvent('s1', 'a message'));
    await processBatch([escalation], h.deps);
    expect(h.details('inference.completed')[0]).toMatchObject({
      id: 'acme:s1:t2:completed',
      task: 'spam',
      payload: { tier: 2, label: 'spam', probabilities: { ham: 0.45, spam: 0.55 } },
    });

    const t1 = harness(
      SPAM_TASK,
      binaryScorer(() => 0.55),
    );
    const claimed = sqsRecord(
      withDetail(
        requestEvent('k1', 'x'),
        (d) => (d.payload = { claim: { bucket: 'bkt', key: 'claims/acme/k1' } }),
      ),
    );
    await processBatch([claimed], t1.deps);
    const [escalated] = t1.details('inference.escalated');
    expect(escalated.payload).toMatchObject({ claim: { bucket: 'bkt', key: 'claims/acme/k1' } });
    expect(escalated.payload).not.toHaveProperty('text');
  });
});
