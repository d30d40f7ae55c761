import { randomUUID } from 'node:crypto';
import type { FirehoseSink } from '../model.js';
import { UnknownDeliveryStreamError } from './local-firehose.js';

/**
 * The Firehose operations the local endpoint answers, as AWS JSON 1.1
 * (`X-Amz-Target: Firehose_20150804.*`): PutRecord and PutRecordBatch, what the tier handlers
 * send their archive rows with. Limits as the API reference gives them: a record's data at most
 * 1,000 KiB, a batch at most 500 records and 4 MiB. A record that cannot be stored fails on its
 * own in a batch (its RequestResponses entry carries the error), as Firehose reports it.
 */
export const TARGET_PREFIX = 'Firehose_20150804.';
export const CONTENT_TYPE = 'application/x-amz-json-1.1';

export const MAX_RECORD_BYTES = 1000 * 1024;
export const MAX_BATCH_RECORDS = 500;
export const MAX_BATCH_BYTES = 4 * 1024 * 1024;

export interface FirehoseApiResponse {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: string;
}

class FirehoseApiError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

function respond(status: number, payload: unknown, extra: Record<string, string> = {}): FirehoseApiResponse {
  const body = JSON.stringify(payload);
  return {
    status,
    headers: { 'content-type': CONTENT_TYPE, 'x-amzn-requestid': randomUUID(), ...extra },
    body,
  };
}

const error = (code: string, message: string) =>
  respond(400, { __type: code, message }, { 'x-amzn-errortype': code });

export interface FirehoseApiContext {
  readonly sink: FirehoseSink;
  readonly account: string;
}

export async function handleFirehoseRequest(
  context: FirehoseApiContext,
  target: string,
  text: string,
): Promise<FirehoseApiResponse> {
  const operation = target.slice(TARGET_PREFIX.length);
  try {
    const body = parseBody(text);
    const stream = streamName(body);
    if (operation === 'PutRecord') {
      const data = recordData(body.Record, 'record');
      await put(context, stream, data);
      return respond(200, { RecordId: randomUUID(), Encrypted: false });
    }
    if (operation === 'PutRecordBatch') {
      const records = body.Records;
      if (!Array.isArray(records) || records.length < 1 || records.length > MAX_BATCH_RECORDS) {
        throw new FirehoseApiError(
          'ValidationException',
          `1 validation error detected: Value at 'records' failed to satisfy constraint: Member must have length between 1 and ${MAX_BATCH_RECORDS}`,
        );
      }
      const data = records.map((record, index) => recordData(record, `records.${index + 1}.member`));
      const total = data.reduce((sum, d) => sum + Buffer.byteLength(d), 0);
      if (total > MAX_BATCH_BYTES) {
        throw new FirehoseApiError(
          'InvalidArgumentException',
          `PutRecordBatch request of ${total} bytes exceeds the ${MAX_BATCH_BYTES}-byte limit; send fewer records per call`,
        );
      }
      const responses: Record<string, string>[] = [];
      let failed = 0;
      for (const item of data) {
        try {
          await put(context, stream, item);
          responses.push({ RecordId: randomUUID() });
        } catch (e) {
          if (e instanceof FirehoseApiError) throw e;
          failed++;
          responses.push({ ErrorCode: 'ServiceUnavailableException', ErrorMessage: (e as Error).message });
        }
      }
      return respond(200, { FailedPutCount: failed, Encrypted: false, RequestResponses: responses });
    }
    return error(
      'UnknownOperationException',
      `inferbus local serves Firehose PutRecord and PutRecordBatch, not ${operation || '(none)'}`,
    );
  } catch (e) {
    if (e instanceof FirehoseApiError) return error(e.code, e.message);
    throw e;
  }
}

async function put(context: FirehoseApiContext, stream: string, data: string): Promise<void> {
  try {
    await context.sink.putRecord(stream, data);
  } catch (e) {
    if (e instanceof UnknownDeliveryStreamError) {
      throw new FirehoseApiError(
        'ResourceNotFoundException',
        `Firehose ${stream} under account ${context.account} not found.`,
      );
    }
    throw e;
  }
}

type Json = Record<string, unknown>;

function parseBody(text: string): Json {
  let parsed: unknown;
  try {
    parsed = text.trim() === '' ? {} : JSON.parse(text);
  } catch {
    throw new FirehoseApiError('SerializationException', 'the request body is not JSON');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new FirehoseApiError('SerializationException', 'the request body is not a JSON object');
  }
  return parsed as Json;
}

function streamName(body: Json): string {
  const name = body.DeliveryStreamName;
  if (typeof name !== 'string' || name.length < 1 || name.length > 64) {
    throw new FirehoseApiError(
      'ValidationException',
      "1 validation error detected: Value at 'deliveryStreamName' failed to satisfy constraint: Member must have length between 1 and 64",
    );
  }
  return name;
}

/** A record's data: base64 in the JSON protocol, at most 1,000 KiB once decoded. */
function recordData(record: unknown, where: string): string {
  const data = (record as { Data?: unknown } | null)?.Data;
  if (typeof data !== 'string') {
    throw new FirehoseApiError(
      'ValidationException',
      `1 validation error detected: Value null at '${where}.data' failed to satisfy constraint: Member must not be null`,
    );
  }
  const bytes = Buffer.from(data, 'base64');
  if (bytes.length > MAX_RECORD_BYTES) {
    throw new FirehoseApiError(
      'ValidationException',
      `1 validation error detected: Value at '${where}.data' failed to satisfy constraint: Member must have length less than or equal to ${MAX_RECORD_BYTES}`,
    );
  }
  return bytes.toString('utf8');
}
