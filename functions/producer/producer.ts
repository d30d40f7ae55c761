import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import type { S3Client } from '@aws-sdk/client-s3';
import type { BackoffOptions } from '../core/backoff';
import { backoffDelayMs } from '../core/backoff';
import { type Envelope, type EnvelopeInput, envelopeSchema } from '../core/envelope';
import { DetailType, tenantSource } from '../core/events';
import { HybridLogicalClock } from '../core/hlc';
import { createPackCodec } from '../core/packing/codec';
import type { PackEncoder } from '../core/packing/pack';
import { type ProducerPackPolicy, resolvePackPolicy } from '../core/packing/policy';
import {
  entrySize,
  MAX_ENTRIES_PER_REQUEST,
  MAX_REQUEST_BYTES,
  type PutEventsEntry,
  planRequests,
} from '../core/put-events';
import { SequenceCounter } from '../core/sequence';
import { TASK_ID_PATTERN } from '../core/task/id';
import { type ClaimStore, claimCheckIfNeeded, S3ClaimStore } from './claims';
import { Outbox, type OutboxOptions } from './outbox';
import { envelopeOfEntry, type PackedUnit, packRequests } from './packer';
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
  /**
   * Packing: requests of one tenant, task and detail-type that are queued together share an entry
   * (a packed envelope), up to `maxItems` requests and `maxEntryBytes` (one 64 KB billing unit,
   * less room for the SQS wrapper), waiting at most `waitMs` (default `lingerMs`) for company; a
   * request alone in its window goes as a plain single event. `false` sends every request alone.
   * @default packing on, `zstd` codec
   */
  readonly pack?: Partial<ProducerPackPolicy> | false;
  /** Without an outbox: attempts per entry before it is reported failed. @default 5 */
  readonly maxAttempts?: number;
  /** With an outbox, retries never stop; the delay between them grows to `capMs`. */
  readonly backoff?: BackoffOptions;
  /**
   * Called for every entry that failed for good (not called while an outbox keeps retrying); a
   * pack's entry carries `requests` requests.
   */
  readonly onFailed?: (entry: PutEventsEntry, failure: EntryFailure, requests: number) => void;
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
  /** Requests accepted by the bus. */
  readonly sent: number;
  /** Entries accepted (packs and single events): what EventBridge bills, in 64 KB units. */
  readonly entries: number;
  /** Entries that failed for good, each with how many requests it carried. */
  readonly failed: readonly FailedEntry[];
}

export interface FailedEntry {
  readonly entry: PutEventsEntry;
  readonly failure: EntryFailure;
  readonly requests: number;
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
  /** The request as a plain single event (what the outbox holds). */
  readonly entry: PutEventsEntry;
  readonly envelope?: Envelope;
  readonly bytes: number;
}

/**
 * A producer for one tenant: envelope stamping (id, HLC, per-stream sequence), automatic packing
 * (requests queued together share packed entries, `pack`) and batching (10 entries / 1 MB per
 * PutEvents request, or after `lingerMs`), retries with backoff and jitter, claim checks for large
 * payloads and an optional durable outbox. Requests go out one at a time, so events leave in emit
 * order; across an outage the outbox keeps that order. Delivery is at-least-once: a restart may
 * re-send the last request, and a failed pack is retried whole, with the same envelope ids.
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
  private failed: FailedEntry[] = [];
  private sent = 0;
  private sentEntries = 0;
  private queuedBytes = 0;
  private readonly pack?: ProducerPackPolicy;
  private encoder?: Promise<PackEncoder>;
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private closed = false;
  private emitChain: Promise<void> = Promise.resolve();

  constructor(private readonly options: ProducerOptions) {
    if (options.task !== undefined) checkTaskId(options.task, 'ProducerOptions.task');
    this.client = options.client ?? new EventBridgeClient({});
    this.clock = new HybridLogicalClock(options.node ?? defaultNode(), options.now);
    this.sleep = options.sleep ?? defaultSleep;
    if (options.pack !== false) {
      this.pack = resolvePackPolicy({ waitMs: options.lingerMs, ...options.pack });
    }
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
      for (const entry of this.outbox.unsent()) this.enqueue(entry, envelopeOfEntry(entry));
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
    this.enqueue(entry, entry.Detail === JSON.stringify(envelope) ? envelope : envelopeOfEntry(entry));
    this.schedule(this.fullBatchQueued() ? 0 : (this.pack?.waitMs ?? this.options.lingerMs ?? 20));
    return envelope;
  }

  private enqueue(entry: PutEventsEntry, envelope: Envelope | undefined): void {
    const bytes = entrySize(entry);
    this.queue.push({ entry, envelope, bytes });
    this.queuedBytes += bytes;
  }

  /** Whether waiting longer could not make the next PutEvents request any fuller. */
  private fullBatchQueued(): boolean {
    if (!this.pack) return this.queue.length >= MAX_ENTRIES_PER_REQUEST;
    return (
      this.queue.length >= this.pack.maxItems * MAX_ENTRIES_PER_REQUEST || this.queuedBytes >= this.batchBytes
    );
  }

  /**
   * Bytes of plain requests one PutEvents request of full packs holds: 10 entries, each one
   * `maxEntryBytes` of JSON, or about 2.3 times that with zstd (BENCHMARKS.md, "Encoding"; a
   * guess only sizes the batch, the packs themselves are measured).
   */
  private get batchBytes(): number {
    const pack = this.pack as ProducerPackPolicy;
    return Math.min(
      MAX_ENTRIES_PER_REQUEST * pack.maxEntryBytes * (pack.codec === 'zstd' ? 2.3 : 1),
      4 * MAX_REQUEST_BYTES,
    );
  }

  async flush(): Promise<FlushReport> {
    await this.emitChain;
    const before = this.sent;
    const entriesBefore = this.sentEntries;
    while (this.queue.length > 0 || this.running) {
      if (!this.running) this.running = this.drain().finally(() => (this.running = undefined));
      await this.running;
    }
    const failed = this.failed;
    this.failed = [];
    return { sent: this.sent - before, entries: this.sentEntries - entriesBefore, failed };
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

  /**
   * Sends the queue head, a batch at a time, until the queue is empty. A batch is packed into
   * entries, sent in PutEvents requests one after another; a failed entry (a whole pack) is retried
   * as it is, so its requests keep their ids and the handlers' de-duplication sees a retry.
   */
  private async drain(): Promise<void> {
    let outage = 0;
    while (this.queue.length > 0) {
      const batch = this.nextBatch();
      const units = await this.unitsOf(batch);
      let pending = units.map((_, i) => i);
      let settledPrefix = 0;
      const done = new Array<boolean>(batch.length).fill(false);
      for (let attempt = 1; pending.length > 0; attempt++) {
        const retry: number[] = [];
        let unreachable = false;
        for (const request of planRequests(pending.map((u) => (units[u] as PackedUnit).entry))) {
          const sending = request.map((k) => pending[k] as number);
          const results = await putOnce(
            this.client,
            sending.map((u) => (units[u] as PackedUnit).entry),
          );
          results.forEach((result, position) => {
            const u = sending[position] as number;
            const unit = units[u] as PackedUnit;
            if (result === undefined) {
              for (const m of unit.members) done[m] = true;
              this.sent += unit.members.length;
              this.sentEntries++;
              return;
            }
            const failure: EntryFailure = {
              index: u,
              error: result.error,
              kind: result.kind,
              attempts: attempt,
            };
            const keep = this.outbox
              ? result.kind !== 'permanent'
              : result.kind !== 'permanent' && attempt < this.maxAttempts;
            if (keep) {
              retry.push(u);
              unreachable ||= result.kind === 'unreachable';
              return;
            }
            for (const m of unit.members) done[m] = true;
            this.failed.push({ entry: unit.entry, failure, requests: unit.members.length });
            this.options.onFailed?.(unit.entry, failure, unit.members.length);
          });
        }
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
      for (const item of batch) this.queuedBytes -= item.bytes;
    }
  }

  /** The batch's entries: one per request without packing, else packs and lone single events. */
  private async unitsOf(batch: readonly Queued[]): Promise<PackedUnit[]> {
    if (!this.pack) return batch.map((item, i) => ({ entry: item.entry, members: [i] }));
    let encoder: PackEncoder | undefined;
    if (this.pack.codec === 'zstd' && batch.length > 1) {
      this.encoder ??= createPackCodec().catch((error: Error) => {
        this.encoder = undefined;
        throw error;
      });
      encoder = await this.encoder;
    }
    const now = this.options.now;
    return packRequests(batch, this.pack, encoder, now ? () => new Date(now()) : undefined);
  }

  private get maxAttempts(): number {
    return this.options.maxAttempts ?? 5;
  }

  /** The queue head one PutEvents request can carry (packed, or entry by entry). */
  private nextBatch(): Queued[] {
    const maxItems = this.pack ? this.pack.maxItems * MAX_ENTRIES_PER_REQUEST : MAX_ENTRIES_PER_REQUEST;
    const maxBytes = this.pack ? this.batchBytes : MAX_REQUEST_BYTES;
    const batch: Queued[] = [];
    let bytes = 0;
    for (const item of this.queue) {
      if (batch.length === maxItems || (batch.length > 0 && bytes + item.bytes > maxBytes)) break;
      batch.push(item);
      bytes += item.bytes;
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
