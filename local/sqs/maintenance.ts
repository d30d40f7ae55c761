import type { LongPolls } from './long-polls.js';
import type { Queue } from './queue.js';

const FULL_EXPIRY_SWEEP_MS = 60_000;

/**
 * Brings a queue up to date before it is used: due in-flight and delayed messages become visible
 * (serving waiting long polls) and messages past retention are dropped. Retention is checked from
 * the oldest message on, and over every message once a minute (see `Queue.expire`).
 */
export class QueueMaintenance {
  private readonly sweptAt = new Map<Queue, number>();

  constructor(private readonly polls: Pick<LongPolls, 'serve'>) {}

  /** At start-up: releases what is due and sweeps every queue in full. */
  start(queues: readonly Queue[], now: number): void {
    for (const q of queues) {
      q.release(now);
      q.expire(now, true);
      this.sweptAt.set(q, now);
    }
  }

  run(q: Queue, now: number): void {
    const deadline = q.nextDeadline();
    if (deadline !== undefined && deadline <= now && q.release(now) > 0) this.polls.serve(q);
    const full = now - (this.sweptAt.get(q) ?? 0) >= FULL_EXPIRY_SWEEP_MS;
    if (full) this.sweptAt.set(q, now);
    q.expire(now, full);
  }
}
