import { parseCidr } from './cidr.js';
import { invalidPattern } from './errors.js';
import { type NumericRange, numericOperandProblem, UNBOUNDED_ABOVE, UNBOUNDED_BELOW } from './numeric.js';
import type { ValueMatcher } from './types.js';
import { parseWildcard, type WildcardPattern } from './wildcard.js';

/*
 * Compiles one entry of a pattern's value array. Reasons are worded as aws/event-ruler's
 * JsonRuleCompiler words them, since EventBridge passes those through in InvalidEventPatternException.
 */

const ONE_KEY = 'Only one key allowed in match expression';
const TOO_MANY_NUMERIC = 'Too many elements in numeric expression';

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function describe(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}

export function compileValue(value: unknown): ValueMatcher {
  if (isPlainObject(value)) return compileExpression(value);
  if (value === null || typeof value === 'string' || typeof value === 'boolean') {
    return { kind: 'exact', value };
  }
  if (typeof value === 'number' && Number.isFinite(value)) return { kind: 'exact', value };
  return invalidPattern('Match value must be String, number, true, false, or null');
}

function compileExpression(expr: Record<string, unknown>): ValueMatcher {
  const keys = Object.keys(expr);
  const name = keys[0];
  if (name === undefined) return invalidPattern('Match expression name not found');
  const operand = expr[name];
  const single = keys.length === 1;
  switch (name) {
    case 'exact':
      if (typeof operand !== 'string') return invalidPattern('exact match pattern must be a string');
      return single ? { kind: 'exact', value: operand } : invalidPattern(ONE_KEY);
    case 'prefix':
    case 'suffix':
      return single ? compileAffix(name, operand) : invalidPattern(ONE_KEY);
    case 'equals-ignore-case':
      if (typeof operand !== 'string')
        return invalidPattern('equals-ignore-case match pattern must be a string');
      return single ? { kind: 'equals-ignore-case', value: operand.toLowerCase() } : invalidPattern(ONE_KEY);
    case 'wildcard':
      if (typeof operand !== 'string') return invalidPattern('wildcard match pattern must be a string');
      return single ? { kind: 'wildcard', pattern: wildcardOrThrow(operand) } : invalidPattern(ONE_KEY);
    case 'numeric':
      if (!Array.isArray(operand)) return invalidPattern('Value of numeric must be an array.');
      return single ? { kind: 'numeric', range: compileNumeric(operand) } : invalidPattern(TOO_MANY_NUMERIC);
    case 'cidr': {
      // event-ruler's wording for a non-string cidr operand really says "prefix".
      if (typeof operand !== 'string') return invalidPattern('prefix match pattern must be a string');
      const range = parseCidr(operand);
      if (typeof range === 'string') return invalidPattern(range);
      return single ? { kind: 'cidr', range } : invalidPattern(ONE_KEY);
    }
    case 'exists':
      if (typeof operand !== 'boolean')
        return invalidPattern('exists match pattern must be either true or false.');
      return single ? { kind: 'exists', exists: operand } : invalidPattern(ONE_KEY);
    case 'anything-but':
      return single ? compileAnythingBut(operand) : invalidPattern(TOO_MANY_NUMERIC);
    default:
      return invalidPattern(`Unrecognized match type ${name}`);
  }
}

function compileAffix(name: 'prefix' | 'suffix', operand: unknown): ValueMatcher {
  if (typeof operand === 'string') return { kind: name, value: operand, ignoreCase: false };
  if (!isPlainObject(operand)) return invalidPattern(`${name} match pattern must be a string`);
  const keys = Object.keys(operand);
  const inner = keys[0];
  const label = name === 'prefix' ? 'Prefix' : 'Suffix';
  if (inner === undefined) return invalidPattern(`${label} expression name not found`);
  if (inner !== 'equals-ignore-case') return invalidPattern(`Unsupported ${name} pattern: ${inner}`);
  const value = operand[inner];
  if (typeof value !== 'string') return invalidPattern('equals-ignore-case match pattern must be a string');
  if (keys.length > 1) return invalidPattern(ONE_KEY);
  return { kind: name, value: value.toLowerCase(), ignoreCase: true };
}

function wildcardOrThrow(value: string): WildcardPattern {
  const parsed = parseWildcard(value);
  return typeof parsed === 'string' ? invalidPattern(parsed) : parsed;
}

function numericValue(operator: string, value: unknown): number {
  const label = operator === '=' ? 'equals' : operator;
  if (typeof value !== 'number') return invalidPattern(`Value of ${label} must be numeric`);
  const problem = numericOperandProblem(value);
  return problem === null ? value : invalidPattern(problem);
}

function compileNumeric(terms: readonly unknown[]): NumericRange {
  const [operator, operand, secondOperator, secondOperand, ...extra] = terms;
  if (typeof operator !== 'string')
    return invalidPattern(`Invalid member in numeric match: ${describe(operator)}`);
  if (!['=', '<', '<=', '>', '>='].includes(operator)) {
    return invalidPattern(`Unrecognized numeric range operator: ${operator}`);
  }
  const value = numericValue(operator, operand);
  const isLowerBound = operator === '>' || operator === '>=';
  if (!isLowerBound) {
    if (terms.length > 2) return invalidPattern(TOO_MANY_NUMERIC);
    if (operator === '=') return { lower: value, lowerOpen: false, upper: value, upperOpen: false };
    return { lower: UNBOUNDED_BELOW, lowerOpen: true, upper: value, upperOpen: operator === '<' };
  }
  const lowerOpen = operator === '>';
  if (terms.length === 2) return { lower: value, lowerOpen, upper: UNBOUNDED_ABOVE, upperOpen: true };
  if (typeof secondOperator !== 'string') {
    return invalidPattern(`Bad value in numeric range: ${describe(secondOperator)}`);
  }
  if (secondOperator !== '<' && secondOperator !== '<=') {
    return invalidPattern(`Bad numeric range operator: ${secondOperator}`);
  }
  const upper = numericValue(secondOperator, secondOperand);
  if (extra.length > 0) return invalidPattern('Too many terms in numeric range expression');
  if (upper <= value) return invalidPattern('Bottom must be less than top');
  return { lower: value, lowerOpen, upper, upperOpen: secondOperator === '<' };
}

type AnythingButVariant = 'equals-ignore-case' | 'prefix' | 'suffix' | 'wildcard';

function compileAnythingBut(operand: unknown): ValueMatcher {
  if (isPlainObject(operand)) {
    const keys = Object.keys(operand);
    const variant = keys[0];
    if (variant === undefined) return invalidPattern('Anything-But expression name not found');
    if (!['equals-ignore-case', 'prefix', 'suffix', 'wildcard'].includes(variant)) {
      return invalidPattern(`Unsupported anything-but pattern: ${variant}`);
    }
    if (keys.length > 1) return invalidPattern(TOO_MANY_NUMERIC);
    return compileAnythingButVariant(variant as AnythingButVariant, operand[variant]);
  }
  const values: unknown[] = Array.isArray(operand) ? operand : [operand];
  if (!Array.isArray(operand) && typeof operand !== 'string' && typeof operand !== 'number') {
    return invalidPattern('Value of anything-but must be an array or single string/number value.');
  }
  const strings = new Set<string>();
  const numbers = new Set<number>();
  for (const value of values) {
    if (typeof value === 'string') strings.add(value);
    else if (typeof value === 'number') {
      const problem = numericOperandProblem(value);
      if (problem !== null) return invalidPattern(problem);
      numbers.add(value);
    } else {
      return invalidPattern('Inside anything but list, start|null|boolean is not supported.');
    }
  }
  if (strings.size > 0 === numbers.size > 0) {
    return invalidPattern(
      'Inside anything but list, either all values are number or string, mixed type is not supported',
    );
  }
  return { kind: 'anything-but', strings, numbers };
}

function compileAnythingButVariant(variant: AnythingButVariant, operand: unknown): ValueMatcher {
  if (!Array.isArray(operand) && typeof operand !== 'string' && typeof operand !== 'number') {
    return invalidPattern('Value of anything-but must be an array or single string/number value.');
  }
  const values: unknown[] = Array.isArray(operand) ? operand : [operand];
  const texts: string[] = [];
  for (const value of values) {
    if (typeof value !== 'string') {
      if (variant === 'equals-ignore-case') {
        return invalidPattern(
          'Inside anything-but/equals-ignore-case list, number|start|null|boolean is not supported.',
        );
      }
      if (variant === 'wildcard') return invalidPattern('wildcard match pattern must be a string');
      return invalidPattern('prefix/suffix match pattern must be a string');
    }
    if ((variant === 'prefix' || variant === 'suffix') && value === '') {
      return invalidPattern('Null prefix/suffix not allowed');
    }
    texts.push(value);
  }
  switch (variant) {
    case 'equals-ignore-case':
      return { kind: 'anything-but-ignore-case', values: texts.map((t) => t.toLowerCase()) };
    case 'prefix':
      return { kind: 'anything-but-prefix', values: texts };
    case 'suffix':
      return { kind: 'anything-but-suffix', values: texts };
    case 'wildcard':
      return { kind: 'anything-but-wildcard', patterns: texts.map(wildcardOrThrow) };
  }
}
