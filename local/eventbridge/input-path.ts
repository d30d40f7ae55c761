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

/** A parsed path; `keys` (names as strings, indices as numbers) when it has no wildcard. */
interface ParsedPath {
  readonly steps: Step[] | null;
  readonly keys: readonly (string | number)[] | undefined;
}

/** Parsed paths: rules use a handful, each evaluated for every event. */
const parsedPaths = new Map<string, ParsedPath>();
const MAX_CACHED_PATHS = 10_000;

function parsedPath(path: string): ParsedPath {
  let parsed = parsedPaths.get(path);
  if (parsed === undefined) {
    const steps = parseInputPath(path);
    const wildcard = steps?.some((s) => s.kind === 'wildcard') ?? false;
    parsed = { steps, keys: steps === null || wildcard ? undefined : keysOf(steps) };
    if (parsedPaths.size >= MAX_CACHED_PATHS) parsedPaths.clear();
    parsedPaths.set(path, parsed);
  }
  return parsed;
}

function keysOf(steps: readonly Step[]): (string | number)[] {
  return steps.map((s) => (s.kind === 'index' ? s.index : (s as { name: string }).name));
}

/** The value at `path` in `event`; undefined when absent or the path is not valid. */
export function applyInputPath(path: string, event: unknown): unknown {
  const { steps, keys } = parsedPath(path);
  if (steps === null) return undefined;
  if (keys !== undefined) return walk(event, keys);
  let values: unknown[] = [event];
  for (const s of steps) values = step(values, s);
  return values.length === 0 ? undefined : values;
}

/** {@link applyInputPath} for one path, parsed once: for paths evaluated on every event. */
export function inputPathReader(path: string): (event: unknown) => unknown {
  const { steps, keys } = parsedPath(path);
  if (steps === null) return () => undefined;
  if (keys === undefined) return (event) => applyInputPath(path, event);
  return (event) => walk(event, keys);
}

/** Names and indices only: walks down without building intermediate lists. */
function walk(event: unknown, keys: readonly (string | number)[]): unknown {
  let value: unknown = event;
  for (let i = 0; i < keys.length; i++) {
    if (typeof value !== 'object' || value === null) return undefined;
    const key = keys[i] as string | number;
    if (typeof key === 'number') {
      if (!Array.isArray(value) || key >= value.length) return undefined;
      value = value[key];
    } else {
      if (Array.isArray(value) || !Object.hasOwn(value, key)) return undefined;
      value = (value as Record<string, unknown>)[key];
    }
  }
  return value;
}
