import { arnMatch, wildcardMatch } from './wildcard';

/** Request context keys, compared case-insensitively by name (IAM's rule); values as AWS sends them. */
export type RequestContext = Readonly<Record<string, string | readonly string[] | undefined>>;

/** A condition operator or key the local IAM cannot evaluate: refused, never guessed as a match. */
export class UnsupportedConditionError extends Error {
  override readonly name = 'UnsupportedConditionError';
}

type Compare = (policyValue: string, contextValue: string) => boolean;

const numeric =
  (test: (a: number, b: number) => boolean): Compare =>
  (policy, context) =>
    test(Number(context), Number(policy));
const date =
  (test: (a: number, b: number) => boolean): Compare =>
  (policy, context) =>
    test(toEpochMs(context), toEpochMs(policy));

/** Base operators: how one policy value matches one context value, and whether the operator is negated. */
const OPERATORS: Record<string, { compare: Compare; negated: boolean }> = {
  StringEquals: { compare: (p, c) => p === c, negated: false },
  StringNotEquals: { compare: (p, c) => p === c, negated: true },
  StringEqualsIgnoreCase: { compare: (p, c) => p.toLowerCase() === c.toLowerCase(), negated: false },
  StringNotEqualsIgnoreCase: { compare: (p, c) => p.toLowerCase() === c.toLowerCase(), negated: true },
  StringLike: { compare: (p, c) => wildcardMatch(p, c), negated: false },
  StringNotLike: { compare: (p, c) => wildcardMatch(p, c), negated: true },
  NumericEquals: { compare: numeric((a, b) => a === b), negated: false },
  NumericNotEquals: { compare: numeric((a, b) => a === b), negated: true },
  NumericLessThan: { compare: numeric((a, b) => a < b), negated: false },
  NumericLessThanEquals: { compare: numeric((a, b) => a <= b), negated: false },
  NumericGreaterThan: { compare: numeric((a, b) => a > b), negated: false },
  NumericGreaterThanEquals: { compare: numeric((a, b) => a >= b), negated: false },
  DateEquals: { compare: date((a, b) => a === b), negated: false },
  DateNotEquals: { compare: date((a, b) => a === b), negated: true },
  DateLessThan: { compare: date((a, b) => a < b), negated: false },
  DateLessThanEquals: { compare: date((a, b) => a <= b), negated: false },
  DateGreaterThan: { compare: date((a, b) => a > b), negated: false },
  DateGreaterThanEquals: { compare: date((a, b) => a >= b), negated: false },
  Bool: { compare: (p, c) => p.toLowerCase() === c.toLowerCase(), negated: false },
  // ArnEquals and ArnLike behave the same (IAM user guide, ARN condition operators).
  ArnEquals: { compare: arnMatch, negated: false },
  ArnLike: { compare: arnMatch, negated: false },
  ArnNotEquals: { compare: arnMatch, negated: true },
  ArnNotLike: { compare: arnMatch, negated: true },
};

function toEpochMs(value: string): number {
  const n = /^\d+$/.test(value) ? Number(value) * 1000 : Date.parse(value);
  if (!Number.isFinite(n)) throw new UnsupportedConditionError(`"${value}" is not a date IAM accepts`);
  return n;
}

interface ParsedOperator {
  readonly base: string;
  readonly ifExists: boolean;
  readonly set?: 'ForAnyValue' | 'ForAllValues';
}

function parseOperator(name: string): ParsedOperator {
  let rest = name;
  let set: ParsedOperator['set'];
  for (const qualifier of ['ForAnyValue', 'ForAllValues'] as const) {
    if (rest.startsWith(`${qualifier}:`)) {
      set = qualifier;
      rest = rest.slice(qualifier.length + 1);
    }
  }
  const ifExists = rest.endsWith('IfExists');
  const base = ifExists ? rest.slice(0, -'IfExists'.length) : rest;
  if (base !== 'Null' && !(base in OPERATORS)) {
    throw new UnsupportedConditionError(
      `condition operator ${name} is not supported by the local IAM (supported: ${[...Object.keys(OPERATORS), 'Null'].join(', ')}, with IfExists, ForAnyValue: and ForAllValues:)`,
    );
  }
  return { base, ifExists, ...(set ? { set } : {}) };
}

/** Throws {@link UnsupportedConditionError} for any operator or value the evaluator cannot decide. */
export function checkConditionBlock(block: Record<string, Record<string, readonly string[]>>): void {
  for (const [operator, keys] of Object.entries(block)) {
    parseOperator(operator);
    for (const [key, values] of Object.entries(keys)) {
      if (values.some((v) => v.includes('${'))) {
        throw new UnsupportedConditionError(
          `policy variables (in ${operator} ${key}) are not supported by the local IAM`,
        );
      }
    }
  }
}

function lookup(context: RequestContext, key: string): readonly string[] | undefined {
  const wanted = key.toLowerCase();
  for (const [name, value] of Object.entries(context)) {
    if (name.toLowerCase() !== wanted || value === undefined) continue;
    return typeof value === 'string' ? [value] : value;
  }
  return undefined;
}

/**
 * Whether a statement's Condition block holds: operators AND, keys AND, a key's values OR (NOR for
 * a negated operator). A key absent from the request makes a condition false, or true for a negated
 * operator, except with `IfExists` (true when absent) and `Null` (tests presence).
 */
export function conditionBlockHolds(
  block: Record<string, Record<string, readonly string[]>> | undefined,
  context: RequestContext,
): boolean {
  if (!block) return true;
  return Object.entries(block).every(([name, keys]) => {
    const operator = parseOperator(name);
    return Object.entries(keys).every(([key, policyValues]) =>
      keyHolds(operator, lookup(context, key), policyValues),
    );
  });
}

function keyHolds(
  operator: ParsedOperator,
  contextValues: readonly string[] | undefined,
  policyValues: readonly string[],
): boolean {
  if (operator.base === 'Null') {
    const absent = contextValues === undefined || contextValues.length === 0;
    return policyValues.some((v) => (v.toLowerCase() === 'true') === absent);
  }
  const { compare, negated } = OPERATORS[operator.base] as (typeof OPERATORS)[string];
  const matchesAny = (value: string) => policyValues.some((p) => compare(p, value));
  if (operator.set === 'ForAllValues') {
    // Vacuously true for an absent or empty key (the IAM guide warns about exactly this).
    return (contextValues ?? []).every((v) => (negated ? !matchesAny(v) : matchesAny(v)));
  }
  if (contextValues === undefined || contextValues.length === 0) return operator.ifExists || negated;
  if (operator.set === 'ForAnyValue')
    return contextValues.some((v) => (negated ? !matchesAny(v) : matchesAny(v)));
  return negated ? !contextValues.some(matchesAny) : contextValues.some(matchesAny);
}
