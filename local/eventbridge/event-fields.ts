import { isScalar } from './match-value.js';
import type { Scalar } from './types.js';

/**
 * An event flattened the way aws/event-ruler's `Event` prepares it for `rulesForJSONEvent`: every
 * leaf value becomes a field named by its keys joined with '.' (so `{"a.b": 1}` and `{"a": {"b": 1}}`
 * both give field `a.b`), and each field remembers which element of every enclosing array of objects
 * (or of arrays) it sits in. Scalars directly inside an array take no membership for that array.
 */

/** Pairs of (array id, element index), sorted by array id. */
export type ArrayMembership = readonly number[];

export interface EventField {
  readonly value: Scalar;
  readonly membership: ArrayMembership;
}

export type EventFields = ReadonlyMap<string, readonly EventField[]>;

const NO_MEMBERSHIP: ArrayMembership = [];

export function flattenEvent(event: Record<string, unknown>): EventFields {
  const fields = new Map<string, EventField[]>();
  const arrays = { count: 0 };
  const add = (name: string, value: Scalar, membership: ArrayMembership) => {
    const list = fields.get(name);
    if (list === undefined) fields.set(name, [{ value, membership }]);
    else list.push({ value, membership });
  };
  const walkValue = (value: unknown, name: string, membership: ArrayMembership): void => {
    if (Array.isArray(value)) {
      const id = arrays.count++;
      for (let i = 0; i < value.length; i++) {
        const element: unknown = value[i];
        if (typeof element === 'object' && element !== null) walkValue(element, name, [...membership, id, i]);
        else if (isScalar(element)) add(name, element, membership);
      }
    } else if (typeof value === 'object' && value !== null) {
      walkObject(value as Record<string, unknown>, `${name}.`, membership);
    } else if (isScalar(value)) {
      add(name, value, membership);
    }
  };
  const walkObject = (object: Record<string, unknown>, prefix: string, membership: ArrayMembership): void => {
    for (const key of Object.keys(object)) walkValue(object[key], prefix + key, membership);
  };
  walkObject(event, '', NO_MEMBERSHIP);
  return fields;
}

/** The union of two memberships, or null when they place some array at different elements. */
export function mergeMemberships(a: ArrayMembership, b: ArrayMembership): ArrayMembership | null {
  if (b.length === 0) return a;
  if (a.length === 0) return b;
  const out: number[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    const idA = i < a.length ? (a[i] as number) : Number.POSITIVE_INFINITY;
    const idB = j < b.length ? (b[j] as number) : Number.POSITIVE_INFINITY;
    if (idA === idB) {
      if (a[i + 1] !== b[j + 1]) return null;
      out.push(idA, a[i + 1] as number);
      i += 2;
      j += 2;
    } else if (idA < idB) {
      out.push(idA, a[i + 1] as number);
      i += 2;
    } else {
      out.push(idB, b[j + 1] as number);
      j += 2;
    }
  }
  return out;
}

export function consistent(a: ArrayMembership, b: ArrayMembership): boolean {
  if (a.length === 0 || b.length === 0) return true;
  for (let i = 0; i < a.length; i += 2) {
    for (let j = 0; j < b.length; j += 2) if (a[i] === b[j] && a[i + 1] !== b[j + 1]) return false;
  }
  return true;
}
