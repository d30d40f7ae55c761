import type { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { onInterrupt } from '../../cli/interrupt';
import { sendEntries } from '../../functions/producer/sender';

const entries = Array.from({ length: 50 }, (_, i) => ({
  Source: 'inferbus.acme',
  DetailType: 'InferenceRequested',
  Detail: JSON.stringify({ n: i }),
}));

/** A PutEvents stand-in whose answers the test releases one request at a time. */
function gatedClient(answer: (entryCount: number) => { EventId?: string; ErrorCode?: string }[]) {
  const gates: (() => void)[] = [];
  const client = {
    send: (command: { input: { Entries: unknown[] } }) =>
      new Promise((resolve) => {
        gates.push(() => resolve({ Entries: answer(command.input.Entries.length) }));
      }),
  } as unknown as EventBridgeClient;
  return { client, gates };
}
const tick = () => new Promise((r) => setImmediate(r));

describe('sendEntries with an abort signal', () => {
  it('waits for the requests in flight, starts no more, and reports every entry once', async () => {
    const { client, gates } = gatedClient((n) => Array.from({ length: n }, () => ({ EventId: 'x' })));
    const controller = new AbortController();
    const sending = sendEntries(client, entries, { concurrency: 2, signal: controller.signal });
    await tick();
    gates.shift()?.(); // request 1 answers
    await tick();
    expect(gates).toHaveLength(2); // requests 2 and 3 in flight
    controller.abort();
    for (const release of gates.splice(0)) release();
    const report = await sending;
    expect(report.accepted).toBe(30);
    expect(report.requests).toBe(3);
    expect(report.failed).toEqual([]);
    expect(report.unsent.map((u) => u.index)).toEqual(Array.from({ length: 20 }, (_, i) => 30 + i));
    expect(report.unsent[0]).toMatchObject({ error: 'not sent: interrupted', attempts: 0 });
  });

  it('abandons a retry it was waiting for, naming the last error', async () => {
    const { client, gates } = gatedClient((n) =>
      Array.from({ length: n }, (_, i) =>
        i === 0 ? { ErrorCode: 'ThrottlingException' } : { EventId: 'x' },
      ),
    );
    const controller = new AbortController();
    const sending = sendEntries(client, entries.slice(0, 10), {
      signal: controller.signal,
      backoff: { baseMs: 60_000, capMs: 60_000 },
      random: () => 1,
    });
    await tick();
    gates.shift()?.();
    await tick();
    controller.abort(); // during the 60 s backoff: it must not be waited out
    const report = await sending;
    expect(report.accepted).toBe(9);
    expect(report.unsent).toEqual([
      expect.objectContaining({
        index: 0,
        attempts: 1,
        error: expect.stringMatching(/^interrupted before its retry; last error ThrottlingException/),
      }),
    ]);
  });
});

describe('onInterrupt', () => {
  let dispose: (() => void) | undefined;
  afterEach(() => dispose?.());

  it('aborts on the first Ctrl-C and exits with 130 on the second', () => {
    const exit = vi.fn() as unknown as (code: number) => never;
    const notice = vi.fn();
    const interrupt = onInterrupt(notice, exit);
    dispose = interrupt.dispose;
    process.emit('SIGINT');
    expect(interrupt.signal.aborted).toBe(true);
    expect(notice).toHaveBeenCalledOnce();
    expect(exit).not.toHaveBeenCalled();
    process.emit('SIGINT');
    expect(exit).toHaveBeenCalledWith(130);
  });

  it('hands Ctrl-C back when disposed', () => {
    const before = process.listenerCount('SIGINT');
    const interrupt = onInterrupt(() => {});
    expect(process.listenerCount('SIGINT')).toBe(before + 1);
    interrupt.dispose();
    expect(process.listenerCount('SIGINT')).toBe(before);
  });
});
