import { describe, expect, it } from 'vitest';
import {
  classify,
  EMPTY_STREAM,
  MAX_AHEAD,
  record,
  type StreamState,
  skipGapTo,
} from '../../functions/core/ordering';
import { mulberry32 } from '../../functions/core/prng';
import {
  applyDeadLettered,
  applyProcessed,
  EMPTY_TRACKED,
  MAX_GIVEN_UP_RANGES,
  planStream,
  type TrackedStream,
} from '../../functions/core/stream-gate';
import { refill, take } from '../../functions/core/token-bucket';

const limits = { ratePerSecond: 10, burst: 20 };

describe('token bucket', () => {
  it('starts full, so a tenant can burst at once', () => {
    expect(take(undefined, 25, 0, limits)).toMatchObject({ granted: 20, next: { tokens: 0 } });
  });

  it('refills at the rate, never above the burst', () => {
    expect(refill({ tokens: 0, updatedAtMs: 0 }, 500, limits).tokens).toBe(5);
    expect(refill({ tokens: 15, updatedAtMs: 0 }, 60_000, limits).tokens).toBe(20);
  });

  it('says when the first refused event can be admitted', () => {
    const result = take({ tokens: 0.5, updatedAtMs: 0 }, 3, 0, limits);
    expect(result.granted).toBe(0);
    expect(result.retryAfterMs).toBe(50);
  });

  it('does not refill when the clock goes backwards', () => {
    expect(refill({ tokens: 3, updatedAtMs: 1000 }, 500, limits).tokens).toBe(3);
  });
});

describe('stream ordering', () => {
  it('processes the next number and skips redeliveries', () => {
    let state = record(EMPTY_STREAM, 1);
    expect(classify(state, 2)).toEqual({ kind: 'in-order' });
    state = record(state, 2);
    expect(classify(state, 2)).toEqual({ kind: 'duplicate' });
    expect(classify(state, 1)).toEqual({ kind: 'duplicate' });
  });

  it('reports a gap exactly, and closes it when the late numbers arrive (a swap)', () => {
    let state = record(EMPTY_STREAM, 1);
    expect(classify(state, 4)).toEqual({ kind: 'gap', missingFrom: 2, missingTo: 3 });
    state = record(state, 4);
    expect(classify(state, 4)).toEqual({ kind: 'duplicate' });
    expect(classify(state, 3)).toEqual({ kind: 'gap', missingFrom: 2, missingTo: 2 });
    state = record(state, 3);
    expect(classify(state, 2)).toEqual({ kind: 'in-order' });
    state = record(state, 2);
    expect(state).toEqual({ contiguous: 4, ahead: [] });
  });

  it('gives up a gap that never fills, keeping what came after it', () => {
    const state = record(record(EMPTY_STREAM, 1), 5);
    expect(skipGapTo(state, 3)).toEqual({ contiguous: 3, ahead: [5] });
    expect(skipGapTo(state, 5)).toEqual({ contiguous: 5, ahead: [] });
  });

  it('bounds the out-of-order state', () => {
    let state = EMPTY_STREAM;
    for (let seq = 2; seq <= MAX_AHEAD + 2; seq++) state = record(state, seq);
    expect(state.ahead.length).toBeLessThanOrEqual(MAX_AHEAD);
    expect(state.contiguous).toBeGreaterThan(0);
  });

  it('records like the plain set-and-sort definition, in any arrival order and past the bound', () => {
    const reference = (state: StreamState, seq: number): StreamState => {
      if (seq <= state.contiguous || state.ahead.includes(seq)) return state;
      let contiguous = state.contiguous;
      const ahead = new Set([...state.ahead, seq]);
      while (ahead.delete(contiguous + 1)) contiguous++;
      let sorted = [...ahead].sort((a, b) => a - b);
      if (sorted.length > MAX_AHEAD) {
        contiguous = sorted[0] as number;
        sorted = sorted.slice(1);
        while (sorted[0] === contiguous + 1) contiguous = sorted.shift() as number;
      }
      return { contiguous, ahead: sorted };
    };
    const random = mulberry32(7);
    let fast: StreamState = EMPTY_STREAM;
    let slow: StreamState = EMPTY_STREAM;
    for (let i = 0; i < 5000; i++) {
      // Mostly ahead of the stream with a few stragglers and repeats; a hole at 3 never fills.
      const seq = 4 + Math.floor(random() * (i < 2500 ? 1500 : 4000));
      fast = record(fast, seq);
      slow = reference(slow, seq);
      expect(fast).toEqual(slow);
    }
    // A state built by hand, out of order, takes the general path.
    expect(record({ contiguous: 1, ahead: [5, 2] }, 3)).toEqual({ contiguous: 3, ahead: [5] });
  });
});

describe('dead-lettered records in their stream', () => {
  const flag = { ordering: 'flag' as const, maxHoldSeconds: 60 };
  const processed = (tracked: TrackedStream, ...seqs: number[]) =>
    applyProcessed(
      tracked,
      seqs.map((seq) => ({ seq, eventId: `e${seq}`, decision: { kind: 'process' as const } })),
    );
  const decide = (tracked: TrackedStream, seq: number) =>
    planStream(tracked, [{ id: `e${seq}`, eventId: `e${seq}`, seq }], flag, 0).get(`e${seq}`);

  it('gives up the number: the stream moves on, and a redrive is processed late', () => {
    const after = applyDeadLettered(processed(EMPTY_TRACKED, 1), [2]);
    expect(after).toMatchObject({ state: { contiguous: 2, ahead: [] }, givenUp: [[2, 2]] });
    expect(decide(after, 3)).toEqual({ kind: 'process' });
    const later = processed(after, 3);
    expect(decide(later, 2)).toEqual({ kind: 'process', late: true });
    expect(decide(later, 3)).toEqual({ kind: 'duplicate' });
  });

  it('gives up a number beyond a gap without closing the gap', () => {
    const after = applyDeadLettered(processed(EMPTY_TRACKED, 1), [3]);
    expect(after).toMatchObject({ state: { contiguous: 1, ahead: [3] }, givenUp: [[3, 3]] });
    expect(decide(after, 4)).toEqual({ kind: 'process', gap: [2, 2] });
    expect(decide(after, 2)).toEqual({ kind: 'process' });
    expect(decide(processed(after, 2), 3)).toEqual({ kind: 'process', late: true });
  });

  it('gives the same state whether published or dead-lettered numbers are applied first', () => {
    const lettersLast = applyDeadLettered(processed(EMPTY_TRACKED, 1, 3), [2]);
    const lettersFirst = processed(applyDeadLettered(processed(EMPTY_TRACKED, 1), [2]), 3);
    expect(lettersLast).toMatchObject({ state: { contiguous: 3, ahead: [] }, givenUp: [[2, 2]] });
    expect(lettersFirst).toEqual(lettersLast);
  });

  it('leaves numbers already passed, and unsequenced records, alone', () => {
    const seen = processed(EMPTY_TRACKED, 1, 2);
    expect(applyDeadLettered(seen, [2, 0])).toBe(seen);
    // A late record (its gap given up) that was then dead-lettered stays open to a redrive.
    const released = applyProcessed(EMPTY_TRACKED, [
      { seq: 4, decision: { kind: 'process', release: { missingFrom: 1, missingTo: 3, heldForMs: 1 } } },
    ]);
    expect(applyDeadLettered(released, [2])).toBe(released);
    expect(decide(released, 2)).toEqual({ kind: 'process', late: true });
  });

  it('keeps a run of dead-lettered numbers as one range, so the range cap is not spent on it', () => {
    const after = applyDeadLettered(processed(EMPTY_TRACKED, 1), [4, 2, 3]);
    expect(after).toMatchObject({ state: { contiguous: 4, ahead: [] }, givenUp: [[2, 4]] });
    let scattered = EMPTY_TRACKED;
    for (let seq = 1; seq <= 2 * MAX_GIVEN_UP_RANGES + 2; seq += 2) {
      scattered = applyDeadLettered(processed(scattered, seq), [seq + 1]);
    }
    expect(scattered.givenUp).toHaveLength(MAX_GIVEN_UP_RANGES);
  });
});
