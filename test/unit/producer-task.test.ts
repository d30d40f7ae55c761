import type { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { describe, expect, it } from 'vitest';
import { createProducer } from '../../functions/producer';

/** A fake EventBridge client that accepts every entry and keeps what was sent. */
function acceptingClient() {
  const details: Record<string, any>[] = [];
  const client = {
    send: async (command: { input: { Entries: { Detail: string }[] } }) => {
      details.push(...command.input.Entries.map((e) => JSON.parse(e.Detail)));
      return { Entries: command.input.Entries.map(() => ({ EventId: 'id' })) };
    },
  } as never as EventBridgeClient;
  return { client, details };
}

describe('producer requests for a task', () => {
  it('names no task unless told (the stage routes those to its first task), so single-task producers are unchanged', async () => {
    const { client, details } = acceptingClient();
    const producer = createProducer({ busName: 'b', tenant: 'acme', client, lingerMs: 1 });
    await producer.emit('message.received', { text: 'hello' });
    await producer.close();
    expect(details).toHaveLength(1);
    expect(details[0]).not.toHaveProperty('task');
    expect(details[0]?.payload).toEqual({ text: 'hello' });
  });

  it("sends features, with the producer's task or the one an emit names", async () => {
    const { client, details } = acceptingClient();
    const producer = createProducer({ busName: 'b', tenant: 'acme', client, lingerMs: 1, task: 'sensor' });
    await producer.emit('reading', { features: [21.5, 40.1, 1], expectedLabel: 'normal' });
    await producer.emit('message.received', { text: 'hello' }, { task: 'spam' });
    await producer.close();
    expect(details.map((d) => [d.task, d.payload])).toEqual([
      ['sensor', { features: [21.5, 40.1, 1], expectedLabel: 'normal' }],
      ['spam', { text: 'hello' }],
    ]);
  });

  it('refuses a task id no stage could route, saying what a task id is', async () => {
    const { client, details } = acceptingClient();
    expect(() => createProducer({ busName: 'b', tenant: 'acme', client, task: 'Sensor-1' })).toThrow(
      'ProducerOptions.task "Sensor-1" is not a task id: 1-12 lowercase letters and digits, starting with a letter',
    );
    const producer = createProducer({ busName: 'b', tenant: 'acme', client, lingerMs: 1 });
    await expect(producer.emit('t', { text: 'x' }, { task: 'a-b' })).rejects.toThrow(
      'emit options.task "a-b" is not a task id',
    );
    // Nothing was stamped for the refused request: the stream's numbers carry on unbroken.
    await producer.emit('t', { text: 'x' });
    await producer.close();
    expect(details.map((d) => d.seq)).toEqual([1]);
  });
});
