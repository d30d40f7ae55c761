import { describe, expect, it } from 'vitest';
import { LocalEventBus } from '../../local/eventbridge/bus';
import {
  checkEntry,
  type EventBridgeEvent,
  eventJsonOf,
  formatEventTime,
  MAX_REQUEST_ENTRY_BYTES,
  validateRequest,
} from '../../local/eventbridge/event';
import { jsonOf } from '../../local/eventbridge/json-text';
import {
  applyInputPath,
  applyInputTransformer,
  InputTransformationError,
} from '../../local/eventbridge/transform';
import { compositeMemberText, memberText } from '../../local/json-members';
import { arn, BUS, FakeFirehose, FakeQueues, testModel } from './bus-fakes';

// What the per-event fast paths write must be what the plain serialisation writes, byte for byte.

const TRICKY_STRINGS = [
  '',
  'plain',
  'say "hi"',
  'back\\slash',
  'tab\there\nnewline',
  '\u0000\u001f control',
  'line\u2028separator',
  'lone \ud800 surrogate',
  'emoji 😀',
  'café',
  '</script>',
];
const TRICKY_NUMBERS = [0, -0, 1.5, -5, 1e21, 1e-7, 123456789012345680000, 0.1 + 0.2, Number.MAX_VALUE];
const TRICKY_VALUES: unknown[] = [
  ...TRICKY_STRINGS,
  ...TRICKY_NUMBERS,
  true,
  false,
  null,
  { nested: { deep: ['a', 1, null] }, 'with "quote"': 'x' },
  [],
  {},
  [1, 'two', { three: 3 }],
];

/** Like an archive rule: many paths, at the top, in the detail and deeper, and one inside a string. */
const archive = {
  inputPathsMap: {
    id: '$.id',
    source: '$.source',
    type: '$.detail-type',
    tenant: '$.detail.tenant',
    value: '$.detail.value',
    payload: '$.detail.payload',
    label: '$.detail.payload.label',
    first: '$.resources[0]',
    deep: '$.detail.payload.nested.deep',
  },
  inputTemplate:
    '{"id":<id>,"source":<source>,"type":<type>,"tenant":<tenant>,"value":<value>,"payload":<payload>,"label":<label>,"first":<first>,"deep":<deep>,"at":"<aws.events.event.ingestion-time>"}',
};
const context = {
  ruleArn: 'arn:aws:events:eu-west-1:000000000000:rule/bus/archive',
  ruleName: 'archive',
  ingestionTime: new Date('2026-11-28T12:00:00.123Z'),
};

function eventWith(detail: Record<string, unknown>, source = 'inferbus.acme'): EventBridgeEvent {
  return {
    version: '0',
    id: 'e1',
    'detail-type': 'InferenceRequested',
    source,
    account: '000000000000',
    time: '2026-11-28T12:00:00Z',
    region: 'eu-west-1',
    resources: ['arn:aws:s3:::bucket'],
    detail,
  };
}

/**
 * The archive record as JSON.stringify writes it, path by path; undefined when a path is missing
 * from the event, as the rendering then is not JSON (the transformer refuses it).
 */
function expectedRecord(event: EventBridgeEvent): string | undefined {
  const record: Record<string, unknown> = {};
  for (const [name, path] of Object.entries(archive.inputPathsMap)) {
    record[name] = applyInputPath(path, event);
    if (record[name] === undefined) return undefined;
  }
  record.at = context.ingestionTime.toISOString();
  return JSON.stringify(record);
}

/** Renders the archive record as the bus does: with the detail text as sent, when minified. */
function render(event: EventBridgeEvent, detailJson: string): string {
  const check = checkEntry({ Source: event.source, DetailType: event['detail-type'], Detail: detailJson });
  if (!check.ok) throw new Error(JSON.stringify(check.result));
  return applyInputTransformer(
    archive,
    { ...event, detail: check.detail },
    { ...context, detailJson: check.detailJson, detailMembers: check.detailMembers },
  );
}

describe('input transformer fast path', () => {
  it('writes every kind of value as JSON.stringify would, and refuses a missing one as the general renderer does', () => {
    let missing = 0;
    for (const value of TRICKY_VALUES) {
      for (const payload of [{ label: value, nested: { deep: value } }, value, undefined]) {
        const detail = { tenant: value, value, ...(payload === undefined ? {} : { payload }) };
        const event = eventWith(detail);
        const expected = expectedRecord(event);
        if (expected === undefined) {
          missing++;
          expect(() => render(event, JSON.stringify(detail))).toThrow(InputTransformationError);
        } else expect(render(event, JSON.stringify(detail))).toBe(expected);
      }
    }
    expect(missing).toBeGreaterThan(0);
  });

  it('writes what it would without the detail text, for a detail sent with whitespace', () => {
    const detail = {
      tenant: 'acme',
      value: 1,
      payload: { label: 'say "hi"', list: [1, 2], nested: { deep: 0 } },
    };
    const event = eventWith(detail);
    expect(render(event, JSON.stringify(detail, null, 2))).toBe(expectedRecord(event));
  });

  it('writes a number too large for a double as null, as JSON.stringify writes Infinity', () => {
    expect(
      render(eventWith({}), '{"tenant":"t","value":1e400,"payload":{"label":-1e400,"nested":{"deep":1}}}'),
    ).toContain('"value":null,"payload":{"label":-1e400,"nested":{"deep":1}},"label":null');
  });

  it('keeps the last of duplicate members, and ignores the text when a member name has an escape', () => {
    expect(
      render(
        eventWith({}),
        '{"tenant":"t","value":0,"payload":{"label":"a"},"payload":{"label":"b","nested":{"deep":1}}}',
      ),
    ).toContain('"payload":{"label":"b","nested":{"deep":1}},"label":"b"');
    expect(
      render(
        eventWith({}),
        '{"tenant":"t","value":0,"payload":{"label":"a"},"pay\\u006coad":{"label":"\\u0062","nested":{"deep":1}}}',
      ),
    ).toContain('"payload":{"label":"b","nested":{"deep":1}},"label":"b"');
  });
});

describe('detail members found while checking the entry', () => {
  const texts = [
    '{"a":{"payload":1},"payload":{"x":"a\\"}b"},"z":3}',
    '{"payload":[1,{"y":"]"}],"n":1,"o":{}}',
    '{"payload":{"a":1},"payload":"two"}',
    '{"payload":"one","payload":{"b":[2]}}',
    '{"x\\"y":{"a":1},"payload":{"b":2}}',
    '{"a":{"b":{"c":{}}},"payload":{"q":"\\\\"},"e":[]}',
    '{}',
  ];

  it('give the text memberText finds for a member whose value is an object or an array', () => {
    for (const text of texts) {
      const check = checkEntry({ Source: 's', DetailType: 'd', Detail: text });
      expect(check.ok && check.detailMembers).toBeDefined();
      if (!check.ok || check.detailMembers === undefined) continue;
      for (const key of ['payload', 'a', 'o', 'e', 'n', 'z', 'x"y', 'absent']) {
        // It is asked only about members whose (last) value parsed to an object or an array.
        const scanned = memberText(text, key);
        if (scanned?.startsWith('{') || scanned?.startsWith('[')) {
          expect(compositeMemberText(text, check.detailMembers, key), `${text} ${key}`).toBe(scanned);
        }
      }
      if (text.startsWith('{"x\\"y"')) {
        // A member name with an escape: memberText trusts none of the text.
        expect(compositeMemberText(text, check.detailMembers, 'payload')).toBeUndefined();
      }
    }
  });

  it('are not given for a detail sent with whitespace', () => {
    const check = checkEntry({ Source: 's', DetailType: 'd', Detail: '{ "payload": {} }' });
    expect(check).toEqual({ ok: true, detail: { payload: {} } });
  });
});

describe('event text', () => {
  it('is JSON.stringify of the event, the detail text spliced in', () => {
    for (const text of TRICKY_STRINGS) {
      const event = {
        ...eventWith({ text }, `src ${text}`),
        'detail-type': text,
        id: text,
        resources: [text, 'arn'],
      };
      expect(eventJsonOf(event, JSON.stringify(event.detail))).toBe(JSON.stringify(event));
    }
    const noResources = { ...eventWith({ a: 1 }), resources: [] };
    expect(eventJsonOf(noResources, '{"a":1}')).toBe(JSON.stringify(noResources));
  });

  it('has the time of each event to the second, across seconds', () => {
    const at = (iso: string) => formatEventTime(new Date(iso));
    expect(at('2026-11-28T12:00:00.001Z')).toBe('2026-11-28T12:00:00Z');
    expect(at('2026-11-28T12:00:00.999Z')).toBe('2026-11-28T12:00:00Z');
    expect(at('2026-11-28T12:00:01.000Z')).toBe('2026-11-28T12:00:01Z');
    expect(at('1969-12-31T23:59:59.500Z')).toBe('1969-12-31T23:59:59Z');
    expect(at('2026-11-28T12:00:01.000Z')).toBe('2026-11-28T12:00:01Z');
    expect(() => formatEventTime(new Date(Number.NaN))).toThrow(RangeError);
  });
});

describe('jsonOf', () => {
  it('is JSON.stringify, null for undefined', () => {
    for (const value of [...TRICKY_VALUES, Number.NaN, Number.POSITIVE_INFINITY, -Number.MAX_VALUE]) {
      expect(jsonOf(value)).toBe(JSON.stringify(value));
    }
    expect(jsonOf(undefined)).toBe('null');
  });
});

describe('request size limit', () => {
  const entry = (Detail: string) => ({ Source: 's', DetailType: 'd', Detail });
  const detailOf = (length: number, char: string) => `{"p":"${char.repeat(length - 8)}"}`;

  it('counts UTF-8 bytes, not characters', () => {
    // 2 bytes a character: under the limit in characters, over it in bytes.
    const over = detailOf(MAX_REQUEST_ENTRY_BYTES / 2 + 10, 'é');
    expect(() => validateRequest([entry(over)])).toThrow(/over the limit/);
    const under = detailOf(MAX_REQUEST_ENTRY_BYTES / 2 - 10, 'é');
    expect(() => validateRequest([entry(under)])).not.toThrow();
    // ASCII: over a third of the limit in characters (no quick answer), yet under it in bytes.
    expect(() => validateRequest([entry(detailOf(MAX_REQUEST_ENTRY_BYTES - 100, 'x'))])).not.toThrow();
    expect(() => validateRequest([entry(detailOf(MAX_REQUEST_ENTRY_BYTES, 'x'))])).toThrow(/over the limit/);
  });

  it('still refuses entries whose fields are not strings, with a 400 naming the member', () => {
    for (const bad of [{ Source: ['s'] }, { Detail: { length: 2 } }, { Resources: 5 }, null]) {
      const odd = bad === null ? null : { ...entry('{}'), ...bad };
      expect(() => validateRequest([odd])).toThrow(
        expect.objectContaining({
          status: 400,
          code: expect.stringMatching(/^(Serialization|Validation)Exception$/),
        }),
      );
    }
  });
});

describe('delivery bookkeeping', () => {
  function makeBus(options: { sleep?: (ms: number) => Promise<void>; backoff?: () => number } = {}) {
    const queues = new FakeQueues();
    const logs: string[] = [];
    const model = testModel();
    const invalid = {
      ...(model.rules[0] as (typeof model.rules)[number]),
      name: 'invalid-input',
      eventPattern: { source: ['invalid'] },
      targets: [
        {
          id: 'Bad',
          arn: arn.work,
          inputTransformer: { inputPathsMap: { v: 'not a path' }, inputTemplate: '<v>' },
          deadLetterArn: arn.ruleDlq,
        },
      ],
    };
    const bus = new LocalEventBus({
      model: { ...model, rules: [...model.rules, invalid] },
      queues,
      firehose: new FakeFirehose(),
      log: (line) => logs.push(line),
      now: () => new Date('2026-11-28T12:00:00Z'),
      sleep: options.sleep ?? (async () => {}),
      backoff: options.backoff ?? (() => 10),
    });
    return { bus, queues, logs };
  }
  const acme = {
    Source: 'inferbus.acme',
    DetailType: 'InferenceRequested',
    Detail: '{"id":"e1","tenant":"acme"}',
  };

  it('answers after a failed first attempt without waiting for the retry, which drain waits for', async () => {
    let wake = () => {};
    const { bus, queues } = makeBus({ sleep: () => new Promise((resolve) => (wake = resolve)) });
    queues.failNext(arn.work, 1);
    const result = await bus.putEventsDurably(BUS, [acme]);
    expect(result.FailedEntryCount).toBe(0);
    expect(bus.metrics()).toMatchObject({ deliveriesFailed: 1, deliveriesOk: 1, inFlight: 1 });
    const drains = [bus.drain(), bus.drain()];
    wake();
    await Promise.all(drains);
    expect(queues.to(arn.work)).toHaveLength(1);
    expect(bus.metrics()).toMatchObject({ deliveriesFailed: 1, deliveriesOk: 2, inFlight: 0 });
  });

  it('answers an event whose target input cannot be built once it is in the DLQ', async () => {
    const { bus, queues } = makeBus();
    let open = () => {};
    queues.gates.set(arn.ruleDlq, new Promise<void>((resolve) => (open = resolve)));
    let answered = false;
    const answer = bus.putEventsDurably(BUS, [{ ...acme, Source: 'invalid' }]).then(() => {
      answered = true;
    });
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(answered).toBe(false);
    open();
    await answer;
    expect(queues.to(arn.ruleDlq)).toMatchObject([
      { attributes: { ERROR_CODE: { StringValue: 'INVALID_PARAMETER' } } },
    ]);
    expect(bus.metrics().inFlight).toBe(0);
  });

  it('logs a delivery that crashes, and counts it out of flight', async () => {
    const { bus, queues, logs } = makeBus({
      backoff: () => {
        throw new Error('no backoff');
      },
    });
    queues.failNext(arn.work, 1);
    await bus.putEventsDurably(BUS, [acme]);
    await bus.drain();
    expect(logs).toContainEqual(expect.stringContaining('delivery crashed: no backoff'));
    expect(bus.metrics().inFlight).toBe(0);
  });

  it('drains at once when nothing is in flight', async () => {
    const { bus } = makeBus();
    await bus.drain();
    bus.putEvents(BUS, [acme, acme]);
    expect(bus.metrics().inFlight).toBeGreaterThan(0);
    await bus.drain();
    expect(bus.metrics()).toMatchObject({ inFlight: 0, deliveriesOk: 4 });
  });
});
