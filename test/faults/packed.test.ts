import { describe, expect, it } from 'vitest';
import { printReconciliation, runScenario, SCENARIOS } from './run';

/**
 * The fault suite's packed scenario: packed requests (encoded and plain) while 30% of the handlers'
 * publishes fail, so packs are handed back whole; every accepted request still ends in the archive
 * or a DLQ with its reason, counted one by one, and each has its archived request row.
 */
describe('fault suite with packed traffic', () => {
  it('reconciles every packed request on its own under publish failures', async () => {
    const scenario = SCENARIOS.find((s) => s.name === 'packedTraffic');
    expect(scenario).toBeDefined();
    const lines: string[] = [];
    const result = await runScenario(scenario as (typeof SCENARIOS)[number], {
      requests: 200,
      out: (l) => lines.push(l),
    });
    printReconciliation([result], (l) => lines.push(l));
    const report = lines.join('\n');
    expect(result.accepted, report).toBe(200);
    expect(result.missing, report).toEqual([]);
    expect(result.invented, report).toEqual([]);
    expect(result.deadLettered, report).toBeGreaterThan(0); // the poison requests, one by one
    expect(result.withoutHandlerReason, report).toBe(0);
    expect(result.handedBack, report).toBeGreaterThan(0); // the fault fired
    expect(result.ok, report).toBe(true);
  });
});
