import {
  type AttributeValue,
  BatchGetItemCommand,
  ConditionalCheckFailedException,
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
} from '@aws-sdk/client-dynamodb';
import { EMPTY_TRACKED, type TrackedStream } from '../core/stream-gate';
import { idWindowOf } from '../core/stream-ids';
import { type BucketLimits, type BucketState, take } from '../core/token-bucket';

/**
 * Tenant state in one DynamoDB table (partition key `pk`): a token bucket per tenant and the
 * sequence state per (tenant, stream), shared by every concurrent execution. Writes are
 * optimistic: read (consistent), compute with the pure core, then write the whole item on
 * condition that `version` is still what was read; on ConditionalCheckFailedException read again
 * and retry. A caller that has just read an item passes that read along, so the first attempt
 * writes at once instead of reading the item a second time.
 *
 * Expiry: items carry `expiresAt` (epoch seconds, the table's TTL attribute). DynamoDB deletes
 * expired items up to days late and the local server never does, so an item read past its
 * `expiresAt` is treated as gone here.
 */
export interface TenantStateStore {
  /**
   * One consistent read of the buckets and the given streams' state of several tenants (one
   * request per tenant), keyed by tenant: a single BatchGetItem unless there are more keys than
   * one allows.
   */
  readTenants(requests: readonly TenantReadRequest[]): Promise<Map<string, TenantRead>>;
  /** Takes up to `requested` tokens from the tenant's bucket; `basis`: the bucket as just read. */
  take(tenant: string, requested: number, limits: BucketLimits, basis?: BucketRead): Promise<QuotaGrant>;
  readStream(tenant: string, stream: string): Promise<StreamRead>;
  /**
   * Applies `mutate` to the stream's current state atomically. `undefined`: absent or expired.
   * `basis`: the stream as read earlier; tried first, and re-read only if it changed since.
   */
  updateStream(
    tenant: string,
    stream: string,
    mutate: (current: TrackedStream | undefined) => TrackedStream,
    basis?: StreamRead,
  ): Promise<TrackedStream>;
}

export interface QuotaGrant {
  readonly granted: number;
  /** When the first refused record could be admitted (0 when all were granted). */
  readonly retryAfterMs: number;
}

/** What a conditional write needs to know about an earlier read: the item's version (absent: no item). */
interface Versioned {
  readonly version?: number;
}

export interface StreamRead extends Versioned {
  /** Undefined when the stream was never seen, or its state expired. */
  readonly tracked?: TrackedStream;
  /** The state existed but expired: the stream resumes after a long silence. */
  readonly expired: boolean;
}

export interface BucketRead extends Versioned {
  /** Undefined when the bucket was never used, or it expired (a full bucket). */
  readonly state?: BucketState;
}

export interface TenantReadRequest {
  readonly tenant: string;
  readonly streams: readonly string[];
}

export interface TenantRead {
  readonly bucket: BucketRead;
  readonly streams: ReadonlyMap<string, StreamRead>;
}

/** Every optimistic attempt lost to another writer, or DynamoDB kept failing. */
export class TenantStateError extends Error {
  override readonly name = 'TenantStateError';
}

/** Stream state outlives any message that could still carry one of its numbers (SQS keeps at most 14 days). */
export const STREAM_STATE_TTL_SECONDS = 15 * 24 * 3600;
/** A bucket idle this long past full is the same as no bucket. */
const BUCKET_TTL_MARGIN_SECONDS = 60;
/** BatchGetItem's limit on keys per request. */
const MAX_BATCH_GET_KEYS = 100;

export interface DynamoTenantStateOptions {
  readonly now?: () => number;
  /** @default 10 */
  readonly maxAttempts?: number;
  readonly sleep?: (ms: number) => Promise<void>;
}

type Item = Record<string, AttributeValue>;

/** An item as read: absent, expired (version kept for the conditional write), or live. */
interface Snapshot {
  readonly item?: Item;
  readonly version?: number;
  readonly expired: boolean;
}

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

  async readTenants(requests: readonly TenantReadRequest[]): Promise<Map<string, TenantRead>> {
    const keys = requests.flatMap(({ tenant, streams }) => [
      bucketKey(tenant),
      ...streams.map((stream) => streamKey(tenant, stream)),
    ]);
    const snapshots = await this.readMany(keys);
    const snapshotOf = (pk: string) => snapshots.get(pk) ?? { expired: false };
    return new Map(
      requests.map(({ tenant, streams }) => [
        tenant,
        {
          bucket: bucketReadOf(snapshotOf(bucketKey(tenant))),
          streams: new Map(
            streams.map((stream) => [stream, streamReadOf(snapshotOf(streamKey(tenant, stream)))]),
          ),
        },
      ]),
    );
  }

  async take(
    tenant: string,
    requested: number,
    limits: BucketLimits,
    basis?: BucketRead,
  ): Promise<QuotaGrant> {
    if (requested <= 0) return { granted: 0, retryAfterMs: 0 };
    return this.optimistic(
      bucketKey(tenant),
      (snapshot) => bucketReadOf(snapshot).state,
      (state, nowMs) => {
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
      },
      basis && { state: basis.state, version: basis.version },
    );
  }

  async readStream(tenant: string, stream: string): Promise<StreamRead> {
    return streamReadOf(await this.read(streamKey(tenant, stream)));
  }

  updateStream(
    tenant: string,
    stream: string,
    mutate: (current: TrackedStream | undefined) => TrackedStream,
    basis?: StreamRead,
  ): Promise<TrackedStream> {
    return this.optimistic(
      streamKey(tenant, stream),
      (snapshot) => streamReadOf(snapshot).tracked,
      (current, nowMs) => {
        const next = mutate(current);
        return {
          set: {
            contiguous: { N: String(next.state.contiguous) },
            ahead: { S: JSON.stringify(next.state.ahead) },
            givenUp: { S: JSON.stringify(next.givenUp) },
            ...(next.ids ? { ids: { S: JSON.stringify(next.ids) } } : {}),
            updatedAtMs: { N: String(nowMs) },
            expiresAt: { N: String(Math.ceil(nowMs / 1000) + STREAM_STATE_TTL_SECONDS) },
          },
          value: next,
        };
      },
      basis && { state: basis.tracked, version: basis.version },
    );
  }

  /** Consistent read; an item past its expiresAt counts as absent. */
  private async read(pk: string): Promise<Snapshot> {
    const { Item: item } = await this.client.send(
      new GetItemCommand({ TableName: this.tableName, Key: { pk: { S: pk } }, ConsistentRead: true }),
    );
    return this.snapshotOf(item);
  }

  /**
   * Consistent reads of several items. Each round sends every pending key, in as few requests as
   * BatchGetItem's key limit allows (sent together: splitting is no retry, so it neither waits nor
   * counts as an attempt); the next round, after a backoff, only the keys DynamoDB left unprocessed.
   */
  private async readMany(keys: readonly string[]): Promise<Map<string, Snapshot>> {
    const found = new Map<string, Snapshot>();
    let pending = [...new Set(keys)];
    for (let attempt = 0; pending.length > 0; attempt++) {
      if (attempt >= this.maxAttempts) {
        throw new TenantStateError(`tenant state ${pending.join(', ')} could not be read (unprocessed keys)`);
      }
      if (attempt > 0) await this.sleep(Math.random() * Math.min(200, 5 * 2 ** attempt));
      const requests = chunks(pending, MAX_BATCH_GET_KEYS).map((request) => this.batchGet(request, found));
      pending = (await Promise.all(requests)).flat();
    }
    return found;
  }

  /** One BatchGetItem: adds what it read to `found`, returns the keys DynamoDB left unprocessed. */
  private async batchGet(keys: readonly string[], found: Map<string, Snapshot>): Promise<string[]> {
    const { Responses, UnprocessedKeys } = await this.client.send(
      new BatchGetItemCommand({
        RequestItems: {
          [this.tableName]: { Keys: keys.map((pk) => ({ pk: { S: pk } })), ConsistentRead: true },
        },
      }),
    );
    for (const item of Responses?.[this.tableName] ?? []) {
      const pk = item.pk?.S;
      if (pk !== undefined) found.set(pk, this.snapshotOf(item));
    }
    return (UnprocessedKeys?.[this.tableName]?.Keys ?? []).flatMap((key) =>
      key.pk?.S === undefined ? [] : [key.pk.S],
    );
  }

  private snapshotOf(item: Item | undefined): Snapshot {
    if (!item) return { expired: false };
    const version = num(item.version);
    const expiresAt = item.expiresAt ? num(item.expiresAt) : Number.POSITIVE_INFINITY;
    if (expiresAt * 1000 <= this.now()) return { version, expired: true };
    return { item, version, expired: false };
  }

  /**
   * Read, compute, conditional write of the whole item; again on a lost race. `basis` stands in
   * for the first read.
   */
  private async optimistic<S, T>(
    pk: string,
    decode: (snapshot: Snapshot) => S | undefined,
    compute: (state: S | undefined, nowMs: number) => { set: Item; value: T },
    basis?: { readonly state?: S; readonly version?: number },
  ): Promise<T> {
    let lastError: unknown;
    let attempts = 0;
    for (let attempt = 0; attempt < this.maxAttempts; attempt++) {
      attempts = attempt + 1;
      if (attempt > 0 && !(attempt === 1 && basis)) {
        await this.sleep(Math.random() * Math.min(200, 5 * 2 ** attempt));
      }
      try {
        let state: S | undefined;
        let version: number | undefined;
        if (attempt === 0 && basis) ({ state, version } = basis);
        else {
          const snapshot = await this.read(pk);
          state = decode(snapshot);
          version = snapshot.version;
        }
        const { set, value } = compute(state, this.now());
        // PutItem, not UpdateItem: the writer owns every attribute of the item, and a put is much
        // cheaper to evaluate for the local server (no update expression to parse).
        await this.client.send(
          new PutItemCommand({
            TableName: this.tableName,
            Item: { ...set, pk: { S: pk }, version: { N: String((version ?? 0) + 1) } },
            ConditionExpression: version === undefined ? 'attribute_not_exists(#pk)' : '#version = :read',
            ExpressionAttributeNames: version === undefined ? { '#pk': 'pk' } : { '#version': 'version' },
            ...(version === undefined
              ? {}
              : { ExpressionAttributeValues: { ':read': { N: String(version) } } }),
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

function streamReadOf(snapshot: Snapshot): StreamRead {
  return {
    tracked: snapshot.item ? trackedOf(snapshot.item) : undefined,
    expired: snapshot.expired,
    ...(snapshot.version === undefined ? {} : { version: snapshot.version }),
  };
}

function bucketReadOf(snapshot: Snapshot): BucketRead {
  const { item, version } = snapshot;
  return {
    ...(item ? { state: { tokens: num(item.tokens), updatedAtMs: num(item.updatedAtMs) } } : {}),
    ...(version === undefined ? {} : { version }),
  };
}

function chunks<T>(items: readonly T[], size: number): T[][] {
  return Array.from({ length: Math.ceil(items.length / size) }, (_, index) =>
    items.slice(index * size, (index + 1) * size),
  );
}

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
    // Items written before ids were kept have none: every passed number is then unproven.
    ...(item.ids ? { ids: idWindowOf(list(item.ids, undefined)) } : {}),
  };
}
