import { compilePattern } from './compile.js';
import { conditionMatches, isScalar } from './match-value.js';
import type { CompiledPattern, FieldCondition, Scalar } from './types.js';

/**
 * The straightforward matcher: walks each field's path in the event. It is the reference the
 * RuleIndex is tested against, and fine for one-off checks (TestEventPattern).
 *
 * Arrays in the event are flattened as event-ruler's `rulesForEvent` does: objects inside arrays
 * count as the parent field's value, and each field may match in a different array element.
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

/** Leaf values at `path` in `event`, arrays flattened; objects are not leaves. */
export function valuesAt(event: unknown, path: readonly string[]): Scalar[] {
  const out: Scalar[] = [];
  collect(event, path, 0, out);
  return out;
}

function collect(node: unknown, path: readonly string[], depth: number, out: Scalar[]): void {
  if (Array.isArray(node)) {
    for (const element of node) collect(element, path, depth, out);
    return;
  }
  if (depth === path.length) {
    if (isScalar(node)) out.push(node);
    return;
  }
  if (typeof node !== 'object' || node === null) return;
  const key = path[depth] as string;
  if (Object.hasOwn(node, key)) collect((node as Record<string, unknown>)[key], path, depth + 1, out);
}

function isEventObject(event: unknown): event is Record<string, unknown> {
  return typeof event === 'object' && event !== null && !Array.isArray(event);
}

export function matchesCompiled(pattern: CompiledPattern, event: unknown): boolean {
  if (!isEventObject(event)) return false;
  return pattern.branches.some((branch) =>
    branch.every((condition: FieldCondition) => conditionMatches(condition, valuesAt(event, condition.path))),
  );
}

/**
 * Whether `event` (parsed JSON) matches `pattern` (parsed JSON). Throws InvalidEventPatternError for
 * an invalid pattern; never throws for odd events (anything that is not a JSON object matches nothing).
 */
export function matchesPattern(pattern: unknown, event: unknown): boolean {
  return matchesCompiled(compiled(pattern), event);
}
