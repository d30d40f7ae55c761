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

/** Parsed paths: rules use a handful, each evaluated for every event. */
const parsedPaths = new Map<string, { steps: Step[] | null; wildcard: boolean }>();
const MAX_CACHED_PATHS = 10_000;

function parsedPath(path: string): { steps: Step[] | null; wildcard: boolean } {
  let parsed = parsedPaths.get(path);
  if (parsed === undefined) {
    const steps = parseInputPath(path);
    parsed = { steps, wildcard: steps?.some((s) => s.kind === 'wildcard') ?? false };
    if (parsedPaths.size >= MAX_CACHED_PATHS) parsedPaths.clear();
    parsedPaths.set(path, parsed);
  }
  return parsed;
}

/** The value at `path` in `event`; undefined when absent or the path is not valid. */
export function applyInputPath(path: string, event: unknown): unknown {
  const { steps, wildcard } = parsedPath(path);
  if (steps === null) return undefined;
  if (!wildcard) {
    // Names and indices only: walk down without building intermediate lists.
    let value: unknown = event;
    for (const s of steps) {
      if (typeof value !== 'object' || value === null) return undefined;
      if (s.kind === 'index') {
        if (!Array.isArray(value) || s.index >= value.length) return undefined;
        value = value[s.index];
      } else {
        if (Array.isArray(value) || !Object.hasOwn(value, (s as { name: string }).name)) return undefined;
        value = (value as Record<string, unknown>)[(s as { name: string }).name];
      }
    }
    return value;
  }
  if (steps === null) return undefined;
  let values: unknown[] = [event];
  for (const s of steps) values = step(values, s);
  return values.length === 0 ? undefined : values;
}
