import type { StateLog } from './log.js';
import type { BodyLocation, Message } from './queue.js';
import type { QueueRegistry } from './queue-registry.js';

/**
 * Keeps message bodies in memory up to a budget (UTF-16 units, all queues together). Beyond it, a
 * body is dropped once its send record is written, and read back from the log when it is received,
 * so memory stays flat however long the backlog grows.
 */
export class BodyMemory {
  constructor(
    private readonly queues: QueueRegistry,
    private readonly budget: number,
  ) {}

  /**
   * The send record of message `id` is written at `location`: over the budget, drop the body.
   * By id, not by object: a message moved to another queue meanwhile is a copy (see `Message.copy`).
   */
  placed(id: string, location: BodyLocation): void {
    const m = this.queues.messageById(id);
    if (m === undefined) return;
    m.loc = location;
    if (m.text !== undefined && this.queues.liveBytes() > this.budget) m.text = undefined;
  }

  /** The bodies, from memory or read back from their send records in the log (all in one go). */
  read(messages: readonly Message[], log: Pick<StateLog, 'readBodies'>): string[] {
    const bodies = messages.map((m) => m.text);
    const dropped = messages.filter((m) => m.text === undefined);
    if (dropped.length === 0) return bodies as string[];
    const read = log.readBodies(dropped);
    let next = 0;
    return bodies.map((text) => text ?? (read[next++] as Buffer).toString('utf8'));
  }
}
