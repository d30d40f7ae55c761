import { MAX_RULE_COMPLEXITY, ruleComplexity, TOO_COMPLEX_WILDCARD } from './complexity.js';
import { invalidPattern } from './errors.js';
import { compileValue, isPlainObject } from './operators.js';
import type { CompiledPattern, FieldCondition, ValueMatcher } from './types.js';

/**
 * Validates and compiles an event pattern (parsed JSON) into $or branches of field conditions,
 * following aws/event-ruler's JsonRuleCompiler: fields AND together, `$or` forks the branches
 * (fields outside the `$or` are copied into every branch), values in a field's array OR together.
 */

const OR = '$or';
/** Operator names that may not be used as field names inside `$or` (event-ruler's reserved names). */
const RESERVED_IN_OR = new Set([
  'anything-but',
  'exists',
  'prefix',
  'suffix',
  'numeric',
  'cidr',
  'equals-ignore-case',
  'wildcard',
  'exact',
]);
/** Local guard against runaway `$or` expansion; EventBridge publishes no number for it. */
const MAX_BRANCHES = 1024;

type Branch = Map<string, FieldCondition>;

export function compilePattern(pattern: unknown): CompiledPattern {
  if (!isPlainObject(pattern)) return invalidPattern('Filter is not an object');
  const branches: Branch[] = [];
  compileObject(pattern, [], branches, false);
  const compiled = branches.map((b) => [...b.values()]);
  if (ruleComplexity(compiled) > MAX_RULE_COMPLEXITY) invalidPattern(TOO_COMPLEX_WILDCARD);
  return { branches: compiled };
}

/** Throws `InvalidEventPatternError` when EventBridge would refuse the pattern. */
export function validatePattern(pattern: unknown): void {
  compilePattern(pattern);
}

function compileObject(obj: Record<string, unknown>, path: string[], branches: Branch[], insideOr: boolean) {
  const keys = Object.keys(obj);
  if (keys.length === 0) invalidPattern('Empty objects are not allowed');
  for (const key of keys) {
    const value = obj[key];
    if (key === OR) {
      compileOr(value, path, branches);
      continue;
    }
    if (insideOr && RESERVED_IN_OR.has(key)) {
      invalidPattern(`${key} is Ruler reserved fieldName which cannot be used inside ${OR}.`);
    }
    if (Array.isArray(value)) addCondition(branches, [...path, key], value);
    else if (isPlainObject(value)) compileObject(value, [...path, key], branches, insideOr);
    else invalidPattern(`"${key}" must be an object or an array`);
  }
}

function compileOr(value: unknown, path: string[], branches: Branch[]) {
  if (!Array.isArray(value)) invalidPattern(`It must be an Array followed with ${OR}.`);
  const before = branches.splice(0, branches.length);
  for (const alternative of value) {
    if (!isPlainObject(alternative))
      invalidPattern(`Only JSON object is allowed in array of ${OR} relationship.`);
    const forked = before.length === 0 ? [new Map()] : before.map((b) => new Map(b));
    compileObject(alternative, path, forked, true);
    branches.push(...forked);
    if (branches.length > MAX_BRANCHES) {
      invalidPattern(`Rule is too complex - more than ${MAX_BRANCHES} ${OR} combinations`);
    }
  }
  if (value.length < 2) invalidPattern(`There must have at least 2 Objects in ${OR} relationship.`);
}

function addCondition(branches: Branch[], path: string[], values: unknown[]) {
  if (values.length === 0) invalidPattern('Empty arrays are not allowed');
  const matchers: ValueMatcher[] = values.map(compileValue);
  // event-ruler names a field by its keys joined with '.', so a key's own dots nest like object levels.
  const key = path.join('.');
  const condition: FieldCondition = {
    path: key.split('.'),
    key,
    matchers,
    source: `${key}\u0000${JSON.stringify(values)}`,
  };
  if (branches.length === 0) branches.push(new Map());
  for (const branch of branches) {
    if (branch.has(key)) invalidPattern(`Path \`${key}\` cannot be allowed multiple times`);
    branch.set(key, condition);
  }
}
