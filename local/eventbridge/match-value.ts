import { ipInRange } from './cidr.js';
import { inNumericRange, isComparableNumber } from './numeric.js';
import type { Scalar, ValueMatcher } from './types.js';
import { matchWildcard } from './wildcard.js';

/*
 * Type rules follow aws/event-ruler, which matches on JSON text: string operators (prefix, suffix,
 * equals-ignore-case, wildcard, cidr) only see strings, numeric ranges only see numbers, while the
 * anything-but family accepts every value it does not positively exclude (so a number passes a
 * string anything-but, and a string passes a numeric one).
 */
export function matchValue(matcher: ValueMatcher, value: Scalar): boolean {
  switch (matcher.kind) {
    case 'exact':
      return value === matcher.value;
    case 'prefix':
      if (typeof value !== 'string') return false;
      return (matcher.ignoreCase ? value.toLowerCase() : value).startsWith(matcher.value);
    case 'suffix':
      if (typeof value !== 'string') return false;
      return (matcher.ignoreCase ? value.toLowerCase() : value).endsWith(matcher.value);
    case 'equals-ignore-case':
      return typeof value === 'string' && value.toLowerCase() === matcher.value;
    case 'wildcard':
      return typeof value === 'string' && matchWildcard(matcher.pattern, value);
    case 'numeric':
      return isComparableNumber(value) && inNumericRange(matcher.range, value);
    case 'cidr':
      return typeof value === 'string' && ipInRange(matcher.range, value);
    case 'exists':
      return matcher.exists;
    case 'anything-but':
      if (typeof value === 'string') return !matcher.strings.has(value);
      if (typeof value === 'number') return !matcher.numbers.has(value);
      return true;
    case 'anything-but-prefix':
      return typeof value !== 'string' || !matcher.values.some((p) => value.startsWith(p));
    case 'anything-but-suffix':
      return typeof value !== 'string' || !matcher.values.some((s) => value.endsWith(s));
    case 'anything-but-ignore-case':
      return typeof value !== 'string' || !matcher.values.includes(value.toLowerCase());
    case 'anything-but-wildcard':
      return typeof value !== 'string' || !matcher.patterns.some((p) => matchWildcard(p, value));
  }
}

export function isScalar(value: unknown): value is Scalar {
  const t = typeof value;
  return value === null || t === 'string' || t === 'boolean' || (t === 'number' && Number.isFinite(value));
}
