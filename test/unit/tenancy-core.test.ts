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
