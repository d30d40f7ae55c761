/**
 * Per-event compute timed the way a single number can be quoted: warm-up runs first, then enough
 * timed runs for a median with its spread. One run of 3–4 batches swung 7x between identical
 * manifests on a shared machine; the median of 15 runs does not.
 */
export const WARMUP_RUNS = 2;
export const TIMED_RUNS = 15;

export interface TimingSpread {
  /** Milliseconds per event: the median run, quartiles and extremes of the timed runs. */
  readonly median: number;
  readonly p25: number;
  readonly p75: number;
  readonly min: number;
  readonly max: number;
  readonly runs: number;
  /** Events scored in each run. */
  readonly eventsPerRun: number;
}

export interface Timed {
  /** One run: score every event once; resolves when done. */
  readonly run: () => Promise<void>;
  readonly events: number;
}

/**
 * Times each subject `runs` times after `warmup` untimed runs, rotating the order every round so
 * none always runs first (or right after a garbage-collecting neighbour).
 */
export async function timeRounds(
  subjects: readonly Timed[],
  { warmup = WARMUP_RUNS, runs = TIMED_RUNS }: { warmup?: number; runs?: number } = {},
): Promise<TimingSpread[]> {
  const samples = subjects.map(() => [] as number[]);
  for (let round = 0; round < warmup + runs; round++) {
    for (let k = 0; k < subjects.length; k++) {
      const i = (k + round) % subjects.length;
      const subject = subjects[i] as Timed;
      if (subject.events === 0) continue;
      const started = performance.now();
      await subject.run();
      const ms = performance.now() - started;
      if (round >= warmup) (samples[i] as number[]).push(ms / subject.events);
    }
  }
  return samples.map((s, i) => spread(s, (subjects[i] as Timed).events));
}

export function spread(samples: readonly number[], eventsPerRun: number): TimingSpread {
  const sorted = [...samples].sort((a, b) => a - b);
  return {
    median: quantile(sorted, 0.5),
    p25: quantile(sorted, 0.25),
    p75: quantile(sorted, 0.75),
    min: sorted[0] ?? 0,
    max: sorted.at(-1) ?? 0,
    runs: sorted.length,
    eventsPerRun,
  };
}

/** Linear interpolation between closest ranks; 0 for no samples. */
function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return 0;
  const position = (sorted.length - 1) * q;
  const low = sorted[Math.floor(position)] as number;
  const high = sorted[Math.ceil(position)] as number;
  return low + (high - low) * (position - Math.floor(position));
}

/** `0.123 ms (p25–p75 0.120–0.130, 15 runs)`. */
export function describeSpread(t: TimingSpread, digits = 3): string {
  if (t.runs === 0) return 'not timed';
  return `${t.median.toFixed(digits)} ms (p25–p75 ${t.p25.toFixed(digits)}–${t.p75.toFixed(digits)}, ${t.runs} runs of ${t.eventsPerRun})`;
}
