import { describe, expect, it } from 'vitest';
import { printReconciliation } from './run';
import { runSignalScenario, type StopSignal } from './signal';

/**
 * Graceful shutdown of a real `inferbus local` under steady PutEvents traffic, then a restart that
 * drains what is left: nothing accepted is lost, nothing is dead-lettered or dropped because of the
 * stop, and nothing is left in flight to wait out the template's 181 s visibility timeout.
 */
describe.each<StopSignal>(['SIGINT', 'SIGTERM'])('%s to inferbus local mid-load', (signal) => {
  it('refuses new events, finishes what it accepted, exits 0, and the restart reconciles every id', {
    timeout: 420_000,
  }, async () => {
    const lines: string[] = [];
    const outcome = await runSignalScenario({ signal, out: (l) => lines.push(l) });
    const r = outcome.reconciliation;
    printReconciliation([r], (l) => lines.push(l));
    const context = `${lines.join('\n')}\n--- stop log ---\n${outcome.stopLog.slice(-4000)}`;
    expect(outcome.exitCode, context).toBe(0);
    expect(outcome.stopLog, context).not.toMatch(/event dropped/);
    expect(outcome.refusals.ServiceUnavailable, context).toBeGreaterThan(0);
    expect(r.accepted, context).toBeGreaterThan(300);
    expect(r.missing, context).toEqual([]);
    expect(r.invented, context).toEqual([]);
    // Nothing is cut short by a graceful stop: no request gets two outcomes, or one twice.
    expect(r.conflicts, context).toEqual([]);
    expect(r.duplicateLetters, context).toBe(0);
    expect(outcome.ruleDeadLetters, context).toBe(0);
    expect(outcome.inFlightAtRestart, context).toBe(0);
    expect(outcome.firehoseReplayed, context).toBe(0);
    expect(r.ok, context).toBe(true);
  });
});

describe('a second SIGINT while inferbus local stops', () => {
  it('exits at once (130), says what it left, hands back what was in flight, and the restart loses nothing', async () => {
    const lines: string[] = [];
    const outcome = await runSignalScenario({ signal: 'SIGINT', twice: true, out: (l) => lines.push(l) });
    const r = outcome.reconciliation;
    printReconciliation([r], (l) => lines.push(l));
    const context = `${lines.join('\n')}\n--- stop log ---\n${outcome.stopLog.slice(-4000)}`;
    expect(outcome.exitCode, context).toBe(130);
    expect(outcome.stopLog, context).toMatch(
      /SIGINT again: exiting now\. \d+ message\(s\) in Lambda invocations were handed back .* delivered from the durable logs/,
    );
    expect(r.missing, context).toEqual([]);
    expect(r.invented, context).toEqual([]);
    expect(outcome.inFlightAtRestart, context).toBe(0);
    expect(r.ok, context).toBe(true);
  }, 420_000);
});
