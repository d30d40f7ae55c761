import { describe, expect, it } from 'vitest';
import {
  applyInputPath,
  applyInputTransformer,
  InputTransformationError,
  InvalidInputTransformerError,
  validateInputTransformer,
} from '../../local/eventbridge/transform.js';
import { memberText } from '../../local/json-members.js';

// The user guide's "Amazon EventBridge input transformation" example event and templates.
const event = {
  version: '0',
  id: '7bf73129-1428-4cd3-a780-95db273d1602',
  'detail-type': 'EC2 Instance State-change Notification',
  source: 'aws.ec2',
  account: '123456789012',
  time: '2015-11-11T21:29:54Z',
  region: 'us-east-1',
  resources: ['arn:aws:ec2:us-east-1:123456789012:instance/i-abcd1111'],
  detail: { 'instance-id': 'i-0123456789', state: 'RUNNING', count: 3, tags: { a: 'b' } },
};
const inputPathsMap = { timestamp: '$.time', instance: '$.detail.instance-id', state: '$.detail.state' };
const context = {
  ruleArn: 'arn:aws:events:us-east-2:123456789012:rule/example',
  ruleName: 'example',
  ingestionTime: new Date('2015-11-11T21:29:55Z'),
};
const render = (inputTemplate: string, map: Record<string, string> = inputPathsMap) =>
  applyInputTransformer({ inputPathsMap: map, inputTemplate }, event, context);

describe('applyInputPath', () => {
  it('follows dot notation, dashes, indices and wildcards', () => {
    expect(applyInputPath('$', event)).toBe(event);
    expect(applyInputPath('$.detail.instance-id', event)).toBe('i-0123456789');
    expect(applyInputPath('$.detail-type', event)).toBe('EC2 Instance State-change Notification');
    expect(applyInputPath('$.resources[0]', event)).toBe(
      'arn:aws:ec2:us-east-1:123456789012:instance/i-abcd1111',
    );
    expect(applyInputPath('$.resources[*]', event)).toEqual(event.resources);
    expect(applyInputPath('$.detail.tags', event)).toEqual({ a: 'b' });
  });

  it('gives undefined for missing paths and odd events', () => {
    expect(applyInputPath('$.detail.nope', event)).toBeUndefined();
    expect(applyInputPath('$.resources[5]', event)).toBeUndefined();
    expect(applyInputPath('$.a.b', null)).toBeUndefined();
    expect(applyInputPath('detail', event)).toBeUndefined();
  });
});

describe('applyInputTransformer (user guide examples)', () => {
  it('simple string', () => {
    expect(render('"instance <instance> is in <state>"')).toBe('"instance i-0123456789 is in RUNNING"');
  });

  it('plain text template (API reference example)', () => {
    expect(render('<instance> is in state <state>')).toBe('i-0123456789 is in state RUNNING');
  });

  it('simple JSON: strings outside quotes become JSON strings', () => {
    expect(render('{"instance" : <instance>, "state": <state>}')).toBe(
      '{"instance":"i-0123456789","state":"RUNNING"}',
    );
  });

  it('JSON with strings and variables', () => {
    const out = render(
      '{"instance" : <instance>, "state": "<state>", "instanceStatus": "instance \\"<instance>\\" is in <state>"}',
    );
    expect(JSON.parse(out)).toEqual({
      instance: 'i-0123456789',
      state: 'RUNNING',
      instanceStatus: 'instance "i-0123456789" is in RUNNING',
    });
  });

  it('JSON with a mix of variables and static information', () => {
    expect(
      JSON.parse(render('{"instance" : <instance>, "state": [ 9, <state>, true ], "Transformed" : "Yes"}')),
    ).toEqual({ instance: 'i-0123456789', state: [9, 'RUNNING', true], Transformed: 'Yes' });
  });

  it('reserved variables in JSON and in a string', () => {
    const out = JSON.parse(
      render(
        '{"ruleArn": <aws.events.rule-arn>, "ruleName": <aws.events.rule-name>, "at": <aws.events.event.ingestion-time>, "originalEvent": <aws.events.event>, "full": <aws.events.event.json>}',
      ),
    );
    expect(out.ruleArn).toBe(context.ruleArn);
    expect(out.ruleName).toBe('example');
    expect(out.at).toBe('2015-11-11T21:29:55.000Z');
    const { detail: _omitted, ...withoutDetail } = event;
    expect(out.originalEvent).toEqual(withoutDetail);
    expect(out.full).toEqual(event);
    expect(render('"<aws.events.rule-name> triggered"')).toBe('"example triggered"');
  });

  it('numbers and objects keep their JSON type outside quotes', () => {
    const out = render('{"n": <n>, "tags": <tags>, "inline": "tags=<tags>"}', {
      n: '$.detail.count',
      tags: '$.detail.tags',
    });
    expect(JSON.parse(out)).toEqual({ n: 3, tags: { a: 'b' }, inline: 'tags={a:b}' });
  });

  it('a missing path renders as nothing, inside quotes or out (the user guide: it "won\'t appear in the output")', () => {
    expect(JSON.parse(render('{"b": "x<missing>y"}', { missing: '$.detail.nope' }))).toEqual({ b: 'xy' });
    expect(render('[<missing> 1]', { missing: '$.detail.nope' })).toBe('[1]');
    expect(render('<missing>x', { missing: '$.detail.nope' })).toBe('x');
  });

  it('refuses a JSON rendering that a missing path left invalid, naming the variable, never a silent null', () => {
    expect(() =>
      render('{"a": <missing>, "n": <n>}', { missing: '$.detail.nope', n: '$.detail.count' }),
    ).toThrow(InputTransformationError);
    expect(() => render('{"a": <missing>}', { missing: '$.detail.nope' })).toThrow(
      /<missing> \(\$\.detail\.nope\) had no value in this event.*exists/,
    );
  });

  it('leaves unknown placeholders alone', () => {
    expect(render('"<unknown> <state>"')).toBe('"<unknown> RUNNING"');
  });

  it('uses the exact event text for aws.events.event.json when given', () => {
    const eventJson = JSON.stringify(event);
    expect(
      applyInputTransformer({ inputTemplate: '{"e": <aws.events.event.json>}' }, event, {
        ...context,
        eventJson,
      }),
    ).toBe(`{"e":${eventJson}}`);
  });
});

describe('applyInputTransformer fast path', () => {
  const renderV = (inputTemplate: string, target: unknown) =>
    applyInputTransformer({ inputPathsMap: { v: '$.detail.v' }, inputTemplate }, target, context);
  const withV = (v: unknown) => ({ ...event, detail: { v } });

  it('fills placeholders inside strings as the general renderer does, escapes and all', () => {
    const template = '{ "at": "<aws.events.event.ingestion-time>", "label": "v=<v>!", "raw": <v> }';
    expect(renderV(template, withV('plain'))).toBe(
      '{"at":"2015-11-11T21:29:55.000Z","label":"v=plain!","raw":"plain"}',
    );
    // A value JSON would escape is inserted as is, unescaped, exactly as before (here: invalid JSON).
    expect(renderV(template, withV('say "hi"'))).toBe(
      '{ "at": "2015-11-11T21:29:55.000Z", "label": "v=say "hi"!", "raw": "say \\"hi\\"" }',
    );
    expect(renderV(template, withV('tab\there'))).toBe(
      '{ "at": "2015-11-11T21:29:55.000Z", "label": "v=tab\there!", "raw": "tab\\there" }',
    );
    expect(() => renderV(template, withV(undefined))).toThrow(InputTransformationError);
    expect(renderV(template, withV(null))).toBe(
      '{"at":"2015-11-11T21:29:55.000Z","label":"v=null!","raw":null}',
    );
  });
});

describe('applyInputTransformer with the detail text as sent', () => {
  const transformer = {
    inputPathsMap: { p: '$.detail.payload', d: '$.detail', n: '$.detail.n' },
    inputTemplate: '{"p": <p>, "d": <d>, "n": <n>}',
  };
  const render = (detailJson: string) =>
    applyInputTransformer(
      transformer,
      { ...event, detail: JSON.parse(detailJson) },
      { ...context, detailJson },
    );

  it('splices objects and arrays from the detail text instead of serializing them again', () => {
    // \u00e9 stays as sent: the splice is the sender's text, equivalent JSON to a new serialization.
    const detailJson = '{"n":1,"payload":{"t":"caf\\u00e9","a":[1,2]}}';
    expect(render(detailJson)).toBe(`{"p":{"t":"caf\\u00e9","a":[1,2]},"d":${detailJson},"n":1}`);
    expect(render('{"n":null,"payload":[{"x":"]"}]}')).toBe(
      '{"p":[{"x":"]"}],"d":{"n":null,"payload":[{"x":"]"}]},"n":null}',
    );
  });

  it('serializes the parsed value when the text cannot be trusted to be it', () => {
    // A member name with an escape could spell "payload"; JSON.parse keeps the last duplicate.
    expect(render('{"n":1,"payload":{"a":1},"pay\\u006coad":{"b":2}}')).toContain('"p":{"b":2}');
    expect(render('{"n":1,"payload":{"a":1},"payload":{"b":2}}')).toContain('"p":{"b":2}');
  });
});

describe('memberText', () => {
  it('finds the last top-level member, skipping nested ones and brackets inside strings', () => {
    expect(memberText('{"a":{"payload":1},"payload":{"x":"a\\"}b"},"z":3}', 'payload')).toBe(
      '{"x":"a\\"}b"}',
    );
    expect(memberText('{"payload":1,"payload":"two"}', 'payload')).toBe('"two"');
    expect(memberText('{"a":{"payload":1}}', 'payload')).toBeUndefined();
    expect(memberText('[{"payload":1}]', 'payload')).toBeUndefined();
    expect(memberText('{"x\\"y":1,"payload":2}', 'payload')).toBeUndefined();
  });
});

describe('validateInputTransformer', () => {
  it('allows 100 paths, not 101', () => {
    const map = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`v${i}`, '$.id']));
    expect(() => validateInputTransformer({ inputPathsMap: map(100), inputTemplate: '"x"' })).not.toThrow();
    expect(() => validateInputTransformer({ inputPathsMap: map(101), inputTemplate: '"x"' })).toThrow(/100/);
  });

  it('rejects reserved names, bad names, bad paths and bad templates', () => {
    const bad =
      (inputPathsMap: Record<string, string>, inputTemplate = '"x"') =>
      () =>
        validateInputTransformer({ inputPathsMap, inputTemplate });
    expect(bad({ 'aws.events.rule-name': '$.id' })).toThrow(InvalidInputTransformerError);
    expect(bad({ 'aws.events.rule-name': '$.id' })).toThrow(/reserved/);
    expect(bad({ 'AWS.mine': '$.id' })).toThrow(/reserved/);
    expect(bad({ 'has space': '$.id' })).toThrow(/not a valid variable name/);
    expect(bad({ v: 'detail.id' })).toThrow(/not a valid JSON path/);
    expect(bad({ v: '$.detail[' })).toThrow(/not a valid JSON path/);
    expect(bad({}, '')).toThrow(/InputTemplate/);
    expect(bad({}, 'x'.repeat(8193))).toThrow(/InputTemplate/);
  });
});
