/**
 * The JSONPath subset EventBridge evaluates in InputPath and InputPathsMap: `$`, dot notation
 * (names may contain letters, digits, `-`, `_`, `/`), array indices `[n]` and wildcards
 * (`.*`, `[*]`). A wildcard yields the list of matches; a missing path yields undefined.
 */

type Step =
  | { readonly kind: 'name'; readonly name: string }
  | { readonly kind: 'index'; readonly index: number }
  | {
      readonly kind: 'wildcard';
    };

const NAME = /^[A-Za-z0-9_\-/:@]+/;

/** Parses a path, or returns null when EventBridge would not accept it. */
export function parseInputPath(path: string): Step[] | null {
  if (!path.startsWith('$')) return null;
  const steps: Step[] = [];
  let rest = path.slice(1);
  while (rest.length > 0) {
    if (rest.startsWith('.*')) {
      steps.push({ kind: 'wildcard' });
      rest = rest.slice(2);
    } else if (rest.startsWith('.')) {
      const m = NAME.exec(rest.slice(1));
      if (m === null) return null;
      steps.push({ kind: 'name', name: m[0] });
      rest = rest.slice(1 + m[0].length);
    } else if (rest.startsWith('[*]')) {
      steps.push({ kind: 'wildcard' });
      rest = rest.slice(3);
    } else {
      const m = /^\[(\d+)\]/.exec(rest);
      if (m === null) return null;
      steps.push({ kind: 'index', index: Number(m[1]) });
      rest = rest.slice(m[0].length);
    }
  }
  return steps;
}

function step(values: unknown[], s: Step): unknown[] {
  const out: unknown[] = [];
  for (const value of values) {
    if (typeof value !== 'object' || value === null) continue;
    if (s.kind === 'wildcard') {
      out.push(...(Array.isArray(value) ? value : Object.values(value)));
    } else if (s.kind === 'index') {
      if (Array.isArray(value) && s.index < value.length) out.push(value[s.index]);
    } else if (!Array.isArray(value) && Object.hasOwn(value, s.name)) {
      out.push((value as Record<string, unknown>)[s.name]);
    }
  }
  return out;
}

/** The value at `path` in `event`; undefined when absent or the path is not valid. */
export function applyInputPath(path: string, event: unknown): unknown {
  const steps = parseInputPath(path);
  if (steps === null) return undefined;
  let values: unknown[] = [event];
  for (const s of steps) values = step(values, s);
  if (steps.some((s) => s.kind === 'wildcard')) return values.length === 0 ? undefined : values;
  return values[0];
}
