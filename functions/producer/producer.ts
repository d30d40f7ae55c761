import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import type { S3Client } from '@aws-sdk/client-s3';
import type { BackoffOptions } from '../core/backoff';
import { backoffDelayMs } from '../core/backoff';
import { type Envelope, type EnvelopeInput, envelopeSchema } from '../core/envelope';
import { DetailType, tenantSource } from '../core/events';
import { HybridLogicalClock } from '../core/hlc';
import {
  entrySize,
  MAX_ENTRIES_PER_REQUEST,
  MAX_REQUEST_BYTES,
  type PutEventsEntry,
} from '../core/put-events';
import { SequenceCounter } from '../core/sequence';
import { TASK_ID_PATTERN } from '../core/task/id';
import { type ClaimStore, claimCheckIfNeeded, S3ClaimStore } from './claims';
import { Outbox, type OutboxOptions } from './outbox';
import { sleep as defaultSleep, type EntryFailure, putOnce } from './sender';

export interface ProducerOptions {
  /** Name or ARN of the bus, e.g. `inferbus-dev`. */
  readonly busName: string;
  readonly tenant: string;
  /** @default `inferbus.<tenant>`, which the tenant rules match */
  readonly source?: string;
  /** @default `InferenceRequested` */
  readonly detailType?: string;
  /** @default `default` */
  readonly stream?: string;
  /**
   * The task every request is for (`detail.task`), unless `emit` names another. @default none: the
   * requests go to the stage's first task, as a single-task producer's always have
   */
  readonly task?: string;
  /** HLC node id. @default `<hostname>.<pid>`, cleaned */
  readonly node?: string;
  /** @default a new EventBridgeClient with the default credential chain */
  readonly client?: EventBridgeClient;
  /** Payloads over the entry limit: `payload.text` is stored here and the event carries `payload.claim`. */
  readonly claims?: { readonly bucket: string; readonly client: S3Client } | ClaimStore;
  /** A durable outbox folder: events survive an unreachable bus and a restart. */
  readonly outbox?: string | OutboxOptions;
  /** Send a partial batch after this long. @default 20 ms */
  readonly lingerMs?: number;
  /** Without an outbox: attempts per entry before it is reported failed. @default 5 */
  readonly maxAttempts?: number;
  /** With an outbox, retries never stop; the delay between them grows to `capMs`. */
  readonly backoff?: BackoffOptions;
  /** Called for every entry that failed for good (not called while an outbox keeps retrying). */
  readonly onFailed?: (entry: PutEventsEntry, failure: EntryFailure) => void;
  readonly now?: () => number;
  readonly sleep?: (ms: number) => Promise<void>;
}

export interface EmitOptions {
  readonly stream?: string;
  /** The task this request is for. @default the producer's `task` */
  readonly task?: string;
  /** @default a random UUID */
  readonly id?: string;
  readonly metadata?: Record<string, string>;
  readonly detailType?: string;
}

export interface FlushReport {
  readonly sent: number;
  readonly failed: readonly { entry: PutEventsEntry; failure: EntryFailure }[];
}

export interface Producer {
  /**
   * Stamps and queues one event; with an outbox it is on disk when this resolves. The payload holds
   * the request's input: `{text}` for a text task, `{features: number[]}` for a features task.
   */
  emit(type: string, payload: Record<string, unknown>, options?: EmitOptions): Promise<Envelope>;
  /** Resolves when everything emitted so far is accepted or failed for good. */
  flush(): Promise<FlushReport>;
  /** Flushes, then stops timers and closes the outbox. */
  close(): Promise<FlushReport>;
  /** The last sequence number of a stream (continues across restarts with an outbox). */
  lastSequence(stream?: string): number;
  /** Entries waiting to be sent. */
  readonly pending: number;
}

interface Queued {
  readonly entry: PutEventsEntry;
}

/**
 * A producer for one tenant: envelope stamping (id, HLC, per-stream sequence), automatic batching
 * (10 entries / 1 MB per request, or after `lingerMs`), retries with backoff and jitter, claim
 * checks for large payloads and an optional durable outbox. Requests go out one at a time, so
 * events leave in emit order; across an outage the outbox keeps that order. Delivery is
 * at-least-once: a restart may re-send the last request, with the same envelope ids.
 */
export function createProducer(options: ProducerOptions): Producer {
  return new BatchingProducer(options);
}

class BatchingProducer implements Producer {
  private readonly client: EventBridgeClient;
  private readonly clock: HybridLogicalClock;
  private readonly sequences = new SequenceCounter();
  private readonly queue: Queued[] = [];
  private readonly outbox?: Outbox;
  private readonly claims?: ClaimStore;
  private readonly sleep: (ms: number) => Promise<void>;
  private failed: { entry: PutEventsEntry; failure: EntryFailure }[] = [];
  private sent = 0;
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private closed = false;
  private emitChain: Promise<void> = Promise.resolve();

  constructor(private readonly options: ProducerOptions) {
    if (options.task !== undefined) checkTaskId(options.task, 'ProducerOptions.task');
    this.client = options.client ?? new EventBridgeClient({});
    this.clock = new HybridLogicalClock(options.node ?? defaultNode(), options.now);
    this.sleep = options.sleep ?? defaultSleep;
    if (options.claims) {
      this.claims =
        'put' in options.claims
          ? options.claims
          : new S3ClaimStore(options.claims.client, options.claims.bucket);
    }
    if (options.outbox) {
      this.outbox = new Outbox(typeof options.outbox === 'string' ? { dir: options.outbox } : options.outbox);
      const { sequences, hlc } = this.outbox.state;
      for (const [tenant, streams] of Object.entries(sequences ?? {})) {
        for (const [stream, seq] of Object.entries(streams)) this.sequences.observe(tenant, stream, seq);
      }
      if (hlc) this.clock.observe(hlc);
      for (const entry of this.outbox.all) this.observe(entry);
      this.outbox.all.length = 0;
      for (const entry of this.outbox.unsent()) this.queue.push({ entry });
      if (this.queue.length > 0) this.schedule(0);
    }
  }

  get pending(): number {
    return this.queue.length;
  }

  lastSequence(stream = this.options.stream ?? 'default'): number {
    return this.sequences.current(this.options.tenant, stream);
  }

  emit(type: string, payload: Record<string, unknown>, emit: EmitOptions = {}): Promise<Envelope> {
    if (this.closed) return Promise.reject(new Error('the producer is closed'));
    // Emits run one after another, so sequence numbers, HLC stamps and the queue share one order
    // even when a claim-check upload makes one of them slow.
    const result = this.emitChain.then(() => this.emitNow(type, payload, emit));
    this.emitChain = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }

  private async emitNow(
    type: string,
    payload: Record<string, unknown>,
    emit: EmitOptions,
  ): Promise<Envelope> {
    const stream = emit.stream ?? this.options.stream ?? 'default';
    const now = (this.options.now ?? Date.now)();
    if (emit.task !== undefined) checkTaskId(emit.task, 'emit options.task');
    const task = emit.task ?? this.options.task;
    const input: EnvelopeInput = {
      id: emit.id ?? randomUUID(),
      tenant: this.options.tenant,
      stream,
      seq: this.sequences.current(this.options.tenant, stream) + 1,
      hlc: this.clock.next(),
      type,
      ...(task === undefined ? {} : { task }),
      payload,
      metadata: emit.metadata ?? {},
      time: new Date(now).toISOString(),
    };
    const envelope = envelopeSchema.parse(input);
    const { entry } = await claimCheckIfNeeded(
      {
        EventBusName: this.options.busName,
        Source: this.options.source ?? tenantSource(this.options.tenant),
        DetailType: emit.detailType ?? this.options.detailType ?? DetailType.InferenceRequested,
        Detail: JSON.stringify(envelope),
      },
      this.claims,
    );
    // The number is taken only once the event is accepted into the queue, so a failed emit leaves no gap.
    this.sequences.observe(this.options.tenant, stream, envelope.seq);
    this.outbox?.append(entry);
    this.queue.push({ entry });
    this.schedule(this.queue.length >= MAX_ENTRIES_PER_REQUEST ? 0 : (this.options.lingerMs ?? 20));
    return envelope;
  }

  async flush(): Promise<FlushReport> {
    await this.emitChain;
    const before = this.sent;
    while (this.queue.length > 0 || this.running) {
      if (!this.running) this.running = this.drain().finally(() => (this.running = undefined));
      await this.running;
    }
    const failed = this.failed;
    this.failed = [];
    return { sent: this.sent - before, failed };
  }

  async close(): Promise<FlushReport> {
    const report = await this.flush();
    this.closed = true;
    clearTimeout(this.timer);
    this.outbox?.close();
    return report;
  }

  private observe(entry: PutEventsEntry): void {
    try {
      const detail = JSON.parse(entry.Detail ?? '{}') as Partial<Envelope>;
      if (detail.tenant && detail.stream && typeof detail.seq === 'number') {
        this.sequences.observe(detail.tenant, detail.stream, detail.seq);
      }
      if (detail.hlc) this.clock.observe(detail.hlc);
    } catch {
      // A foreign line is sent as it is; it carries no counters.
    }
  }

  private schedule(delayMs: number): void {
    if (this.running || this.closed) return;
    if (this.timer && delayMs > 0) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (!this.running) this.running = this.drain().finally(() => (this.running = undefined));
    }, delayMs);
    this.timer.unref?.();
  }

  /** Sends the queue head, one request at a time, until the queue is empty. */
  private async drain(): Promise<void> {
    let outage = 0;
    while (this.queue.length > 0) {
      const batch = this.nextBatch();
      let pending = batch.map((_, i) => i);
      let settledPrefix = 0;
      const done = new Array<boolean>(batch.length).fill(false);
      for (let attempt = 1; pending.length > 0; attempt++) {
        const results = await putOnce(
          this.client,
          pending.map((i) => (batch[i] as Queued).entry),
        );
        const retry: number[] = [];
        let unreachable = false;
        results.forEach((result, position) => {
          const i = pending[position] as number;
          if (result === undefined) {
            done[i] = true;
            this.sent++;
            return;
          }
          const failure: EntryFailure = {
            index: i,
            error: result.error,
            kind: result.kind,
            attempts: attempt,
          };
          const keep = this.outbox
            ? result.kind !== 'permanent'
            : result.kind !== 'permanent' && attempt < this.maxAttempts;
          if (keep) {
            retry.push(i);
            unreachable ||= result.kind === 'unreachable';
            return;
          }
          done[i] = true;
          const entry = (batch[i] as Queued).entry;
          this.failed.push({ entry, failure });
          this.options.onFailed?.(entry, failure);
        });
        // The outbox cursor moves over the settled prefix only: order and at-least-once are kept.
        let prefix = settledPrefix;
        while (prefix < batch.length && done[prefix]) prefix++;
        if (prefix > settledPrefix) {
          this.outbox?.settle(prefix - settledPrefix, () => this.state());
          settledPrefix = prefix;
        }
        pending = retry;
        if (pending.length === 0) break;
        outage = unreachable ? outage + 1 : 0;
        await this.sleep(
          backoffDelayMs(Math.min(attempt - 1, 16), this.options.backoff ?? { baseMs: 100, capMs: 5_000 }),
        );
      }
      this.queue.splice(0, batch.length);
    }
  }

  private get maxAttempts(): number {
    return this.options.maxAttempts ?? 5;
  }

  private nextBatch(): Queued[] {
    const batch: Queued[] = [];
    let bytes = 0;
    for (const item of this.queue) {
      const size = entrySize(item.entry);
      if (batch.length === MAX_ENTRIES_PER_REQUEST || (batch.length > 0 && bytes + size > MAX_REQUEST_BYTES))
        break;
      batch.push(item);
      bytes += size;
    }
    return batch;
  }

  private state() {
    return { sequences: this.sequences.snapshot(), hlc: this.clock.snapshot() };
  }
}

function defaultNode(): string {
  return `${hostname()}.${process.pid}`.replace(/[^A-Za-z0-9_.:]/g, '_').slice(0, 40);
}

/** A task id the stage could route: refused at once, before anything is stamped or queued. */
function checkTaskId(task: string, where: string): void {
  if (!TASK_ID_PATTERN.test(task)) {
    throw new Error(
      `${where} ${JSON.stringify(task)} is not a task id: 1-12 lowercase letters and digits, starting with a letter (the id in the task's manifest)`,
    );
  }
}
