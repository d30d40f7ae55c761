import { describe, expect, it } from 'vitest';
import { InvalidEventPatternError, validatePattern } from '../../local/eventbridge/pattern.js';

/*
 * Reasons are aws/event-ruler's JsonRuleCompiler / CIDR / ComparableNumber / WildcardParser messages,
 * which EventBridge returns inside InvalidEventPatternException, e.g.
 * "Event pattern is not valid. Reason: \"lenderId\" must be an object or an array" (as seen from
 * CloudFormation) and "Rule is too complex - try using fewer wildcard characters ...".
 */
const invalid: readonly [label: string, pattern: unknown, reason: string][] = [
  ['array pattern', [], 'Filter is not an object'],
  ['string pattern', 'source', 'Filter is not an object'],
  ['null pattern', null, 'Filter is not an object'],
  ['empty pattern', {}, 'Empty objects are not allowed'],
  ['empty nested object', { detail: {} }, 'Empty objects are not allowed'],
  ['leaf not an array', { lenderId: 'LenderA' }, '"lenderId" must be an object or an array'],
  ['leaf number', { detail: { n: 5 } }, '"n" must be an object or an array'],
  ['empty array', { source: [] }, 'Empty arrays are not allowed'],
  ['nested array value', { source: [['x']] }, 'Match value must be String, number, true, false, or null'],
  ['empty match expression', { source: [{}] }, 'Match expression name not found'],
  ['unknown operator', { source: [{ contains: 'x' }] }, 'Unrecognized match type contains'],
  ['two keys', { source: [{ prefix: 'a', suffix: 'b' }] }, 'Only one key allowed in match expression'],
  ['prefix not string', { source: [{ prefix: 5 }] }, 'prefix match pattern must be a string'],
  [
    'prefix unknown inner',
    { source: [{ prefix: { wildcard: 'a' } }] },
    'Unsupported prefix pattern: wildcard',
  ],
  [
    'prefix ignore-case not string',
    { source: [{ prefix: { 'equals-ignore-case': 1 } }] },
    'equals-ignore-case match pattern must be a string',
  ],
  ['suffix not string', { source: [{ suffix: null }] }, 'suffix match pattern must be a string'],
  [
    'equals-ignore-case not string',
    { source: [{ 'equals-ignore-case': 1 }] },
    'equals-ignore-case match pattern must be a string',
  ],
  [
    'exists not boolean',
    { source: [{ exists: 'yes' }] },
    'exists match pattern must be either true or false.',
  ],
  ['numeric not array', { n: [{ numeric: '>' }] }, 'Value of numeric must be an array.'],
  ['numeric first not operator', { n: [{ numeric: [5, '>'] }] }, 'Invalid member in numeric match: 5'],
  ['numeric unknown operator', { n: [{ numeric: ['!=', 5] }] }, 'Unrecognized numeric range operator: !='],
  ['numeric value not number', { n: [{ numeric: ['>', '5'] }] }, 'Value of > must be numeric'],
  ['numeric equals not number', { n: [{ numeric: ['=', 'x'] }] }, 'Value of equals must be numeric'],
  ['numeric bad upper operator', { n: [{ numeric: ['>', 0, '>', 5] }] }, 'Bad numeric range operator: >'],
  ['numeric bad upper term', { n: [{ numeric: ['>', 0, 5] }] }, 'Bad value in numeric range: 5'],
  [
    'numeric too many terms',
    { n: [{ numeric: ['>', 0, '<', 5, '<', 6] }] },
    'Too many terms in numeric range expression',
  ],
  [
    'numeric trailing terms',
    { n: [{ numeric: ['<', 5, '>', 1] }] },
    'Too many elements in numeric expression',
  ],
  ['numeric empty range', { n: [{ numeric: ['>', 5, '<', 5] }] }, 'Bottom must be less than top'],
  [
    'numeric above limit',
    { n: [{ numeric: ['>', 5e9 + 1] }] },
    'Value must be between -5000000000 and 5000000000, inclusive',
  ],
  [
    'numeric below limit',
    { n: [{ numeric: ['<', -6e9] }] },
    'Value must be between -5000000000 and 5000000000, inclusive',
  ],
  [
    'numeric too precise',
    { n: [{ numeric: ['>', 0.1234567] }] },
    'Only values upto 6 decimals are supported',
  ],
  ['cidr not string', { ip: [{ cidr: 10 }] }, 'prefix match pattern must be a string'],
  ['cidr without slash', { ip: [{ cidr: '10.0.0.0' }] }, "Malformed CIDR, one '/' required"],
  ['cidr bad mask', { ip: [{ cidr: '10.0.0.0/x' }] }, 'Malformed CIDR, mask bits must be an integer'],
  ['cidr negative mask', { ip: [{ cidr: '10.0.0.0/-1' }] }, 'Malformed CIDR, mask bits must not be negative'],
  ['cidr v4 mask too long', { ip: [{ cidr: '10.0.0.0/32' }] }, 'IPv4 mask bits must be < 32'],
  ['cidr v6 mask too long', { ip: [{ cidr: '::1/128' }] }, 'IPv6 mask bits must be < 128'],
  ['cidr bad address', { ip: [{ cidr: '10.0.0.256/8' }] }, 'Invalid IP address: 10.0.0.256'],
  ['wildcard not string', { k: [{ wildcard: 1 }] }, 'wildcard match pattern must be a string'],
  ['consecutive wildcards', { k: [{ wildcard: 'a**b' }] }, 'Consecutive wildcard characters at pos 2'],
  ['bad escape', { k: [{ wildcard: 'a\\b' }] }, 'Invalid escape character at pos 2'],
  ['too complex wildcard', { k: [{ wildcard: `${'a*'.repeat(21)}` }] }, 'Rule is too complex'],
  [
    'anything-but bool',
    { s: [{ 'anything-but': true }] },
    'Value of anything-but must be an array or single string/number value.',
  ],
  [
    'anything-but null in list',
    { s: [{ 'anything-but': ['a', null] }] },
    'Inside anything but list, start|null|boolean is not supported.',
  ],
  ['anything-but mixed list', { s: [{ 'anything-but': ['a', 1] }] }, 'mixed type is not supported'],
  ['anything-but empty list', { s: [{ 'anything-but': [] }] }, 'mixed type is not supported'],
  [
    'anything-but unknown',
    { s: [{ 'anything-but': { numeric: ['>', 1] } }] },
    'Unsupported anything-but pattern: numeric',
  ],
  ['anything-but empty object', { s: [{ 'anything-but': {} }] }, 'Anything-But expression name not found'],
  [
    'anything-but empty prefix',
    { s: [{ 'anything-but': { prefix: '' } }] },
    'Null prefix/suffix not allowed',
  ],
  [
    'anything-but prefix number',
    { s: [{ 'anything-but': { prefix: 1 } }] },
    'prefix/suffix match pattern must be a string',
  ],
  [
    'anything-but ignore-case number',
    { s: [{ 'anything-but': { 'equals-ignore-case': 1 } }] },
    'Inside anything-but/equals-ignore-case list, number|start|null|boolean is not supported.',
  ],
  [
    'anything-but wildcard bad',
    { s: [{ 'anything-but': { wildcard: 'a**' } }] },
    'Consecutive wildcard characters',
  ],
  ['anything-but number out of range', { s: [{ 'anything-but': 1e10 }] }, 'Value must be between'],
  ['$or not an array', { $or: { a: ['x'] } }, 'It must be an Array followed with $or.'],
  ['$or with one object', { $or: [{ a: ['x'] }] }, 'There must have at least 2 Objects in $or relationship.'],
  [
    '$or with a non-object',
    { $or: [{ a: ['x'] }, ['y']] },
    'Only JSON object is allowed in array of $or relationship.',
  ],
  ['$or empty alternative', { $or: [{ a: ['x'] }, {}] }, 'Empty objects are not allowed'],
  [
    'reserved name inside $or',
    { $or: [{ prefix: ['x'] }, { a: ['y'] }] },
    'prefix is Ruler reserved fieldName which cannot be used inside $or.',
  ],
  [
    'same path twice via $or',
    { a: ['x'], $or: [{ a: ['y'] }, { b: ['z'] }] },
    'Path `a` cannot be allowed multiple times',
  ],
];

describe('validatePattern rejects what EventBridge rejects', () => {
  for (const [label, pattern, reason] of invalid) {
    it(label, () => {
      let error: unknown;
      try {
        validatePattern(pattern);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(InvalidEventPatternError);
      const err = error as InvalidEventPatternError;
      expect(err.message).toContain('Event pattern is not valid. Reason: ');
      expect(err.message).toContain(reason);
      expect(err.name).toBe('InvalidEventPatternError');
      expect(err.code).toBe('InvalidEventPatternException');
    });
  }

  it('accepts every documented operator', () => {
    expect(() =>
      validatePattern({
        source: ['aws.ec2', { prefix: 'aws.' }, { suffix: '2' }, { 'equals-ignore-case': 'AWS.EC2' }],
        time: [{ prefix: { 'equals-ignore-case': '2017' } }, { suffix: { 'equals-ignore-case': 'z' } }],
        detail: {
          a: [{ 'anything-but': 'x' }, { 'anything-but': [1, 2] }, { 'anything-but': { prefix: 'p' } }],
          b: [{ 'anything-but': { suffix: ['s'] } }, { 'anything-but': { 'equals-ignore-case': ['X'] } }],
          c: [{ 'anything-but': { wildcard: '*/lib/*' } }, { wildcard: 'a\\*b*c\\\\' }],
          d: [{ numeric: ['>', -5e9, '<=', 5e9] }, { numeric: ['=', 3.018e2] }, { numeric: ['<', 0.000001] }],
          e: [{ cidr: '10.0.0.0/24' }, { cidr: '2001:db8::/32' }, { exists: true }, null, true, 1e12, ''],
          $or: [{ f: [{ exists: false }] }, { g: ['x'], $or: [{ h: [1] }, { i: [2] }] }],
        },
      }),
    ).not.toThrow();
  });
});
