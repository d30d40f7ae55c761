import type { DeclaredCall } from '../core/declared-calls';
import { HANDLER_DETAIL_TYPES, RESULT_SOURCE } from '../core/events';

/** What every tier handler (createTierHandler) sends, whatever its tier. */
export const TIER_HANDLER_CALLS: readonly DeclaredCall[] = [
  {
    service: 'events',
    operation: 'PutEvents',
    resource: { kind: 'bus', env: 'EVENT_BUS_NAME' },
    entries: HANDLER_DETAIL_TYPES.map((detailType) => ({ source: RESULT_SOURCE, detailType })),
    purpose: 'publishes results, escalations and failure notices',
  },
  {
    service: 'sqs',
    operation: 'SendMessageBatch',
    resource: { kind: 'work-queue-dlqs' },
    purpose: 'dead-letters poison records with their reason',
  },
  {
    service: 'firehose',
    operation: 'PutRecordBatch',
    resource: { kind: 'delivery-stream', env: 'ARCHIVE_STREAM_NAME' },
    purpose: 'writes the archive rows of packed requests and results (the archive rules leave packs out)',
  },
  {
    service: 's3',
    operation: 'GetObject',
    resource: { kind: 'bucket-objects', env: 'CLAIM_BUCKET' },
    purpose: 'reads claim-checked payloads',
  },
];

/** Tenant quotas and stream ordering: only where the CDK app gives the function the tenant-state table. */
export const TENANCY_CALLS: readonly DeclaredCall[] = [
  ...(['GetItem', 'BatchGetItem', 'PutItem'] as const).map(
    (operation): DeclaredCall => ({
      service: 'dynamodb',
      operation,
      resource: { kind: 'table', env: 'TENANT_STATE_TABLE' },
      onlyWhenEnv: 'TENANT_STATE_TABLE',
      purpose: 'keeps tenant quota buckets and stream sequence state',
    }),
  ),
  {
    service: 'sqs',
    operation: 'SendMessageBatch',
    resource: { kind: 'work-queues' },
    onlyWhenEnv: 'TENANT_STATE_TABLE',
    purpose: 're-queues records delayed for quota or ordering, and messages a batch had no time left for',
  },
];
