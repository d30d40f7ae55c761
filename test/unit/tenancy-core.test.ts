import { describe, expect, it } from 'vitest';
import { classify, EMPTY_STREAM, MAX_AHEAD, record, skipGapTo } from '../../functions/core/ordering';
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
});
