import { describe, expect, it } from 'vitest';
import { busFromRuleArn, dlqReason, redrivenEntry, shortQueueName } from '../../cli/commands/dlq';
import { parseInput } from '../../cli/commands/put-events';
import { countPlaceholders, executionParameters, findNamedQuery } from '../../cli/commands/query';
import { formatRows } from '../../cli/format';
import { createProducer } from '../../functions/producer';
import { claimCheckIfNeeded } from '../../functions/producer/claims';
import { rateLimiter, sendEntries } from '../../functions/producer/sender';

const envelope = {
  id: 'e1',
  tenant: 'acme',
  stream: 'inbox',
  seq: 1,
  hlc: '1-0-n',
  type: 'message.received',
  payload: { text: 'hi' },
  metadata: {},
  time: '2026-11-28T12:00:00Z',
};

/** A fake EventBridge client: records requests, answers with the given per-entry outcome. */
function fakeClient(outcome: (detail: string, call: number) => string | undefined | Error) {
  const calls: { Entries: { Detail: string }[] }[] = [];
  return {
    calls,
    send: async (command: { input: { Entries: { Detail: string }[] } }) => {
      calls.push(command.input);
      const results = command.input.Entries.map((e) => outcome(e.Detail, calls.length));
      const error = results.find((r) => r instanceof Error);
      if (error) throw error;
      return { Entries: results.map((r) => (r ? { ErrorCode: r, ErrorMessage: 'x' } : { EventId: 'id' })) };
    },
  } as never as import('@aws-sdk/client-eventbridge').EventBridgeClient & { calls: typeof calls };
}

describe('put-events input', () => {
  it('accepts envelopes, raw entries and JSON arrays; reports the rest by line', () => {
    const raw = {
      Source: 'inferbus.acme',
      DetailType: 'InferenceRequested',
      Detail: JSON.stringify(envelope),
    };
    const text = [
      JSON.stringify(envelope),
      '',
      JSON.stringify(raw),
      JSON.stringify({ ...raw, Source: 'inferbus.globex' }),
      '[1',
    ].join('\n');
    const { good, bad } = parseInput(text, 'InferenceRequested', 'bus');
    expect(good.map((g) => [g.line, g.entry.Source, g.entry.EventBusName])).toEqual([
      [1, 'inferbus.acme', 'bus'],
      [3, 'inferbus.acme', 'bus'],
    ]);
    expect(bad.map((b) => b.line)).toEqual([4, 5]);
    expect(bad[0]?.reason).toMatch(/does not match detail.tenant acme/);
    expect(parseInput(JSON.stringify([raw, { nope: 1 }]), 'X', 'bus').bad[0]?.reason).toMatch(/entry 2/);
  });

  it('refuses results: their source and detail-types are the handlers', () => {
    const raw = {
      Source: 'inferbus.acme',
      DetailType: 'InferenceCompleted',
      Detail: JSON.stringify(envelope),
    };
    const text = [
      JSON.stringify(raw),
      JSON.stringify({ ...raw, Source: 'inferbus.results', DetailType: 'InferenceRequested' }),
    ].join('\n');
    const { good, bad } = parseInput(text, 'InferenceRequested', 'bus');
    expect(good).toEqual([]);
    expect(bad.map((b) => b.reason)).toEqual([
      'DetailType InferenceCompleted is published by the inferbus handlers only (the bus policy denies it to producers); put InferenceRequested events under inferbus.<tenant>',
      'Source inferbus.results is published by the inferbus handlers only (the bus policy denies it to producers); put InferenceRequested events under inferbus.<tenant>',
    ]);
    expect(parseInput(JSON.stringify(envelope), 'EscalationRequested', 'bus').bad[0]?.reason).toMatch(
      /^DetailType EscalationRequested is published by the inferbus handlers only/,
    );
  });
});

describe('query parameters', () => {
  it('maps named parameters to the positional order as quoted literals', () => {
    const q = findNamedQuery('tenant-volume');
    expect(executionParameters(q, ['to=2026-11-30', 'from=2026-11-01'])).toEqual([
      "'2026-11-01'",
      "'2026-11-30'",
    ]);
    expect(executionParameters(undefined, ["it's", '42'])).toEqual(["'it''s'", '42']);
    expect(countPlaceholders('SELECT \'?\' , "a?" FROM t WHERE a = ? -- b = ?\n AND c = ?')).toBe(2);
  });

  it('formats aligned tables with numbers to the right, and CSV with quoting', () => {
    const rows = [
      { a: 'x', n: '5' },
      { a: 'long, "q"', n: null },
    ];
    expect(formatRows(['a', 'n'], rows, 'table', [false, true])).toEqual([
      'a             n',
      '---------  ----',
      'x             5',
      'long, "q"  NULL',
    ]);
    expect(formatRows(['a', 'n'], rows, 'csv')[2]).toBe('"long, ""q""",');
  });
});

describe('dlq helpers', () => {
  it('shortens queue names and re-publishes events marked as redriven', () => {
    expect(shortQueueName('inferbus-dev-Tier1TenantAcmeWorkDlqQueueEBD7441D', 'inferbus-dev')).toBe(
      'Tier1TenantAcmeWorkDlq',
    );
    expect(shortQueueName('inferbus-dev-Tier1TenantAcmeWorkDlqQueueEBD7441D-AbCdEf123', 'inferbus-dev')).toBe(
      'Tier1TenantAcmeWorkDlq',
    );
    // Fixed names of the per-tenant queues: a tenant id of six or more characters stays.
    expect(shortQueueName('inferbus-dev-spam-t1-initech', 'inferbus-dev')).toBe('spam-t1-initech');
    expect(shortQueueName('inferbus-dev-sensor-t3-globex-dlq', 'inferbus-dev')).toBe('sensor-t3-globex-dlq');
    expect(shortQueueName('inferbus-dev-spam-t1-acme-corp-12345678', 'inferbus-dev')).toBe(
      'spam-t1-acme-corp-12345678',
    );
    expect(busFromRuleArn('arn:aws:events:eu-west-1:1:rule/inferbus-dev/r1')).toBe('inferbus-dev');
    const body = JSON.stringify({
      source: 'inferbus.acme',
      'detail-type': 'InferenceRequested',
      detail: envelope,
      time: '2026-11-28T12:00:00Z',
    });
    const entry = redrivenEntry({ Body: body }, 'inferbus-dev');
    expect(JSON.parse(entry?.Detail as string).metadata).toEqual({ redriven: 'true' });
    expect(redrivenEntry({ Body: 'not json' }, 'b')).toBeUndefined();
  });
});

describe('sender and producer', () => {
  it('retries retryable entries with backoff and gives up on permanent ones', async () => {
    const client = fakeClient((detail, call) =>
      detail.includes('bad') ? 'MalformedDetail' : call === 1 ? 'ThrottlingException' : undefined,
    );
    const entries = ['a', 'bad', 'c'].map((d) => ({
      Source: 's',
      DetailType: 't',
      Detail: JSON.stringify({ d }),
    }));
    const delays: number[] = [];
    const report = await sendEntries(client, entries, {
      sleep: async (ms) => void delays.push(ms),
      random: () => 0.5,
    });
    expect(report.accepted).toBe(2);
    expect(report.failed.map((f) => [f.index, f.kind])).toEqual([[1, 'permanent']]);
    expect(delays).toEqual([50]);
  });

  it('stamps envelopes, batches by 10 and reports what failed', async () => {
    const client = fakeClient(() => undefined);
    let now = 1_000;
    const producer = createProducer({
      busName: 'b',
      tenant: 'acme',
      client,
      node: 'n',
      now: () => now,
      lingerMs: 1,
      pack: false, // entry by entry, as producers that turn packing off send (packing: producer-pack.test.ts)
    });
    for (let i = 0; i < 25; i++) {
      now += i % 2;
      await producer.emit('t', { text: `m${i}` }, { stream: i < 20 ? 's1' : 's2' });
    }
    const report = await producer.close();
    expect(report.sent).toBe(25);
    expect(client.calls.map((c) => c.Entries.length)).toEqual([10, 10, 5]);
    const details = client.calls.flatMap((c) => c.Entries.map((e) => JSON.parse(e.Detail)));
    expect(details.slice(18, 22).map((d) => [d.stream, d.seq])).toEqual([
      ['s1', 19],
      ['s1', 20],
      ['s2', 1],
      ['s2', 2],
    ]);
    expect(new Set(details.map((d) => d.hlc)).size).toBe(25);
    await expect(producer.emit('t', {})).rejects.toThrow(/closed/);
  });

  it('claim-checks oversized texts, and refuses them without a claim store', async () => {
    const detail = { ...envelope, payload: { text: 'x'.repeat(1_100_000), expectedLabel: 'ham' } };
    const entry = {
      Source: 'inferbus.acme',
      DetailType: 'InferenceRequested',
      Detail: JSON.stringify(detail),
    };
    const stored: string[] = [];
    const { entry: claimed } = await claimCheckIfNeeded(entry, {
      put: async (key, text) => {
        stored.push(key);
        return { bucket: 'claims', key, bytes: text.length };
      },
    });
    expect(JSON.parse(claimed.Detail as string).payload).toEqual({
      expectedLabel: 'ham',
      claim: { bucket: 'claims', key: 'claims/acme/e1', bytes: 1_100_000 },
    });
    await expect(claimCheckIfNeeded(entry, undefined)).rejects.toThrow(/no claim bucket/);
  });

  it('shapes traffic with a token bucket', async () => {
    let now = 0;
    const waits: number[] = [];
    const limit = rateLimiter(
      100,
      () => now,
      async (ms) => {
        waits.push(ms);
        now += ms;
      },
    );
    for (let i = 0; i < 30; i++) await limit(10);
    expect(now).toBeGreaterThanOrEqual(2_900);
    expect(now).toBeLessThanOrEqual(3_100);
  });
});

describe('dlqReason', () => {
  it("gives the handler's or EventBridge's error attributes", () => {
    expect(dlqReason({ ERROR_CODE: 'InvalidPayload', ERROR_MESSAGE: 'payload needs text' })).toBe(
      'InvalidPayload: payload needs text',
    );
    expect(dlqReason({ ERROR_CODE: 'SDK_CLIENT_ERROR' })).toBe('SDK_CLIENT_ERROR');
  });

  it('explains a message moved by SQS redrive, which carries no reason of its own', () => {
    const reason = dlqReason(
      {},
      { DeadLetterQueueSourceArn: 'arn:aws:sqs:eu-west-1:000000000000:inferbus-dev-spam-t1-acme' },
    );
    expect(reason).toMatch(/^moved here by SQS from inferbus-dev-spam-t1-acme after its receives ran out/);
    expect(reason).toMatch(/see the function logs/);
    expect(dlqReason({})).toBe('no reason recorded');
  });
});
