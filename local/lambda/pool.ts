import { RunnerClosedError } from './errors.js';
import type { LambdaWorker, StartOutcome } from './worker.js';

export interface PoolOptions {
  /** Most execution environments alive at once; more concurrent invocations wait for one. */
  readonly maxWorkers: number;
  /** Idle time after which a warm worker is stopped; 0 or Infinity keeps it forever. */
  readonly idleTimeoutMs: number;
}

export interface Lease {
  readonly worker: LambdaWorker;
  /** Present for a cold start: the outcome of the init phase. */
  readonly start?: StartOutcome;
}

interface Waiter {
  /** A warm worker handed over, or null: a slot freed up, start a new one. */
  readonly resolve: (grant: LambdaWorker | null) => void;
  readonly reject: (error: Error) => void;
}

/**
 * The execution environments of one function. Warm workers are reused most-recently-used first
 * (like Lambda), so surplus workers stay idle and are reaped.
 */
export class WorkerPool {
  private readonly workers = new Set<LambdaWorker>();
  private readonly idle: LambdaWorker[] = [];
  private readonly waiters: Waiter[] = [];
  private readonly reapTimers = new Map<LambdaWorker, NodeJS.Timeout>();
  /** Slots promised to waiters that have not spawned their worker yet. */
  private reserved = 0;
  /** Warm workers kept however long they idle (provisioned concurrency). */
  private provisioned = 0;
  private closed = false;

  constructor(
    private readonly spawn: () => LambdaWorker,
    private readonly options: PoolOptions,
  ) {}

  async acquire(): Promise<Lease> {
    if (this.closed) throw new RunnerClosedError();
    const warm = this.takeIdle();
    if (warm) return { worker: warm };
    if (this.workers.size + this.reserved < this.options.maxWorkers) return this.startNew();
    const grant = await new Promise<LambdaWorker | null>((resolve, reject) =>
      this.waiters.push({ resolve, reject }),
    );
    if (grant) return { worker: grant };
    this.reserved--;
    return this.startNew();
  }

  /** Gives a worker back after an invocation (or a failed start). */
  release(worker: LambdaWorker): void {
    if (worker.state === 'dead' || this.closed) {
      this.remove(worker);
      return;
    }
    const waiter = this.waiters.shift();
    if (waiter) {
      waiter.resolve(worker);
      return;
    }
    this.idle.push(worker);
    this.scheduleReap(worker);
  }

  /** Drops a worker that is gone (or must go) and lets a waiter start a replacement. */
  remove(worker: LambdaWorker): void {
    if (!this.workers.delete(worker)) return;
    const index = this.idle.indexOf(worker);
    if (index !== -1) this.idle.splice(index, 1);
    this.clearReap(worker);
    void worker.kill();
    const waiter = this.waiters.shift();
    if (waiter) {
      this.reserved++;
      waiter.resolve(null);
    }
  }

  /**
   * Starts up to `count` workers ahead of any invocation and keeps that many from being reaped, as
   * Lambda keeps provisioned execution environments initialised. Resolves with each start's outcome;
   * a worker whose init failed is dropped (an invocation will start, and report, a new one).
   */
  async provision(count: number): Promise<StartOutcome[]> {
    if (this.closed) throw new RunnerClosedError();
    const n = Math.max(0, Math.min(count, this.options.maxWorkers - this.workers.size - this.reserved));
    this.provisioned = Math.min(count, this.options.maxWorkers);
    return Promise.all(
      Array.from({ length: n }, async () => {
        const { worker, start } = await this.startNew();
        if (start?.ok) this.release(worker);
        else this.remove(worker);
        return start as StartOutcome;
      }),
    );
  }

  stats(): { live: number; idle: number; busy: number } {
    return { live: this.workers.size, idle: this.idle.length, busy: this.workers.size - this.idle.length };
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const waiter of this.waiters.splice(0)) waiter.reject(new RunnerClosedError());
    const all = [...this.workers];
    for (const worker of all) this.clearReap(worker);
    this.workers.clear();
    this.idle.length = 0;
    await Promise.all(all.map((worker) => worker.kill()));
  }

  private async startNew(): Promise<Lease> {
    const worker = this.spawn();
    this.workers.add(worker);
    const start = await worker.start();
    return { worker, start };
  }

  private takeIdle(): LambdaWorker | undefined {
    for (let worker = this.idle.pop(); worker; worker = this.idle.pop()) {
      this.clearReap(worker);
      if (worker.state !== 'dead') return worker;
      this.remove(worker);
    }
    return undefined;
  }

  private scheduleReap(worker: LambdaWorker): void {
    const { idleTimeoutMs } = this.options;
    if (!(idleTimeoutMs > 0 && Number.isFinite(idleTimeoutMs))) return;
    const timer = setTimeout(() => {
      if (this.idle.includes(worker) && this.workers.size > this.provisioned) this.remove(worker);
    }, idleTimeoutMs);
    timer.unref();
    this.reapTimers.set(worker, timer);
  }

  private clearReap(worker: LambdaWorker): void {
    const timer = this.reapTimers.get(worker);
    if (timer) clearTimeout(timer);
    this.reapTimers.delete(worker);
  }
}
