/** Small statistics helpers shared by the benchmarks. */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const position = (sorted.length - 1) * q;
  const low = Math.floor(position);
  const high = Math.ceil(position);
  const a = sorted[low] as number;
  const b = sorted[high] as number;
  return a + (b - a) * (position - low);
}

export interface Summary {
  median: number;
  p10: number;
  p90: number;
  p99: number;
  min: number;
  max: number;
  n: number;
}

export function summarize(samples: readonly number[]): Summary {
  const sorted = [...samples].sort((x, y) => x - y);
  return {
    median: quantile(sorted, 0.5),
    p10: quantile(sorted, 0.1),
    p90: quantile(sorted, 0.9),
    p99: quantile(sorted, 0.99),
    min: sorted[0] ?? Number.NaN,
    max: sorted[sorted.length - 1] ?? Number.NaN,
    n: sorted.length,
  };
}

export const round = (value: number, digits = 3) => Math.round(value * 10 ** digits) / 10 ** digits;

/** Rounds every field of a summary (for JSON output). */
export function roundSummary(s: Summary, digits = 3): Summary {
  return {
    median: round(s.median, digits),
    p10: round(s.p10, digits),
    p90: round(s.p90, digits),
    p99: round(s.p99, digits),
    min: round(s.min, digits),
    max: round(s.max, digits),
    n: s.n,
  };
}

/** Lets timers, I/O and GC run between measurements. */
export const breathe = () => new Promise<void>((resolve) => setImmediate(resolve));
