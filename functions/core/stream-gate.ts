import { classify, EMPTY_STREAM, record, type StreamState, skipGapTo } from './ordering';
import { holdDelaySeconds, type TenantPolicy } from './tenant-policy';

/**
 * The ordering decision for each record of one (tenant, stream) in a batch, on top of the pure
 * sequence tracking in ./ordering. It also remembers the ranges it gave up (a gap skipped after
 * the hold, the oldest gap dropped when too much arrived out of order, or the number of a
 * dead-lettered record), so an event that turns up after its number was given up is processed
 * late instead of being mistaken for a duplicate.
 */
export interface TrackedStream {
  readonly state: StreamState;
  /** Sequence ranges given up on, newest last, at most MAX_GIVEN_UP_RANGES. */
  readonly givenUp: readonly (readonly [number, number])[];
}

export const EMPTY_TRACKED: TrackedStream = { state: EMPTY_STREAM, givenUp: [] };
/** Beyond this many given-up ranges the oldest is forgotten (a later arrival in it reads as a duplicate). */
export const MAX_GIVEN_UP_RANGES = 100;
/** Producers number streams from 1; sequence number 0 means "not sequenced": never ordered, never a duplicate. */
export const UNSEQUENCED = 0;

export interface OrderingItem {
  readonly id: string;
  readonly seq: number;
  /** When this record was first held back (message attribute), if it was. */
  readonly firstHeldAtMs?: number;
}

export type OrderingDecision =
  | {
      readonly kind: 'process';
      /** Flag policy: the numbers missing before this one when it was processed. */
      readonly gap?: readonly [number, number];
      /** Arrived after its gap had been given up. */
      readonly late?: boolean;
      /** Hold policy: the hold ran out; the gap is given up and reported. */
      readonly release?: {
        readonly missingFrom: number;
        readonly missingTo: number;
        readonly heldForMs: number;
      };
    }
  | { readonly kind: 'duplicate' }
  | {
      readonly kind: 'hold';
      readonly firstHeldAtMs: number;
      readonly delaySeconds: number;
      readonly missingFrom: number;
      readonly missingTo: number;
    };

/** Decides every record of one stream; records are considered in sequence order. */
export function planStream(
  tracked: TrackedStream,
  items: readonly OrderingItem[],
  policy: Pick<TenantPolicy, 'ordering' | 'maxHoldSeconds'>,
  nowMs: number,
): Map<string, OrderingDecision> {
  const decisions = new Map<string, OrderingDecision>();
  const seen = new Set<number>();
  let working = tracked;
  for (const item of [...items].sort((a, b) => a.seq - b.seq)) {
    if (item.seq === UNSEQUENCED) {
      decisions.set(item.id, { kind: 'process' });
      continue;
    }
    if (seen.has(item.seq)) {
      decisions.set(item.id, { kind: 'duplicate' });
      continue;
    }
    seen.add(item.seq);
    const verdict = classify(working.state, item.seq);
    if (verdict.kind === 'duplicate') {
      decisions.set(
        item.id,
        inGivenUp(working, item.seq) ? { kind: 'process', late: true } : { kind: 'duplicate' },
      );
      continue;
    }
    if (verdict.kind === 'in-order') {
      decisions.set(item.id, { kind: 'process' });
      working = advance(working, item.seq);
      continue;
    }
    if (policy.ordering === 'flag') {
      decisions.set(item.id, { kind: 'process', gap: [verdict.missingFrom, verdict.missingTo] });
      working = advance(working, item.seq);
      continue;
    }
    const heldForMs = item.firstHeldAtMs === undefined ? 0 : Math.max(0, nowMs - item.firstHeldAtMs);
    if (item.firstHeldAtMs !== undefined && heldForMs >= policy.maxHoldSeconds * 1000) {
      decisions.set(item.id, {
        kind: 'process',
        release: { missingFrom: verdict.missingFrom, missingTo: verdict.missingTo, heldForMs },
      });
      working = giveUpTo(working, item.seq);
      continue;
    }
    decisions.set(item.id, {
      kind: 'hold',
      firstHeldAtMs: item.firstHeldAtMs ?? nowMs,
      delaySeconds: holdDelaySeconds(policy as TenantPolicy, heldForMs),
      missingFrom: verdict.missingFrom,
      missingTo: verdict.missingTo,
    });
  }
  return decisions;
}

/** The state after the given records were processed (published), applied in sequence order. */
export function applyProcessed(
  tracked: TrackedStream,
  processed: readonly { readonly seq: number; readonly decision: OrderingDecision }[],
): TrackedStream {
  let next = tracked;
  for (const { seq, decision } of [...processed].sort((a, b) => a.seq - b.seq)) {
    if (decision.kind !== 'process' || decision.late || seq === UNSEQUENCED) continue;
    next = decision.release ? giveUpTo(next, seq) : advance(next, seq);
  }
  return next;
}

/**
 * The state after the given records were dead-lettered (stored in the DLQ): each number is given
 * up, so it no longer holds its stream back, and a redrive of it is processed late, not skipped.
 */
export function applyDeadLettered(tracked: TrackedStream, seqs: readonly number[]): TrackedStream {
  let next = tracked;
  for (const seq of [...seqs].sort((a, b) => a - b)) {
    // Already passed: processed, or given up with a range (a late record that was dead-lettered).
    if (seq === UNSEQUENCED || classify(next.state, seq).kind === 'duplicate') continue;
    next = withGivenUpNumber(advance(next, seq), seq);
  }
  return next;
}

function advance(tracked: TrackedStream, seq: number): TrackedStream {
  return withGivenUp(tracked, record(tracked.state, seq), seq);
}

function giveUpTo(tracked: TrackedStream, seq: number): TrackedStream {
  return withGivenUp(tracked, skipGapTo(tracked.state, seq), seq);
}

/** Records the numbers `contiguous` jumped over without having seen them. */
function withGivenUp(tracked: TrackedStream, next: StreamState, seq: number): TrackedStream {
  const before = tracked.state;
  if (next.contiguous <= before.contiguous) return { state: next, givenUp: tracked.givenUp };
  const known = [...new Set([...before.ahead, seq])]
    .filter((n) => n > before.contiguous && n <= next.contiguous)
    .sort((a, b) => a - b);
  const ranges: [number, number][] = [];
  let from = before.contiguous + 1;
  for (const n of [...known, next.contiguous + 1]) {
    if (n > from) ranges.push([from, n - 1]);
    from = n + 1;
  }
  if (ranges.length === 0) return { state: next, givenUp: tracked.givenUp };
  return { state: next, givenUp: [...tracked.givenUp, ...ranges].slice(-MAX_GIVEN_UP_RANGES) };
}

/** Adds `seq` to the given-up ranges, extending the newest range when `seq` follows it. */
function withGivenUpNumber(tracked: TrackedStream, seq: number): TrackedStream {
  const newest = tracked.givenUp.at(-1);
  const givenUp: (readonly [number, number])[] =
    newest && newest[1] === seq - 1
      ? [...tracked.givenUp.slice(0, -1), [newest[0], seq]]
      : [...tracked.givenUp, [seq, seq]];
  return { state: tracked.state, givenUp: givenUp.slice(-MAX_GIVEN_UP_RANGES) };
}

function inGivenUp(tracked: TrackedStream, seq: number): boolean {
  return tracked.givenUp.some(([from, to]) => seq >= from && seq <= to);
}
