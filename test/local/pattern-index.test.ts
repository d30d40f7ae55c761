import { describe, expect, it } from 'vitest';
import { mulberry32 } from '../../functions/core/prng';
import { InvalidEventPatternError, matchesPattern, RuleIndex } from '../../local/eventbridge/pattern.js';

const prng = mulberry32;

describe('RuleIndex', () => {
  it('returns every matching rule, in the order rules were added', () => {
    const index = new RuleIndex([
      ['by-source', { source: ['inferbus.acme'] }],
      ['by-type', { 'detail-type': ['InferenceRequested'] }],
      ['other-tenant', { source: ['inferbus.globex'] }],
      ['absent', { detail: { error: [{ exists: false }] } }],
    ]);
    const event = { source: 'inferbus.acme', 'detail-type': 'InferenceRequested', detail: { id: '1' } };
    expect(index.match(event)).toEqual(['by-source', 'by-type', 'absent']);
    expect(index.matchJson(JSON.stringify(event))).toEqual(['by-source', 'by-type', 'absent']);
    expect(index.size).toBe(4);
  });

  it('ORs patterns added under the same name and reports the name once', () => {
    const index = new RuleIndex();
    index.add('r', { a: ['x'] });
    index.add('r', { b: ['y'] });
    expect(index.match({ a: 'x' })).toEqual(['r']);
    expect(index.match({ a: 'x', b: 'y' })).toEqual(['r']);
    expect(index.match({ a: 'z' })).toEqual([]);
  });

  it('counts a field once even when many array elements match', () => {
    const index = new RuleIndex([['r', { tags: ['a', 'b'], other: ['x'] }]]);
    expect(index.match({ tags: ['a', 'b', 'a'] })).toEqual([]);
    expect(index.match({ tags: ['a', 'b'], other: 'x' })).toEqual(['r']);
  });

  it('does not leak state between events', () => {
    const index = new RuleIndex([['r', { a: ['x'], b: ['y'] }]]);
    expect(index.match({ a: 'x' })).toEqual([]);
    expect(index.match({ b: 'y' })).toEqual([]);
    expect(index.match({ a: 'x', b: 'y' })).toEqual(['r']);
  });

  it('shares identical conditions between rules', () => {
    const index = new RuleIndex([
      ['one', { a: [{ prefix: 'x' }], b: ['1'] }],
      ['two', { a: [{ prefix: 'x' }], b: ['2'] }],
    ]);
    expect(index.match({ a: 'xy', b: '2' })).toEqual(['two']);
  });

  it('rejects invalid patterns and ignores text that is not JSON', () => {
    const index = new RuleIndex();
    expect(() => index.add('bad', { a: 'x' })).toThrow(InvalidEventPatternError);
    index.add('ok', { a: [{ exists: false }] });
    expect(index.matchJson('{not json')).toEqual([]);
    expect(index.matchJson('[]')).toEqual([]);
    expect(index.matchJson('{}')).toEqual(['ok']);
  });
});

// --- differential test: the index must agree with the straightforward matcher -----------------

// 'b.c' names the same field as b → c (event-ruler joins keys with '.'), in events and patterns.
const KEYS = ['a', 'b', 'c', 'b.c'];
const STRINGS = ['', 'x', 'xy', 'yx', 'X', 'a*b', '10.0.0.1', '10.1.2.3', '2001:db8::1', 'init', 'running'];
const NUMBERS = [0, 1, 5, 5.5, -3, 100, 300, 5e9, 6e9];

function generators(rand: () => number) {
  const pick = <T>(items: readonly T[]): T => items[Math.floor(rand() * items.length)] as T;
  const scalar = (): unknown => {
    const roll = rand();
    if (roll < 0.5) return pick(STRINGS);
    if (roll < 0.8) return pick(NUMBERS);
    if (roll < 0.9) return rand() < 0.5;
    return null;
  };
  const eventValue = (depth: number): unknown => {
    const roll = rand();
    if (depth < 2 && roll < 0.25) return eventObject(depth + 1);
    if (roll < 0.4) {
      const n = Math.floor(rand() * 3);
      return Array.from({ length: n }, () => (depth < 2 && rand() < 0.3 ? eventObject(depth + 1) : scalar()));
    }
    return scalar();
  };
  const eventObject = (depth: number): Record<string, unknown> => {
    const out: Record<string, unknown> = {};
    for (const key of KEYS) if (rand() < 0.6) out[key] = eventValue(depth);
    return out;
  };
  const operand = (): unknown => {
    switch (Math.floor(rand() * 14)) {
      case 0:
        return { prefix: pick(['x', 'y', '10.', '']) };
      case 1:
        return { suffix: pick(['x', 'y', '1']) };
      case 2:
        return { 'equals-ignore-case': pick(['x', 'XY', 'init']) };
      case 3:
        return { prefix: { 'equals-ignore-case': 'X' } };
      case 4:
        return { wildcard: pick(['*', 'x*', '*y', 'a\\*b', '*.*']) };
      case 5: {
        const low = pick(NUMBERS.slice(0, 7));
        return { numeric: rand() < 0.5 ? ['>=', low] : ['>', low - 1, '<=', low + 5] };
      }
      case 6:
        return { cidr: pick(['10.0.0.0/24', '10.0.0.0/8', '2001:db8::/32']) };
      case 7:
        return { exists: rand() < 0.5 };
      case 8:
        return { 'anything-but': rand() < 0.5 ? pick(STRINGS) : [pick(NUMBERS.slice(0, 7)), 300] };
      case 9:
        return { 'anything-but': { [pick(['prefix', 'suffix'])]: pick(['x', 'in']) } };
      case 10:
        return { 'anything-but': { 'equals-ignore-case': ['x', 'RUNNING'] } };
      case 11:
        return { 'anything-but': { wildcard: pick(['x*', '*1']) } };
      default:
        return scalar();
    }
  };
  const field = (): unknown[] => Array.from({ length: 1 + Math.floor(rand() * 2) }, operand);
  const patternObject = (depth: number, allowOr: boolean): Record<string, unknown> => {
    const out: Record<string, unknown> = {};
    for (const key of KEYS) {
      if (rand() < 0.45) out[key] = depth < 2 && rand() < 0.3 ? patternObject(depth + 1, false) : field();
    }
    if (allowOr && rand() < 0.2) out.$or = [patternObject(depth + 1, false), patternObject(depth + 1, false)];
    if (Object.keys(out).length === 0) out[pick(KEYS)] = field();
    return out;
  };
  return { eventObject, patternObject };
}

describe('RuleIndex agrees with matchesPattern on random rules and events', () => {
  for (const seed of [1, 2, 3]) {
    it(`seed ${seed}`, () => {
      const rand = prng(seed);
      const { eventObject, patternObject } = generators(rand);
      const rules: [string, unknown][] = [];
      while (rules.length < 300) {
        const pattern = patternObject(0, true);
        try {
          const index = new RuleIndex([['probe', pattern]]);
          if (index.size === 1) rules.push([`r${rules.length}`, pattern]);
        } catch {
          // duplicate paths across $or and similar invalid draws are simply skipped
        }
      }
      const index = new RuleIndex(rules);
      let matches = 0;
      for (let i = 0; i < 1500; i++) {
        const event = eventObject(0);
        const expected = rules.filter(([, p]) => matchesPattern(p, event)).map(([name]) => name);
        expect(index.match(event), JSON.stringify(event)).toEqual(expected);
        expect(index.matchJson(JSON.stringify(event))).toEqual(expected);
        matches += expected.length;
      }
      // the generator must produce a meaningful mix of hits and misses
      expect(matches).toBeGreaterThan(1500);
      expect(matches).toBeLessThan(1500 * 300 * 0.5);
    });
  }
});
