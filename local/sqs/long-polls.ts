import type { Queue } from './queue.js';
import type { StoredReceivedMessage } from './received.js';
import { MAX_WAIT_TIME_SECONDS } from './validate.js';

/** What long polls need from the store. */
export interface LongPollHost {
  now(): number;
  /** Receives up to `max` visible messages of the queue (possibly none). */
  take(q: Queue, max: number, visibilityMs: number, now: number): StoredReceivedMessage[];
  /** Resolves once the records appended so far are written. */
  commit(): Promise<void>;
  /** Makes due messages visible (which serves waiting polls through `serve`) and drops expired ones. */
  maintain(q: Queue, now: number): void;
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

/**
 * Receives that wait (WaitTimeSeconds > 0) for a message, per queue in arrival order. They are served
 * when a message becomes visible: at once on send, move or visibility change, and by a timer at the
 * next in-flight or delayed message's deadline.
 */
export class LongPolls {
  private readonly waiting = new Map<Queue, WaitState>();
  private closed = false;

  constructor(private readonly host: LongPollHost) {}

  /** Waits up to `seconds` for messages; answers none when the time runs out. */
  wait(q: Queue, max: number, visibilityMs: number, seconds: number): Promise<StoredReceivedMessage[]> {
    return new Promise((resolve, reject) => {
      const state = this.waitState(q);
      const waiter: Waiter = { max, visibilityMs, resolve, reject, timer: undefined };
      waiter.timer = setTimeout(() => {
        const i = state.waiters.indexOf(waiter);
        if (i >= 0) state.waiters.splice(i, 1);
        resolve([]);
      }, seconds * 1000);
      state.waiters.push(waiter);
      this.armWake(q);
    });
  }

  /** Hands visible messages of the queue to its waiting polls, oldest poll first. */
  serve(q: Queue): void {
    const state = this.waiting.get(q);
    if (state === undefined || state.waiters.length === 0 || q.visible === 0) return;
    const now = this.host.now();
    while (state.waiters.length > 0 && q.visible > 0) {
      const w = state.waiters[0] as Waiter;
      const messages = this.host.take(q, w.max, w.visibilityMs, now);
      if (messages.length === 0) break;
      state.waiters.shift();
      clearTimeout(w.timer);
      this.host.commit().then(() => w.resolve(messages), w.reject);
    }
  }

  /** While polls wait, wakes up when the next in-flight or delayed message becomes visible. */
  armWake(q: Queue): void {
    const state = this.waiting.get(q);
    const deadline = q.nextDeadline();
    if (state === undefined || state.waiters.length === 0 || deadline === undefined || this.closed) return;
    if (state.wake !== undefined && state.wakeAt <= deadline) return;
    if (state.wake !== undefined) clearTimeout(state.wake);
    state.wakeAt = deadline;
    state.wake = setTimeout(
      () => {
        state.wake = undefined;
        this.host.maintain(q, this.host.now());
        this.armWake(q);
      },
      Math.min(Math.max(deadline - this.host.now(), 0), MAX_WAIT_TIME_SECONDS * 1000) + 1,
    );
  }

  /** Fails every waiting poll with `error` and stops the timers (the store's state is being rebuilt). */
  fail(error: Error): void {
    this.closed = true;
    for (const state of this.waiting.values()) {
      if (state.wake) clearTimeout(state.wake);
      for (const w of state.waiters.splice(0)) {
        clearTimeout(w.timer);
        w.reject(error);
      }
    }
  }

  /** Answers every waiting poll with no messages and stops the timers. */
  close(): void {
    this.closed = true;
    for (const state of this.waiting.values()) {
      if (state.wake) clearTimeout(state.wake);
      for (const w of state.waiters.splice(0)) {
        clearTimeout(w.timer);
        w.resolve([]);
      }
    }
  }

  private waitState(q: Queue): WaitState {
    let state = this.waiting.get(q);
    if (state === undefined) {
      state = { waiters: [], wake: undefined, wakeAt: 0 };
      this.waiting.set(q, state);
    }
    return state;
  }
}
