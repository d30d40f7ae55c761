import {
  type AttributeValue,
  ConditionalCheckFailedException,
  type DynamoDBClient,
  GetItemCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import { EMPTY_TRACKED, type TrackedStream } from '../core/stream-gate';
import { type BucketLimits, type BucketState, take } from '../core/token-bucket';

/**
 * Tenant state in one DynamoDB table (partition key `pk`): a token bucket per tenant and the
 * sequence state per (tenant, stream), shared by every concurrent execution. Writes are
 * optimistic: read (consistent), compute with the pure core, then UpdateItem on condition that
 * `version` is still what was read; on ConditionalCheckFailedException read again and retry.
 *
 * Expiry: items carry `expiresAt` (epoch seconds, the table's TTL attribute). DynamoDB deletes
 * expired items up to days late and the local server never does, so an item read past its
 * `expiresAt` is treated as gone here.
 */
export interface TenantStateStore {
  /** Takes up to `requested` tokens from the tenant's bucket. */
  take(tenant: string, requested: number, limits: BucketLimits): Promise<QuotaGrant>;
  readStream(tenant: string, stream: string): Promise<StreamRead>;
  /** Applies `mutate` to the stream's current state atomically. `undefined`: absent or expired. */
  updateStream(
    tenant: string,
    stream: string,
    mutate: (current: TrackedStream | undefined) => TrackedStream,
  ): Promise<TrackedStream>;
}

export interface QuotaGrant {
  readonly granted: number;
  /** When the first refused record could be admitted (0 when all were granted). */
  readonly retryAfterMs: number;
}

export interface StreamRead {
  /** Undefined when the stream was never seen, or its state expired. */
  readonly tracked?: TrackedStream;
  /** The state existed but expired: the stream resumes after a long silence. */
  readonly expired: boolean;
}

/** Every optimistic attempt lost to another writer, or DynamoDB kept failing. */
export class TenantStateError extends Error {
  override readonly name = 'TenantStateError';
}

/** Stream state outlives any message that could still carry one of its numbers (SQS keeps at most 14 days). */
export const STREAM_STATE_TTL_SECONDS = 15 * 24 * 3600;
/** A bucket idle this long past full is the same as no bucket. */
const BUCKET_TTL_MARGIN_SECONDS = 60;

export interface DynamoTenantStateOptions {
  readonly now?: () => number;
  /** @default 10 */
  readonly maxAttempts?: number;
  readonly sleep?: (ms: number) => Promise<void>;
}

type Item = Record<string, AttributeValue>;

export class DynamoTenantState implements TenantStateStore {
  private readonly now: () => number;
  private readonly maxAttempts: number;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(
    private readonly client: DynamoDBClient,
    private readonly tableName: string,
    options: DynamoTenantStateOptions = {},
  ) {
    this.now = options.now ?? Date.now;
    this.maxAttempts = options.maxAttempts ?? 10;
    this.sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
  }

  async take(tenant: string, requested: number, limits: BucketLimits): Promise<QuotaGrant> {
    if (requested <= 0) return { granted: 0, retryAfterMs: 0 };
    return this.optimistic(bucketKey(tenant), (item, nowMs) => {
      const state: BucketState | undefined = item
        ? { tokens: num(item.tokens), updatedAtMs: num(item.updatedAtMs) }
        : undefined;
      const result = take(state, requested, nowMs, limits);
      const fullInSeconds = Math.ceil(limits.burst / limits.ratePerSecond);
      return {
        set: {
          tokens: { N: String(Number(result.next.tokens.toFixed(6))) },
          updatedAtMs: { N: String(result.next.updatedAtMs) },
          expiresAt: { N: String(Math.ceil(nowMs / 1000) + fullInSeconds + BUCKET_TTL_MARGIN_SECONDS) },
        },
        value: { granted: result.granted, retryAfterMs: result.retryAfterMs },
      };
    });
  }

  async readStream(tenant: string, stream: string): Promise<StreamRead> {
    const { item, expired } = await this.read(streamKey(tenant, stream));
    return { tracked: item ? trackedOf(item) : undefined, expired };
  }

  updateStream(
    tenant: string,
    stream: string,
    mutate: (current: TrackedStream | undefined) => TrackedStream,
  ): Promise<TrackedStream> {
    return this.optimistic(streamKey(tenant, stream), (item, nowMs) => {
      const next = mutate(item ? trackedOf(item) : undefined);
      return {
        set: {
          contiguous: { N: String(next.state.contiguous) },
          ahead: { S: JSON.stringify(next.state.ahead) },
          givenUp: { S: JSON.stringify(next.givenUp) },
          updatedAtMs: { N: String(nowMs) },
          expiresAt: { N: String(Math.ceil(nowMs / 1000) + STREAM_STATE_TTL_SECONDS) },
        },
        value: next,
      };
    });
  }

  /** Consistent read; an item past its expiresAt counts as absent. */
  private async read(pk: string): Promise<{ item?: Item; version?: number; expired: boolean }> {
    const { Item: item } = await this.client.send(
      new GetItemCommand({ TableName: this.tableName, Key: { pk: { S: pk } }, ConsistentRead: true }),
    );
    if (!item) return { expired: false };
    const version = num(item.version);
    const expiresAt = item.expiresAt ? num(item.expiresAt) : Number.POSITIVE_INFINITY;
    if (expiresAt * 1000 <= this.now()) return { version, expired: true };
    return { item, version, expired: false };
  }

  private async optimistic<T>(
    pk: string,
    compute: (item: Item | undefined, nowMs: number) => { set: Item; value: T },
  ): Promise<T> {
    let lastError: unknown;
    let attempts = 0;
    for (let attempt = 0; attempt < this.maxAttempts; attempt++) {
      attempts = attempt + 1;
      if (attempt > 0) await this.sleep(Math.random() * Math.min(200, 5 * 2 ** attempt));
      try {
        const { item, version } = await this.read(pk);
        const { set, value } = compute(item, this.now());
        const names: Record<string, string> = { '#version': 'version' };
        if (version === undefined) names['#pk'] = 'pk';
        const values: Item = { ':next': { N: String((version ?? 0) + 1) } };
        const assignments = ['#version = :next'];
        for (const [key, attribute] of Object.entries(set)) {
          names[`#${key}`] = key;
          values[`:${key}`] = attribute;
          assignments.push(`#${key} = :${key}`);
        }
        if (version !== undefined) values[':read'] = { N: String(version) };
        await this.client.send(
          new UpdateItemCommand({
            TableName: this.tableName,
            Key: { pk: { S: pk } },
            UpdateExpression: `SET ${assignments.join(', ')}`,
            ConditionExpression: version === undefined ? 'attribute_not_exists(#pk)' : '#version = :read',
            ExpressionAttributeNames: names,
            ExpressionAttributeValues: values,
          }),
        );
        return value;
      } catch (error) {
        lastError = error;
        if (
          !(error instanceof ConditionalCheckFailedException) &&
          (error as Error).name !== 'ConditionalCheckFailedException'
        ) {
          // Throttling and network errors are retried too; the SDK has retried them already.
          if (attempt >= 2) break;
        }
      }
    }
    throw new TenantStateError(
      `tenant state ${pk} could not be updated after ${attempts} attempts: ${(lastError as Error)?.message ?? 'unknown'}`,
      { cause: lastError },
    );
  }
}

export const bucketKey = (tenant: string) => `bucket#${tenant}`;
export const streamKey = (tenant: string, stream: string) => `stream#${tenant}#${stream}`;

function num(value: AttributeValue | undefined): number {
  return value?.N === undefined ? 0 : Number(value.N);
}

function trackedOf(item: Item): TrackedStream {
  const list = (value: AttributeValue | undefined, fallback: unknown) => {
    try {
      return value?.S ? JSON.parse(value.S) : fallback;
    } catch {
      return fallback;
    }
  };
  return {
    state: { contiguous: num(item.contiguous), ahead: list(item.ahead, EMPTY_TRACKED.state.ahead) },
    givenUp: list(item.givenUp, EMPTY_TRACKED.givenUp),
  };
}
