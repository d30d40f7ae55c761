import type { ReceivedMessage, SqsMessageAttribute } from '../model.js';

/** One record of the event Lambda's SQS event source mapping passes to a function. */
export interface SqsRecord {
  readonly messageId: string;
  readonly receiptHandle: string;
  readonly body: string;
  readonly attributes: Record<string, string>;
  readonly messageAttributes: Record<string, LambdaMessageAttribute>;
  readonly md5OfBody: string;
  readonly eventSource: 'aws:sqs';
  readonly eventSourceARN: string;
  readonly awsRegion: string;
}

/** Lambda's lower-camel shape of a message attribute (the SQS API's is upper-camel). */
export interface LambdaMessageAttribute {
  readonly stringValue?: string;
  readonly binaryValue?: string;
  readonly stringListValues: string[];
  readonly binaryListValues: string[];
  readonly dataType: string;
}

export interface SqsEvent {
  readonly Records: SqsRecord[];
}

function lambdaAttribute(attribute: SqsMessageAttribute): LambdaMessageAttribute {
  return {
    ...(attribute.StringValue === undefined ? {} : { stringValue: attribute.StringValue }),
    ...(attribute.BinaryValue === undefined ? {} : { binaryValue: attribute.BinaryValue }),
    stringListValues: [],
    binaryListValues: [],
    dataType: attribute.DataType,
  };
}

export function buildSqsEvent(
  messages: readonly ReceivedMessage[],
  queueArn: string,
  region: string,
): SqsEvent {
  return { Records: messages.map((message) => toSqsRecord(message, queueArn, region)) };
}

export function toSqsRecord(message: ReceivedMessage, queueArn: string, region: string): SqsRecord {
  return {
    messageId: message.messageId,
    receiptHandle: message.receiptHandle,
    body: message.body,
    attributes: { ...message.attributes },
    messageAttributes: Object.fromEntries(
      Object.entries(message.messageAttributes).map(([name, value]) => [name, lambdaAttribute(value)]),
    ),
    md5OfBody: message.md5OfBody,
    eventSource: 'aws:sqs',
    eventSourceARN: queueArn,
    awsRegion: region,
  };
}

export type BatchVerdict =
  | { readonly kind: 'partial'; readonly failed: ReadonlySet<string> }
  | { readonly kind: 'all-failed'; readonly reason: string };

/**
 * Reads a `ReportBatchItemFailures` response as Lambda does: no response, no `batchItemFailures`
 * or an empty list means every record succeeded; an identifier that is empty, null, not a string
 * or not a message of this batch (and any response that is not an object) fails the whole batch.
 */
export function readBatchItemFailures(payload: unknown, batchMessageIds: readonly string[]): BatchVerdict {
  if (payload === null || payload === undefined) return { kind: 'partial', failed: new Set() };
  if (typeof payload !== 'object' || Array.isArray(payload)) {
    return { kind: 'all-failed', reason: `the response is not a {"batchItemFailures": [...]} object` };
  }
  const list = (payload as { batchItemFailures?: unknown }).batchItemFailures;
  if (list === null || list === undefined) return { kind: 'partial', failed: new Set() };
  if (!Array.isArray(list)) return { kind: 'all-failed', reason: 'batchItemFailures is not a list' };
  const inBatch = new Set(batchMessageIds);
  const failed = new Set<string>();
  for (const item of list) {
    const id =
      typeof item === 'object' && item !== null
        ? (item as { itemIdentifier?: unknown }).itemIdentifier
        : undefined;
    if (typeof id !== 'string' || id === '') {
      return { kind: 'all-failed', reason: `invalid itemIdentifier in ${JSON.stringify(item)}` };
    }
    if (!inBatch.has(id)) {
      return { kind: 'all-failed', reason: `itemIdentifier "${id}" is not a messageId of this batch` };
    }
    failed.add(id);
  }
  return { kind: 'partial', failed };
}
