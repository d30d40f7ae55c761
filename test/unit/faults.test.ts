import { describe, expect, it } from 'vitest';
import {
  faults,
  injectHandlerError,
  injectInitFailure,
  parseFaults,
  withPublishFaults,
} from '../../functions/shared/faults';

describe('INFERBUS_FAULTS', () => {
  it('is off when unset or empty', () => {
    expect(parseFaults(undefined)).toBeUndefined();
    expect(parseFaults('  ')).toBeUndefined();
    if (process.env.INFERBUS_FAULTS === undefined) expect(faults).toBeUndefined();
  });

  it('parses a configuration', () => {
    expect(parseFaults('{"handlerErrorRate":0.2,"publishFailureRate":0.3,"initFailure":true}')).toEqual({
      handlerErrorRate: 0.2,
      publishFailureRate: 0.3,
      initFailure: true,
    });
  });

  it('rejects bad JSON with an error naming the variable', () => {
    expect(() => parseFaults('{handlerErrorRate:0.2')).toThrow(/INFERBUS_FAULTS is not valid JSON/);
    expect(() => parseFaults('[1]')).toThrow(/INFERBUS_FAULTS must be a JSON object/);
    expect(() => parseFaults('{"handlerErrorRate":2}')).toThrow(/INFERBUS_FAULTS\.handlerErrorRate/);
    expect(() => parseFaults('{"initFailure":"yes"}')).toThrow(/INFERBUS_FAULTS\.initFailure/);
    expect(() => parseFaults('{"handlerErorRate":0.1}')).toThrow(/INFERBUS_FAULTS has an unknown key/);
  });

  it('hooks do nothing without faults and fire with them', async () => {
    expect(() => injectInitFailure(undefined)).not.toThrow();
    expect(() => injectHandlerError(undefined)).not.toThrow();
    expect(() => injectInitFailure({ initFailure: true })).toThrow(/initFailure/);
    expect(() => injectHandlerError({ handlerErrorRate: 0.5 }, () => 0.4)).toThrow(/handlerErrorRate/);
    expect(() => injectHandlerError({ handlerErrorRate: 0.5 }, () => 0.6)).not.toThrow();

    const sent: string[] = [];
    const inner = {
      publish: async (entries: readonly { Detail?: string }[]) => {
        sent.push(...entries.map((e) => e.Detail ?? ''));
        return { failed: new Map<number, string>([[1, 'ThrottlingException: inner']]) };
      },
    };
    expect(withPublishFaults(inner as never, undefined)).toBe(inner);
    const rolls = [0.1, 0.9, 0.9, 0.1];
    const faulty = withPublishFaults(inner as never, { publishFailureRate: 0.5 }, () => rolls.shift() ?? 1);
    const entries = ['a', 'b', 'c', 'd'].map((Detail) => ({ Source: 's', DetailType: 't', Detail }));
    const outcome = await faulty.publish(entries as never);
    expect(sent).toEqual(['b', 'c']);
    expect([...outcome.failed.keys()].sort()).toEqual([0, 2, 3]);
    expect(outcome.failed.get(0)).toMatch(/InternalFailure: injected/);
    expect(outcome.failed.get(2)).toBe('ThrottlingException: inner');
  });
});

describe('INFERBUS_FAULTS seed', () => {
  it('accepts an integer seed and refuses anything else', () => {
    expect(parseFaults('{"handlerErrorRate":0.3,"seed":1}')).toEqual({ handlerErrorRate: 0.3, seed: 1 });
    expect(() => parseFaults('{"seed":1.5}')).toThrow(/INFERBUS_FAULTS\.seed must be an integer/);
  });
});
