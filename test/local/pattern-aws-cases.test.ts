import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { EventBridgeClient, TestEventPatternCommand } from '@aws-sdk/client-eventbridge';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { handleEventBridgeRequest } from '../../local/eventbridge/api';
import { LocalEventBus } from '../../local/eventbridge/bus';
import { type ComplexityTerm, fieldComplexity } from '../../local/eventbridge/complexity';
import {
  InvalidEventPatternError,
  matchesPattern,
  RuleIndex,
  validatePattern,
} from '../../local/eventbridge/pattern';
import { parseWildcard, type WildcardPattern } from '../../local/eventbridge/wildcard';
import { FakeFirehose, FakeQueues, testModel } from './bus-fakes';

/*
 * Cases EventBridge's engine (aws/event-ruler) is documented or tested to decide, table-driven, each
 * with its source. Every case runs through the reference matcher, the RuleIndex (parsed and JSON
 * text), so the hot path and TestEventPattern cannot drift apart.
 */

type Case = readonly [label: string, pattern: unknown, event: unknown, expected: boolean];

function check([label, pattern, event, expected]: Case) {
  expect(matchesPattern(pattern, event), `matchesPattern: ${label}`).toBe(expected);
  const index = new RuleIndex([
    ['other', { zzz: ['never'] }],
    ['r', pattern],
  ]);
  expect(index.match(event), `RuleIndex: ${label}`).toEqual(expected ? ['r'] : []);
  expect(index.matchJson(JSON.stringify(event)), `RuleIndex.matchJson: ${label}`).toEqual(
    expected ? ['r'] : [],
  );
}

// event-ruler README "JSON Array Matching".
const employees = {
  employees: [
    { firstName: 'John', lastName: 'Doe' },
    { firstName: 'Anna', lastName: 'Smith' },
    { firstName: 'Peter', lastName: 'Jones' },
  ],
};
const nestedEmployees = {
  employees: [
    [
      { firstName: 'John', lastName: 'Doe' },
      { firstName: 'Anna', lastName: 'Smith' },
    ],
    [{ firstName: 'Peter', lastName: 'Jones' }],
  ],
};

// event-ruler src/test/data/arrayRule1.json and arrayEvent1/2.json (GenericMachineTest.nestedArraysTest), trimmed.
const alarmRule = {
  source: ['aws.cloudwatch'],
  detail: {
    state: { value: ['ALARM'] },
    configuration: { metrics: { metricStat: { metric: { namespace: ['AWS/EC2'] } } } },
  },
};
const alarmEvent = (metrics: unknown[]) => ({
  source: 'aws.cloudwatch',
  detail: { state: { value: 'ALARM' }, configuration: { metrics } },
});
const metric = (metricName: string, namespace: string) => ({
  metricStat: { metric: { metricName, namespace } },
});

// event-ruler ACMachineTest.testACWithExistFalseRule, with the fields the rules do not name left out.
const taskRule = (absentKey: string) => ({
  requestContext: {
    taskInstances: {
      taskInstanceState: ['ACTIVE'],
      provider: { id: ['XXXXXXXXXXXX'] },
      resources: { additionalContext: { capabilityInterfaces: { [absentKey]: [{ exists: false }] } } },
    },
  },
});
const task = (state: string, providerId: string, interfaceName?: string) => ({
  taskInstanceState: state,
  provider: { id: providerId },
  resources: [
    interfaceName === undefined
      ? { legacyFocusCategory: 'XXXXXFocus' }
      : { additionalContext: { capabilityInterfaces: [{ interfaceName }] } },
  ],
});
const taskEvent1 = {
  requestContext: {
    taskInstances: [task('ACTIVE', 'XXXXXXXXXXXX'), task('InACTIVE', 'SomeRandom', 'Dummy.DummyDumDum')],
  },
};
const taskEvent2 = {
  requestContext: {
    taskInstances: [
      task('ACTIVE', 'XXXXXXXXXXXX', 'XXXX.XXXXXXXXXXXXXX'),
      task('InACTIVE', 'SomeRandom', 'XXXX.XXXXXXXXXXXXXX'),
    ],
  },
};

const suites: Record<string, Case[]> = {
  'array-consistent matching': [
    ['one field in an array of objects', { employees: { firstName: ['Anna'] } }, employees, true],
    // README: rulesForJSONEvent "will *not* match the Anna/Jones rule".
    [
      'fields from different elements',
      { employees: { firstName: ['Anna'], lastName: ['Jones'] } },
      employees,
      false,
    ],
    ['fields from one element', { employees: { firstName: ['Anna'], lastName: ['Smith'] } }, employees, true],
    [
      'multi-level arrays, different elements',
      { employees: { firstName: ['Anna'], lastName: ['Jones'] } },
      nestedEmployees,
      false,
    ],
    [
      'multi-level arrays, one element',
      { employees: { firstName: ['John'], lastName: ['Doe'] } },
      nestedEmployees,
      true,
    ],
    // GenericMachineTest.nestedArraysTest: arrayRule3 against arrayEvent3 (no match with AC) and arrayEvent4.
    [
      'arrayRule3 / arrayEvent3',
      { metrics: { metricName: ['CPUUtilization'], namespace: ['AWS/ES'] } },
      {
        metrics: [metric('CPUUtilization', 'AWS/EC2'), metric('RequestCount', 'AWS/ES')].map(
          (m) => m.metricStat.metric,
        ),
      },
      false,
    ],
    [
      'arrayRule3 / arrayEvent4',
      { metrics: { metricName: ['CPUUtilization'], namespace: ['AWS/ES'] } },
      { metrics: [{ metricName: 'CPUUtilization', namespace: 'AWS/ES' }] },
      true,
    ],
    ['arrayRule1 / arrayEvent1', alarmRule, alarmEvent([metric('CPUUtilization', 'AWS/EC2')]), true],
    [
      'arrayRule1 / arrayEvent2',
      alarmRule,
      alarmEvent([
        metric('ConsumedReadCapacityUnits', 'AWS/DynamoDB'),
        { id: 'E1', expression: '(M1 / M2) * 100' },
      ]),
      false,
    ],
    // A field outside the array is consistent with every element.
    [
      'field outside the array',
      { a: ['x'], arr: { b: ['1'] } },
      { a: 'x', arr: [{ b: '2' }, { b: '1' }] },
      true,
    ],
    // Scalars directly in an array take no element membership (User guide "Arrays in event patterns").
    [
      'array of scalars',
      { resources: ['r2'], detail: { k: ['v'] } },
      { resources: ['r1', 'r2'], detail: { k: 'v' } },
      true,
    ],
  ],
  'exists: false inside arrays of objects': [
    // ACMachineTest.testACWithExistFalseRule: event1 matches both rules, event2 only r2.
    ['testACWithExistFalseRule r1 / event1', taskRule('interfaceName'), taskEvent1, true],
    ['testACWithExistFalseRule r2 / event1', taskRule('abc'), taskEvent1, true],
    ['testACWithExistFalseRule r1 / event2', taskRule('interfaceName'), taskEvent2, false],
    ['testACWithExistFalseRule r2 / event2', taskRule('abc'), taskEvent2, true],
    ['present outside any array', { a: { b: [{ exists: false }] } }, { a: { b: 1 } }, false],
    // event-ruler checks absence against the elements chosen by the fields before it in key order
    // (ACFinder/StructuredFinder getNameTransitions(event, membership)): here `a` comes first.
    [
      'absent from the element a later field… first',
      { arr: { a: ['v'], k: [{ exists: false }] } },
      { arr: [{ k: 1 }, { a: 'v' }] },
      true,
    ],
    // …and here `k` is checked before `y` has chosen an element, so any `k` counts as present.
    [
      '…and when the absent key sorts first',
      { arr: { k: [{ exists: false }], y: ['v'] } },
      { arr: [{ k: 1 }, { y: 'v' }] },
      false,
    ],
  ],
  'keys containing dots': [
    // event-ruler README "Compiled rules and JSON keys with dots": both rules match both events.
    [
      'dotted pattern key, nested event',
      { detail: { 'state.status': ['running'] } },
      { detail: { state: { status: 'running' } } },
      true,
    ],
    [
      'nested pattern, dotted event key',
      { detail: { state: { status: ['running'] } } },
      { detail: { 'state.status': 'running' } },
      true,
    ],
    [
      'dotted pattern key, dotted event key',
      { detail: { 'state.status': ['running'] } },
      { detail: { 'state.status': 'running' } },
      true,
    ],
    // Checked against AWS TestEventPattern in ministackorg/ministack#1493.
    ['top-level dotted key', { 'detail.name': ['x'] }, { detail: { name: 'x' } }, true],
    ['dotted key, other value', { 'detail.name': ['x'] }, { detail: { name: 'y' } }, false],
    ['split at another dot', { a: { 'b.c': [1] } }, { 'a.b': { c: 1 } }, true],
    ['dotted key, exists: false', { 'a.b': [{ exists: false }] }, { a: { b: 1 } }, false],
  ],
  'CIDR ranges': [
    // event-ruler CIDRTest.TestCorrectRanges: the range is floored to the network address.
    ['host bits set, network address', { ip: [{ cidr: '54.240.196.171/24' }] }, { ip: '54.240.196.0' }, true],
    ['host bits set, top address', { ip: [{ cidr: '54.240.196.171/24' }] }, { ip: '54.240.196.255' }, true],
    ['host bits set, next network', { ip: [{ cidr: '54.240.196.171/24' }] }, { ip: '54.240.197.0' }, false],
    ['/31, lower address', { ip: [{ cidr: '10.0.0.1/31' }] }, { ip: '10.0.0.0' }, true],
    ['/31, upper address', { ip: [{ cidr: '10.0.0.1/31' }] }, { ip: '10.0.0.1' }, true],
    ['/31, outside', { ip: [{ cidr: '10.0.0.1/31' }] }, { ip: '10.0.0.2' }, false],
    [
      'IPv6 host bits set, floor',
      { ip: [{ cidr: '2001:db8::ff00:42:8329/24' }] },
      { ip: '2001:d00::' },
      true,
    ],
    [
      'IPv6 host bits set, outside',
      { ip: [{ cidr: '2001:db8::ff00:42:8329/24' }] },
      { ip: '2001:e00::' },
      false,
    ],
    [
      'IPv6 /122 top',
      { ip: [{ cidr: '2400:6500:FF00::36FB:1F80/122' }] },
      { ip: '2400:6500:ff00::36fb:1fbf' },
      true,
    ],
    [
      'IPv6 /122 past the top',
      { ip: [{ cidr: '2400:6500:FF00::36FB:1F80/122' }] },
      { ip: '2400:6500:ff00::36fb:1fc0' },
      false,
    ],
  ],
};

describe('the pattern engine agrees with event-ruler and EventBridge', () => {
  for (const [name, cases] of Object.entries(suites)) {
    describe(name, () => {
      for (const c of cases) it(c[0], () => check(c));
    });
  }

  it('checks array consistency per rule when many rules share conditions', () => {
    const index = new RuleIndex([
      ['anna-smith', { employees: { firstName: ['Anna'], lastName: ['Smith'] } }],
      ['anna-jones', { employees: { firstName: ['Anna'], lastName: ['Jones'] } }],
      ['peter-jones', { employees: { firstName: ['Peter'], lastName: ['Jones'] } }],
      ['anna', { employees: { firstName: ['Anna'] } }],
    ]);
    expect(index.match(employees)).toEqual(['anna-smith', 'peter-jones', 'anna']);
    expect(index.match(nestedEmployees)).toEqual(['anna-smith', 'peter-jones', 'anna']);
    // An element outside arrays settles the condition for good.
    expect(index.match({ employees: { firstName: 'Anna', lastName: 'Jones' } })).toEqual([
      'anna-jones',
      'anna',
    ]);
  });
});

const wildcard = (text: string): WildcardPattern => {
  const parsed = parseWildcard(text);
  if (typeof parsed === 'string') throw new Error(parsed);
  return parsed;
};
const terms = (texts: readonly string[]): ComplexityTerm[] =>
  texts.map((text) => ({ identity: text, values: [wildcard(text)] }));

describe('wildcard complexity ("Rule is too complex")', () => {
  // event-ruler MachineComplexityEvaluatorTest: ByteMachine complexity of bare (unquoted) values;
  // multi-pattern cases are checked in every order, as its testPatternPermutations does.
  const evaluatorCases: [readonly string[], number][] = [
    [['*'], 1],
    [['abc'], 1],
    [['*ab'], 2],
    [['*aa'], 3],
    [['a*b'], 2],
    [['aa*'], 2],
    [['a*bcb'], 3],
    [['a*bbb'], 4],
    [['*ab*ad'], 4],
    [['*ab*d'], 3],
    [['*aba*'], 4],
    [['a*b*bb'], 5],
    [['a*b*cd'], 3],
    [['ab*b*'], 3],
    [['*', 'ab*c'], 3],
    [['ab*c', 'x*xx'], 3],
    [['*abc', '*abcde'], 4],
    [['a*bcd', 'ab*cd'], 4],
    [['a*bc', 'a*bcde'], 4],
    [['a*aaa', 'aa*aa'], 7],
    [['a*bc', 'abc*d'], 4],
    [['a*aaa', 'aaa*a'], 6],
    [['a*aax', 'aaa*x'], 5],
    [['abc*', 'abcde*'], 3],
    [['ab*cd', 'ab*wx', 'ab*yz'], 6],
    [['*ab*b*b*'], 7],
    [['*a*a*a*a*a*a*a*a*'], 17],
  ];
  for (const [patterns, expected] of evaluatorCases) {
    it(`${patterns.join(' + ')} → ${expected}`, () => {
      const orders = patterns.length === 1 ? [patterns] : [patterns, [...patterns].reverse()];
      for (const order of orders) expect(fieldComplexity(terms(order), 100, false)).toBe(expected);
    });
  }

  const keyPattern = (values: string[]) => ({
    source: ['aws.s3'],
    detail: { object: { key: values.map((v) => ({ wildcard: v })) } },
  });
  // What AWS was seen to answer (a public Terraform module records the refusal and its split).
  it('refuses four */datasync/*.ext values in one field and accepts two, or four *.ext', () => {
    const refused = keyPattern([
      '*/datasync/*.bif',
      '*/datasync/*.tiff',
      '*/datasync/*.tif',
      '*/datasync/*.svs',
    ]);
    expect(() => validatePattern(refused)).toThrow(
      new InvalidEventPatternError(
        'Rule is too complex - try using fewer wildcard characters or fewer repeating character sequences after a wildcard character',
      ),
    );
    expect(() => new RuleIndex([['r', refused]])).toThrow(/Rule is too complex/);
    expect(() => validatePattern(keyPattern(['*/datasync/*.bif', '*/datasync/*.tif']))).not.toThrow();
    expect(() => validatePattern(keyPattern(['*.bif', '*.tiff', '*.tif', '*.svs']))).not.toThrow();
  });

  it('counts anything-but wildcard lists and branches that share a machine', () => {
    const values = ['*/a/*.x', '*/b/*.x', '*/c/*.x', '*/d/*.x', '*/e/*.x'];
    // One anything-but list is one pattern: its values weigh 1 together where they share states.
    expect(() =>
      validatePattern({ k: [{ 'anything-but': { wildcard: values.slice(0, 4) } }] }),
    ).not.toThrow();
    expect(() => validatePattern({ k: [{ 'anything-but': { wildcard: values } }] })).toThrow(
      /Rule is too complex/,
    );
    expect(() => validatePattern({ k: values.slice(0, 4).map((wildcard) => ({ wildcard })) })).toThrow(
      /Rule is too complex/,
    );
    // $or branches reaching the same field share its machine...
    const branches = values.map((wildcard) => ({ k: [{ wildcard }] }));
    expect(() => validatePattern({ $or: branches.slice(0, 3) })).not.toThrow();
    expect(() => validatePattern({ $or: branches.slice(0, 4) })).toThrow(/Rule is too complex/);
    // ...unless different values of an earlier field (in key order) lead to it.
    expect(() => validatePattern({ $or: branches.map((b, i) => ({ a: [`v${i}`], ...b })) })).not.toThrow();
  });
});

describe('TestEventPattern through the AWS SDK', () => {
  let server: Server;
  let client: EventBridgeClient;
  const bus = new LocalEventBus({
    model: testModel(),
    queues: new FakeQueues(),
    firehose: new FakeFirehose(),
    sleep: async () => {},
    backoff: () => 1,
  });

  beforeAll(async () => {
    server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', async () => {
        const target = req.headers['x-amz-target'];
        const answer = await handleEventBridgeRequest(
          bus,
          typeof target === 'string' ? target : undefined,
          Buffer.concat(chunks).toString('utf8'),
        );
        res.writeHead(answer.status, answer.headers).end(answer.body);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    client = new EventBridgeClient({
      endpoint: `http://127.0.0.1:${port}`,
      region: 'eu-west-1',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
      maxAttempts: 1,
    });
  });

  afterAll(async () => {
    client.destroy();
    await new Promise((resolve) => server.close(resolve));
  });

  const envelope = (detail: unknown) =>
    JSON.stringify({
      id: '1',
      account: '000000000000',
      source: 'aws.s3',
      time: '2026-11-28T12:00:00Z',
      region: 'eu-west-1',
      'detail-type': 'Object Created',
      detail,
    });
  const test = (pattern: unknown, detail: unknown) =>
    client.send(
      new TestEventPatternCommand({ EventPattern: JSON.stringify(pattern), Event: envelope(detail) }),
    );

  it('answers array-consistent, dotted-key and CIDR cases as AWS does', async () => {
    const people = { employees: employees.employees };
    expect(
      (await test({ detail: { employees: { firstName: ['Anna'], lastName: ['Jones'] } } }, people)).Result,
    ).toBe(false);
    expect(
      (await test({ detail: { employees: { firstName: ['Anna'], lastName: ['Smith'] } } }, people)).Result,
    ).toBe(true);
    expect((await test({ 'detail.name': ['x'] }, { name: 'x' })).Result).toBe(true);
    expect((await test({ detail: { ip: [{ cidr: '10.0.0.1/31' }] } }, { ip: '10.0.0.0' })).Result).toBe(true);
  });

  it('refuses a too complex wildcard pattern with InvalidEventPatternException', async () => {
    const values = ['*/datasync/*.bif', '*/datasync/*.tiff', '*/datasync/*.tif', '*/datasync/*.svs'];
    await expect(
      test({ detail: { key: values.map((wildcard) => ({ wildcard })) } }, { key: 'a/datasync/b.tif' }),
    ).rejects.toMatchObject({
      name: 'InvalidEventPatternException',
      message:
        'Event pattern is not valid. Reason: Rule is too complex - try using fewer wildcard characters or fewer repeating character sequences after a wildcard character',
    });
  });
});
