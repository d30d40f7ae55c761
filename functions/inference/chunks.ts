import type { SQSRecord } from 'aws-lambda';
import { defaultMarginMs } from './invocation-guard';
import { type ExpandedRecords, messageIdOf } from './pack-records';

/**
 * Requests per chunk of a batch. A batch is run chunk by chunk so that an invocation can stop
 * between chunks, with time to spare, instead of running into its timeout: a tier-1 batch of 200
 * packed messages can hold tens of thousands of requests (up to Lambda's 6 MB), far more than the
 * 200 single events the batch size was chosen for. 2,000 keeps a batch of single events (200 in
 * both stages) in one chunk, and amortises each chunk's fixed calls (tenant state, publishing).
 */
export const REQUESTS_PER_CHUNK = 2_000;

/** Whole SQS messages of a batch and their requests, processed together. */
export interface BatchChunk {
  /** The SQS messages, as Lambda delivered them, in the batch's order. */
  readonly messages: SQSRecord[];
  readonly expanded: ExpandedRecords;
  /** Requests in the chunk, valid or poison. */
  readonly requests: number;
}

/**
 * Splits an expanded batch into chunks of whole messages, in the batch's order: a chunk closes
 * once it holds `maxRequests` requests, so a pack is never split (its message is deleted or handed
 * back as one) and a pack bigger than `maxRequests` is a chunk of its own.
 */
export function chunkBatch(
  messages: readonly SQSRecord[],
  expanded: ExpandedRecords,
  maxRequests = REQUESTS_PER_CHUNK,
): BatchChunk[] {
  const requestsOf = new Map<string, number>();
  const count = (record: SQSRecord) => {
    const id = messageIdOf(record);
    requestsOf.set(id, (requestsOf.get(id) ?? 0) + 1);
  };
  for (const record of expanded.records) count(record);
  for (const { record } of expanded.poison) count(record);

  const groups: { messages: SQSRecord[]; ids: Set<string>; requests: number }[] = [];
  let open: (typeof groups)[number] | undefined;
  for (const message of messages) {
    if (!open || open.requests >= maxRequests) {
      open = { messages: [], ids: new Set(), requests: 0 };
      groups.push(open);
    }
    open.messages.push(message);
    open.ids.add(message.messageId);
    open.requests += requestsOf.get(message.messageId) ?? 0;
  }
  if (groups.length <= 1) return [{ messages: [...messages], expanded, requests: groups[0]?.requests ?? 0 }];
  return groups.map(({ messages: inChunk, ids, requests }) => ({
    messages: inChunk,
    requests,
    expanded: {
      records: expanded.records.filter((record) => ids.has(messageIdOf(record))),
      poison: expanded.poison.filter(({ record }) => ids.has(messageIdOf(record))),
      packs: expanded.packs.filter(({ record }) => ids.has(record.messageId)),
    },
  }));
}

/**
 * Whether the next chunk can still finish before the timeout: twice what its requests took so far
 * per request, plus the margin the invocation guard keeps for dead letters and the answer.
 */
export function timeForNextChunk(progress: {
  readonly elapsedMs: number;
  readonly requestsDone: number;
  readonly nextRequests: number;
  readonly remainingMs: number;
}): boolean {
  const { elapsedMs, requestsDone, nextRequests, remainingMs } = progress;
  const perRequestMs = requestsDone > 0 ? elapsedMs / requestsDone : elapsedMs;
  return remainingMs > 2 * perRequestMs * nextRequests + defaultMarginMs(remainingMs);
}

/** What running one chunk left: the ids to report as batch item failures, and why it ended early. */
export interface ChunkOutcome {
  readonly failed: readonly string[];
  readonly ended?: 'error' | 'deadline';
}

export interface ChunkLoopDeps {
  run(chunk: BatchChunk): Promise<ChunkOutcome>;
  /**
   * Chunks left for a later invocation: `no-time` when the next would not fit in the time left,
   * `deadline` when the last one ran into its deadline. Resolves to the ids to report as failures.
   */
  defer(rest: readonly BatchChunk[], why: 'no-time' | 'deadline'): Promise<readonly string[]>;
  /** Milliseconds before the function timeout (`context.getRemainingTimeInMillis`). */
  remainingMs(): number;
  now?(): number;
}

/**
 * Runs the chunks in order while the time left allows the next one (the first always runs), and
 * defers the rest, also after a chunk that ran into its deadline. Resolves to the ids to report as
 * batch item failures.
 */
export async function runInChunks(chunks: readonly BatchChunk[], deps: ChunkLoopDeps): Promise<string[]> {
  const now = deps.now ?? Date.now;
  const failed: string[] = [];
  const started = now();
  let requestsDone = 0;
  for (const [index, chunk] of chunks.entries()) {
    const rest = chunks.slice(index);
    if (
      index > 0 &&
      !timeForNextChunk({
        elapsedMs: now() - started,
        requestsDone,
        nextRequests: chunk.requests,
        remainingMs: deps.remainingMs(),
      })
    ) {
      failed.push(...(await deps.defer(rest, 'no-time')));
      break;
    }
    const outcome = await deps.run(chunk);
    failed.push(...outcome.failed);
    requestsDone += chunk.requests;
    if (outcome.ended === 'deadline') {
      if (rest.length > 1) failed.push(...(await deps.defer(rest.slice(1), 'deadline')));
      break;
    }
  }
  return failed;
}

/** Every request of the chunks (one record per request, poison included), optionally of some messages only. */
export function requestsOf(chunks: readonly BatchChunk[], messageIds?: ReadonlySet<string>): SQSRecord[] {
  const all = chunks.flatMap((c) => [...c.expanded.records, ...c.expanded.poison.map((p) => p.record)]);
  return messageIds ? all.filter((record) => messageIds.has(messageIdOf(record))) : all;
}
