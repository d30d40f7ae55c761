import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Context, SQSBatchResponse, SQSEvent } from 'aws-lambda';
import onnxProto from 'onnx-proto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { sha256Hex } from '../../functions/inference/model';
import { AwsStub } from '../support/aws-stub';
import { requestEvent, sqsRecord } from '../support/sqs-records';

/**
 * The real tier handler (onnxruntime-node, the numeric-vector encoder, the logits decoder, one
 * decide) on a task that is neither text nor binary: `triage`, three labels over a vector of two
 * numbers, its model a one-node ONNX graph built here (logits = x · W).
 */
const { onnx } = onnxProto;
const LABELS = ['billing', 'bug', 'other'];

/** logits = [5 x0, 5 x1, 0]: x = [1, 0] is surely billing, [0, 1] surely bug, [0, 0] a three-way tie. */
function logitsModel(): Uint8Array {
  const w = Float32Array.from([5, 0, 0, 0, 5, 0]);
  const tensor = (name: string, dims: (string | number)[]) => ({
    name,
    type: {
      tensorType: {
        elemType: onnx.TensorProto.DataType.FLOAT,
        shape: { dim: dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) },
      },
    },
  });
  const graph = {
    name: 'triage',
    node: [{ opType: 'MatMul', input: ['x', 'w'], output: ['logits'], name: 'logits' }],
    initializer: [
      {
        name: 'w',
        dims: [2, 3],
        dataType: onnx.TensorProto.DataType.FLOAT,
        rawData: new Uint8Array(w.buffer),
      },
    ],
    input: [tensor('x', ['N', 2])],
    output: [tensor('logits', ['N', 3])],
  };
  const proto = onnx.ModelProto.create({ irVersion: 8, opsetImport: [{ domain: '', version: 17 }], graph });
  return onnx.ModelProto.encode(proto).finish();
}

function writeTriageModels(): string {
  const dir = mkdtempSync(join(tmpdir(), 'inferbus-triage-'));
  mkdirSync(join(dir, 'triage'));
  const bytes = logitsModel();
  writeFileSync(join(dir, 'triage', 'linear.onnx'), bytes);
  const manifest = {
    schemaVersion: 2,
    task: {
      id: 'triage',
      description: 'support tickets by two scores',
      labels: LABELS,
      input: { kind: 'features', length: 2 },
    },
    models: [
      {
        name: 'linear',
        file: 'linear.onnx',
        sha256: sha256Hex(bytes),
        bytes: bytes.length,
        precision: 'float32',
        inputs: [{ name: 'x', dtype: 'float32', shape: ['N', 2] }],
        encoder: { kind: 'numeric-vector', length: 2, center: [0, 0], scale: [1, 1] },
        output: { name: 'logits', dtype: 'float32', shape: ['N', 3], kind: 'logits' },
      },
    ],
    cascades: [],
  };
  writeFileSync(join(dir, 'triage', 'manifest.json'), JSON.stringify(manifest));
  return dir;
}

const stub = new AwsStub();
let tier1: (event: SQSEvent, context: Context) => Promise<SQSBatchResponse>;
const context = {
  functionName: 'triage-tier1',
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
    MODELS_DIR: writeTriageModels(),
    INFERBUS_TASK: 'triage',
    INFERBUS_TIER: '1',
    INFERBUS_LAST_TIER: 'false',
    MODEL_NAME: 'linear',
    // Below 1/2, so valid only because the task has three labels.
    CASCADE_THRESHOLD: '0.4',
    MAX_RECEIVE_COUNT: '3',
    POWERTOOLS_METRICS_DISABLED: 'true',
    POWERTOOLS_LOG_LEVEL: 'ERROR',
  });
  const { createTierHandler } = await import('../../functions/inference/tier-handler');
  tier1 = createTierHandler({ role: 'entry' });
});

afterAll(() => stub.stop());
beforeEach(() => {
  stub.calls.length = 0;
});

const features = (id: string, values: unknown[], extra: Record<string, unknown> = {}) => {
  const event = JSON.parse(requestEvent(id, 'x'));
  event.detail.task = 'triage';
  event.detail.payload = { features: values, ...extra };
  return sqsRecord(JSON.stringify(event));
};
const detailsOf = (entries: any[]) => entries.map((e) => JSON.parse(e.Detail));

describe('a three-label features task through the real tier handler', () => {
  it('answers the sure requests with every label probability and escalates the unsure one with its features', async () => {
    const response = await tier1(
      {
        Records: [
          features('t-1', [1, 0], { expectedLabel: 'billing' }),
          features('t-2', [0, 1]),
          features('t-3', [0, 0]),
        ],
      },
      context,
    );

    expect(response.batchItemFailures).toEqual([]);
    expect(stub.deadLetters()).toEqual([]);
    const completed = detailsOf(stub.entries('InferenceCompleted'));
    expect(completed.map((d) => [d.payload.sourceEventId, d.payload.label])).toEqual([
      ['t-1', 'billing'],
      ['t-2', 'bug'],
    ]);
    const sure = completed[0];
    // softmax([5, 0, 0]) = [e^5, 1, 1] / (e^5 + 2)
    const p = Math.exp(5) / (Math.exp(5) + 2);
    expect(sure).toMatchObject({
      task: 'triage',
      payload: { task: 'triage', tier: 1, model: 'linear', expectedLabel: 'billing' },
    });
    expect(Object.keys(sure.payload.probabilities)).toEqual(LABELS);
    expect(sure.payload.probabilities.billing).toBeCloseTo(p, 5);
    expect(sure.payload.probabilities.bug).toBeCloseTo((1 - p) / 2, 5);
    expect(sure.payload.score).toBe(sure.payload.probabilities.billing);
    expect(sure.payload.modelVersion).toMatch(/^linear@[0-9a-f]{12}$/);

    const [unsure] = detailsOf(stub.entries('EscalationRequested'));
    expect(unsure).toMatchObject({
      id: 'acme:t-3:t1:escalated',
      task: 'triage',
      payload: { task: 'triage', tier: 1, label: 'billing', features: [0, 0] },
    });
    expect(unsure.payload.score).toBeCloseTo(1 / 3, 5);
  });

  it('dead-letters what the task cannot take, each with its reason, and scores the rest of the batch', async () => {
    const text = sqsRecord(requestEvent('t-4', 'my invoice is wrong', 'acme', {}));
    const short = features('t-5', [1]);
    const label = features('t-6', [1, 0], { expectedLabel: 'spam' });
    const fine = features('t-7', [0, 1]);
    const otherTask = JSON.parse(requestEvent('t-8', 'x'));
    otherTask.detail.task = 'spam';
    const wrongTask = sqsRecord(JSON.stringify(otherTask));

    const response = await tier1({ Records: [text, short, label, fine, wrongTask] }, context);

    expect(response.batchItemFailures).toEqual([]);
    const reasons = Object.fromEntries(
      stub
        .deadLetters()
        .map((l) => [
          l.MessageBody,
          `${l.MessageAttributes.ERROR_CODE.StringValue}: ${l.MessageAttributes.ERROR_MESSAGE.StringValue}`,
        ]),
    );
    expect(reasons).toEqual({
      [text.body]:
        'InputMismatch: detail.payload: this task takes "features" (2 numbers), the request carries text (task triage)',
      [short.body]:
        'InputMismatch: detail.payload: "features" holds 1 number, this task takes exactly 2 (task triage)',
      [label.body]:
        'UnknownLabel: detail.payload.expectedLabel: "spam" is not a label of task triage (billing, bug, other)',
      [wrongTask.body]:
        "WrongTask: detail.task: this function serves task triage, the request is for task spam; check the stage's routing for task spam",
    });
    expect(detailsOf(stub.entries('InferenceCompleted')).map((d) => d.payload.sourceEventId)).toEqual([
      't-7',
    ]);
    expect(
      detailsOf(stub.entries('InferenceFailed'))
        .map((d) => [d.task, d.payload.task, d.payload.errorCode])
        .sort(),
    ).toEqual([
      ['triage', 'triage', 'InputMismatch'],
      ['triage', 'triage', 'InputMismatch'],
      ['triage', 'triage', 'UnknownLabel'],
      ['triage', 'triage', 'WrongTask'],
    ]);
  });
});
