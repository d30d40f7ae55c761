import { describe, expect, it } from 'vitest';
import { SequenceCounter, sequenceGaps } from '../../functions/core/sequence';

describe('sequence numbers', () => {
  it('count per (tenant, stream) from 1 and continue from a snapshot', () => {
    const seq = new SequenceCounter();
    expect([seq.next('a', 's'), seq.next('a', 's'), seq.next('a', 't'), seq.next('b', 's')]).toEqual([
      1, 2, 1, 1,
    ]);
    const restored = new SequenceCounter(seq.snapshot());
    expect(restored.next('a', 's')).toBe(3);
    restored.observe('a', 's', 10);
    restored.observe('a', 's', 4);
    expect(restored.current('a', 's')).toBe(10);
    expect(() => restored.observe('a', 's', -1)).toThrow(RangeError);
  });

  it('finds gaps and repeats', () => {
    expect(sequenceGaps([1, 2, 4, 4, 6])).toEqual({ missing: [3, 5], repeated: [4] });
  });
});
