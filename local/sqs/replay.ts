import { LOCAL_ACCOUNT, type QueueModel } from '../model.js';
import { md5Hex, md5OfMessageAttributes } from './md5.js';
import type { MoveTasks } from './move-tasks.js';
import { DELAYED, IN_FLIGHT, Message, type Queue, VISIBLE } from './queue.js';
import type { QueueRegistry } from './queue-registry.js';
import type { LogRecord } from './records.js';

/**
 * Rebuilds the queues and message move tasks from the state log at start-up, one record at a time.
 * A queue the templates no longer define comes back as an orphan: kept, but not reachable.
 */
export class LogReplay {
  /** Records that referred to messages no longer present (they are skipped). */
  private issues = 0;

  constructor(
    private readonly queues: QueueRegistry,
    private readonly tasks: MoveTasks,
    private readonly warn: (message: string) => void,
  ) {}

  /** Warns once, after replay, of the records that were skipped. */
  reportSkipped(file: string): void {
    if (this.issues === 0) return;
    this.warn(
      `Local SQS: ${this.issues} record(s) in ${file} referred to messages no longer present and were skipped.`,
    );
  }

  apply(r: LogRecord): void {
    switch (r.t) {
      case 's': {
        if (typeof r.q !== 'string' || typeof r.id !== 'string' || typeof r.b !== 'string') {
          throw new Error('a message record lacks its queue, id or body');
        }
        const q = this.queue(r.q);
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
        const m = this.message(r.q, r.id);
        if (m === undefined) return;
        m.message.receiveCount++;
        if (r.f !== undefined) m.message.firstReceiveAt = r.f;
        m.message.receipt = r.k;
        m.queue.makeTimed(m.message, IN_FLIGHT, r.v);
        return;
      }
      case 'c': {
        const m = this.message(r.q, r.id);
        if (m !== undefined) m.queue.makeTimed(m.message, IN_FLIGHT, r.v);
        return;
      }
      case 'd': {
        const m = this.message(r.q, r.id);
        if (m !== undefined) m.queue.remove(m.message);
        return;
      }
      case 'm': {
        const m = this.message(r.q, r.id);
        if (m === undefined) return;
        m.queue.remove(m.message);
        this.queue(r.to).add(m.message.copy(r.o, r.z === 1), VISIBLE);
        if (r.x !== undefined) this.tasks.replayMoved(r.x);
        return;
      }
      case 'p':
        this.queue(r.q).purge();
        return;
      case 'T':
        this.tasks.replayStart(r, (name) => this.queue(name));
        return;
      case 'E':
        this.tasks.replayEnd(r);
        return;
      default:
        throw new Error(`unknown record type ${JSON.stringify((r as { t: unknown }).t)}`);
    }
  }

  private queue(name: string): Queue {
    const known = this.queues.named(name);
    if (known !== undefined) return known;
    this.warn(
      `Local SQS: the state folder holds messages of queue "${name}", which the templates no longer define. They are kept but not reachable until the queue is back.`,
    );
    return this.queues.addOrphan(orphanModel(name));
  }

  private message(queueName: string, id: string): { queue: Queue; message: Message } | undefined {
    const queue = this.queue(queueName);
    const message = queue.messages.get(id);
    if (message === undefined) {
      this.issues++;
      return undefined;
    }
    return { queue, message };
  }
}

function orphanModel(name: string): QueueModel {
  return {
    logicalId: name,
    name,
    arn: `arn:aws:sqs:local:${LOCAL_ACCOUNT}:${name}`,
    url: `orphan:${name}`,
    visibilityTimeoutSeconds: 30,
    messageRetentionSeconds: Number.MAX_SAFE_INTEGER / 1000,
  };
}
