import type { QueueModel, SqsMessageAttribute } from '../model.js';
import {
  batchError,
  invalidAttributeName,
  invalidParameter,
  missingParameter,
  SqsError,
  unsupportedOperation,
} from './errors.js';
import { md5OfMessageAttributes } from './md5.js';
import type { QueueStore, StoredReceivedMessage } from './store.js';
import { checkMessageBodyType, MAX_MESSAGE_BYTES, validateMessage } from './validate.js';

/**
 * The SQS AWS JSON 1.0 protocol as the SDK v3 speaks it (`X-Amz-Target: AmazonSQS.<Operation>`,
 * `application/x-amz-json-1.0`), without HTTP: the caller parses the JSON body and writes the answer.
 * Errors carry `__type` and the query-compatible `x-amzn-query-error` header the SDK maps to its
 * exception classes (e.g. `QueueDoesNotExist`).
 */
export interface SqsResponse {
  status: number;
  headers: Record<string, string>;
  body: unknown;
}

type Input = Record<string, unknown>;
type Handler = (store: QueueStore, input: Input) => Promise<unknown> | unknown;

const CONTENT_TYPE = { 'content-type': 'application/x-amz-json-1.0' };
const BATCH_ID = /^[A-Za-z0-9_-]{1,80}$/;
const SYSTEM_ATTRIBUTES = new Set([
  'All',
  'SenderId',
  'SentTimestamp',
  'ApproximateReceiveCount',
  'ApproximateFirstReceiveTimestamp',
  'SequenceNumber',
  'MessageDeduplicationId',
  'MessageGroupId',
  'AWSTraceHeader',
  'DeadLetterQueueSourceArn',
]);
const QUEUE_ATTRIBUTES = [
  'ApproximateNumberOfMessages',
  'ApproximateNumberOfMessagesNotVisible',
  'ApproximateNumberOfMessagesDelayed',
  'QueueArn',
  'VisibilityTimeout',
  'MessageRetentionPeriod',
  'MaximumMessageSize',
  'DelaySeconds',
  'ReceiveMessageWaitTimeSeconds',
  'RedrivePolicy',
  'SqsManagedSseEnabled',
] as const;

/** What the endpoint passes for a request body that is not JSON; answered with SerializationException. */
export const MALFORMED_JSON: unique symbol = Symbol('malformed JSON body');

export async function handleSqsRequest(
  store: QueueStore,
  target: string,
  body: unknown,
): Promise<SqsResponse> {
  try {
    const operation = target.startsWith('AmazonSQS.') ? target.slice('AmazonSQS.'.length) : undefined;
    const handler =
      operation !== undefined && Object.hasOwn(OPERATIONS, operation) ? OPERATIONS[operation] : undefined;
    if (handler === undefined) {
      return errorResponse(
        new SqsError(
          'UnknownOperationException',
          'UnknownOperationException',
          `The local SQS does not support the operation ${JSON.stringify(target)}.`,
        ),
      );
    }
    if (body === MALFORMED_JSON) {
      throw new SqsError(
        'SerializationException',
        'SerializationException',
        'The request body is not valid JSON.',
      );
    }
    const input = body === undefined || body === null ? {} : body;
    if (typeof input !== 'object' || Array.isArray(input)) {
      throw invalidParameter('The request body must be a JSON object.');
    }
    const out = await handler(store, input as Input);
    return { status: 200, headers: { ...CONTENT_TYPE }, body: out ?? {} };
  } catch (e) {
    if (e instanceof SqsError) return errorResponse(e);
    const message = e instanceof Error ? e.message : String(e);
    return errorResponse(new SqsError('InternalError', 'InternalError', message, 500, 'Receiver'));
  }
}

function errorResponse(e: SqsError): SqsResponse {
  return {
    status: e.status,
    headers: { ...CONTENT_TYPE, 'x-amzn-query-error': `${e.code};${e.fault}` },
    body: { __type: `com.amazonaws.sqs#${e.shape}`, message: e.message },
  };
}

function str(input: Input, name: string): string {
  const v = input[name];
  if (v === undefined || v === null || v === '') throw missingParameter(name);
  if (typeof v !== 'string') throw invalidParameter(`Parameter ${name} must be a string.`);
  return v;
}

function optInt(input: Input, name: string): number | undefined {
  const v = input[name];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number')
    throw invalidParameter(
      `Value ${String(v)} for parameter ${name} is invalid. Reason: must be an integer.`,
    );
  return v;
}

function optStrings(input: Input, name: string): string[] | undefined {
  const v = input[name];
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) {
    throw invalidParameter(`Parameter ${name} must be a list of strings.`);
  }
  return v as string[];
}

function attributesOf(v: unknown): Record<string, SqsMessageAttribute> | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'object' || Array.isArray(v)) throw invalidParameter('MessageAttributes must be a map.');
  return v as Record<string, SqsMessageAttribute>;
}

/** Checks batch entries as SQS does before looking at any entry's content. */
function batchEntries(input: Input): Input[] {
  const entries = input.Entries;
  if (entries === undefined || entries === null || (Array.isArray(entries) && entries.length === 0)) {
    throw batchError('EmptyBatchRequest', 'There should be at least one entry in the request (Entries).');
  }
  if (!Array.isArray(entries)) throw invalidParameter('Entries must be a list.');
  if (entries.length > 10) {
    throw batchError(
      'TooManyEntriesInBatchRequest',
      `Maximum number of entries per request are 10. You have sent ${entries.length}.`,
    );
  }
  const ids = new Set<string>();
  for (const entry of entries as Input[]) {
    const id = entry?.Id;
    if (typeof id !== 'string' || !BATCH_ID.test(id)) {
      throw batchError(
        'InvalidBatchEntryId',
        `A batch entry id can only contain alphanumeric characters, hyphens and underscores, 1 to 80 of them: ${JSON.stringify(id)}.`,
      );
    }
    if (ids.has(id)) throw batchError('BatchEntryIdsNotDistinct', `Id ${id} repeated.`);
    ids.add(id);
  }
  return entries as Input[];
}

function failure(
  id: string,
  e: unknown,
): { Id: string; SenderFault: boolean; Code: string; Message: string } {
  if (e instanceof SqsError)
    return { Id: id, SenderFault: e.fault === 'Sender', Code: e.code, Message: e.message };
  return {
    Id: id,
    SenderFault: false,
    Code: 'InternalError',
    Message: e instanceof Error ? e.message : String(e),
  };
}

/** Runs one entry's operation per batch entry; failures are reported per entry, as SQS does. */
async function runBatch<T>(
  entries: Input[],
  run: (entry: Input) => Promise<T>,
): Promise<{ Successful: T[]; Failed: ReturnType<typeof failure>[] }> {
  const results = await Promise.allSettled(entries.map(run));
  const Successful: T[] = [];
  const Failed: ReturnType<typeof failure>[] = [];
  results.forEach((r, i) => {
    if (r.status === 'fulfilled') Successful.push(r.value);
    else Failed.push(failure(String(entries[i]?.Id), r.reason));
  });
  return { Successful, Failed };
}

async function sendOne(store: QueueStore, queue: string, entry: Input) {
  const attributes = attributesOf(entry.MessageAttributes);
  const sent = await store.send(queue, entry.MessageBody as string, attributes, {
    delaySeconds: optInt(entry, 'DelaySeconds'),
  });
  const out: Record<string, string> = { MessageId: sent.messageId, MD5OfMessageBody: sent.md5OfMessageBody };
  if (sent.md5OfMessageAttributes !== undefined) out.MD5OfMessageAttributes = sent.md5OfMessageAttributes;
  return out;
}

function selectMessageAttributes(
  m: StoredReceivedMessage,
  names: string[] | undefined,
): Record<string, SqsMessageAttribute> | undefined {
  const all = m.messageAttributes;
  const keys = Object.keys(all);
  if (names === undefined || names.length === 0 || keys.length === 0) return undefined;
  if (names.includes('All') || names.includes('.*')) return all;
  const out: Record<string, SqsMessageAttribute> = {};
  for (const key of keys) {
    const wanted = names.some((n) => (n.endsWith('.*') ? key.startsWith(n.slice(0, -1)) : n === key));
    if (wanted) out[key] = all[key] as SqsMessageAttribute;
  }
  return Object.keys(out).length === 0 ? undefined : out;
}

function selectSystemAttributes(
  m: StoredReceivedMessage,
  names: string[] | undefined,
): Record<string, string> | undefined {
  if (names === undefined || names.length === 0) return undefined;
  if (names.includes('All')) return { ...m.attributes };
  const out: Record<string, string> = {};
  for (const name of names) {
    const value = m.attributes[name];
    if (value !== undefined) out[name] = value;
  }
  return Object.keys(out).length === 0 ? undefined : out;
}

function queueAttributes(store: QueueStore, model: QueueModel): Record<string, string> {
  const counts = store.counts(model.arn);
  const attributes: Record<string, string> = {
    ApproximateNumberOfMessages: String(counts.visible),
    ApproximateNumberOfMessagesNotVisible: String(counts.inFlight),
    ApproximateNumberOfMessagesDelayed: String(counts.delayed),
    QueueArn: model.arn,
    VisibilityTimeout: String(model.visibilityTimeoutSeconds),
    MessageRetentionPeriod: String(model.messageRetentionSeconds),
    MaximumMessageSize: String(MAX_MESSAGE_BYTES),
    DelaySeconds: '0',
    ReceiveMessageWaitTimeSeconds: '0',
    SqsManagedSseEnabled: String(model.sqsManagedSseEnabled ?? false),
  };
  if (model.redrive !== undefined) {
    attributes.RedrivePolicy = JSON.stringify({
      deadLetterTargetArn: model.redrive.deadLetterTargetArn,
      maxReceiveCount: model.redrive.maxReceiveCount,
    });
  }
  return attributes;
}

const OPERATIONS: Record<string, Handler> = {
  async SendMessage(store, input) {
    const queue = str(input, 'QueueUrl');
    store.queueModel(queue);
    return sendOne(store, queue, input);
  },

  async SendMessageBatch(store, input) {
    const queue = str(input, 'QueueUrl');
    store.queueModel(queue);
    const entries = batchEntries(input);
    // A body of the wrong JSON type makes the whole request malformed, as it does for SendMessage;
    // a missing or invalid string body fails its entry alone (below).
    entries.forEach((entry, i) => {
      checkMessageBodyType(entry.MessageBody, `Entries[${i}].MessageBody`);
    });
    let total = 0;
    for (const entry of entries) {
      try {
        total += validateMessage(entry.MessageBody, attributesOf(entry.MessageAttributes)).total;
      } catch {
        // Reported per entry below.
      }
    }
    if (total > MAX_MESSAGE_BYTES) {
      throw batchError(
        'BatchRequestTooLong',
        `Batch requests cannot be longer than ${MAX_MESSAGE_BYTES} bytes. You have sent ${total} bytes.`,
      );
    }
    return runBatch(entries, (entry) =>
      sendOne(store, queue, entry).then((r) => ({ Id: entry.Id as string, ...r })),
    );
  },

  async ReceiveMessage(store, input) {
    const queue = str(input, 'QueueUrl');
    // Validated before receiving: a failed request must not leave messages in flight.
    const systemNames =
      optStrings(input, 'MessageSystemAttributeNames') ?? optStrings(input, 'AttributeNames');
    for (const name of systemNames ?? []) {
      if (!SYSTEM_ATTRIBUTES.has(name)) throw invalidAttributeName(`Unknown Attribute ${name}.`);
    }
    const attributeNames = optStrings(input, 'MessageAttributeNames');
    const messages = await store.receive(queue, {
      maxMessages: optInt(input, 'MaxNumberOfMessages') ?? 1,
      waitTimeSeconds: optInt(input, 'WaitTimeSeconds'),
      visibilityTimeoutSeconds: optInt(input, 'VisibilityTimeout'),
    });
    if (messages.length === 0) return {};
    return {
      Messages: messages.map((m) => {
        const out: Record<string, unknown> = {
          MessageId: m.messageId,
          ReceiptHandle: m.receiptHandle,
          MD5OfBody: m.md5OfBody,
          Body: m.body,
        };
        const system = selectSystemAttributes(m, systemNames);
        if (system !== undefined) out.Attributes = system;
        const attributes = selectMessageAttributes(m, attributeNames);
        if (attributes !== undefined) {
          out.MessageAttributes = attributes;
          out.MD5OfMessageAttributes =
            attributes === m.messageAttributes
              ? m.md5OfMessageAttributes
              : md5OfMessageAttributes(attributes);
        }
        return out;
      }),
    };
  },

  async DeleteMessage(store, input) {
    await store.delete(str(input, 'QueueUrl'), str(input, 'ReceiptHandle'));
    return {};
  },

  async DeleteMessageBatch(store, input) {
    const queue = str(input, 'QueueUrl');
    store.queueModel(queue);
    return runBatch(batchEntries(input), async (entry) => {
      await store.delete(queue, str(entry, 'ReceiptHandle'));
      return { Id: entry.Id as string };
    });
  },

  async ChangeMessageVisibility(store, input) {
    const timeout = optInt(input, 'VisibilityTimeout');
    if (timeout === undefined) throw missingParameter('VisibilityTimeout');
    await store.changeVisibility(str(input, 'QueueUrl'), str(input, 'ReceiptHandle'), timeout);
    return {};
  },

  async ChangeMessageVisibilityBatch(store, input) {
    const queue = str(input, 'QueueUrl');
    store.queueModel(queue);
    return runBatch(batchEntries(input), async (entry) => {
      const timeout = optInt(entry, 'VisibilityTimeout');
      if (timeout === undefined) throw missingParameter('VisibilityTimeout');
      await store.changeVisibility(queue, str(entry, 'ReceiptHandle'), timeout);
      return { Id: entry.Id as string };
    });
  },

  GetQueueUrl(store, input) {
    const name = str(input, 'QueueName');
    if (name.includes('/') || name.includes(':'))
      throw invalidParameter(`Invalid queue name ${name}: give the name, not a URL or ARN.`);
    return { QueueUrl: store.queueModel(name).url };
  },

  GetQueueAttributes(store, input) {
    const model = store.queueModel(str(input, 'QueueUrl'));
    const names = optStrings(input, 'AttributeNames') ?? [];
    const all = queueAttributes(store, model);
    if (names.includes('All')) return { Attributes: all };
    const out: Record<string, string> = {};
    for (const name of names) {
      if (!(QUEUE_ATTRIBUTES as readonly string[]).includes(name))
        throw invalidAttributeName(`Unknown Attribute ${name}.`);
      const value = all[name];
      if (value !== undefined) out[name] = value;
    }
    return Object.keys(out).length === 0 ? {} : { Attributes: out };
  },

  ListQueues(store, input) {
    const prefix = typeof input.QueueNamePrefix === 'string' ? input.QueueNamePrefix : '';
    const maxResults = optInt(input, 'MaxResults');
    if (maxResults !== undefined && (maxResults < 1 || maxResults > 1000 || !Number.isInteger(maxResults))) {
      throw invalidParameter(
        `Value ${maxResults} for parameter MaxResults is invalid. Reason: must be from 1 to 1000.`,
      );
    }
    const urls = store
      .queueModels()
      .filter((m) => m.name.startsWith(prefix))
      .map((m) => m.url);
    const start =
      typeof input.NextToken === 'string'
        ? Number.parseInt(Buffer.from(input.NextToken, 'base64').toString(), 10) || 0
        : 0;
    const end = maxResults === undefined ? urls.length : Math.min(urls.length, start + maxResults);
    const out: Record<string, unknown> = { QueueUrls: urls.slice(start, end) };
    if (maxResults !== undefined && end < urls.length)
      out.NextToken = Buffer.from(String(end)).toString('base64');
    return out;
  },

  async PurgeQueue(store, input) {
    await store.purge(str(input, 'QueueUrl'));
    return {};
  },

  ListDeadLetterSourceQueues(store, input) {
    return { queueUrls: store.deadLetterSourceQueues(str(input, 'QueueUrl')).map((m) => m.url) };
  },

  async StartMessageMoveTask(store, input) {
    const destinationArn = input.DestinationArn;
    if (destinationArn !== undefined && typeof destinationArn !== 'string') {
      throw invalidParameter('DestinationArn must be a string.');
    }
    const { taskHandle } = await store.startMessageMoveTask({
      sourceArn: str(input, 'SourceArn'),
      destinationArn: destinationArn || undefined,
      maxNumberOfMessagesPerSecond: optInt(input, 'MaxNumberOfMessagesPerSecond'),
    });
    return { TaskHandle: taskHandle };
  },

  ListMessageMoveTasks(store, input) {
    const tasks = store.listMessageMoveTasks({
      sourceArn: str(input, 'SourceArn'),
      maxResults: optInt(input, 'MaxResults'),
    });
    return {
      Results: tasks.map((t) => ({
        TaskHandle: t.taskHandle,
        Status: t.status,
        SourceArn: t.sourceArn,
        DestinationArn: t.destinationArn,
        MaxNumberOfMessagesPerSecond: t.maxNumberOfMessagesPerSecond,
        ApproximateNumberOfMessagesMoved: t.approximateNumberOfMessagesMoved,
        ApproximateNumberOfMessagesToMove: t.approximateNumberOfMessagesToMove,
        FailureReason: t.failureReason,
        StartedTimestamp: t.startedTimestamp,
      })),
    };
  },

  async CancelMessageMoveTask(store, input) {
    const { approximateNumberOfMessagesMoved } = await store.cancelMessageMoveTask({
      taskHandle: str(input, 'TaskHandle'),
    });
    return { ApproximateNumberOfMessagesMoved: approximateNumberOfMessagesMoved };
  },

  CreateQueue() {
    throw unsupportedOperation(
      'The local SQS serves the queues of the synthesized templates only: add the queue to the CDK app and re-synthesize.',
    );
  },
};
