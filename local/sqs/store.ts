import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { QueueModel, QueueService, SqsMessageAttribute } from '../model.js';
import type { DurableWrites, StorageHealth } from '../storage-health.js';
import { normalizeAttributes } from './attributes.js';
import { BodyMemory } from './body-memory.js';
import { invalidParameter, messageNotInflight } from './errors.js';
import { decodeReceiptHandle } from './handles.js';
import { StateLog } from './log.js';
import { LongPolls } from './long-polls.js';
import { QueueMaintenance } from './maintenance.js';
import { md5Hex, md5OfMessageAttributes } from './md5.js';
import { type MoveTaskInfo, MoveTasks, type StartMoveTaskInput } from './move-tasks.js';
import { DELAYED, IN_FLIGHT, Message, type Queue, VISIBLE } from './queue.js';
import { QueueRegistry } from './queue-registry.js';
import { receivedMessage, type StoredReceivedMessage } from './received.js';
import type { LogRecord, SendRecord } from './records.js';
import { LogReplay } from './replay.js';
import { snapshotRecords } from './snapshot.js';
import {
  intInRange,
  MAX_DELAY_SECONDS,
  MAX_VISIBILITY_TIMEOUT_SECONDS,
  MAX_WAIT_TIME_SECONDS,
  validateMessage,
} from './validate.js';

export type { StoredReceivedMessage } from './received.js';

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
  /** The log's durable writes (tests and fault runs inject failing ones). Default: the disk. */
  writes?: DurableWrites;
  /** Told of failed writes and recoveries (the runtime's `/health`). */
  health?: StorageHealth;
}

export interface SendResult {
  messageId: string;
  md5OfMessageBody: string;
  md5OfMessageAttributes?: string;
}

export interface ReceiveOptions {
  maxMessages: number;
  waitTimeSeconds?: number;
  visibilityTimeoutSeconds?: number;
}

/**
 * The local SQS: standard queues with SQS semantics (visibility timeouts, receive counts, redrive to a
 * dead-letter queue, retention, long polling, message move tasks), durable in an append-only log under
 * `<stateDir>/sqs/`. Every operation answers only after its log record is written (group commit).
 */
export class QueueStore implements QueueService {
  readonly stateDir: string;
  // Rebuilt from the log after a failed write (see `resetState`).
  private queues!: QueueRegistry;
  private bodies!: BodyMemory;
  private polls!: LongPolls;
  private maintenance!: QueueMaintenance;
  private tasks!: MoveTasks;
  private replay!: LogReplay;
  private readonly log: StateLog;
  private readonly models: readonly QueueModel[];
  private readonly memoryBodyBytes: number;
  private readonly now: () => number;
  private readonly warn: (message: string) => void;
  private readonly tokenPrefix = randomBytes(6).toString('base64url');
  private tokenCounter = 0;
  private closed = false;
  private receivesEnded = false;

  constructor(queues: readonly QueueModel[], options: QueueStoreOptions) {
    this.stateDir = options.stateDir;
    this.now = options.now ?? Date.now;
    this.warn = options.warn ?? ((m) => console.warn(m));
    this.models = queues;
    this.memoryBodyBytes = options.memoryBodyBytes ?? 32 * 1024 * 1024;
    this.emptyState();
    this.log = new StateLog(
      join(options.stateDir, 'sqs'),
      {
        apply: (r) => this.replay.apply(r),
        reset: (error) => this.resetState(error),
        liveBytes: () => this.queues.liveBytes(),
        snapshot: () => snapshotRecords(this.queues.all, this.tasks),
        placed: (id, location) => this.bodies.placed(id, location),
      },
      {
        fsync: options.fsync,
        compactMinBytes: options.compactMinBytes,
        compactSliceMs: options.compactSliceMs,
        warn: this.warn,
        existingState: () => laterState(options.stateDir),
        writes: options.writes,
        health: options.health,
        now: this.now,
      },
    );
    this.replay.reportSkipped(this.log.file);
    this.startState();
  }

  /** Empty queues and tasks, for the log to replay into. */
  private emptyState(): void {
    this.queues = new QueueRegistry(this.models);
    this.bodies = new BodyMemory(this.queues, this.memoryBodyBytes);
    this.polls = new LongPolls({
      now: this.now,
      take: (q, max, visibilityMs, now) => this.take(q, max, visibilityMs, now),
      commit: () => this.log.commit(),
      maintain: (q, now) => this.maintenance.run(q, now),
    });
    this.maintenance = new QueueMaintenance(this.polls);
    this.tasks = new MoveTasks({
      now: this.now,
      queueByArn: (arn) => this.queues.byArn(arn),
      queues: () => this.queues.all,
      append: (r) => this.log.append(r),
      commit: () => this.log.commit(),
      maintain: (q) => this.maintenance.run(q, this.now()),
      move: (from, m, to, taskHandle) => this.moveMessage(from, m, to, undefined, true, taskHandle),
    });
    this.replay = new LogReplay(this.queues, this.tasks, this.warn);
  }

  /** After replay: due messages become visible, running move tasks resume. */
  private startState(): void {
    this.maintenance.start(this.queues.all, this.now());
    this.tasks.resume();
  }

  /**
   * A write failed and the log was cut back to its last written record: the state in memory holds
   * changes that are not in the log. Drop it all (waiting receives fail with the storage error, so
   * their callers retry) and replay the log into a fresh one.
   */
  private resetState(error: Error): void {
    this.tasks.stop();
    this.polls.fail(error);
    this.emptyState();
    queueMicrotask(() => {
      if (!this.closed) this.startState();
    });
  }

  /** Queue models, in template order (orphans from old templates excluded). */
  queueModels(): QueueModel[] {
    return this.queues.models();
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
    this.log.checkWritable();
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
    const encoded = this.log.appendSend(head, body, size.body, (location) =>
      this.bodies.placed(id, location),
    );
    const m = new Message(id, body, md5Hex(encoded), attributes, attributesMd5, now, undefined);
    if (head.v !== undefined) m.visibleAt = head.v;
    q.add(m, delay > 0 ? DELAYED : VISIBLE);
    if (delay > 0) this.polls.armWake(q);
    else this.polls.serve(q);
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
    this.log.checkWritable();
    if (this.receivesEnded) return [];
    const now = this.now();
    this.maintenance.run(q, now);
    const out = this.take(q, max, visibility * 1000, now);
    if (out.length > 0 || wait === 0 || this.closed) return this.log.commit().then(() => out);
    return this.polls.wait(q, max, visibility * 1000, wait);
  }

  /**
   * Deletes the message the handle was issued for. As SQS documents, only the latest receive's handle
   * deletes: an older handle (the message was received again since) and a handle of an already deleted
   * message both succeed without deleting anything.
   */
  async delete(queue: string, receiptHandle: string): Promise<void> {
    const q = this.queue(queue);
    const { id, token } = decodeReceiptHandle(receiptHandle);
    this.log.checkWritable();
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
    this.log.checkWritable();
    const now = this.now();
    this.maintenance.run(q, now);
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
      this.polls.serve(q);
    } else {
      q.makeTimed(m, IN_FLIGHT, visibleAt);
      this.polls.armWake(q);
    }
    await this.log.commit();
  }

  /** Deletes every message in the queue, in flight or not; returns how many. */
  async purge(queue: string): Promise<number> {
    const q = this.queue(queue);
    this.log.checkWritable();
    const n = q.purge();
    this.log.append({ t: 'p', q: q.model.name });
    await this.log.commit();
    return n;
  }

  counts(queue: string): { visible: number; inFlight: number; delayed: number } {
    const q = this.queue(queue);
    this.maintenance.run(q, this.now());
    return { visible: q.visible, inFlight: q.inFlight, delayed: q.delayed };
  }

  /** Queues whose redrive policy names this queue as their dead-letter queue. */
  deadLetterSourceQueues(queue: string): QueueModel[] {
    const arn = this.queue(queue).model.arn;
    return this.queueModels().filter((m) => m.redrive?.deadLetterTargetArn === arn);
  }

  async startMessageMoveTask(input: StartMoveTaskInput): Promise<{ taskHandle: string }> {
    this.log.checkWritable();
    return this.tasks.start(input);
  }

  listMessageMoveTasks(input: { sourceArn: string; maxResults?: number }): MoveTaskInfo[] {
    return this.tasks.list(input.sourceArn, input.maxResults);
  }

  cancelMessageMoveTask(input: {
    taskHandle: string;
  }): Promise<{ approximateNumberOfMessagesMoved: number }> {
    this.log.checkWritable();
    return this.tasks.cancel(input.taskHandle);
  }

  /** Resolves once everything done so far is written. */
  flush(): Promise<void> {
    return this.log.commit();
  }

  /**
   * For an exit that cannot wait: pending long polls are answered with no messages and every later
   * receive gets none, so a message handed back now (visibility 0) stays visible for the next start
   * instead of going in flight to a receiver that is about to die.
   */
  endReceives(): void {
    this.receivesEnded = true;
    this.polls.close();
  }

  /** Answers pending long polls with no messages, stops timers and closes the log. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.tasks.stop();
    this.polls.close();
    this.log.close();
  }

  private queue(ref: string): Queue {
    if (this.closed) throw new Error('The local SQS store is closed.');
    return this.queues.resolve(ref);
  }

  private take(q: Queue, max: number, visibilityMs: number, now: number): StoredReceivedMessage[] {
    // A long poll served by a timer while writes fail: it keeps waiting rather than fail.
    if (!this.log.writable) return [];
    const taken: Message[] = [];
    const redrive = q.model.redrive;
    const dlq = redrive ? this.queues.byArn(redrive.deadLetterTargetArn) : undefined;
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
    if (taken.length > 0) this.polls.armWake(q);
    const bodies = this.bodies.read(taken, this.log);
    return taken.map((m, i) => receivedMessage(m, bodies[i] as string));
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
    this.polls.serve(to);
  }
}

/**
 * State the local runtime creates only after the SQS log (it starts the queues before Firehose), so
 * a state folder holding it without the log lost its log.
 */
function laterState(stateDir: string): string | undefined {
  const firehose = join(stateDir, 'firehose');
  return existsSync(firehose)
    ? `the state folder holds Firehose state (${firehose}), created only after it`
    : undefined;
}
