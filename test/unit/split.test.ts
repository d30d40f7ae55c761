import { describe, expect, it } from 'vitest';
import { corpusKey, fnv1a32, splitBucket, splitOf } from '../../functions/tasks/spam/split';
import { loadSplits } from '../../models/train/data';

describe('splitOf', () => {
  it('hashes with 32-bit FNV-1a (published test vectors)', () => {
    expect(fnv1a32('')).toBe(0x811c9dc5);
    expect(fnv1a32('a')).toBe(0xe40c292c);
    expect(fnv1a32('foobar')).toBe(0xbf9cf968);
  });

  it('is a pure function of the id', () => {
    const ids = Array.from({ length: 500 }, (_, i) => `event-${i}`);
    const first = ids.map(splitOf);
    expect([...ids].reverse().map(splitOf).reverse()).toEqual(first);
    expect(new Set(first)).toEqual(new Set(['train', 'validation', 'test']));
  });

  it('pins the assignment of known keys (changing the hash reshuffles every split)', () => {
    expect(['spam-1/00001', 'spam-1/00003', 'spam-1/00011', 'easy-ham-2/00100'].map(splitOf)).toEqual([
      'train',
      'validation',
      'test',
      'test',
    ]);
  });

  it('splits about 70/15/15', () => {
    const n = 20_000;
    const counts = { train: 0, validation: 0, test: 0 };
    for (let i = 0; i < n; i++) counts[splitOf(`msg-${i}`)]++;
    expect(counts.train / n).toBeCloseTo(0.7, 1);
    expect(counts.validation / n).toBeCloseTo(0.15, 1);
    expect(counts.test / n).toBeCloseTo(0.15, 1);
    for (let i = 0; i < 1000; i++) expect(splitBucket(`x${i}`)).toBeLessThan(100);
  });

  it('keys corpus messages by group and id, which repeat separately', () => {
    expect(corpusKey({ group: 'spam-2', id: '00042' })).toBe('spam-2/00042');
    const splits = loadSplits();
    const all = [...splits.train, ...splits.validation, ...splits.test];
    expect(all).toHaveLength(6046);
    expect(new Set(all.map((m) => m.key)).size).toBe(6046);
    for (const [split, messages] of Object.entries(splits)) {
      for (const m of messages) expect(splitOf(m.key)).toBe(split);
      expect(messages.filter((m) => m.label === 1).length).toBeGreaterThan(messages.length * 0.25);
    }
  });
});
