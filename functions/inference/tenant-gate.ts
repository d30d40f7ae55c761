import type { SQSRecord } from 'aws-lambda';
import type { Envelope } from '../core/envelope';
import {
  applyDeadLettered,
  applyProcessed,
  EMPTY_TRACKED,
  type OrderingDecision,
  planStream,
  type TrackedStream,
  UNSEQUENCED,
} from '../core/stream-gate';
import { quotaDelaySeconds, type TenantPolicies } from '../core/tenant-policy';
import {
  DELAYED_FOR_ATTRIBUTE,
  FIRST_HELD_AT_ATTRIBUTE,
  type Requeue,
  type Requeuer,
} from '../shared/requeue';
import type { StreamRead, TenantRead, TenantStateStore } from '../shared/tenant-state';

/** Quota and ordering for the entry tier; absent where the function has no tenant-state table. */
export interface Tenancy {
  readonly store: TenantStateStore;
  readonly requeuer: Requeuer;
  /** Tenants without a policy pass the gate untouched. */
  readonly policies: TenantPolicies;
}

export interface GateItem {
  readonly record: SQSRecord;
  readonly envelope: Envelope;
}

export type ProcessDecision = Extract<OrderingDecision, { kind: 'process' }>;

export interface GateOutcome<T extends GateItem> {
  /** Records to run now, with their ordering verdict (undefined: no policy for the tenant). */
  readonly proceed: { readonly item: T; readonly decision?: ProcessDecision }[];
  /** Records to send back to their queue with a delay: over quota, or held for ordering. */
  readonly requeue: (Requeue & { readonly item: T; readonly reason: 'quota' | 'hold' })[];
  /** Events already processed at their sequence number (the same event id): skipped. */
  readonly duplicates: T[];
  /** The tenant-state table could not be read or written: transient failures. */
  readonly unavailable: { readonly item: T; readonly message: string }[];
  /** Per (tenant, sequenced stream): the state the plan was made on, for recording after publication. */
  readonly streams: ReadonlyMap<string, GatedStream>;
}

export interface GatedStream {
  readonly tenant: string;
  readonly stream: string;
  readonly base: TrackedStream;
  /** The read the plan was made on: recording tries it first instead of reading again. */
  readonly read: StreamRead;
}

/** The outcome while the gate builds it. */
type Building<T extends GateItem> = GateOutcome<T> & { readonly streams: Map<string, GatedStream> };

const streamId = (tenant: string, stream: string) => JSON.stringify([tenant, stream]);

/**
 * Per tenant: ordering first (proven duplicates skipped, reused numbers and out-of-order records
 * flagged or held), then
 * one token-bucket take for the records left to run, granted in sequence order so that what is
 * delayed is always the tail of each stream. Nothing is dropped: every record either proceeds,
 * is re-queued, is a duplicate of a processed one, or is reported unavailable.
 *
 * Per batch that is one read (every tenant's bucket and sequenced streams together), and per
 * tenant one conditional write of the bucket; streams whose records carry no sequence number have
 * no state, and tenants without a policy need no read at all.
 */
export async function gate<T extends GateItem>(
  items: readonly T[],
  tenancy: Tenancy,
  nowMs: number,
): Promise<GateOutcome<T>> {
  const outcome: Building<T> = {
    proceed: [],
    requeue: [],
    duplicates: [],
    unavailable: [],
    streams: new Map(),
  };
  const byTenant = new Map<string, T[]>();
  for (const item of items) {
    if (!Object.hasOwn(tenancy.policies, item.envelope.tenant)) {
      outcome.proceed.push({ item });
      continue;
    }
    pushTo(byTenant, item.envelope.tenant, item);
  }
  if (byTenant.size === 0) return outcome;

  const tenants = [...byTenant].map(([tenant, tenantItems]) => ({
    tenant,
    items: tenantItems,
    byStream: groupByStream(tenantItems),
  }));
  let reads: Map<string, TenantRead>;
  try {
    reads = await tenancy.store.readTenants(
      tenants.map(({ tenant, byStream }) => ({ tenant, streams: sequencedStreams(byStream) })),
    );
  } catch (error) {
    // One read covers every tenant of the batch: when it fails, none of them can be gated.
    for (const item of tenants.flatMap((t) => t.items)) {
      outcome.unavailable.push({ item, message: (error as Error).message });
    }
    return outcome;
  }
  await Promise.all(
    tenants.map(async ({ tenant, items: tenantItems, byStream }) => {
      const read = reads.get(tenant);
      if (read) return gateTenant(outcome, tenancy, tenant, byStream, read, nowMs);
      for (const item of tenantItems) {
        outcome.unavailable.push({ item, message: `tenant state of ${tenant} missing from the read` });
      }
    }),
  );
  return outcome;
}

/** Ordering plan and token-bucket take of one tenant's records, on the state read for the batch. */
async function gateTenant<T extends GateItem>(
  outcome: Building<T>,
  tenancy: Tenancy,
  tenant: string,
  byStream: ReadonlyMap<string, T[]>,
  read: TenantRead,
  nowMs: number,
): Promise<void> {
  const policy = tenancy.policies[tenant] as TenantPolicies[string];
  const candidates: { item: T; decision: ProcessDecision }[] = [];
  for (const [stream, streamItems] of byStream) {
    const streamRead = read.streams.get(stream);
    let base: TrackedStream = EMPTY_TRACKED;
    if (streamRead) {
      base = baseOf(streamRead, streamItems);
      outcome.streams.set(streamId(tenant, stream), { tenant, stream, base, read: streamRead });
    }
    const decisions = planStream(
      base,
      streamItems.map((item) => ({
        id: item.record.messageId,
        eventId: item.envelope.id,
        seq: item.envelope.seq,
        firstHeldAtMs: firstHeldAt(item.record),
      })),
      policy,
      nowMs,
    );
    for (const item of streamItems) {
      const decision = decisions.get(item.record.messageId) as OrderingDecision;
      if (decision.kind === 'duplicate') outcome.duplicates.push(item);
      else if (decision.kind === 'hold') {
        outcome.requeue.push({
          item,
          record: item.record,
          reason: 'hold',
          delaySeconds: decision.delaySeconds,
          attributes: {
            [FIRST_HELD_AT_ATTRIBUTE]: String(decision.firstHeldAtMs),
            [DELAYED_FOR_ATTRIBUTE]: 'ordering',
          },
        });
      } else candidates.push({ item, decision });
    }
  }
  if (candidates.length === 0) return;
  candidates.sort(({ item: { envelope: a } }, { item: { envelope: b } }) =>
    a.stream === b.stream ? a.seq - b.seq : a.stream.localeCompare(b.stream),
  );
  let grant: { granted: number; retryAfterMs: number };
  try {
    grant = await tenancy.store.take(tenant, candidates.length, policy, read.bucket);
  } catch (error) {
    for (const { item } of candidates) outcome.unavailable.push({ item, message: (error as Error).message });
    return;
  }
  candidates.forEach((candidate, index) => {
    if (index < grant.granted) {
      outcome.proceed.push(candidate);
      return;
    }
    outcome.requeue.push({
      item: candidate.item,
      record: candidate.item.record,
      reason: 'quota',
      delaySeconds: quotaDelaySeconds(grant.retryAfterMs),
      attributes: { [DELAYED_FOR_ATTRIBUTE]: 'quota' },
    });
  });
}

function groupByStream<T extends GateItem>(items: readonly T[]): Map<string, T[]> {
  const byStream = new Map<string, T[]>();
  for (const item of items) pushTo(byStream, item.envelope.stream, item);
  return byStream;
}

/** The streams with state to read: those with at least one sequenced record. */
function sequencedStreams(byStream: ReadonlyMap<string, readonly GateItem[]>): string[] {
  return [...byStream].filter(([, streamItems]) => streamItems.some(isSequenced)).map(([stream]) => stream);
}

/**
 * Records the published records in their streams' state (after publication, so a crash in
 * between re-processes rather than loses), and gives up the numbers of the dead-lettered ones
 * (after their DLQ copy was stored), in one write per stream. Returns the published records
 * whose state could not be saved; a dead-lettered record is never handed back for that, since
 * the DLQ holds it already (its number then stays missing, like one that never arrived).
 */
export async function recordProcessed<T extends GateItem>(
  tenancy: Tenancy,
  streams: GateOutcome<T>['streams'],
  published: readonly { readonly item: T; readonly decision: ProcessDecision }[],
  deadLettered: readonly GateItem[] = [],
): Promise<T[]> {
  const byStream = new Map<string, StreamChanges<T>>();
  const changesOf = ({ envelope: { tenant, stream } }: GateItem) => {
    const key = streamId(tenant, stream);
    const changes = byStream.get(key) ?? { tenant, stream, published: [], deadLettered: [] };
    byStream.set(key, changes);
    return changes;
  };
  for (const entry of published) changesOf(entry.item).published.push(entry);
  for (const item of deadLettered) {
    if (isOrdered(tenancy, item)) changesOf(item).deadLettered.push(item);
  }
  const unsaved: T[] = [];
  await Promise.all(
    [...byStream].map(async ([key, changes]) => {
      try {
        await saveStream(tenancy, streams.get(key), changes);
      } catch {
        unsaved.push(...changes.published.map((e) => e.item));
      }
    }),
  );
  return unsaved;
}

interface StreamChanges<T extends GateItem> {
  readonly tenant: string;
  readonly stream: string;
  readonly published: { readonly item: T; readonly decision: ProcessDecision }[];
  readonly deadLettered: GateItem[];
}

/** One conditional write of a stream's state: from the gate's read, or a read of its own. */
async function saveStream<T extends GateItem>(
  tenancy: Tenancy,
  gated: GatedStream | undefined,
  changes: StreamChanges<T>,
): Promise<void> {
  // A stream the gate did not read has no state to keep unless a dead letter gives up a number
  // in it (an InvalidPayload record never reaches the gate).
  if (!gated && changes.deadLettered.length === 0) return;
  const { base, read } = gated ?? (await readForDeadLetters(tenancy.store, changes));
  await tenancy.store.updateStream(
    changes.tenant,
    changes.stream,
    (current) =>
      applyDeadLettered(
        applyProcessed(
          current ?? base,
          changes.published.map(({ item, decision }) => ({
            seq: item.envelope.seq,
            eventId: item.envelope.id,
            decision,
          })),
        ),
        changes.deadLettered.map((item) => item.envelope.seq),
      ),
    read,
  );
}

/** The state of a stream only dead letters touched: a read, as the gate would have made it. */
async function readForDeadLetters<T extends GateItem>(
  store: TenantStateStore,
  changes: StreamChanges<T>,
): Promise<{ base: TrackedStream; read: StreamRead }> {
  const read = await store.readStream(changes.tenant, changes.stream);
  return { base: baseOf(read, changes.deadLettered), read };
}

/** The state to plan on; a stream whose state expired resumes where it is, with no gap back to 1. */
function baseOf(read: StreamRead, items: readonly GateItem[]): TrackedStream {
  if (read.tracked) return read.tracked;
  if (!read.expired) return EMPTY_TRACKED;
  const firstSeq = Math.min(...items.filter(isSequenced).map((i) => i.envelope.seq));
  return { state: { contiguous: firstSeq - 1, ahead: [] }, givenUp: [] };
}

/** Only sequenced records of tenants with a policy have stream state. */
function isOrdered(tenancy: Tenancy, item: GateItem): boolean {
  return Object.hasOwn(tenancy.policies, item.envelope.tenant) && isSequenced(item);
}

/** Sequence number 0 means "not sequenced": such records need no stream state. */
function isSequenced(item: GateItem): boolean {
  return item.envelope.seq !== UNSEQUENCED;
}

/** Appends in place: a batch of hundreds of records must not copy its groups once per record. */
function pushTo<K, V>(groups: Map<K, V[]>, key: K, value: V): void {
  const group = groups.get(key);
  if (group) group.push(value);
  else groups.set(key, [value]);
}

function firstHeldAt(record: SQSRecord): number | undefined {
  const value = record.messageAttributes?.[FIRST_HELD_AT_ATTRIBUTE]?.stringValue;
  const ms = value === undefined ? Number.NaN : Number(value);
  return Number.isFinite(ms) ? ms : undefined;
}
