import type { RequestContext } from './conditions';

/**
 * The action table: which IAM action, on which resource ARN and with which request context, each
 * call the local endpoints serve is authorized by (the Service Authorization Reference's "Actions"
 * tables, for the operations the project and its tools make). A call that is not in this table is
 * never allowed silently: {@link UnmappedOperationError} names it, and the endpoint answers it as an
 * error when a function's (or service role's) credentials made it.
 */
export interface AccessRequest {
  /** `service:Action`, as policies name it. */
  readonly action: string;
  readonly resource: string;
  readonly context?: RequestContext;
}

export type LocalService = 'sqs' | 'events' | 'dynamodb' | 's3' | 'firehose';

export class UnmappedOperationError extends Error {
  override readonly name = 'UnmappedOperationError';

  constructor(
    readonly service: LocalService,
    readonly operation: string,
  ) {
    super(
      `the local IAM has no action mapping for ${service} ${operation}, so it cannot authorize it: add the ` +
        `operation to the action table in local/iam/actions.ts (action, resource ARN, context keys, as the ` +
        `Service Authorization Reference lists them)`,
    );
  }
}

export interface Place {
  readonly account: string;
  readonly region: string;
}

type Input = Record<string, unknown>;
type Mapper = (input: Input, place: Place) => AccessRequest[];

const text = (input: Input, key: string): string => (typeof input[key] === 'string' ? input[key] : '');

/** A queue's ARN from its URL (`.../<account>/<name>`), its ARN or its name. */
export function queueArnOf(queue: string, place: Place): string {
  if (queue.startsWith('arn:')) return queue;
  const parts = queue.replace(/\/+$/, '').split('/');
  const name = parts.at(-1) ?? '';
  const account = parts.length >= 2 && /^\d{12}$/.test(parts.at(-2) ?? '') ? parts.at(-2) : place.account;
  return `arn:aws:sqs:${place.region}:${account}:${name}`;
}

const onQueue =
  (action: string, member = 'QueueUrl'): Mapper =>
  (input, place) => [{ action, resource: queueArnOf(text(input, member), place) }];
const anywhere =
  (action: string): Mapper =>
  () => [{ action, resource: '*' }];

/** SQS (JSON and query protocols): batch calls are authorized by their single-message actions. */
const SQS: Record<string, Mapper> = {
  SendMessage: onQueue('sqs:SendMessage'),
  SendMessageBatch: onQueue('sqs:SendMessage'),
  ReceiveMessage: onQueue('sqs:ReceiveMessage'),
  DeleteMessage: onQueue('sqs:DeleteMessage'),
  DeleteMessageBatch: onQueue('sqs:DeleteMessage'),
  ChangeMessageVisibility: onQueue('sqs:ChangeMessageVisibility'),
  ChangeMessageVisibilityBatch: onQueue('sqs:ChangeMessageVisibility'),
  GetQueueAttributes: onQueue('sqs:GetQueueAttributes'),
  GetQueueUrl: onQueue('sqs:GetQueueUrl', 'QueueName'),
  PurgeQueue: onQueue('sqs:PurgeQueue'),
  ListDeadLetterSourceQueues: onQueue('sqs:ListDeadLetterSourceQueues'),
  StartMessageMoveTask: onQueue('sqs:StartMessageMoveTask', 'SourceArn'),
  ListMessageMoveTasks: onQueue('sqs:ListMessageMoveTasks', 'SourceArn'),
  ListQueues: anywhere('sqs:ListQueues'),
};

function busArn(nameOrArn: string | undefined, place: Place): string {
  if (nameOrArn?.startsWith('arn:')) return nameOrArn;
  return `arn:aws:events:${place.region}:${place.account}:event-bus/${nameOrArn || 'default'}`;
}

/** EventBridge: PutEvents is authorized per entry, with the entry's source and detail type as context. */
const EVENTS: Record<string, Mapper> = {
  PutEvents: (input, place) =>
    (Array.isArray(input.Entries) ? (input.Entries as Input[]) : []).map((entry) => ({
      action: 'events:PutEvents',
      resource: busArn(text(entry ?? {}, 'EventBusName'), place),
      context: {
        'events:source': text(entry ?? {}, 'Source'),
        'events:detail-type': text(entry ?? {}, 'DetailType'),
      },
    })),
  TestEventPattern: anywhere('events:TestEventPattern'),
  ListRules: anywhere('events:ListRules'),
  ListEventBuses: anywhere('events:ListEventBuses'),
  DescribeEventBus: (input, place) => [
    { action: 'events:DescribeEventBus', resource: busArn(text(input, 'Name'), place) },
  ],
};

const tableArn = (name: string, place: Place) =>
  `arn:aws:dynamodb:${place.region}:${place.account}:table/${name}`;
const onTable =
  (action: string): Mapper =>
  (input, place) => {
    const table = tableArn(text(input, 'TableName'), place);
    const index = text(input, 'IndexName');
    return [{ action, resource: index ? `${table}/index/${index}` : table }];
  };
const perTable =
  (action: string): Mapper =>
  (input, place) =>
    Object.keys((input.RequestItems ?? {}) as Input).map((name) => ({
      action,
      resource: tableArn(name, place),
    }));

/** DynamoDB: batch calls are authorized per table by the batch action itself. */
const DYNAMODB: Record<string, Mapper> = {
  GetItem: onTable('dynamodb:GetItem'),
  PutItem: onTable('dynamodb:PutItem'),
  UpdateItem: onTable('dynamodb:UpdateItem'),
  DeleteItem: onTable('dynamodb:DeleteItem'),
  Query: onTable('dynamodb:Query'),
  Scan: onTable('dynamodb:Scan'),
  DescribeTable: onTable('dynamodb:DescribeTable'),
  CreateTable: onTable('dynamodb:CreateTable'),
  BatchGetItem: perTable('dynamodb:BatchGetItem'),
  BatchWriteItem: perTable('dynamodb:BatchWriteItem'),
  ListTables: anywhere('dynamodb:ListTables'),
};

const deliveryStreamArn = (name: string, place: Place) =>
  name.startsWith('arn:') ? name : `arn:aws:firehose:${place.region}:${place.account}:deliverystream/${name}`;
const onStream =
  (action: string): Mapper =>
  (input, place) => [{ action, resource: deliveryStreamArn(text(input, 'DeliveryStreamName'), place) }];

/** Firehose: PutRecordBatch is an action of its own (not PutRecord per record). */
const FIREHOSE: Record<string, Mapper> = {
  PutRecord: onStream('firehose:PutRecord'),
  PutRecordBatch: onStream('firehose:PutRecordBatch'),
};

const TABLES: Record<JsonProtocolService, Record<string, Mapper>> = {
  sqs: SQS,
  events: EVENTS,
  dynamodb: DYNAMODB,
  firehose: FIREHOSE,
};

/** The services whose calls use a JSON protocol (S3 is REST). */
export type JsonProtocolService = 'sqs' | 'events' | 'dynamodb' | 'firehose';

/** What one JSON-protocol call needs; throws {@link UnmappedOperationError} for a call not in the table. */
export function accessRequestsOf(
  service: JsonProtocolService,
  operation: string,
  input: unknown,
  place: Place,
): AccessRequest[] {
  const table = TABLES[service];
  const mapper = Object.hasOwn(table, operation) ? table[operation] : undefined;
  if (!mapper) throw new UnmappedOperationError(service, operation);
  const body = input !== null && typeof input === 'object' && !Array.isArray(input) ? (input as Input) : {};
  return mapper(body, place);
}

/** An S3 REST call as the local S3 receives it. */
export interface S3Call {
  readonly method: string;
  /** Path-style: `/<bucket>` or `/<bucket>/<key>` (key still URL-encoded). */
  readonly path: string;
  readonly query: URLSearchParams;
  /** `x-amz-copy-source` of a copy. */
  readonly copySource?: string;
}

/** Sub-resources the table knows; any other (`?acl`, `?tagging`, `?policy`…) is unmapped. */
const S3_OBJECT_QUERY = new Set(['uploads', 'uploadId', 'partNumber', 'x-id', 'response-content-type']);
const S3_BUCKET_QUERY = new Set([
  'list-type',
  'prefix',
  'delimiter',
  'max-keys',
  'continuation-token',
  'start-after',
  'marker',
  'encoding-type',
  'fetch-owner',
  'delete',
  'location',
  'x-id',
]);

/** S3: object calls on `arn:aws:s3:::bucket/key`, bucket calls on `arn:aws:s3:::bucket`. */
export function s3AccessRequests(call: S3Call): AccessRequest[] {
  const [, bucket = '', ...rest] = call.path.split('/');
  const key = rest.map((p) => decodeURIComponent(p)).join('/');
  const method = call.method.toUpperCase();
  const params = [...call.query.keys()].filter((k) => !k.startsWith('X-Amz-'));
  const operation = `${method} /${bucket}${key ? '/<key>' : ''}${params.length ? `?${params.join('&')}` : ''}`;
  if (!bucket) {
    if (method === 'GET') return [{ action: 's3:ListAllMyBuckets', resource: '*' }];
    throw new UnmappedOperationError('s3', operation);
  }
  const bucketArn = `arn:aws:s3:::${bucket}`;
  if (!key) {
    if (params.some((p) => !S3_BUCKET_QUERY.has(p))) throw new UnmappedOperationError('s3', operation);
    if (call.query.has('delete')) {
      // The keys are in the body; DeleteObjects needs s3:DeleteObject on each (checked on the bucket's objects).
      return [{ action: 's3:DeleteObject', resource: `${bucketArn}/*` }];
    }
    if (call.query.has('location')) return [{ action: 's3:GetBucketLocation', resource: bucketArn }];
    if (method === 'GET' || method === 'HEAD') return [{ action: 's3:ListBucket', resource: bucketArn }];
    throw new UnmappedOperationError('s3', operation);
  }
  if (params.some((p) => !S3_OBJECT_QUERY.has(p))) throw new UnmappedOperationError('s3', operation);
  const objectArn = `${bucketArn}/${key}`;
  if (method === 'GET' || method === 'HEAD') return [{ action: 's3:GetObject', resource: objectArn }];
  if (method === 'DELETE') {
    return [
      {
        action: call.query.has('uploadId') ? 's3:AbortMultipartUpload' : 's3:DeleteObject',
        resource: objectArn,
      },
    ];
  }
  if (method === 'PUT' || method === 'POST') {
    const put: AccessRequest = { action: 's3:PutObject', resource: objectArn };
    if (!call.copySource) return [put];
    const source = decodeURIComponent(call.copySource.split('?')[0] ?? '').replace(/^\//, '');
    return [put, { action: 's3:GetObject', resource: `arn:aws:s3:::${source}` }];
  }
  throw new UnmappedOperationError('s3', operation);
}
