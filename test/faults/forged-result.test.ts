import { describe, expect, it } from 'vitest';
import { runForgedResultScenario } from './forged-result';
import { printReconciliation } from './run';

/**
 * Results forged for another tenant's requests: a producer's are refused by the bus policy, a
 * handler-credential forgery is archived, and the reconciliation over `exactly-once-outcomes`
 * counts no invented outcome for any tenant.
 */
describe('forged result events', () => {
  it('are refused from producers and never counted as outcomes', async () => {
    const lines: string[] = [];
    const result = await runForgedResultScenario({ requests: 60, out: (l) => lines.push(l) });
    printReconciliation([result], (l) => lines.push(l));
    const context = lines.join('\n');
    expect(result.problems, context).toEqual([]);
    expect(result.invented, context).toEqual([]);
    expect(
      [...result.inventedByTenant.values()].every((n) => n === 0),
      context,
    ).toBe(true);
    expect(result.missing, context).toEqual([]);
    expect(result.ok, context).toBe(true);
  });
});
