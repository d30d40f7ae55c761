import { randomUUID } from 'node:crypto';
import { invalidParameter, resourceNotFound } from './errors.js';
import { type Message, type Queue, VISIBLE } from './queue.js';
import type { LogRecord, MoveTaskStatus, TaskEndRecord, TaskRecord } from './records.js';
import { intInRange } from './validate.js';

export interface StartMoveTaskInput {
  /** ARN of a dead-letter queue (a queue some queue's redrive policy points at). */
  sourceArn: string;
  /** Default: each message goes back to the queue it was dead-lettered from. */
  destinationArn?: string;
  /** 1-500; default: as fast as possible. */
  maxNumberOfMessagesPerSecond?: number;
}

export interface MoveTaskInfo {
  /** Only while RUNNING, as SQS does. */
  taskHandle?: string;
  status: MoveTaskStatus;
  sourceArn: string;
  destinationArn?: string;
  maxNumberOfMessagesPerSecond?: number;
  approximateNumberOfMessagesMoved: number;
  approximateNumberOfMessagesToMove: number;
  failureReason?: string;
  startedTimestamp: number;
}

/** What the tasks need from the store. */
export interface MoveTaskHost {
  now(): number;
  queueByArn(arn: string): Queue | undefined;
  queues(): readonly Queue[];
  append(record: LogRecord): void;
  commit(): Promise<void>;
  maintain(queue: Queue): void;
  /** Moves with one log record, resetting the receive count. */
  move(from: Queue, message: Message, to: Queue, taskHandle: string): void;
}

interface Task {
  readonly handle: string;
  readonly source: Queue;
  readonly destination: Queue | undefined;
  readonly rate: number | undefined;
  readonly startedAt: number;
  readonly toMove: number;
  /** Messages of the source with a sequence up to this one were there at the start. */
  maxSeq: number;
  moved: number;
  status: MoveTaskStatus;
  failureReason?: string;
  timer?: NodeJS.Timeout;
  credit: number;
}

const HISTORY_PER_SOURCE = 10;
const UNLIMITED_BATCH = 1000;
const TICK_MS = 100;

/**
 * SQS message move tasks (dead-letter queue redrive): move the messages that were in a DLQ when the
 * task started, visible ones only (in-flight ones are moved once they are visible again), with their
 * receive count reset. Each move is one log record, so a restart neither loses nor duplicates one, and a
 * task that was RUNNING resumes.
 */
export class MoveTasks {
  private readonly byHandle = new Map<string, Task>();
  private readonly bySource = new Map<Queue, Task[]>();
  private stopped = false;

  constructor(private readonly host: MoveTaskHost) {}

  async start(input: StartMoveTaskInput): Promise<{ taskHandle: string }> {
    const source = this.host.queueByArn(input.sourceArn);
    if (source === undefined) {
      throw resourceNotFound(
        `The resource that you specified for the SourceArn parameter doesn't exist: ${input.sourceArn}`,
      );
    }
    if (this.redriveSources(source).length === 0) {
      throw invalidParameter(
        `Source queue ${input.sourceArn} must be configured as a dead-letter queue (the RedrivePolicy of another queue must point at it).`,
      );
    }
    let destination: Queue | undefined;
    if (input.destinationArn !== undefined) {
      destination = this.host.queueByArn(input.destinationArn);
      if (destination === undefined) {
        throw resourceNotFound(
          `The resource that you specified for the DestinationArn parameter doesn't exist: ${input.destinationArn}`,
        );
      }
      if (destination === source) throw invalidParameter('DestinationArn must differ from SourceArn.');
    }
    const rate =
      input.maxNumberOfMessagesPerSecond === undefined
        ? undefined
        : intInRange('MaxNumberOfMessagesPerSecond', input.maxNumberOfMessagesPerSecond, 1, 500);
    if (this.history(source).some((t) => t.status === 'RUNNING')) {
      throw invalidParameter(
        'There is already a task running. Only one active task is allowed for each source queue ARN at a given time; cancel it or wait for it to complete.',
      );
    }
    this.host.maintain(source);
    const handle = Buffer.from(
      JSON.stringify({ taskId: randomUUID(), sourceArn: source.model.arn }),
    ).toString('base64');
    const record: TaskRecord = {
      t: 'T',
      h: handle,
      src: source.model.name,
      at: this.host.now(),
      toMove: source.messages.size,
      maxSeq: source.lastSeq,
      moved: 0,
    };
    if (destination !== undefined) record.dst = destination.model.name;
    if (rate !== undefined) record.rate = rate;
    this.host.append(record);
    const task = this.add(record, source, destination);
    this.schedule(task, 0);
    await this.host.commit();
    return { taskHandle: handle };
  }

  async cancel(taskHandle: string): Promise<{ approximateNumberOfMessagesMoved: number }> {
    const task = this.byHandle.get(taskHandle);
    if (task === undefined || task.status !== 'RUNNING') {
      throw resourceNotFound(`No running message move task has the handle ${taskHandle}.`);
    }
    this.end(task, 'CANCELLED');
    await this.host.commit();
    return { approximateNumberOfMessagesMoved: task.moved };
  }

  list(sourceArn: string, maxResults = 1): MoveTaskInfo[] {
    const source = this.host.queueByArn(sourceArn);
    if (source === undefined) {
      throw resourceNotFound(
        `The resource that you specified for the SourceArn parameter doesn't exist: ${sourceArn}`,
      );
    }
    intInRange('MaxResults', maxResults, 1, 10);
    return this.history(source)
      .slice(-maxResults)
      .reverse()
      .map((t) => {
        const info: MoveTaskInfo = {
          status: t.status,
          sourceArn: t.source.model.arn,
          approximateNumberOfMessagesMoved: t.moved,
          approximateNumberOfMessagesToMove: t.toMove,
          startedTimestamp: t.startedAt,
        };
        if (t.status === 'RUNNING') info.taskHandle = t.handle;
        if (t.destination !== undefined) info.destinationArn = t.destination.model.arn;
        if (t.rate !== undefined) info.maxNumberOfMessagesPerSecond = t.rate;
        if (t.failureReason !== undefined) info.failureReason = t.failureReason;
        return info;
      });
  }

  /** Restarts tasks that were RUNNING when the state was last written. */
  resume(): void {
    for (const task of this.byHandle.values()) if (task.status === 'RUNNING') this.schedule(task, 0);
  }

  stop(): void {
    this.stopped = true;
    for (const task of this.byHandle.values()) if (task.timer) clearTimeout(task.timer);
  }

  replayStart(r: TaskRecord, queueByName: (name: string) => Queue): void {
    const task = this.add(r, queueByName(r.src), r.dst === undefined ? undefined : queueByName(r.dst));
    task.moved = r.moved;
    if (r.st !== undefined) task.status = r.st;
    if (r.why !== undefined) task.failureReason = r.why;
  }

  replayMoved(handle: string): void {
    const task = this.byHandle.get(handle);
    if (task !== undefined) task.moved++;
  }

  replayEnd(r: TaskEndRecord): void {
    const task = this.byHandle.get(r.h);
    if (task === undefined) return;
    task.status = r.st;
    if (r.why !== undefined) task.failureReason = r.why;
  }

  /** Before a snapshot: maps each running task's boundary onto the renumbered sequences. */
  renumber(): void {
    for (const task of this.byHandle.values()) {
      if (task.status !== 'RUNNING') continue;
      let n = 0;
      for (const m of task.source.messages.values()) if (m.seq <= task.maxSeq) n++;
      task.maxSeq = n;
    }
    for (const q of this.host.queues()) q.renumber();
  }

  *snapshot(): Iterable<LogRecord> {
    for (const task of this.byHandle.values()) {
      const r: TaskRecord = {
        t: 'T',
        h: task.handle,
        src: task.source.model.name,
        at: task.startedAt,
        toMove: task.toMove,
        maxSeq: task.maxSeq,
        moved: task.moved,
        st: task.status,
      };
      if (task.destination !== undefined) r.dst = task.destination.model.name;
      if (task.rate !== undefined) r.rate = task.rate;
      if (task.failureReason !== undefined) r.why = task.failureReason;
      yield r;
    }
  }

  private add(r: TaskRecord, source: Queue, destination: Queue | undefined): Task {
    const task: Task = {
      handle: r.h,
      source,
      destination,
      rate: r.rate,
      startedAt: r.at,
      toMove: r.toMove,
      maxSeq: r.maxSeq,
      moved: 0,
      status: 'RUNNING',
      credit: 0,
    };
    this.byHandle.set(task.handle, task);
    const history = this.history(source);
    history.push(task);
    if (history.length > HISTORY_PER_SOURCE) {
      const old = history.shift() as Task;
      if (old.status !== 'RUNNING') this.byHandle.delete(old.handle);
    }
    this.bySource.set(source, history);
    return task;
  }

  private history(source: Queue): Task[] {
    return this.bySource.get(source) ?? [];
  }

  private redriveSources(source: Queue): Queue[] {
    return this.host
      .queues()
      .filter((q) => !q.orphan && q.model.redrive?.deadLetterTargetArn === source.model.arn);
  }

  private schedule(task: Task, delayMs: number): void {
    if (this.stopped) return;
    task.timer = setTimeout(() => this.step(task), delayMs);
  }

  private step(task: Task): void {
    task.timer = undefined;
    if (task.status !== 'RUNNING' || this.stopped) return;
    let budget = UNLIMITED_BATCH;
    if (task.rate !== undefined) {
      task.credit = Math.min(task.credit + (task.rate * TICK_MS) / 1000, task.rate);
      budget = Math.floor(task.credit);
    }
    this.host.maintain(task.source);
    const fallback = this.redriveSources(task.source)[0];
    let remaining = false;
    let moved = 0;
    for (const m of task.source.messages.values()) {
      if (m.seq > task.maxSeq) break;
      if (m.state !== VISIBLE || moved >= budget) {
        remaining = true;
        if (moved >= budget) break;
        continue;
      }
      const target =
        task.destination ?? (m.origin === undefined ? undefined : this.host.queueByArn(m.origin)) ?? fallback;
      if (target === undefined) {
        this.end(task, 'FAILED', `No destination for message ${m.id}: give DestinationArn.`);
        return;
      }
      this.host.move(task.source, m, target, task.handle);
      task.moved++;
      moved++;
    }
    task.credit -= moved;
    if (!remaining) {
      this.end(task, 'COMPLETED');
      return;
    }
    this.schedule(task, task.rate === undefined && moved > 0 ? 0 : TICK_MS);
  }

  private end(task: Task, status: TaskEndRecord['st'], why?: string): void {
    if (task.timer) clearTimeout(task.timer);
    task.timer = undefined;
    task.status = status;
    const record: TaskEndRecord = { t: 'E', h: task.handle, st: status };
    if (why !== undefined) {
      task.failureReason = why;
      record.why = why;
    }
    this.host.append(record);
  }
}
