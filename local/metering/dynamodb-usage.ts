import {
  type DynamoDbAttributeValue,
  dynamoDbItemBytes,
  dynamoDbReadUnits,
  dynamoDbWriteUnits,
} from '../../functions/core/billing-units';
import type { UsageMeter } from './usage-meter';

type Item = Record<string, DynamoDbAttributeValue>;
type Body = Record<string, unknown>;

/** Operations that read or write no item (table management): no request units. */
const NO_UNITS = new Set([
  'CreateTable',
  'DescribeTable',
  'ListTables',
  'DeleteTable',
  'UpdateTable',
  'DescribeTimeToLive',
  'UpdateTimeToLive',
  'TagResource',
  'ListTagsOfResource',
]);

/**
 * Meters one DynamoDB call from its request and response, as on-demand billing counts it. Item
 * sizes come from the items themselves; a write is billed on the larger of the item before and
 * after, and the item before is known only when this runtime read or wrote it since it started
 * (otherwise the new item's size is used). A call whose units cannot be worked out is counted as
 * unmetered rather than guessed.
 */
export class DynamoDbUsage {
  /** `<table>\0<key JSON>` → the item's last known size. */
  private readonly sizes = new Map<string, number>();

  constructor(private readonly meter: UsageMeter) {}

  observe(operation: string, request: Body, status: number, response: Body): void {
    if (NO_UNITS.has(operation)) return;
    const conditionalFailure =
      status === 400 && String(response.__type ?? '').endsWith('ConditionalCheckFailedException');
    if (status !== 200 && !conditionalFailure) return;
    const table = String(request.TableName ?? '');
    switch (operation) {
      case 'GetItem': {
        const item = response.Item as Item | undefined;
        const bytes = item ? dynamoDbItemBytes(item) : 0;
        if (item) this.remember(table, request.Key, bytes);
        this.meter.dynamoDbUnits(table, dynamoDbReadUnits(bytes, consistency(request)), 0);
        return;
      }
      case 'BatchGetItem':
        this.batchGet(request, response);
        return;
      case 'PutItem': {
        const item = (request.Item ?? {}) as Item;
        const bytes = dynamoDbItemBytes(item);
        const key = this.keyOf(table, item);
        const units = dynamoDbWriteUnits(bytes, this.sizes.get(key) ?? 0);
        if (!conditionalFailure) this.sizes.set(key, bytes);
        this.meter.dynamoDbUnits(table, 0, units);
        return;
      }
      case 'DeleteItem':
      case 'UpdateItem': {
        const before = this.sizes.get(`${table}\0${stableJson(request.Key)}`);
        if (before === undefined) {
          this.meter.unmeteredCall('dynamodb', operation);
          return;
        }
        this.meter.dynamoDbUnits(table, 0, dynamoDbWriteUnits(before));
        return;
      }
      case 'Query':
      case 'Scan': {
        // Query and Scan add up the items' sizes first, then round to 4 KB.
        const items = (response.Items ?? []) as Item[];
        const bytes = items.reduce((sum, item) => sum + dynamoDbItemBytes(item), 0);
        this.meter.dynamoDbUnits(table, dynamoDbReadUnits(bytes, consistency(request)), 0);
        return;
      }
      default:
        this.meter.unmeteredCall('dynamodb', operation);
    }
  }

  /** Each item of a BatchGetItem is read (and rounded) on its own; a key with no item still costs a read. */
  private batchGet(request: Body, response: Body): void {
    const requested = (request.RequestItems ?? {}) as Record<
      string,
      { Keys?: unknown[]; ConsistentRead?: boolean }
    >;
    const responses = (response.Responses ?? {}) as Record<string, Item[]>;
    const unprocessed = (response.UnprocessedKeys ?? {}) as Record<string, { Keys?: unknown[] }>;
    for (const [table, ask] of Object.entries(requested)) {
      const mode = ask.ConsistentRead ? 'strong' : 'eventual';
      const found = responses[table] ?? [];
      let units = found.reduce((sum, item) => {
        const bytes = dynamoDbItemBytes(item);
        this.sizes.set(this.keyOf(table, item), bytes);
        return sum + dynamoDbReadUnits(bytes, mode);
      }, 0);
      const missing = (ask.Keys?.length ?? 0) - found.length - (unprocessed[table]?.Keys?.length ?? 0);
      units += Math.max(0, missing) * dynamoDbReadUnits(0, mode);
      this.meter.dynamoDbUnits(table, units, 0);
    }
  }

  private remember(table: string, key: unknown, bytes: number): void {
    this.sizes.set(`${table}\0${stableJson(key)}`, bytes);
  }

  /** The item's key as a GetItem would name it: the project's tables are keyed by `pk` alone. */
  private keyOf(table: string, item: Item): string {
    return `${table}\0${stableJson(item.pk === undefined ? item : { pk: item.pk })}`;
  }
}

function consistency(request: Body): 'strong' | 'eventual' {
  return request.ConsistentRead === true ? 'strong' : 'eventual';
}

function stableJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(stableJson).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => a.localeCompare(b));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stableJson(v)}`).join(',')}}`;
}
