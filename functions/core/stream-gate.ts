import { classify, EMPTY_STREAM, record, type StreamState, skipGapTo } from './ordering';
import { EMPTY_IDS, type IdWindow, idAt, rememberIds } from './stream-ids';
import { holdDelaySeconds, type TenantPolicy } from './tenant-policy';

/**
 * The ordering decision for each record of one (tenant, stream) in a batch, on top of the pure
 * sequence tracking in ./ordering. It also remembers the ranges it gave up (a gap skipped after
 * the hold, the oldest gap dropped when too much arrived out of order, or the number of a
 * dead-lettered record), so an event that turns up after its number was given up is processed
 * late instead of being mistaken for a duplicate. And it remembers which event took each recent
 * number: a record is skipped only when the very same event was processed at its number; another
 * event that reuses a number is processed and flagged, never dropped.
 */
export interface TrackedStream {
  readonly state: StreamState;
  /** Sequence ranges given up on, oldest first, at most MAX_GIVEN_UP_RANGES (older ones merged, never forgotten). */
  readonly givenUp: readonly (readonly [number, number])[];
  /** The ids of the events processed at the most recent numbers; absent: none known. */
  readonly ids?: IdWindow;
}

export const EMPTY_TRACKED: TrackedStream = { state: EMPTY_STREAM, givenUp: [] };
/**
 * Beyond this many given-up ranges the two oldest are merged into one that spans the numbers
 * between them: nothing given up is ever forgotten. A number inside a merged span that was in
 * fact processed is still told apart by its remembered id (the same event: a duplicate); only
 * below the id window is such a resend processed again, marked late, rather than skipped.
 */
export const MAX_GIVEN_UP_RANGES = 100;
/** Producers number streams from 1; sequence number 0 means "not sequenced": never ordered, never a duplicate. */
export const UNSEQUENCED = 0;

export interface OrderingItem {
  /** The key of this record's decision (its SQS message id). */
  readonly id: string;
  /** The envelope id: the same event at the same number is a duplicate, another one a reuse. */
  readonly eventId: string;
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
      /**
       * The number was taken before by another event (`earlierId`; null when that id is no
       * longer known): processed all the same, and the stream's state is left as it is.
       */
      readonly reused?: { readonly seq: number; readonly earlierId: string | null };
      /** Hold policy: the hold ran out; the gap is given up and reported. */
      readonly release?: {
        readonly missingFrom: number;
        readonly missingTo: number;
        readonly heldForMs: number;
      };
    }
  /** The same event (same id) was processed at this number already: skipped. */
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
  /** The first record of this batch at each number, and what was decided for it. */
  const taken = new Map<number, { eventId: string; decision: OrderingDecision }>();
  let working = tracked;
  for (const item of [...items].sort((a, b) => a.seq - b.seq)) {
    if (item.seq === UNSEQUENCED) {
      decisions.set(item.id, { kind: 'process' });
      continue;
    }
    const twin = taken.get(item.seq);
    if (twin) {
      decisions.set(item.id, decideTwin(working, twin, item));
      continue;
    }
    const decision = decideOne(working, item, policy, nowMs);
    decisions.set(item.id, decision);
    taken.set(item.seq, { eventId: item.eventId, decision });
    if (decision.kind === 'process' && !decision.late && !decision.reused) {
      working = decision.release ? giveUpTo(working, item.seq) : advance(working, item.seq);
    }
  }
  return decisions;
}

/** A second record at a number this batch already has: the same event, or a reuse of the number. */
function decideTwin(
  working: TrackedStream,
  twin: { readonly eventId: string; readonly decision: OrderingDecision },
  item: OrderingItem,
): OrderingDecision {
  // The twin carries the event to its outcome (processed, held or re-queued, or dead-lettered).
  if (twin.eventId === item.eventId) return { kind: 'duplicate' };
  // A twin that reused the number did not take it: this one may be its owner, sent again.
  const owner = twin.decision.kind === 'process' ? twin.decision.reused?.earlierId : undefined;
  if (owner === item.eventId || (owner === undefined && isOwner(working, item))) return { kind: 'duplicate' };
  // Held with it: once the gap fills the twin takes the number, and this one is a reuse of it.
  if (twin.decision.kind === 'hold') return twin.decision;
  return { kind: 'process', reused: { seq: item.seq, earlierId: owner ?? twin.eventId } };
}

/** The event remembered at the item's number is this very event. */
function isOwner(working: TrackedStream, item: OrderingItem): boolean {
  return idAt(working.ids ?? EMPTY_IDS, item.seq) === item.eventId;
}

/** The decision for the first record of this batch at its number. */
function decideOne(
  working: TrackedStream,
  item: OrderingItem,
  policy: Pick<TenantPolicy, 'ordering' | 'maxHoldSeconds'>,
  nowMs: number,
): OrderingDecision {
  const verdict = classify(working.state, item.seq);
  if (verdict.kind === 'duplicate') {
    // The number has passed: only the event remembered at it is a duplicate.
    const earlierId = idAt(working.ids ?? EMPTY_IDS, item.seq);
    if (earlierId === item.eventId) return { kind: 'duplicate' };
    if (earlierId === undefined && inGivenUp(working, item.seq)) return { kind: 'process', late: true };
    return { kind: 'process', reused: { seq: item.seq, earlierId: earlierId ?? null } };
  }
  if (verdict.kind === 'in-order') return { kind: 'process' };
  if (policy.ordering === 'flag') {
    return { kind: 'process', gap: [verdict.missingFrom, verdict.missingTo] };
  }
  const heldForMs = item.firstHeldAtMs === undefined ? 0 : Math.max(0, nowMs - item.firstHeldAtMs);
  if (item.firstHeldAtMs !== undefined && heldForMs >= policy.maxHoldSeconds * 1000) {
    return {
      kind: 'process',
      release: { missingFrom: verdict.missingFrom, missingTo: verdict.missingTo, heldForMs },
    };
  }
  return {
    kind: 'hold',
    firstHeldAtMs: item.firstHeldAtMs ?? nowMs,
    delaySeconds: holdDelaySeconds(policy as TenantPolicy, heldForMs),
    missingFrom: verdict.missingFrom,
    missingTo: verdict.missingTo,
  };
}

/**
 * The state after the given records were processed (published), applied in sequence order, with
 * the ids of the events that took their numbers (a late arrival takes its given-up number; a
 * reuse takes nothing and moves nothing).
 */
export function applyProcessed(
  tracked: TrackedStream,
  processed: readonly {
    readonly seq: number;
    /** The envelope id; without it the number's owner stays unknown. */
    readonly eventId?: string;
    readonly decision: OrderingDecision;
  }[],
): TrackedStream {
  let next = tracked;
  const owners: { seq: number; id: string }[] = [];
  for (const { seq, eventId, decision } of [...processed].sort((a, b) => a.seq - b.seq)) {
    if (decision.kind !== 'process' || decision.reused || seq === UNSEQUENCED) continue;
    if (eventId !== undefined) owners.push({ seq, id: eventId });
    if (decision.late) continue;
    next = decision.release ? giveUpTo(next, seq) : advance(next, seq);
  }
  if (owners.length === 0) return next;
  return { ...next, ids: rememberIds(next.ids ?? EMPTY_IDS, owners) };
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
  if (next.contiguous <= before.contiguous) return { ...tracked, state: next };
  const known = [...new Set([...before.ahead, seq])]
    .filter((n) => n > before.contiguous && n <= next.contiguous)
    .sort((a, b) => a - b);
  const ranges: [number, number][] = [];
  let from = before.contiguous + 1;
  for (const n of [...known, next.contiguous + 1]) {
    if (n > from) ranges.push([from, n - 1]);
    from = n + 1;
  }
  if (ranges.length === 0) return { ...tracked, state: next };
  return { ...tracked, state: next, givenUp: compactRanges([...tracked.givenUp, ...ranges]) };
}

/** Adds `seq` to the given-up ranges, extending the newest range when `seq` follows it. */
function withGivenUpNumber(tracked: TrackedStream, seq: number): TrackedStream {
  const newest = tracked.givenUp.at(-1);
  const givenUp: (readonly [number, number])[] =
    newest && newest[1] === seq - 1
      ? [...tracked.givenUp.slice(0, -1), [newest[0], seq]]
      : [...tracked.givenUp, [seq, seq]];
  return { ...tracked, givenUp: compactRanges(givenUp) };
}

/** Merges the oldest ranges until at most MAX_GIVEN_UP_RANGES are left (bounded, nothing dropped). */
function compactRanges(ranges: (readonly [number, number])[]): (readonly [number, number])[] {
  if (ranges.length <= MAX_GIVEN_UP_RANGES) return ranges;
  const excess = ranges.length - MAX_GIVEN_UP_RANGES;
  const oldest = ranges.slice(0, excess + 1);
  const merged: readonly [number, number] = [
    Math.min(...oldest.map(([from]) => from)),
    Math.max(...oldest.map(([, to]) => to)),
  ];
  return [merged, ...ranges.slice(excess + 1)];
}

function inGivenUp(tracked: TrackedStream, seq: number): boolean {
  return tracked.givenUp.some(([from, to]) => seq >= from && seq <= to);
}
