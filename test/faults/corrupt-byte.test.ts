import { describe, expect, it } from 'vitest';
import { requestsIn, runCorruptByteScenario } from './corrupt-byte';
import { printReconciliation } from './run';

/**
 * One changed byte in a sealed Firehose segment and in a queued message's body: each start fails
 * naming the file and byte, salvage (the real CLI) copies the rest, and the restart from its folder
 * accounts for every accepted request but those read from the ranges salvage listed.
 * (`npm run faults` also runs tornTail and redriveGivenUp, which take longer; they are not in CI.)
 */
describe('a changed byte in the state', () => {
  it('stops the start, and after salvage only the named requests are lost', async () => {
    const lines: string[] = [];
    const result = await runCorruptByteScenario({ requests: 100, out: (l) => lines.push(l) });
    printReconciliation([result], (l) => lines.push(l));
    const context = lines.join('\n');
    expect(result.problems, context).toEqual([]);
    expect(result.note, context).toMatch(/salvage lost 2 range\(s\) holding \S+\/\S+, \S+\/\S+ \(2 of them/);
    expect(result.missing, context).toEqual([]);
    expect(result.invented, context).toEqual([]);
    expect(result.ok, context).toBe(true);
  });

  it('reads the request of a damaged queued event, escalation or archive line', () => {
    const event =
      '9f3c0a11 {"t":"s","q":"inferbus-dev-spam-t1-acme","bl":90}\n{"version":"0","id":"e-uuid","detail":{"id":"demo-acme-000016","tenant":"acme","payload":{"text":"hi"}}}\n';
    expect(requestsIn(event)).toEqual(['acme/demo-acme-000016']);
    const escalation =
      '{"id":"e","detail":{"id":"acme:r-1:t1:escalation","tenant":"acme","payload":{"sourceEventId":"r-1"}}}';
    expect(requestsIn(escalation)).toEqual(['acme/r-1']);
    const archived =
      '627e2803 1796622123240\t{"event_id":"u","tenant":"globex","source_event_id":"r-2","label":"ham"}\n';
    expect(requestsIn(archived)).toEqual(['globex/r-2']);
  });
});
