import { randomUUID } from 'node:crypto';

/**
 * The SQS query protocol (form-encoded `Action=...` in, XML out) that older AWS CLI v2 builds,
 * Debian's among them, still send. Requests are translated to the AWS JSON 1.0 shape and served by
 * the same handler as the SDK's requests, so there is one implementation of every operation.
 */
export interface JsonHandlerResponse {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: unknown;
}

export type JsonHandler = (target: string, input: unknown) => Promise<JsonHandlerResponse>;

export const QUERY_CONTENT_TYPE = 'application/x-www-form-urlencoded';
const NAMESPACE = 'http://queue.amazonaws.com/doc/2012-11-05/';

const NUMERIC = new Set([
  'MaxNumberOfMessages',
  'VisibilityTimeout',
  'WaitTimeSeconds',
  'DelaySeconds',
  'MaxNumberOfMessagesPerSecond',
  'MaxResults',
]);
/** Flattened query lists and the JSON member each becomes. */
const LIST_RENAMES = new Map<string, string>([
  ['AttributeName', 'AttributeNames'],
  ['MessageAttributeName', 'MessageAttributeNames'],
  ['MessageSystemAttributeName', 'MessageSystemAttributeNames'],
  ['SendMessageBatchRequestEntry', 'Entries'],
  ['DeleteMessageBatchRequestEntry', 'Entries'],
  ['ChangeMessageVisibilityBatchRequestEntry', 'Entries'],
]);
/** JSON list members and the XML element each item is written as (query lists are flattened). */
const XML_ITEMS = new Map<string, (action: string) => string>([
  ['QueueUrls', () => 'QueueUrl'],
  ['queueUrls', () => 'QueueUrl'],
  ['Messages', () => 'Message'],
  ['Successful', (action) => `${action}ResultEntry`],
  ['Failed', () => 'BatchResultErrorEntry'],
  ['Results', () => 'ListMessageMoveTasksResultEntry'],
]);

/** A query string whose parameters do not form a request (`a=1&a.b=2`, `MessageAttribute=x`). */
export class MalformedQueryError extends Error {
  override readonly name = 'MalformedQueryError';
}

/** Most parameters one request may carry; a batch of ten messages with attributes needs a few hundred. */
const MAX_QUERY_PARAMETERS = 2000;
/**
 * Actions whose response always holds an `<{Action}Result>` element, empty when there is nothing
 * to report (an empty receive, no queue matching the prefix): clients built on the query model
 * read that element unconditionally, and botocore fails with `'ReceiveMessageResult'` without it.
 * The other actions (DeleteMessage, PurgeQueue, TagQueue…) answer with ResponseMetadata alone.
 */
const ACTIONS_WITH_RESULT = new Set([
  'CancelMessageMoveTask',
  'ChangeMessageVisibilityBatch',
  'CreateQueue',
  'DeleteMessageBatch',
  'GetQueueAttributes',
  'GetQueueUrl',
  'ListDeadLetterSourceQueues',
  'ListMessageMoveTasks',
  'ListQueueTags',
  'ListQueues',
  'ReceiveMessage',
  'SendMessage',
  'SendMessageBatch',
  'StartMessageMoveTask',
]);

export async function handleSqsQueryRequest(
  handle: JsonHandler,
  body: string,
): Promise<{ status: number; headers: Record<string, string>; body: string }> {
  const params = new URLSearchParams(body);
  const action = params.get('Action') ?? '';
  const requestId = randomUUID();
  if (!/^[A-Za-z]+$/.test(action)) {
    return xmlError(400, 'MissingAction', 'The request must contain the parameter Action.', requestId);
  }
  let input: Record<string, unknown>;
  try {
    input = toJsonInput(params);
  } catch (error) {
    if (!(error instanceof MalformedQueryError)) throw error;
    return xmlError(400, 'MalformedQueryString', error.message, requestId);
  }
  const response = await handle(`AmazonSQS.${action}`, input);
  if (response.status >= 300) {
    const error = response.body as { __type?: string; message?: string; Message?: string } | undefined;
    const queryError = response.headers['x-amzn-query-error']?.split(';')[0];
    const code = queryError ?? error?.__type?.split('#').pop() ?? 'InternalFailure';
    return xmlError(response.status, code, error?.message ?? error?.Message ?? 'request failed', requestId);
  }
  const result = toXml(response.body as Record<string, unknown>, action);
  const resultElement =
    result || ACTIONS_WITH_RESULT.has(action) ? `<${action}Result>${result}</${action}Result>` : '';
  return {
    status: 200,
    headers: { 'content-type': 'text/xml' },
    body: `<?xml version="1.0"?><${action}Response xmlns="${NAMESPACE}">${resultElement}<ResponseMetadata><RequestId>${requestId}</RequestId></ResponseMetadata></${action}Response>`,
  };
}

/**
 * `MessageAttribute.1.Value.StringValue=x` and friends → the JSON 1.0 request members. The tree is
 * built of prototype-less objects: a parameter named `__proto__.x` or `constructor.prototype.x`
 * is an ordinary (unknown) member, never a path into Object.prototype.
 */
export function toJsonInput(params: URLSearchParams): Record<string, unknown> {
  const tree: Record<string, unknown> = Object.create(null);
  let count = 0;
  for (const [key, value] of params) {
    if (key === 'Action' || key === 'Version') continue;
    if (++count > MAX_QUERY_PARAMETERS) {
      throw new MalformedQueryError(`The request has more than ${MAX_QUERY_PARAMETERS} parameters.`);
    }
    let node = tree;
    const parts = key.split('.');
    parts.forEach((part, i) => {
      const existing = Object.hasOwn(node, part) ? node[part] : undefined;
      if (i === parts.length - 1) {
        if (existing !== undefined)
          throw new MalformedQueryError(
            `Parameter ${key} is given twice, or also as a prefix of another parameter.`,
          );
        node[part] = NUMERIC.has(part) ? Number(value) : value;
      } else {
        if (existing !== undefined && (typeof existing !== 'object' || existing === null)) {
          throw new MalformedQueryError(
            `Parameter ${parts.slice(0, i + 1).join('.')} is given both as a value and as a prefix of ${key}.`,
          );
        }
        if (existing === undefined) node[part] = Object.create(null);
        node = node[part] as Record<string, unknown>;
      }
    });
  }
  return normalise(tree) as Record<string, unknown>;
}

/** `Name`/`Value` pairs of a flattened query map (`MessageAttribute.1.Name=...`), as an object. */
function pairsToObject(key: string, pairs: unknown): Record<string, unknown> {
  if (!Array.isArray(pairs)) {
    throw new MalformedQueryError(`${key} must be given as ${key}.N.Name and ${key}.N.Value, N from 1.`);
  }
  const out: Record<string, unknown> = Object.create(null);
  for (const pair of pairs) {
    const name = (pair as { Name?: unknown } | null)?.Name;
    if (typeof name !== 'string') {
      throw new MalformedQueryError(`Each ${key}.N needs a ${key}.N.Name.`);
    }
    out[name] = (pair as { Value?: unknown }).Value;
  }
  return out;
}

function normalise(node: unknown): unknown {
  if (node === null || typeof node !== 'object') return node;
  const record = node as Record<string, unknown>;
  const keys = Object.keys(record);
  if (keys.length > 0 && keys.every((k) => /^\d+$/.test(k))) {
    return keys.sort((a, b) => Number(a) - Number(b)).map((k) => normalise(record[k]));
  }
  const out: Record<string, unknown> = Object.create(null);
  for (const [key, value] of Object.entries(record)) {
    const normalised = normalise(value);
    if (key === 'MessageAttribute' || key === 'MessageSystemAttribute') {
      out[`${key}s`] = pairsToObject(key, normalised);
    } else if (key === 'Attribute') {
      out.Attributes = pairsToObject(key, normalised);
    } else {
      out[LIST_RENAMES.get(key) ?? key] = normalised;
    }
  }
  return out;
}

function toXml(value: Record<string, unknown> | undefined, action: string): string {
  if (!value) return '';
  let xml = '';
  for (const [key, member] of Object.entries(value)) {
    if (member === undefined || member === null) continue;
    const item = XML_ITEMS.get(key);
    if (item && Array.isArray(member)) {
      const name = item(action);
      for (const entry of member) {
        xml +=
          typeof entry === 'object'
            ? `<${name}>${toXml(entry as Record<string, unknown>, action)}</${name}>`
            : element(name, entry);
      }
    } else if (key === 'Attributes') {
      for (const [name, v] of Object.entries(member as Record<string, unknown>)) {
        xml += `<Attribute>${element('Name', name)}${element('Value', v)}</Attribute>`;
      }
    } else if (key === 'MessageAttributes') {
      for (const [name, v] of Object.entries(member as Record<string, Record<string, unknown>>)) {
        xml += `<MessageAttribute>${element('Name', name)}<Value>${toXml(v, action)}</Value></MessageAttribute>`;
      }
    } else if (typeof member === 'object') {
      xml += `<${key}>${toXml(member as Record<string, unknown>, action)}</${key}>`;
    } else {
      xml += element(key, member);
    }
  }
  return xml;
}

function element(name: string, value: unknown): string {
  return `<${name}>${escapeXml(String(value))}</${name}>`;
}

export function escapeXml(text: string): string {
  return text.replace(/[<>&'"\r]/g, (c) => `&#${c.charCodeAt(0)};`);
}

function xmlError(status: number, code: string, message: string, requestId: string) {
  const type = status >= 500 ? 'Receiver' : 'Sender';
  return {
    status,
    headers: { 'content-type': 'text/xml' },
    body: `<?xml version="1.0"?><ErrorResponse xmlns="${NAMESPACE}"><Error><Type>${type}</Type>${element('Code', code)}${element('Message', message)}<Detail/></Error><RequestId>${requestId}</RequestId></ErrorResponse>`,
  };
}
