import { setTimeout as sleep } from 'node:timers/promises';
import { sqsMessageBytes } from '../../functions/core/billing-units.js';
import type {
  EventSourceMappingModel,
  InvocationResult,
  LambdaInvoker,
  QueueService,
  ReceivedMessage,
} from '../model.js';
import { regionOfArn } from './environment.js';
import { EventPayload } from './event-payload.js';
import type { InvocationErrorType } from './metrics.js';
import { readBatchItemFailures, type SqsEvent, toSqsRecord } from './sqs-event.js';

export interface DeletedMessage {
  readonly messageId: string;
  readonly queueArn: string;
  /** Epoch ms from the message's `SentTimestamp` attribute, when it has one. */
  readonly sentTimestamp?: number;
  readonly deletedAt: number;
  /** Send-to-delete latency: what a producer waits for its message to be processed. */
  readonly latencyMs?: number;
}

export interface SqsEventSourcePollerOptions {
  readonly queues: QueueService;
  readonly invoker: LambdaInvoker;
  /** Concurrency cap when the mapping sets no `MaximumConcurrency` (default 10). */
  readonly defaultMaxConcurrency?: number;
  /** Long-poll wait of an idle poller's receive, seconds (default 1; 0 = short polls). */
  readonly receiveWaitSeconds?: number;
  /** Pause between short polls that found nothing, ms (default 100). */
  readonly idlePollIntervalMs?: number;
  /** Least time between adding two pollers while a backlog remains, ms (default 100). */
  readonly scaleUpIntervalMs?: number;
  /** Called for every message deleted after processing (latency measurement). */
  readonly onDeleted?: (deleted: DeletedMessage) => void;
  /** Diagnostics (whole-batch failures and why, queue errors); default: stderr. */
  readonly log?: (line: string) => void;
  /** Largest invocation event a batch may make, bytes (default Lambda's 6 MB; tests set less). */
  readonly maxPayloadBytes?: number;
  /**
   * Told about every SQS call the poller makes, as Lambda's pollers make them (billed SQS requests):
   * each receive with its payload (empty ones too), and the deletes and visibility changes of a batch
   * as `...Batch` calls of up to 10 entries.
   */
  readonly onSqsCall?: (queue: string, action: SqsPollerAction, payloadBytes: number) => void;
}

export type SqsPollerAction = 'ReceiveMessage' | 'DeleteMessageBatch' | 'ChangeMessageVisibilityBatch';

/** Entries per DeleteMessageBatch / ChangeMessageVisibilityBatch call. */
const SQS_BATCH_ENTRIES = 10;

export interface PollerStats {
  readonly batches: number;
  readonly records: number;
  readonly deleted: number;
  /** Records left on the queue after an invocation (retried after the visibility timeout). */
  readonly failedRecords: number;
  /** Batches in which no record was deleted because of an error or an invalid failure report. */
  readonly failedBatches: number;
  readonly invocationErrors: Readonly<Record<InvocationErrorType | 'InvokerThrew', number>>;
  /** Invocations in flight. */
  readonly inFlight: number;
  /** Messages in those invocations. */
  readonly inFlightRecords: number;
  /** Messages made visible again at once because of a stop (never received, unprocessed or unfinished). */
  readonly handedBack: number;
  readonly maxInFlight: number;
  readonly pollers: number;
}

const SQS_MAX_RECEIVE = 10;
const SQS_MAX_WAIT_SECONDS = 20;
const RECEIVE_ERROR_BACKOFF_MS = 1_000;

/**
 * Lambda's SQS event source mapping for one mapping: polls the queue, gathers batches (size and
 * batching window), invokes the function with the SQS event, at most `maxConcurrency` at a time,
 * and deletes what succeeded. Failed messages are left alone: the queue's visibility timeout and
 * redrive policy decide what happens to them, as in AWS.
 */
export class SqsEventSourcePoller {
  private readonly mapping: EventSourceMappingModel;
  private readonly options: SqsEventSourcePollerOptions;
  private readonly region: string;
  private readonly maxConcurrency: number;
  private readonly abort = new AbortController();
  private readonly loops = new Set<Promise<void>>();
  private active = 0;
  private running = false;
  private stopping = false;
  private lastScaleUp = 0;
  private readonly stats_ = {
    batches: 0,
    records: 0,
    deleted: 0,
    failedRecords: 0,
    failedBatches: 0,
    invocationErrors: { Handled: 0, Timeout: 0, Crash: 0, InitError: 0, InvokerThrew: 0 },
    inFlight: 0,
    maxInFlight: 0,
    handedBack: 0,
  };
  /** The batches being invoked now, for {@link handBackInFlight}. */
  private readonly invoking = new Set<readonly ReceivedMessage[]>();
  /** Received and not yet invoked: a batch filling during its window, and messages carried to the next. */
  private readonly held = new Set<readonly ReceivedMessage[]>();
  /** ReceiveMessage calls under way: a forced exit waits for them so what they took is handed back too. */
  private readonly receiving = new Set<Promise<ReceivedMessage[]>>();
  /** Receipt handles already handed back, so a stop and a forced exit never hand one back twice. */
  private readonly handedBackHandles = new Set<string>();

  constructor(mapping: EventSourceMappingModel, options: SqsEventSourcePollerOptions) {
    if (!Number.isInteger(mapping.batchSize) || mapping.batchSize < 1 || mapping.batchSize > 10_000) {
      throw new RangeError(
        `Event source mapping ${mapping.logicalId}: BatchSize ${mapping.batchSize} is outside 1-10000; fix it in the CDK app and synth again.`,
      );
    }
    this.mapping = mapping;
    this.options = options;
    this.region = regionOfArn(mapping.queueArn) ?? 'us-east-1';
    this.maxConcurrency = Math.max(1, mapping.maxConcurrency ?? options.defaultMaxConcurrency ?? 10);
  }

  /** Starts polling with one poller; more join while a backlog remains. No-op for a disabled mapping. */
  start(): void {
    if (!this.mapping.enabled || this.running || this.stopping) return;
    this.running = true;
    this.addPoller();
  }

  /**
   * Stops polling and waits for the invocations in flight to finish: what they processed is deleted,
   * what they did not is handed back at once (visibility 0) instead of after the visibility timeout,
   * since the stop, not the message, is why it waits. Batches gathered but not invoked go back too.
   */
  async stop(): Promise<void> {
    this.stopping = true;
    this.abort.abort();
    while (this.loops.size > 0) await Promise.all([...this.loops]);
    this.running = false;
  }

  /**
   * For an exit that cannot wait (a second Ctrl-C): hands back the messages of the invocations in
   * flight and of receives under way (visibility 0), so they are received again at once after a
   * restart. Resolves to how many. It waits for the receives under way, so end the store's receives
   * first (`QueueStore.endReceives`, as the runtime does): a long poll then answers at once.
   */
  async handBackInFlight(): Promise<number> {
    await Promise.all([...this.receiving]);
    const messages = [...new Set([...this.invoking, ...this.held].flat())].filter(
      (message) => !this.handedBackHandles.has(message.receiptHandle),
    );
    await this.releaseUnprocessed(messages);
    return messages.length;
  }

  stats(): PollerStats {
    return {
      ...this.stats_,
      inFlightRecords: [...this.invoking].reduce((n, batch) => n + batch.length, 0),
      invocationErrors: { ...this.stats_.invocationErrors },
      pollers: this.active,
    };
  }

  private log(line: string): void {
    const prefixed = `[esm ${this.mapping.logicalId}] ${line}`;
    if (this.options.log) this.options.log(prefixed);
    else process.stderr.write(`${prefixed}\n`);
  }

  private addPoller(): void {
    this.active++;
    const loop: Promise<void> = this.pollLoop()
      .catch((error: unknown) =>
        this.log(`poller failed: ${error instanceof Error ? error.stack : String(error)}`),
      )
      .finally(() => this.loops.delete(loop));
    this.loops.add(loop);
  }

  private async pollLoop(): Promise<void> {
    let counted = true;
    // Received messages that did not fit the last batch's payload: they open the next one.
    let carried: ReceivedMessage[] = [];
    try {
      while (!this.stopping) {
        const { batch, event, overflow } = await this.collect(carried);
        carried = overflow;
        if (batch.length === 0) {
          this.held.delete(batch);
          // An empty queue needs only one poller: extra ones leave (scale down).
          if (this.active > 1) {
            this.active--;
            counted = false;
            return;
          }
          if ((this.options.receiveWaitSeconds ?? 1) === 0) await this.pause(this.idlePollIntervalMs());
          continue;
        }
        if (this.stopping) {
          await this.releaseUnprocessed(batch);
          this.held.delete(batch);
          return;
        }
        this.maybeScaleUp();
        await this.process(batch, event);
      }
    } finally {
      if (carried.length > 0) await this.releaseUnprocessed(carried);
      this.held.delete(carried);
      if (counted) this.active--;
    }
  }

  private maybeScaleUp(): void {
    const now = Date.now();
    if (this.stopping || this.active >= this.maxConcurrency) return;
    if (now - this.lastScaleUp < (this.options.scaleUpIntervalMs ?? 100)) return;
    if (this.options.queues.counts(this.mapping.queueArn).visible === 0) return;
    this.lastScaleUp = now;
    this.addPoller();
  }

  /**
   * Gathers up to BatchSize messages: until full, or the batching window closes, or (window 0) the
   * queue is drained, or the next message would take the event past the payload limit. Messages
   * received beyond that limit come back as `overflow` for the next batch: handing them back to
   * the queue would count a receive against their maxReceiveCount without running them.
   * `event` is the batch's SQS event, its records built once for both the size check and the call.
   */
  private async collect(
    carried: readonly ReceivedMessage[],
  ): Promise<{ batch: ReceivedMessage[]; event: SqsEvent; overflow: ReceivedMessage[] }> {
    const { batchSize } = this.mapping;
    const windowMs = this.mapping.maxBatchingWindowSeconds * 1000;
    const batch: ReceivedMessage[] = [];
    const overflow: ReceivedMessage[] = [];
    const payload = new EventPayload(this.options.maxPayloadBytes);
    this.held.add(batch);
    this.held.add(overflow);
    const admit = (messages: readonly ReceivedMessage[]) => {
      for (const message of messages) {
        const fits =
          overflow.length === 0 &&
          batch.length < batchSize &&
          payload.tryAdd(toSqsRecord(message, this.mapping.queueArn, this.region));
        if (fits) batch.push(message);
        else overflow.push(message);
      }
    };
    admit(carried);
    this.held.delete(carried);
    let deadline = batch.length > 0 ? Date.now() + windowMs : undefined;
    while (!this.stopping && batch.length < batchSize && overflow.length === 0) {
      const waitTimeSeconds =
        deadline === undefined
          ? (this.options.receiveWaitSeconds ?? 1)
          : Math.min(SQS_MAX_WAIT_SECONDS, Math.floor(Math.max(0, deadline - Date.now()) / 1000));
      const received = await this.receive(
        Math.min(SQS_MAX_RECEIVE, batchSize - batch.length),
        waitTimeSeconds,
      );
      admit(received);
      this.held.delete(received);
      if (batch.length === 0) break;
      deadline ??= Date.now() + windowMs;
      if (windowMs === 0) {
        if (received.length === 0) break;
        continue;
      }
      const left = deadline - Date.now();
      if (left <= 0) break;
      if (received.length === 0 && waitTimeSeconds === 0)
        await this.pause(Math.min(this.idlePollIntervalMs(), left));
    }
    return { batch, event: payload.event(), overflow };
  }

  private async receive(maxMessages: number, waitTimeSeconds: number): Promise<ReceivedMessage[]> {
    const call = this.receiveAndHold(maxMessages, waitTimeSeconds);
    this.receiving.add(call);
    try {
      return await call;
    } finally {
      this.receiving.delete(call);
    }
  }

  /** Receives; what comes back is held at once, before the caller admits it into a batch. */
  private async receiveAndHold(maxMessages: number, waitTimeSeconds: number): Promise<ReceivedMessage[]> {
    try {
      const received = await this.options.queues.receive(this.mapping.queueArn, {
        maxMessages,
        waitTimeSeconds,
      });
      this.held.add(received);
      this.options.onSqsCall?.(
        this.mapping.queueArn,
        'ReceiveMessage',
        received.reduce((sum, m) => sum + sqsMessageBytes(m.body, m.messageAttributes), 0),
      );
      return received;
    } catch (error) {
      this.log(
        `receive from ${this.mapping.queueArn} failed: ${error instanceof Error ? error.message : String(error)}`,
      );
      await this.pause(RECEIVE_ERROR_BACKOFF_MS);
      return [];
    }
  }

  private async process(batch: ReceivedMessage[], event: SqsEvent): Promise<void> {
    const stats = this.stats_;
    stats.batches++;
    stats.records += batch.length;
    stats.inFlight++;
    stats.maxInFlight = Math.max(stats.maxInFlight, stats.inFlight);
    this.invoking.add(batch);
    this.held.delete(batch);
    let result: InvocationResult | undefined;
    try {
      result = await this.options.invoker.invoke(this.mapping.functionLogicalId, event, {
        plainJsonEvent: true,
      });
    } catch (error) {
      stats.invocationErrors.InvokerThrew++;
      this.log(`invoke failed: ${error instanceof Error ? error.message : String(error)}`);
    } finally {
      stats.inFlight--;
      this.invoking.delete(batch);
    }
    const succeeded = this.succeeded(batch, result);
    stats.failedRecords += batch.length - succeeded.length;
    if (succeeded.length === 0 && batch.length > 0) stats.failedBatches++;
    await Promise.all(succeeded.map((message) => this.delete(message)));
    this.reportBatchCalls('DeleteMessageBatch', succeeded.length);
    if (this.stopping && succeeded.length < batch.length) {
      const done = new Set(succeeded);
      await this.releaseUnprocessed(batch.filter((message) => !done.has(message)));
    }
  }

  private succeeded(batch: ReceivedMessage[], result: InvocationResult | undefined): ReceivedMessage[] {
    if (!result) return [];
    if (!result.ok) {
      this.stats_.invocationErrors[result.errorType]++;
      return [];
    }
    if (!this.mapping.reportBatchItemFailures) return batch;
    const verdict = readBatchItemFailures(
      result.payload,
      batch.map((message) => message.messageId),
    );
    if (verdict.kind === 'all-failed') {
      this.log(`whole batch of ${batch.length} failed: ${verdict.reason} (ReportBatchItemFailures)`);
      return [];
    }
    return batch.filter((message) => !verdict.failed.has(message.messageId));
  }

  private async delete(message: ReceivedMessage): Promise<void> {
    try {
      await this.options.queues.delete(this.mapping.queueArn, message.receiptHandle);
    } catch (error) {
      this.log(
        `delete of ${message.messageId} failed: ${error instanceof Error ? error.message : String(error)}`,
      );
      return;
    }
    this.stats_.deleted++;
    const deletedAt = Date.now();
    const sent = Number(message.attributes.SentTimestamp);
    const sentTimestamp = Number.isFinite(sent) && sent > 0 ? sent : undefined;
    this.options.onDeleted?.({
      messageId: message.messageId,
      queueArn: this.mapping.queueArn,
      deletedAt,
      ...(sentTimestamp === undefined ? {} : { sentTimestamp, latencyMs: deletedAt - sentTimestamp }),
    });
  }

  /** `entries` deleted or handed back, as the batch calls Lambda makes for them. */
  private reportBatchCalls(action: SqsPollerAction, entries: number): void {
    for (let left = entries; left > 0; left -= SQS_BATCH_ENTRIES)
      this.options.onSqsCall?.(this.mapping.queueArn, action, 0);
  }

  /** Messages the stop keeps from being processed: visible again at once instead of after the timeout. */
  private async releaseUnprocessed(messages: readonly ReceivedMessage[]): Promise<void> {
    const batch = messages.filter((message) => !this.handedBackHandles.has(message.receiptHandle));
    for (const message of batch) this.handedBackHandles.add(message.receiptHandle);
    this.reportBatchCalls('ChangeMessageVisibilityBatch', batch.length);
    await Promise.all(
      batch.map((message) =>
        this.options.queues.changeVisibility(this.mapping.queueArn, message.receiptHandle, 0).then(
          () => {
            this.stats_.handedBack++;
          },
          (error: unknown) =>
            this.log(
              `could not hand back ${message.messageId}; it comes back after its visibility timeout: ${error instanceof Error ? error.message : String(error)}`,
            ),
        ),
      ),
    );
  }

  private idlePollIntervalMs(): number {
    return this.options.idlePollIntervalMs ?? 100;
  }

  /** A sleep that stop() cuts short. */
  private async pause(ms: number): Promise<void> {
    if (this.stopping) return;
    await sleep(ms, undefined, { signal: this.abort.signal }).catch(() => undefined);
  }
}
