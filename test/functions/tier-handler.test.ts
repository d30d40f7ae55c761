import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { REQUESTS_PER_CHUNK } from '../../functions/inference/chunks';
import { PROJECT_ROOT } from '../../lib/app';
import { loadSplits } from '../../models/train/data';
import { AwsStub } from '../support/aws-stub';
import { requestEvent, sqsRecord, testDlqUrl } from '../support/sqs-records';

/**
 * The real tier handlers (middy, Powertools, SDK v3 clients, onnxruntime-node, the committed
 * models) on real held-out messages, with the SDK pointed at a stub AWS endpoint on loopback.
 */
const stub = new AwsStub();
const TIER1_ENV = { INFERBUS_TIER: '1', INFERBUS_LAST_TIER: 'false', MODEL_NAME: 'tier1' };
const testMessages = loadSplits().test.slice(0, 40);
let tier1: (event: SQSEvent, context: Context) => Promise<SQSBatchResponse>;
let tier2: (event: SQSEvent, context: Context) => Promise<SQSBatchResponse>;
const context = {
  functionName: 'tier',
  awsRequestId: 'req-1',
  getRemainingTimeInMillis: () => 30_000,
} as Context;

beforeAll(async () => {
  const endpoint = await stub.start();
  Object.assign(process.env, {
    AWS_ENDPOINT_URL: endpoint,
    AWS_REGION: 'eu-west-1',
    AWS_ACCESS_KEY_ID: 'test',
    AWS_SECRET_ACCESS_KEY: 'test',
    EVENT_BUS_NAME: 'inferbus-test',
    ARCHIVE_STREAM_NAME: 'inferbus-test-archive',
    MODELS_DIR: join(PROJECT_ROOT, 'models'),
    INFERBUS_TASK: 'spam',
    MAX_RECEIVE_COUNT: '3',
    POWERTOOLS_METRICS_DISABLED: 'true',
    POWERTOOLS_LOG_LEVEL: 'ERROR',
  });
  const { createTierHandler } = await import('../../functions/inference/tier-handler');
  Object.assign(process.env, TIER1_ENV);
  tier1 = createTierHandler({ role: 'entry' });
  Object.assign(process.env, { INFERBUS_TIER: '2', INFERBUS_LAST_TIER: 'true', MODEL_NAME: 'tier2' });
  tier2 = createTierHandler({ role: 'escalation' });
  Object.assign(process.env, TIER1_ENV);
});

afterAll(() => stub.stop());

beforeEach(() => {
  stub.calls.length = 0;
  stub.failPutEventsEntry = () => undefined;
  stub.failSqs = false;
  stub.failFirehoseRecord = () => undefined;
});

/** Requests per pack of packsOverTwoChunks. */
const PER_PACK = REQUESTS_PER_CHUNK / 4;
const detailsOf = (entries: any[]) => entries.map((e) => JSON.parse(e.Detail));

/**
 * Five plain packs (streams `deadline-<p>`, seq from 1) of a quarter chunk each: the first four fill
 * one chunk, the fifth is the next. The fifth is received `lastReceiveCount` times.
 */
function packsOverTwoChunks(tenant: string, lastReceiveCount = 1): SQSRecord[] {
  return Array.from({ length: 5 }, (_, p) => {
    const outer = JSON.parse(requestEvent('unused', 'x', tenant));
    const items = Array.from({ length: PER_PACK }, (_, i) => {
      const {
        tenant: _t,
        type: _y,
        ...item
      } = JSON.parse(requestEvent(`late${p}-${i}`, `short message ${i} of pack ${p}`, tenant)).detail;
      return { ...item, stream: `deadline-${p}`, seq: i + 1 };
    });
    outer.detail = {
      packId: `late-pack-${p}`,
      tenant,
      type: outer.detail.type,
      time: outer.detail.time,
      count: PER_PACK,
      items,
    };
    return sqsRecord(JSON.stringify(outer), p === 4 ? lastReceiveCount : 1);
  });
}

/** A context whose time runs out once the first chunk has published its results. */
const hurriedAfterFirstChunk = () =>
  ({
    ...context,
    getRemainingTimeInMillis: () =>
      stub.calls.some((c) => c.target === 'AWSEvents.PutEvents') ? 100 : 30_000,
  }) as Context;

describe('tier-1 handler', () => {
  it('answers every valid record, escalates the unsure ones and dead-letters poison with the reason', async () => {
    const records = testMessages
      .slice(0, 30)
      .map((m, i) =>
        sqsRecord(requestEvent(`req-${i}`, m.text, 'acme', { expectedLabel: m.label ? 'spam' : 'ham' })),
      );
    const malformed = sqsRecord('{not json');
    const noTenant = sqsRecord(requestEvent('req-x', 'hello').replace('"tenant":"acme",', ''));

    const response = await tier1({ Records: [...records, malformed, noTenant] }, context);

    expect(response.batchItemFailures).toEqual([]);
    const results = [...stub.entries('InferenceCompleted'), ...stub.entries('EscalationRequested')];
    expect(results).toHaveLength(30);
    const details = detailsOf(results);
    expect(new Set(details.map((d) => d.payload.sourceEventId))).toEqual(
      new Set(records.map((_, i) => `req-${i}`)),
    );
    for (const d of details) {
      expect(d).toMatchObject({
        tenant: 'acme',
        stream: 'inbox',
        task: 'spam',
        payload: { task: 'spam', tier: 1, model: 'tier1', duplicate: false },
      });
      expect(d.payload.modelVersion).toMatch(/^tier1@[0-9a-f]{12}$/);
      expect(['ham', 'spam']).toContain(d.payload.label);
      expect(Object.keys(d.payload.probabilities)).toEqual(['ham', 'spam']);
      expect(d.payload.score).toBe(d.payload.probabilities[d.payload.label]);
    }
    const correct = details.filter((d) => d.payload.label === d.payload.expectedLabel).length;
    expect(correct / details.length).toBeGreaterThan(0.9);

    const letters = stub.deadLetters();
    expect(letters.map((l) => l.MessageBody).sort()).toEqual([malformed.body, noTenant.body].sort());
    // The DLQ's URL is derived from the record's queue ARN (nothing in the environment lists it).
    const dlqCalls = stub.calls.filter((c) => c.target === 'AmazonSQS.SendMessageBatch');
    expect(new Set(dlqCalls.map((c) => c.body.QueueUrl))).toEqual(
      new Set([testDlqUrl(process.env.AWS_ENDPOINT_URL as string)]),
    );
    const codes = letters.map((l) => l.MessageAttributes.ERROR_CODE.StringValue).sort();
    expect(codes).toEqual(['InvalidEnvelope', 'MalformedJson']);
    const envelopeLetter = letters.find(
      (l) => l.MessageAttributes.ERROR_CODE.StringValue === 'InvalidEnvelope',
    );
    expect(envelopeLetter.MessageAttributes.ERROR_MESSAGE.StringValue).toContain('tenant');
    expect(stub.entries('InferenceFailed')).toHaveLength(2);
  });

  it('runs the model once per batch and answers a redelivery from cache, marked as a duplicate', async () => {
    const record = sqsRecord(requestEvent('dup-1', testMessages[31]?.text ?? 'x'));
    await tier1({ Records: [record] }, context);
    await tier1({ Records: [{ ...record, messageId: 'redelivered' }] }, context);

    const details = detailsOf([
      ...stub.entries('InferenceCompleted'),
      ...stub.entries('EscalationRequested'),
    ]);
    expect(details.map((d) => d.payload.duplicate)).toEqual([false, true]);
    expect(details[0].payload.probabilities).toEqual(details[1].payload.probabilities);
    expect(details[0].id).toBe(details[1].id);
  });

  it('scores two events that carry the same text as two events, neither a duplicate', async () => {
    const text = testMessages[30]?.text ?? 'x';
    await tier1({ Records: [sqsRecord(requestEvent('same-text-1', text))] }, context);
    await tier1({ Records: [sqsRecord(requestEvent('same-text-2', text))] }, context);

    const details = detailsOf([
      ...stub.entries('InferenceCompleted'),
      ...stub.entries('EscalationRequested'),
    ]);
    expect(details.map((d) => [d.payload.sourceEventId, d.payload.duplicate])).toEqual([
      ['same-text-1', false],
      ['same-text-2', false],
    ]);
    expect(details[0].payload.probabilities).toEqual(details[1].payload.probabilities);
  });

  it('reads plain text that starts like a header as body and answers it (the header trap)', async () => {
    const refund = sqsRecord(requestEvent('refund-1', 'Refund: I was charged twice for my order'));

    const response = await tier1({ Records: [refund] }, context);

    expect(response.batchItemFailures).toEqual([]);
    expect(stub.deadLetters()).toEqual([]);
    const [result] = detailsOf([
      ...stub.entries('InferenceCompleted'),
      ...stub.entries('EscalationRequested'),
    ]);
    expect(result.payload).toMatchObject({ sourceEventId: 'refund-1', task: 'spam', tier: 1 });
    // An input without features is dead-lettered (next test): a result means the text was read.
    expect(result.payload.probabilities.spam).toBeGreaterThan(0);
  });

  it('dead-letters a text with nothing the model can read, with the reason, instead of scoring an empty vector', async () => {
    const nothing = sqsRecord(requestEvent('empty-1', '... --- ...'));
    const features = sqsRecord(
      requestEvent('vec-1', 'x').replace('"payload":{"text":"x"}', '"payload":{"features":[1,2]}'),
    );

    const response = await tier1({ Records: [nothing, features] }, context);

    expect(response.batchItemFailures).toEqual([]);
    expect([...stub.entries('InferenceCompleted'), ...stub.entries('EscalationRequested')]).toEqual([]);
    const reasons = Object.fromEntries(
      stub
        .deadLetters()
        .map((l) => [
          l.MessageBody,
          [l.MessageAttributes.ERROR_CODE.StringValue, l.MessageAttributes.ERROR_MESSAGE.StringValue],
        ]),
    );
    expect(reasons[nothing.body]).toEqual([
      'Unencodable',
      'the text encodes to no features (no words the model can read); model tier1 cannot score it, so it is not scored as an empty input',
    ]);
    expect(reasons[features.body]).toEqual([
      'InputMismatch',
      'detail.payload: this task takes text ("text" or "claim"), the request carries "features" (task spam)',
    ]);
    expect(
      detailsOf(stub.entries('InferenceFailed'))
        .map((d) => d.payload.errorCode)
        .sort(),
    ).toEqual(['InputMismatch', 'Unencodable']);
  });

  it('hands records back to SQS when their results cannot be published', async () => {
    stub.failPutEventsEntry = (entry) =>
      entry.DetailType === 'InferenceFailed' ? undefined : 'ThrottlingException';
    const records = testMessages.slice(32, 36).map((m, i) => sqsRecord(requestEvent(`pf-${i}`, m.text)));

    const response = await tier1({ Records: records }, context);

    expect(response.batchItemFailures.map((f) => f.itemIdentifier).sort()).toEqual(
      records.map((r) => r.messageId).sort(),
    );
    // Retried with backoff before giving up: several PutEvents calls for the same entries.
    expect(stub.calls.filter((c) => c.target === 'AWSEvents.PutEvents').length).toBeGreaterThan(1);
  });

  it('dead-letters a record whose result still cannot be published on its last receive, with the reason', async () => {
    stub.failPutEventsEntry = (entry) =>
      entry.DetailType === 'InferenceFailed' ? undefined : 'ThrottlingException';
    const last = sqsRecord(requestEvent('pf-last', testMessages[37]?.text ?? 'x'), 3);

    const response = await tier1({ Records: [last] }, context);

    expect(response.batchItemFailures).toEqual([]);
    const [letter] = stub.deadLetters();
    expect(letter.MessageBody).toBe(last.body);
    expect(letter.MessageAttributes.ERROR_CODE.StringValue).toBe('RetriesExhausted.PublishFailed');
    expect(letter.MessageAttributes.ERROR_MESSAGE.StringValue).toMatch(/ThrottlingException/);
  });

  it('keeps a poison record for retry when the DLQ itself is unavailable', async () => {
    stub.failSqs = true;
    const poison = sqsRecord('[]');
    const response = await tier1({ Records: [poison] }, context);
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: poison.messageId }]);
  });

  it('dead-letters a transient failure on its last receive instead of letting it vanish into a reason-less redrive', async () => {
    const missingClaim = sqsRecord(
      requestEvent('claim-1', 'x').replace(
        '"payload":{"text":"x"}',
        '"payload":{"claim":{"bucket":"claims-bucket","key":"claims/acme/k"}}',
      ),
      3,
    );
    const response = await tier1({ Records: [missingClaim] }, context);
    expect(response.batchItemFailures).toEqual([]);
    const [letter] = stub.deadLetters();
    expect(letter.MessageAttributes.ERROR_CODE.StringValue).toMatch(/Claim/);
    expect(letter.MessageAttributes.ATTEMPTS.StringValue).toBe('3');
  });
});

describe('packs through the real tier-1 handler', () => {
  /** An encoded pack of real messages as the tier-1 rule delivers it. */
  async function packRecord(prefix: string, count: number, receiveCount = 1): Promise<SQSRecord> {
    const { createPackCodec } = await import('../../functions/core/packing/codec');
    const { planPacks } = await import('../../functions/core/packing/pack');
    const inputs = testMessages.slice(0, count).map((m, i) => ({
      envelope: JSON.parse(requestEvent(`${prefix}-${i}`, m.text)).detail,
      source: 'inferbus.acme',
      detailType: 'InferenceRequested',
    }));
    const [planned] = planPacks(inputs, undefined, await createPackCodec());
    const event = JSON.parse(requestEvent('unused', 'x'));
    event.detail = JSON.parse(planned?.entry.Detail as string);
    expect(event.detail.data).toMatch(/^zstd-json-1:/);
    return sqsRecord(JSON.stringify(event), receiveCount);
  }

  it('decodes an encoded pack and answers every request in result packs, each under its own result id', async () => {
    const record = await packRecord('pk', 6);
    const response = await tier1({ Records: [record] }, context);
    expect(response.batchItemFailures).toEqual([]);
    const { createPackCodec } = await import('../../functions/core/packing/codec');
    const { expandPack } = await import('../../functions/core/packing/pack');
    const codec = await createPackCodec();
    const published = [...stub.entries('InferenceCompleted'), ...stub.entries('EscalationRequested')];
    const ids = detailsOf(published).flatMap((d) =>
      d.packId ? expandPack(d, codec).envelopes.map((e) => e.envelope.id) : [d.id],
    );
    expect(ids.map((id) => id.replace(/:(completed|escalated)$/, '')).sort()).toEqual(
      Array.from({ length: 6 }, (_, i) => `acme:pk-${i}:t1`).sort(),
    );
    expect(published.length).toBeLessThan(6);
    // The archive rows of the 6 requests and of their answers in packs, written through Firehose
    // to the stream the environment names, concatenated in one record.
    const writes = stub.calls.filter((c) => c.target === 'Firehose_20150804.PutRecordBatch');
    expect(writes.map((c) => c.body.DeliveryStreamName)).toEqual(['inferbus-test-archive']);
    const rows = stub
      .firehoseRecords()
      .flatMap((data) => data.replace(/}{"event_id"/g, '}\n{"event_id"').split('\n'))
      .map((row) => JSON.parse(row));
    expect(rows.filter((r) => r.detail_type === 'InferenceRequested').map((r) => r.envelope_id)).toEqual(
      Array.from({ length: 6 }, (_, i) => `pk-${i}`),
    );
    const packedAnswers = detailsOf(published)
      .filter((d) => d.packId)
      .reduce((n, d) => n + d.count, 0);
    expect(rows.filter((r) => r.detail_type !== 'InferenceRequested')).toHaveLength(packedAnswers);
  });

  it('without a queue to re-queue to, hands back the packs it has no time for, and dead-letters those on their last receive with the reason', async () => {
    const packs = packsOverTwoChunks('acme', 3);
    const response = await tier1({ Records: packs }, hurriedAfterFirstChunk());

    // The fifth pack is on its last receive: handed back, SQS would move it to the DLQ bare.
    expect(response.batchItemFailures).toEqual([]);
    const letters = stub.deadLetters();
    expect(letters).toHaveLength(PER_PACK);
    expect(new Set(letters.map((l) => l.MessageAttributes.ERROR_CODE.StringValue))).toEqual(
      new Set(['RetriesExhausted.Timeout']),
    );
    expect(letters.map((l) => JSON.parse(l.MessageBody).detail.id).sort()).toEqual(
      Array.from({ length: PER_PACK }, (_, i) => `late4-${i}`).sort(),
    );
  });

  it('without a queue to re-queue to, hands back the packs it has no time for', async () => {
    const packs = packsOverTwoChunks('acme');
    const response = await tier1({ Records: packs }, hurriedAfterFirstChunk());
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: packs[4]?.messageId }]);
    expect(stub.deadLetters()).toEqual([]);
  });

  it('hands the pack back when Firehose still refuses its archive rows after retries', async () => {
    stub.failFirehoseRecord = () => 'ServiceUnavailableException';
    const record = await packRecord('pf', 4);
    const response = await tier1({ Records: [record] }, context);
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: record.messageId }]);
    expect(stub.calls.filter((c) => c.target === 'Firehose_20150804.PutRecordBatch').length).toBeGreaterThan(
      1,
    );
  });

  it('dead-letters each request of a pack on its own, as a plain single event, when its results cannot be published on the last receive', async () => {
    stub.failPutEventsEntry = (entry) =>
      entry.DetailType === 'InferenceFailed' ? undefined : 'ThrottlingException';
    const record = await packRecord('pl', 3, 3);
    const response = await tier1({ Records: [record] }, context);
    expect(response.batchItemFailures).toEqual([]);
    const letters = stub.deadLetters();
    expect(letters.map((l) => JSON.parse(l.MessageBody).detail.id).sort()).toEqual(['pl-0', 'pl-1', 'pl-2']);
    for (const letter of letters) {
      const body = JSON.parse(letter.MessageBody);
      expect(body.detail.packId).toBeUndefined();
      expect(body.detail).toMatchObject({ tenant: 'acme', stream: 'inbox' });
      expect(letter.MessageAttributes.ERROR_CODE.StringValue).toBe('RetriesExhausted.PublishFailed');
    }
  });
});

describe('tier handler configuration', () => {
  it('refuses to serve a tier its entry point is not for, naming the handler to deploy', async () => {
    const { createTierHandler } = await import('../../functions/inference/tier-handler');
    expect(() => createTierHandler({ role: 'escalation' })).toThrow(
      'INFERBUS_TIER=1: functions/tier2/handler.ts serves tiers 2 and up (escalations); deploy functions/tier1/handler.ts for tier 1',
    );
  });
});

describe('tier-2 handler', () => {
  it('answers escalations with tier 2 and points results at the original request', async () => {
    const escalation = JSON.parse(requestEvent('esc-1', testMessages[36]?.text ?? 'x'));
    escalation['detail-type'] = 'EscalationRequested';
    escalation.source = 'inferbus.results';
    escalation.detail.id = 'acme:orig-1:t1:escalated';
    escalation.detail.payload = {
      ...escalation.detail.payload,
      sourceEventId: 'orig-1',
      tier: 1,
      label: 'ham',
      score: 0.55,
    };

    const response = await tier2({ Records: [sqsRecord(JSON.stringify(escalation))] }, context);

    expect(response.batchItemFailures).toEqual([]);
    expect(stub.entries('EscalationRequested')).toHaveLength(0);
    const [result] = detailsOf(stub.entries('InferenceCompleted'));
    expect(result).toMatchObject({
      id: 'acme:orig-1:t2:completed',
      tenant: 'acme',
      task: 'spam',
      payload: { sourceEventId: 'orig-1', task: 'spam', tier: 2, model: 'tier2' },
    });
    expect(result.payload.modelVersion).toMatch(/^tier2@/);
  });

  it('dead-letters anything but an escalation from the results source, and an escalation naming no request', async () => {
    const text = testMessages[37]?.text ?? 'x';
    // A producer's event put straight where tier 2 reads: its own source, or a forged results source with no request named.
    const request = sqsRecord(requestEvent('direct-1', text, 'acme', { sourceEventId: 'victim-2' }));
    const forged = JSON.parse(requestEvent('forged-1', text));
    forged['detail-type'] = 'EscalationRequested';
    forged.source = 'inferbus.results';
    const unnamed = sqsRecord(JSON.stringify(forged));

    const response = await tier2({ Records: [request, unnamed] }, context);

    expect(response.batchItemFailures).toEqual([]);
    expect(stub.entries('InferenceCompleted')).toHaveLength(0);
    const letters = stub.deadLetters();
    const reasons = Object.fromEntries(
      letters.map((l) => [l.MessageBody, l.MessageAttributes.ERROR_MESSAGE.StringValue]),
    );
    expect(reasons[request.body]).toBe(
      'tier 2 takes only EscalationRequested events from inferbus.results, not InferenceRequested from inferbus.acme',
    );
    expect(reasons[unnamed.body]).toMatch(
      /^detail\.payload\.sourceEventId: an escalation must name the request/,
    );
  });
});

describe('tier-1 handler refuses what is not a request of its own', () => {
  it('dead-letters a request naming another request in payload.sourceEventId, and files nothing under that id', async () => {
    const text = testMessages[38]?.text ?? 'x';
    const spoofed = sqsRecord(requestEvent('spoof-1', text, 'acme', { sourceEventId: 'victim-2' }));

    const response = await tier1({ Records: [spoofed] }, context);

    expect(response.batchItemFailures).toEqual([]);
    expect([...stub.entries('InferenceCompleted'), ...stub.entries('EscalationRequested')]).toEqual([]);
    const [letter] = stub.deadLetters();
    expect(letter.MessageAttributes.ERROR_CODE.StringValue).toBe('InvalidPayload');
    expect(letter.MessageAttributes.ERROR_MESSAGE.StringValue).toMatch(
      /^detail\.payload\.sourceEventId: only escalations published by inferbus carry it; remove it/,
    );
    // The failure notice names the request itself, never the id it tried to take.
    const [failure] = detailsOf(stub.entries('InferenceFailed'));
    expect(failure).toMatchObject({ id: 'acme:spoof-1:t1:failed', payload: { sourceEventId: 'spoof-1' } });
  });

  it("dead-letters a claim check pointing under another tenant's claims, without reading it", async () => {
    const claim = { bucket: 'claims-bucket', key: 'claims/globex/secret-1' };
    const body = JSON.parse(requestEvent('claim-1', 'x'));
    body.detail.payload = { claim };
    const response = await tier1({ Records: [sqsRecord(JSON.stringify(body))] }, context);

    expect(response.batchItemFailures).toEqual([]);
    // S3 GetObject carries no X-Amz-Target: nothing but PutEvents and the DLQ was called.
    expect(stub.calls.map((c) => c.target).filter((t) => !/^(AWSEvents|AmazonSQS)\./.test(t))).toEqual([]);
    const [letter] = stub.deadLetters();
    expect(letter.MessageAttributes.ERROR_CODE.StringValue).toBe('InvalidPayload');
    expect(letter.MessageAttributes.ERROR_MESSAGE.StringValue).toBe(
      'detail.payload.claim.key: a claim of tenant acme lies under claims/acme/, not at claims/globex/secret-1; put-events claim-checks large texts under the right key',
    );
  });

  it('dead-letters a request id too long to derive result ids from', async () => {
    const id = 'r'.repeat(129);
    const response = await tier1({ Records: [sqsRecord(requestEvent(id, 'hello'))] }, context);
    expect(response.batchItemFailures).toEqual([]);
    const [letter] = stub.deadLetters();
    expect(letter.MessageAttributes.ERROR_CODE.StringValue).toBe('InvalidEnvelope');
    expect(letter.MessageAttributes.ERROR_MESSAGE.StringValue).toMatch(
      /^detail\.id: a request id is at most 128 characters, this one has 129/,
    );
  });
});

describe('tier-1 handler with tenant quota and ordering (real dynalite)', () => {
  let dynamo: import('../../local/dynamodb').LocalDynamoDb;
  let gated: (event: SQSEvent, context: Context) => Promise<SQSBatchResponse>;
  let workQueueUrl: string;
  const text = (i: number) => testMessages[i % testMessages.length]?.text ?? 'x';

  beforeAll(async () => {
    const { startDynalite } = await import('../support/dynalite');
    dynamo = await startDynalite('tenant-state');
    const endpoint = process.env.AWS_ENDPOINT_URL as string;
    workQueueUrl = `${endpoint}/000000000000/inferbus-dev-tier1-acme`;
    const saved = { ...process.env };
    const policiesFile = join(mkdtempSync(join(tmpdir(), 'inferbus-policies-')), 'tenant-policies.json');
    writeFileSync(
      policiesFile,
      JSON.stringify({
        acme: { ratePerSecond: 1000, burst: 1000, ordering: 'hold', maxHoldSeconds: 60 },
        globex: { ratePerSecond: 1000, burst: 1000, ordering: 'flag', maxHoldSeconds: 60 },
        initech: { ratePerSecond: 1, burst: 2, ordering: 'flag', maxHoldSeconds: 60 },
      }),
    );
    Object.assign(process.env, {
      ...TIER1_ENV,
      AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint,
      TENANT_STATE_TABLE: 'tenant-state',
      TENANT_POLICIES_FILE: policiesFile,
    });
    const { createTierHandler } = await import('../../functions/inference/tier-handler');
    gated = createTierHandler({ role: 'entry' });
    // The SDK resolves AWS_ENDPOINT_URL_DYNAMODB on first use, so that one stays set.
    for (const name of ['TENANT_STATE_TABLE', 'TENANT_POLICIES_FILE']) {
      if (saved[name] === undefined) delete process.env[name];
    }
  });
  afterAll(() => dynamo?.stop());

  /** An InferenceRequested record of one (tenant, stream) with a given sequence number. */
  const event = (
    tenant: string,
    stream: string,
    seq: number,
    attributes: SQSRecord['messageAttributes'] = {},
  ) => {
    const body = JSON.parse(requestEvent(`${stream}-${seq}`, text(seq), tenant));
    body.detail.stream = stream;
    body.detail.seq = seq;
    return { ...sqsRecord(JSON.stringify(body)), messageAttributes: attributes };
  };
  const results = () =>
    detailsOf([...stub.entries('InferenceCompleted'), ...stub.entries('EscalationRequested')]);
  const requeued = () =>
    stub.calls
      .filter((c) => c.target === 'AmazonSQS.SendMessageBatch' && c.body.QueueUrl === workQueueUrl)
      .flatMap((c) => c.body.Entries);
  /** The re-queued message as Lambda would deliver it again. */
  const redelivered = (entry: any, attributeOverrides: Record<string, string> = {}): SQSRecord => ({
    ...sqsRecord(entry.MessageBody),
    messageAttributes: Object.fromEntries(
      Object.entries({
        ...Object.fromEntries(
          Object.entries(entry.MessageAttributes ?? {}).map(([k, v]: [string, any]) => [k, v.StringValue]),
        ),
        ...attributeOverrides,
      }).map(([k, v]) => [
        k,
        { stringValue: v as string, dataType: 'String', stringListValues: [], binaryListValues: [] },
      ]),
    ),
  });

  it('skips a redelivered sequence number without a second result', async () => {
    await gated({ Records: [event('acme', 'dups', 1), event('acme', 'dups', 2)] }, context);
    stub.calls.length = 0;
    const response = await gated({ Records: [event('acme', 'dups', 2), event('acme', 'dups', 3)] }, context);
    expect(response.batchItemFailures).toEqual([]);
    expect(results().map((d) => d.seq)).toEqual([3]);
    expect(requeued()).toEqual([]);
  });

  it('processes a swap in order under hold, within a batch and across batches (a gap that fills)', async () => {
    const response = await gated({ Records: [event('acme', 'swap', 2), event('acme', 'swap', 1)] }, context);
    expect(response.batchItemFailures).toEqual([]);
    expect(results().map((d) => d.seq)).toEqual([1, 2]);

    stub.calls.length = 0;
    await gated({ Records: [event('acme', 'swap', 4)] }, context);
    expect(results()).toEqual([]);
    const [held] = requeued();
    expect(held.DelaySeconds).toBe(15);
    expect(held.MessageAttributes.INFERBUS_DELAYED_FOR.StringValue).toBe('ordering');
    expect(Number(held.MessageAttributes.INFERBUS_FIRST_HELD_AT.StringValue)).toBeGreaterThan(
      Date.now() - 60_000,
    );

    stub.calls.length = 0;
    await gated({ Records: [event('acme', 'swap', 3)] }, context);
    await gated({ Records: [redelivered(held)] }, context);
    expect(results().map((d) => [d.seq, d.payload.ordering])).toEqual([
      [3, undefined],
      [4, undefined],
    ]);
    expect(stub.entries('SequenceGap')).toEqual([]);
  });

  it('releases a record whose gap never fills after maxHold, publishing one SequenceGap', async () => {
    await gated({ Records: [event('acme', 'lost', 1)] }, context);
    await gated({ Records: [event('acme', 'lost', 3), event('acme', 'lost', 4)] }, context);
    const held = requeued();
    expect(held).toHaveLength(2);
    stub.calls.length = 0;

    const expired = { INFERBUS_FIRST_HELD_AT: String(Date.now() - 61_000) };
    const response = await gated({ Records: held.map((entry) => redelivered(entry, expired)) }, context);

    expect(response.batchItemFailures).toEqual([]);
    const [third, fourth] = results();
    expect(third).toMatchObject({ seq: 3, payload: { ordering: { gap: [2, 2] } } });
    expect(third.payload.ordering.heldMs).toBeGreaterThanOrEqual(60_000);
    expect(fourth).toMatchObject({ seq: 4 });
    expect(fourth.payload.ordering).toBeUndefined();
    const gaps = detailsOf(stub.entries('SequenceGap'));
    expect(gaps).toHaveLength(1);
    expect(gaps[0]).toMatchObject({
      id: 'gap:acme:lost:2-2',
      tenant: 'acme',
      stream: 'lost',
      payload: { tenant: 'acme', stream: 'lost', missingFrom: 2, missingTo: 2, releasedSeq: 3 },
    });

    // The missing event turns up after all: processed late, not mistaken for a duplicate.
    stub.calls.length = 0;
    await gated({ Records: [event('acme', 'lost', 2)] }, context);
    expect(results().map((d) => [d.seq, d.payload.ordering])).toEqual([[2, { late: true }]]);
  });

  it('processes out-of-order records at once under flag and marks the gap', async () => {
    const response = await gated(
      { Records: [event('globex', 'flagged', 1), event('globex', 'flagged', 3)] },
      context,
    );
    expect(response.batchItemFailures).toEqual([]);
    expect(results().map((d) => [d.seq, d.payload.ordering])).toEqual([
      [1, undefined],
      [3, { gap: [2, 2] }],
    ]);
    expect(requeued()).toEqual([]);
  });

  it('re-queues the packs a batch has no time left for, byte for byte, instead of handing them back to wait out the visibility timeout', async () => {
    const packs = packsOverTwoChunks('globex');
    const hurried = hurriedAfterFirstChunk();
    const response = await gated({ Records: packs }, hurried);

    expect(response.batchItemFailures).toEqual([]);
    const deferred = requeued().filter(
      (e) => e.MessageAttributes?.INFERBUS_DELAYED_FOR?.StringValue === 'deadline',
    );
    expect(deferred.map((e) => e.MessageBody)).toEqual([packs[4]?.body]);
    expect(deferred[0].DelaySeconds).toBe(0);
    // Results come in packs (the requests did): what each answers is its item's sourceEventId.
    const answered = results().flatMap((d) =>
      (d.items ?? [d]).map((item: any) => String(item.payload.sourceEventId)),
    );
    expect(answered.length).toBeGreaterThan(0);
    expect(answered.every((id) => /^late[0-3]-/.test(id))).toBe(true);
  });

  it('delays records over quota instead of dropping them, and keeps their bodies byte for byte', async () => {
    const records = [1, 2, 3, 4, 5].map((seq) => event('initech', 'quota', seq));
    const response = await gated({ Records: records }, context);

    expect(response.batchItemFailures).toEqual([]);
    expect(results().map((d) => d.seq)).toEqual([1, 2]);
    const delayed = requeued();
    expect(delayed.map((e) => e.MessageBody)).toEqual(records.slice(2).map((r) => r.body));
    for (const entry of delayed) {
      expect(entry.DelaySeconds).toBeGreaterThanOrEqual(1);
      expect(entry.MessageAttributes.INFERBUS_DELAYED_FOR.StringValue).toBe('quota');
    }
    expect(stub.deadLetters().filter((e) => e.MessageAttributes?.ERROR_CODE)).toEqual([]);
  });
});
