import { randomBytes, randomUUID } from 'node:crypto';
import { join } from 'node:path';
import {
  LOCAL_ACCOUNT,
  type QueueModel,
  type QueueService,
  type ReceivedMessage,
  type SqsMessageAttribute,
} from '../model.js';
import type { SnapshotEntry } from './compaction.js';
import { invalidParameter, messageNotInflight, QueueDoesNotExistError } from './errors.js';
import { decodeReceiptHandle, encodeReceiptHandle } from './handles.js';
import { StateLog } from './log.js';
import { md5Hex, md5OfMessageAttributes } from './md5.js';
import { type MoveTaskInfo, MoveTasks, type StartMoveTaskInput } from './move-tasks.js';
import { type BodyLocation, DELAYED, IN_FLIGHT, Message, Queue, VISIBLE } from './queue.js';
import type { LogRecord, SendRecord } from './records.js';
import {
  intInRange,
  MAX_DELAY_SECONDS,
  MAX_VISIBILITY_TIMEOUT_SECONDS,
  MAX_WAIT_TIME_SECONDS,
  validateMessage,
} from './validate.js';

export interface QueueStoreOptions {
  /** The local runtime's state folder; the SQS state lives in `<stateDir>/sqs/`. */
  stateDir: string;
  /** fdatasync each group commit (survives power loss, slower). Default false: survives process kills. */
  fsync?: boolean;
  /** Log size below which it is never compacted (it also needs 3x the live state in dead records). Default 16 MiB. */
  compactMinBytes?: number;
  /** Longest a compaction holds the event loop in one turn, in ms. Default 5. */
  compactSliceMs?: number;
  /**
   * Message bodies (UTF-16 units, all queues together) kept in memory. Beyond it, a message's body
   * is dropped once its send record is written and read back from the log when it is received, so
   * memory stays flat however long the backlog grows. Default 32 Mi.
   */
  memoryBodyBytes?: number;
  /** Wall clock in epoch ms (tests inject one). */
  now?: () => number;
  warn?: (message: string) => void;
}

export interface SendResult {
  messageId: string;
  md5OfMessageBody: string;
  md5OfMessageAttributes?: string;
}

export interface StoredReceivedMessage extends ReceivedMessage {
  /** MD5 of all the message's attributes (absent when it has none). */
  readonly md5OfMessageAttributes?: string;
}

export interface ReceiveOptions {
  maxMessages: number;
  waitTimeSeconds?: number;
  visibilityTimeoutSeconds?: number;
}

interface Waiter {
  readonly max: number;
  readonly visibilityMs: number;
  readonly resolve: (messages: StoredReceivedMessage[]) => void;
  readonly reject: (error: Error) => void;
  timer: NodeJS.Timeout | undefined;
}

interface WaitState {
  readonly waiters: Waiter[];
  wake: NodeJS.Timeout | undefined;
  wakeAt: number;
}

const EMPTY_ATTRIBUTES: Record<string, SqsMessageAttribute> = Object.freeze({});
const FULL_EXPIRY_SWEEP_MS = 60_000;

/**
 * The local SQS: standard queues with SQS semantics (visibility timeouts, receive counts, redrive to a
 * dead-letter queue, retention, long polling, message move tasks), durable in an append-only log under
 * `<stateDir>/sqs/`. Every operation answers only after its log record is written (group commit).
 */
export class QueueStore implements QueueService {
  readonly stateDir: string;
  private readonly queuesByKey = new Map<string, Queue>();
  private readonly byName = new Map<string, Queue>();
  private readonly all: Queue[] = [];
  private readonly waiting = new Map<Queue, WaitState>();
  private readonly sweptAt = new Map<Queue, number>();
  private readonly log: StateLog;
  private readonly tasks: MoveTasks;
  private readonly now: () => number;
  private readonly warn: (message: string) => void;
  private readonly memoryBodyBytes: number;
  private readonly tokenPrefix = randomBytes(6).toString('base64url');
  private tokenCounter = 0;
  private replayIssues = 0;
  private closed = false;

  constructor(queues: readonly QueueModel[], options: QueueStoreOptions) {
    this.stateDir = options.stateDir;
    this.now = options.now ?? Date.now;
    this.warn = options.warn ?? ((m) => console.warn(m));
    this.memoryBodyBytes = options.memoryBodyBytes ?? 32 * 1024 * 1024;
    for (const model of queues) {
      const q = new Queue(model);
      this.all.push(q);
      this.byName.set(model.name, q);
      this.queuesByKey.set(model.arn, q);
      this.queuesByKey.set(model.url, q);
      this.queuesByKey.set(model.name, q);
    }
    this.tasks = new MoveTasks({
      now: this.now,
      queueByArn: (arn) => this.byArnOrUndefined(arn),
      queues: () => this.all,
      append: (r) => this.log.append(r),
      commit: () => this.log.commit(),
      maintain: (q) => this.maintain(q, this.now()),
      move: (from, m, to, taskHandle) => this.moveMessage(from, m, to, undefined, true, taskHandle),
    });
    this.log = new StateLog(
      join(options.stateDir, 'sqs'),
      {
        apply: (r) => this.apply(r),
        liveBytes: () => this.liveBytes(),
        snapshot: () => this.snapshot(),
        placed: (id, location) => this.placed(id, location),
      },
      {
        fsync: options.fsync,
        compactMinBytes: options.compactMinBytes,
        compactSliceMs: options.compactSliceMs,
        warn: this.warn,
      },
    );
    if (this.replayIssues > 0) {
      this.warn(
        `Local SQS: ${this.replayIssues} record(s) in ${this.log.file} referred to messages no longer present and were skipped.`,
      );
    }
    const now = this.now();
    for (const q of this.all) {
      q.release(now);
      q.expire(now, true);
      this.sweptAt.set(q, now);
    }
    this.tasks.resume();
  }

  /** Queue models, in template order (orphans from old templates excluded). */
  queueModels(): QueueModel[] {
    return this.all.filter((q) => !q.orphan).map((q) => q.model);
  }

  /** Resolves a queue ARN, URL or name; throws QueueDoesNotExistError. */
  queueModel(queue: string): QueueModel {
    return this.queue(queue).model;
  }

  async send(
    queue: string,
    body: string,
    messageAttributes?: Record<string, SqsMessageAttribute>,
    options: { delaySeconds?: number } = {},
  ): Promise<SendResult> {
    const q = this.queue(queue);
    const size = validateMessage(body, messageAttributes);
    const delay =
      options.delaySeconds === undefined
        ? 0
        : intInRange('DelaySeconds', options.delaySeconds, 0, MAX_DELAY_SECONDS);
    const attributes = normalizeAttributes(messageAttributes);
    const attributesMd5 = attributes === undefined ? undefined : md5OfMessageAttributes(attributes);
    const now = this.now();
    const id = randomUUID();
    const head: Omit<SendRecord, 'b'> = { t: 's', q: q.model.name, id, ts: now };
    if (attributes !== undefined) head.a = attributes;
    if (delay > 0) head.v = now + delay * 1000;
    // The MD5 of the bytes just encoded for the log: the body is converted to UTF-8 once.
    const encoded = this.log.appendSend(head, body, size.body, (location) => this.placed(id, location));
    const m = new Message(id, body, md5Hex(encoded), attributes, attributesMd5, now, undefined);
    if (head.v !== undefined) m.visibleAt = head.v;
    q.add(m, delay > 0 ? DELAYED : VISIBLE);
    if (delay > 0) this.armWake(q);
    else this.serveWaiters(q);
    await this.log.commit();
    const result: SendResult = { messageId: m.id, md5OfMessageBody: m.md5 };
    if (attributesMd5 !== undefined) result.md5OfMessageAttributes = attributesMd5;
    return result;
  }

  async receive(queue: string, options: ReceiveOptions): Promise<StoredReceivedMessage[]> {
    const q = this.queue(queue);
    const max = intInRange('MaxNumberOfMessages', options.maxMessages, 1, 10);
    const wait = intInRange('WaitTimeSeconds', options.waitTimeSeconds ?? 0, 0, MAX_WAIT_TIME_SECONDS);
    const visibility = intInRange(
      'VisibilityTimeout',
      options.visibilityTimeoutSeconds ?? q.model.visibilityTimeoutSeconds,
      0,
      MAX_VISIBILITY_TIMEOUT_SECONDS,
    );
    const now = this.now();
    this.maintain(q, now);
    const out = this.take(q, max, visibility * 1000, now);
    if (out.length > 0 || wait === 0 || this.closed) return this.log.commit().then(() => out);
    return new Promise((resolve, reject) => {
      const state = this.waitState(q);
      const waiter: Waiter = { max, visibilityMs: visibility * 1000, resolve, reject, timer: undefined };
      waiter.timer = setTimeout(() => {
        const i = state.waiters.indexOf(waiter);
        if (i >= 0) state.waiters.splice(i, 1);
        resolve([]);
      }, wait * 1000);
      state.waiters.push(waiter);
      this.armWake(q);
    });
  }

  /**
   * Deletes the message the handle was issued for. As SQS documents, only the latest receive's handle
   * deletes: an older handle (the message was received again since) and a handle of an already deleted
   * message both succeed without deleting anything.
   */
  async delete(queue: string, receiptHandle: string): Promise<void> {
    const q = this.queue(queue);
    const { id, token } = decodeReceiptHandle(receiptHandle);
    const m = q.messages.get(id);
    if (m !== undefined && m.receipt === token) {
      q.remove(m);
      this.log.append({ t: 'd', q: q.model.name, id });
    }
    await this.log.commit();
  }

  async changeVisibility(
    queue: string,
    receiptHandle: string,
    visibilityTimeoutSeconds: number,
  ): Promise<void> {
    const q = this.queue(queue);
    const { id, token } = decodeReceiptHandle(receiptHandle);
    const seconds = intInRange(
      'VisibilityTimeout',
      visibilityTimeoutSeconds,
      0,
      MAX_VISIBILITY_TIMEOUT_SECONDS,
    );
    const now = this.now();
    this.maintain(q, now);
    const m = q.messages.get(id);
    if (m === undefined || m.receipt !== token) {
      throw invalidParameter(
        `Value ${receiptHandle} for parameter ReceiptHandle is invalid. Reason: Message does not exist or is not available for visibility timeout change.`,
      );
    }
    if (m.state !== IN_FLIGHT) throw messageNotInflight();
    const visibleAt = now + seconds * 1000;
    this.log.append({ t: 'c', q: q.model.name, id, v: visibleAt });
    if (seconds === 0) {
      q.makeVisible(m);
      this.serveWaiters(q);
    } else {
      q.makeTimed(m, IN_FLIGHT, visibleAt);
      this.armWake(q);
    }
    await this.log.commit();
  }

  /** Deletes every message in the queue, in flight or not; returns how many. */
  async purge(queue: string): Promise<number> {
    const q = this.queue(queue);
    const n = q.purge();
    this.log.append({ t: 'p', q: q.model.name });
    await this.log.commit();
    return n;
  }

  counts(queue: string): { visible: number; inFlight: number; delayed: number } {
    const q = this.queue(queue);
    this.maintain(q, this.now());
    return { visible: q.visible, inFlight: q.inFlight, delayed: q.delayed };
  }

  /** Queues whose redrive policy names this queue as their dead-letter queue. */
  deadLetterSourceQueues(queue: string): QueueModel[] {
    const arn = this.queue(queue).model.arn;
    return this.queueModels().filter((m) => m.redrive?.deadLetterTargetArn === arn);
  }

  startMessageMoveTask(input: StartMoveTaskInput): Promise<{ taskHandle: string }> {
    return this.tasks.start(input);
  }

  listMessageMoveTasks(input: { sourceArn: string; maxResults?: number }): MoveTaskInfo[] {
    return this.tasks.list(input.sourceArn, input.maxResults);
  }

  cancelMessageMoveTask(input: {
    taskHandle: string;
  }): Promise<{ approximateNumberOfMessagesMoved: number }> {
    return this.tasks.cancel(input.taskHandle);
  }

  /** Resolves once everything done so far is written. */
  flush(): Promise<void> {
    return this.log.commit();
  }

  /** Answers pending long polls with no messages, stops timers and closes the log. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.tasks.stop();
    for (const state of this.waiting.values()) {
      if (state.wake) clearTimeout(state.wake);
      for (const w of state.waiters.splice(0)) {
        clearTimeout(w.timer);
        w.resolve([]);
      }
    }
    this.log.close();
  }

  private queue(ref: string): Queue {
    if (this.closed) throw new Error('The local SQS store is closed.');
    const q = this.queuesByKey.get(ref);
    if (q !== undefined) return q;
    // A queue URL with another host or port (localhost vs 127.0.0.1): match /<account>/<name>.
    if (typeof ref === 'string' && /^https?:\/\//.test(ref)) {
      try {
        const parts = new URL(ref).pathname.split('/').filter(Boolean);
        if (parts.length === 2 && parts[0] === LOCAL_ACCOUNT) {
          const byName = this.byName.get(parts[1] as string);
          if (byName !== undefined && !byName.orphan) return byName;
        }
      } catch {
        // Not a URL after all: fall through to the error.
      }
    }
    throw new QueueDoesNotExistError(String(ref));
  }

  private byArnOrUndefined(arn: string): Queue | undefined {
    const q = this.queuesByKey.get(arn);
    return q !== undefined && q.model.arn === arn ? q : undefined;
  }

  /** Makes due messages visible (serving long polls) and drops expired ones. */
  private maintain(q: Queue, now: number): void {
    const deadline = q.nextDeadline();
    if (deadline !== undefined && deadline <= now && q.release(now) > 0) this.serveWaiters(q);
    const full = now - (this.sweptAt.get(q) ?? 0) >= FULL_EXPIRY_SWEEP_MS;
    if (full) this.sweptAt.set(q, now);
    q.expire(now, full);
  }

  private take(q: Queue, max: number, visibilityMs: number, now: number): StoredReceivedMessage[] {
    const taken: Message[] = [];
    const redrive = q.model.redrive;
    const dlq = redrive ? this.byArnOrUndefined(redrive.deadLetterTargetArn) : undefined;
    const retentionMs = q.model.messageRetentionSeconds * 1000;
    while (taken.length < max) {
      const m = q.takeVisible();
      if (m === undefined) break;
      if (m.sentAt + retentionMs <= now) {
        // Expiry needs no record: replay drops the message again by the same rule.
        q.remove(m);
        continue;
      }
      if (dlq !== undefined && redrive !== undefined && m.receiveCount >= redrive.maxReceiveCount) {
        // SQS moves the message when a receive would exceed maxReceiveCount.
        this.moveMessage(q, m, dlq, q.model.arn, false, undefined);
        continue;
      }
      m.receiveCount++;
      const token = this.tokenPrefix + (this.tokenCounter++).toString(36);
      m.receipt = token;
      const visibleAt = now + visibilityMs;
      if (m.firstReceiveAt === 0) {
        m.firstReceiveAt = now;
        this.log.append({ t: 'r', q: q.model.name, id: m.id, k: token, v: visibleAt, f: now });
      } else {
        this.log.append({ t: 'r', q: q.model.name, id: m.id, k: token, v: visibleAt });
      }
      q.makeTimed(m, IN_FLIGHT, visibleAt);
      taken.push(m);
    }
    if (taken.length > 0) this.armWake(q);
    const bodies = this.bodiesOf(taken);
    return taken.map((m, i) => this.received(m, bodies[i] as string));
  }

  private liveBytes(): number {
    let n = 0;
    for (const q of this.all) n += q.bytes;
    return n;
  }

  /**
   * The send record of message `id` is written at `location`: over the memory budget, drop the body.
   * By id, not by object: a message moved to another queue meanwhile is a copy (see `Message.copy`).
   */
  private placed(id: string, location: BodyLocation): void {
    const m = this.messageById(id);
    if (m === undefined) return;
    m.loc = location;
    if (m.text !== undefined && this.liveBytes() > this.memoryBodyBytes) m.text = undefined;
  }

  private messageById(id: string): Message | undefined {
    for (const q of this.all) {
      const m = q.messages.get(id);
      if (m !== undefined) return m;
    }
    return undefined;
  }

  /** The bodies, from memory or read back from their send records in the log (all in one go). */
  private bodiesOf(messages: readonly Message[]): string[] {
    const bodies = messages.map((m) => m.text);
    const dropped = messages.filter((m) => m.text === undefined);
    if (dropped.length === 0) return bodies as string[];
    const read = this.log.readBodies(dropped);
    let next = 0;
    return bodies.map((text) => text ?? (read[next++] as Buffer).toString('utf8'));
  }

  private received(m: Message, body: string): StoredReceivedMessage {
    const attributes: Record<string, string> = {
      SenderId: LOCAL_ACCOUNT,
      SentTimestamp: String(m.sentAt),
      ApproximateReceiveCount: String(m.receiveCount),
      ApproximateFirstReceiveTimestamp: String(m.firstReceiveAt),
    };
    if (m.origin !== undefined) attributes.DeadLetterQueueSourceArn = m.origin;
    const out: StoredReceivedMessage = {
      messageId: m.id,
      receiptHandle: encodeReceiptHandle(m.id, m.receipt),
      body,
      md5OfBody: m.md5,
      attributes,
      messageAttributes: m.attributes ?? EMPTY_ATTRIBUTES,
      ...(m.attributesMd5 === undefined ? {} : { md5OfMessageAttributes: m.attributesMd5 }),
    };
    return out;
  }

  /** Moves a message between queues with one log record, so it is in exactly one of them. */
  private moveMessage(
    from: Queue,
    m: Message,
    to: Queue,
    origin: string | undefined,
    reset: boolean,
    taskHandle: string | undefined,
  ): void {
    from.remove(m);
    const record: LogRecord = { t: 'm', q: from.model.name, id: m.id, to: to.model.name };
    if (origin !== undefined) record.o = origin;
    if (reset) record.z = 1;
    if (taskHandle !== undefined) record.x = taskHandle;
    this.log.append(record);
    to.add(m.copy(origin, reset), VISIBLE);
    this.serveWaiters(to);
  }

  private waitState(q: Queue): WaitState {
    let state = this.waiting.get(q);
    if (state === undefined) {
      state = { waiters: [], wake: undefined, wakeAt: 0 };
      this.waiting.set(q, state);
    }
    return state;
  }

  private serveWaiters(q: Queue): void {
    const state = this.waiting.get(q);
    if (state === undefined || state.waiters.length === 0 || q.visible === 0) return;
    const now = this.now();
    while (state.waiters.length > 0 && q.visible > 0) {
      const w = state.waiters[0] as Waiter;
      const messages = this.take(q, w.max, w.visibilityMs, now);
      if (messages.length === 0) break;
      state.waiters.shift();
      clearTimeout(w.timer);
      this.log.commit().then(() => w.resolve(messages), w.reject);
    }
  }

  /** While long polls wait, wakes up when the next in-flight or delayed message becomes visible. */
  private armWake(q: Queue): void {
    const state = this.waiting.get(q);
    const deadline = q.nextDeadline();
    if (state === undefined || state.waiters.length === 0 || deadline === undefined || this.closed) return;
    if (state.wake !== undefined && state.wakeAt <= deadline) return;
    if (state.wake !== undefined) clearTimeout(state.wake);
    state.wakeAt = deadline;
    state.wake = setTimeout(
      () => {
        state.wake = undefined;
        this.maintain(q, this.now());
        this.armWake(q);
      },
      Math.min(Math.max(deadline - this.now(), 0), MAX_WAIT_TIME_SECONDS * 1000) + 1,
    );
  }

  private queueForReplay(name: string): Queue {
    const known = this.byName.get(name);
    if (known !== undefined) return known;
    this.warn(
      `Local SQS: the state folder holds messages of queue "${name}", which the templates no longer define. They are kept but not reachable until the queue is back.`,
    );
    const model: QueueModel = {
      logicalId: name,
      name,
      arn: `arn:aws:sqs:local:${LOCAL_ACCOUNT}:${name}`,
      url: `orphan:${name}`,
      visibilityTimeoutSeconds: 30,
      messageRetentionSeconds: Number.MAX_SAFE_INTEGER / 1000,
    };
    const q = new Queue(model, true);
    this.all.push(q);
    this.byName.set(name, q);
    return q;
  }

  private apply(r: LogRecord): void {
    switch (r.t) {
      case 's': {
        if (typeof r.q !== 'string' || typeof r.id !== 'string' || typeof r.b !== 'string') {
          throw new Error('a message record lacks its queue, id or body');
        }
        const q = this.queueForReplay(r.q);
        const m = new Message(
          r.id,
          r.b,
          md5Hex(r.b),
          r.a,
          r.a ? md5OfMessageAttributes(r.a) : undefined,
          r.ts,
          r.o,
        );
        m.receiveCount = r.n ?? 0;
        m.firstReceiveAt = r.f ?? 0;
        m.receipt = r.k ?? '';
        if (r.v === undefined) q.add(m, VISIBLE);
        else {
          m.visibleAt = r.v;
          q.add(m, r.k ? IN_FLIGHT : DELAYED);
        }
        return;
      }
      case 'r': {
        const m = this.replayMessage(r.q, r.id);
        if (m === undefined) return;
        m.message.receiveCount++;
        if (r.f !== undefined) m.message.firstReceiveAt = r.f;
        m.message.receipt = r.k;
        m.queue.makeTimed(m.message, IN_FLIGHT, r.v);
        return;
      }
      case 'c': {
        const m = this.replayMessage(r.q, r.id);
        if (m !== undefined) m.queue.makeTimed(m.message, IN_FLIGHT, r.v);
        return;
      }
      case 'd': {
        const m = this.replayMessage(r.q, r.id);
        if (m !== undefined) m.queue.remove(m.message);
        return;
      }
      case 'm': {
        const m = this.replayMessage(r.q, r.id);
        if (m === undefined) return;
        m.queue.remove(m.message);
        this.queueForReplay(r.to).add(m.message.copy(r.o, r.z === 1), VISIBLE);
        if (r.x !== undefined) this.tasks.replayMoved(r.x);
        return;
      }
      case 'p':
        this.queueForReplay(r.q).purge();
        return;
      case 'T':
        this.tasks.replayStart(r, (name) => this.queueForReplay(name));
        return;
      case 'E':
        this.tasks.replayEnd(r);
        return;
      default:
        throw new Error(`unknown record type ${JSON.stringify((r as { t: unknown }).t)}`);
    }
  }

  private replayMessage(queueName: string, id: string): { queue: Queue; message: Message } | undefined {
    const queue = this.queueForReplay(queueName);
    const message = queue.messages.get(id);
    if (message === undefined) {
      this.replayIssues++;
      return undefined;
    }
    return { queue, message };
  }

  /**
   * The state as records; a body is read only when its record is written. Renumbers enqueue
   * sequences first, so replaying the snapshot gives the same.
   */
  private *snapshot(): Iterable<SnapshotEntry> {
    this.tasks.renumber();
    for (const q of this.all) {
      for (const m of q.messages.values()) {
        const r: Omit<SendRecord, 'b'> = { t: 's', q: q.model.name, id: m.id, ts: m.sentAt };
        if (m.attributes !== undefined) r.a = m.attributes;
        if (m.state === IN_FLIGHT || m.state === DELAYED) r.v = m.visibleAt;
        if (m.receiveCount > 0) r.n = m.receiveCount;
        if (m.firstReceiveAt > 0) r.f = m.firstReceiveAt;
        if (m.receipt !== '') r.k = m.receipt;
        if (m.origin !== undefined) r.o = m.origin;
        yield { send: r, body: m };
      }
    }
    yield* this.tasks.snapshot();
  }
}

function normalizeAttributes(
  attributes: Record<string, SqsMessageAttribute> | undefined,
): Record<string, SqsMessageAttribute> | undefined {
  if (attributes === undefined) return undefined;
  const names = Object.keys(attributes);
  if (names.length === 0) return undefined;
  const out: Record<string, SqsMessageAttribute> = {};
  for (const name of names) {
    const a = attributes[name] as SqsMessageAttribute;
    out[name] =
      a.StringValue !== undefined
        ? { DataType: a.DataType, StringValue: a.StringValue }
        : { DataType: a.DataType, BinaryValue: a.BinaryValue ?? '' };
  }
  return out;
}
