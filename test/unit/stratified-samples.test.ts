import { describe, expect, it } from 'vitest';
import { sampleEntries } from '../../functions/producer/samples';
import { stratifiedOrder, stratifiedSample } from '../../functions/producer/stratified';
import { loadSplits } from '../../models/train/data';

const labelOf = (item: { label: string }) => item.label;
const items = (counts: Record<string, number>) =>
  Object.entries(counts).flatMap(([label, n]) => Array.from({ length: n }, (_, i) => ({ label, i })));

describe('stratifiedOrder', () => {
  it('keeps every prefix within one item of each label’s share', () => {
    const all = items({ ham: 626, spam: 287, hard: 35 });
    const ordered = stratifiedOrder(all, labelOf, 7);
    expect(ordered).toHaveLength(all.length);
    expect(new Set(ordered)).toEqual(new Set(all));
    const seen = { ham: 0, spam: 0, hard: 0 } as Record<string, number>;
    ordered.forEach((item, k) => {
      seen[item.label] = (seen[item.label] as number) + 1;
      for (const [label, size] of [
        ['ham', 626],
        ['spam', 287],
        ['hard', 35],
      ] as const) {
        expect(Math.abs((seen[label] as number) - ((k + 1) * size) / all.length)).toBeLessThan(1);
      }
    });
  });

  it('is deterministic for a seed, and another seed draws other items with the same mix', () => {
    const all = items({ ham: 60, spam: 40 });
    const a = stratifiedSample(all, labelOf, 10, 1);
    expect(stratifiedSample(all, labelOf, 10, 1)).toEqual(a);
    const b = stratifiedSample(all, labelOf, 10, 2);
    expect(b).not.toEqual(a);
    for (const sample of [a, b]) expect(sample.filter((x) => x.label === 'spam')).toHaveLength(4);
  });

  it('handles one label and no items', () => {
    expect(stratifiedOrder(items({ ham: 3 }), labelOf)).toHaveLength(3);
    expect(stratifiedOrder([], labelOf)).toEqual([]);
  });
});

describe('sampleEntries', () => {
  const heldOut = loadSplits().test;
  const spamShare = heldOut.filter((m) => m.label === 1).length / heldOut.length;
  const spamIn = (count: number, seed?: number) =>
    sampleEntries({ count, busName: 'b', tenants: [{ id: 'acme', weight: 1 }], rejected: 0, seed }).filter(
      (s) => s.kind === 'valid' && s.expectedLabel === 'spam',
    ).length;

  it('carries the held-out split’s spam share at any count (not the hams that sort first)', () => {
    expect(spamShare).toBeGreaterThan(0.2);
    for (const count of [10, 30, 500, 1386, 2500]) {
      // Poison entries (1 in 100) replace a message's place, so allow them on top of rounding.
      expect(Math.abs(spamIn(count) - count * spamShare)).toBeLessThanOrEqual(1 + count / 100);
    }
  });

  it('draws the same entries for the same seed and other messages for another', () => {
    const texts = (seed: number) =>
      sampleEntries({ count: 20, busName: 'b', tenants: [{ id: 'acme', weight: 1 }], rejected: 0, seed }).map(
        (s) => JSON.parse(s.entry.Detail as string).payload.text,
      );
    expect(texts(3)).toEqual(texts(3));
    expect(texts(4)).not.toEqual(texts(3));
    expect(spamIn(30, 4)).toBe(spamIn(30, 3));
  });
});
