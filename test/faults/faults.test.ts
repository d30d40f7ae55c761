import { describe, expect, it } from 'vitest';
import { printReconciliation, runScenario } from './run';

/**
 * The fault suite end to end for one scenario (handler exceptions at 30%): every accepted request
 * ends exactly once in the archive or a DLQ. `npm run faults` runs every scenario.
 */
describe('fault suite', () => {
  it('reconciles every accepted request under handler errors', async () => {
    const lines: string[] = [];
    const result = await runScenario(
      { name: 'handlerErrorRate=0.3', faults: { handlerErrorRate: 0.3, seed: 1 } },
      { requests: 100, out: (l) => lines.push(l) },
    );
    printReconciliation([result], (l) => lines.push(l));
    expect(result.accepted).toBe(100);
    expect(result.missing).toEqual([]);
    expect(result.invented).toEqual([]);
    expect(result.completed + result.deadLettered).toBeGreaterThanOrEqual(result.accepted);
    expect(result.deadLettered).toBeGreaterThan(0); // the poison requests, with their reason
    expect(result.withoutHandlerReason, lines.join('\n')).toBe(0);
    expect(result.handedBack).toBeGreaterThan(0); // the fault fired (seeded, so it reproduces)
    expect(result.ok).toBe(true);
  });
});
