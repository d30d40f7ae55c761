/**
 * Per-(tenant, stream) sequence numbers: 1, 2, 3, ... in emit order. Consumers detect gaps and
 * reorder by them. Pure and serialisable, so a producer with an outbox continues after a restart.
 */
export type SequenceSnapshot = Record<string, Record<string, number>>;

export class SequenceCounter {
  private readonly last = new Map<string, Map<string, number>>();

  constructor(snapshot: SequenceSnapshot = {}) {
    for (const [tenant, streams] of Object.entries(snapshot)) {
      for (const [stream, seq] of Object.entries(streams)) this.observe(tenant, stream, seq);
    }
  }

  /** The next number of this stream (the first is 1). */
  next(tenant: string, stream: string): number {
    const value = this.current(tenant, stream) + 1;
    this.set(tenant, stream, value);
    return value;
  }

  /** The last number issued or observed; 0 when none. */
  current(tenant: string, stream: string): number {
    return this.last.get(tenant)?.get(stream) ?? 0;
  }

  /** Raises the counter to at least `seq` (replaying a log); never lowers it. */
  observe(tenant: string, stream: string, seq: number): void {
    if (!Number.isSafeInteger(seq) || seq < 0)
      throw new RangeError(`sequence number ${seq} is not a non-negative integer`);
    if (seq > this.current(tenant, stream)) this.set(tenant, stream, seq);
  }

  snapshot(): SequenceSnapshot {
    const out: SequenceSnapshot = {};
    for (const [tenant, streams] of this.last) out[tenant] = Object.fromEntries(streams);
    return out;
  }

  private set(tenant: string, stream: string, value: number): void {
    let streams = this.last.get(tenant);
    if (!streams) {
      streams = new Map();
      this.last.set(tenant, streams);
    }
    streams.set(stream, value);
  }
}

/** Where a received sequence breaks the expected order: missing numbers and repeats. */
export function sequenceGaps(seqs: readonly number[], start = 1): { missing: number[]; repeated: number[] } {
  const seen = new Set<number>();
  const repeated: number[] = [];
  let max = start - 1;
  for (const seq of seqs) {
    if (seen.has(seq)) repeated.push(seq);
    seen.add(seq);
    max = Math.max(max, seq);
  }
  const missing: number[] = [];
  for (let s = start; s <= max; s++) if (!seen.has(s)) missing.push(s);
  return { missing, repeated };
}
