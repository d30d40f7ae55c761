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
  if (seq <= state.contiguous) return state;
  if (!isNormal(state)) return recordAnyOrder(state, seq);
  // `ahead` is ascending and beyond `contiguous`: one copy, no sort (it can hold MAX_AHEAD numbers).
  const { ahead } = state;
  const at = insertionIndex(ahead, seq);
  if (ahead[at] === seq) return state;
  let contiguous = state.contiguous;
  let next: number[];
  if (seq === contiguous + 1) {
    contiguous = seq;
    let i = 0;
    while (i < ahead.length && ahead[i] === contiguous + 1) contiguous = ahead[i++] as number;
    next = ahead.slice(i);
  } else {
    next = [...ahead.slice(0, at), seq, ...ahead.slice(at)];
  }
  return capAhead(contiguous, next);
}

/** The general case, for a state whose `ahead` is not ascending or not beyond `contiguous`. */
function recordAnyOrder(state: StreamState, seq: number): StreamState {
  if (state.ahead.includes(seq)) return state;
  let contiguous = state.contiguous;
  const ahead = new Set([...state.ahead, seq]);
  while (ahead.delete(contiguous + 1)) contiguous++;
  return capAhead(
    contiguous,
    [...ahead].sort((a, b) => a - b),
  );
}

/** Beyond MAX_AHEAD numbers, gives up the oldest gap: jumps to the first number beyond it. */
function capAhead(contiguous: number, sorted: number[]): StreamState {
  if (sorted.length <= MAX_AHEAD) return { contiguous, ahead: sorted };
  let jumped = sorted[0] as number;
  let rest = sorted.slice(1);
  let i = 0;
  while (rest[i] === jumped + 1) jumped = rest[i++] as number;
  rest = rest.slice(i);
  return { contiguous: jumped, ahead: rest };
}

/** Strictly ascending and none next to `contiguous`: what record() itself produces. */
function isNormal(state: StreamState): boolean {
  let previous = state.contiguous + 1;
  for (const n of state.ahead) {
    if (n <= previous) return false;
    previous = n;
  }
  return true;
}

/** First index in an ascending list whose number is >= `seq`. */
function insertionIndex(sorted: readonly number[], seq: number): number {
  let low = 0;
  let high = sorted.length;
  while (low < high) {
    const mid = (low + high) >> 1;
    if ((sorted[mid] as number) < seq) low = mid + 1;
    else high = mid;
  }
  return low;
}

/** Gives up waiting for a gap: everything up to `seq` counts as seen (the gap is reported). */
export function skipGapTo(state: StreamState, seq: number): StreamState {
  let contiguous = Math.max(state.contiguous, seq - 1);
  const ahead = new Set(state.ahead.filter((n) => n > contiguous));
  while (ahead.delete(contiguous + 1)) contiguous++;
  return record({ contiguous, ahead: [...ahead].sort((a, b) => a - b) }, seq);
}
