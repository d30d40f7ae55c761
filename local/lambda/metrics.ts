import type { InvocationResult } from '../model.js';

export type InvocationErrorType = Extract<InvocationResult, { ok: false }>['errorType'];

/** Upper bounds (ms) of the duration buckets, Prometheus style (`le`). */
const BUCKETS_MS = [1, 5, 10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 30_000, 60_000, 900_000];

export interface HistogramSnapshot {
  readonly count: number;
  readonly sumMs: number;
  readonly maxMs: number;
  /** Cumulative counts per upper bound; the last bucket is +Inf. */
  readonly buckets: readonly { readonly le: number; readonly count: number }[];
}

export class Histogram {
  private readonly counts = new Array<number>(BUCKETS_MS.length + 1).fill(0);
  private count = 0;
  private sum = 0;
  private max = 0;

  observe(ms: number): void {
    const index = BUCKETS_MS.findIndex((bound) => ms <= bound);
    const slot = index === -1 ? BUCKETS_MS.length : index;
    this.counts[slot] = (this.counts[slot] ?? 0) + 1;
    this.count++;
    this.sum += ms;
    this.max = Math.max(this.max, ms);
  }

  snapshot(): HistogramSnapshot {
    let running = 0;
    const buckets = [...BUCKETS_MS, Number.POSITIVE_INFINITY].map((le, index) => {
      running += this.counts[index] ?? 0;
      return { le, count: running };
    });
    return { count: this.count, sumMs: this.sum, maxMs: this.max, buckets };
  }
}

export interface FunctionMetricsSnapshot {
  readonly logicalId: string;
  readonly functionName: string;
  readonly invocations: number;
  readonly errors: Readonly<Record<InvocationErrorType, number>>;
  readonly coldStarts: number;
  /** Handler module load (the function's init code), per cold start. */
  readonly initMs: HistogramSnapshot;
  /** Process spawn to handler ready, per cold start (what a cold start adds to latency). */
  readonly coldStartMs: HistogramSnapshot;
  /** Invocation durations as the runner measured them (IPC included, init excluded). */
  readonly durationMs: HistogramSnapshot;
  readonly workers: { readonly live: number; readonly idle: number; readonly busy: number };
}

export class FunctionMetrics {
  invocations = 0;
  coldStarts = 0;
  readonly errors: Record<InvocationErrorType, number> = { Handled: 0, Timeout: 0, Crash: 0, InitError: 0 };
  readonly init = new Histogram();
  readonly coldStart = new Histogram();
  readonly duration = new Histogram();

  record(result: InvocationResult): void {
    this.invocations++;
    this.duration.observe(result.durationMs);
    if (!result.ok) this.errors[result.errorType]++;
  }
}
