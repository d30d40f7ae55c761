import {
  type EventBridgeClient,
  PutEventsCommand,
  type PutEventsRequestEntry,
} from '@aws-sdk/client-eventbridge';
import { type BackoffOptions, backoffDelayMs } from '../core/backoff';
import { type PutEventsEntry, planRequests } from '../core/put-events';
import { classifyError, describeError, type FailureKind, isRetryableEntryCode } from './errors';

export interface EntryFailure {
  readonly index: number;
  readonly error: string;
  readonly kind: FailureKind;
  readonly attempts: number;
}

export interface SendOptions {
  /** Applied to entries that name no bus. */
  readonly busName?: string;
  /** Attempts per entry, the first included. @default 5 */
  readonly maxAttempts?: number;
  /** Requests in flight at once. 1 keeps requests in order. @default 1 */
  readonly concurrency?: number;
  readonly backoff?: BackoffOptions;
  readonly sleep?: (ms: number) => Promise<void>;
  readonly random?: () => number;
  /** Awaited before each request with its entry count, weighted by `weight` (rate shaping). */
  readonly beforeRequest?: (entries: number) => Promise<void>;
  /** Called as entries finish: accepted or failed for good, counted by `weight`. */
  readonly onSettled?: (accepted: number, failed: number) => void;
  /**
   * What entry `index` counts for in `beforeRequest` and `onSettled`: the requests a packed entry
   * carries, so rates and progress are in requests. @default 1
   */
  readonly weight?: (index: number) => number;
  /** Called before a retry, with the failures that caused it. */
  readonly onRetry?: (failures: readonly EntryFailure[], delayMs: number) => void;
  /**
   * Stops sending when aborted: no new request starts and no retry is made, requests in flight are
   * awaited (so every entry's outcome is known), and what was not accepted or failed for good is
   * reported as `unsent`.
   */
  readonly signal?: AbortSignal;
}

export interface SendReport {
  readonly accepted: number;
  /** Entries that failed on every attempt (or at once, for permanent errors), by input index. */
  readonly failed: EntryFailure[];
  /**
   * After an abort: entries neither accepted nor failed for good, by input index (never sent, or
   * sent and due for a retry that was not made; `error` says which).
   */
  readonly unsent: EntryFailure[];
  readonly requests: number;
  readonly retries: number;
}

/** Resolves after `ms`, or at once when `signal` aborts (the timer is cleared, so nothing lingers). */
export const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
const DEFAULT_SEND_BACKOFF: BackoffOptions = { baseMs: 100, capMs: 5_000 };

/**
 * PutEvents for many entries: requests of at most 10 entries and 1 MB (`planRequests`), failed
 * entries retried with exponential backoff and full jitter, permanent per-entry errors (a
 * malformed entry) not retried. Returns what failed for good, by index, so a caller can save
 * exactly those entries.
 */
export async function sendEntries(
  client: EventBridgeClient,
  entries: readonly PutEventsEntry[],
  options: SendOptions = {},
): Promise<SendReport> {
  const plan = planRequests(entries);
  const maxAttempts = options.maxAttempts ?? 5;
  const weight = options.weight ?? (() => 1);
  const signal = options.signal;
  const wait = options.sleep ?? ((ms: number) => sleep(ms, signal));
  const failed: EntryFailure[] = [];
  const unsent: EntryFailure[] = [];
  let accepted = 0;
  let requests = 0;
  let retries = 0;
  let next = 0;
  const notSent = (indexes: readonly number[], attempts: number, error = 'not sent: interrupted') => {
    for (const index of indexes) unsent.push({ index, error, kind: 'retryable', attempts });
  };
  const abandon = (failures: readonly EntryFailure[]) => {
    for (const f of failures)
      unsent.push({ ...f, error: `interrupted before its retry; last error ${f.error}` });
  };

  const worker = async () => {
    while (next < plan.length && !signal?.aborted) {
      let pending = plan[next++] as number[];
      let retrying: EntryFailure[] = [];
      for (let attempt = 1; pending.length > 0; attempt++) {
        await options.beforeRequest?.(pending.reduce((sum, i) => sum + weight(i), 0));
        if (signal?.aborted) {
          if (attempt === 1) notSent(pending, 0);
          else abandon(retrying);
          break;
        }
        requests++;
        const results = await putOnce(
          client,
          pending.map((i) => entries[i] as PutEventsEntry),
          options.busName,
        );
        const retry: EntryFailure[] = [];
        let ok = 0;
        let okWeight = 0;
        let gaveUp = 0;
        results.forEach((result, position) => {
          const index = pending[position] as number;
          if (result === undefined) {
            ok++;
            okWeight += weight(index);
            return;
          }
          const failure = { index, error: result.error, kind: result.kind, attempts: attempt };
          if (result.kind === 'permanent' || attempt >= maxAttempts) {
            failed.push(failure);
            gaveUp += weight(index);
          } else retry.push(failure);
        });
        accepted += ok;
        if (okWeight + gaveUp > 0) options.onSettled?.(okWeight, gaveUp);
        if (retry.length === 0) break;
        const delay = backoffDelayMs(attempt - 1, options.backoff ?? DEFAULT_SEND_BACKOFF, options.random);
        if (!signal?.aborted) {
          options.onRetry?.(retry, delay);
          retries++;
          await wait(delay);
        }
        if (signal?.aborted) {
          abandon(retry);
          break;
        }
        retrying = retry;
        pending = retry.map((f) => f.index);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, options.concurrency ?? 1) }, worker));
  // Requests never started: their entries were not sent at all.
  while (next < plan.length) notSent(plan[next++] as number[], 0);
  failed.sort((a, b) => a.index - b.index);
  unsent.sort((a, b) => a.index - b.index);
  return { accepted, failed, unsent, requests, retries };
}

/** One PutEvents request: undefined per accepted entry, or its error and how to treat it. */
export async function putOnce(
  client: EventBridgeClient,
  entries: readonly PutEventsEntry[],
  busName?: string,
): Promise<({ error: string; kind: FailureKind } | undefined)[]> {
  const request: PutEventsRequestEntry[] = entries.map((entry) => ({
    Source: entry.Source,
    DetailType: entry.DetailType,
    Detail: entry.Detail,
    Resources: entry.Resources ? [...entry.Resources] : undefined,
    Time: entry.Time,
    EventBusName: entry.EventBusName ?? busName,
  }));
  try {
    const response = await client.send(new PutEventsCommand({ Entries: request }));
    return entries.map((_, i) => {
      const result = response.Entries?.[i];
      if (result?.EventId) return undefined;
      const code = result?.ErrorCode;
      return {
        error: `${code ?? 'Unknown'}: ${result?.ErrorMessage ?? 'no event id returned'}`,
        kind: isRetryableEntryCode(code) ? 'retryable' : 'permanent',
      };
    });
  } catch (error) {
    const failure = { error: describeError(error), kind: classifyError(error) };
    return entries.map(() => failure);
  }
}

/**
 * A token bucket: at most `perSecond` entries a second, with a burst of one second's worth. When
 * `signal` aborts, a waiting caller returns at once (its caller checks the signal before sending).
 */
export function rateLimiter(
  perSecond: number,
  now: () => number = Date.now,
  wait: (ms: number) => Promise<void> = (ms) => sleep(ms, signal),
  signal?: AbortSignal,
) {
  let tokens = Math.min(perSecond, 10);
  let last = now();
  return async (count: number): Promise<void> => {
    for (;;) {
      if (signal?.aborted) return;
      const t = now();
      tokens = Math.min(Math.max(perSecond, count), tokens + ((t - last) / 1000) * perSecond);
      last = t;
      if (tokens >= count) {
        tokens -= count;
        return;
      }
      await wait(Math.ceil(((count - tokens) / perSecond) * 1000));
    }
  };
}
