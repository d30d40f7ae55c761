import { describe, expect, it } from 'vitest';
import { SampleError, sampleEntries, type TaskSamples } from '../../functions/producer/samples';
import { stratifiedOrder, stratifiedSample } from '../../functions/producer/stratified';
import { loadTaskSamples } from '../../local/demo/sample-events';

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

describe('sampleEntries', async () => {
  const tasks = await loadTaskSamples(['spam']);
  const heldOut = (tasks[0] as TaskSamples).examples;
  const spamShare = heldOut.filter((m) => m.label === 'spam').length / heldOut.length;
  const spamIn = (count: number, seed?: number) =>
    sampleEntries({
      count,
      busName: 'b',
      tenants: [{ id: 'acme', weight: 1 }],
      tasks,
      rejected: 0,
      seed,
    }).filter((s) => s.kind === 'valid' && s.expectedLabel === 'spam').length;

  it('carries the held-out split’s spam share at any count (not the hams that sort first)', () => {
    expect(spamShare).toBeGreaterThan(0.2);
    for (const count of [10, 30, 500, 1386, 2500]) {
      // Poison entries (1 in 100) replace a message's place, so allow them on top of rounding.
      expect(Math.abs(spamIn(count) - count * spamShare)).toBeLessThanOrEqual(1 + count / 100);
    }
  });

  it('draws the same entries for the same seed and other messages for another', () => {
    const texts = (seed: number) =>
      sampleEntries({
        count: 20,
        busName: 'b',
        tenants: [{ id: 'acme', weight: 1 }],
        tasks,
        rejected: 0,
        seed,
      }).map((s) => JSON.parse(s.entry.Detail as string).payload.text);
    expect(texts(3)).toEqual(texts(3));
    expect(texts(4)).not.toEqual(texts(3));
    expect(spamIn(30, 4)).toBe(spamIn(30, 3));
  });

  it('lets the tasks take turns, each request carrying its task, its input kind and its own stream', () => {
    const sensorLike: TaskSamples = {
      task: 'readings',
      examples: [
        { id: 'r1', input: { features: [1, 2] }, label: 'normal' },
        { id: 'r2', input: { features: [9, 9] }, label: 'anomaly' },
      ],
    };
    const samples = sampleEntries({
      count: 6,
      busName: 'b',
      tenants: [{ id: 'acme', weight: 1 }],
      tasks: [...tasks, sensorLike],
      poisonShare: 1e-9,
      rejected: 0,
    });
    const details = samples.map((s) => JSON.parse(s.entry.Detail as string));
    expect(samples.map((s) => s.task)).toEqual(['spam', 'readings', 'spam', 'readings', 'spam', 'readings']);
    expect(details.map((d) => d.task)).toEqual(samples.map((s) => s.task));
    expect(details.filter((d) => d.task === 'readings').map((d) => d.payload.features)).toEqual([
      [9, 9],
      [1, 2],
      [9, 9],
    ]);
    expect(details.filter((d) => d.task === 'spam').every((d) => typeof d.payload.text === 'string')).toBe(
      true,
    );
    // Sequence numbers count per (tenant, stream): each task's requests are numbered 1, 2, 3.
    expect(details.map((d) => [d.stream, d.seq])).toEqual([
      ['inbox-spam', 1],
      ['inbox-readings', 1],
      ['inbox-spam', 2],
      ['inbox-readings', 2],
      ['inbox-spam', 3],
      ['inbox-readings', 3],
    ]);
    expect(new Set(samples.map((s) => s.id)).size).toBe(6);
  });

  it('refuses no tasks, or a task without held-out examples, naming it', () => {
    const options = { count: 1, busName: 'b', tenants: [{ id: 'acme', weight: 1 }] };
    expect(() => sampleEntries({ ...options, tasks: [] })).toThrow(SampleError);
    expect(() => sampleEntries({ ...options, tasks: [{ task: 'empty', examples: [] }] })).toThrow(
      'task empty has no held-out examples',
    );
  });
});
