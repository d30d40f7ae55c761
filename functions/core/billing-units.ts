/**
 * How AWS counts the billable units of the services inferbus uses: the rounding and minimums of each
 * price dimension, with no prices (those are in `pricing.ts`) and no I/O. The local runtime meters
 * with these rules and the cost model predicts with them, so both count the same way.
 *
 * Sources (AWS pricing pages and developer guides, checked 2025):
 * - EventBridge: "each 64 KB chunk of a payload is billed as 1 event"; an entry's size as PutEvents
 *   computes it (Time 14 bytes, Source, DetailType, Detail, each Resource, UTF-8).
 * - SQS: every API action is a request; "each 64 KB chunk of a payload is billed as 1 request"
 *   (a 256 KB SendMessage is 4 requests), empty receives included.
 * - Lambda: duration rounded up to the nearest 1 ms, times the configured memory (GB-seconds).
 * - Firehose (Direct PUT / EventBridge source): ingestion billed per record rounded up to 5 KB;
 *   format conversion per GB "based on GBs ingested in 5 KB increments".
 * - S3: PUT, COPY, POST and LIST are class A; GET, SELECT and all other requests class B; DELETE free.
 * - DynamoDB on demand: a read unit reads up to 4 KB strongly consistent (half for eventually
 *   consistent), each item of a BatchGetItem rounded on its own, a missing item still costs a read;
 *   a write unit writes up to 1 KB of the larger of the item before and after.
 * - Athena: bytes scanned rounded up to the megabyte, 10 MB minimum per query.
 */

export const KIB = 1024;
export const MIB = 1024 * 1024;

export const BILLING_RULES = {
  eventBridgeChunkBytes: 64 * KIB,
  sqsChunkBytes: 64 * KIB,
  lambdaGranularityMs: 1,
  firehoseRecordRoundingBytes: 5 * KIB,
  dynamoDbReadUnitBytes: 4 * KIB,
  dynamoDbWriteUnitBytes: 1 * KIB,
  athenaRoundingBytes: MIB,
  athenaMinBytesPerQuery: 10 * MIB,
  /** PutEvents counts a present `Time` as 14 bytes whatever its text. */
  eventBridgeTimeBytes: 14,
} as const;

function nonNegative(what: string, value: number): void {
  if (!Number.isFinite(value) || value < 0) {
    throw new RangeError(`${what} must be a finite number of at least 0, got ${value}`);
  }
}

/** `value` in whole `chunk`s, at least one (a call with an empty payload is still one unit). */
export function chunksOf(bytes: number, chunkBytes: number): number {
  nonNegative('a payload size in bytes', bytes);
  return Math.max(1, Math.ceil(bytes / chunkBytes));
}

/** The fields of a PutEvents entry that count towards its size. */
export interface EventEntryFields {
  readonly Time?: unknown;
  readonly Source?: string;
  readonly DetailType?: string;
  readonly Detail?: string;
  readonly Resources?: readonly string[];
}

/** An entry's size as EventBridge computes it for PutEvents (and bills it). */
export function eventEntryBytes(entry: EventEntryFields): number {
  const utf8 = (text: string | undefined) => (text === undefined ? 0 : Buffer.byteLength(text, 'utf8'));
  return (
    (entry.Time === undefined || entry.Time === null ? 0 : BILLING_RULES.eventBridgeTimeBytes) +
    utf8(entry.Source) +
    utf8(entry.DetailType) +
    utf8(entry.Detail) +
    (entry.Resources ?? []).reduce((sum, resource) => sum + utf8(resource), 0)
  );
}

/** Custom events billed for one PutEvents entry of `bytes` (an entry of 65 KB is 2 events). */
export function eventBridgeEvents(bytes: number): number {
  return chunksOf(bytes, BILLING_RULES.eventBridgeChunkBytes);
}

/** SQS requests billed for one API call whose payload (messages sent or received) is `bytes`. */
export function sqsRequests(payloadBytes: number): number {
  return chunksOf(payloadBytes, BILLING_RULES.sqsChunkBytes);
}

/** An SQS message's payload: its body plus each attribute's name, type and value. */
export function sqsMessageBytes(
  body: string,
  attributes?: Readonly<
    Record<string, { DataType?: string; StringValue?: string; BinaryValue?: Uint8Array | string }>
  >,
): number {
  let bytes = Buffer.byteLength(body, 'utf8');
  for (const [name, value] of Object.entries(attributes ?? {})) {
    bytes += Buffer.byteLength(name) + Buffer.byteLength(value.DataType ?? '');
    if (value.StringValue !== undefined) bytes += Buffer.byteLength(value.StringValue);
    if (value.BinaryValue !== undefined)
      bytes +=
        typeof value.BinaryValue === 'string'
          ? Buffer.byteLength(value.BinaryValue, 'base64')
          : value.BinaryValue.byteLength;
  }
  return bytes;
}

/** Billed Lambda duration: rounded up to the next whole millisecond, at least 1 ms. */
export function lambdaBilledMs(durationMs: number): number {
  nonNegative('a Lambda duration in ms', durationMs);
  return Math.max(BILLING_RULES.lambdaGranularityMs, Math.ceil(durationMs));
}

/** GB-seconds of one invocation at the function's configured memory. */
export function lambdaGbSeconds(durationMs: number, memoryMiB: number): number {
  nonNegative('a Lambda memory size in MiB', memoryMiB);
  return (lambdaBilledMs(durationMs) / 1000) * (memoryMiB / 1024);
}

/** GB-seconds of provisioned concurrency: `instances` environments of `memoryMiB` for `seconds`. */
export function provisionedConcurrencyGbSeconds(
  instances: number,
  memoryMiB: number,
  seconds: number,
): number {
  nonNegative('a provisioned concurrency', instances);
  nonNegative('a Lambda memory size in MiB', memoryMiB);
  nonNegative('a time in seconds', seconds);
  return instances * (memoryMiB / 1024) * seconds;
}

/** Firehose bytes billed for one record (ingestion, and format conversion alike). */
export function firehoseBilledBytes(recordBytes: number): number {
  return (
    chunksOf(recordBytes, BILLING_RULES.firehoseRecordRoundingBytes) *
    BILLING_RULES.firehoseRecordRoundingBytes
  );
}

export type S3RequestClass = 'A' | 'B' | 'free';

/**
 * The price class of an S3 REST request. `path` is the request path (path-style,
 * `/<bucket>[/<key>]`) and `query` its query string: a GET on a bucket is a LIST (class A).
 */
export function s3RequestClass(method: string, path: string, query = ''): S3RequestClass {
  const verb = method.toUpperCase();
  if (verb === 'DELETE') return 'free';
  if (verb === 'PUT' || verb === 'POST') return 'A';
  // Copy is a PUT with x-amz-copy-source; LIST is a GET on the bucket (no key) or ?uploads.
  const hasKey = /^\/[^/]+\/.+/.test(path);
  if (verb === 'GET' && (!hasKey || /(^|&)uploads(=|&|$)/.test(query))) return 'A';
  return 'B';
}

export type DynamoDbAttributeValue =
  | { S: string }
  | { N: string }
  | { B: string | Uint8Array }
  | { BOOL: boolean }
  | { NULL: boolean }
  | { SS: readonly string[] }
  | { NS: readonly string[] }
  | { BS: readonly (string | Uint8Array)[] }
  | { L: readonly DynamoDbAttributeValue[] }
  | { M: Readonly<Record<string, DynamoDbAttributeValue>> };

/** Bytes DynamoDB counts for a number: about one byte per two significant digits, plus one. */
function numberBytes(text: string): number {
  const digits = text
    .replace(/^[-+]/, '')
    .replace(/e.*$/i, '')
    .replace('.', '')
    .replace(/^0+/, '')
    .replace(/0+$/, '');
  return Math.ceil(Math.max(1, digits.length) / 2) + 1;
}

function binaryBytes(value: string | Uint8Array): number {
  return typeof value === 'string' ? Buffer.byteLength(value, 'base64') : value.byteLength;
}

/** Size of one attribute value as DynamoDB computes item sizes. */
export function dynamoDbValueBytes(value: DynamoDbAttributeValue): number {
  if ('S' in value) return Buffer.byteLength(value.S);
  if ('N' in value) return numberBytes(value.N);
  if ('B' in value) return binaryBytes(value.B);
  if ('BOOL' in value || 'NULL' in value) return 1;
  if ('SS' in value) return value.SS.reduce((s, v) => s + Buffer.byteLength(v), 0);
  if ('NS' in value) return value.NS.reduce((s, v) => s + numberBytes(v), 0);
  if ('BS' in value) return value.BS.reduce((s, v) => s + binaryBytes(v), 0);
  // Lists and maps: 3 bytes, plus 1 byte per element, plus the elements.
  if ('L' in value) return 3 + value.L.reduce((s, v) => s + 1 + dynamoDbValueBytes(v), 0);
  if ('M' in value)
    return (
      3 +
      Object.entries(value.M).reduce((s, [k, v]) => s + 1 + Buffer.byteLength(k) + dynamoDbValueBytes(v), 0)
    );
  throw new TypeError(`not a DynamoDB attribute value: ${JSON.stringify(value)}`);
}

/** An item's size: the UTF-8 length of each attribute name plus the size of its value. */
export function dynamoDbItemBytes(item: Readonly<Record<string, DynamoDbAttributeValue>>): number {
  return Object.entries(item).reduce(
    (sum, [name, value]) => sum + Buffer.byteLength(name) + dynamoDbValueBytes(value),
    0,
  );
}

/** Read request units of reading one item of `itemBytes` (0 for a missing item still costs one read). */
export function dynamoDbReadUnits(itemBytes: number, consistency: 'strong' | 'eventual'): number {
  const units = chunksOf(itemBytes, BILLING_RULES.dynamoDbReadUnitBytes);
  return consistency === 'strong' ? units : units / 2;
}

/** Write request units of writing one item: the larger of its size before and after, in 1 KB units. */
export function dynamoDbWriteUnits(newItemBytes: number, oldItemBytes = 0): number {
  return chunksOf(Math.max(newItemBytes, oldItemBytes), BILLING_RULES.dynamoDbWriteUnitBytes);
}

/** Athena bytes billed for one query that scanned `scannedBytes`: to the megabyte, 10 MB at least. */
export function athenaBilledBytes(scannedBytes: number): number {
  nonNegative('the bytes a query scanned', scannedBytes);
  const rounded =
    Math.ceil(scannedBytes / BILLING_RULES.athenaRoundingBytes) * BILLING_RULES.athenaRoundingBytes;
  return Math.max(BILLING_RULES.athenaMinBytesPerQuery, rounded);
}

/** Billable units of one run, every service together (what the local runtime meters, what the model predicts). */
export interface BillableUsage {
  /** EventBridge custom events, in 64 KB units. */
  readonly eventBridgeEvents: number;
  /** SQS requests, in 64 KB chunks, every action (empty receives included). */
  readonly sqsRequests: number;
  readonly lambdaRequests: number;
  /** Duration GB-seconds billed at the on-demand price (invocations beyond provisioned concurrency). */
  readonly lambdaOnDemandGbSeconds: number;
  /** Duration GB-seconds on provisioned instances (billed at the provisioned duration price). */
  readonly lambdaProvisionedDurationGbSeconds: number;
  /** GB-seconds of provisioned concurrency kept ready. */
  readonly lambdaProvisionedConcurrencyGbSeconds: number;
  readonly firehoseRecords: number;
  /** Ingested bytes, each record rounded up to 5 KB. */
  readonly firehoseBilledBytes: number;
  /** Bytes converted to Parquet, in 5 KB increments like ingestion. */
  readonly firehoseFormatConversionBytes: number;
  readonly s3ClassARequests: number;
  readonly s3ClassBRequests: number;
  readonly dynamoDbReadUnits: number;
  readonly dynamoDbWriteUnits: number;
  readonly athenaQueries: number;
  /** Bytes billed (rounded up to the megabyte, 10 MB minimum per query). */
  readonly athenaBilledBytes: number;
}

export const NO_USAGE: BillableUsage = {
  eventBridgeEvents: 0,
  sqsRequests: 0,
  lambdaRequests: 0,
  lambdaOnDemandGbSeconds: 0,
  lambdaProvisionedDurationGbSeconds: 0,
  lambdaProvisionedConcurrencyGbSeconds: 0,
  firehoseRecords: 0,
  firehoseBilledBytes: 0,
  firehoseFormatConversionBytes: 0,
  s3ClassARequests: 0,
  s3ClassBRequests: 0,
  dynamoDbReadUnits: 0,
  dynamoDbWriteUnits: 0,
  athenaQueries: 0,
  athenaBilledBytes: 0,
};
