import { describe, expect, it } from 'vitest';
import {
  EntryTooLargeError,
  entrySize,
  MAX_ENTRY_BYTES,
  planRequests,
} from '../../functions/core/put-events';

const entry = (detailBytes: number, extra = {}) => ({
  Source: 'inferbus.acme',
  DetailType: 'InferenceRequested',
  Detail: JSON.stringify({ pad: 'x'.repeat(Math.max(0, detailBytes - 10)) }),
  ...extra,
});

describe('entrySize', () => {
  it('counts UTF-8 bytes of Source, DetailType, Detail and Resources, and 14 bytes for Time, as AWS documents', () => {
    const base = { Source: 'src', DetailType: 'dt', Detail: '{"é":1}' };
    expect(entrySize(base)).toBe(3 + 2 + 8);
    expect(entrySize({ ...base, Time: new Date() })).toBe(13 + 14);
    expect(entrySize({ ...base, Resources: ['arn:a', 'ü'] })).toBe(13 + 5 + 2);
  });
});

describe('planRequests', () => {
  it('splits at 10 entries per request and keeps order', () => {
    const plan = planRequests(Array.from({ length: 23 }, () => entry(100)));
    expect(plan.map((r) => r.length)).toEqual([10, 10, 3]);
    expect(plan.flat()).toEqual(Array.from({ length: 23 }, (_, i) => i));
  });

  it('splits when the request would pass 1 MB', () => {
    const plan = planRequests(Array.from({ length: 5 }, () => entry(400_000)));
    expect(plan.map((r) => r.length)).toEqual([2, 2, 1]);
  });

  it('refuses an entry that can never fit, naming it', () => {
    expect(() => planRequests([entry(10), entry(MAX_ENTRY_BYTES + 1)])).toThrow(EntryTooLargeError);
    expect(() => planRequests([entry(10), entry(MAX_ENTRY_BYTES + 1)])).toThrow(/entry 1 is \d+ bytes/);
  });
});
