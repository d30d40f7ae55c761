import { compilePattern } from './compile.js';
import {
  type ArrayMembership,
  consistent,
  type EventFields,
  flattenEvent,
  mergeMemberships,
} from './event-fields.js';
import { matchValue } from './match-value.js';
import type { CompiledPattern, FieldCondition } from './types.js';

/**
 * The straightforward matcher, following aws/event-ruler's `rulesForJSONEvent` (the array-consistent
 * matching EventBridge does): fields are named by their keys joined with '.', and all the fields a
 * branch matches must agree on the element of every array of objects they share. It is the reference
 * the RuleIndex is tested against, checks the RuleIndex's array-bound candidates, and serves one-off
 * checks (TestEventPattern).
 *
 * Like event-ruler, a branch's fields are tried in key order, and `exists: false` holds when no field
 * of that name is consistent with the array elements chosen by the fields before it in that order
 * (event-ruler's ACFinder / StructuredFinder `getNameTransitions(event, membership)`).
 */

/** Patterns are treated as immutable once matched: a pattern object mutated later keeps its first compilation. */
const compiledCache = new WeakMap<object, CompiledPattern>();

function compiled(pattern: unknown): CompiledPattern {
  if (typeof pattern !== 'object' || pattern === null) return compilePattern(pattern);
  let hit = compiledCache.get(pattern);
  if (hit === undefined) {
    hit = compilePattern(pattern);
    compiledCache.set(pattern, hit);
  }
  return hit;
}

function isEventObject(event: unknown): event is Record<string, unknown> {
  return typeof event === 'object' && event !== null && !Array.isArray(event);
}

/** A branch's conditions in the order event-ruler's machine visits them (keys sorted as Java strings). */
export function inKeyOrder(branch: readonly FieldCondition[]): FieldCondition[] {
  return [...branch].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

const NONE: ArrayMembership = [];

/** Whether one branch (conditions in key order, see {@link inKeyOrder}) matches the flattened event. */
export function branchMatchesFields(conditions: readonly FieldCondition[], fields: EventFields): boolean {
  const n = conditions.length;
  // Arrays that can still constrain condition i or a later one: a failed search from condition i
  // only depends on the chosen elements of those arrays, so it is remembered under that projection
  // (keeps sibling arrays from multiplying into each other).
  const relevant: Set<number>[] = Array.from({ length: n + 1 }, () => new Set<number>());
  for (let i = n - 1; i >= 0; i--) {
    const set = new Set(relevant[i + 1]);
    for (const field of fields.get((conditions[i] as FieldCondition).key) ?? []) {
      for (let k = 0; k < field.membership.length; k += 2) set.add(field.membership[k] as number);
    }
    relevant[i] = set;
  }
  const failed = new Set<string>();
  const search = (i: number, membership: ArrayMembership): boolean => {
    if (i === n) return true;
    let memo = `${i}`;
    const arrays = relevant[i] as Set<number>;
    for (let k = 0; k < membership.length; k += 2) {
      if (arrays.has(membership[k] as number)) memo += `,${membership[k]}:${membership[k + 1]}`;
    }
    if (failed.has(memo)) return false;
    const condition = conditions[i] as FieldCondition;
    const candidates = fields.get(condition.key) ?? [];
    let present = false;
    for (const field of candidates) {
      if (!consistent(membership, field.membership)) continue;
      present = true;
      if (!condition.matchers.some((m) => matchValue(m, field.value))) continue;
      const merged = mergeMemberships(membership, field.membership);
      if (merged !== null && search(i + 1, merged)) return true;
    }
    const absenceAccepted = condition.matchers.some((m) => m.kind === 'exists' && !m.exists);
    if (!present && absenceAccepted && search(i + 1, membership)) return true;
    failed.add(memo);
    return false;
  };
  return search(0, NONE);
}

export function matchesCompiled(pattern: CompiledPattern, event: unknown): boolean {
  if (!isEventObject(event)) return false;
  const fields = flattenEvent(event);
  return pattern.branches.some((branch) => branchMatchesFields(inKeyOrder(branch), fields));
}

/**
 * Whether `event` (parsed JSON) matches `pattern` (parsed JSON). Throws InvalidEventPatternError for
 * an invalid pattern; never throws for odd events (anything that is not a JSON object matches nothing).
 */
export function matchesPattern(pattern: unknown, event: unknown): boolean {
  return matchesCompiled(compiled(pattern), event);
}
