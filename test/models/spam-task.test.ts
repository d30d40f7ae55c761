import { describe, expect, it } from 'vitest';
import { loadTaskDefinition } from '../../functions/tasks/definition';
import { splitOf } from '../../functions/tasks/spam/split';

describe('the spam task definition', () => {
  it('loads the SpamAssassin splits from functions/tasks/spam as labelled text examples', async () => {
    const task = await loadTaskDefinition('spam');
    expect(task.id).toBe('spam');
    expect(task.splitMethod).toContain('fnv1a32');
    const splits = await task.loadSplits();
    const all = [...splits.train, ...splits.validation, ...splits.test];
    expect(all).toHaveLength(6046);
    expect(new Set(all.map((e) => e.id)).size).toBe(6046);
    expect(new Set(all.map((e) => e.label))).toEqual(new Set(['ham', 'spam']));
    for (const [split, examples] of Object.entries(splits)) {
      for (const e of examples) {
        expect(splitOf(e.id)).toBe(split);
        expect('text' in e.input).toBe(true);
        expect(e.label === 'spam').toBe(e.group?.startsWith('spam'));
      }
    }
    // Held-out counts the model card and the benchmarks quote.
    expect(splits.test).toHaveLength(913);
  });
});
