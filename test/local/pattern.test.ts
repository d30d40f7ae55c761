import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { matchesPattern, RuleIndex } from '../../local/eventbridge/pattern.js';

// The README event of aws/event-ruler ("Ruler by Example"), also the user guide's EC2 example shape.
const ec2 = JSON.parse(readFileSync(new URL('./fixtures/patterns/ec2-event.json', import.meta.url), 'utf8'));

type Case = readonly [label: string, pattern: unknown, event: unknown, expected: boolean];

/** Checks a case with the simple matcher and the rule index, so both stay honest. */
function check([label, pattern, event, expected]: Case) {
  expect(matchesPattern(pattern, event), `matchesPattern: ${label}`).toBe(expected);
  const index = new RuleIndex([['r', pattern]]);
  expect(index.match(event), `RuleIndex: ${label}`).toEqual(expected ? ['r'] : []);
  expect(index.matchJson(JSON.stringify(event)), `RuleIndex.matchJson: ${label}`).toEqual(
    expected ? ['r'] : [],
  );
}

const suites: Record<string, Case[]> = {
  // User guide "Amazon EventBridge event patterns" and event-ruler README "Simple matching".
  'exact values and fields': [
    [
      'EC2 state pattern',
      {
        source: ['aws.ec2'],
        'detail-type': ['EC2 Instance State-change Notification'],
        detail: { state: ['running'] },
      },
      ec2,
      true,
    ],
    ['value list is an OR', { detail: { state: ['initializing', 'running'] } }, ec2, true],
    ['wrong value', { detail: { state: ['terminated'] } }, ec2, false],
    ['case-sensitive', { source: ['AWS.EC2'] }, ec2, false],
    ['every field must match (AND)', { source: ['aws.ec2'], region: ['eu-west-1'] }, ec2, false],
    ['missing field', { detail: { nope: ['x'] } }, ec2, false],
    ['nesting must agree', { state: ['running'] }, ec2, false],
    ['envelope fields', { account: ['012345679012'], region: ['us-east-1'], version: ['0'] }, ec2, true],
    ['numbers', { detail: { 'c-count': [5] } }, ec2, true],
    ['numbers compare numerically (300 vs 300.0)', { n: [300] }, JSON.parse('{"n": 300.0}'), true],
    ['3.0e2 is 300', { n: [3.0e2] }, { n: 300 }, true],
    ['number does not match string', { n: [300] }, { n: '300' }, false],
    ['string does not match number', { n: ['300'] }, { n: 300 }, false],
    // User guide "Matching null values and empty strings".
    [
      'null',
      { detail: { responseElements: [null] } },
      { detail: { eventVersion: '', responseElements: null } },
      true,
    ],
    [
      'empty string',
      { detail: { eventVersion: [''] } },
      { detail: { eventVersion: '', responseElements: null } },
      true,
    ],
    [
      'empty string is not null',
      { detail: { responseElements: [''] } },
      { detail: { responseElements: null } },
      false,
    ],
    [
      'null is not empty string',
      { detail: { eventVersion: [null] } },
      { detail: { eventVersion: '' } },
      false,
    ],
    ['booleans', { ok: [true] }, { ok: true }, true],
    ['false is not "false"', { ok: [false] }, { ok: 'false' }, false],
    ['an object value is not a leaf', { detail: ['x'] }, { detail: { a: 'x' } }, false],
  ],
  // User guide "Arrays in Amazon EventBridge event patterns"; event-ruler README "JSON Array Matching".
  arrays: [
    [
      'event array intersects pattern array',
      { resources: ['arn:aws:ec2:us-east-1:123456789012:instance/i-b188560f', 'arn:other'] },
      { resources: ['arn:aws:autoscaling:x', 'arn:aws:ec2:us-east-1:123456789012:instance/i-b188560f'] },
      true,
    ],
    ['no intersection', { tags: ['superadmin'] }, { tags: ['user', 'admin'] }, false],
    [
      'objects inside arrays are the parent field',
      { employees: { firstName: ['Anna'] } },
      { employees: [{ firstName: 'John' }, { firstName: 'Anna' }] },
      true,
    ],
    [
      'multi-level arrays',
      { employees: { firstName: ['Peter'] } },
      { employees: [[{ firstName: 'John' }], [{ firstName: 'Peter' }]] },
      true,
    ],
    ['empty event array has no values', { d: { name: ['x'] } }, { d: { name: [] } }, false],
    // event-ruler correctness-cases.json "primarray: numeric in array"
    [
      'numeric over array elements',
      { d: { vals: [{ numeric: ['>', 0, '<', 10] }] } },
      { d: { vals: [100, 5, 200] } },
      true,
    ],
    // event-ruler correctness-cases.json "primarray: anything-but in array"
    [
      'anything-but over array elements',
      { d: { tags: [{ 'anything-but': 'banned' }] } },
      { d: { tags: ['banned', 'ok'] } },
      true,
    ],
    [
      'anything-but, every element excluded',
      { d: { tags: [{ 'anything-but': 'banned' }] } },
      { d: { tags: ['banned'] } },
      false,
    ],
  ],
  prefix: [
    // User guide "Prefix matching".
    ['time prefix', { time: [{ prefix: '2017-10-02' }] }, ec2, true],
    ['prefix mismatch', { time: [{ prefix: '2017-10-03' }] }, ec2, false],
    ['prefix is case-sensitive', { source: [{ prefix: 'AWS.' }] }, ec2, false],
    ['prefix only on strings', { n: [{ prefix: '1' }] }, { n: 12 }, false],
    [
      'prefix equals-ignore-case',
      { service: [{ prefix: { 'equals-ignore-case': 'eventb' } }] },
      { service: 'EventBridge' },
      true,
    ],
    [
      'prefix equals-ignore-case mismatch',
      { service: [{ prefix: { 'equals-ignore-case': 'eventc' } }] },
      { service: 'EventBridge' },
      false,
    ],
  ],
  suffix: [
    // event-ruler README "Suffix matching"; operators page "Ends with".
    ['suffix', { source: [{ suffix: 'ec2' }] }, ec2, true],
    ['suffix mismatch', { FileName: [{ suffix: '.png' }] }, { FileName: 'a.jpg' }, false],
    [
      'suffix equals-ignore-case',
      { FileName: [{ suffix: { 'equals-ignore-case': '.PNG' } }] },
      { FileName: 'a.png' },
      true,
    ],
  ],
  'equals-ignore-case': [
    ['ignore case', { source: [{ 'equals-ignore-case': 'EC2' }] }, { source: 'ec2' }, true],
    ['ignore case, different text', { source: [{ 'equals-ignore-case': 'EC2' }] }, { source: 'ec3' }, false],
    ['only strings', { n: [{ 'equals-ignore-case': '5' }] }, { n: 5 }, false],
  ],
  'anything-but': [
    // User guide "Anything-but matching" and the "Complex example".
    ['single string, other value', { detail: { state: [{ 'anything-but': 'initializing' }] } }, ec2, true],
    ['single string, excluded value', { detail: { state: [{ 'anything-but': 'running' }] } }, ec2, false],
    ['single number', { detail: { 'x-limit': [{ 'anything-but': 123 }] } }, ec2, true],
    ['single number excluded', { detail: { 'c-count': [{ 'anything-but': 5 }] } }, ec2, false],
    ['string list', { detail: { state: [{ 'anything-but': ['stopped', 'overloaded'] }] } }, ec2, true],
    ['string list excluded', { detail: { state: [{ 'anything-but': ['stopped', 'running'] }] } }, ec2, false],
    ['number list', { detail: { 'x-limit': [{ 'anything-but': [100, 200, 300] }] } }, ec2, true],
    ['number list excluded', { n: [{ 'anything-but': [100, 200, 300] }] }, { n: 200 }, false],
    ['string anything-but passes numbers', { n: [{ 'anything-but': 'x' }] }, { n: 1 }, true],
    ['numeric anything-but passes strings', { n: [{ 'anything-but': [1] }] }, { n: '1' }, true],
    ['needs the field', { detail: { nope: [{ 'anything-but': 'x' }] } }, ec2, false],
    ['prefix', { detail: { state: [{ 'anything-but': { prefix: 'init' } }] } }, ec2, true],
    ['prefix excluded', { detail: { state: [{ 'anything-but': { prefix: 'run' } }] } }, ec2, false],
    [
      'prefix list',
      { Region: [{ 'anything-but': { prefix: ['us-', 'eu-'] } }] },
      { Region: 'eu-west-1' },
      false,
    ],
    ['suffix', { FileName: [{ 'anything-but': { suffix: '.png' } }] }, { FileName: 'a.jpg' }, true],
    ['suffix excluded', { FileName: [{ 'anything-but': { suffix: '.png' } }] }, { FileName: 'a.png' }, false],
    [
      'ignore case',
      { state: [{ 'anything-but': { 'equals-ignore-case': 'initializing' } }] },
      { state: 'INITIALIZING' },
      false,
    ],
    [
      'ignore case list',
      { state: [{ 'anything-but': { 'equals-ignore-case': ['a', 'b'] } }] },
      { state: 'C' },
      true,
    ],
    [
      'wildcard',
      { FilePath: [{ 'anything-but': { wildcard: '*/lib/*' } }] },
      { FilePath: '/usr/bin/x' },
      true,
    ],
    [
      'wildcard excluded',
      { FilePath: [{ 'anything-but': { wildcard: '*/lib/*' } }] },
      { FilePath: '/usr/lib/x' },
      false,
    ],
  ],
  numeric: [
    // User guide "Numeric matching" and event-ruler README.
    [
      'ranges and equality',
      {
        detail: {
          'c-count': [{ numeric: ['>', 0, '<=', 5] }],
          'd-count': [{ numeric: ['<', 10] }],
          'x-limit': [{ numeric: ['=', 3.018e2] }],
        },
      },
      ec2,
      true,
    ],
    ['open upper bound', { n: [{ numeric: ['>', 0, '<', 5] }] }, { n: 5 }, false],
    ['closed upper bound', { n: [{ numeric: ['>', 0, '<=', 5] }] }, { n: 5 }, true],
    ['open lower bound', { n: [{ numeric: ['>', 0] }] }, { n: 0 }, false],
    ['closed lower bound', { n: [{ numeric: ['>=', 0] }] }, { n: 0 }, true],
    ['negative and decimals', { n: [{ numeric: ['>=', -1.5, '<', -0.000001] }] }, { n: -1 }, true],
    ['only numbers', { n: [{ numeric: ['>', 0] }] }, { n: '5' }, false],
    ['at the +5e9 limit', { n: [{ numeric: ['>', 0] }] }, { n: 5e9 }, true],
    ['beyond the limit is not numeric', { n: [{ numeric: ['>', 0] }] }, { n: 5e9 + 1 }, false],
  ],
  cidr: [
    // User guide "IP address matching"; event-ruler CIDRTest.
    ['IPv4 in /24', { detail: { 'source-ip': [{ cidr: '10.0.0.0/24' }] } }, ec2, true],
    ['IPv4 outside', { ip: [{ cidr: '10.0.0.0/24' }] }, { ip: '10.0.1.1' }, false],
    ['IPv4 /8', { ip: [{ cidr: '10.0.0.0/8' }] }, { ip: '10.255.3.4' }, true],
    ['IPv6', { ip: [{ cidr: '2001:db8::/32' }] }, { ip: '2001:db8:1:2::3' }, true],
    ['IPv6 outside', { ip: [{ cidr: '2001:db8::/32' }] }, { ip: '2001:db9::1' }, false],
    ['IPv4 never matches an IPv6 range', { ip: [{ cidr: '::/1' }] }, { ip: '10.0.0.1' }, false],
    ['not an IP', { ip: [{ cidr: '10.0.0.0/8' }] }, { ip: 'ten' }, false],
  ],
  exists: [
    // User guide "Exists matching".
    ['exists true', { detail: { 'c-count': [{ exists: true }] } }, ec2, true],
    ['exists true, absent', { detail: { nope: [{ exists: true }] } }, ec2, false],
    ['exists false, absent', { detail: { nope: [{ exists: false }] } }, ec2, true],
    ['exists false, present', { detail: { 'c-count': [{ exists: false }] } }, ec2, false],
    [
      'exists false matches when the field is not a leaf',
      { detail: { 'c-count': [{ exists: false }] } },
      { detail: { state: ['initializing', 'running'], 'c-count': { c1: 100 } } },
      true,
    ],
    [
      'exists true needs a leaf',
      { detail: { 'c-count': [{ exists: true }] } },
      { detail: { 'c-count': { c1: 1 } } },
      false,
    ],
    ['exists true on null', { a: [{ exists: true }] }, { a: null }, true],
    ['exists false with empty array', { a: [{ exists: false }] }, { a: [] }, true],
    ['exists false or value', { a: [{ exists: false }, 'x'] }, { a: 'x' }, true],
    ['exists false or value, other value', { a: [{ exists: false }, 'x'] }, { a: 'y' }, false],
    // event-ruler correctness-cases.json "exists-false: absent"
    [
      'exists mix in array of objects',
      { d: { a: [{ exists: true }], b: [{ exists: false }] } },
      { d: [{ a: 1 }] },
      true,
    ],
  ],
  wildcard: [
    // event-ruler README "Wildcard matching"; operators page "Wildcard".
    ['infix', { source: [{ wildcard: 'Simple*Service' }] }, { source: 'SimpleQueueService' }, true],
    ['infix, empty run', { source: [{ wildcard: 'Simple*Service' }] }, { source: 'SimpleService' }, true],
    ['infix mismatch', { source: [{ wildcard: 'Simple*Service' }] }, { source: 'SimpleQueue' }, false],
    ['several wildcards', { k: [{ wildcard: 'dir/*/file*.png' }] }, { k: 'dir/a/b/file-1.png' }, true],
    ['overlapping pieces', { k: [{ wildcard: '*ab*ab' }] }, { k: 'abab' }, true],
    ['escaped star', { k: [{ wildcard: 'a\\*b' }] }, { k: 'a*b' }, true],
    ['escaped star is literal', { k: [{ wildcard: 'a\\*b' }] }, { k: 'axb' }, false],
    ['escaped backslash', { k: [{ wildcard: 'a\\\\*' }] }, { k: 'a\\zz' }, true],
    ['only a star', { k: [{ wildcard: '*' }] }, { k: '' }, true],
    ['only strings', { k: [{ wildcard: '*' }] }, { k: 1 }, false],
  ],
  $or: [
    // event-ruler README "The $or Primitive" (also EventBridge operators page "Or").
    [
      'normal or',
      { source: ['aws.cloudwatch'], $or: [{ metricName: ['CPUUtilization'] }, { namespace: ['AWS/EC2'] }] },
      { source: 'aws.cloudwatch', namespace: 'AWS/EC2' },
      true,
    ],
    [
      'normal or, shared field fails',
      { source: ['aws.cloudwatch'], $or: [{ metricName: ['CPUUtilization'] }, { namespace: ['AWS/EC2'] }] },
      { source: 'aws.ec2', namespace: 'AWS/EC2' },
      false,
    ],
    [
      'parallel or (nested under detail)',
      {
        $or: [{ metricName: ['CPUUtilization'] }, { namespace: ['AWS/EC2'] }],
        detail: {
          $or: [{ source: ['aws.cloudwatch'] }, { 'detail-type': ['CloudWatch Alarm State Change'] }],
        },
      },
      { metricName: 'CPUUtilization', detail: { 'detail-type': 'CloudWatch Alarm State Change' } },
      true,
    ],
    [
      'parallel or, one side fails',
      {
        $or: [{ metricName: ['CPUUtilization'] }, { namespace: ['AWS/EC2'] }],
        detail: { $or: [{ source: ['aws.cloudwatch'] }, { 'detail-type': ['x'] }] },
      },
      { metricName: 'CPUUtilization', detail: { source: 'nope' } },
      false,
    ],
    [
      'nested or inside and',
      {
        source: ['aws.cloudwatch'],
        $or: [
          { metricName: ['CPUUtilization'] },
          {
            metricType: ['MetricType'],
            namespace: ['AWS/EC2'],
            $or: [{ metricId: [1234] }, { spaceId: [1000] }],
          },
        ],
      },
      { source: 'aws.cloudwatch', metricType: 'MetricType', namespace: 'AWS/EC2', spaceId: 1000 },
      true,
    ],
    [
      'nested or inside and, inner or fails',
      {
        source: ['aws.cloudwatch'],
        $or: [
          { metricName: ['CPUUtilization'] },
          {
            metricType: ['MetricType'],
            namespace: ['AWS/EC2'],
            $or: [{ metricId: [1234] }, { spaceId: [1000] }],
          },
        ],
      },
      { source: 'aws.cloudwatch', metricType: 'MetricType', namespace: 'AWS/EC2', spaceId: 1 },
      false,
    ],
  ],
  'odd events never throw': [
    ['null event', { a: ['x'] }, null, false],
    ['string event', { a: ['x'] }, 'x', false],
    ['array event', { a: [{ exists: false }] }, [{ a: 'x' }], false],
    ['number event', { a: [{ exists: false }] }, 5, false],
    ['inherited keys are not fields', { toString: [{ exists: true }] }, {}, false],
    ['__proto__ as a JSON key', JSON.parse('{"__proto__": ["x"]}'), JSON.parse('{"__proto__": "x"}'), true],
  ],
};

describe('matchesPattern and RuleIndex agree with documented semantics', () => {
  for (const [name, cases] of Object.entries(suites)) {
    describe(name, () => {
      for (const c of cases) it(c[0], () => check(c));
    });
  }
});
