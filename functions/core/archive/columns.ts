/**
 * The archive's columns: one row per event on the bus, the envelope flattened.
 *
 * A result's label probabilities stay in the `payload` column (the payload's JSON text), read with
 * `json_extract_scalar(payload, '$.probabilities.<label>')` the same way in Athena and DuckDB. A
 * column of their own cannot be filled safely: the rules' input transformers may only name paths
 * their patterns guarantee, EventBridge's `exists` matches leaves only, and the leaves of
 * `probabilities` are the labels, which differ per task. (A `map<string,double>` would also read
 * differently: DuckDB's `element_at` on a map answers a list, Athena's the value.)
 * The CDK app derives the Glue table and the archive rules' input transformers from this list
 * (rules.ts: each rule fills the columns its pattern guarantees, the others are absent, so NULL),
 * and the local runtime derives its Parquet schema from the synthesized Glue table.
 */
export type ArchiveColumnType = 'string' | 'bigint' | 'int' | 'double' | 'boolean';

export interface ArchiveColumn {
  readonly name: string;
  readonly type: ArchiveColumnType;
  /**
   * What fills the column: a JSONPath into the EventBridge event (`$.detail.id`), or one of
   * EventBridge's predefined input-transformer variables (`aws.events.event.ingestion-time`).
   */
  readonly from: string;
  readonly comment: string;
}

export const ARCHIVE_COLUMNS: readonly ArchiveColumn[] = [
  { name: 'event_id', type: 'string', from: '$.id', comment: 'EventBridge event id' },
  { name: 'detail_type', type: 'string', from: '$.detail-type', comment: 'EventBridge detail-type' },
  { name: 'source', type: 'string', from: '$.source', comment: 'EventBridge source' },
  { name: 'account', type: 'string', from: '$.account', comment: 'publishing account' },
  { name: 'region', type: 'string', from: '$.region', comment: 'bus region' },
  { name: 'event_time', type: 'string', from: '$.time', comment: 'EventBridge event time, ISO 8601' },
  { name: 'envelope_id', type: 'string', from: '$.detail.id', comment: 'envelope id (idempotency key)' },
  { name: 'tenant', type: 'string', from: '$.detail.tenant', comment: 'tenant id' },
  {
    name: 'task',
    type: 'string',
    from: '$.detail.task',
    comment:
      "task id: on requests that name one (NULL: the stage's first task), and on every result, escalation, failure and gap",
  },
  { name: 'stream', type: 'string', from: '$.detail.stream', comment: 'ordering stream within the tenant' },
  { name: 'seq', type: 'bigint', from: '$.detail.seq', comment: 'per-(tenant, stream) sequence number' },
  { name: 'hlc', type: 'string', from: '$.detail.hlc', comment: 'hybrid logical clock stamp' },
  { name: 'envelope_type', type: 'string', from: '$.detail.type', comment: 'envelope type' },
  { name: 'envelope_time', type: 'string', from: '$.detail.time', comment: 'producer time, ISO 8601' },
  {
    name: 'source_event_id',
    type: 'string',
    from: '$.detail.payload.sourceEventId',
    comment: 'for results and failures: the envelope id of the request',
  },
  { name: 'tier', type: 'int', from: '$.detail.payload.tier', comment: 'tier that produced a result' },
  { name: 'label', type: 'string', from: '$.detail.payload.label', comment: 'predicted label' },
  {
    name: 'score',
    type: 'double',
    from: '$.detail.payload.score',
    comment: 'model score of the predicted label',
  },
  {
    name: 'expected_label',
    type: 'string',
    from: '$.detail.payload.expectedLabel',
    comment: 'ground-truth label when the producer knows it',
  },
  {
    name: 'model_version',
    type: 'string',
    from: '$.detail.payload.modelVersion',
    comment: 'model sha256 prefix',
  },
  { name: 'latency_ms', type: 'double', from: '$.detail.payload.latencyMs', comment: 'inference latency' },
  {
    name: 'duplicate',
    type: 'boolean',
    from: '$.detail.payload.duplicate',
    comment: 'result served from cache',
  },
  { name: 'error_code', type: 'string', from: '$.detail.payload.errorCode', comment: 'failure code' },
  { name: 'error_message', type: 'string', from: '$.detail.payload.errorMessage', comment: 'failure reason' },
  {
    name: 'payload',
    type: 'string',
    from: '$.detail.payload',
    comment: "the whole payload as JSON text; a result's label probabilities are at $.probabilities",
  },
  {
    name: 'ingestion_time',
    type: 'string',
    from: 'aws.events.event.ingestion-time',
    comment: 'when EventBridge accepted the event, ISO 8601',
  },
];

/** Hive-style partitions written by Firehose from the arrival time (UTC). */
export const ARCHIVE_PARTITIONS = [
  { name: 'dt', type: 'string', comment: 'arrival date, yyyy-MM-dd' },
  { name: 'hour', type: 'string', comment: 'arrival hour, HH' },
] as const;

export const ARCHIVE_TABLE_NAME = 'events';

/** S3 key layout of the archive: Firehose writes it, partition projection reads it. */
export const ARCHIVE_DATA_PREFIX = 'events/';
export const ARCHIVE_ERROR_PREFIX = 'errors/';
