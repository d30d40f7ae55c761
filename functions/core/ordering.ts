/**
 * Per-(tenant, stream) sequence tracking. The stored state is the highest sequence number up to
 * which every number has been seen (`contiguous`) and the numbers seen beyond it (`ahead`), so a
 * redelivery is told apart from a late arrival, and a gap is known exactly.
 */
export interface StreamState {
  readonly contiguous: number;
  readonly ahead: readonly number[];
}

export type OrderingPolicy = 'flag' | 'hold';

export type SequenceVerdict =
  /** The next number: process it. */
  | { readonly kind: 'in-order' }
  /** Seen before: skip it, it was processed already. */
  | { readonly kind: 'duplicate' }
  /** Numbers are missing before this one. */
  | { readonly kind: 'gap'; readonly missingFrom: number; readonly missingTo: number };

/** Producers number each stream from 1. */
export const EMPTY_STREAM: StreamState = { contiguous: 0, ahead: [] };
/** Beyond this many out-of-order numbers a stream's state stops growing; the oldest gap is given up. */
export const MAX_AHEAD = 1000;

export function classify(state: StreamState, seq: number): SequenceVerdict {
  if (seq <= state.contiguous || state.ahead.includes(seq)) return { kind: 'duplicate' };
  if (seq === state.contiguous + 1) return { kind: 'in-order' };
  const firstAhead = state.ahead.find((n) => n < seq);
  return { kind: 'gap', missingFrom: state.contiguous + 1, missingTo: (firstAhead ?? seq) - 1 };
}

/** Records `seq` as seen and advances `contiguous` through any numbers it connects. */
export function record(state: StreamState, seq: number): StreamState {
  if (seq <= state.contiguous || state.ahead.includes(seq)) return state;
  let contiguous = state.contiguous;
  const ahead = new Set([...state.ahead, seq]);
  while (ahead.delete(contiguous + 1)) contiguous++;
  let sorted = [...ahead].sort((a, b) => a - b);
  if (sorted.length > MAX_AHEAD) {
    // Give up the oldest gap: jump to the first number beyond it.
    contiguous = sorted[0] as number;
    sorted = sorted.slice(1);
    while (sorted[0] === contiguous + 1) contiguous = sorted.shift() as number;
  }
  return { contiguous, ahead: sorted };
}

/** Gives up waiting for a gap: everything up to `seq` counts as seen (the gap is reported). */
export function skipGapTo(state: StreamState, seq: number): StreamState {
  let contiguous = Math.max(state.contiguous, seq - 1);
  const ahead = new Set(state.ahead.filter((n) => n > contiguous));
  while (ahead.delete(contiguous + 1)) contiguous++;
  return record({ contiguous, ahead: [...ahead].sort((a, b) => a - b) }, seq);
}
