import {
  type EventBridgeClient,
  PutEventsCommand,
  type PutEventsRequestEntry,
} from '@aws-sdk/client-eventbridge';
import { backoffDelayMs } from '../core/backoff';
import { type PutEventsEntry, planRequests } from '../core/put-events';

export interface PublishOutcome {
  /** Indexes of entries that could not be published after every attempt, with the last error. */
  readonly failed: ReadonlyMap<number, string>;
  /** The EventBridge event id of each published entry, by index (what archive rows name). */
  readonly eventIds?: ReadonlyMap<number, string>;
}

export interface EventPublisher {
  publish(entries: readonly PutEventsEntry[]): Promise<PublishOutcome>;
}

export interface PutEventsPublisherOptions {
  readonly maxAttempts?: number;
  readonly sleep?: (ms: number) => Promise<void>;
}

const sleepMs = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * PutEvents in requests of at most 10 entries and 1 MB; entries that fail (per-entry errors or a
 * failed request) are retried with exponential backoff and full jitter, and reported by index
 * when they still fail, so the caller can hand exactly those records back to SQS.
 */
export class PutEventsPublisher implements EventPublisher {
  private readonly maxAttempts: number;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(
    private readonly client: EventBridgeClient,
    private readonly busName: string,
    options: PutEventsPublisherOptions = {},
  ) {
    this.maxAttempts = options.maxAttempts ?? 4;
    this.sleep = options.sleep ?? sleepMs;
  }

  async publish(entries: readonly PutEventsEntry[]): Promise<PublishOutcome> {
    const failed = new Map<number, string>();
    const eventIds = new Map<number, string>();
    let pending = entries.map((_, index) => index);
    for (let attempt = 0; attempt < this.maxAttempts && pending.length > 0; attempt++) {
      if (attempt > 0) await this.sleep(backoffDelayMs(attempt - 1));
      const retry: number[] = [];
      const current = pending;
      // The requests of one attempt go out together: a batch costs one round trip, not one per 10 entries.
      const sent = await Promise.all(
        planRequests(current.map((i) => entries[i] as PutEventsEntry)).map(async (request) => {
          const indexes = request.map((position) => current[position] as number);
          return { indexes, errors: await this.send(indexes.map((i) => entries[i] as PutEventsEntry)) };
        }),
      );
      for (const { indexes, errors } of sent) {
        errors.forEach((error, position) => {
          const index = indexes[position] as number;
          if (typeof error === 'object') {
            eventIds.set(index, error.eventId);
            return;
          }
          failed.set(index, error);
          retry.push(index);
        });
      }
      for (const index of pending) if (!retry.includes(index)) failed.delete(index);
      pending = retry;
    }
    return { failed, eventIds };
  }

  /** One PutEvents call; returns the error of each entry, or its event id when accepted. */
  private async send(entries: readonly PutEventsEntry[]): Promise<(string | { eventId: string })[]> {
    const request: PutEventsRequestEntry[] = entries.map((entry) => ({
      ...entry,
      Resources: entry.Resources ? [...entry.Resources] : undefined,
      EventBusName: entry.EventBusName ?? this.busName,
    }));
    try {
      const response = await this.client.send(new PutEventsCommand({ Entries: request }));
      return entries.map((_, i) => {
        const result = response.Entries?.[i];
        if (result?.EventId) return { eventId: result.EventId };
        return `${result?.ErrorCode ?? 'Unknown'}: ${result?.ErrorMessage ?? 'no event id returned'}`;
      });
    } catch (error) {
      const message = `${(error as Error).name}: ${(error as Error).message}`;
      return entries.map(() => message);
    }
  }
}
